# Corrigé 02 : chiffres des exercices. Tailles du profil « cpu » (sauf mention).
import math

import torch
import torch.nn.functional as F

import course_lib
from course_lib import nn

torch.set_num_threads(2)
(train_x, train_y), (test_x, test_y) = nn.digits_split()


def shift(batch, dx=1, dy=0, pad=2):
    h, w = batch.shape[-2:]
    return F.pad(batch, (pad,) * 4)[..., pad - dy : pad - dy + h, pad - dx : pad - dx + w]


def nearest(mx, my, q):
    return my[torch.cdist(q.flatten(1), mx.flatten(1)).argmin(1)]


def fit_cnn(x, y, epochs):
    course_lib.seed(0)
    m = nn.SmallCNN(1, 10, width=8, kernel_size=3)
    nn.train(m, (x, y), epochs=epochs, lr=0.01, optimizer="adam", batch_size=32, progress=False, live=False)
    return m


def acc(g):
    return float((g.cpu() == test_y).float().mean())


moves = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]
aug_x = torch.cat([shift(train_x, dx, dy) for dx, dy in moves])
aug_y = train_y.repeat(len(moves))
cnn = fit_cnn(train_x, train_y, max(3, 2400 // len(train_x)))
cnn_aug = fit_cnn(aug_x, aug_y, 3)
print("Ex. 1 : précision selon le décalage (vers la droite)")
for d in (0, 1, 2):
    q = shift(test_x, d, 0)
    print(
        f"  décalage {d} px : table {acc(nearest(train_x, train_y, q)):.1%} | "
        f"table+copies {acc(nearest(aug_x, aug_y, q)):.1%}"
        f" | CNN {acc(nn.predict(cnn, q).argmax(1)):.1%} | "
        f"CNN appris sur copies {acc(nn.predict(cnn_aug, q).argmax(1)):.1%}"
    )
print("Ex. 2 : erreur quadratique selon le nombre d'unités ReLU (1500 pas d'Adam, profil cpu)")
curve_x = torch.linspace(-3, 3, 200).view(-1, 1)
curve_y = torch.sin(2 * curve_x) + 0.3 * curve_x
widths = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64]


def net(h):
    torch.manual_seed(0)
    return [
        torch.nn.Parameter(torch.randn(h, 1)),
        torch.nn.Parameter(torch.randn(h)),
        torch.nn.Parameter(torch.randn(1, h) / math.sqrt(h)),
        torch.nn.Parameter(torch.zeros(1)),
    ]


def fwd(x, w1, b1, w2, b2):
    return nn.linear(nn.relu(nn.linear(x, w1, b1)), w2, b2)


nets = {h: net(h) for h in widths}
opt = torch.optim.Adam([p for w in nets.values() for p in w], lr=0.02)
for _ in range(1500):
    tot = sum(((fwd(curve_x, *w) - curve_y) ** 2).mean() for w in nets.values())
    opt.zero_grad()
    tot.backward()
    opt.step()
with torch.no_grad():
    for h, w in nets.items():
        kinks = -w[1] / w[0][:, 0]
        inside = int(((kinks > -3) & (kinks < 3)).sum())
        print(
            f"  {h:3d} unités : erreur {float(((fwd(curve_x, *w) - curve_y) ** 2).mean()):.4f}, "
            f"coudes dans [-3, 3] : {inside}"
        )
print("Ex. 3 : réponses moyennes |Sobel| et |Sobel^T| sur des contours synthétiques")
img = torch.zeros(1, 1, 32, 32)
img[..., :, 16:] = 1.0  # un contour vertical
imgh = img.transpose(-1, -2)  # un contour horizontal
sob = torch.tensor([[[[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]]])
for name, k in (("Sobel", sob), ("Sobel transposé", sob.transpose(-1, -2))):
    rv = F.conv2d(img, k, padding=1)[..., 2:-2, 2:-2].abs().max().item()
    rh = F.conv2d(imgh, k, padding=1)[..., 2:-2, 2:-2].abs().max().item()
    print(f"  {name:16s}: contour vertical {rv:.1f}, contour horizontal {rh:.1f}")
# Ex. 4 : voir k02b.py ; ex. 3 (Gabor) et 5 : voir k02c.py.
