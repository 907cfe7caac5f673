"""The judge: scores one submission in a clean interpreter that never runs student code.

The batch (:mod:`aegrader.jobs`) starts one judge server per batch,
``python -I`` on a staged copy of this package (:func:`serve`): it reads the
assignment's tests, public and hidden, through a pipe (they never touch the disk),
runs the master's set-up code once, and forks one judge per submission, which works
in the job's own folder (which the sandbox cannot see) and talks to the sandbox
through two pipe ends.

It checks the submission, sends it into the sandbox, receives the executed notebook
and the answers as plain data (:mod:`aegrader.plain`), runs the master's
set-up cells itself (so the data the tests use is the instructor's), and runs every
test with the answers. A student *function* is a :class:`FunctionProxy`: calling it
sends plain arguments into the sandbox and returns the plain result. Any other
answer or result that is not plain data (a model, a layer, a class) stays in the
sandbox and is a :class:`RemoteObject` here: each use of it is a request into the
sandbox, answered with plain data or new handles; nothing is ever unpickled. Scores are
clamped to ``[0, possible]``; NaN and infinity count as wrong. It writes
``result.json`` and ``executed.ipynb`` into its working folder.
"""

import contextlib
import io
import json
import math
import os
import sys
import time
from pathlib import Path

__all__ = ["FunctionProxy", "RemoteObject", "StudentCodeError", "judge", "judge_class", "main"]


class StudentCodeError(RuntimeError):
    """The student's function raised, or returned something that is not a plain answer."""


def _finite(value):
    import numpy as np

    if type(value) is RemoteObject:
        return True  # checked when it is used
    if isinstance(value, float) and not math.isfinite(value):
        return False
    if isinstance(value, (np.ndarray, np.generic)) and np.asarray(value).dtype.kind in "fc":
        return bool(np.isfinite(value).all())
    if isinstance(value, (list, tuple)):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    return True


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
        self.remotes = {}  # handle number -> its RemoteObject (the same object, the same proxy)

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


def _outgoing(value, channel, depth=0):
    """The tests' arguments with each :class:`RemoteObject` replaced by its handle."""
    from .plain import MAX_DEPTH, PlainDataError

    if depth > MAX_DEPTH:
        raise PlainDataError("nested too deeply")
    if type(value) is RemoteObject:
        if object.__getattribute__(value, "_channel") is not channel:
            raise StudentCodeError(f"{_label(value)} belongs to another submission's sandbox")
        return object.__getattribute__(value, "_handle")
    if type(value) is list:
        return [_outgoing(v, channel, depth + 1) for v in value]
    if type(value) is tuple:
        return tuple(_outgoing(v, channel, depth + 1) for v in value)
    if type(value) is dict:
        return {k: _outgoing(v, channel, depth + 1) for k, v in value.items()}
    return value


def _incoming(value, channel, label, depth=0):
    """A reply's value with each handle replaced by its :class:`RemoteObject` (one per handle)."""
    from .plain import Handle

    if type(value) is Handle:
        known = channel.remotes.get(value.id)
        if known is None:
            known = channel.remotes[value.id] = RemoteObject(value, channel, label)
        return known
    if depth > 20:
        return value
    if type(value) is list:
        return [_incoming(v, channel, f"{label}[{i}]", depth + 1) for i, v in enumerate(value)]
    if type(value) is tuple:
        return tuple(_incoming(v, channel, f"{label}[{i}]", depth + 1) for i, v in enumerate(value))
    if type(value) is dict:
        return {k: _incoming(v, channel, f"{label}[{k!r}]", depth + 1) for k, v in value.items()}
    return value


def _ask(channel, label, request, verb="called", missing=False):
    """One round trip into the sandbox: ``request`` out, its plain (or handle) value back.

    Every kind of request (a call, an attribute, an item...) goes through here, so each
    one is charged to the submission's call budget and reads the reply the same way.
    ``missing``: an AttributeError in the sandbox is raised as one here (for ``hasattr``).
    """
    from . import plain

    if not channel.open:
        raise StudentCodeError(f"{label} cannot be {verb}: the submission's sandbox has ended")
    try:
        frame = plain.pack(_outgoing(request, channel))
    except plain.PlainDataError as err:
        raise StudentCodeError(f"{label} cannot be {verb} with these arguments: only plain data and the "
                               f"submission's own objects cross into its sandbox ({err})") from None
    started = time.monotonic()
    channel.deadline = started + max(channel.call_budget, 0.0)
    try:
        channel.send_frame(frame)
        reply = channel.receive()
    except EOFError as err:
        raise StudentCodeError(f"{label} did not return: {err} (a time or memory limit, "
                               "or waiting instead of computing?)") from None
    except plain.PlainDataError as err:
        raise StudentCodeError(f"{label} returned something the grader cannot read: {err}") from None
    finally:
        channel.call_budget -= time.monotonic() - started
        channel.deadline = None
    if not isinstance(reply, dict) or not ("value" in reply or "raised" in reply):
        raise StudentCodeError(f"{label} gave a malformed reply")
    if "raised" in reply:
        if missing and reply.get("missing") is True:
            raise AttributeError(str(reply["raised"])[:300])
        raise StudentCodeError(str(reply["raised"])[:300])
    value = reply["value"]
    if isinstance(value, dict) and set(value) <= {"$function", "$unplain"}:
        raise StudentCodeError(f"{label} returned something that is not plain data")
    if not _finite(value):
        raise StudentCodeError(f"{label} returned NaN or infinity")
    return _incoming(value, channel, label)


class FunctionProxy:
    """Stands for a function defined by the submission; each call runs it in the sandbox."""

    def __init__(self, name, channel):
        self.__name__ = name
        self._channel = channel

    def __call__(self, *args, **kwargs):
        return _ask(self._channel, self.__name__, {"op": "call", "name": self.__name__,
                                                   "args": list(args), "kwargs": dict(kwargs)})

    def __repr__(self):
        return f"<function {self.__name__} of the submission>"


# A handle's claimed type stands for the judge's own class of that name only in these
# packages, and only once the judge has imported that module itself.
CLASS_PACKAGES = ("keras", "tensorflow", "numpy")


def judge_class(name):
    """The judge's class named ``name`` ("module.Qual.Name"), or None: never imports anything."""
    if type(name) is not str or "<" in name:
        return None
    parts = name.split(".")
    if parts[0] not in CLASS_PACKAGES:
        return None
    for cut in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:cut]))
        if module is None:
            continue
        found = module
        for part in parts[cut:]:
            found = vars(found).get(part) if hasattr(found, "__dict__") else None  # no __getattr__: no lazy import
        return found if isinstance(found, type) else None
    return None


def _label(remote):
    return object.__getattribute__(remote, "_label")


class RemoteObject:
    """Stands for an object that stays in the submission's sandbox (a model, a layer, a class...).

    Each use is one request into the sandbox (:func:`_ask`), charged to the submission's
    call budget: calling it, an attribute (another value or RemoteObject), an item, its
    length, its items, ``np.asarray`` (and so NumPy arithmetic), ``float``, truth, and
    ``isinstance`` with it as the class. Dunder attributes are never asked for (NumPy's
    ``__array_interface__`` would be a pointer into the sandbox). ``isinstance(obj,
    keras.Model)`` holds when the type the sandbox names is, by that name, a class the
    judge has already imported from :data:`CLASS_PACKAGES` and a subclass of
    ``keras.Model``; any other name stands for nothing but this proxy class.
    """

    __slots__ = ("_handle", "_channel", "_label", "__weakref__")

    def __init__(self, handle, channel, label):
        object.__setattr__(self, "_handle", handle)
        object.__setattr__(self, "_channel", channel)
        object.__setattr__(self, "_label", str(label)[:80])

    def _ask(self, request, suffix, verb="used", missing=False):
        request["target"] = object.__getattribute__(self, "_handle")
        return _ask(object.__getattribute__(self, "_channel"), f"{_label(self)}{suffix}", request, verb, missing)

    @property
    def __class__(self):
        handle = object.__getattribute__(self, "_handle")
        return judge_class(handle.type) or RemoteObject

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(f"the grader does not ask the submission's objects for {name}")
        return self._ask({"op": "getattr", "name": name}, f".{name}", missing=True)

    def __setattr__(self, name, value):
        raise AttributeError(f"{_label(self)}: the grader does not change the submission's objects")

    def __call__(self, *args, **kwargs):
        return self._ask({"op": "call", "args": list(args), "kwargs": dict(kwargs)}, "(...)", "called")

    def __getitem__(self, key):
        return self._ask({"op": "getitem", "key": key}, "[...]")

    def __len__(self):
        value = self._ask({"op": "len"}, " (its length)")
        if type(value) is not int or value < 0:
            raise StudentCodeError(f"{_label(self)} has no length")
        return value

    def __iter__(self):
        value = self._ask({"op": "iter"}, " (its items)")
        if type(value) is not list:
            raise StudentCodeError(f"{_label(self)} gave no items")
        return iter(value)

    def __bool__(self):
        value = self._ask({"op": "bool"}, " (its truth)")
        if type(value) is not bool:
            raise StudentCodeError(f"{_label(self)} is neither true nor false")
        return value

    def __array__(self, dtype=None, copy=None):
        import numpy as np

        value = self._ask({"op": "array"}, " (as an array)")
        # type(), not isinstance(): an object array stays in the sandbox and comes back as a
        # RemoteObject that claims to be an ndarray; converting it again would ask forever.
        if type(value) is RemoteObject or not isinstance(value, (np.ndarray, np.generic, bool, int, float)):
            raise StudentCodeError(f"{_label(self)} is not an array of numbers")
        return np.asarray(value, dtype=dtype)

    def __float__(self):
        return float(self.__array__())

    def __int__(self):
        return int(self.__array__())

    def __index__(self):
        import operator

        return operator.index(self.__array__()[()])

    def __format__(self, spec):
        return format(float(self), spec) if spec else repr(self)

    def __instancecheck__(self, instance):
        try:
            return self._ask({"op": "isinstance", "instance": instance}, " (isinstance)") is True
        except StudentCodeError:
            return False

    def __repr__(self):
        return f"<{object.__getattribute__(self, '_handle').type[:80]} of the submission ({_label(self)})>"


def _array_operator(name):
    def operate(self, *other):
        import numpy as np

        return getattr(np.asarray(self), name)(*other)

    operate.__name__ = name
    return operate


for _name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
              "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__neg__", "__abs__",
              "__lt__", "__le__", "__gt__", "__ge__"):
    setattr(RemoteObject, _name, _array_operator(_name))
del _name


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


def _answers(raw, declared, channel, problems):
    """The answers the assignment asks for, as the tests will see them; every other name is dropped."""
    env = {}
    raw = raw if isinstance(raw, dict) else {}
    unasked = sorted(str(name)[:40] for name in raw if name not in declared)
    if unasked:
        problems.append(f"the notebook handed over names the assignment does not ask for ({', '.join(unasked[:5])}); "
                        "the grader ignored them")
    for name, value in raw.items():
        if name not in declared:
            continue
        if isinstance(value, dict) and set(value) == {"$function"}:
            env[name] = FunctionProxy(name, channel)
            continue
        value = _incoming(value, channel, name)
        if type(value) is RemoteObject:
            env[name] = value
        elif isinstance(value, dict) and set(value) == {"$unplain"}:
            problems.append(f"{name} is of type {str(value['$unplain'])[:60]}, not a number, array or string: "
                            "the grader counts it as missing")
        elif not _finite(value):
            problems.append(f"{name} is NaN or infinite: counted as wrong")
        else:
            env[name] = value
    return env


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


def run_tests(tests, env, cpu_seconds=None):
    """Run every question's tests against ``env``; return {question: result}.

    ``cpu_seconds``: the judge's CPU time each test may use (None: no limit).
    """
    from otter.test_files.abstract_test import TestCaseResult
    from otter.test_files.exception_test import ExceptionTestFile

    questions = {}
    for question, source in sorted(tests.items()):
        test_file = ExceptionTestFile.from_string(source, path=f"{question}.py")
        results, failed = [], []
        for case in test_file.test_cases:
            try:
                with _cpu_budget(cpu_seconds):
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
        if limit_outputs(executed, limits["max_output_bytes"]) and not any("outputs passed" in p for p in result["problems"]):
            result["problems"].append(f"the notebook's outputs passed {limits['max_output_bytes']:,} bytes; "
                                      "the rest was dropped")
        result["problems"].extend(cell_errors(executed, float(limits["cell_timeout"])))
        nbformat.write(executed, "executed.ipynb")
    except Exception:
        pass  # nothing ran (or garbage came back): there is no executed notebook to keep
    given = given if given is not None else _given_namespace(job["given_code"])
    answers = _answers(ran.get("answers"), set(job["answers"]) - set(given), channel, result["problems"])
    env = {**answers, **given}  # the instructor's set-up values always win
    with contextlib.redirect_stdout(io.StringIO()):
        result["questions"] = run_tests(job["tests"], env, float(limits["cell_timeout"]))
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


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("MPLBACKEND", "Agg")
    from .notebook import without_iri_checks

    without_iri_checks()
    return serve(int(argv[0]))


if __name__ == "__main__":
    sys.exit(main())
