"""An assignment's tests, public and hidden, held in memory only."""

import hashlib
import json

from ..assign import autograder_tests, master_path

__all__ = ["Assignment"]


class Assignment:
    """The master notebook's tests, set-up code, answer names and points.

    Parameters
    ----------
    name : str
        A master in ``solutions/`` (``"02_mnist_pca"``) or the path of a master notebook.
    """

    def __init__(self, name):
        import nbformat
        from otter.test_files.exception_test import ExceptionTestFile

        from .notebook import master_parts

        self.master = master_path(name)
        self.name = self.master.stem
        self.tests = autograder_tests(self.master)
        parts = master_parts(nbformat.read(self.master, as_version=4), self.tests)
        self.given_code, self.answers = parts["given_code"], parts["answers"]
        self.possible = {q: float(ExceptionTestFile.from_string(src, path=f"{q}.py").possible)
                         for q, src in sorted(self.tests.items())}
        self.digest = hashlib.sha256(json.dumps([self.tests, self.given_code], sort_keys=True).encode()).hexdigest()

    def judge_setup(self, limits):
        """What the judge server needs, as one line of JSON."""
        return json.dumps({"file_name": f"{self.name}.ipynb", "tests": self.tests, "given_code": self.given_code,
                           "answers": self.answers, "limits": limits.as_dict()}) + "\n"
