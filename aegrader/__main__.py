"""``python -m aegrader``: the batch grader's command line."""

import sys

from . import main

sys.exit(main())
