"""Bancs d'essai du bloc « réseaux de neurones » : convolution écrite à la main, une époque d'entraînement."""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from common import Row, peak_memory_mib, timeit

from course_lib import nn


class ScratchCNN(torch.nn.Module):
    """Le même réseau que ``nn.SmallCNN``, calculé avec les couches écrites à la main de course_lib.nn."""

    def __init__(self, reference: nn.SmallCNN):
        super().__init__()
        self.reference = reference

    def forward(self, x):
        conv_a, conv_b = self.reference.features[0], self.reference.features[3]
        linear = self.reference.classifier[1]
        x = nn.max_pool2d(nn.relu(nn.conv2d(x, conv_a.weight, conv_a.bias, padding=conv_a.padding[0])), 2)
        x = nn.max_pool2d(nn.relu(nn.conv2d(x, conv_b.weight, conv_b.bias, padding=1)), 2)
        return nn.linear(F.adaptive_avg_pool2d(x, 2).flatten(1), linear.weight, linear.bias)


@contextmanager
def one_thread(active: bool = True):
    """Un seul fil d'exécution sur CPU : des mesures stables sur une machine partagée (pas de sursouscription)."""
    threads = torch.get_num_threads()
    if active:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def benchmarks(quick: bool):
    with one_thread():
        yield from _benchmarks(quick)


def _benchmarks(quick: bool):
    # Convolution : im2col (unfold + un produit de matrices) contre les deux boucles, et contre PyTorch.
    batch, channels, side, filters = (4, 8, 24, 16) if quick else (16, 16, 64, 32)
    x = torch.rand(batch, channels, side, side)
    w = torch.randn(filters, channels, 3, 3) / 9
    b = torch.zeros(filters)
    assert torch.allclose(nn.conv2d(x, w, b, padding=1), F.conv2d(x, w, b, padding=1), atol=1e-4)
    ours = timeit(lambda: nn.conv2d(x, w, b, padding=1), repeat=5)
    loops = timeit(lambda: nn.conv2d_loops(x, w, b, padding=1), repeat=1, warmup=0 if quick else 1)
    label = f"conv2d 3x3, {batch}x{channels}x{side}x{side} -> {filters}, 1 fil"
    yield Row("nn", label, ours, loops, "conv2d_loops (deux boucles, même module)")
    torch_s = timeit(lambda: F.conv2d(x, w, b, padding=1), repeat=5)
    ours_mem = peak_memory_mib(lambda: nn.conv2d(x, w, b, padding=1))
    torch_mem = peak_memory_mib(lambda: F.conv2d(x, w, b, padding=1))
    yield Row("nn", label, ours, torch_s, "torch.nn.functional.conv2d", ours_mem, torch_mem,
              note="< 1 : PyTorch est plus rapide ; im2col recopie chaque pixel 9 fois")

    # Une époque sur les chiffres (1 348 exemples), CPU, un seul fil : la boucle du cours contre torch.nn.
    (images, labels), _ = nn.digits_split()
    if quick:
        images, labels = images[:256], labels[:256]
    torch.manual_seed(0)
    model = nn.SmallCNN(1, 10, width=16, kernel_size=3)
    scratch = ScratchCNN(nn.SmallCNN(1, 10, width=16, kernel_size=3))

    def epoch_train():
        nn.train(model, (images, labels), epochs=1, lr=0.05, optimizer="sgd", batch_size=32, device="cpu",
                 progress=False, live=False)

    def epoch_minimal():
        nn.minibatch_sgd(model, images, labels, epochs=1, lr=0.05, batch_size=32)

    def epoch_scratch():
        nn.minibatch_sgd(scratch, images, labels, epochs=1, lr=0.05, batch_size=32)

    ours = timeit(epoch_train, repeat=3)
    name = f"une époque, SmallCNN, {len(images)} chiffres, CPU 1 fil"
    yield Row("nn", name, ours, timeit(epoch_minimal, repeat=3),
              "minibatch_sgd (entropie croisée et pas de SGD du cours)")
    yield Row("nn", name, ours, timeit(epoch_scratch, repeat=3 if not quick else 1),
              "même réseau en couches écrites à la main (conv2d unfold, max_pool2d...)")


def gpu_checks(profile):
    """Le bloc au profil « gpu » : convolution im2col contre cuDNN, entraînement d'un CNN (voir gpu_check.py)."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    batch = profile.batch_size
    side = profile.image_size // 4

    def conv():
        x = torch.rand(batch, 64, side, side, device=device)
        w = torch.randn(64, 64, 3, 3, device=device) / 24
        ours = nn.conv2d(x, w, padding=1, stride=1)
        reference = F.conv2d(x, w, padding=1)
        assert float((ours - reference).abs().max()) < 1e-3
        out = nn.max_pool2d(nn.relu(ours), 2)
        logits = out.mean(dim=(2, 3))[:, :10]
        loss = nn.cross_entropy(logits, torch.randint(0, 10, (batch,), device=device))
        assert torch.isfinite(loss)

    def train_digits():
        train, test = nn.digits_split(device=device)
        torch.manual_seed(0)
        model = nn.SmallCNN(1, 10, width=profile.pick(ci=16, cpu=32, gpu=64), kernel_size=3)
        with one_thread(device == "cpu"):
            history = nn.train(model, train, test, epochs=max(5, profile.epochs), lr=0.05, optimizer="momentum",
                               batch_size=32, device=device, progress=False, live=False)
        assert history["précision/validation"][-1] > 0.9, history["précision/validation"][-1]

    def train_patches():
        n = max(50, profile.n_train // 100)
        size, source = profile.pick(ci=(16, 96), cpu=(32, 256), gpu=(32, 256))
        x, y, names = nn.texture_patches(n_per_class=n, size=size, split="train", source_size=source, device=device)
        xt, yt, _ = nn.texture_patches(n_per_class=max(20, n // 4), size=size, split="test", source_size=source,
                                       device=device)
        torch.manual_seed(0)
        model = nn.SmallCNN(1, len(names), width=32, kernel_size=7)
        with one_thread(device == "cpu"):
            nn.train(model, (x, y), (xt, yt), epochs=max(1, profile.epochs // 3), lr=3e-3, optimizer="adam",
                     batch_size=profile.batch_size, device=device, progress=False, live=False)

    return [
        (f"conv2d im2col contre F.conv2d, {batch}x64x{side}x{side}", conv),
        (f"SmallCNN sur les chiffres, {max(5, profile.epochs)} époques", train_digits),
        ("SmallCNN sur les imagettes de textures et de photos", train_patches),
    ]
