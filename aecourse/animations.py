"""Walks through a latent space, as animations that play in the static book.

A decoder turns each code along a path into a digit; the frames become a
matplotlib animation with a slider and play/pause buttons
(``FuncAnimation.to_jshtml``), plain HTML and JavaScript that works in the built
book, with no kernel, and in JupyterLab. In a live JupyterLab session with
ipywidgets installed, :func:`latent_walk_widget` gives the same walk as a
slider that decodes each code when it is chosen.

The frames are decoded once, by the decoder's ``predict`` (or by calling it),
so any callable that maps codes of shape (n, d) to images of shape (n, 784),
(n, 28, 28) or (n, 28, 28, 1) will do: a Keras model, or a small function in
the tests.
"""

import re

import numpy as np

from .plots import LABEL_SIZE, _as_images

__all__ = ["line_path", "grid_path", "decode", "LatentWalk", "latent_walk", "latent_walk_widget"]


def line_path(start, end, steps=21):
    """``steps`` codes evenly spaced from ``start`` to ``end``, both included.

    Returns
    -------
    ndarray of shape (steps, d), float32
    """
    start = np.asarray(start, dtype=np.float32).ravel()
    end = np.asarray(end, dtype=np.float32).ravel()
    if start.shape != end.shape:
        raise ValueError(f"start has {start.size} numbers but end has {end.size}")
    if steps < 2:
        raise ValueError(f"steps must be at least 2, got {steps}")
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return (1 - t) * start + t * end


def grid_path(low, high, steps=7):
    """A back-and-forth walk over a ``steps`` x ``steps`` grid of 2-D codes.

    Row by row, left to right then right to left, so consecutive codes are
    neighbours. ``low`` and ``high`` are the (x, y) corners.

    Returns
    -------
    ndarray of shape (steps * steps, 2), float32
    """
    (x0, y0), (x1, y1) = low, high
    xs = np.linspace(x0, x1, steps, dtype=np.float32)
    path = []
    for row, y in enumerate(np.linspace(y1, y0, steps, dtype=np.float32)):
        for x in xs if row % 2 == 0 else xs[::-1]:
            path.append((x, y))
    return np.array(path, dtype=np.float32)


def decode(decoder, codes):
    """Images of ``codes`` by ``decoder``, as (n, 28, 28) float arrays."""
    codes = np.asarray(codes, dtype=np.float32)
    if codes.ndim != 2:
        raise ValueError(f"codes must have shape (n, d), got {codes.shape}")
    predict = getattr(decoder, "predict", None)
    images = predict(codes, verbose=0) if predict is not None else decoder(codes)
    images = _as_images(np.asarray(images), "decoded images")
    if len(images) != len(codes):
        raise ValueError(f"the decoder gave {len(images)} images for {len(codes)} codes")
    return images


_FONT_AWESOME_LINK = re.compile(r"<link[^>]*font-awesome[^>]*>\s*")
# Characters from ASCII and the Geometric Shapes block (U+25A0-U+25FF), which the common
# fonts have; the media symbols of U+23E9-U+23FA drew as empty boxes in fonts without them.
_BUTTON_SYMBOLS = {
    "fa-minus": "&minus;", "fa-plus": "+", "fa-fast-backward": "|&#x25C0;", "fa-step-backward": "&#x25C1;",
    "fa-play fa-flip-horizontal": "&#x25C0;", "fa-pause": "||", "fa-play": "&#x25B6;",
    "fa-step-forward": "&#x25B7;", "fa-fast-forward": "&#x25B6;|",
}


class LatentWalk:
    """The frames of a walk and the animation that shows them.

    Shown in a notebook, it is an animation with a slider (HTML and JavaScript,
    no kernel needed). ``animation`` is the matplotlib ``FuncAnimation``.
    """

    def __init__(self, codes, images, animation):
        self.codes, self.images, self.animation = codes, images, animation
        self._html = None

    def to_html(self):
        """The animation as a self-contained HTML snippet with a slider.

        matplotlib's player draws its buttons with Font Awesome icons loaded from
        a CDN; the book must work offline, so the link goes and each icon becomes
        a character that every font has.
        """
        if self._html is None:
            html = _FONT_AWESOME_LINK.sub("", self.animation.to_jshtml(default_mode="once"))
            for icon, symbol in _BUTTON_SYMBOLS.items():
                html = html.replace(f'<i class="fa {icon}"></i>', symbol)
            self._html = html
        return self._html

    def _repr_html_(self):
        return self.to_html()

    def __repr__(self):
        return f"<LatentWalk: {len(self.images)} frames>"


def _class_legend(fig, classes, cmap):
    """One row under the figure: a dot in each class's colour and its digit."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], ls="", marker="o", ms=6, color=cmap(int(c) % 10), label=str(c))
               for c in classes]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=LABEL_SIZE,
               title="digit", title_fontsize=LABEL_SIZE, handletextpad=0.1, columnspacing=0.8,
               frameon=False, bbox_to_anchor=(0.5, 0.0))


def latent_walk(decoder, codes, title="Walking through the latent space", scatter=None,
                labels=None, interval=150):
    """Decode every code of a path and animate the digits, with a slider.

    Parameters
    ----------
    decoder : keras.Model or callable
        Maps codes (n, d) to images (n, 784), (n, 28, 28) or (n, 28, 28, 1).
    codes : array-like of shape (steps, d)
        The path, for example :func:`line_path` between the codes of two
        digits, or :func:`grid_path` over a 2-D latent space.
    title : str
    scatter : array-like of shape (n, 2), optional
        For a 2-D latent space: codes of real digits, drawn beside the decoded
        digit with a marker where the walk is (coloured by ``labels``).
    labels : array-like of shape (n,), optional
    interval : int, default=150
        Milliseconds per frame.

    Returns
    -------
    LatentWalk
        Shows as the animation in a notebook and in the book.
    """
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation

    codes = np.asarray(codes, dtype=np.float32)
    images = decode(decoder, codes)
    if scatter is not None and codes.shape[1] != 2:
        raise ValueError(f"scatter needs a 2-D latent space; the codes have {codes.shape[1]} numbers")
    if scatter is not None:
        height = 3.2 if labels is None else 3.7  # and a row for the class legend
        fig, (map_ax, ax) = plt.subplots(1, 2, figsize=(6.4, height), width_ratios=(1.25, 1), dpi=80)
        scatter = np.asarray(scatter)
        colours = None if labels is None else plt.get_cmap("tab10")(np.asarray(labels) % 10)
        map_ax.scatter(scatter[:, 0], scatter[:, 1], s=3, alpha=0.5, c=colours)
        if labels is not None:  # the classes' colours, as in plots.plot_latent_scatter
            _class_legend(fig, np.unique(np.asarray(labels)), plt.get_cmap("tab10"))
        map_ax.plot(codes[:, 0], codes[:, 1], color="black", lw=0.8, alpha=0.6)
        (marker,) = map_ax.plot(*codes[0], "o", ms=9, mfc="none", mec="red", mew=2)
        map_ax.set_title("where the walk is", fontsize=LABEL_SIZE)
        map_ax.set_xlabel("code 1", fontsize=LABEL_SIZE)
        map_ax.set_ylabel("code 2", fontsize=LABEL_SIZE)
        map_ax.tick_params(labelsize=LABEL_SIZE)
    else:
        fig, ax = plt.subplots(figsize=(3.2, 3.4), dpi=80)
        marker = None
    shown = ax.imshow(images[0], cmap="gray", vmin=0.0, vmax=1.0)
    ax.set_xticks([])
    ax.set_yticks([])
    caption = ax.set_title("", fontsize=LABEL_SIZE)
    fig.suptitle(title, fontsize=LABEL_SIZE + 1)
    # leave the bottom strip to the class legend, when there is one
    fig.tight_layout(rect=(0, 0.13 if fig.legends else 0, 1, 1))

    def step(i):
        shown.set_data(images[i])
        caption.set_text(f"step {i + 1} of {len(images)}: z = "
                         + ", ".join(f"{v:.2f}" for v in codes[i][:3])
                         + (", ..." if codes.shape[1] > 3 else ""))
        if marker is not None:
            marker.set_data([codes[i, 0]], [codes[i, 1]])
        return (shown, caption) if marker is None else (shown, caption, marker)

    animation = FuncAnimation(fig, step, frames=len(images), interval=interval, blit=False)
    walk = LatentWalk(codes, images, animation)
    walk.to_html()
    plt.close(fig)  # the animation is the output, not a still of its first frame
    return walk


def latent_walk_widget(decoder, codes, title="Walking through the latent space"):
    """The same walk with an ipywidgets slider that decodes each code on demand.

    For a live JupyterLab session; a static page has no kernel to decode, so
    use :func:`latent_walk` for the book. Without ipywidgets installed this
    returns :func:`latent_walk`'s animation instead.
    """
    try:
        import ipywidgets
    except ImportError:
        return latent_walk(decoder, codes, title=title)
    import matplotlib.pyplot as plt

    codes = np.asarray(codes, dtype=np.float32)

    def show(step):
        image = decode(decoder, codes[step:step + 1])[0]
        fig, ax = plt.subplots(figsize=(3, 3))
        ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{title}\nstep {step + 1} of {len(codes)}", fontsize=LABEL_SIZE)
        plt.show()

    slider = ipywidgets.IntSlider(min=0, max=len(codes) - 1, value=0, description="step")
    return ipywidgets.interactive(show, step=slider)
