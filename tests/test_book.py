"""Build both editions of the HTML book from the stored notebook outputs, warnings as errors."""

import html
import json
import re
from pathlib import Path

import pytest
import yaml

from conftest import EDITIONS, ROOT, toc_files, toc_parts


def sources_of(path):
    """The cell sources of a published notebook, line by line, runs of spaces collapsed as in :func:`text_of`."""
    sources = (line for cell in json.loads(path.read_text())["cells"] for line in "".join(cell["source"]).splitlines())
    return "\n".join(re.sub(r"\s+", " ", line) for line in sources)


def text_of(path):
    """A page's text as a reader sees it: tags removed, entities such as &quot; decoded, spaces collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", path.read_text())))


@pytest.mark.parametrize("edition", EDITIONS)
def test_every_toc_page_is_built(built, edition):
    for name in toc_files(EDITIONS[edition]):
        assert (built[edition] / f"{name}.html").is_file(), f"{name} is in {EDITIONS[edition]} but was not built"


def test_instructor_edition_is_the_student_edition_plus_its_own_part():
    student, instructor = toc_parts("_toc.yml"), toc_parts("_toc_instructor.yml")
    assert instructor[: len(student)] == student
    extra = [c["file"] for part in instructor[len(student):] for c in part["chapters"]]
    assert "book/instructors" in extra
    assert sorted(f for f in extra if f.startswith("solutions/")) == sorted(
        f"solutions/{p.stem}" for p in (ROOT / "solutions").glob("*.ipynb"))
    assert sorted(f for f in toc_files("_toc.yml") if f.startswith("exercises/")) == sorted(
        f"exercises/{p.stem}/{p.stem}" for p in (ROOT / "solutions").glob("*.ipynb"))


def _statements(source):
    """The lines of ``source``, a statement wrapped over several lines joined into one."""
    joined, depth = [], 0
    for line in source.splitlines():
        code = re.sub(r"#.*$", "", re.sub(r"(\"[^\"]*\"|'[^']*')", "", line))
        if depth > 0:
            joined[-1] += " " + line.strip()
        else:
            joined.append(line)
        depth = max(0, depth + sum(code.count(c) for c in "([{") - sum(code.count(c) for c in ")]}"))
    return joined


def solution_lines():
    """Lines of solution code from every master notebook, spaces collapsed as in a page's text.

    A line that the master also gives outside its solutions, alone or within a
    longer line (``keras.layers.Dense(256, activation="relu"),`` in a helper the
    exercise provides), is no secret and is left out; so is a statement that a chapter
    shows as its own lesson code (chapter 3 compiles its classifier exactly as exercise 3
    asks the student to).
    """
    lines, given = set(), set()
    for chapter in (ROOT / "book").glob("*.ipynb"):
        for cell in json.loads(chapter.read_text())["cells"]:
            if cell["cell_type"] == "code":
                given.update(re.sub(r"\s+", " ", line.strip()) for line in _statements("".join(cell["source"])))
    for master in (ROOT / "solutions").glob("*.ipynb"):
        for cell in json.loads(master.read_text())["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] != "code":  # a question may quote a line of its answer
                given.update(re.sub(r"\s+", " ", line.strip().strip("`")) for line in source.split("`"))
                continue
            inside = False
            for line in _statements(source):
                stripped = line.strip()
                if stripped in ("# BEGIN SOLUTION", "# BEGIN SOLUTION NO PROMPT"):
                    inside = True
                elif stripped == "# END SOLUTION":
                    inside = False
                elif (inside or stripped.endswith(("# SOLUTION", "# SOLUTION NO PROMPT"))) and len(stripped) > 12:
                    lines.add(re.sub(r"\s+", " ", re.sub(r"\s*# SOLUTION( NO PROMPT)?$", "", stripped)))
                elif not inside:
                    given.add(re.sub(r"\s+", " ", stripped))
    return {line for line in lines if not any(line in text for text in given)}


def test_student_edition_contains_no_solution_code(built):
    lines = solution_lines()
    assert len(lines) >= 5
    site = built["student"]
    assert not list(site.rglob("solutions")), "a solutions folder was published"
    for page in list(site.rglob("*.html")) + list(site.rglob("*.ipynb")) + [site / "searchindex.js"]:
        text = {".html": text_of, ".ipynb": sources_of}.get(page.suffix, Path.read_text)(page)
        for line in lines:
            assert line not in text, f"solution code {line!r} in {page.relative_to(site)}"
        assert "BEGIN SOLUTION" not in text and "hidden: true" not in text, page
    assert not (site / "book" / "instructors.html").exists()


def test_instructor_edition_has_solutions_and_the_grading_guide(built):
    site = built["instructor"]
    assert "python -m aecourse.grade" in text_of(site / "book" / "instructors.html")
    solution_pages = " ".join(text_of(p) for p in (site / "solutions").glob("*.html"))
    missing = sorted(line for line in solution_lines() if line not in solution_pages)
    assert not missing, f"{len(missing)} lines of solution code are not on the solution pages, e.g. {missing[:3]}"


def test_notebook_pages_show_stored_outputs_and_computed_numbers(built):
    page = (built["student"] / "book" / "02_mnist_pca.html").read_text()
    assert "training digits per class" in page  # a stored stream output
    assert page.count('src="../_images/') >= 4  # stored figures
    assert re.search(r"a vague blob;.*at an error of \d\.\d{4} per\s+pixel", text_of(built["student"] / "book" / "02_mnist_pca.html"))


@pytest.mark.parametrize("edition", EDITIONS)
def test_notebook_pages_have_launch_and_download_buttons(built, edition):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config["repository"]["url"].removeprefix("https://github.com/")
    pages = [name for name in toc_files(EDITIONS[edition]) if (ROOT / f"{name}.ipynb").exists()]
    assert len(pages) >= 3
    for name in pages:
        page = (built[edition] / f"{name}.html").read_text()
        assert f"https://mybinder.org/v2/gh/{repo}/main?urlpath=lab/tree/{name}.ipynb" in page
        assert f"https://colab.research.google.com/github/{repo}/blob/main/{name}.ipynb" in page
        assert f'_sources/{name}.ipynb"' in page, f"{name}: no .ipynb download link"


def test_bibliography_lists_the_cited_works_and_chapters_link_to_it(built):
    references = text_of(built["student"] / "book" / "references.html").lower()
    for work in ("Reducing the Dimensionality of Data with Neural Networks", "Stacked Denoising Autoencoders",
                 "Auto-Encoding Variational", "Deconvolution and Checkerboard Artifacts"):
        assert work.lower() in references, f"{work!r} is not in the bibliography"
    introduction = (built["student"] / "book" / "01_introduction.html").read_text()
    assert 'href="references.html#id' in introduction, "the introduction cites nothing"


def test_solution_pages_are_titled_solution_with_points_and_no_otter_markers(built):
    from aecourse.assign import question_points

    for master in sorted((ROOT / "solutions").glob("*.ipynb")):
        page = built["instructor"] / "solutions" / f"{master.stem}.html"
        title = re.search(r"<h1>(.*?)<", page.read_text()).group(1)
        assert title.startswith("Solution: "), title
        text = text_of(page)
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "# SOLUTION", "BEGIN QUESTION", "BEGIN TESTS",
                       "TEST CONFIG", "# IGNORE", "ASSIGNMENT CONFIG", "BEGIN PROMPT"):
            assert marker not in text, f"{marker!r} on {page.name}"
        for number, (_, points) in enumerate(question_points(master), start=1):
            assert f"Question {number} ({points:g} point" in text, f"{page.name}: question {number}"


def test_exercise_pages_open_with_title_then_otter_set_up(built):
    for master in sorted((ROOT / "solutions").glob("*.ipynb")):
        page = (built["student"] / "exercises" / master.stem / f"{master.stem}.html").read_text()
        article = page[page.index("<article"):]
        assert article.index("<h1>") < article.index("Initialize Otter"), master.stem
        assert "google.colab" not in article, "the Colab cell is for the notebook, not the page"


def test_mathjax_is_served_by_the_book(built):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    path = config["sphinx"]["config"]["mathjax_path"]
    assert not path.startswith(("http:", "https:", "//"))
    for site in built.values():
        assert (site / "_static" / path).stat().st_size > 500_000
        page = (site / "book" / "03_neurons.html").read_text()
        assert f'src="../_static/{path}' in page and "cdn.jsdelivr" not in page


def test_the_licences_are_in_the_repository_named_in_the_readme_and_cited():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n\nCopyright (c) 2026 the Hands-On Autoencoders")
    text = (ROOT / "LICENSE-TEXT").read_text()
    assert "Creative Commons Attribution 4.0 International" in text and "Section 1 – Definitions." in text
    readme = (ROOT / "README.md").read_text()
    assert "[CC BY 4.0](LICENSE-TEXT)" in readme and "[MIT licence](LICENSE)" in readme
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["license"] == ["MIT", "CC-BY-4.0"]
    assert citation["title"] == "Hands-On Autoencoders" and citation["authors"]


@pytest.mark.parametrize("edition", EDITIONS)
def test_every_page_names_both_licences_in_its_footer(built, edition):
    for name in toc_files(EDITIONS[edition]):
        page = (built[edition] / f"{name}.html").read_text()
        footer = page[page.find('<footer class="bd-footer-content"'):]
        assert "CC BY 4.0" in footer and "MIT" in footer, f"{name}: no licence in the footer"
