"""Every results page read on a phone (400 px, dark scheme) and on a wide screen (1440 px,
light), in Chromium: at 400 px each plot fits the screen and each table keeps its key column
(the run, the model, the comparison) in view while its numbers scroll; at 1440 px nothing of
that shows, and the page reads as it did. Phone screenshots of every results page are left in
test-artifacts/ (`phone_<page>.png`)."""

from __future__ import annotations

import pytest

from site_fixtures import ARTIFACTS, site_pages

# One look at a results page: the plots' boxes, the page width, the verdict, the folded block,
# and each table's first column before and after its scroll box is scrolled to the far right.
LOOK_JS = """() => {
  const content = document.querySelector('.md-content article');
  const box = e => { const b = e.getBoundingClientRect(); return {left: b.left, right: b.right, width: b.width}; };
  const images = [...content.querySelectorAll('img')].map(i => ({...box(i), natural: i.naturalWidth,
      src: i.getAttribute('src'), background: getComputedStyle(i).backgroundColor,
      radius: parseFloat(getComputedStyle(i).borderTopLeftRadius)}));
  const tables = [...content.querySelectorAll('table')].map(t => {
    const wrap = t.closest('.md-typeset__scrollwrap') || t;
    const first = () => [...t.querySelectorAll('tr > :first-child')].map(box);
    const before = first();
    const scrolls = wrap.scrollWidth > wrap.clientWidth + 1;
    wrap.scrollLeft = wrap.scrollWidth;
    const after = first(), seen = box(wrap);
    wrap.scrollLeft = 0;
    return {before, after, seen, scrolls, sticky: getComputedStyle(t.querySelector('td, th')).position,
            text: t.textContent.trim().slice(0, 50)};
  });
  const verdict = content.querySelector('.lit-verdict');
  const made = [...content.querySelectorAll('details')].find(d =>
      d.querySelector('summary').textContent.trim() == 'How it was made');
  const order = (a, b) => !!(a && b && (a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING));
  return {viewport: window.innerWidth, pageWidth: document.documentElement.scrollWidth, images, tables,
          verdict: verdict ? box(verdict) : null, verdictFirst: order(verdict, content.querySelector('img')),
          made: made ? {open: made.open, text: made.textContent} : null};
}"""


def _results(site_dir) -> list[str]:
    return [p for p in site_pages(site_dir) if p.startswith("results/") and p != "results/"]


def _name(path: str) -> str:
    return path.strip("/").replace("/", "_")


@pytest.fixture(scope="module")
def phone(browser):
    page = browser.new_page(viewport={"width": 400, "height": 860}, color_scheme="dark")
    yield page
    page.close()


def test_every_results_page_fits_a_phone(phone, site_dir, site_url):
    pages = _results(site_dir)
    assert len(pages) >= 10
    ARTIFACTS.mkdir(exist_ok=True)
    for path in pages:
        phone.goto(site_url + path, wait_until="load")
        look = phone.evaluate(LOOK_JS)
        where, width = f"/{path} at 400 px", look["viewport"]
        assert look["pageWidth"] <= width, f"{where} scrolls sideways"
        # Every plot inside the screen, whole: no wider than the viewport, not cut at either edge.
        assert look["images"], where
        for image in look["images"]:
            assert image["natural"] > 0, (where, image["src"])
            assert image["width"] <= width and image["left"] >= 0 and image["right"] <= width, (where, image)
            # The dark scheme shows a plot on a light card, not as a white block on black.
            assert image["background"] == "rgb(255, 255, 255)" and image["radius"] > 0, (where, image)
        # Each table's first column is in view without scrolling, and stays in view when the
        # rest of the table is scrolled to its far right.
        for table in look["tables"]:
            for cell in table["before"]:
                assert cell["left"] >= 0 and cell["right"] <= width, (where, table["text"], cell)
            if table["scrolls"]:
                assert table["sticky"] == "sticky", (where, table["text"])
                for cell in table["after"]:
                    assert cell["left"] >= table["seen"]["left"] - 1 and cell["right"] <= table["seen"]["right"] + 1, \
                        (where, table["text"], cell, table["seen"])
        # The template: the verdict above the plots, within the screen; how it was made folded.
        assert look["verdict"] and look["verdictFirst"], where
        assert look["verdict"]["right"] <= width, where
        assert look["made"] and not look["made"]["open"], where
        phone.screenshot(path=str(ARTIFACTS / f"phone_{_name(path)}.png"))


def test_nothing_regresses_at_1440(browser, site_dir, site_url):
    page = browser.new_page(viewport={"width": 1440, "height": 900}, color_scheme="light")
    for path in _results(site_dir):
        page.goto(site_url + path, wait_until="load")
        look = page.evaluate(LOOK_JS)
        where = f"/{path} at 1440 px"
        assert look["pageWidth"] <= look["viewport"], where
        for image in look["images"]:
            # In the content column, never scaled above its own size, and no card in the light scheme.
            assert image["right"] <= look["viewport"] and image["width"] <= image["natural"] + 1, (where, image)
            assert image["background"] in ("rgba(0, 0, 0, 0)", "transparent"), (where, image)
        for table in look["tables"]:
            # Every table whole, and the phone's sticky column not in force.
            assert not table["scrolls"], (where, table["text"])
            assert table["sticky"] != "sticky", (where, table["text"])
        assert look["verdict"] and look["verdictFirst"], where
        assert look["made"] and not look["made"]["open"], where
        # Unfolded, the block holds the command and the four items.
        page.click("details > summary:has-text('How it was made')")
        text = page.evaluate(LOOK_JS)["made"]["text"]
        for word in ("Machine:", "Date:", "Seeds:", "Wall time:"):
            assert word in text, (where, word)
    page.close()
