"""Figures the chapters share: image grids, latent scatters, training curves.

Every function returns the matplotlib ``Figure`` (or draws on a given ``Axes``)
and gives it a title and labelled axes, so a notebook cell can show it with
one call and the reader always knows what they are looking at.
"""

import math

import numpy as np

__all__ = [
    "PAGE_WIDTH",
    "LABEL_SIZE",
    "plot_image_rows",
    "plot_reconstructions",
    "plot_latent_scatter",
    "plot_history",
]


# The book's article column at a 1280 px window is about 690 px wide; at the
# 100 dpi the notebooks store figures at, a figure up to PAGE_WIDTH inches wide
# is shown at its own size, so a 10 pt label reads as 10 pt. A digit in an image
# grid gets at least DIGIT_WIDTH inches (58 px), at most MAX_COLUMNS to a row.
PAGE_WIDTH = 6.6
DIGIT_WIDTH = 0.58
MAX_COLUMNS = 10
LABEL_SIZE = 10


def _as_images(images, name):
    images = np.asarray(images)
    if images.ndim == 2 and images.shape[1] == 784:
        return images.reshape(-1, 28, 28)
    if images.ndim == 4 and images.shape[-1] == 1:
        return images[..., 0]
    if images.ndim == 3:
        return images
    raise ValueError(
        f"{name}: expected flat 784-pixel vectors, (n, 28, 28) or (n, 28, 28, 1) images, "
        f"got shape {images.shape}"
    )


def plot_image_rows(rows, n=10, title=None, cmap="gray", vmin=0.0, vmax=1.0):
    """Show several sets of images as rows of one grid.

    Parameters
    ----------
    rows : dict of str to array-like
        Row label to images; each array is (n, 784), (n, h, w) or
        (n, h, w, 1). Rows are drawn top to bottom in dict order, each with
        its label above it on the left.
    n : int, default=10
        How many images per row (the first ``n`` of each). At most 10 stand
        side by side, each at least 0.58 inch (58 px in the book) wide; a longer
        row wraps. The figure fits the book's column (``PAGE_WIDTH`` inches),
        so it is shown at its own size and its 10 pt labels read as 10 pt.
    title : str, optional
        Figure title.
    cmap, vmin, vmax :
        Passed to ``imshow``; pass ``vmin=None, vmax=None`` for images that
        are not pixel intensities (codes, feature maps).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("rows is empty: give at least one row of images")
    arrays = {label: _as_images(images, label) for label, images in rows.items()}
    n = min([n] + [len(a) for a in arrays.values()])
    # At most MAX_COLUMNS digits side by side, so each is big enough to read;
    # a longer row continues on the next line of the grid. Each row's label
    # stands above it, on the left, so the digits get the whole width.
    columns = min(n, MAX_COLUMNS)
    lines = math.ceil(n / columns)
    cell = max(DIGIT_WIDTH, min(PAGE_WIDTH / columns, 1.0))
    label_height = 0.24
    top = 0.4 if title else 0.02
    height = len(arrays) * (label_height + lines * cell) + top
    fig, axes = plt.subplots(
        lines * len(arrays), columns, squeeze=False, figsize=(cell * columns, height),
        gridspec_kw={"wspace": 0.05, "hspace": 0.05,
                     "height_ratios": [1.0] * (lines * len(arrays))},
    )
    fig.subplots_adjust(left=0.005, right=0.995, bottom=0.005, top=1 - top / height,
                        hspace=label_height / cell)
    for r, (label, images) in enumerate(arrays.items()):
        for i in range(lines * columns):
            ax = axes[r * lines + i // columns, i % columns]
            ax.set_xticks([])
            ax.set_yticks([])
            if i < n:
                ax.imshow(images[i], cmap=cmap, vmin=vmin, vmax=vmax)
            else:
                ax.axis("off")
        axes[r * lines, 0].set_title(label, loc="left", fontsize=LABEL_SIZE, pad=3)
    if title:
        fig.suptitle(title, fontsize=LABEL_SIZE + 1)
    return fig


def plot_reconstructions(originals, reconstructions, n=10, title="Originals (top) and reconstructions (bottom)"):
    """Originals in the top row, their reconstructions below.

    Parameters
    ----------
    originals, reconstructions : array-like
        Same number of images, flat or 28x28(x1).
    n : int, default=10
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    return plot_image_rows(
        {"original": originals, "reconstruction": reconstructions}, n=n, title=title
    )


def plot_latent_scatter(codes, labels, ax=None, title="2-D codes coloured by digit", xlabel="code 1", ylabel="code 2", max_points=None):
    """Scatter 2-D codes, one colour per digit, with a legend.

    Parameters
    ----------
    codes : array-like of shape (n, 2)
    labels : array-like of shape (n,)
        Integer digit labels 0-9.
    ax : matplotlib.axes.Axes, optional
        Draw here; a new figure is made if omitted.
    title, xlabel, ylabel : str
    max_points : int, optional
        Plot at most this many points (the first ones).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    codes = np.asarray(codes)
    labels = np.asarray(labels)
    if codes.ndim != 2 or codes.shape[1] != 2:
        raise ValueError(f"codes must have shape (n, 2), got {codes.shape}")
    if len(codes) != len(labels):
        raise ValueError(f"{len(codes)} codes but {len(labels)} labels")
    if max_points is not None:
        codes, labels = codes[:max_points], labels[:max_points]
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 5))
    else:
        fig = ax.figure
    cmap = plt.get_cmap("tab10")
    for digit in np.unique(labels):
        sel = labels == digit
        ax.scatter(codes[sel, 0], codes[sel, 1], s=6, alpha=0.7, color=cmap(int(digit) % 10), label=str(digit))
    ax.set_title(title, fontsize=LABEL_SIZE + 1)
    ax.set_xlabel(xlabel, fontsize=LABEL_SIZE)
    ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)
    ax.tick_params(labelsize=LABEL_SIZE)
    ax.legend(title="digit", markerscale=3, fontsize=LABEL_SIZE, title_fontsize=LABEL_SIZE,
              loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def plot_history(history, metrics=("loss",), title="Training curves", ax=None, val_label="validation"):
    """Training (and validation, if present) curves from a Keras ``fit``.

    Parameters
    ----------
    history : keras.callbacks.History or dict of str to list of float
    metrics : sequence of str, default=("loss",)
        Which metrics to draw; ``val_<name>`` is drawn too when recorded.
    title : str
    ax : matplotlib.axes.Axes, optional
    val_label : str, default="validation"
        What the ``val_`` curves are called in the legend: ``"test"`` when ``fit`` was given
        the test digits as ``validation_data``, which are not a validation set.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    record = getattr(history, "history", history)
    if not isinstance(record, dict) or not record:
        raise ValueError("history must be a Keras History or a non-empty dict of lists")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    for name in metrics:
        if name not in record:
            raise KeyError(f"{name!r} was not recorded; have {sorted(record)}")
        epochs = np.arange(1, len(record[name]) + 1)
        ax.plot(epochs, record[name], marker="o", label=f"training {name}")
        if f"val_{name}" in record:
            ax.plot(epochs, record[f"val_{name}"], marker="s", label=f"{val_label} {name}")
    ax.set_title(title, fontsize=LABEL_SIZE + 1)
    ax.set_xlabel("epoch", fontsize=LABEL_SIZE)
    ax.set_ylabel(", ".join(metrics), fontsize=LABEL_SIZE)
    ax.tick_params(labelsize=LABEL_SIZE)
    ax.legend(fontsize=LABEL_SIZE)
    return fig
