"""The lettering of the architecture figures (docs/renderer/figures.py): every figure in the
registry is drawn, and each `<text>` it holds is compared with the label its code passed in.
What the label asks for is read here with a scanner of its own, not the figure's pattern: a
subscript is `_{...}`, or `_` and one letter or digit that ends a word; any other underscore
is printed as it is (`memory_grad`, a name from the code, must not lose its `_g`)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

import figures

SVG = "{http://www.w3.org/2000/svg}"


def _asked(label: str) -> list[tuple[str, bool]]:
    """The runs of `label` in reading order, (text, is it a subscript), as a reader of the
    source would take them."""
    runs: list[tuple[str, bool]] = []
    plain, i = "", 0
    while i < len(label):
        ch = label[i]
        after = label[i + 2] if i + 2 < len(label) else ""
        if ch == "_" and label[i + 1:i + 2] == "{" and "}" in label[i + 2:]:
            end = label.index("}", i + 2)
            runs += [(plain, False), (label[i + 2:end], True)]
            plain, i = "", end + 1
        elif (ch == "_" and i + 1 < len(label) and label[i + 1].isalnum()
              and not (after.isalnum() or after == "_")):
            runs += [(plain, False), (label[i + 1], True)]
            plain, i = "", i + 2
        else:
            plain += ch
            i += 1
    runs.append((plain, False))
    return [(text, sub) for text, sub in runs if text]


def _drawn(element: ET.Element) -> list[tuple[str, bool]]:
    """The runs of one drawn `<text>`: its own text and each `<tspan>`, subscript or not."""
    runs = [(element.text or "", False)]
    for span in element:
        assert span.tag == SVG + "tspan", span.tag
        runs.append((span.text or "", span.get("baseline-shift") == "sub"))
        runs.append((span.tail or "", False))
    return [(text, sub) for text, sub in runs if text]


def _labels_and_texts(package: str, monkeypatch) -> tuple[list[str], list[ET.Element]]:
    """Draw one figure, keeping every label its code passes to `Svg.text`."""
    labels: list[str] = []
    text = figures.Svg.text

    def keep(self, x, y, words, *args, **kwargs):
        labels.append(words)
        return text(self, x, y, words, *args, **kwargs)

    monkeypatch.setattr(figures.Svg, "text", keep)
    svg, _ = figures.figure(package)
    return labels, ET.fromstring(svg).findall(f".//{SVG}text")


@pytest.mark.parametrize("package", sorted(figures.FIGURES))
def test_no_figure_draws_a_subscript_its_label_did_not_ask_for(package, monkeypatch):
    labels, texts = _labels_and_texts(package, monkeypatch)
    assert labels and len(labels) == len(texts)
    for label, element in zip(labels, texts):
        assert _drawn(element) == _asked(label), (package, label)


def test_names_from_the_code_keep_their_underscores(monkeypatch):
    """The Infini-attention figure: A_{dot} and A_{mem} carry their whole subscript, the
    `memory_grad` option is printed as it is spelled."""
    labels, texts = _labels_and_texts("infini_attention", monkeypatch)
    drawn = {label: _drawn(element) for label, element in zip(labels, texts)}
    assert drawn["causal softmax → A_{dot}"] == [("causal softmax → A", False), ("dot", True)]
    assert drawn["mix A_{mem}, A_{dot}"] == [("mix A", False), ("mem", True), (", A", False),
                                              ("dot", True)]
    assert drawn["detached or not: the memory_grad option"] == [
        ("detached or not: the memory_grad option", False)]
    every = [run for runs in drawn.values() for run in runs]
    assert ("d", True) not in every and ("g", True) not in every and ("m", True) not in every


def test_the_scanner_of_this_test():
    assert _asked("f_c of the L") == [("f", False), ("c", True), (" of the L", False)]
    assert _asked("M_{s−1}, z_s") == [("M", False), ("s−1", True), (", z", False), ("s", True)]
    assert _asked("A_dot") == [("A_dot", False)]
    assert _asked("then W_O") == [("then W", False), ("O", True)]
    assert _asked("a_b_c") == [("a_b", False), ("c", True)]
