"""pytest runs on both cores, and each notebook's cells still run in order in one kernel."""

import subprocess
import sys

import nbformat

from xdist_groups import ROOT, SHARED_GROUPS, expected_seconds, group_of, pytest_collection_modifyitems


def test_the_shared_groups_name_test_files_that_exist():
    for group, paths in SHARED_GROUPS.items():
        for path in paths:
            assert (ROOT / path).is_file(), f"group {group!r} names {path}, which does not exist"


def test_each_notebook_is_its_own_group_and_files_that_share_a_fixture_share_one():
    chapters = [group_of(ROOT / "book" / name) for name in ("05_stacked.ipynb", "06_denoising.ipynb")]
    assert chapters == ["book/05_stacked.ipynb", "book/06_denoising.ipynb"]
    assert group_of(ROOT / "tests/test_book.py") == group_of(ROOT / "tests/test_browser.py") == "book"
    graded = {group_of(ROOT / f"tests/test_grading{part}.py") for part in ("", "_attacks", "_holes", "_cluster")}
    assert graded == {"grading"}


def test_a_notebook_run_on_two_workers_keeps_its_cells_in_one_kernel(tmp_path):
    # Each cell needs the one before it: split over two workers, every cell after the first
    # of a worker would fail with a NameError.
    cells = [nbformat.v4.new_code_cell("step = 0")]
    cells += [nbformat.v4.new_code_cell(f"step += 1\nassert step == {i}") for i in range(1, 8)]
    notebook = nbformat.v4.new_notebook(cells=cells)
    nbformat.write(notebook, tmp_path / "chained.ipynb")
    (tmp_path / "test_other.py").write_text("def test_other():\n    pass\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "--nbval-lax",
         "-p", "xdist_groups", "-p", "no:cacheprovider", "-o", "addopts=", "-q", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT / "tests")},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "9 passed" in result.stdout, result.stdout[-3000:]


class _Item:
    def __init__(self, path):
        self.path, self.marks = ROOT / path, []

    def add_marker(self, mark):
        self.marks.append(mark)


def test_the_longest_groups_are_handed_out_first_and_a_notebook_keeps_its_cell_order():
    seconds = expected_seconds()
    assert seconds["book/06_denoising.ipynb"] > seconds["book/02_mnist_pca.ipynb"] > 0  # read from the table
    paths = ["tests/test_metrics.py", "book/02_mnist_pca.ipynb", "book/02_mnist_pca.ipynb",
             "book/06_denoising.ipynb", "tests/test_grading.py", "book/02_mnist_pca.ipynb"]
    items = [_Item(path) for path in paths]
    cells_of_02 = [item for item in items if item.path.name == "02_mnist_pca.ipynb"]
    pytest_collection_modifyitems(None, items)
    order = [group_of(item.path) for item in items]
    assert order == ["grading", "book/06_denoising.ipynb", *["book/02_mnist_pca.ipynb"] * 3,
                     "tests/test_metrics.py"]
    assert [item for item in items if item.path.name == "02_mnist_pca.ipynb"] == cells_of_02
    assert all(len(item.marks) == 1 for item in items)
