"""The instructor's overrides, and decisions that no longer hang on the wording of a message.

The gradebook is written from stored results made by hand (:func:`make_record`, saved as
the batch saves them), so no sandbox runs here: the batch and the command line are
called with the assignment's loading and the machine's check replaced, and a
submission they see is either kept by its resume key or cannot run at all (an empty
file, recorded without a sandbox).
"""

import csv
import io
import json
from types import SimpleNamespace

import pytest

from aegrader import batch, cli
from aegrader.assignment import Assignment
from aegrader.gradebook import OutputFolder, disk_name
from aegrader.jobs import Job, finish_job
from aegrader.limits import GradingLimits
from aegrader.records import make_record, resume_key
from aegrader.roster import read_overrides

TINY = Assignment(name="90_tiny", tests={}, given_code=[], answers=["n", "f"], possible={"q1": 1.0, "q2": 2.0},
                  digest="tiny")
LIMITS = GradingLimits(timeout=8.0, cell_timeout=4.0, memory_mb=2000.0, max_output_bytes=100_000)  # as the CLI's
ALICE = b'{"a notebook": "kept by its resume key, never opened"}'
REASON = "regrade request: the plot was right"


def stored(out, name, raw, q1, q2):
    """Save a graded record of ``name`` as the batch does; its resume key matches ``raw`` under LIMITS."""
    failed = [{"hidden": True, "message": "the plot is wrong"}]
    judged = {"questions": {"q1": {"score": q1}, "q2": {"score": q2, "failed": failed if q2 < 2 else []}}}
    record = make_record(TINY, name, "sha", resume_key(TINY, LIMITS, False, raw), judged, [], "graded")
    return batch._save(out, record)


def rows(text):
    return list(csv.DictReader(io.StringIO(text)))


def grades(out):
    return {r["student"]: r for r in rows((out / "grades.csv").read_text())}


def written(tmp_path, overrides_text, roster=None):
    """alice (q1 1, q2 0) and bob (q1 1, q2 2) written with ``overrides_text``; (out path, problems)."""
    (tmp_path / "overrides.csv").write_text(overrides_text)
    table, problems = read_overrides(tmp_path / "overrides.csv")
    with OutputFolder(tmp_path / "out") as out:
        stored(out, "alice.ipynb", ALICE, 1, 0)
        stored(out, "bob.ipynb", b"", 1, 2)
        problems += out.write_gradebook(out.records(TINY.name), roster, TINY, summary=True, overrides=table)
    return tmp_path / "out", problems


def test_an_override_changes_the_score_in_every_file_and_says_so(tmp_path):
    out, problems = written(tmp_path, f"student,question,score,reason\nalice,q2,1.5,{REASON}\n")
    assert problems == []
    table = grades(out)
    assert list(table["alice"]) == ["student", "q1", "q2", "total", "status", "overridden"]
    assert (table["alice"]["q2"], table["alice"]["total"], table["alice"]["overridden"]) == ("1.5", "2.5",
                                                                                           f"q2 ({REASON})")
    assert (table["bob"]["total"], table["bob"]["overridden"]) == ("3", "")
    book = {(r["submission"], r["question"]): r for r in rows((out / "gradebook.csv").read_text())}
    assert book["alice.ipynb", "q2"]["score"] == "1.5"
    assert book["alice.ipynb", "q2"]["overridden"] == f"set by the instructor (the tests gave 0): {REASON}"
    assert "the plot is wrong" in book["alice.ipynb", "q2"]["comment"]  # what the tests said stays
    assert (book["alice.ipynb", "total"]["score"], book["alice.ipynb", "total"]["overridden"]) == ("2.5",
                                                                                                 f"q2 ({REASON})")
    assert book["bob.ipynb", "q2"]["overridden"] == book["bob.ipynb", "total"]["overridden"] == ""
    feedback = json.loads((out / "feedback.json").read_text())
    assert feedback["alice.ipynb"]["total"] == 2.5 and feedback["alice.ipynb"]["overridden"] == [f"q2 ({REASON})"]
    assert feedback["alice.ipynb"]["questions"]["q2"]["override"] == {"graded": 0.0, "reason": REASON}
    assert "overridden" not in feedback["bob.ipynb"] and "override" not in feedback["bob.ipynb"]["questions"]["q2"]
    letter = (out / "feedback" / disk_name("alice.ipynb", ".md")).read_text()
    assert "2.5 of 3 points" in letter and "## q2: 1.5 of 2" in letter
    assert f"The instructor set q2 to 1.5 points (the tests gave 0): {REASON}." in letter
    summary = {r["question"]: r for r in rows((out / "summary.csv").read_text())}
    assert summary["q2"]["mean"] == "1.750" and summary["q2"]["overridden"] == "1"
    assert summary["q1"]["overridden"] == "0" and summary["total"]["mean"] == "2.750"
    result = json.loads((out / "results" / disk_name("alice.ipynb", ".json")).read_text())
    assert result["total"] == 1 and "overrid" not in json.dumps(result)  # the stored result is as graded


def test_without_overrides_the_files_keep_their_columns(tmp_path):
    out, problems = written(tmp_path, "student,question,score,reason\n")
    assert problems == []
    assert list(grades(out)["alice"]) == ["student", "q1", "q2", "total", "status"]
    assert "overridden" not in (out / "gradebook.csv").read_text() + (out / "summary.csv").read_text()


def test_the_student_is_named_as_in_grades_csv_by_roster_id_or_file_name(tmp_path):
    text = "student,question,score,reason\ns-alice,q2,2,by id\nbob.ipynb,q1,0,by file name\n"
    out, problems = written(tmp_path, text, roster={"alice": "s-alice", "bob": "s-bob"})
    assert problems == []
    table = grades(out)
    assert (table["s-alice"]["total"], table["s-bob"]["total"]) == ("3", "2")


@pytest.mark.parametrize("row, warning", [
    ("carol,q1,1,no such student", "(carol, q1): no student or file of that name in the gradebook; ignored"),
    ("alice,q9,1,no such question", "(alice, q9): the assignment has no question q9 (it has q1, q2); ignored"),
    ("alice,q2,3,above the points", "(alice, q2): the score 3 is not between 0 and 2; ignored"),
    ("alice,q2,-1,negative", "(alice, q2): the score -1 is not between 0 and 2; ignored"),
    ("alice,q2,two,not a number", ": the score 'two' is not a number; ignored"),
    ("alice,q2,nan,not a number", ": the score 'nan' is not a number; ignored"),
    (",q2,1,no student", " has no student or no question; ignored"),
    ("alice", " has no student or no question; ignored"),  # a short row
])
def test_a_bad_row_is_reported_in_one_line_and_changes_no_other_grade(tmp_path, row, warning):
    out, problems = written(tmp_path, f"student,question,score,reason\nbob,q2,1,kept\n{row}\n")
    assert len(problems) == 1 and problems[0].startswith("line 3 of the overrides file") and "\n" not in problems[0]
    assert problems[0].endswith(warning)
    table = grades(out)
    assert [table["alice"][k] for k in ("q1", "q2", "total", "overridden")] == ["1", "0", "1", ""]
    assert [table["bob"][k] for k in ("q2", "total", "overridden")] == ["1", "2", "q2 (kept)"]  # the good row holds


@pytest.mark.parametrize("text, warning", [
    ("student,question,points\nalice,q2,2\n", "(it has: student, question, points); no score was overridden"),
    ("", "(it has: none); no score was overridden"),
    (None, "cannot be read (No such file or directory); no score was overridden"),
    (b"student,question,score,reason\nalice,q2,2,\xff\n", "is not UTF-8 text; no score was overridden"),
])
def test_a_file_that_cannot_be_used_gives_one_warning_and_no_override(tmp_path, text, warning):
    path = tmp_path / "overrides.csv"
    if isinstance(text, str):
        path.write_text(text)
    elif text is not None:
        path.write_bytes(text)
    table, problems = read_overrides(path)
    assert table == [] and len(problems) == 1 and warning in problems[0] and str(path) in problems[0]
    if "it has" in warning:
        assert "needs a header with the columns student, question, score and reason" in problems[0]


@pytest.fixture
def no_sandbox_needed(monkeypatch):
    """The batch loads TINY and skips the machine's check: every submission here is kept or cannot run."""
    monkeypatch.setattr(batch, "Assignment", SimpleNamespace(load=lambda name: TINY))
    monkeypatch.setattr(batch._task.Grader, "check_machine", staticmethod(lambda unsafe=False: None))


def test_overrides_survive_resume_only_and_regrade_and_go_when_removed(tmp_path, no_sandbox_needed):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    (folder / "alice.ipynb").write_bytes(ALICE)
    (folder / "bob.ipynb").write_bytes(b"")  # cannot run: 0 points, recorded without a sandbox
    with OutputFolder(out) as folder_out:
        stored(folder_out, "alice.ipynb", ALICE, 1, 0)
    # Without --overrides, the batch reads overrides.csv in the output folder.
    (out / "overrides.csv").write_text(f"student,question,score,reason\nalice,q2,2,{REASON}\nbob,q1,1,late file\n")
    result = out / "results" / disk_name("alice.ipynb", ".json")
    kept = result.read_bytes()
    for how in ({}, {}, {"only": ["bob"]}, {"only": ["bob"], "regrade": True}):  # first, resumed, --only, --regrade
        problems = batch.BatchProblems()
        records = batch.grade_folder(folder, "90_tiny", out, limits=LIMITS, progress=False, problems=problems, **how)
        assert problems == [] and problems.ungraded == []
        assert {r["submission"]: r["total"] for r in records} == {"alice.ipynb": 1, "bob.ipynb": 0}  # as graded
        table = grades(out)
        assert (table["alice"]["total"], table["alice"]["overridden"]) == ("3", f"q2 ({REASON})"), how
        assert (table["bob"]["q1"], table["bob"]["status"], table["bob"]["overridden"]) == ("1", "unreadable",
                                                                                            "q1 (late file)"), how
        assert "The instructor set q1 to 1 points" in (out / "feedback" / disk_name("bob.ipynb", ".md")).read_text()
        assert result.read_bytes() == kept  # alice was resumed every time; no override written into results/
    (out / "overrides.csv").unlink()
    batch.grade_folder(folder, "90_tiny", out, limits=LIMITS, progress=False)
    assert [grades(out)[s]["total"] for s in ("alice", "bob")] == ["1", "0"]
    assert "instructor" not in (out / "feedback" / disk_name("alice.ipynb", ".md")).read_text()


def test_the_command_line_takes_overrides_and_warns_about_bad_rows(tmp_path, no_sandbox_needed, capsys):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    (folder / "alice.ipynb").write_bytes(ALICE)
    with OutputFolder(out) as folder_out:
        stored(folder_out, "alice.ipynb", ALICE, 1, 0)
    (out / "overrides.csv").write_text("student,question,score,reason\nalice,q1,0,not this file\n")
    (tmp_path / "given.csv").write_text(f"student,question,score,reason\nalice,q2,2,{REASON}\nalice,q2,5,typo\n")
    args = [str(folder), "--assignment", "90_tiny", "--out", str(out), "--quiet", "--timeout", "8",
            "--cell-timeout", "4", "--memory-mb", "2000", "--max-output", "100000"]
    assert cli.main([*args, "--overrides", str(tmp_path / "given.csv")]) == 0
    err = capsys.readouterr().err
    assert "warning: line 3 of the overrides file (alice, q2): the score 5 is not between 0 and 2; ignored\n" in err
    # --overrides FILE, not overrides.csv in the output folder; alice's result kept by its resume key
    assert [grades(out)["alice"][k] for k in ("q1", "q2", "total", "status")] == ["1", "2", "3", "graded"]
    assert cli.main([*args, "--overrides", str(tmp_path / "nowhere.csv")]) == 0
    assert "nowhere.csv cannot be read (No such file or directory); no score was overridden" in capsys.readouterr().err
    assert [grades(out)["alice"][k] for k in ("q1", "q2", "total")] == ["1", "0", "1"]


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
