"""An assignment's tests, public and hidden, held in memory only, as plain data.

:class:`Assignment` crosses to a grading worker as it is (a dataclass of strings,
lists and numbers): a worker needs neither the repository nor ``solutions/``.
"""

import hashlib
import json
from dataclasses import dataclass, field

from aecourse.assign import AssignError, autograder_tests, master_path

__all__ = ["Assignment"]


@dataclass(frozen=True)
class Assignment:
    """The master notebook's tests, set-up code, answer names and points.

    Make one with :meth:`load`.
    """

    name: str
    tests: dict = field(repr=False)  # {question: otter test file source}, hidden tests included
    given_code: list = field(repr=False)  # the master's set-up cells, which the judge runs itself
    answers: list = field(default_factory=list)  # the names the tests take from the submission
    possible: dict = field(default_factory=dict)  # {question: points}
    digest: str = ""  # of the tests and the set-up code: part of every resume key

    @classmethod
    def load(cls, name):
        """``name``: a master in ``solutions/`` (``"02_mnist_pca"``) or the path of a master notebook.

        Raises :class:`~aecourse.assign.AssignError` when a test's probe breaks the rules
        of :func:`aegrader.probes.lint`, or a reference uses more than the set-up values.
        """
        import nbformat
        from otter.test_files.exception_test import ExceptionTestFile

        from .notebook import master_parts

        from .probes import lint

        master = master_path(name)
        tests = autograder_tests(master)
        parts = master_parts(nbformat.read(master, as_version=4), tests)
        # A probe runs in the student's kernel and may hold no verdict; a reference runs on set-up values only.
        wrong = [f"{q}: {problem}" for q, src in sorted(tests.items()) for problem in lint(src, parts["given_names"])]
        if wrong:
            raise AssignError(f"{master.name}: " + "; ".join(wrong))
        possible = {q: float(ExceptionTestFile.from_string(src, path=f"{q}.py").possible)
                    for q, src in sorted(tests.items())}
        digest = hashlib.sha256(json.dumps([tests, parts["given_code"]], sort_keys=True).encode()).hexdigest()
        return cls(master.stem, tests, parts["given_code"], parts["answers"], possible, digest)

    def judge_setup(self, limits):
        """What the judge server needs, as one line of JSON."""
        return json.dumps({"file_name": f"{self.name}.ipynb", "tests": self.tests, "given_code": self.given_code,
                           "answers": self.answers, "limits": limits.as_dict()}) + "\n"
