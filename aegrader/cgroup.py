"""One cgroup per job: kernel-enforced memory, process and CPU accounting, and a clean kill.

Uses the cgroup v1 controllers ``memory``, ``pids``, ``cpuacct`` and ``freezer`` under
``/sys/fs/cgroup/<controller>/aecourse-grade/<job>``, or a cgroup v2 hierarchy mounted
at ``/sys/fs/cgroup``. Needs root (or a cgroup delegated to the grading user).

Memory counts the whole process tree and the tmpfs pages it writes (scratch, ``/tmp``,
``/dev/shm``); when a job passes its limit the kernel's OOM killer ends a process in it.
Killing a job freezes the cgroup, kills every process in it, and removes it, so no
process of a job survives it, whatever it did with ``setsid`` or double forks.
"""

import os
import signal
import time
from pathlib import Path

__all__ = ["CgroupError", "Cgroup", "available", "remove_stale"]

ROOT = Path("/sys/fs/cgroup")
GROUP = "aecourse-grade"
V1_CONTROLLERS = ("memory", "pids", "cpuacct", "freezer")


class CgroupError(RuntimeError):
    pass


def _version():
    if all((ROOT / c / "cgroup.procs").exists() for c in V1_CONTROLLERS):
        return 1
    if (ROOT / "cgroup.controllers").exists():
        return 2
    return None


def available():
    """A sentence saying why cgroups cannot be used, or '' when they can."""
    version = _version()
    if version is None:
        return "no usable cgroup hierarchy under /sys/fs/cgroup (need memory, pids, cpuacct and freezer)"
    if version == 2:
        enabled = _read(ROOT / "cgroup.subtree_control").split()
        missing = [c for c in ("memory", "pids", "cpu") if c not in enabled]
        if missing:
            return (f"cgroup v2 without the {', '.join(missing)} controller(s) in {ROOT}/cgroup.subtree_control; "
                    f"enable them as root with: echo '+memory +pids +cpu' > {ROOT}/cgroup.subtree_control")
    probe = ROOT / ("memory" if version == 1 else "") / GROUP
    try:
        probe.mkdir(exist_ok=True)
    except OSError as err:
        return f"cannot create cgroups in {probe.parent} ({err.strerror}); run the grader as root"
    return ""


def _write(path, value):
    with open(path, "w") as f:
        f.write(str(value))


def _read(path, default=""):
    try:
        return Path(path).read_text()
    except OSError:
        return default


class Cgroup:
    """A job's cgroup; create with :meth:`create`, end with :meth:`kill`."""

    def __init__(self, name):
        self.name = name
        self.version = _version()
        if self.version == 1:
            self.dirs = {c: ROOT / c / GROUP / name for c in V1_CONTROLLERS}
        else:
            self.dirs = {c: ROOT / GROUP / name for c in V1_CONTROLLERS}

    @classmethod
    def create(cls, name, memory_bytes, max_pids):
        group = cls(name)
        if group.version is None:
            raise CgroupError(available())
        if group.version == 2:
            parent = ROOT / GROUP
            parent.mkdir(exist_ok=True)
            _write(parent / "cgroup.subtree_control", "+memory +pids +cpu")
        for directory in set(group.dirs.values()):
            directory.mkdir(parents=True, exist_ok=True)
        memory = int(memory_bytes)
        if group.version == 1:
            _write(group.dirs["memory"] / "memory.limit_in_bytes", memory)
            if (group.dirs["memory"] / "memory.memsw.limit_in_bytes").exists():
                _write(group.dirs["memory"] / "memory.memsw.limit_in_bytes", memory)  # no escape into swap
            _write(group.dirs["pids"] / "pids.max", int(max_pids))
        else:
            _write(group.dirs["memory"] / "memory.max", memory)
            _write(group.dirs["memory"] / "memory.swap.max", 0)
            _write(group.dirs["pids"] / "pids.max", int(max_pids))
        return group

    def join(self, pid=0):
        """Move ``pid`` (0: the calling process) into the cgroup; safe to call after fork."""
        pid = pid or os.getpid()
        for directory in set(self.dirs.values()):
            _write(directory / "cgroup.procs", pid)

    @property
    def cpu_file(self):
        """The file whose content is the job's CPU time (v1: nanoseconds)."""
        return self.dirs["cpuacct"] / ("cpuacct.usage" if self.version == 1 else "cpu.stat")

    def cpu_seconds(self):
        if self.version == 1:
            return int(_read(self.cpu_file, "0") or 0) / 1e9
        for line in _read(self.cpu_file).splitlines():
            if line.startswith("usage_usec"):
                return int(line.split()[1]) / 1e6
        return 0.0

    def peak_memory_mb(self):
        name = "memory.max_usage_in_bytes" if self.version == 1 else "memory.peak"
        return int(_read(self.dirs["memory"] / name, "0") or 0) / 2**20

    def out_of_memory(self):
        """True once the kernel has refused the job memory (v1 failcnt / v2 oom events)."""
        if self.version == 1:
            control = _read(self.dirs["memory"] / "memory.oom_control")
            kills = [line.split()[1] for line in control.splitlines() if line.startswith("oom_kill ")]
            return bool(kills) and int(kills[0]) > 0
        events = _read(self.dirs["memory"] / "memory.events")
        return any(line.split()[0] in ("oom", "oom_kill") and int(line.split()[1]) > 0
                   for line in events.splitlines() if line.strip())

    def hit_process_limit(self):
        events = _read(self.dirs["pids"] / "pids.events")
        return any(line.startswith("max ") and int(line.split()[1]) > 0 for line in events.splitlines())

    def pids(self):
        found = set()
        for directory in set(self.dirs.values()):
            for line in _read(directory / "cgroup.procs").split():
                found.add(int(line))
        return found

    def kill(self, timeout=20.0):
        """Kill every process of the job and remove the cgroup. Returns True if it is gone."""
        deadline = time.monotonic() + timeout
        while True:
            if self.version == 2 and (self.dirs["memory"] / "cgroup.kill").exists():
                _write(self.dirs["memory"] / "cgroup.kill", 1)
            else:
                freezer = self.dirs["freezer"] / "freezer.state"
                try:
                    _write(freezer, "FROZEN")  # nobody forks while we kill
                except OSError:
                    pass
                for pid in self.pids():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                try:
                    _write(freezer, "THAWED")  # killed processes die once thawed
                except OSError:
                    pass
            time.sleep(0.05)
            if not self.pids():
                break
            if time.monotonic() > deadline:
                return False
        for directory in set(self.dirs.values()):
            try:
                directory.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                time.sleep(0.2)
                try:
                    directory.rmdir()
                except OSError:
                    return False
        return True


def remove_stale(alive_prefix):
    """Kill and remove job cgroups left by graders that died (names not starting with ``alive_prefix``).

    Job cgroups are named ``run<pid>-...``; a group whose grader process is gone is stale.
    """
    version = _version()
    if version is None:
        return 0
    parent = ROOT / ("memory" if version == 1 else "") / GROUP
    removed = 0
    for directory in parent.glob("run*") if parent.exists() else []:
        owner = directory.name[3:].split("-")[0]
        if directory.name.startswith(alive_prefix) or (owner.isdigit() and Path(f"/proc/{owner}").exists()):
            continue
        if Cgroup(directory.name).kill():
            removed += 1
    return removed
