"""Every master, handed in as a submission, scores full marks through the real sandbox.

The path an instructor takes: ``python -m aecourse.grade`` with the default limits, the
master notebook (the full solution) as the only submission, bubblewrap, cgroups and the
judge. Every question must be at its points and no public check may report a failure:
a correct student is told nothing is wrong. The shortcut tests score the same probes in
this process; this is where the process boundary is crossed.
"""

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from aegrader.assignment import Assignment
from conftest import ROOT
from test_sandbox import needs_bwrap  # noqa: F401  (installs bubblewrap when missing)

MASTERS = sorted(path.stem for path in (ROOT / "solutions").glob("*.ipynb"))
GRADE_ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # the command grades with this checkout's code


def test_every_master_is_graded_here():
    assert len(MASTERS) == 10 and MASTERS[0] == "02_mnist_pca" and MASTERS[-1] == "11_vae", MASTERS


def grade_master(name, base):
    """Hand the master ``name`` in as the only submission; return the finished command."""
    folder, out = base / "in", base / "out"
    folder.mkdir()
    shutil.copy(ROOT / "solutions" / f"{name}.ipynb", folder / "master.ipynb")
    done = subprocess.run([sys.executable, "-m", "aecourse.grade", str(folder), "--assignment", name,
                           "--out", str(out), "--jobs", "1"], capture_output=True, text=True, env=GRADE_ENV,
                          timeout=1800)
    return done, out


@pytest.fixture(scope="module")
def master_grades(request, tmp_path_factory, needs_bwrap):
    """The selected masters graded two at a time, each by its own grading command.

    A grading command spends much of its time starting processes and waiting on them (one
    master took 32 s of wall time for 15 CPU s), so two at once keep the cores busy; each
    test waits only for its own master. Every command still grades one submission alone,
    with the default limits, as an instructor's would.
    """
    test = "test_the_master_scores_full_marks_through_the_sandbox"
    names = [item.callspec.params["name"] for item in request.session.items
             if getattr(item, "originalname", None) == test and hasattr(item, "callspec")]
    pool = ThreadPoolExecutor(max_workers=2)
    try:
        yield {name: pool.submit(grade_master, name, tmp_path_factory.mktemp(name)) for name in names}
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize("name", MASTERS)
def test_the_master_scores_full_marks_through_the_sandbox(name, master_grades):
    done, out = master_grades[name].result()
    assert done.returncode == 0, done.stderr[-3000:]
    (result_file,) = (out / "results").glob("*.json")
    record = json.loads(result_file.read_text())
    assert record["status"] == "graded" and record["problems"] == [], record["problems"]
    possible = Assignment.load(name).possible
    scores = {q: r["score"] for q, r in record["questions"].items()}
    assert scores == possible, {q: r for q, r in record["questions"].items() if r["score"] != possible[q]}
    complaints = {q: r["comment"] for q, r in record["questions"].items() if r["comment"] != "all tests passed"}
    assert complaints == {}, complaints  # public checks too: worth no points, but read by the student


def test_no_masters_set_up_code_starts_tensorflow_before_the_judges_fork():
    # The judge server runs the set-up cells once, then forks a judge per submission: TensorFlow's
    # thread pools do not survive a fork, so the set-up may import and seed it, never run an op.
    code = ("import sys\nfrom aegrader.assignment import Assignment\nfrom aegrader.judge import _given_namespace, "
            "tensorflow_started\nfor name in sys.argv[1:]:\n    _given_namespace(Assignment.load(name).given_code)\n"
            "    print(name, tensorflow_started())\nimport tensorflow as tf\ntf.constant(1.0) + 1\n"
            "print('control', tensorflow_started())\n")
    done = subprocess.run([sys.executable, "-c", code, *MASTERS], capture_output=True, text=True, env=GRADE_ENV,
                          timeout=900)
    lines = done.stdout.split("\n")
    assert lines[:10] == [f"{name} False" for name in MASTERS], done.stdout + done.stderr[-2000:]
    assert lines[10] == "control True"  # the check sees a started runtime


def guide_table():
    """{assignment: {question: points}} as the instructor guide's table lists them."""
    import re

    text = (ROOT / "book" / "instructors.md").read_text()
    rows = re.findall(r"^\| `(\d\d_\w+)` \| ((?:q\d+ \([\d.]+\)(?:, )?)+) \| ([\d.]+) \|$", text, re.MULTILINE)
    return {name: {q: float(p) for q, p in re.findall(r"(q\d+) \(([\d.]+)\)", questions)} for name, questions, _ in rows}


def test_the_instructor_guide_lists_every_question_with_its_points():
    assert guide_table() == {name: Assignment.load(name).possible for name in MASTERS}


def test_the_guides_example_probe_passes_the_lint_and_runs():
    import re

    from aegrader.probes import lint

    text = (ROOT / "book" / "instructors.md").read_text()
    (example,) = [block for block in re.findall(r"```python\n(.*?)```", text, re.DOTALL) if "def probe" in block]
    source = "\n".join(line[2:] for line in example.splitlines())  # the list item's indent
    assert lint(source) == []
    import numpy as np

    namespace = {}
    exec(source, namespace)
    namespace["test_mask_noise_is_seeded"](lambda x, level, rng: np.where(rng.uniform(size=x.shape) < level, 0, x))
    with pytest.raises(AssertionError, match="the same seed"):
        namespace["test_mask_noise_is_seeded"](lambda x, level, rng: np.where(np.random.uniform(size=x.shape) < level, 0, x))
