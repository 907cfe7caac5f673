"""Choice questions give nothing away by their wording: the right option is never the longest one.

A student who cannot tell the explanations apart should not be able to score by picking the
most detailed option; every master's choice question is read here, its right letter taken from
the solution line that stores it (``name = "b"  # SOLUTION``, or that line
inside a ``# BEGIN SOLUTION`` block).
"""

import re

import nbformat
import pytest

from conftest import ROOT

OPTION = re.compile(r'^- (?:\(([a-d])\)|`"([a-d])"`:)\s*(.*)$')
MASTERS = sorted((ROOT / "solutions").glob("*.ipynb"))


def options(markdown):
    """The options of a markdown cell, {letter: text with its wrapped lines joined}."""
    found, letter = {}, None
    for line in markdown.splitlines():
        match = OPTION.match(line)
        if match:
            letter = match.group(1) or match.group(2)
            found[letter] = match.group(3).strip()
        elif letter and line.startswith("  ") and line.strip():
            found[letter] += " " + line.strip()
        else:
            letter = None
    return found


def choice_questions(nb):
    """(cell index, variable, right letter, options) of every choice question of a master."""
    questions = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown" or len(opts := options(cell.source)) < 3:
            continue
        for later in nb.cells[index + 1:index + 8]:
            # `name = "b"  # SOLUTION`, or `name = "b"` inside a BEGIN SOLUTION block
            answer = re.search(r'^(\w+) = "([a-d])"(?:\s+# SOLUTION)?\s*$', later.source, re.M)
            if (later.cell_type == "code" and answer and "SOLUTION" in later.source
                    and f"`{answer.group(1)}`" in cell.source):
                questions.append((index, answer.group(1), answer.group(2), opts))
                break
        else:
            raise AssertionError(f"cell {index}: options without a solution line that stores a letter")
    return questions


def longest_is_right(opts, right):
    """True when the right option is longer than every wrong one."""
    return len(opts[right]) > max(len(text) for letter, text in opts.items() if letter != right)


@pytest.mark.parametrize("path", MASTERS, ids=[p.stem for p in MASTERS])
def test_the_right_option_is_not_the_longest(path):
    for index, name, right, opts in choice_questions(nbformat.read(path, as_version=4)):
        lengths = {letter: len(text) for letter, text in opts.items()}
        assert not longest_is_right(opts, right), f"cell {index} ({name} = {right!r}): option lengths {lengths}"


def test_the_masters_have_choice_questions():
    found = {p.stem: [name for _, name, _, _ in choice_questions(nbformat.read(p, as_version=4))] for p in MASTERS}
    assert sum(map(len, found.values())) >= 8, found


def test_a_question_whose_longest_option_is_right_is_caught():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("Which is right? Store it in `why`.\n\n- (a) No.\n- (b) Chance.\n"
                                      "- (c) Because the loss is minimised on the training digits\n"
                                      "  and not on the test digits.\n"),
        nbformat.v4.new_code_cell('why = "c"  # SOLUTION'),
    ])
    [(_, name, right, opts)] = choice_questions(nb)
    assert (name, right) == ("why", "c") and opts["c"].endswith("not on the test digits.")
    assert longest_is_right(opts, right)
    assert not longest_is_right(opts | {"a": "No: " + "a much longer wrong explanation " * 3}, right)
