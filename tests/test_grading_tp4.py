"""TP4 « Colorisation » : correction de bout en bout avec nbgrader."""

import grading_harness as harness

CASE = harness.GradingCase(
    tp="TP4",
    wrong={
        # encodage dur (un « 1 » sur la case la plus proche) : juste pour k = 1, somme 1, bon argmax
        "soft_encode": '''
def soft_encode(ab, bins, k=5, sigma=5.0):
    B, _, H, W = ab.shape
    points = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    nearest = torch.cdist(points, bins).argmin(dim=1)
    z = torch.zeros(points.shape[0], bins.shape[0]).scatter_(1, nearest[:, None], 1.0)
    return z.view(B, H, W, -1).permute(0, 3, 1, 2)
''',
        # poids non normalisés (E[w] != 1) : les rapports entre poids restent justes
        "rebalance_weights": '''
def rebalance_weights(prior, bins, lam=0.5, sigma=5.0):
    p = prior.double() / prior.double().sum()
    if sigma > 0:
        d2 = ((bins.double()[:, None] - bins.double()[None]) ** 2).sum(-1)
        p = torch.exp(-d2 / (2 * sigma ** 2)) @ p
        p = p / p.sum()
    return (1.0 / ((1 - lam) * p + lam / p.numel())).to(prior.dtype)
''',
        # température appliquée aux probabilités au lieu des log-probabilités : juste pour une
        # distribution uniforme et presque juste quand le mode domine
        "annealed_mean": '''
def annealed_mean(probs, bins, T=0.38):
    return torch.einsum("bqhw,qc->bchw", torch.softmax(probs / T, dim=1), bins.to(probs))
''',
    },
    alias={
        "soft_encode": "from course_lib.colorization import soft_encode as encode\n\n"
                       "def soft_encode(ab, bins, k=5, sigma=5.0):\n    return encode(ab, bins, k, sigma)\n",
        "rebalance_weights": "import course_lib.colorization as cc\n\n"
                             "rebalance_weights = lambda prior, bins, lam=0.5, sigma=5.0: "
                             "cc.rebalance_weights(prior, lam, sigma, bins=bins)\n",
        "annealed_mean": "import functools\nfrom course_lib.colorization import quantization\n\n"
                         "def annealed_mean(probs, bins, T=0.38):\n"
                         "    return functools.partial(quantization.annealed_mean, bins=bins)(probs, T)\n",
    },
    loop=("rebalance_weights",
          "def rebalance_weights(prior, bins, lam=0.5, sigma=5.0):\n    while True:\n        pass\n"),
    loop_cells=["test_rebalance_weights_visible", "test_rebalance_weights_hidden"],
)


class TestTP4(harness.GradingContract):
    case = CASE
