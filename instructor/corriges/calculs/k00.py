# Corrigé 00 : chiffres des exercices (profil cpu : 200 000 vidéos).
import math
from statistics import NormalDist

import cv2
import numpy as np
import torch

from course_lib import data, images

n_videos = 200_000
standard = np.random.default_rng(0).standard_normal(n_videos)
print("Ex. 1 : part du 1 % le plus vu selon sigma")
for sigma in np.arange(1.0, 4.01, 0.25):
    mu = math.log(10) - sigma * NormalDist().inv_cdf(0.30)
    v = np.sort(np.exp(mu + sigma * standard))[::-1]
    share = np.cumsum(v) / v.sum()
    print(
        f"  sigma={sigma:.2f}  top1%={share[int(0.01 * n_videos) - 1]:.3f}  <10 vues={np.mean(v < 10):.3f}  "
        f"médiane={np.median(v):.1f}"
    )
# seuil analytique : part du top 1 % d'une log-normale = 1 - Phi(z_0.99 - sigma)
for sigma in np.arange(2.0, 3.01, 0.05):
    a = 1 - NormalDist().cdf(NormalDist().inv_cdf(0.99) - sigma)
    if a > 0.5:
        print(f"  seuil analytique : sigma ≈ {sigma:.2f} (part {a:.3f})")
        break
print("Ex. 2 : diffusion, erreur dans le trou selon sa taille (photo china 192 px)")
size = 192
scene = data.photo("china", size=size)
H, W = scene.shape[1:]


def diffuse(image, mask, method):
    bgr = images.to_numpy(image, dtype="uint8")[..., ::-1].copy()
    filled = cv2.inpaint(bgr, mask.numpy().astype(np.uint8), 5, method)
    return images.to_tensor(filled[..., ::-1].copy())


for frac in (0.02, 0.05, 0.10, 0.20, 0.30):
    side = int(round(math.sqrt(frac * H * W)))
    hole = torch.zeros(H, W, dtype=torch.bool)
    t, l = H // 2 - side // 2, W // 2 - side // 2
    hole[t : t + side, l : l + side] = True
    for name, m in (("Telea", cv2.INPAINT_TELEA), ("NS", cv2.INPAINT_NS)):
        out = diffuse(scene, hole, m)
        err = ((out - scene) ** 2).mean(0)[hole].mean().item()

        # netteté : énergie du gradient dans le trou, rapportée à celle de l'original
        def grad_energy(img, hole=hole):
            g = img.mean(0)
            gy, gx = g[1:, :-1] - g[:-1, :-1], g[:-1, 1:] - g[:-1, :-1]
            return ((gx**2 + gy**2)[hole[:-1, :-1]]).mean().item()

        print(
            f"  trou {frac:.0%} ({side}x{side}px) {name:5s}: PSNR trou {10 * math.log10(1 / err):.1f} dB, "
            f"énergie du gradient {grad_energy(out) / grad_energy(scene):.2f} x l'original"
        )
print("Ex. 3 : même scène à différents moments")
imgs = {}
for moment in data.TIMES_OF_DAY:
    s, info = data.synthetic_scenes(1, size=128, seed=0, start=7, time_of_day=moment, return_info=True)
    imgs[moment] = s[0]
    print("  ", moment, {k: v for k, v in info[0].items() if k != "index"})


def edges(img):
    g = img.mean(0)
    gx = g[:, 1:] - g[:, :-1]
    gy = g[1:, :] - g[:-1, :]
    return (gx[:-1, :] ** 2 + gy[:, :-1] ** 2).sqrt()


ms = list(imgs)
for a in ms:
    for b in ms:
        if a < b:
            ea, eb = edges(imgs[a]).flatten(), edges(imgs[b]).flatten()
            c = torch.corrcoef(torch.stack([ea, eb]))[0, 1].item()
            print(
                f"  corrélation des contours {a}/{b} : {c:.2f}; "
                f"écart moyen de couleur {(imgs[a] - imgs[b]).abs().mean():.3f}"
            )
