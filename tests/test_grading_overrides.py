"""Decisions of the batch that no longer hang on the wording of a message.

No sandbox runs here: the command line is called with the assignment's loading and the
machine's check replaced, on a submission that cannot run at all (an empty file,
recorded without a sandbox), and a job's end is read from a folder made by hand.
"""

import json
from types import SimpleNamespace

import pytest

from aegrader import batch, cli
from aegrader.assignment import Assignment
from aegrader.jobs import Job, finish_job
from aegrader.limits import GradingLimits

TINY = Assignment(name="90_tiny", tests={}, given_code=[], answers=["n", "f"], possible={"q1": 1.0, "q2": 2.0},
                  digest="tiny")
LIMITS = GradingLimits(timeout=8.0, cell_timeout=4.0, memory_mb=2000.0, max_output_bytes=100_000)  # as the CLI's


@pytest.fixture
def no_sandbox_needed(monkeypatch):
    """The batch loads TINY and skips the machine's check: every submission here is kept or cannot run."""
    monkeypatch.setattr(batch, "Assignment", SimpleNamespace(load=lambda name: TINY))
    monkeypatch.setattr(batch._task.Grader, "check_machine", staticmethod(lambda unsafe=False: None))


# Decisions no longer read English sentences. Before, the command's exit code looked for
# "was not graded" in every sentence about the batch (a file name is part of one: the next
# test exited with 1), and a judge's result was taken for none when any problem, a
# student's own cell error included, held the word "result" (the last test got "the grader's
# tests used more than 8 s" added to a submission whose judge had finished).

def test_a_file_name_that_reads_like_a_failure_does_not_change_the_exit_code(tmp_path, no_sandbox_needed, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "x was not graded.ipynb").write_bytes(b"")
    (tmp_path / "roster.csv").write_text("file,student\nsomeone.ipynb,s1\n")
    assert cli.main([str(folder), "--assignment", "90_tiny", "--out", str(tmp_path / "out"), "--quiet",
                     "--roster", str(tmp_path / "roster.csv")]) == 0
    assert "listed under their own name: x was not graded.ipynb" in capsys.readouterr().err  # the same sentence


def test_the_exit_code_says_whether_a_submission_went_ungraded(monkeypatch, capsys):
    def batch_with(ungraded):
        def grade_folder(*args, problems, **kwargs):
            problems.append("a.ipynb was not graded: a worker failed with OSError: gone; run the same command to try "
                            "again")
            problems.ungraded.extend(ungraded)
            return [{"assignment": "90_tiny", "total": 0, "possible": 3, "problems": []}]
        return grade_folder

    for ungraded, code in ((["a.ipynb"], 1), ([], 0)):
        monkeypatch.setattr(cli, "grade_folder", batch_with(ungraded))
        assert cli.main(["in", "--assignment", "90_tiny", "--quiet"]) == code
        assert "warning: a.ipynb was not graded: a worker failed" in capsys.readouterr().err


class Finished:
    """A group or runner whose processes are gone."""

    def kill(self):
        return True

    def cpu_seconds(self):
        return 0.0

    def wait(self, timeout=None):
        return 0


def job_in(folder, judge_cpu_seconds):
    return Job("a.ipynb", "sha", "key", folder, Finished(), Finished(), Finished(), 0, 0.0,
               judge_cpu_seconds=judge_cpu_seconds, measured=(False, False, 100))


def test_a_cell_error_that_says_result_is_not_taken_for_a_missing_judge_result(tmp_path):
    cell_error = "cell 4 raised NameError: name 'result' is not defined"
    (tmp_path / "result.json").write_text(json.dumps(
        {"status": "graded", "problems": [cell_error], "questions": {"q1": {"score": 1, "failed": []}}}))
    _, problems, status, _ = finish_job(job_in(tmp_path, LIMITS.timeout), LIMITS)
    assert problems == [cell_error] and status == "graded"  # before: "the grader's tests used more than 8 s" too
    (tmp_path / "result.json").unlink()
    _, problems, status, _ = finish_job(job_in(tmp_path, LIMITS.timeout), LIMITS)
    stopped = "the grader's tests used more than 8 s of CPU time on this submission's answers and were stopped"
    assert problems == ["the grader's judge ended without a result", stopped]
    assert status == "error"
