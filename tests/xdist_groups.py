"""A pytest plugin (``-p xdist_groups`` in pyproject.toml): which tests share a worker.

pytest runs on every core (pytest-xdist with ``--dist loadgroup``). Each test file is one
group, so a notebook's cells run in order in one worker's kernel, whether pytest runs the
whole suite or one notebook; the files that share an expensive session fixture are one
group, so that fixture is made once. Loaded as a plugin rather than from
``tests/conftest.py`` so that ``pytest book/05_stacked.ipynb`` groups too.
"""

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


def group_of(path):
    """The xdist group of a test file: its shared group, or its own path."""
    path = Path(path).resolve()
    try:
        name = path.relative_to(ROOT).as_posix()
    except ValueError:  # a file outside the repository, such as a test's own tmp_path
        name = path.as_posix()
    return _GROUP_OF.get(name, name)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark every test with its file's group, before xdist reads the marks."""
    for item in items:
        item.add_marker(pytest.mark.xdist_group(group_of(item.path)))
