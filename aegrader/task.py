"""One submission, one task: ``grade_one(Submission, Assignment, Limits) -> Record``.

The same task grades locally (the batch's threads call :meth:`Grader.grade`) and on a
Dask worker (:func:`grade_one`): sandbox, cgroups and judge exactly as each other, on
the machine that runs it. What goes in and comes out is plain data (dataclasses of
bytes, strings and numbers); the task never touches ``--out``, only the instructor's
process writes the gradebook.
"""

import atexit
import contextlib
import ctypes  # noqa: F401  (imported before any thread starts a job: preexec_fn must not import)
import fcntl
import os
import random
import shutil
import stat
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from . import cgroup, sandbox
from . import jobs as _jobs

__all__ = ["Submission", "Grader", "Cancelled", "grade_one", "release_graders", "WORK_BASE", "remove_stale_runs"]

WORK_BASE = Path(tempfile.gettempdir()) / "aecourse-grade"
SANDBOX_UIDS = 4000  # sandbox.UID_BASE + 0..3999; no two jobs on a machine hold the same one at once


@dataclass(frozen=True)
class Submission:
    """A submitted notebook's bytes, with the name it is graded under and its resume key."""

    name: str
    raw: bytes
    key: str


class Cancelled(Exception):
    """The batch was interrupted: the job was stopped and nothing is recorded for it."""


def remove_stale_runs():
    """Work folders and cgroups left by a grader (or a worker) that was killed."""
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


class _UidClaims:
    """Sandbox user ids, each held by one job of this machine at a time (a lock file per id)."""

    def __init__(self):
        self.folder = WORK_BASE / "uids"
        self.folder.mkdir(mode=0o700, exist_ok=True)
        self.next = random.randrange(SANDBOX_UIDS)  # graders side by side start far apart
        self.lock = threading.Lock()

    def claim(self):
        with self.lock:
            for _ in range(SANDBOX_UIDS):
                slot, self.next = self.next, (self.next + 1) % SANDBOX_UIDS
                fd = os.open(self.folder / str(slot), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return sandbox.UID_BASE + slot, fd
                except BlockingIOError:
                    os.close(fd)
        raise RuntimeError(f"all {SANDBOX_UIDS} sandbox user ids are in use on this machine")


def _in_lasting_thread(make):
    """``make()`` run in a thread that lives until the process ends.

    The judge server dies with the *thread* that started it (PR_SET_PDEATHSIG); a
    worker's task threads may come and go, so the server is started from this one.
    """
    done, box = threading.Event(), {}

    def body():
        try:
            box["value"] = make()
        except BaseException as err:  # handed to the caller
            box["error"] = err
        done.set()
        threading.Event().wait()  # never returns: the thread ends with the process

    threading.Thread(target=body, name="aegrader-judge-server", daemon=True).start()
    done.wait()
    if "error" in box:
        raise box["error"]
    return box["value"]


class Grader:
    """Grades submissions of one assignment under one set of limits, in this process.

    Starts one judge server (the tests, the master's set-up run once) and stages the
    grader's code once; :meth:`grade` may be called from several threads at once.
    """

    @staticmethod
    def check_machine(unsafe=False):
        """The bubblewrap executable (None when ``unsafe``); raise SandboxUnavailable if this machine cannot grade."""
        bwrap = None if unsafe else sandbox.find_bwrap()
        problem = cgroup.available()
        if problem:
            raise sandbox.SandboxUnavailable(f"the grader's limits need cgroups: {problem}")
        return bwrap

    def __init__(self, assignment, limits, unsafe=False, threads=1, lasting_thread=False):
        bwrap = self.check_machine(unsafe)
        remove_stale_runs()
        self.assignment, self.limits = assignment, limits
        self._work = tempfile.TemporaryDirectory(prefix=f"run{os.getpid()}-", dir=WORK_BASE)
        root = Path(self._work.name)
        self.run = _jobs.Run(root=root, prefix=f"run{os.getpid()}-", bwrap=bwrap, unsafe=unsafe,
                             package=sandbox.stage_package(root), threads=max(1, int(threads)))
        self.uids = _UidClaims()

        def start_server():
            return _jobs.JudgeServer(assignment, limits, self.run.package, self.run.threads, root / "judge-server.log")

        try:
            self.run.judge = _in_lasting_thread(start_server) if lasting_thread else start_server()
        except BaseException:
            self._work.cleanup()
            raise

    def grade(self, submission, stop=None):
        """Grade one :class:`Submission`; return its :class:`~aegrader.records.Record`.

        ``stop``: a :class:`threading.Event`; once set, the job is killed and
        :class:`Cancelled` raised.
        """
        uid, claim = self.uids.claim()
        job = None
        try:
            job = _jobs.start(submission, uid, self.limits, self.run)
            while not _jobs.check(job, self.limits):
                if stop is not None and stop.wait(0.2):
                    raise Cancelled(submission.name)
                if stop is None:
                    time.sleep(0.2)
            return _jobs.finish(job, self.assignment, self.limits)
        finally:
            if job is not None:
                job.kill()  # nothing of it may outlive its turn (finish has already, when it ran)
                shutil.rmtree(job.job_dir, ignore_errors=True)
            os.close(claim)

    def close(self):
        if self.run.judge is not None:
            self.run.judge.close()
        self._work.cleanup()


_GRADERS = {}
_GRADERS_LOCK = threading.Lock()


def _worker_threads():
    """BLAS threads per job on a Dask worker: one (workers side by side on a machine cannot see each other)."""
    return 1


def grade_one(submission, assignment, limits, unsafe=False):
    """The task a worker runs: one submission graded in this machine's sandbox, cgroups and judge.

    The worker keeps one :class:`Grader` per assignment and limits (one judge server
    start, one staged copy of the code) for every task of the batch.
    """
    cache_key = (assignment.digest, limits, bool(unsafe))
    with _GRADERS_LOCK:
        grader = _GRADERS.get(cache_key)
        if grader is None:
            for old in _GRADERS.values():  # one batch at a time per worker: free the last one's server
                old.close()
            _GRADERS.clear()
            grader = _GRADERS[cache_key] = Grader(assignment, limits, unsafe, _worker_threads(), lasting_thread=True)
    return grader.grade(submission)


def release_graders():
    """Close this worker's graders (their judge servers and staged code); run on every worker after a batch."""
    with _GRADERS_LOCK:
        for grader in _GRADERS.values():
            with contextlib.suppress(Exception):
                grader.close()
        _GRADERS.clear()


atexit.register(release_graders)
