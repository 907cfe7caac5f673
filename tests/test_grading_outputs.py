"""What the instructor hands on: grades.csv (one row per student), the summary, --only, --roster."""

import csv
import io

import pytest

from aecourse.grade import GradingLimits, grade_folder
from aegrader.assignment import Assignment
from aegrader.cli import main
from aegrader.gradebook import FORMULA_START, disk_name, grades_csv, summary_files
from aegrader.roster import RosterError, read_roster, students_of
from test_grading_holes import TINY_LIMITS, submission, tiny_master
from test_sandbox import needs_bwrap  # noqa: F401  (installs bubblewrap when missing)

TINY = Assignment(name="90_tiny", tests={}, given_code=[], answers=["n", "f"], possible={"q1": 1.0, "q2": 1.0})


def record(name, q1, q2, status="graded"):
    return {"submission": name, "status": status, "total": q1 + q2, "possible": 2.0,
            "questions": {"q1": {"score": q1, "possible": 1.0}, "q2": {"score": q2, "possible": 1.0}}}


def rows(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_grades_csv_has_one_row_per_student_and_is_formula_safe():
    records = {n: record(n, 1, s) for n, s in [("alice.ipynb", 1), ("=cmd()|x.ipynb", 0), ("-bob.ipynb", 1)]}
    table = rows(grades_csv(records, None, TINY))
    assert list(table[0]) == ["student", "q1", "q2", "total", "status"]
    assert sorted(r["student"] for r in table) == sorted(["alice", "'=cmd()|x", "'-bob"])
    for row in table:
        assert not any(value.startswith(FORMULA_START) for value in row.values())
    assert {r["student"]: r["total"] for r in table}["alice"] == "2"


def test_the_roster_names_students_and_reports_what_does_not_match(tmp_path):
    (tmp_path / "roster.csv").write_text("File,Student,email\nalice_hw.ipynb,s1,a@x\nbob,s2,b@x\ncarol.ipynb,s3,\n")
    roster = read_roster(tmp_path / "roster.csv")
    assert roster == {"alice_hw": "s1", "bob": "s2", "carol": "s3"}
    records = {n: record(n, 1, 1) for n in ("alice_hw.ipynb", "bob.ipynb", "stranger.ipynb")}
    table, problems = students_of(records, roster, TINY)
    assert [(r["student"], r["status"]) for r in table] == [
        ("s1", "graded"), ("s2", "graded"), ("s3", "missing"), ("stranger", "graded")]
    assert any("not in the roster" in p and "stranger.ipynb" in p for p in problems)
    assert any("handed in no file: s3" in p for p in problems)
    table, problems = students_of({**records, "bob.IPYNB": record("bob.IPYNB", 0, 0)}, roster, TINY)
    assert [r["student"] for r in table].count("s2") == 1 and any("s2 has 2 files" in p for p in problems)


@pytest.mark.parametrize("text, message", [
    ("name,id\nx,1\n", "needs a header with the columns file and student"),
    ("file,student\nx.ipynb,\n", "line 2 of the roster"),
    ("file,student\nx,1\nx,2\n", "listed for two students"),
])
def test_a_bad_roster_is_refused_with_a_clear_message(tmp_path, text, message):
    (tmp_path / "roster.csv").write_text(text)
    with pytest.raises(RosterError, match=message):
        read_roster(tmp_path / "roster.csv")


def test_the_summary_has_mean_and_full_marks_share_per_question_and_a_histogram():
    table, image = summary_files([record("a", 1, 0), record("b", 1, 1), record("c", 0, 0), record("d", 1, 0)], TINY)
    summary = {r["question"]: r for r in rows(table)}
    assert summary["q1"]["mean"] == "0.750" and summary["q1"]["full_marks_share"] == "0.750"
    assert summary["q2"]["mean"] == "0.250" and summary["total"]["full_marks_share"] == "0.250"
    assert image.startswith(b"\x89PNG") and len(image) > 5000


def test_only_regrades_one_student_and_the_roster_reaches_grades_csv(tmp_path, needs_bwrap, capsys):
    master = tiny_master(tmp_path / "90_tiny.ipynb")
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    submission(folder / "a.ipynb", "n = 3", "def f():\n    return 1")
    submission(folder / "b.ipynb", "n = 4", "def f():\n    return 1")
    limits = GradingLimits(timeout=TINY_LIMITS.timeout, cell_timeout=TINY_LIMITS.cell_timeout,
                           memory_mb=TINY_LIMITS.memory_mb, max_output_bytes=TINY_LIMITS.max_output_bytes)
    grade_folder(folder, master, out, limits=limits, progress=False)
    a, b = (out / "results" / disk_name(n, ".json") for n in ("a.ipynb", "b.ipynb"))
    written = {p: p.stat().st_mtime_ns for p in (a, b)}
    (tmp_path / "roster.csv").write_text("file,student\na,s-a\nb,s-b\nc,s-c\n")
    args = [str(folder), "--assignment", str(master), "--out", str(out), "--quiet", "--roster",
            str(tmp_path / "roster.csv"), "--timeout", str(limits.timeout), "--cell-timeout", str(limits.cell_timeout),
            "--memory-mb", str(limits.memory_mb), "--max-output", str(limits.max_output_bytes)]
    assert main([*args, "--only", "s-b"]) == 0
    assert a.stat().st_mtime_ns == written[a] and b.stat().st_mtime_ns != written[b]  # b alone, graded again
    assert "handed in no file: s-c" in capsys.readouterr().err
    with open(out / "grades.csv", newline="") as f:
        assert [(r["student"], r["total"], r["status"]) for r in csv.DictReader(f)] == [
            ("s-a", "2", "graded"), ("s-b", "1", "graded"), ("s-c", "0", "missing")]
    assert main([*args, "--only", "nobody"]) == 2
    assert "--only nobody: no submission" in capsys.readouterr().err
