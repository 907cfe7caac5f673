"""Exercise 09 (using the latent space): each question's plausible wrong answer scores 0,
the solution full marks."""

import numpy as np
import pytest
import shortcuts
from shortcuts import given, solution

NAME = "09_latent_space"


@pytest.fixture(scope="module")
def answers():
    return solution(NAME)


def score(answers, question):
    return shortcuts.score(NAME, answers, question)


POINTS = {"q1": 3.0, "q2": 3.0, "q3": 4.0, "q4": 1.0, "q5": 2.0, "q6": 2.0}


def test_the_solution_scores_full_marks(answers):
    assert shortcuts.short_of_full_marks(NAME, answers) == []
    assert shortcuts.scores(NAME, answers) == {q: (p, p) for q, p in POINTS.items()}


def test_q1_an_item_as_its_own_neighbour_scores_0(answers):
    from sklearn.neighbors import NearestNeighbors

    def precision_at_k(features, labels, k=10):
        labels = np.asarray(labels)
        found = NearestNeighbors(n_neighbors=k).fit(features).kneighbors(features, return_distance=False)
        return float(np.mean(labels[found] == labels[:, None]))

    assert score({**answers, "precision_at_k": precision_at_k}, "q1")[0] == 0


def test_q2_an_untrained_encoder_scores_0(answers):
    g = given(NAME)
    keras = g["keras"]
    keras.utils.set_random_seed(1)
    encoder = keras.Sequential([keras.Input((784,)), keras.layers.Dense(256, activation="relu"), keras.layers.Dense(16)])
    codes_test = np.asarray(encoder(g["x_test"]))
    p10 = {**answers["p10"], "codes": answers["precision_at_k"](codes_test, g["y_test"])}
    shortcut = {**answers, "encoder": encoder, "codes_train": np.asarray(encoder(g["x_train"])),
                "codes_test": codes_test, "p10": p10}
    assert score(shortcut, "q2")[0] == 0


def test_q3_a_detector_trained_on_every_digit_scores_0(answers):
    g = given(NAME)
    keras, x_train, x_test, y_test = g["keras"], g["x_train"], g["x_test"], g["y_test"]
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((784,))] + [
        keras.layers.Dense(units, activation=activation)
        for units, activation in ((64, "relu"), (8, None), (64, "relu"), (784, "sigmoid"))])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.002), loss=keras.losses.BinaryCrossentropy())
    model.fit(x_train, x_train, batch_size=32, epochs=30, verbose=0)  # every digit, not only normal_digit
    from sklearn.metrics import roc_auc_score

    errors = answers["anomaly_scores"](model, x_test)
    auc = float(roc_auc_score(y_test != answers["normal_digit"], errors))
    print(f"trained on every digit: AUC {auc:.3f} (one class: {answers['auc']:.3f})")
    assert score({**answers, "one_class_ae": model, "scores": errors, "auc": auc}, "q3")[0] == 0


@pytest.fixture(scope="module")
def every_label_accuracy(answers):
    """Question 5's classifier fitted on all 4,000 training labels instead of 100."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    g = given(NAME)
    accuracy = {}
    for name, (train, test) in {"pixels": (g["x_train"], g["x_test"]),
                                "codes": (answers["codes_train"], answers["codes_test"])}.items():
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(train, g["y_train"])
        accuracy[name] = float(probe.score(test, g["y_test"]))
    return accuracy


def test_with_every_label_the_pixels_pass_the_codes_as_q4_says(answers, every_label_accuracy):
    """The fact behind q4's answer (c), at seed offset 0: with 100 labels the codes lead, with
    all 4,000 the pixels (0.884 against codes 0.860, 0.870, 0.869 at offsets 0, 100, 200)."""
    few, every = answers["few_label_accuracy"], every_label_accuracy
    assert few["codes"] > few["pixels"], few
    assert every["pixels"] > every["codes"] + 0.01, every


@pytest.mark.parametrize("letter", ["a", "b", "", "b, c"])
def test_q4_wrong_predictions_score_0(answers, letter):
    assert score({**answers, "q4_prediction": letter}, "q4") == (0.0, 1.0)


def test_q5_all_training_labels_instead_of_100_score_0(answers, every_label_accuracy):
    assert score({**answers, "few_label_accuracy": every_label_accuracy}, "q5")[0] == 0


@pytest.mark.parametrize("wrong", ["the same auc", "one half"])
def test_q6_a_wrong_swapped_auc_scores_0(answers, wrong):
    value = answers["auc"] if wrong == "the same auc" else 0.5
    assert score({**answers, "swapped_auc": value}, "q6")[0] == 0
