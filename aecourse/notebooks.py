"""House style of the course's notebooks: short code lines and a Colab set-up cell.

Two rules, checked by ``tests/test_notebook_style.py`` and applied by this module:

- every line of a code cell is at most :data:`LINE_LIMIT` characters long, so it
  fits the book's column without scrolling sideways (the code is formatted with
  `ruff format <https://docs.astral.sh/ruff/formatter/>`_; then comment
  paragraphs are reflowed to fill their lines, a trailing comment that would make
  a statement wrap goes on its own line above it, and long strings are split; a
  word or string too long for any line is left for a person to reword);
- the first code cell of every chapter (and of every exercise, which
  :mod:`aecourse.assign` generates) is the Colab cell: on Google Colab it
  installs the course package from the repository, elsewhere it does nothing and
  prints nothing. The book does not show it (tag ``remove-cell``) and JupyterLab
  opens it folded.

Command line::

    python -m aecourse.notebooks --check          # list long lines and missing Colab cells
    python -m aecourse.notebooks --fix            # format chapters and masters, add Colab cells
    python -m aecourse.notebooks --fix book/05_stacked.ipynb

``--fix`` is idempotent: a second run changes nothing. It rewrites only cell
sources (outputs and metadata stay as they are), so a notebook it formatted
still matches its stored outputs.
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = [
    "LINE_LIMIT",
    "COLAB_TAG",
    "long_lines",
    "colab_cell_source",
    "has_colab_cell",
    "with_colab_cell",
    "format_code",
    "otter_blocks",
    "fix_notebook",
    "write_public_tests",
    "main",
]

ROOT = Path(__file__).resolve().parent.parent
LINE_LIMIT = 88
COLAB_TAG = "colab-setup"  # marks the Colab cell, so it is found and never added twice
COLLAPSED = {"source_hidden": True}  # JupyterLab shows the Colab cell folded: it does nothing outside Colab
COLAB_CLONE = "/content/hands-on-autoencoders"


def _read(path):
    return json.loads(Path(path).read_text())


def _source(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def long_lines(nb, limit=LINE_LIMIT):
    """Lines of code cells longer than ``limit``, as ``(cell index, line number, line)``.

    ``nb`` is a notebook as a dict, or a path to one.
    """
    if not isinstance(nb, dict):
        nb = _read(nb)
    found = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        for number, line in enumerate(_source(cell).splitlines(), start=1):
            if len(line) > limit:
                found.append((index, number, line))
    return found


def _repository():
    """The course's repository URL and branch, from the book's ``_config.yml``."""
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    return config["url"], config.get("branch", "main")


def _pinned(package):
    """The ``package==version`` line of requirements.txt."""
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if re.match(rf"{re.escape(package)}\s*==", line):
            return line.split(";")[0].strip()
    raise LookupError(f"{package} is not pinned in requirements.txt")


def colab_cell_source(exercise=None):
    """The source of the Colab cell; ``exercise`` is the exercise's name, if it is one.

    On Colab the cell clones the course repository and installs its helper
    package (and, for an exercise, Otter and the exercise's public checks, which
    Otter on Colab reads from a ``tests/`` folder). Elsewhere it does nothing.
    """
    url, branch = _repository()
    lines = [
        "# On Google Colab, install the course's helper package; elsewhere do nothing.",
        "import sys",
        "",
        'if "google.colab" in sys.modules:',
        "    import os",
        "    import subprocess",
        "",
        f'    repo = "{url}"',
        f'    clone = "{COLAB_CLONE}"',
        "    if not os.path.isdir(clone):",
        f'        git = ["git", "clone", "-q", "--depth", "1", "-b", "{branch}"]',
        "        subprocess.run([*git, repo, clone], check=True)",
    ]
    if exercise is None:
        lines.append('    pip = [sys.executable, "-m", "pip", "install", "-q", clone]')
        lines.append("    subprocess.run(pip, check=True)")
    else:
        otter = _pinned("otter-grader")
        lines.append(f'    pip = [sys.executable, "-m", "pip", "install", "-q", "{otter}"]')
        lines.append("    subprocess.run([*pip, clone], check=True)")
        lines.append("    from aecourse.notebooks import write_public_tests")
        lines.append("")
        lines.append(f'    write_public_tests(f"{{clone}}/exercises/{exercise}/{exercise}.ipynb")')
    return "\n".join(lines)


def has_colab_cell(nb):
    """Whether the first code cell of ``nb`` is the Colab cell."""
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    return bool(code) and COLAB_TAG in code[0].get("metadata", {}).get("tags", [])


def _colab_cell(source, cell_id):
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": cell_id,
        "metadata": {"tags": [COLAB_TAG, "remove-cell"], "jupyter": dict(COLLAPSED)},
        "outputs": [],
        "source": source,
    }


def with_colab_cell(nb, exercise=None):
    """``nb`` with the Colab cell as its first code cell, after the title cell.

    A Colab cell that is already there is brought up to date, not duplicated.
    """
    source = colab_cell_source(exercise)
    cells = nb["cells"]
    for cell in cells:
        if COLAB_TAG in cell.get("metadata", {}).get("tags", []):
            cell["source"] = source
            cell["metadata"]["jupyter"] = dict(COLLAPSED)
            return nb
    title = next((i for i, c in enumerate(cells) if c["cell_type"] == "markdown"), -1)
    cells.insert(title + 1, _colab_cell(source, "colab-setup"))
    return nb


def _ruff():
    beside_python = Path(sys.executable).parent / "ruff"
    path = str(beside_python) if beside_python.exists() else shutil.which("ruff")
    if path is None:
        raise RuntimeError("ruff is not installed: pip install -r requirements.txt")
    return path


def format_code(sources, line_length=LINE_LIMIT):
    """Format a list of code cell sources with ruff; return the formatted list.

    The sources are formatted as the cells of one notebook, so IPython syntax
    such as ``%matplotlib`` is understood. A source ruff cannot parse is
    returned unchanged.
    """
    nb = {
        "cells": [
            {"cell_type": "code", "execution_count": None, "id": f"c{i}",
             "metadata": {}, "outputs": [], "source": s}
            for i, s in enumerate(sources)
        ],
        "metadata": {"language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cells.ipynb"
        path.write_text(json.dumps(nb))
        result = subprocess.run(
            [_ruff(), "format", "--isolated", "--line-length", str(line_length), str(path)],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"ruff format failed:\n{result.stderr}")
        formatted = json.loads(path.read_text())
    return [_source(c) for c in formatted["cells"]]


# Comments that mean something to a tool stay where they are.
_MARKER_COMMENT = re.compile(r"#\s*(SOLUTION|IGNORE|SEED|BEGIN|END|noqa|type:|fmt:)")


def _wrap_words(text, width):
    """Split ``text`` at spaces into pieces of at most ``width`` characters (a
    longer word stays whole); every piece but the last keeps its trailing space."""
    pieces, current = [], ""
    for word in re.findall(r"\S+\s*|\s+", text):
        if current and len(current) + len(word.rstrip()) > width:
            pieces.append(current)
            current = ""
        current += word
    return pieces + ([current] if current else [])


def _string_parts(token):
    """``(prefix, quote, body)`` of a one-line string literal token, or None."""
    match = re.fullmatch(r"([rRbBfFuU]{0,2})('|\")(.*)\2", token, flags=re.S)
    if match is None or match.group(3).startswith(match.group(2) * 2) or "\n" in token:
        return None
    return match.groups()


def _fstring_cuts(body):
    """Positions in an f-string body where it may be cut: not inside ``{...}``."""
    depth, allowed = 0, []
    for i, char in enumerate(body):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        allowed.append(depth == 0)
    return allowed


def _split_string_line(line, limit):
    """A line that holds one string literal inside brackets, as several
    implicitly concatenated literals of at most ``limit`` characters; or None."""
    import io
    import tokenize

    indent = line[: len(line) - len(line.lstrip())]
    stripped = line.strip()
    match = re.fullmatch(r"((?:[a-zA-Z_]\w*=)?)(.+?)(\)?,?)", stripped) or re.fullmatch(
        r"((?:[a-zA-Z_]\w*=)?)(.+)()", stripped)
    keyword, literal, tail = match.groups()
    parts = _string_parts(literal)
    if parts is None:
        return None
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(literal).readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    if [t.type for t in tokens if t.type not in (tokenize.NEWLINE, tokenize.ENDMARKER)] != [
        tokenize.STRING
    ]:
        return None
    prefix, quote, body = parts
    allowed = _fstring_cuts(body) if "f" in prefix.lower() else [True] * len(body)
    lead = indent + " " * len(keyword)
    width = limit - len(lead) - len(prefix) - 2 - len(tail)
    if width < 20:
        return None
    chunks, start = [], 0
    while len(body) - start > width:
        cut = None
        for i in range(start + width, start, -1):
            if allowed[i - 1] and body[i - 1] == " " and body[i - 2] != "\\":
                cut = i
                break
        if cut is None:  # no space to cut at: cut after a replacement field
            for i in range(start + width, start, -1):
                if allowed[i - 1] and body[i - 1] == "}":
                    cut = i
                    break
        if cut is None:
            return None
        chunks.append(body[start:cut])
        start = cut
    chunks.append(body[start:])
    lines = []
    for n, chunk in enumerate(chunks):
        # An f-prefix only where the piece has a replacement field.
        piece_prefix = prefix if "{" in chunk or "f" not in prefix.lower() else prefix.replace(
            "f", "").replace("F", "")
        text = f"{piece_prefix}{quote}{chunk}{quote}"
        first = n == 0
        lines.append((indent + keyword if first else lead) + text)
    lines[-1] += tail
    return lines


_COMMENT_LINE = re.compile(r"^(?P<indent>\s*)#(?P<text>.*)$")
# A comment line that starts its own paragraph: a list item, or indented text such as code.
_OWN_LINE = re.compile(r"^(\s*$|\s{2,}|[-*+] |\d+[.)] |\(\w\) )")


def _reflow_comments(source, limit=LINE_LIMIT):
    """Reflow each paragraph of full-line comments to fill lines of at most ``limit``.

    A paragraph is a run of comment lines with one indent; an empty ``#`` line, a list
    item, an indented line, a marker comment or code ends it. Splitting a long comment
    line by line leaves ragged paragraphs (``...the test`` / ``accuracy lags...``);
    reflowing the whole paragraph does not, and a second run changes nothing.
    """
    lines = source.split("\n")
    out, paragraph, indent = [], [], None

    def flush():
        if paragraph:
            text = " ".join(paragraph)
            out.extend(indent + "# " + piece.rstrip()
                       for piece in _wrap_words(text, limit - len(indent) - 2))
            paragraph.clear()

    for line in lines:
        match = _COMMENT_LINE.match(line)
        text = match.group("text") if match else None
        plain = (match is not None and text.startswith(" ") and not _OWN_LINE.match(text[1:])
                 and not _MARKER_COMMENT.match(line.strip()))
        if plain and (not paragraph or match.group("indent") == indent):
            indent = match.group("indent")
            paragraph.append(text.strip())
            continue
        flush()
        if plain:
            indent = match.group("indent")
            paragraph.append(text.strip())
        else:
            out.append(line)
    flush()
    return "\n".join(out)


def _lift_trailing_comments(source, limit=LINE_LIMIT):
    """Put the trailing comment of a statement above it when it makes the statement wrap.

    A formatter keeps ``x = f(y)  # a long remark`` whole by wrapping the call over three
    lines (``x = f(`` / ``y`` / ``)  # a long remark``). With the comment on its own line
    above, the statement fits on one line again. Marker comments stay where they are.
    """
    import io
    import tokenize

    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return source
    lines = source.split("\n")
    moves = []  # (first line of the statement, line of the comment), 0-based
    start = None
    for index, token in enumerate(tokens):
        if token.type in (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT,
                          tokenize.ENCODING) and start is None:
            continue
        if start is None:
            start = token.start[0] - 1
        if token.type == tokenize.NEWLINE:
            start = None
        elif token.type == tokenize.COMMENT and start is not None:
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            line_no = token.start[0] - 1
            last_line = following is not None and following.type == tokenize.NEWLINE
            long_one = len(lines[line_no]) > limit
            if (last_line and (line_no > start or long_one)
                    and not _MARKER_COMMENT.match(token.string)
                    and lines[line_no][: token.start[1]].strip()):
                moves.append((start, line_no, token.start[1]))
    for start, line_no, column in reversed(moves):
        comment = lines[line_no][column:]
        lines[line_no] = lines[line_no][:column].rstrip()
        indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
        lines.insert(start, indent + comment)
    return "\n".join(lines)


def _shorten(source, limit=LINE_LIMIT):
    """Split what a formatter leaves long: comments, one-line string literals
    inside brackets, and long lines of docstrings. Code is left to ruff."""
    out = []
    for line in source.split("\n"):
        if len(line) <= limit:
            out.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip())]
        stripped = line.strip()
        if stripped.startswith("#") and not _MARKER_COMMENT.match(stripped):
            text = stripped.lstrip("#").strip()
            out.extend(indent + "# " + piece.rstrip()
                       for piece in _wrap_words(text, limit - len(indent) - 2))
            continue
        code, _, comment = line.partition("  # ")
        if comment and not _MARKER_COMMENT.match("# " + comment) and '"' not in comment \
                and "'" not in comment and code.count('"') % 2 == 0 and code.count("'") % 2 == 0:
            out.extend(indent + "# " + piece.rstrip()
                       for piece in _wrap_words(comment.strip(), limit - len(indent) - 2))
            out.append(code.rstrip())
            continue
        if stripped.startswith('"""') and len(stripped) > 6:
            # The first line of a docstring: its words go on to further lines.
            one_line = stripped.endswith('"""')
            text = stripped[3:-3] if one_line else stripped[3:]
            pieces = [p.rstrip() for p in _wrap_words(text, limit - len(indent) - 6)]
            out.append(indent + '"""' + pieces[0])
            out.extend(indent + piece for piece in pieces[1:])
            if one_line:
                out.append(indent + '"""')
            continue
        split = _split_string_line(line, limit)
        assigned = re.fullmatch(r"(\s*)([\w.]+(?:\[[^\]]*\])?\s*[-+]?=\s*)([rRbBfFuU]{0,2}[\"'].*)", line)
        if split is None and assigned:
            # name = "a long string": put the string in parentheses and split it there.
            inner = _split_string_line(assigned.group(1) + "    " + assigned.group(3), limit)
            if inner:
                split = [assigned.group(1) + assigned.group(2) + "("] + inner + [assigned.group(1) + ")"]
        if split:
            out.extend(split)
            continue
        out.append(line)
    return "\n".join(out)


_ONE_LINE_SOLUTION = re.compile(
    r"^(?P<indent>\s*)(?P<code>.*?)\s*# SOLUTION(?P<no_prompt> NO PROMPT)?\s*$")
_ASSIGNMENT = re.compile(r"^(?P<target>[\w.]+(?:\s*,\s*[\w.]+)*)\s*=[^=]")


def otter_blocks(source, limit=LINE_LIMIT):
    """Turn otter-assign one-line solutions too long for one line into blocks.

    Otter replaces a line ending in ``# SOLUTION`` by ``name = ...`` (or
    ``...``) and drops one ending in ``# SOLUTION NO PROMPT``, line by line: once
    a formatter wraps such a statement over several lines, the student would
    get half of it. A long one becomes a ``BEGIN SOLUTION`` block, with the
    ``name = ...`` prompt kept in a ``BEGIN PROMPT`` block.
    """
    out = []
    for line in source.split("\n"):
        match = _ONE_LINE_SOLUTION.match(line)
        if len(line) <= limit or match is None or not match.group("code"):
            out.append(line)
            continue
        indent, code = match.group("indent"), match.group("code")
        assignment = _ASSIGNMENT.match(code)
        if match.group("no_prompt"):
            out += [f"{indent}# BEGIN SOLUTION NO PROMPT", indent + code, f"{indent}# END SOLUTION"]
        elif assignment:
            out += [f"{indent}# BEGIN PROMPT", f"{indent}{assignment.group('target')} = ...",
                    f"{indent}# END PROMPT", f"{indent}# BEGIN SOLUTION NO PROMPT", indent + code,
                    f"{indent}# END SOLUTION"]
        else:
            out += [f"{indent}# BEGIN SOLUTION", indent + code, f"{indent}# END SOLUTION"]
    return "\n".join(out)


def _dumps(nb):
    """Serialize ``nb`` as Jupyter and nbformat write notebooks."""
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def fix_notebook(path, colab=None, master=False):
    """Format the code cells of the notebook at ``path`` and, if asked, add its Colab cell.

    ``colab`` is ``None`` for no Colab cell (solution masters: their exercises
    get one from :mod:`aecourse.assign`), ``"chapter"`` for a chapter; with
    ``master``, long one-line solutions become blocks first (:func:`otter_blocks`). Returns
    whether the file changed. Outputs, ids and metadata are kept.
    """
    path = Path(path)
    text = path.read_text()
    nb = json.loads(text)
    if colab == "chapter":
        with_colab_cell(nb)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    sources = [_source(c) for c in code]
    if master:
        sources = [otter_blocks(s) for s in sources]
    for _ in range(3):  # format, lift comments and split what is still long, format again
        sources = format_code([_reflow_comments(_shorten(_lift_trailing_comments(s)))
                               for s in format_code(sources)])
    for cell, source in zip(code, sources):
        if source != _source(cell):
            cell["source"] = source.splitlines(keepends=True)
    # Cell sources as lists of lines, as Jupyter writes them.
    for cell in nb["cells"]:
        if isinstance(cell.get("source"), str):
            cell["source"] = cell["source"].splitlines(keepends=True)
    new = _dumps(nb)
    if new != text:
        path.write_text(new)
        return True
    return False


def write_public_tests(notebook, tests_dir="tests"):
    """Write the public checks stored in an exercise notebook to ``tests_dir/<q>.py``.

    Otter on Colab reads the checks of ``grader.check`` from such files, not
    from the notebook; the Colab cell of an exercise calls this.
    """
    tests = _read(notebook)["metadata"]["otter"]["tests"]
    folder = Path(tests_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for question, source in tests.items():
        (folder / f"{question}.py").write_text(source)
    return sorted(folder / f"{q}.py" for q in tests)


def _default_targets():
    chapters = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
    masters = sorted((ROOT / "solutions").glob("*.ipynb"))
    return chapters, masters


def _kind(path):
    """"chapter", "master" or None, from the notebook's folder or its otter config."""
    path = Path(path).resolve()
    if path.parent == (ROOT / "book").resolve():
        return "chapter"
    cells = _read(path)["cells"]
    if cells and cells[0]["cell_type"] == "raw" and "ASSIGNMENT CONFIG" in _source(cells[0]):
        return "master"
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m aecourse.notebooks",
        description="Check or apply the notebooks' house style: code lines of at most "
        f"{LINE_LIMIT} characters, and a Colab set-up cell first in every chapter.",
    )
    parser.add_argument("notebooks", nargs="*",
                        help="notebooks (default: the chapters in book/ and the masters in solutions/)")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--fix", action="store_true", help="format code cells and add Colab cells")
    action.add_argument("--check", action="store_true", help="report problems; exit 1 if any")
    args = parser.parse_args(argv)
    if args.notebooks:
        targets = [Path(p) for p in args.notebooks]
    else:
        chapters, masters = _default_targets()
        targets = chapters + masters
    problems = 0
    for path in targets:
        name = path.resolve().relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else path
        kind = _kind(path)
        if args.fix and fix_notebook(path, colab="chapter" if kind == "chapter" else None,
                                     master=kind == "master"):
            print(f"formatted {name}")
        nb = _read(path)
        if kind == "chapter" and not has_colab_cell(nb):
            problems += 1
            print(f"{name}: the first code cell is not the Colab cell")
        for index, number, line in long_lines(nb):
            problems += 1
            print(f"{name}: cell {index}, line {number}: {len(line)} characters: {line.strip()[:60]}")
    if problems:
        print(f"{problems} problem(s); long comments and strings need rewording by hand")
    return 1 if (problems and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
