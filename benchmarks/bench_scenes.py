"""Bancs d'essai du bloc « complétion de scènes » : gist, index FAISS (exact, IVF-PQ raffiné), construction
en flux depuis un dossier, Poisson.

Chaque ligne est un rapport contre une référence mesurée dans la même exécution, avec son chiffre de justesse
(écart maximal à la référence, rappel@200) ; le temps CPU (user + sys) est donné à côté du temps mural.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import Row, peak_memory_mib, synchronize, timeit

from course_lib import data


def _timed(fn, repeat: int = 3, warmup: int = 1) -> tuple[float, float]:
    """Temps mural et temps CPU du processus (médianes), en secondes."""
    for _ in range(warmup):
        fn()
    synchronize()
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        synchronize()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


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


def _lear_error() -> float:
    """Écart maximal du préréglage « lear » à la sortie du programme C compute_gist (tests/data)."""
    from course_lib import images
    from course_lib.scenes import gist as gist_fn

    reference = Path(__file__).resolve().parent.parent / "tests" / "data" / "lear_gist_china.txt"
    expected = np.array([float(v) for v in reference.read_text().split()])
    ours = gist_fn(images.to_tensor(np.ascontiguousarray(data.PHOTOS["china"][0]()[..., :3])), "lear")
    return float(np.abs(ours.double().numpy() - expected).max())


def _gist_rows(quick: bool):
    from course_lib.scenes import gist as gist_fn
    from course_lib.scenes.gist import gabor_transfer

    batch, side = (8, 64) if quick else (64, 256)
    scenes = data.synthetic_scenes(batch, size=side, seed=1)
    grays = [img.mean(0).double().numpy() * 255 for img in scenes]
    G = gabor_transfer((8, 8, 8, 8), side + 64, dtype=torch.float64).numpy()
    ours, ours_cpu = _timed(lambda: gist_fn(scenes, "lmgist", image_size=side), repeat=3 if quick else 5)
    reference = []
    base, base_cpu = _timed(lambda: reference.append([_numpy_lmgist(g, G) for g in grays]), repeat=1,
                            warmup=1 if quick else 0)
    error = float(np.abs(gist_fn(scenes, "lmgist", image_size=side).numpy() - np.stack(reference[-1])).max())
    yield Row("scènes", f"gist lmgist, {batch} images {side}x{side} (par lots)", ours, base,
              "NumPy float64, image par image et filtre par filtre (gistGabor.m)",
              note=f"{batch / ours:.0f} images/s contre {batch / base:.1f} ; CPU {ours_cpu:.2f} s contre "
                   f"{base_cpu:.2f} s (rapport {base_cpu / ours_cpu:.3g}) ; écart max à LMgist {error:.1e} "
                   f"(≤ 1e-5), à LEAR (programme C) {_lear_error():.1e} (≤ 2e-4)")
    single = timeit(lambda: [gist_fn(img, "lmgist", image_size=side) for img in scenes], repeat=1)
    yield Row("scènes", f"gist lmgist, {batch} images {side}x{side}, par lots / une à une", ours, single,
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

    index, database = build(), np.concatenate(chunks)
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


# --------------------------------------------------------------------------- IVF-PQ raffiné

def _recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(a.tolist()) & set(b.tolist())) / k for a, b in zip(found, truth)]))


def _ivfpq_rows(quick: bool):
    """IVF-PQ raffiné (float16) contre la recherche exacte par morceaux, requêtes ordinaires et masquées.

    Mode complet : 2 millions de descripteurs (plusieurs minutes, environ 2,5 Gio) ; mode rapide : 20 000.
    """
    from course_lib.scenes.gist import get_preset
    from course_lib.scenes.index import SceneIndex

    n, chunk, nlist, train = (20_000, 10_000, 64, 5_000) if quick else (2_000_000, 100_000, 2048, 80_000)
    dim, k, n_queries = get_preset("hays_efros").dim, 200, (16 if quick else 64)
    half = n_queries // 2
    queries = torch.from_numpy(_clustered(n_queries, dim, seed=10**6))
    weights = torch.ones(n_queries, 16)
    weights[half:, 5:11] = 0.0                                    # la moitié des requêtes ont un trou :
    weights[half:, [1, 4, 12]] = 0.5                              # 6 blocs perdus, 3 à moitié
    wk = weights.repeat(1, dim // 16)
    index = SceneIndex(kind="ivfpq", nlist=nlist, train_size=train, device="cpu")
    best_d = torch.full((n_queries, k), float("inf"), dtype=torch.float64)
    best_i = torch.zeros(n_queries, k, dtype=torch.long)
    exact_s = exact_cpu = build_s = 0.0
    for c, first in enumerate(range(0, n, chunk)):
        x = _clustered(chunk, dim, seed=c)
        start = time.perf_counter()
        index.add_descriptors(x)
        build_s += time.perf_counter() - start
        wall, cpu = time.perf_counter(), time.process_time()   # vérité terrain, morceau par morceau
        xt = torch.from_numpy(x).double()
        q = queries.double()
        d = ((wk * q * q).sum(1, keepdim=True) - 2 * (wk * q) @ xt.T + wk.double() @ (xt * xt).T)
        merged_d = torch.cat([best_d, d], dim=1)
        merged_i = torch.cat([best_i, torch.arange(first, first + chunk).expand(n_queries, -1)], dim=1)
        best_d, order = merged_d.topk(k, dim=1, largest=False)
        best_i = merged_i.gather(1, order)
        exact_s += time.perf_counter() - wall
        exact_cpu += time.process_time() - cpu
    start = time.perf_counter()
    index.search_descriptors(queries[:1], k=k)                    # fin de l'entraînement si besoin
    build_s += time.perf_counter() - start
    truth = best_i.numpy()

    def measure(nprobe, k_factor):
        index.nprobe, index.engine.k_factor = nprobe, k_factor
        wall, cpu = _timed(lambda: index.search_descriptors(queries, weights, k=k), repeat=3)
        found = index.search_descriptors(queries, weights, k=k).indices.numpy()
        return wall / n_queries, cpu / n_queries, _recall(found[:half], truth[:half], k), \
            _recall(found[half:], truth[half:], k)

    grid = [(16, 8), (16, 16), (32, 16), (32, 32)] if not quick else [(8, 8), (16, 16)]
    trade_off = {setting: measure(*setting) for setting in grid}
    ok = [s for s, (_, _, r1, r2) in trade_off.items() if min(r1, r2) >= 0.95]
    chosen = min(ok, key=lambda s: trade_off[s][0]) if ok else max(trade_off, key=lambda s: min(trade_off[s][2:]))
    wall, cpu, plain, masked = trade_off[chosen]
    index.nprobe, index.engine.k_factor = chosen
    # les codes PQ seuls (sans raffinement), sur le même index : ce que donnait l'ancienne version
    from course_lib.scenes.engines import augment_queries

    augmented, _ = augment_queries(queries[:half].numpy(), weights[:half].numpy())
    import faiss

    _, pq_only = index.engine.ivf.search(augmented, k, params=faiss.SearchParametersIVF(nprobe=chosen[0]))
    curve = ", ".join(f"nprobe {p}/k_factor {f} : {r1:.3f}/{r2:.3f} en {1e3 * t:.2f} ms"
                      for (p, f), (t, _, r1, r2) in trade_off.items())
    per_million = index.bytes_per_scene * 1e6 / 2**30
    yield Row("scènes", f"IVF-PQ raffiné, {n:,} descripteurs, k=200, par requête".replace(",", " "),
              wall, exact_s / n_queries, "recherche exacte par morceaux (torch, float64)",
              note=f"rappel@200 {plain:.3f} (requêtes ordinaires) et {masked:.3f} (masquées) à nprobe "
                   f"{chosen[0]}, k_factor {chosen[1]} ; {1e3 * wall:.2f} ms/requête (CPU {1e3 * cpu:.2f} ms, "
                   f"réf. {1e3 * exact_cpu / n_queries:.1f} ms) ; codes PQ seuls : rappel "
                   f"{_recall(pq_only, truth[:half], k):.2f} ; {per_million:.2f} Gio par million de scènes "
                   f"({index.bytes_per_scene:.0f} octets : code PQ {index.m}, identifiant 8, float16 "
                   f"{2 * (dim + 16)}) ; {nlist} listes ; construction {build_s:.0f} s ; {curve}")


# --------------------------------------------------------------------------- construction en flux

def _jpeg_folder(root: Path, n: int, side: int) -> None:
    """Un dossier comme Places365 : ``<lettre>/<classe>/<numéro>.jpg``."""
    from PIL import Image

    from course_lib import images

    classes = ["a/airfield", "b/beach", "c/canyon", "m/mountain", "s/sky"]
    for first in range(0, n, 256):
        batch = images.to_numpy(data.synthetic_scenes(min(256, n - first), size=side, seed=3, start=first),
                                dtype="uint8")
        for i, array in enumerate(batch, start=first):
            folder = root / classes[i % len(classes)]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(folder / f"{i:08d}.jpg", quality=90)


def _streaming_rows(quick: bool):
    from course_lib.scenes.index import SceneIndex
    from course_lib.scenes.streaming import build_from_folder

    n, side, gist_size, chunk = (48, 64, 32, 16) if quick else (2000, 256, 128, 256)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data_256"
        _jpeg_folder(root, n, side)
        results = {}

        def streamed():
            out = Path(tmp) / f"index_{len(results)}"
            results["ours"] = build_from_folder(root, out, image_size=gist_size, size=gist_size, chunk_size=chunk,
                                                device="cpu", progress=False)

        def in_memory():
            results["base"] = SceneIndex.build(root, image_size=gist_size, size=gist_size, chunk_size=chunk,
                                               device="cpu", progress=False)

        ours, ours_mib = _timed_peak(streamed)
        base, base_mib = _timed_peak(in_memory)
        build = results["ours"]
        a = build.index.engine.reconstruct(0, n)
        b = results["base"].engine.reconstruct(0, n)
        yield Row("scènes", f"construction en flux, {n} JPEG {side}x{side}, gist {gist_size}", ours, base,
                  "SceneIndex.add_folder (liste en mémoire, lecture en série)", ours_mib, base_mib,
                  note=f"{build.images_per_second:.0f} images/s (lecture, décodage, gist) ; écart max des "
                       f"descripteurs {np.abs(a - b).max():.1e} ; morceaux de {chunk}, reprise possible")


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
        yield from _streaming_rows(quick)
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

    n_rate = profile.pick(ci=4, cpu=64, gpu=1024)

    def gist_rate():
        # l'objectif du cours : au moins 1000 images 256 x 256 par seconde sur un GPU (préréglage lmgist)
        from course_lib.scenes import gist

        scenes = data.synthetic_scenes(min(n_rate, 256), size=256, device=device)
        scenes = scenes.repeat(-(-n_rate // len(scenes)), 1, 1, 1)[:n_rate]
        gist(scenes[:8], "lmgist")                                   # plans FFT, banc de Gabor en cache
        synchronize(device)
        start = time.perf_counter()
        g = gist(scenes, "lmgist")
        synchronize(device)
        seconds = time.perf_counter() - start
        assert g.shape == (n_rate, 512) and bool(torch.isfinite(g).all())
        return f"{n_rate / seconds:.0f} images/s"

    n_vectors = profile.pick(ci=5_000, cpu=100_000, gpu=500_000)

    def ivfpq_search():
        # FAISS sur CPU (faiss-gpu n'est pas une dépendance) : rappel@200 et latence de l'IVF-PQ raffiné
        from course_lib.scenes.index import SceneIndex

        index = SceneIndex(kind="ivfpq", nlist=profile.pick(ci=16, cpu=256, gpu=1024),
                           m=profile.pick(ci=34, cpu=None, gpu=None), device=device)
        x = _clustered(n_vectors, 528, seed=0)
        index.add_descriptors(x).engine.ready()                         # entraînement hors du chronomètre
        queries = torch.from_numpy(_clustered(32, 528, seed=10**6))
        exact = SceneIndex(device="cpu").add_descriptors(x).search_descriptors(queries, k=200).indices.numpy()
        start = time.perf_counter()
        found = index.search_descriptors(queries, k=200).indices.numpy()
        seconds = (time.perf_counter() - start) / len(queries)
        return f"rappel@200 {_recall(found, exact, 200):.3f}, {1e3 * seconds:.2f} ms/requête"

    n_files = profile.pick(ci=24, cpu=500, gpu=4000)

    def streaming_build():
        from course_lib.scenes.streaming import build_from_folder

        with tempfile.TemporaryDirectory() as tmp:
            _jpeg_folder(Path(tmp) / "data_256", n_files, 256)
            build = build_from_folder(Path(tmp) / "data_256", Path(tmp) / "index", chunk_size=256,
                                      device=device, progress=False)
            assert build.added == n_files
            return f"{build.images_per_second:.0f} images/s"

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
        (f"gist lmgist, {n_rate} images 256 px (débit)", gist_rate),
        (f"IVF-PQ raffiné, {n_vectors} descripteurs, 32 requêtes", ivfpq_search),
        (f"construction en flux, {n_files} JPEG 256 px", streaming_build),
        (f"gist lear, photo {profile.pick(ci='64 px', cpu='256 px', gpu='427x640')}", lear),
        (f"match_context, {profile.pick(ci=8, cpu=100, gpu=200)} scènes {side} px (sans FAISS)", context),
        (f"SceneIndex + complete(), {side} px", index_and_complete),
        (f"poisson_blend, 8x3x{2 * side}x{2 * side}", poisson),
    ]
