"""The instructor side: grade a folder of submissions, one sandbox and one judge each.

For every ``*.ipynb`` (any case) in the folder, :func:`grade_folder` starts

- a sandbox (:mod:`aecourse.grading.sandbox`) in its own cgroup
  (:mod:`aecourse.grading.cgroup`) that runs the notebook
  (:mod:`aecourse.grading.runner`), and
- a judge (:mod:`aecourse.grading.judge`), a clean interpreter outside the sandbox that
  holds the tests and talks to the sandbox through two pipes, in plain data only,

watches the job's CPU time, wall time and memory, kills its cgroup when it is done
or over a limit, and records the judge's result in ``--out``
(:mod:`aecourse.grading.gradebook`).
"""

import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..assign import autograder_tests, master_path
from . import cgroup, sandbox
from .gradebook import OutputFolder, disk_name, feedback_text
from .limits import GradingLimits

__all__ = ["grade_folder", "output_folder", "find_submissions"]

FORMAT_VERSION = 2
MAX_SUBMISSION_BYTES = 100 * 2**20  # a notebook with its outputs; far above any real one
WORK_BASE = Path(tempfile.gettempdir()) / "aecourse-grade"
JUDGE_GRACE = 120.0  # wall seconds the judge may take after the sandbox's own backstop


def output_folder(out_dir, assignment_name):
    """Where the gradebook goes: ``out_dir`` if given, else ``grading-output/<assignment>`` here."""
    return Path(out_dir) if out_dir else Path("grading-output") / assignment_name


def _display(name):
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def find_submissions(folder):
    """``{name: bytes or a reason it cannot be read}`` for every ``*.ipynb`` (any case) in ``folder``."""
    found = {}
    for entry in os.scandir(folder):
        if not entry.name.lower().endswith(".ipynb"):
            continue
        name = _display(entry.name)
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as err:
            found[name] = "it is a link, not a file" if err.errno == 40 else f"the file cannot be read ({err.strerror})"
            continue
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                found[name] = "it is not a regular file"
            elif info.st_size > MAX_SUBMISSION_BYTES:
                found[name] = f"the file is larger than {MAX_SUBMISSION_BYTES // 2**20} MB"
            else:
                found[name] = f.read(MAX_SUBMISSION_BYTES)
    return found


class _Assignment:
    """An assignment's tests, public and hidden, held in memory only."""

    def __init__(self, name):
        import nbformat

        from .notebook import master_parts

        self.master = master_path(name)
        self.name = self.master.stem
        self.tests = autograder_tests(self.master)
        parts = master_parts(nbformat.read(self.master, as_version=4), self.tests)
        self.given_code, self.answers = parts["given_code"], parts["answers"]
        from otter.test_files.exception_test import ExceptionTestFile

        self.possible = {q: float(ExceptionTestFile.from_string(src, path=f"{q}.py").possible)
                         for q, src in sorted(self.tests.items())}
        self.digest = hashlib.sha256(json.dumps([self.tests, self.given_code], sort_keys=True).encode()).hexdigest()


@dataclass
class _Job:
    name: str
    sha256: str
    key: str
    slot: int
    job_dir: Path
    group: object
    runner: subprocess.Popen
    judge: subprocess.Popen
    started: float
    killed_because: str = ""
    notes: list = field(default_factory=list)
    cpu_seconds: float = 0.0
    sandbox_seconds: float = 0.0
    ran_at: float = 0.0  # when the notebook's run was over (the judge says so)
    measured: tuple = ()  # out of memory, process limit hit, peak MB: read before a kill removes the cgroup


def _die_with_parent():
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def _start(name, raw, key, slot, assignment, limits, run, threads, unsafe):
    job_dir = Path(tempfile.mkdtemp(prefix="job-", dir=run["root"]))
    (job_dir / "submission.ipynb").write_bytes(raw)
    group = cgroup.Cgroup.create(f"{run['prefix']}{job_dir.name}", limits.memory_mb * 2**20, limits.max_processes)
    to_sandbox_r, to_sandbox_w = os.pipe()
    from_sandbox_r, from_sandbox_w = os.pipe()
    log = open(job_dir / "sandbox.log", "wb")
    if unsafe:
        scratch = job_dir / "scratch"
        scratch.mkdir()
        env = sandbox.environment(threads, home=str(scratch), package_dir="")
        env.pop("PYTHONPATH")
        command, cwd = [sys.executable, "-m", "aecourse.grading.runner"], scratch
    else:
        command = sandbox.command(run["bwrap"], run["package"], sandbox.UID_BASE + slot,
                                  cpu_file=group.cpu_file if group.version == 1 else None,
                                  scratch_mb=limits.scratch_mb, threads=threads)
        env, cwd = {"PATH": "/usr/bin:/bin"}, job_dir

    def enter_cgroup():
        group.join()
        _die_with_parent()

    runner = subprocess.Popen(command, stdin=to_sandbox_r, stdout=from_sandbox_w, stderr=log, cwd=cwd, env=env,
                              preexec_fn=enter_cgroup, start_new_session=True)
    judge_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "MPLBACKEND": "Agg", "HOME": str(job_dir),
                 "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
                 "MKL_NUM_THREADS": str(threads), "AECOURSE_MNIST": "embedded", "LANG": "C.UTF-8"}
    judge = subprocess.Popen(
        [sys.executable, "-I", "-m", "aecourse.grading.judge", str(from_sandbox_r), str(to_sandbox_w)],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=open(job_dir / "judge.log", "wb"), cwd=job_dir,
        env=judge_env, pass_fds=(from_sandbox_r, to_sandbox_w), preexec_fn=_die_with_parent,
    )
    log.close()
    for fd in (to_sandbox_r, to_sandbox_w, from_sandbox_r, from_sandbox_w):
        os.close(fd)
    # The tests travel through a pipe: they are never written to disk.
    judge.stdin.write(json.dumps({
        "submission": str(job_dir / "submission.ipynb"), "file_name": f"{assignment.name}.ipynb",
        "tests": assignment.tests, "given_code": assignment.given_code, "answers": assignment.answers,
        "limits": limits.as_dict(),
    }).encode())
    judge.stdin.close()
    return _Job(name, hashlib.sha256(raw).hexdigest(), key, slot, job_dir, group, runner, judge, time.monotonic())


def _check(job, limits):
    """Enforce the limits; return True once the job is over.

    The wall-clock backstop runs twice: once for the notebook's run, and afresh for the
    tests' calls into the sandbox, so that a slow judge on a busy machine costs nothing.
    """
    now = time.monotonic()
    elapsed = now - job.started
    if not job.ran_at and (job.job_dir / "ran").exists():
        job.ran_at = now
    phase_elapsed = now - (job.ran_at or job.started)
    job.cpu_seconds = max(job.cpu_seconds, job.group.cpu_seconds())
    sandbox_running = job.runner.poll() is None
    if sandbox_running or not job.sandbox_seconds:
        job.sandbox_seconds = elapsed
    if sandbox_running and not job.killed_because:
        if job.cpu_seconds > limits.timeout:
            job.killed_because = (f"stopped after the time limit of {limits.timeout:g} s of CPU time "
                                  "(an endless loop, or far too slow?)")
        elif phase_elapsed > limits.wall_timeout:
            job.killed_because = (f"stopped after {limits.wall_timeout:g} s of wall-clock time "
                                  "(waiting or sleeping instead of computing?)")
        if job.killed_because:
            job.measured = (job.group.out_of_memory(), job.group.hit_process_limit(), job.group.peak_memory_mb())
            job.group.kill()
    if job.judge.poll() is not None:
        return True
    if elapsed > 2 * limits.wall_timeout + JUDGE_GRACE:
        job.notes.append("the grader's judge did not finish in time")
        job.judge.kill()
        return True
    return False


def _comment(result):
    failed = result.get("failed", [])
    if not failed:
        return "all tests passed"
    parts = [f"{'hidden test' if t['hidden'] else 'test'} failed: {t['message']}" for t in failed[:3]]
    if len(failed) > 3:
        parts.append(f"and {len(failed) - 3} more")
    return "; ".join(parts)


def _feedback(question, result):
    failed = result.get("failed", [])
    if not failed:
        return f"{question}: all tests passed"
    lines = [f"{question}: {len(failed)} test(s) failed"]
    lines += [f"- a {'hidden ' if t['hidden'] else ''}test failed: {t['message']}" for t in failed]
    return "\n".join(lines)


def _record(assignment, name, sha256, key, judged, problems, status, seconds=0.0, cpu=0.0, peak=0.0):
    """One submission's gradebook record, with a row for every question."""
    graded = judged.get("questions", {}) if isinstance(judged, dict) else {}
    why_not = problems[0] if problems else "the tests did not run"
    questions = {}
    for question, possible in assignment.possible.items():
        result = graded.get(question)
        if isinstance(result, dict):
            score = float(result.get("score", 0.0))
            score = min(max(score, 0.0), possible) if score == score else 0.0  # NaN counts as 0
            questions[question] = {"score": score, "possible": possible, "comment": _comment(result),
                                   "feedback": _feedback(question, result)}
        else:
            questions[question] = {"score": 0.0, "possible": possible, "comment": f"not graded: {why_not}",
                                   "feedback": f"{question} was not graded: {why_not}"}
    return {
        "format": FORMAT_VERSION, "assignment": assignment.name, "tests_digest": assignment.digest, "key": key,
        "submission": name, "sha256": sha256, "status": status,
        "total": sum(q["score"] for q in questions.values()), "possible": sum(assignment.possible.values()),
        "problems": problems, "questions": questions, "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1), "peak_memory_mb": round(peak),
        "files": {"feedback": f"feedback/{disk_name(name, '.md')}"},
    }


def _finish(job, assignment, limits, out):
    memory_hit, processes_hit, peak = job.measured or (
        job.group.out_of_memory(), job.group.hit_process_limit(), job.group.peak_memory_mb())
    job.cpu_seconds = max(job.cpu_seconds, job.group.cpu_seconds())
    if not job.group.kill():  # nothing of it may outlive its turn
        job.notes.append("some of its processes could not be stopped")
    for process in (job.runner, job.judge):
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    try:
        judged = json.loads((job.job_dir / "result.json").read_text())
    except (OSError, ValueError):
        log = (job.job_dir / "judge.log").read_text(errors="replace").strip().splitlines()
        judged = {"status": "error", "questions": {},
                  "problems": [f"the grader's judge ended with code {job.judge.returncode} "
                               f"({log[-1][:300] if log else 'no output'})"]}
    problems = [p for p in judged.get("problems", []) if isinstance(p, str)]
    if memory_hit:  # the kernel's OOM killer ended its biggest process; the rest may have gone on
        problems.insert(0, f"a process went past the memory limit of {limits.memory_mb:g} MB and was ended")
    if processes_hit:
        problems.insert(0, f"tried to run more than {limits.max_processes} processes at once; the rest were refused")
    if job.killed_because:
        problems.insert(0, job.killed_because)
    problems += job.notes
    status = "stopped" if job.killed_because else judged.get("status", "error")
    record = _record(assignment, job.name, job.sha256, job.key, judged, problems, status,
                     time.monotonic() - job.started, job.cpu_seconds, peak)
    record["sandbox_seconds"] = round(job.sandbox_seconds, 1)
    executed = job.job_dir / "executed.ipynb"
    if executed.is_file():
        record["files"]["executed"] = f"executed/{disk_name(job.name, '.ipynb')}"
        out.write("executed", disk_name(job.name, ".ipynb"), executed.read_bytes())
    out.write("feedback", disk_name(job.name, ".md"), feedback_text(record))
    out.write("results", disk_name(job.name, ".json"), json.dumps(record, indent=1) + "\n")
    shutil.rmtree(job.job_dir, ignore_errors=True)
    return record


def _unrunnable(assignment, name, raw, key, reason, out):
    sha = hashlib.sha256(raw if isinstance(raw, bytes) else b"").hexdigest()
    record = _record(assignment, name, sha, key, {}, [reason], "unreadable")
    out.write("feedback", disk_name(name, ".md"), feedback_text(record))
    out.write("results", disk_name(name, ".json"), json.dumps(record, indent=1) + "\n")
    return record


def _unreadable(raw):
    """Why a submission's bytes are not a notebook, or ''."""
    from .notebook import SubmissionError, read_submission

    try:
        read_submission(raw)
    except SubmissionError as err:
        return str(err)
    except Exception as err:  # nbformat's own checks can fail in other ways on hostile input
        return f"the notebook cannot be read ({type(err).__name__})"
    return ""


def _resume_key(assignment, limits, unsafe, raw):
    sha = hashlib.sha256(raw if isinstance(raw, bytes) else repr(raw).encode()).hexdigest()
    return hashlib.sha256(json.dumps([FORMAT_VERSION, assignment.name, assignment.digest, limits.as_dict(),
                                      bool(unsafe), sha], sort_keys=True).encode()).hexdigest()


def _remove_stale_runs():
    """Work folders and cgroups left by a grader that was killed."""
    WORK_BASE.mkdir(mode=0o700, exist_ok=True)
    os.chmod(WORK_BASE, 0o700)
    for folder in WORK_BASE.glob("run*"):
        owner = folder.name[3:].split("-")[0]
        if not (owner.isdigit() and Path(f"/proc/{owner}").exists()):
            shutil.rmtree(folder, ignore_errors=True)
    cgroup.remove_stale(f"run{os.getpid()}-")


def grade_folder(submissions_dir, assignment_name, out_dir=None, *, jobs=None, limits=GradingLimits(),
                 regrade=False, progress=True, unsafe_no_sandbox=False):
    """Grade every notebook in ``submissions_dir``; return the records of this batch.

    Parameters
    ----------
    submissions_dir : path-like
        Folder with the submitted notebooks (``*.ipynb`` in any case; not recursive).
    assignment_name : str
        Name of the master notebook in ``solutions/``, e.g. ``"02_mnist_pca"``.
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
    assignment = _Assignment(assignment_name)
    submissions = find_submissions(submissions_dir)
    cores = os.cpu_count() or 1
    jobs = max(1, int(jobs or cores))
    threads = max(1, cores // jobs)
    _remove_stale_runs()
    with OutputFolder(output_folder(out_dir, assignment.name)) as out, \
            tempfile.TemporaryDirectory(prefix=f"run{os.getpid()}-", dir=WORK_BASE) as root:
        run = {"root": root, "prefix": f"run{os.getpid()}-", "bwrap": bwrap,
               "package": None if unsafe_no_sandbox else sandbox.stage_package(root)}
        records = out.records(assignment.name)
        done, todo = {}, []
        for name in sorted(submissions):
            raw = submissions[name]
            key = _resume_key(assignment, limits, unsafe_no_sandbox, raw)
            previous = records.get(name)
            if not regrade and previous and previous.get("key") == key and previous.get("format") == FORMAT_VERSION:
                done[name] = previous
            elif isinstance(raw, str):
                done[name] = records[name] = _unrunnable(assignment, name, raw, key, raw, out)
            elif reason := _unreadable(raw):  # no sandbox for what cannot run; the judge checks again
                done[name] = records[name] = _unrunnable(assignment, name, raw, key, reason, out)
            else:
                todo.append((name, raw, key))
        bar = tqdm(total=len(submissions), initial=len(done), unit="notebook", disable=not progress,
                   desc=f"grading {assignment.name}", file=sys.stderr)
        running, free_slots = [], list(range(jobs))
        previous_handler = signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            while todo or running:
                while todo and free_slots:
                    name, raw, key = todo.pop(0)
                    running.append(_start(name, raw, key, free_slots.pop(0), assignment, limits, run, threads,
                                          unsafe_no_sandbox))
                time.sleep(0.2)
                for job in [j for j in running if _check(j, limits)]:
                    running.remove(job)
                    free_slots.append(job.slot)
                    done[job.name] = records[job.name] = _finish(job, assignment, limits, out)
                    out.write_gradebook(records)
                    bar.update(1)
        finally:
            signal.signal(signal.SIGTERM, previous_handler)
            for job in running:  # interrupted: stop what is running; its result is simply not recorded
                job.group.kill()
                job.judge.kill()
            bar.close()
            out.write_gradebook(records)  # every result recorded so far, even when interrupted
    return [done[name] for name in sorted(done)]
