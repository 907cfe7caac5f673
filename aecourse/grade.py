"""Grade a folder of submitted notebooks, one command, no Docker.

    python -m aecourse.grade SUBMISSIONS_DIR --assignment 02_mnist_pca

Every ``*.ipynb`` in ``SUBMISSIONS_DIR`` is run in its own process, kernel and
scratch directory, in parallel on the machine's cores, against all tests of the
assignment, public and hidden (generated from ``solutions/<assignment>.ipynb``).
Each submission has a wall-time limit, a per-cell time limit after which the cell
is interrupted and the rest still runs, a memory limit and an output limit.

Written to ``--out`` (default ``grading-output/<assignment>``):

``gradebook.csv``
    one row per submission and question, plus a ``total`` row per submission:
    ``submission, question, score, possible, comment``.
``feedback.json``
    per submission: status, total, problems found, and per question the score
    and Otter's full feedback text.
``results/<submission>.json``
    one record per graded submission. A re-run skips submissions whose record
    matches the file's current content and the assignment's tests, so an
    interrupted batch resumes where it stopped (``--regrade`` starts over).
``executed/<submission>.ipynb``
    the submission as it ran during grading, with its outputs and errors.

Every file is written atomically (a temporary file, then a rename), so an
interruption never leaves a half-written gradebook. Bad submissions (empty,
invalid JSON, syntax errors, exceptions, endless loops, memory hogs, file
writes outside the scratch directory, huge output) get their rows with 0 points
for what could not run and a comment saying why.
"""

import argparse
import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .assign import AssignError, autograder_tests, master_path

__all__ = ["GradingLimits", "grade_folder", "main"]

FORMAT_VERSION = 1


@dataclass(frozen=True)
class GradingLimits:
    """Limits for each submission."""

    timeout: float = 300.0  # wall seconds for the whole submission
    cell_timeout: float = 120.0  # seconds before a cell is interrupted
    memory_mb: float = 4000.0  # resident memory of the kernel and its grader
    max_output_bytes: int = 1_000_000  # printed text kept per submission


@dataclass
class _Running:
    submission: Path
    digest: str
    process: subprocess.Popen
    scratch: Path
    job_dir: Path
    started: float
    peak_mb: float = 0.0
    killed_because: str = ""
    extra: dict = field(default_factory=dict)


def _sha256(path):
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "unreadable"


def _write_atomic(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _tree(pid):
    import psutil

    try:
        parent = psutil.Process(pid)
        return [parent] + parent.children(recursive=True)
    except psutil.Error:
        return []


def _resident_mb(pid):
    import psutil

    total = 0
    for proc in _tree(pid):
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def _kill_tree(pid):
    import psutil

    procs = _tree(pid)
    for proc in reversed(procs):  # children first, so none is orphaned and keeps running
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=10)


class _Assignment:
    """The tests of one assignment, written once to a directory the submissions can only read."""

    def __init__(self, name, work_root):
        from otter.test_files.exception_test import ExceptionTestFile

        self.master = master_path(name)
        self.name = self.master.stem
        tests = autograder_tests(self.master)
        self.tests_dir = Path(work_root) / "tests"
        self.tests_dir.mkdir(parents=True)
        self.possible = {}
        for question in sorted(tests):
            path = self.tests_dir / f"{question}.py"
            path.write_text(tests[question])
            self.possible[question] = float(ExceptionTestFile.from_file(str(path)).possible)
        self.digest = hashlib.sha256(json.dumps(tests, sort_keys=True).encode()).hexdigest()


def _comment(question_result):
    failed = question_result.get("failed", [])
    if not failed:
        return "all tests passed"
    parts = []
    for test in failed[:3]:
        kind = "hidden test" if test["hidden"] else "test"
        parts.append(f"{kind} {test['test']} failed: {test['message']}")
    if len(failed) > 3:
        parts.append(f"and {len(failed) - 3} more")
    return "; ".join(parts)


def _record(assignment, submission, digest, worker_result, seconds, peak_mb, killed_because):
    """One submission's gradebook record, with a row for every question."""
    problems = list(worker_result.get("problems", []))
    if killed_because:
        problems.insert(0, killed_because)
    status = "stopped" if killed_because else worker_result.get("status", "error")
    graded = worker_result.get("questions", {})
    why_not = problems[0] if problems else "the tests did not run"
    questions = {}
    for question, possible in assignment.possible.items():
        if question in graded and not killed_because:
            result = graded[question]
            questions[question] = {
                "score": result["score"],
                "possible": possible,
                "comment": _comment(result),
                "feedback": result.get("feedback", ""),
            }
        else:
            questions[question] = {
                "score": 0.0,
                "possible": possible,
                "comment": f"not graded: {why_not}",
                "feedback": f"{question} was not graded: {why_not}",
            }
    return {
        "format": FORMAT_VERSION,
        "assignment": assignment.name,
        "tests_digest": assignment.digest,
        "submission": submission.name,
        "sha256": digest,
        "status": status,
        "total": sum(q["score"] for q in questions.values()),
        "possible": sum(assignment.possible.values()),
        "problems": problems,
        "questions": questions,
        "seconds": round(seconds, 1),
        "peak_memory_mb": round(peak_mb),
    }


def _write_gradebook(out_dir, records):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["submission", "question", "score", "possible", "comment"])
    for record in records:
        for question, result in record["questions"].items():
            writer.writerow([record["submission"], question, f"{result['score']:g}", f"{result['possible']:g}", result["comment"]])
        summary = "; ".join(record["problems"]) or "ran without problems"
        writer.writerow([record["submission"], "total", f"{record['total']:g}", f"{record['possible']:g}", summary])
    _write_atomic(out_dir / "gradebook.csv", buffer.getvalue())
    feedback = {
        record["submission"]: {
            key: record[key] for key in ("status", "total", "possible", "problems", "seconds", "peak_memory_mb")
        }
        | {"questions": {q: {k: r[k] for k in ("score", "possible", "feedback")} for q, r in record["questions"].items()}}
        for record in records
    }
    _write_atomic(out_dir / "feedback.json", json.dumps(feedback, indent=1) + "\n")


def _previous_record(path, assignment, digest):
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    same = (
        record.get("format") == FORMAT_VERSION
        and record.get("assignment") == assignment.name
        and record.get("tests_digest") == assignment.digest
        and record.get("sha256") == digest
    )
    return record if same else None


def _worker_env(scratch, threads):
    env = dict(os.environ)
    for key in ("MPLBACKEND", "PYTHONSTARTUP", "PYTHONPATH", "JUPYTER_PATH", "IPYTHONDIR"):
        env.pop(key, None)
    env.update(
        HOME=str(scratch),
        TMPDIR=str(scratch / "tmp"),
        MPLCONFIGDIR=str(scratch / ".matplotlib"),
        IPYTHONDIR=str(scratch / ".ipython"),
        JUPYTER_RUNTIME_DIR=str(scratch / ".jupyter-runtime"),
        XDG_CACHE_HOME=str(scratch / ".cache"),
        KERAS_HOME=str(scratch / ".keras"),
        PYTHONDONTWRITEBYTECODE="1",
        TF_CPP_MIN_LOG_LEVEL="3",
        AECOURSE_MNIST="embedded",
    )
    # Submissions graded side by side share the cores instead of fighting over them.
    for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        env[key] = str(threads)
    env["TF_NUM_INTEROP_THREADS"] = "1"
    return env


def _start(submission, digest, assignment, limits, work_root, threads):
    job_dir = Path(tempfile.mkdtemp(prefix="job-", dir=work_root))
    scratch = job_dir / "scratch"
    (scratch / "tmp").mkdir(parents=True)
    # The student notebook opens itself by the assignment's file name
    # (``otter.Notebook("<assignment>.ipynb")``), so it runs under that name.
    copy = scratch / f"{assignment.name}.ipynb"
    try:
        shutil.copyfile(submission, copy)
    except OSError:
        copy = submission.resolve()  # the worker reports why it cannot be read
    job = {
        "submission": str(copy),
        "scratch": str(scratch),
        "tests_dir": str(assignment.tests_dir),
        "cell_timeout": limits.cell_timeout,
        "max_output_bytes": limits.max_output_bytes,
        "result": str(job_dir / "result.json"),
        "executed_notebook": str(job_dir / "executed.ipynb"),
    }
    (job_dir / "job.json").write_text(json.dumps(job))
    log = open(job_dir / "worker.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "aecourse.grading_worker", str(job_dir / "job.json")],
        cwd=scratch, env=_worker_env(scratch, threads), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    return _Running(submission, digest, process, scratch, job_dir, time.monotonic())


def _check(run, limits):
    """Enforce the limits on a running submission; return True once it has ended."""
    if run.process.poll() is not None:
        return True
    elapsed = time.monotonic() - run.started
    memory = _resident_mb(run.process.pid)
    run.peak_mb = max(run.peak_mb, memory)
    log_size = (run.job_dir / "worker.log").stat().st_size
    if elapsed > limits.timeout:
        run.killed_because = f"stopped after the time limit of {limits.timeout:g} s (an endless loop, or far too slow?)"
    elif memory > limits.memory_mb:
        run.killed_because = f"stopped for using more than the memory limit of {limits.memory_mb:g} MB"
    elif log_size > 10 * limits.max_output_bytes:
        run.killed_because = f"stopped for writing more than {10 * limits.max_output_bytes:,} bytes of output"
    if run.killed_because:
        _kill_tree(run.process.pid)
        return True
    return False


def _finish(run, assignment, out_dir):
    result_path = run.job_dir / "result.json"
    _kill_tree(run.process.pid)  # nothing of it may outlive its turn
    worker_result = {"questions": {}, "problems": [], "status": "error"}
    if not run.killed_because:
        try:
            worker_result = json.loads(result_path.read_text())
        except (OSError, ValueError):
            log = (run.job_dir / "worker.log").read_text(errors="replace").strip().splitlines()
            tail = log[-1][:300] if log else "no output"
            worker_result["problems"] = [f"the grader process ended with code {run.process.returncode} ({tail})"]
    executed = run.job_dir / "executed.ipynb"
    if executed.exists():
        (out_dir / "executed").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(executed, out_dir / "executed" / run.submission.name)
    record = _record(
        assignment, run.submission, run.digest, worker_result,
        time.monotonic() - run.started, run.peak_mb, run.killed_because,
    )
    shutil.rmtree(run.job_dir, ignore_errors=True)
    return record


def output_folder(out_dir, assignment_name):
    """Where the gradebook goes: ``out_dir`` if given, else ``grading-output/<assignment>`` here."""
    return Path(out_dir) if out_dir else Path("grading-output") / assignment_name


def grade_folder(submissions_dir, assignment_name, out_dir=None, *, jobs=None, limits=GradingLimits(),
                 regrade=False, progress=True):
    """Grade every notebook in ``submissions_dir``; return the gradebook records.

    Parameters
    ----------
    submissions_dir : path-like
        Folder with the submitted ``.ipynb`` files (not searched recursively).
    assignment_name : str
        Name of the master notebook in ``solutions/``, e.g. ``"02_mnist_pca"``.
    out_dir : path-like, optional
        Where the gradebook goes; default ``grading-output/<assignment>`` in the
        current directory.
    jobs : int, optional
        Submissions graded at once; default the number of CPU cores.
    limits : GradingLimits
    regrade : bool
        Ignore earlier results and grade everything again.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    list of dict
        One record per submission, in file-name order.
    """
    from tqdm import tqdm

    submissions_dir = Path(submissions_dir)
    if not submissions_dir.is_dir():
        raise FileNotFoundError(f"no such folder of submissions: {submissions_dir}")
    submissions = sorted(submissions_dir.glob("*.ipynb"))
    cores = os.cpu_count() or 1
    jobs = max(1, int(jobs or cores))
    threads = max(1, cores // jobs)
    with tempfile.TemporaryDirectory(prefix="aecourse-grade-") as work_root:
        assignment = _Assignment(assignment_name, work_root)
        out_dir = output_folder(out_dir, assignment.name)
        records, todo = {}, []
        for submission in submissions:
            digest = _sha256(submission)
            previous = None if regrade else _previous_record(out_dir / "results" / f"{submission.stem}.json", assignment, digest)
            if previous:
                records[submission.name] = previous
            else:
                todo.append((submission, digest))
        bar = tqdm(total=len(submissions), initial=len(records), unit="notebook", disable=not progress,
                   desc=f"grading {assignment.name}", file=sys.stderr)
        running = []
        try:
            while todo or running:
                while todo and len(running) < jobs:
                    running.append(_start(*todo.pop(0), assignment, limits, work_root, threads))
                time.sleep(0.2)
                for run in [r for r in running if _check(r, limits)]:
                    running.remove(run)
                    record = records[run.submission.name] = _finish(run, assignment, out_dir)
                    # The gradebook first, then the resume record: a result on disk is always in the
                    # gradebook, even when Ctrl-C comes between the two writes.
                    _write_gradebook(out_dir, [records[s.name] for s in submissions if s.name in records])
                    _write_atomic(out_dir / "results" / f"{run.submission.stem}.json",
                                  json.dumps(record, indent=1) + "\n")
                    bar.update(1)
        finally:
            for run in running:  # interrupted: stop what is running; its result is simply not recorded
                _kill_tree(run.process.pid)
            bar.close()
        ordered = [records[s.name] for s in submissions]
        _write_gradebook(out_dir, ordered)
    return ordered


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m aecourse.grade",
        description="Grade every .ipynb in a folder against an assignment's public and hidden tests.",
    )
    parser.add_argument("submissions", help="folder with the submitted notebooks")
    parser.add_argument("--assignment", required=True, help="assignment name, e.g. 02_mnist_pca (a notebook in solutions/)")
    parser.add_argument("--out", help="output folder (default: grading-output/<assignment>)")
    parser.add_argument("--jobs", type=int, help="submissions graded in parallel (default: number of cores)")
    parser.add_argument("--timeout", type=float, default=GradingLimits.timeout, help="seconds per submission (default %(default)s)")
    parser.add_argument("--cell-timeout", type=float, default=GradingLimits.cell_timeout, help="seconds before a cell is interrupted (default %(default)s)")
    parser.add_argument("--memory-mb", type=float, default=GradingLimits.memory_mb, help="memory limit per submission in MB (default %(default)s)")
    parser.add_argument("--max-output", type=int, default=GradingLimits.max_output_bytes, help="bytes of printed output kept per submission (default %(default)s)")
    parser.add_argument("--regrade", action="store_true", help="grade everything again instead of resuming")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    limits = GradingLimits(args.timeout, args.cell_timeout, args.memory_mb, args.max_output)
    started = time.monotonic()
    try:
        records = grade_folder(args.submissions, args.assignment, args.out, jobs=args.jobs, limits=limits,
                               regrade=args.regrade, progress=not args.quiet)
    except (FileNotFoundError, AssignError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the gradebook holds every submission finished so far; run the same command to resume",
              file=sys.stderr)
        return 130
    if not records:
        print(f"no .ipynb files in {args.submissions}", file=sys.stderr)
        return 1
    out = output_folder(args.out, records[0]["assignment"])
    full = sum(r["total"] == r["possible"] for r in records)
    with_problems = sum(bool(r["problems"]) for r in records)
    print(f"graded {len(records)} submissions in {time.monotonic() - started:.0f} s: "
          f"{full} with full marks, {with_problems} with problems noted")
    print(f"gradebook: {out / 'gradebook.csv'}\nfeedback:  {out / 'feedback.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
