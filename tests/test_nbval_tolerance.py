"""The tolerance layer on nbval: trained numbers may move within their kind's tolerance, nothing else may."""

import subprocess
import sys

import nbformat
import pytest

from conftest import ROOT
from nbval_tolerance import KINDS, lines_agree, numbers_agree, reconcile_outputs

MSE_RULE = [{"kind": "mse", "line": "autoencoder"}]


def stream(text):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def test_an_mse_may_move_by_one_percent_but_not_by_thirty():
    assert lines_agree("autoencoder: test MSE 0.0200", "autoencoder: test MSE 0.0202", MSE_RULE)
    assert not lines_agree("autoencoder: test MSE 0.0200", "autoencoder: test MSE 0.0260", MSE_RULE)
    assert not lines_agree("autoencoder: test MSE 0.0200", "autoencoder: test MSE 0.0140", MSE_RULE)


def test_text_integers_and_unnamed_lines_stay_exact():
    # a changed word, even with equal numbers
    assert not lines_agree("autoencoder: test MSE 0.0200", "autoencoder: train MSE 0.0200", MSE_RULE)
    # an integer (a count, a shape) on a line the rule names
    assert not lines_agree("autoencoder 784-32: MSE 0.0200", "autoencoder 784-31: MSE 0.0200", MSE_RULE)
    # a number on a line no rule names, such as PCA's deterministic error
    assert not lines_agree("PCA: test MSE 0.0175", "PCA: test MSE 0.0176", MSE_RULE)
    # a line more or less
    assert not lines_agree("autoencoder: MSE 0.0200", "autoencoder: MSE 0.0200\nextra", MSE_RULE)
    # a percentage may not turn into a plain number
    assert not numbers_agree("acc 50.0%", "acc 0.500", KINDS["share"])


def test_only_the_padding_between_numbers_may_change_on_a_named_line():
    rule = [{"kind": "spread", "line": "code mean"}]
    assert lines_agree("code mean: [-7.7   3.04]", "code mean: [-7.61  2.65]", rule)
    assert lines_agree("code mean: [-7.7   3.04]  code std: [8.13 7.74]", "code mean: [-7.62  2.8 ]  code std: [8.06 7.69]", rule)
    assert not lines_agree("code mean: [-7.7   3.04]", "code mean: [-7.7   3.04 x]", rule)
    assert not lines_agree("code mean: [-7.7   3.04]", "code std: [-7.61  2.65]", rule)
    assert not lines_agree("x   1.0", "x 1.0", [])


def test_a_list_of_kinds_gives_each_number_its_own():
    rule = [{"kind": ["psnr", "mse"], "line": "remover"}]
    assert lines_agree("remover 17.41 dB 0.0817", "remover 17.01 dB 0.0800", rule)
    assert not lines_agree("remover 17.41 dB 0.0817", "remover 17.41 dB 0.1100", rule)  # the MSE is off by 35 %
    assert not lines_agree("remover 17.41 dB 0.0817", "remover 16.41 dB 0.0817", rule)  # the PSNR by 1 dB


def test_integers_move_only_where_the_kind_says_they_come_from_training():
    assert lines_agree("first epoch: 5", "first epoch: 6", [{"kind": "epoch", "line": "epoch"}])
    assert not lines_agree("first epoch: 5", "first epoch: 8", [{"kind": "epoch", "line": "epoch"}])
    assert not lines_agree("first epoch: 5", "first epoch: 6", [{"kind": "share", "line": "epoch"}])


def test_accuracies_are_compared_as_fractions_with_an_absolute_tolerance():
    rule = [{"kind": "share", "line": "accuracy"}]
    assert lines_agree("5-NN accuracy 0.506", "5-NN accuracy 0.497", rule)
    assert lines_agree("5-NN accuracy 50.6%", "5-NN accuracy 49.7%", rule)
    assert not lines_agree("5-NN accuracy 50.6%", "5-NN accuracy 40.6%", rule)
    assert not lines_agree("5-NN accuracy 0.506", "5-NN accuracy nan", rule)


def test_glued_values_follow_their_glue_rule_and_only_theirs():
    rules = [{"kind": "psnr", "glue": "psnr_.*"}]
    stored = [nbformat.v4.new_output("display_data", data={"text/plain": "'6.32'"},
                                     metadata={"scrapbook": {"name": "psnr_gain"}})]
    close = [nbformat.v4.new_output("display_data", data={"text/plain": "'6.26'"})]
    far = [nbformat.v4.new_output("display_data", data={"text/plain": "'4.90'"})]
    assert reconcile_outputs(close, stored, rules)[0]["data"]["text/plain"] == "'6.32'"
    assert reconcile_outputs(far, stored, rules)[0]["data"]["text/plain"] == "'4.90'"
    stored[0]["metadata"]["scrapbook"]["name"] = "mse_pca"
    assert reconcile_outputs(close, stored, rules)[0]["data"]["text/plain"] == "'6.26'"


def test_every_kind_accepts_rounding_and_rejects_a_real_change():
    # (typical value, a change that must fail): 30 % for numbers a model should reproduce, a doubling
    # for where an unconstrained code lands, for small counts and for ch10's SAE-error factor (it moved
    # 25 % between kernel paths), which move more from run to run
    typical = {"mse": (0.0155, 1.3), "loss": (100.0, 1.3), "psnr": (16.4, 1.1), "share": (0.5, 1.3),
               "auc": (0.9, 1.1), "angle": (2.0, 1.3), "ratio": (0.78, 1.3), "value": (1.0, 1.3),
               "spread": (8.0, 2.0), "epoch": (5, 1.4), "count": (55, 2.0), "count_rise": (0.49, 2.0),
               "grid_cells": (40, 1.5), "psnr_unseen": (-1.5, 2.5),
               "sae_error_effect": (1.67, 2.0)}
    assert set(typical) | {"exact", "solver"} == set(KINDS)
    # a convex fit's share moves by a digit or two of the 1,000 test digits, not by ten
    assert KINDS["solver"].agree(0.700, 0.699) and KINDS["solver"].agree(0.700, 0.704)
    assert not KINDS["solver"].agree(0.700, 0.690)
    assert not KINDS["exact"].agree(0.0175, 0.0176)
    for kind, (value, factor) in typical.items():
        assert KINDS[kind].agree(value, value * 1.01), kind
        assert not KINDS[kind].agree(value, value * factor), kind


NOTEBOOK_CELL = 'print(f"autoencoder: test MSE {0.0200:.4f}")\nprint("shape (1000, 784)")'


def run_nbval(tmp_path, stored_text, source=NOTEBOOK_CELL, rules=MSE_RULE):
    """Run pytest with nbval and this plugin on a one-cell notebook whose stored output is ``stored_text``."""
    cell = nbformat.v4.new_code_cell(source, execution_count=1, metadata={"tolerance": rules})
    cell.outputs = [stream(stored_text)] if stored_text is not None else []
    nb = nbformat.v4.new_notebook(cells=[cell])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "one.ipynb")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "nbval_tolerance", "--nbval", "--nbval-current-env",
         "-p", "no:cacheprovider", "--rootdir", str(tmp_path), "-c", "/dev/null", str(tmp_path / "one.ipynb")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT / "tests")},
    )
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("stored, passes", [
    ("autoencoder: test MSE 0.0200\nshape (1000, 784)\n", True),    # the same output
    ("autoencoder: test MSE 0.0202\nshape (1000, 784)\n", True),    # 1 % off: another CPU
    ("autoencoder: test MSE 0.0260\nshape (1000, 784)\n", False),   # 30 % off: a regression
    ("autoencoder: train MSE 0.0200\nshape (1000, 784)\n", False),  # a changed word
    ("autoencoder: test MSE 0.0200\nshape (1000, 783)\n", False),   # a changed shape
])
def test_nbval_with_the_plugin_passes_and_fails_as_it_should(tmp_path, stored, passes):
    code, output = run_nbval(tmp_path, stored)
    assert (code == 0) == passes, output[-3000:]
    if not passes:
        assert "compared within the tolerance of this cell's rules" in output


def test_nbval_with_the_plugin_fails_on_a_missing_output(tmp_path):
    code, output = run_nbval(tmp_path, "autoencoder: test MSE 0.0200\n", source="x = 0.0200")
    assert code != 0 and "Missing output fields" in output


def test_an_unknown_kind_is_an_error_not_a_pass():
    with pytest.raises(ValueError, match="'kind' must be one of"):
        lines_agree("a 1.0", "a 1.1", [{"kind": "close enough", "line": "a"}])


def test_rounding_for_print_is_allowed_one_unit_of_the_last_digit():
    # 0.559 and 0.524 differ by 0.035, within 0.04; glued with no decimals they read 56 % and 52 %
    assert numbers_agree("'56%'", "'52%'", KINDS["share"])
    assert not numbers_agree("'56%'", "'50%'", KINDS["share"])
    assert numbers_agree("0.0200", "0.0220", KINDS["mse"]) and not numbers_agree("0.0200", "0.0222", KINDS["mse"])
