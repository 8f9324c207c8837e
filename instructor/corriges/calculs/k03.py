# Corrigé 03 : chiffres des exercices.
import warnings

import torch
import torch.nn.functional as F

import course_lib
from course_lib import nn

torch.set_num_threads(2)
print("Ex. 1 : modèle à 6 poids, 200 points (profil cpu), 100 itérations")
g = torch.Generator().manual_seed(0)
n = 200
centres = torch.tensor([[-1.0, -0.5], [1.0, 0.7]], dtype=torch.float64)
y = torch.arange(n) % 2
pts = centres[y] + 0.7 * torch.randn(n, 2, generator=g, dtype=torch.float64)
X = torch.cat([pts, torch.ones(n, 1, dtype=torch.float64)], 1)
for lr in (0.01, 0.5, 5.0, 50.0):
    W = torch.tensor([[0.0, 1.0, 0.5], [0.0, -1.0, 0.0]], dtype=torch.float64)
    losses = []
    for _t in range(101):
        losses.append(nn.cross_entropy(X @ W.T, y).item())
        W = W - lr * (nn.cross_entropy_grad(X @ W.T, y).T @ X)
    acc = float(((X @ W.T).argmax(1) == y).double().mean())
    print(
        f"  lr={lr:<5} perte t=0 {losses[0]:.3f}, t=3 {losses[3]:.3f}, t=10 {losses[10]:.3f}, t=100 {losses[100]:.3f}, "
        f"précision {acc:.1%}, |W| {W.norm():.1f}"
    )
print("Ex. 2 : gradient par rapport au score de la vraie classe")
for s_true in (-8.0, -4.0, 0.0, 4.0):
    s = torch.tensor([[s_true, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]], requires_grad=True)
    ce = F.cross_entropy(s, torch.tensor([0]))
    (gce,) = torch.autograd.grad(ce, s)
    z = s.softmax(1)
    zh = F.one_hot(torch.tensor([0]), 8).float()
    se = ((z - zh) ** 2).sum()
    (gse,) = torch.autograd.grad(se, s)
    print(f"  s_vraie={s_true:+.0f}: p={z[0, 0]:.2e}  dCE/ds={gce[0, 0]:+.4f}  dEQ/ds={gse[0, 0]:+.6f}")
print("Ex. 3 : eta_c et conditionnement, données de la section 5")
x, yy = nn.line_data(64, slope=2.0, intercept=-1.0, noise=0.5, seed=0)
for name, xs in (("x brut", x), ("x centré", x - x.mean())):
    H = (
        2
        / len(xs)
        * torch.stack(
            [
                torch.stack([(xs * xs).sum(), xs.sum()]),
                torch.stack([xs.sum(), torch.tensor(float(len(xs)), dtype=xs.dtype)]),
            ]
        )
    )
    lam = torch.linalg.eigvalsh(H)
    eta_c = nn.critical_learning_rate(xs)
    best = 2 / (lam[0] + lam[1])
    rate = float((lam[1] - lam[0]) / (lam[1] + lam[0]))
    w_star = torch.linalg.lstsq(torch.stack([xs, torch.ones_like(xs)], 1), yy[:, None]).solution[:, 0]
    path, losses = nn.descent_path(xs, yy, lr=float(best), steps=200, w0=(-1.0, 3.0))
    L_star = float(nn.line_loss(w_star, xs, yy))
    steps_to = next((t for t, l in enumerate(losses.tolist()) if l - L_star < 1e-6 * (losses[0].item() - L_star)), None)
    print(
        f"  {name}: lambda = {lam[0]:.3f}, {lam[1]:.3f} ; conditionnement {lam[1] / lam[0]:.1f} ; "
        f"eta_c = {eta_c:.4f} ; "
        f"facteur de contraction par pas (pas optimal) {rate:.3f} ; pas pour gagner 10^6 : {steps_to}"
    )
print("Ex. 4 : SGD (1 exemple), eta = 0,3 eta_c, 20 passages : constant vs eta_t = eta_0/(1+t/100)")
eta0 = 0.3 * nn.critical_learning_rate(x)
w_star = torch.linalg.lstsq(torch.stack([x, torch.ones_like(x)], 1), yy[:, None]).solution[:, 0]
L_star = float(nn.line_loss(w_star, x, yy))
for decay in (False, True):
    gen = torch.Generator().manual_seed(1)
    w = torch.tensor([-1.0, 3.0], dtype=x.dtype)
    tail = []
    for t in range(20 * len(x)):
        i = torch.randint(len(x), (1,), generator=gen)
        lr = eta0 / (1 + t / 100) if decay else eta0
        w = w - lr * nn.line_gradient(w, x[i], yy[i])
        if t >= 19 * len(x):
            tail.append(float(nn.line_loss(w, x, yy)) - L_star)
    print(
        f"  {'décroissant' if decay else 'constant   '}: L(w) - L(w*) au dernier passage : "
        f"moyenne {sum(tail) / len(tail):.2e}, max {max(tail):.2e}"
    )
print("Ex. 5 : optimiseurs sur les chiffres (profil cpu : SmallCNN largeur 32, 10 époques, lots de 64)")
(tx, ty), (vx, vy) = nn.digits_split()
for opt, lr in (("momentum", 0.05), ("sgd", 0.05), ("adam", 0.05), ("adam", 1e-3), ("momentum", 5.0)):
    course_lib.seed(0)
    m = nn.SmallCNN(1, 10, width=32, kernel_size=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = nn.train(m, (tx, ty), (vx, vy), epochs=10, lr=lr, optimizer=opt, batch_size=64, progress=False, live=False)
    loss = h.get("perte/entraînement") or []
    print(
        f"  {opt:8s} lr={lr:<6}: précision de validation {h['précision/validation'][-1]:.1%} "
        f"(après 1 époque {h['précision/validation'][min(3, len(h['précision/validation']) - 1)]:.1%}) ; "
        f"avertissements : {[str(w.message)[:80] for w in caught]}"
    )
