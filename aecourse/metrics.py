"""Numbers that say how well an autoencoder did."""

import numpy as np

__all__ = [
    "mse_per_pixel",
    "psnr",
    "knn_accuracy",
    "normalised_mse",
    "mean_active",
    "dead_fraction",
    "top_activation_purity",
    "class_auroc",
]


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


def _matrix(a, name):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"{name}: expected a non-empty 2-D array (n_examples, n_units), got shape {a.shape}")
    return a


def normalised_mse(activations, reconstructions):
    """Mean squared error of a reconstruction divided by the variance of what it rebuilds.

    The variance is each unit's own (about its mean over the examples), averaged over the
    units: 0 is a perfect reconstruction, 1 is as good as predicting every example by the
    mean activation.

    Parameters
    ----------
    activations, reconstructions : array-like of shape (n_examples, n_units)

    Returns
    -------
    float
    """
    x = _matrix(activations, "activations")
    x_hat = _matrix(reconstructions, "reconstructions")
    if x.shape != x_hat.shape:
        raise ValueError(f"shapes differ: activations {x.shape}, reconstructions {x_hat.shape}")
    variance = np.mean((x - x.mean(axis=0)) ** 2)
    if variance == 0:
        raise ValueError("the activations do not vary: nothing to normalise by")
    return float(np.mean((x - x_hat) ** 2) / variance)


def mean_active(codes):
    """L0 of a code: the mean number of nonzero units per example.

    Parameters
    ----------
    codes : array-like of shape (n_examples, n_units)

    Returns
    -------
    float
    """
    return float(np.mean(np.sum(_matrix(codes, "codes") != 0, axis=1)))


def dead_fraction(codes):
    """Share of the units that are zero on every example (never active).

    Parameters
    ----------
    codes : array-like of shape (n_examples, n_units)

    Returns
    -------
    float
    """
    return float(np.mean(~np.any(_matrix(codes, "codes") > 0, axis=0)))


def top_activation_purity(activations, labels, n=20):
    """Class purity of each unit: the share of the most common class among the ``n``
    examples on which the unit is most active.

    A unit that is active (above 0) on fewer than ``n`` examples has no top ``n`` to read
    and gets NaN; average with ``np.nanmean``.

    Parameters
    ----------
    activations : array-like of shape (n_examples, n_units)
    labels : array-like of int, shape (n_examples,)
        Class labels, 0 or more.
    n : int, default=20

    Returns
    -------
    ndarray of float, shape (n_units,)
        Values in [1/n, 1], NaN for units with too few active examples.
    """
    a = _matrix(activations, "activations")
    labels = np.asarray(labels)
    if labels.shape != (len(a),):
        raise ValueError(f"expected one label per example ({len(a)}), got shape {labels.shape}")
    if not 1 <= n <= len(a):
        raise ValueError(f"n must be between 1 and the number of examples ({len(a)}), got {n}")
    top = np.argsort(-a, axis=0, kind="stable")[:n]  # (n, n_units) example indices
    counts = np.stack([np.bincount(column, minlength=labels.max() + 1) for column in labels[top].T])
    purity = counts.max(axis=1) / n
    purity[np.sum(a > 0, axis=0) < n] = np.nan
    return purity


def class_auroc(activations, labels):
    """One-vs-rest ROC AUC of each unit's activation for each class.

    Entry ``[j, c]`` is the probability that unit ``j`` is more active on a random example
    of class ``c`` than on a random example of another class, ties counting one half (the
    Mann-Whitney statistic). 1 means the unit fires more on every example of the class than
    on any other, 0.5 that its activation does not tell the class from the rest. Unlike the
    purity of a unit's top examples, it reads the unit's whole range and does not depend on
    how many examples are pooled: on a random subset it has the same expected value.

    Parameters
    ----------
    activations : array-like of shape (n_examples, n_units)
    labels : array-like of int, shape (n_examples,)
        Class labels, 0 or more; at least two classes must occur.

    Returns
    -------
    ndarray of float, shape (n_units, n_classes)
        ``n_classes`` is ``labels.max() + 1``. A unit that takes the same value on every
        example (it never fires, say) gets 0.5 for every class, as the ties give; a class
        with no example gets NaN.
    """
    from scipy.stats import rankdata

    a = _matrix(activations, "activations")
    labels = np.asarray(labels)
    if labels.shape != (len(a),):
        raise ValueError(f"expected one label per example ({len(a)}), got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise ValueError("labels must be integers, 0 or more")
    one_hot = np.eye(labels.max() + 1)[labels]  # (n_examples, n_classes)
    positives = one_hot.sum(axis=0)
    negatives = len(a) - positives
    if np.sum(positives > 0) < 2:
        raise ValueError("labels name a single class: an AUC needs two")
    ranks = rankdata(a, axis=0)  # ties get their mean rank
    with np.errstate(divide="ignore", invalid="ignore"):
        auroc = (ranks.T @ one_hot - positives * (positives + 1) / 2) / (positives * negatives)
    auroc[:, positives == 0] = np.nan
    return auroc
