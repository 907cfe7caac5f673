import numpy as np
import pytest

from aecourse.metrics import (
    class_auroc,
    dead_fraction,
    knn_accuracy,
    mean_active,
    mse_per_pixel,
    normalised_mse,
    psnr,
    top_activation_purity,
)


def test_mse_per_pixel_known_value():
    x = np.zeros((2, 4))
    x_hat = np.array([[0.0, 0.0, 0.0, 1.0], [0.5, 0.5, 0.5, 0.5]])
    # squared errors sum to 1 + 4 * 0.25 = 2 over 8 pixels
    assert mse_per_pixel(x, x_hat) == pytest.approx(0.25)


def test_mse_accepts_images_and_flat_vectors_alike():
    rng = np.random.default_rng(0)
    x, x_hat = rng.random((3, 28, 28, 1)), rng.random((3, 28, 28, 1))
    assert mse_per_pixel(x, x_hat) == pytest.approx(mse_per_pixel(x.reshape(3, -1), x_hat.reshape(3, -1)))


def test_psnr_known_value_and_cap():
    x = np.zeros((1, 100))
    assert psnr(x, np.full((1, 100), 0.1)) == pytest.approx(20.0)  # MSE 0.01 -> 20 dB
    assert psnr(x, x) == 100.0


def test_psnr_is_mean_of_per_image_values():
    x = np.zeros((2, 100))
    x_hat = np.stack([np.full(100, 0.1), np.full(100, 0.01)])  # 20 dB and 40 dB
    assert psnr(x, x_hat) == pytest.approx(30.0)


def test_shape_mismatch_and_empty_input_are_refused():
    with pytest.raises(ValueError, match="shapes differ"):
        mse_per_pixel(np.zeros((2, 784)), np.zeros((2, 28, 28)))
    with pytest.raises(ValueError, match="no images"):
        psnr(np.zeros((0, 784)), np.zeros((0, 784)))


def test_knn_accuracy_on_separated_and_mixed_codes():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 50)
    separated = rng.normal(size=(100, 2)) * 0.1 + y[:, None] * 10
    assert knn_accuracy(separated, y, separated + 0.01, y) == 1.0
    flipped = 1 - y
    assert knn_accuracy(separated, y, separated, flipped) == 0.0


def test_knn_accuracy_checks_its_inputs():
    with pytest.raises(ValueError, match="one label per code"):
        knn_accuracy(np.zeros((5, 2)), np.zeros(4), np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="train codes have 2 numbers, test codes 3"):
        knn_accuracy(np.zeros((5, 2)), np.zeros(5), np.zeros((3, 3)), np.zeros(3))


def test_normalised_mse_divides_by_each_units_variance_about_its_mean():
    # two units with very different means: each varies by +-1 about its own mean
    x = np.array([[0.0, 10.0], [2.0, 12.0]])
    assert normalised_mse(x, x) == 0.0
    assert normalised_mse(x, np.tile(x.mean(axis=0), (2, 1))) == pytest.approx(1.0)
    # an error of 0.5 everywhere is a quarter of the variance 1, whatever the means
    assert normalised_mse(x, x + 0.5) == pytest.approx(0.25)
    # np.var of all entries would include the spread between the units' means (26)
    assert normalised_mse(x, x + 0.5) != pytest.approx(0.25 / np.var(x))


def test_normalised_mse_refuses_constant_activations_and_mismatched_shapes():
    with pytest.raises(ValueError, match="do not vary"):
        normalised_mse(np.ones((3, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="shapes differ"):
        normalised_mse(np.zeros((3, 2)), np.zeros((2, 3)))


def test_mean_active_and_dead_fraction_count_units():
    codes = np.array([[0.0, 1.5, 0.0, 0.0], [0.0, 0.2, 3.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    assert mean_active(codes) == pytest.approx(1.0)  # 1 + 2 + 0 active units over 3 rows
    assert dead_fraction(codes) == pytest.approx(0.5)  # units 0 and 3 never fire
    with pytest.raises(ValueError, match="2-D"):
        dead_fraction(np.zeros(4))


def test_top_activation_purity_reads_only_the_top_n_and_takes_the_majority_share():
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    activations = np.zeros((8, 3))
    activations[:, 0] = [9, 8, 7, 1, 1, 1, 1, 1]  # top 3 are all class 0; all 8: share 3/8
    activations[:, 1] = [5, 1, 1, 6, 7, 1, 1, 1]  # top 3: classes 1, 1, 0
    activations[:, 2] = [0, 0, 0, 0, 0, 0, 1, 2]  # active on 2 examples only
    purity = top_activation_purity(activations, labels, n=3)
    assert purity[0] == pytest.approx(1.0)
    assert purity[1] == pytest.approx(2 / 3)
    assert np.isnan(purity[2])
    assert top_activation_purity(activations, labels, n=2)[2] == pytest.approx(1.0)


def test_top_activation_purity_checks_its_inputs():
    with pytest.raises(ValueError, match="one label per example"):
        top_activation_purity(np.ones((4, 2)), np.zeros(3, dtype=int), n=2)
    with pytest.raises(ValueError, match="n must be between 1"):
        top_activation_purity(np.ones((4, 2)), np.zeros(4, dtype=int), n=5)


def test_class_auroc_is_1_for_a_unit_of_one_class_and_about_half_for_a_random_one():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 200)
    activations = np.zeros((2000, 4))
    activations[labels == 3, 0] = rng.uniform(1, 2, 200)  # fires only, and always, for 3s
    activations[:, 1] = rng.normal(size=2000)  # knows nothing of the class
    activations[labels == 7, 2] = rng.uniform(1, 2, 200)
    activations[np.flatnonzero(labels == 7)[:100], 2] = 0  # half of the 7s only: AUC 0.75
    auroc = class_auroc(activations, labels)
    assert auroc.shape == (4, 10)
    assert auroc[0, 3] == pytest.approx(1.0)
    assert auroc[0, 5] == pytest.approx((0.5 * 1600 + 0 * 200) / 1800)  # ties count half
    assert np.all(np.abs(auroc[1] - 0.5) < 0.06)
    assert auroc[2, 7] == pytest.approx(0.75)
    assert np.all(auroc[3] == 0.5)  # never fires: all ties, it tells nothing
    # the same statistic as scikit-learn's, on a unit with ties
    from sklearn.metrics import roc_auc_score

    assert auroc[2, 7] == pytest.approx(roc_auc_score(labels == 7, activations[:, 2]))


def test_class_auroc_does_not_move_with_the_pool_where_top_purity_does():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(10), 500)
    rng.shuffle(labels)
    activations = rng.normal(size=(5000, 20)) + (labels[:, None] == np.arange(20) % 10)
    small, large = class_auroc(activations[:500], labels[:500]), class_auroc(activations, labels)
    assert np.abs(small.max(axis=1).mean() - large.max(axis=1).mean()) < 0.02
    purity_small = top_activation_purity(activations[:500], labels[:500], n=20).mean()
    purity_large = top_activation_purity(activations, labels, n=20).mean()
    assert purity_large - purity_small > 0.1  # the top 20 of a larger pool are purer


def test_class_auroc_checks_its_inputs():
    with pytest.raises(ValueError, match="one label per example"):
        class_auroc(np.ones((4, 2)), np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="single class"):
        class_auroc(np.arange(8.0).reshape(4, 2), np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="integers"):
        class_auroc(np.ones((4, 2)), np.array([0.5, 1, 0, 1]))
