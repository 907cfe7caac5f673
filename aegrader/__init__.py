"""Batch grading of submitted notebooks, each in its own sandbox.

Instructor side: :mod:`.batch` (the batch), :mod:`.gradebook` (the output folder),
:mod:`.cgroup` and :mod:`.sandbox` (the wall), :mod:`.judge` and :mod:`.probes` (scores,
outside the wall). Sandbox side: :mod:`.runner` and :mod:`.kernel` (in the student's
kernel). Both: :mod:`.plain` (the only data that crosses) and :mod:`.notebook`. One submission, one task: :mod:`.task` (local threads or Dask
workers). Command line: :mod:`.cli`, run as ``python -m aegrader`` or ``python -m aecourse.grade``.

The names below are loaded when first used: the sandbox side imports
:mod:`.plain` and :mod:`.kernel` in every submission's kernel, and the batch would
bring ``aecourse`` and scikit-learn with it (about 2 CPU seconds, twice per submission).
"""

__all__ = ["GradingLimits", "grade_folder", "output_folder", "main"]


def __getattr__(name):
    if name in ("grade_folder", "output_folder"):
        from . import batch

        return getattr(batch, name)
    if name == "GradingLimits":
        from .limits import GradingLimits

        return GradingLimits
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv=None):
    from .notebook import without_iri_checks

    without_iri_checks()  # before anything imports nbformat: 2-5 s less for every grading command
    from .cli import main as cli_main

    return cli_main(argv)
