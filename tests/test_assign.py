"""Exercises are generated from the master notebooks and stay in sync with them."""

import json
import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from aecourse.assign import autograder_tests, stale_exercises, student_notebook
from conftest import ROOT

MASTERS = sorted((ROOT / "solutions").glob("*.ipynb"))


def test_every_master_has_its_exercise_and_nothing_else_is_there():
    exercises = sorted(p.name for p in (ROOT / "exercises").iterdir() if p.is_dir())
    assert exercises == [m.stem for m in MASTERS]


def test_committed_exercises_match_what_generation_gives():
    stale = stale_exercises()
    assert not stale, f"regenerate with `python -m aecourse.assign`: {stale}"


def test_an_edited_master_gives_a_different_exercise(tmp_path):
    master = tmp_path / MASTERS[0].name
    nb = nbformat.read(MASTERS[0], as_version=4)
    prompt = next(c for c in nb.cells if c.cell_type == "markdown" and "**Question 1.**" in c.source)
    prompt.source += "\n\nA sentence added by the instructor."
    nbformat.write(nb, master)
    generated = student_notebook(master)
    assert "A sentence added by the instructor." in generated
    assert generated != (ROOT / "exercises" / master.stem / master.name).read_text()


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_exercise_has_no_solutions_and_only_public_tests(master):
    exercise = json.loads((ROOT / "exercises" / master.stem / master.name).read_text())
    code = "\n".join("".join(c["source"]) for c in exercise["cells"])
    assert "BEGIN SOLUTION" not in code and "# SOLUTION" not in code
    assert "grader.check(" in code
    public = exercise["metadata"]["otter"]["tests"]
    full = autograder_tests(master)
    assert set(public) == set(full)
    for question in full:
        assert "hidden=True" not in public[question]
        assert "hidden=True" in full[question], f"{master.stem} {question} has no hidden test"


def run_as_student(tmp_path, fill=None):
    """Run the exercise in a copy of its folder, as JupyterLab would; return its outputs by cell source."""
    folder = tmp_path / "exercise"
    shutil.copytree(ROOT / "exercises" / "02_mnist_pca", folder)
    path = folder / "02_mnist_pca.ipynb"
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        for marker, source in (fill or {}).items():
            if "otter_answer_cell" in cell.metadata.get("tags", []) and marker in cell.source:
                cell.source = source
    NotebookClient(nb, timeout=300, allow_errors=True, resources={"metadata": {"path": str(folder)}}).execute()
    outputs = {}
    for cell in nb.cells:
        if cell.cell_type == "code":
            text = ""
            for output in cell.outputs:
                text += "".join(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
                text += str(output.get("evalue", ""))
            outputs[cell.source] = text
    return outputs


def test_student_sees_public_checks_fail_then_pass(tmp_path):
    untouched = run_as_student(tmp_path / "before")
    assert "q1 results:" in untouched['grader.check("q1")'] and "Test case failed" in untouched['grader.check("q1")']
    from test_grading import ANSWERS

    filled = run_as_student(tmp_path / "after", fill=ANSWERS)
    for question in ("q1", "q2", "q3"):
        assert f"{question} results: All test cases passed!" in filled[f'grader.check("{question}")'], filled[f'grader.check("{question}")']
    # The hidden tests are not in the student's notebook, so a student cannot see or run them.
    assert "hidden" not in filled['grader.check("q1")'].lower()
