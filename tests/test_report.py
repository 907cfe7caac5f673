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


def test_running_a_notebook_prints_nothing_of_the_kernels_transport_and_ends_its_kernel(tmp_path):
    # Over TCP ipykernel warns on every start that the kernel's traffic is unencrypted: once per notebook
    # in `python -m aecourse.report`, a line the reader cannot act on. And a kernel left running
    # (nbclient does not shut down a kernel manager it is given) lives, TensorFlow and all, until
    # the command ends, then warns "Parent appears to have exited".
    import subprocess
    import sys

    import nbformat

    path = tmp_path / "tiny.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")]), path)
    code = ("import os, sys\nfrom aecourse.report import run_notebook\n_, nb = run_notebook(sys.argv[1])\n"
            "print(''.join(nb['cells'][0]['outputs'][0]['text']), end='')\n"
            "children = [p for p in os.listdir('/proc') if p.isdigit() and open(f'/proc/{p}/stat').read()"
            ".rsplit(')', 1)[1].split()[1] == str(os.getpid())]\nprint('children', children)")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=300)
    assert done.stdout == "42\nchildren []\n", done.stdout + done.stderr
    assert "without encryption" not in done.stderr and "TCP" not in done.stderr, done.stderr
    assert "Parent appears to have exited" not in done.stderr, done.stderr


def _fake_runs(monkeypatch):
    """Replace running and saving a notebook with a record of the calls (no kernel, no training)."""
    runs, saved = [], []

    def run(path, allow_errors=False, env=None, cell_seconds=None):
        runs.append((report._key(path), dict(env or {})))
        return 1.0, json.loads(path.read_text())

    monkeypatch.setattr(report, "run_notebook", run)
    monkeypatch.setattr(report, "save_notebook", lambda nb, target: saved.append(str(target)))
    monkeypatch.setattr(report, "_write_table", lambda rows: None)
    monkeypatch.setattr(report, "_write_machine", lambda: None)
    return runs, saved


def test_spreads_runs_the_other_seed_offsets_and_saves_no_notebook(monkeypatch):
    runs, saved = _fake_runs(monkeypatch)
    chapter = report.ROOT / "book" / "06_denoising.ipynb"
    assert report.main(["--spreads", str(chapter)]) == 0
    write = {"AECOURSE_SPREADS_WRITE": "1"}
    assert runs == [("book/06_denoising", {"AECOURSE_SEED_OFFSET": "100", **write}),
                    ("book/06_denoising", {"AECOURSE_SEED_OFFSET": "200", **write})]
    assert saved == []  # the stored outputs stay, and no executed copy is written only to be deleted
    runs.clear()
    assert report.main(["--spreads", "--seed-offset", "300", str(chapter)]) == 0
    assert runs == [("book/06_denoising", {"AECOURSE_SEED_OFFSET": "300", **write})]
    with pytest.raises(SystemExit):
        report.main(["--spreads", "--out", "/tmp/x", str(chapter)])


def test_the_run_that_saves_the_stored_outputs_writes_the_offset_0_spreads(monkeypatch, tmp_path):
    runs, saved = _fake_runs(monkeypatch)
    chapter = report.ROOT / "book" / "06_denoising.ipynb"
    assert report.main([str(chapter)]) == 0
    assert runs == [("book/06_denoising", {"AECOURSE_SPREADS_WRITE": "1"})] and saved == [str(chapter)]
    runs.clear()
    assert report.main(["--out", str(tmp_path), "--seed-offset", "100", str(chapter)]) == 0
    assert runs == [("book/06_denoising", {"AECOURSE_SEED_OFFSET": "100"})]  # a trial run writes nothing
