"""House style of every notebook: code lines that fit the book's column, and a
Colab cell first in every chapter and exercise (see aecourse/notebooks.py).

The chapters are fixed with `python -m aecourse.notebooks --fix`, the
exercises by `python -m aecourse.assign`.
"""

import ast
import json

import pytest
from IPython.core.inputtransformer2 import TransformerManager

from aecourse.notebooks import LINE_LIMIT, colab_cell_source, fix_notebook, has_colab_cell, long_lines
from conftest import ROOT

CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
MASTERS = sorted((ROOT / "solutions").glob("*.ipynb"))
EXERCISES = sorted((ROOT / "exercises").glob("*/*.ipynb"))
ALL = CHAPTERS + MASTERS + EXERCISES


def name(path):
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("notebook", ALL, ids=name)
def test_code_lines_fit_the_page(notebook):
    found = long_lines(notebook)
    assert not found, f"{len(found)} code lines longer than {LINE_LIMIT} characters " \
        f"(fix with `python -m aecourse.notebooks --fix {name(notebook)}`): " + \
        "; ".join(f"cell {c}, line {n}: {len(line)} characters" for c, n, line in found[:5])


@pytest.mark.parametrize("notebook", CHAPTERS + EXERCISES, ids=name)
def test_first_code_cell_installs_the_course_on_colab(notebook):
    nb = json.loads(notebook.read_text())
    assert has_colab_cell(nb), f"run `python -m aecourse.notebooks --fix {name(notebook)}`"
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
    assert not cell["outputs"], "the Colab cell prints nothing outside Colab"
    assert "remove-cell" in cell["metadata"]["tags"]
    assert cell["metadata"].get("jupyter") == {"source_hidden": True}, "JupyterLab opens it folded"
    exercise = notebook.stem if notebook.parent.parent.name == "exercises" else None
    assert "".join(cell["source"]) == colab_cell_source(exercise)


@pytest.mark.parametrize("exercise", [None, "02_mnist_pca"])
def test_colab_cell_does_nothing_and_prints_nothing_outside_colab(exercise, capfd):
    source = colab_cell_source(exercise)
    scope = {}
    exec(compile(source, "colab-cell", "exec"), scope)
    assert "subprocess" not in scope and "repo" not in scope  # the Colab branch did not run
    out, err = capfd.readouterr()
    assert out == err == ""
    assert max(len(line) for line in source.splitlines()) <= LINE_LIMIT


def test_colab_cell_on_colab_installs_from_the_repository_and_writes_the_checks(monkeypatch, tmp_path):
    import subprocess
    import sys
    import types

    ran = []
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", lambda args, check: ran.append(args))
    written = []
    monkeypatch.setattr("aecourse.notebooks.write_public_tests", lambda path: written.append(path))
    exec(compile(colab_cell_source("02_mnist_pca"), "colab-cell", "exec"), {})
    assert ran[0][:2] == ["git", "clone"] and ran[0][-2].startswith("https://github.com/")
    assert ran[1][1:4] == ["-m", "pip", "install"] and "otter-grader==7.0.0" in ran[1]
    assert written == ["/content/hands-on-autoencoders/exercises/02_mnist_pca/02_mnist_pca.ipynb"]


def test_public_checks_are_written_where_otter_on_colab_reads_them(tmp_path):
    from aecourse.notebooks import write_public_tests

    paths = write_public_tests(ROOT / "exercises" / "02_mnist_pca" / "02_mnist_pca.ipynb", tmp_path / "tests")
    assert [p.name for p in paths] == ["q1.py", "q2.py", "q3.py", "q4.py"]
    assert "hidden=True" not in paths[0].read_text()


@pytest.mark.parametrize("exercise", EXERCISES, ids=name)
def test_exercise_code_parses(exercise):
    transform = TransformerManager().transform_cell
    for cell in json.loads(exercise.read_text())["cells"]:
        if cell["cell_type"] == "code":
            ast.parse(transform("".join(cell["source"])))


@pytest.mark.parametrize("master", MASTERS, ids=name)
def test_one_line_solutions_are_whole_statements(master):
    """Otter replaces a line ending in `# SOLUTION` on its own: it must hold a whole statement."""
    for cell in json.loads(master.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        for line in "".join(cell["source"]).splitlines():
            if line.rstrip().endswith(("# SOLUTION", "# SOLUTION NO PROMPT")):
                code = line.split("# SOLUTION")[0].strip()
                if code.startswith("return "):
                    code = f"def f():\n    {code}"
                ast.parse(code)


def test_the_style_check_finds_a_long_line_and_fix_wraps_it(tmp_path):
    long_call = "print(" + ", ".join(f'"word {i}"' for i in range(14)) + ")"
    comment = "# " + "a comment that goes on and on " * 4
    nb = {"cells": [{"cell_type": "markdown", "id": "t", "metadata": {}, "source": "# Title"},
                    {"cell_type": "code", "execution_count": 1, "id": "a", "metadata": {},
                     "outputs": [{"name": "stdout", "output_type": "stream", "text": "kept\n"}],
                     "source": f"{comment}\n{long_call}\nx = f\"{{1}} {'words ' * 15}\""}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "01_chapter.ipynb"
    path.write_text(json.dumps(nb))
    assert len(long_lines(path)) == 3
    assert fix_notebook(path, colab="chapter")
    fixed = json.loads(path.read_text())
    assert not long_lines(fixed)
    assert has_colab_cell(fixed) and fixed["cells"][0]["source"] == ["# Title"]
    code = fixed["cells"][2]
    assert code["outputs"][0]["text"] == "kept\n"
    before = ast.dump(ast.parse(f"{long_call}\nx = f\"{{1}} {'words ' * 15}\""))
    assert ast.dump(ast.parse("".join(code["source"]))) == before
    assert not fix_notebook(path, colab="chapter"), "a second --fix changes nothing"


def _fixed_source(tmp_path, source):
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": "a", "metadata": {},
                     "outputs": [], "source": source}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "cells.ipynb"
    path.write_text(json.dumps(nb))
    fix_notebook(path)
    fixed = "".join(json.loads(path.read_text())["cells"][0]["source"])
    assert not fix_notebook(path), "a second --fix changes nothing"
    return fixed


def test_fix_reflows_a_ragged_comment_paragraph_and_keeps_lists_and_markers(tmp_path):
    ragged = ("# Lesson check (hidden from the book, run by the tests): training accuracy passes 95%\n"
              "# within the run; the test\n"
              "# accuracy lags behind it then, creeps up afterwards, and stays below it at the end.\n"
              "#\n# - a list item\n# - another item\nx = 1  # SOLUTION\n")
    fixed = _fixed_source(tmp_path, ragged)
    assert fixed.splitlines()[:3] == [
        "# Lesson check (hidden from the book, run by the tests): training accuracy passes 95%",
        "# within the run; the test accuracy lags behind it then, creeps up afterwards, and stays",
        "# below it at the end.",
    ]
    assert fixed.splitlines()[3:] == ["#", "# - a list item", "# - another item", "x = 1  # SOLUTION"]


def test_fix_puts_a_trailing_comment_above_instead_of_wrapping_the_call(tmp_path):
    wrapped = ("pca = PCA(random_state=0).fit(\n    x_train\n)  # all 784 components; the first k give PCA"
               " with k components\ntest(\n    a\n)  # IGNORE\n")
    fixed = _fixed_source(tmp_path, wrapped)
    assert fixed.splitlines() == ["# all 784 components; the first k give PCA with k components",
                                  "pca = PCA(random_state=0).fit(x_train)",
                                  "test(a)  # IGNORE"]
    # and a long line with a trailing comment is not wrapped to keep it either
    long_line = "shown = one_of_each_digit(y_test)  # the test digits our figures show: a 0, a 1, ..., a 9\n"
    assert _fixed_source(tmp_path, long_line).splitlines() == [
        "# the test digits our figures show: a 0, a 1, ..., a 9", "shown = one_of_each_digit(y_test)"]
