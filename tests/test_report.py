"""The timing table on the book's "Running the course" page comes from the timing report, and the notebooks it
times are committed executed."""

import csv
import json

import pytest

from aecourse import report


def test_table_lists_every_notebook_with_its_current_key_result():
    assert report.check() == []
    with open(report.TABLE) as f:
        rows = list(csv.DictReader(f))
    assert [r["notebook"] for r in rows[:-1]] == [report._key(p) for p in report.notebooks()]
    assert rows[-1]["notebook"] == "all notebooks"
    assert list(rows[0]) == report.HEADER
    # The total is summed before rounding, so it may differ from the rounded rows by 0.05 each.
    assert abs(float(rows[-1]["seconds"]) - sum(float(r["seconds"]) for r in rows[:-1])) <= 0.05 * len(rows)


def test_the_table_keeps_the_time_budget():
    # The table is measured on the reference machine; a notebook that grew past the budget shows here.
    with open(report.TABLE) as f:
        rows = list(csv.DictReader(f))
    slow = {r["notebook"]: r["seconds"] for r in rows[:-1] if float(r["seconds"]) > report.NOTEBOOK_BUDGET}
    assert slow == {}, f"over {report.NOTEBOOK_BUDGET} s: {slow}"
    assert float(rows[-1]["seconds"]) <= report.COURSE_BUDGET


def test_the_table_names_the_machine_it_was_measured_on():
    with open(report.MACHINE) as f:
        facts = dict(csv.reader(f))
    assert set(facts) >= {"cpu", "widest vector instructions", "cores", "TensorFlow"}
    assert facts["widest vector instructions"] in {"AVX-512", "AVX2", "SSE4.1", "unknown"}


def test_a_table_with_a_notebook_over_budget_fails_the_budget_check(tmp_path, monkeypatch):
    rows = report.TABLE.read_text().splitlines()
    cells = rows[1].split(",")
    cells[1] = f"{report.NOTEBOOK_BUDGET + 1:.1f}"  # the first notebook's seconds
    monkeypatch.setattr(report, "TABLE", tmp_path / "running_times.csv")
    report.TABLE.write_text("\n".join([rows[0], ",".join(cells), *rows[2:]]) + "\n")
    with pytest.raises(AssertionError, match="over 90 s"):
        test_the_table_keeps_the_time_budget()


def test_every_chapter_has_a_key_result():
    for path in report.notebooks():
        assert report._key(path) in report.KEY_RESULTS, f"add {report._key(path)} to aecourse.report.KEY_RESULTS"


def test_check_notices_a_stale_or_missing_row(tmp_path, monkeypatch):
    rows = report.TABLE.read_text().splitlines()
    stale = [rows[0]] + [rows[1].replace(rows[1].split(",")[2], "0.9999", 1)] + rows[2:]
    monkeypatch.setattr(report, "TABLE", tmp_path / "running_times.csv")
    report.TABLE.write_text("\n".join(stale) + "\n")
    assert any("the table says '0.9999'" in p for p in report.check())
    report.TABLE.write_text("\n".join(rows[:1] + rows[2:]) + "\n")
    assert any("is not in the table" in p for p in report.check())


def test_every_notebook_is_committed_executed():
    # nbval compares stored outputs with fresh ones; a code cell that was never run stores none, and nbval
    # then has nothing to check in it.
    for path in report.notebooks():
        cells = json.loads(path.read_text())["cells"]
        unrun = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and c.get("execution_count") is None]
        assert not unrun, f"{report._key(path)}: code cells {unrun} have no stored execution; run the notebook and save it"


def test_running_a_notebook_prints_nothing_of_the_kernels_transport(tmp_path):
    # Over TCP ipykernel warns on every start that the kernel's traffic is unencrypted: once per notebook
    # in `python -m aecourse.report`, a line the reader cannot act on.
    import subprocess
    import sys

    import nbformat

    path = tmp_path / "tiny.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")]), path)
    code = ("import sys\nfrom aecourse.report import run_notebook\n_, nb = run_notebook(sys.argv[1])\n"
            "print(''.join(nb['cells'][0]['outputs'][0]['text']), end='')")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=300)
    assert done.stdout == "42\n", done.stderr
    assert "without encryption" not in done.stderr and "TCP" not in done.stderr, done.stderr
