"""The seed spread of the numbers a chapter compares, so that the reader sees it beside them.

A comparison the text learns from counts only when it beats what another seed moves it
(``AECOURSE_SEED_OFFSET`` 0, 100 and 200). Training a chapter three times is more than a
reader's run can afford, so the values at every offset are measured by the timing report
and kept in one JSON file beside the package; the chapter shows its live value with the
range over the three offsets::

    spread = SeedSpread("06_denoising")
    gain = spread.record("gain_gaussian", gain)
    print(spread.text("gain_gaussian", gain, ".1f", " dB"))
    # 8.1 dB (7.9–8.4 over seed offsets 0, 100, 200)

``record`` returns its value unchanged and glues it (hidden) under ``spread_<key>``, so
tests/test_spreads.py can check that the file's offset-0 values are the stored outputs'.
The file holds ``{notebook: {key: {"0": v, "100": v, "200": v}}}``.

Settings (environment variables):

- ``AECOURSE_SPREADS_WRITE=1`` writes every recorded value into the file under the current
  seed offset. ``python -m aecourse.report`` sets it when it writes a chapter's stored
  outputs (offset 0), and ``--spreads`` runs the chapters at offsets 100 and 200 with it.
- ``AECOURSE_STORE_STRICT=1`` (set by the tests) makes a value missing from the file an
  error; otherwise the chapter says so in one line and runs on.
"""

import fcntl
import json
import os
import tempfile
from pathlib import Path

from .runtime import env_flag as _flag
from .runtime import offset_seed

__all__ = ["SPREADS", "OFFSETS", "SpreadError", "SeedSpread", "read"]

SPREADS = Path(__file__).resolve().parent / "seed_spreads.json"
OFFSETS = (0, 100, 200)
# the offsets other than 0 first, then the run that writes offset 0 and the stored outputs
COMMAND = "python -m aecourse.report --spreads book/{0}.ipynb` and `python -m aecourse.report book/{0}.ipynb"


class SpreadError(RuntimeError):
    """A value missing from the file where it must be there (AECOURSE_STORE_STRICT=1)."""


def read(path=None):
    """The file's contents, ``{notebook: {key: {offset: value}}}``; empty when there is none."""
    path = Path(path or SPREADS)
    return json.loads(path.read_text()) if path.exists() else {}


def _write(path, notebook, key, offset, value):
    """Set one value, under a lock and by an atomic replace (runs may write side by side)."""
    lock = Path(tempfile.gettempdir()) / "aecourse-seed-spreads.lock"
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        data = read(path)
        data.setdefault(notebook, {}).setdefault(key, {})[str(offset)] = value
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        tmp.replace(path)


class SeedSpread:
    """The recorded values of one notebook (``"06_denoising"``), read from ``path``."""

    def __init__(self, notebook, path=None):
        self.notebook, self.path = notebook, Path(path or SPREADS)
        self._told, self._glued = set(), set()

    def record(self, key, value):
        """Return ``value`` unchanged; glue it (hidden, once a key), and write it when asked to."""
        from .book import glue

        number = float(value)
        if _flag("AECOURSE_SPREADS_WRITE"):
            _write(self.path, self.notebook, key, offset_seed(0), number)
        if key not in self._glued:  # the book warns of a key glued twice
            self._glued.add(key)
            glue(f"spread_{key}", number, display=False)
        return value

    def range(self, key, value):
        """(low, high) over seed offsets 0, 100, 200, ``value`` standing in for this run's offset.

        Where the file lacks a value: ``(value, value)`` and one line saying so (an error
        under AECOURSE_STORE_STRICT=1).
        """
        values = self._values(key, value)
        return (min(values), max(values)) if values else (float(value), float(value))

    def span(self, key, value, fmt=".3g"):
        """The range as text, ``"7.9–8.4"`` (``fmt`` formats each number)."""
        low, high = self.range(key, value)
        return f"{low:{fmt}}–{high:{fmt}}"

    def text(self, key, value, fmt=".3g", unit=""):
        """``"8.1 dB (7.9–8.4 over seed offsets 0, 100, 200)"``, for a printed line or glue."""
        if not self._values(key, value):
            return f"{value:{fmt}}{unit} (spread over seeds not recorded)"
        offsets = ", ".join(str(o) for o in sorted({*OFFSETS, offset_seed(0)}))
        return f"{value:{fmt}}{unit} ({self.span(key, value, fmt)} over seed offsets {offsets})"

    def overlap(self, key_a, a, key_b, b):
        """Whether the ranges of two compared numbers overlap: no measurable difference."""
        (low_a, high_a), (low_b, high_b) = self.range(key_a, a), self.range(key_b, b)
        return low_a <= high_b and low_b <= high_a

    def table(self, rows):
        """Record and print compared numbers, one a line: label, value, range over the offsets.

        ``rows`` holds ``(label, key, value, fmt)``, or None for an empty line between groups.
        """
        lines = []
        for row in rows:
            if row is None:
                lines.append(("", "", ""))
                continue
            label, key, value, fmt = row
            self.record(key, value)
            lines.append((label, f"{value:{fmt}}", self.span(key, value, fmt)))
        width, digits = (max(len(line[i]) for line in [("", "value"), *lines]) for i in (0, 1))
        print(f"{'':{width}}  {'value':>{digits}}  offsets 0/100/200")
        for label, value, span in lines:
            print(f"{label:{width}}  {value:>{digits}}  {span}".rstrip())

    def _values(self, key, value):
        """The values at every offset, this run's live; empty (and said once) when some are missing."""
        current = offset_seed(0)
        stored = read(self.path).get(self.notebook, {}).get(key, {})
        missing = [o for o in OFFSETS if o != current and str(o) not in stored]
        if missing:
            message = (f"{self.notebook}: {key!r} has no value for seed offset{'s' * (len(missing) > 1)}"
                       f" {', '.join(map(str, missing))} in {self.path.name}; run"
                       f" `{COMMAND.format(self.notebook)}`")
            if _flag("AECOURSE_STORE_STRICT"):
                raise SpreadError(message)
            if key not in self._told:
                self._told.add(key)
                print(message)
            return []
        return [float(value)] + [stored[str(o)] for o in OFFSETS if o != current]
