"""TP2 « Réseaux de neurones et descente du gradient » : correction de bout en bout avec course_grading.grade.

Mutants, variantes correctes et raccourcis : voir ``grading_harness``.
"""

import grading_harness as harness
from grading_harness import Mutant, Shortcut, Variant

CONV = '''
def conv2d(x, weight, bias=None, stride=1, padding=0):
    batch, _, height, width = x.shape
    n_filters, _, kh, kw = weight.shape
    out_h = (height + 2 * padding - kh) // stride + 1
    out_w = (width + 2 * padding - kw) // stride + 1
    columns = F.unfold(x, (kh, kw), padding=padding, stride=stride)
    out = weight.reshape(n_filters, -1) @ columns
    if bias is not None:
        out = out + bias.view(1, -1, 1)
    return out.view(batch, n_filters, out_h, out_w)
'''

SOFTMAX = '''
def softmax(logits):
    shifted = logits - logits.max(dim=1, keepdim=True).values
    e = torch.exp(shifted)
    return e / e.sum(dim=1, keepdim=True)
'''

CROSS_ENTROPY = '''
def cross_entropy(logits, labels):
    top = logits.max(dim=1, keepdim=True).values
    log_sum = top + torch.log(torch.exp(logits - top).sum(dim=1, keepdim=True))
    log_p = logits - log_sum
    return -log_p[torch.arange(logits.shape[0]), labels].mean()
'''

SGD = '''
def sgd_step(parameters, lr):
    with torch.no_grad():
        for p in parameters:
            if p.grad is not None:
                p -= lr * p.grad
'''

TRAIN = '''
def train(model, images, labels, epochs, lr, batch_size, seed=0):
    generator = torch.Generator().manual_seed(seed)
    params = list(model.parameters())
    n = images.shape[0]
    losses = []
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        total = 0.0
        for start in range(0, n, batch_size):
            batch = order[start:start + batch_size]
            loss = cross_entropy(model(images[batch]), labels[batch])
            for p in params:
                p.grad = None
            loss.backward()
            sgd_step(params, lr)
            total += loss.item() * len(batch)
        losses.append(total / n)
    return losses
'''


def mutate(text: str, old: str, new: str) -> str:
    """Une solution où un seul morceau change (le morceau doit exister)."""
    assert old in text, old
    return text.replace(old, new)


CASE = harness.GradingCase(
    tp="TP2",
    wrong={
        # le pas n'est appliqué qu'horizontalement : juste avec stride=1 (les tests visibles)
        "conv2d": '''
def conv2d(x, weight, bias=None, stride=1, padding=0):
    x = F.pad(x, (padding, padding, padding, padding))
    kh, kw = weight.shape[-2:]
    windows = x.unfold(2, kh, 1).unfold(3, kw, stride)            # (B, C, H_out, W_out, kh, kw)
    out = torch.einsum("bchwij,ocij->bohw", windows, weight)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out
''',
        # la formule naïve : exp déborde pour des scores de l'ordre de 100
        "softmax": '''
def softmax(logits):
    e = torch.exp(logits)
    return e / e.sum(dim=1, keepdim=True)
''',
        # le log d'une probabilité qui s'arrondit à 0 : -log(0) = inf pour des scores très écartés
        "cross_entropy": '''
def cross_entropy(logits, labels):
    p = softmax(logits)
    return -torch.log(p[torch.arange(len(labels)), labels]).mean()
''',
        # oubli de la division par la taille du lot : juste pour un lot d'un seul exemple
        "cross_entropy_grad": '''
def cross_entropy_grad(logits, labels):
    grad = softmax(logits).clone()
    grad[torch.arange(len(labels)), labels] -= 1
    return grad
''',
        # oubli des paramètres sans gradient (gelés ou inutilisés)
        "sgd_step": '''
def sgd_step(parameters, lr):
    with torch.no_grad():
        for p in parameters:
            p -= lr * p.grad
''',
        # oubli de la remise à zéro des gradients : ils s'additionnent d'un lot à l'autre
        "train": mutate(TRAIN, "            for p in params:\n                p.grad = None\n", ""),
    },
    alias={
        "conv2d": "from course_lib.nn import conv2d as convolution\n\n"
                  "def conv2d(x, weight, bias=None, stride=1, padding=0):\n"
                  "    return convolution(x, weight, bias, stride, padding)\n",
        "softmax": "import course_lib.nn as cn\n\nsoftmax = lambda logits: cn.softmax(logits)\n",
        "cross_entropy": "import torch.nn.functional as FF\n\n"
                         "def cross_entropy(logits, labels):\n    return FF.cross_entropy(logits, labels)\n",
        "cross_entropy_grad": "import functools\nimport course_lib.nn\n\n"
                              "cross_entropy_grad = functools.partial(course_lib.nn.cross_entropy_grad)\n",
        "sgd_step": "def sgd_step(parameters, lr):\n    torch.optim.SGD(parameters, lr=lr).step()\n",
        "train": "from course_lib.nn.training import minibatch_sgd as train\n",
    },
    loop=("conv2d", "def conv2d(x, weight, bias=None, stride=1, padding=0):\n    while True:\n        pass\n"),
    loop_cells=["test_conv2d_visible", "test_conv2d_hidden"],
    uses={"cross_entropy_grad": ("softmax",), "train": ("cross_entropy", "sgd_step")},
    mutants=(
        Mutant("cross_entropy_grad", why="calcule dans les scores de l'appelant (exp_, -=, /=)", expect="sur place",
               code='''
def cross_entropy_grad(logits, labels):
    logits -= logits.max(dim=1, keepdim=True).values
    probs = logits.exp_()
    probs /= probs.sum(dim=1, keepdim=True)
    probs[torch.arange(logits.shape[0]), labels] -= 1.0
    return probs / logits.shape[0]
'''),
        Mutant("sgd_step", why="remet p.grad à zéro après le pas", expect="p.grad",
               code=mutate(SGD, "                p -= lr * p.grad\n",
                           "                p -= lr * p.grad\n                p.grad.zero_()\n")),
        Mutant("train", why="ne mélange jamais les exemples", expect="pas celui attendu",
               code=mutate(TRAIN, "order = torch.randperm(n, generator=generator)", "order = torch.arange(n)")),
        Mutant("train", why="perte d'époque : moyenne des lots sans les pondérer par leur taille",
               expect="pertes d'époque", code=mutate(mutate(
                   TRAIN, "total += loss.item() * len(batch)", "total += loss.item()"),
                   "losses.append(total / n)", "losses.append(total / math.ceil(n / batch_size))")),
        Mutant("train", why="générateur recréé à chaque époque : le même ordre à chaque époque",
               expect="pas celui attendu", code=mutate(mutate(
                   TRAIN, "    generator = torch.Generator().manual_seed(seed)\n", ""),
                   "        order = torch.randperm(n, generator=generator)",
                   "        generator = torch.Generator().manual_seed(seed)\n"
                   "        order = torch.randperm(n, generator=generator)")),
        Mutant("softmax", why="retire le maximum de tout le lot au lieu de celui de chaque ligne", expect="NaN",
               code=mutate(SOFTMAX, "logits.max(dim=1, keepdim=True).values", "logits.max()")),
        Mutant("cross_entropy", why="log-sum-exp sans retirer le maximum : exp déborde", expect=("NaN", "infinie"),
               code=mutate(CROSS_ENTROPY, "top + torch.log(torch.exp(logits - top).sum(dim=1, keepdim=True))",
                           "torch.log(torch.exp(logits).sum(dim=1, keepdim=True))")),
        Mutant("conv2d", why="F.unfold sans le pas : juste avec stride = 1", expect="forme", code=mutate(mutate(mutate(
            CONV, "F.unfold(x, (kh, kw), padding=padding, stride=stride)", "F.unfold(x, (kh, kw), padding=padding)"),
            "out_h = (height + 2 * padding - kh) // stride + 1", "out_h = height + 2 * padding - kh + 1"),
            "out_w = (width + 2 * padding - kw) // stride + 1", "out_w = width + 2 * padding - kw + 1")),
    ),
    variants=(
        Variant(why="convolution par une boucle sur les décalages du noyau ; softmax en float64 ; log-sum-exp dans "
                    "une aide au nom libre et gather", answers={"conv2d": '''
def conv2d(x, weight, bias=None, stride=1, padding=0):
    x = F.pad(x, (padding, padding, padding, padding))
    batch, channels, height, width = x.shape
    n_filters, _, kh, kw = weight.shape
    out_h = (height - kh) // stride + 1
    out_w = (width - kw) // stride + 1
    out = torch.zeros(batch, n_filters, out_h, out_w, dtype=x.dtype)
    for u in range(kh):
        for v in range(kw):
            window = x[:, :, u:u + stride * (out_h - 1) + 1:stride, v:v + stride * (out_w - 1) + 1:stride]
            out += torch.einsum("bchw,oc->bohw", window, weight[:, :, u, v])
    if bias is not None:
        out += bias.view(1, -1, 1, 1)
    return out
''', "softmax": '''
def softmax(logits):
    z = logits.double()
    z = z - z.max(dim=1, keepdim=True).values
    e = z.exp()
    return (e / e.sum(dim=1, keepdim=True)).to(logits.dtype)
''', "cross_entropy": '''
def _log_sum_exp(scores):
    top = scores.max(dim=1, keepdim=True).values
    return (top + (scores - top).exp().sum(dim=1, keepdim=True).log()).squeeze(1)


def cross_entropy(logits, labels):
    picked = logits.gather(1, labels.view(-1, 1)).squeeze(1)
    return (_log_sum_exp(logits) - picked).mean()
'''}),
        Variant(why="Tensor.unfold et einsum ; gradient par torch.eye ; sgd_step par sub_", answers={"conv2d": '''
def conv2d(x, weight, bias=None, stride=1, padding=0):
    x = F.pad(x, (padding,) * 4)
    kh, kw = weight.shape[-2:]
    windows = x.unfold(2, kh, stride).unfold(3, kw, stride)        # (B, C, H_out, W_out, kh, kw)
    out = torch.einsum("bchwij,ocij->bohw", windows, weight)
    return out if bias is None else out + bias[None, :, None, None]
''', "cross_entropy_grad": '''
def cross_entropy_grad(logits, labels):
    one_hot = torch.eye(logits.shape[1], dtype=logits.dtype)[labels]
    return (softmax(logits) - one_hot) / len(labels)
''', "sgd_step": '''
def sgd_step(parameters, lr):
    trainable = [p for p in parameters if p.grad is not None]
    with torch.no_grad():
        for p in trainable:
            p.sub_(lr * p.grad)
'''}),
        Variant(why="torch.split, model.zero_grad() et float(loss) (un UserWarning)", answers={"train": '''
def train(model, images, labels, epochs, lr, batch_size, seed=0):
    g = torch.Generator().manual_seed(seed)
    history = []
    for epoch in range(epochs):
        order = torch.randperm(images.shape[0], generator=g)
        seen, total = 0, 0.0
        for batch in torch.split(order, batch_size):
            model.zero_grad()
            loss = cross_entropy(model(images[batch]), labels[batch])
            loss.backward()
            sgd_step(model.parameters(), lr)
            total += float(loss) * len(batch)          # float(loss) : PyTorch avertit (UserWarning)
            seen += len(batch)
        history.append(total / seen)
    return history
'''}),
    ),
    shortcuts=(
        Shortcut("pile", kind="pile", why="cherche les probabilités attendues dans la pile d'appels",
                 expect="hors tolérance", answers={"softmax": '''
import sys


def softmax(logits):
    frame = sys._getframe(1)
    while frame is not None:
        for value in list(frame.f_locals.values()):
            if isinstance(value, torch.Tensor) and value.shape == logits.shape and value is not logits \\
                    and bool((value >= 0).all()) and torch.allclose(value.sum(dim=1), torch.ones(len(value))):
                return value.clone()
        frame = frame.f_back
    return torch.full_like(logits, 1.0 / logits.shape[1])
'''}),
        Shortcut("sous-classe", kind="sous-classe", why="un Tensor dont toute opération calcule la référence",
                 expect="sous-classe", answers={"cross_entropy": '''
import torch.nn.functional as _F


class _Paresseux(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        args = [_F.cross_entropy(*a._args) if isinstance(a, _Paresseux) else a for a in args]
        return func(*args, **(kwargs or {}))


def cross_entropy(logits, labels):
    out = torch.zeros(()).as_subclass(_Paresseux)
    out._args = (logits.detach().clone(), labels.clone())
    return out
'''}),
        Shortcut("attributs", kind="attributs", alone=True,
                 why="vide la table des raccourcis (SHORTCUTS) pour appeler logits.softmax(1)",
                 zero=("test_softmax_visible", "test_softmax_hidden"), insert=(("setup", '''
from types import MappingProxyType

from course_lib import grading
from course_lib.nn import checks

try:
    grading.SHORTCUTS["softmax"] = ()
except TypeError:
    pass
checks.SHORTCUTS = MappingProxyType({name: () for name in checks.SHORTCUTS})
grading.SHORTCUTS = checks.SHORTCUTS
'''),), answers={"softmax": "def softmax(logits):\n    return logits.softmax(1)\n"}),
        Shortcut("copie", kind="copie", why="tout course_lib.nn.conv exécuté depuis sa source",
                 expect="implémentation de référence", answers={"conv2d": '''
import inspect

import course_lib.nn.conv

_copie = {"__name__": "course_lib.nn.conv", "__package__": "course_lib.nn"}
exec(compile(inspect.getsource(course_lib.nn.conv), "ma_convolution.py", "exec"), _copie)
conv2d = _copie["conv2d"]
'''}),
        Shortcut("fil", kind="fil", why="torch.optim.SGD appelé dans un threading.Thread",
                 expect="implémentation de référence",
                 answers={"sgd_step": '''
import threading


def sgd_step(parameters, lr):
    params = list(parameters)
    worker = threading.Thread(target=lambda: torch.optim.SGD(params, lr=lr).step())
    worker.start()
    worker.join()
'''}),
    ),
)


class TestTP2(harness.GradingContract):
    case = CASE
