"""Who handed in what: an optional roster (file name -> student id) and one row per student.

The roster is a CSV file with a header and the columns ``file`` and ``student``
(other columns are ignored): ``file`` is a submission's file name, with or without
``.ipynb``. Without a roster a student's id is the file name without ``.ipynb``.
"""

import csv
from pathlib import Path

__all__ = ["RosterError", "read_roster", "students_of", "file_stem"]

MAX_ROSTER_BYTES = 10 * 2**20


class RosterError(ValueError):
    """The roster file cannot be used; the message says why."""


def file_stem(name):
    return name[:-6] if name.lower().endswith(".ipynb") else name


def read_roster(path):
    """``{file name without .ipynb: student id}`` from the roster CSV at ``path``."""
    path = Path(path)
    try:
        raw = path.read_bytes()[:MAX_ROSTER_BYTES + 1]
    except OSError as err:
        raise RosterError(f"the roster {path} cannot be read ({err.strerror})") from None
    if len(raw) > MAX_ROSTER_BYTES:
        raise RosterError(f"the roster {path} is larger than {MAX_ROSTER_BYTES // 2**20} MB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RosterError(f"the roster {path} is not UTF-8 text") from None
    reader = csv.DictReader(text.splitlines())
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
