"""Corruptions for denoising autoencoders.

The denoising chapter writes these two functions out as part of its lesson; later
chapters and the exercises import them from here (the d2l habit: a helper is
written once, in the chapter that teaches it, and reused).
"""

import numpy as np

__all__ = ["mask_noise", "gaussian_noise"]


def mask_noise(x, corruption_level, rng):
    """Masking noise: keep each pixel with probability ``1 - corruption_level``, zero the rest.

    Parameters
    ----------
    x : array-like of float, any shape
        Images with values in [0, 1].
    corruption_level : float in [0, 1]
        Share of pixels set to 0 (0.3 in the denoising chapter).
    rng : numpy.random.Generator
        Source of randomness, e.g. ``np.random.default_rng(0)``.

    Returns
    -------
    numpy.ndarray of float32, same shape as ``x``
    """
    if not 0.0 <= corruption_level <= 1.0:
        raise ValueError(f"corruption_level must be in [0, 1], got {corruption_level}")
    x = np.asarray(x, dtype=np.float32)
    keep = rng.random(x.shape) >= corruption_level
    return x * keep.astype(np.float32)


def gaussian_noise(x, noise_factor, rng):
    """Additive Gaussian noise: ``clip(x + noise_factor * N(0, 1), 0, 1)``.

    Parameters
    ----------
    x : array-like of float, any shape
        Images with values in [0, 1].
    noise_factor : float >= 0
        Standard deviation of the noise (0.5 in the denoising chapter).
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray of float32, same shape as ``x``, values in [0, 1]
    """
    if noise_factor < 0:
        raise ValueError(f"noise_factor must be non-negative, got {noise_factor}")
    x = np.asarray(x, dtype=np.float32)
    noisy = x + noise_factor * rng.standard_normal(x.shape, dtype=np.float32)
    return np.clip(noisy, 0.0, 1.0)
