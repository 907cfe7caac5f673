import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from aecourse.plots import plot_history, plot_image_rows, plot_latent_scatter, plot_reconstructions  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_reconstruction_grid_has_originals_above_reconstructions():
    x = np.random.default_rng(0).random((12, 784))
    fig = plot_reconstructions(x, 1 - x, n=5)
    axes = np.array(fig.axes).reshape(2, 5)
    assert axes[0, 0].get_ylabel() == "original"
    assert axes[1, 0].get_ylabel() == "reconstruction"
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
