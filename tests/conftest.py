"""Shared test set-up: the repository root.

Do not set MPLBACKEND here: the nbval kernels inherit the environment, and a
non-inline backend would drop every stored figure from the notebooks' outputs.
Tests that draw select the Agg backend themselves.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent

EDITIONS = {"student": "_toc.yml", "instructor": "_toc_instructor.yml"}


def jupyter_book_command():
    """The jupyter-book script of the Python that runs the tests."""
    beside_python = Path(sys.executable).parent / "jupyter-book"
    return str(beside_python) if beside_python.exists() else shutil.which("jupyter-book")


def toc_parts(toc_file):
    return yaml.safe_load((ROOT / toc_file).read_text())["parts"]


def toc_files(toc_file):
    """Every page of a table of contents, as paths without suffix, root first."""
    toc = yaml.safe_load((ROOT / toc_file).read_text())
    files = [toc["root"]]
    for part in toc["parts"]:
        for chapter in part["chapters"]:
            files.append(chapter["file"])
            files.extend(section["file"] for section in chapter.get("sections", []))
    return files


def build_edition(edition, out):
    """Build one edition of the book into ``out`` with warnings as errors; return its html folder."""
    result = subprocess.run(
        [jupyter_book_command(), "build", str(ROOT), "-W", "--keep-going", "--toc", str(ROOT / EDITIONS[edition]),
         "--path-output", str(out)],
        capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, (
        f"{edition} edition failed (warnings count as errors):\n" + result.stdout[-4000:] + result.stderr[-4000:]
    )
    return out / "_build" / "html"


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """Both editions of the book, built once per test session."""
    return {edition: build_edition(edition, tmp_path_factory.mktemp(edition)) for edition in EDITIONS}
