"""The sandbox side of remote objects: a registry in the student's kernel, and the requests it serves.

An answer (or a result) that is not plain data -- a Keras model, a layer, a tensor, a
class, a bound method, any object -- stays in the kernel: :func:`export` keeps it in
the registry and sends a :class:`~aegrader.plain.Handle` (its number and the name of its
type) in its place, also inside lists, tuples and dicts. The same object always gets the
same number. :func:`serve` answers one request of the judge about a handle: call it, get
an attribute, index it, its length, its items, its value as a NumPy array, its truth,
whether it is an instance of another handle. Arguments may hold handles; an unknown
number is refused.

This code runs in the student's kernel and is no more trusted than the rest of it: the
judge (:class:`aegrader.judge.RemoteObject`) reads every reply as untrusted plain data.
"""

import itertools

import numpy as np

from . import plain

__all__ = ["MAX_HANDLES", "MAX_ITEMS", "export", "resolve", "serve"]

MAX_HANDLES = 50_000  # objects the registry keeps for one submission
MAX_ITEMS = 100_000  # items one iteration may return

_objects = {}  # handle number -> object (kept alive, so that id() stays its own)
_numbers = {}  # id(object) -> handle number


def _type_name(value):
    kind = type(value)
    try:
        module, name = kind.__module__, kind.__qualname__
        if type(module) is not str or type(name) is not str:
            raise TypeError
    except Exception:  # a type that hides its names
        module, name = "?", "?"
    return f"{module}.{name}"[:200]


def _handle(value):
    number = _numbers.get(id(value))
    if number is None or _objects.get(number) is not value:
        if len(_objects) >= MAX_HANDLES:
            raise plain.PlainDataError(f"the notebook handed out more than {MAX_HANDLES:,} objects")
        number = len(_objects)
        _objects[number], _numbers[id(value)] = value, number
    return plain.Handle(number, _type_name(value))


def export(value, depth=0):
    """``value`` with every part that is not plain data replaced by a handle."""
    if depth > plain.MAX_DEPTH:
        raise plain.PlainDataError("nested too deeply")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value  # plain.encode reduces a subclass to its builtin value
    if isinstance(value, (np.ndarray, np.generic)) and np.asarray(value).dtype.kind in plain.NUMERIC_KINDS:
        return value
    if type(value) is list:
        return [export(v, depth + 1) for v in value]
    if type(value) is tuple:
        return tuple(export(v, depth + 1) for v in value)
    if type(value) is dict and all(type(k) in plain.KEY_TYPES for k in value):
        return {k: export(v, depth + 1) for k, v in value.items()}
    return _handle(value)


def resolve(value, depth=0):
    """The judge's arguments with each handle replaced by its object."""
    if depth > plain.MAX_DEPTH:
        raise plain.PlainDataError("nested too deeply")
    if type(value) is plain.Handle:
        if value.id not in _objects:
            raise LookupError(f"the grader asked for object #{value.id}, which this notebook never handed out")
        return _objects[value.id]
    if type(value) is list:
        return [resolve(v, depth + 1) for v in value]
    if type(value) is tuple:
        return tuple(resolve(v, depth + 1) for v in value)
    if type(value) is dict:
        return {k: resolve(v, depth + 1) for k, v in value.items()}
    return value


def _iterate(target):
    items = list(itertools.islice(iter(target), MAX_ITEMS + 1))
    if len(items) > MAX_ITEMS:
        raise ValueError(f"it has more than {MAX_ITEMS:,} items")
    return items


def _answer(request, namespace):
    op = request.get("op", "call")
    if op == "call" and "name" in request:
        function = namespace.get(request["name"])
        return function(*resolve(request["args"]), **resolve(request["kwargs"]))
    target = resolve(request["target"])
    if op == "call":
        return target(*resolve(request["args"]), **resolve(request["kwargs"]))
    if op == "getattr":
        return getattr(target, str.__str__(request["name"]))
    if op == "getitem":
        return target[resolve(request["key"])]
    if op == "len":
        return int.__int__(len(target))
    if op == "iter":
        return _iterate(target)
    if op == "array":
        return np.asarray(target)
    if op == "bool":
        return bool.__bool__(bool(target))
    if op == "isinstance":
        return bool.__bool__(isinstance(resolve(request["instance"]), target))
    raise ValueError(f"unknown request {str(op)[:40]!r}")


def serve(request, namespace):
    """One request's reply frame: ``{"value": ...}``, or ``{"raised": ...}`` (``"missing"`` for an attribute)."""
    try:
        return plain.pack({"value": export(_answer(request, namespace))})
    except AttributeError as err:
        return plain.pack({"raised": f"AttributeError: {_text(err)}", "missing": True})
    except KeyboardInterrupt:
        return plain.pack({"raised": "interrupted: it ran past the time limit of a cell (an endless loop?)"})
    except BaseException as err:
        return plain.pack({"raised": f"{_text(type(err).__name__)}: {_text(err)}"})


def _text(thing):
    try:
        return str.__str__(str(thing))[:300]
    except BaseException:
        return "(a message that cannot be shown)"
