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
"""

from __future__ import annotations

import html
import logging
import re

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
    return mathml


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
