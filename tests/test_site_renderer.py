"""The literate renderer (docs/renderer/) on small modules of our own.

Unit tests read fixture sources with `literate.parse`; the last tests build a two-page site
from a fixture package with the real hooks and check the HTML that comes out."""

from __future__ import annotations

import re
import shutil

import textwrap
from pathlib import Path

import markdown
import pytest

from site_fixtures import ROOT, mkdocs_build

import literate  # noqa: E402
from maths import MathStash, stash_maths  # noqa: E402

FIXTURE = textwrap.dedent('''\
    """
    # A fixture module

    It opens the page. See [the other module](other.py).

    ## Deviations from the paper

    * We keep $x_1$ instead of $x_0$.

    ## Afterwards

    Back to prose.
    """

    import torch

    # ## Scaling
    #
    # The scores are divided by $\\sqrt{d_k}$ so that $q_i * k_j$ stays near unit variance
    # and $a_{ij}$ keeps its *meaning*.
    SCALE = 0.125


    class Layer(torch.nn.Module):
        """
        A layer. Its note sits beside the `class` line.
        """

        def __init__(self, d: int):
            super().__init__()
            self.d = d  # [d] a shape comment stays in the code

        @torch.no_grad()
        def forward(self, x):
            """Run it."""
            y = torch.cat([
                # a comment inside brackets stays in the code
                x, x,
            ])
            # Halve it.
            return y / 2
    ''')


@pytest.fixture(scope="module")
def parsed() -> literate.Module:
    return literate.parse(FIXTURE, name="fixture")


def _section_with(module: literate.Module, code: str) -> literate.Section:
    return next(s for s in module.sections if any(code in line for line in s.code))


def test_module_docstring_opens_the_page(parsed):
    assert parsed.title == "A fixture module"
    assert parsed.docstring.startswith("It opens the page.")
    assert all('"""' not in line for s in parsed.sections for line in s.code)


def test_comment_block_is_the_note_of_the_code_below(parsed):
    section = _section_with(parsed, "SCALE = 0.125")
    assert section.note.startswith("## Scaling\n\nThe scores are divided")
    assert section.code == ["SCALE = 0.125"]


def test_docstrings_sit_beside_their_definitions(parsed):
    layer = _section_with(parsed, "class Layer")
    assert layer.note == "A layer. Its note sits beside the `class` line."
    assert layer.code[0] == "class Layer(torch.nn.Module):"
    forward = _section_with(parsed, "def forward")
    assert forward.note == "Run it."
    # The decorator goes with the function; the blank line the docstring left does not stay.
    assert forward.code[:3] == ["    @torch.no_grad()", "    def forward(self, x):",
                                "        y = torch.cat(["]


def test_code_and_notes_stay_paired(parsed):
    """Every line of code appears once, in order, and no note text leaks into the code."""
    shown = [line for s in parsed.sections for line in s.code if line.strip()]
    source = FIXTURE.splitlines()
    code_lines = [source[n - 1] for s in parsed.sections for n in s.lines if source[n - 1].strip()]
    assert shown == code_lines
    numbers = [n for s in parsed.sections for n in s.lines]
    assert numbers == sorted(numbers)
    assert "# Halve it." not in "\n".join(shown)
    assert _section_with(parsed, "return y / 2").note == "Halve it."


def test_shape_and_bracket_comments_stay_in_the_code(parsed):
    assert any("# [d] a shape comment" in line for s in parsed.sections for line in s.code)
    inside = _section_with(parsed, "# a comment inside brackets")
    assert inside is _section_with(parsed, "x, x,")


def test_empty_notes_collapse_and_code_is_trimmed(parsed):
    imports = parsed.sections[0]
    assert imports.note == "" and imports.code == ["import torch"]
    for section in parsed.sections:
        assert section.code == [] or (section.code[0].strip() and section.code[-1].strip())


def test_anchors_are_names_not_numbers(parsed):
    anchors = [s.anchor for s in parsed.sections]
    assert "Layer" in anchors and "Layer.forward" in anchors
    assert _section_with(parsed, "SCALE").anchor == ""      # the heading carries its own id
    assert _section_with(parsed, "return y / 2").anchor == "Layer.forward-1"
    assert len(set(a for a in anchors if a)) == len([a for a in anchors if a])


def test_deviations_become_a_warning_admonition(parsed):
    page, codes = literate.render(parsed)
    assert '!!! warning "Deviations from the paper"\n\n    * We keep $x_1$ instead of $x_0$.' in page
    assert "\n## Afterwards" in page                          # the section ends at the next heading
    assert page.count('class="lit-row') == len(parsed.sections) == len(codes)


def test_code_is_highlighted_per_line(parsed):
    _, codes = literate.render(parsed)
    html = "".join(codes.values())
    assert '<span class="k">class</span>' in html
    assert '<span class="lit-line" style="--indent:8">' in html


def _render_note(note: str) -> str:
    stash = MathStash()
    body = markdown.markdown(stash_maths(note, stash))
    return stash.restore(body)


def test_maths_with_underscores_and_asterisks_renders_as_maths(parsed):
    html = _render_note(_section_with(parsed, "SCALE").note)
    assert "<em>" not in html.replace("<em>meaning</em>", "")
    assert html.count("<math") == 3
    assert "<msqrt>" in html and "<msub>" in html and "&#x0002A;" in html
    assert "$" not in html


def test_what_is_not_maths_is_left_alone():
    html = _render_note("It costs $5 and $10. `$x_1$` is code. A literal \\$ sign.\n\n"
                        "```\n$y_2$\n```\n\n$$a_1 *\nb_2$$")
    assert "$5 and $10" in html
    assert "<code>$x_1$</code>" in html and "$y_2$" in html
    assert "&#36;" in html or "$ sign" in html
    assert html.count('<math') == 1 and 'display="block"' in html


def test_escapes_inside_text_maths_are_undone():
    html = _render_note(r"$\text{old\_mem} = m_t$ and $\arg\min_B f$")
    assert "<mtext>old_mem</mtext>" in html
    assert "<mo>arg</mo>" in html and "\\arg" not in html


def test_unknown_commands_are_reported(caplog):
    html = _render_note(r"$\sigmoid(x)$")
    assert "cannot render maths" in caplog.text and "\\sigmoid" in caplog.text
    assert 'class="lit-math-error"' in html


# ## The hooks, end to end, on a fixture package


@pytest.fixture(scope="module")
def fixture_site(tmp_path_factory) -> Path:
    project = tmp_path_factory.mktemp("project")
    (project / "docs" / "results").mkdir(parents=True)
    (project / "docs" / "results" / "index.md").write_text(
        "# Results\n\nSee [the fixture](../../labml_memory/fixture.py) and $\\alpha_1$.\n")
    (project / "docs" / "results" / "runs").mkdir()
    (project / "docs" / "results" / "runs" / "table.md").write_text("# A table of runs\n")
    package = project / "labml_memory"
    (package / "arch").mkdir(parents=True)
    (package / "__init__.py").write_text('"""\n# Home\n\nThe family: [arch](arch/__init__.py)."""\n')
    (package / "fixture.py").write_text(FIXTURE)
    (package / "other.py").write_text(
        '"""\n# Other\n\nBack to [the scaling](fixture.py#scaling) and '
        '[forward](fixture.py#Layer.forward)."""\nX = 1\n')
    (package / "arch" / "__init__.py").write_text(
        '"""\n# An architecture\n\n[The paper](https://arxiv.org/abs/1234.5678).\n\n'
        '## Deviations from the paper\n\n* None worth a word.\n"""\nY = 2\n')
    (package / "arch" / "experiment.py").write_text('"""\n# Its experiment\n"""\nZ = 3\n')
    (package / "data.txt").write_text("not a module")
    config = (ROOT / "mkdocs.yml").read_text()
    config = config.replace("docs/renderer/literate_hooks.py",
                            str(ROOT / "docs" / "renderer" / "literate_hooks.py"))
    config = config.replace("custom_dir: docs/overrides", f"custom_dir: {ROOT / 'docs' / 'overrides'}")
    (project / "mkdocs.yml").write_text(config)
    shutil.copytree(ROOT / "docs" / "assets", project / "docs" / "assets")
    build = mkdocs_build(project / "mkdocs.yml", project / "site")
    assert build.returncode == 0, build.output
    assert "WARNING" not in build.output, build.output
    return project / "site"


def test_fixture_site_pages_and_maths(fixture_site):
    html = (fixture_site / "fixture" / "index.html").read_text()
    assert '<h1 id="a-fixture-module">A fixture module' in html
    assert '<h2 id="scaling">' in html
    assert html.count("<math") == 5        # two in the deviations, three in the note
    assert "LITMATH" not in html and "LITCODE" not in html
    assert 'class="admonition warning"' in html and "Deviations from the paper" in html
    assert 'id="Layer.forward"' in html
    # Links between modules resolve to pages, from modules and from hand-written pages.
    assert 'href="../other/"' in html
    assert 'href="../fixture/#Layer.forward"' in (fixture_site / "other" / "index.html").read_text()
    results = (fixture_site / "results" / "index.html").read_text()
    assert 'href="../fixture/"' in results and "<math" in results


def test_fixture_site_architecture_header(fixture_site):
    html = (fixture_site / "arch" / "index.html").read_text()
    assert 'href="https://arxiv.org/abs/1234.5678"' in html
    assert ("https://colab.research.google.com/github/labml-memory/labml_memory/blob/main/"
            "experiments/notebooks/arch.ipynb") in html
    assert 'href="experiment/"' in html
    assert "https://github.com/labml-memory/labml_memory/blob/main/labml_memory/arch/__init__.py" in html
    experiment = (fixture_site / "arch" / "experiment" / "index.html").read_text()
    assert "experiments/notebooks/arch.ipynb" in experiment and 'href="../"' in experiment


def test_fixture_site_navigation(fixture_site):
    nav = (fixture_site / "index.html").read_text()
    labels = re.findall(r'class="md-nav__link[^"]*"[^>]*>\s*(?:<span[^>]*>)?\s*([^<\n]+?)\s*<', nav)
    for label in ("Home", "Building blocks", "An architecture", "Model", "Experiment", "Results"):
        assert label in labels, (label, labels)
    assert not (fixture_site / "data").exists()
    assert "A table of runs" in labels                    # results pages in sub-folders too


# ## The figures at the top of the architecture pages (docs/renderer/figures.py)

import figures  # noqa: E402
import xml.etree.ElementTree as ET  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("package", sorted(figures.FIGURES))
def test_each_figure_is_well_formed_svg_that_names_no_colour(package):
    svg, caption = figures.figure(package)
    root = ET.fromstring(svg)            # well-formed XML, or this raises
    assert root.tag == SVG + "svg" and root.get("viewBox").startswith("0 0 720 ")
    # Colours come from the page (currentColor and the classes of literate.css), so the
    # figure follows the light and dark schemes: no fixed colour in any attribute.
    for element in root.iter():
        for key in ("fill", "stroke", "color", "style"):
            value = element.get(key, "")
            assert not re.search(r"#[0-9a-f]{3,6}|rgb|black|white", value, re.I), (package, element.tag, key, value)
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert ids and all(i.startswith(root.get("aria-labelledby").split("-title")[0]) for i in ids)
    assert len(root.findall(f".//{SVG}text")) >= 5 and caption.strip()


def test_subscripts_in_figure_labels():
    assert figures._subscripts("M_{s−1}, z_s") == (
        'M<tspan baseline-shift="sub" font-size="75%">s−1</tspan>, '
        'z<tspan baseline-shift="sub" font-size="75%">s</tspan>')
    assert figures._subscripts("a < b") == "a &lt; b"


def test_the_inf_former_figure_refits_with_a_real_ridge_regression():
    """The re-fitted curve drawn in the figure is the ridge solution: its gradient vanishes,
    checked with the normal equations written out here, not with the figure's solver."""
    centres = [(j + 0.5) / 12 for j in range(12)]
    ts = [k / 15 for k in range(16)]
    xs = [((-1) ** k) * 0.5 + 0.1 * k for k in range(16)]
    b = figures._ridge(ts, xs, centres, 0.06, lam=0.05)
    psi = lambda t: [figures._gauss(t, c, 0.06) for c in centres]  # noqa: E731
    residual = [sum(bj * pj for bj, pj in zip(b, psi(t))) - x for t, x in zip(ts, xs)]
    for j in range(12):
        gradient = sum(r * psi(t)[j] for r, t in zip(residual, ts)) + 0.05 * b[j]
        assert abs(gradient) < 1e-9


def test_the_figure_goes_after_the_idea_and_before_the_deviations():
    module = literate.parse(FIXTURE)
    markdown_text, codes = literate.render(module, figure=("<svg>FIG</svg>", "A caption."))
    intro = markdown_text.split('<div class="lit" markdown>')[0]
    assert intro.index("It opens the page") < intro.index('<figure class="lit-figure"') \
        < intro.index('!!! warning "Deviations from the paper"')
    key = next(k for k, v in codes.items() if v == "<svg>FIG</svg>")
    assert key in intro and "A caption." in intro
    # Without deviations the figure closes the introduction.
    plain = literate.parse('"""\n# T\n\nOnly an idea.\n"""\nx = 1\n')
    text, _ = literate.render(plain, figure=("<svg/>", "Cap."))
    assert text.index("Only an idea.") < text.index("lit-figure") < text.index('<div class="lit"')


def test_module_metadata_is_not_a_row():
    """The landing page's `__version__` has no note and no other code: it is no row. Metadata
    inside a row of real code, or under a note, stays where it is."""
    alone = literate.parse('"""\n# T\n\nProse.\n"""\n\n__version__ = "0.1.0"\n')
    assert alone.sections == []
    kept = literate.parse('"""\n# T\n"""\n\n# A note.\nx = 1\n__all__ = ["x"]\n')
    assert [s.code for s in kept.sections] == [["x = 1", '__all__ = ["x"]']]


def test_maths_in_the_table_of_contents_reads_as_text():
    stash = MathStash()
    heading = stash_maths(r"The gate $\beta$ and $M_{s-1}$", stash)
    assert stash.text(heading) == "The gate β and Ms−1"
    assert stash.plain(heading) == r"The gate \beta and M_{s-1}"    # ids keep the source
