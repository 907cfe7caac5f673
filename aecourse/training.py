"""The training recipe chapter 5 teaches, saved here for the later chapters, and a progress display.

Chapter 5 ("Stacked autoencoders") writes :func:`cosine_adam` in the open and explains
it; every later chapter calls it from here, with the same signature, so that one recipe
serves the whole course. ``tests/test_training.py`` checks that the chapter's copy is
this function, letter for letter.
"""

import math
import sys
import time

__all__ = ["cosine_adam", "progress"]


def cosine_adam(learning_rate, epochs, n_train, batch_size=128):
    """Adam whose learning rate decays from `learning_rate` to 0 along a cosine.

    The decay spans every step of training: `epochs` passes over `n_train` digits in
    batches of `batch_size`.
    """
    import keras

    steps = epochs * math.ceil(n_train / batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    return keras.optimizers.Adam(learning_rate=schedule)


def progress(epochs, label="training"):
    """A Keras callback that shows a training run's progress in the notebook: epoch, loss, time left.

    Pass it to ``fit(..., callbacks=[progress(epochs)])``. For a loop that calls ``fit``
    once per epoch, make it once before the loop and pass the same object to every call:
    it counts the epochs itself. It writes one line, updated in place (JupyterLab, Colab,
    or a terminal), and leaves a last line with the time taken. It shows nothing when
    ``AECOURSE_QUIET`` is set, as the tests and ``python -m aecourse.report`` do, so the
    stored outputs and the built book do not depend on it.
    """
    import keras

    from .runtime import env_flag

    class Progress(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.done, self.start, self.shown_at, self.handle = 0, None, 0.0, None
            self.quiet = env_flag("AECOURSE_QUIET")

        def on_epoch_begin(self, epoch, logs=None):
            if self.start is None:
                self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.done += 1
            elapsed = time.perf_counter() - self.start
            losses = ", ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items() if "loss" in k)
            if self.done >= epochs:
                text = f"{label}: {self.done} epochs in {elapsed:.0f} s" + (f"; {losses}" if losses else "")
            else:
                left = elapsed / self.done * (epochs - self.done)
                text = f"{label}: epoch {self.done}/{epochs}" + (f", {losses}" if losses else "")
                text += f", about {left:.0f} s left"
            if self.done >= epochs or elapsed - self.shown_at >= 0.5:
                self.shown_at = elapsed
                self.show(text)

        def show(self, text):
            if self.quiet:
                return
            try:
                from IPython import get_ipython
                from IPython.display import Pretty, display

                in_kernel = get_ipython() is not None and hasattr(get_ipython(), "kernel")
            except ImportError:
                in_kernel = False
            if not in_kernel:
                end = "\n" if self.done >= epochs else ""
                print("\r" + text, end=end, file=sys.stderr, flush=True)
            elif self.handle is None:
                self.handle = display(Pretty(text), display_id=True)
            else:
                self.handle.update(Pretty(text))

    return Progress()
