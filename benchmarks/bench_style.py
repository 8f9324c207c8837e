"""Bancs d'essai du bloc 5 : synthèse de texture et transfert de style (Gatys et al.).

Une « étape » d'optimisation = une évaluation de la perte et de son gradient par rapport aux pixels.
Notre version (course_lib.style.StyleTransferLoss) calcule les cibles une fois et arrête VGG19 à
relu5_1 ; la référence, écrite comme dans la plupart des tutoriels, passe l'image dans tout VGG19
(jusqu'à pool5) à chaque étape et recalcule à chaque étape les cibles du contenu et du style.
Même réseau, mêmes poids, mêmes couches, même taille d'image.
"""

from __future__ import annotations

import warnings

import torch
from common import Row, peak_memory_mib

from course_lib import data, features, style
from course_lib.texture import gatys


def _device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _images(size: int, device: str):
    content = data.photo("chelsea", size=size, device=device)[None]
    painting = style.procedural_painting(size, seed=0, device=device)[None]
    return content, painting


def _networks(device: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", features.FeatureWarning)
        ours = features.vgg19((style.CONTENT_LAYER, *style.STYLE_LAYERS), device=device)
        full = features.vgg19(features.VGG19_LAYERS, device=device)
    return ours, _sequential(full)


def _sequential(full) -> torch.nn.Sequential:
    """VGG19 complet comme ``torchvision.models.vgg19().features`` (mise en commun par moyenne), mêmes poids."""
    modules = []
    for name in features.VGG19_LAYERS:
        if name.startswith("conv"):
            modules.append(full.convs[name])
        elif name.startswith("relu"):
            modules.append(torch.nn.ReLU(inplace=True))
        else:
            modules.append(torch.nn.AvgPool2d(2))
    return torch.nn.Sequential(*modules).eval().requires_grad_(False)


def baseline_step(sequential, content, painting, image, ratio):
    """Une étape écrite simplement : tout VGG19, et les cibles recalculées à chaque fois."""
    wanted = {features.VGG19_LAYERS.index(n): n for n in (style.CONTENT_LAYER, *style.STYLE_LAYERS)}
    mean = torch.tensor(features.IMAGENET_MEAN, device=image.device).view(1, 3, 1, 1)
    std = torch.tensor(features.IMAGENET_STD, device=image.device).view(1, 3, 1, 1)

    def run(x):
        out, x = {}, (x - mean) / std
        for index, module in enumerate(sequential):
            x = module(x)
            if index in wanted:
                out[wanted[index]] = x.clone()
        return out

    content_target = run(content)[style.CONTENT_LAYER].detach()
    style_targets = {name: gatys.gram_matrix(value).detach() for name, value in run(painting).items()
                     if name in style.STYLE_LAYERS}
    current = run(image)
    loss = ratio * style.content_loss(current[style.CONTENT_LAYER], content_target)
    loss = loss + style.style_loss({n: current[n] for n in style.STYLE_LAYERS}, style_targets)
    loss.backward()
    return loss


def _interleaved(ours, baseline, repeat: int) -> tuple[float, float]:
    """Temps médians de deux fonctions mesurées en alternance (la charge d'une machine partagée varie)."""
    import statistics
    import time

    from common import synchronize

    ours()
    baseline()
    times = {"ours": [], "baseline": []}
    for _ in range(repeat):
        for name, fn in (("ours", ours), ("baseline", baseline)):
            synchronize()
            start = time.perf_counter()
            fn()
            synchronize()
            times[name].append(time.perf_counter() - start)
    return statistics.median(times["ours"]), statistics.median(times["baseline"])


def _compare(size: int, repeat: int, device: str, memory: bool = True):
    content, painting = _images(size, device)
    ours_net, sequential = _networks(device)
    loss = style.StyleTransferLoss(ours_net, content, painting)
    image = content.clone().requires_grad_(True)

    def ours():
        total, _ = loss(image)
        total.backward()

    def baseline():
        baseline_step(sequential, content, painting, image, loss.ratio)

    # les deux calculent la même perte et le même gradient
    image.grad = None
    ours()
    grad_ours, image.grad = image.grad.clone(), None
    baseline()
    torch.testing.assert_close(image.grad, grad_ours, rtol=1e-3, atol=1e-6)
    t_ours, t_base = _interleaved(ours, baseline, repeat)
    if not memory:
        return t_ours, t_base, None, None
    if device == "cuda":
        return t_ours, t_base, peak_memory_mib(ours), peak_memory_mib(baseline)
    # Sur CPU, l'allocateur garde la mémoire libérée : on mesure chaque version dans un processus neuf,
    # trois fois en alternance, et on garde la médiane (la mémoire résidente est bruitée).
    import statistics

    peaks = {"ours": [], "baseline": []}
    for _ in range(3):
        for kind in peaks:
            peaks[kind].append(_fresh_process_peak(kind, size))
    return t_ours, t_base, statistics.median(peaks["ours"]), statistics.median(peaks["baseline"])


def _fresh_process_peak(kind: str, size: int) -> float:
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve()
    root = str(script.parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, str(script), "--memory", kind, str(size)], capture_output=True,
                            text=True, timeout=600, cwd=root, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"mesure de mémoire ({kind}) impossible :\n{result.stderr[-2000:]}")
    return float(result.stdout.strip().splitlines()[-1])


def _memory_main(kind: str, size: int) -> None:
    """Pic de mémoire résidente (Mio) d'une étape dans ce processus neuf, au-dessus du niveau une fois tout préparé."""
    content, painting = _images(size, "cpu")
    ours_net, sequential = _networks("cpu")
    loss = style.StyleTransferLoss(ours_net, content, painting)
    image = content.clone().requires_grad_(True)

    def step():
        if kind == "ours":
            total, _ = loss(image)
            total.backward()
        else:
            baseline_step(sequential, content, painting, image, loss.ratio)

    print(peak_memory_mib(step))


def benchmarks(quick: bool):
    size, repeat = (32, 3) if quick else (256, 5)
    device = _device()
    t_ours, t_base, m_ours, m_base = _compare(size, repeat, device, memory=not quick or device == "cuda")
    yield Row("style", f"transfert de style, 1 étape, {size} px", t_ours, t_base,
              "VGG19 complet + cibles recalculées à chaque étape", m_ours, m_base)

    # Synthèse de texture : la même idée (cibles une fois, réseau tronqué à pool4) contre VGG19 complet.
    sample = data.texture("wood", size=size, device=device)[None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", features.FeatureWarning)
        net = features.vgg19(gatys.TEXTURE_LAYERS, device=device)
        full = _sequential(features.vgg19(features.VGG19_LAYERS, device=device))
    texture = gatys.TextureLoss(net, sample)
    image = torch.rand_like(sample).requires_grad_(True)
    indices = {features.VGG19_LAYERS.index(n): n for n in gatys.TEXTURE_LAYERS}
    mean = torch.tensor(features.IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(features.IMAGENET_STD, device=device).view(1, 3, 1, 1)

    def grams(x):
        out, x = {}, (x - mean) / std
        for index, module in enumerate(full):
            x = module(x)
            if index in indices:
                out[indices[index]] = gatys.gram_matrix(x)
        return out

    def texture_baseline():
        targets = {k: v.detach() for k, v in grams(sample).items()}
        current = grams(image)
        sum(gatys.gram_loss(current[k], targets[k]) for k in targets).backward()

    t_ours, t_base = _interleaved(lambda: texture(image).backward(), texture_baseline, repeat)
    yield Row("style", f"synthèse de texture, 1 étape, {size} px", t_ours, t_base,
              "VGG19 complet + Gram de l'échantillon à chaque étape")


def gpu_checks(profile):
    """Transfert de style (512 px sur GPU, comme l'article), synthèse de texture (256 px) et le rapport par étape."""
    device = _device()
    side = profile.pick(ci=32, cpu=256, gpu=512)
    texture_side = profile.pick(ci=32, cpu=128, gpu=256)
    steps = profile.pick(ci=2, cpu=50, gpu=300)

    def transfer():
        content, painting = _images(side, device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", features.FeatureWarning)
            result = style.transfer(content, painting, steps=steps, progress=False)
        assert result.shape == content.shape and bool(torch.isfinite(result).all())

    def texture():
        sample = data.texture("cells", size=texture_side, device=device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", features.FeatureWarning)
            result = gatys.synthesize_texture(sample, steps=steps, progress=False)
        assert result.shape == sample.shape

    def step_ratio():
        t_ours, t_base, m_ours, m_base = _compare(side, profile.pick(ci=1, cpu=3, gpu=5), device,
                                                  memory=device == "cuda")
        memory = f" ; mémoire {m_ours:.0f} / {m_base:.0f} Mio" if m_ours is not None else ""
        print(f"    une étape {side} px : nous {t_ours * 1e3:.1f} ms, référence {t_base * 1e3:.1f} ms "
              f"({t_base / t_ours:.2f}x){memory}", flush=True)

    return [
        (f"transfert de style {side} px, {steps} itérations L-BFGS", transfer),
        (f"synthèse de texture {texture_side} px, {steps} itérations", texture),
        (f"style : une étape, nous contre VGG19 complet, {side} px", step_ratio),
    ]


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 4 and sys.argv[1] == "--memory":
        _memory_main(sys.argv[2], int(sys.argv[3]))
