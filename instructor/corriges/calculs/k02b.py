# Corrigé 02, ex. 4 : variantes de l'entraînement du CNN sur imagettes (1 fil).
import math
import sys
import time

import skimage.filters
import torch

import course_lib
from course_lib import nn

torch.set_num_threads(1)
bank = []
for f in (0.15, 0.25):
    for k in range(8):
        g = skimage.filters.gabor_kernel(f, theta=math.pi * k / 8, sigma_x=1.8, sigma_y=1.8, n_stds=1.7)
        for part in (g.real, g.imag):
            part = torch.from_numpy(part).float()
            c = part.shape[0] // 2
            bank.append(part[c - 3 : c + 4, c - 3 : c + 4])
bank = torch.stack(bank)


def normalized(fl):
    fl = fl.flatten(1) - fl.flatten(1).mean(1, keepdim=True)
    return fl / fl.norm(dim=1, keepdim=True).clamp_min(1e-8)


def standardize(b):
    b = b - b.mean(dim=(1, 2, 3), keepdim=True)
    return b / b.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-3)


def run(n, size=16, epochs=10, std=True, batch_size=None):
    px, py, names = nn.texture_patches(n_per_class=n, size=size, split="train")
    tx, ty, _ = nn.texture_patches(n_per_class=max(50, n // 3), size=size, split="test")
    prep = standardize if std else (lambda b: b)
    course_lib.seed(0)
    m = nn.SmallCNN(1, len(names), width=16, kernel_size=7)
    before = (normalized(m.first_filters.detach()[:, 0]) @ normalized(bank).T).abs().max(1).values.mean()
    t = time.process_time()
    h = nn.train(
        m,
        (prep(px), py),
        (prep(tx), ty),
        epochs=epochs,
        lr=3e-3,
        optimizer="adam",
        progress=False,
        live=False,
        batch_size=batch_size,
    )
    after = (normalized(m.first_filters.detach().cpu()[:, 0]) @ normalized(bank).T).abs().max(1).values.mean()
    print(
        f"  {n}/classe, {size} px, {epochs} époques, standardize={std}, lots={batch_size}: précision "
        f"{h['précision/validation'][-1]:.1%}, ressemblance {before:.2f} -> {after:.2f} "
        f"(CPU {time.process_time() - t:.0f} s)",
        flush=True,
    )


which = sys.argv[1]
if which == "ci":
    run(150, epochs=3)
    run(150, epochs=10)
    run(150, epochs=30)
    run(150, size=32, epochs=3)
    run(150, epochs=3, std=False)
else:
    run(600, epochs=10, batch_size=64)
    run(600, epochs=30, batch_size=64)
    run(600, size=32, epochs=10, batch_size=64)
    run(600, epochs=10, std=False, batch_size=64)
