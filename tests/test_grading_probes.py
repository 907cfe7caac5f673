"""Probe in the kernel, verdict in the judge: answers that are models, classes or functions.

1. In this process, through the same pack, :func:`aegrader.kernel.serve` and unpack as the
   sandbox: what the harvest sends (plain answers as data, the others by name, out of band),
   what a :class:`~aegrader.probes.KernelAnswer` allows, a probe that builds in the kernel
   what cannot cross (a Generator, a recording stub, a lambda), and the lint of probes.
2. A sandboxed grading of a small assignment whose answers are a Keras model, a class and a
   function differentiated under a tape built in the kernel.
3. Attacks through the sandbox: a kernel that answers every probe with a forged reply, and
   objects that loop or raise inside a probe: each costs its own tests, with a message.
"""

import math

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

from aecourse.assign import AssignError
from aegrader import plain
from aegrader.judge import _asker, run_tests
from aegrader.kernel import harvest
from aegrader.probes import KernelAnswer, StudentCodeError, answers_env, connected, in_process, lint, rewrite
from test_sandbox import needs_bwrap  # noqa: F401  (installs bubblewrap when missing)

# --- 1. in this process ---------------------------------------------------------------------
NOTEBOOK = '''
import numpy as np

def noisy(x, rng):
    return x + rng.normal(size=np.shape(x))

class Counter:
    def __init__(self, start=0):
        self.count = start
    def add(self, n):
        self.count += n
        return self

def fit_twice(model, x):
    model.fit(x, x * 2)
    model.fit(x + 1, x)

class Tensor:
    def __init__(self, values):
        self.values = np.asarray(values, dtype=np.float32)
    def __array__(self, dtype=None, copy=None):
        return self.values

def double(x):
    return Tensor(np.asarray(x) * 2)

codes = Tensor([[1.0, 2.0]])
empty, lookalike, keyed = {}, {"$function": "noisy"}, {0.1: 2, 0.01: None}
untouched = ...
'''
NAMES = ["noisy", "double", "Counter", "fit_twice", "codes", "empty", "lookalike", "keyed", "untouched"]


@pytest.fixture
def kernel():
    namespace = {}
    exec(NOTEBOOK, namespace)
    harvested = plain.unpack_frame(plain.pack(harvest(NAMES, namespace)))
    problems = []
    env = answers_env(harvested, set(NAMES), problems)
    assert problems == []
    return namespace, harvested, env


def test_plain_answers_are_data_and_the_others_cross_by_name_out_of_band(kernel):
    namespace, harvested, env = kernel
    assert harvested["objects"] == {"noisy": "function", "double": "function", "Counter": "type",
                                    "fit_twice": "function"}
    assert harvested["unanswered"] == ["untouched"] and "untouched" not in env
    # Before: an empty dict, or one that looked like a marker, was taken for "not plain data".
    assert env["empty"] == {} and env["lookalike"] == {"$function": "noisy"} and env["keyed"] == {0.1: 2, 0.01: None}
    assert type(env["codes"]) is np.ndarray and env["codes"].tolist() == [[1.0, 2.0]]  # a tensor crosses as its array
    assert all(type(env[name]) is KernelAnswer for name in ("noisy", "Counter", "fit_twice"))


def test_a_kernel_answer_is_called_or_probed_and_nothing_else(kernel):
    namespace, _, env = kernel
    with connected(in_process(namespace)):
        assert env["double"]([1.0, 2.0]).tolist() == [2.0, 4.0]  # plain arguments, its tensor back as an array
    with connected(in_process(namespace)), pytest.raises(StudentCodeError, match="noisy: AttributeError"):
        env["noisy"](np.zeros(3), None)
    for use, message in ((lambda: env["Counter"].count, "can call it or pass it to a probe, not read .count"),
                         (lambda: np.asarray(env["Counter"]), "is not an array: pass it to a probe")):
        with pytest.raises(TypeError, match=message):
            use()
    with connected(in_process(namespace)), pytest.raises(StudentCodeError, match="not plain data"):
        env["Counter"](3)  # a Counter object cannot come back


PROBE_TEST = '''from otter.test_files import test_case

OK_FORMAT = False

name = "q1"
points = 1

@test_case(points=None, hidden=True)
def test_seeded_noise_and_fits(noisy, fit_twice, Counter):
    import numpy as np

    def probe(noisy, x, seeds):
        import numpy as np
        return [noisy(x, np.random.default_rng(seed)) for seed in seeds]

    def probe_fits(fit_twice, Counter, x):
        class Recorder:
            def __init__(self):
                self.calls = []
            def fit(self, x, y):
                self.calls.append((x, y))
        recorder = Recorder()
        fit_twice(recorder, x)
        counter = Counter(2).add(3)
        return {"calls": recorder.calls, "count": counter.count, "square": (lambda v: v * v)(counter.count)}

    x = np.arange(4.0)
    a, b, c = probe(noisy, x, [5, 5, 6])
    assert np.array_equal(a, x + np.random.default_rng(5).normal(size=4)), "draw the noise from rng"
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    out = probe_fits(fit_twice, Counter, x=x)
    assert [[list(v) for v in call] for call in out["calls"]] == [[list(x), list(x * 2)], [list(x + 1), list(x)]]
    assert out["count"] == 5 and out["square"] == 25
'''


def test_a_probe_builds_what_cannot_cross_and_the_verdict_recomputes(kernel):
    namespace, _, env = kernel
    assert lint(PROBE_TEST) == []
    result = run_tests({"q1": PROBE_TEST}, env, ask=in_process(namespace))
    assert result["q1"]["score"] == 1, result
    namespace["noisy"] = lambda x, rng: x + np.random.default_rng(5).normal(size=np.shape(x))  # ignores rng
    result = run_tests({"q1": PROBE_TEST}, env, ask=in_process(namespace))
    assert result["q1"]["score"] == 0 and result["q1"]["failed"][0]["message"] == "a check did not hold", result


def test_an_answer_inside_a_list_and_an_argument_that_cannot_cross_fail_that_test_only(kernel):
    namespace, _, env = kernel
    source = PROBE_TEST.replace("probe(noisy, x, [5, 5, 6])", "probe([noisy], x, [5, 5, 6])")
    result = run_tests({"q1": source}, env, ask=in_process(namespace))
    assert "a KernelAnswer is not plain data" in result["q1"]["failed"][0]["message"], result
    source = PROBE_TEST.replace("probe(noisy, x, [5, 5, 6])", "probe(noisy, x, np.random.default_rng(0))")
    result = run_tests({"q1": source}, env, ask=in_process(namespace))
    assert "a Generator is not plain data" in result["q1"]["failed"][0]["message"], result
    assert run_tests({"q1": PROBE_TEST}, env, ask=in_process(namespace))["q1"]["score"] == 1  # nothing else lost


def test_every_round_trip_is_charged_to_the_call_budget_and_a_silent_sandbox_ends_it(kernel):
    namespace, _, env = kernel

    class Loopback:
        open, deadline, call_budget, requests = True, None, 100.0, 0

        def send_frame(self, frame):
            self.requests += 1
            self.reply = in_process(namespace)("", plain.unpack_frame(frame))

        def receive(self):
            return self.reply

    channel = Loopback()
    assert run_tests({"q1": PROBE_TEST}, env, ask=_asker(channel))["q1"]["score"] == 1
    assert channel.requests == 2 and channel.call_budget < 100.0

    class Silent(Loopback):
        def receive(self):
            raise EOFError("the submission's time is used up")

    result = run_tests({"q1": PROBE_TEST}, env, ask=_asker(Silent()))
    assert "did not return: the submission's time is used up" in result["q1"]["failed"][0]["message"], result


LINT_TEMPLATE = """def test_t(f):
    a = 1

    def probe(f, x):
        import numpy as np
{body}

    assert probe(f, 2) == 4
"""


@pytest.mark.parametrize("body, found", [
    ("        return np.asarray(f(x))", None),
    ("        return f(x) + a", "uses names from outside itself (a)"),
    ("        assert x\n        return f(x)", "asserts (line 6)"),
    ("        return np.testing.assert_allclose(f(x), 4)", "uses testing"),
    ("        return np.allclose(f(x), 4)", "uses allclose"),
])
def test_the_lint_refuses_a_probe_that_holds_a_verdict_or_reads_the_test(body, found):
    problems = lint(LINT_TEMPLATE.format(body=body))
    assert problems == [] if found is None else any(found in p for p in problems), problems


def test_a_probe_inside_a_helper_is_refused_and_rewrite_replaces_each_probe_by_a_stub():
    nested = ("def test_t(f):\n    def run():\n        def probe(f):\n            return f()\n\n"
              "        return probe(f)\n\n    assert run() == 1\n")
    assert lint(nested) == ["test_t: probe is not defined directly in the test's body"]
    rewritten = rewrite(PROBE_TEST)
    assert rewritten.startswith("from aegrader.probes import reference_stub as __aegrader_reference__, stub as "
                                "__aegrader_probe__\n")
    assert "    probe = __aegrader_probe__('def probe(noisy, x, seeds):" in rewritten
    assert "probe_fits = __aegrader_probe__(" in rewritten and "'def probe_fits(fit_twice, Counter, x):\\n" in rewritten
    compile(rewritten, "q1.py", "exec")
    assert rewrite(LINT_TEMPLATE.replace("probe", "helper").format(body="        return f(x)")).startswith("def")


def test_an_assignment_whose_probe_holds_an_assert_does_not_load(tmp_path):
    from aegrader.assignment import Assignment

    test = HIDDEN + ("def test_p(n):\n    def probe(n):\n        assert n == 3\n        return n\n\n"
                     "    assert probe(n) == 3\n")
    nb = new_notebook(cells=[new_raw_cell(CONFIG.replace("92_objects", "93_bad")), new_markdown_cell("# Bad"),
                             *question("q1", "n = 3  # SOLUTION", [test])], metadata={"kernelspec": KERNEL})
    nbformat.write(nb, tmp_path / "93_bad.ipynb")
    with pytest.raises(AssignError, match=r"q1: test_p.probe asserts \(line"):
        Assignment.load(tmp_path / "93_bad.ipynb")


# --- 2. and 3. through the sandbox -----------------------------------------------------------
from aecourse.grade import GradingLimits, grade_folder  # noqa: E402
from test_grading_holes import KERNEL, question, submission  # noqa: E402  (the same tiny-assignment helpers)

CONFIG = ("# ASSIGNMENT CONFIG\nname: 92_objects\ninit_cell: false\ncheck_all_cell: false\nexport_cell: false\n"
          "run_tests: false\ngenerate: false\ntests:\n  files: false\n  ok_format: false")
HIDDEN = '"""  # BEGIN TEST CONFIG\nhidden: true\n"""  # END TEST CONFIG\n\n'
# An honest submission imports Keras in its kernel and runs three probes: about 10 CPU s on a
# 2-GHz Xeon; 90 s leaves room for a slower CPU and the two attackers beside it.
LIMITS = GradingLimits(timeout=90, cell_timeout=15, memory_mb=3000, max_output_bytes=100_000)

KERAS_SOLUTION = '''import keras
def build(units):
    return keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(units, activation="relu"),
                             keras.layers.Dense(6, activation="sigmoid")])
model = build(3)  # SOLUTION'''
KERAS_TEST = HIDDEN + '''def test_model(build, model):
    import numpy as np

    def probe(build, model, weights, x):
        import numpy as np
        sizes = [w.shape for w in model.get_weights()]
        fresh = build(3)
        fresh.set_weights(weights)
        return {"sizes": sizes, "out": np.asarray(fresh(x)), "other": [w.shape for w in build(4).get_weights()]}

    assert model is not None, "model is not defined"
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=s).astype("float32") for s in ((6, 3), (3,), (3, 6), (6,))]
    x = rng.uniform(size=(2, 6)).astype("float32")
    got = probe(build, model, weights, x)
    assert got["sizes"] == [(6, 3), (3,), (3, 6), (6,)], got["sizes"]
    hidden = np.maximum(x @ weights[0] + weights[1], 0)
    expected = 1 / (1 + np.exp(-(hidden @ weights[2] + weights[3])))
    assert np.allclose(got["out"], expected, atol=1e-5), "relu, then a sigmoid"
    assert got["other"][0] == (6, 4)'''
CLASS_SOLUTION = '''class Counter:
    def __init__(self, start=0):
        self.count = start
    def add(self, n):
        self.count += n
        return self
pair = (Counter(1), Counter(2))  # SOLUTION'''
CLASS_TEST = HIDDEN + '''def test_class(Counter, pair):
    def probe(Counter, pair, start, steps):
        counter = Counter(start)
        for step in steps:
            counter = counter.add(step)
        return {"pair": [p.count for p in pair], "count": counter.count}

    got = probe(Counter, pair, 5, [2, 3])
    assert got == {"pair": [1, 2], "count": 10}, got'''
TAPE_SOLUTION = '''import tensorflow as tf
def softplus(x):
    return tf.math.log(1 + tf.exp(x))  # SOLUTION'''
TAPE_TEST = HIDDEN + '''def test_gradient(softplus):
    import numpy as np

    def probe(softplus, x):
        import tensorflow as tf
        variable = tf.Variable(x)
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(softplus(variable))
        return {"value": float(total), "gradient": tape.gradient(total, variable)}

    x = np.linspace(-2, 2, 5)
    got = probe(softplus, x)
    assert abs(got["value"] - np.sum(np.log1p(np.exp(x)))) < 1e-6
    assert got["gradient"] is not None and np.allclose(got["gradient"], 1 / (1 + np.exp(-x))), "a gradient"'''


REFERENCE_TEST = HIDDEN + '''def test_reference(n, COUNT_FILE, base):
    def reference_baseline():
        with open(COUNT_FILE, "a") as f:
            f.write("computed\\n")
        return {"baseline": base * 2}

    assert reference_baseline() == {"baseline": 14} and n == 3'''


def master(path):
    nb = new_notebook(cells=[
        new_raw_cell(CONFIG), new_markdown_cell("# Objects"),
        new_code_cell(f"COUNT_FILE = {str(path.parent / 'count.txt')!r}\nbase = 7"),
        *question("q1", KERAS_SOLUTION, [KERAS_TEST]),
        *question("q2", CLASS_SOLUTION, [CLASS_TEST]),
        *question("q3", TAPE_SOLUTION, [TAPE_TEST]),
        *question("q4", "n = 3  # SOLUTION", [HIDDEN + "def test_n(n):\n    assert n == 3", REFERENCE_TEST]),
    ], metadata={"kernelspec": KERNEL})
    nbformat.write(nb, path)
    return path


HONEST = (KERAS_SOLUTION.replace("  # SOLUTION", ""), CLASS_SOLUTION.replace("  # SOLUTION", ""),
          TAPE_SOLUTION.replace("  # SOLUTION", ""), "n = 3")
# Answers every probe and call with what a correct solution would report about itself,
# except what only the work computes: the verdicts' own references catch it.
FORGER = '''import aegrader.kernel as kernel, aegrader.plain as plain
import numpy as np
def serve(request, namespace):
    return plain.pack({"value": {"sizes": [(6, 3), (3,), (3, 6), (6,)], "out": np.full((2, 6), 0.5),
                                 "other": [(6, 4)], "pair": [1, 2], "count": 10, "value": 1.0,
                                 "gradient": np.full(5, 0.5)}})
kernel.serve = serve
class Counter:
    pass
pair = model = build = softplus = Counter
n = 3'''
LOOPS = '''class Endless:
    def __init__(self, start=0):
        pass
    def add(self, n):
        while True:
            pass
def build(units):
    raise ValueError("no model today")
model = pair = Endless()
Counter = Endless
def softplus(x):
    return x
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
    return {r["submission"]: r for r in records} | {"count": (base / "count.txt").read_text()}


def test_a_reference_is_computed_once_for_the_whole_batch(graded):
    # Three submissions ran the test; the judge of the first computed the baseline, the other
    # two read it from the batch's store (before: every submission trained its own).
    assert graded["count"] == "computed\n"
    assert all(graded[s]["questions"]["q4"]["score"] == 1 for s in ("honest.ipynb", "forger.ipynb", "loops.ipynb"))


def test_a_reference_uses_set_up_values_only_and_runs_once_in_process_too(tmp_path):
    source = REFERENCE_TEST.split("\n", 3)[3].replace("test_reference(n, COUNT_FILE, base)", "test_reference(n)")
    assert lint(source, given=["COUNT_FILE", "base"]) == []
    leaky = source.replace("base * 2", "base * 2 * n")
    assert lint(leaky, given=["COUNT_FILE", "base"]) == [
        "test_reference.reference_baseline uses names from outside itself (n): a reference uses only the set-up "
        "values"]
    fed = source.replace("def reference_baseline():", "def reference_baseline(scale=2):")
    assert lint(fed, given=["COUNT_FILE", "base"]) == [
        "test_reference.reference_baseline takes arguments: a reference computes from the set-up values alone"]
    test_file = "from otter.test_files import test_case\nname = 'q4'\npoints = 1\n@test_case(points=1)\n" + source
    given = {"COUNT_FILE": str(tmp_path / "count.txt"), "base": 7}
    for n in (3, 3, 4):
        result = run_tests({"q4": test_file}, {"n": n, **given}, ask=in_process({}), given=given)
        assert result["q4"]["score"] == (n == 3)
    assert (tmp_path / "count.txt").read_text() == "computed\n"


def scores(record):
    return {q: r["score"] for q, r in record["questions"].items()}


def test_a_keras_model_a_class_and_a_tape_are_graded_through_the_sandbox(graded):
    honest = graded["honest.ipynb"]
    assert scores(honest) == {"q1": 1, "q2": 1, "q3": 1, "q4": 1}, honest["questions"]  # before: q3 0 (no tape)


def test_a_forged_kernel_reply_costs_its_tests_only(graded):
    forger = graded["forger.ipynb"]
    assert scores(forger) == {"q1": 0, "q2": 0, "q3": 0, "q4": 1}, forger["questions"]


def test_objects_that_loop_or_raise_inside_a_probe_cost_their_tests_only(graded):
    loops = graded["loops.ipynb"]
    assert scores(loops) == {"q1": 0, "q2": 0, "q3": 0, "q4": 1}, loops["questions"]
    assert "interrupted" in loops["questions"]["q2"]["comment"], loops["questions"]["q2"]["comment"]
    comment = loops["questions"]["q1"]["comment"]
    assert "the test's probe: AttributeError: 'Endless' object has no attribute 'get_weights'" in comment, comment
    assert not math.isnan(loops["total"])
