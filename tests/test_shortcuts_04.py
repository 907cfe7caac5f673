"""Exercise 04 (a single-layer autoencoder): each plausible wrong answer loses its question's points.

The master's solution trains its two models once for the module (about 10 s); the
shortcuts need little training: untrained models, weights that are not shared or not tied,
the right two models in the order (autoencoder, encoder) instead of the course's (encoder,
autoencoder), training steps that return, update or differentiate the wrong thing, and two
epoch loops that do not shuffle, each training the tied model for q6 (a few seconds each).
"""

import aecourse
import keras
import numpy as np
import pytest
import tensorflow as tf

from shortcuts import given, scores, solution

NAME = "04_single_layer"
POINTS = {"q1": 3.0, "q2": 1.0, "q3": 2.0, "q4": 3.0, "q5": 3.0, "q6": 2.0, "q7": 1.0}


def wrong_scores_zero(question, **wrong):
    got = scores(NAME, {**solution(NAME), **wrong}, [question])[question]
    assert got == (0.0, POINTS[question])


def test_the_solution_scores_full_marks():
    assert scores(NAME, solution(NAME)) == {q: (p, p) for q, p in POINTS.items()}


# --- q1 ----------------------------------------------------------------------------------
def encoder_with_its_own_layer(code_size):  # the encoder is a copy, not the autoencoder's layer
    pixels = keras.Input(shape=(784,))
    code = keras.layers.Dense(code_size, activation="sigmoid")(pixels)
    autoencoder = keras.Model(pixels, keras.layers.Dense(784, activation="sigmoid")(code))
    own = keras.Input(shape=(784,))
    return keras.Model(own, keras.layers.Dense(code_size, activation="sigmoid")(own)), autoencoder


def relu_code(code_size):
    pixels = keras.Input(shape=(784,))
    code = keras.layers.Dense(code_size, activation="relu")(pixels)
    return keras.Model(pixels, code), keras.Model(pixels, keras.layers.Dense(784, activation="sigmoid")(code))


def autoencoder_first(code_size):  # the right models in the old order, (autoencoder, encoder)
    encoder, autoencoder = solution(NAME)["build_autoencoder"](code_size)
    return autoencoder, encoder


@pytest.mark.parametrize("wrong", [encoder_with_its_own_layer, relu_code, autoencoder_first])
def test_q1_shortcuts_score_zero(wrong):
    wrong_scores_zero("q1", build_autoencoder=wrong)


# --- q2: the prediction of training on the squared error ---------------------------------
def test_training_on_the_squared_error_changes_the_test_mse_by_less_than_10_percent_as_q2_says():
    """The fact behind q2's answer (b), at seed offset 0 (1.01-1.06 times at offsets 0, 100, 200)."""
    data, s = given(NAME), solution(NAME)
    x_train, x_test = data["x_train"], data["x_test"]
    aecourse.seed_everything(1)
    _, autoencoder = s["build_autoencoder"](100)
    autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss=keras.losses.MeanSquaredError())
    autoencoder.fit(x_train, x_train, epochs=5, batch_size=64, verbose=0)
    ratio = float(np.mean((x_test - np.asarray(autoencoder(x_test))) ** 2)) / s["test_mse"]
    assert 0.9 < ratio < 1.1, ratio


@pytest.mark.parametrize("letter", ["a", "c", "", "b, c"])
def test_q2_wrong_predictions_score_zero(letter):
    wrong_scores_zero("q2", q2_prediction=letter)


# --- q3 ----------------------------------------------------------------------------------
def test_q3_an_untrained_autoencoder_scores_zero():
    x_test = given(NAME)["x_test"]
    keras.utils.set_random_seed(5)
    encoder, autoencoder = solution(NAME)["build_autoencoder"](100)
    wrong_scores_zero("q3", autoencoder=autoencoder, encoder=encoder,
                      codes_test=np.asarray(encoder(x_test)),
                      test_mse=float(np.mean((x_test - np.asarray(autoencoder(x_test))) ** 2)))


def test_q3_the_training_digits_error_scores_zero():
    s, x_train = solution(NAME), given(NAME)["x_train"]
    wrong_scores_zero("q3", test_mse=float(np.mean((x_train - np.asarray(s["autoencoder"](x_train))) ** 2)))


# --- q4 ----------------------------------------------------------------------------------
class Untied(keras.Model):  # a decoder of its own: not tied
    def __init__(self, n_hidden=500, **kwargs):
        super().__init__(**kwargs)
        self.W = self.add_weight(shape=(784, n_hidden))
        self.W_out = self.add_weight(shape=(n_hidden, 784))
        self.b = self.add_weight(shape=(n_hidden,), initializer="zeros")
        self.b_prime = self.add_weight(shape=(784,), initializer="zeros")

    def encode(self, x):
        return tf.sigmoid(tf.matmul(x, self.W) + self.b)

    def decode(self, z):
        return tf.sigmoid(tf.matmul(z, self.W_out) + self.b_prime)

    def call(self, x):
        return self.decode(self.encode(x))


class LinearDecoder(keras.Model):  # tied, but no sigmoid on the output
    def __init__(self, n_hidden=500, **kwargs):
        super().__init__(**kwargs)
        self.W = self.add_weight(shape=(784, n_hidden))
        self.b = self.add_weight(shape=(n_hidden,), initializer="zeros")
        self.b_prime = self.add_weight(shape=(784,), initializer="zeros")

    def encode(self, x):
        return tf.sigmoid(tf.matmul(x, self.W) + self.b)

    def decode(self, z):
        return tf.matmul(z, self.W, transpose_b=True) + self.b_prime

    def call(self, x):
        return self.decode(self.encode(x))


@pytest.mark.parametrize("wrong", [Untied, LinearDecoder])
def test_q4_shortcuts_score_zero(wrong):
    wrong_scores_zero("q4", TiedAutoencoder=wrong)


# --- q5 ----------------------------------------------------------------------------------
BCE = keras.losses.BinaryCrossentropy()


def loss_after_the_update(model, optimizer, x_batch):
    with tf.GradientTape() as tape:
        loss = BCE(x_batch, model(x_batch))
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
    return BCE(x_batch, model(x_batch))


def gradient_of_the_mse(model, optimizer, x_batch):  # reports the BCE, descends the MSE
    with tf.GradientTape() as tape:
        out = model(x_batch)
        loss = BCE(x_batch, out)
        other = tf.reduce_mean(tf.square(x_batch - out))
    optimizer.apply_gradients(zip(tape.gradient(other, model.trainable_variables), model.trainable_variables))
    return loss


def the_sum_over_pixels(model, optimizer, x_batch):  # BCE summed over the 784 pixels
    with tf.GradientTape() as tape:
        loss = BCE(x_batch, model(x_batch))
        summed = 784 * loss
    optimizer.apply_gradients(zip(tape.gradient(summed, model.trainable_variables), model.trainable_variables))
    return loss


def only_the_kernels(model, optimizer, x_batch):
    kernels = [v for v in model.trainable_variables if len(v.shape) == 2]
    with tf.GradientTape() as tape:
        loss = BCE(x_batch, model(x_batch))
    optimizer.apply_gradients(zip(tape.gradient(loss, kernels), kernels))
    return loss


@pytest.mark.parametrize("wrong", [loss_after_the_update, gradient_of_the_mse, the_sum_over_pixels,
                                   only_the_kernels])
def test_q5_shortcuts_score_zero(wrong):
    wrong_scores_zero("q5", train_step=wrong)


# --- q6 ----------------------------------------------------------------------------------
def test_q6_an_untrained_tied_model_scores_zero():
    x_test = given(NAME)["x_test"]
    keras.utils.set_random_seed(7)
    tied = solution(NAME)["TiedAutoencoder"](100)
    wrong_scores_zero("q6", tied=tied, tied_test_mse=float(np.mean((x_test - np.asarray(tied(x_test))) ** 2)))


def test_q6_batch_losses_instead_of_epoch_losses_score_zero():
    wrong_scores_zero("q6", epoch_losses=[0.69, 0.52, 0.41])  # the first three batches


def in_stored_order(model, optimizer, x, rng):  # never shuffles
    step = solution(NAME)["train_step"]
    return float(np.mean([step(model, optimizer, x[i:i + 64]) for i in range(0, len(x), 64)]))


def one_fixed_order(model, optimizer, x, rng):  # shuffles, but the same way in every epoch
    order = np.random.default_rng(0).permutation(len(x))
    step = solution(NAME)["train_step"]
    return float(np.mean([step(model, optimizer, x[order[i:i + 64]]) for i in range(0, len(x), 64)]))


@pytest.mark.parametrize("wrong", [in_stored_order, one_fixed_order])
def test_q6_loops_that_do_not_shuffle_every_epoch_score_zero(wrong):
    """The tied model trained with the loop as the master trains it: the loss falls and the
    test MSE is as low, so only the probe of the epoch's order catches the loop."""
    s, data = solution(NAME), given(NAME)
    aecourse.seed_everything(2)
    tied = s["TiedAutoencoder"](100)
    optimizer = keras.optimizers.Adam(learning_rate=0.005)
    shuffler = np.random.default_rng(0)
    losses = [wrong(tied, optimizer, data["x_train"], shuffler) for _ in range(3)]
    mse = float(np.mean((data["x_test"] - np.asarray(tied(data["x_test"]))) ** 2))
    assert losses[-1] < losses[0] and mse < 1.1 * s["tied_test_mse"], (losses, mse)
    wrong_scores_zero("q6", train_epoch=wrong, tied=tied, epoch_losses=losses, tied_test_mse=mse)


# --- q7 ----------------------------------------------------------------------------------
def test_an_untrained_autoencoder_outputs_about_half_everywhere_as_q7_says():
    x_test = given(NAME)["x_test"]
    keras.utils.set_random_seed(0)
    out = np.asarray(solution(NAME)["build_autoencoder"](100)[-1](x_test))
    assert abs(out.mean() - 0.5) < 0.01 and out.std() < 0.1
    assert np.mean((x_test < 0.1) | (x_test > 0.9)) > 0.85
    assert abs(np.mean((x_test - out) ** 2) - 0.23) < 0.02


@pytest.mark.parametrize("letter", ["a", "b", "c", ""])
def test_q7_wrong_choices_score_zero(letter):
    assert scores(NAME, {"q7_reason": letter}, ["q7"])["q7"] == (0.0, 1.0)
