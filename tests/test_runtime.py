import os
import subprocess
import sys

import numpy as np
import pytest

import aecourse


def run_python(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_tensorflow_import_is_silent_and_stderr_comes_back():
    result = run_python(
        "import os, aecourse\n"
        "tf = aecourse.import_tensorflow()\n"
        "import keras\n"
        "print(tf.__version__, keras.__version__)\n"
        "os.write(2, b'stderr still works')\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "stderr still works"
    tf_version, keras_version = result.stdout.split()
    assert tf_version.startswith("2.") and keras_version.startswith("3.")


def test_seeded_training_is_repeatable():
    aecourse.import_tensorflow()
    import keras

    def train_once():
        aecourse.seed_everything(7)
        x = np.random.default_rng(0).random((64, 8)).astype("float32")
        model = keras.Sequential([keras.Input(shape=(8,)), keras.layers.Dense(3), keras.layers.Dense(8)])
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, x, epochs=2, batch_size=16, verbose=0)  # shuffles, so the seed matters
        return model.get_weights()

    for a, b in zip(train_once(), train_once()):
        np.testing.assert_array_equal(a, b)


def test_seed_must_be_a_non_negative_int():
    for bad in (-1, 1.5, "0", True):
        with pytest.raises(ValueError, match="non-negative int"):
            aecourse.seed_everything(bad)


def test_seed_offset_changes_the_random_numbers_and_is_checked(monkeypatch):
    aecourse.import_tensorflow()
    import keras

    def first_weights():
        aecourse.seed_everything(7)
        return keras.random.uniform((3,)).numpy()

    plain = first_weights()
    monkeypatch.setenv("AECOURSE_SEED_OFFSET", "1")
    assert not np.array_equal(plain, first_weights())
    monkeypatch.setenv("AECOURSE_SEED_OFFSET", "0")
    np.testing.assert_array_equal(plain, first_weights())
    monkeypatch.setenv("AECOURSE_SEED_OFFSET", "-2")
    with pytest.raises(ValueError, match="AECOURSE_SEED_OFFSET"):
        aecourse.seed_everything(7)


def test_importing_aecourse_runs_blas_and_openmp_on_one_thread():
    # Spinning BLAS threads made a PCA of the course's digits 10x slower on a busy 2-core
    # machine; a fresh interpreter shows what a notebook gets.
    code = (
        "import numpy, aecourse, threadpoolctl\n"
        "print(sorted({(d['user_api'], d['num_threads']) for d in threadpoolctl.threadpool_info()}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[('blas', 1), ('openmp', 1)]", result.stdout



def test_op_determinism_is_left_off_where_tensorflow_sees_a_gpu(monkeypatch):
    # On a GPU, determinism makes an op without a deterministic GPU kernel raise and stop the chapter.
    tf = aecourse.import_tensorflow()
    from aecourse import runtime

    turned_on = []
    monkeypatch.setattr(tf.config.experimental, "enable_op_determinism", lambda: turned_on.append(True))
    assert not runtime.gpu_visible()  # the CPU-only build: determinism on, as every run here
    aecourse.seed_everything(3)
    assert turned_on == [True]
    monkeypatch.setattr(tf.test, "is_built_with_gpu_support", lambda: True)
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: ["GPU:0"] if kind == "GPU" else [])
    assert runtime.gpu_visible()
    aecourse.seed_everything(3)
    assert turned_on == [True]
