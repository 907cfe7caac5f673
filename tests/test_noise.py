import numpy as np
import pytest

from aecourse.noise import gaussian_noise, mask_noise


def test_mask_noise_drops_the_requested_share_and_keeps_the_rest():
    x = np.full((200, 784), 0.5, dtype=np.float32)
    noisy = mask_noise(x, 0.3, np.random.default_rng(0))
    assert noisy.dtype == np.float32 and noisy.shape == x.shape
    assert set(np.unique(noisy)) == {0.0, 0.5}
    assert abs((noisy == 0).mean() - 0.3) < 0.01
    np.testing.assert_array_equal(mask_noise(x, 0.0, np.random.default_rng(0)), x)


def test_gaussian_noise_is_clipped_and_has_the_requested_spread():
    x = np.full((200, 784), 0.5, dtype=np.float32)
    noisy = gaussian_noise(x, 0.1, np.random.default_rng(0))
    assert noisy.dtype == np.float32 and noisy.min() >= 0 and noisy.max() <= 1
    assert abs(np.std(noisy - x) - 0.1) < 0.005
    assert gaussian_noise(x, 5.0, np.random.default_rng(0)).max() == 1.0


def test_same_seed_same_noise_and_bad_amounts_refused():
    x = np.random.default_rng(1).random((5, 784)).astype(np.float32)
    np.testing.assert_array_equal(gaussian_noise(x, 0.5, np.random.default_rng(3)),
                                  gaussian_noise(x, 0.5, np.random.default_rng(3)))
    with pytest.raises(ValueError, match="corruption_level"):
        mask_noise(x, 1.5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="noise_factor"):
        gaussian_noise(x, -0.1, np.random.default_rng(0))
