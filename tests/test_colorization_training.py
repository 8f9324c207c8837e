"""Colorisation : L et ab, mesures, données, entraînement au profil « ci »."""

import numpy as np
import pytest
import skimage.color
import skimage.metrics
import torch

import course_lib
from course_lib import colorization as C
from course_lib import grading, images

# --------------------------------------------------------------------------- L et ab


def test_split_and_merge_lab_round_trip_and_match_skimage():
    rgb = grading.random_images(2, (2, 3, 12, 10))
    L, ab = C.split_lab(rgb)
    assert L.shape == (2, 1, 12, 10) and ab.shape == (2, 2, 12, 10)
    expected = skimage.color.rgb2lab(rgb.double().permute(0, 2, 3, 1).numpy())
    grading.assert_close(torch.cat([L, ab], 1), torch.from_numpy(expected).permute(0, 3, 1, 2).float(), atol=1e-3)
    grading.assert_close(C.merge_lab(L, ab), rgb, atol=1e-4)
    # ab en basse résolution : suréchantillonné à la taille de L
    assert C.merge_lab(L, ab[..., ::2, ::2]).shape == rgb.shape
    gray = C.gray_rgb(rgb)
    grading.assert_close(C.split_lab(gray)[1], torch.zeros_like(ab), atol=1e-2)
    assert C.lightness(images.rgb_to_gray(rgb)).shape == L.shape


def test_lab_errors_are_in_french():
    with pytest.raises(ValueError, match="canal L seul"):
        C.merge_lab(torch.rand(1, 3, 4, 4), torch.zeros(1, 2, 4, 4))
    with pytest.raises(ValueError, match="\\[-128, 128\\]"):
        C.merge_lab(torch.full((1, 1, 4, 4), 50.0), torch.full((1, 2, 4, 4), 500.0))
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        C.split_lab(torch.full((1, 3, 4, 4), 2.0))


# --------------------------------------------------------------------------- mesures

def test_psnr_matches_skimage():
    a, b = grading.random_images(3, (2, 3, 16, 16)), grading.random_images(4, (2, 3, 16, 16))
    expected = [skimage.metrics.peak_signal_noise_ratio(x.double().numpy(), y.double().numpy(), data_range=1.0)
                for x, y in zip(a, b)]
    grading.assert_close(C.psnr(b, a), torch.tensor(expected), atol=1e-4)


def test_ab_auc_matches_a_brute_force_sweep_of_thresholds():
    g = torch.Generator().manual_seed(0)
    true_ab = (torch.rand(2, 2, 8, 8, generator=g) - 0.5) * 200
    pred_ab = (torch.rand(2, 2, 8, 8, generator=g) - 0.5) * 200
    error = (pred_ab - true_ab).double().norm(dim=1).flatten(1).numpy()
    curve = np.array([[np.mean(e <= t) for t in range(151)] for e in error])
    expected = np.trapezoid(curve, dx=1.0, axis=1) / 150
    grading.assert_close(C.ab_auc(pred_ab, true_ab), torch.from_numpy(expected).float(), atol=1e-6)
    assert float(C.ab_auc(true_ab, true_ab).min()) == pytest.approx(1.0)
    weights = torch.ones(2, 1, 8, 8)
    grading.assert_close(C.ab_auc(pred_ab, true_ab, pixel_weights=weights), C.ab_auc(pred_ab, true_ab))


def test_colorfulness_follows_hasler_and_susstrunk():
    rgb = grading.random_images(5, (2, 3, 10, 10))
    x = rgb.double().numpy() * 255
    rg, yb = x[:, 0] - x[:, 1], 0.5 * (x[:, 0] + x[:, 1]) - x[:, 2]
    expected = [np.hypot(r.std(), y.std()) + 0.3 * np.hypot(r.mean(), y.mean()) for r, y in zip(rg, yb)]
    grading.assert_close(C.colorfulness(rgb), torch.tensor(expected).float(), rtol=1e-5, atol=1e-4)
    assert float(C.colorfulness(C.gray_rgb(rgb)).max()) < 1.0


# --------------------------------------------------------------------------- données

def test_training_images_are_reproducible_and_augmentation_keeps_colours():
    a = C.training_images(8, 32, seed=3)
    assert a.shape == (8, 3, 32, 32) and 0 <= float(a.min()) and float(a.max()) <= 1
    assert torch.equal(a, C.training_images(8, 32, seed=3))
    photos = C.photo_patches(5, 16, names=("chelsea",), seed=1)
    assert photos.shape == (5, 3, 16, 16)
    flipped = C.augment(photos, seed=0, min_scale=1.0)
    for original, out in zip(photos, flipped):
        assert torch.allclose(out, original, atol=1e-5) or torch.allclose(out, original.flip(-1), atol=1e-5)


def test_folder_batches_read_a_user_folder_and_skip_gray_photos(tmp_path):
    for k, image in enumerate(C.photo_patches(3, 40, seed=2)):
        images.save_image(image, tmp_path / f"photo{k}.png")
    images.save_image(torch.full((3, 40, 40), 0.5), tmp_path / "gris.png")
    batches = list(C.folder_batches(tmp_path, size=32, batch_size=2, epochs=2, augmented=False))
    assert sum(b.shape[0] for b in batches) == 6 and batches[0].shape[1:] == (3, 32, 32)
    # un entraînement sur le dossier : une fonction qui recrée l'itérateur à chaque passage
    model = C.SmallColorizer(width=4)
    history = C.train_colorizer(model, lambda: C.folder_batches(tmp_path, size=32, batch_size=2, epochs=1),
                                steps=5, progress=False, live=False, num_threads=1)
    assert len(history["perte"]) == 5
    with pytest.raises(ValueError, match="usage unique"):
        C.train_colorizer(model, C.folder_batches(tmp_path, size=32, batch_size=2, epochs=1), steps=5,
                          rebalance=False, progress=False, live=False, num_threads=1)


# --------------------------------------------------------------------------- entraînement

@pytest.fixture(scope="module")
def small_data():
    course_lib.seed(0)
    prof = course_lib.profile("ci")
    side = prof.pick(ci=32, cpu=64, gpu=128)
    train = C.training_images(prof.n_train // 4, side, source="scenes", seed=0)
    val = C.training_images(48, side, source="scenes", seed=1000, augmented=False)
    return train, val


def test_ci_training_lowers_the_loss_and_beats_the_gray_baseline(small_data):
    train, val = small_data
    course_lib.seed(0)
    model = C.SmallColorizer(width=8)
    history = C.train_colorizer(model, train, steps=120, batch_size=16, lr=3e-3, val_images=val[:8],
                                preview_every=60, progress=False, live=False, num_threads=1)
    losses = history["perte"]
    assert len(losses) == 120 and not history["interrompu"] and history["itération_validation"] == [60, 120]
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])
    gray = C.evaluate(None, val)
    ours = C.evaluate(model, val)
    assert ours["psnr"] > gray["psnr"], (ours["psnr"], gray["psnr"])
    assert ours["colorfulness"] > 5 * gray["colorfulness"] + 5
    assert history["psnr"][-1] == pytest.approx(C.evaluate(model, val[:8])["psnr"], abs=1e-4)


def test_regression_training_runs_and_can_be_interrupted(small_data):
    train, _ = small_data
    model = C.SmallColorizer(width=8, kind="regression")

    def stop(step, loss):
        if step == 5:
            raise KeyboardInterrupt

    with pytest.warns(UserWarning, match="interrompu"):
        history = C.train_colorizer(model, train, steps=50, batch_size=8, callback=stop, progress=False,
                                    live=False, num_threads=1)
    assert history["interrompu"] and len(history["perte"]) == 5 and not model.training


def test_losses_follow_the_paper():
    bins = C.ab_bins()
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 262, 4, 4, generator=g)
    ab = (torch.rand(2, 2, 8, 8, generator=g) - 0.5) * 100
    target = torch.nn.functional.avg_pool2d(ab, 2)
    z = C.soft_encode(target, bins)
    weights = torch.rand(262, generator=g) + 0.5
    v = weights[C.nearest_bin(target, bins)]
    expected = (-(z * torch.log_softmax(logits, 1)).sum(1) * v).mean()
    grading.assert_close(C.classification_loss(logits, ab, bins, weights), expected, atol=1e-5)
    prediction = torch.randn(2, 2, 4, 4, generator=g)
    expected_l2 = 0.5 * ((prediction - target / 110) ** 2).sum(1).mean()
    grading.assert_close(C.regression_loss(prediction, ab), expected_l2, atol=1e-6)


def test_colorize_keeps_the_lightness_and_the_size():
    model = C.SmallColorizer(width=4).eval()
    photo = grading.random_images(7, (3, 30, 23))
    out = C.colorize(model, photo)
    assert out.shape == photo.shape
    # L est gardé ; seules les couleurs hors du gamut sRGB, ramenées dans [0, 1], le déplacent un peu
    assert float((C.split_lab(out)[0] - C.split_lab(photo)[0]).abs().mean()) < 0.5
    assert C.colorize(model, images.rgb_to_gray(photo)[None], size=16).shape == (1, 3, 30, 23)
    with pytest.raises(TypeError, match="« model »"):
        C.colorize(torch.nn.Conv2d(1, 2, 1), photo)
