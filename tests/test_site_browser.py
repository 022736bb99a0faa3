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


# ## The maths font
#
# MathML stretches an underbrace with the OpenType MATH table of the font it is set in. In
# Chromium the `<mo>`'s own box keeps the width of the unstretched glyph, so the brace is
# measured where a reader sees it: the ink under the base, in a screenshot of the `munder`.
BRACE_BOXES_JS = """m => { const base = m.firstElementChild.getBoundingClientRect(),
                           outer = m.getBoundingClientRect();
                           return {base: base.width, below: base.bottom - outer.top,
                                   width: outer.width}; }"""


def _brace_ink(page) -> list[tuple[float, float]]:
    """(width of the braced term, width of the ink of its brace) for every underbrace."""
    import io

    from PIL import Image
    found = []
    for under in page.locator(".md-content munder:has(> mo:text-is('\u23df'))").all():
        box = under.evaluate(BRACE_BOXES_JS)
        image = Image.open(io.BytesIO(under.screenshot())).convert("L")
        scale = image.width / box["width"]
        # Only the rows under the base: the brace and nothing of the term itself.
        band = image.crop((0, int((box["below"] + 1) * scale), image.width, image.height))
        inked = [x for x in range(band.width)
                 if min(band.getpixel((x, y)) for y in range(band.height)) < 128]
        found.append((box["base"], (inked[-1] - inked[0] + 1) / scale if inked else 0.0))
    return found


@pytest.mark.parametrize("width", [1440, 400])
def test_underbraces_stretch_across_their_terms(browser, site_url, width):
    """In Transformer-XL's $A_{i,j}$ each of the four braces spans its term (a), (b), (c), (d),
    with the site's own maths font; without it the same braces are one glyph wide, which is
    the failure this test exists to catch."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(site_url + XL_PAGE, wait_until="networkidle")
    assert page.evaluate("async () => { await document.fonts.ready; return [...document.fonts]"
                         ".filter(f => f.family.includes('Noto Sans Math') && f.status == 'loaded')"
                         ".length }") == 1
    braces = _brace_ink(page)
    assert len(braces) >= 4, braces
    for term, ink in braces:
        assert ink >= 0.75 * term, f"a brace {ink:.0f} px wide under a term of {term:.0f} px"
    # The control: the same page in a font without a MATH table.
    page.add_style_tag(content=".md-typeset math { font-family: serif !important; }")
    page.wait_for_timeout(100)
    assert all(ink < 0.5 * term for term, ink in _brace_ink(page))
    page.close()
