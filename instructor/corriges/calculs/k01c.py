# Corrigé 01, ex. 5 et 6 (base de 2 000 paysages procéduraux, images 128 px, 1 fil).
import math

import torch

from course_lib import data, scenes

torch.set_num_threads(1)
SIDE, GIST = 128, 64
BAND = max(6, round(80 * SIDE / 512))
index = scenes.SceneIndex(preset="hays_efros", image_size=GIST, device="cpu")
index.add_synthetic(2000, size=GIST, seed=0, chunk_size=500, progress=False)
query = data.synthetic_scenes(4, size=SIDE, seed=0, start=10**6)[3]


def grad_energy(img, where):
    g = img.mean(0)
    gx = torch.zeros_like(g)
    gy = torch.zeros_like(g)
    gx[:, :-1] = g[:, 1:] - g[:, :-1]
    gy[:-1] = g[1:] - g[:-1]
    return float((gx**2 + gy**2)[where].mean())


print("Ex. 6 : énergie du gradient dans le trou (rapport à l'original) et erreur de couleur moyenne")
for frac in (0.02, 0.05, 0.10, 0.20, 0.30):
    side = int(round(math.sqrt(frac) * SIDE))
    hole = torch.zeros(SIDE, SIDE, dtype=torch.bool)
    top, left = int(0.55 * SIDE) - side // 2, SIDE // 2 - side // 2
    top = max(0, min(SIDE - side, top))
    hole[top : top + side, left : left + side] = True
    diff = scenes.diffusion_inpaint(query, hole)
    comp = scenes.complete(query, hole, index, k=50, n_results=1, band=BAND, progress=False).composites[0]
    e0 = grad_energy(query, hole)
    print(
        f"  trou {frac:.0%} ({side} px) : diffusion {grad_energy(diff, hole) / e0:.2f}, "
        f"complétion {grad_energy(comp, hole) / e0:.2f} ; "
        f"écart de couleur moyen dans le trou : diffusion {float((diff - query).abs().mean(0)[hole].mean()):.3f}, "
        f"complétion {float((comp - query).abs().mean(0)[hole].mean()):.3f}",
        flush=True,
    )
print("Ex. 5 : mélange mixte")
yy, xx = torch.meshgrid(torch.arange(SIDE), torch.arange(SIDE), indexing="ij")
mask = ((yy - 0.52 * SIDE) / (0.16 * SIDE)) ** 2 + ((xx - 0.45 * SIDE) / (0.2 * SIDE)) ** 2 <= 1
res = scenes.complete(query, mask, index, k=50, n_results=5, band=BAND, progress=False)
for r in range(3):
    scene, region = res.aligned[r], res.regions[r, 0]
    target = torch.where(mask, scene, query)
    seamless = scenes.poisson_blend(scene, target, region, mode="seamless")
    mixed = scenes.poisson_blend(scene, target, region, mode="mixed")
    band_part = region & ~mask
    gq = torch.zeros(SIDE, SIDE)
    gs = torch.zeros(SIDE, SIDE)
    for img, out in ((query, gq), (scene, gs)):
        g = img.mean(0)
        out[:, :-1] += (g[:, 1:] - g[:, :-1]).abs()
        out[:-1] += (g[1:] - g[:-1]).abs()
    win = float((gq > gs)[band_part].float().mean()) if band_part.any() else float("nan")
    print(
        f"  composite {r + 1} : {int(region.sum())} px pris dans la scène dont {int(band_part.sum())} dans la bande ; "
        f"l'original a le gradient le plus fort sur {win:.0%} de ces pixels de bande ; "
        f"écart seamless/mixte : {float((seamless - mixed).abs().mean(0)[region].mean()):.4f} dans la région, "
        f"{float((seamless - mixed).abs().mean(0)[mask].mean()):.4f} dans le trou",
        flush=True,
    )
