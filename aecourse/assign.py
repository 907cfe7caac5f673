"""Student exercises and autograder tests, generated from one source with Otter Assign.

Each exercise has one source: an otter-assign master notebook in ``solutions/``
with the full solution, public and hidden tests. From it we generate

- the student notebook ``exercises/<name>/<name>.ipynb`` (solutions replaced by
  ``...``, public tests only, a ``grader.check("q1")`` cell after each question),
  which is committed so students can open it straight away;
- the autograder tests (public and hidden), which the batch grader
  (:mod:`aecourse.grade`) writes into each submission's scratch directory.

Command line::

    python -m aecourse.assign            # regenerate every exercise
    python -m aecourse.assign --check    # exit 1 if a committed exercise is stale
    python -m aecourse.assign solutions/02_mnist_pca.ipynb   # just one
"""

import argparse
import contextlib
import hashlib
import io
import json
import sys
import tempfile
from pathlib import Path

__all__ = [
    "ROOT",
    "master_path",
    "assign",
    "student_notebook",
    "autograder_tests",
    "write_exercise",
    "stale_exercises",
    "main",
]

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"

# Cell metadata that records when or how a master was last executed or edited,
# not what the exercise is: dropped so that re-running a master notebook does
# not change its exercise.
_VOLATILE_CELL_METADATA = ("execution", "lines_to_next_cell", "collapsed", "scrolled")


class AssignError(RuntimeError):
    """A master notebook could not be turned into an exercise."""


def master_path(name):
    """The master notebook of assignment ``name`` (a name or a path)."""
    path = Path(name)
    if path.suffix == ".ipynb" and path.exists():
        return path.resolve()
    path = SOLUTIONS / f"{Path(name).stem}.ipynb"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in SOLUTIONS.glob("*.ipynb"))) or "none"
        raise AssignError(f"no master notebook for assignment {name!r} in {SOLUTIONS} (have: {known})")
    return path


def assign(master, out_dir):
    """Run Otter Assign on ``master`` into ``out_dir`` (no test run, no PDFs).

    Returns
    -------
    (Path, Path)
        The student and the autograder notebook.
    """
    from otter.assign import main as otter_assign

    master = master_path(master)
    out_dir = Path(out_dir)
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            otter_assign(str(master), str(out_dir), no_pdfs=True, no_run_tests=True)
    except Exception as err:
        raise AssignError(f"otter assign failed on {master.name}: {err}\n{log.getvalue()}") from err
    name = master.name
    return out_dir / "student" / name, out_dir / "autograder" / name


def _normalized(nb_path):
    nb = json.loads(Path(nb_path).read_text())
    nb["metadata"].pop("jupytext", None)
    for index, cell in enumerate(nb["cells"]):
        for key in _VOLATILE_CELL_METADATA:
            cell.get("metadata", {}).pop(key, None)
        # Otter gives the cells it adds random ids; derive every id from the
        # cell's place and source instead, so that generation is repeatable.
        digest = hashlib.sha1(f"{index}:{''.join(cell['source'])}".encode()).hexdigest()[:8]
        cell["id"] = f"c{index:02d}-{digest}"
    return nb


def _dumps(nb):
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def student_notebook(master):
    """The student notebook generated from ``master``, as JSON text."""
    with tempfile.TemporaryDirectory() as tmp:
        student, _ = assign(master, tmp)
        return _dumps(_normalized(student))


def autograder_tests(master):
    """All tests of ``master``, public and hidden, as ``{question: test file source}``."""
    with tempfile.TemporaryDirectory() as tmp:
        _, autograder = assign(master, tmp)
        tests = json.loads(autograder.read_text())["metadata"]["otter"]["tests"]
    if not tests:
        raise AssignError(f"{Path(master).name} has no autograded questions")
    return dict(tests)


def exercise_path(master):
    stem = master_path(master).stem
    return EXERCISES / stem / f"{stem}.ipynb"


def write_exercise(master):
    """Generate the student notebook of ``master`` into ``exercises/``; return its path."""
    path = exercise_path(master)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(student_notebook(master))
    return path


def stale_exercises(masters=None):
    """Names of the exercises that are missing or differ from what generation gives."""
    masters = masters or sorted(SOLUTIONS.glob("*.ipynb"))
    stale = []
    for master in masters:
        path = exercise_path(master)
        if not path.exists() or path.read_text() != student_notebook(master):
            stale.append(master_path(master).stem)
    return stale


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m aecourse.assign",
        description="Generate the student exercises in exercises/ from the master notebooks in solutions/.",
    )
    parser.add_argument("masters", nargs="*", help="master notebooks or assignment names (default: all)")
    parser.add_argument("--check", action="store_true", help="only report stale exercises; exit 1 if any")
    args = parser.parse_args(argv)
    masters = [master_path(m) for m in args.masters] or sorted(SOLUTIONS.glob("*.ipynb"))
    if args.check:
        stale = stale_exercises(masters)
        for name in stale:
            print(f"stale: exercises/{name}/{name}.ipynb differs from what solutions/{name}.ipynb generates")
        print(f"{len(masters) - len(stale)} of {len(masters)} exercises up to date")
        return 1 if stale else 0
    for master in masters:
        print(f"wrote {write_exercise(master).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
