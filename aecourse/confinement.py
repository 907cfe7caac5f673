"""Keep a submission being graded inside its scratch directory.

The batch grader (:mod:`aecourse.grade`) runs each submission in its own
Jupyter kernel. Its first cell calls :func:`confine`, which installs a Python
audit hook (PEP 578) in that kernel. From then on the student's code

- may read any file, but may create, write, delete, rename or change files only
  inside the scratch directory (and ``/dev``, for ``/dev/null``);
- may not start other programs (``subprocess``, ``os.system``, ``!`` shell
  lines, ``fork``) or signal other processes;
- may print at most ``max_output_bytes`` to stdout and stderr together; the
  rest is dropped, with one line that says so.

A refused action raises ``PermissionError`` in the student's cell, so it shows
up in the feedback like any other exception. Audit hooks cannot be removed once
installed. This guards against accidents (a stray ``shutil.rmtree``, a file
written to the wrong place, a print in an endless loop). It is not a security
boundary against a determined attacker: code that loads C libraries through
``ctypes`` can get past it. Grade untrusted code as an unprivileged user.
"""

import os
import sys

__all__ = ["confine", "OutputLimiter", "TRUNCATION_MARK"]

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC

# Audit events that change the file system, with the positions of their path arguments.
_PATH_EVENTS = {
    "os.remove": (0,),
    "os.rmdir": (0,),
    "os.mkdir": (0,),
    "os.rename": (0, 1),
    "os.link": (0, 1),
    "os.symlink": (0, 1),
    "os.truncate": (0,),
    "os.chmod": (0,),
    "os.chown": (0,),
    "os.chflags": (0,),
    "os.utime": (0,),
    "os.setxattr": (0,),
    "os.removexattr": (0,),
    "shutil.rmtree": (0,),
    "shutil.copyfile": (1,),
    "shutil.copytree": (1,),
    "shutil.move": (0, 1),
    "shutil.make_archive": (0,),
    "shutil.unpack_archive": (1,),
}

_PROCESS_EVENTS = {
    "subprocess.Popen",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.forkpty",
    "os.startfile",
    "pty.spawn",
}

TRUNCATION_MARK = "[output truncated:"

_installed = False


def _resolve(path):
    if isinstance(path, int):  # a file descriptor already open: not a new path
        return None
    try:
        return os.path.realpath(os.fsdecode(path))
    except (TypeError, ValueError):
        return None


class OutputLimiter:
    """Wrap a text stream so that at most ``budget['left']`` bytes pass through.

    Both stdout and stderr share one budget (a dict, so the two wrappers see the
    same count).
    """

    def __init__(self, stream, budget):
        self._stream = stream
        self._budget = budget

    def write(self, text):
        size = len(text.encode("utf-8", "replace"))
        if size <= self._budget["left"]:
            self._budget["left"] -= size
            return self._stream.write(text)
        if not self._budget["told"]:
            self._budget["told"] = True
            self._budget["left"] = 0
            self._stream.write(
                f"\n{TRUNCATION_MARK} more than {self._budget['limit']:,} bytes were printed; "
                "the rest is not shown]\n"
            )
        return len(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def confine(directory, max_output_bytes=1_000_000):
    """Install the audit hook and the output limit for the rest of this process.

    Parameters
    ----------
    directory : str or path-like
        The scratch directory; the only place the code may change files.
    max_output_bytes : int, default=1_000_000
        How much stdout and stderr text the code may produce in total.
    """
    global _installed
    if _installed:
        raise RuntimeError("confine() has already been called in this process")
    allowed = [_resolve(directory), "/dev"]
    if allowed[0] is None or not os.path.isdir(allowed[0]):
        raise ValueError(f"not a directory: {directory!r}")
    own_pid = os.getpid()

    def inside(path):
        resolved = _resolve(path)
        return resolved is None or any(
            resolved == root or resolved.startswith(root + os.sep) for root in allowed
        )

    def refuse(what, path=None):
        where = f": {os.fsdecode(path)}" if path is not None else ""
        raise PermissionError(f"not allowed while grading: {what}{where}")

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE_FLAGS
            )
            if path is not None and writes and not inside(path):
                refuse("writing a file outside the grading directory", path)
        elif event in _PATH_EVENTS:
            for position in _PATH_EVENTS[event]:
                if position < len(args) and args[position] is not None and not inside(args[position]):
                    refuse(f"{event} outside the grading directory", args[position])
        elif event in _PROCESS_EVENTS:
            refuse(f"starting another program ({event})")
        elif event in ("os.kill", "os.killpg") and args and args[0] not in (own_pid, 0):
            refuse(f"signalling another process ({event})")

    sys.addaudithook(hook)
    budget = {"left": int(max_output_bytes), "limit": int(max_output_bytes), "told": False}
    sys.stdout = OutputLimiter(sys.stdout, budget)
    sys.stderr = OutputLimiter(sys.stderr, budget)
    _installed = True
