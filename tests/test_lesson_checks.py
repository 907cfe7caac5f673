"""The chapters' hidden lesson checks and their numeric tolerance rules are in place and valid.

nbval runs the lesson checks (tests/nbval_tolerance.py explains the tolerance rules); these
tests check the notebooks themselves: that each chapter states its lessons as assertions, that
the book hides them, and that no tolerance rule is stale (a rule that matches no stored output
would let nothing through, or silently start matching something else later).
"""

import re
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT
from nbval_tolerance import _fields, _glue_name, _text, cell_rules

CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
NOTEBOOKS = CHAPTERS + sorted((ROOT / "solutions").glob("*.ipynb"))


def read(path):
    return nbformat.read(path, as_version=4)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_asserts_its_lessons_in_hidden_cells(path):
    checks = [c for c in read(path).cells if "lesson-check" in c.metadata.get("tags", [])]
    assert checks, f"{path.name} has no lesson-check cell"
    for cell in checks:
        assert cell.cell_type == "code" and "remove-cell" in cell.metadata["tags"], cell.source[:80]
        assert re.search(r"^\s*assert ", cell.source, re.MULTILINE), f"a lesson check asserts nothing: {cell.source[:80]}"
        assert not cell.outputs, f"a lesson check printed something: {cell.source[:80]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_tolerance_rule_is_valid_and_matches_a_stored_output(path):
    for index, cell in enumerate(read(path).cells):
        rules = cell_rules(cell)  # raises on an unknown kind or a malformed rule
        texts = [_text(get()) for o in cell.get("outputs", []) for key, get, _ in _fields(o)
                 if not key.startswith("image/")]
        lines = [line for text in texts if isinstance(text, str) for line in text.split("\n")]
        glued = [_glue_name(o) for o in cell.get("outputs", []) if _glue_name(o)]
        for rule in rules:
            if "line" in rule:
                assert any(re.search(rule["line"], line) for line in lines), f"{path.name} cell {index}: {rule} matches no line"
            else:
                assert any(re.fullmatch(rule["glue"], name) for name in glued), f"{path.name} cell {index}: {rule} names no glued value"


def test_the_book_hides_the_lesson_checks(built):
    for edition, html in built.items():
        for page in Path(html, "book").glob("*.html"):
            assert "Lesson check" not in page.read_text(), f"{edition} edition: {page.name} shows a lesson check"
