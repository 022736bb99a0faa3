"""Maths in Markdown, rendered to MathML at build time.

`$...$` is inline maths and `$$...$$` display maths (it may span lines). Before Markdown runs,
every formula is converted by latex2mathml and replaced by a placeholder made of letters and
digits only, which Markdown leaves alone; after Markdown, the hook puts the MathML back. So
underscores, asterisks and braces inside a formula never become emphasis, and the reader's
browser renders the maths itself (Chromium, Firefox and Safari all render MathML natively):
no script and no network: the maths font (Noto Sans Math, with the OpenType MATH table that
stretches braces and radicals) is served by the site itself, see docs/assets/literate.css.

Rules, close to pandoc's: an opening `$` must be followed by a non-space, a closing `$` must
follow a non-space and must not be followed by a digit (so "$5 and $10" is not maths). `\\$`
is a literal dollar. Nothing inside code spans or fenced code blocks is touched.

Two things Chromium draws wrongly are mended in the MathML (see `_mend`): a brace stretched
across a term is painted only where a raster tile also holds the brace's unstretched glyph, and
a bar (`\\overline`, `\\underline`) does not stretch at all in the site's maths font.
"""

from __future__ import annotations

import html
import logging
import re
import xml.etree.ElementTree as ElementTree

from latex2mathml.converter import convert

log = logging.getLogger("mkdocs.hooks.literate.maths")

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_TOKEN = re.compile(
    r"(?P<code>(?P<ticks>`+).+?(?P=ticks))"                      # an inline code span
    r"|(?P<escaped>\\\$)"                                        # a literal dollar
    r"|\$\$(?P<display>[^`]+?)\$\$"                              # display maths
    r"|\$(?P<inline>[^\s$`](?:(?:(?!\n[ \t]*\n)[^$`])*?[^\s$`\\])?)\$(?!\d)",  # inline maths
    re.DOTALL)
PLACEHOLDER = re.compile(r"LITMATH(\d+)X")
# Text inside maths (`\text{old\_mem}`): LaTeX prints `\_` there as `_`; latex2mathml would
# print the backslash too, so the escapes are undone before converting.
_TEXT = re.compile(r"(\\(?:text|textrm|textit|textbf|texttt|textsf|mbox)\s*\{)([^{}]*)\}")
_TEXT_ESCAPE = re.compile(r"\\([_%#&{}])")


# LaTeX's operator names that latex2mathml does not know, spelled out for it.
_OPERATORS = re.compile(r"\\(arg)(?![A-Za-z])")
# What latex2mathml makes of a command it does not know: the command, printed as a symbol.
_UNKNOWN = re.compile(r">(\\[A-Za-z]+)<")


def to_mathml(latex: str, display: bool) -> str:
    """MathML for one formula; ValueError for a command the converter does not know."""
    latex = _TEXT.sub(lambda m: m.group(1) + _TEXT_ESCAPE.sub(r"\1", m.group(2)) + "}", latex)
    latex = _OPERATORS.sub(r"\\operatorname{\1}", latex)
    mathml = convert(latex, display="block" if display else "inline")
    unknown = _UNKNOWN.search(mathml)
    if unknown:
        raise ValueError(f"unknown command {unknown.group(1)}")
    return _mend(mathml)


# ## What Chromium draws wrongly, mended
#
# A brace under or over a term (`\underbrace`, `\overbrace`, and the bracket and parenthesis
# forms) is an `<mo>` that the browser stretches to the term's width from the font's glyph
# parts. Chromium keeps the `<mo>`'s box at the width of the unstretched glyph (6.8 px) while
# it paints the parts across the whole term; the page is rasterised in tiles of 256 device
# pixels, and a tile that does not hold that small box skips the brace. So a brace that
# crosses a tile edge loses the part beyond it: a hook and an extender or two, at either end,
# depending on where the formula falls on the page (Transformer-XL's term (b) lost its left
# 16 px, under $q_i^\top$). A transparent shadow spread around the `<mo>` widens the area it
# is known to paint to cover any term, and changes nothing that is drawn or laid out.
_BRACES = frozenset("\u23b4\u23b5\u23dc\u23dd\u23de\u23df\u23e0\u23e1")
_MO = re.compile(r"<mo>([^<]+)</mo>")
_PAINT_ACROSS = "box-shadow: 0 0 0 24em transparent"
# A bar over or under a term: latex2mathml writes an accent of U+2015, which neither it nor any
# other bar character stretches in the site's maths font (it stays one glyph, a dash over the
# middle of $\overline{\sum_j \psi_j(t)}$). A border of the term's own box is drawn across it.
_BAR = "\u2015"
_BAR_STYLE = {"mover": "border-top: 0.06em solid; padding-top: 0.12em",
              "munder": "border-bottom: 0.06em solid; padding-bottom: 0.12em"}
_NS = "http://www.w3.org/1998/Math/MathML"
ElementTree.register_namespace("", _NS)


def _mend(mathml: str) -> str:
    mathml = _MO.sub(lambda m: f'<mo style="{_PAINT_ACROSS}">{m.group(1)}</mo>'
                     if html.unescape(m.group(1)).strip() in _BRACES else m.group(0), mathml)
    if "&#x02015;" not in mathml:
        return mathml
    root = ElementTree.fromstring(mathml)
    for parent in root.iter():
        for child in parent:
            tag = child.tag.removeprefix(f"{{{_NS}}}")
            if tag in _BAR_STYLE and len(child) == 2 and child[1].tag == f"{{{_NS}}}mo" \
                    and (child[1].text or "").strip() == _BAR:
                child.tag, child.attrib = f"{{{_NS}}}mrow", {"style": _BAR_STYLE[tag]}
                child.remove(child[1])
    return ElementTree.tostring(root, encoding="unicode")


class MathStash:
    """The formulas of one page: their MathML and their source, by placeholder."""

    def __init__(self, where: str = ""):
        self.where = where
        self.html: list[str] = []
        self.latex: list[str] = []

    def add(self, latex: str, display: bool) -> str:
        latex = latex.strip()
        try:
            mathml = to_mathml(latex, display)
        except Exception as error:  # latex2mathml raises many kinds; report the formula
            log.warning("%s: cannot render maths %r: %s", self.where, latex, error)
            mathml = f'<code class="lit-math-error">{html.escape(latex)}</code>'
        self.html.append(mathml)
        self.latex.append(latex)
        return f"LITMATH{len(self.html) - 1}X"

    def restore(self, text: str) -> str:
        """Put the MathML back in rendered HTML."""
        return PLACEHOLDER.sub(lambda m: self.html[int(m.group(1))], text)

    def plain(self, text: str) -> str:
        """Put the LaTeX source back, for heading ids: they must not change when a formula
        is rendered differently."""
        return PLACEHOLDER.sub(lambda m: self.latex[int(m.group(1))], text)

    def text(self, text: str) -> str:
        """Put each formula back as the characters a reader sees (`\\sigma` becomes σ), for
        places that take plain text only: the table of contents and the browser's title."""
        return PLACEHOLDER.sub(lambda m: as_text(self.html[int(m.group(1))]), text)


_TAG = re.compile(r"<[^>]+>")


def as_text(mathml: str) -> str:
    """The characters of a MathML formula in reading order, without its layout (a subscript
    follows its base): `M_{s-1}` reads `Ms−1`, `\\sigma(Q)` reads `σ(Q)`."""
    return html.unescape(_TAG.sub("", mathml)).strip()


def stash_maths(markdown: str, stash: MathStash) -> str:
    """Replace every formula in `markdown` by a placeholder held in `stash`."""
    out: list[str] = []
    prose: list[str] = []
    fence = None
    for line in markdown.splitlines(keepends=True):
        opening = _FENCE.match(line)
        if fence is None and opening:
            out.append(_stash_prose("".join(prose), stash))
            prose = []
            fence = opening.group(1)
            out.append(line)
        elif fence is not None:
            out.append(line)
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                fence = None
        else:
            prose.append(line)
    out.append(_stash_prose("".join(prose), stash))
    return "".join(out)


def _stash_prose(text: str, stash: MathStash) -> str:
    def replace(match: re.Match) -> str:
        if match.group("code"):
            return match.group(0)
        if match.group("escaped"):
            return "&#36;"
        if match.group("display") is not None:
            return stash.add(match.group("display"), display=True)
        return stash.add(match.group("inline"), display=False)

    return _TOKEN.sub(replace, text)
