# Corrigé 01 : chiffres des exercices 2, 3 et 4, profil « cpu » du notebook (1 et 7 : k01b.py).
import sys
import time

import numpy as np
import torch

from course_lib import data, scenes
from course_lib.scenes.gist import COLOR_SCALE

torch.set_num_threads(1)
SIDE, GIST = 128, 64
BAND = max(6, round(80 * SIDE / 512))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
t = time.process_time()
index = scenes.SceneIndex(preset="hays_efros", image_size=GIST, device="cpu")
index.add_synthetic(N, size=GIST, seed=0, chunk_size=500, progress=False)
print(f"base de {N} scènes : {time.process_time() - t:.0f} s CPU", flush=True)
vectors = torch.from_numpy(index.engine.reconstruct(0, N).copy())  # descripteurs relus dans l'index exact
held = data.synthetic_scenes(28, size=SIDE, seed=0, start=10**6)
query = held[3]
yy, xx = torch.meshgrid(torch.arange(SIDE), torch.arange(SIDE), indexing="ij")
mask = ((yy - 0.52 * SIDE) / (0.16 * SIDE)) ** 2 + ((xx - 0.45 * SIDE) / (0.2 * SIDE)) ** 2 <= 1

print("Ex. 2 : poids de la couleur, requêtes au crépuscule (sans trou), 20 plus proches voisins")
_, info = data.synthetic_scenes(N, size=8, seed=0, return_info=True)
moments = np.array([i["time_of_day"] for i in info])
print("  part des scènes au crépuscule dans la base :", f"{np.mean(moments == 'dusk'):.1%}")
dusk = data.synthetic_scenes(10, size=SIDE, seed=0, start=3 * 10**6, time_of_day="dusk")
for w in (0.0, COLOR_SCALE, 1.0):
    base = vectors.clone()
    base[:, 480:] *= w / COLOR_SCALE  # même gist, vignette de couleur repondérée
    sub = scenes.SceneIndex(preset="hays_efros", image_size=GIST, device="cpu").add_descriptors(base)
    q = scenes.gist(dusk, "hays_efros", image_size=GIST, color_weight=w)
    r = sub.search_descriptors(q, k=20)
    share = np.mean(moments[r.indices.numpy()] == "dusk")
    same = np.mean([(moments[r.indices[i].numpy()] == "dusk").mean() for i in range(len(dusk))])
    print(f"  color_weight={w:.1f}: voisins au crépuscule {share:.1%}", flush=True)
check = scenes.gist(dusk[:2], "hays_efros", image_size=GIST, color_weight=1.0)
ref = scenes.gist(dusk[:2], "hays_efros", image_size=GIST)
print(
    "  (vérification : vignette linéaire en w :",
    torch.allclose(check[:, 480:] * COLOR_SCALE, ref[:, 480:], atol=1e-6),
    ")",
)

print("Ex. 3 : poids binaires des blocs")
weights = scenes.block_valid_fraction(mask, 4, GIST)
print("  poids des 16 blocs :", [round(float(v), 2) for v in weights[0]])
binary = (weights >= 1).float()
print(
    f"  blocs entièrement connus : {int(binary.sum())} / 16 ; "
    f"blocs partiellement troués perdus : {int(((weights > 0) & (weights < 1)).sum())}"
)
d, _ = index.describe(query, mask)
a = index.search_descriptors(d, weights, k=200).indices[0]
b = index.search_descriptors(d, binary, k=200).indices[0]
print(
    f"  recouvrement des 200 scènes : {len(set(a.tolist()) & set(b.tolist())) / 200:.0%} ; des 20 premières : "
    f"{len(set(a[:20].tolist()) & set(b[:20].tolist())) / 20:.0%} ; même première : {bool(a[0] == b[0])}",
    flush=True,
)
# sur les 24 requêtes de l'expérience « combien d'images ? »
qd, qw = index.describe(held[4:], mask)
ra = index.search_descriptors(qd, qw, k=200).indices
rb = index.search_descriptors(qd, (qw >= 1).float(), k=200).indices
ov = [len(set(x.tolist()) & set(y.tolist())) / 200 for x, y in zip(ra, rb)]
print(f"  24 requêtes : recouvrement moyen des 200 : {np.mean(ov):.0%} (min {np.min(ov):.0%})", flush=True)

print("Ex. 4 : une seule échelle")
found = index.search(query, mask, k=200)
matches = index.images(found.indices, size=SIDE)
ctx = scenes.match_context(query, mask, matches, band=BAND)
print("  échelles retenues :", {s: int((ctx.scale == s).sum()) for s in scenes.SCALES})
ctx1 = scenes.match_context(query, mask, matches, band=BAND, scales=(1.0,))
cost3 = ctx.context_cost + ctx.texture_cost
cost1 = ctx1.context_cost + ctx1.texture_cost
print(
    f"  coût médian (contexte + texture) : 3 échelles {cost3.median():.1f}, échelle 1 seule {cost1.median():.1f} ; "
    f"6 meilleurs identiques : {set(torch.argsort(cost3)[:6].tolist()) == set(torch.argsort(cost1)[:6].tolist())}",
    flush=True,
)

# Ex. 1 et 7 : voir k01b.py.
