"""Student exercises and autograder tests, generated from one source with Otter Assign.

Each exercise has one source: an otter-assign master notebook in ``solutions/``
with the full solution, public and hidden tests. From it we generate

- the student notebook ``exercises/<name>/<name>.ipynb`` (solutions replaced by
  ``...``, public tests only, a ``grader.check("q1")`` cell after each question),
  which is committed so students can open it straight away. It opens with its
  title and what the student will do, then the Colab cell (which installs the
  course package on Colab, see :mod:`aecourse.notebooks`) and Otter's set-up
  cell; each question says its points; its public checks explain a failure in
  plain words (:mod:`aecourse.checks`);
- the autograder tests (public and hidden), which the batch grader
  (:mod:`aegrader`) keeps in its judge's memory: hidden tests never enter
  the student's sandbox;
- the solution page of the instructor edition (:func:`solution_page`): the
  master as an instructor reads it, titled "Solution: ...", with each
  question's points and without Otter's markers. The book builds it from the
  master as it reads it (``book/_ext/solution_pages.py``); nothing is written.

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
import re
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
    "question_points",
    "solution_page",
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


def _text(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def question_points(master):
    """``[(name, points), ...]`` of the questions of ``master`` (a path or a notebook dict), in order."""
    import yaml

    nb = master if isinstance(master, dict) else json.loads(master_path(master).read_text())
    questions = []
    for cell in nb["cells"]:
        text = _text(cell)
        if cell["cell_type"] == "raw" and text.lstrip().startswith("# BEGIN QUESTION"):
            config = yaml.safe_load(text.split("\n", 1)[1]) or {}
            questions.append((config["name"], config.get("points")))
    return questions


_QUESTION = re.compile(r"^\*\*Question (\d+)\.\*\*")


def _with_points(nb, questions):
    """Write each question's points into its prompt: **Question 1 (3 points).**"""
    prompts = [c for c in nb["cells"] if c["cell_type"] == "markdown" and _QUESTION.match(_text(c))]
    if len(prompts) != len(questions):
        raise AssignError(f"{len(questions)} questions but {len(prompts)} '**Question N.**' prompts")
    for cell, (_, points) in zip(prompts, questions):
        if points is None:
            continue
        label = "1 point" if points == 1 else f"{points:g} points"
        cell["source"] = _QUESTION.sub(lambda m: f"**Question {m.group(1)} ({label}).**", _text(cell))
    return nb


CHECK_ALL_OTTER = "the cell below will rerun all of the autograder tests."
CHECK_ALL_TEXT = ("the cell below runs every public check above once more. Your instructor grades with further "
                  "hidden checks, so all of these passing does not mean full marks.")
# What an exercise shows where a cell's last line was a bare "..." (the rest of the cell to write):
# a comment, so that running the untouched cell prints nothing.
BARE_PLACEHOLDER = "# ... your code here"


def _student_layout(nb, name):
    """Title and introduction first, then the Colab cell and Otter's set-up cell."""
    from .checks import IMPORT_LINE
    from .notebooks import with_colab_cell

    cells = nb["cells"]
    init = next(i for i, c in enumerate(cells) if _text(c).startswith("# Initialize Otter"))
    init_cell = cells.pop(init)
    with_colab_cell(nb, name)  # after the title, folded
    colab = next(i for i, c in enumerate(cells) if c["cell_type"] == "code")
    cells.insert(colab + 1, init_cell)
    for cell in cells:  # Otter's line above check_all() reads like a promise of full marks
        if cell["cell_type"] == "markdown" and CHECK_ALL_OTTER in _text(cell):
            cell["source"] = _text(cell).replace(CHECK_ALL_OTTER, CHECK_ALL_TEXT)
    for cell in cells:  # a bare "..." as a cell's last line would print Ellipsis under it
        lines = _text(cell).split("\n")
        if cell["cell_type"] == "code" and lines[-1] == "...":
            cell["source"] = "\n".join([*lines[:-1], BARE_PLACEHOLDER]).splitlines(keepends=True)
    tests = nb["metadata"]["otter"]["tests"]
    for question, source in tests.items():
        tests[question] = source.replace("from otter.test_files import test_case", IMPORT_LINE, 1)
    return nb


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
    master = master_path(master)
    with tempfile.TemporaryDirectory() as tmp:
        student, _ = assign(master, tmp)
        nb = json.loads(student.read_text())
    nb = _with_points(_student_layout(nb, master.stem), question_points(master))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / master.name
        path.write_text(json.dumps(nb))
        return _dumps(_normalized(path))


_MARKER_LINE = re.compile(r"^\s*# (BEGIN|END) (SOLUTION|PROMPT)( NO PROMPT)?\s*$")
_MARKER_SUFFIX = re.compile(r"\s*# (SOLUTION( NO PROMPT)?|IGNORE|SEED)\s*$")


def _clean_code(source):
    """Solution code without Otter's markers, prompts or test configuration."""
    out, prompt, config = [], False, False
    for line in source.split("\n"):
        stripped = line.strip()
        if stripped == "# BEGIN PROMPT":
            prompt = True
        elif stripped == "# END PROMPT":
            prompt = False
        elif re.match(r'""?"?\s*#\s*BEGIN\s*TEST\s*CONFIG', stripped, re.I):
            config = True
        elif re.match(r'""?"?\s*#\s*END\s*TEST\s*CONFIG', stripped, re.I):
            config = False
        elif not (prompt or config or _MARKER_LINE.match(line)):
            out.append(_MARKER_SUFFIX.sub("", line))
    return "\n".join(out).strip("\n")


def solution_page(master):
    """The master notebook as the instructor edition shows it, as a notebook dict.

    Titled "Solution: ..." (the master's "Exercise: ..." title), each question
    with its points, Otter's raw configuration cells and markers removed, the
    tests of each question folded away under "Show code cell source" and
    labelled public or hidden. Stored outputs are kept.
    """
    nb = master if isinstance(master, dict) else json.loads(master_path(master).read_text())
    nb = json.loads(json.dumps(nb))
    questions = question_points(nb)
    cells, in_tests = [], False
    for cell in nb["cells"]:
        text = _text(cell)
        if cell["cell_type"] == "raw":
            first = text.strip().splitlines()[0] if text.strip() else ""
            in_tests = {"# BEGIN TESTS": True, "# END TESTS": False}.get(first, in_tests)
            continue  # Otter's configuration and question, solution and test markers
        if cell["cell_type"] == "markdown" and re.match(r"#\s+Exercise:", text):
            text = re.sub(r"^#\s+Exercise:", "# Solution:", text, count=1)
            cell["source"] = text
        if cell["cell_type"] == "code":
            hidden = "hidden: true" in text.split("END TEST CONFIG")[0] if "TEST CONFIG" in text else False
            code = _clean_code(text)
            if in_tests:
                code = f"# {'hidden' if hidden else 'public'} test\n{code}"
                tags = cell.setdefault("metadata", {}).setdefault("tags", [])
                if "hide-input" not in tags:
                    tags.append("hide-input")
            cell["source"] = code
        cells.append(cell)
    nb["cells"] = cells
    return _with_points(nb, questions)


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
