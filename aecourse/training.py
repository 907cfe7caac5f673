"""The training recipe chapter 5 teaches, saved here for the later chapters.

Chapter 5 ("Stacked autoencoders") writes :func:`cosine_adam` in the open and explains
it; every later chapter calls it from here, with the same signature, so that one recipe
serves the whole course. ``tests/test_training.py`` checks that the chapter's copy is
this function, letter for letter.
"""

import math

__all__ = ["cosine_adam"]


def cosine_adam(learning_rate, epochs, n_train, batch_size=128):
    """Adam whose learning rate decays from `learning_rate` to 0 along a cosine.

    The decay spans every step of training: `epochs` passes over `n_train` digits in
    batches of `batch_size`.
    """
    import keras

    steps = epochs * math.ceil(n_train / batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    return keras.optimizers.Adam(learning_rate=schedule)
