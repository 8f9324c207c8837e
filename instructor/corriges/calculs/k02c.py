# Corrigé 02, ex. 3 et 5 : sélectivité des filtres de Gabor de la section 6, champs récepteurs.
import math

import skimage.filters
import torch
import torch.nn.functional as F

from course_lib import nn


def gabor(theta, part):
    g = skimage.filters.gabor_kernel(0.25, theta=theta, sigma_x=1.8, sigma_y=1.8, n_stds=1.7)
    p = torch.from_numpy(g.real if part == "pair" else g.imag).float()
    c = p.shape[0] // 2
    p = p[c - 3 : c + 4, c - 3 : c + 4]
    return (p - p.mean())[None, None]


step = torch.zeros(1, 1, 32, 32)
step[..., 16:] = 1
line = torch.zeros(1, 1, 32, 32)
line[..., :, 15:17] = 1
print("Ex. 3 : réponse maximale (valeur absolue) de Gabor f = 0,25, moyenne nulle")
for name, img in (
    ("marche verticale", step),
    ("marche horizontale", step.transpose(-1, -2)),
    ("trait vertical", line),
    ("trait horizontal", line.transpose(-1, -2)),
):
    out = []
    for theta, label in ((0, "0°"), (math.pi / 2, "90°")):
        for part in ("pair", "impair"):
            r = F.conv2d(img, gabor(theta, part), padding=3)[..., 4:-4, 4:-4].abs().max().item()
            out.append(f"{label} {part} {r:.2f}")
    print(f"  {name} : " + " | ".join(out))
print("Ex. 5 : champs récepteurs")
print("  SmallCNN, après f1 puis f2 :", nn.receptive_field([(7, 1), (2, 2), (3, 1), (2, 2)]))
conv, pool = (3, 1), (2, 2)
vgg19 = [conv] * 2 + [pool] + [conv] * 2 + [pool] + ([conv] * 4 + [pool]) * 3
fields = nn.receptive_field(vgg19)
print("  VGG19, fin de chaque bloc :", [fields[i] for i in (2, 5, 10, 15, 20)])
