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
    assert shortcuts.short_of_full_marks(NAME, answers) == []


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


def test_q3_training_on_uncentred_digits_scores_0(answers):
    keras, x_train = given(NAME)["keras"], given(NAME)["x_train"]
    keras.utils.set_random_seed(1)
    encoder, decoder, autoencoder = answers["build_linear_autoencoder"](8)
    cosine = keras.optimizers.schedules.CosineDecay(0.02, decay_steps=50 * (len(x_train) // 400))
    autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate=cosine), loss="mse")
    autoencoder.fit(x_train, x_train, batch_size=400, epochs=50, verbose=0)  # not x_train_centred
    columns = np.transpose(decoder.get_weights()[0])
    shortcut = {**answers, "linear_encoder": encoder, "linear_decoder": decoder, "linear_autoencoder": autoencoder,
                "decoder_columns": columns,
                "angles": answers["principal_angles"](columns, answers["pca_8"].components_.T)}
    assert score(shortcut, "q3")[0] == 0


def test_q3_pca_s_components_given_as_the_decoder_s_columns_score_0(answers):
    components = answers["pca_8"].components_.T
    shortcut = {**answers, "decoder_columns": components, "angles": np.zeros(8)}
    assert score(shortcut, "q3")[0] == 0


def test_q4_gram_entries_instead_of_cosines_score_0(answers):
    gram = answers["gram"]
    off_diagonal = np.abs(gram[~np.eye(8, dtype=bool)])
    assert score({**answers, "max_cosine": float(off_diagonal.max())}, "q4")[0] == 0


def test_q5_the_orthonormal_basis_instead_of_pca_s_components_scores_0(answers):
    def recover_components(decoder_columns, x_centred):
        return np.linalg.qr(np.asarray(decoder_columns, float))[0].T  # orthonormal, not PCA's directions

    shortcut = {**answers, "recover_components": recover_components,
                "recovered": recover_components(answers["decoder_columns"], given(NAME)["x_train_centred"])}
    assert score(shortcut, "q5")[0] == 0


def test_q5_pca_of_the_images_ignoring_the_decoder_scores_0(answers):
    PCA = given(NAME)["PCA"]

    def recover_components(decoder_columns, x_centred):
        # PCA's components of the images, whatever subspace the columns span
        return PCA(n_components=np.shape(decoder_columns)[1]).fit(x_centred).components_

    recovered = recover_components(answers["decoder_columns"], given(NAME)["x_train_centred"])
    shortcut = {**answers, "recover_components": recover_components, "recovered": recovered}
    assert score(shortcut, "q5")[0] == 0


@pytest.mark.parametrize("letter", ["a", "c"])
def test_q6_each_wrong_letter_scores_0(answers, letter):
    assert score({**answers, "why_not_orthonormal": letter}, "q6")[0] == 0
