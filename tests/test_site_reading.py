"""The site read as a student reads it, in Chromium at 1440 and 400 px: every architecture page
opens with its figure and keeps one reading order, results pages stand alone, nothing is cut
off at either width, the table of contents is plain text, and plots open full size.

Screenshots of every architecture page and every results page, at both widths, are left in
test-artifacts/ (`<page>_<width>.png`, and `<page>_<width>_full.png` for results pages)."""

from __future__ import annotations

import re

import pytest

from site_fixtures import ARTIFACTS, site_pages

ARCHITECTURES = ["transformer_xl/", "compressive/", "infinity_former/", "infini_attention/",
                 "memorizing_transformer/", "recurrent_memory/",
                 "memory_depth/"]
# The results pages whose generators write the standing-alone layout (plot, table with its
# columns defined, then how the numbers were made).
STANDALONE = ["results/benchmark/", "results/passkey/", "results/frequency_sort/",
              "results/compressive/", "results/memory_depth/", "results/memory_reach/"]
WIDTHS = [1440, 400]


def _results_pages(site_dir) -> list[str]:
    return [p for p in site_pages(site_dir) if p.startswith("results/")]


def _name(path: str) -> str:
    return path.strip("/").replace("/", "_") or "home"


@pytest.fixture(scope="module", params=WIDTHS)
def page(request, browser):
    page = browser.new_page(viewport={"width": request.param, "height": 900})
    page.width = request.param
    yield page
    page.close()


# ## Nothing is cut off
#
# At both widths no page scrolls sideways. Whatever is wider than its column (a long display
# equation, a wide table, a figure at 400 px) scrolls inside its own box, and that box shows
# a shadow at the edge (the scroll hint of literate.css: gradients in its background).
WIDE_JS = """() => {
  const out = {pageWidth: document.documentElement.scrollWidth, viewport: window.innerWidth,
               cut: []};
  const boxes = document.querySelectorAll(
      '.md-content .md-typeset__scrollwrap, .md-content math[display="block"], .md-content .lit-figure, ' +
      '.md-content p:has(> a.glightbox > img)');
  for (const box of boxes) {
    if (box.scrollWidth <= box.clientWidth + 1) continue;
    const style = getComputedStyle(box);
    const scrolls = ['auto', 'scroll'].includes(style.overflowX);
    const hinted = style.backgroundImage.includes('gradient');
    if (!scrolls || !hinted) out.cut.push(box.tagName + '.' + box.className + ' ' +
                                          box.textContent.slice(0, 40));
  }
  return out;
}"""


def test_nothing_is_cut_off_and_what_scrolls_says_so(page, site_dir, site_url):
    for path in ARCHITECTURES + _results_pages(site_dir) + [""]:
        page.goto(site_url + path)
        look = page.evaluate(WIDE_JS)
        assert look["pageWidth"] <= look["viewport"], f"/{path} scrolls sideways at {page.width} px"
        assert not look["cut"], f"/{path} at {page.width} px: {look['cut']}"


def test_wide_tables_are_whole_at_1440(browser, site_dir, site_url):
    """At 1440 px every column of every table on the results, architecture and landing pages
    is in view without scrolling (the benchmark's 14 columns are two tables; the 18 attention
    buckets are set tighter)."""
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    for path in _results_pages(site_dir) + ARCHITECTURES + [""]:
        page.goto(site_url + path)
        hidden = page.evaluate("""() => [...document.querySelectorAll('.md-content .md-typeset__scrollwrap')]
            .filter(w => w.scrollWidth > w.clientWidth + 1).map(w => w.textContent.slice(0, 60))""")
        assert not hidden, (path, hidden)
    page.close()


# ## The figure and the reading order of an architecture page
#
# Citation and idea, then the figure, then the deviations, then the code, then a closing "What it
# measured" that links the results pages and spans the page (no empty code panel beside it).
ORDER_JS = """() => {
  const top = e => e ? e.getBoundingClientRect().top + window.scrollY : null;
  const figure = document.querySelector('.lit-intro .lit-figure svg');
  const rows = [...document.querySelectorAll('.lit-row')];
  const last = rows[rows.length - 1];
  const text = [...figure.querySelectorAll('text')][0];
  return {
    figure: top(figure), figureWidth: figure.getBoundingClientRect().width,
    deviations: top(document.querySelector('.lit-intro .admonition.warning')),
    firstCode: top(document.querySelector('.lit-row:not(.lit-row--no-code) .lit-code')),
    lastHasCode: !last.classList.contains('lit-row--no-code'),
    lastNote: last.querySelector('.lit-note').textContent,
    lastLinks: [...last.querySelectorAll('a')].map(a => a.getAttribute('href')),
    lastCodeShown: getComputedStyle(last.querySelector('.lit-code')).display != 'none',
    textFill: getComputedStyle(text).fill,
    bodyColour: getComputedStyle(document.querySelector('.md-typeset')).color,
    results: [...document.querySelectorAll('.lit-intro h2')].map(h => h.textContent),
  };
}"""


def test_architecture_pages_open_with_their_figure_and_read_in_one_order(page, site_url):
    for path in ARCHITECTURES:
        page.goto(site_url + path)
        look = page.evaluate(ORDER_JS)
        where = f"/{path} at {page.width} px"
        assert look["figure"] < look["deviations"] < look["firstCode"], (where, look)
        assert look["figureWidth"] >= min(500, page.width - 60), where
        # No results section in the introduction: they come after the code.
        assert not [h for h in look["results"] if "Result" in h], (where, look["results"])
        assert not look["lastHasCode"] and "What it measured" in look["lastNote"], where
        assert any("results/" in href for href in look["lastLinks"]), (where, look["lastLinks"])
        assert not look["lastCodeShown"] or page.width < 1000, where
        # Lettering in the text colour of the scheme (currentColor), not a fixed black.
        assert look["textFill"] == look["bodyColour"], (where, look["textFill"], look["bodyColour"])
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{_name(path)}_{page.width}.png"))


# What comes before the static figure, in the page's own order: the title, the links, the
# explorer, then in the introduction the paper's citation and the idea (a display equation or
# a list the idea's sentence runs on into may sit with it), and no table anywhere before it.
OPENING_JS = """() => {
  const article = document.querySelector('.md-content article');
  const figure = article.querySelector('.lit-intro > figure.lit-figure');
  if (!figure) return null;
  const at = e => e ? [...article.querySelectorAll('*')].indexOf(e) : -1;
  const intro = [...figure.parentElement.children];
  const before = intro.slice(0, intro.indexOf(figure));
  const equation = e => e.tagName == 'P' && e.children.length == 1
      && e.firstElementChild.matches('math[display="block"]')
      && e.textContent.trim() == e.firstElementChild.textContent.trim();
  return {
    header: ['h1', '.lit-links', '.memory-explorer', '.lit-intro'].map(s => at(article.querySelector(s))),
    kinds: before.map(e => equation(e) ? 'equation' : e.tagName.toLowerCase()),
    citation: before.length > 0 && before[0].querySelector('a[href*="arxiv.org"]') != null,
    tablesBefore: [...article.querySelectorAll('table')].filter(t =>
        t.compareDocumentPosition(figure) & Node.DOCUMENT_POSITION_FOLLOWING).length,
    firstTable: at(article.querySelector('table')), figure: at(figure),
  };
}"""


def test_the_figure_follows_the_idea_before_any_table(browser, site_url):
    """Every architecture page: title, links, explorer, then the citation and the idea
    paragraph, then the static figure: at most two paragraphs of prose before it (equations
    and lists the idea runs on into aside), and no table above it."""
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    for path in ARCHITECTURES:
        page.goto(site_url + path)
        look = page.evaluate(OPENING_JS)
        assert look is not None, f"/{path} has no figure in its introduction"
        assert all(k >= 0 for k in look["header"]) and look["header"] == sorted(look["header"]), \
            (path, look["header"])
        assert look["citation"], (path, "the introduction does not open with the paper")
        prose = [k for k in look["kinds"] if k == "p"]
        assert 1 <= len(prose) <= 2 and set(look["kinds"]) <= {"p", "equation", "ul", "ol"}, \
            (path, look["kinds"])
        assert look["tablesBefore"] == 0, (path, look)
    page.close()


def test_where_the_figure_goes_in_an_introduction():
    """The placement rule on its own: after the citation and the idea; an idea that stops on
    a colon keeps its equation, one without a full stop keeps its list; a table, the
    deviations or a heading come after the figure even when the idea runs on into them."""
    import literate

    cite = "[A paper](https://arxiv.org/abs/1234.5678)\n(Someone; 2024)."
    place = lambda *blocks: literate.figure_place(list(blocks))  # noqa: E731
    assert place(cite, "The idea.", "More.") == 2
    assert place(cite, "The idea, written:", "$$x = 1$$", "Next.") == 3
    assert place(cite, "Then vary", "* how many\n* where.", "Next.") == 3
    assert place(cite, "The idea, written:", "| a | b |\n|---|---|") == 2
    assert place(cite, "The idea:", "Prose that is not an equation.") == 2
    assert place("No citation, the idea.", "More.") == 1
    assert place(cite, '!!! warning "Deviations from the paper"') == 1
    assert place(cite, "| a table first |", "Idea.") == 1
    assert place() == 0
    text, _ = literate.render(literate.parse('"""\n# T\n\n' + cite + '\n\nThe idea:\n\n'
                                             '$$x$$\n\n| a |\n|---|\n| 1 |\n"""\nx = 1\n'),
                              figure=("<svg/>", "Cap."))
    assert text.index("$$x$$") < text.index("lit-figure") < text.index("| a |")


def test_figures_follow_the_dark_scheme(browser, site_url):
    """The figure's lettering and lines change colour with the scheme, and stay readable:
    light lettering on the dark scheme."""
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(site_url + "compressive/")
    colour = "() => getComputedStyle(document.querySelector('.lit-figure-svg text')).fill"
    light = page.evaluate(colour)
    page.click("form[data-md-component=palette] label:visible")
    assert page.get_attribute("body", "data-md-color-scheme") == "slate"
    dark = page.evaluate(colour)
    assert light != dark

    def brightness(css: str) -> float:
        r, g, b = (float(v) for v in re.findall(r"[\d.]+", css)[:3])
        return (r + g + b) / 3

    assert brightness(dark) > 150 > brightness(light), (light, dark)
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(".lit-figure").screenshot(path=str(ARTIFACTS / "compressive_figure_slate.png"))
    page.click("form[data-md-component=palette] label:visible")
    page.close()


def test_the_landing_page_ends_with_its_prose_and_has_the_notation_table(browser, site_url):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(site_url)
    look = page.evaluate("""() => {
      let table = document.getElementById('notation');
      while (table && !table.querySelector('table')) table = table.nextElementSibling;
      return {code: [...document.querySelectorAll('.lit-code')].map(c => c.textContent),
              symbols: table ? [...table.querySelectorAll('tbody tr td:first-child')]
                                 .map(t => t.textContent) : []};
    }""")
    assert not any("__version__" in c for c in look["code"])
    # The symbols every page uses, each defined once (MathML text: M_c reads "Mc").
    for symbol in ("L", "M", "Mc", "N", "J"):
        assert symbol in look["symbols"], look["symbols"]
    page.close()


# ## Results pages stand alone
#
# Plot first, then a table whose columns are defined in a list right under it, then how the
# numbers were made, folded: command, machine, date, seeds, wall time.
STANDALONE_JS = """() => {
  const content = document.querySelector('.md-content article');
  const items = [...content.querySelectorAll('img, table, h2')];
  const firstImg = items.findIndex(e => e.tagName == 'IMG');
  const firstTable = items.findIndex(e => e.tagName == 'TABLE');
  const made = [...content.querySelectorAll('details > summary')].find(h => /How it was made/.test(h.textContent));
  let after = '';
  for (let e = made && made.nextElementSibling; e; e = e.nextElementSibling) after += e.textContent + '\\n';
  const defined = [...content.querySelectorAll('.md-typeset__scrollwrap')].map(w => {
    const next = w.nextElementSibling; return next ? next.tagName : null; });
  return {firstImg, firstTable, made: !!made, after, defined};
}"""


@pytest.mark.parametrize("path", STANDALONE)
def test_results_pages_stand_alone(browser, site_url, path):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(site_url + path)
    look = page.evaluate(STANDALONE_JS)
    assert 0 <= look["firstImg"] < look["firstTable"], (path, look)
    # Each table is followed by the list that defines its columns (or, for a second table of
    # the same columns, a paragraph saying what its cells are).
    assert look["defined"] and all(t in ("UL", "P") for t in look["defined"]), (path, look["defined"])
    assert look["defined"][0] == "UL", path
    assert look["made"], path
    for word in ("python", "Machine:", "Date:", "Seeds:", "Wall time:"):
        assert word in look["after"], (path, word)
    page.close()


def test_results_series_are_distinguishable():
    """The benchmark's inference plot is one panel per paper now: each panel few enough lines
    to tell apart. Checked on the generator's output: every series a different (colour,
    marker) pair within its panel."""
    import json
    from pathlib import Path

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from labml_memory.studies import benchmark_page as report
    results = json.loads((Path(__file__).resolve().parents[1] / "docs" / "results" /
                          "benchmark" / "records" / "full.json").read_text())
    drawn = {}
    original = plt.Figure.savefig

    def keep(fig, path, *args, **kwargs):
        drawn[Path(path).name] = fig
        return original(fig, path, *args, **kwargs)

    plt.Figure.savefig = keep
    try:
        import tempfile
        with tempfile.TemporaryDirectory() as out:
            report.plot(results, Path(out))
    finally:
        plt.Figure.savefig = original
    for ax in drawn["inference.png"].axes:
        styles = [(line.get_color(), line.get_marker(), line.get_linestyle()) for line in ax.lines]
        assert len(styles) == len(set(styles)), styles
        assert ax.get_ylim()[0] == 0
    # Bars of training throughput start at zero.
    assert drawn["training.png"].axes[0].get_xlim()[0] == 0


def test_plots_open_full_size_on_click(browser, site_url):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(site_url + "infinity_former/", wait_until="networkidle")
    link = page.locator(".md-content a.glightbox").first
    shown = link.locator("img").bounding_box()["width"]
    link.click()
    big = page.locator(".glightbox-container .gslide.current img")
    big.wait_for(state="visible", timeout=5000)
    # Once the opening animation is over, the image is shown at its natural size or as large
    # as the window allows, well beyond its size in the notes column.
    natural = big.evaluate("i => i.naturalWidth")
    target = min(natural, 1.3 * shown) - 2
    page.wait_for_function("([w]) => { const i = document.querySelector("
                           "'.glightbox-container .gslide.current img');"
                           " return i && i.getBoundingClientRect().width >= w; }",
                           arg=[target], timeout=10000)
    page.keyboard.press("Escape")
    page.close()


# At 400 px a plot fits the screen, its legend under the axes (tests/test_study_plots.py), and
# a tap opens it full size (checked above); tests/test_site_phone.py reads every results page.
def test_plots_fit_the_screen_at_400_px(browser, site_dir, site_url):
    page = browser.new_page(viewport={"width": 400, "height": 900})
    seen = 0
    for path in _results_pages(site_dir) + ["infinity_former/"]:
        page.goto(site_url + path, wait_until="load")
        sizes = page.evaluate("""() => [...document.querySelectorAll('.md-content a.glightbox > img')]
            .filter(i => i.complete && i.naturalWidth > 0)
            .map(i => [i.currentSrc, i.naturalWidth, i.getBoundingClientRect().right])""")
        for src, natural, right in sizes:
            assert right <= 400, f"/{path}: {src} ends at {right:.0f} px of 400"
            seen += 1
    assert seen >= 5
    page.close()


# ## The table of contents is plain text

def test_table_of_contents_is_plain_text(page, site_dir, site_url):
    raw = re.compile(r"[\\$]|LITMATH")
    for path in ARCHITECTURES + [""]:
        page.goto(site_url + path)
        titles = page.evaluate("() => [...document.querySelectorAll('.md-nav__link')]"
                               ".map(a => a.textContent.trim())")
        bad = [t for t in titles if raw.search(t)]
        assert not bad, f"/{path}: {bad}"
    page.goto(site_url + "infini_attention/")
    titles = page.evaluate("() => [...document.querySelectorAll('.md-nav__link')].map(a => a.textContent.trim())")
    # Headings are in words (tests/test_notation.py): their entries read as the headings do.
    assert "The feature map" in titles and "The gate" in titles


# ## Screenshots of every results page

def test_screenshots_of_every_results_page(page, site_dir, site_url):
    ARTIFACTS.mkdir(exist_ok=True)
    pages = _results_pages(site_dir)
    assert set(STANDALONE) <= set(pages)
    for path in pages:
        page.goto(site_url + path)
        page.screenshot(path=str(ARTIFACTS / f"{_name(path)}_{page.width}.png"))
        page.screenshot(path=str(ARTIFACTS / f"{_name(path)}_{page.width}_full.png"), full_page=True)
