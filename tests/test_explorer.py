"""The memory explorer (docs/assets/explorer.js) in the built site, in Chromium: it sits under
the title of every architecture page, its printed reach agrees with `window_reach` of
labml_memory/tasks/reach.py over a grid of slider settings, a query lights up at least its
own segment in the row below, and the landing page shows all seven. One site build and one
browser page for the module (the fixtures of site_fixtures.py)."""

from __future__ import annotations

import itertools
import re

import pytest

from labml_memory.memory_depth import memory_lengths
from labml_memory.studies.memory_reach import UNBOUNDED
from labml_memory.tasks.reach import window_reach
from site_fixtures import ARTIFACTS

ARCHITECTURES = ["transformer_xl", "compressive", "infinity_former", "infini_attention",
                 "memorizing_transformer", "recurrent_memory", "memory_depth"]
# The drawn segments sit this far into a long text in the explorer too, so nothing is cut
# at position 0 and the two counts are a long text's.
FAR = 10_000


@pytest.fixture(scope="module")
def page(browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.problems = problems
    yield page
    page.close()


def _open(page, site_url, path):
    page.goto(site_url + path, wait_until="load")
    page.wait_for_selector(".memory-explorer.mx-ready svg .mx-query")


# Set sliders (value, then an `input` event, as a hand on the slider does) for every setting
# of a list, and read back what the explorer shows after each: the values of its controls and
# the lines of its readout.
DRIVE_JS = """settings => {
  const root = document.querySelector('.memory-explorer');
  const read = () => {
    const values = {};
    root.querySelectorAll('[data-param]').forEach(i => {
      const v = i.getAttribute('data-value');
      values[i.dataset.param] = /^-?\\d+$/.test(v) ? Number(v) : v;
    });
    const line = role => { const e = root.querySelector(`[data-role="${role}"]`);
                           return e ? e.textContent : null; };
    const number = role => { const e = root.querySelector(`[data-role="${role}"] .mx-num`);
                             return e ? Number(e.textContent.replace(/,/g, '')) : null; };
    return {values, reach: line('reach'), reachNumber: number('reach'), windowNumber: number('window')};
  };
  return settings.map(setting => {
    for (const [key, value] of Object.entries(setting)) {
      const input = root.querySelector(`[data-param="${key}"]`);
      if (!input) throw new Error('no control ' + key);
      if (input.tagName === 'SELECT') input.value = value;
      else {
        // A slider over a list of values (c, C) moves by index.
        const options = input.dataset.options ? JSON.parse(input.dataset.options) : null;
        input.value = options ? options.indexOf(value) : value;
      }
      input.dispatchEvent(new Event('input', {bubbles: true}));
    }
    return read();
  });
}"""


def _grid(model: str) -> list[dict]:
    if model == "transformer_xl":
        axes = dict(L=[2, 5, 8, 32, 64], M=[0, 1, 7, 8, 9, 40, 128], N=[1, 2, 3, 8])
    elif model == "compressive":
        axes = dict(L=[8, 16, 64], M=[1, 8, 100], Mc=[0, 3, 64], c=[1, 2, 8], N=[1, 3])
    elif model == "infinity_former":
        axes = dict(L=[2, 8, 64], M=[0, 5, 8, 128], J=[2, 16], N=[1, 2, 8])
    elif model == "infini_attention":
        axes = dict(L=[2, 8, 63, 64], N=[1, 3, 8])
    elif model == "memorizing_transformer":
        axes = dict(L=[2, 8, 64], M=[0, 4, 8, 128], C=[64, 1024, 4096], N=[2, 4, 8])
    elif model == "recurrent_memory":
        axes = dict(L=[2, 8, 64], m=[1, 2, 16], N=[1, 3, 8])
    else:
        # Long before short and layers before long layers: the explorer keeps the short
        # memory within the long one and the long layers within the layers, as the Python does.
        # Counts of long layers that do not divide the layers (3 of 4, 4 of 6) are where the
        # placements differ most.
        axes = dict(L=[4, 32], N=[1, 4, 6], Ml=[16, 128], Ms=[0, 2, 16], nl=[0, 1, 3, 4, 6],
                    placement=["first", "interleaved", "last"])
    keys = list(axes)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(axes[k] for k in keys))]


def _rule(model: str, v: dict) -> tuple[int, str]:
    """What `window_reach` counts for these settings, from the last position of a segment,
    and which of the explorer's lines must print it."""
    position = FAR * v["L"] + v["L"] - 1
    if model == "compressive":
        return window_reach(position, v["L"], [v["M"]] * v["N"], [v["Mc"]] * v["N"], v["c"]), "reach"
    if model == "memory_depth":
        lengths = memory_lengths(v["N"], v["nl"], v["placement"], v["Ml"], v["Ms"])
        return window_reach(position, v["L"], lengths), "reach"
    memory = v["M"] if model in ("transformer_xl", "infinity_former", "memorizing_transformer") else 0
    reach = window_reach(position, v["L"], [memory] * v["N"])
    return reach, ("reach" if model == "transformer_xl" else "window")


def test_the_port_of_the_rule_agrees_with_python(page, site_url):
    """The JavaScript `windowReach` itself, on cases the sliders do not make: per-layer
    lengths, mixed compressed lengths and texts so short that the reach is cut at position 0."""
    _open(page, site_url, "transformer_xl/")
    cases = []
    for position, seg, mems, comps, rate in itertools.product(
            [0, 3, 7, 8, 31, 100, 999], [1, 3, 8], [[0], [5], [2, 9], [16, 0, 3], [70, 130]],
            [None, "same"], [1, 3]):
        comps = [1 + m % 3 for m in mems] if comps == "same" else None
        cases.append([position, seg, mems, comps, rate])
    got = page.evaluate("cases => cases.map(c => memoryExplorer.windowReach(c[0], c[1], c[2], c[3], c[4]))", cases)
    assert got == [window_reach(*case) for case in cases]
    assert not page.problems, page.problems


@pytest.mark.parametrize("model", ARCHITECTURES)
def test_explorer_under_the_title_prints_the_rule(page, site_url, model):
    _open(page, site_url, f"{model}/")
    # Right under the title: after the h1 and its row of links, before the page's prose.
    order = page.evaluate("""() => {
      const content = document.querySelector('.md-content .md-typeset');
      const h1 = content.querySelector('h1'), explorer = content.querySelector('.memory-explorer');
      const between = [];
      for (let e = h1.nextElementSibling; e && e !== explorer; e = e.nextElementSibling) between.push(e.className);
      const box = explorer.getBoundingClientRect(), intro = content.querySelector('.lit-intro');
      return {model: explorer.dataset.model, between, reached: !!h1.nextElementSibling && between.length < 3,
              top: box.top, h1Bottom: h1.getBoundingClientRect().bottom,
              introTop: intro ? intro.getBoundingClientRect().top : null, height: box.height};
    }""")
    assert order["model"] == model
    assert order["between"] == ["lit-links"], order
    assert order["h1Bottom"] <= order["top"] and order["introTop"] >= order["top"] + order["height"] - 1
    results = page.evaluate(DRIVE_JS, _grid(model))
    assert len(results) == len(_grid(model))
    checked = set()
    for setting, shown in zip(_grid(model), results):
        values = shown["values"]
        if model == "memory_depth":
            assert values["Ms"] == min(setting["Ms"], values["Ml"]) and values["nl"] == min(setting["nl"], values["N"])
        else:
            assert values == setting, (setting, values)
        expected, role = _rule(model, values)
        printed = shown["reachNumber"] if role == "reach" else shown["windowNumber"]
        assert printed == expected, (model, values, shown)
        # Where the Python has no count, the explorer says what the Python says.
        assert ("no hard limit" in shown["reach"]) == (model in UNBOUNDED), shown["reach"]
        if model == "memorizing_transformer":
            assert f"as far as the table (C = {values['C']:,} pairs" in shown["reach"], shown["reach"]
        checked.add(expected)
    assert len(checked) >= 3        # the grid moves the number
    assert not page.problems, page.problems


def _lit(page, row: int) -> list[tuple[int, int]]:
    return page.evaluate("""row => [...document.querySelectorAll(
        `.memory-explorer .mx-lit[data-row="${row}"]`)].filter(r => r.dataset.from !== undefined)
        .map(r => [r.dataset.from === '-inf' ? -1e9 : Number(r.dataset.from), Number(r.dataset.to)])""", row)


def _query(page) -> dict:
    return page.evaluate("""() => { const r = document.querySelector('.memory-explorer');
      const n = e => Number(r.getAttribute(e));
      const q = r.querySelector('[data-role="query"] .mx-num');
      const v = {}; r.querySelectorAll('[data-param]').forEach(i => v[i.dataset.param] = i.getAttribute('data-value'));
      return {row: n('data-query-row'), segment: n('data-query-segment'), offset: n('data-query-offset'),
              segments: n('data-segments'), reach: Number(q.textContent.replace(/,/g, '')), values: v}; }""")


def _covers(spans: list[tuple[int, int]], lo: int, hi: int) -> bool:
    return all(any(a <= x <= b for a, b in spans) for x in range(lo, hi + 1))


def _check_query(page, model):
    q = _query(page)
    v = {k: (int(x) if re.fullmatch(r"-?\d+", x) else x) for k, x in q["values"].items()}
    L = v["L"]
    drawn = (q["segments"] - 1 + q["segment"]) * L + q["offset"]
    # At least the query's own segment up to itself lights up in the row it reads.
    assert _covers(_lit(page, q["row"] - 1), drawn - q["offset"], drawn), (model, q)
    # And the number printed for it is the rule's for the layers up to its own.
    if model == "memory_depth":
        lengths = memory_lengths(v["N"], v["nl"], v["placement"], v["Ml"], v["Ms"])
    elif model in ("transformer_xl", "infinity_former", "memorizing_transformer", "compressive"):
        lengths = [v["M"]] * v["N"]
    else:
        lengths = [0] * v["N"]
    comps = [v["Mc"]] * v["N"] if model == "compressive" else None
    rate = v["c"] if model == "compressive" else 1
    expected = window_reach(FAR * L + q["offset"], L, lengths[:q["row"]], comps and comps[:q["row"]], rate)
    assert q["reach"] == expected, (model, q, expected)
    return q


@pytest.mark.parametrize("model", ARCHITECTURES)
def test_a_query_lights_up_its_keys_by_keyboard_and_pointer(page, site_url, model):
    _open(page, site_url, f"{model}/")
    first = _check_query(page, model)           # the default: the top layer, end of a segment
    assert first["row"] == int(first["values"]["N"]) and first["offset"] == int(first["values"]["L"]) - 1
    svg = page.locator(".memory-explorer svg")
    svg.focus()
    for key in ["ArrowLeft", "ArrowLeft", "ArrowLeft", "ArrowDown"]:
        page.keyboard.press(key)
    moved = _check_query(page, model)
    assert (moved["offset"], moved["row"]) == (first["offset"] - 3, max(1, first["row"] - 1)), moved
    page.keyboard.press("PageUp")
    assert _check_query(page, model)["segment"] == moved["segment"] - 1
    # The pointer: over the middle of the second layer's band.
    box = page.locator('.memory-explorer .mx-hit[data-row="1"]').bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.55, box["y"] + box["height"] / 2)
    hovered = _check_query(page, model)
    assert hovered["row"] == 1, hovered
    page.mouse.move(0, 0)                       # leaving the figure puts the chosen query back
    assert _query(page)["row"] == moved["row"]
    assert not page.problems, page.problems


def test_landing_page_shows_the_seven_side_by_side(page, site_url):
    _open(page, site_url, "")
    cards = page.evaluate("""() => [...document.querySelectorAll('.memory-explorer-card')].map(c => {
      const b = c.getBoundingClientRect(), e = c.querySelector('.memory-explorer');
      return {model: e.dataset.model, top: Math.round(b.top), left: b.left,
              href: c.querySelector('figcaption a').getAttribute('href'),
              lit: e.querySelectorAll('.mx-lit').length, reach: e.querySelector('[data-role="reach"]').textContent};
    })""")
    assert [c["model"] for c in cards] == ARCHITECTURES
    assert all(c["lit"] > 0 and c["reach"].startswith("Reach:") for c in cards), cards
    assert all(c["href"] == f"{c['model']}/" for c in cards), cards
    assert max(sum(c["top"] == t for c in cards) for t in {c["top"] for c in cards}) >= 2   # side by side
    # Every card on the landing page comes before its first section.
    assert page.evaluate("""() => { const h2 = document.querySelector('.md-content h2');
      return document.querySelector('.memory-explorer-family').compareDocumentPosition(h2)
             & Node.DOCUMENT_POSITION_FOLLOWING; }""")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "explorer_home_1280.png"))
    assert not page.problems, page.problems
