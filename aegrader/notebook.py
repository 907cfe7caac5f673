"""Reading submissions and master notebooks, and reading what a run left in a notebook."""

import ast
import json

__all__ = [
    "TRUNCATION_MARK",
    "SubmissionError",
    "cell_errors",
    "limit_outputs",
    "master_parts",
    "number_code_cells",
    "read_submission",
    "syntax_problems",
    "without_iri_checks",
]

CELL_NUMBER_KEY = "aecourse_cell_number"
TRUNCATION_MARK = "[output truncated:"


def without_iri_checks():
    """Keep nbformat's import from compiling a grammar it never uses (about 2 CPU seconds).

    jsonschema checks the ``iri`` format with rfc3987_syntax when it is installed (JupyterLab
    brings it), and that module builds its parser on import. No notebook schema uses the
    format, so the runner (once per submission), the judge and the submission's kernel (whose
    ``import otter`` loads nbformat: see :data:`KERNEL_STARTUP`) load jsonschema without it.
    """
    import sys

    sys.modules.setdefault("rfc3987_syntax", None)  # None: "import rfc3987_syntax" raises ImportError


# The runner writes this IPython startup file into the sandbox's IPYTHONDIR: the kernel runs it
# before the notebook (aegrader is on its path), and it leaves no name in the student's namespace.
KERNEL_STARTUP = '__import__("aegrader.notebook").notebook.without_iri_checks()\n'


class SubmissionError(ValueError):
    """The submission is not a notebook that can be run at all."""


def read_submission(raw):
    """Check a submitted notebook's bytes and return it as an nbformat-4 notebook.

    nbformat 3 notebooks (``worksheets`` instead of ``cells``) are converted.

    Raises
    ------
    SubmissionError
        With one readable sentence: empty, not text, not JSON, not a notebook.
    """
    import nbformat

    if not raw.strip():
        raise SubmissionError("the file is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SubmissionError(f"the file is not text (byte {err.start} is not UTF-8); is it really a notebook?") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise SubmissionError(
            f"the file is not valid notebook JSON (line {err.lineno}, column {err.colno}: {err.msg}); "
            "it may have been cut off or edited by hand"
        ) from None
    except RecursionError:
        raise SubmissionError("the file's JSON is nested too deeply to be a notebook") from None
    has_cells = isinstance(data, dict) and isinstance(data.get("cells"), list)
    old_format = isinstance(data, dict) and data.get("nbformat") == 3 and isinstance(data.get("worksheets"), list)
    if not (has_cells or old_format):
        raise SubmissionError("the file is JSON but not a Jupyter notebook (it has no list of cells)")
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as err:  # nbformat raises several kinds for malformed notebooks
        raise SubmissionError(f"the notebook cannot be read ({type(err).__name__}: {str(err)[:200]})") from None
    for index, cell in enumerate(nb.cells):
        if not isinstance(cell, dict) or not isinstance(cell.get("source"), str) or "cell_type" not in cell:
            raise SubmissionError(f"the notebook is damaged: cell {index + 1} has no type or source")
    return nb


def syntax_problems(nb):
    """Readable descriptions of the code cells that are not valid Python."""
    from IPython.core.inputtransformer2 import TransformerManager

    transformer = TransformerManager()
    problems = []
    for number, cell in enumerate((c for c in nb.cells if c.cell_type == "code"), start=1):
        try:
            compile(transformer.transform_cell(cell.source), f"cell {number}", "exec", dont_inherit=True)
        except SyntaxError as err:
            problems.append(f"code cell {number} has a syntax error on line {err.lineno}: {err.msg}")
        except (ValueError, RecursionError, MemoryError) as err:
            problems.append(f"code cell {number} cannot be compiled: {type(err).__name__}")
    return problems


def number_code_cells(nb):
    """Remember each code cell's number as the student sees it (1, 2, ...)."""
    for number, cell in enumerate((c for c in nb.cells if c.cell_type == "code"), start=1):
        cell.metadata[CELL_NUMBER_KEY] = number


def cell_errors(nb, cell_timeout, limit=5):
    """The exceptions the run raised, as 'code cell N raised Name: message'."""
    errors = []
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            if not isinstance(output, dict) or output.get("output_type") != "error":
                continue
            number = cell.get("metadata", {}).get(CELL_NUMBER_KEY)
            where = f"code cell {number}" if isinstance(number, int) else "a cell"
            name = str(output.get("ename", ""))[:100]
            value = " ".join(str(output.get("evalue", "")).split())[:200]
            if name == "KeyboardInterrupt":
                # Nobody presses Ctrl-C during grading: the CPU-time limit interrupted it.
                errors.append(f"{where} used more than {cell_timeout:g} s of CPU time and was interrupted "
                              "(an endless loop?)")
            elif name == "CellTimeout":
                errors.append(f"{where} {value}")
            else:
                errors.append(f"{where} raised {name}: {value}")
    return errors[:limit] + ([f"... and {len(errors) - limit} more"] if len(errors) > limit else [])


def _size(output):
    return len(json.dumps(output, ensure_ascii=False).encode("utf-8", "replace"))


def limit_outputs(nb, max_bytes):
    """Keep outputs of every kind (text, images, HTML, errors) up to ``max_bytes`` in all.

    Returns True if some were dropped; the first dropped output is replaced by one
    line that says so.
    """
    import nbformat

    left, dropped = int(max_bytes), False
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            size = _size(output)
            if not dropped and size <= left:
                left -= size
                kept.append(output)
            elif not dropped:
                dropped = True
                kept.append(nbformat.v4.new_output(
                    "stream", name="stderr",
                    text=f"{TRUNCATION_MARK} the notebook's outputs passed {int(max_bytes):,} bytes; "
                         "the rest is not shown]\n"))
        cell["outputs"] = kept
    return dropped


def _question_blocks(cells):
    """Yield (kind, cell) with kind 'given', 'solution', 'test' or 'other' for a master."""
    in_question = in_solution = in_tests = False
    for cell in cells:
        source = cell.source.strip()
        if cell.cell_type == "raw":
            first = source.splitlines()[0].strip().upper() if source else ""
            in_question = {"# BEGIN QUESTION": True, "# END QUESTION": False}.get(first, in_question)
            in_solution = {"# BEGIN SOLUTION": True, "# END SOLUTION": False}.get(first, in_solution)
            in_tests = {"# BEGIN TESTS": True, "# END TESTS": False}.get(first, in_tests)
            continue
        if cell.cell_type != "code":
            continue
        if in_tests:
            yield "test", cell
        elif in_solution:
            yield "solution", cell
        elif in_question:
            yield "other", cell
        else:
            yield "given", cell


def _defined_names(source):
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def master_parts(master_nb, tests):
    """What the judge needs from a master notebook.

    Returns
    -------
    dict
        ``given_code``: the source of the code cells outside the questions (data
        loading, imports), which the judge runs itself, so that the data a test uses
        comes from the instructor, not from the submission; ``answers``: the names
        the tests take from the submission (their parameters that the given cells
        do not define); ``given_names``: the names the given cells define.
    """
    given_code, given_names = [], set()
    for kind, cell in _question_blocks(master_nb.cells):
        if kind == "given":
            given_code.append(cell.source)
            given_names |= _defined_names(cell.source)
    wanted = set()
    for source in tests.values():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
                wanted.update(a.arg for a in node.args.args)
    return {"given_code": given_code, "answers": sorted(wanted - given_names - {"env"}),
            "given_names": sorted(given_names)}
