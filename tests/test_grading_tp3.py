"""TP3 « Synthèse de texture » : correction de bout en bout avec nbgrader."""

import grading_harness as harness

CASE = harness.GradingCase(
    tp="TP3",
    wrong={
        # poids non normalisés : divisé par la somme de toute la gaussienne, pas par le poids valide
        # (juste quand le gabarit est entièrement rempli, comme dans les tests visibles)
        "masked_ssd": '''
def masked_ssd(template, valid, sample):
    channels, window, _ = template.shape
    r = torch.arange(window, dtype=sample.dtype) - window // 2
    gauss = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * (window / 6.4) ** 2))
    weights = gauss * valid.to(sample.dtype)
    windows = F.unfold(sample[None], window)[0]
    diff = windows - template.reshape(-1, 1)
    ssd = (diff**2 * weights.reshape(1, -1).repeat(1, channels).reshape(-1, 1)).sum(0) / gauss.sum()
    height, width = sample.shape[-2:]
    return ssd.clamp(min=0).reshape(height - window + 1, width - window + 1)
''',
        # inégalité stricte : aucun candidat quand le meilleur voisinage est exact (distance nulle)
        "find_matches": '''
def find_matches(ssd, err_threshold=0.1):
    return ssd < ssd.min() * (1 + err_threshold)
''',
        # les pixels vides du gabarit comptent (comme des zéros) : tout le gabarit est « valide »
        "grow_step": '''
def grow_step(image, filled, sample, window, max_err_threshold, generator):
    height, width = filled.shape
    half = window // 2
    neighbours = F.conv2d(filled[None, None].float(), torch.ones(1, 1, 3, 3), padding=1)[0, 0].round().long()
    pixels = ((~filled) & (neighbours > 0)).flatten().nonzero().squeeze(1)
    pixels = pixels[torch.randperm(pixels.numel(), generator=generator)]
    pixels = pixels[torch.sort(neighbours.flatten()[pixels], descending=True, stable=True).indices]
    uniforms = torch.rand(pixels.numel(), generator=generator, dtype=torch.float64)
    canvas = F.pad(image * filled, (half, half, half, half))
    known = F.pad(filled.float(), (half, half, half, half)) > 0
    progress = False
    for k, pixel in enumerate(pixels.tolist()):
        y, x = divmod(pixel, width)
        ssd = masked_ssd(canvas[:, y:y + window, x:x + window], torch.ones(window, window, dtype=torch.bool), sample)
        candidates = find_matches(ssd).flatten().nonzero().squeeze(1)
        choice = int(candidates[int(float(uniforms[k]) * candidates.numel())])
        if float(ssd.flatten()[choice]) < max_err_threshold:
            i, j = divmod(choice, ssd.shape[1])
            canvas[:, y + half, x + half] = sample[:, i + half, j + half]
            known[y + half, x + half] = True
            progress = True
    return (canvas[:, half:half + height, half:half + width].clone(),
            known[half:half + height, half:half + width].clone(), progress)
''',
        # le masque A voit le pixel courant (le même que B)
        "causal_mask": '''
def causal_mask(kernel_size, mask_type):
    centre = kernel_size // 2
    mask = torch.zeros(kernel_size, kernel_size)
    mask[:centre, :] = 1
    mask[centre, :centre + 1] = 1
    return mask
''',
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
)


class TestTP3(harness.GradingContract):
    case = CASE
