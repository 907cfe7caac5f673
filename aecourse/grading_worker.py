"""Grade one submission in this process; run by :mod:`aecourse.grade`, one process each.

``python -m aecourse.grading_worker JOB.json`` reads the job (submission path,
scratch directory, tests directory, limits, where to write the result), runs the
notebook in a fresh kernel whose working directory is the scratch directory and
whose first cell confines it there (:mod:`aecourse.confinement`), lets Otter
run every test, public and hidden, and writes the result as JSON. The parent
enforces the wall-time and memory limits by killing this process and its kernel.
"""

import json
import os
import pickle
import sys
import tempfile
from pathlib import Path

from .confinement import TRUNCATION_MARK
from .grade import _write_atomic

__all__ = ["read_submission", "syntax_problems", "grade_job", "main"]

CONFINE_CELL = (
    "import aecourse.confinement as _aecourse_confinement\n"
    "_aecourse_confinement.confine({scratch!r}, max_output_bytes={max_output})\n"
    "del _aecourse_confinement"
)


CELL_NUMBER_KEY = "aecourse_cell_number"


class SubmissionError(ValueError):
    """The submission is not a notebook that can be run at all."""


def read_submission(path):
    """Read and check a submitted notebook.

    Returns
    -------
    nbformat.NotebookNode

    Raises
    ------
    SubmissionError
        With one readable sentence: missing, empty, not JSON, not a notebook.
    """
    import nbformat

    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise SubmissionError(f"the file cannot be read ({err.strerror or err})") from err
    if not raw.strip():
        raise SubmissionError("the file is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SubmissionError(f"the file is not text (byte {err.start} is not UTF-8); is it really a notebook?") from err
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise SubmissionError(
            f"the file is not valid notebook JSON (line {err.lineno}, column {err.colno}: {err.msg}); "
            "it may have been cut off or edited by hand"
        ) from err
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise SubmissionError("the file is JSON but not a Jupyter notebook (it has no list of cells)")
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as err:  # nbformat raises several kinds for malformed notebooks
        raise SubmissionError(f"the notebook cannot be read ({type(err).__name__}: {err})") from err
    # Repairable damage (missing ids, odd metadata) is fine; cells without a
    # type or source are not.
    for index, cell in enumerate(nb.cells):
        if not isinstance(cell, dict) or "source" not in cell or "cell_type" not in cell:
            raise SubmissionError(f"the notebook is damaged: cell {index + 1} has no type or source")
    return nb


def syntax_problems(nb):
    """Readable descriptions of the code cells that are not valid Python."""
    from IPython.core.inputtransformer2 import TransformerManager

    transformer = TransformerManager()
    problems = []
    for number, cell in enumerate((c for c in nb.cells if c.cell_type == "code"), start=1):
        try:
            compile(transformer.transform_cell(cell.source), f"cell {number}", "exec")
        except SyntaxError as err:
            problems.append(f"code cell {number} has a syntax error on line {err.lineno}: {err.msg}")
        except (ValueError, RecursionError) as err:
            problems.append(f"code cell {number} cannot be compiled: {err}")
    return problems


def _number_code_cells(nb):
    """Remember each code cell's number as the student sees it (1, 2, ...)."""
    for number, cell in enumerate((c for c in nb.cells if c.cell_type == "code"), start=1):
        cell.metadata[CELL_NUMBER_KEY] = number


def cell_errors(nb, cell_timeout, limit=5):
    """The exceptions the run raised, as 'code cell N raised Name: message'."""
    errors = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            number = cell.get("metadata", {}).get(CELL_NUMBER_KEY)
            where = f"code cell {number}" if number else "the grading code"
            if output.get("ename") in ("KeyboardInterrupt", "CellTimeout"):
                # Nobody presses Ctrl-C during grading: the time limit interrupted it.
                errors.append(f"{where} ran for more than {cell_timeout:g} s and was interrupted (an endless loop?)")
            else:
                value = " ".join(str(output.get("evalue", "")).split())[:200]
                errors.append(f"{where} raised {output.get('ename')}: {value}")
    return errors[:limit] + ([f"... and {len(errors) - limit} more"] if len(errors) > limit else [])


def _last_line(message):
    lines = [line.strip() for line in (message or "").strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "failed"


def _question_results(results):
    questions = {}
    for name, test_file in results.results.items():
        questions[name] = {
            "score": float(test_file.score),
            "possible": float(test_file.possible),
            "failed": [
                {
                    "test": r.test_case.name,
                    "hidden": bool(r.test_case.hidden),
                    "message": _last_line(r.message),
                }
                for r in test_file.test_case_results
                if not r.passed
            ],
            "feedback": test_file.summary(),
        }
    return questions


def grade_job(job):
    """Run one submission as described by ``job``; return the result dict."""
    from nbconvert.preprocessors import ExecutePreprocessor
    from nbclient.exceptions import DeadKernelError
    from otter.execute.logging import start_server
    from otter.execute.preprocessor import GradingPreprocessor
    from traitlets.config import Config

    scratch = Path(job["scratch"])
    result = {"questions": {}, "problems": [], "status": "graded"}
    try:
        nb = read_submission(job["submission"])
    except SubmissionError as err:
        return {**result, "status": "unreadable", "problems": [str(err)]}
    result["problems"].extend(syntax_problems(nb))

    import nbformat

    _number_code_cells(nb)
    nb.cells.insert(
        0,
        nbformat.v4.new_code_cell(
            CONFINE_CELL.format(scratch=str(scratch), max_output=int(job["max_output_bytes"]))
        ),
    )
    tests = sorted(str(p) for p in Path(job["tests_dir"]).glob("*.py"))
    handle, results_path = tempfile.mkstemp(suffix=".pkl", dir=scratch)
    os.close(handle)
    config = Config()
    (host, port), stop_server = start_server()
    try:
        gp_config = config.GradingPreprocessor
        gp_config.cwd = str(scratch)
        gp_config.test_dir = str(job["tests_dir"])
        gp_config.tests_glob = tests
        gp_config.results_path = results_path
        gp_config.seed = None
        gp_config.seed_variable = None
        gp_config.logging_server_host = host
        gp_config.logging_server_port = port
        gp_config.force_python3_kernel = True
        ep_config = config.ExecutePreprocessor
        ep_config.allow_errors = True
        ep_config.timeout = int(job["cell_timeout"])
        ep_config.interrupt_on_timeout = True
        ep_config.error_on_timeout = {
            "ename": "CellTimeout",
            "evalue": f"the cell ran for more than {job['cell_timeout']} s and was interrupted (an endless loop?)",
            "traceback": [],
        }
        ep_config.kernel_name = "python3"
        grading = GradingPreprocessor(config=config)
        executor = ExecutePreprocessor(config=config)
        nb, _ = grading.preprocess(nb)
        try:
            nb, _ = executor.preprocess(nb, {"metadata": {"path": str(scratch)}})
        except DeadKernelError:
            result["problems"].append(
                "the notebook's Python process died (it crashed, ran out of memory or called exit)"
            )
    finally:
        stop_server()
        grading.cleanup()
    result["problems"].extend(cell_errors(nb, float(job["cell_timeout"])))
    if any(TRUNCATION_MARK in "".join(o.get("text", "")) for c in nb.cells for o in c.get("outputs", [])):
        result["problems"].append(
            f"the notebook printed more than {int(job['max_output_bytes']):,} bytes; the rest of its output was dropped"
        )
    if job.get("executed_notebook"):
        nbformat.write(nb, job["executed_notebook"])
    try:
        with open(results_path, "rb") as f:
            results = pickle.load(f)
        result["questions"] = _question_results(results)
    except Exception as err:  # no results: the final grading cell never ran
        result["problems"].append(f"the tests could not be run to the end ({type(err).__name__})")
    return result


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    job = json.loads(Path(argv[0]).read_text())
    try:
        result = grade_job(job)
    except Exception as err:  # report, never crash the batch
        result = {"questions": {}, "status": "error", "problems": [f"the grader failed: {type(err).__name__}: {err}"]}
    _write_atomic(job["result"], json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
