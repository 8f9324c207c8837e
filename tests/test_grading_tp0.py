"""TP0 « Les images comme tenseurs » : correction de bout en bout avec nbgrader."""

import grading_harness as harness

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
        "rgb_to_lab": '''
def rgb_to_lab(images):
    x = images.double()
    m = torch.tensor([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169],
                      [0.019334, 0.119193, 0.950227]], dtype=x.dtype)
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
)


class TestTP0(harness.GradingContract):
    case = CASE
