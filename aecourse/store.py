"""Trained weights of the models a chapter only compares against, so that it need not train them again.

A chapter trains in the open the models it teaches. The models it only compares
against, sweeps over or re-uses may come from this store instead: the chapter still
builds each model and defines its training in its own cells, and hands both to
:func:`trained`, which either loads the stored weights or trains the model::

    model, result = trained("05_stacked/recipe_modern", build, train,
                            seed=1, settings=dict(epochs=5, batch_size=64), data=x_train)

An entry is used only when its **fingerprint** matches: a hash of the entry's name, the
source code of ``build`` and ``train`` (and of any function in ``code``), the
``settings``, the seed after ``AECOURSE_SEED_OFFSET`` is added, and the bytes of the
training ``data``. Anything else (a changed recipe, another seed offset, other digits)
trains the model here and says so in one line. ``train(model)`` may return a small dict of
numbers (for example its seconds); the store keeps it beside the weights and
:func:`trained` returns it either way.

Settings (environment variables):

- ``AECOURSE_RETRAIN=1`` trains every model and ignores the store.
- ``AECOURSE_STORE_WRITE=1`` writes every model trained here into the store;
  ``python -m aecourse.report --rebuild-store`` sets both for its first pass.
- ``AECOURSE_STORE_STRICT=1`` (set by the tests) makes a missing or stale entry an
  error, so a recipe changed without rebuilding the store fails the chapter's test.

Weights are kept as float16 (``.npz``, compressed), which halves the store; the stored
outputs are made from the loaded weights, so the book and its checks see exactly what a
student's run loads.
"""

import hashlib
import inspect
import json
import time
from pathlib import Path

import numpy as np

from .runtime import env_flag as _flag
from .runtime import offset_seed

__all__ = ["STORE", "StoreError", "fingerprint", "trained", "entries", "training_seconds"]

STORE = Path(__file__).resolve().parent / "store"
MANIFEST = "manifest.json"
REBUILD = "python -m aecourse.report --rebuild-store"


class StoreError(RuntimeError):
    """A missing or stale entry where the store must be used (AECOURSE_STORE_STRICT=1)."""


def _source(function):
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):  # defined where no source is kept: fall back on its code
        code = getattr(function, "__code__", None)
        return repr(function) if code is None else repr((code.co_code, code.co_consts, code.co_names))


def fingerprint(name, functions, settings, seed, data):
    """The hash that decides whether a stored entry still answers this recipe."""
    digest = hashlib.sha256()
    digest.update(name.encode())
    for function in functions:
        digest.update(_source(function).encode())
    digest.update(json.dumps(settings, sort_keys=True, default=repr).encode())
    digest.update(str(offset_seed(seed)).encode())
    arrays = data if isinstance(data, (list, tuple)) else [data]
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def entries(store=None):
    """The store's manifest: entry name -> {fingerprint, seconds, result, file}."""
    path = Path(store or STORE) / MANIFEST
    return json.loads(path.read_text()) if path.exists() else {}


def training_seconds(prefix, store=None):
    """Seconds it took to train the stored entries whose names start with ``prefix``."""
    return sum(e["seconds"] for name, e in entries(store).items() if name.startswith(prefix))


def _weights_owner(built):
    """The Keras model whose weights are stored: ``built`` itself, or the last model of a tuple."""
    import keras

    if isinstance(built, keras.Model):
        return built
    models = [b for b in built if isinstance(b, keras.Model)] if isinstance(built, (tuple, list)) else []
    if not models:
        raise TypeError(f"build() must return a Keras model or a tuple ending in one, got {type(built).__name__}")
    return models[-1]


def _file_name(name):
    return name.replace("/", "__").replace(" ", "_") + ".npz"


def _load(store, entry, owner):
    with np.load(store / entry["file"]) as saved:
        weights = [saved[f"w{i}"].astype(np.float32) for i in range(len(saved.files))]
    owner.set_weights(weights)


def _save(store, name, entry, owner):
    store.mkdir(parents=True, exist_ok=True)
    weights = owner.get_weights()
    np.savez_compressed(store / entry["file"], **{f"w{i}": w.astype(np.float16) for i, w in enumerate(weights)})
    manifest = entries(store)
    manifest[name] = entry
    tmp = store / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    tmp.replace(store / MANIFEST)


def trained(name, build, train, *, seed, settings, data, code=(), store=None):
    """Return ``(build(), result)`` with the model's weights trained by ``train``, or loaded.

    Parameters
    ----------
    name : str
        The entry's name, ``"<chapter>/<model>"``.
    build : callable
        Takes no argument; returns a Keras model, or a tuple whose last model holds every
        weight (as ``encoder, decoder, autoencoder``).
    train : callable
        ``train(built)`` trains it in place; may return a JSON-able dict, kept in the store.
    seed : int
        Passed to :func:`aecourse.seed_everything` before ``build``.
    settings : dict
        Every setting of the recipe not visible in the code (epochs, sizes, rates...).
    data : array or tuple of arrays
        The training data, hashed into the fingerprint.
    code : tuple of callables
        Further functions the recipe calls whose source should count.
    """
    from .runtime import seed_everything

    store = Path(store or STORE)
    seed_everything(seed)
    built = build()
    owner = _weights_owner(built)
    key = fingerprint(name, (build, train, *code), settings, seed, data)
    entry = entries(store).get(name)
    if entry is not None and entry["fingerprint"] == key and not _flag("AECOURSE_RETRAIN"):
        _load(store, entry, owner)
        return built, entry.get("result")
    if not _flag("AECOURSE_RETRAIN"):
        why = "not in the store" if entry is None else "its recipe differs from the stored one"
        if _flag("AECOURSE_STORE_STRICT"):
            raise StoreError(f"{name}: {why} (fingerprint {key}); rebuild the store with `{REBUILD}`")
        print(f"{name}: {why}, so it is trained here")
    start = time.perf_counter()
    result = json.loads(json.dumps(train(built)))  # as it comes back from the store
    seconds = time.perf_counter() - start
    if _flag("AECOURSE_STORE_WRITE"):
        entry = {"fingerprint": key, "seconds": round(seconds, 1), "result": result, "file": _file_name(name)}
        _save(store, name, entry, owner)
    return built, result
