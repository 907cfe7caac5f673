"""Public checks that speak to students in plain words.

The public checks of an exercise (what ``grader.check("q1")`` runs in the
student's notebook) are Otter test files generated from the master notebook.
:mod:`aecourse.assign` makes them import :class:`test_case` from here instead
of from Otter. Two things change, for those test files only:

- Before a check runs, the answers it takes are looked at: an answer still
  ``...``, a function whose body is still ``...``, or a name that was never
  defined gets a message that says what to do ("fill in your answer in place
  of ``...``"), instead of what the check's code trips over
  ("should be a float, got ellipsis").
- A failing check shows its message alone, not Otter's "Error at line 14 in test
  q1" with a line of a test file the student cannot see. An error raised by the
  student's own code is named, with its message, as Python printed it.

The batch grader (:mod:`aecourse.grade`) runs the autograder tests, which keep
Otter's own ``test_case``; its scores and feedback do not depend on this module.
"""

import inspect
import re
import textwrap
import types

from otter.test_files import test_case as _otter_test_case
from otter.test_files.exception_test import ExceptionTestFile

__all__ = ["test_case", "IMPORT_LINE", "MESSAGE_WIDTH", "unanswered", "plain_message"]

IMPORT_LINE = "from aecourse.checks import test_case"

# Names a check may take that are not answers: the data and the helpers the
# exercise itself sets up.
_GIVEN = {"env", "x_train", "y_train", "x_test", "y_test", "np", "keras", "tf"}


def _is_stub(function):
    """Whether ``function``'s body is only ``...`` (or ``pass``, or a docstring)."""
    code = getattr(function, "__code__", None)
    if code is None:
        return False

    def stub(*args, **kwargs):
        ...

    return code.co_code == stub.__code__.co_code and set(code.co_consts) <= {None, Ellipsis,
                                                                            function.__doc__}


def unanswered(name, value, defined=True):
    """A plain message if the answer ``name`` is not given yet, else None.

    A class is unanswered while one of the methods written in its own body is a stub
    (``Sampling.call`` of exercise 11): its checks would otherwise fail inside their own
    code, on the ``None`` the stub returns.
    """
    if not defined:
        return (f"{name} is not defined yet: write your answer in its cell and run that cell "
                "(and the cells above it, from the top)")
    if value is Ellipsis:
        return f"fill in your answer for {name} in place of ..., then run its cell"
    if isinstance(value, types.FunctionType) and _is_stub(value):
        return f"write the body of {name} in place of ..., then run its cell"
    if isinstance(value, type):
        stubs = [f"{name}.{method}" for method, member in vars(value).items()
                 if isinstance(member, types.FunctionType) and _is_stub(member)]
        if stubs:
            return f"write the body of {' and '.join(stubs)} in place of ..., then run its cell"
    return None


class test_case(_otter_test_case):
    """Otter's test case, run only once every answer it takes has been given."""

    def call_func(self, global_environment):
        for name in inspect.signature(self.test_func).parameters:
            if name in _GIVEN:
                continue
            message = unanswered(name, global_environment.get(name),
                                 defined=name in global_environment)
            if message:
                raise AssertionError(message)
        super().call_func(global_environment)


MESSAGE_WIDTH = 78  # JupyterLab wraps longer lines mid-word (about 95 characters with the file browser open)


def plain_message(excp):
    """What a student reads when a check fails with the exception ``excp``, in lines that end between words."""
    text = str(excp).strip()
    # Otter's HTML view prints the message unescaped, where `<class 'NoneType'>` reads as a
    # tag and vanishes: name the type, and show any other <...> in brackets a browser keeps.
    text = re.sub(r"<class '([\w.]+)'>", r"\1", text)
    text = re.sub(r"<([A-Za-z][^<>]*)>", r"‹\1›", text)
    if isinstance(excp, KeyError):
        text = text.strip("'")
    if isinstance(excp, AssertionError):
        text = text or "this check failed: compare your answer with what the question asks"
    else:
        # Running a cell that only defines a function shows nothing: the traceback comes
        # from calling it.
        text = (f"running your code stopped with an error: {type(excp).__name__}: {text.rstrip('.')}. "
                "To see the line where it happens, call your function (or build your class) yourself "
                "in a new cell, with small inputs")
    return "\n".join(textwrap.fill(paragraph, MESSAGE_WIDTH, break_long_words=False, break_on_hyphens=False)
                     for paragraph in text.splitlines())


_otter_message = ExceptionTestFile._generate_error_message


def _generate_error_message(self, excp, context=0):
    if IMPORT_LINE in getattr(self, "source", ""):
        return plain_message(excp)
    return _otter_message(self, excp, context)


ExceptionTestFile._generate_error_message = _generate_error_message
