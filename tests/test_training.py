"""The training recipe is written once, in chapter 5, and the later chapters call the saved copy."""

import inspect
import json
import math
import re

import pytest

from aecourse import training
from conftest import ROOT

CHAPTER = ROOT / "book" / "05_stacked.ipynb"


def code_of(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def function_source(code, name):
    """The lines of ``def name`` in a chapter's code cell, up to the next unindented line."""
    match = re.search(rf"^def {name}\(.*?(?=^\S)", code + "\n#", re.S | re.M)
    return match.group(0).rstrip() if match else None


def test_chapter_5_writes_the_recipe_the_package_saves():
    chapter = next(filter(None, (function_source(c, "cosine_adam") for c in code_of(CHAPTER))), None)
    assert chapter, "chapter 5 no longer defines cosine_adam"
    saved = inspect.getsource(training.cosine_adam).rstrip()
    # The package imports Keras when the function is called, not when aecourse is imported.
    saved = saved.replace("\n    import keras\n", "")
    assert chapter == saved, "chapter 5's cosine_adam and aecourse.training.cosine_adam differ"


def test_later_chapters_call_the_saved_recipe():
    later = sorted(p for p in (ROOT / "book").glob("*.ipynb") if p.name > CHAPTER.name)
    for notebook in later:
        code = "\n".join(code_of(notebook))
        assert "CosineDecay" not in code and "def cosine_adam" not in code, (
            f"{notebook.name} builds its own schedule: call aecourse.training.cosine_adam"
        )


def test_the_schedule_spans_every_step_and_ends_at_zero():
    keras = pytest.importorskip("keras")
    optimizer = training.cosine_adam(0.003, epochs=3, n_train=1000, batch_size=128)
    schedule = optimizer.learning_rate if callable(optimizer.learning_rate) else optimizer._learning_rate
    steps = 3 * math.ceil(1000 / 128)
    assert isinstance(schedule, keras.optimizers.schedules.CosineDecay)
    assert schedule.decay_steps == steps
    assert float(schedule(0)) == pytest.approx(0.003)
    assert float(schedule(steps // 2)) == pytest.approx(0.0015, rel=1e-3)
    assert float(schedule(steps)) == pytest.approx(0.0, abs=1e-9)
