"""Measured figures on model pages come from the records, through citation markers.

Three things are checked: every marker of every module resolves, and its sentence follows
the records (change a record, the sentence changes); a model page carries no results-like
figure outside a marker, except the few listed below with their reason; and the site hook
stops on a marker it cannot resolve, with one line that names it.
"""
from __future__ import annotations

import json
import re
import shutil

from pathlib import Path

import pytest

from labml_memory.studies import citations
from labml_memory.studies.citations import CITATIONS, CitationError, cite, markers, substitute

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / 'docs' / 'results'
import literate  # noqa: E402


# ## What a page says
#
# A module's prose is what the renderer makes notes of: the docstring that opens the page and
# every note beside the code (comment blocks and class or function docstrings).
def prose(path: Path) -> str:
    module = literate.parse(path.read_text(), name=path.stem)
    return '\n\n'.join([module.title, module.docstring] + [s.note for s in module.sections])


def modules() -> list[Path]:
    return sorted(p for p in (ROOT / 'labml_memory').rglob('*.py') if p.read_text().strip())


# The model pages: the landing page, and each architecture's model and experiment (an
# architecture is a package with an `experiment.py`).
def model_pages() -> list[Path]:
    packages = sorted(p.parent for p in (ROOT / 'labml_memory').glob('*/experiment.py'))
    return ([ROOT / 'labml_memory' / '__init__.py'] + [p / '__init__.py' for p in packages]
            + [p / 'experiment.py' for p in packages])


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# ## Every marker resolves, and follows its records
def test_every_marker_of_every_module_resolves():
    found = {}
    for path in modules():
        for study, name in markers(prose(path)):
            text = cite(study, name, RESULTS)
            assert text and '{{' not in text, f"{relative(path)}: {study} {name} gave {text!r}"
            found[(study, name)] = text
    assert found, 'no module cites a result'
    # A citation no page uses is dead code that no test reads through a page.
    unused = sorted(set(CITATIONS) - set(found))
    assert not unused, f"citations no page uses: {unused}"


def records_copy(tmp_path: Path, study: str) -> Path:
    shutil.copytree(RESULTS / study, tmp_path / study, ignore=shutil.ignore_patterns('*.png'))
    return tmp_path


def rewrite(folder: Path, change) -> None:
    for path in sorted(folder.glob('*.json')):
        record = json.loads(path.read_text())
        if change(record) is not False:
            path.write_text(json.dumps(record))


# Each citation is a function of its records: nudge every measured float of every record
# (ints are steps, sizes and seeds, and stay), by turns a little down and a little up so that
# ratios move too, and the sentence must change. Citations that print only counts and
# settings, or only verdict words, are checked by the tests after this one.
def nudger():
    turn = [0]

    def nudge(value):
        if isinstance(value, float):
            turn[0] += 1
            return value * (0.97 if turn[0] % 2 else 1.02)
        if isinstance(value, dict):
            return {k: nudge(v) for k, v in value.items()}
        if isinstance(value, list):
            return [nudge(v) for v in value]
        return value
    return nudge


WORDS_ONLY = {('memory_depth', 'design'), ('memory_depth', 'findings')}


@pytest.mark.parametrize('study, name', sorted(k for k in CITATIONS if k[1] != 'seeds' and k not in WORDS_ONLY))
def test_each_sentence_follows_its_records(tmp_path, study, name):
    results = records_copy(tmp_path, study)
    before = cite(study, name, results)
    nudge = nudger()
    for folder in [results / study / 'records'] + sorted((results / study / 'history').glob('*')):
        for path in sorted(folder.glob('*.json')):
            record = json.loads(path.read_text())
            keep = {k: record[k] for k in ('run', 'settings', 'overrides', 'machine') if k in record}
            path.write_text(json.dumps({**nudge(record), **keep}))
    assert cite(study, name, results) != before


def test_the_findings_follow_the_verdicts(tmp_path):
    results = records_copy(tmp_path, 'memory_depth')
    assert 'the premise is not shown' in cite('memory_depth', 'findings', results)

    # All long far ahead of all short in every seed: the premise now holds.
    def change(record):
        if record['name'] != 'long6_last':
            return False
        record['valid_loss'] -= 0.2
    rewrite(results / 'memory_depth' / 'records', change)
    assert 'the premise holds at this budget' in cite('memory_depth', 'findings', results)


def test_a_changed_recall_is_the_one_printed(tmp_path):
    results = records_copy(tmp_path, 'memory_reach')

    def change(record):
        if record.get('name') != 'transformer_xl' or record.get('budget') != 'large':
            return False
        record['accuracy']['4']['1'] = 0.5
    rewrite(results / 'memory_reach' / 'records', change)
    text = cite('memory_reach', 'transformer_xl', results)
    assert '0.50 in every seed at four' in text
    assert '0.26' not in text


def test_a_changed_loss_is_the_one_printed(tmp_path):
    results = records_copy(tmp_path, 'quality')

    def change(record):
        if record['name'] != 'recurrent_memory':
            return False
        record['context']['histories']['all'] = 1.9 + record['seed'] / 100
    rewrite(results / 'quality' / 'records', change)
    text = cite('quality', 'recurrent_memory', results)
    assert '1.910 nats/char (seeds 1.900–1.920), the highest of every model' in text


def test_seeds_are_counted_from_the_records(tmp_path):
    results = records_copy(tmp_path, 'memory_depth')
    for path in (results / 'memory_depth' / 'records').glob('*_seed2.json'):
        path.unlink()
    assert cite('memory_depth', 'seeds', results) == '2 seeds'


# The two studies whose reports build their verdicts inline: the citation builds the same
# family, so each verdict it quotes is printed, the same, on the study's page.
@pytest.mark.parametrize('study, verdicts, digits', [('compressive', 'study_verdicts', 4),
                                                     ('memory_depth', 'depth_verdicts', 4)])
def test_quoted_verdicts_are_the_pages(study, verdicts, digits):
    found = getattr(citations, verdicts)(citations.Records(RESULTS / study))
    found = found[0] if isinstance(found, tuple) else found
    page = (RESULTS / f'{study}.md').read_text()
    for label, v in found.items():
        assert v.text(digits) in page or v.text(digits, ' nats') in page, \
            f"{study}: {label} {v.text(digits)} is not on the page"


def test_bucket_verdicts_are_the_pages():
    found = citations.bucket_verdicts(citations.Records(RESULTS / 'compressive'))
    page = (RESULTS / 'compressive' / 'attention_buckets.md').read_text()
    for label, v in found.items():
        assert citations._compressive().ratio(v) in page, label


# ## Markers, links and failures
def test_links_are_written_from_the_citing_page():
    top = cite('memory_reach', 'transformer_xl', RESULTS, page='index.md')
    deep = cite('memory_reach', 'transformer_xl', RESULTS, page='transformer_xl/index.md')
    assert '](results/memory_reach.md)' in top
    assert '](../results/memory_reach.md)' in deep


def test_unknown_and_malformed_markers_fail_with_one_line():
    for text, says in [('{{ result memory_reach nowhere }}', 'names no citation; memory_reach has:'),
                       ('{{ result nostudy x }}', 'names no citation; studies with citations:'),
                       ('{{ result memory_reach }}', 'a marker is {{ result STUDY NAME }}')]:
        with pytest.raises(CitationError) as error:
            substitute(f'Some prose {text} and more.', RESULTS)
        assert says in str(error.value) and '\n' not in str(error.value)


def test_a_study_without_records_fails(tmp_path):
    with pytest.raises(CitationError, match='no records under'):
        cite('memory_reach', 'transformer_xl', tmp_path)


def test_markers_in_code_are_shown_as_written():
    text = ('Inline `{{ result memory_reach nowhere }}` stays.\n\n'
            '```\n# {{ result nostudy at_all }}\n```\n\nand {{ result memory_depth seeds }}.')
    out = substitute(text, RESULTS)
    assert '`{{ result memory_reach nowhere }}`' in out and '# {{ result nostudy at_all }}' in out
    assert 'and 3 seeds.' in out


def test_the_site_hook_stops_on_an_unresolved_marker(tmp_path):
    from mkdocs.exceptions import PluginError
    import literate_hooks

    class Config:
        docs_dir = str(ROOT / 'docs')

    page = literate_hooks.ModulePage('labml_memory/x.py', 'x.md', None)
    assert 'Use of 3 seeds' in literate_hooks._cite_results('Use of {{ result memory_depth seeds }}',
                                                            page, Config)
    with pytest.raises(PluginError) as error:
        literate_hooks._cite_results('a {{ result memory_depth nowhere }} b', page, Config)
    assert str(error.value).startswith('labml_memory/x.py: {{ result memory_depth nowhere }} names no citation')


# ## No measured figure outside a marker
#
# What a measured figure looks like in this project's prose: a number with two or more
# decimals (losses, accuracies, recall), a number with a unit of loss, time or speed, a ratio
# written with ×, a percentage, a reach in segments, a count of seeds. Code, maths, links and
# the markers themselves are taken out first: a marker is where a figure belongs.
FIGURE = re.compile(r"""
    (?<![\w.])\d+\.\d{2,}(?![\d.])                          # 1.659, 0.99 (not a version 2.13.0)
  | \d+(?:\.\d+)?\s*(?:nats|bits)\b
  | \d+(?:\.\d+)?\s?×
  | \d+(?:\.\d+)?\s?%
  | \d[\d,]*(?:\.\d+)?\s?(?:ms|s|min|h)\b(?!-)
  | \d+\.\d+\s+(?:segments?|characters)
  | [\d,]+\s+(?:characters|tokens)(?:\s+per\s+second|/s)
  | \b\d+\s+seeds?\b
""", re.X)
CODE = re.compile(r'^[ \t]*(```+|~~~+)[^\n]*\n[\s\S]*?^[ \t]*\1[ \t]*$|(`+)(?:[^\n]|\n(?![ \t]*\n))*?(?<!`)\2(?!`)',
                  re.M)
MATHS = re.compile(r'\$\$[\s\S]*?\$\$|\$[^$\n]+\$')
LINK_TARGET = re.compile(r'\]\([^)]*\)|https?://\S+')


def stray_figures(text: str) -> list[str]:
    text = citations.MARKER.sub(lambda m: ' ' if m.group('marker') else m.group(0), text)
    for pattern in (CODE, MATHS, LINK_TARGET):
        text = pattern.sub(' ', text)
    return [m.group(0) for m in FIGURE.finditer(text)]


# Figures that are not measurements, each with its reason. A figure is listed by the page
# and the exact text the scan finds.
NOT_MEASURED = {
    'labml_memory/infini_attention/__init__.py': {
        '0.01': "the gate's weight decay, a setting of ours (see the deviations)",
    },
    'labml_memory/infinity_former/__init__.py': {
        '0.18': "the memoryless guesser's floor, computed from the task's definition: no model is measured",
        '0.20': "the same floor at its other end",
        '0.05': 'one in twenty, what a reader might take for the floor: arithmetic',
    },
    'labml_memory/infinity_former/experiment.py': {
        '1.14': 'the parameter count (1.14M) of the configuration, not a result',
        '1.80': "the target every CPU preset is sized to reach, a setting",
    },
    'labml_memory/recurrent_memory/__init__.py': {
        '1.25': 'the cost of a step by the formula (2M + L) / L at the preset, arithmetic',
        '1.80': "the target every CPU preset is sized to reach, a setting",
    },
}
for _page in ('infini_attention', 'recurrent_memory', 'transformer_xl'):
    NOT_MEASURED.setdefault(f'labml_memory/{_page}/experiment.py', {})['1.80'] = (
        "the target every CPU preset is sized to reach, a setting")

# Measurements no record holds yet: the experiments' preset runs, scored and timed by hand
# when they were made (and, on the Memorizing Transformer's and the RMT's pages, their
# one-round comparisons with the public ports and the recall of the approximate search). They
# stay where they are, listed one by one so that no other figure can join them unnoticed; a
# study that records these runs lets each become a marker and leave this list.
UNRECORDED = {
    'labml_memory/memorizing_transformer/__init__.py': {
        '0.94', '1.7357', '264 s', '1.6429', '1.6411', '40%', '99.4%'},
    'labml_memory/recurrent_memory/__init__.py': {
        '1.7036', '2.458', '0.496', '263 s', '1.7398', '0.036', '1.857', '2.059', '1.684', '1.689',
        '3,221 characters per second', '1.17', '13 ms'},
    'labml_memory/compressive/experiment.py': {
        '1.7814', '2.570', '0.470', '295.5 s', '5,199 characters/s', '5 min', '0.6 s', '1.717'},
    'labml_memory/infini_attention/experiment.py': {
        '1.760', '2.539', '0.478', '1,509 s', '1,357 tokens per second', '1.7599', '257.8 s',
        '7,945 tokens per second', '4 min', '24 s'},
    'labml_memory/infinity_former/experiment.py': {
        '1.7937', '301.5 s', '1.7197', '151.1 s', '1.6614', '204.1 s', '1.7074', '1.6411', '114.6 s',
        '2.397', '0.507', '8,028 characters/s', '3 min', '31 s'},
    'labml_memory/memorizing_transformer/experiment.py': {
        '1.7357', '2.504', '0.485', '263.5 s', '1.6429', '2.370', '0.512', '417.2 s', '1.6403',
        '1,616.5 s', '1.6411', '0.46', '0.39', '0.42', '40%', '0.9617', '0.9940', '0.9990', '0.9494',
        '0.9941', '0.9997', '0.6%'},
    'labml_memory/recurrent_memory/experiment.py': {
        '1.7036', '2.458', '0.496', '263.0 s', '47 min', '540 s', '1.7097', '0.006'},
    'labml_memory/transformer_xl/experiment.py': {
        '268 s', '7,634 characters per second', '4 min', '33 s', '1.7074', '2.463', '0.493', '114.6 s',
        '14,297 characters per second', '1.6411', '1 min', '59 s'},
}


def test_no_measured_figure_outside_a_marker():
    stray = {}
    for path in model_pages():
        allowed = set(NOT_MEASURED.get(relative(path), {})) | UNRECORDED.get(relative(path), set())
        left = [f for f in stray_figures(prose(path)) if f not in allowed]
        if left:
            stray[relative(path)] = left
    assert not stray, ("measured figures retyped on model pages (write a marker "
                       "{{ result STUDY NAME }} instead, see labml_memory/studies/citations.py): "
                       f"{stray}")


def test_every_listed_figure_is_still_on_its_page():
    for page, figures in list(NOT_MEASURED.items()) + list(UNRECORDED.items()):
        found = set(stray_figures(prose(ROOT / page)))
        gone = sorted(set(figures) - found)
        assert not gone, f"{page}: listed but no longer there, drop from the list: {gone}"


def test_a_retyped_figure_is_caught():
    # What a marker would say, typed into the prose by hand instead.
    typed = cite('memory_reach', 'transformer_xl', RESULTS, page='transformer_xl/index.md')
    text = prose(ROOT / 'labml_memory' / 'transformer_xl' / '__init__.py') + '\n\n' + typed
    assert {'0.99', '0.29', '3 seeds'} <= set(stray_figures(text))
    for planted in ('reaches 1.66 nats', 'trains 1.49× as fast', 'recall 0.29 at two',
                    'in 268 s of training', 'up to 3.4 segments', 'with 5 seeds'):
        assert stray_figures(f'Prose that {planted}.'), planted
