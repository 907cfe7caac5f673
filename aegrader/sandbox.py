"""The sandbox a submission runs in: a bubblewrap command line.

Each job runs ``python -m aegrader.runner`` under ``bwrap`` (Debian's
``bubblewrap``) with

- new mount, PID, network, IPC, UTS and cgroup namespaces: it sees only its own
  processes, has no network (a loopback of its own, for its Jupyter kernel) and no
  other job's kernels;
- a file system built from nothing: the Python environment, ``/usr``, ``/lib`` and
  ``/bin`` read-only, copies of the ``aecourse`` and ``aegrader`` packages (without the repository, so
  without ``solutions/``), fresh ``/proc`` and ``/dev``, and size-capped tmpfs for the
  scratch home, ``/tmp`` and ``/dev/shm``, and the job's cgroup CPU counter (read-only). Not the repository, the submissions folder,
  ``--out``, ``/root``, ``/home`` or another job's scratch;
- its own unprivileged user id (no capabilities, ``no_new_privs``), a cleared
  environment, a new session (no terminal injection), and death with its parent.

The limits on memory, processes and CPU time come from the job's cgroup
(:mod:`aegrader.cgroup`), which the sandbox cannot leave.
"""

import os
import shutil
import sys
import sysconfig
from pathlib import Path

__all__ = ["SandboxUnavailable", "find_bwrap", "INSTALL_HINT", "stage_package", "command", "environment"]

INSTALL_HINT = ("bubblewrap is not installed: install it with `apt-get install bubblewrap` "
                "(or grade without a sandbox, at your own risk, with --unsafe-no-sandbox)")
HOME = "/home/student"
PACKAGE_DIR = "/opt/aecourse"
UID_BASE = 61000  # sandbox user ids: 61000 + slot; no account or file on the host has them


class SandboxUnavailable(RuntimeError):
    pass


def find_bwrap():
    """The bwrap executable, or raise :class:`SandboxUnavailable` with how to install it."""
    path = shutil.which("bwrap") or ("/usr/bin/bwrap" if os.access("/usr/bin/bwrap", os.X_OK) else None)
    if not path:
        raise SandboxUnavailable(INSTALL_HINT)
    return path


STAGED_PACKAGES = ("aecourse", "aegrader")  # the course's helpers (the notebooks import them) and the grader


def stage_package(work_root):
    """Copy the aecourse and aegrader packages (Python files only) to ``work_root/pkg``; return that folder."""
    import importlib

    target = Path(work_root) / "pkg"
    for name in STAGED_PACKAGES:
        source = Path(importlib.import_module(name).__file__).resolve().parent
        shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for path in [target, *target.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


def _python_roots():
    """Folders the Python environment lives in (prefixes and site-packages)."""
    roots = {sys.base_prefix, sys.prefix, sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    roots = sorted({str(Path(r).resolve()) for r in roots if r and Path(r).exists()})
    return [r for r in roots if not any(r != o and r.startswith(o + os.sep) for o in roots)]


def _bind_with_parents(args, path, seen):
    """``--ro-bind`` path, after creating each missing parent as a traversable folder."""
    parents = list(Path(path).parents)[::-1][1:]
    for parent in parents:
        if str(parent) not in seen:
            seen.add(str(parent))
            args += ["--perms", "0755", "--dir", str(parent)]
    args += ["--ro-bind", path, path]


def command(bwrap, package_dir, uid, cpu_file=None, scratch_mb=512, threads=1):
    """The full command line that runs the runner in a fresh sandbox."""
    args = [bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--clearenv", "--hostname", "sandbox"]
    seen = {"/"}
    for system in ("/usr", "/bin", "/lib", "/lib64", "/sbin"):
        if os.path.exists(system):
            args += (["--symlink", os.readlink(system), system] if os.path.islink(system)
                     else ["--ro-bind", system, system])
    for etc in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime"):
        if os.path.exists(etc):
            _bind_with_parents(args, etc, seen)
    seen.add("/etc")
    size = str(int(scratch_mb) * 2**20)
    args += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", size, "--tmpfs", "/tmp",
             "--perms", "1777", "--size", size, "--tmpfs", "/dev/shm",
             "--perms", "0755", "--dir", "/home",
             "--perms", "1777", "--size", size, "--tmpfs", HOME,
             "--perms", "0755", "--dir", "/opt",
             "--ro-bind", str(package_dir), PACKAGE_DIR]
    # After the tmpfs mounts, so that an environment under /tmp (a virtualenv made
    # there) is bound on top of the fresh /tmp instead of being hidden by it.
    seen.update({"/proc", "/dev", "/tmp", "/dev/shm", "/home", HOME, "/opt"})
    for root in _python_roots():
        if not root.startswith(("/usr/", "/bin/", "/lib")):
            _bind_with_parents(args, root, seen)
    if cpu_file:
        args += ["--perms", "0755", "--dir", "/run/aecourse", "--ro-bind", str(cpu_file), "/run/aecourse/cpu"]
    for key, value in environment(threads).items():
        args += ["--setenv", key, value]
    args += ["--chdir", HOME, "--"]
    # -I: no current folder (the student's home) and no environment variable on sys.path.
    runner = f"import sys; sys.path.insert(0, {PACKAGE_DIR!r}); from aegrader.runner import main; sys.exit(main())"
    args += ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
             "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs",
             sys.executable, "-I", "-c", runner]
    return args


def environment(threads=1, home=HOME, package_dir=PACKAGE_DIR):
    """The whole environment of a job: nothing of the instructor's."""
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "USER": "student",
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
        "PYTHONPATH": package_dir,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "MPLCONFIGDIR": f"{home}/.matplotlib",
        "IPYTHONDIR": f"{home}/.ipython",
        "JUPYTER_RUNTIME_DIR": f"{home}/.jupyter-runtime",
        "XDG_CACHE_HOME": f"{home}/.cache",
        "KERAS_HOME": f"{home}/.keras",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "AECOURSE_MNIST": "embedded",
        "TF_NUM_INTEROP_THREADS": "1",
    }
    # Submissions graded side by side share the cores instead of fighting over them.
    for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        env[key] = str(threads)
    return env
