"""TP4 « Colorisation » : correction de bout en bout avec la vraie commande (``course_grading.grade``).

Les réponses sont écrites comme des étudiants les écriraient : la solution de référence, puis des
mutants (une ligne fausse qui passe les tests visibles), des variantes correctes écrites autrement,
et des raccourcis qui ne doivent rien rapporter.
"""

import grading_harness as harness
from grading_harness import Mutant, Shortcut, Variant
from shortcut_code import LIAR, STACK_WALK, exec_copy, in_thread
from statement_checks import check_points_and_hours

# --------------------------------------------------------------------------- réponses de départ

SOFT_ENCODE = '''
def soft_encode(ab, bins, k=5, sigma=5.0):
    B, _, H, W = ab.shape
    points = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    squared = ((points[:, None, :] - bins[None, :, :].to(points)) ** 2).sum(dim=-1)
    nearest, index = squared.topk(k, dim=1, largest=False)
    weights = torch.exp(-(nearest - nearest[:, :1]) / (2 * sigma ** 2))
    weights = weights / weights.sum(dim=1, keepdim=True)
    z = torch.zeros_like(squared).scatter_(1, index, weights)
    return z.view(B, H, W, -1).permute(0, 3, 1, 2)
'''

REBALANCE_WEIGHTS = '''
def rebalance_weights(prior, bins, lam=0.5, sigma=5.0):
    p = prior.double() / prior.double().sum()
    if sigma > 0:
        centres = bins.double()
        squared = ((centres[:, None, :] - centres[None, :, :]) ** 2).sum(dim=-1)
        p = torch.exp(-squared / (2 * sigma ** 2)) @ p
        p = p / p.sum()
    weights = 1.0 / ((1 - lam) * p + lam / p.numel())
    weights = weights / (p * weights).sum()
    return weights.to(prior.dtype)
'''

ANNEALED_MEAN = '''
def annealed_mean(probs, bins, T=0.38):
    log_p = torch.log(probs.clamp_min(1e-30))
    annealed = torch.softmax(log_p / T, dim=1)
    return torch.einsum("bqhw,qc->bchw", annealed, bins.to(probs))
'''


def edit(text: str, old: str, new: str) -> str:
    """La réponse ``text`` avec ``old`` remplacé par ``new`` (exactement une fois)."""
    assert text.count(old) == 1, old
    return text.replace(old, new)


_QUANTIZATION = exec_copy("course_lib.colorization.quantization")

# --------------------------------------------------------------------------- le cas

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
        "rebalance_weights": edit(REBALANCE_WEIGHTS, "    weights = weights / (p * weights).sum()\n", ""),
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
    mutants=(
        Mutant("soft_encode", edit(SOFT_ENCODE, "(nearest - nearest[:, :1])",
                                   "(nearest.sqrt() - nearest[:, :1].sqrt())"),
               "la distance au lieu de son carré dans le noyau gaussien", expect="hors tolérance"),
        Mutant("soft_encode", edit(SOFT_ENCODE, "(2 * sigma ** 2)", "(sigma ** 2)"),
               "σ² au lieu de 2σ² dans le noyau gaussien", expect="hors tolérance"),
        Mutant("soft_encode", edit(SOFT_ENCODE, "(nearest - nearest[:, :1])", "nearest"),
               "sans soustraire la plus petite distance : 0 / 0 loin des cases", expect="NaN"),
        Mutant("soft_encode", edit(SOFT_ENCODE, "torch.zeros_like(squared).scatter_(1, index, weights)",
                                   "torch.zeros(squared.shape).scatter_(1, index, weights.float())"),
               "résultat toujours en float32", expect="type attendu : torch.float64"),
        Mutant("rebalance_weights", edit(REBALANCE_WEIGHTS, "    p = prior.double() / prior.double().sum()\n",
                                         "    prior /= prior.sum()\n    p = prior.double()\n"),
               "l'a priori de l'appelant divisé sur place (prior /= ...)",
               expect="modifie sur place son argument « prior »"),
        Mutant("rebalance_weights", edit(REBALANCE_WEIGHTS, "(1 - lam) * p + lam / p.numel()",
                                         "lam * p + (1 - lam) / p.numel()"),
               "λ et 1 - λ échangés (juste pour λ = 1/2)", expect="hors tolérance"),
        Mutant("rebalance_weights", edit(REBALANCE_WEIGHTS, "        p = p / p.sum()\n", ""),
               "a priori lissé non renormalisé", expect="hors tolérance"),
        Mutant("rebalance_weights", edit(REBALANCE_WEIGHTS, "weights / (p * weights).sum()",
                                         "weights / weights.mean()"),
               "poids de moyenne 1 au lieu d'espérance 1 sous l'a priori lissé", expect="hors tolérance"),
        Mutant("rebalance_weights", edit(REBALANCE_WEIGHTS, "return weights.to(prior.dtype)", "return weights"),
               "résultat en float64 quel que soit le type de prior", expect="type attendu : torch.float32"),
        Mutant("annealed_mean", edit(ANNEALED_MEAN, "log_p / T", "log_p / 0.38"),
               "la température de l'article écrite en dur", expect="T = 1"),
        Mutant("annealed_mean", edit(ANNEALED_MEAN, "probs.clamp_min(1e-30)", "probs.clamp_min_(1e-30)"),
               "probabilités nulles remplacées sur place dans la distribution de l'appelant",
               expect="modifie sur place son argument « probs »"),
    ),
    variants=(
        Variant({
            "soft_encode": '''
def soft_encode(ab, bins, k=5, sigma=5.0):
    b, _, h, w = ab.shape
    pixels = ab.movedim(1, -1).reshape(-1, 2)
    dist = torch.cdist(pixels, bins.to(pixels.dtype))
    order = dist.argsort(dim=1)[:, :k]
    d2 = dist.gather(1, order) ** 2
    g = torch.exp(-(d2 - d2.min(dim=1, keepdim=True).values) / (2 * sigma * sigma))
    g = g / g.sum(dim=1, keepdim=True)
    out = torch.zeros(pixels.shape[0], bins.shape[0], dtype=ab.dtype)
    out[torch.arange(pixels.shape[0])[:, None], order] = g
    return out.reshape(b, h, w, -1).movedim(-1, 1)
''',
            "rebalance_weights": '''
def rebalance_weights(prior, bins, lam=0.5, sigma=5.0):
    p = prior.double()
    p = p / p.sum()
    if sigma > 0:
        smoothed = torch.zeros_like(p)
        for q in range(len(p)):
            d2 = ((bins.double() - bins[q].double()) ** 2).sum(dim=1)
            smoothed[q] = (torch.exp(-d2 / (2 * sigma**2)) * p).sum()
        p = smoothed / smoothed.sum()
    w = ((1 - lam) * p + lam / len(p)).reciprocal()
    return (w / torch.dot(p, w)).to(prior.dtype)
''',
            "annealed_mean": '''
def annealed_mean(probs, bins, T=0.38):
    z = (probs / probs.amax(dim=1, keepdim=True)) ** (1.0 / T)
    z = z / z.sum(dim=1, keepdim=True)
    return (z[:, :, None] * bins.to(probs).T[None, None].permute(0, 3, 2, 1)[..., None]).sum(1)
''',
        }, "cdist (produit matriciel en float32) et argsort ; lissage par une boucle sur les cases ; puissance 1/T "
           "normalisée par le maximum"),
        Variant({
            "soft_encode": '''
def soft_encode(ab, bins, k=5, sigma=5.0):
    B, _, H, W = ab.shape
    x = ab.permute(0, 2, 3, 1).reshape(-1, 2).double()
    c = bins.double()
    d2 = (x * x).sum(1, keepdim=True) - 2 * x @ c.T + (c * c).sum(1)[None]
    values, index = torch.topk(-d2, k, dim=1)
    weights = torch.softmax(values / (2 * sigma**2), dim=1)
    z = torch.zeros(x.shape[0], c.shape[0], dtype=torch.float64).scatter(1, index, weights)
    return z.reshape(B, H, W, -1).permute(0, 3, 1, 2).to(ab.dtype)
''',
            "rebalance_weights": '''
def rebalance_weights(prior, bins, lam=0.5, sigma=5.0):
    p = prior.to(torch.float64) / prior.sum()
    if sigma > 0:
        c = bins.to(torch.float64)
        kernel = torch.exp(-torch.cdist(c, c) ** 2 / (2 * sigma**2))
        p = torch.einsum("qr,r->q", kernel, p)
        p /= p.sum()
    w = 1 / ((1 - lam) * p + lam / p.shape[0])
    w /= torch.einsum("q,q->", p, w)
    return w.to(prior.dtype)
''',
            "annealed_mean": '''
def annealed_mean(probs, bins, T=0.38):
    f = torch.log_softmax(torch.log(probs.clamp(min=1e-30)) / T, dim=1).exp()
    return torch.einsum("bqhw,qc->bchw", f, bins.type_as(probs))
''',
        }, "distances par développement (produit matriciel) et softmax des k plus proches ; einsum et divisions sur "
           "place de tenseurs intermédiaires ; log_softmax"),
        Variant({
            "soft_encode": '''
def pairwise_sq(a, b):
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)


def soft_encode(ab, bins, k=5, sigma=5.0):
    ab = torch.tensor(ab)                      # UserWarning de PyTorch (copie d'un tenseur) : sans effet
    n, _, h, w = ab.shape
    flat = ab.double().permute(0, 2, 3, 1).reshape(-1, 2)
    d2 = pairwise_sq(flat, bins.double())
    top, idx = torch.sort(d2, dim=1)
    top, idx = top[:, :k], idx[:, :k]
    g = torch.exp((top[:, :1] - top) / (2 * sigma ** 2))
    z = torch.zeros_like(d2)
    z.scatter_(1, idx, g / g.sum(1, keepdim=True))
    return z.reshape(n, h, w, -1).permute(0, 3, 1, 2).to(ab.dtype)
''',
            "annealed_mean": '''
def annealed_mean(probs, bins, T=0.38):
    logits = probs.double().clamp_min(1e-300).log() / T
    weights = torch.softmax(logits, dim=1)
    out = torch.tensordot(weights, bins.double(), dims=([1], [0]))      # (B, H, W, 2)
    return out.permute(0, 3, 1, 2).to(probs.dtype)
''',
        }, "float64 à l'intérieur, une aide « pairwise_sq », tri complet, tensordot, et un avertissement"),
    ),
    shortcuts=(
        Shortcut("pile", "pile", "annealed_mean rend un tenseur de la bonne forme trouvé dans la pile d'appels du test",
                 answers={"annealed_mean": STACK_WALK + '''

def annealed_mean(probs, bins, T=0.38):
    return _peek((probs.shape[0], 2, *probs.shape[2:]), probs.dtype, (probs,))
'''}, expect='hors tolérance'),
        Shortcut("sous-classe", "sous-classe", "soft_encode rend un tenseur qui se dit égal à tout",
                 answers={"soft_encode": LIAR + '''

def soft_encode(ab, bins, k=5, sigma=5.0):
    return _agreeable((ab.shape[0], bins.shape[0], *ab.shape[2:]), ab.dtype)
'''}, expect="sous-classe"),
        Shortcut("copie", "copie", "rebalance_weights exécute une copie du code de "
                                   "course_lib.colorization.quantization",
                 answers={"rebalance_weights": _QUANTIZATION + '''

def rebalance_weights(prior, bins, lam=0.5, sigma=5.0):
    return _copy["rebalance_weights"](prior, lam, sigma, bins=bins)
'''}, expect="(une copie :"),
        Shortcut("fil", "fil", "soft_encode fait calculer la référence par un fil d'exécution",
                 answers={"soft_encode": in_thread(
                     "soft_encode(ab, bins, k=5, sigma=5.0)", "_quantization.soft_encode(ab, bins, k, sigma)",
                     "from course_lib.colorization import quantization as _quantization")},
                 expect="exécute l'implémentation de référence"),
        Shortcut("attributs", "attributs", "course_lib.grading.np remplacé par un numpy dont abs rend zéro, pour "
                                           "qu'une réponse fausse paraisse juste",
                 answers={"annealed_mean": '''
def annealed_mean(probs, bins, T=0.38):
    return torch.einsum("bqhw,qc->bchw", torch.softmax(probs / T, dim=1), bins.to(probs))
'''},
                 insert=(("annealed_mean", '''
import types

import numpy
import course_lib.grading as _grading

_numpy = types.ModuleType("numpy")
_numpy.__dict__.update(vars(numpy))
_numpy.abs = lambda x, *args, **kwargs: x * 0
_grading.np = _numpy
'''),), zero=("test_annealed_mean_hidden",), expect="outils de test ont été modifiés", alone=True),
    ),
)


class TestTP4(harness.GradingContract):
    case = CASE


def test_statement_and_readme_give_points_and_hours():
    check_points_and_hours("TP4")
