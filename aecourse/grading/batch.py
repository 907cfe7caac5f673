"""The instructor side: grade a folder of submissions, one sandbox and one judge each.

For every ``*.ipynb`` (any case) in the folder, :func:`grade_folder` starts a sandbox
(:mod:`.sandbox`) in its own cgroup (:mod:`.cgroup`) that runs the notebook
(:mod:`.runner`), and a judge forked from the batch's judge server (:mod:`.judge`), a
clean interpreter outside the sandbox that holds the tests and talks to the sandbox
in plain data only (:mod:`.plain`). :mod:`.jobs` watches each job's CPU time, wall time
and memory and kills its cgroups when it is done or over a limit; the judge's result
goes into ``--out`` (:mod:`.gradebook`, :mod:`.records`).
"""

import hashlib
import json
import os
import shutil
import signal
import stat
import sys
import tempfile
import time
from pathlib import Path

from . import cgroup, sandbox
from . import jobs as _jobs
from .assignment import Assignment
from .gradebook import OutputFolder, disk_name, feedback_text
from .limits import GradingLimits
from .records import make_record, resume_key
from .submissions import find_submissions

__all__ = ["grade_folder", "output_folder", "find_submissions", "WORK_BASE"]

WORK_BASE = Path(tempfile.gettempdir()) / "aecourse-grade"
SANDBOX_UIDS = 4000  # job n runs as sandbox.UID_BASE + n % SANDBOX_UIDS: no uid is shared by jobs near in time


def output_folder(out_dir, assignment_name):
    """Where the gradebook goes: ``out_dir`` if given, else ``grading-output/<assignment>`` here."""
    return Path(out_dir) if out_dir else Path("grading-output") / assignment_name


def _unreadable(raw):
    """Why a submission's bytes are not a notebook, or ''."""
    from .notebook import SubmissionError, read_submission

    if isinstance(raw, str):
        return raw
    try:
        read_submission(raw)
    except SubmissionError as err:
        return str(err)
    except Exception as err:  # nbformat's own checks can fail in other ways on hostile input
        return f"the notebook cannot be read ({type(err).__name__})"
    return ""


def _save(out, record, executed=None):
    if executed is not None:
        record["files"]["executed"] = f"executed/{disk_name(record['submission'], '.ipynb')}"
        out.write("executed", disk_name(record["submission"], ".ipynb"), executed)
    out.write("feedback", disk_name(record["submission"], ".md"), feedback_text(record))
    out.write("results", disk_name(record["submission"], ".json"), json.dumps(record, indent=1) + "\n")
    return record


def _finish(job, assignment, limits, out):
    judged, problems, status, peak = _jobs.finish_job(job, limits)
    record = make_record(assignment, job.name, job.sha256, job.key, judged, problems, status,
                         time.monotonic() - job.started, job.cpu_seconds, peak)
    record["sandbox_seconds"] = round(job.sandbox_seconds, 1)
    executed = job.job_dir / "executed.ipynb"
    _save(out, record, executed.read_bytes() if executed.is_file() else None)
    shutil.rmtree(job.job_dir, ignore_errors=True)
    return record


def _remove_stale_runs():
    """Work folders and cgroups left by a grader that was killed."""
    WORK_BASE.mkdir(mode=0o700, exist_ok=True)
    info = os.lstat(WORK_BASE)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise sandbox.SandboxUnavailable(f"{WORK_BASE} is not a folder of this user's (a link, or planted by "
                                         "someone else?); remove it and grade again")
    os.chmod(WORK_BASE, 0o700)
    for folder in WORK_BASE.glob("run*"):
        owner = folder.name[3:].split("-")[0]
        if not (owner.isdigit() and Path(f"/proc/{owner}").exists()):
            shutil.rmtree(folder, ignore_errors=True)
    cgroup.remove_stale(f"run{os.getpid()}-")


def _plan(submissions, assignment, limits, unsafe, regrade, records, out):
    """Split the folder into results to keep and notebooks to grade."""
    done, todo = {}, []
    for name in sorted(submissions):
        raw = submissions[name]
        key = resume_key(assignment, limits, unsafe, raw)
        previous = records.get(name)
        if not regrade and previous and previous.get("key") == key:
            done[name] = previous
        elif reason := _unreadable(raw):  # no sandbox for what cannot run
            sha = hashlib.sha256(raw if isinstance(raw, bytes) else b"").hexdigest()
            record = make_record(assignment, name, sha, key, {}, [reason], "unreadable")
            done[name] = records[name] = _save(out, record)
        else:
            todo.append((name, raw, key))
    return done, todo


def _run(todo, assignment, limits, run, jobs_at_once, threads, out, records, done, bar):
    running, started = [], 0
    try:
        while todo or running:
            while todo and len(running) < jobs_at_once:
                name, raw, key = todo.pop(0)
                uid = sandbox.UID_BASE + started % SANDBOX_UIDS
                running.append(_jobs.start(name, raw, key, uid, limits, run, threads))
                started += 1
            time.sleep(0.2)
            for job in [j for j in running if _jobs.check(j, limits)]:
                running.remove(job)
                done[job.name] = records[job.name] = _finish(job, assignment, limits, out)
                out.write_gradebook(records)
                bar.update(1)
    finally:
        for job in running:  # interrupted: stop what is running; its result is simply not recorded
            job.kill()


def grade_folder(submissions_dir, assignment_name, out_dir=None, *, jobs=None, limits=GradingLimits(),
                 regrade=False, progress=True, unsafe_no_sandbox=False):
    """Grade every notebook in ``submissions_dir``; return the records of this batch.

    Parameters
    ----------
    submissions_dir : path-like
        Folder with the submitted notebooks (``*.ipynb`` in any case; not recursive).
    assignment_name : str
        Name of the master notebook in ``solutions/``, e.g. ``"02_mnist_pca"``, or its path.
    out_dir : path-like, optional
        Where the gradebook goes; default ``grading-output/<assignment>``. Records of
        earlier batches there are kept and merged into the gradebook.
    jobs : int, optional
        Submissions graded at once; default the number of CPU cores.
    limits : GradingLimits
    regrade : bool
        Ignore earlier results and grade everything again.
    progress : bool
        Show a progress bar on stderr.
    unsafe_no_sandbox : bool
        Run submissions without bubblewrap (still in cgroups), as the grading user.

    Returns
    -------
    list of dict
        One record per submission of this folder, in file-name order.

    Raises
    ------
    SandboxUnavailable
        bubblewrap is missing (and ``unsafe_no_sandbox`` is not set) or cgroups cannot be used.
    """
    from tqdm import tqdm

    submissions_dir = Path(submissions_dir)
    if not submissions_dir.is_dir():
        raise FileNotFoundError(f"no such folder of submissions: {submissions_dir}")
    bwrap = None if unsafe_no_sandbox else sandbox.find_bwrap()
    problem = cgroup.available()
    if problem:
        raise sandbox.SandboxUnavailable(f"the grader's limits need cgroups: {problem}")
    assignment = Assignment(assignment_name)
    submissions = find_submissions(submissions_dir)
    cores = os.cpu_count() or 1
    jobs_at_once = max(1, int(jobs or cores))
    threads = max(1, cores // jobs_at_once)
    _remove_stale_runs()
    previous_handler = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with OutputFolder(output_folder(out_dir, assignment.name)) as out, \
                tempfile.TemporaryDirectory(prefix=f"run{os.getpid()}-", dir=WORK_BASE) as root:
            records = out.records(assignment.name)
            done, todo = _plan(submissions, assignment, limits, unsafe_no_sandbox, regrade, records, out)
            bar = tqdm(total=len(submissions), initial=len(done), unit="notebook", disable=not progress,
                       desc=f"grading {assignment.name}", file=sys.stderr)
            run = {"root": root, "prefix": f"run{os.getpid()}-", "bwrap": bwrap, "unsafe": unsafe_no_sandbox,
                   "package": sandbox.stage_package(root)}
            try:
                if todo:
                    run["judge"] = _jobs.JudgeServer(assignment, limits, run["package"], threads,
                                                    Path(root) / "judge-server.log")
                    try:
                        _run(todo, assignment, limits, run, jobs_at_once, threads, out, records, done, bar)
                    finally:
                        run["judge"].close()
            finally:
                bar.close()
                out.write_gradebook(records)  # every result recorded so far, even when interrupted
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
    return [done[name] for name in sorted(done)]
