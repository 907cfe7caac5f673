"""One submission's job: a sandbox in its own cgroup, and a judge forked by the judge server.

:class:`JudgeServer` is started once per batch; :func:`start` launches a job,
:func:`check` enforces its limits, :func:`finish` turns what the judge wrote into a record.
"""

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import cgroup, sandbox

__all__ = ["JudgeServer", "Run", "Job", "start", "check", "finish_job", "finish"]

JUDGE_GRACE = 120.0  # wall seconds the judge may take after the sandbox's own backstop
JUDGE_MAX_PROCESSES = 64
SERVER_START_SECONDS = 600.0  # imports and the master's set-up, on a machine loaded many times over


def _die_with_parent():
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def python_command(package, module):
    """Run ``module``'s ``main`` from the staged package, isolated from the environment and cwd."""
    code = f"import sys; sys.path.insert(0, {str(package)!r}); from {module} import main; sys.exit(main())"
    return [sys.executable, "-I", "-c", code]


def alive(pid):
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except (OSError, IndexError):
        return False


class JudgeServer:
    """The process that holds the tests and forks a clean judge per submission."""

    def __init__(self, assignment, limits, package, threads, log_path):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {"PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg", "HOME": str(Path(log_path).parent), "LANG": "C.UTF-8",
               "AECOURSE_MNIST": "embedded", "OMP_NUM_THREADS": str(threads),
               "OPENBLAS_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                python_command(package, "aegrader.judge") + [str(theirs.fileno())],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log, cwd=Path(log_path).parent, env=env,
                pass_fds=(theirs.fileno(),), preexec_fn=_die_with_parent)
        theirs.close()
        self.socket, self.log_path = ours, Path(log_path)
        self._lock = threading.Lock()
        # The tests travel through a pipe: they are never written to disk.
        self.process.stdin.write(assignment.judge_setup(limits).encode())
        self.process.stdin.close()
        self.socket.settimeout(SERVER_START_SECONDS)
        if self._receive() != b"ready\n":
            raise RuntimeError(f"the grader's judge did not start: {self.failure()}")

    def _receive(self):
        try:
            return self.socket.recv(4096)
        except OSError:
            return b""

    def failure(self):
        lines = self.log_path.read_text(errors="replace").strip().splitlines()
        return lines[-1][:300] if lines else f"exit code {self.process.poll()}"

    def fork(self, job_dir, group, fds):
        """A judge for the job in ``job_dir``, in cgroup ``group``; returns its pid (0 if none)."""
        message = json.dumps({"dir": str(job_dir), "submission": str(job_dir / "submission.ipynb"),
                              "cgroup_procs": sorted({str(d / "cgroup.procs") for d in group.dirs.values()})})
        try:
            with self._lock:  # one request and its answer at a time: jobs start from several threads
                socket.send_fds(self.socket, [message.encode()], fds)
                reply = self._receive()
            return int(json.loads(reply)["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0

    def close(self):
        with contextlib.suppress(OSError):
            self.socket.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Run:
    """What every job of one grading process shares: its work folder, the staged code, the judge server."""

    root: Path  # the process's work folder under WORK_BASE, named after ``prefix``
    prefix: str  # ``run<pid>-``: names its cgroups and folders, so a dead grader's are found and removed
    bwrap: str  # the bubblewrap executable, or None without a sandbox
    unsafe: bool  # no sandbox (the cgroups all the same)
    package: Path  # the staged aecourse and aegrader packages
    threads: int  # BLAS/OpenMP threads of each job
    judge: "JudgeServer" = None


@dataclass
class Job:
    name: str
    sha256: str
    key: str
    job_dir: Path
    group: object
    judge_group: object
    runner: subprocess.Popen
    judge_pid: int
    started: float
    killed_because: str = ""
    notes: list = field(default_factory=list)
    cpu_seconds: float = 0.0
    judge_cpu_seconds: float = 0.0  # the judge's own work; limited by its RLIMIT_CPU and per test
    sandbox_seconds: float = 0.0
    ran_at: float = 0.0  # when the notebook's run was over (the judge says so)
    measured: tuple = ()  # out of memory, process limit hit, peak MB: read before a kill removes the cgroup

    def kill(self):
        """End every process of the job; True if none is left."""
        return all([self.group.kill(), self.judge_group.kill()])


def _runner_command(run, job_dir, group, uid, limits):
    if run.unsafe:
        scratch = job_dir / "scratch"
        scratch.mkdir()
        env = sandbox.environment(run.threads, home=str(scratch), package_dir=str(run.package))
        return python_command(run.package, "aegrader.runner"), env, scratch
    command = sandbox.command(run.bwrap, run.package, uid,
                              cpu_file=group.cpu_file,
                              scratch_mb=limits.scratch_mb, threads=run.threads)
    return command, {"PATH": "/usr/bin:/bin"}, job_dir


def start(submission, uid, limits, run):
    """Launch a submission's sandbox (as user ``uid``) and its judge."""
    name, raw, key = submission.name, submission.raw, submission.key
    job_dir = Path(tempfile.mkdtemp(prefix="job-", dir=run.root))
    (job_dir / "submission.ipynb").write_bytes(raw)
    group_name = f"{run.prefix}{job_dir.name}"
    group = cgroup.Cgroup.create(group_name, limits.memory_mb * 2**20, limits.max_processes)
    judge_group = cgroup.Cgroup.create(f"{group_name}-judge", limits.memory_mb * 2**20, JUDGE_MAX_PROCESSES)
    to_sandbox_r, to_sandbox_w = os.pipe()
    from_sandbox_r, from_sandbox_w = os.pipe()
    command, env, cwd = _runner_command(run, job_dir, group, uid, limits)

    def enter_cgroup():
        group.join()
        _die_with_parent()

    with open(job_dir / "sandbox.log", "wb") as log:
        runner = subprocess.Popen(command, stdin=to_sandbox_r, stdout=from_sandbox_w, stderr=log, cwd=cwd, env=env,
                                  preexec_fn=enter_cgroup, start_new_session=True)
    os.close(to_sandbox_r)
    os.close(from_sandbox_w)
    judge_pid = run.judge.fork(job_dir, judge_group, [from_sandbox_r, to_sandbox_w])
    os.close(from_sandbox_r)
    os.close(to_sandbox_w)
    job = Job(name, hashlib.sha256(raw).hexdigest(), key, job_dir, group, judge_group, runner, judge_pid,
              time.monotonic())
    if not judge_pid:
        job.notes.append(f"the grader's judge could not be started ({run.judge.failure()})")
    return job


def check(job, limits):
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
    job.judge_cpu_seconds = max(job.judge_cpu_seconds, job.judge_group.cpu_seconds())
    if not job.judge_pid or not alive(job.judge_pid):
        return True
    if elapsed > 2 * limits.wall_timeout + JUDGE_GRACE:
        job.notes.append("the grader's judge did not finish in time")
        return True
    return False


def _judged(job):
    """What the judge wrote into ``result.json``; without one, an error whose ``no_result`` says so."""
    try:
        judged = json.loads((job.job_dir / "result.json").read_text())
        if isinstance(judged, dict):
            return judged
    except (OSError, ValueError):
        pass
    return {"status": "error", "questions": {}, "problems": ["the grader's judge ended without a result"],
            "no_result": True}


def finish_job(job, limits):
    """Stop what is left of the job; return (judged, problems, status, peak MB)."""
    memory_hit, processes_hit, peak = job.measured or (
        job.group.out_of_memory(), job.group.hit_process_limit(), job.group.peak_memory_mb())
    job.cpu_seconds = max(job.cpu_seconds, job.group.cpu_seconds())
    if not job.kill():  # nothing of it may outlive its turn
        job.notes.append("some of its processes could not be stopped")
    try:
        job.runner.wait(timeout=30)
    except subprocess.TimeoutExpired:
        job.runner.kill()
    judged = _judged(job)
    if job.judge_cpu_seconds >= limits.timeout and judged.get("no_result"):
        judged["problems"].append(f"the grader's tests used more than {limits.timeout:g} s of CPU time on this "
                                  "submission's answers and were stopped")
    problems = [p[:300] for p in judged.get("problems", []) if isinstance(p, str)]
    if memory_hit:  # the kernel's OOM killer ended its biggest process; the rest may have gone on
        problems.insert(0, f"a process went past the memory limit of {limits.memory_mb:g} MB and was ended")
    if processes_hit:
        problems.insert(0, f"tried to run more than {limits.max_processes} processes at once; the rest were refused")
    if job.killed_because:
        problems.insert(0, job.killed_because)
    problems += job.notes
    status = "stopped" if job.killed_because else str(judged.get("status", "error"))
    return judged, problems, status, peak


def finish(job, assignment, limits):
    """Stop what is left of the job; return its :class:`~aegrader.records.Record`, executed notebook included."""
    from .records import make_record

    judged, problems, status, peak = finish_job(job, limits)
    record = make_record(assignment, job.name, job.sha256, job.key, judged, problems, status,
                         time.monotonic() - job.started, job.cpu_seconds, peak)
    record.sandbox_seconds = round(job.sandbox_seconds, 1)
    record.judge_cpu_seconds = round(job.judge_cpu_seconds, 1)
    executed = job.job_dir / "executed.ipynb"
    record.executed = executed.read_bytes() if executed.is_file() else None
    return record
