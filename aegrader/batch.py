"""The instructor side: grade a folder of submissions, one task per submission.

:func:`grade_folder` finds the notebooks (:mod:`.submissions`), plans the batch
(results to keep by resume key, files that cannot run), hands every other submission
to :func:`aegrader.task.grade_one`'s work (a sandbox in its cgroups and a judge,
:mod:`.task`, :mod:`.jobs`), either in threads of this process or, with ``scheduler``,
on the workers of a Dask cluster, and writes each record into ``--out`` as it comes
back (:mod:`.gradebook`, :mod:`.records`). Only this process writes there, under the
output folder's lock.
"""

import concurrent.futures
import contextlib
import hashlib
import json
import os
import signal
import sys
import threading
from pathlib import Path

from . import task as _task
from .assignment import Assignment
from .gradebook import OutputFolder, disk_name, feedback_text
from .limits import GradingLimits
from .records import Record, make_record, resume_key
from .roster import file_stem, read_overrides, read_roster, students_of
from .submissions import find_submissions
from .task import WORK_BASE, Submission

__all__ = ["grade_folder", "output_folder", "find_submissions", "task_key", "WORK_BASE", "BatchProblems"]


def output_folder(out_dir, assignment_name):
    """Where the gradebook goes: ``out_dir`` if given, else ``grading-output/<assignment>`` here."""
    return Path(out_dir) if out_dir else Path("grading-output") / assignment_name


class BatchProblems(list):
    """Sentences about the batch as a whole (roster mismatches, submissions a worker could not grade,
    overrides that do not fit), and in ``ungraded`` the names of the submissions that got no record."""

    def __init__(self, *sentences):
        super().__init__(*sentences)
        self.ungraded = []


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


def _save(out, record):
    """Write a :class:`Record`'s files; return its JSON form."""
    data = record.as_dict()
    if record.executed is not None:
        data["files"]["executed"] = f"executed/{disk_name(record.submission, '.ipynb')}"
        out.write("executed", disk_name(record.submission, ".ipynb"), record.executed)
    out.write("feedback", disk_name(record.submission, ".md"), feedback_text(data))
    out.write("results", disk_name(record.submission, ".json"), json.dumps(data, indent=1) + "\n")
    return data


def _plan(submissions, assignment, limits, unsafe, regrade, records, out, only):
    """Split the folder into results to keep and :class:`Submission` s to grade."""
    done, todo = {}, []
    for name in sorted(submissions):
        raw = submissions[name]
        key = resume_key(assignment, limits, unsafe, raw)
        previous = records.get(name)
        if previous and previous.get("key") == key and not (regrade or name in only):
            done[name] = previous
        elif only and name not in only and previous:  # --only: everyone else keeps what they have
            done[name] = previous
        elif reason := _unreadable(raw):  # no sandbox for what cannot run
            sha = hashlib.sha256(raw if isinstance(raw, bytes) else b"").hexdigest()
            record = make_record(assignment, name, sha, key, {}, [reason], "unreadable")
            done[name] = records[name] = _save(out, record)
        elif not only or name in only:
            todo.append(Submission(name, raw, key))
    return done, todo


def _grade_here(todo, assignment, limits, unsafe, jobs_at_once, threads, record_done):
    """Grade ``todo`` in this process, ``jobs_at_once`` threads each running one job."""
    grader = _task.Grader(assignment, limits, unsafe, threads)
    stop = threading.Event()
    try:
        with concurrent.futures.ThreadPoolExecutor(jobs_at_once, thread_name_prefix="aegrader-job") as pool:
            pending = {pool.submit(grader.grade, submission, stop) for submission in todo}
            try:
                while pending:
                    finished, pending = concurrent.futures.wait(pending, timeout=0.5,
                                                                return_when=concurrent.futures.FIRST_COMPLETED)
                    for future in finished:
                        record_done(future.result())
            finally:
                stop.set()  # interrupted: every running job is killed; its result is simply not recorded
                for future in pending:
                    future.cancel()
    finally:
        grader.close()


def task_key(submission):
    """The Dask key of a submission's task: one per file name and resume key.

    A task whose worker died is run again elsewhere under the same key, and its record
    comes back (and is written) once.
    """
    return f"aegrader-{hashlib.sha256((submission.name + submission.key).encode()).hexdigest()[:24]}"


def _grade_on_cluster(todo, assignment, limits, unsafe, scheduler, record_done, problems, ungraded):
    """Grade ``todo`` on the workers of the Dask scheduler at ``scheduler``; records come back here.

    A submission no worker could grade is named in ``ungraded`` and said why in ``problems``.
    """
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise RuntimeError("--scheduler needs Dask's distributed package: pip install 'dask[distributed]'") from None
    try:
        client = Client(scheduler, timeout="30s", set_as_default=False)
    except (OSError, TimeoutError) as err:
        raise RuntimeError(f"no Dask scheduler answered at {scheduler} ({err})") from None
    futures = []
    try:
        names = {}
        for submission in todo:
            future = client.submit(_task.grade_one, submission, assignment, limits, unsafe, key=task_key(submission),
                                   retries=1)
            names[future.key] = submission.name
            futures.append(future)
        for future in as_completed(futures, loop=client.loop):
            try:
                record = future.result()
            except Exception as err:  # the worker could not grade it: say so, record nothing, resume later
                ungraded.append(names[future.key])
                problems.append(f"{names[future.key]} was not graded: a worker failed with "
                                f"{type(err).__name__}: {str(err)[:200]}; run the same command to try again")
                continue
            if not isinstance(record, Record):
                ungraded.append(names[future.key])
                problems.append(f"{names[future.key]} was not graded: a worker sent back a {type(record).__name__}")
                continue
            record_done(record)
    finally:
        if futures:
            client.cancel(futures)
        with contextlib.suppress(Exception):  # the workers' judge servers end with the batch
            client.run(_task.release_graders, on_error="return")
        client.close()


def grade_folder(submissions_dir, assignment_name, out_dir=None, *, jobs=None, limits=GradingLimits(),
                 regrade=False, progress=True, unsafe_no_sandbox=False, scheduler=None, only=(), roster=None,
                 problems=None, overrides=None):
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
        Submissions graded at once on this machine; default the number of CPU cores.
    limits : GradingLimits
    regrade : bool
        Ignore earlier results and grade everything again.
    progress : bool
        Show a progress bar on stderr.
    unsafe_no_sandbox : bool
        Run submissions without bubblewrap (still in cgroups), as the grading user.
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://host:8786``): every submission is graded on
        one of its workers instead of here. Dask is imported only then.
    only : collection of str
        Grade these submissions again (file names, or student ids of the roster) and
        no other; everyone else keeps their stored result.
    roster : path-like, optional
        CSV file with the columns ``file`` and ``student``: the student id of each file.
    problems : list, optional
        Receives sentences about the batch as a whole (roster mismatches, submissions
        that a worker could not grade, overrides that cannot be used). A
        :class:`BatchProblems` also receives in ``ungraded`` the names of the submissions
        that a worker could not grade.
    overrides : path-like, optional
        The instructor's overrides, a CSV file with the columns ``student``, ``question``,
        ``score`` and ``reason`` (:func:`~aegrader.roster.read_overrides`); default
        ``overrides.csv`` in the output folder if there is one. They change the scores in
        every file of the gradebook, not the stored results nor what this returns.

    Returns
    -------
    list of dict
        One record (the JSON form of :class:`~aegrader.records.Record`) per graded
        or kept submission of this folder, in file-name order, as graded (no override).

    Raises
    ------
    SandboxUnavailable
        bubblewrap is missing (and ``unsafe_no_sandbox`` is not set) or cgroups cannot be used.
    """
    from tqdm import tqdm

    problems = problems if problems is not None else BatchProblems()
    ungraded = getattr(problems, "ungraded", [])
    submissions_dir = Path(submissions_dir)
    if not submissions_dir.is_dir():
        raise FileNotFoundError(f"no such folder of submissions: {submissions_dir}")
    if not scheduler:
        _task.Grader.check_machine(unsafe_no_sandbox)
    students = read_roster(roster) if roster else None
    assignment = Assignment.load(assignment_name)
    submissions = find_submissions(submissions_dir)
    only = _only(only, submissions, students)
    cores = os.cpu_count() or 1
    jobs_at_once = max(1, int(jobs or cores))
    threads = max(1, cores // jobs_at_once)
    in_main_thread = threading.current_thread() is threading.main_thread()  # signals reach only the main thread
    previous_handler = signal.signal(signal.SIGTERM, signal.default_int_handler) if in_main_thread else None
    try:
        with OutputFolder(output_folder(out_dir, assignment.name)) as out:
            records = out.records(assignment.name)
            if overrides is None and (out.path / "overrides.csv").exists():
                overrides = out.path / "overrides.csv"
            table, unusable = read_overrides(overrides) if overrides is not None else ([], [])
            done, todo = _plan(submissions, assignment, limits, unsafe_no_sandbox, regrade, records, out, only)
            bar = tqdm(total=len(done) + len(todo), initial=len(done), unit="notebook", disable=not progress,
                       desc=f"grading {assignment.name}", file=sys.stderr)

            def record_done(record):
                done[record.submission] = records[record.submission] = _save(out, record)
                out.write_gradebook(records, students, assignment, overrides=table)
                bar.update(1)

            try:
                if todo and scheduler:
                    _grade_on_cluster(todo, assignment, limits, unsafe_no_sandbox, scheduler, record_done, problems,
                                      ungraded)
                elif todo:
                    _grade_here(todo, assignment, limits, unsafe_no_sandbox, jobs_at_once, threads, record_done)
            finally:
                bar.close()
                # every result recorded so far, even when interrupted; the summary once, at the end
                unusable += out.write_gradebook(records, students, assignment, summary=True, overrides=table)
            problems.extend(students_of(records, students, assignment)[1] + unusable)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous_handler)
    return [done[name] for name in sorted(done)]


def _only(only, submissions, students):
    """The file names that ``--only`` names (a file name or a roster id); a clear error for one that is none."""
    names = set()
    for wanted in only or ():
        matches = [n for n in submissions if wanted in (n, file_stem(n))
                   or (students and students.get(file_stem(n)) == wanted)]
        if not matches:
            raise FileNotFoundError(f"--only {wanted}: no submission of that file name or student id")
        names.update(matches)
    return names
