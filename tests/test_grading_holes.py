"""Holes of issue 21, closed: answer names, comm messages, and the judge's and the calls' time.

The injection and widget submissions are in the attack batch of test_grading_attacks
(scored with the rest). This module grades a tiny assignment of its own, whose tests
let a submission's answers cost the judge CPU time and its function cost wall time.
"""

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

from aecourse.grade import GradingLimits, grade_folder
from test_grading import graded, score  # noqa: F401
from test_sandbox import needs_bwrap  # noqa: F401  (installs bubblewrap when missing)

# An honest tiny submission costs 2.6 CPU s on a 2-GHz Xeon (December 2026; the runner, its kernel and
# the harvest): 8 s leaves 3x for a slower CPU.
TINY_LIMITS = GradingLimits(timeout=8, cell_timeout=4, memory_mb=2000, max_output_bytes=100_000)
CONFIG = ("# ASSIGNMENT CONFIG\nname: 90_tiny\ninit_cell: false\ncheck_all_cell: false\nexport_cell: false\n"
          "run_tests: false\ngenerate: false\ntests:\n  files: false\n  ok_format: false")
KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}


def question(name, solution, tests):
    cells = [new_raw_cell(f"# BEGIN QUESTION\nname: {name}\npoints: 1"), new_markdown_cell(f"Question {name}."),
             new_raw_cell("# BEGIN SOLUTION"), new_code_cell(solution), new_raw_cell("# END SOLUTION"),
             new_raw_cell("# BEGIN TESTS"), *[new_code_cell(t) for t in tests], new_raw_cell("# END TESTS"),
             new_raw_cell("# END QUESTION")]
    return cells


def tiny_master(path):
    """q1: a hidden test whose work grows with the answer ``n``; q2: three tests that each call ``f``."""
    hidden = '"""  # BEGIN TEST CONFIG\nhidden: true\n"""  # END TEST CONFIG\n\n'
    nb = new_notebook(cells=[
        new_raw_cell(CONFIG), new_markdown_cell("# Tiny"), new_code_cell("import time\nbase = 7"),
        *question("q1", "n = 3  # SOLUTION", [hidden + "def test_n(n, base):\n"
                                               "    assert sum(i % base for i in range(n)) == 3 and n == 3, 'n is not 3'"]),
        *question("q2", "def f():\n    return 1  # SOLUTION",
                  [f"def test_f{i}(f):\n    assert f() == 1, 'f() is not 1'" for i in range(3)]),
    ], metadata={"kernelspec": KERNEL})
    nbformat.write(nb, path)
    return path


def submission(path, *cells):
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells], metadata={"kernelspec": KERNEL}), path)


SLOW_RUN_SECONDS = 8  # slow_call's notebook run, inside its cell's wall time (12 s)
SLEEPS_FOREVER = "def f():\n    while True:\n        try:\n            time.sleep(1)\n        except KeyboardInterrupt:\n            pass"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, needs_bwrap):
    base = tmp_path_factory.mktemp("tiny")
    master = tiny_master(base / "90_tiny.ipynb")
    folder = base / "in"
    folder.mkdir()
    submission(folder / "honest.ipynb", "n = 3", "def f():\n    return 1")
    submission(folder / "judge_burner.ipynb", "n = 10**13", "def f():\n    return 1")
    submission(folder / "slow_call.ipynb", f"import time\ntime.sleep({SLOW_RUN_SECONDS})", "n = 3", SLEEPS_FOREVER)
    submission(folder / "kernel_modules.ipynb", "print('sys' in globals())",
               "import sys, nbformat\nprint([m for m in ('rfc3987_syntax', 'jsonschema') if sys.modules.get(m)])",
               "n = 3", "def f():\n    return 1")
    records = grade_folder(folder, master, base / "out", jobs=3, limits=TINY_LIMITS, progress=False)
    return {r["submission"]: r | {"out": base / "out"} for r in records}


def test_the_kernel_skips_the_unused_grammar_and_keeps_the_students_namespace(tiny):
    record = tiny["kernel_modules.ipynb"]
    executed = nbformat.read(record["out"] / record["files"]["executed"], as_version=4)
    printed = [cell.outputs[0]["text"].strip() for cell in executed.cells[:2]]
    # The startup file the runner writes imports sys without leaving its name behind.
    assert printed == ["False", "['jsonschema']"]
    assert record["total"] == 2


def test_an_answer_that_makes_a_test_compute_forever_costs_that_test_only(tiny):
    assert tiny["honest.ipynb"]["total"] == 2
    burner = tiny["judge_burner.ipynb"]
    assert burner["questions"]["q1"]["score"] == 0 and burner["questions"]["q2"]["score"] == 1
    assert f"more than {TINY_LIMITS.cell_timeout:g} s of the grader's CPU time" in burner["questions"]["q1"]["comment"]
    # Without the judge's CPU limit it held its slot until the judge's wall-clock backstop (168 s).
    assert burner["seconds"] < 2 * TINY_LIMITS.wall_timeout


def test_the_tests_calls_share_the_submissions_wall_clock_backstop(tiny):
    slow = tiny["slow_call.ipynb"]
    assert slow["questions"]["q1"]["score"] == 1 and slow["questions"]["q2"]["score"] == 0
    assert "the submission's time is used up" in slow["questions"]["q2"]["comment"]
    # Before, the calls got a fresh backstop after the notebook's run: an honest submission's
    # time, plus the run's sleep, plus a whole backstop. Now they share the submission's: the
    # larger of the backstop and (run + half of it), which stays 6 s below that bound.
    assert slow["seconds"] < tiny["honest.ipynb"]["seconds"] + TINY_LIMITS.wall_timeout + 2


def test_only_declared_answers_reach_the_tests_and_set_up_values_win(graded):  # noqa: F811
    scores, problems = score(graded, "inject_set_up.ipynb")
    assert scores == {"q1": 0, "q2": 1, "q3": 1, "q4": 3}  # what its buggy function earns on the instructor's data
    assert "names the assignment does not ask for (x_test, x_train)" in problems
    assert score(graded, "honest_bug.ipynb")[0] == scores  # before: 9 of 9, the tests ran on its own data


@pytest.mark.parametrize("name", ["widget_malformed.ipynb", "widget_real.ipynb"])
def test_widget_and_comm_messages_cost_nothing(graded, name):  # noqa: F811
    scores, problems = score(graded, name)
    assert sum(scores.values()) == 9, problems  # before: 0 of 9 for the malformed one, "the sandbox failed"
    assert "sandbox failed" not in problems and "could not follow" not in problems
