"""Quiet TensorFlow import and reproducible seeding.

TensorFlow prints its oneDNN and CPU-feature notices from C++ while it is
imported, before its own logging is configured, so ``TF_CPP_MIN_LOG_LEVEL``
alone does not silence them. Those lines would land in every notebook's
stored stderr and make nbval comparisons machine-dependent. We point file
descriptor 2 at ``/dev/null`` only for the duration of the import and then
restore it, so errors raised later still reach the reader.
"""

import os
import random
import sys

__all__ = ["import_tensorflow", "seed_everything", "offset_seed", "env_flag", "limit_math_threads", "gpu_visible"]


def limit_math_threads():
    """Run NumPy's, SciPy's and scikit-learn's math (OpenBLAS, OpenMP) on one thread.

    Called when :mod:`aecourse` is imported. Those libraries' worker threads wait for
    work by spinning, so on a 2-core machine that is doing anything else (TensorFlow's
    own threads, a second notebook, a test run on both cores) a threaded PCA of our
    4,000 digits was measured at 5-7 s where one thread takes 0.5-0.8 s. One thread also
    makes their results the same on every machine, whatever its number of cores.
    TensorFlow has thread pools of its own and is not affected.
    """
    import numpy  # noqa: F401  (load each library first: only loaded ones are limited)
    import scipy.linalg  # noqa: F401
    import sklearn.utils  # noqa: F401  (its OpenMP runtime)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    threadpool_limits(limits=1, user_api="openmp")


def import_tensorflow():
    """Import TensorFlow without its start-up notices and return the module.

    Later C++ log lines below ERROR+1 (level 3) are silenced through
    ``TF_CPP_MIN_LOG_LEVEL`` unless the caller has set that variable already.
    Python-level exceptions are unaffected.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    try:
        saved_fd = os.dup(2)
    except OSError:  # no stderr at all (some embedded runners)
        import tensorflow

        return tensorflow
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow
    finally:
        os.dup2(saved_fd, 2)
        os.close(saved_fd)
        os.close(devnull)
    return tensorflow


def seed_everything(seed=0, *, deterministic=True):
    """Seed Python, NumPy, TensorFlow and Keras, and turn on op determinism.

    Parameters
    ----------
    seed : int, default=0
        The seed for every random number generator.
    deterministic : bool, default=True
        Also call ``tf.config.experimental.enable_op_determinism()`` so that
        a re-run of a seeded notebook gives the same numbers. Not where TensorFlow
        sees a GPU (a Colab GPU runtime): there determinism makes an op without a
        deterministic GPU kernel raise, which would stop a chapter; a re-run there
        moves in the last digits, as on another CPU.

    Returns
    -------
    int
        The seed that was set.

    Notes
    -----
    The environment variable ``AECOURSE_SEED_OFFSET`` (an int, default 0) is added to every
    seed. A run with another offset trains every model from other random numbers;
    ``python -m aecourse.report --out DIR`` with an offset shows how far each printed result
    moves and whether each lesson check still holds. That is a harder test than another CPU,
    whose other rounding moved results far less when measured (see tests/nbval_tolerance.py).
    """
    seed = offset_seed(seed)
    tf = import_tensorflow()
    import keras
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    if deterministic and not gpu_visible():
        tf.config.experimental.enable_op_determinism()
    return seed


def offset_seed(seed):
    """``seed`` plus the seed offset ``AECOURSE_SEED_OFFSET`` (default 0), both checked."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    offset = os.environ.get("AECOURSE_SEED_OFFSET", "0")
    if not offset.isdigit():
        raise ValueError(f"AECOURSE_SEED_OFFSET must be a non-negative whole number, got {offset!r}")
    return seed + int(offset)


def env_flag(name):
    """Whether the environment variable ``name`` is set to anything but empty or 0."""
    return os.environ.get(name, "") not in ("", "0")


def gpu_visible():
    """Whether TensorFlow can use a GPU here (never with the CPU-only build, which is not asked)."""
    tf = import_tensorflow()
    return tf.test.is_built_with_gpu_support() and bool(tf.config.list_physical_devices("GPU"))
