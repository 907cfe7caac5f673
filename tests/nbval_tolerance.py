"""Numeric tolerance for nbval: numbers that come from training may differ in their last digits.

nbval compares every output of a re-executed notebook with the stored one, character for
character (it has no numeric tolerance of its own: its issue #6). Training a network gives
other last digits on a CPU with other kernels, so this plugin, loaded by pytest's settings in
pyproject.toml, lets a cell declare which of its numbers come from training and how much
they may move. Everything else stays exact: text, shapes, counts, table layouts, and the
numbers of lines no rule names (data counts, PCA results).

A cell declares its rules in its metadata, each naming a *kind* of number from
:data:`KINDS` and where such numbers stand, a printed line or a glued value::

    "metadata": {"tolerance": [
        {"kind": "mse", "line": "autoencoder"},
        {"kind": ["psnr", "mse"], "line": "mark remover"},
        {"kind": "share", "glue": "knn_ae_2d"}
    ]}

``line`` is a regular expression searched in each line of the cell's text outputs (stdout,
``text/plain``, ``text/html``, ...): on a stored line it matches, the decimal numbers (with a
``.``, an exponent or a ``%``) may differ by the kind's tolerance, and every other character,
integers included, must be the same. ``glue`` is a regular expression matched against the
whole name of a value glued with ``myst_nb.glue``: its decimal numbers are compared the same
way, and the spaces that border them may differ (numpy pads a printed array to its widest
number, on either side of it). A list of kinds gives one kind to each number of the line in order. A number written
with ``%`` is compared as a fraction (``93.1%`` is 0.931).

The plugin only decides that two outputs agree; when they do not, nbval reports the stored
and fresh output as usual, and this plugin adds which rules it tried. Run it on two
notebooks outside pytest with ``python tests/nbval_tolerance.py STORED.ipynb FRESH.ipynb``.
"""

import copy
import json
import math
import re
import sys
from dataclasses import dataclass

from aegrader.notebook import without_iri_checks

# This plugin loads before nbval (``-p`` plugins load first): nbval's import of nbformat then
# skips a grammar no notebook uses, 2-5 CPU s in every pytest process (controller, workers and
# the tests' own pytest runs).
without_iri_checks()

__all__ = ["KINDS", "Tolerance", "lines_agree", "reconcile_outputs", "compare_notebooks"]


@dataclass(frozen=True)
class Tolerance:
    """Two numbers agree when ``|fresh - stored| <= absolute + relative * |stored|`` (+ one unit of
    the last printed digit, which rounding for print may add: 55.9 % and 52.4 % are glued as 56 % and 52 %).

    Only decimal numbers may differ, unless ``integers`` says that whole numbers on the line
    come from training too (an epoch, a count of misclassified digits).
    """

    relative: float = 0.0
    absolute: float = 0.0
    integers: bool = False

    def agree(self, stored, fresh, unit=0.0):
        """``unit`` is the last printed digit's place: rounding for print may add one of it."""
        if not (math.isfinite(stored) and math.isfinite(fresh)):
            return stored == fresh
        return abs(fresh - stored) <= self.absolute + self.relative * abs(stored) + unit


# What each kind of trained number may move between machines. Each bound was set from what
# the number measures and from how far it moved when every chapter was re-run on two other
# kernel paths of this machine (ONEDNN_MAX_CPU_ISA=SSE41, and one core), the largest move is
# quoted; with other random numbers (AECOURSE_SEED_OFFSET=100) most move more, and a few,
# noted, far more: a CPU changes a run's last bits, a seed changes the whole run.
KINDS = {
    # not from training: a label, a data count or a setting on a line with trained numbers
    "exact": Tolerance(),
    # a test MSE per pixel: moved up to 6.6 % (ch08's 4-epoch dense model at 32), 10 % with a new seed
    "mse": Tolerance(relative=0.10),
    # a loss in nats or a VAE's loss term: moved up to 1.3 %, 3.8 % with a new seed
    "loss": Tolerance(relative=0.10),
    # a PSNR or PSNR gain in dB: moved up to 0.19 dB, 0.33 dB with a new seed (0.46 dB is a 10 % MSE)
    "psnr": Tolerance(absolute=0.5),
    # a share of the 1,000 test digits or of code values (accuracy, precision@k): moved up to 0.022
    "share": Tolerance(absolute=0.04),
    # a share of the test digits from a convex fit on fixed features (lbfgs logistic regression stops at a
    # tolerance, so another BLAS flips a digit on the boundary): 0.700 on this CPU, 0.699 on CI's
    "solver": Tolerance(absolute=0.005),
    # a ROC AUC on 1,000 test digits: moved by less than 0.001, also with a new seed
    "auc": Tolerance(absolute=0.02),
    # an angle in degrees between a trained subspace and PCA's: did not move, 0.3 degrees with a new seed
    "angle": Tolerance(absolute=0.5),
    # the PSNR gain of a model on inputs unlike those it trained on (exercise 07's plain autoencoder on
    # noisy digits, -0.82 dB): moved 0.71 dB with oneDNN held to SSE4.1, 0.72 dB with a seed
    "psnr_unseen": Tolerance(absolute=1.5),
    # a ratio of two trained errors or a relative gain (112 %, 12 % less): moved up to 0.07
    "ratio": Tolerance(absolute=0.10),
    # the rise of a count of tens of digits (ch10's misclassified digits, 57 -> 85, +49 %): a few
    # digits on a class boundary flipping moved it by 0.17 with oneDNN held to SSE4.1, 0.14 with a seed
    "count_rise": Tolerance(absolute=0.25),
    # a statistic of a trained model's weights, codes or samples (norms, cosines, diversity): up to 0.9 %
    "value": Tolerance(relative=0.10, absolute=0.01),
    # where an unconstrained code lands (its mean and spread): moved up to 13 %; a new seed puts it anywhere
    "spread": Tolerance(relative=0.5, absolute=0.5),
    # the epoch at which a training curve crosses a line: did not move, one epoch with a new seed
    "epoch": Tolerance(absolute=1, integers=True),
    # how much more a sparse autoencoder's reconstruction error hurts a classifier than a random error of the
    # same size (ch10: the cross-entropy rises and their ratio): the ratio moved 0.42 with oneDNN held to
    # SSE4.1 (1.67 -> 1.25), 0.35 with a seed; the SAE's rise 0.070 -> 0.052
    "sae_error_effect": Tolerance(relative=0.4, absolute=0.02),
    # a count of digits or code units a trained model gets wrong or leaves unused: moved by 1, by 8 with a seed
    "count": Tolerance(relative=0.5, absolute=3, integers=True),
    # how many of a decoded 20 x 20 grid's cells a judge gives one class (ch11): the cells on a class
    # boundary change hands, up to 9 of 400 on one core, 7 with oneDNN held to SSE4.1
    "grid_cells": Tolerance(absolute=15, integers=True),
}

# A number: optional sign, digits with a decimal point or exponent, or an integer; optional %.
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?%?")


def _split(line):
    """A line as (text pieces, number tokens): text[0] num[0] text[1] ... num[-1] text[-1]."""
    return _NUMBER.split(line), _NUMBER.findall(line)


def _spaced(pieces):
    """Text pieces without the spaces that border a number, other runs of spaces as one.

    numpy pads a printed array to its widest number, on either side: ``[-7.7   3.04]``
    and ``[-7.62  2.8 ]`` are the same text around other numbers.
    """
    last = len(pieces) - 1
    spaced = []
    for index, piece in enumerate(pieces):
        piece = re.sub(r" +", " ", piece)
        if index > 0:
            piece = piece.lstrip(" ")
        if index < last:
            piece = piece.rstrip(" ")
        spaced.append(piece)
    return spaced


def _is_decimal(token):
    return any(c in token for c in ".eE%")


def _unit(token):
    """The place of a number's last printed digit: 0.01 for 16.39, 0.01 for 56% (a fraction)."""
    mantissa = re.split(r"[eE]", token.rstrip("%"))[0]
    places = len(mantissa.split(".")[1]) if "." in mantissa else 0
    exponent = int(re.split(r"[eE]", token.rstrip("%"))[1]) if re.search(r"[eE]", token) else 0
    return 10.0 ** (exponent - places) / (100 if token.endswith("%") else 1)


def _value(token):
    return float(token[:-1]) / 100 if token.endswith("%") else float(token)


def numbers_agree(stored, fresh, tolerance):
    """True when two strings differ only in numbers that agree within ``tolerance``.

    ``tolerance`` is one :class:`Tolerance` for every number, or a list of them, one for each
    number of the line in order (integers included).
    """
    stored_text, stored_numbers = _split(stored)
    fresh_text, fresh_numbers = _split(fresh)
    if _spaced(stored_text) != _spaced(fresh_text) or len(stored_numbers) != len(fresh_numbers):
        return False
    tolerances = tolerance if isinstance(tolerance, list) else [tolerance] * len(stored_numbers)
    if len(tolerances) != len(stored_numbers):
        return False
    for s, f, tolerance in zip(stored_numbers, fresh_numbers, tolerances):
        if s == f:
            continue
        if _is_decimal(s) != _is_decimal(f) or s.endswith("%") != f.endswith("%"):
            return False
        if not (_is_decimal(s) or tolerance.integers):
            return False
        if not tolerance.agree(_value(s), _value(f), _unit(s)):
            return False
    return True


def _kind(rule):
    """The rule's Tolerance, or a list of them where its kind is a list (one kind per number)."""
    kinds = rule.get("kind")
    try:
        if isinstance(kinds, list):
            return [KINDS[kind] for kind in kinds]
        return KINDS[kinds]
    except (KeyError, TypeError):
        raise ValueError(f"tolerance rule {rule!r}: 'kind' must be one of {sorted(KINDS)} or a list of them") from None


def lines_agree(stored, fresh, rules):
    """True when two text outputs agree line by line, numbers within the tolerance of the line's rule.

    A line no ``line`` rule matches must be the same character for character.
    """
    if stored == fresh:
        return True
    stored_lines, fresh_lines = stored.split("\n"), fresh.split("\n")
    if len(stored_lines) != len(fresh_lines):
        return False
    line_rules = [(re.compile(r["line"]), _kind(r)) for r in rules if "line" in r]
    for s, f in zip(stored_lines, fresh_lines):
        if s == f:
            continue
        tolerance = next((t for pattern, t in line_rules if pattern.search(s)), None)
        if tolerance is None or not numbers_agree(s, f, tolerance):
            return False
    return True


def _text(value):
    return "".join(value) if isinstance(value, list) else value


def _glue_name(output):
    return output.get("metadata", {}).get("scrapbook", {}).get("name")


def _fields(output):
    """(key, getter, setter) for each compared text field of one output, in nbval's flattening."""
    if output.get("output_type") == "stream":
        yield output["name"], lambda: output["text"], lambda v: output.__setitem__("text", v)
    for key in sorted(output.get("data", {})):
        data = output["data"]
        yield key, (lambda k=key: data[k]), (lambda v, k=key: data.__setitem__(k, v))


def reconcile_outputs(fresh_outputs, stored_outputs, rules):
    """A copy of the fresh outputs in which each text that agrees within tolerance is the stored one.

    Fields are paired as nbval pairs them: per stream name or MIME type, in order. What does
    not agree is left as it is, so nbval's exact comparison then reports it.
    """
    fresh_outputs = copy.deepcopy(fresh_outputs)
    glue_rules = [(re.compile(r["glue"]), _kind(r)) for r in rules if "glue" in r]
    stored_fields, fresh_fields = {}, {}
    for output in stored_outputs:
        for key, get, _ in _fields(output):
            stored_fields.setdefault(key, []).append((get(), _glue_name(output)))
    for output in fresh_outputs:
        for key, get, put in _fields(output):
            fresh_fields.setdefault(key, []).append((get, put))
    for key, pairs in fresh_fields.items():
        for (get, put), (stored, glue_name) in zip(pairs, stored_fields.get(key, [])):
            fresh, stored_text = get(), _text(stored)
            if not (isinstance(_text(fresh), str) and isinstance(stored_text, str)):
                continue
            glue_tolerance = next((t for p, t in glue_rules if glue_name and p.fullmatch(glue_name)), None)
            if glue_tolerance is not None:
                agree = numbers_agree(stored_text, _text(fresh), glue_tolerance)
            else:
                agree = lines_agree(stored_text, _text(fresh), rules)
            if agree:
                put(stored)
    return fresh_outputs


def cell_rules(cell):
    """The tolerance rules a notebook cell declares in its metadata (a list, maybe empty)."""
    rules = cell.get("metadata", {}).get("tolerance", [])
    for rule in rules:
        _kind(rule)
        if ("line" in rule) == ("glue" in rule):
            raise ValueError(f"tolerance rule {rule!r} needs exactly one of 'line' or 'glue'")
    return rules


# The nbval kernels inherit these, in every run of pytest (this plugin is loaded by
# pyproject.toml's options, also for `pytest book/05_stacked.ipynb`, where tests/conftest.py is
# not): no progress display in a training cell (the stored outputs have none), and a chapter
# whose stored model is missing or stale fails instead of training it (aecourse/store.py).
KERNEL_ENVIRONMENT = {"AECOURSE_QUIET": "1", "AECOURSE_STORE_STRICT": "1"}


def pytest_configure(config):
    """Set the kernels' environment; wrap nbval's comparison of a cell's outputs so that the
    cell's tolerance rules apply first."""
    import os

    from nbval.plugin import IPyNbCell

    os.environ.update(KERNEL_ENVIRONMENT)

    exact = IPyNbCell.compare_outputs
    if getattr(exact, "tolerant", False):
        return

    def compare_outputs(self, test, ref, skip_compare=None):
        rules = cell_rules(self.cell)
        if rules:
            test = reconcile_outputs(test, ref, rules)
        agree = exact(self, test, ref, skip_compare)
        if not agree and rules:
            self.comparison_traceback.append(
                "(numbers were compared within the tolerance of this cell's rules "
                + ", ".join(f"{r['kind']} on {r['line']!r}" if "line" in r else f"{r['kind']} on glue {r['glue']!r}"
                            for r in rules)
                + "; what is shown still differs beyond them)")
        return agree

    compare_outputs.tolerant = True
    IPyNbCell.compare_outputs = compare_outputs


def compare_notebooks(stored_path, fresh_path):
    """The code cells whose outputs differ between two executions of a notebook, past the tolerances.

    Cells are paired by their id, so the fresh run may come from an older or newer version of the
    notebook; the rules are the stored cell's. Returns (stored cell index, stored text, fresh text)
    for each cell that differs.
    """
    import nbformat
    from nbval.plugin import coalesce_streams

    stored = nbformat.read(stored_path, as_version=4)
    fresh = nbformat.read(fresh_path, as_version=4)
    fresh_by_id = {cell.get("id"): cell for cell in fresh.cells}
    differences = []
    for index, s in enumerate(stored.cells):
        f = fresh_by_id.get(s.get("id"))
        if s.cell_type != "code" or f is None:
            continue
        s_outputs, f_outputs = coalesce_streams(s.outputs), coalesce_streams(f.outputs)
        f_outputs = reconcile_outputs(f_outputs, s_outputs, cell_rules(s))
        s_fields = [(k, _text(g())) for o in s_outputs for k, g, _ in _fields(o) if k not in _SKIPPED]
        f_fields = [(k, _text(g())) for o in f_outputs for k, g, _ in _fields(o) if k not in _SKIPPED]
        if s_fields != f_fields:
            differences.append((index, json.dumps(s_fields)[:2000], json.dumps(f_fields)[:2000]))
    return differences


# MIME types nbval does not compare by default (images, widget ids).
_SKIPPED = {"image/png", "image/jpeg", "application/vnd.jupyter.widget-view+json"}


if __name__ == "__main__":
    found = compare_notebooks(sys.argv[1], sys.argv[2])
    for index, stored, fresh in found:
        print(f"cell {index}:\n  stored: {stored}\n  fresh:  {fresh}")
    print(f"{len(found)} cells differ past their tolerances")
    sys.exit(1 if found else 0)
