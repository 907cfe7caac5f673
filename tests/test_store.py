"""The store of trained weights (aecourse/store.py) and the training progress display."""

import json

import numpy as np
import pytest

import aecourse  # noqa: F401  (quiet TensorFlow import)
from aecourse import store
from aecourse.training import progress

keras = pytest.importorskip("keras")

X = np.random.default_rng(0).random((64, 3)).astype("float32")


def build():
    return keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(3, activation="sigmoid")])


def make_train(calls, epochs=2):
    def train(model):
        calls.append(1)
        model.compile(optimizer="adam", loss="mse")
        model.fit(X, X, epochs=epochs, batch_size=16, verbose=0)
        return {"loss": float(model.evaluate(X, X, verbose=0))}

    return train


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("AECOURSE_RETRAIN", "AECOURSE_STORE_WRITE", "AECOURSE_STORE_STRICT", "AECOURSE_SEED_OFFSET",
                 "AECOURSE_QUIET"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_fingerprint_changes_with_every_part_of_the_recipe(clean_env):
    base = store.fingerprint("ch/m", (build,), {"epochs": 2}, 1, X)
    assert base == store.fingerprint("ch/m", (build,), {"epochs": 2}, 1, X.copy())
    assert base != store.fingerprint("ch/other", (build,), {"epochs": 2}, 1, X)
    assert base != store.fingerprint("ch/m", (make_train([]),), {"epochs": 2}, 1, X)
    assert base != store.fingerprint("ch/m", (build,), {"epochs": 3}, 1, X)
    assert base != store.fingerprint("ch/m", (build,), {"epochs": 2}, 2, X)
    assert base != store.fingerprint("ch/m", (build,), {"epochs": 2}, 1, X[:-1])
    changed = X.copy()
    changed[5, 1] += 1e-3
    assert base != store.fingerprint("ch/m", (build,), {"epochs": 2}, 1, changed)
    clean_env.setenv("AECOURSE_SEED_OFFSET", "100")
    assert base != store.fingerprint("ch/m", (build,), {"epochs": 2}, 1, X)


def test_written_then_loaded_then_stale(clean_env, tmp_path, capsys):
    calls = []
    kwargs = dict(seed=1, settings={"epochs": 2}, data=X, store=tmp_path)
    clean_env.setenv("AECOURSE_STORE_WRITE", "1")
    model, result = store.trained("ch/m", build, make_train(calls), **kwargs)
    assert calls == [1] and set(result) == {"loss"}
    assert "trained here" in capsys.readouterr().out  # it was not in the store
    clean_env.delenv("AECOURSE_STORE_WRITE")
    entry = store.entries(tmp_path)["ch/m"]
    assert (tmp_path / entry["file"]).exists() and entry["result"] == result

    loaded, loaded_result = store.trained("ch/m", build, make_train(calls), **kwargs)
    assert calls == [1] and loaded_result == result and capsys.readouterr().out == ""
    for trained_w, loaded_w in zip(model.get_weights(), loaded.get_weights()):
        assert loaded_w.dtype == np.float32
        # float16 keeps 11 significant bits: a relative error below 2**-11
        np.testing.assert_allclose(loaded_w, trained_w, rtol=2**-11, atol=1e-7)

    # another setting: trained here, with one line that says so; the store is not touched
    _, _ = store.trained("ch/m", build, make_train(calls), **{**kwargs, "settings": {"epochs": 3}})
    assert calls == [1, 1]
    assert capsys.readouterr().out == "ch/m: its recipe differs from the stored one, so it is trained here\n"
    assert store.entries(tmp_path)["ch/m"] == entry

    clean_env.setenv("AECOURSE_STORE_STRICT", "1")
    with pytest.raises(store.StoreError, match="ch/m: its recipe differs.*--rebuild-store"):
        store.trained("ch/m", build, make_train(calls), **{**kwargs, "seed": 2})
    with pytest.raises(store.StoreError, match="not in the store"):
        store.trained("ch/absent", build, make_train(calls), **kwargs)
    store.trained("ch/m", build, make_train(calls), **kwargs)  # a matching entry is fine when strict
    assert calls == [1, 1]

    clean_env.setenv("AECOURSE_RETRAIN", "1")
    store.trained("ch/m", build, make_train(calls), **kwargs)
    assert calls == [1, 1, 1] and capsys.readouterr().out == ""  # asked for: no line


def test_a_tuple_stores_the_weights_of_its_last_model(clean_env, tmp_path):
    def build_parts():
        encoder = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2)])
        decoder = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(3)])
        return encoder, decoder, keras.Sequential([encoder, decoder])

    def train(parts):
        parts[2].compile(optimizer="adam", loss="mse")
        parts[2].fit(X, X, epochs=1, verbose=0)

    clean_env.setenv("AECOURSE_STORE_WRITE", "1")
    trained_parts, result = store.trained("ch/parts", build_parts, train, seed=0, settings={}, data=X,
                                          store=tmp_path)
    assert result is None
    clean_env.delenv("AECOURSE_STORE_WRITE")
    encoder, _, _ = store.trained("ch/parts", build_parts, train, seed=0, settings={}, data=X, store=tmp_path)[0]
    np.testing.assert_allclose(encoder(X).numpy(), trained_parts[0](X).numpy(), rtol=1e-2, atol=1e-3)
    with pytest.raises(TypeError, match="Keras model"):
        store.trained("ch/bad", lambda: (1, 2), train, seed=0, settings={}, data=X, store=tmp_path)


def test_the_course_store_is_whole_and_small():
    manifest = store.entries()
    assert manifest, "the course's store is empty: python -m aecourse.report --rebuild-store"
    files = {p.name for p in store.STORE.glob("*.npz")}
    assert files == {e["file"] for e in manifest.values()}, "an entry without its file, or a file no entry names"
    size = sum((store.STORE / f).stat().st_size for f in files)
    assert size <= 30e6, f"the store has grown to {size / 1e6:.1f} MB (the budget is 30 MB)"
    for name, entry in manifest.items():
        assert set(entry) == {"fingerprint", "seconds", "result", "file"}, name
        assert json.loads(json.dumps(entry["result"])) == entry["result"]


def test_progress_counts_epochs_across_fit_calls_and_keeps_quiet_when_asked(clean_env, capsys):
    model = build()
    model.compile(optimizer="adam", loss="mse")
    shown = progress(3, label="demo")
    for _ in range(3):  # one fit per epoch, as the chapters' noise loops do
        model.fit(X, X, epochs=1, verbose=0, callbacks=[shown])
    err = capsys.readouterr().err
    assert "demo: 3 epochs in" in err and "loss" in err and err.endswith("\n")

    clean_env.setenv("AECOURSE_QUIET", "1")
    model.fit(X, X, epochs=3, verbose=0, callbacks=[progress(3)])
    assert capsys.readouterr() == ("", "")


def test_a_pip_install_carries_the_store(tmp_path):
    """On Colab the course is pip-installed from a clone, not used in place: the wheel must hold the
    store, and the seed spreads the chapters show."""
    import subprocess
    import sys
    import zipfile

    from conftest import ROOT

    import shutil

    source = tmp_path / "source"  # a copy: building in place would leave build/ in the checkout
    for package in ("aecourse", "aegrader"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", source)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(source)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("aecourse-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = {"aecourse/store/manifest.json", "aecourse/seed_spreads.json"} | {
        f"aecourse/store/{e['file']}" for e in store.entries().values()}
    assert wanted <= names, sorted(wanted - names)


def test_progress_shows_in_a_notebook_and_not_under_the_tests(tmp_path):
    """The path a student takes: a kernel without AECOURSE_QUIET shows one line, updated in place."""
    import os

    import nbformat
    from nbclient import NotebookClient

    source = ("import aecourse, keras, numpy as np\nfrom aecourse.training import progress\n"
              "m = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(3)])\n"
              "m.compile(optimizer='adam', loss='mse')\nx = np.ones((32, 3), 'float32')\n"
              "m.fit(x, x, epochs=4, verbose=0, callbacks=[progress(4, 'demo')])\nprint('done')")
    outputs = {}
    for quiet in ("", "1"):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
        env = {**os.environ, "AECOURSE_QUIET": quiet}
        client = NotebookClient(nb, timeout=120, kernel_name="python3")
        with client.setup_kernel(env=env):
            client.execute_cell(nb.cells[0], 0)
        outputs[quiet] = nb.cells[0].outputs
    shown = [o for o in outputs[""] if o.output_type in ("display_data", "update_display_data")]
    assert shown and "demo: 4 epochs in" in shown[-1]["data"]["text/plain"], outputs[""]
    assert [o.output_type for o in outputs["1"]] == ["stream"] and outputs["1"][0].text == "done\n"
