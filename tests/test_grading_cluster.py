"""Grading on a real Dask cluster: a scheduler and two workers on 127.0.0.1, started here.

The same submissions score the same through the scheduler as in the local batch of
test_grading (honest, blank and attacking ones); a worker killed while it grades a
submission costs nothing (graded again on the other worker, recorded once); a batch
whose instructor process is killed resumes. Every process started here is ended here.
"""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from aegrader.batch import task_key
from aegrader.gradebook import disk_name
from aegrader.records import resume_key
from aegrader.task import Submission
from aecourse.grade import grade_folder
from conftest import ROOT
from test_grading import ASSIGNMENT, GRADE, GRADE_ENV, LIMITS, graded, with_default_signals  # noqa: F401
from test_grading_attacks import sandbox_processes
from test_grading_holes import TINY_LIMITS, submission, tiny_master
from test_sandbox import needs_bwrap  # noqa: F401  (installs bubblewrap when missing)

# A cross-section of the session's batch: honest, blank, broken and attacking work.
# (The whole attack batch through a scheduler scores as it does locally too; that takes minutes.)
THROUGH_THE_CLUSTER = [
    "good_alice.ipynb", "untouched.ipynb", "empty.ipynb", "patch_otter.ipynb", "kill_everything.ipynb",
    "inject_set_up.ipynb", "widget_malformed.ipynb",
]
WORKER_ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # the workers grade with this checkout's code


def dask_command(*args):
    dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")
    return [dask, *args]


class Cluster:
    """``dask scheduler`` and ``dask worker --nthreads 1`` processes on 127.0.0.1, random ports."""

    def __init__(self, folder):
        self.folder, self.workers, self.logs = Path(folder), {}, []
        self.file = self.folder / "scheduler.json"
        self.scheduler = self._start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0",
                                     "--no-dashboard", "--scheduler-file", str(self.file))
        self._wait(lambda: self.file.exists() and self.file.stat().st_size, "the scheduler did not start")
        self.address = json.loads(self.file.read_text())["address"]

    def _start(self, name, *args):
        log = open(self.folder / f"{name}.log", "wb")
        self.logs.append(log)
        return subprocess.Popen(dask_command(*args), stdout=log, stderr=subprocess.STDOUT, env=WORKER_ENV,
                                start_new_session=True)

    def _wait(self, condition, message, seconds=120):
        deadline = time.monotonic() + seconds
        while not condition():
            assert time.monotonic() < deadline, message
            time.sleep(0.2)

    def add_worker(self, name):
        self.workers[name] = self._start(name, "worker", "--scheduler-file", str(self.file), "--nthreads", "1",
                                         "--host", "127.0.0.1", "--no-dashboard", "--no-nanny", "--name", name)
        self._wait(lambda: name in self.worker_names(), f"worker {name} did not join")

    def client(self):
        from distributed import Client

        return Client(self.address, timeout="30s", set_as_default=False)

    def worker_names(self):
        with self.client() as client:
            return {w["name"]: address for address, w in client.scheduler_info(n_workers=-1)["workers"].items()}

    def kill(self, name):
        process = self.workers.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def close(self):
        for process in [*self.workers.values(), self.scheduler]:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
        for log in self.logs:
            log.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, needs_bwrap):
    made = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        made.add_worker("w1")
        made.add_worker("w2")
        yield made
    finally:
        made.close()


def test_without_the_flag_grading_never_imports_dask(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "empty.ipynb").write_bytes(b"")
    code = ("import sys; from aecourse.grade import main; main([sys.argv[1], '--assignment', '02_mnist_pca', "
            "'--out', sys.argv[2], '--quiet']); print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('dask', 'distributed')))")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "in"), str(tmp_path / "out")],
                            capture_output=True, text=True, env=GRADE_ENV, timeout=300)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stderr[-2000:]


def test_the_cluster_scores_every_submission_as_local_grading_does(graded, cluster, tmp_path):  # noqa: F811
    folder = tmp_path / "in"
    folder.mkdir()
    for name in THROUGH_THE_CLUSTER:
        shutil.copy(graded["out"].parent / "submissions" / name, folder / name)
    records = grade_folder(folder, ASSIGNMENT, tmp_path / "out", limits=LIMITS, progress=False,
                           scheduler=cluster.address)
    got = {r["submission"]: {q: v["score"] for q, v in r["questions"].items()} for r in records}
    local = {n: {q: v["score"] for q, v in graded["records"][n]["questions"].items()} for n in THROUGH_THE_CLUSTER}
    assert got == local
    assert got["good_alice.ipynb"] == {"q1": 3, "q2": 1, "q3": 2, "q4": 3} and sum(got["untouched.ipynb"].values()) == 0
    for process in cluster.workers.values():
        assert sandbox_processes(process.pid) == []  # nothing of any job outlives it, on the workers too
    with open(tmp_path / "out" / "grades.csv", newline="") as f:
        assert [row["student"] for row in csv.DictReader(f)] == sorted(Path(n).stem for n in THROUGH_THE_CLUSTER)


def tiny_class(base, names, slow=()):
    master = tiny_master(base / "90_tiny.ipynb")
    folder = base / "in"
    folder.mkdir()
    for name in names:
        first = "import time\ntime.sleep(6)" if name in slow else "import time"
        submission(folder / f"{name}.ipynb", first, "n = 3", "def f():\n    return 1")
    return master, folder


def test_a_worker_killed_mid_job_costs_nothing(cluster, tmp_path):
    master, folder = tiny_class(tmp_path, ["a", "b", "c"], slow={"a", "b", "c"})
    from aegrader.assignment import Assignment

    assignment = Assignment.load(master)
    keys = {task_key(Submission(p.name, p.read_bytes(), resume_key(assignment, TINY_LIMITS, False, p.read_bytes())))
            for p in folder.iterdir()}
    result = {}
    batch = threading.Thread(target=lambda: result.update(records=grade_folder(
        folder, master, tmp_path / "out", limits=TINY_LIMITS, progress=False, scheduler=cluster.address)))
    batch.start()
    victim = None
    with cluster.client() as client:
        deadline = time.monotonic() + 240
        while victim is None:
            assert time.monotonic() < deadline and batch.is_alive(), "no worker ever graded a submission"
            names = {address: name for name, address in cluster.worker_names().items()}
            for address, running in client.processing().items():
                if set(running) & keys and names.get(address) == "w1":
                    victim = names[address]
            time.sleep(0.2)
        time.sleep(3)  # well inside the job: its sandbox sleeps for 6 s
        pid = cluster.workers[victim].pid
        cluster.kill(victim)
    batch.join(timeout=600)
    assert not batch.is_alive()
    try:
        totals = {r["submission"]: r["total"] for r in result["records"]}
        assert totals == {"a.ipynb": 2, "b.ipynb": 2, "c.ipynb": 2}
        assert len(list((tmp_path / "out" / "results").glob("*.json"))) == 3
        with open(tmp_path / "out" / "gradebook.csv", newline="") as f:
            assert sorted(r["submission"] for r in csv.DictReader(f) if r["question"] == "total") == sorted(totals)
        time.sleep(1)
        assert sandbox_processes(pid) == []  # the killed worker's sandbox and judge died with it
    finally:
        cluster.add_worker("w1")  # for the tests after this one


def test_a_batch_on_the_cluster_resumes_after_the_instructor_is_killed(cluster, tmp_path):
    master, folder = tiny_class(tmp_path, ["a", "b", "c", "d"], slow={"c", "d"})
    out = tmp_path / "out"
    command = [*GRADE, str(folder), "--assignment", str(master), "--out", str(out), "--quiet",
               "--timeout", str(TINY_LIMITS.timeout), "--cell-timeout", str(TINY_LIMITS.cell_timeout),
               "--memory-mb", str(TINY_LIMITS.memory_mb), "--max-output", str(TINY_LIMITS.max_output_bytes),
               "--scheduler", cluster.address]
    grader = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=GRADE_ENV,
                              preexec_fn=with_default_signals)
    first = out / "results" / disk_name("a.ipynb", ".json")
    deadline = time.monotonic() + 300
    while not first.exists():
        assert time.monotonic() < deadline and grader.poll() is None, grader.communicate()
        time.sleep(0.2)
    grader.send_signal(signal.SIGKILL)
    grader.communicate(timeout=60)
    kept = {p.name: p.read_text() for p in (out / "results").glob("*.json")}
    assert 1 <= len(kept) < 4
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=GRADE_ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    records = {p.name: p.read_text() for p in (out / "results").glob("*.json")}
    assert len(records) == 4 and all(json.loads(r)["total"] == 2 for r in records.values())
    assert all(records[name] == text for name, text in kept.items())  # what was done is not graded again
    with open(out / "grades.csv", newline="") as f:
        assert [(r["student"], r["total"], r["status"]) for r in csv.DictReader(f)] == [
            (s, "2", "graded") for s in "abcd"]
