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
    # In plain words, with no line of a test file the student cannot see.
    assert "write the body of pca_reconstruct in place of ..." in untouched['grader.check("q1")']
    assert "fill in your answer for test_mse_32 in place of ..." in untouched['grader.check("q3")']
    assert "Error at line" not in "".join(untouched.values())
    from test_grading import ANSWERS

    filled = run_as_student(tmp_path / "after", fill=ANSWERS)
    for question in ("q1", "q2", "q3", "q4"):
        assert f"{question} results: All test cases passed!" in filled[f'grader.check("{question}")'], filled[f'grader.check("{question}")']
    # The hidden tests are not in the student's notebook, so a student cannot see or run them.
    assert "hidden" not in filled['grader.check("q1")'].lower()


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_exercise_opens_with_its_title_then_colab_and_otter_set_up(master):
    exercise = json.loads((ROOT / "exercises" / master.stem / master.name).read_text())
    cells = exercise["cells"]
    assert cells[0]["cell_type"] == "markdown" and "".join(cells[0]["source"]).startswith("# Exercise: ")
    assert "colab-setup" in cells[1]["metadata"]["tags"]
    assert "".join(cells[2]["source"]).startswith("# Initialize Otter")
    prompts = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown" and "**Question" in "".join(c["source"])]
    from aecourse.assign import question_points

    points = question_points(master)
    assert len(prompts) == len(points) >= 1
    for prompt, (_, value) in zip(prompts, points):
        assert f"({value:g} point" in prompt.split("**")[1], prompt[:60]


def public_check_messages(master, env):
    """What each failing public check of ``master`` tells a student whose notebook holds ``env``."""
    from otter.test_files.exception_test import ExceptionTestFile

    exercise = json.loads((ROOT / "exercises" / master.stem / master.name).read_text())
    messages = []
    for question, source in exercise["metadata"]["otter"]["tests"].items():
        test_file = ExceptionTestFile.from_string(source, path=f"{question}.py")
        test_file.run(env)
        messages += [r.message for r in test_file.test_case_results if not r.passed]
    return messages


def untouched_answers(master):
    """The answers of an untouched exercise: `name = ...` and functions whose body is `...`."""
    import re

    exercise = json.loads((ROOT / "exercises" / master.stem / master.name).read_text())
    env = {"x_train": None, "x_test": None, "y_train": None, "y_test": None}
    for cell in exercise["cells"]:
        if "otter_answer_cell" not in cell["metadata"].get("tags", []):
            continue
        source = "".join(cell["source"])
        for name in re.findall(r"^(\w+) = \.\.\.$", source, flags=re.M):
            env[name] = ...
        for name in re.findall(r"^def (\w+)\(", source, flags=re.M):
            exec(f"def {name}(*args, **kwargs):\n    ...", env)
    return env


JARGON = ("Error at line", "line ", "ellipsis", "NoneType", "Traceback", "got function")


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_untouched_exercise_gets_plain_messages_from_its_public_checks(master):
    messages = public_check_messages(master, untouched_answers(master))
    assert messages, "an untouched exercise passes its public checks"
    for message in messages:
        text = message.replace("❌ Test case failed", "").strip()
        assert not any(word in text for word in JARGON), text
        assert "in place of ..." in text or "is not defined yet" in text, text


def test_an_error_in_the_students_code_is_named_without_test_lines():
    def pca_reconstruct(x_fit, x, k):
        return 1 / 0

    import numpy as np

    x = np.zeros((30, 784))
    messages = public_check_messages(MASTERS[0], {"pca_reconstruct": pca_reconstruct, "x_train": x, "x_test": x})
    assert messages and "ZeroDivisionError: division by zero" in messages[0]
    assert not any("Error at line" in m for m in messages)


def test_the_grader_keeps_otters_own_tests():
    # The autograder tests (used by aecourse.grade) are Otter's, unchanged.
    assert all("from otter.test_files import test_case" in t for t in autograder_tests(MASTERS[0]).values())


def test_an_unfilled_method_is_named_as_unanswered_not_tripped_over():
    # Before: exercise 11's untouched Sampling.call returned None, and the student read "call returned None"
    # and then an error from the check's own GradientTape.
    master = ROOT / "solutions" / "11_vae.ipynb"
    exercise = json.loads((ROOT / "exercises" / master.stem / master.name).read_text())
    (source,) = ["".join(c["source"]) for c in exercise["cells"]
                 if "otter_answer_cell" in c["metadata"].get("tags", []) and "class Sampling" in "".join(c["source"])]
    env = {}
    exec("import keras\nimport numpy as np\nimport tensorflow as tf\nfrom keras import layers, ops\n" + source, env)
    about_sampling = [m for m in public_check_messages(master, env) if "Sampling" in m]
    assert about_sampling and all("write the body of Sampling.call in place of ..." in m for m in about_sampling)


def test_messages_end_their_lines_between_words_and_say_how_to_see_an_error():
    from aecourse.checks import MESSAGE_WIDTH, plain_message

    long = AssertionError("x_test_noisy is not defined yet: write your answer in its cell and run that cell "
                          "(and the cells above it, from the top)")
    lines = plain_message(long).splitlines()
    assert len(lines) == 2 and all(len(line) <= MESSAGE_WIDTH for line in lines)
    assert " ".join(lines) == str(long)  # nothing lost, no word cut
    error = plain_message(ValueError("Attempt to convert a value (None) to a Tensor."))
    assert "to a Tensor. To see the line where it happens, call your function" in " ".join(error.splitlines())


def test_messages_keep_no_angle_brackets_a_browser_would_swallow():
    """Otter's HTML view shows a check's message unescaped: `<class 'NoneType'>` vanished there."""
    from aecourse.checks import plain_message

    error = plain_message(ValueError("Attempt to convert a value (None) with an unsupported type "
                                     "(<class 'NoneType'>) to a Tensor."))
    assert "unsupported type (NoneType) to a Tensor" in " ".join(error.splitlines())
    other = plain_message(TypeError("expected an array, got <function f at 0x7f>"))
    assert "got ‹function f at 0x7f›" in " ".join(other.splitlines()) and "<" not in other
    assert "x < 0.5" in plain_message(AssertionError("x < 0.5 should hold"))  # not a tag: kept


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_the_colab_cell_is_collapsed_and_check_all_promises_no_full_marks(master):
    cells = json.loads((ROOT / "exercises" / master.stem / master.name).read_text())["cells"]
    colab = next(c for c in cells if c["cell_type"] == "code")
    assert colab["metadata"]["jupyter"] == {"source_hidden": True}
    text = " ".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert "rerun all of the autograder tests" not in text and "does not mean full marks" in text


def prints_ellipsis(source):
    """True when running ``source`` in IPython would show ``Ellipsis`` under the cell."""
    import ast

    try:
        body = ast.parse(source).body
    except SyntaxError:  # IPython magics: not an answer cell
        return False
    last = body[-1] if body else None
    return isinstance(last, ast.Expr) and isinstance(last.value, ast.Constant) and last.value.value is Ellipsis


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_no_untouched_cell_prints_ellipsis(master):
    cells = json.loads((ROOT / "exercises" / master.stem / master.name).read_text())["cells"]
    shown = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and prints_ellipsis("".join(c["source"]))]
    assert not shown, f"cells {shown} end with a bare '...', which prints Ellipsis when run"
    assert prints_ellipsis("x = ...\n...") and not prints_ellipsis("def f():\n    ...")  # the control
