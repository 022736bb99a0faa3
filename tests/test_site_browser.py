"""The built site, read in a real browser: Debian's Chromium driven by Playwright, over a
local HTTP server. Screenshots of the Transformer-XL page are left in test-artifacts/."""

from __future__ import annotations

import re
import urllib.request
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest

from site_fixtures import ARTIFACTS, site_pages

XL_PAGE = "transformer_xl/"
# LaTeX left in visible text: `$$`, or a `$...$` pair around something TeX-like.
RAW_MATHS = re.compile(r"\$\$|\$[^$\s][^$]*?[\\_^{}][^$]*?\$")

# One look at a page: ids used twice, its visible prose (content without code, scripts and
# styles), and every <math> element as the browser lays it out.
INSPECT_JS = """() => {
  const seen = new Set(), twice = [];
  document.querySelectorAll('[id]').forEach(e => seen.has(e.id) ? twice.push(e.id) : seen.add(e.id));
  const content = document.querySelector('.md-content').cloneNode(true);
  content.querySelectorAll('pre, code, .lit-code, script, style').forEach(e => e.remove());
  const maths = [...document.querySelectorAll('.md-content math')].map(m => {
    const box = m.getBoundingClientRect();
    return {display: getComputedStyle(m).display, width: box.width, height: box.height};
  });
  return {duplicates: twice, prose: content.textContent, maths: maths};
}"""


@pytest.fixture(scope="module")
def page_1280(browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    yield page
    page.close()


def _record_problems(page, base: str) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    # ERR_ABORTED is a request cut short by leaving the page (the search index loading in
    # its worker), not a failure; anything else is.
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url} {r.failure}")
            if "ERR_ABORTED" not in (r.failure or "") else None)
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}")
            if r.status >= 400 else None)
    # Reading the site must not need the network: every request stays on the local server.
    page.on("request", lambda r: problems.append(f"left the site: {r.url}")
            if not r.url.startswith((base, "data:", "blob:")) else None)
    return problems


def test_every_page_loads_cleanly_with_rendered_maths(browser, site_dir, site_url):
    pages = site_pages(site_dir)
    assert len(pages) >= 2
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = _record_problems(page, site_url)
    with_maths = []
    for path in pages:
        page.goto(site_url + path, wait_until="load")
        if path in ("", XL_PAGE):
            page.wait_for_load_state("networkidle")   # everything a page asks for, once
        look = page.evaluate(INSPECT_JS)
        assert not look["duplicates"], f"/{path}: ids used twice: {look['duplicates']}"
        raw = RAW_MATHS.search(look["prose"])
        assert raw is None, f"/{path}: maths left as text: {raw.group(0)!r}"
        maths = look["maths"]
        for m in maths:
            # Chromium lays MathML out itself: display is `math`/`block math`, boxes have size.
            assert "math" in m["display"] and m["width"] > 0 and m["height"] > 0, (path, m)
        if maths:
            with_maths.append(path)
    page.close()
    assert not problems, "\n".join(problems)
    # Pages whose notes are known to carry maths show it.
    for path in ("", XL_PAGE):
        assert path in with_maths, f"no rendered maths on /{path}"


def test_fractions_are_laid_out_in_two_dimensions(page_1280, site_dir, site_url):
    """MathML is really typeset: a fraction's numerator sits above its denominator."""
    path = next(p for p in site_pages(site_dir)
                if "<mfrac" in (site_dir / p / "index.html").read_text(encoding="utf-8"))
    page_1280.goto(site_url + path)
    numerator, denominator = page_1280.evaluate("""() => {
      const f = document.querySelector('.md-content mfrac');
      return [...f.children].map(c => { const b = c.getBoundingClientRect();
                                        return {top: b.top, bottom: b.bottom}; });
    }""")
    assert numerator["bottom"] <= denominator["top"] + 1


def _first_full_row(page) -> dict:
    return page.evaluate("""() => {
      const row = document.querySelector('.lit-row:not(.lit-row--no-note):not(.lit-row--no-code)');
      const box = e => { const b = e.getBoundingClientRect();
                         return {left: b.left, right: b.right, top: b.top, bottom: b.bottom}; };
      return {note: box(row.querySelector('.lit-note')), code: box(row.querySelector('.lit-code')),
              pageWidth: document.documentElement.scrollWidth,
              viewport: window.innerWidth};
    }""")


def test_notes_beside_code_when_wide(page_1280, site_url):
    page_1280.goto(site_url + XL_PAGE)
    row = _first_full_row(page_1280)
    assert row["note"]["right"] <= row["code"]["left"] + 1
    assert abs(row["note"]["top"] - row["code"]["top"]) < 2
    assert row["code"]["right"] <= row["viewport"]
    assert row["pageWidth"] <= row["viewport"], "the page scrolls sideways"
    # Long lines wrap in the column, yet the text (what a reader copies) keeps its indentation.
    code = page_1280.evaluate("() => [...document.querySelectorAll('.lit-code code')]"
                              ".map(c => c.innerText).join('\\n')")
    assert re.search(r"\n {4,}\S", code)


def test_notes_above_code_when_narrow(browser, site_url):
    page = browser.new_page(viewport={"width": 400, "height": 900})
    page.goto(site_url + XL_PAGE)
    row = _first_full_row(page)
    assert row["note"]["bottom"] <= row["code"]["top"] + 1
    assert abs(row["note"]["left"] - row["code"]["left"]) < 2
    assert row["pageWidth"] <= row["viewport"], "the page scrolls sideways"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "transformer_xl_400.png"))
    page.close()


def test_search_finds_the_relative_shift(page_1280, site_url):
    page_1280.goto(site_url)
    page_1280.wait_for_load_state("networkidle")   # the search index has been fetched
    page_1280.click(".md-search__input")
    page_1280.locator("input.md-search__input").press_sequentially("relative shift")
    hit = (page_1280.locator(f".md-search-result__link[href*='{XL_PAGE}']")
           .filter(has_text=re.compile("relative shift", re.IGNORECASE)).first)
    hit.wait_for(timeout=10000)


def test_dark_scheme_switches(page_1280, site_url):
    page_1280.goto(site_url + XL_PAGE)
    scheme = lambda: page_1280.get_attribute("body", "data-md-color-scheme")  # noqa: E731
    before = scheme()
    page_1280.click("form[data-md-component=palette] label:visible")
    after = scheme()
    assert {before, after} == {"default", "slate"}
    ARTIFACTS.mkdir(exist_ok=True)
    page_1280.screenshot(path=str(ARTIFACTS / f"transformer_xl_1280_{after}.png"))
    page_1280.click("form[data-md-component=palette] label:visible")
    assert scheme() == before


def test_screenshot_of_transformer_xl(page_1280, site_url):
    page_1280.goto(site_url + XL_PAGE)
    ARTIFACTS.mkdir(exist_ok=True)
    page_1280.screenshot(path=str(ARTIFACTS / "transformer_xl_1280.png"))
    page_1280.screenshot(path=str(ARTIFACTS / "transformer_xl_1280_full.png"), full_page=True)
    assert (ARTIFACTS / "transformer_xl_1280.png").stat().st_size > 10_000


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key) and (key == "id" or tag == "a"):
                self.ids.add(attrs[key])
        for key in ("href", "src"):
            if attrs.get(key):
                self.links.append(attrs[key])


def test_every_internal_link_resolves(site_dir, site_url):
    """Every link, image, script and stylesheet on every page that points into the site is
    served, and every #anchor it names exists on the page it points to."""
    parsed: dict[str, _Links] = {}

    def parse(url: str) -> _Links:
        if url not in parsed:
            with urllib.request.urlopen(url) as response:
                links = _Links()
                if "html" in response.headers.get("Content-Type", ""):
                    links.feed(response.read().decode("utf-8"))
                parsed[url] = links
        return parsed[url]

    broken = []
    for path in site_pages(site_dir):
        here = site_url + path
        for link in parse(here).links:
            if urlsplit(link).scheme in ("http", "https", "mailto", "javascript", "data") \
                    and not link.startswith(site_url):
                continue
            target, anchor = urldefrag(urljoin(here, link))
            try:
                ids = parse(target).ids
            except OSError as error:
                broken.append(f"/{path}: {link} ({error})")
                continue
            if anchor and anchor not in ids:
                broken.append(f"/{path}: {link} (no #{anchor} there)")
    assert not broken, "\n".join(sorted(set(broken)))


# ## The maths font, and what the braces paint
#
# MathML stretches an underbrace with the OpenType MATH table of the font it is set in. The
# `<mo>`'s own box keeps the width of the unstretched glyph (6.8 px) whatever is drawn, and
# Chromium paints the brace only in the raster tiles (256 device pixels) that hold that box, so
# where a brace crosses a tile edge part of it was never painted. The brace is therefore
# measured where a reader sees it: the inked pixel columns of the strip between the term and
# its label, in a screenshot at device scale 3, with the equation shifted across a whole tile
# so that every brace meets a tile edge somewhere.
BRACES_JS = """() => [...document.querySelectorAll('.md-content munder > mo:last-child')]
  .filter(mo => mo.textContent.trim() == '\u23df').length"""
BRACE_JS = """([i, shift]) => {
  const mo = [...document.querySelectorAll('.md-content munder > mo:last-child')]
               .filter(mo => mo.textContent.trim() == '\u23df')[i];
  const maths = mo.closest('math');
  maths.style.paddingLeft = shift + 'px';
  const base = mo.previousElementSibling, under = mo.parentElement, outer = under.parentElement;
  base.scrollIntoView({block: 'center', inline: 'center'});
  // The label (a), (b) ... is the outer munder's script; the strip ends where it starts.
  const label = outer.tagName == 'munder' && outer.firstElementChild == under
              ? outer.lastElementChild.getBoundingClientRect() : null;
  const b = base.getBoundingClientRect();
  return {left: b.left, right: b.right, top: b.bottom,
          bottom: label ? label.top : under.getBoundingClientRect().bottom + 4};
}"""
SCALE = 3
TILE = 256 / SCALE        # a raster tile, in CSS pixels
OUTSIDE = 4               # a brace's hooks may reach this far past its term (italic overhang)


def _ink(page, box: dict, pad: float = 8) -> tuple[float, float]:
    """Where the ink of the strip box["top"]..box["bottom"] starts and ends across, in CSS
    pixels from box["left"]: the first and last pixel columns that differ from the page's
    background, in a screenshot at the page's device scale."""
    import io

    from PIL import Image
    clip = {"x": box["left"] - pad, "y": box["top"],
            "width": box["right"] - box["left"] + 2 * pad, "height": box["bottom"] - box["top"]}
    strip = Image.open(io.BytesIO(page.screenshot(clip=clip))).convert("L")
    scale = strip.width / clip["width"]
    background = strip.getpixel((0, 0))
    inked = [x for x in range(strip.width)
             if any(abs(strip.getpixel((x, y)) - background) > 96 for y in range(strip.height))]
    if not inked:
        return box["right"] - box["left"], 0.0
    return inked[0] / scale - pad, (inked[-1] + 1) / scale - pad


def _painted_braces(page, shifts) -> list[dict]:
    """For every underbrace of the page and every shift of its equation: the term's width and
    where the brace's ink starts and ends, relative to the term, in CSS pixels."""
    found = []
    for i in range(page.evaluate(BRACES_JS)):
        for shift in shifts:
            page.evaluate(BRACE_JS, [i, shift])
            page.wait_for_timeout(20)                  # one frame: painted at the new place
            box = page.evaluate(BRACE_JS, [i, shift])
            term = box["right"] - box["left"]
            start, end = _ink(page, box)
            found.append({"brace": i, "shift": shift, "term": term, "start": start,
                          "end": end, "coverage": max(0.0, end - start) / term})
    page.evaluate("() => document.querySelectorAll('.md-content math')"
                  ".forEach(m => m.style.paddingLeft = '')")
    return found


@pytest.mark.parametrize("width", [1440, 400])
def test_underbraces_stretch_across_their_terms(browser, site_url, width):
    """In Transformer-XL's $A_{i,j}$ each of the four braces is painted across its whole term
    (a), (b), (c), (d), wherever the equation falls on the page: its ink covers at least 0.95
    of the term, starts no more than 2 px after the term does and ends no more than 2 px
    before it (and at most 4 px beyond either edge). With a font without a
    MATH table the same braces are one glyph wide, the control that the measure sees ink."""
    page = browser.new_page(viewport={"width": width, "height": 900},
                            device_scale_factor=SCALE)
    page.goto(site_url + XL_PAGE, wait_until="networkidle")
    assert page.evaluate("async () => { await document.fonts.ready; return [...document.fonts]"
                         ".filter(f => f.family.includes('Noto Sans Math') && f.status == 'loaded')"
                         ".length }") == 1
    shifts = [round(k * TILE / 7, 1) for k in range(7)]
    braces = _painted_braces(page, shifts)
    assert len({b["brace"] for b in braces}) >= 4, braces
    short = [f"brace {b['brace']} shifted {b['shift']} px: {b['coverage']:.2f} of its "
             f"{b['term']:.0f} px term, ink from {b['start']:+.1f} to {b['end'] - b['term']:+.1f} px"
             for b in braces
             if b["coverage"] < 0.95 or not -OUTSIDE <= b["start"] <= 2
             or not -2 <= b["end"] - b["term"] <= OUTSIDE]
    assert not short, "\n".join(short)
    # The control: the same page in a font without a MATH table.
    page.add_style_tag(content=".md-typeset math { font-family: serif !important; }")
    page.wait_for_timeout(100)
    assert all(b["coverage"] < 0.5 for b in _painted_braces(page, [0]))
    page.close()


def test_an_overline_spans_its_term(browser, site_url):
    """`\\overline{\\sum_j \\psi_j(t)}` on the ∞-former's basis page: the bar is drawn across the
    whole sum (the bar character the converter writes does not stretch in the maths font; it
    was a dash over the middle, 0.16 of the term)."""
    page = browser.new_page(viewport={"width": 1440, "height": 900}, device_scale_factor=SCALE)
    page.goto(site_url + "infinity_former/continuous/", wait_until="networkidle")
    page.evaluate("document.fonts.ready")
    box = page.evaluate("""() => {
      const sum = [...document.querySelectorAll('.md-content math')]
        .find(m => m.textContent.startsWith('\u2211jψj(t)'));
      sum.scrollIntoView({block: 'center'});
      const outer = sum.getBoundingClientRect(), term = sum.querySelector('msub').parentElement
        .getBoundingClientRect();
      return {left: term.left, right: term.right, top: outer.top - 2, bottom: term.top}; }""")
    start, end = _ink(page, box)
    term = box["right"] - box["left"]
    assert (end - start) >= 0.95 * term and abs(start) <= 2 and abs(end - term) <= 2, \
        (start, end, term)
    page.close()
