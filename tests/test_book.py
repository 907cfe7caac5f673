"""Build the HTML book from the stored notebook outputs, warnings as errors."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml


def toc_files(root):
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        for chapter in part["chapters"]:
            files.append(chapter["file"])
            files.extend(section["file"] for section in chapter.get("sections", []))
    return files


def jupyter_book_command():
    """The jupyter-book script of the Python that runs the tests."""
    beside_python = Path(sys.executable).parent / "jupyter-book"
    return str(beside_python) if beside_python.exists() else shutil.which("jupyter-book")


@pytest.fixture(scope="module")
def built_book(tmp_path_factory):
    from conftest import ROOT

    out = tmp_path_factory.mktemp("book")
    result = subprocess.run(
        [jupyter_book_command(), "build", str(ROOT), "-W", "--keep-going", "--path-output", str(out)],
        capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, "book build failed (warnings count as errors):\n" + result.stdout[-4000:] + result.stderr[-4000:]
    return ROOT, out / "_build" / "html"


def test_every_toc_page_is_built(built_book):
    root, html = built_book
    for name in toc_files(root):
        assert (html / f"{name}.html").is_file(), f"{name} is in _toc.yml but was not built"


def test_notebook_pages_show_stored_outputs_and_computed_numbers(built_book):
    root, html = built_book
    page = (html / "book" / "02_mnist_pca.html").read_text()
    assert "training digits per class" in page  # a stored stream output
    assert page.count('<img alt="_images/') + page.count('src="../_images/') >= 4  # stored figures
    text = re.sub(r"<[^>]+>", "", page)
    assert re.search(r"a vague blob;.*at an error of \d\.\d{4} per\s+pixel", text, re.S), "glued number missing"


def test_notebook_pages_have_launch_and_download_buttons(built_book):
    root, html = built_book
    config = yaml.safe_load((root / "_config.yml").read_text())
    repo = config["repository"]["url"].removeprefix("https://github.com/")
    for name in toc_files(root):
        if not (root / f"{name}.ipynb").exists():
            continue
        page = (html / f"{name}.html").read_text()
        assert f"https://mybinder.org/v2/gh/{repo}/main?urlpath=lab/tree/{name}.ipynb" in page
        assert f"https://colab.research.google.com/github/{repo}/blob/main/{name}.ipynb" in page
        assert f'_sources/{name}.ipynb"' in page, f"{name}: no .ipynb download link"
