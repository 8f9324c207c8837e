import cv2
import numpy as np
import pytest
import scipy.ndimage
import torch

from course_lib import filters

RNG = np.random.default_rng(1)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.3, 5.0])
def test_gaussian_kernel_is_normalised_and_matches_scipy_radius(sigma):
    kernel = filters.gaussian_kernel1d(sigma)
    assert kernel.numel() == 2 * int(4 * sigma + 0.5) + 1
    assert abs(float(kernel.sum()) - 1) < 1e-6
    assert torch.allclose(kernel, kernel.flip(0))


@pytest.mark.parametrize("sigma", [0.7, 1.5, 3.0])
def test_gaussian_blur_matches_opencv_and_scipy(sigma):
    image = RNG.random((33, 41, 3)).astype(np.float32)
    ours = filters.gaussian_blur(torch.from_numpy(image).permute(2, 0, 1), sigma).permute(1, 2, 0).numpy()
    radius = int(4 * sigma + 0.5)
    expected = cv2.GaussianBlur(image, (2 * radius + 1,) * 2, sigma, borderType=cv2.BORDER_REFLECT_101)
    np.testing.assert_allclose(ours, expected, atol=1e-6)
    np.testing.assert_allclose(ours, scipy.ndimage.gaussian_filter(image, (sigma, sigma, 0), mode="mirror"),
                               atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gaussian_blur_torch_and_opencv_versions_agree(dtype):
    # Sur le CPU, gaussian_blur passe par OpenCV ; la version PyTorch (GPU, gradients) doit donner la même chose.
    batch = torch.from_numpy(RNG.random((2, 3, 30, 37))).to(dtype)
    fast = filters._gaussian_blur(batch, 2.1, backend="opencv")
    slow = filters._gaussian_blur(batch, 2.1, backend="torch")
    assert fast.dtype == slow.dtype == dtype and fast.shape == batch.shape
    torch.testing.assert_close(fast, slow, atol=1e-6 if dtype == torch.float32 else 1e-12, rtol=0)
    torch.testing.assert_close(filters.gaussian_blur(batch, 2.1), fast, atol=0, rtol=0)
    # Un calcul différentiable prend la version PyTorch, et le gradient passe.
    leaf = batch.clone().requires_grad_()
    out = filters.gaussian_blur(leaf, 2.1)
    torch.testing.assert_close(out.detach(), slow, atol=0, rtol=0)
    out.sum().backward()
    assert leaf.grad is not None and bool(torch.isfinite(leaf.grad).all())


def test_gaussian_kernel2d_and_filter2d_match_opencv():
    kernel = filters.gaussian_kernel2d(7, 1.2)
    assert kernel.shape == (7, 7) and abs(float(kernel.sum()) - 1) < 1e-6
    image = RNG.random((20, 25)).astype(np.float32)
    ours = filters.filter2d(torch.from_numpy(image)[None], kernel)[0].numpy()
    expected = cv2.filter2D(image, -1, kernel.numpy(), borderType=cv2.BORDER_REFLECT_101)
    np.testing.assert_allclose(ours, expected, atol=1e-6)


def test_sobel_matches_opencv():
    image = RNG.random((2, 19, 23)).astype(np.float32)
    gx, gy = filters.sobel(torch.from_numpy(image)[None])
    for c in range(2):
        for grad, dx, dy in ((gx, 1, 0), (gy, 0, 1)):
            expected = cv2.Sobel(image[c], cv2.CV_32F, dx, dy, ksize=3, borderType=cv2.BORDER_REFLECT_101)
            np.testing.assert_allclose(grad[0, c].numpy(), expected, atol=1e-5)
    magnitude = filters.gradient_magnitude(torch.from_numpy(image))
    assert torch.allclose(magnitude, torch.sqrt(gx[0] ** 2 + gy[0] ** 2))


def test_filters_reject_bad_arguments_in_french():
    with pytest.raises(ValueError, match="« sigma »"):
        filters.gaussian_blur(torch.rand(3, 8, 8), 0)
    with pytest.raises(ValueError, match="trop grand"):
        filters.gaussian_blur(torch.rand(3, 8, 8), 3.0)
    with pytest.raises(ValueError, match="impair"):
        filters.gaussian_kernel2d(6, 1.0)
    with pytest.raises(ValueError, match="impairs"):
        filters.filter2d(torch.rand(1, 8, 8), torch.ones(2, 3))
