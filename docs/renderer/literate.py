"""Turn one annotated Python module into a side-by-side page.

This file knows nothing about mkdocs: it reads Python source and writes Markdown (plus HTML
for the code column). `literate_hooks.py` is the mkdocs glue that calls it for every module.

How a module is read
--------------------
* The module docstring opens the page. Its first `# Title` line becomes the page title, and a
  section headed exactly `## Deviations from the paper` becomes a warning admonition.
* A block of consecutive full-line `#` comments is a *note*. The note sits beside the code that
  follows it, up to the next note. A lone `#` line is a paragraph break inside the note.
* Class and function docstrings are notes too: the note sits beside the `def`/`class` line and
  the body that follows. A comment block right above a `def` merges with its docstring.
* Comments at the end of a code line (shape comments) stay in the code, and so do comments
  inside brackets (arguments of a call spread over several lines), so an expression is never
  cut in two.
* Tool pragmas (`# noqa`, `# type: ...`, `# pragma ...`, `# fmt: ...`) and a shebang stay code.

Anchors
-------
Every section can be linked to. A note with a Markdown heading is reached through the heading's
own id (the `toc` extension makes it from the heading's text). Any other section gets an id
from the class or function it starts (`MultiHeadAttention.forward`), or, failing that, from the
anchor before it plus a counter (`reading-the-memory-2`). Ids depend on names and headings, not
on section numbers, so a link survives edits elsewhere in the module.

Links between modules
---------------------
Notes link to other modules by a relative path to the `.py` file, written from the file the
note is in: `[attention](../attention.py)` or `[the shift](../attention.py#relative_shift)`.
The mkdocs hook rewrites those links to the generated pages (see `literate_hooks.py`).
"""

from __future__ import annotations

import ast
import html
import inspect
import io
import re
import tokenize
from dataclasses import dataclass, field

from pygments.lexers import PythonLexer
from pygments.token import STANDARD_TYPES

# Comments that talk to tools rather than to readers; they stay in the code column.
PRAGMA = re.compile(r"#\s*(noqa|type:|pragma|fmt:|pylint:|mypy:|isort:|-\*-)|#!")
# Module metadata for tools: `__version__ = ...`, `__all__ = [...]` on one line.
METADATA = re.compile(r"^__[a-z]+__\s*=")
# A Markdown ATX heading: up to three spaces, one to six `#`, then a space.
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
# The section of the module docstring that becomes an admonition.
DEVIATIONS = "Deviations from the paper"


@dataclass
class Section:
    """One row of the page: a note (Markdown, maybe empty) and the code it explains."""
    note: str = ""
    # Source lines of the code column, without line endings.
    code: list[str] = field(default_factory=list)
    # 1-based line number, in the module, of each line in `code`.
    lines: list[int] = field(default_factory=list)
    # The id of the row, or "" when a heading in the note carries the anchor.
    anchor: str = ""


@dataclass
class Module:
    """A parsed module: the docstring that opens the page and the rows below it."""
    title: str
    docstring: str
    sections: list[Section]
    # Highlighted HTML of every source line, indexed by line number - 1.
    html_lines: list[str]


# ## Reading the source
#
# Docstrings are found with `ast` (so only real docstrings count, not any string), comments with
# `tokenize` (so a `#` inside a string is never mistaken for a comment).


def _docstrings(tree: ast.Module) -> tuple[str, set[int], dict[int, str], set[int]]:
    """Return the module docstring, the line numbers that docstrings occupy (they leave the
    code column), the notes that class/function docstrings give keyed by the line their
    definition starts on (its first decorator, if any), and the lines where a docstring ended."""
    module_doc = ""
    skip: set[int] = set()
    notes_at: dict[int, str] = {}
    ends: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        first = node.body[0] if node.body else None
        if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)):
            continue
        text = inspect.cleandoc(first.value.value)
        if isinstance(node, ast.Module):
            module_doc = text
        else:
            # `def f(): """doc"""` on one line: the docstring cannot leave without the code.
            if first.lineno == node.lineno:
                continue
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            notes_at[start] = text
        skip.update(range(first.lineno, first.end_lineno + 1))
        ends.add(first.end_lineno)
    return module_doc, skip, notes_at, ends


def _comment_notes(source: str) -> dict[int, str]:
    """Full-line comments outside brackets, keyed by line number, with `#` and one space
    removed. A comment inside brackets belongs to an expression that spans lines, so it is
    left in the code."""
    notes: dict[int, str] = {}
    depth = 0
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
        elif tok.type == tokenize.COMMENT and depth == 0:
            before = tok.line[:tok.start[1]]
            if before.strip() or PRAGMA.match(tok.string):
                continue
            text = tok.string[1:]
            notes[tok.start[0]] = text[1:] if text.startswith(" ") else text
    return notes


def _qualified_names(tree: ast.Module) -> dict[int, str]:
    """The dotted name (`Class.method`) of every class and function, keyed by the line of its
    `def`/`class` keyword and by the line of its first decorator."""
    names: dict[int, str] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + child.name
                names[child.lineno] = name
                for decorator in child.decorator_list:
                    names.setdefault(decorator.lineno, name)
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return names


# ## Highlighting
#
# The whole module is highlighted in one pass, so that Pygments sees every string and bracket in
# context; the result is cut into one HTML string per source line, and each row takes the lines
# it shows. Class names are Pygments' short ones (`k`, `nf`, `c1`...), which mkdocs-material
# colours in both its light and dark schemes.


def _css_class(ttype) -> str:
    while ttype not in STANDARD_TYPES:
        ttype = ttype.parent
    return STANDARD_TYPES[ttype]


def highlight_lines(source: str) -> list[str]:
    """One HTML string per line of `source`. A line's leading spaces are set apart in a
    `lit-indent` span, so the stylesheet can cap how far a deeply aligned line is pushed."""
    lexer = PythonLexer(stripnl=False, stripall=False, ensurenl=True)
    lines: list[str] = [""]
    at_start = True    # nothing but spaces written on the current line yet
    indent = 0
    for ttype, value in lexer.get_tokens(source):
        css = _css_class(ttype)
        for i, piece in enumerate(value.split("\n")):
            if i:
                lines[-1] = _with_indent(lines[-1], indent)
                lines.append("")
                at_start, indent = True, 0
            if at_start:
                spaces = len(piece) - len(piece.lstrip(" "))
                indent += spaces
                piece = piece[spaces:]
                at_start = not piece
            if piece:
                escaped = html.escape(piece, quote=False)
                lines[-1] += f'<span class="{css}">{escaped}</span>' if css else escaped
    lines[-1] = _with_indent(lines[-1], indent)
    return lines


def _with_indent(line: str, indent: int) -> str:
    return f'<span class="lit-indent">{" " * indent}</span>{line}' if indent and line else line


# ## Cutting the module into rows


def parse(source: str, name: str = "module") -> Module:
    """Read a module's source into its title, opening docstring and rows."""
    tree = ast.parse(source)
    module_doc, skip, doc_notes, doc_ends = _docstrings(tree)
    comments = _comment_notes(source)
    names = _qualified_names(tree)

    sections = [Section()]
    # The note being written: a list of paragraphs-or-comment-blocks, joined at the end.
    parts: list[list[str]] = [[]]
    last_comment = -2          # line number of the previous comment line that joined a note
    after_docstring = False    # drop blank lines that only separated a docstring from its body

    def add_note(text: str, lineno: int, is_comment: bool) -> None:
        nonlocal parts, last_comment
        if any(line.strip() for line in sections[-1].code):
            # Code has been written since the last note: this note opens a new row.
            sections[-1].note = _join(parts)
            sections.append(Section())
            parts = [[]]
        if is_comment and lineno == last_comment + 1 and parts[-1]:
            parts[-1].append(text)
        else:
            parts.append([text])
        last_comment = lineno if is_comment else -2

    for lineno, line in enumerate(source.splitlines(), start=1):
        if lineno in doc_notes:
            add_note(doc_notes[lineno], lineno, is_comment=False)
        if lineno in skip:
            after_docstring = after_docstring or lineno in doc_ends
            continue
        if lineno in comments:
            add_note(comments[lineno], lineno, is_comment=True)
            after_docstring = False
            continue
        if after_docstring and not line.strip():
            continue
        after_docstring = False
        sections[-1].code.append(line)
        sections[-1].lines.append(lineno)
    sections[-1].note = _join(parts)

    for section in sections:
        _trim_blank_lines(section)
    # A row of nothing but module metadata (`__version__ = "0.1.0"`) speaks to packaging
    # tools, not to a reader; left in, it would end the landing page as a stray code block.
    sections = [s for s in sections if s.note or (s.code and not all(
        METADATA.match(line) or not line.strip() for line in s.code))]
    _assign_anchors(sections, names)

    title, docstring = split_title(module_doc)
    return Module(title=title or name, docstring=docstring, sections=sections,
                  html_lines=highlight_lines(source))


def _join(parts: list[list[str]]) -> str:
    """Paragraphs of a note: comment blocks and docstrings, separated by blank lines."""
    blocks = ["\n".join(p).strip("\n") for p in parts if p]
    return "\n\n".join(b for b in blocks if b.strip())


def _trim_blank_lines(section: Section) -> None:
    while section.code and not section.code[0].strip():
        section.code.pop(0)
        section.lines.pop(0)
    while section.code and not section.code[-1].strip():
        section.code.pop()
        section.lines.pop()


def slug(text: str) -> str:
    """A lowercase, dash-separated id, close to what the `toc` extension makes of a heading."""
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[\s-]+", "-", text)


def _assign_anchors(sections: list[Section], names: dict[int, str]) -> None:
    used: set[str] = set()
    previous, counter = "section", 0
    for section in sections:
        heading = next((m for m in map(HEADING.match, section.note.splitlines()) if m), None)
        if heading:
            # The heading's own id is the anchor; later rows count from it.
            previous, counter = slug(heading.group(2)) or previous, 0
            continue
        # Does the row start with a definition (or its first decorator)?
        first_code = next((n for n, line in zip(section.lines, section.code) if line.strip()), None)
        name = names.get(first_code)
        if name:
            anchor, previous, counter = name, name, 0
        else:
            counter += 1
            anchor = f"{previous}-{counter}"
        while anchor in used:
            counter += 1
            anchor = f"{previous}-{counter}"
        used.add(anchor)
        section.anchor = anchor


# ## The module docstring


def split_title(docstring: str) -> tuple[str, str]:
    """Take the first `# Title` line off the docstring."""
    lines = docstring.splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    if lines and re.match(r"^#\s+\S", lines[0]):
        return lines[0].lstrip("#").strip(), "\n".join(lines[1:]).strip("\n")
    return "", docstring


def deviations_as_admonition(markdown: str) -> str:
    """Turn the `## Deviations from the paper` section into a warning admonition. The section
    runs to the next heading of level one or two, or to the end of the docstring."""
    lines = markdown.splitlines()
    out: list[str] = []
    inside = False
    for line in lines:
        heading = HEADING.match(line)
        if heading and len(heading.group(1)) <= 2:
            if heading.group(2).strip() == DEVIATIONS:
                out += [f'!!! warning "{DEVIATIONS}"', ""]
                inside = True
                continue
            if inside:
                out.append("")
            inside = False
        out.append(("    " + line if line.strip() else "") if inside else line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out))


def first_arxiv_link(markdown: str) -> str | None:
    match = re.search(r"https?://arxiv\.org/[^\s)>\]]+", markdown)
    return match.group(0) if match else None


def plain_title(title: str) -> str:
    """A title as plain text, for the navigation and the browser tab."""
    title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)
    return re.sub(r"[*_`$]", "", title).strip()


# ## Writing the page
#
# The page is Markdown with `md_in_html` blocks: the notes stay Markdown (so headings reach the
# table of contents and links are checked by mkdocs), while each code column is a placeholder
# that the hook swaps for highlighted HTML after Markdown is done, so Markdown never sees code.


def code_placeholder(index: int) -> str:
    return f"LITCODE{index}X"


# ## Where the figure goes
#
# An architecture page opens with its picture: title, links, the live explorer (in `header`),
# the paper's citation, the idea in one paragraph, then the static figure, before anything
# else the introduction holds (equations in detail, tables, the deviations). A paragraph that
# stops on a colon, or without ending its sentence, runs on into the equation or list it
# introduces, and the figure waits for it; it never waits past a table, a heading, an
# admonition or a prose paragraph.

_FENCE_LINE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SENTENCE_END = re.compile(r"[.!?][)*_\]\"'”’]*$")


def _blocks(markdown: str) -> list[str]:
    """The blank-line separated blocks of `markdown`; a fenced block is one block."""
    blocks: list[str] = []
    current: list[str] = []
    fence = None
    for line in markdown.splitlines():
        opening = _FENCE_LINE.match(line)
        if fence is None and not line.strip():
            if current:
                blocks.append("\n".join(current))
            current = []
            continue
        current.append(line)
        if fence is None and opening:
            fence = opening.group(1)
        elif fence is not None and opening and opening.group(1)[0] == fence[0] \
                and len(opening.group(1)) >= len(fence) and len(current) > 1:
            fence = None
    if current:
        blocks.append("\n".join(current))
    return blocks


def _runs_on_into(block: str) -> bool:
    """A block that continues the sentence before it: display maths or a list."""
    first = block.lstrip()
    return first.startswith("$$") or bool(re.match(r"([*+-]|\d+\.)\s", first))


def _stops_the_figure(block: str) -> bool:
    """A block the figure must come before: a table, a heading, an admonition, code, HTML."""
    first = block.lstrip()
    return (first.startswith(("|", "!!!", "???", "<")) or bool(HEADING.match(block))
            or bool(_FENCE_LINE.match(block)))


def figure_place(blocks: list[str]) -> int:
    """How many of the introduction's `blocks` come before the figure: the citation (a first
    block that links the paper), the idea paragraph, and what the idea's sentence runs on
    into; never a table, a heading or the deviations."""
    at = 1 if blocks and first_arxiv_link(blocks[0]) else 0
    at = min(at + 1, len(blocks))
    while at < len(blocks) and not _SENTENCE_END.search(blocks[at - 1].rstrip()) \
            and _runs_on_into(blocks[at]):
        at += 1
    return next((k for k in range(at) if _stops_the_figure(blocks[k])), at)


def render(module: Module, header: str = "",
           figure: tuple[str, str] | None = None) -> tuple[str, dict[str, str]]:
    """Markdown for the page, and the HTML of each code placeholder in it.

    `header` is Markdown placed under the title (links to the paper, Colab and the source,
    and the explorer). `figure` is an SVG and its Markdown caption (see `figures.py`): it
    goes after the citation and the idea paragraph (`figure_place`), before any table."""
    out = [f"# {module.title}", ""]
    if header:
        out += [header, ""]
    codes: dict[str, str] = {}
    intro = deviations_as_admonition(module.docstring) if module.docstring.strip() else ""
    if figure:
        # The SVG is a placeholder like the code, so Markdown never reads it; the caption is
        # Markdown, so its maths is rendered like the notes'.
        key = code_placeholder(len(codes))
        codes[key] = figure[0]
        block = "\n".join(['<figure class="lit-figure" markdown>', "", key, "",
                           '<figcaption markdown>', "", figure[1], "", "</figcaption>",
                           "</figure>"])
        blocks = _blocks(intro)
        at = figure_place(blocks)
        intro = "\n\n".join(blocks[:at] + [block] + blocks[at:])
    if intro.strip():
        out += ['<div class="lit-intro" markdown>', "", intro, "", "</div>", ""]
    out += ['<div class="lit" markdown>', ""]
    for section in module.sections:
        classes = ["lit-row"]
        if not section.note:
            classes.append("lit-row--no-note")
        if not section.code:
            classes.append("lit-row--no-code")
        anchor = f' id="{section.anchor}"' if section.anchor else ""
        out.append(f'<div class="{" ".join(classes)}"{anchor} markdown>')
        if section.note:
            out += ['<div class="lit-note" markdown>', "", section.note, "", "</div>"]
        else:
            out.append('<div class="lit-note"></div>')
        key = code_placeholder(len(codes))
        codes[key] = _code_html(module, section)
        out += [f'<div class="lit-code">{key}</div>', "</div>", ""]
    out += ["</div>", ""]
    return "\n".join(out), codes


def _code_html(module: Module, section: Section) -> str:
    if not section.code:
        return ""
    # One block per line, each knowing its indentation, so that a line too long for the column
    # wraps under its own indentation plus four (see `.lit-line` in literate.css) instead of
    # being cut off. An empty line holds a space, or its block would have no height.
    body = "".join(
        f'<span class="lit-line" style="--indent:{len(line) - len(line.lstrip(" "))}">'
        f'{module.html_lines[n - 1] or " "}</span>'
        for n, line in zip(section.lines, section.code))
    link = (f'<a class="lit-anchor" href="#{section.anchor}" title="Link to this section">#</a>'
            if section.anchor else "")
    return f'{link}<div class="highlight"><pre><code>{body}</code></pre></div>'
