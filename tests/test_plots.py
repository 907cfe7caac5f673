import io
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from aecourse.animations import LatentWalk, grid_path, latent_walk, latent_walk_widget, line_path  # noqa: E402
from aecourse.plots import plot_history, plot_image_rows, plot_latent_scatter, plot_reconstructions  # noqa: E402

COLUMN_PX = 688  # the book's article column at a 1280 px window
STORED_DPI = 100  # the inline backend's figure resolution in the stored notebooks


def as_shown_in_the_book(fig):
    """(scale, figure width in px): how much the book shrinks the stored PNG to fit its column."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=STORED_DPI, bbox_inches="tight")
    width = plt.imread(io.BytesIO(buffer.getvalue())).shape[1]
    return min(1.0, COLUMN_PX / width), width


def row_label(ax):
    return ax.get_title(loc="left")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_reconstruction_grid_has_originals_above_reconstructions():
    x = np.random.default_rng(0).random((12, 784))
    fig = plot_reconstructions(x, 1 - x, n=5)
    axes = np.array(fig.axes).reshape(2, 5)
    assert row_label(axes[0, 0]) == "original"
    assert row_label(axes[1, 0]) == "reconstruction"
    np.testing.assert_allclose(axes[0, 3].images[0].get_array(), x[3].reshape(28, 28))
    np.testing.assert_allclose(axes[1, 3].images[0].get_array(), 1 - x[3].reshape(28, 28))
    assert fig._suptitle.get_text().startswith("Originals")


def test_image_rows_accept_all_image_layouts_and_clip_n():
    flat = np.zeros((3, 784))
    fig = plot_image_rows({"flat": flat, "square": np.zeros((4, 28, 28)), "channel": np.zeros((5, 28, 28, 1))}, n=10)
    assert len(fig.axes) == 3 * 3  # n is cut to the shortest row
    with pytest.raises(ValueError, match="got shape"):
        plot_image_rows({"bad": np.zeros((3, 10))})
    with pytest.raises(ValueError, match="rows is empty"):
        plot_image_rows({})


def test_latent_scatter_colours_each_digit_with_legend():
    rng = np.random.default_rng(0)
    codes, labels = rng.normal(size=(200, 2)), np.arange(200) % 10
    fig = plot_latent_scatter(codes, labels, title="codes")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [str(d) for d in range(10)]
    assert len(ax.collections) == 10
    assert ax.get_title() == "codes" and ax.get_xlabel() and ax.get_ylabel()


def test_latent_scatter_refuses_wrong_shapes():
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        plot_latent_scatter(np.zeros((5, 3)), np.zeros(5))
    with pytest.raises(ValueError, match="5 codes but 4 labels"):
        plot_latent_scatter(np.zeros((5, 2)), np.zeros(4))


def test_history_draws_training_and_validation_curves():
    fig = plot_history({"loss": [3.0, 2.0, 1.0], "val_loss": [3.5, 2.5, 2.0]})
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["training loss", "validation loss"]
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1, 2, 3])
    assert ax.get_xlabel() == "epoch"
    with pytest.raises(KeyError, match="'mse' was not recorded"):
        plot_history({"loss": [1.0]}, metrics=("mse",))
    # test digits passed as validation_data are named for what they are (chapter 4)
    fig = plot_history({"loss": [3.0, 2.0], "val_loss": [3.5, 2.5]}, val_label="test")
    assert [line.get_label() for line in fig.axes[0].lines] == ["training loss", "test loss"]


@pytest.mark.parametrize("labels", [("original", "reconstruction"), ("code (10 × 10)", "a long row label, PCA 32")])
@pytest.mark.parametrize("n", [3, 10, 25])
def test_digits_and_labels_are_big_enough_to_read_in_the_book(labels, n):
    rows = {label: np.zeros((n, 784)) for label in labels}
    fig = plot_image_rows(rows, n=n, title="A title")
    fig.canvas.draw()
    scale, width = as_shown_in_the_book(fig)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == len(labels) * n
    for ax in shown:
        assert ax.get_window_extent().width / fig.dpi * STORED_DPI * scale >= 56, (n, width)
    label_sizes = [ax.title._fontproperties.get_size_in_points() for ax in fig.axes if row_label(ax)]
    assert len(label_sizes) == len(labels)
    assert min(label_sizes) * scale >= 10
    assert fig._suptitle.get_fontsize() * scale >= 10


def test_the_size_check_catches_a_grid_shrunk_to_fit():
    # Twenty digits side by side in one 1.1-inch-per-digit row, as the grids were
    # drawn before: the book shrinks the picture and each digit is far below 56 px.
    fig, axes = plt.subplots(1, 20, figsize=(22, 1.3))
    scale, _ = as_shown_in_the_book(fig)
    assert axes[0].get_window_extent().width / fig.dpi * STORED_DPI * scale < 56


def test_curves_and_scatter_labels_are_at_least_10_pt():
    for fig in (plot_history({"loss": [2.0, 1.0]}),
                plot_latent_scatter(np.zeros((20, 2)), np.arange(20) % 10)):
        ax = fig.axes[0]
        scale, _ = as_shown_in_the_book(fig)
        for text in (ax.title, ax.xaxis.label, ax.yaxis.label, *ax.get_xticklabels(),
                     *ax.get_legend().get_texts()):
            assert text.get_fontsize() * scale >= 10, text.get_text()


def fake_decoder(codes):
    """A decoder with no training: the image's brightness is the first code number."""
    codes = np.asarray(codes)
    return np.clip(np.repeat(codes[:, :1], 784, axis=1), 0.0, 1.0)


class FakeKerasDecoder:
    """Something with a Keras-like predict, to check the walk calls it."""

    def __init__(self):
        self.calls = []

    def predict(self, codes, verbose=0):
        self.calls.append((codes.shape, verbose))
        return fake_decoder(codes).reshape(-1, 28, 28, 1)


def test_line_path_runs_from_start_to_end():
    path = line_path([0.0, 1.0], [1.0, -1.0], steps=5)
    assert path.shape == (5, 2) and path.dtype == np.float32
    np.testing.assert_allclose(path[0], [0.0, 1.0])
    np.testing.assert_allclose(path[-1], [1.0, -1.0])
    np.testing.assert_allclose(path[2], [0.5, 0.0])
    with pytest.raises(ValueError, match="start has 2 numbers but end has 3"):
        line_path([0, 0], [1, 1, 1])


def test_grid_path_visits_every_point_moving_to_neighbours():
    path = grid_path((-1, -1), (1, 1), steps=3)
    assert path.shape == (9, 2)
    assert len({tuple(p) for p in path.tolist()}) == 9
    assert np.all(np.abs(np.diff(path, axis=0)).sum(axis=1) <= 1.0 + 1e-6)


def test_interpolation_animation_has_one_frame_per_code_and_a_slider():
    walk = latent_walk(fake_decoder, line_path([0.0] * 4, [1.0] * 4, steps=6), title="From a 0 to a 1")
    assert isinstance(walk, LatentWalk) and len(walk.images) == 6
    np.testing.assert_allclose(walk.images[0], 0.0)
    np.testing.assert_allclose(walk.images[-1], 1.0)
    html = walk._repr_html_()
    assert html.count("data:image/png;base64") == 6
    assert 'type="range"' in html  # the slider
    # nothing is loaded from outside the page (matplotlib's player links Font Awesome from a CDN)
    assert "https://" not in html and "font-awesome" not in html and 'class="fa ' not in html
    assert "&#x25B6;" in html  # the play button is still labelled
    # Every button label is ASCII or a Geometric Shapes character (U+25A0-U+25FF), which
    # common fonts have; U+23EE, U+23F8 and U+23ED drew as empty boxes.
    entities = {int(code, 16) for code in re.findall(r"&#x([0-9A-Fa-f]+);", html)}
    assert all(0x25A0 <= code <= 0x25FF for code in entities), sorted(map(hex, entities))
    assert repr(walk) == "<LatentWalk: 6 frames>"  # the stored text/plain stays stable
    assert not plt.get_fignums(), "the still figure must not be shown besides the animation"


def test_walk_over_a_2d_latent_space_uses_predict_and_marks_the_position():
    decoder = FakeKerasDecoder()
    codes = np.random.default_rng(0).normal(size=(50, 2))
    walk = latent_walk(decoder, grid_path((-1, -1), (1, 1), steps=3), scatter=codes, labels=np.arange(50) % 10)
    assert decoder.calls == [((9, 2), 0)]
    assert walk._repr_html_().count("data:image/png;base64") == 9
    with pytest.raises(ValueError, match="needs a 2-D latent space"):
        latent_walk(fake_decoder, line_path([0, 0, 0], [1, 1, 1]), scatter=codes)


def test_the_widget_decodes_on_demand():
    ipywidgets = pytest.importorskip("ipywidgets")
    widget = latent_walk_widget(fake_decoder, line_path([0.0, 0.0], [1.0, 1.0], steps=4))
    assert isinstance(widget, ipywidgets.interactive)
    slider = widget.children[0]
    assert (slider.min, slider.max) == (0, 3)
