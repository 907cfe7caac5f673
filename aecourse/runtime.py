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

__all__ = ["import_tensorflow", "seed_everything"]


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
        a re-run of a seeded notebook gives the same numbers.

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
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    offset = os.environ.get("AECOURSE_SEED_OFFSET", "0")
    if not offset.isdigit():
        raise ValueError(f"AECOURSE_SEED_OFFSET must be a non-negative whole number, got {offset!r}")
    seed += int(offset)
    tf = import_tensorflow()
    import keras
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    return seed
