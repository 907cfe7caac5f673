"""The batch grader on a class of good and deliberately bad submissions.

The submissions are the generated exercise notebook with a student's answers
filled in, then broken in one way each. One batch is graded once for the
module; the tests read its gradebook.
"""

import contextlib
import csv
import glob
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from aecourse.grade import GradingLimits, grade_folder
from aegrader.batch import WORK_BASE
from aegrader.gradebook import csv_safe
from conftest import ROOT
from test_sandbox import needs_bwrap  # noqa: F401  (installs bubblewrap when missing)

ASSIGNMENT = "02_mnist_pca"
EXERCISE = ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
SOLUTION = ROOT / "solutions" / f"{ASSIGNMENT}.ipynb"
GRADE = [sys.executable, "-m", "aecourse.grade"]
GRADE_ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # the command grades with this checkout's code


def with_default_signals():
    """Ctrl-C reaches the grader even when the tests run in a background job (which ignores SIGINT)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# An honest submission of 02 costs 8-10 CPU s on a 2-GHz Xeon (December 2026), so 30 s leaves 3x for a
# slower CPU; a cell of 10 s ends an endless loop well before the whole submission's limit.
LIMITS = GradingLimits(timeout=30, cell_timeout=10, memory_mb=2000, max_output_bytes=100_000)

# A student's answers, written differently from the master solution on purpose.
ANSWERS = {
    "def pca_reconstruct": (
        "def pca_reconstruct(x_fit, x, k):\n"
        "    model = PCA(k).fit(x_fit)\n"
        "    codes = model.transform(x)\n"
        "    return model.inverse_transform(codes)\n"
    ),
    "test_mse_32 = ": "test_mse_32 = float(np.mean((x_test - pca_reconstruct(x_train, x_test, 32)) ** 2))\n",
    "q2_prediction = ": 'q2_prediction = "B"\n',
    "q3_reason = ": 'q3_reason = "C"\n',
    "def k_for_variance": (
        "def k_for_variance(x_fit, share):\n"
        "    ratios = PCA().fit(x_fit).explained_variance_ratio_\n"
        "    total = 0.0\n"
        "    for k, ratio in enumerate(ratios, start=1):\n"
        "        total += ratio\n"
        "        if total >= share:\n"
        "            return k\n"
        "    return len(ratios)\n\n\n"
        "k_90 = k_for_variance(x_train, 0.90)\n"
        'print(f"components for 90% of the variance: {k_90}")\n'
    ),
}


def filled_exercise(**replace):
    """The exercise with ANSWERS filled in; ``replace`` maps a marker to other source."""
    nb = nbformat.read(EXERCISE, as_version=4)
    answers = {**ANSWERS, **replace}
    for cell in nb.cells:
        if "otter_answer_cell" in cell.metadata.get("tags", []):
            for marker, source in answers.items():
                if marker.split("=")[0].strip() in cell.source:
                    cell.source = source
    return nb


def with_extra_cell(nb, source, after_marker="def pca_reconstruct"):
    index = next(i for i, c in enumerate(nb.cells) if after_marker in c.source)
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
    return nb


def tree_digest(*roots):
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted(Path(root).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path).encode() + path.read_bytes())
    return digest.hexdigest()


ATTACK_MARKERS = (b"hacked", b"everyone,100")


def vandalised(roots, since):
    """Files under ``roots`` changed after ``since`` that hold what an attack writes.

    The repository is edited by people while the tests run, so a digest of it could
    change for good reasons; what a submission writes carries one of ATTACK_MARKERS.
    """
    found = []
    for root in roots:
        for path in Path(root).rglob("*"):
            try:
                if path.is_file() and path.stat().st_mtime >= since and any(
                        m in path.read_bytes() for m in ATTACK_MARKERS):
                    found.append(str(path))
            except OSError:
                pass
    return found


def make_batch(folder, instructor):
    """Write the class's submissions into ``folder``; return {file name: what it is}."""
    folder.mkdir()
    kinds = {}

    def save(name, what, nb=None, raw=None):
        path = folder / name
        if raw is not None:
            path.write_bytes(raw)
        else:
            nbformat.write(nb, path)
        kinds[name] = what

    save("good_alice.ipynb", "good", filled_exercise())
    save("good_bob.ipynb", "good", nbformat.read(SOLUTION, as_version=4))
    save("untouched.ipynb", "untouched exercise", raw=EXERCISE.read_bytes())
    save("empty.ipynb", "empty", raw=b"")
    save("cut_off.ipynb", "invalid JSON", raw=EXERCISE.read_bytes()[:5000])
    save("not_a_notebook.ipynb", "JSON, not a notebook", raw=b'["cells", 1, 2]')
    save("syntax_error.ipynb", "syntax error", filled_exercise(**{
        "test_mse_32 = ": "test_mse_32 = float(np.mean((x_test - pca_reconstruct(x_train, x_test, 32) ** 2)\n"}))
    save("exception.ipynb", "exception",
         filled_exercise(**{"def pca_reconstruct": "def pca_reconstruct(x_fit, x, k):\n    return 1 / 0\n"}))
    save("endless_loop.ipynb", "endless loop", filled_exercise(**{
        "def k_for_variance": "def k_for_variance(x_fit, share):\n    return 1\n\nwhile True:\n    pass\n"}))
    save("stubborn_loop.ipynb", "endless loop that ignores interrupts", with_extra_cell(filled_exercise(), (
        "while True:\n    try:\n        while True:\n            pass\n    except KeyboardInterrupt:\n        pass\n")))
    save("sleeper.ipynb", "sleeps forever, ignoring interrupts", with_extra_cell(filled_exercise(), (
        "import time\nwhile True:\n    try:\n        time.sleep(0.05)\n    except KeyboardInterrupt:\n        pass\n")))
    save("memory_hog.ipynb", "memory hog", with_extra_cell(filled_exercise(), (
        "hog = []\nwhile True:\n    hog.append(np.ones(50_000_000))\n")))
    save("vandal.ipynb", "writes and deletes outside its directory", with_extra_cell(filled_exercise(), (
        "import os, shutil, subprocess\n"
        f"victim = {str(instructor)!r}\n"
        "for attempt in (\n"
        "    lambda: open(os.path.join(victim, 'grades.csv'), 'w').write('everyone,100'),\n"
        "    lambda: os.remove(os.path.join(victim, 'grades.csv')),\n"
        "    lambda: shutil.rmtree(victim),\n"
        "    lambda: subprocess.run(['rm', '-r', victim], check=True),\n"
        "    lambda: open('/usr/lib/hacked.txt', 'w').write('hacked'),\n"
        "):\n"
        "    try:\n"
        "        attempt()\n"
        "        print('vandalism worked')\n"
        "    except (OSError, subprocess.CalledProcessError) as err:\n"
        "        print('vandalism failed:', type(err).__name__)\n"
        "open(os.path.join(victim, 'grades.csv'), 'a').write('hacked')\n")))
    nb = filled_exercise()
    nb.cells = [c for c in nb.cells if "def pca_reconstruct" not in c.source]
    save("missing_function.ipynb", "missing function", nb)
    save("huge_output.ipynb", "huge output", with_extra_cell(filled_exercise(), (
        "for i in range(200_000):\n    print('spam ' * 20)\n")))
    save("kernel_exit.ipynb", "kills its own kernel", with_extra_cell(filled_exercise(), "import os\nos._exit(3)\n"))
    save("binary.ipynb", "binary garbage", raw=bytes(range(256)) * 10)
    return kinds


class HostWrites(threading.Thread):
    """The largest file the grader writes for a job on the host, sampled while it runs."""

    def __init__(self, pattern):
        super().__init__(daemon=True)
        self.pattern, self.largest, self.done = pattern, 0, threading.Event()
        self.start()

    def run(self):
        while not self.done.wait(0.2):
            for path in glob.glob(self.pattern):
                with contextlib.suppress(OSError):
                    self.largest = max(self.largest, os.stat(path).st_size)

    def stop(self):
        self.done.set()
        self.join()


_BATCH = {}


@pytest.fixture(scope="session")
def graded(tmp_path_factory, needs_bwrap):
    """One batch for the whole session: the class of test_grading and the attacks of test_grading_attacks.

    test_grading_attacks imports this fixture, which gives it a fixture of its own; the
    batch is graded once all the same.
    """
    if "batch" not in _BATCH:
        _BATCH["batch"] = grade_the_class(tmp_path_factory)
    return _BATCH["batch"]


def grade_the_class(tmp_path_factory):
    from test_grading_attacks import MARK, make_attacks, sandbox_processes

    base = tmp_path_factory.mktemp("grading")
    instructor = base / "instructor"
    instructor.mkdir()
    (instructor / "grades.csv").write_text("alice,8\nbob,8\n")
    submissions, out = base / "submissions", base / "out"
    kinds = make_batch(submissions, instructor)
    targets = [str(instructor / "grades.csv"), str(out / "gradebook.csv"), str(ROOT / "README.md")]
    expected = make_attacks(submissions, targets)
    watched = (instructor, submissions)
    before = tree_digest(*watched)
    since = time.time() - 1
    os.environ["AECOURSE_INSTRUCTOR_SECRET"] = "s3cret-token-of-the-instructor"
    started = time.monotonic()
    host_writes = HostWrites(f"{WORK_BASE}/run{os.getpid()}-*/job-*/*")
    try:
        records = grade_folder(submissions, ASSIGNMENT, out, jobs=2, limits=LIMITS, progress=False)
    finally:
        del os.environ["AECOURSE_INSTRUCTOR_SECRET"]
        host_writes.stop()
    seconds = time.monotonic() - started
    gradebook = (out / "gradebook.csv").read_bytes()
    time.sleep(3)  # a surviving daemon would write within 0.5 s
    return {
        "kinds": kinds, "expected": expected, "records": {r["submission"]: r for r in records},
        "seconds": seconds, "out": out, "instructor": instructor,
        "changed": tree_digest(*watched) != before,
        "vandalised": vandalised((ROOT / "solutions", ROOT / "exercises", ROOT / "aecourse", ROOT / "book",
                                  ROOT / "README.md"), since),
        "survivors": sandbox_processes(os.getpid()),
        "gradebook_unchanged": (out / "gradebook.csv").read_bytes() == gradebook,
        "leftovers": set(WORK_BASE.glob(f"run{os.getpid()}-*")) if WORK_BASE.exists() else set(),
        "largest_host_file": host_writes.largest,
        "marks_left": list(Path("/tmp").glob(f"{MARK}*")) + list(Path("/usr/lib").glob(f"{MARK}*")),
    }


def printed(graded, name):
    """Every text the executed notebook of ``name`` printed."""
    path = graded["out"] / graded["records"][name]["files"]["executed"]
    nb = nbformat.read(path, as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def test_every_submission_gets_a_row_per_question_and_a_total(graded):
    with open(graded["out"] / "gradebook.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(graded["kinds"]) >= 15
    for name in [*graded["kinds"], *graded["expected"]]:
        questions = [r["question"] for r in rows if r["submission"] == csv_safe(name)]
        assert questions == ["q1", "q2", "q3", "q4", "total"], name
        for row in rows:
            if row["submission"] == csv_safe(name) and float(row["score"]) < float(row["possible"]):
                assert row["comment"].strip(), f"{name} {row['question']} lost points without a reason"


def test_good_submissions_get_full_marks(graded):
    for name, kind in graded["kinds"].items():
        if kind == "good":
            record = graded["records"][name]
            assert record["total"] == record["possible"] == 9, (name, record["problems"], record["questions"])


def score(graded, name):
    record = graded["records"][name]
    return {q: r["score"] for q, r in record["questions"].items()}, " | ".join(record["problems"])


@pytest.mark.parametrize("name, expected", [
    ("empty.ipynb", "the file is empty"),
    ("cut_off.ipynb", "not valid notebook JSON (line"),
    ("not_a_notebook.ipynb", "JSON but not a Jupyter notebook"),
    ("binary.ipynb", "not text"),
])
def test_unreadable_files_score_zero_with_the_reason(graded, name, expected):
    scores, problems = score(graded, name)
    assert set(scores.values()) == {0}
    assert expected in problems
    assert graded["records"][name]["questions"]["q1"]["comment"].startswith("not graded: ")


def test_syntax_error_costs_only_its_question(graded):
    scores, problems = score(graded, "syntax_error.ipynb")
    assert scores == {"q1": 3, "q2": 1, "q3": 1, "q4": 3}  # q3's letter keeps its point
    assert "syntax error on line 1" in problems


def test_exception_costs_only_its_question(graded):
    scores, problems = score(graded, "exception.ipynb")
    assert scores == {"q1": 0, "q2": 1, "q3": 1, "q4": 3}  # q3's MSE uses the broken function
    assert "ZeroDivisionError" in problems
    assert "ZeroDivisionError" in graded["records"]["exception.ipynb"]["questions"]["q1"]["comment"]


def test_endless_loop_is_interrupted_and_the_rest_still_graded(graded):
    scores, problems = score(graded, "endless_loop.ipynb")
    assert scores["q1"] == 3 and scores["q2"] == 1 and scores["q3"] == 2 and scores["q4"] < 3
    assert f"more than {LIMITS.cell_timeout:g} s of CPU time and was interrupted" in problems


def test_loop_that_ignores_interrupts_is_stopped_at_the_cpu_time_limit(graded):
    scores, problems = score(graded, "stubborn_loop.ipynb")
    assert set(scores.values()) == {0}
    assert f"time limit of {LIMITS.timeout:g} s of CPU time" in problems
    # CPU-bound: stopped once it has used its CPU seconds, long before the wall-clock backstop.
    assert graded["records"]["stubborn_loop.ipynb"]["sandbox_seconds"] < LIMITS.wall_timeout


def test_sleeping_loop_is_stopped_at_the_wall_clock_backstop(graded):
    scores, problems = score(graded, "sleeper.ipynb")
    assert set(scores.values()) == {0}
    assert f"stopped after {LIMITS.wall_timeout:g} s of wall-clock time" in problems
    # Polled every 0.2 s and killed at once; 5 s leaves room for a loaded machine's scheduling.
    assert graded["records"]["sleeper.ipynb"]["sandbox_seconds"] < LIMITS.wall_timeout + 5


def test_memory_hog_is_stopped(graded):
    scores, problems = score(graded, "memory_hog.ipynb")
    assert set(scores.values()) == {0}
    assert f"memory limit of {LIMITS.memory_mb:g} MB" in problems
    assert graded["records"]["memory_hog.ipynb"]["peak_memory_mb"] < LIMITS.memory_mb + 2000


def test_writes_outside_the_sandbox_change_nothing(graded):
    scores, problems = score(graded, "vandal.ipynb")
    assert scores == {"q1": 3, "q2": 1, "q3": 2, "q4": 3}  # its answers are right; only the vandalism failed
    assert "FileNotFoundError" in problems  # the instructor's folder does not exist in the sandbox
    assert (graded["instructor"] / "grades.csv").read_text() == "alice,8\nbob,8\n"
    text = printed(graded, "vandal.ipynb")
    assert text.count("vandalism failed") == 5 and "vandalism worked" not in text
    assert not Path("/usr/lib/hacked.txt").exists()


def test_no_instructor_or_course_file_changed(graded):
    assert not graded["changed"]
    assert graded["vandalised"] == []


def test_missing_function_is_named_in_the_feedback(graded):
    scores, _ = score(graded, "missing_function.ipynb")
    assert scores["q1"] == 0
    assert "pca_reconstruct is not defined" in graded["records"]["missing_function.ipynb"]["questions"]["q1"]["comment"]


def test_huge_output_is_truncated_and_reported(graded):
    scores, problems = score(graded, "huge_output.ipynb")
    assert scores == {"q1": 3, "q2": 1, "q3": 2, "q4": 3}
    assert f"outputs passed {LIMITS.max_output_bytes:,} bytes" in problems
    executed = graded["out"] / graded["records"]["huge_output.ipynb"]["files"]["executed"]
    assert executed.stat().st_size < 2 * LIMITS.max_output_bytes


def test_a_kernel_that_exits_is_reported(graded):
    scores, problems = score(graded, "kernel_exit.ipynb")
    assert set(scores.values()) == {0}
    assert "process died" in problems


def test_feedback_json_holds_otter_feedback_for_every_question(graded):
    feedback = json.loads((graded["out"] / "feedback.json").read_text())
    assert set(feedback) == set(graded["kinds"]) | set(graded["expected"])
    alice = feedback["good_alice.ipynb"]
    assert alice["total"] == 9 and alice["problems"] == []
    assert "q1: all tests passed" in alice["questions"]["q1"]["feedback"]
    assert "a test failed: pca_reconstruct: ZeroDivisionError" in feedback["exception.ipynb"]["questions"]["q1"]["feedback"]


def test_batch_finishes_within_its_time_limits(graded):
    n = len(graded["records"])
    # Two at a time, each within its wall-clock backstop: the batch can never take longer than this.
    assert graded["seconds"] < (n / 2 + 1) * (LIMITS.wall_timeout + 15)


def test_untouched_exercise_scores_zero_and_solution_full_marks(graded):
    assert graded["records"]["good_bob.ipynb"]["total"] == 9  # the master notebook itself
    untouched = graded["records"]["untouched.ipynb"]
    assert untouched["total"] == 0 and untouched["status"] == "graded"
    for question in untouched["questions"].values():
        assert "failed" in question["comment"] and "test failed" in question["feedback"]


def test_missing_folder_and_unknown_assignment_give_clear_errors(tmp_path):
    result = subprocess.run([*GRADE, str(tmp_path / "nope"), "--assignment", ASSIGNMENT],
                            capture_output=True, text=True, env=GRADE_ENV)
    assert result.returncode == 2 and "no such folder of submissions" in result.stderr
    result = subprocess.run([*GRADE, str(tmp_path), "--assignment", "99_nothing"],
                            capture_output=True, text=True, env=GRADE_ENV)
    assert result.returncode == 2 and "no master notebook for assignment '99_nothing'" in result.stderr
