"""The output folder: a lock, files no submission can redirect, and the gradebook itself.

Every file is written atomically (a new temporary file opened with ``O_EXCL`` and
``O_NOFOLLOW``, then renamed over the old one) relative to a folder opened without
following links, so a link, FIFO or device planted at a result's path is replaced,
never followed or opened. Files are read only when they are regular files. On-disk
names come from a hash of the submission's file name, so any name (long, unicode,
with spaces or slashes) is safe; the readable part is a short, cleaned prefix.

The instructor's overrides (:func:`with_overrides`) are applied each time the gradebook
is written from the stored records; they are never written into ``results/``.
"""

import copy
import csv
import fcntl
import hashlib
import io
import json
import os
import re
import stat
from pathlib import Path

__all__ = ["GradebookBusy", "OutputFolder", "disk_name", "csv_safe", "feedback_text", "grades_csv", "summary_files",
           "with_overrides"]

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class GradebookBusy(RuntimeError):
    pass


def disk_name(submission_name, suffix):
    """A safe file name for a submission: cleaned prefix + hash of the real name."""
    digest = hashlib.sha256(submission_name.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", submission_name.rsplit(".", 1)[0]).strip("._")[:40] or "submission"
    return f"{stem}-{digest}{suffix}"


def csv_safe(value):
    """A cell a spreadsheet shows as text: a leading = + - @ would start a formula."""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


class OutputFolder:
    """``--out``, locked for one grader at a time."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise GradebookBusy(f"another grader is writing to {self.path}; wait for it or choose another --out") from None
        self._dirs = {}

    def close(self):
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs = {}
        os.close(self._lock_fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _dir(self, sub):
        if sub not in self._dirs:
            parent = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                if sub:
                    try:
                        os.mkdir(sub, 0o755, dir_fd=parent)
                    except FileExistsError:
                        pass
                    fd = os.open(sub, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
                else:
                    fd = os.dup(parent)
            except OSError as err:
                raise OSError(f"{self.path / sub} is not a plain folder ({err.strerror}); move it away") from None
            finally:
                os.close(parent)
            self._dirs[sub] = fd
        return self._dirs[sub]

    def write(self, sub, name, data):
        """Write ``data`` (str or bytes) to ``sub/name`` atomically, replacing whatever is there."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        folder = self._dir(sub)
        temporary = f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
                     dir_fd=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            try:
                os.unlink(temporary, dir_fd=folder)
            except OSError:
                pass
            raise

    def read(self, sub, name, max_bytes=64 * 2**20):
        """The bytes of ``sub/name`` if it is a regular file (not a link, FIFO or device), else None."""
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=self._dir(sub))
        except OSError:
            return None
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
                return None
            return f.read(max_bytes)

    def names(self, sub):
        return sorted(os.listdir(self._dir(sub)))

    def records(self, assignment):
        """Every result record in ``results/`` of ``assignment``, by submission name."""
        found = {}
        for name in self.names("results"):
            if not name.endswith(".json") or name.startswith("."):
                continue
            raw = self.read("results", name)
            try:
                record = json.loads(raw) if raw else None
            except ValueError:
                record = None
            if isinstance(record, dict) and record.get("assignment") == assignment and \
                    name == disk_name(str(record.get("submission")), ".json"):
                found[record["submission"]] = record
        return found

    def write_gradebook(self, records, roster=None, assignment=None, summary=False, overrides=()):
        """``gradebook.csv`` and ``feedback.json`` from every record, sorted by submission.

        With ``assignment`` also ``grades.csv``, one row per student (:func:`.roster.students_of`);
        with ``summary`` also ``summary.csv`` and ``summary.png``, per question. With
        ``assignment``, the ``overrides`` (:func:`.roster.read_overrides`) replace the scores
        they name in all of these and in the students' feedback files; ``records`` stay as
        they are. Returns a sentence per override that could not be applied.
        """
        records, problems = with_overrides(records, overrides, roster, assignment) if assignment else (records, [])
        ordered = [records[name] for name in sorted(records)]
        marked = any(record.get("overridden") for record in ordered)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["submission", "question", "score", "possible", "comment"] + ["overridden"] * marked)
        for record in ordered:
            name = csv_safe(record["submission"])
            for question, result in record["questions"].items():
                why = [_override_note(result["override"]) if "override" in result else ""] * marked
                writer.writerow([name, question, f"{result['score']:g}", f"{result['possible']:g}",
                                 csv_safe(result["comment"]), *map(csv_safe, why)])
            problems_found = "; ".join(record["problems"]) or "ran without problems"
            writer.writerow([name, "total", f"{record['total']:g}", f"{record['possible']:g}",
                             csv_safe(problems_found), *[csv_safe("; ".join(record.get("overridden", [])))] * marked])
        self.write("", "gradebook.csv", buffer.getvalue())
        keys = ("status", "total", "possible", "problems", "seconds", "cpu_seconds", "peak_memory_mb", "files")
        feedback = {
            record["submission"]: {k: record.get(k) for k in keys}
            | ({"overridden": record["overridden"]} if record.get("overridden") else {})
            | {"questions": {q: {k: r[k] for k in ("score", "possible", "feedback")}
                             | ({"override": r["override"]} if "override" in r else {})
                             for q, r in record["questions"].items()}}
            for record in ordered
        }
        self.write("", "feedback.json", json.dumps(feedback, indent=1, ensure_ascii=False) + "\n")
        for record in ordered:  # an override's feedback each time; at the end, any that an earlier file changed
            if not (record.get("overridden") or summary):
                continue  # written when its record was saved: no text to build on every record's write
            text = feedback_text(record)
            name = disk_name(record["submission"], ".md")
            if record.get("overridden") or self.read("feedback", name) != text.encode():
                self.write("feedback", name, text)
        if assignment is not None:
            self.write("", "grades.csv", grades_csv(records, roster, assignment))
        if assignment is not None and summary:
            table, figure = summary_files(ordered, assignment)
            self.write("", "summary.csv", table)
            self.write("", "summary.png", figure)
        return problems


def with_overrides(records, overrides, roster, assignment):
    """``records`` with the instructor's scores in place, and a sentence per override that does not fit.

    An override names a student as ``grades.csv`` does (the roster's id, else the file name
    without ``.ipynb``; the file name itself works too) and a question of ``assignment``,
    with a score from 0 to the question's points. It changes a copy of the record that
    student's grades come from: the question's score and total, the question's
    ``override`` (``{"graded": score the tests gave, "reason"}``) and the record's
    ``overridden`` (``["q3 (reason)"]``). An override that does not fit changes nothing.
    """
    from .roster import file_stem, students_of

    if not overrides:
        return records, []
    names = {row["student"]: row["files"][0] for row in students_of(records, roster, assignment)[0] if row["files"]}
    for name in records:
        names.setdefault(name, name)
        names.setdefault(file_stem(name), name)
    shown, problems = dict(records), []
    for override in overrides:
        student, question, score = override["student"], override["question"], override["score"]
        name = names.get(student, names.get(student[1:]) if student.startswith("'") else None)  # as csv_safe wrote it
        possible = assignment.possible.get(question)
        where = f"line {override['line']} of the overrides file ({student}, {question})"
        if name is None:
            problems.append(f"{where}: no student or file of that name in the gradebook; ignored")
        elif possible is None:
            problems.append(f"{where}: the assignment has no question {question} "
                            f"(it has {', '.join(assignment.possible)}); ignored")
        elif not 0 <= score <= possible:
            problems.append(f"{where}: the score {score:g} is not between 0 and {possible:g}; ignored")
        else:
            if shown[name] is records[name]:
                shown[name] = copy.deepcopy(records[name]) | {"overridden": []}
            record = shown[name]
            result = record["questions"].setdefault(question, {"score": 0.0, "possible": possible, "comment": "",
                                                               "feedback": ""})
            graded = result["override"]["graded"] if "override" in result else result["score"]  # a later row wins
            result.update(score=score, override={"graded": graded, "reason": override["reason"]})
            record["overridden"] = [m for m in record["overridden"] if m.split(" ", 1)[0] != question]
            record["overridden"].append(f"{question} ({override['reason']})" if override["reason"] else question)
            record["total"] = sum(r["score"] for r in record["questions"].values())
    return shown, problems


def _override_note(override):
    reason = f": {override['reason']}" if override["reason"] else ""
    return f"set by the instructor (the tests gave {override['graded']:g}){reason}"


def grades_csv(records, roster, assignment):
    """One row per student: ``student``, a column per question, ``total``, ``status``; ready for an LMS.

    When a record has overrides (:func:`with_overrides`), a last column ``overridden`` lists them.
    """
    from .roster import students_of

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    questions = list(assignment.possible)
    marked = any(record.get("overridden") for record in records.values())
    writer.writerow(["student", *questions, "total", "status"] + ["overridden"] * marked)
    for row in students_of(records, roster, assignment)[0]:
        chosen = records.get(row["files"][0], {}) if row["files"] else {}
        writer.writerow([csv_safe(row["student"]), *(f"{row['scores'][q]:g}" for q in questions),
                         f"{row['total']:g}", csv_safe(row["status"]),
                         *[csv_safe("; ".join(chosen.get("overridden", [])))] * marked])
    return buffer.getvalue()


def summary_files(records, assignment):
    """``summary.csv`` (per question: points, mean, share with full marks) and a histogram PNG of each.

    With overrides in ``records``, ``summary.csv`` counts them in a last column ``overridden``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = {q: [r["questions"][q]["score"] for r in records if q in r.get("questions", {})]
               for q in assignment.possible}
    columns["total"] = [r["total"] for r in records]
    possible = {**assignment.possible, "total": sum(assignment.possible.values())}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    overridden = {q: sum("override" in r["questions"].get(q, {}) for r in records) for q in assignment.possible}
    overridden["total"] = sum(bool(r.get("overridden")) for r in records)
    marked = bool(overridden["total"])
    writer.writerow(["question", "possible", "submissions", "mean", "full_marks_share"] + ["overridden"] * marked)
    for question, scores in columns.items():
        mean = sum(scores) / len(scores) if scores else 0.0
        full = sum(s >= possible[question] for s in scores) / len(scores) if scores else 0.0
        writer.writerow([question, f"{possible[question]:g}", len(scores), f"{mean:.3f}", f"{full:.3f}",
                         *[overridden[question]] * marked])
    figure, axes = plt.subplots(1, len(columns), figsize=(3 * len(columns), 2.6), squeeze=False)
    for axis, (question, scores) in zip(axes[0], columns.items()):
        top = possible[question]
        bins = [b / 2 - 0.25 for b in range(int(2 * top) + 2)] if top <= 20 else 20
        axis.hist(scores, bins=bins, color="tab:blue", edgecolor="white")
        axis.set_title(f"{question} (of {top:g})")
        axis.set_xlabel("score")
        axis.set_xlim(-0.5, top + 0.5)
    axes[0][0].set_ylabel("submissions")
    by_hand = f", {overridden['total']} with scores set by the instructor" if marked else ""
    figure.suptitle(f"{assignment.name}: {len(records)} submissions{by_hand}")
    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue(), image.getvalue()


def feedback_text(record):
    """The feedback a student gets: scores, problems, and per failed test a hint, never test source."""
    lines = [f"# Feedback on {record['submission']}", "",
             f"Assignment {record['assignment']}: {record['total']:g} of {record['possible']:g} points.", ""]
    if record["problems"]:
        lines += ["Problems found while running your notebook:", ""]
        lines += [f"- {p}" for p in record["problems"]] + [""]
    for question, result in record["questions"].items():
        lines += [f"## {question}: {result['score']:g} of {result['possible']:g}", ""]
        if "override" in result:
            reason = result["override"]["reason"].rstrip(".") or "no reason given"
            graded = result["override"]["graded"]
            score = result["score"]
            lines += [f"The instructor set {question} to {score:g} points (the tests gave {graded:g}): {reason}.", ""]
        lines += [result["feedback"], ""]
    return "\n".join(lines)
