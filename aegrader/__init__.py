"""Batch grading of submitted notebooks, each in its own sandbox.

Instructor side: :mod:`.batch` (the batch), :mod:`.gradebook` (the output folder),
:mod:`.cgroup` and :mod:`.sandbox` (the wall), :mod:`.judge` (scores, outside the
wall). Sandbox side: :mod:`.runner`. Both: :mod:`.plain` (the only data that crosses)
and :mod:`.notebook`. One submission, one task: :mod:`.task` (local threads or Dask
workers). Command line: :mod:`.cli`, run as ``python -m aegrader`` or ``python -m aecourse.grade``.
"""

from .batch import grade_folder, output_folder
from .limits import GradingLimits

__all__ = ["GradingLimits", "grade_folder", "output_folder", "main"]


def main(argv=None):
    from .cli import main as cli_main

    return cli_main(argv)
