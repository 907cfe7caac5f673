"""Numbers that say how well an autoencoder did."""

import numpy as np

__all__ = ["mse_per_pixel", "psnr", "knn_accuracy"]


def _paired(x, x_hat):
    """Both arrays as float64 of shape (n_images, n_pixels), checked."""
    x = np.asarray(x, dtype=np.float64)
    x_hat = np.asarray(x_hat, dtype=np.float64)
    if x.shape != x_hat.shape:
        raise ValueError(f"shapes differ: originals {x.shape}, reconstructions {x_hat.shape}")
    if x.size == 0:
        raise ValueError("no images given")
    if x.ndim == 1:  # a single flat image
        x, x_hat = x[None], x_hat[None]
    return x.reshape(len(x), -1), x_hat.reshape(len(x_hat), -1)


def mse_per_pixel(x, x_hat):
    """Mean squared error per pixel over all images.

    Parameters
    ----------
    x, x_hat : array-like of shape (n, ...)
        Originals and reconstructions, same shape, values in [0, 1].

    Returns
    -------
    float
    """
    x, x_hat = _paired(x, x_hat)
    return float(np.mean((x - x_hat) ** 2))


def psnr(x, x_hat, data_range=1.0):
    """Peak signal-to-noise ratio in dB, computed per image and averaged.

    ``PSNR = 10 log10(data_range**2 / MSE)``; an image reconstructed exactly
    is capped at 100 dB so the mean stays finite.

    Parameters
    ----------
    x, x_hat : array-like of shape (n, ...)
        Clean images and their estimate, same shape.
    data_range : float, default=1.0
        The largest possible pixel value minus the smallest.

    Returns
    -------
    float
    """
    x, x_hat = _paired(x, x_hat)
    mse = np.mean((x - x_hat) ** 2, axis=1)
    with np.errstate(divide="ignore"):
        per_image = 10.0 * np.log10(data_range**2 / mse)
    return float(np.mean(np.minimum(per_image, 100.0)))


def knn_accuracy(codes_train, y_train, codes_test, y_test, k=5):
    """Accuracy of a k-nearest-neighbour classifier fitted on codes.

    A probe of how well a code separates the digits: fit k-NN on the
    training codes and their labels, score it on the test codes.

    Parameters
    ----------
    codes_train : array-like of shape (n_train, d)
    y_train : array-like of shape (n_train,)
    codes_test : array-like of shape (n_test, d)
    y_test : array-like of shape (n_test,)
    k : int, default=5

    Returns
    -------
    float
        Fraction of test codes classified correctly, in [0, 1].
    """
    from sklearn.neighbors import KNeighborsClassifier

    codes_train = np.asarray(codes_train).reshape(len(codes_train), -1)
    codes_test = np.asarray(codes_test).reshape(len(codes_test), -1)
    if len(codes_train) != len(y_train) or len(codes_test) != len(y_test):
        raise ValueError("each set of codes needs exactly one label per code")
    if codes_train.shape[1] != codes_test.shape[1]:
        raise ValueError(
            f"train codes have {codes_train.shape[1]} numbers, test codes {codes_test.shape[1]}"
        )
    clf = KNeighborsClassifier(n_neighbors=k).fit(codes_train, y_train)
    return float(clf.score(codes_test, y_test))
