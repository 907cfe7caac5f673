"""Finding the submitted notebooks in a folder, without trusting anything found there."""

import errno
import os
import stat

__all__ = ["MAX_SUBMISSION_BYTES", "find_submissions"]

MAX_SUBMISSION_BYTES = 100 * 2**20  # a notebook with its outputs; far above any real one


def _display(name):
    """A file name as text: bytes that are not UTF-8 are shown as ``\\xNN``."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _read(path):
    """The file's bytes, or a sentence saying why it cannot be graded."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        return "it is a link, not a file" if err.errno == errno.ELOOP else \
            f"the file cannot be read ({err.strerror})"
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            return "it is not a regular file"
        if info.st_size > MAX_SUBMISSION_BYTES:
            return f"the file is larger than {MAX_SUBMISSION_BYTES // 2**20} MB"
        return f.read(MAX_SUBMISSION_BYTES)


def find_submissions(folder):
    """``{name: bytes or a reason it cannot be graded}`` for every ``*.ipynb`` (any case).

    Links, FIFOs, devices and folders are never opened for reading; two names that
    show as the same text are both kept, the second one marked.
    """
    found = {}
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if not entry.name.lower().endswith(".ipynb"):
            continue
        name = _display(entry.name)
        if name in found:
            name = f"{name} (another file whose name shows as the same)"
            found[name] = "its name cannot be told apart from another file's; rename it"
            continue
        found[name] = _read(entry.path)
    return found
