"""Who handed in what: an optional roster (file name -> student id) and one row per student.

The roster is a CSV file with a header and the columns ``file`` and ``student``
(other columns are ignored): ``file`` is a submission's file name, with or without
``.ipynb``. Without a roster a student's id is the file name without ``.ipynb``.

The instructor's overrides are a CSV file too, with the columns ``student``,
``question``, ``score`` and ``reason`` (:func:`read_overrides`).
"""

import csv
import io
import math
from pathlib import Path

__all__ = ["RosterError", "read_roster", "read_overrides", "students_of", "file_stem"]

MAX_ROSTER_BYTES = 10 * 2**20
OVERRIDE_COLUMNS = ("student", "question", "score", "reason")


class RosterError(ValueError):
    """The roster file cannot be used; the message says why."""


def file_stem(name):
    return name[:-6] if name.lower().endswith(".ipynb") else name


def _csv_text(path, what):
    """The text of the instructor's CSV file at ``path``; a :class:`RosterError` naming ``what`` if unusable."""
    try:
        raw = path.read_bytes()[:MAX_ROSTER_BYTES + 1]
    except OSError as err:
        raise RosterError(f"the {what} {path} cannot be read ({err.strerror})") from None
    if len(raw) > MAX_ROSTER_BYTES:
        raise RosterError(f"the {what} {path} is larger than {MAX_ROSTER_BYTES // 2**20} MB")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RosterError(f"the {what} {path} is not UTF-8 text") from None


def read_roster(path):
    """``{file name without .ipynb: student id}`` from the roster CSV at ``path``."""
    path = Path(path)
    reader = csv.DictReader(_csv_text(path, "roster").splitlines())
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    if "file" not in columns or "student" not in columns:
        raise RosterError(f"the roster {path} needs a header with the columns file and student "
                          f"(it has: {', '.join(columns) or 'none'})")
    roster = {}
    for number, row in enumerate(reader, start=2):
        row = {str(k).strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
        file, student = file_stem(row.get("file", "")), row.get("student", "")
        if not file or not student:
            raise RosterError(f"line {number} of the roster {path} has no file or no student")
        if file in roster and roster[file] != student:
            raise RosterError(f"line {number} of the roster {path}: {file} is listed for two students")
        roster[file] = student
    return roster


def read_overrides(path):
    """The instructor's scores from the overrides CSV at ``path``, and a sentence per row left out.

    Returns ``(overrides, problems)``; each override is ``{"line", "student", "question",
    "score", "reason"}``, in file order (a later row for the same student and question
    wins). Nothing raises: a file that cannot be read or lacks a column gives no override
    and one sentence; a row without a student or a question, or whose score is not a
    number, is left out with one. Whether the student, the question and the score fit
    the gradebook is checked when it is written (:func:`.gradebook.with_overrides`).
    """
    path = Path(path)
    try:
        reader = csv.DictReader(io.StringIO(_csv_text(path, "overrides file"), newline=""))
        columns = [str(c).strip().lower() for c in reader.fieldnames or []]
    except RosterError as err:
        return [], [f"{err}; no score was overridden"]
    except csv.Error as err:
        return [], [f"the overrides file {path} is not a CSV file ({err}); no score was overridden"]
    if not set(OVERRIDE_COLUMNS) <= set(columns):
        return [], [(f"the overrides file {path} needs a header with the columns student, question, score and "
                     f"reason (it has: {', '.join(columns) or 'none'}); no score was overridden")]
    overrides, problems = [], []
    try:
        for row in reader:
            row = {str(k).strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
            where = f"line {reader.line_num} of the overrides file {path}"
            try:
                score = float(row["score"])
            except ValueError:
                score = math.nan
            if not row["student"] or not row["question"]:
                problems.append(f"{where} has no student or no question; ignored")
            elif not math.isfinite(score):
                problems.append(f"{where}: the score {row['score']!r} is not a number; ignored")
            else:
                overrides.append({"line": reader.line_num, "student": row["student"], "question": row["question"],
                                  "score": score, "reason": row["reason"]})
    except csv.Error as err:
        problems.append(f"the overrides file {path} cannot be read past line {reader.line_num} ({err})")
    return overrides, problems


def students_of(records, roster, assignment):
    """One row per student, and the sentences about files and students that did not match.

    Returns ``(rows, problems)``; each row is ``{"student", "scores": {question: score},
    "total", "status", "files"}``. Without a roster every file is its own student. A
    roster's student with no file gets a row with the status ``missing``; a file that
    the roster does not name keeps its own name as its id, and is reported.
    """
    by_student, problems = {}, []
    unmatched = []
    for name in sorted(records):
        stem = file_stem(name)
        if roster is None:
            student = stem
        elif stem in roster:
            student = roster[stem]
        else:
            student = stem
            unmatched.append(name)
        by_student.setdefault(student, []).append(records[name])
    if unmatched:
        problems.append(f"{len(unmatched)} file(s) not in the roster, listed under their own name: "
                        + ", ".join(unmatched[:20]) + (" ..." if len(unmatched) > 20 else ""))
    questions = list(assignment.possible)
    rows = []
    for student in sorted(by_student):
        chosen, *others = by_student[student]
        status = chosen.get("status", "error")
        if others:
            files = [r["submission"] for r in by_student[student]]
            status = f"{status}; several files, graded {files[0]}, ignored {', '.join(files[1:])}"
            problems.append(f"student {student} has {len(files)} files ({', '.join(files)}): "
                            f"the grades use {files[0]}")
        scores = {q: chosen["questions"].get(q, {}).get("score", 0.0) for q in questions}
        rows.append({"student": student, "scores": scores, "total": chosen.get("total", 0.0), "status": status,
                     "files": [r["submission"] for r in by_student[student]]})
    if roster is not None:
        missing = sorted(set(roster.values()) - set(by_student))
        for student in missing:
            rows.append({"student": student, "scores": {q: 0.0 for q in questions}, "total": 0.0,
                         "status": "missing", "files": []})
        if missing:
            problems.append(f"{len(missing)} student(s) of the roster handed in no file: "
                            + ", ".join(missing[:20]) + (" ..." if len(missing) > 20 else ""))
        rows.sort(key=lambda r: r["student"])
    return rows, problems
