# Corrigé 01 : chiffres de l'exercice 7 (IVF-PQ) et, en option, de l'exercice 1, profil « cpu » du notebook.
#
#   python k01b.py [N] [tailles]      N : scènes de la base (10 000 par défaut) ;
#                                     tailles : « 100,1000,10000 » pour la courbe de l'exercice 1.
#
# N'utilise que l'API publique de course_lib.scenes.SceneIndex.
import sys
import time

import numpy as np
import torch

from course_lib import data, scenes

torch.set_num_threads(1)
SIDE, GIST = 128, 64
N = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
K = 200


def clocks():
    return time.perf_counter(), time.process_time()


def since(start):
    wall, cpu = clocks()
    return wall - start[0], cpu - start[1]


start = clocks()
index = scenes.SceneIndex(preset="hays_efros", image_size=GIST, device="cpu")   # exact (par défaut)
index.add_synthetic(N, size=GIST, seed=0, chunk_size=500, progress=False)
wall, cpu = since(start)
print(f"base de {N} scènes : {wall:.0f} s (mur), {cpu:.0f} s CPU", flush=True)
vectors = index.engine.reconstruct(0, N)                      # les descripteurs, relus dans l'index exact
held = data.synthetic_scenes(28, size=SIDE, seed=0, start=10**6)
yy, xx = torch.meshgrid(torch.arange(SIDE), torch.arange(SIDE), indexing="ij")
mask = ((yy - 0.52 * SIDE) / (0.16 * SIDE)) ** 2 + ((xx - 0.45 * SIDE) / (0.2 * SIDE)) ** 2 <= 1
qd, qw = index.describe(held[4:], mask)                      # les 24 requêtes, avec le trou du notebook
print(f"blocs touchés par le trou (requête 1) : {int((qw[0] < 1).sum())} sur {qw.shape[1]}")


def timed_search(idx, weights, repeats=3):
    """Recherche des K voisins ; temps par requête (mur et CPU), meilleur de ``repeats`` essais."""
    best = None
    for _ in range(repeats):
        start = clocks()
        result = idx.search_descriptors(qd, weights, k=K)
        wall, cpu = since(start)
        best = (wall, cpu) if best is None or wall < best[0] else best
    return result, 1000 * best[0] / len(qd), 1000 * best[1] / len(qd)


def recall(reference, approx):
    return float(np.mean([len(set(x.tolist()) & set(y.tolist())) / K
                          for x, y in zip(reference.indices, approx.indices)]))


print(f"Ex. 7 : IVF-PQ, rappel des {K} voisins exacts ({len(qd)} requêtes)")
exact_hole, ms_hole, cpu_hole = timed_search(index, qw)
exact_full, ms_full, cpu_full = timed_search(index, None)
print(f"  exact : {index.bytes_per_scene:.0f} octets par scène ; {ms_full:.2f} ms par requête sans trou "
      f"({cpu_full:.2f} ms CPU), {ms_hole:.2f} ms avec le trou ({cpu_hole:.2f} ms CPU)", flush=True)

for refine in ("fp16", "none"):
    pq = scenes.SceneIndex(preset="hays_efros", image_size=GIST, kind="ivfpq", refine=refine, device="cpu")
    pq.add_descriptors(vectors)
    start = clocks()
    pq.search_descriptors(qd[:1], k=K)                       # la première recherche entraîne l'index
    wall, cpu = since(start)
    print(f"  refine=\"{refine}\" : nlist={pq.nlist}, m={pq.m}, {pq.bytes_per_scene:.0f} octets par scène ; "
          f"entraînement {wall:.1f} s ({cpu:.1f} s CPU)", flush=True)
    found = {}
    for nprobe in (1, 8, 16, 64):
        pq.nprobe = nprobe
        line = f"    nprobe={nprobe:3d} :"
        for name, weights, reference in (("sans trou", None, exact_full), ("avec le trou", qw, exact_hole)):
            try:
                approx, ms, ms_cpu = timed_search(pq, weights)
                found[nprobe, name] = approx.indices
                short = int((approx.indices < 0).sum())
                line += (f" {name}, rappel {recall(reference, approx):.1%} ({ms:.2f} ms par requête, "
                         f"{ms_cpu:.2f} ms CPU{f', {short} indices manquants' if short else ''}) ;")
            except RuntimeError as error:
                line += f" {name} : ERREUR {str(error)[:90]} ;"
        print(line, flush=True)
    # Une liste contient en moyenne N / nlist scènes, moins que K : la recherche élargit alors à 4, 16... listes.
    same = [int(sum(torch.equal(a, b) for a, b in zip(found[1, name], found[16, name])))
            for name in ("sans trou", "avec le trou")]
    print(f"    requêtes dont le résultat à nprobe=1 est identique à celui de nprobe=16 : {same[0]} sur {len(qd)} "
          f"sans trou, {same[1]} sur {len(qd)} avec le trou", flush=True)

if len(sys.argv) > 2:
    print("Ex. 1 : courbe « combien d'images ? »")
    for n in [int(s) for s in sys.argv[2].split(",")]:
        r = index.head(n).search_descriptors(qd, qw, k=20)
        print(
            f"  {n:6d} scènes : meilleure distance médiane {r.distances[:, 0].median():.3f}, "
            f"moyenne des 20 meilleures {r.distances.mean(1).median():.3f}",
            flush=True,
        )
