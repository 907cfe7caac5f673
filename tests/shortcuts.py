"""Score an answer against an exercise's own tests, public and hidden, without a sandbox.

The shortcut tests (``tests/test_shortcuts_*.py``) build a plausible wrong answer to a
question and show that it loses the question's points while the master's solution keeps
them. Both are scored here by the judge's own test runner on the instructor's set-up values,
as the grader scores a submission, but in this process: the answers are the tests' own code.
They take the grader's path but for the process boundary: the answers are harvested as
the sandbox harvests them (plain answers as data, the others left behind by name), and
every probe and call goes through the same pack, :func:`aegrader.kernel.serve` and unpack.
"""

import contextlib
import functools
import io

import nbformat

from aecourse.assign import master_path
from aegrader.assignment import Assignment
from aegrader.judge import _given_namespace, run_tests
from aegrader.kernel import harvest
from aegrader.plain import pack, unpack_frame
from aegrader.probes import answers_env, in_process
from aegrader.notebook import _question_blocks

__all__ = ["assignment", "given", "score", "scores", "short_of_full_marks", "solution"]


@functools.lru_cache(maxsize=None)
def assignment(name):
    """The :class:`~aegrader.assignment.Assignment` of master ``name`` (``"02_mnist_pca"``)."""
    return Assignment.load(name)


@functools.lru_cache(maxsize=None)
def _given(name):
    return _given_namespace(assignment(name).given_code)


def given(name):
    """A fresh copy of the names the master's set-up cells define (data, imports)."""
    return dict(_given(name))


@functools.lru_cache(maxsize=None)
def _solution(name):
    namespace = given(name)
    nb = nbformat.read(master_path(name), as_version=4)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        for kind, cell in _question_blocks(nb.cells):
            if kind in ("solution", "other"):
                exec(compile(cell.source, f"<{name} solution>", "exec"), namespace)
    return {k: namespace[k] for k in assignment(name).answers if k in namespace}


def solution(name):
    """The answers of the master's solution, by name (a copy: change it freely)."""
    return dict(_solution(name))


def scores(name, answers, questions=None):
    """``{question: (score, possible)}`` of the master's tests on ``answers`` (a dict of answer names).

    The set-up values win over an answer of the same name, as in the grader. ``questions``
    limits the run to those questions (the tests of the others may need answers not given).
    """
    tests = assignment(name).tests
    if questions is not None:
        tests = {q: tests[q] for q in questions}
    set_up = given(name)
    declared = set(assignment(name).answers) - set(set_up)
    harvested = unpack_frame(pack(harvest(sorted(declared), answers)))  # as it leaves the sandbox
    env = {**answers_env(harvested, declared, []), **set_up}
    results = run_tests(tests, env, ask=in_process(answers), given=_given(name))  # references: once per process
    return {q: (r["score"], r["possible"]) for q, r in results.items()}


def score(name, answers, question):
    """``(score, possible)`` of one question of master ``name`` on ``answers``."""
    return scores(name, answers, questions=[question])[question]


def short_of_full_marks(name, answers):
    """The questions of master ``name`` on which ``answers`` score less than full marks (or have no points)."""
    return [q for q, (got, possible) in scores(name, answers).items() if not (possible > 0 and got == possible)]
