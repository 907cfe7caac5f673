"""Exercise 08 (autoencoders versus PCA): each question's plausible wrong answer scores 0,
the solution full marks."""

import numpy as np
import pytest
import shortcuts
from shortcuts import given, solution

NAME = "08_ae_vs_pca"


@pytest.fixture(scope="module")
def answers():
    return solution(NAME)


def score(answers, question):
    return shortcuts.score(NAME, answers, question)


def test_the_solution_scores_full_marks(answers):
    assert shortcuts.scores(NAME, answers) == {
        "q1": (3.0, 3.0), "q2": (2.0, 2.0), "q3": (1.0, 1.0), "q4": (3.0, 3.0),
        "q5": (2.0, 2.0), "q6": (3.0, 3.0), "q7": (2.0, 2.0),
    }


def test_q1_radians_instead_of_degrees_score_0(answers):
    def principal_angles(a, b):
        q_a, q_b = np.linalg.qr(np.asarray(a, float))[0], np.linalg.qr(np.asarray(b, float))[0]
        return np.sort(np.arccos(np.clip(np.linalg.svd(q_a.T @ q_b, compute_uv=False), -1, 1)))

    assert score({**answers, "principal_angles": principal_angles}, "q1")[0] == 0


def test_q2_layers_with_a_bias_score_0(answers):
    keras = given(NAME)["keras"]

    def build_linear_autoencoder(latent_dim):
        encoder = keras.Sequential([keras.Input((784,)), keras.layers.Dense(latent_dim)])
        decoder = keras.Sequential([keras.Input((latent_dim,)), keras.layers.Dense(784)])
        return encoder, decoder, keras.Sequential([encoder, decoder])

    assert score({**answers, "build_linear_autoencoder": build_linear_autoencoder}, "q2")[0] == 0


def trained_as_question_4(answers, x, seed):
    """The solution's 8-number linear autoencoder trained with Question 4's recipe on ``x``
    from ``keras.utils.set_random_seed(seed)``: (encoder, decoder, autoencoder)."""
    keras = given(NAME)["keras"]
    keras.utils.set_random_seed(seed)
    encoder, decoder, autoencoder = answers["build_linear_autoencoder"](8)
    cosine = keras.optimizers.schedules.CosineDecay(0.02, decay_steps=50 * (len(x) // 400))
    autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate=cosine), loss="mse")
    autoencoder.fit(x, x, batch_size=400, epochs=50, verbose=0)
    return encoder, decoder, autoencoder


@pytest.fixture(scope="module")
def uncentred(answers):
    """The solution's autoencoder trained with Question 4's recipe on x_train, not centred."""
    return trained_as_question_4(answers, given(NAME)["x_train"], seed=1)  # not x_train_centred


def test_trained_on_raw_digits_the_subspace_is_tens_of_degrees_from_pca_s(answers, uncentred):
    """The fact behind q3's right prediction (c): more than 10 degrees at the largest angle
    (measured 34.1, 63.3 and 54.9 at seed offsets 0, 100 and 200), at an error about 1 %
    above PCA's (0.8 to 0.9 %); the centred solution is at 0.03 degrees."""
    x_train, pca_8 = given(NAME)["x_train"], answers["pca_8"]
    _, decoder, autoencoder = uncentred
    columns = np.transpose(decoder.get_weights()[0])
    largest = float(np.max(answers["principal_angles"](columns, pca_8.components_.T)))
    mse = float(np.mean((x_train - autoencoder.predict(x_train, verbose=0)) ** 2))
    pca_mse = float(np.mean((x_train - pca_8.inverse_transform(pca_8.transform(x_train))) ** 2))
    print(f"raw digits: largest angle {largest:.1f} degrees, MSE {mse / pca_mse - 1:+.2%} of PCA's")
    assert largest > 10 and mse < 1.02 * pca_mse
    assert float(np.max(answers["angles"])) < 2


@pytest.mark.parametrize("letter", ["a", "b"])
def test_q3_each_wrong_prediction_scores_0(answers, letter):
    assert score({**answers, "q3_prediction": letter}, "q3") == (0.0, 1.0)


def test_q4_training_on_uncentred_digits_scores_0(answers, uncentred):
    encoder, decoder, autoencoder = uncentred
    columns = np.transpose(decoder.get_weights()[0])
    shortcut = {**answers, "linear_encoder": encoder, "linear_decoder": decoder, "linear_autoencoder": autoencoder,
                "decoder_columns": columns,
                "angles": answers["principal_angles"](columns, answers["pca_8"].components_.T)}
    assert score(shortcut, "q4")[0] == 0


def test_q4_pca_s_components_given_as_the_decoder_s_columns_score_0(answers):
    components = answers["pca_8"].components_.T
    shortcut = {**answers, "decoder_columns": components, "angles": np.zeros(8)}
    assert score(shortcut, "q4")[0] == 0


def test_q5_gram_entries_instead_of_cosines_score_0(answers):
    gram = answers["gram"]
    off_diagonal = np.abs(gram[~np.eye(8, dtype=bool)])
    assert score({**answers, "max_cosine": float(off_diagonal.max())}, "q5")[0] == 0


def test_q6_the_orthonormal_basis_instead_of_pca_s_components_scores_0(answers):
    def recover_components(decoder_columns, x_centred):
        return np.linalg.qr(np.asarray(decoder_columns, float))[0].T  # orthonormal, not PCA's directions

    shortcut = {**answers, "recover_components": recover_components,
                "recovered": recover_components(answers["decoder_columns"], given(NAME)["x_train_centred"])}
    assert score(shortcut, "q6")[0] == 0


def test_q6_pca_of_the_images_ignoring_the_decoder_scores_0(answers):
    PCA = given(NAME)["PCA"]

    def recover_components(decoder_columns, x_centred):
        # PCA's components of the images, whatever subspace the columns span
        return PCA(n_components=np.shape(decoder_columns)[1]).fit(x_centred).components_

    recovered = recover_components(answers["decoder_columns"], given(NAME)["x_train_centred"])
    shortcut = {**answers, "recover_components": recover_components, "recovered": recovered}
    assert score(shortcut, "q6")[0] == 0


@pytest.fixture(scope="module")
def second_start(answers):
    """The solution's autoencoder trained again with Question 4's recipe, from another start (seed 2)."""
    _, decoder, autoencoder = trained_as_question_4(answers, given(NAME)["x_train_centred"], seed=2)
    return decoder, autoencoder


def test_another_start_ends_on_another_basis_of_the_same_subspace(answers, second_start):
    """The fact behind q7's right answer (b): the two decoders span the same subspace (measured
    0.03, 0.06 and 0.23 degrees apart at seed offsets 0, 100 and 200, both at PCA's error), yet
    no column of one has a |cosine| above 0.71, 0.76 and 0.79 with any column of the other
    (so neither the same columns, "a", nor the same columns reordered, "d"), and not another
    subspace ("c")."""
    x_train_centred = given(NAME)["x_train_centred"]
    decoder, autoencoder = second_start
    first = np.asarray(answers["decoder_columns"], dtype=float)
    second = np.transpose(decoder.get_weights()[0]).astype(float)
    apart = float(np.max(answers["principal_angles"](first, second)))
    unit_first, unit_second = (c / np.linalg.norm(c, axis=0) for c in (first, second))
    best = float(np.abs(unit_first.T @ unit_second).max())
    outputs = [np.asarray(m.predict(x_train_centred, verbose=0)) for m in (answers["linear_autoencoder"], autoencoder)]
    mses = [float(np.mean((x_train_centred - o) ** 2)) for o in outputs]
    print(f"two starts: subspaces {apart:.2f} degrees apart, largest |cosine| between columns {best:.2f}, "
          f"MSEs {mses[0]:.5f} and {mses[1]:.5f}")
    assert apart < 1 and best < 0.9 and abs(mses[1] - mses[0]) < 0.001 * mses[0]


@pytest.mark.parametrize("letter", ["a", "c", "d"])
def test_q7_each_wrong_letter_scores_0(answers, letter):
    assert score({**answers, "second_start": letter}, "q7") == (0.0, 2.0)
