import numpy as np
import pytest
import skimage.color
import torch

from course_lib import images

RNG = np.random.default_rng(0)


def random_rgb(*shape):
    return RNG.random((*shape, 3))


# --------------------------------------------------------------------------- NumPy <-> torch

def test_to_tensor_converts_uint8_hwc_to_float_chw():
    array = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    tensor = images.to_tensor(array)
    assert tensor.shape == (3, 5, 7) and tensor.dtype == torch.float32
    assert torch.allclose(tensor[1], torch.from_numpy(array[..., 1] / 255.0).float())


def test_to_tensor_handles_gray_and_batches():
    assert images.to_tensor(np.zeros((4, 6), np.uint8)).shape == (1, 4, 6)
    assert images.to_tensor(np.zeros((2, 4, 6, 3), np.float32)).shape == (2, 3, 4, 6)
    assert images.to_tensor(np.ones((3, 3), np.uint16) * 65535).max() == 1.0


def test_to_numpy_round_trip_and_uint8():
    array = RNG.integers(0, 256, (2, 5, 7, 3), dtype=np.uint8)
    back = images.to_numpy(images.to_tensor(array), dtype="uint8")
    np.testing.assert_array_equal(back, array)
    assert images.to_numpy(torch.zeros(1, 4, 5)).shape == (4, 5)


@pytest.mark.parametrize("bad, error, text", [
    ([[0, 1]], TypeError, "« array »"),
    (np.zeros((1, 2, 3, 4, 5)), ValueError, "(H,W)"),
    (np.full((2, 2), 2.0), ValueError, "[0, 1]"),
    (np.zeros((2, 2), np.int64), TypeError, "int64"),
    (torch.zeros(3, 2, 2), TypeError, "déjà un tenseur"),
])
def test_to_tensor_rejects_bad_inputs_in_french(bad, error, text):
    with pytest.raises(error) as info:
        images.to_tensor(bad)
    assert text in str(info.value)


# --------------------------------------------------------------------------- fichiers

def test_save_and_load_round_trip(tmp_path):
    image = torch.from_numpy(RNG.integers(0, 256, (3, 9, 11)).astype(np.float32) / 255)
    path = images.save_image(image, tmp_path / "sub" / "x.png")
    loaded = images.load_image(path)
    assert torch.allclose(loaded, image, atol=1e-6)
    assert images.load_image(path, gray=True).shape == (1, 9, 11)
    assert images.load_image(path, size=(4, 5)).shape == (3, 4, 5)


def test_load_image_errors_are_french(tmp_path):
    with pytest.raises(FileNotFoundError, match="n'existe pas"):
        images.load_image(tmp_path / "absent.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"pas une image")
    with pytest.raises(ValueError, match="n'est pas une image lisible"):
        images.load_image(broken)
    with pytest.raises(ValueError, match="Extension"):
        images.save_image(torch.zeros(3, 2, 2), tmp_path / "x.xyz")
    with pytest.raises(ValueError, match="un lot"):
        images.save_image(torch.zeros(2, 3, 2, 2), tmp_path / "x.png")


# --------------------------------------------------------------------------- géométrie

def test_resize_keeps_aspect_ratio_for_an_integer_size():
    x = torch.rand(2, 3, 40, 80)
    assert images.resize(x, 20).shape == (2, 3, 20, 40)
    assert images.resize(x[0], (10, 12)).shape == (3, 10, 12)
    assert images.resize(x, 40) is x


def test_resize_of_constant_image_stays_constant():
    x = torch.full((1, 3, 33, 47), 0.3)
    for mode in ("bilinear", "bicubic", "area", "nearest"):
        assert torch.allclose(images.resize(x, (16, 21), mode=mode), torch.tensor(0.3), atol=1e-6)


def test_center_crop_and_resize_crop():
    x = torch.arange(5 * 7, dtype=torch.float32).view(1, 5, 7) / 100
    assert torch.equal(images.center_crop(x, 3), x[:, 1:4, 2:5])
    assert images.resize_crop(torch.rand(3, 40, 80), 16).shape == (3, 16, 16)
    with pytest.raises(ValueError, match="dépasse"):
        images.center_crop(x, 9)


@pytest.mark.parametrize("bad, error", [
    (torch.rand(2, 2), ValueError),
    (torch.zeros(3, 4, 4, dtype=torch.uint8), TypeError),
    (np.zeros((3, 4, 4)), TypeError),
])
def test_geometry_rejects_bad_images(bad, error):
    with pytest.raises(error, match="« images »"):
        images.resize(bad, 2)


# --------------------------------------------------------------------------- couleur

@pytest.mark.parametrize("shape", [(1, 1), (17, 23), (64, 48)])
def test_rgb_to_lab_matches_scikit_image(shape):
    rgb = random_rgb(4, *shape)
    expected = skimage.color.rgb2lab(rgb)
    ours = images.rgb_to_lab(torch.from_numpy(rgb).permute(0, 3, 1, 2).float())
    assert ours.dtype == torch.float32
    np.testing.assert_allclose(ours.permute(0, 2, 3, 1).numpy(), expected, atol=1e-4)


def test_rgb_to_lab_on_single_image_and_float64():
    rgb = random_rgb(9, 8)
    ours = images.rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1))
    assert ours.dtype == torch.float64 and ours.shape == (3, 9, 8)
    np.testing.assert_allclose(ours.permute(1, 2, 0).numpy(), skimage.color.rgb2lab(rgb), atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rgb_to_lab_by_blocks_equals_the_whole_batch_version(monkeypatch, dtype):
    # Sur le CPU, la conversion se fait par blocs (cache) ; ailleurs (GPU) et pour un gradient, d'un coup.
    monkeypatch.setattr(images, "_LAB_CHUNK", 100)                      # plusieurs blocs, le dernier partiel
    rgb = torch.from_numpy(random_rgb(3, 17, 13)).permute(0, 3, 1, 2).to(dtype)
    rgb[0, :, 0, :4] = torch.tensor([[0.0, 1.0, 0.04045, 0.0031308]], dtype=dtype)   # les seuils
    by_blocks = images.rgb_to_lab(rgb)
    whole = images._rgb_to_lab_block(rgb.reshape(3, 3, -1), images._lab_matrices(rgb.double())).view_as(rgb)
    same = {"atol": 1e-5 if dtype == torch.float32 else 1e-12, "rtol": 0}     # à l'arrondi près (pow vectorisé)
    torch.testing.assert_close(by_blocks, whole, **same)
    expected = np.stack([skimage.color.rgb2lab(a) for a in rgb.permute(0, 2, 3, 1).double().numpy()])
    np.testing.assert_allclose(by_blocks.permute(0, 2, 3, 1).numpy(), expected,
                               atol=1e-4 if dtype == torch.float32 else 1e-10)
    leaf = rgb.clone().requires_grad_()
    lab = images.rgb_to_lab(leaf)
    torch.testing.assert_close(lab.detach(), whole, **same)
    lab.sum().backward()
    assert leaf.grad is not None and bool(torch.isfinite(leaf.grad).all())


def test_lab_to_rgb_matches_scikit_image_including_out_of_gamut():
    lab = RNG.uniform([0, -110, -110], [100, 110, 110], (3, 15, 15, 3))
    with pytest.warns(UserWarning):
        expected = skimage.color.lab2rgb(lab)
    ours = images.lab_to_rgb(torch.from_numpy(lab).permute(0, 3, 1, 2).float())
    np.testing.assert_allclose(ours.permute(0, 2, 3, 1).numpy(), expected, atol=1e-4)


def test_lab_round_trip():
    rgb = torch.rand(2, 3, 16, 16)
    assert torch.allclose(images.lab_to_rgb(images.rgb_to_lab(rgb)), rgb, atol=1e-5)


def test_rgb_to_gray_matches_scikit_image():
    rgb = random_rgb(2, 10, 12)
    ours = images.rgb_to_gray(torch.from_numpy(rgb).permute(0, 3, 1, 2))
    assert ours.shape == (2, 1, 10, 12)
    np.testing.assert_allclose(ours[:, 0].numpy(), skimage.color.rgb2gray(rgb), atol=1e-12)


def test_srgb_linear_round_trip_and_known_value():
    x = torch.linspace(0, 1, 101)
    assert torch.allclose(images.linear_to_srgb(images.srgb_to_linear(x)), x, atol=1e-6)
    assert abs(float(images.srgb_to_linear(torch.tensor(0.5))) - 0.2140411) < 1e-6


def test_color_conversions_reject_bad_inputs_in_french():
    with pytest.raises(ValueError, match="3 canaux"):
        images.rgb_to_lab(torch.rand(1, 4, 2, 2))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        images.rgb_to_lab(torch.rand(1, 3, 2, 2) * 255)
    with pytest.raises(ValueError, match="NaN"):
        images.rgb_to_gray(torch.full((3, 2, 2), float("nan")))
    with pytest.raises(ValueError, match="canal L"):
        images.lab_to_rgb(torch.full((3, 2, 2), 150.0))
    with pytest.raises(TypeError, match="réels"):
        images.rgb_to_gray(torch.zeros(3, 2, 2, dtype=torch.int32))
    with pytest.raises(ValueError, match="NaN"):
        images.rgb_to_lab(torch.tensor([0.5, float("inf"), 0.2]).view(3, 1, 1))
    with pytest.raises(ValueError, match="NaN"):
        images.lab_to_rgb(torch.tensor([50.0, float("nan"), 0.0]).view(3, 1, 1))
