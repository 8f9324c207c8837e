"""Cas de calibration du rapport de similarité (course_grading.similarity).

- ``REWRITES`` : pour chaque cellule solution, des solutions **correctes écrites indépendamment**
  (d'autres formulations que la solution publiée et que course_lib). Elles ne doivent jamais dépasser
  le seuil ; ``tests/test_similarity.py`` vérifie aussi qu'elles sont justes (contre course_lib).
- :func:`pasted` : le code de la référence de course_lib (avec les fonctions et constantes du module
  dont elle a besoin), collé tel quel, ou renommé et reformaté (``ast.unparse``, sans commentaires ni
  docstrings, chaque identifiant local renommé) : il doit dépasser le seuil.
"""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COURSE_LIB = ROOT / "course_lib"

REWRITES: dict[str, dict[str, list[str]]] = {
    "TP0": {
        "rgb_to_gray": [
            '''def rgb_to_gray(images):
    r, g, b = images.unbind(-3)
    return (0.2125 * r + 0.7154 * g + 0.0721 * b).unsqueeze(-3)
''',
            '''def rgb_to_gray(images):
    w = images.new_tensor([0.2125, 0.7154, 0.0721])
    out = torch.tensordot(images.movedim(-3, -1), w, dims=1)
    return out[..., None, :, :]
''',
        ],
        "srgb_to_linear": [
            '''def srgb_to_linear(x):
    low = x / 12.92
    high = ((x.clamp(min=0.0) + 0.055) / 1.055).pow(2.4)
    mask = (x > 0.04045).to(x.dtype)
    return mask * high + (1 - mask) * low
''',
            '''def srgb_to_linear(x):
    out = x / 12.92
    bright = x > 0.04045
    out[bright] = ((x[bright] + 0.055) / 1.055) ** 2.4
    return out
''',
        ],
        "rgb_to_lab": [
            '''M = [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
WHITE = (0.95047, 1.0, 1.08883)

def _f(t):
    cube = torch.pow(torch.clamp(t, min=0.008856), 1.0 / 3.0)
    return torch.where(t > 0.008856, cube, 7.787 * t + 16.0 / 116.0)

def rgb_to_lab(images):
    rgb = srgb_to_linear(images.to(torch.float64))
    r, g, b = rgb.unbind(-3)
    fx, fy, fz = [_f((row[0] * r + row[1] * g + row[2] * b) / n) for row, n in zip(M, WHITE)]
    L = 116.0 * fy - 16.0
    a = 500.0 * (fx - fy)
    bb = 200.0 * (fy - fz)
    return torch.stack((L, a, bb), -3).to(images.dtype)
''',
            '''def rgb_to_lab(images):
    lin = srgb_to_linear(images.double())
    matrix = torch.tensor([[0.412453, 0.357580, 0.180423],
                           [0.212671, 0.715160, 0.072169],
                           [0.019334, 0.119193, 0.950227]], dtype=torch.float64, device=images.device)
    xyz = (lin.movedim(-3, -1) @ matrix.T).movedim(-1, -3)
    xyz = xyz / torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64, device=images.device)[:, None, None]
    small = xyz <= 0.008856
    f = xyz.clamp(min=0.008856) ** (1 / 3)
    f[small] = 7.787 * xyz[small] + 16 / 116
    lab = torch.cat([116 * f[..., 1:2, :, :] - 16, 500 * (f[..., 0:1, :, :] - f[..., 1:2, :, :]),
                     200 * (f[..., 1:2, :, :] - f[..., 2:3, :, :])], dim=-3)
    return lab.type(images.dtype)
''',
        ],
        "gaussian_kernel1d": [
            '''def gaussian_kernel1d(sigma):
    r = math.floor(4 * sigma + 0.5)
    values = [math.exp(-(i * i) / (2.0 * sigma * sigma)) for i in range(-r, r + 1)]
    total = sum(values)
    return torch.tensor([v / total for v in values], dtype=torch.float32)
''',
            '''def gaussian_kernel1d(sigma):
    half = int(4 * sigma + 0.5)
    grid = torch.linspace(-half, half, 2 * half + 1, dtype=torch.float64)
    g = torch.softmax(-grid ** 2 / (2 * sigma ** 2), dim=0)
    return g.to(torch.float32)
''',
        ],
        "gaussian_blur": [
            '''def gaussian_blur(images, sigma):
    k = gaussian_kernel1d(sigma).to(images)
    pad = len(k) // 2
    batch = images.unsqueeze(0) if images.ndim == 3 else images
    n, c, h, w = batch.shape
    flat = batch.reshape(n * c, 1, h, w)
    flat = F.conv2d(F.pad(flat, (pad, pad, 0, 0), mode="reflect"), k.reshape(1, 1, 1, -1))
    flat = F.conv2d(F.pad(flat, (0, 0, pad, pad), mode="reflect"), k.reshape(1, 1, -1, 1))
    out = flat.reshape(n, c, h, w)
    return out.squeeze(0) if images.ndim == 3 else out
''',
            '''def gaussian_blur(images, sigma):
    kernel = gaussian_kernel1d(sigma).to(device=images.device, dtype=images.dtype)
    radius = (kernel.shape[0] - 1) // 2
    was_single = images.dim() == 3
    x = images if not was_single else images[None]
    channels = x.size(1)
    horizontal = kernel.expand(channels, 1, 1, kernel.shape[0])
    vertical = kernel[:, None].expand(channels, 1, kernel.shape[0], 1)
    x = F.conv2d(F.pad(x, [radius, radius, radius, radius], "reflect"), horizontal, groups=channels)
    x = F.conv2d(x, vertical, groups=channels)
    return x[0] if was_single else x
''',
        ],
    },
    "TP2": {
        "conv2d": [
            '''def conv2d(x, weight, bias=None, stride=1, padding=0):
    x = F.pad(x, (padding, padding, padding, padding))
    b, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    patches = x.unfold(2, kh, stride).unfold(3, kw, stride)          # (B, C, oh, ow, kh, kw)
    out = torch.einsum("bcijkl,ockl->boij", patches, weight)
    if bias is not None:
        out = out + bias[None, :, None, None]
    return out
''',
        ],
        "softmax": [
            '''def softmax(logits):
    z = torch.exp(logits - logits.amax(dim=1, keepdim=True))
    return z / torch.sum(z, dim=1, keepdim=True)
''',
        ],
        "cross_entropy": [
            '''def cross_entropy(logits, labels):
    m = logits.amax(dim=1)
    lse = m + (logits - m[:, None]).exp().sum(dim=1).log()
    picked = logits.gather(1, labels[:, None]).squeeze(1)
    return (lse - picked).mean()
''',
        ],
        "train": [
            '''def train(model, images, labels, epochs, lr, batch_size, seed=0):
    g = torch.Generator()
    g.manual_seed(seed)
    history = []
    count = len(images)
    for epoch in range(epochs):
        perm = torch.randperm(count, generator=g)
        running = 0.0
        for i in range(0, count, batch_size):
            idx = perm[i:i + batch_size]
            model.zero_grad(set_to_none=True)
            loss = cross_entropy(model(images[idx]), labels[idx])
            loss.backward()
            sgd_step(model.parameters(), lr)
            running = running + loss.item() * idx.numel()
        history.append(running / count)
    return history
''',
        ],
    },
    "TP5": {
        "gram_matrix": [
            '''def gram_matrix(features):
    b, n, h, w = features.shape
    f = features.flatten(2)
    return torch.bmm(f, f.permute(0, 2, 1)).div(h * w)
''',
        ],
        "style_loss": [
            '''def style_loss(features, targets, weights):
    terms = []
    for weight, feat, target in zip(weights, features, targets):
        channels = feat.size(1)
        terms.append(weight / (4.0 * channels * channels) * torch.sum((gram_matrix(feat) - target) ** 2))
    return torch.stack(terms).sum()
''',
        ],
        "optimize": [
            '''def optimize(loss_fn, init, steps, lr=0.02):
    image = init.detach().clone()
    image.requires_grad = True
    adam = torch.optim.Adam(params=[image], lr=lr)
    step = 0
    while step < steps:
        adam.zero_grad()
        loss_fn(image).backward()
        adam.step()
        image.data.clamp_(min=0.0, max=1.0)
        step += 1
    return image.detach()
''',
        ],
    },
}


# --------------------------------------------------------------------------- code collé depuis course_lib

def _module_and_function(name: str) -> tuple[Path, ast.Module, ast.FunctionDef]:
    for path in sorted(COURSE_LIB.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                return path, tree, node
    raise LookupError(f"{name} introuvable dans course_lib")


def _used_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def pasted(name: str, rename: bool = False) -> tuple[str, str]:
    """(code collé, fichier de course_lib d'où il vient) : la référence ``name`` et ce qu'elle utilise du module.

    Avec ``rename``, le code est reformaté par ``ast.unparse`` (ni commentaires ni docstrings) et chaque
    identifiant défini dans le code collé (fonctions auxiliaires, paramètres, variables) est renommé ; la
    fonction garde le nom que le TP demande.
    """
    path, tree, function = _module_and_function(name)
    definitions = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            definitions[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    definitions[target.id] = node
    needed, queue = [], [function]
    seen = {name}
    while queue:
        current = queue.pop()
        for used in sorted(_used_names(current)):
            if used in definitions and used not in seen:
                seen.add(used)
                needed.append(definitions[used])
                queue.append(definitions[used])
    imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
               and not (isinstance(node, ast.ImportFrom) and node.module == "__future__")]
    body = sorted(needed, key=lambda n: n.lineno) + [function]
    relative = f"course_lib/{path.relative_to(COURSE_LIB).as_posix()}"
    if not rename:
        source = path.read_text(encoding="utf-8")
        parts = [ast.get_source_segment(source, node) for node in imports + body]
        return "\n\n".join(parts) + "\n", relative
    module = ast.Module(body=imports + body, type_ignores=[])
    _Renamer(keep={name} | _imported(imports)).visit(module)
    for node in ast.walk(module):               # sans docstrings
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.body and isinstance(node.body[0], ast.Expr) \
                and isinstance(getattr(node.body[0], "value", None), ast.Constant) \
                and isinstance(node.body[0].value.value, str):
            node.body = node.body[1:] or [ast.Pass()]
    return ast.unparse(ast.fix_missing_locations(module)) + "\n", relative


def _imported(imports) -> set[str]:
    names = set()
    for node in imports:
        for alias in node.names:
            names.add((alias.asname or alias.name).split(".")[0])
    return names


class _Renamer(ast.NodeTransformer):
    """Renomme les identifiants définis dans le code (pas les attributs, ni les noms importés ou natifs)."""

    def __init__(self, keep: set[str]):
        self.keep = keep | set(dir(builtins))
        self.names: dict[str, str] = {}

    def _new(self, old: str) -> str:
        if old in self.keep:
            return old
        return self.names.setdefault(old, f"v{len(self.names)}_{old[::-1].strip('_')[:3]}")

    def visit_Name(self, node):
        node.id = self._new(node.id)
        return node

    def visit_arg(self, node):
        node.arg = self._new(node.arg)
        node.annotation = None
        return node

    def visit_FunctionDef(self, node):
        node.name = self._new(node.name)
        node.returns = None
        self.generic_visit(node)
        return node

    def visit_ClassDef(self, node):
        node.name = self._new(node.name)
        self.generic_visit(node)
        return node

    def visit_keyword(self, node):
        self.generic_visit(node)
        return node
