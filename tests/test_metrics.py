import numpy as np
import pytest

from aecourse.metrics import knn_accuracy, mse_per_pixel, psnr


def test_mse_per_pixel_known_value():
    x = np.zeros((2, 4))
    x_hat = np.array([[0.0, 0.0, 0.0, 1.0], [0.5, 0.5, 0.5, 0.5]])
    # squared errors sum to 1 + 4 * 0.25 = 2 over 8 pixels
    assert mse_per_pixel(x, x_hat) == pytest.approx(0.25)


def test_mse_accepts_images_and_flat_vectors_alike():
    rng = np.random.default_rng(0)
    x, x_hat = rng.random((3, 28, 28, 1)), rng.random((3, 28, 28, 1))
    assert mse_per_pixel(x, x_hat) == pytest.approx(mse_per_pixel(x.reshape(3, -1), x_hat.reshape(3, -1)))


def test_psnr_known_value_and_cap():
    x = np.zeros((1, 100))
    assert psnr(x, np.full((1, 100), 0.1)) == pytest.approx(20.0)  # MSE 0.01 -> 20 dB
    assert psnr(x, x) == 100.0


def test_psnr_is_mean_of_per_image_values():
    x = np.zeros((2, 100))
    x_hat = np.stack([np.full(100, 0.1), np.full(100, 0.01)])  # 20 dB and 40 dB
    assert psnr(x, x_hat) == pytest.approx(30.0)


def test_shape_mismatch_and_empty_input_are_refused():
    with pytest.raises(ValueError, match="shapes differ"):
        mse_per_pixel(np.zeros((2, 784)), np.zeros((2, 28, 28)))
    with pytest.raises(ValueError, match="no images"):
        psnr(np.zeros((0, 784)), np.zeros((0, 784)))


def test_knn_accuracy_on_separated_and_mixed_codes():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 50)
    separated = rng.normal(size=(100, 2)) * 0.1 + y[:, None] * 10
    assert knn_accuracy(separated, y, separated + 0.01, y) == 1.0
    flipped = 1 - y
    assert knn_accuracy(separated, y, separated, flipped) == 0.0


def test_knn_accuracy_checks_its_inputs():
    with pytest.raises(ValueError, match="one label per code"):
        knn_accuracy(np.zeros((5, 2)), np.zeros(4), np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="train codes have 2 numbers, test codes 3"):
        knn_accuracy(np.zeros((5, 2)), np.zeros(5), np.zeros((3, 3)), np.zeros(3))
