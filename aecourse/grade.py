"""``python -m aecourse.grade SUBMISSIONS --assignment NAME``: grade a folder of notebooks.

A thin entry point; the grader lives in :mod:`aecourse.grading`.
"""

import sys

from .grading import GradingLimits, grade_folder, main

__all__ = ["GradingLimits", "grade_folder", "main"]

if __name__ == "__main__":
    sys.exit(main())
