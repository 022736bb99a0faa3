"""One home for studies: every results page belongs to a study, and each redraw gives it back."""
import os
import shutil
from pathlib import Path

import pytest

from labml_memory.studies import STUDIES, by_name, index, redraw

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / 'docs' / 'results'


def test_every_results_page_belongs_to_exactly_one_study():
    pages = sorted(str(p.relative_to(RESULTS)) for p in RESULTS.rglob('*.md') if p.name != 'index.md')
    claimed = [p for s in STUDIES for p in s.pages]
    assert sorted(claimed) == pages
    # and every study without a redraw says why
    assert all(s.report or s.no_report for s in STUDIES)


def test_the_index_page_is_written_from_the_list():
    assert (RESULTS / 'index.md').read_text() == index()


def test_unknown_study_names_the_valid_ones():
    with pytest.raises(SystemExit, match="unknown study 'nope'.*memory_reach"):
        by_name('nope')
    with pytest.raises(SystemExit, match='cannot be redrawn: a timing'):
        redraw(by_name('benchmark'))


# The pages' dates of records that did not store one come from `git log`, which a copy
# outside the repository does not have; every other line must come back as committed.
def _without_dates(text: str) -> list:
    return [line for line in text.splitlines() if not line.startswith('* **Date:**')]


@pytest.mark.parametrize('study', [s for s in STUDIES if s.report], ids=lambda s: s.name)
def test_redraw_gives_back_the_committed_page(study, tmp_path):
    shutil.copytree(RESULTS, tmp_path / 'docs' / 'results')
    shutil.copytree(ROOT / 'experiments', tmp_path / 'experiments', ignore=shutil.ignore_patterns('__pycache__'))
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MPLBACKEND': 'Agg'}
    redraw(study, cwd=tmp_path, env=env)
    for page in study.pages:
        assert _without_dates((tmp_path / 'docs' / 'results' / page).read_text()) == \
            _without_dates((RESULTS / page).read_text()), page


# ## One record per run
def test_run_missing_skips_recorded_and_claimed_runs_and_survives_a_failure(tmp_path):
    from labml_memory.studies.records import clear_stale_locks, load, run_missing
    calls = []

    def job(key, fail=False):
        def go():
            calls.append(key)
            if fail:
                raise RuntimeError('stopped')
            return {'key': key}
        return key, go
    (tmp_path / 'a.json').write_text('{"key": "a"}')          # already recorded
    (tmp_path / 'locks' / 'b').mkdir(parents=True)             # another worker has it
    assert run_missing([job('a'), job('b'), job('c')], tmp_path, log=lambda _: None) == ['c']
    assert calls == ['c']
    with pytest.raises(RuntimeError):
        run_missing([job('d', fail=True)], tmp_path)
    # A failed run leaves neither a record nor its lock, so a rerun runs it again.
    assert not (tmp_path / 'd.json').exists() and not (tmp_path / 'locks' / 'd').exists()
    assert not list(tmp_path.glob('*.partial'))
    assert clear_stale_locks(tmp_path) == ['b']
    assert [r['key'] for r in load(tmp_path)] == ['a', 'c']


def test_the_shared_verdict_and_the_records_by_name(tmp_path):
    import json

    from labml_memory.studies.reading import versus
    from labml_memory.studies.records import by_name as records_by_name
    assert versus([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == "-3.0000, beyond the seeds' spread"
    assert versus([1.0, 2.0, 3.0], [2.0, 3.0, 4.0], digits=2, unit=' nats') == '-1.00 nats, within the spread'
    # One seed has no spread: never "beyond".
    assert versus([1.0], [9.0]) == '-8.0000, within the spread'
    for name, seed in (('b', 2), ('a', 0), ('b', 0), ('b', 1)):
        (tmp_path / f'{name}_seed{seed}.json').write_text(json.dumps({'name': name, 'seed': seed}))
    (tmp_path / 'other.json').write_text('{}')
    runs = records_by_name(tmp_path)
    assert sorted(runs) == ['a', 'b'] and [r['seed'] for r in runs['b']] == [0, 1, 2]
