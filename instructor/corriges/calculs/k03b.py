import torch

from course_lib import nn

torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
n = 200
centres = torch.tensor([[-1.0, -0.5], [1.0, 0.7]], dtype=torch.float64)
y = torch.arange(n) % 2
pts = centres[y] + 0.7 * torch.randn(n, 2, generator=g, dtype=torch.float64)
X = torch.cat([pts, torch.ones(n, 1, dtype=torch.float64)], 1)
# courbure maximale de la perte moyenne : H = (1/N) sum_i (diag(p)-pp^T) (x) x x^T ; borne 0.5 * lambda_max(X^T X / N)
lam = torch.linalg.eigvalsh(X.T @ X / n).max().item()
print(
    f"lambda_max(X^T X / N) = {lam:.3f} ; borne de la courbure 0,5 lambda = {0.5 * lam:.3f} ; "
    f"2 / borne = {2 / (0.5 * lam):.2f}"
)
for lr in (5.0, 10.0, 20.0, 50.0, 200.0, 1000.0):
    W = torch.tensor([[0.0, 1.0, 0.5], [0.0, -1.0, 0.0]], dtype=torch.float64)
    losses = []
    for _t in range(101):
        losses.append(nn.cross_entropy(X @ W.T, y).item())
        W = W - lr * (nn.cross_entropy_grad(X @ W.T, y).T @ X)
    ups = sum(b > a for a, b in zip(losses, losses[1:]))
    print(
        f"lr={lr:<6}: pertes t=1 {losses[1]:.3f}, t=3 {losses[3]:.3f}, t=10 {losses[10]:.3f}, "
        f"t=100 {losses[100]:.3f} ; hausses : {ups}"
    )
