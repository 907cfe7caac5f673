"""The sandbox side of the tests: what leaves the student's kernel, and the requests it answers.

After the notebook has run, :func:`harvest` reads the answers the tests need. A plain
answer (a number, a string, an array, lists and dicts of them) crosses as data. Any other
(a function, a model, a class) stays in the kernel and only its name crosses, in a list of
its own, so no student value can be mistaken for a marker. An untouched ``...`` is
reported as unanswered.

:func:`serve` answers one request of the judge:

- ``{"op": "call", "name": ...}``: call that answer with plain arguments;
- ``{"op": "probe", "source": ..., "name": ...}``: run a probe, instructor code sent as
  source (:mod:`aegrader.probes`), with plain inputs.

In both, ``refs`` names the arguments that are answers left in the kernel
(``[place, key, name]``: ``args`` or ``kwargs``, the index or keyword, the answer's name).
The reply is ``{"value": plain}`` or ``{"raised": message}``; a tensor, or anything NumPy
reads as a numeric array, is sent as that array.

This code runs in the student's kernel and is no more trusted than the rest of it: the
judge reads every reply as untrusted plain data.
"""

import builtins

import numpy as np

from . import plain

__all__ = ["harvest", "serve", "to_plain"]


def to_plain(value, depth=0):
    """``value`` as plain data: tensors become NumPy arrays; anything else that is not plain raises."""
    if depth > plain.MAX_DEPTH:
        raise plain.PlainDataError("nested too deeply")
    if value is None or isinstance(value, (bool, int, float, str, np.ndarray, np.generic)):
        return value  # plain.encode checks an array's dtype and reduces subclasses to builtins
    if type(value) is list:
        return [to_plain(v, depth + 1) for v in value]
    if type(value) is tuple:
        return tuple(to_plain(v, depth + 1) for v in value)
    if type(value) is dict and all(type(k) in plain.KEY_TYPES for k in value):
        return {k: to_plain(v, depth + 1) for k, v in value.items()}
    if hasattr(type(value), "__array__"):  # a tensor or a variable
        array = np.asarray(value)
        if array.dtype.kind in plain.NUMERIC_KINDS:
            return array
    raise plain.PlainDataError(f"a {type(value).__name__} is not plain data")


def _type_name(value):
    try:
        return str.__str__(type(value).__name__)[:60]
    except BaseException:  # a type that hides its name
        return "?"


def harvest(names, namespace):
    """The answers ``names`` in ``namespace``: ``{"values", "objects", "unanswered"}``.

    ``values``: the plain answers; ``objects``: ``{name: type name}`` of the answers that
    stay here; ``unanswered``: the names still bound to ``...``. A name not defined is in none.
    """
    values, objects, unanswered = {}, {}, []
    for name in names:
        if name not in namespace:
            continue
        value = namespace[name]
        if value is Ellipsis:
            unanswered.append(name)
            continue
        try:
            exported = to_plain(value)
            plain.encode(exported, {})
            values[name] = exported
        except Exception:
            objects[name] = _type_name(value)
    return {"values": values, "objects": objects, "unanswered": unanswered}


def _arguments(request, namespace):
    args, kwargs = list(request.get("args", [])), dict(request.get("kwargs", {}))
    for place, key, name in request.get("refs", []):
        if name not in namespace:
            raise NameError(f"{name} is no longer defined in the notebook")
        if place == "args":
            args[key] = namespace[name]
        else:
            kwargs[key] = namespace[name]
    return args, kwargs


def _answer(request, namespace):
    args, kwargs = _arguments(request, namespace)
    if request.get("op") == "call":
        return namespace[request["name"]](*args, **kwargs)
    if request.get("op") == "probe":
        scope = {"__builtins__": builtins, "__name__": "aegrader_probe"}
        exec(compile(request["source"], "<the grader's probe>", "exec"), scope)
        return scope[request["name"]](*args, **kwargs)
    raise ValueError(f"unknown request {str(request.get('op'))[:40]!r}")


def serve(request, namespace):
    """One request's reply frame: ``{"value": ...}`` or ``{"raised": ...}``."""
    try:
        return plain.pack({"value": to_plain(_answer(request, namespace))})
    except KeyboardInterrupt:
        return plain.pack({"raised": "interrupted: it ran past the time limit of a cell (an endless loop?)"})
    except plain.PlainDataError as err:
        return plain.pack({"raised": f"it returned something that is not plain data ({_text(err)})"})
    except BaseException as err:
        return plain.pack({"raised": f"{_text(type(err).__name__)}: {_text(err)}"})


def _text(thing):
    try:
        return str.__str__(str(thing))[:300]
    except BaseException:
        return "(a message that cannot be shown)"
