"""Exercise 06 (denoising autoencoders): each plausible wrong answer loses its question's points.

The expensive shortcut, an autoencoder never shown noise or squares (the exercise's own
``build_compiled_autoencoder`` trained 10 epochs on clean digits, about 3 s), is trained
once for the module; Q5's and Q7's hidden tests train their own baseline of that kind.
"""

import functools

import keras
import numpy as np
import pytest

from shortcuts import given, scores, solution

NAME = "06_denoising"
POINTS = {"q1": 2.0, "q2": 2.0, "q3": 3.0, "q4": 1.0, "q5": 3.0, "q6": 2.0, "q7": 3.0, "q8": 2.0}


def score(answers, question):
    return scores(NAME, answers, [question])[question]


def wrong_scores_zero(question, **wrong):
    assert score({**solution(NAME), **wrong}, question) == (0.0, POINTS[question])


def test_the_solution_scores_full_marks():
    assert scores(NAME, solution(NAME)) == {q: (p, p) for q, p in POINTS.items()}


# --- q1: masking noise -------------------------------------------------------------------
def mask_keeps_with_the_level(x, corruption_level, rng):  # keeps a pixel with probability level
    return np.where(rng.uniform(size=np.shape(x)) < corruption_level, x, 0.0).astype(np.float32)


def mask_from_the_global_generator(x, corruption_level, rng):
    return np.where(np.random.uniform(size=np.shape(x)) < corruption_level, 0.0, x).astype(np.float32)


def mask_one_pattern_for_all_digits(x, corruption_level, rng):
    x = np.asarray(x)
    dropped = rng.uniform(size=x.shape[1:]) < corruption_level
    return np.where(dropped, 0.0, x).astype(np.float32)


@pytest.mark.parametrize("wrong", [mask_keeps_with_the_level, mask_from_the_global_generator,
                                   mask_one_pattern_for_all_digits])
def test_q1_shortcuts_score_zero(wrong):
    wrong_scores_zero("q1", mask_noise=wrong)


# --- q2: Gaussian noise ------------------------------------------------------------------
def gaussian_unclipped(x, noise_factor, rng):
    return (x + rng.normal(0.0, noise_factor, size=np.shape(x))).astype(np.float32)


def gaussian_variance_for_spread(x, noise_factor, rng):  # noise_factor taken as the variance
    return np.clip(x + rng.normal(0.0, np.sqrt(noise_factor), size=np.shape(x)), 0, 1).astype(np.float32)


def gaussian_one_draw_for_all_digits(x, noise_factor, rng):
    x = np.asarray(x)
    return np.clip(x + rng.normal(0.0, noise_factor, size=x.shape[1:]), 0, 1).astype(np.float32)


def gaussian_from_the_global_generator(x, noise_factor, rng):
    return np.clip(x + np.random.normal(0.0, noise_factor, size=np.shape(x)), 0, 1).astype(np.float32)


@pytest.mark.parametrize("wrong", [gaussian_unclipped, gaussian_variance_for_spread,
                                   gaussian_one_draw_for_all_digits, gaussian_from_the_global_generator])
def test_q2_shortcuts_score_zero(wrong):
    wrong_scores_zero("q2", gaussian_noise=wrong)


# --- q3: the training loop ---------------------------------------------------------------
def noise_drawn_once(autoencoder, corrupt, x_clean, epochs, seed):
    noisy = corrupt(x_clean, np.random.default_rng(seed))
    for _ in range(epochs):
        autoencoder.fit(noisy, x_clean, batch_size=128, epochs=1, verbose=0)


def a_new_generator_every_epoch(autoencoder, corrupt, x_clean, epochs, seed):  # the same noise each time
    for _ in range(epochs):
        autoencoder.fit(corrupt(x_clean, np.random.default_rng(seed)), x_clean, batch_size=128, epochs=1, verbose=0)


def noisy_targets(autoencoder, corrupt, x_clean, epochs, seed):
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        noisy = corrupt(x_clean, rng)
        autoencoder.fit(noisy, noisy, batch_size=128, epochs=1, verbose=0)


def one_fit_of_all_epochs(autoencoder, corrupt, x_clean, epochs, seed):
    if epochs:
        autoencoder.fit(corrupt(x_clean, np.random.default_rng(seed)), x_clean, batch_size=128,
                        epochs=epochs, verbose=0)


@pytest.mark.parametrize("wrong", [noise_drawn_once, a_new_generator_every_epoch, noisy_targets,
                                   one_fit_of_all_epochs])
def test_q3_shortcuts_score_zero(wrong):
    wrong_scores_zero("q3", fit_denoiser=wrong)


# --- q4: the prediction of the gain at noise factor 0.25 ---------------------------------
def test_a_quarter_of_the_noise_leaves_less_than_half_the_gain_as_q4_says():
    """The fact behind q4's answer (c), at seed offset 0 (0.32-0.37 of it at offsets 0, 100, 200)."""
    data, s = given(NAME), solution(NAME)
    x_train, x_test = data["x_train"], data["x_test"]
    keras.utils.set_random_seed(1)
    denoiser = data["build_compiled_autoencoder"]()
    s["fit_denoiser"](denoiser, lambda x, rng: s["gaussian_noise"](x, 0.25, rng), x_train, 10, 1)
    noisy = s["gaussian_noise"](x_test, 0.25, np.random.default_rng(101))
    gain = psnr(x_test, np.asarray(denoiser(noisy))) - psnr(x_test, noisy)
    assert 0 < gain < 0.5 * s["psnr_gain"], (gain, s["psnr_gain"])


@pytest.mark.parametrize("letter", ["a", "b", "", "c, a"])
def test_q4_wrong_predictions_score_zero(letter):
    wrong_scores_zero("q4", q4_prediction=letter)


# --- q5 and q7: an autoencoder never trained on noise or squares --------------------------
@functools.lru_cache(maxsize=None)
def plain_autoencoder():
    data = given(NAME)
    keras.utils.set_random_seed(1)
    plain = data["build_compiled_autoencoder"]()
    plain.fit(data["x_train"], data["x_train"], epochs=10, batch_size=128, verbose=0)
    return plain


def psnr(clean, estimate):
    return given(NAME)["psnr"](clean, estimate)


def q5_answers(denoiser, noise_factor=0.5):
    s, x_test = solution(NAME), given(NAME)["x_test"]
    noisy = s["gaussian_noise"](x_test, noise_factor, np.random.default_rng(101))
    denoised = np.asarray(denoiser(noisy))
    return {"denoiser": denoiser, "x_test_noisy": noisy, "x_test_denoised": denoised,
            "psnr_gain": float(psnr(x_test, denoised) - psnr(x_test, noisy))}


def test_q5_the_plain_autoencoder_gains_some_decibels_but_scores_zero():
    answers = q5_answers(plain_autoencoder())
    assert answers["psnr_gain"] > 2.0  # it does denoise a little: a bar of 0 dB would pass it
    wrong_scores_zero("q5", **answers)


@pytest.mark.parametrize("wrong", ["noise_factor_0.3", "gain_reversed", "a_constant"])
def test_q5_slips_score_zero(wrong):
    s = solution(NAME)
    if wrong == "noise_factor_0.3":
        answers = q5_answers(s["denoiser"], noise_factor=0.3)
    elif wrong == "gain_reversed":
        answers = {"psnr_gain": -s["psnr_gain"]}
    else:
        answers = {"psnr_gain": 6.0}
    wrong_scores_zero("q5", **answers)


def q7_answers(mark_remover):
    s, x_test = solution(NAME), given(NAME)["x_test"]
    occluded = s["occlude"](x_test, 8, np.random.default_rng(102))
    repaired = np.asarray(mark_remover(occluded))
    hole = occluded != x_test
    return {"mark_remover": mark_remover, "x_test_occluded": occluded, "x_test_repaired": repaired,
            "hole_mse_occluded": float(np.mean((occluded - x_test)[hole] ** 2)),
            "hole_mse_repaired": float(np.mean((repaired - x_test)[hole] ** 2))}


def test_q7_the_plain_autoencoder_fills_part_of_the_hole_but_scores_zero():
    answers = q7_answers(plain_autoencoder())
    assert answers["hole_mse_repaired"] < answers["hole_mse_occluded"]  # it repairs a little
    wrong_scores_zero("q7", **answers)


def test_q7_the_error_over_every_pixel_scores_zero():
    s, x_test = solution(NAME), given(NAME)["x_test"]
    wrong_scores_zero("q7", hole_mse_occluded=float(np.mean((s["x_test_occluded"] - x_test) ** 2)),
                      hole_mse_repaired=float(np.mean((s["x_test_repaired"] - x_test) ** 2)))


# --- q6: the occlusion mark --------------------------------------------------------------
def occlude_with(corner_range=None, same_corner=False, one_corner_for_all=False):
    def occlude(x, size, rng):
        images = np.array(x, dtype=np.float32).reshape(len(x), 28, 28)
        high = corner_range(size) if corner_range else 24 - size + 1
        corners = rng.integers(4, high, size=(1 if one_corner_for_all else len(images), 2))
        corners = np.repeat(corners, len(images), axis=0) if one_corner_for_all else corners
        for image, (top, left) in zip(images, corners):
            left = top if same_corner else left
            image[top:top + size, left:left + size] = 0
        return images.reshape(np.shape(x))

    return occlude


@pytest.mark.parametrize("wrong", [
    occlude_with(corner_range=lambda size: 24 - size),  # integers() excludes its high end: one short
    occlude_with(same_corner=True),  # the top row reused as the left column: squares on the diagonal
    occlude_with(one_corner_for_all=True),
], ids=["off_by_one", "diagonal", "one_square_for_all"])
def test_q6_shortcuts_score_zero(wrong):
    wrong_scores_zero("q6", occlude=wrong)


# --- q8: why the denoiser gains more ------------------------------------------------------
def test_the_denoiser_gains_about_twice_what_the_plain_autoencoder_does_as_q8_says():
    x_test = given(NAME)["x_test"]
    noisy = solution(NAME)["x_test_noisy"]
    plain_gain = psnr(x_test, np.asarray(plain_autoencoder()(noisy))) - psnr(x_test, noisy)
    assert 0.3 < plain_gain / solution(NAME)["psnr_gain"] < 0.7, (plain_gain, solution(NAME)["psnr_gain"])
    # the student's own measurement, the master's plain_gain, says the same
    assert 0.3 < solution(NAME)["plain_gain"] / solution(NAME)["psnr_gain"] < 0.7


def test_the_grey_background_is_not_the_gap_as_q8_a_would_have_it():
    """Without the grey the noise adds to black pixels, the plain autoencoder still gains far less."""
    x_test = given(NAME)["x_test"]
    noisy = solution(NAME)["x_test_noisy"]
    grey = float(np.mean(noisy[x_test == 0]))  # 0.195, the mean of clip(0.5 z, 0, 1)
    without_grey = np.clip(noisy - grey, 0, 1)
    plain_gain = psnr(x_test, np.asarray(plain_autoencoder()(without_grey))) - psnr(x_test, noisy)
    # 3.8-4.1 dB at seed offsets 0, 100, 200 (the denoiser: 6.0-6.3)
    assert plain_gain < solution(NAME)["psnr_gain"] - 1.5, (plain_gain, solution(NAME)["psnr_gain"])


# q8's 2 points: 1 for the measured plain_gain (its first hidden test), 1 for the letter.
def q8_answers(plain_autoencoder):
    x_test = given(NAME)["x_test"]
    noisy = solution(NAME)["x_test_noisy"]
    gain = float(psnr(x_test, np.asarray(plain_autoencoder(noisy))) - psnr(x_test, noisy))
    return {**solution(NAME), "plain_autoencoder": plain_autoencoder, "plain_gain": gain}


def test_q8_the_denoisers_gain_stored_as_the_plain_one_loses_the_measured_point():
    s = solution(NAME)
    assert score({**s, "plain_gain": s["psnr_gain"]}, "q8") == (1.0, 2.0)
    # and with the denoiser handed in as the plain autoencoder, so the two agree
    assert score(q8_answers(s["denoiser"]), "q8") == (1.0, 2.0)


def test_q8_an_untrained_plain_autoencoder_loses_the_measured_point():
    answers = q8_answers(given(NAME)["build_compiled_autoencoder"]())
    assert answers["plain_gain"] < 0  # about -3 dB: it outputs grey
    assert score(answers, "q8") == (1.0, 2.0)


def test_q8_another_faithful_plain_autoencoder_keeps_the_measured_point():
    assert score(q8_answers(plain_autoencoder()), "q8") == (2.0, 2.0)  # seed 1, not the master's 8


@pytest.mark.parametrize("letter", ["a", "c", "d", "", "a, b"])
def test_q8_wrong_choices_score_zero(letter):
    assert score({**solution(NAME), "q8_reason": letter}, "q8") == (1.0, 2.0)
    assert score({"q8_reason": letter}, "q8") == (0.0, 2.0)
