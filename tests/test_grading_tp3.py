"""TP3 « Synthèse de texture » : correction de bout en bout avec la vraie commande (``course_grading.grade``).

Les réponses sont écrites comme des étudiants les écriraient : la solution de référence, puis des
mutants (une ligne fausse qui passe les tests visibles), des variantes correctes écrites autrement,
et des raccourcis qui ne doivent rien rapporter.
"""

import grading_harness as harness
from grading_harness import Mutant, Shortcut, Variant
from shortcut_code import LIAR, STACK_WALK, exec_copy, in_thread
from statement_checks import check_points_and_hours

# --------------------------------------------------------------------------- réponses de départ

MASKED_SSD = '''
def masked_ssd(template, valid, sample):
    channels, window, _ = template.shape
    r = torch.arange(window, dtype=sample.dtype) - window // 2
    gauss = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * (window / 6.4) ** 2))
    weights = gauss * valid.to(sample.dtype)
    windows = F.unfold(sample[None], window)[0]
    diff = windows - template.reshape(-1, 1)
    ssd = (diff**2 * weights.reshape(1, -1).repeat(1, channels).reshape(-1, 1)).sum(0) / weights.sum()
    height, width = sample.shape[-2:]
    return ssd.clamp(min=0).reshape(height - window + 1, width - window + 1)
'''

GROW_STEP = '''
def grow_step(image, filled, sample, window, max_err_threshold, generator):
    height, width = filled.shape
    half = window // 2
    neighbours = F.conv2d(filled[None, None].float(), torch.ones(1, 1, 3, 3), padding=1)[0, 0].round().long()
    pixels = ((~filled) & (neighbours > 0)).flatten().nonzero().squeeze(1)
    pixels = pixels[torch.randperm(pixels.numel(), generator=generator)]
    pixels = pixels[torch.sort(neighbours.flatten()[pixels], descending=True, stable=True).indices]
    uniforms = torch.rand(pixels.numel(), generator=generator, dtype=torch.float64)
    canvas = F.pad(image, (half, half, half, half))
    known = F.pad(filled.float(), (half, half, half, half)) > 0
    progress = False
    for k, pixel in enumerate(pixels.tolist()):
        y, x = divmod(pixel, width)
        ssd = masked_ssd(canvas[:, y:y + window, x:x + window], known[y:y + window, x:x + window], sample)
        candidates = find_matches(ssd).flatten().nonzero().squeeze(1)
        choice = int(candidates[int(float(uniforms[k]) * candidates.numel())])
        if float(ssd.flatten()[choice]) < max_err_threshold:
            i, j = divmod(choice, ssd.shape[1])
            canvas[:, y + half, x + half] = sample[:, i + half, j + half]
            known[y + half, x + half] = True
            progress = True
    return (canvas[:, half:half + height, half:half + width].clone(),
            known[half:half + height, half:half + width].clone(), progress)
'''

CAUSAL_MASK = '''
def causal_mask(kernel_size, mask_type):
    centre = kernel_size // 2
    mask = torch.zeros(kernel_size, kernel_size)
    mask[:centre, :] = 1
    mask[centre, :centre] = 1
    if mask_type == "B":
        mask[centre, centre] = 1
    return mask
'''


def edit(text: str, old: str, new: str) -> str:
    """La réponse ``text`` avec ``old`` remplacé par ``new`` (exactement une fois)."""
    assert text.count(old) == 1, old
    return text.replace(old, new)


def matches(body: str) -> str:
    return f"def find_matches(ssd, err_threshold=0.1):\n{body}"


# --------------------------------------------------------------------------- le cas

CASE = harness.GradingCase(
    tp="TP3",
    wrong={
        # poids non normalisés : divisé par la somme de toute la gaussienne, pas par le poids valide
        # (juste quand le gabarit est entièrement rempli, comme dans les tests visibles)
        "masked_ssd": edit(MASKED_SSD, "/ weights.sum()", "/ gauss.sum()"),
        # minimum de chaque ligne au lieu du minimum de toute la carte
        "find_matches": matches("    return ssd <= ssd.min(dim=1, keepdim=True).values * (1 + err_threshold)\n"),
        # les pixels vides du gabarit comptent (comme des zéros) : tout le gabarit est « valide »
        "grow_step": edit(GROW_STEP, "ssd = masked_ssd(canvas[:, y:y + window, x:x + window], "
                                     "known[y:y + window, x:x + window], sample)",
                          "ssd = masked_ssd((canvas * known)[:, y:y + window, x:x + window], "
                          "torch.ones(window, window, dtype=torch.bool), sample)"),
        # le masque A voit le pixel courant (le même que B)
        "causal_mask": edit(CAUSAL_MASK, "    mask[centre, :centre] = 1\n    if mask_type == \"B\":\n"
                                         "        mask[centre, centre] = 1\n",
                            "    mask[centre, :centre + 1] = 1\n"),
    },
    alias={
        "masked_ssd": "from course_lib.texture.efros_leung import masked_ssd as distance\n\n"
                      "def masked_ssd(template, valid, sample):\n    return distance(template, valid, sample)\n",
        "find_matches": "import course_lib.texture.efros_leung as el\nfind_matches = el.find_matches\n",
        "grow_step": "from course_lib.texture import efros_leung\n\n"
                     "grow_step = lambda *args: efros_leung.grow_step(*args)\n",
        "causal_mask": "import functools\nfrom course_lib.texture.pixelcnn import causal_mask as masque\n\n"
                       "causal_mask = functools.partial(masque)\n",
    },
    loop=("causal_mask", "def causal_mask(kernel_size, mask_type):\n    while True:\n        pass\n"),
    loop_cells=["test_causal_mask_visible", "test_causal_mask_hidden"],
    uses={"grow_step": ("masked_ssd", "find_matches")},
    scalar_functions=("causal_mask",),
    mutants=(
        Mutant("masked_ssd", edit(MASKED_SSD, ".repeat(1, channels).reshape(-1, 1)",
                                  ".repeat_interleave(channels).reshape(-1, 1)"),
               "poids répétés dans le mauvais ordre pour les canaux (unfold range canal par canal)",
               expect="hors tolérance"),
        Mutant("masked_ssd", edit(MASKED_SSD, "windows = F.unfold(sample[None], window)[0]",
                                  "windows = F.unfold(sample[None].double(), window)[0]\n"
                                  "    weights = weights.double()"),
               "calcul en float64 rendu tel quel (l'énoncé demande le type de sample)",
               expect="type attendu : torch.float32"),
        Mutant("grow_step", edit(GROW_STEP, "torch.ones(1, 1, 3, 3)",
                                 "torch.tensor([[[[0.0, 1, 0], [1, 1, 1], [0, 1, 0]]]])"),
               "frontière en 4-voisinage", expect="est resté vide"),
        Mutant("grow_step", edit(GROW_STEP, "sample[:, i + half, j + half]", "sample[:, i, j]"),
               "la valeur du coin de la fenêtre choisie au lieu de son centre",
               expect="aucun pixel central"),
        Mutant("grow_step", edit(GROW_STEP, "choice = int(candidates[int(float(uniforms[k]) * candidates.numel())])",
                                 "choice = int(ssd.flatten().argmin())"),
               "toujours la meilleure fenêtre, sans tirage parmi les candidats",
               expect="choisit toujours la même fenêtre"),
        Mutant("grow_step", edit(edit(GROW_STEP, "torch.randperm(pixels.numel(), generator=generator)",
                                      "torch.randperm(pixels.numel())"),
                                 "torch.rand(pixels.numel(), generator=generator, dtype=torch.float64)",
                                 "torch.rand(pixels.numel(), dtype=torch.float64)"),
               "tirages avec le générateur global de torch", expect="n'est pas reproductible"),
        Mutant("grow_step", edit(GROW_STEP, "if float(ssd.flatten()[choice]) < max_err_threshold:",
                                 "if float(ssd.min()) < max_err_threshold:"),
               "le seuil comparé au minimum des SSD, pas à la SSD du candidat tiré",
               expect="n'est pas inférieure au seuil"),
        Mutant("grow_step", edit(edit(GROW_STEP,
                                      "ssd = masked_ssd(canvas[:, y:y + window, x:x + window], "
                                      "known[y:y + window, x:x + window], sample)",
                                      "ssd = masked_ssd(start[:, y:y + window, x:x + window], "
                                      "known0[y:y + window, x:x + window], sample)"),
                                 "    progress = False\n",
                                 "    progress = False\n    start, known0 = canvas.clone(), known.clone()\n"),
               "les gabarits du début de la passe : les pixels remplis pendant la passe ne comptent pas",
               expect="n'est pas candidate"),
        Mutant("grow_step", edit(GROW_STEP, "    pixels = pixels[torch.randperm(pixels.numel(), generator=generator)]\n"
                                            "    pixels = pixels[torch.sort(neighbours.flatten()[pixels], "
                                            "descending=True, stable=True).indices]\n", ""),
               "ordre de balayage : ni mélange ni tri par nombre de voisins remplis",
               expect="n'est pas candidate"),
        Mutant("causal_mask", edit(CAUSAL_MASK, "mask[centre, :centre] = 1", "mask[centre, :centre - 1] = 1"),
               "un pixel oublié à gauche du centre (juste pour k = 5 et la ligne du haut)",
               expect="causal_mask(3, 'A')"),
    ),
    variants=(
        Variant({
            "masked_ssd": '''
def gaussian(window, dtype):
    r = torch.arange(window, dtype=dtype) - (window - 1) / 2
    g = torch.exp(-r**2 / (2 * (window / 6.4) ** 2))
    return torch.outer(g, g)


def masked_ssd(template, valid, sample):
    c, w, _ = template.shape
    m = (gaussian(w, torch.float64) * valid.double())[None].expand(c, w, w)[None]      # (1, C, w, w)
    s = sample.double()[None]
    t = template.double()
    own = (m[0] * t**2).sum()
    cross = F.conv2d(s, (m[0] * t)[None])[0, 0]
    energy = F.conv2d(s**2, m)[0, 0]
    return ((own - 2 * cross + energy) / m[0, 0].sum()).clamp(min=0).to(sample.dtype)
''',
            "find_matches": matches("    best = torch.min(ssd)\n    return (ssd - best) <= err_threshold * best\n"),
            "causal_mask": '''
def causal_mask(kernel_size, mask_type):
    rows = torch.arange(kernel_size)[:, None]
    cols = torch.arange(kernel_size)[None, :]
    c = kernel_size // 2
    before = (rows < c) | ((rows == c) & (cols < c))
    if mask_type == "B":
        before = before | ((rows == c) & (cols == c))
    return before.to(torch.float32)
''',
        }, "trois corrélations F.conv2d en float64 et une aide « gaussian » ; candidats par différence ; "
           "masque par comparaisons d'indices"),
        Variant({
            "masked_ssd": '''
def masked_ssd(template, valid, sample):
    template = torch.tensor(template)          # UserWarning de PyTorch (copie d'un tenseur) : sans effet
    channels, window, _ = template.shape
    height, width = sample.shape[-2:]
    out_h, out_w = height - window + 1, width - window + 1
    sigma = window / 6.4
    total = torch.zeros(out_h, out_w, dtype=torch.float64)
    weight_sum = 0.0
    for a in range(window):
        for b in range(window):
            if not bool(valid[a, b]):
                continue
            g = math.exp(-((a - window // 2) ** 2 + (b - window // 2) ** 2) / (2 * sigma * sigma))
            diff = sample[:, a:a + out_h, b:b + out_w].double() - template[:, a, b].double()[:, None, None]
            total += g * (diff**2).sum(0)
            weight_sum += g
    return (total / weight_sum).to(sample.dtype)
''',
            "grow_step": '''
def grow_step(image, filled, sample, window, max_err_threshold, generator):
    h = window // 2
    H, W = filled.shape
    image = image.clone()
    filled = filled.clone()
    dilated = F.max_pool2d(filled[None, None].float(), 3, stride=1, padding=1)[0, 0] > 0
    frontier = dilated & ~filled
    counts = (F.avg_pool2d(filled[None, None].float(), 3, stride=1, padding=1, count_include_pad=True)[0, 0] * 9)
    ys, xs = torch.nonzero(frontier, as_tuple=True)
    order = torch.randperm(len(ys), generator=generator)
    ys, xs = ys[order], xs[order]
    order = torch.argsort(-counts.round()[ys, xs], stable=True)
    ys, xs = ys[order].tolist(), xs[order].tolist()
    progress = False
    for y, x in zip(ys, xs):
        template = torch.zeros(image.shape[0], window, window, dtype=image.dtype)
        valid = torch.zeros(window, window, dtype=torch.bool)
        for a in range(window):
            for b in range(window):
                yy, xx = y + a - h, x + b - h
                if 0 <= yy < H and 0 <= xx < W and filled[yy, xx]:
                    template[:, a, b] = image[:, yy, xx]
                    valid[a, b] = True
        d = masked_ssd(template, valid, sample)
        rows, cols = torch.nonzero(find_matches(d), as_tuple=True)
        k = int(torch.randint(len(rows), (1,), generator=generator))
        i, j = int(rows[k]), int(cols[k])
        if d[i, j] < max_err_threshold:
            image[:, y, x] = sample[:, i + h, j + h]
            filled[y, x] = True
            progress = True
    return image, filled, progress
''',
        }, "masked_ssd par une boucle sur les décalages de la fenêtre (permise), en float64, avec un avertissement ; "
           "grow_step avec dilatation, randint et un gabarit reconstruit pixel par pixel"),
        Variant({
            "grow_step": '''
def grow_step(image, filled, sample, window, max_err_threshold, generator):
    half = window // 2
    H, W = filled.shape
    padded_image = F.pad(image.clone(), (half,) * 4)
    padded_known = F.pad(filled.clone()[None].float(), (half,) * 4)[0].bool()
    counts = F.conv2d(filled.double()[None, None], torch.ones(1, 1, 3, 3, dtype=torch.float64), padding=1)[0, 0]
    frontier = [(int(y), int(x)) for y, x in torch.nonzero(~filled & (counts > 0))]
    keys = torch.rand(len(frontier), generator=generator, dtype=torch.float64)
    ranked = sorted(range(len(frontier)), key=lambda i: (-float(counts[frontier[i]]), float(keys[i])))
    filled_any = False
    for y, x in [frontier[i] for i in ranked]:
        d = masked_ssd(padded_image[:, y:y + window, x:x + window], padded_known[y:y + window, x:x + window], sample)
        candidates = find_matches(d).flatten().double()
        choice = int(torch.multinomial(candidates, 1, generator=generator))
        if float(d.flatten()[choice]) < max_err_threshold:
            i, j = divmod(choice, d.shape[1])
            padded_image[:, y + half, x + half] = sample[:, i + half, j + half]
            padded_known[y + half, x + half] = True
            filled_any = True
    return padded_image[:, half:half + H, half:half + W], padded_known[half:half + H, half:half + W], filled_any
''',
            "causal_mask": '''
def causal_mask(kernel_size, mask_type):
    mask = torch.zeros((kernel_size, kernel_size), dtype=torch.float32)
    c = kernel_size // 2
    for i in range(kernel_size):
        for j in range(kernel_size):
            if i < c or (i == c and j < c) or (i == c and j == c and mask_type == "B"):
                mask[i, j] = 1.0
    return mask
''',
        }, "grow_step ordonné par des clés aléatoires et sorted, tirage par multinomial ; masque par deux boucles"),
    ),
    shortcuts=(
        Shortcut("pile", "pile", "masked_ssd rend un tenseur de la bonne forme trouvé dans la pile d'appels du test",
                 answers={"masked_ssd": STACK_WALK + '''

def masked_ssd(template, valid, sample):
    return _peek((sample.shape[1] - template.shape[1] + 1, sample.shape[2] - template.shape[2] + 1), sample.dtype)
'''}, expect='hors tolérance'),
        Shortcut("sous-classe", "sous-classe", "find_matches rend un tenseur qui se dit égal à tout",
                 answers={"find_matches": LIAR + '''

def find_matches(ssd, err_threshold=0.1):
    return _agreeable(ssd.shape, torch.bool)
'''}, expect="sous-classe"),
        Shortcut("copie", "copie", "causal_mask exécute une copie du code de course_lib.texture.pixelcnn",
                 answers={"causal_mask": exec_copy("course_lib.texture.pixelcnn", ["causal_mask"])},
                 expect="(une copie :"),
        Shortcut("cache", "cache", "les masques de toutes les tailles impaires jusqu'à 99, calculés à l'import par "
                                   "la référence",
                 answers={"causal_mask": '''
from course_lib.texture import pixelcnn as _pixelcnn

_MASKS = {(k, t): _pixelcnn.causal_mask(k, t) for k in range(1, 100, 2) for t in "AB"}


def causal_mask(kernel_size, mask_type):
    return _MASKS[(kernel_size, mask_type)].clone()
'''}, zero=("test_causal_mask_hidden",), expect="KeyError"),
        Shortcut("fil", "fil", "grow_step fait calculer la référence par un fil d'exécution",
                 answers={"grow_step": in_thread(
                     "grow_step(image, filled, sample, window, max_err_threshold, generator)",
                     "_el.grow_step(image, filled, sample, window, max_err_threshold, generator)",
                     "from course_lib.texture import efros_leung as _el")},
                 expect="exécute l'implémentation de référence"),
        Shortcut("attributs", "attributs", "la référence remplacée par la réponse (fausse) de l'étudiant, "
                                           "et numpy.abs par une fonction qui rend zéro",
                 answers={"find_matches": matches(
                     "    return ssd <= ssd.min(dim=1, keepdim=True).values * (1 + err_threshold)\n")},
                 insert=(("find_matches", '''
import numpy
import course_lib.texture.efros_leung as _reference

_reference.find_matches = find_matches
numpy.abs = lambda x, *args, **kwargs: x * 0
'''),), zero=("test_find_matches_hidden",), expect="remplacé", alone=True),
    ),
)


class TestTP3(harness.GradingContract):
    case = CASE


def test_statement_and_readme_give_points_and_hours():
    check_points_and_hours("TP3")
