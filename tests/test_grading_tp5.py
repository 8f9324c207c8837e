"""TP5 « Textures par CNN et transfert de style » : correction de bout en bout avec la vraie commande
(``course_grading.grade``).

Les réponses sont écrites comme des étudiants les écriraient : la solution de référence, puis des
mutants (une ligne fausse qui passe les tests visibles), des variantes correctes écrites autrement,
et des raccourcis qui ne doivent rien rapporter.
"""

import grading_harness as harness
from grading_harness import Mutant, Shortcut, Variant
from shortcut_code import LIAR, STACK_WALK, exec_copy, in_thread
from statement_checks import check_points_and_hours

# --------------------------------------------------------------------------- réponses de départ

GRAM_MATRIX = '''
def gram_matrix(features):
    b, n, h, w = features.shape
    flat = features.reshape(b, n, h * w)
    return flat @ flat.transpose(1, 2) / (h * w)
'''

STYLE_LOSS = '''
def style_loss(features, targets, weights):
    total = torch.zeros((), device=features[0].device, dtype=features[0].dtype)
    for f, target, w in zip(features, targets, weights):
        n = f.shape[1]
        total = total + w * ((gram_matrix(f) - target.detach()) ** 2).sum() / (4 * n ** 2)
    return total
'''

OPTIMIZE = '''
def optimize(loss_fn, init, steps, lr=0.02):
    x = init.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(x)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            x.clamp_(0.0, 1.0)
    return x.detach()
'''

CLAMP = "        with torch.no_grad():\n            x.clamp_(0.0, 1.0)\n"


def edit(text: str, old: str, new: str) -> str:
    """La réponse ``text`` avec ``old`` remplacé par ``new`` (exactement une fois)."""
    assert text.count(old) == 1, old
    return text.replace(old, new)


_GATYS = exec_copy("course_lib.texture.gatys")

# --------------------------------------------------------------------------- le cas

CASE = harness.GradingCase(
    tp="TP5",
    wrong={
        # activations réarrangées en (B, M, N) au lieu de (B, N, M) : juste pour une seule position
        "gram_matrix": '''
def gram_matrix(features):
    b, n, h, w = features.shape
    flat = features.reshape(b, h * w, n)
    return flat.transpose(1, 2) @ flat / (h * w)
''',
        # matrice de Gram calculée sur des activations détachées : la bonne valeur, mais aucun gradient
        "style_loss": edit(STYLE_LOSS, "gram_matrix(f)", "gram_matrix(f.detach())"),
        # le mauvais tenseur détaché : features au lieu de la cible, le gradient ne passe plus
        "content_loss": '''
def content_loss(features, target):
    return 0.5 * ((features.detach() - target) ** 2).sum()
''',
        # pixels jamais ramenés dans [0, 1] : juste tant que le minimum est dans [0, 1]
        "optimize": edit(OPTIMIZE, CLAMP, ""),
    },
    alias={
        "gram_matrix": "from course_lib.texture.gatys import gram_matrix as gram\n\n"
                       "def gram_matrix(features):\n    return gram(features)\n",
        "style_loss": "import course_lib.style as cs\n\n"
                      "def style_loss(features, targets, weights):\n"
                      "    return cs.style_loss(dict(enumerate(features)), dict(enumerate(targets)), list(weights))\n",
        "content_loss": "import functools\nfrom course_lib.style import content_loss as contenu\n\n"
                        "content_loss = functools.partial(contenu)\n",
        "optimize": "from course_lib.texture import gatys\n\n"
                    "optimize = lambda loss_fn, init, steps, lr=0.02: gatys.optimize_image(\n"
                    "    loss_fn, init, steps, method='adam', lr=lr, progress=False)[0]\n",
    },
    loop=("content_loss", "def content_loss(features, target):\n    while True:\n        pass\n"),
    loop_cells=["test_content_loss_visible", "test_content_loss_hidden"],
    uses={"style_loss": ("gram_matrix",)},
    mutants=(
        Mutant("gram_matrix", edit(GRAM_MATRIX, "/ (h * w)", "/ (h * w) ** 2"),
               "divisée par M² au lieu de M (juste pour une seule position)", expect="hors tolérance"),
        Mutant("style_loss", edit(STYLE_LOSS, "** 2).sum() / (4 * n ** 2)", "** 2).mean() / 4"),
               "une moyenne au lieu de la somme (juste pour un lot d'une image)", expect="hors tolérance"),
        Mutant("style_loss", edit(STYLE_LOSS, "total + w * ((", "total + (("),
               "les poids des couches oubliés", expect="hors tolérance"),
        Mutant("style_loss", edit(STYLE_LOSS, "target.detach()", "target"),
               "cibles non détachées : un gradient leur parvient", expect="Un gradient parvient à la cible"),
        Mutant("content_loss", '''
def content_loss(features, target):
    return 0.5 * ((features - target) ** 2).sum()
''', "cible non détachée : la valeur et le gradient par rapport à features sont justes",
               expect="Un gradient parvient à la cible P"),
        Mutant("optimize", edit(OPTIMIZE, CLAMP + "    return x.detach()", "    return x.detach().clamp(0.0, 1.0)"),
               "pixels ramenés dans [0, 1] seulement à la fin", expect="perte qui couple les pixels"),
        Mutant("optimize", edit(edit(OPTIMIZE, "        optimizer.step()\n" + CLAMP, "        optimizer.step()\n"),
                                "        optimizer.zero_grad()\n", "        optimizer.zero_grad()\n" + CLAMP),
               "pixels ramenés avant le pas au lieu d'après", expect="hors de [0, 1]"),
        Mutant("optimize", edit(OPTIMIZE, "torch.optim.Adam([x], lr=lr)", "torch.optim.SGD([x], lr=lr)"),
               "descente de gradient simple au lieu d'Adam", expect="premier pas"),
        Mutant("optimize", edit(OPTIMIZE, "range(steps)", "range(steps + 1)"),
               "un pas de trop", expect="évalué la perte"),
    ),
    variants=(
        Variant({
            "gram_matrix": '''
def gram_matrix(features):
    return torch.einsum("bihw,bjhw->bij", features, features) / (features.shape[-2] * features.shape[-1])
''',
            "style_loss": '''
def texture_loss(f, target):
    n = f.shape[1]
    return ((gram_matrix(f) - target.detach()) ** 2).sum() / (4 * n * n)


def style_loss(features, targets, weights):
    return sum(w * texture_loss(f, t) for f, t, w in zip(features, targets, weights))
''',
            "content_loss": '''
import torch.nn.functional as nnf


def content_loss(features, target):
    return 0.5 * nnf.mse_loss(features, target.detach(), reduction="sum")
''',
            "optimize": '''
def optimize(loss_fn, init, steps, lr=0.02):
    image = init.detach().clone()
    image.requires_grad = True
    adam = torch.optim.Adam(params=[image], lr=lr)
    for step in range(steps):
        adam.zero_grad(set_to_none=True)
        loss_fn(image).backward()
        adam.step()
        image.data.clamp_(min=0.0, max=1.0)
    return image.detach().clone()
''',
        }, "einsum ; une aide nommée texture_loss (le nom d'une référence) ; F.mse_loss ; zero_grad(set_to_none) "
           "et x.data"),
        Variant({
            "gram_matrix": '''
def gram_matrix(features):
    out = []
    for image in features:
        flat = image.double().flatten(1)
        out.append(flat @ flat.T / flat.shape[1])
    return torch.stack(out).to(features.dtype)
''',
            "style_loss": '''
def style_loss(features, targets, weights):
    losses = []
    for layer, (f, target) in enumerate(zip(features, targets)):
        g = gram_matrix(f)
        a = target.detach().expand_as(g)
        losses.append(weights[layer] * ((g - a) ** 2).sum() / (4.0 * f.shape[1] ** 2))
    return torch.stack(losses).sum()
''',
            "content_loss": '''
def content_loss(features, target):
    target = torch.tensor(target)              # UserWarning de PyTorch (copie d'un tenseur, sans graphe)
    diff = features - target
    return (diff * diff).sum() / 2
''',
            "optimize": '''
def optimize(loss_fn, init, steps, lr=0.02):
    x = torch.nn.Parameter(init.clone())
    opt = torch.optim.Adam([x], lr=lr)
    for _ in range(steps):
        loss = loss_fn(x)
        x.grad, = torch.autograd.grad(loss, [x])
        opt.step()
        with torch.no_grad():
            x.copy_(x.clamp(0, 1))
    return x.detach()
''',
        }, "float64 à l'intérieur et boucle sur le lot ; torch.stack des termes ; un avertissement ; "
           "torch.autograd.grad au lieu de backward"),
        Variant({
            "gram_matrix": '''
def gram_matrix(features):
    b, n = features.shape[:2]
    f = features.view(b, n, -1)
    return torch.bmm(f, f.permute(0, 2, 1)).div(f.shape[-1])
''',
            "optimize": '''
def optimize(loss_fn, init, steps, lr=0.02):
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    x = init.clone()
    m = torch.zeros_like(x)
    v = torch.zeros_like(x)
    for t in range(1, steps + 1):
        x.requires_grad_(True)
        grad, = torch.autograd.grad(loss_fn(x), [x])
        x = x.detach()
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad * grad
        m_hat = m / (1 - beta1 ** t)
        v_hat = v / (1 - beta2 ** t)
        x = (x - lr * m_hat / (v_hat.sqrt() + eps)).clamp(0, 1)
    return x
''',
        }, "torch.bmm ; Adam écrit à la main (mêmes réglages que torch.optim.Adam)"),
    ),
    shortcuts=(
        # (dans sa remise, la pile mène aussi aux résultats menteurs du raccourci « sous-classe »)
        Shortcut("pile", "pile", "content_loss rend un scalaire trouvé dans la pile d'appels du test",
                 answers={"content_loss": STACK_WALK + '''

def content_loss(features, target):
    return _peek((), features.dtype, (features, target))
'''}, expect=("hors tolérance", "sous-classe")),
        Shortcut("sous-classe", "sous-classe", "gram_matrix rend un tenseur qui se dit égal à tout",
                 answers={"gram_matrix": LIAR + '''

def gram_matrix(features):
    b, n = features.shape[:2]
    return _agreeable((b, n, n), features.dtype)
'''}, expect="sous-classe"),
        Shortcut("copie", "copie", "optimize exécute une copie du code de course_lib.texture.gatys",
                 answers={"optimize": _GATYS + '''

def optimize(loss_fn, init, steps, lr=0.02):
    return _copy["optimize_image"](loss_fn, init, steps, method="adam", lr=lr, progress=False)[0]
'''}, expect="(une copie :"),
        Shortcut("fil", "fil", "style_loss fait calculer la référence par un fil d'exécution",
                 answers={"style_loss": in_thread(
                     "style_loss(features, targets, weights)",
                     "_gatys.texture_loss(dict(enumerate(features)), "
                     "dict(enumerate(t.detach() for t in targets)), list(weights))",
                     "from course_lib.texture import gatys as _gatys")},
                 expect="exécute l'implémentation de référence"),
        Shortcut("attributs", "attributs", "torch.autograd.grad remplacé pour cacher le gradient qui parvient à la "
                                           "cible (non détachée) de content_loss",
                 answers={"content_loss": '''
def content_loss(features, target):
    return 0.5 * ((features - target) ** 2).sum()
'''},
                 insert=(("content_loss", '''
_grad = torch.autograd.grad


def _hidden_target(outputs, inputs, *args, **kwargs):
    grads = _grad(outputs, inputs, *args, **kwargs)
    return (grads[0],) + (None,) * (len(grads) - 1)


torch.autograd.grad = _hidden_target
'''),), zero=("test_content_loss_hidden",), expect="Un gradient parvient à la cible P", alone=True),
    ),
)


class TestTP5(harness.GradingContract):
    case = CASE


def test_statement_and_readme_give_points_and_hours():
    check_points_and_hours("TP5")
