"""A pytest plugin (``-p xdist_groups`` in pyproject.toml): which tests share a worker.

pytest runs on every core (pytest-xdist with ``--dist loadgroup``). Each test file is one
group, so a notebook's cells run in order in one worker's kernel, whether pytest runs the
whole suite or one notebook; the files that share an expensive session fixture are one
group, so that fixture is made once; the groups expected to take longest run first.
Loaded as a plugin rather than from ``tests/conftest.py`` so that
``pytest book/05_stacked.ipynb`` groups too.
"""

import csv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_GROUPS = {
    "book": ("tests/test_book.py", "tests/test_browser.py"),  # the built book (`built`)
    # the session's `graded` batch
    "grading": ("tests/test_grading.py", "tests/test_grading_attacks.py", "tests/test_grading_holes.py",
                "tests/test_grading_cluster.py"),
}
_GROUP_OF = {path: group for group, paths in SHARED_GROUPS.items() for path in paths}
# Rough seconds of the shared groups on a 2-core machine (a fresh-clone run, December 2026), for
# ordering only: a wrong guess costs speed, never a result.
SHARED_GROUP_SECONDS = {"grading": 470.0, "book": 190.0, "tests/test_grading_masters.py": 230.0}


def group_of(path):
    """The xdist group of a test file: its shared group, or its own path."""
    path = Path(path).resolve()
    try:
        name = path.relative_to(ROOT).as_posix()
    except ValueError:  # a file outside the repository, such as a test's own tmp_path
        name = path.as_posix()
    return _GROUP_OF.get(name, name)


def expected_seconds():
    """How long each group takes, as far as is known: notebooks from book/running_times.csv."""
    seconds = dict(SHARED_GROUP_SECONDS)
    try:
        with open(ROOT / "book" / "running_times.csv", newline="") as f:
            for row in csv.DictReader(f):
                seconds[f"{row['notebook']}.ipynb"] = float(row["seconds"] or 0)
    except (OSError, KeyError, ValueError):
        pass
    return seconds


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark every test with its file's group, before xdist reads the marks; longest groups first.

    xdist hands the groups out in this order (``--no-loadscope-reorder``), so the
    longest start first and the short ones fill in at the end.
    """
    seconds, group = expected_seconds(), {}
    for item in items:
        group[item] = group_of(item.path)
        item.add_marker(pytest.mark.xdist_group(group[item]))
    items.sort(key=lambda item: -seconds.get(group[item], 0.0))  # stable within a group
