"""One notation on every page: the landing page's table is the reference, and every page keeps
to it.

The pages are the ones the site builds, made the way the build makes them: the site's own
mkdocs hook renders every module (docstring, notes, the architecture figure's caption, the
measured figures cited from the records) and the results pages are read as mkdocs reads them.
The renderer's maths module then finds the formulas, with the build's own rules for `$...$`,
`$$...$$`, code spans and fences. Three things are checked:

* every symbol in a formula on any page is one the table under "## Notation" on the landing
  page defines (a symbol is a letter, a Greek letter or a letter of another alphabet such as
  $\\mathcal{M}$, with its sub- and superscripts, accents and words such as $\\mathrm{softmax}$
  left out: $\\tilde h^{n-1}_\\tau$ is the symbol $h$);
* every row of the table gives its symbols a meaning in words and says where they are used,
  and every symbol it defines is used on some page;
* no heading carries maths (a `$` or a backslash): headings become entries of the table of
  contents, which is plain text and would flatten $b_g$ into "bg".

The table is read from the landing page's source, never copied here, so the test follows the
table and the table follows the pages.
"""

from __future__ import annotations

import functools
import os
import re
from collections import defaultdict
from pathlib import Path

import pytest

import literate
from maths import MathStash, stash_maths

ROOT = Path(__file__).resolve().parents[1]
LANDING = "index.md"
NOTATION = "Notation"
RESULTS = "results/"


# ## The pages, as the build makes them


@functools.lru_cache(maxsize=None)
def pages() -> dict[str, str]:
    """The Markdown of every page of the site by its path in the site (`transformer_xl/index.md`):
    modules rendered by the site's hook, hand-written and generated results pages as they are
    on disk."""
    from mkdocs.config import load_config
    from mkdocs.structure.files import get_files

    here = os.getcwd()
    os.chdir(ROOT)          # the hook and the citations read paths relative to the repository
    try:
        config = load_config(str(ROOT / "mkdocs.yml"))
        config = config.plugins.on_config(config)
        files = config.plugins.on_files(get_files(config), config=config)
        return {f.src_uri: f.content_string for f in files.documentation_pages()}
    finally:
        os.chdir(here)


def formulas(markdown: str) -> list[str]:
    """The LaTeX of every formula of a page, found by the renderer's own rules."""
    stash = MathStash()
    stash_maths(markdown, stash)
    return stash.latex


# ## Symbols of a formula

GREEK = set("""alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa
lambda mu nu xi pi varpi rho varrho sigma varsigma tau upsilon phi varphi chi psi omega Gamma
Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega ell""".split())
# Commands whose argument is words (an operator's name, a label, code), not symbols.
WORDS = {"text", "textrm", "textit", "textbf", "texttt", "textsf", "mbox", "mathrm",
         "operatorname", "mathtt", "mathsf"}
# Commands that set their argument in another alphabet: $\mathcal{M}$ is not $M$.
ALPHABETS = {"mathcal", "mathbb", "mathbf", "mathfrak", "mathscr", "boldsymbol", "mathit"}
_COMMAND = re.compile(r"\\([A-Za-z]+|.)")


def _argument(latex: str, i: int) -> tuple[str, int]:
    """The argument that starts at `latex[i]` (spaces skipped): a `{group}`, a command with
    its own argument if it takes one, or one character; and where it ends."""
    while i < len(latex) and latex[i].isspace():
        i += 1
    if i >= len(latex):
        return "", i
    if latex[i] == "{":
        depth = 0
        for j in range(i, len(latex)):
            if latex[j] == "{" and latex[j - 1] != "\\":
                depth += 1
            elif latex[j] == "}" and latex[j - 1] != "\\":
                depth -= 1
                if depth == 0:
                    return latex[i + 1:j], j + 1
        return latex[i + 1:], len(latex)
    if latex[i] == "\\":
        command = _COMMAND.match(latex, i)
        end = command.end()
        if command.group(1) in WORDS | ALPHABETS:
            _, end = _argument(latex, end)
        return latex[i:end], end
    return latex[i], i + 1


def symbols(latex: str) -> list[str]:
    """The symbols of one formula, in LaTeX (`M`, `\\beta`, `\\mathcal{M}`), sub- and
    superscripts stripped: they index or label a symbol ($d_k$, $h^{n-1}_\\tau$), and what
    they say is the symbol's own business, explained in its row."""
    out: list[str] = []
    i = 0
    while i < len(latex):
        ch = latex[i]
        if ch in "_^":
            _, i = _argument(latex, i + 1)
        elif ch == "\\":
            command = _COMMAND.match(latex, i)
            name, i = command.group(1), command.end()
            if name in GREEK:
                out.append("\\" + name)
            elif name in WORDS:
                _, i = _argument(latex, i)
            elif name in ALPHABETS:
                argument, i = _argument(latex, i)
                letters = re.sub(r"[^A-Za-z]", "", argument)
                if letters:
                    out.append(f"\\{name}{{{letters}}}")
            # any other command is an operator, a space or an accent over what follows
        else:
            if ch.isascii() and ch.isalpha():
                out.append(ch)
            i += 1
    return out


def test_symbols_are_read_as_a_reader_reads_them():
    assert symbols(r"\tilde h^{n-1}_\tau = [\mathrm{SG}(m^{n-1}_\tau) \circ h]") == ["h", "m", "h"]
    assert symbols(r"\mathcal{M}_\tau = \mathcal{M}_{\tau-1} + \phi(K)^\top V") == [
        r"\mathcal{M}", r"\mathcal{M}", r"\phi", "K", "V"]
    assert symbols(r"\text{reach} = p - e_{\text{first}}, \quad d_{model}") == ["p", "e", "d"]
    assert symbols(r"\mathit{cm}_{\tau+1} = [\mathit{cm}_\tau \circ \texttt{new\_cm}]") == [
        r"\mathit{cm}", r"\mathit{cm}"]
    assert symbols(r"O((L + 2M)^2 d) \lceil k N / N_{long} \rceil") == ["O", "L", "M", "d", "k", "N", "N"]


# ## The table


def _cells(line: str) -> list[str]:
    """The cells of a Markdown table row; a `|` inside maths or code does not end a cell."""
    cells, cell, inside = [], "", None
    for ch in line.strip().strip("|"):
        if ch in "$`" and inside in (None, ch):
            inside = None if inside == ch else ch
        if ch == "|" and inside is None:
            cells.append(cell.strip())
            cell = ""
        else:
            cell += ch
    return cells + [cell.strip()]


def notation_section(markdown: str) -> list[str]:
    """The lines of the landing page's section headed "Notation", up to the next heading of
    its level or above."""
    lines = markdown.splitlines()
    start = next((n for n, line in enumerate(lines)
                  if (m := literate.HEADING.match(line)) and m.group(2).strip() == NOTATION), None)
    assert start is not None, f"the landing page has no section headed '## {NOTATION}'"
    level = len(literate.HEADING.match(lines[start]).group(1))
    end = next((n for n in range(start + 1, len(lines))
                if (m := literate.HEADING.match(lines[n])) and len(m.group(1)) <= level), len(lines))
    return lines[start + 1:end]


@functools.lru_cache(maxsize=None)
def table() -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """The notation table's header and rows, as cells of Markdown."""
    rows = [_cells(line) for line in notation_section(pages()[LANDING]) if line.lstrip().startswith("|")]
    assert len(rows) > 2, "the Notation section of the landing page holds no table"
    header, rule, body = rows[0], rows[1], rows[2:]
    assert all(set(c) <= set(":- ") for c in rule), f"the notation table's second row is not a rule: {rule}"
    return tuple(header), tuple(tuple(r) for r in body)


def column(name: str) -> int:
    header, _ = table()
    found = [n for n, cell in enumerate(header) if cell.lower().startswith(name)]
    assert found, f"the notation table has no column headed '{name}...': {header}"
    return found[0]


def defined() -> dict[str, str]:
    """Each symbol the table defines, and the row's symbol cell (for messages)."""
    _, rows = table()
    out: dict[str, str] = {}
    at = column("symbol")
    for row in rows:
        for latex in formulas(row[at]):
            for symbol in symbols(latex):
                out.setdefault(symbol, row[at])
    return out


def test_every_row_says_what_and_where():
    _, rows = table()
    header, _ = table()
    at, meaning, where = column("symbol"), column("meaning"), column("where")
    for row in rows:
        assert len(row) == len(header), f"notation row {row[0]!r} has {len(row)} cells, the header {len(header)}"
        if not formulas(row[at]):
            # A row with no symbol is a heading inside the table ("**Sizes**"): nothing else in it.
            assert not any(row[n] for n in range(len(row)) if n != at), (
                f"notation row {row!r} has no symbol in its first column")
            continue
        words = re.sub(r"\$[^$]*\$", "", row[meaning])
        assert re.search(r"[A-Za-z]{3,}", words), f"notation row {row[at]}: no meaning in words"
        assert re.search(r"[A-Za-z]{3,}", row[where]), f"notation row {row[at]}: does not say where it is used"


# ## Every page keeps to the table


def _scanned(src_uri: str, markdown: str) -> str:
    """What of a page is checked: all of it, except on the landing page the table's own rows
    (their other columns quote the papers' symbols on purpose)."""
    if src_uri != LANDING:
        return markdown
    rows = {line for line in notation_section(markdown) if line.lstrip().startswith("|")}
    return "\n".join(line for line in markdown.splitlines() if line not in rows)


def undefined(selected) -> dict[str, dict[str, list[str]]]:
    """{page: {symbol: formulas}} for every symbol the table does not define."""
    known = defined()
    out: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for src_uri, markdown in sorted(pages().items()):
        if not selected(src_uri):
            continue
        for latex in formulas(_scanned(src_uri, markdown)):
            for symbol in symbols(latex):
                if symbol not in known and latex not in out[src_uri][symbol]:
                    out[src_uri][symbol].append(latex)
    return {page: dict(found) for page, found in out.items() if found}


def _report(found: dict[str, dict[str, list[str]]]) -> str:
    lines = [f"symbols the notation table (labml_memory/__init__.py, '## {NOTATION}') does not define:"]
    for page, by_symbol in found.items():
        for symbol, where in by_symbol.items():
            shown = ", ".join(f"${f}$" for f in where[:3]) + (" ..." if len(where) > 3 else "")
            lines.append(f"  {page}: {symbol} in {shown}")
    return "\n".join(lines)


def test_module_pages_use_only_the_tables_symbols():
    found = undefined(lambda page: not page.startswith(RESULTS))
    assert not found, _report(found)


def test_results_pages_use_only_the_tables_symbols():
    found = undefined(lambda page: page.startswith(RESULTS))
    assert not found, _report(found)


def test_the_table_defines_nothing_unused():
    used = {symbol for src_uri, markdown in pages().items()
            for latex in formulas(_scanned(src_uri, markdown)) for symbol in symbols(latex)}
    stale = {symbol: cell for symbol, cell in defined().items() if symbol not in used}
    assert not stale, f"the notation table defines symbols no page uses: {stale}"


def test_the_papers_segment_length_is_not_ours():
    """The drift the table itself warns of: Infini-attention's paper writes $N$ for the
    segment, where the table writes $L$ and keeps $N$ for the layers. A formula that counts
    positions, tokens or characters with $N$ and no $L$ ("a row of $2m + N$ positions"), or a
    "segment of $N$", has slipped back into the paper's notation."""
    slipped = {}
    for page, markdown in sorted(pages().items()):
        stash = MathStash()
        text = stash_maths(_scanned(page, markdown), stash)
        for m in re.finditer(r"(?:segments? (?:of|length) )?LITMATH(\d+)X(\s+(?:positions|tokens|characters))?", text):
            found = symbols(stash.latex[int(m.group(1))])
            counts = m.group(2) or m.group(0).startswith("segment")
            if counts and "N" in found and "L" not in found:
                before = text[max(0, m.start() - 12):m.start()]
                if "paper" not in before:
                    slipped.setdefault(page, []).append(stash.plain(m.group(0)))
    assert not slipped, f"N used as the segment length (the table writes L, N is the layers): {slipped}"


# ## Headings in words


def headings(markdown: str) -> list[str]:
    """The Markdown headings of a page, outside fenced code."""
    out, fence = [], None
    for line in markdown.splitlines():
        opening = re.match(r"^\s*(`{3,}|~{3,})", line)
        if fence is None and opening:
            fence = opening.group(1)
            continue
        if fence is not None:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                fence = None
            continue
        heading = literate.HEADING.match(line)
        if heading:
            out.append(heading.group(2))
    return out


def test_headings_have_no_maths():
    found = {page: [h for h in headings(markdown) if "$" in h or "\\" in h]
             for page, markdown in sorted(pages().items())}
    found = {page: hs for page, hs in found.items() if hs}
    assert not found, ("headings become plain-text entries of the table of contents; say them "
                       f"in words (no $ or backslash): {found}")


@pytest.mark.parametrize("markdown, bad", [
    ("# Title\n\n## The gate $b_g$\n", ["The gate $b_g$"]),
    ("```\n# not a heading $x$\n```\n### Words only\n", []),
])
def test_headings_are_found_as_markdown_finds_them(markdown, bad):
    assert [h for h in headings(markdown) if "$" in h or "\\" in h] == bad
