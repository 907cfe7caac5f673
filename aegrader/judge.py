"""The judge: scores one submission in a clean interpreter that never runs student code.

The batch (:mod:`aegrader.jobs`) starts one judge server per batch,
``python -I`` on a staged copy of this package (:func:`serve`): it reads the
assignment's tests, public and hidden, through a pipe (they never touch the disk),
runs the master's set-up code once, and forks one judge per submission, which works
in the job's own folder (which the sandbox cannot see) and talks to the sandbox
through two pipe ends.

It checks the submission, sends it into the sandbox, receives the executed notebook
and the answers as plain data (:mod:`aegrader.plain`, :func:`aegrader.kernel.harvest`),
runs the master's set-up cells itself (so the data the tests use is the instructor's),
and runs every test with the answers. An answer that is not plain data (a function, a
model, a class) stays in the sandbox and is a :class:`~aegrader.probes.KernelAnswer`
here; a test's probes run there too (:mod:`aegrader.probes`), and only plain data
comes back; nothing is ever unpickled. Scores are clamped to ``[0, possible]``; NaN
and infinity count as wrong. It writes ``result.json`` and ``executed.ipynb`` into its
working folder.
"""

import contextlib
import io
import json
import math
import os
import sys
import time
from pathlib import Path

__all__ = ["judge", "main", "run_tests"]

from .probes import StudentCodeError


class TestCpuLimit(Exception):
    """A test used up its CPU seconds in the judge (SIGPROF)."""


class _Inbox:
    """The sandbox's pipe end, read with a deadline: a call's wall time is the submission's."""

    def __init__(self, fd, channel):
        self.fd, self.channel = fd, channel

    def read(self, size):
        import select

        if self.channel.deadline is not None:
            left = self.channel.deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise TimeoutError("the submission's time is used up")
        return os.read(self.fd, size)


class Channel:
    """The plain-data conversation with one sandbox."""

    def __init__(self, in_fd, out_fd):
        self.inbox = _Inbox(in_fd, self)
        self.outbox = os.fdopen(out_fd, "wb")
        self.open = True
        self.deadline = None  # monotonic time after which the sandbox gets no more wall time
        self.call_budget = math.inf  # wall seconds left for the tests' calls into the sandbox

    def send(self, value):
        from . import plain

        self.send_frame(plain.pack(value))

    def send_frame(self, frame):
        try:
            self.outbox.write(frame)
            self.outbox.flush()
        except (BrokenPipeError, OSError, ValueError):
            self.open = False
            raise EOFError("the submission's sandbox has ended") from None

    def receive(self):
        from . import plain

        try:
            return plain.receive(self.inbox)
        except TimeoutError as err:
            self.open = False
            raise EOFError(str(err)) from None
        except (EOFError, OSError):
            self.open = False
            raise EOFError("the submission's sandbox has ended") from None
        except BaseException:  # a frame half read: nothing after it can be trusted
            self.open = False
            raise


def _asker(channel):
    """``ask(label, request)``: one round trip into the sandbox, charged to the submission's call budget."""
    from . import plain

    def ask(label, request):
        if not channel.open:
            raise StudentCodeError(f"{label} cannot run: the submission's sandbox has ended")
        try:
            frame = plain.pack(request)
        except plain.PlainDataError as err:
            raise StudentCodeError(f"{label} cannot run with these arguments: only plain data, and the "
                                   f"submission's answers as arguments of their own, cross into its sandbox ({err})"
                                   ) from None
        started = time.monotonic()
        channel.deadline = started + max(channel.call_budget, 0.0)
        try:
            channel.send_frame(frame)
            return channel.receive()
        except EOFError as err:
            raise StudentCodeError(f"{label} did not return: {err} (a time or memory limit, "
                                   "or waiting instead of computing?)") from None
        except plain.PlainDataError as err:
            raise StudentCodeError(f"{label} returned something the grader cannot read: {err}") from None
        finally:
            channel.call_budget -= time.monotonic() - started
            channel.deadline = None

    return ask


def _message(err):
    """What a student may read about a failed test: never the test's source."""
    if isinstance(err, AssertionError):
        text = str(err).strip()
        return text[:300] if text else "a check did not hold"
    if isinstance(err, (StudentCodeError, TestCpuLimit)):
        return str(err)[:300]
    return f"{type(err).__name__}: {str(err)[:300]}"


def _given_namespace(given_code):
    """Run the master's set-up cells (instructor code) and return their names."""
    namespace = {"__name__": "__aecourse_given__"}
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        for source in given_code:
            exec(compile(source, "<assignment set-up>", "exec"), namespace)
    return namespace


@contextlib.contextmanager
def _cpu_budget(seconds):
    """Raise :class:`TestCpuLimit` in this block once it has used ``seconds`` of the judge's CPU time.

    Time spent waiting for the sandbox (a call of the student's function) is not the
    judge's CPU time: that is counted in the sandbox's cgroup, against the submission.
    """
    import signal

    if not seconds:
        yield
        return

    def stop(*_):
        raise TestCpuLimit(f"the test used more than {seconds:g} s of the grader's CPU time on this "
                           "submission's answers and was stopped")

    previous = signal.signal(signal.SIGPROF, stop)
    signal.setitimer(signal.ITIMER_PROF, float(seconds))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def run_tests(tests, env, cpu_seconds=None, ask=None, given=None, store=None):
    """Run every question's tests against ``env``; return {question: result}.

    ``cpu_seconds``: the judge's CPU time each test may use (None: no limit). ``ask``:
    where the tests' probes and calls go; ``given``, ``store``: the set-up values the
    tests' references run on, and the folder that keeps them for the batch
    (:func:`aegrader.probes.connected`).
    """
    from otter.test_files.abstract_test import TestCaseResult
    from otter.test_files.exception_test import ExceptionTestFile

    from .probes import connected, rewrite

    questions = {}
    for question, source in sorted(tests.items()):
        test_file = ExceptionTestFile.from_string(rewrite(source), path=f"{question}.py")
        results, failed = [], []
        for case in test_file.test_cases:
            try:
                with _cpu_budget(cpu_seconds), connected(ask, given, store):
                    case.body.call_func(env)
                passed, message = True, ""
            except (Exception, TestCpuLimit) as err:
                passed, message = False, _message(err)
                failed.append({"hidden": bool(case.hidden), "message": message})
            results.append(TestCaseResult(test_case=case, message=message, passed=passed))
        test_file.test_case_results = results
        possible = float(test_file.possible)
        score = float(test_file.score)
        if not math.isfinite(score):
            score = 0.0
        questions[question] = {"score": min(max(score, 0.0), possible), "possible": possible, "failed": failed}
    return questions


def judge(job, channel, given=None):
    import nbformat

    from .notebook import SubmissionError, cell_errors, limit_outputs, read_submission, syntax_problems
    from .probes import answers_env

    result = {"status": "graded", "problems": [], "questions": {}}
    raw = Path(job["submission"]).read_bytes()
    try:
        nb = read_submission(raw)
    except SubmissionError as err:
        return {**result, "status": "unreadable", "problems": [str(err)]}
    result["problems"].extend(syntax_problems(nb))
    limits = job["limits"]
    started = time.monotonic()
    try:
        channel.send({
            "notebook": nbformat.writes(nb), "file_name": job["file_name"], "answers": job["answers"],
            "cell_timeout": limits["cell_timeout"], "cell_wall_timeout": limits["cell_wall_timeout"],
            "max_output_bytes": limits["max_output_bytes"],
        })
        ran = channel.receive()
        Path("ran").touch()  # tells the batch that the notebook's run is over; the tests' calls begin
        # The tests' calls into the sandbox share what is left of the submission's wall-clock
        # backstop (at least half of it, for a notebook slowed by a loaded machine): waiting
        # on a student's function is the submission's time, not the batch's.
        wall = float(limits["wall_timeout"])
        channel.call_budget = max(wall - (time.monotonic() - started), wall / 2)
        if not isinstance(ran, dict):
            raise ValueError("not a dict")
    except EOFError:
        ran = {"executed": "", "answers": {}, "problems": ["the sandbox ended before the notebook had run"]}
    except ValueError as err:
        ran = {"executed": "", "answers": {}, "problems": [f"the sandbox sent something unreadable ({err})"]}
    result["problems"].extend(str(p)[:300] for p in ran.get("problems", []) if isinstance(p, str))
    try:
        executed = nbformat.reads(ran.get("executed") or "", as_version=4)
        if limit_outputs(executed, limits["max_output_bytes"]) and ran.get("outputs_cut") is not True:
            result["problems"].append(f"the notebook's outputs passed {limits['max_output_bytes']:,} bytes; "
                                      "the rest was dropped")
        result["problems"].extend(cell_errors(executed, float(limits["cell_timeout"])))
        nbformat.write(executed, "executed.ipynb")
    except Exception:
        pass  # nothing ran (or garbage came back): there is no executed notebook to keep
    given = given if given is not None else _given_namespace(job["given_code"])
    answers = answers_env(ran.get("answers"), set(job["answers"]) - set(given), result["problems"])
    env = {**answers, **given}  # the instructor's set-up values always win
    with contextlib.redirect_stdout(io.StringIO()):
        store = Path(job["store"]) if job.get("store") else None
        result["questions"] = run_tests(job["tests"], env, float(limits["cell_timeout"]), _asker(channel), given, store)
    return result


def _read_json_line(stream):
    line = stream.readline()
    if not line:
        raise EOFError("the batch closed the judge's channel")
    return json.loads(line)


def _judge_one(job, setup, given, in_fd, out_fd):
    """In a forked child: judge one submission, write ``result.json`` into its folder."""
    import resource

    os.chdir(job["dir"])
    # The whole judge's CPU time, as the kernel counts it: past the submission's own limit,
    # SIGXCPU ends it (and SIGKILL a few seconds later, whatever it does with the first).
    limit = int(math.ceil(float(setup["limits"]["timeout"])))
    resource.setrlimit(resource.RLIMIT_CPU, (limit, limit + 5))
    channel = Channel(in_fd, out_fd)
    try:
        result = judge({**setup, **job}, channel, given)
    except Exception as err:  # report, never crash the batch
        result = {"status": "error", "questions": {},
                  "problems": [f"the grader failed: {type(err).__name__}: {str(err)[:300]}"]}
    with contextlib.suppress(EOFError):
        if channel.open:
            channel.send({"quit": True})
    channel.open = False  # the submission's objects are gone with its sandbox
    Path("result.json.tmp").write_text(json.dumps(result))
    os.replace("result.json.tmp", "result.json")


def _die_with_server():
    import ctypes
    import signal

    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: a killed grader leaves no judge


def serve(control_fd):
    """The judge server: set up once, then fork one clean judge per submission.

    The server reads the assignment (tests, set-up code, answers, limits) as one JSON
    line on stdin, imports the test tools and runs the master's set-up cells once. It
    never sees a submission: for each job the batch sends, on the Unix socket
    ``control_fd``, a JSON line with the job's folder and cgroup, and the two pipe ends
    of its sandbox; the server forks, moves the child into the job's judge cgroup, and
    answers with the child's pid. A child is a copy of an interpreter no student code
    has touched, and whatever a submission does to it dies with it.
    """
    import signal
    import socket

    setup = _read_json_line(sys.stdin)
    from otter.test_files.exception_test import ExceptionTestFile  # noqa: F401  (imported once, for every child)

    import nbformat  # noqa: F401

    given = _given_namespace(setup["given_code"])
    store = Path("references").resolve()  # the tests' references, computed once for the batch
    store.mkdir(exist_ok=True)
    setup["store"] = str(store)
    if tensorflow_started():  # its threads would not survive the forks below
        raise RuntimeError("the assignment's set-up code started TensorFlow's runtime before the judges fork: "
                           "it may import TensorFlow and seed it, not run an operation")
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    control = socket.socket(fileno=control_fd)
    control.sendall(b"ready\n")
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 65536, 2)
        except OSError:
            break
        if not message:
            break
        job = json.loads(message)
        pid = os.fork()
        if pid == 0:
            try:
                control.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                _die_with_server()
                _judge_one(job, setup, given, *fds)
            finally:
                os._exit(0)
        for fd in fds:
            os.close(fd)
        for procs in job["cgroup_procs"]:
            with contextlib.suppress(OSError), open(procs, "w") as f:
                f.write(str(pid))
        control.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    return 0


def tensorflow_started():
    """Whether TensorFlow's runtime (its context and thread pools) has started in this process."""
    context = sys.modules.get("tensorflow.python.eager.context")
    return context is not None and context.context()._context_handle is not None


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("MPLBACKEND", "Agg")
    # The tests' own Keras work (baselines, references) uses the judge's share of the CPU,
    # as the sandbox's does: TensorFlow's pools would otherwise start a thread per core.
    threads = os.environ.get("OMP_NUM_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", threads)
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    from .notebook import without_iri_checks

    without_iri_checks()
    return serve(int(argv[0]))


if __name__ == "__main__":
    sys.exit(main())
