"""Exercise 02 (MNIST and PCA): each plausible wrong answer loses its question's points.

Each test builds a shortcut, scores it with the exercise's own tests (``shortcuts.scores``)
and asserts it loses the points of what it gets wrong (q3's MSE and its letter earn a point
each), while the master's solution keeps full marks.
"""

import numpy as np
import pytest
from sklearn.decomposition import PCA

from shortcuts import given, scores, solution

NAME = "02_mnist_pca"


def score(answers, question):
    return scores(NAME, answers, [question])[question]


def test_the_solution_scores_full_marks():
    got = scores(NAME, solution(NAME))
    assert got == {"q1": (3.0, 3.0), "q2": (1.0, 1.0), "q3": (2.0, 2.0), "q4": (3.0, 3.0)}


def fit_on_x(x_fit, x, k):  # fits on the images it reconstructs (the test digits)
    pca = PCA(n_components=k).fit(x)
    return pca.inverse_transform(pca.transform(x))


def one_component_more(x_fit, x, k):
    pca = PCA(n_components=k + 1).fit(x_fit)
    return pca.inverse_transform(pca.transform(x))


@pytest.mark.parametrize("wrong", [fit_on_x, one_component_more])
def test_q1_shortcuts_score_zero(wrong):
    assert score({**solution(NAME), "pca_reconstruct": wrong}, "q1") == (0.0, 3.0)


def fitted_errors(x_fit, k=32):
    """MSE per pixel of PCA-``k`` fitted on ``x_fit``: (on x_fit, on the test digits)."""
    pca = PCA(n_components=k, svd_solver="full").fit(x_fit)
    x_test = given(NAME)["x_test"]
    return tuple(
        float(np.mean((x - pca.inverse_transform(pca.transform(x))) ** 2)) for x in (x_fit, x_test)
    )


def test_fitting_on_400_digits_widens_the_gap_several_times():
    """The fact behind q2's right answer (b), at the three subsample seeds its test cites."""
    x_train = given(NAME)["x_train"]
    train, test = fitted_errors(x_train)
    ratios = []
    for seed in (0, 100, 200):
        subset = x_train[np.random.default_rng(seed).choice(len(x_train), 400, replace=False)]
        train_400, test_400 = fitted_errors(subset)
        assert train_400 < train and test_400 > test  # the fit serves the 400 digits alone
        ratios.append((test_400 - train_400) / (test - train))
    assert min(ratios) > 3, ratios  # (b) "more than three times": 6.2, 7.7 and 6.9


@pytest.mark.parametrize("wrong", ["a", "c", "d"])
def test_q2_wrong_predictions_score_zero(wrong):
    assert score({**solution(NAME), "q2_prediction": wrong}, "q2") == (0.0, 1.0)


def test_the_training_digits_are_reconstructed_better_than_the_test_digits():
    """The fact behind q3's right answer (c), on this data."""
    train, test = fitted_errors(given(NAME)["x_train"])
    assert train < test, (train, test)


@pytest.mark.parametrize(
    "wrong, points",
    [
        ({"test_mse_32": 0.05}, 1.0),  # a constant of the right type and range
        ({"test_mse_32": "train"}, 1.0),  # the training digits' error
        ({"q3_reason": "a"}, 1.0),  # the right MSE keeps its point, the letter loses its
        ({"q3_reason": "b"}, 1.0),
        ({"q3_reason": "d"}, 1.0),
        ({"test_mse_32": "train", "q3_reason": "a"}, 0.0),
    ],
)
def test_q3_shortcuts_lose_the_points_of_what_they_get_wrong(wrong, points):
    if wrong.get("test_mse_32") == "train":
        wrong = {**wrong, "test_mse_32": fitted_errors(given(NAME)["x_train"])[0]}
    assert score({**solution(NAME), **wrong}, "q3") == (points, 2.0)


def k_off_by_one(x_fit, share):  # searchsorted gives an index, not a count
    cumulative = np.cumsum(PCA().fit(x_fit).explained_variance_ratio_)
    return int(np.searchsorted(cumulative, share))


def k_one_too_many(x_fit, share):  # the first k that passes the share strictly, plus one
    cumulative = np.cumsum(PCA().fit(x_fit).explained_variance_ratio_)
    return int(np.searchsorted(cumulative, share) + 2)


@pytest.mark.parametrize(
    "wrong",
    [
        {"k_90": 5},  # the example: a plausible int, the wrong one
        {"k_for_variance": k_off_by_one, "k_90": "from the function"},
        {"k_for_variance": k_one_too_many, "k_90": "from the function"},
    ],
)
def test_q4_shortcuts_score_zero(wrong):
    if wrong.get("k_90") == "from the function":
        wrong = {**wrong, "k_90": wrong["k_for_variance"](given(NAME)["x_train"], 0.9)}
    assert score({**solution(NAME), **wrong}, "q4") == (0.0, 3.0)
