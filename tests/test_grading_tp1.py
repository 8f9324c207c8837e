"""TP1 « Complétion de scènes » : correction de bout en bout avec course_grading.grade.

Mutants, variantes correctes et raccourcis : voir ``grading_harness``.
"""

import grading_harness as harness
from grading_harness import Mutant, Shortcut, Variant

GABOR = '''
def gabor_transfer(orientations, n):
    f = torch.arange(n, dtype=torch.float64) - n / 2
    fy, fx = torch.meshgrid(f, f, indexing="ij")
    fr = torch.fft.fftshift(torch.sqrt(fx**2 + fy**2))
    theta = torch.fft.fftshift(torch.atan2(fy, fx))
    filters = []
    for i, count in enumerate(orientations, start=1):
        b = 0.3 / 1.85 ** (i - 1)
        c = 16 * count**2 / 32**2
        for j in range(1, count + 1):
            tau = theta + math.pi * (j - 1) / count
            tau = torch.where(tau < -math.pi, tau + 2 * math.pi, torch.where(tau > math.pi, tau - 2 * math.pi, tau))
            filters.append(torch.exp(-10 * 0.35 * (fr / n / b - 1) ** 2 - 2 * c * math.pi * tau**2))
    return torch.stack(filters).float()
'''

DISTANCE = '''
def masked_scene_distance(query, database, mask, n_blocks=4):
    H, W = mask.shape
    rows = [i * H // n_blocks for i in range(n_blocks + 1)]
    cols = [i * W // n_blocks for i in range(n_blocks + 1)]
    known = (~mask).to(query.dtype)
    weights = torch.stack([known[rows[r]:rows[r + 1], cols[c]:cols[c + 1]].mean()
                           for c in range(n_blocks) for r in range(n_blocks)])
    weights = weights.repeat(query.shape[0] // n_blocks**2)
    return ((database - query) ** 2 * weights).sum(dim=1)
'''

POISSON = '''
def poisson_blend(source, target, mask, n_iter=20000, tol=1e-7):
    H, W = mask.shape
    ys, xs = torch.nonzero(mask, as_tuple=True)
    top, bottom = max(int(ys.min()) - 1, 0), min(int(ys.max()) + 2, H)
    left, right = max(int(xs.min()) - 1, 0), min(int(xs.max()) + 2, W)
    s = source[:, top:bottom, left:right].double()
    t = target[:, top:bottom, left:right].double()
    m = mask[top:bottom, left:right]
    interior = torch.zeros_like(m)
    interior[1:-1, 1:-1] = True
    shifts = ((1, -1), (-1, -1), (1, -2), (-1, -2))
    guidance = torch.zeros_like(s)
    for shift, dim in shifts:
        touches = m | torch.roll(m, shift, dim)
        guidance += torch.where(touches, s - torch.roll(s, shift, dim), t - torch.roll(t, shift, dim))
    f = t.clone()
    for _ in range(n_iter):
        neighbours = sum(torch.roll(f, shift, dim) for shift, dim in shifts)
        updated = torch.where(interior, (neighbours + guidance) / 4, t)
        change = float((updated - f).abs().max())
        f = updated
        if change < tol:
            break
    out = target.clone()
    out[:, top:bottom, left:right] = f.clamp(0, 1).to(target.dtype)
    return out
'''

GUIDANCE = "torch.where(touches, s - torch.roll(s, shift, dim), t - torch.roll(t, shift, dim))"


def mutate(text: str, old: str, new: str) -> str:
    """Une solution où un seul morceau change (le morceau doit exister)."""
    assert old in text, old
    return text.replace(old, new)


CASE = harness.GradingCase(
    tp="TP1",
    wrong={
        # mauvaise convention d'orientation (θ - θ_j) : le premier filtre (θ = 0) reste juste
        "gabor_transfer": mutate(GABOR, "tau = theta + math.pi", "tau = theta - math.pi"),
        # masque non pondéré : un bloc compte entièrement s'il n'a aucun pixel manquant, sinon pas du tout
        "masked_scene_distance": mutate(DISTANCE, "known[rows[r]:rows[r + 1], cols[c]:cols[c + 1]].mean()",
                                        "known[rows[r]:rows[r + 1], cols[c]:cols[c + 1]].min()"),
        # mauvaise condition au bord : le bord du rectangle garde la source au lieu de la cible
        "poisson_blend": mutate(mutate(POISSON, "f = t.clone()", "f = s.clone()"),
                                "(neighbours + guidance) / 4, t)", "(neighbours + guidance) / 4, s)"),
    },
    alias={
        "gabor_transfer": "import importlib\n\nreference = importlib.import_module('course_lib.scenes.gist')\n\n"
                          "def gabor_transfer(orientations, n):\n"
                          "    return reference.gabor_transfer(orientations, n)\n",
        "masked_scene_distance": "from course_lib.scenes import masked_scene_distance as distance\n\n"
                                 "masked_scene_distance = lambda q, x, m, n_blocks=4: distance(q, x, m, n_blocks)\n",
        "poisson_blend": "import functools\nfrom course_lib.scenes import poisson_blend as blend\n\n"
                         "poisson_blend = functools.partial(blend, mode='seamless')\n",
    },
    loop=("masked_scene_distance",
          "def masked_scene_distance(query, database, mask, n_blocks=4):\n    while True:\n        pass\n"),
    loop_cells=["test_masked_scene_distance_visible", "test_masked_scene_distance_hidden"],
    scalar_functions=("gabor_transfer",),
    mutants=(
        Mutant("gabor_transfer", why="c_i = 16 o_i / 32² (carré oublié) : le filtre θ = 0 garde sa valeur sur l'axe",
               expect="hors tolérance", code=mutate(GABOR, "c = 16 * count**2 / 32**2", "c = 16 * count / 32**2")),
        Mutant("gabor_transfer", why="orientations réparties sur 2π au lieu de π", expect="hors tolérance",
               code=mutate(GABOR, "tau = theta + math.pi * (j - 1) / count",
                           "tau = theta + 2 * math.pi * (j - 1) / count")),
        Mutant("gabor_transfer", why="l'angle n'est ramené dans [-π, π] que d'un côté", expect="hors tolérance",
               code=mutate(GABOR, "torch.where(tau > math.pi, tau - 2 * math.pi, tau)", "tau")),
        Mutant("masked_scene_distance", why="bornes des blocs arrondies au lieu de la partie entière",
               expect="hors tolérance", code=mutate(mutate(
                   DISTANCE, "rows = [i * H // n_blocks", "rows = [round(i * H / n_blocks)"),
                   "cols = [i * W // n_blocks", "cols = [round(i * W / n_blocks)")),
        Mutant("masked_scene_distance", why="logical_not_ inverse le masque de l'appelant", expect="sur place",
               code=mutate(DISTANCE, "known = (~mask).to(query.dtype)", "known = mask.logical_not_().to(query.dtype)")),
        Mutant("masked_scene_distance", why="poids renormalisés (moyenne 1) : justes sans trou ou par blocs entiers",
               expect="hors tolérance",
               code=mutate(DISTANCE, "    weights = weights.repeat(",
                           "    weights = weights / weights.mean()\n    weights = weights.repeat(")),
        Mutant("poisson_blend", why="écrit le résultat dans la cible de l'appelant", expect="sur place",
               code=mutate(POISSON, "out = target.clone()", "out = target")),
        Mutant("poisson_blend", why="gradient de la source sur toutes les arêtes du rectangle", expect="hors tolérance",
               code=mutate(POISSON, GUIDANCE, "s - torch.roll(s, shift, dim)")),
        Mutant("poisson_blend", why="50 itérations de Jacobi, loin de la convergence", expect="hors tolérance",
               code=mutate(POISSON, "for _ in range(n_iter):", "for _ in range(50):")),
        Mutant("poisson_blend", why="inconnues seulement dans le masque au lieu de tout le rectangle",
               expect="hors tolérance", code=mutate(POISSON, "interior[1:-1, 1:-1] = True",
                                                    "interior[1:-1, 1:-1] = m[1:-1, 1:-1]")),
    ),
    variants=(
        Variant(why="meshgrid sans indexing (un UserWarning), torch.remainder, banc préalloué ; poids par une boucle "
                    "sur les blocs et einsum", answers={"gabor_transfer": '''
def gabor_transfer(orientations, n):
    f = torch.arange(n, dtype=torch.float64) - n / 2
    fy, fx = torch.meshgrid(f, f)                      # indexing="ij" par défaut : PyTorch avertit
    fr = torch.fft.fftshift(torch.hypot(fx, fy))
    theta = torch.fft.fftshift(torch.atan2(fy, fx))
    bank = torch.empty(sum(orientations), n, n, dtype=torch.float64)
    k = 0
    for scale, count in enumerate(orientations):
        b = 0.3 / 1.85**scale
        c = 16 * count**2 / 1024
        for j in range(count):
            tau = torch.remainder(theta + math.pi * j / count + math.pi, 2 * math.pi) - math.pi
            bank[k] = torch.exp(-3.5 * (fr / (n * b) - 1) ** 2 - 2 * math.pi * c * tau**2)
            k += 1
    return bank.to(torch.float32)
''', "masked_scene_distance": '''
def masked_scene_distance(query, database, mask, n_blocks=4):
    height, width = mask.shape
    known = 1.0 - mask.double()
    weights = torch.zeros(n_blocks, n_blocks, dtype=torch.float64)          # [colonne, ligne]
    for c in range(n_blocks):
        for r in range(n_blocks):
            block = known[r * height // n_blocks:(r + 1) * height // n_blocks,
                          c * width // n_blocks:(c + 1) * width // n_blocks]
            weights[c, r] = block.sum() / block.numel()
    per_entry = weights.flatten().repeat(query.numel() // n_blocks**2).to(query.dtype)
    return torch.einsum("nd,d->n", (database - query) ** 2, per_entry)
'''}),
        Variant(why="gradient conjugué sans matrice au lieu de Jacobi", answers={"poisson_blend": '''
def _laplacian(x, inner):
    out = 4 * x
    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        out = out - torch.roll(x, (dy, dx), (1, 2))
    return torch.where(inner, out, torch.zeros_like(out))


def poisson_blend(source, target, mask, n_iter=20000, tol=1e-7):
    H, W = mask.shape
    ys, xs = torch.nonzero(mask, as_tuple=True)
    top, bottom = max(int(ys.min()) - 1, 0), min(int(ys.max()) + 2, H)
    left, right = max(int(xs.min()) - 1, 0), min(int(xs.max()) + 2, W)
    s = source[:, top:bottom, left:right].double()
    t = target[:, top:bottom, left:right].double()
    m = mask[top:bottom, left:right]
    inner = torch.zeros_like(m)
    inner[1:-1, 1:-1] = True
    fixed = torch.where(inner, torch.zeros_like(t), t)
    rhs = torch.zeros_like(s)
    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        edge = m | torch.roll(m, (dy, dx), (0, 1))
        rhs += torch.where(edge, s - torch.roll(s, (dy, dx), (1, 2)), t - torch.roll(t, (dy, dx), (1, 2)))
        rhs += torch.roll(fixed, (dy, dx), (1, 2))
    rhs = torch.where(inner, rhs, torch.zeros_like(rhs))
    x = torch.zeros_like(t)
    r = rhs.clone()
    p = r.clone()
    rs = (r * r).sum(dim=(1, 2), keepdim=True)
    for _ in range(n_iter):
        if float(rs.max().sqrt()) < tol:
            break
        ap = _laplacian(p, inner)
        alpha = rs / (p * ap).sum(dim=(1, 2), keepdim=True).clamp_min(1e-300)
        x = x + alpha * p
        r = r - alpha * ap
        new = (r * r).sum(dim=(1, 2), keepdim=True)
        p = r + new / rs.clamp_min(1e-300) * p
        rs = new
    f = torch.where(inner, x, t)
    out = target.clone()
    out[:, top:bottom, left:right] = f.clamp(0, 1).to(target.dtype)
    return out
'''}),
        Variant(why="Jacobi par tranches (sans torch.roll), rectangle par any()", answers={"poisson_blend": '''
def poisson_blend(source, target, mask, n_iter=20000, tol=1e-7):
    rows = torch.where(mask.any(dim=1))[0]
    cols = torch.where(mask.any(dim=0))[0]
    y0, y1 = max(int(rows[0]) - 1, 0), min(int(rows[-1]) + 1, mask.shape[0] - 1)
    x0, x1 = max(int(cols[0]) - 1, 0), min(int(cols[-1]) + 1, mask.shape[1] - 1)
    s = source[:, y0:y1 + 1, x0:x1 + 1].to(torch.float64)
    t = target[:, y0:y1 + 1, x0:x1 + 1].to(torch.float64)
    m = mask[y0:y1 + 1, x0:x1 + 1]
    centre = (slice(None), slice(1, -1), slice(1, -1))
    around = [(slice(None), slice(0, -2), slice(1, -1)), (slice(None), slice(2, None), slice(1, -1)),
              (slice(None), slice(1, -1), slice(0, -2)), (slice(None), slice(1, -1), slice(2, None))]
    v = torch.zeros_like(s[centre])
    for q in around:
        edge = m[1:-1, 1:-1] | m[q[1:]]
        v = v + torch.where(edge, s[centre] - s[q], t[centre] - t[q])
    f = t.clone()
    for _ in range(n_iter):
        new = (f[around[0]] + f[around[1]] + f[around[2]] + f[around[3]] + v) / 4
        change = (new - f[centre]).abs().max()
        f[centre] = new
        if change < tol:
            break
    result = target.clone()
    result[:, y0:y1 + 1, x0:x1 + 1] = f.clamp(0, 1).to(target.dtype)
    return result
'''}),
    ),
    shortcuts=(
        Shortcut("pile", kind="pile", why="cherche les distances attendues dans la pile d'appels",
                 expect="hors tolérance", answers={"masked_scene_distance": '''
import sys


def masked_scene_distance(query, database, mask, n_blocks=4):
    frame = sys._getframe(1)
    while frame is not None:
        for value in list(frame.f_locals.values()):
            if isinstance(value, torch.Tensor) and value.shape == database.shape[:1] and value.is_floating_point():
                return value.clone()
        frame = frame.f_back
    return ((database - query) ** 2).sum(dim=1)
'''}),
        Shortcut("sous-classe", kind="sous-classe", why="un Tensor dont toute opération calcule la référence",
                 expect="sous-classe", answers={"gabor_transfer": '''
import importlib

_gist = importlib.import_module("course_lib.scenes.gist")


class _Paresseux(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        args = [_gist.gabor_transfer(*a._args) if isinstance(a, _Paresseux) else a for a in args]
        return func(*args, **(kwargs or {}))


def gabor_transfer(orientations, n):
    out = torch.zeros(sum(orientations), n, n).as_subclass(_Paresseux)
    out._args = (list(orientations), n)
    return out
'''}),
        Shortcut("attributs", kind="attributs", alone=True,
                 why="remplace torch dans course_lib.grading et désactive la reconnaissance des copies",
                 zero=("test_gabor_transfer_visible", "test_gabor_transfer_hidden"),
                 insert=(("setup", '''
import types

from course_lib import grading

grading._MIN_INSTRUCTIONS = 10**9
grading.torch = types.SimpleNamespace(**vars(torch))
'''),), answers={"gabor_transfer": '''
import inspect
import importlib

_copie = {"__name__": "course_lib.scenes.gist", "__package__": "course_lib.scenes"}
exec(compile(inspect.getsource(importlib.import_module("course_lib.scenes.gist")), "gist.py", "exec"), _copie)
gabor_transfer = _copie["gabor_transfer"]
'''}),
        Shortcut("copie", kind="copie", why="tout course_lib.scenes.poisson exécuté depuis sa source",
                 expect="implémentation de référence", answers={"poisson_blend": '''
import importlib
import inspect

_copie = {"__name__": "course_lib.scenes.mon_poisson", "__package__": "course_lib.scenes"}
exec(compile(inspect.getsource(importlib.import_module("course_lib.scenes.poisson")), "mon_poisson.py", "exec"),
     _copie)


def poisson_blend(source, target, mask, n_iter=20000, tol=1e-7):
    return _copie["poisson_blend"](source, target, mask)
'''}),
        Shortcut("cache", kind="cache", why="bancs de la référence calculés à l'import pour les tailles courantes",
                 zero=("test_gabor_transfer_hidden",), expect=("hors tolérance", "forme"),
                 answers={"gabor_transfer": '''
import importlib

_gist = importlib.import_module("course_lib.scenes.gist")
_CACHE = {(tuple(o), n): _gist.gabor_transfer(o, n) for o in ([8, 8, 8, 8], [8, 8, 4], [4, 4])
          for n in range(16, 129, 8)}


def gabor_transfer(orientations, n):
    key = (tuple(orientations), n)
    if key in _CACHE:
        return _CACHE[key].clone()
    return torch.zeros(sum(orientations), n, n)
'''}),
        Shortcut("fil", kind="fil", why="la référence appelée dans un threading.Thread",
                 expect="implémentation de référence",
                 answers={"masked_scene_distance": '''
import threading

from course_lib.scenes import distance as _distance


def masked_scene_distance(query, database, mask, n_blocks=4):
    result = []
    worker = threading.Thread(target=lambda: result.append(
        _distance.masked_scene_distance(query, database, mask, n_blocks)))
    worker.start()
    worker.join()
    return result[0]
'''}),
    ),
)


class TestTP1(harness.GradingContract):
    case = CASE
