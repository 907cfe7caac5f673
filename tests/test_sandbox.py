"""The grader's walls, one at a time: plain data, cgroups, bubblewrap and the output folder.

Each guard is shown twice where that is cheap: the attack succeeds without it (the
control), and fails with it.
"""

import csv
import importlib.metadata
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

from aegrader import cgroup, plain, sandbox
from aegrader.gradebook import GradebookBusy, OutputFolder, csv_safe, disk_name
from aegrader.notebook import SubmissionError, read_submission
from conftest import ROOT


@pytest.fixture(scope="session")
def needs_bwrap():
    """bubblewrap, installed with apt-get when it is missing and the tests run as root."""
    if shutil.which("bwrap") is None and os.geteuid() == 0:
        install = ["apt-get", "install", "-y", "--no-install-recommends", "bubblewrap"]
        if subprocess.run(install, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update"], capture_output=True)
            subprocess.run(install, capture_output=True)
    if shutil.which("bwrap") is None:
        pytest.fail("bubblewrap is missing and could not be installed: apt-get install bubblewrap")
    if cgroup.available():
        pytest.fail(f"the grader needs cgroups: {cgroup.available()}")
    return shutil.which("bwrap")


# --- plain data ------------------------------------------------------------------------------

def roundtrip(value):
    frame = plain.pack(value)
    return plain.receive(io.BytesIO(frame))


def test_plain_data_crosses_unchanged():
    value = {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "k": 84, "f": 0.5, "s": "ü", "n": None,
             "t": (1, [True, np.int64(3)]), "nan": float("nan")}
    back = roundtrip(value)
    assert back["x"].dtype == np.float32 and (back["x"] == value["x"]).all()
    assert back["k"] == 84 and type(back["k"]) is int and type(back["f"]) is float
    assert back["t"] == (1, [True, 3]) and type(back["t"][1][1]) is np.int64
    assert back["s"] == "ü" and back["n"] is None and back["nan"] != back["nan"]


def test_objects_with_their_own_comparisons_arrive_as_their_plain_value():
    class Yes(float):
        __eq__ = __lt__ = __gt__ = lambda self, other: True

    class YesArray(np.ndarray):
        __eq__ = lambda self, other: True

    assert Yes(5) == 84  # the attack, in the student's process
    back = roundtrip({"k": Yes(5), "a": np.zeros(2).view(YesArray)})
    assert type(back["k"]) is float and back["k"] != 84
    assert type(back["a"]) is np.ndarray and not (back["a"] == 1).any()


@pytest.mark.parametrize("value", [object(), np.array([object()]), np.array(["text"]), {(1, 2): 3}, print])
def test_what_is_not_plain_data_is_refused(value):
    with pytest.raises(plain.PlainDataError):
        plain.pack(value)


def pickle_frame(marker):
    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    buffer = io.BytesIO()
    np.savez(buffer, a0=np.array([Payload()], dtype=object))
    text = json.dumps({"$array": "a0", "scalar": False}).encode()
    return text, buffer.getvalue()


def test_a_pickled_payload_is_never_run(tmp_path):
    marker = tmp_path / "payload-ran"
    text, blob = pickle_frame(marker)
    with pytest.raises(plain.PlainDataError):
        plain.unpack(text, blob)
    assert not marker.exists()
    # The control: a reader that allows pickles runs the student's code.
    np.load(io.BytesIO(blob), allow_pickle=True)["a0"]
    assert marker.exists()


def test_compressed_arrays_are_refused_before_they_are_inflated():
    buffer = io.BytesIO()
    np.savez_compressed(buffer, a0=np.zeros(2**20))  # 8 MB of zeros in a few kB: a zip bomb's shape
    text = json.dumps({"$array": "a0", "scalar": False}).encode()
    with pytest.raises(plain.PlainDataError, match="compressed"):
        plain.unpack(text, buffer.getvalue())
    buffer = io.BytesIO()
    np.savez(buffer, a0=np.zeros(4))
    assert (plain.unpack(text, buffer.getvalue()) == 0).all()  # the control: stored arrays pass


def test_oversized_and_malformed_frames_are_refused():
    with pytest.raises(plain.PlainDataError):
        plain.receive(io.BytesIO(b"\xff\xff\xff\xff\x00\x00\x00\x00"))
    with pytest.raises(plain.PlainDataError):
        plain.unpack(b'{"$eval": "1"}', b"")
    with pytest.raises(plain.PlainDataError):
        plain.unpack(b"NaN", b"")
    with pytest.raises(EOFError):
        plain.receive(io.BytesIO(b"\x05\x00"))


def test_the_judge_scores_the_plain_value_not_the_object():
    from aecourse.assign import autograder_tests
    from aegrader.judge import run_tests

    class Yes(float):
        __eq__ = __lt__ = __le__ = __gt__ = __ge__ = lambda self, other: True
        __sub__ = __rsub__ = __abs__ = lambda self, *other: self

    tests = {"q3": autograder_tests("02_mnist_pca")["q3"]}
    digits = np.random.default_rng(0).random((50, 40))
    env = {"test_mse_32": Yes(0.5), "q3_reason": "c", "x_train": digits, "x_test": digits[:10]}
    fooled = run_tests(tests, env)["q3"]["score"]
    honest = run_tests(tests, {**env, "test_mse_32": roundtrip(Yes(0.5))})["q3"]["score"]
    assert fooled > honest  # the control: in-process, the object fools the tests
    assert honest == 1  # the letter's point; the MSE's is lost


# --- cgroups ----------------------------------------------------------------------------------

DAEMON = ("import os, sys, time\nif os.fork(): sys.exit(0)\nos.setsid()\nif os.fork(): sys.exit(0)\n"
          "open(sys.argv[1], 'w').write(str(os.getpid()))\ntime.sleep(600)\n")


def start_daemon(tmp_path, group=None):
    pid_file = tmp_path / f"daemon-{time.monotonic_ns()}"
    process = subprocess.Popen([sys.executable, "-c", DAEMON, str(pid_file)],
                               preexec_fn=group.join if group else None)
    process.wait()
    deadline = time.monotonic() + 20
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return int(pid_file.read_text())


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_a_double_forked_daemon_dies_with_its_cgroup(tmp_path, needs_bwrap):
    # The control: killing the process we started does not reach its daemon.
    loose = start_daemon(tmp_path)
    assert alive(loose)
    os.kill(loose, signal.SIGKILL)
    group = cgroup.Cgroup.create(f"test{os.getpid()}-daemon", 500 * 2**20, 64)
    daemon = start_daemon(tmp_path, group)
    assert alive(daemon) and daemon in group.pids()
    assert group.kill()
    time.sleep(0.2)
    assert not alive(daemon)
    assert not group.dirs["memory"].exists()


def test_memory_of_children_is_limited(tmp_path, needs_bwrap):
    group = cgroup.Cgroup.create(f"test{os.getpid()}-memory", 200 * 2**20, 64)
    try:
        code = ("import subprocess, sys\n"
                "child = subprocess.run([sys.executable, '-c', 'b = bytearray(400 * 2**20); b[::4096] = b\"x\" * len(b[::4096])'])\n"
                "print(child.returncode)\n")
        result = subprocess.run([sys.executable, "-c", code], preexec_fn=group.join, capture_output=True, text=True,
                                timeout=60)
        assert result.stdout.strip() == "-9"  # the kernel's OOM killer ended the child
        assert group.out_of_memory() and group.peak_memory_mb() <= 200
    finally:
        group.kill()


# --- bubblewrap --------------------------------------------------------------------------------

def test_without_bubblewrap_the_grader_refuses_with_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    from aegrader.cli import main

    (tmp_path / "in").mkdir()
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    assert main([str(tmp_path / "in"), "--assignment", "02_mnist_pca", "--out", str(tmp_path / "out")]) == 2
    message = err.getvalue().strip()
    assert "apt-get install bubblewrap" in message and "--unsafe-no-sandbox" in message
    assert message.count("\n") == 0


def test_the_sandbox_is_empty_of_the_host(tmp_path, needs_bwrap):
    package = sandbox.stage_package(tmp_path)
    command = sandbox.command(needs_bwrap, package, sandbox.UID_BASE + 999)[:-3] + ["-c", (
        "import os, json, socket\n"
        "s = socket.socket(); s.settimeout(2)\n"
        "try:\n    s.connect(('1.1.1.1', 53)); net = 'up'\nexcept OSError:\n    net = 'down'\n"
        "print(json.dumps({'uid': os.getuid(), 'root': sorted(os.listdir('/')), 'net': net,\n"
        "  'procs': len([p for p in os.listdir('/proc') if p.isdigit()]), 'env': sorted(os.environ),\n"
        "  'aecourse': sorted(os.listdir('/opt/aecourse/aecourse'))[:3],\n"
        "  'writable_usr': os.access('/usr', os.W_OK)}))\n")]
    os.environ["AECOURSE_TEST_SECRET"] = "x"
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    finally:
        del os.environ["AECOURSE_TEST_SECRET"]
    seen = json.loads(result.stdout)
    assert seen["uid"] == sandbox.UID_BASE + 999 and seen["net"] == "down" and not seen["writable_usr"]
    assert seen["procs"] <= 3
    assert set(seen["root"]) <= {"usr", "bin", "lib", "lib64", "sbin", "etc", "root", "proc", "dev", "tmp", "home",
                                 "opt", "run"}
    assert "AECOURSE_TEST_SECRET" not in seen["env"]
    assert not (package / "solutions").exists() and "__init__.py" in seen["aecourse"]


def test_grader_code_runs_from_the_staged_copy_whatever_is_installed(tmp_path):
    from aegrader.jobs import python_command

    package = sandbox.stage_package(tmp_path)
    (package / "aegrader" / "probe.py").write_text(
        "def main():\n    import aecourse, sys\n    print(aecourse.__file__, sys.path[1:2])\n")
    shadow = tmp_path / "cwd" / "aecourse"  # a package in the current folder must not win either
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise SystemExit('the wrong aecourse')\n")
    result = subprocess.run(python_command(package, "aegrader.probe"), capture_output=True, text=True,
                            cwd=tmp_path / "cwd", env={**os.environ, "PYTHONPATH": str(tmp_path / "cwd")}, timeout=60)
    assert result.stdout.startswith(str(package / "aecourse" / "__init__.py")), result.stderr


def test_the_sandbox_side_loads_no_instructor_code_and_no_unused_grammar(tmp_path):
    # Each submission pays for these imports twice (the runner, then the harvest in its
    # kernel): the batch's aecourse and scikit-learn cost 2 CPU s each time, and
    # rfc3987_syntax compiles a grammar on nbformat's import (2 s) that no notebook uses.
    package = sandbox.stage_package(tmp_path)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import aegrader.runner, aegrader.kernel; "
            "from aegrader.notebook import without_iri_checks; without_iri_checks(); import nbformat, nbclient; "
            "print(sorted(m for m in ('aecourse', 'sklearn', 'rfc3987_syntax', 'aegrader.batch') if sys.modules.get(m)))")
    result = subprocess.run([sys.executable, "-I", "-c", code, str(package)], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip() == "[]", result.stderr[-2000:]


def test_the_grading_command_compiles_no_unused_grammar(tmp_path):
    # The instructor's side pays it once per command (2-5 CPU s): every master's test and every
    # grading test runs one. The control: the same script without the entry point loads it.
    script = ("import sys, aegrader\ntry:\n    aegrader.main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
              "import nbformat\nprint(bool(sys.modules.get('rfc3987_syntax')))\n")
    folder = tmp_path / "empty"
    folder.mkdir()
    args = [str(folder), "--assignment", "02_mnist_pca", "--out", str(tmp_path / "out"), "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.stdout.strip().splitlines()[-1:] == ["False"], result.stdout + result.stderr[-2000:]
    control = subprocess.run([sys.executable, "-c", "import sys, nbformat; print(bool(sys.modules.get("
                              "'rfc3987_syntax')))"], capture_output=True, text=True, env=env, timeout=120)
    try:
        importlib.metadata.version("rfc3987-syntax")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("rfc3987-syntax is not installed here: there is no grammar to skip")
    assert control.stdout.strip() == "True", control.stderr[-2000:]


def test_cgroup_v2_without_controllers_is_refused_with_how_to_enable_them(tmp_path, monkeypatch):
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("cpu\n")
    monkeypatch.setattr(cgroup, "ROOT", tmp_path)
    message = cgroup.available()
    assert "cgroup v2 without the memory, pids controller(s)" in message and "echo '+memory +pids +cpu'" in message
    (tmp_path / "cgroup.subtree_control").write_text("cpu memory pids\n")
    assert cgroup.available() == ""  # the control: with them, groups can be made


# --- the output folder ------------------------------------------------------------------------

def test_links_fifos_and_devices_at_output_paths_are_replaced_not_followed(tmp_path):
    victim = tmp_path / "instructor.txt"
    victim.write_text("keep me")
    out = tmp_path / "out"
    (out / "results").mkdir(parents=True)
    (out / "executed").mkdir()
    os.mkfifo(out / "results" / "x.json")
    (out / "executed" / "x.ipynb").symlink_to(victim)
    with OutputFolder(out) as folder:
        assert folder.read("results", "x.json") is None  # no hang on the FIFO
        assert folder.read("executed", "x.ipynb") is None  # the link is not followed
        folder.write("results", "x.json", "{}")
        folder.write("executed", "x.ipynb", "new")
    assert (out / "results" / "x.json").read_text() == "{}"
    assert not (out / "executed" / "x.ipynb").is_symlink() and victim.read_text() == "keep me"


def test_a_linked_subfolder_is_refused(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "results").symlink_to(tmp_path / "elsewhere")
    with OutputFolder(tmp_path / "out") as folder, pytest.raises(OSError, match="not a plain folder"):
        folder.write("results", "x.json", "{}")
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_only_one_grader_writes_to_an_output_folder(tmp_path):
    with OutputFolder(tmp_path):
        with pytest.raises(GradebookBusy, match="another grader"):
            OutputFolder(tmp_path)
    OutputFolder(tmp_path).close()  # free again


def test_atomic_write_keeps_the_old_file_when_interrupted(tmp_path, monkeypatch):
    with OutputFolder(tmp_path) as folder:
        folder.write("", "gradebook.csv", "old complete gradebook\n")

        def crash(*args, **kwargs):
            raise KeyboardInterrupt

        monkeypatch.setattr("os.replace", crash)
        with pytest.raises(KeyboardInterrupt):
            folder.write("", "gradebook.csv", "new gradebook, half writ")
    assert (tmp_path / "gradebook.csv").read_text() == "old complete gradebook\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "gradebook.csv"]


@pytest.mark.parametrize("name", ["a" * 243 + ".ipynb", "é" * 120 + ".ipynb", "../../x.ipynb", "a b\nc.ipynb"])
def test_disk_names_are_short_safe_and_distinct(name):
    made = disk_name(name, ".json")
    assert len(made.encode()) <= 80 and "/" not in made and "\n" not in made and " " not in made
    assert made != disk_name(name + "x", ".json")


def test_spreadsheet_formulas_are_neutralised():
    for text in ("=HYPERLINK(\"x\")", "+1", "-2", "@SUM(1)"):
        assert csv_safe(text) == "'" + text
    assert csv_safe("alice.ipynb") == "alice.ipynb"


def test_nbformat_3_is_converted_and_garbage_is_explained():
    nb = nbformat.read(ROOT / "exercises" / "02_mnist_pca" / "02_mnist_pca.ipynb", as_version=4)
    old = nbformat.writes(nbformat.convert(nb, 3)).encode()
    assert json.loads(old)["nbformat"] == 3
    converted = read_submission(old)
    assert converted.nbformat == 4 and len(converted.cells) > 5
    with pytest.raises(SubmissionError, match="nested too deeply|not valid"):
        read_submission(b"[" * 100_000)


def test_batches_merge_and_a_result_is_reused_only_when_everything_matches(tmp_path, needs_bwrap, monkeypatch):
    from aegrader import batch
    from aegrader.limits import GradingLimits

    first, second = tmp_path / "monday", tmp_path / "tuesday"
    first.mkdir()
    second.mkdir()
    (first / "alice.ipynb").write_bytes(b"")  # cannot run: graded without a sandbox, in a second
    (second / "bob.ipynb").write_bytes(b"{}")
    out = tmp_path / "out"
    batch.grade_folder(first, "02_mnist_pca", out, progress=False)
    batch.grade_folder(second, "02_mnist_pca", out, progress=False)
    with open(out / "gradebook.csv", newline="") as f:
        assert {row["submission"] for row in csv.DictReader(f)} == {"alice.ipynb", "bob.ipynb"}
    record = out / "results" / disk_name("alice.ipynb", ".json")
    written = record.stat().st_mtime_ns
    batch.grade_folder(first, "02_mnist_pca", out, progress=False)
    assert record.stat().st_mtime_ns == written  # same file, tests and limits: reused
    batch.grade_folder(first, "02_mnist_pca", out, progress=False, limits=GradingLimits(timeout=5))
    assert record.stat().st_mtime_ns != written  # other limits: graded again
    written = record.stat().st_mtime_ns
    from aegrader import assignment

    real_tests = assignment.autograder_tests
    monkeypatch.setattr(assignment, "autograder_tests", lambda master: {
        q: src + "\n# changed\n" for q, src in real_tests(master).items()})
    batch.grade_folder(first, "02_mnist_pca", out, progress=False, limits=GradingLimits(timeout=5))
    assert record.stat().st_mtime_ns != written  # other tests: graded again


def test_an_environment_under_tmp_is_bound_over_the_fresh_tmp(monkeypatch):
    # A virtualenv made under /tmp must stay visible: its bind comes after the tmpfs that
    # replaces /tmp, and /tmp itself keeps the tmpfs's permissions (no --dir over it).
    monkeypatch.setattr(sandbox, "_python_roots", lambda: ["/tmp/venv-x"])
    args = sandbox.command("/usr/bin/bwrap", "/staged", uid=61000)
    tmpfs = args.index("--tmpfs", args.index("1777")) + 1
    assert args[tmpfs] == "/tmp"
    bind = [i for i in range(len(args) - 2) if args[i:i + 3] == ["--ro-bind", "/tmp/venv-x", "/tmp/venv-x"]]
    assert bind and bind[0] > tmpfs
    assert not any(args[i:i + 2] == ["--dir", "/tmp"] for i in range(len(args) - 1))
