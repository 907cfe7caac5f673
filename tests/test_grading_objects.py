"""Remote object handles: answers that are models, classes or objects, graded without leaving the sandbox.

1. The protocol in this process: the judge's RemoteObject talks to the sandbox's
   registry (aegrader.remote.serve) through a loopback channel, on a small notebook's
   namespace: a class, a function returning a Keras-like object, tuples of handles,
   attribute chains, NumPy arithmetic on a returned "tensor", isinstance against an
   allow-listed class, and type names that name no module the judge has loaded.
2. A sandboxed grading of a small assignment whose answers are a Keras model and a class.
3. Attacks through the sandbox: forged handle numbers, objects whose __getattr__, __len__
   or __iter__ loop or raise, fake type names: each costs its own test, with a message.
"""

import math
import sys

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_markdown_cell, new_notebook, new_raw_cell

from aegrader import plain, remote
from aegrader.judge import RemoteObject, StudentCodeError, _answers, judge_class
from test_sandbox import needs_bwrap  # noqa: F401  (installs bubblewrap when missing)


# --- 1. the protocol, in this process --------------------------------------------------
NOTEBOOK = '''
import numpy as np

class Tensor:
    """Keras-like: a value that converts to an array and has a shape."""
    def __init__(self, values):
        self.values = np.asarray(values, dtype=np.float32)
        self.shape = self.values.shape
    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)
    def numpy(self):
        return self.values

class Dense:
    def __init__(self, units):
        self.units, self.kernel = units, Tensor(np.ones((3, units)))

class Model:
    def __init__(self, units):
        self.layers = [Dense(units), Dense(2)]
    def __call__(self, x):
        return Tensor(np.asarray(x) @ self.layers[0].kernel.values)
    def get_weights(self):
        return [layer.kernel.values for layer in self.layers]

class Counter:
    def __init__(self, start=0):
        self.count = start
    def add(self, n):
        self.count += n
        return self

def build(units):
    return Model(units), Model(units)

def loss():
    return Tensor(0.25)

class Stubborn:
    def __getattr__(self, name):
        raise RuntimeError("no attributes here")
    def __len__(self):
        raise TypeError("no length either")
    def __iter__(self):
        raise ValueError("no items either")
stubborn = Stubborn()
epochs = {0.1: 2, 0.01: None}

generator = np.random.default_rng(0)

class Evil:
    pass
Evil.__module__, Evil.__qualname__ = "evil.mod", "Thing"
class System:
    pass
System.__module__, System.__qualname__ = "os", "system"
evil, system = Evil(), System()
untouched, boxes = ..., np.array([object(), object()])  # an exercise's placeholder; an object array
'''


class Loopback:
    """A channel whose 'sandbox' is aegrader.remote serving a namespace in this process."""

    def __init__(self, namespace):
        self.namespace, self.open, self.deadline, self.call_budget, self.remotes = namespace, True, None, math.inf, {}
        self.requests = 0

    def send_frame(self, frame):
        self.requests += 1
        self.reply = remote.serve(plain.unpack_frame(frame), self.namespace)

    def receive(self):
        return plain.unpack_frame(self.reply)


def harvest(namespace, names):
    """What HARVEST sends, decoded as the judge decodes it."""
    return plain.unpack_frame(plain.pack({name: remote.export(namespace[name]) for name in names}))


@pytest.fixture
def loop():
    namespace = {}
    exec(NOTEBOOK, namespace)
    channel = Loopback(namespace)
    problems = []
    names = ["Counter", "build", "loss", "stubborn", "generator", "evil", "system", "epochs", "untouched", "boxes"]
    env = _answers(harvest(namespace, names), set(names), channel, problems)
    assert problems == []
    return channel, env


def test_a_class_is_instantiated_and_its_objects_used(loop):
    channel, env = loop
    counter = env["Counter"](start=2)
    assert type(counter) is RemoteObject and counter.count == 2
    assert counter.add(3) is counter and counter.count == 5  # the same object, the same proxy
    assert isinstance(counter, env["Counter"]) and not isinstance(env["generator"], env["Counter"])
    with pytest.raises(AttributeError):
        counter.missing
    assert getattr(counter, "missing", None) is None and hasattr(counter, "add")
    assert env["epochs"] == {0.1: 2, 0.01: None} and type(env["epochs"]) is dict  # number keys: plain data


def test_a_function_returning_models_tuples_chains_and_arithmetic(loop):
    channel, env = loop
    models = env["build"](4)
    assert isinstance(models, tuple) and len(models) == 2 and all(type(m) is RemoteObject for m in models)
    model, other = models
    assert model is not other
    assert [layer.units for layer in model.layers] == [4, 2]  # a list of handles, each asked for .units
    assert model.layers[0].kernel.shape == (3, 4)  # an attribute chain
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    out = model(x)
    assert type(out) is RemoteObject and np.asarray(out).shape == (2, 4) and np.shape(out) == (2, 4)
    assert np.allclose(x @ np.ones((3, 4)) - out, 0) and np.allclose((out - 1) ** 2, (x.sum(1, keepdims=True) - 1) ** 2)
    assert model(x[:1]).numpy()[0, 0] == 3.0 and float(env["loss"]()) == 0.25 and f"{env['loss']():.2f}" == "0.25"
    assert [w.shape for w in model.get_weights()] == [(3, 4), (3, 2)]  # plain arrays
    assert len(model.layers) == 2 and list(model.layers)[1].units == 2


def test_isinstance_holds_only_for_allow_listed_loaded_classes(loop):
    channel, env = loop
    assert isinstance(env["generator"], np.random.Generator)  # numpy: allow-listed and loaded
    assert env["generator"].normal(0.0, 1.0, size=3).shape == (3,)
    for name, module in (("evil", "evil.mod"), ("system", "os")):
        proxy = env[name]
        assert proxy.__class__ is RemoteObject and not isinstance(proxy, type(sys))
        assert module not in sys.modules or module == "os"
    assert "evil" not in sys.modules and "evil.mod" not in sys.modules
    assert judge_class("os.system") is None and judge_class("evil.mod.Thing") is None
    for loaded in ("collections.OrderedDict", "builtins.dict", "aegrader.judge.RemoteObject"):  # loaded, not allow-listed
        assert judge_class(loaded) is None, loaded
    assert judge_class("numpy.random._generator.Generator") is np.random.Generator
    assert judge_class("tensorflow.never.loaded.Thing") is None
    assert judge_class("numpy.<locals>.X") is None


def test_dunders_are_never_asked_for_and_nothing_is_set(loop):
    channel, env = loop
    model = env["build"](1)[0]
    before = channel.requests
    for name in ("__array_interface__", "__array_struct__", "__array_priority__", "__deepcopy__"):
        with pytest.raises(AttributeError):
            getattr(model, name)
    assert channel.requests == before  # answered here: no round trip
    with pytest.raises(AttributeError, match="does not change"):
        model.layers = []


def test_every_round_trip_is_charged_to_the_call_budget(loop):
    channel, env = loop
    channel.call_budget = 100.0
    counter = env["Counter"]()
    assert counter.count == 0 and len(env["build"](1)[0].layers) == 2
    assert channel.requests == 4 and channel.call_budget < 100.0  # a call, an attribute; a call, an attribute (a list)

    class Silent(Loopback):
        def send_frame(self, frame):
            pass

        def receive(self):
            raise EOFError("the submission's time is used up")

    channel.__class__ = Silent
    with pytest.raises(StudentCodeError, match="did not return: the submission's time is used up"):
        counter.count


def test_an_object_array_is_refused_as_a_number_in_one_round_trip(loop):
    # Before: the sandbox's np.asarray(...) is a 0-d object array, which came back as a
    # handle claiming to be an ndarray and was converted again, about a thousand round
    # trips deep, until the submission's CPU time ran out (an untouched exercise: 30 s).
    channel, env = loop
    for name in ("untouched", "boxes"):
        before = channel.requests
        with pytest.raises(StudentCodeError, match="is not an array of numbers"):
            abs(np.float64(0.5) - env[name])
        assert channel.requests - before == 1, name


def test_methods_that_raise_give_their_message(loop):
    channel, env = loop
    stubborn = env["stubborn"]
    for use, message in ((lambda: stubborn.anything, "RuntimeError: no attributes here"),
                         (lambda: len(stubborn), "TypeError: no length either"),
                         (lambda: list(stubborn), "ValueError: no items either")):
        with pytest.raises(StudentCodeError, match=message):
            use()
    assert env["Counter"](start=4).count == 4


def test_forged_and_foreign_and_dead_handles_are_refused_clearly(loop):
    channel, env = loop
    forged = RemoteObject(plain.Handle(10**9, "keras.Model"), channel, "forged")
    with pytest.raises(StudentCodeError, match="object #1000000000, which this notebook never handed out"):
        forged.layers
    for bad in ({"$handle": -1}, {"$handle": "3"}, {"$handle": 2**60}, {"$handle": 1, "type": 7}):
        with pytest.raises(plain.PlainDataError, match="malformed handle"):
            plain.decode(bad, {})
    other = Loopback(channel.namespace)
    stranger = _answers(harvest(channel.namespace, ["Counter"]), {"Counter"}, other, [])["Counter"]()
    with pytest.raises(StudentCodeError, match="belongs to another submission's sandbox"):
        env["Counter"](stranger)
    other.open = False
    with pytest.raises(StudentCodeError, match="cannot be used: the submission's sandbox has ended"):
        stranger.count
    assert env["Counter"](start=1).count == 1  # nothing else is lost


def test_a_test_argument_that_cannot_cross_fails_that_call_only(loop):
    channel, env = loop
    with pytest.raises(StudentCodeError, match="cannot be called with these arguments"):
        env["build"](object())
    assert channel.open and env["build"](2)[0].layers[0].units == 2


def test_the_registry_and_the_iterations_are_capped(loop, monkeypatch):
    channel, env = loop
    monkeypatch.setattr(remote, "MAX_ITEMS", 5)
    channel.namespace["many"] = range(6)
    channel.namespace["few"] = range(5)
    raw = harvest(channel.namespace, ["many", "few"])
    found = _answers(raw, {"many", "few"}, channel, [])
    assert list(found["few"]) == [0, 1, 2, 3, 4]
    with pytest.raises(StudentCodeError, match="more than 5 items"):
        list(found["many"])
    monkeypatch.setattr(remote, "MAX_HANDLES", len(remote._objects))
    with pytest.raises(StudentCodeError, match="handed out more than"):
        env["Counter"]()


# --- 2. and 3. through the sandbox ------------------------------------------------------
from aecourse.grade import GradingLimits, grade_folder  # noqa: E402
from test_grading_holes import KERNEL, question, submission  # noqa: E402  (the same tiny-assignment helpers)

CONFIG = ("# ASSIGNMENT CONFIG\nname: 92_objects\ninit_cell: false\ncheck_all_cell: false\nexport_cell: false\n"
          "run_tests: false\ngenerate: false\ntests:\n  files: false\n  ok_format: false")
HIDDEN = '"""  # BEGIN TEST CONFIG\nhidden: true\n"""  # END TEST CONFIG\n\n'
LIMITS = GradingLimits(timeout=90, cell_timeout=15, memory_mb=3000, max_output_bytes=100_000)


KERAS_SOLUTION = '''import keras
def build(units):
    return keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(units, activation="relu"),
                             keras.layers.Dense(6, activation="sigmoid")])
model = build(3)  # SOLUTION'''
KERAS_TEST = HIDDEN + '''def test_model(build, model):
    import keras
    import numpy as np
    assert isinstance(model, keras.Model), f"got {type(model).__name__}"
    x = np.linspace(0, 1, 12, dtype="float32").reshape(2, 6)
    out = np.asarray(model(x))
    assert out.shape == (2, 6) and np.all((out > 0) & (out < 1))
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [3, 6]
    assert np.allclose(dense[0].activation(np.array([[-1.0, 2.0]], dtype="float32")), [[0.0, 2.0]])
    assert model.count_params() == 7 * 3 + 4 * 6 and len(model.get_weights()) == 4
    assert abs(float(np.mean((x - model(x)) ** 2)) - float(np.mean((x - out) ** 2))) < 1e-6
    assert np.allclose(model.predict(x, verbose=0), out, atol=1e-6)
    assert build(4) is not build(4) and build(4).layers[0].units == 4'''
CLASS_SOLUTION = '''class Counter:
    def __init__(self, start=0):
        self.count = start
    def add(self, n):
        self.count += n
        return self
pair = (Counter(1), Counter(2))  # SOLUTION'''
CLASS_TEST = HIDDEN + '''def test_class(Counter, pair):
    a, b = pair
    assert a.count == 1 and b.count == 2 and isinstance(a, Counter)
    assert Counter(5).add(2).count == 7'''
FAKE_TYPES_TEST = HIDDEN + '''def test_fake_types(things):
    import sys
    from aegrader.judge import RemoteObject
    assert all(t.__class__ is RemoteObject for t in things), [t.__class__ for t in things]
    assert "evil" not in sys.modules and "evil.mod" not in sys.modules'''


def master(path):
    nb = new_notebook(cells=[
        new_raw_cell(CONFIG), new_markdown_cell("# Objects"),
        *question("q1", KERAS_SOLUTION, [KERAS_TEST]),
        *question("q2", CLASS_SOLUTION, [CLASS_TEST]),
        *question("q3", "things = [1]  # SOLUTION", [FAKE_TYPES_TEST]),
        *question("q4", "n = 3  # SOLUTION", [HIDDEN + "def test_n(n):\n    assert n == 3"]),
    ], metadata={"kernelspec": KERNEL})
    nbformat.write(nb, path)
    return path


HONEST = (KERAS_SOLUTION.replace("  # SOLUTION", ""), CLASS_SOLUTION.replace("  # SOLUTION", ""),
          'class Evil:\n    pass\nEvil.__module__, Evil.__qualname__ = "evil.mod", "Thing"\n'
          'class System:\n    pass\nSystem.__module__, System.__qualname__ = "os", "system"\n'
          'class Fake:\n    pass\nFake.__module__, Fake.__qualname__ = "numpy.never", "Loaded"\n'
          'things = [Evil(), System(), Fake()]', "n = 3")
FORGER = '''import aegrader.plain as plain, aegrader.remote as remote
real = remote.export
def export(value, depth=0):
    exported = real(value, depth)
    return plain.Handle(10**9, "keras.src.models.sequential.Sequential") if type(exported) is plain.Handle else exported
remote.export = export
class Counter:
    pass
pair = (Counter(), Counter())
model = Counter()
n = 3'''
LOOPS = '''import itertools
class Endless:
    def __getattr__(self, name):
        while True:
            pass
class Forever:
    def __iter__(self):
        return itertools.count()
    def __len__(self):
        raise TypeError("no length either")
model = Forever()
pair = (Endless(), Endless())
things = Forever()
n = 3'''


@pytest.fixture(scope="module")
def graded(tmp_path_factory, needs_bwrap):
    base = tmp_path_factory.mktemp("objects")
    path = master(base / "92_objects.ipynb")
    folder = base / "in"
    folder.mkdir()
    submission(folder / "honest.ipynb", *HONEST)
    submission(folder / "forger.ipynb", FORGER)
    submission(folder / "loops.ipynb", LOOPS)
    records = grade_folder(folder, path, base / "out", jobs=2, limits=LIMITS, progress=False)
    return {r["submission"]: r for r in records}


def scores(record):
    return {q: r["score"] for q, r in record["questions"].items()}


def test_a_keras_model_and_a_class_are_graded_through_the_sandbox(graded):
    honest = graded["honest.ipynb"]
    assert scores(honest) == {"q1": 1, "q2": 1, "q3": 1, "q4": 1}, honest["questions"]  # before: q1, q2 0 ("missing")


def test_forged_handles_cost_their_tests_only(graded):
    forger = graded["forger.ipynb"]
    assert scores(forger) == {"q1": 0, "q2": 0, "q3": 0, "q4": 1}, forger["questions"]
    comment = forger["questions"]["q2"]["comment"]
    assert "object #1000000000, which this notebook never handed out" in comment, comment


def test_objects_that_loop_or_raise_cost_their_tests_only(graded):
    loops = graded["loops.ipynb"]
    assert scores(loops) == {"q1": 0, "q2": 0, "q3": 0, "q4": 1}, loops["questions"]
    assert "interrupted" in loops["questions"]["q2"]["comment"], loops["questions"]["q2"]["comment"]
    assert "more than 100,000 items" in loops["questions"]["q3"]["comment"], loops["questions"]["q3"]["comment"]
