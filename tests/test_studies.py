"""One home for studies: the runner, the registry, and every page given back by its report."""
import builtins
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import List

import pytest

from labml_memory.studies import STUDY_MODULES, by_name, index, main, studies
from labml_memory.studies import runner
from labml_memory.studies.runner import Records, Run, Study, parse_settings, pending, report, run

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / 'docs' / 'results'


# ## The registry
def test_every_results_page_belongs_to_exactly_one_study():
    pages = sorted(str(p.relative_to(RESULTS)) for p in RESULTS.rglob('*.md') if p.name != 'index.md')
    claimed = [p for s in studies() for p in s.pages]
    assert sorted(claimed) == pages
    for s in studies():
        # One layout: the study's first page is NAME.md, the rest live in its folder.
        assert s.pages[0] == f'{s.name}.md', s.name
        assert all(p.startswith(f'{s.name}/') for p in s.pages[1:]), s.name


def test_every_folder_under_results_is_a_study_with_records():
    folders = sorted(p.name for p in RESULTS.iterdir() if p.is_dir())
    assert folders == sorted(STUDY_MODULES)
    for name in STUDY_MODULES:
        assert list((RESULTS / name / 'records').glob('*.json')), name
        # Nothing but records, history and figures or pages: no second layout of records.
        loose = [p for p in (RESULTS / name).glob('*.json')]
        assert not loose, loose


def test_the_index_page_is_written_from_the_list():
    assert (RESULTS / 'index.md').read_text() == index()


def test_unknown_study_and_bad_commands_say_what_is_valid(capsys):
    with pytest.raises(SystemExit, match="unknown study 'nope'; valid: memory_reach"):
        by_name('nope')
    with pytest.raises(SystemExit, match='usage'):
        main([])
    with pytest.raises(SystemExit, match="unknown action 'draw'"):
        main(['draw'])
    with pytest.raises(SystemExit, match='run needs a study name'):
        main(['run'])
    with pytest.raises(SystemExit, match='report takes no settings'):
        main(['report', 'xl_attention_impl', 'rounds=2'])
    main(['run', 'xl_attention_impl', '--help'])
    assert 'rounds=3' in capsys.readouterr().out


# The pages' dates of records that did not store one come from `git log`, which a copy
# outside the repository does not have; every other line must come back as committed (the
# date is an item of the folded block, so it is indented).
def _without_dates(text: str) -> list:
    return [line for line in text.splitlines() if not line.lstrip().startswith('* **Date:**')]


@pytest.mark.parametrize('name', STUDY_MODULES)
def test_report_gives_back_the_committed_pages(name, tmp_path, monkeypatch):
    monkeypatch.setenv('MPLBACKEND', 'Agg')
    study = by_name(name)
    shutil.copytree(RESULTS / name, tmp_path / name)
    for other in study.reads:
        shutil.copytree(RESULTS / other / 'records', tmp_path / other / 'records')
    report(study, tmp_path)
    for page in study.pages:
        assert _without_dates((tmp_path / page).read_text()) == _without_dates((RESULTS / page).read_text()), page


# The memory-depth study plans cells its page marks "not run" (its own test holds that list);
# every other study's default plan is wholly recorded.
@pytest.mark.parametrize('name', [n for n in STUDY_MODULES if n != 'memory_depth'])
def test_the_default_plan_finds_every_run_recorded(name):
    study = by_name(name)
    assert pending(study, parse_settings(study.settings, []), RESULTS) == []


# ## The runner, on a toy study
@dataclass
class Toy:
    seeds: List[int] = field(default_factory=lambda: [0, 1])
    margin: float = 0.1
    fail: int = -1

    def validate(self):
        if self.margin < 0:
            raise ValueError(f"margin must be at least 0, got {self.margin}")


def _toy(calls):
    def plan(s):
        return [Run(f'toy_seed{seed}', {'seed': seed, 'fail': s.fail == seed}) for seed in s.seeds]

    def execute(one):
        calls.append(one.key)
        if one.settings['fail']:
            raise RuntimeError('stopped')
        return {'seed': one.settings['seed'], 'value': 10 * one.settings['seed']}

    def write(records, out):
        (out / 'toy.md').write_text(' '.join(str(r['value']) for r in records))
    return Study('toy', 'Does the runner run?', Toy, plan, execute, write, ['toy.md'])


def test_the_runner_records_resumes_and_reports(tmp_path):
    calls = []
    study = _toy(calls)
    with pytest.raises(RuntimeError, match='stopped'):
        run(study, ['seeds=0,1,2', 'fail=1'], tmp_path, log=lambda _: None)
    # The run before the failure is recorded; the failed one left no record and no lock, so a
    # rerun takes it again and goes on from there.
    assert calls == ['toy_seed0', 'toy_seed1']
    assert (tmp_path / 'toy' / 'records' / 'toy_seed0.json').exists()
    assert not (tmp_path / 'toy' / 'records' / 'toy_seed1.json').exists()
    assert not (tmp_path / 'toy' / 'records' / 'locks' / 'toy_seed1').exists()
    calls.clear()
    assert run(study, ['seeds=0,1,2'], tmp_path, log=lambda _: None) == ['toy_seed1', 'toy_seed2']
    assert calls == ['toy_seed1', 'toy_seed2'] and (tmp_path / 'toy.md').read_text() == '0 10 20'


def test_the_runner_skips_what_is_recorded_and_stamps_provenance(tmp_path):
    calls = []
    study = _toy(calls)
    assert run(study, ['seeds=0,2'], tmp_path, log=lambda _: None) == ['toy_seed0', 'toy_seed2']
    assert (tmp_path / 'toy.md').read_text() == '0 20'
    record = json.loads((tmp_path / 'toy' / 'records' / 'toy_seed2.json').read_text())
    assert record['study'] == 'toy' and record['key'] == 'toy_seed2'
    assert record['run'] == {'seed': 2, 'fail': False}
    assert record['command'] == 'python -m labml_memory.studies run toy seeds=0,2'
    assert record['machine']['cores'] >= 1 and record['seconds'] >= 0
    # A second run with more seeds runs only the new one, and the page holds all three.
    calls.clear()
    assert run(study, ['seeds=0,1,2'], tmp_path, log=lambda _: None) == ['toy_seed1']
    assert calls == ['toy_seed1']
    assert (tmp_path / 'toy.md').read_text() == '0 10 20'
    assert pending(study, parse_settings(Toy, ['seeds=0,1,2,3']), tmp_path) == [Run('toy_seed3', {'seed': 3, 'fail': False})]


def test_history_is_read_apart_and_a_corrupt_record_is_named(tmp_path):
    (tmp_path / 'records').mkdir()
    (tmp_path / 'history' / 'at_1000_steps').mkdir(parents=True)
    (tmp_path / 'records' / 'b.json').write_text('{"v": 2}')
    (tmp_path / 'records' / 'a.json').write_text('{"v": 1}')
    (tmp_path / 'history' / 'at_1000_steps' / 'a.json').write_text('{"v": 0}')
    records = Records(tmp_path)
    assert [r['v'] for r in records] == [1, 2] and records.keys() == ['a', 'b']
    assert records.get('b') == {'v': 2} and records.get('c') is None
    assert [r['v'] for r, _ in records.history['at_1000_steps']] == [0]
    (tmp_path / 'records' / 'c.json').write_text('{"v": ')
    with pytest.raises(SystemExit, match=r'c\.json: not a readable record'):
        Records(tmp_path)


def test_settings_fail_in_one_line_naming_the_key():
    assert parse_settings(Toy, ['seeds=3,4', 'margin=0.5']) == Toy([3, 4], 0.5)
    with pytest.raises(SystemExit, match="unknown setting 'seed'; valid: seeds, margin, fail"):
        parse_settings(Toy, ['seed=1'])
    with pytest.raises(SystemExit, match="margin='x': expected float"):
        parse_settings(Toy, ['margin=x'])
    with pytest.raises(SystemExit, match='margin must be at least 0, got -1.0'):
        parse_settings(Toy, ['margin=-1'])
    with pytest.raises(SystemExit, match="'seeds' is not of the form key=value"):
        parse_settings(Toy, ['seeds'])


def test_a_report_without_records_says_how_to_make_them(tmp_path):
    with pytest.raises(SystemExit, match='no records.*run it first: python -m labml_memory.studies run toy'):
        report(_toy([]), tmp_path)


def test_run_keys_are_file_names_and_unique(tmp_path):
    with pytest.raises(ValueError, match="run key 'a/b'"):
        Run('a/b')
    twice = Study('twice', '?', Toy, lambda s: [Run('a'), Run('a')], lambda r: {}, lambda r, o: None, ['twice.md'])
    with pytest.raises(ValueError, match=r"names a run twice: \['a'\]"):
        run(twice, [], tmp_path)


# ## One template for every page
#
# Read from the committed pages, as a reader gets them: the title, the verdict under it, the
# plots before any table or section, the numbers defined once before the first table, and
# last the folded block holding the command, the machine, the date, the seeds and the wall
# time. Nothing after the block.
def _pages():
    return [p for s in studies() for p in s.pages if (RESULTS / p).exists()]


BRACKET = re.compile(r'[-+]?\d[\d.,]*×? \[[-+]?\d')


@pytest.mark.parametrize('page', _pages())
def test_every_results_page_reads_in_the_one_order(page):
    lines = (RESULTS / page).read_text().splitlines()
    assert lines[0].startswith('# ') and lines[1] == '' and lines[3] == '{: .lit-verdict }', page
    assert lines[2].startswith('**') and lines[2].strip(), page
    first = lambda test: next((i for i, line in enumerate(lines) if test(line)), len(lines))  # noqa: E731
    images = [i for i, line in enumerate(lines) if line.startswith('![')]
    table, section = first(lambda l: l.startswith('|')), first(lambda l: l.startswith('## '))
    made = lines.index('??? note "How it was made"')
    assert images and max(images) < min(table, section), page
    # The numbers defined once, before the first table, wherever the page prints a range in
    # small type or a bracket.
    text = '\n'.join(lines)
    defined = [i for i, line in enumerate(lines) if line.startswith('**Reading the numbers.**')]
    if '<small>' in text or BRACKET.search(text):
        assert len(defined) == 1 and defined[0] < table, page
    assert text.count("Holm's correction") <= 1 and text.count('95% Student interval') <= 1, page
    # Square brackets hold the interval of a comparison only: a signed difference, or a ratio;
    # a range over seeds or rounds is in small type or parentheses, never `0.29 [0.00, 0.58]`.
    for found in re.finditer(r'(\S+) \[([-+]?\d[\d.,]*×?), [-+]?\d[\d.,]*×?\]', text):
        before, low = found.group(1), found.group(2)
        assert low[0] in '+-' or '×' in before + low, (page, found.group(0))
    # The folded block: every line after its title is indented or empty, and it holds a code
    # block of commands and the four items.
    block = lines[made + 1:]
    assert all(not line or line.startswith('    ') for line in block), page
    folded = '\n'.join(line[4:] for line in block)
    assert re.search(r'^```\n.+?\n```', folded, re.S | re.M), page
    for item in ('Machine', 'Date', 'Seeds', 'Wall time'):
        assert f'* **{item}:**' in folded, (page, item)
    assert '## How these numbers were made' not in text, page


# What a page must never print: an exception's name (any of Python's, or any the project
# defines), "Error:", or a traceback. The names are collected here, apart from the runner's
# own guard.
def _exception_names():
    names = {n for n in dir(builtins) if isinstance(getattr(builtins, n), type)
             and issubclass(getattr(builtins, n), BaseException)}
    for path in (ROOT / 'labml_memory').rglob('*.py'):
        names |= set(re.findall(r'^class (\w+)\((?:\w+\.)?\w*(?:Error|Exception|Unavailable)\w*\)', path.read_text(), re.M))
    return names - {'Warning'}


@pytest.mark.parametrize('page', _pages())
def test_no_results_page_prints_a_raw_failure(page):
    text = (RESULTS / page).read_text()
    named = [n for n in _exception_names() if re.search(rf'\b{n}\b', text)]
    assert not named, (page, named)
    assert 'Error:' not in text and 'Traceback' not in text, page


def _page(**changes):
    base = dict(title='T', verdict='**Q?** A.', figures=[('t/a.png', 'a')], body=['| a |', '|---|', '| 1 |'],
                made=['```', 'python -m x', '```', '', '* **Machine:** m', '* **Date:** d', '* **Seeds:** 0',
                      '* **Wall time:** 1 s'])
    return runner.Page(**{**base, **changes})


def test_the_template_refuses_what_a_page_must_not_be():
    text = runner.render(_page(), 't.md')
    assert text.splitlines()[:4] == ['# T', '', '**Q?** A.', '{: .lit-verdict }']
    assert '??? note "How it was made"' in text and '    * **Wall time:** 1 s' in text
    with pytest.raises(ValueError, match=r"t\.md: a results page needs how it was made: Seeds"):
        runner.render(_page(made=['```', 'python -m x', '```', '* **Machine:** m', '* **Date:** d',
                                  '* **Wall time:** 1 s']), 't.md')
    with pytest.raises(ValueError, match='the command'):
        runner.render(_page(made=['* **Machine:** m', '* **Date:** d', '* **Seeds:** 0', '* **Wall time:** 1 s']), 't.md')
    with pytest.raises(ValueError, match='one-paragraph verdict'):
        runner.render(_page(verdict='two\nlines'), 't.md')
    # The cell of the quality-peers page as it read before: refused, with the words to use.
    raw = 'PeerUnavailable: labml-nn does not import: ModuleNotFoundError: No module named labml_nn'
    with pytest.raises(ValueError, match="would print 'PeerUnavailable'"):
        runner.render(_page(body=[f'| labml_nn_xl | {raw} |']), 't.md')
    assert runner.why_not_run(raw) == 'not run: the package does not install here'
    assert runner.why_not_run('unavailable: x-transformers does not import: ImportError: y') == \
        'not run: the package does not install here'
    assert runner.why_not_run('failed in training: RuntimeError: shapes') == \
        'failed while training: the error is in its record'
    # The statistics link from a page one folder deeper.
    text = runner.render(_page(convention=runner.Convention(runner.SEED_CELLS, 2, 0.1)), 'a/b.md')
    assert '(see [the statistics](../../studies/stats.md))' in text and "across the 2 comparisons" in text


def test_the_headline_counts_what_the_seeds_decide():
    from labml_memory.studies import stats
    found = stats.compare({'a': ({0: 1.0, 1: 1.1, 2: 1.2}, {0: 2.0, 1: 2.1, 2: 2.2}),
                           'b': ({0: 1.0, 1: 2.0, 2: 0.5}, {0: 1.5, 1: 1.0, 2: 1.0})}, margin=0.01)
    assert runner.tally(found) == "three seeds resolve one of the page's 2 comparisons (1 ahead)"
    one = stats.compare({'a': ({0: 1.0}, {0: 2.0})}, margin=0.01)
    assert runner.tally(one) == "one seed resolves none of the page's one comparison"


def test_pages_that_read_another_study_are_redrawn_with_it(tmp_path, monkeypatch):
    # The compression, context and memory-depth pages carry echo sections: `report echo` redraws them too,
    # and the committed-pages test gives them the echo records.
    from labml_memory.studies import main, readers_of
    assert sorted(s.name for s in readers_of(by_name('echo'))) == ['compressive', 'memory_depth', 'quality']
    drawn = []
    monkeypatch.setattr('labml_memory.studies.report', lambda study: drawn.append(study.name))
    main(['report', 'echo'])
    assert drawn == ['echo', 'quality', 'compressive', 'memory_depth']
