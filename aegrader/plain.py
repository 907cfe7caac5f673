"""Plain data across the sandbox wall: JSON for structure, ``.npz`` for arrays, never pickle.

A message is a length-prefixed frame: ``<II`` (JSON length, npz length), the JSON text,
then the npz bytes. The JSON holds ``None``, ``bool``, ``int``, ``float``, ``str`` and
lists as they are, and tagged objects for everything else::

    {"$array": "a0", "scalar": false}   an array (or numpy scalar) stored in the npz
    {"$tuple": [...]}  {"$dict": {...}}  {"$float": "nan"}
    {"$items": [[key, value], ...]}      a dict whose keys are numbers, booleans, None or strings

Nothing else: what is not plain data never crosses, and no tag says "this is not plain
data" (that travels beside the data, see :func:`aegrader.kernel.harvest`), so a
student's value can never be mistaken for a marker.

:func:`encode` runs on either side. :func:`decode` is the judge's door: it builds only
builtins and ndarrays of a numeric or boolean dtype, rejects anything else, and caps
the size and depth of what it reads.
"""

import io
import json
import math
import struct

import numpy as np

__all__ = ["PlainDataError", "encode", "decode", "pack", "unpack", "send", "receive"]

MAX_JSON_BYTES = 64 * 2**20  # an executed notebook within its output limit fits many times
MAX_NPZ_BYTES = 512 * 2**20  # far above any array of this course (MNIST train set: 13 MB)
MAX_DEPTH = 20
NUMERIC_KINDS = "biufc"  # bool, signed, unsigned, float, complex: no objects, strings, voids

KEY_TYPES = (type(None), bool, int, float, str)  # what a dict's keys may be, besides strings

_HEADER = struct.Struct("<II")


class PlainDataError(ValueError):
    """Data that is not plain, too large or malformed."""


def encode(value, arrays, depth=0):
    """``value`` as a JSON-able tree; arrays go into the dict ``arrays``.

    Subclasses of ``int``, ``float`` and ``str`` are reduced to their builtin value,
    so an object with its own ``__eq__`` never crosses.
    """
    if depth > MAX_DEPTH:
        raise PlainDataError("nested too deeply")
    if value is None or type(value) is bool or type(value) is str:
        return value
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.array(value, copy=True, subok=False)
        if array.dtype.kind not in NUMERIC_KINDS:
            raise PlainDataError(f"an array of dtype {array.dtype} is not plain numeric data")
        key = f"a{len(arrays)}"
        arrays[key] = array
        return {"$array": key, "scalar": isinstance(value, np.generic)}
    if isinstance(value, bool):
        return bool(int.__int__(value))
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        number = float.__float__(value)
        return number if math.isfinite(number) else {"$float": repr(number)}
    if isinstance(value, str):
        return str.__str__(value)
    if type(value) is list:
        return [encode(v, arrays, depth + 1) for v in value]
    if type(value) is tuple:
        return {"$tuple": [encode(v, arrays, depth + 1) for v in value]}
    if type(value) is dict and all(type(k) is str for k in value):
        return {"$dict": {k: encode(v, arrays, depth + 1) for k, v in value.items()}}
    if type(value) is dict and all(type(k) in KEY_TYPES for k in value):
        return {"$items": [[encode(k, arrays, depth + 1), encode(v, arrays, depth + 1)] for k, v in value.items()]}
    raise PlainDataError(f"a {type(value).__name__} is not plain data")


def _reject_constant(name):
    raise PlainDataError(f"bare {name} in JSON")


def decode(tree, arrays, depth=0):
    """The value ``tree`` stands for: builtins and numeric ndarrays only."""
    if depth > MAX_DEPTH:
        raise PlainDataError("nested too deeply")
    if tree is None or type(tree) in (bool, int, str):
        return tree
    if type(tree) is float:
        return tree
    if type(tree) is list:
        return [decode(v, arrays, depth + 1) for v in tree]
    if type(tree) is not dict or len(tree) not in (1, 2):
        raise PlainDataError("malformed plain data")
    if "$array" in tree:
        array = arrays.get(tree["$array"]) if type(tree["$array"]) is str else None
        if array is None:
            raise PlainDataError("reference to a missing array")
        return array[()] if tree.get("scalar") is True and array.ndim == 0 else array
    if len(tree) != 1:
        raise PlainDataError("malformed plain data")
    (tag, inner), = tree.items()
    if tag == "$tuple" and type(inner) is list:
        return tuple(decode(v, arrays, depth + 1) for v in inner)
    if tag == "$dict" and type(inner) is dict:
        return {str(k): decode(v, arrays, depth + 1) for k, v in inner.items()}
    if tag == "$items" and type(inner) is list and all(type(p) is list and len(p) == 2 for p in inner):
        items = [(decode(k, arrays, depth + 1), decode(v, arrays, depth + 1)) for k, v in inner]
        if not all(type(k) in KEY_TYPES for k, _ in items):
            raise PlainDataError("a dict key that is not a number, a boolean, None or a string")
        return dict(items)
    if tag == "$float" and inner in ("nan", "inf", "-inf"):
        return float(inner)
    raise PlainDataError(f"unknown tag {tag!r}")


def pack(value):
    """``value`` as the bytes of one frame."""
    arrays = {}
    tree = encode(value, arrays)
    text = json.dumps(tree, allow_nan=False).encode()
    buffer = io.BytesIO()
    if arrays:
        np.savez(buffer, **arrays)
    blob = buffer.getvalue()
    return _HEADER.pack(len(text), len(blob)) + text + blob


def unpack(text, blob):
    """Decode one frame's JSON text and npz bytes."""
    try:
        tree = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as err:
        raise PlainDataError(f"not JSON: {err}") from None
    arrays = {}
    if blob:
        _check_stored(blob)
        try:
            with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
                for key in npz.files:
                    array = npz[key]
                    if array.dtype.kind not in NUMERIC_KINDS:
                        raise PlainDataError(f"array of dtype {array.dtype}")
                    arrays[key] = array
        except PlainDataError:
            raise
        except Exception as err:  # a malformed zip or npy header
            raise PlainDataError(f"bad array data ({type(err).__name__})") from None
    return decode(tree, arrays)


def _check_stored(blob):
    """Refuse an npz whose members are compressed (a zip bomb) or claim more than it holds."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as err:
        raise PlainDataError(f"bad array data ({type(err).__name__})") from None
    if len(members) > 10_000:
        raise PlainDataError("too many arrays")
    for member in members:
        if member.compress_type != zipfile.ZIP_STORED or member.file_size > len(blob):
            raise PlainDataError("compressed or oversized array data")


def _read_exactly(stream, size):
    chunks, left = [], size
    while left:
        chunk = stream.read(min(left, 2**20))
        if not chunk:
            raise EOFError("the other side closed the channel")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def send(stream, value):
    stream.write(pack(value))
    stream.flush()


def receive(stream, max_json=MAX_JSON_BYTES, max_npz=MAX_NPZ_BYTES):
    """Read and decode one frame from a binary stream; EOFError when it is closed."""
    json_size, npz_size = _HEADER.unpack(_read_exactly(stream, _HEADER.size))
    if json_size > max_json or npz_size > max_npz:
        raise PlainDataError(f"a message of {json_size + npz_size:,} bytes is over the limit")
    return unpack(_read_exactly(stream, json_size), _read_exactly(stream, npz_size))


def receive_raw(stream, max_json=MAX_JSON_BYTES, max_npz=MAX_NPZ_BYTES):
    """One frame's bytes, undecoded (for relaying)."""
    header = _read_exactly(stream, _HEADER.size)
    json_size, npz_size = _HEADER.unpack(header)
    if json_size > max_json or npz_size > max_npz:
        raise PlainDataError(f"a message of {json_size + npz_size:,} bytes is over the limit")
    return header + _read_exactly(stream, json_size + npz_size)


def unpack_frame(frame):
    if len(frame) < _HEADER.size:
        raise PlainDataError("truncated message")
    json_size, npz_size = _HEADER.unpack(frame[:_HEADER.size])
    if _HEADER.size + json_size + npz_size != len(frame):
        raise PlainDataError("truncated message")
    return unpack(frame[_HEADER.size:_HEADER.size + json_size], frame[_HEADER.size + json_size:])
