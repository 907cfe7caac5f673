"""Every chapter and exercise runs where only the Colab cell's installs and a stock Colab are.

The Colab cell (:func:`aecourse.notebooks.colab_cell_source`) installs the course
package, whose dependencies are in ``pyproject.toml`` (and, for an exercise, Otter). A
stock Colab runtime brings TensorFlow, Keras, IPython and SciPy. A notebook that imports
anything else, or a course module it imports that does at import time, stops on Colab:
before this test, every chapter did at ``from myst_nb import glue``.
"""

import ast
import sys
import tomllib

import pytest

from conftest import ROOT

COLAB_STOCK = {"tensorflow", "keras", "IPython", "scipy"}  # on every Colab runtime
INSTALL_NAMES = {"scikit-learn": "sklearn"}  # distribution name -> the name it is imported as


def installed_by_the_colab_cell(exercise):
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {INSTALL_NAMES.get(d, d) for d in dependencies} | {"aecourse"}
    return names | ({"otter"} if exercise else set())


def imports(source):
    """The modules ``source`` imports at its top level (not inside functions), by full name."""
    found = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.add(node.module)
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            found |= imports(ast.unparse(node.body if not isinstance(node, ast.Try) else node.body))
    return found


def notebook_imports(path):
    import nbformat

    nb = nbformat.read(path, as_version=4)
    found = set()
    for cell in nb.cells:
        if cell.cell_type == "code":
            lines = [line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))]
            found |= imports("\n".join(lines))
    return found


def with_course_modules(modules, seen=None):
    """``modules`` and what the course modules among them import at import time, recursively."""
    seen = set() if seen is None else seen
    for module in sorted(modules - seen):
        seen.add(module)
        if module.split(".")[0] == "aecourse":
            parts = module.split(".")
            path = ROOT.joinpath(*parts).with_suffix(".py")
            if not path.exists():
                path = ROOT.joinpath(*parts, "__init__.py")
            with_course_modules(imports(path.read_text()), seen)
    return seen


NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb")) + sorted((ROOT / "exercises").glob("*/*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_notebook_imports_only_what_the_colab_cell_installs(path):
    allowed = installed_by_the_colab_cell(exercise="exercises" in path.parts) | COLAB_STOCK
    modules = with_course_modules(notebook_imports(path))
    missing = sorted(m for m in modules if m.split(".")[0] not in allowed | set(sys.stdlib_module_names))
    assert missing == [], f"{path.name} needs {missing}, which Colab does not have"


def test_the_check_sees_an_import_the_colab_cell_does_not_install():
    assert with_course_modules({"aecourse.book"}) >= {"aecourse.book"}
    modules = with_course_modules(imports("import numpy\nfrom myst_nb import glue\n"))
    assert "myst_nb" in modules and "myst_nb" not in installed_by_the_colab_cell(False) | COLAB_STOCK
