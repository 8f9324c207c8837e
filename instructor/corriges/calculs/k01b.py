# Corrigé 01 : chiffres des exercices 2, 3, 4, 7 (et 1 en option), profil « cpu » du notebook.
import sys
import time

import numpy as np
import torch

from course_lib import data, scenes

torch.set_num_threads(1)
SIDE, GIST = 128, 64
BAND = max(6, round(80 * SIDE / 512))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
t = time.process_time()
index = scenes.SceneIndex(preset="hays_efros", image_size=GIST, device="cpu")
index.add_synthetic(N, size=GIST, seed=0, chunk_size=500, progress=False)
print(f"base de {N} scènes : {time.process_time() - t:.0f} s CPU", flush=True)
vectors = torch.from_numpy(index._faiss.reconstruct_n(0, N)[:, : index.dim].copy())
held = data.synthetic_scenes(28, size=SIDE, seed=0, start=10**6)
query = held[3]
yy, xx = torch.meshgrid(torch.arange(SIDE), torch.arange(SIDE), indexing="ij")
mask = ((yy - 0.52 * SIDE) / (0.16 * SIDE)) ** 2 + ((xx - 0.45 * SIDE) / (0.2 * SIDE)) ** 2 <= 1

qd, qw = index.describe(held[4:], mask)
print("Ex. 7 : IVF-PQ, rappel des 200 voisins (24 requêtes)")
exact = index.search_descriptors(qd, qw, k=200).indices
pq = scenes.SceneIndex(preset="hays_efros", image_size=GIST, kind="ivfpq", device="cpu").add_descriptors(vectors)
exact_full = index.search_descriptors(qd, k=200).indices
for nprobe in (1, 8, 64):
    pq.nprobe = nprobe
    t = time.perf_counter()
    approx = pq.search_descriptors(qd, k=200).indices
    dt = time.perf_counter() - t
    recall = np.mean([len(set(x.tolist()) & set(y.tolist())) / 200 for x, y in zip(exact_full, approx)])
    line = f"  nprobe={nprobe:3d}: sans trou, rappel {recall:.1%} ({1000 * dt / len(qd):.2f} ms par requête)"
    try:
        approx = pq.search_descriptors(qd, qw, k=200).indices
        recall = np.mean([len(set(x.tolist()) & set(y.tolist())) / 200 for x, y in zip(exact, approx)])
        line += f" ; avec le trou, rappel {recall:.1%}"
    except RuntimeError as error:
        line += f" ; avec le trou : ERREUR {str(error)[:90]}"
    print(line + f" (nlist={pq.nlist}, m={pq.m})", flush=True)

if len(sys.argv) > 2:
    print("Ex. 1 : courbe « combien d'images ? »")
    for n in [int(s) for s in sys.argv[2].split(",")]:
        r = index.head(n).search_descriptors(qd, qw, k=20)
        print(
            f"  {n:6d} scènes : meilleure distance médiane {r.distances[:, 0].median():.3f}, "
            f"moyenne des 20 meilleures {r.distances.mean(1).median():.3f}",
            flush=True,
        )
