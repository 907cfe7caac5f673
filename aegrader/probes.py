"""Probe in the kernel, verdict in the judge: the judge's side of a test's calls into a submission.

A hidden test may hold *probes*: functions defined directly in the test's body whose
names are ``probe`` or start with ``probe_``. A probe is the test's glue: it runs in the
student's kernel, next to the student's objects, receives the student's answers and
plain inputs (arrays, numbers, weights, seeds) as its arguments, builds there what cannot
cross (a NumPy Generator from a seed, a Keras model from the judge's weights, an
optimizer, a tape, a lambda), calls the student's code and returns plain data. The rest
of the test, the *verdict*, runs in the judge and computes every reference from the
inputs it sent.

:func:`lint` checks what a probe may hold when an assignment loads: no assert, no
comparison helper, and no name from the test around it (only its parameters, builtins
and what it imports or defines itself). :func:`rewrite` turns each probe of a test
file into a stub that sends the probe's source and arguments to the kernel (``kernel``
below, set by :func:`connected`): the judge's channel into the sandbox, or, in the
tests of this repository, :func:`in_process`, the same requests served by
:func:`aegrader.kernel.serve` in this process.

An answer that is not plain data is a :class:`KernelAnswer` here: it can be called with
plain arguments (its result must be plain) and passed to a probe, nothing else.

A test may also hold *references*: nested functions named ``reference`` or
``reference_*``, without arguments, that compute something from the assignment's set-up
values alone (a baseline model's weights, say), never from a submission. In the judge they run once per
batch, from their source, on the judge's own set-up values, and every later submission
reads the stored result (:func:`reference_stub`); elsewhere they are ordinary functions.
"""

import ast
import contextlib
import hashlib
import math
import re
import symtable
import textwrap

import numpy as np

__all__ = ["KernelAnswer", "StudentCodeError", "answers_env", "connected", "in_process", "lint", "reference_stub",
           "rewrite", "stub"]

PROBE_NAME = re.compile(r"probe(_\w+)?$")
REFERENCE_NAME = re.compile(r"reference(_\w+)?$")
STUB_NAME = "__aegrader_probe__"
REFERENCE_STUB_NAME = "__aegrader_reference__"
# What a probe must not hold: checks and references belong to the verdict.
_VERDICT_NAMES = {"testing", "allclose", "isclose", "array_equal", "array_equiv", "pytest"}


class StudentCodeError(RuntimeError):
    """The student's code raised, did not return, or returned something that is not a plain answer."""


def finite(value):
    """False when ``value`` holds NaN or infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return False
    if isinstance(value, (np.ndarray, np.generic)) and np.asarray(value).dtype.kind in "fc":
        return bool(np.isfinite(value).all())
    if isinstance(value, (list, tuple)):
        return all(finite(v) for v in value)
    if isinstance(value, dict):
        return all(finite(v) for v in value.values())
    return True


_kernel = None  # ask(label, request) -> reply dict; set by connected()
_given = {}  # the set-up values the references run on
_store = None  # the folder where references are kept for the batch (None: this process only)
_memo = {}  # (id of the set-up values, reference key) -> value, in this process


@contextlib.contextmanager
def connected(ask, given=None, store=None):
    """Send the probes and calls of the tests run in this block through ``ask``.

    ``given``: the set-up values references run on; ``store``: a folder that keeps their
    results for every judge of the batch.
    """
    global _kernel, _given, _store
    previous = _kernel, _given, _store
    _kernel, _given, _store = ask, given if given is not None else _given, store if store is not None else _store
    try:
        yield
    finally:
        _kernel, _given, _store = previous


def _send(label, request):
    if _kernel is None:
        raise RuntimeError("no kernel is connected: run the tests with aegrader.judge.run_tests")
    reply = _kernel(label, request)
    if not isinstance(reply, dict) or not ("value" in reply or "raised" in reply):
        raise StudentCodeError(f"{label} gave a malformed reply")
    if "raised" in reply:
        raise StudentCodeError(f"{label}: {str(reply['raised'])[:300]}")
    value = reply["value"]
    if not finite(value):
        raise StudentCodeError(f"{label} returned NaN or infinity")
    return value


def _request(op, args, kwargs, **fields):
    """The request with each :class:`KernelAnswer` argument replaced by a reference (``refs``)."""
    refs, args, kwargs = [], list(args), dict(kwargs)
    for place, items in (("args", enumerate(args)), ("kwargs", kwargs.items())):
        for key, value in list(items):
            if type(value) is KernelAnswer:
                refs.append([place, key, object.__getattribute__(value, "name")])
                (args if place == "args" else kwargs)[key] = None
    return {"op": op, **fields, "args": args, "kwargs": kwargs, "refs": refs}


class KernelAnswer:
    """An answer that stays in the student's kernel (a function, a model, a class): only its name crossed.

    Calling it runs it there with plain arguments and returns its plain result; a probe
    may receive it as an argument. Anything else (an attribute, an array, arithmetic)
    is refused: a test that needs more runs a probe.
    """

    __slots__ = ("name", "type_name")

    def __init__(self, name, type_name):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "type_name", type_name)

    def __call__(self, *args, **kwargs):
        return _send(self.name, _request("call", args, kwargs, name=self.name))

    def __getattr__(self, attribute):
        if attribute.startswith("__"):  # a protocol (NumPy's, copy's) asks: it has none of them
            raise AttributeError(attribute)
        raise TypeError(f"{self.name} stays in the submission's kernel: the grader can call it or pass it to a "
                        f"probe, not read .{attribute}")

    def __setattr__(self, attribute, value):
        raise TypeError(f"{self.name} stays in the submission's kernel")

    def __array__(self, dtype=None, copy=None):
        raise TypeError(f"{self.name} ({self.type_name}) is not an array: pass it to a probe")

    def __repr__(self):
        return f"<{self.type_name} {self.name} of the submission>"


def stub(source, name):
    """What a probe is in the judge: a function that runs ``source``'s ``name`` in the kernel."""

    def run_probe(*args, **kwargs):
        return _send(f"the test's {name}", _request("probe", args, kwargs, source=source, name=name))

    run_probe.__name__ = name
    return run_probe


def reference_stub(source, name):
    """What a reference is in the judge: computed once per batch from the set-up values, then read back."""
    from . import kernel, plain

    def run_reference():
        key = hashlib.sha256(f"{name}\n{source}".encode()).hexdigest()
        if (id(_given), key) not in _memo:  # the set-up values it ran on, and its source
            path = None if _store is None else _store / f"{key}.frame"
            with _locked(_store):
                if path is not None and path.is_file():
                    frame = path.read_bytes()
                else:
                    scope = dict(_given)
                    exec(compile(source, f"<reference {name}>", "exec"), scope)
                    frame = plain.pack(kernel.to_plain(scope[name]()))
                    if path is not None:
                        path.with_suffix(".tmp").write_bytes(frame)
                        path.with_suffix(".tmp").replace(path)
            _memo[id(_given), key] = plain.unpack_frame(frame)
        return _memo[id(_given), key]

    run_reference.__name__ = name
    return run_reference


@contextlib.contextmanager
def _locked(folder):
    """One judge of the batch at a time computes a reference; the others wait and read it."""
    if folder is None:
        yield
        return
    import fcntl

    with open(folder / "lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


def answers_env(harvested, declared, problems):
    """The answers the tests see, from :func:`aegrader.kernel.harvest`'s report; every other name is dropped."""
    env = {}
    harvested = harvested if isinstance(harvested, dict) else {}
    values, objects = harvested.get("values"), harvested.get("objects")
    values = values if isinstance(values, dict) else {}
    objects = objects if isinstance(objects, dict) else {}
    unasked = sorted(str(name)[:40] for name in {*values, *objects} if name not in declared)
    if unasked:
        problems.append(f"the notebook handed over names the assignment does not ask for ({', '.join(unasked[:5])}); "
                        "the grader ignored them")
    for name, value in values.items():
        if name not in declared:
            continue
        if finite(value):
            env[name] = value
        else:
            problems.append(f"{name} is NaN or infinite: counted as wrong")
    for name, type_name in objects.items():
        if name in declared and name not in env:
            env[name] = KernelAnswer(name, str(type_name)[:60])
    return env


def in_process(namespace):
    """An ``ask`` that serves each request here, from ``namespace``, through the same pack and unpack as the sandbox."""
    from . import kernel, plain

    def ask(label, request):
        request = plain.unpack_frame(plain.pack(request))
        return plain.unpack_frame(kernel.serve(request, namespace))

    return ask


# --- probes in test files ---------------------------------------------------------------------

def _tests(tree):
    return [node for node in tree.body if isinstance(node, ast.FunctionDef)]


def _nested(test, pattern):
    return [node for node in test.body if isinstance(node, ast.FunctionDef) and pattern.match(node.name)]


def _source(lines, node):
    return textwrap.dedent("\n".join(lines[node.lineno - 1:node.end_lineno])) + "\n"


def lint(source, given=()):
    """What is wrong with the probes and references of the test file ``source``: sentences (empty: nothing).

    ``given``: the names of the assignment's set-up values, which a reference may use.
    """
    tree, lines, problems = ast.parse(source), source.splitlines(), []
    for test in _tests(tree):
        for kind, pattern, allowed in (("probe", PROBE_NAME, set()), ("reference", REFERENCE_NAME, set(given))):
            found = _nested(test, pattern)
            for node in ast.walk(test):
                if isinstance(node, ast.FunctionDef) and pattern.match(node.name) and node not in found:
                    problems.append(f"{test.name}: {node.name} is not defined directly in the test's body")
            for function in found:
                problems += _function_problems(test, function, _source(lines, function), kind, allowed)
    return problems


def _function_problems(test, function, source, kind, allowed):
    where, problems = f"{test.name}.{function.name}", []
    if function.decorator_list:
        problems.append(f"{where} is decorated")
    arguments = function.args
    if kind == "reference" and (arguments.posonlyargs or arguments.args or arguments.vararg or arguments.kwonlyargs
                                or arguments.kwarg):
        problems.append(f"{where} takes arguments: a reference computes from the set-up values alone")
    if kind == "probe":
        for node in ast.walk(function):
            if isinstance(node, ast.Assert):
                problems.append(f"{where} asserts (line {node.lineno}): checks belong to the verdict")
            name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
            if name in _VERDICT_NAMES or name.startswith("assert_"):
                problems.append(f"{where} uses {name} (line {node.lineno}): comparisons belong to the verdict")
    outside = _free_names(source) - allowed
    if outside:
        what = "pass them as arguments" if kind == "probe" else "a reference uses only the set-up values"
        problems.append(f"{where} uses names from outside itself ({', '.join(sorted(outside))}): {what}")
    return problems


def _free_names(source):
    """Names ``source``'s function reads from outside itself that are not builtins."""
    import builtins

    found = set()

    def walk(table):
        for symbol in table.get_symbols():
            if symbol.is_global() and symbol.is_referenced() and not hasattr(builtins, symbol.get_name()):
                found.add(symbol.get_name())
        for child in table.get_children():
            walk(child)

    for child in symtable.symtable(source, "<probe>", "exec").get_children():
        walk(child)
    return found


def rewrite(source):
    """The test file ``source`` with each probe and reference replaced by a stub of its source."""
    tree, lines = ast.parse(source), source.splitlines()
    edits = []
    for test in _tests(tree):
        for pattern, stub_name in ((PROBE_NAME, STUB_NAME), (REFERENCE_NAME, REFERENCE_STUB_NAME)):
            for function in _nested(test, pattern):
                indent = lines[function.lineno - 1][:function.col_offset]
                text = f"{indent}{function.name} = {stub_name}({_source(lines, function)!r}, {function.name!r})"
                edits.append((function.lineno - 1, function.end_lineno, text))
    for start, end, text in sorted(edits, reverse=True):
        lines[start:end] = [text]
    if not edits:
        return source
    return (f"from aegrader.probes import reference_stub as {REFERENCE_STUB_NAME}, stub as {STUB_NAME}\n"
            + "\n".join(lines) + "\n")
