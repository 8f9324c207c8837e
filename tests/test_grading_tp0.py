"""TP0 « Les images comme tenseurs » : correction de bout en bout avec course_grading.grade.

Mutants, variantes correctes et raccourcis : voir ``grading_harness``.
"""

import grading_harness as harness
from grading_harness import Mutant, Shortcut, Variant

MATRIX = "[[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]"

CASE = harness.GradingCase(
    tp="TP0",
    wrong={
        # luminance Y en lumière linéaire au lieu de la luma sRGB : juste sur les couleurs pures
        "rgb_to_gray": '''
def rgb_to_gray(images):
    weights = torch.tensor([0.2125, 0.7154, 0.0721], dtype=images.dtype).view(3, 1, 1)
    linear = torch.where(images <= 0.04045, images / 12.92, ((images + 0.055) / 1.055) ** 2.4)
    return (linear * weights).sum(dim=-3, keepdim=True)
''',
        # oubli de la partie linéaire près du noir : juste en 0, 0.5 et 1
        "srgb_to_linear": '''
def srgb_to_linear(x):
    return torch.where(x == 0, x, ((x + 0.055) / 1.055) ** 2.4)
''',
        # oubli de la linéarisation sRGB : le blanc, le noir et le rouge pur restent justes
        "rgb_to_lab": f'''
def rgb_to_lab(images):
    x = images.double()
    m = torch.tensor({MATRIX}, dtype=x.dtype)
    xyz = torch.einsum("ij,...jhw->...ihw", m, x) / torch.tensor([0.95047, 1.0, 1.08883], dtype=x.dtype).view(3, 1, 1)
    f = torch.where(xyz > 0.008856, xyz.clamp_min(0.008856) ** (1 / 3), 7.787 * xyz + 16 / 116)
    fx, fy, fz = f.unbind(dim=-3)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=-3).to(images.dtype)
''',
        # rayon int(4 sigma) sans arrondi : juste pour sigma = 1
        "gaussian_kernel1d": '''
def gaussian_kernel1d(sigma):
    r = int(4 * sigma)
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float64) / sigma) ** 2)
    return (k / k.sum()).float()
''',
        # bord par réplication au lieu de la réflexion : juste loin des bords et sur une image constante
        "gaussian_blur": '''
def gaussian_blur(images, sigma):
    x = images[None] if images.dim() == 3 else images
    c = x.shape[1]
    k = gaussian_kernel1d(sigma).to(x)
    r = k.numel() // 2
    x = F.pad(x, (r, r, r, r), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    x = F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return x[0] if images.dim() == 3 else x
''',
    },
    alias={
        "rgb_to_gray": "from course_lib.images import rgb_to_gray as gris\n\n"
                       "def rgb_to_gray(images):\n    return gris(images)\n",
        "srgb_to_linear": "import course_lib.images as ci\nsrgb_to_linear = ci.srgb_to_linear\n",
        "rgb_to_lab": "import skimage.color\n\ndef rgb_to_lab(images):\n"
                      "    out = skimage.color.rgb2lab(images.double().movedim(-3, -1).numpy())\n"
                      "    return torch.from_numpy(out).movedim(-1, -3).to(images.dtype)\n",
        "gaussian_kernel1d": "from course_lib import filters\n\n"
                             "gaussian_kernel1d = lambda sigma: filters.gaussian_kernel1d(sigma)\n",
        "gaussian_blur": "import functools\nfrom course_lib.filters import gaussian_blur as flou\n\n"
                         "gaussian_blur = functools.partial(flou)\n",
    },
    loop=("rgb_to_gray", "def rgb_to_gray(images):\n    while True:\n        pass\n"),
    loop_cells=["test_rgb_to_gray_visible", "test_rgb_to_gray_hidden"],
    uses={"rgb_to_lab": ("srgb_to_linear",), "gaussian_blur": ("gaussian_kernel1d",)},
    scalar_functions=("gaussian_kernel1d",),
    mutants=(
        Mutant("srgb_to_linear", why="écrit le résultat dans son entrée (x[masque] = ...)", expect="sur place", code='''
def srgb_to_linear(x):
    dark = x <= 0.04045
    x[dark] = x[dark] / 12.92
    x[~dark] = ((x[~dark] + 0.055) / 1.055) ** 2.4
    return x
'''),
        Mutant("gaussian_kernel1d", why="rend un noyau float64 alors que l'énoncé demande float32",
               expect="type attendu : torch.float32", code='''
def gaussian_kernel1d(sigma):
    radius = int(4 * sigma + 0.5)
    k = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float64) / sigma) ** 2)
    return k / k.sum()
'''),
        Mutant("rgb_to_gray", why="des poids float64 : le gris d'une image float32 devient float64",
               expect="type attendu : torch.float32", code='''
def rgb_to_gray(images):
    weights = torch.tensor([0.2125, 0.7154, 0.0721], dtype=torch.float64).view(3, 1, 1)
    return (images * weights).sum(dim=-3, keepdim=True)
'''),
        Mutant("gaussian_blur", why="réflexion qui répète le pixel du bord (d c b a | a b c d)",
               expect="hors tolérance", code='''
def gaussian_blur(images, sigma):
    x = images[None] if images.dim() == 3 else images
    c = x.shape[1]
    k = gaussian_kernel1d(sigma).to(x)
    r = k.numel() // 2
    x = torch.cat([x[..., :r].flip(-1), x, x[..., -r:].flip(-1)], dim=-1)
    x = torch.cat([x[..., :r, :].flip(-2), x, x[..., -r:, :].flip(-2)], dim=-2)
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    x = F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return x[0] if images.dim() == 3 else x
'''),
        Mutant("gaussian_blur", why="sans groups=C : le noyau moyenne les canaux (juste sur une image grise)",
               expect="hors tolérance", code='''
def gaussian_blur(images, sigma):
    x = images[None] if images.dim() == 3 else images
    c = x.shape[1]
    k = gaussian_kernel1d(sigma).to(x)
    r = k.numel() // 2
    x = F.pad(x, (r, r, r, r), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, c, 1, -1) / c)
    x = F.conv2d(x, k.view(1, 1, -1, 1).expand(c, c, -1, 1) / c)
    return x[0] if images.dim() == 3 else x
'''),
        Mutant("rgb_to_lab", why="reshape(3, -1) : juste pour une image ou un lot d'une seule image",
               expect="hors tolérance", code=f'''
def rgb_to_lab(images):
    x = images.double()
    m = torch.tensor({MATRIX}, dtype=x.dtype)
    white = torch.tensor([0.95047, 1.0, 1.08883], dtype=x.dtype).view(3, 1, 1)
    xyz = (m @ srgb_to_linear(x).reshape(3, -1)).reshape(x.shape) / white
    f = torch.where(xyz > 0.008856, xyz.clamp_min(0.008856) ** (1 / 3), 7.787 * xyz + 16 / 116)
    fx, fy, fz = f.unbind(dim=-3)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=-3).to(images.dtype)
'''),
        Mutant("gaussian_kernel1d", why="rayon ceil(4 sigma) au lieu de int(4 sigma + 0.5)", expect="forme", code='''
def gaussian_kernel1d(sigma):
    radius = math.ceil(4 * sigma)
    k = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float64) / sigma) ** 2)
    return (k / k.sum()).float()
'''),
    ),
    variants=(
        Variant(why="einsum en float64 puis retour au type d'entrée ; masques dans un nouveau tenseur", answers={
            "rgb_to_gray": '''
def rgb_to_gray(images):
    weights = torch.tensor([0.2125, 0.7154, 0.0721], dtype=torch.float64, device=images.device)
    return torch.einsum("c,...chw->...hw", weights, images.double()).unsqueeze(-3).to(images.dtype)
''',
            "srgb_to_linear": '''
def srgb_to_linear(x):
    out = torch.empty_like(x)
    dark = x <= 0.04045
    out[dark] = x[dark] / 12.92
    out[~dark] = torch.pow((x[~dark] + 0.055) / 1.055, 2.4)
    return out
'''}),
        Variant(why="produit de matrices sur les canaux déplacés, aides aux noms libres ; noyau en boucle", answers={
            "rgb_to_lab": f'''
def _lab_f(t):
    return torch.where(t > 0.008856, t.clamp_min(0.008856).pow(1.0 / 3.0), 7.787 * t + 16.0 / 116.0)


def rgb_to_lab(images):
    rgb = srgb_to_linear(images.double()).movedim(-3, -1)
    to_xyz = torch.tensor({MATRIX}, dtype=torch.float64)
    xyz = rgb @ to_xyz.T / torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)
    fx, fy, fz = _lab_f(xyz).unbind(-1)
    lab = torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=-1)
    return lab.movedim(-1, -3).to(images.dtype)
''',
            "gaussian_kernel1d": '''
def gaussian_kernel1d(sigma):
    radius = int(4 * sigma + 0.5)
    values = [math.exp(-(k * k) / (2 * sigma * sigma)) for k in range(-radius, radius + 1)]
    total = sum(values)
    return torch.tensor([v / total for v in values], dtype=torch.float32)
'''}),
        Variant(why="torch.tensor(images) (un UserWarning), bords réfléchis axe par axe, verticale d'abord", answers={
            "gaussian_blur": '''
def gaussian_blur(images, sigma):
    x = torch.tensor(images)                  # copie ; PyTorch avertit (UserWarning)
    single = x.dim() == 3
    if single:
        x = x.unsqueeze(0)
    channels = x.shape[1]
    kernel = gaussian_kernel1d(sigma).to(x.dtype)
    r = kernel.numel() // 2
    x = F.pad(x, (0, 0, r, r), mode="reflect")
    x = F.conv2d(x, kernel.reshape(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)
    x = F.pad(x, (r, r, 0, 0), mode="reflect")
    x = F.conv2d(x, kernel.reshape(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return x[0] if single else x
'''}),
    ),
    shortcuts=(
        Shortcut("pile", kind="pile", why="cherche la valeur attendue dans la pile d'appels", expect="hors tolérance",
                 answers={"rgb_to_gray": '''
import sys


def rgb_to_gray(images):
    frame = sys._getframe(1)
    while frame is not None:
        for name, value in list(frame.f_locals.items()):
            if isinstance(value, torch.Tensor) and value is not images and value.dim() == images.dim() \\
                    and value.shape[-3] == 1 and value.shape[-2:] == images.shape[-2:]:
                return value.clone()
        frame = frame.f_back
    return images.mean(dim=-3, keepdim=True)
'''}),
        Shortcut("sous-classe", kind="sous-classe", why="un Tensor dont toute opération calcule la référence",
                 expect="sous-classe", answers={"srgb_to_linear": '''
from course_lib import images as _couleurs


class _Paresseux(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        args = [_couleurs.srgb_to_linear(a._source) if isinstance(a, _Paresseux) else a for a in args]
        return func(*args, **(kwargs or {}))


def srgb_to_linear(x):
    out = torch.zeros_like(x).as_subclass(_Paresseux)
    out._source = x.clone()
    return out
'''}),
        Shortcut("attributs", kind="attributs", base="release", alone=True,
                 why="remplace numpy dans course_lib.grading et des fonctions de numpy (comparaisons toujours justes)",
                 zero=("test_rgb_to_gray_visible", "test_rgb_to_gray_hidden", "test_srgb_to_linear_visible",
                       "test_srgb_to_linear_hidden", "test_rgb_to_lab_visible", "test_rgb_to_lab_hidden",
                       "test_gaussian_kernel1d_visible", "test_gaussian_kernel1d_hidden",
                       "test_gaussian_blur_visible", "test_gaussian_blur_hidden"),
                 insert=(("setup", '''
import numpy
from course_lib import grading


class _FauxNumpy:
    def __getattr__(self, name):
        return getattr(numpy, name)

    @staticmethod
    def abs(values):
        return numpy.zeros(numpy.shape(values))


grading.np = _FauxNumpy()
numpy.isfinite = lambda values: numpy.ones(numpy.shape(values), dtype=bool)
'''),),
                 answers={
                     "rgb_to_gray": "def rgb_to_gray(images):\n    return images[..., :1, :, :] * 0\n",
                     "srgb_to_linear": "def srgb_to_linear(x):\n    return x * 0\n",
                     "rgb_to_lab": "def rgb_to_lab(images):\n    return images * 0\n",
                     "gaussian_kernel1d": "def gaussian_kernel1d(sigma):\n"
                                          "    return torch.zeros(2 * int(4 * sigma + 0.5) + 1)\n",
                     "gaussian_blur": "def gaussian_blur(images, sigma):\n    return images * 0\n",
                 }),
        Shortcut("copie", kind="copie", why="tout course_lib.images exécuté par exec(inspect.getsource(...)), et le "
                 "code de filters.gaussian_blur reconstruit par types.FunctionType",
                 expect="implémentation de référence",
                 answers={"rgb_to_lab": '''
import inspect

import course_lib.images

_copie = {"__name__": "course_lib.mes_couleurs", "__package__": "course_lib"}
exec(compile(inspect.getsource(course_lib.images), "mes_couleurs.py", "exec"), _copie)
rgb_to_lab = _copie["rgb_to_lab"]
''', "gaussian_blur": '''
import types

import course_lib.filters

_code = course_lib.filters.gaussian_blur.__code__.replace(co_filename="mon_flou.py", co_firstlineno=1)
gaussian_blur = types.FunctionType(_code, dict(vars(course_lib.filters)), "gaussian_blur",
                                   course_lib.filters.gaussian_blur.__defaults__)
'''}),
        Shortcut("cache", kind="cache", why="noyaux de la référence calculés à l'import sur une grille de sigma",
                 zero=("test_gaussian_kernel1d_hidden",), expect="hors tolérance", answers={"gaussian_kernel1d": '''
import numpy as np

import course_lib.filters

_CACHE = {round(float(s), 2): course_lib.filters.gaussian_kernel1d(float(s)) for s in np.arange(0.1, 6.0, 0.01)}


def gaussian_kernel1d(sigma):
    nearest = min(_CACHE, key=lambda s: abs(s - sigma))
    return _CACHE[nearest].clone()
'''}),
        Shortcut("fil", kind="fil", why="la référence appelée dans un fil lancé avant le test (ThreadPoolExecutor)",
                 expect=("implémentation de référence", "fil"), answers={"gaussian_blur": '''
import concurrent.futures

import course_lib.filters

_pool = concurrent.futures.ThreadPoolExecutor(1)
_pool.submit(lambda: None).result()


def gaussian_blur(images, sigma):
    return _pool.submit(course_lib.filters.gaussian_blur, images, sigma).result()
'''}),
    ),
)


class TestTP0(harness.GradingContract):
    case = CASE
