"""Bancs d'essai du bloc « complétion de scènes » : gist, index FAISS, IVF-PQ simulé, Poisson."""

from __future__ import annotations

import time

import numpy as np
import torch
from common import Row, peak_memory_mib, timeit

from course_lib import data

# --------------------------------------------------------------------------- gist

def _numpy_lmgist(gray: np.ndarray, G: np.ndarray, be: int = 32, w: int = 4) -> np.ndarray:
    """LMgist image par image et filtre par filtre, comme gistGabor.m (la référence directe)."""
    img = gray - gray.min()
    img = 255 * img / max(1.0, img.max())
    img = np.log(img + 1)
    img = np.pad(img, 5, mode="symmetric")
    n = img.shape[0]
    s1 = 4 / np.sqrt(np.log(2))
    f = np.arange(-n / 2, n / 2)
    gf = np.fft.fftshift(np.exp(-(f[None] ** 2 + f[:, None] ** 2) / s1**2))
    out = img - np.real(np.fft.ifft2(np.fft.fft2(img) * gf))
    out = out / (0.2 + np.sqrt(np.abs(np.fft.ifft2(np.fft.fft2(out**2) * gf))))
    out = np.pad(out[5:-5, 5:-5], be, mode="symmetric")
    spectrum = np.fft.fft2(out)
    size = out.shape[0] - 2 * be
    edges = [i * size // w for i in range(w + 1)]
    result = []
    for k in range(G.shape[0]):
        ig = np.abs(np.fft.ifft2(spectrum * G[k]))[be:-be, be:-be]
        result += [ig[edges[r]:edges[r + 1], edges[c]:edges[c + 1]].mean() for c in range(w) for r in range(w)]
    return np.asarray(result, dtype=np.float32)


def _gist_rows(quick: bool):
    from course_lib.scenes import gist as gist_fn
    from course_lib.scenes.gist import gabor_transfer

    batch, side = (8, 64) if quick else (64, 256)
    scenes = data.synthetic_scenes(batch, size=side, seed=1)
    ours = timeit(lambda: gist_fn(scenes, "lmgist", image_size=side), repeat=1 if not quick else 2)
    grays = [img.mean(0).double().numpy() * 255 for img in scenes]
    G = gabor_transfer((8, 8, 8, 8), side + 64, dtype=torch.float64).numpy()
    base = timeit(lambda: [_numpy_lmgist(g, G) for g in grays], repeat=1, warmup=0 if not quick else 1)
    yield Row("scènes", f"gist lmgist, {batch} images {side}x{side} (par lots)", ours, base,
              "NumPy, image par image et filtre par filtre (gistGabor.m)",
              note=f"{batch / ours:.0f} images/s contre {batch / base:.1f}")
    single = timeit(lambda: [gist_fn(img, "lmgist", image_size=side) for img in scenes], repeat=1)
    yield Row("scènes", f"gist lmgist, {batch} images {side}x{side} (par lots)", ours, single,
              "le même code, une image à la fois")


# --------------------------------------------------------------------------- index exact

def _clustered(n: int, dim: int, seed: int, centres: int = 64) -> np.ndarray:
    """Descripteurs simulés : des grappes dans un sous-espace de dimension 32 (les gists sont corrélés)."""
    rng = np.random.default_rng(seed)
    basis = np.random.default_rng(12345).normal(0, 1, (32, dim)) / np.sqrt(32)
    centre = np.random.default_rng(54321).normal(0, 1, (centres, 32))
    z = centre[rng.integers(0, centres, n)] + 0.5 * rng.normal(0, 1, (n, 32))
    return (np.abs(z @ basis) * 0.1 + 0.02 * rng.random((n, dim))).astype(np.float32)


def _timed_peak(fn) -> tuple[float, float]:
    """Temps (s) et pic de mémoire (Mio) d'un seul appel de ``fn``."""
    start = time.perf_counter()
    memory = peak_memory_mib(fn)
    return time.perf_counter() - start, memory


def _index_rows(quick: bool):
    import faiss

    from course_lib.scenes import gist as gist_fn
    from course_lib.scenes.index import SceneIndex

    # Construction à partir des images : par morceaux (SceneIndex) ou toute la base en mémoire d'abord.
    n, side, chunk = (120, 32, 40) if quick else (10_000, 32, 500)

    def streamed():
        SceneIndex(image_size=side, device="cpu").add_synthetic(n, size=side, chunk_size=chunk, progress=False)

    def everything():
        scenes = data.synthetic_scenes(n, size=side)                       # toutes les images en mémoire
        descriptors = [gist_fn(scenes[i:i + chunk], "hays_efros", image_size=side) for i in range(0, n, chunk)]
        return torch.cat(descriptors).numpy()

    SceneIndex(image_size=side, device="cpu").add_synthetic(8, size=side, progress=False)   # échauffement
    ours, ours_mib = _timed_peak(streamed)
    base, base_mib = _timed_peak(everything)
    yield Row("scènes", f"construction de l'index, {n} scènes {side}x{side}", ours, base,
              "toutes les images rendues d'abord, puis le gist", ours_mib, base_mib,
              note=f"par morceaux de {chunk} scènes")

    # Recherche masquée exacte sur des descripteurs simulés, contre la force brute NumPy.
    n, n_queries, chunk = (2000, 4, 500) if quick else (10_000, 8, 1000)
    dim = 528
    chunks = [_clustered(chunk, dim, seed=s) for s in range(n // chunk)]
    queries = _clustered(n_queries, dim, seed=999)
    weights = np.ones((n_queries, 16), np.float32)
    weights[:, 5:11] = 0.25                                   # un trou qui couvre en partie 6 blocs
    faiss_threads = faiss.omp_get_max_threads()

    def build():
        index = SceneIndex(device="cpu")
        for x in chunks:
            index.add_descriptors(x)
        return index

    def build_numpy():
        return np.concatenate(chunks)

    index, database = build(), build_numpy()
    per_dim = np.tile(weights, dim // 16)

    def search():
        return index.search_descriptors(torch.from_numpy(queries), torch.from_numpy(weights), k=200)

    def brute():
        d = (((queries[:, None, :] - database[None]) ** 2) * per_dim[:, None, :]).sum(-1)
        return np.argsort(d, axis=1)[:, :200]

    ours = timeit(search, repeat=3)
    base = timeit(brute, repeat=1)
    same = np.mean([len(set(a.tolist()) & set(b.tolist())) / 200
                    for a, b in zip(search().indices.numpy(), brute())])
    yield Row("scènes", f"recherche masquée exacte, {n_queries} requêtes, {n} scènes, k=200", ours, base,
              "NumPy force brute (diffusion Q x N x D)", peak_memory_mib(search), peak_memory_mib(brute),
              note=f"mêmes 200 voisins : {same:.0%}, FAISS {faiss_threads} fil(s)")


# --------------------------------------------------------------------------- IVF-PQ simulé

def _ivfpq_rows(quick: bool):
    from course_lib.scenes.gist import get_preset
    from course_lib.scenes.index import SceneIndex

    n, chunk, nlist, m, train = (6000, 2000, 16, 24, 2000) if quick else (2_000_000, 100_000, 512, 48, 40_000)
    dim, k, n_queries = get_preset("hays_efros").dim, 200, 8
    queries = torch.from_numpy(_clustered(n_queries, dim, seed=10**6))
    index = SceneIndex(kind="ivfpq", nlist=nlist, m=m, nbits=8, train_size=train, device="cpu")
    best_d = torch.full((n_queries, k), float("inf"))
    best_i = torch.zeros(n_queries, k, dtype=torch.long)
    start = time.perf_counter()
    exact_s = 0.0
    for c, first in enumerate(range(0, n, chunk)):
        x = _clustered(chunk, dim, seed=c)
        index.add_descriptors(x)
        t0 = time.perf_counter()   # vérité terrain, morceau par morceau (on ne garde jamais les 2 M)
        xt = torch.from_numpy(x)
        d = torch.cdist(queries, xt) ** 2
        merged_d = torch.cat([best_d, d], dim=1)
        merged_i = torch.cat([best_i, torch.arange(first, first + chunk).expand(n_queries, -1)], dim=1)
        best_d, order = merged_d.topk(k, dim=1, largest=False)
        best_i = merged_i.gather(1, order)
        exact_s += time.perf_counter() - t0
    build_s = time.perf_counter() - start - exact_s

    def recall_at(nprobe):
        index.nprobe = nprobe
        seconds = timeit(lambda: index.search_descriptors(queries, k=k), repeat=3) / n_queries
        found = index.search_descriptors(queries, k=k).indices
        recall = np.mean([len(set(a.tolist()) & set(b.tolist())) / k for a, b in zip(found, best_i)])
        return seconds, recall

    trade_off = {nprobe: recall_at(nprobe) for nprobe in (1, 8, 64, 256) if nprobe <= nlist}
    chosen = 64 if 64 in trade_off else max(trade_off)
    curve = ", ".join(f"nprobe {p} : rappel {r:.2f} en {1e3 * t:.1f} ms" for p, (t, r) in trade_off.items())
    yield Row("scènes", f"IVF-PQ, {n:,} descripteurs simulés, latence/requête".replace(",", " "),
              trade_off[chosen][0], exact_s / n_queries, "recherche exacte par morceaux (torch.cdist)",
              note=f"rappel@200 à nprobe {chosen} = {trade_off[chosen][1]:.2f} ; {curve} ; "
                   f"{index._faiss.code_size} octets/scène, {nlist} listes, construction {build_s:.0f} s")


# --------------------------------------------------------------------------- Poisson

def _poisson_rows(quick: bool):
    import cv2

    from course_lib.scenes.poisson import poisson_blend

    side = 64 if quick else 256
    target = data.photo("china", size=(side, side))
    source = data.photo("coffee", size=(side, side))
    yy, xx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    mask = ((yy - side / 2) / (side / 4)) ** 2 + ((xx - side / 2) / (side / 3)) ** 2 <= 1
    s8 = np.ascontiguousarray((source.permute(1, 2, 0).numpy() * 255).astype(np.uint8))
    t8 = np.ascontiguousarray((target.permute(1, 2, 0).numpy() * 255).astype(np.uint8))
    m8 = mask.numpy().astype(np.uint8) * 255
    x, y, w, h = cv2.boundingRect(m8)
    ours = timeit(lambda: poisson_blend(source, target, mask), repeat=5)
    base = timeit(lambda: cv2.seamlessClone(s8, t8, m8.copy(), (x + w // 2, y + h // 2), cv2.NORMAL_CLONE),
                  repeat=5)
    yield Row("scènes", f"poisson_blend (DST exacte), {side}x{side}", ours, base, "cv2.seamlessClone (DST, uint8)")


def benchmarks(quick: bool):
    """Les lignes du bloc. En mode rapide (vérifié par la suite de tests, qui tourne en parallèle sur peu de
    cœurs), tout se fait sur un seul fil : plusieurs fils OpenMP s'y disputeraient les cœurs."""
    import faiss

    threads = (torch.get_num_threads(), faiss.omp_get_max_threads())
    if quick:
        torch.set_num_threads(1)
        faiss.omp_set_num_threads(1)
    try:
        yield from _gist_rows(quick)
        yield from _index_rows(quick)
        yield from _ivfpq_rows(quick)
        yield from _poisson_rows(quick)
    finally:
        torch.set_num_threads(threads[0])
        faiss.omp_set_num_threads(threads[1])


def gpu_checks(profile):
    """Le bloc aux tailles du profil « gpu », sur CUDA (voir benchmarks/gpu_check.py)."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    side = profile.image_size
    batch = profile.pick(ci=8, cpu=profile.batch_size, gpu=profile.batch_size)

    def gist_batch():
        from course_lib.scenes import gist

        scenes = data.synthetic_scenes(batch, size=side, device=device)
        g = gist(scenes, "lmgist", image_size=side)
        assert g.shape == (batch, 512) and g.device.type == torch.device(device).type

    def lear():
        from course_lib.scenes import gist

        photo = data.photo("china", device=device, size=profile.pick(ci=64, cpu=256, gpu=None))
        assert gist(photo, "lear").shape == (960,)

    def index_and_complete():
        from course_lib.scenes import SceneIndex, complete

        n = profile.pick(ci=32, cpu=1000, gpu=4000)
        index = SceneIndex(image_size=min(side, 128), device=device).add_synthetic(n, size=side, progress=False)
        query = data.synthetic_scenes(1, size=side, start=n + 7, device=device)[0]
        mask = torch.zeros(side, side, dtype=torch.bool, device=device)
        mask[side // 3: 2 * side // 3, side // 4: side // 2] = True
        band = max(4, round(80 * side / 512))
        k = profile.pick(ci=16, cpu=200, gpu=200)
        result = complete(query, mask, index, k=k, n_results=min(20, k), band=band, progress=False)
        assert result.composites.shape[0] == min(20, k)

    def context():
        from course_lib.scenes import match_context

        n = profile.pick(ci=8, cpu=100, gpu=200)
        query = data.synthetic_scenes(1, size=side, start=10**6, device=device)[0]
        candidates = data.synthetic_scenes(n, size=side, device=device)
        mask = torch.zeros(side, side, dtype=torch.bool, device=device)
        mask[side // 3: 2 * side // 3, side // 4: side // 2] = True
        match = match_context(query, mask, candidates, band=max(4, round(80 * side / 512)))
        assert match.aligned.device.type == torch.device(device).type

    def poisson():
        from course_lib.scenes import poisson_blend

        s = 2 * side
        source = torch.rand(8, 3, s, s, device=device)
        target = torch.rand(8, 3, s, s, device=device)
        mask = torch.zeros(s, s, dtype=torch.bool, device=device)
        mask[s // 4: 3 * s // 4, s // 4: 3 * s // 4] = True
        poisson_blend(source, target, mask)

    return [
        (f"gist lmgist, {batch} images {side} px", gist_batch),
        (f"gist lear, photo {profile.pick(ci='64 px', cpu='256 px', gpu='427x640')}", lear),
        (f"match_context, {profile.pick(ci=8, cpu=100, gpu=200)} scènes {side} px (sans FAISS)", context),
        (f"SceneIndex + complete(), {side} px", index_and_complete),
        (f"poisson_blend, 8x3x{2 * side}x{2 * side}", poisson),
    ]
