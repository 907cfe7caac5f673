"""``python -m aecourse.grade SUBMISSIONS --assignment NAME``: grade a folder of notebooks.

A thin entry point kept for the course's commands; the grader is the top-level package
:mod:`aegrader` (also ``python -m aegrader``).
"""

import sys

from aegrader import GradingLimits, grade_folder, main

__all__ = ["GradingLimits", "grade_folder", "main"]

if __name__ == "__main__":
    sys.exit(main())
