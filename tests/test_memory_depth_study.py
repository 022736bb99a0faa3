"""The six-layer memory-depth study (labml_memory/studies/memory_depth.py): its plan against the
committed records, its settings and its page."""
import json
import shutil
from pathlib import Path

import pytest

from labml_memory.data.shakespeare import load_text
from labml_memory.memory_depth import memory_lengths
from labml_memory.studies import memory_depth as study
from labml_memory.studies import runner
from labml_memory.studies.runner import parse_settings

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / 'docs' / 'results'
# The cells the study's plan holds that were left out for compute.
NOT_RUN = ['long3_first', 'long3_interleaved', 'long3_last', 'long1_last_short8', 'long1_last_short32']


def _cells(part='all', steps=1000, longer_steps=2000):
    return study.cells(part, steps, longer_steps)


def test_the_plan_has_every_distinct_arrangement_once_and_the_short_sweep():
    cells = _cells()
    names = [n for n, _ in cells]
    assert len(names) == len(set(names))
    main = [(n, c) for n, c in cells if c['steps'] == 1000]
    lengths = [tuple(memory_lengths(6, c['n_long'], c['placement'], 128, c['short_mem_len'])) for _, c in main]
    assert len(lengths) == len(set(lengths))
    # The paper's "one in six", on top, is there, with every short range below it.
    assert 'long1_last' in names and 'long6_last' in names and 'long0_last' in names
    assert [c['short_mem_len'] for n, c in cells if n.startswith('long1_last_short')] == [4, 8, 32, 64]
    # The longer budget: the two baselines, with their own steps.
    assert _cells('longer') == [('long0_last_2000steps', dict(steps=2000, n_long=0, placement='last', short_mem_len=16)),
                                ('long6_last_2000steps', dict(steps=2000, n_long=6, placement='last', short_mem_len=16))]
    # The short part alone includes its own 16, which is the run `long1_last`, not a second one.
    assert [(n, c['short_mem_len']) for n, c in _cells('short')] == [
        ('long1_last_short4', 4), ('long1_last_short8', 8), ('long1_last', 16), ('long1_last_short32', 32),
        ('long1_last_short64', 64)]
    # Another budget is another run.
    assert [n for n, _ in _cells('placement', steps=500, longer_steps=1000)][:2] == ['long0_last_500steps',
                                                                                      'long1_first_500steps']


def test_the_plan_goes_seed_by_seed_and_records_the_margin():
    runs = study.plan(study.Settings(part='longer', seeds=[0, 1]))
    assert [r.key for r in runs] == ['long0_last_2000steps_seed0', 'long6_last_2000steps_seed0',
                                     'long0_last_2000steps_seed1', 'long6_last_2000steps_seed1']
    assert runs[1].settings == {'name': 'long6_last_2000steps', 'seed': 0, 'steps': 2000, 'n_long': 6,
                                'placement': 'last', 'short_mem_len': 16, 'margin': 0.005}


def test_bad_settings_name_the_value():
    with pytest.raises(SystemExit, match="unknown part 'deep'; valid: all, placement, short, longer"):
        parse_settings(study.Settings, ['part=deep'])
    with pytest.raises(SystemExit, match="unknown setting 'step'"):
        parse_settings(study.Settings, ['step=3'])
    with pytest.raises(SystemExit, match="longer_steps=1000 must be more than steps=1000"):
        parse_settings(study.Settings, ['longer_steps=1000'])


# ## The committed records and page
def test_the_default_plan_finds_every_committed_record():
    keys = {r.key for r in study.plan(study.Settings())}
    recorded = {p.stem for p in (RESULTS / 'memory_depth' / 'records').glob('*.json')}
    assert recorded <= keys
    # What is left is what the page names as not run, every seed of it.
    assert sorted(r.key for r in runner.pending(study.STUDY, study.Settings(), RESULTS)) == sorted(
        f'{n}_seed{s}' for n in NOT_RUN for s in (0, 1, 2))
    page = (RESULTS / 'memory_depth.md').read_text()
    assert '* **Not run:** ' + ', '.join(f'`{n}`' for n in NOT_RUN) + ':' in page


def test_the_report_gives_back_the_committed_page(tmp_path):
    shutil.copytree(RESULTS / 'memory_depth', tmp_path / 'memory_depth')
    # The page's echo section is read from the echo study's records.
    shutil.copytree(RESULTS / 'echo' / 'records', tmp_path / 'echo' / 'records')
    runner.report(study.STUDY, tmp_path)
    assert study.STUDY.pages == ['memory_depth.md']
    undated = lambda text: [line for line in text.splitlines() if not line.startswith('* **Date:**')]  # noqa: E731
    assert undated((tmp_path / 'memory_depth.md').read_text()) == undated((RESULTS / 'memory_depth.md').read_text())


# A tiny end-to-end run of the longer part: two baselines, through the runner and the trainer.
def test_a_tiny_study_runs_end_to_end(tmp_path, monkeypatch):
    text = tmp_path / 'text.txt'
    text.write_text(load_text()[:40_000])
    monkeypatch.setattr(study, 'SIZES', {**study.SIZES, 'd_model': 16, 'heads': 2, 'd_ff': 32, 'batch_size': 4,
                                         'data_file': str(text), 'eval_every': 1, 'warmup': 1})
    runner.run(study.STUDY, ['part=longer', 'steps=2', 'longer_steps=3', 'seeds=0'], results=tmp_path,
               log=lambda _: None)
    records = tmp_path / 'memory_depth' / 'records'
    assert sorted(p.name for p in records.glob('*.json')) == ['long0_last_3steps_seed0.json',
                                                             'long6_last_3steps_seed0.json']
    record = json.loads((records / 'long6_last_3steps_seed0.json').read_text())
    assert (record['steps'], record['lengths'], record['run']['steps']) == (3, [128] * 6, 3)
    assert record['state_bytes_per_stream'] == 4 * 16 * 128 * 6
    page = (tmp_path / 'memory_depth.md').read_text()
    assert '| all long | [128, 128, 128, 128, 128, 128] | 49,152 |' in page and '(one seed), not resolved' in page
    assert 'python -m labml_memory.studies run memory_depth part=longer steps=2 longer_steps=3 seeds=0' in page


# ## Made-up records with known answers: the page must read them right
#
# A difference that is the same in every seed is resolved whatever the correction; one inside
# the margin in every seed is a tie.
def _write(records, name, n_long, placement, short, values, steps=1000, margin=0.005, curve=None,
           command='python -m labml_memory.studies run memory_depth', date='2026-12-01 00:00 UTC'):
    lengths = memory_lengths(6, n_long, placement, 128, short)
    records.mkdir(parents=True, exist_ok=True)
    for seed, v in enumerate(values):
        (records / f'{name}_seed{seed}.json').write_text(json.dumps({
            'study': 'memory_depth', 'key': f'{name}_seed{seed}',
            'run': {'name': name, 'seed': seed, 'steps': steps, 'n_long': n_long, 'placement': placement,
                    'short_mem_len': short, 'margin': margin},
            'name': name, 'seed': seed, 'steps': steps, 'n_long': n_long, 'placement': placement,
            'short_mem_len': short, 'long_mem_len': 128, 'lengths': lengths,
            'state_bytes_per_stream': 4 * 128 * sum(lengths), 'parameters': 1, 'valid_loss': v,
            'valid_curve': curve or {str(steps): v}, 'train_curve': {}, 'run_uuid': 'x', 'seconds': 1.0,
            'command': command, 'machine': {'cpu': 'cpu', 'cores': 2, 'torch': 't', 'date': date}}))


def _grid(records, all_long, all_short):
    _write(records, 'long6_last', 6, 'last', 16, all_long)
    _write(records, 'long0_last', 0, 'last', 16, all_short)
    _write(records, 'long1_first', 1, 'first', 16, [1.70, 1.71, 1.72])     # behind all long
    _write(records, 'long1_last', 1, 'last', 16, [1.501, 1.511, 1.521])    # inside the margin of all long
    _write(records, 'long1_last_short4', 1, 'last', 4, [1.45, 1.46, 1.47])  # ahead


def test_the_reading_follows_the_numbers(tmp_path):
    records = tmp_path / 'memory_depth' / 'records'
    _grid(records, [1.50, 1.51, 1.52], [1.60, 1.61, 1.62])
    runner.report(study.STUDY, tmp_path)
    page = (tmp_path / 'memory_depth.md').read_text()
    # The longer budget is in the plan and not in these records.
    assert "`long2_first`" in page and "`long0_last_2000steps`, `long6_last_2000steps`: in the study's plan" in page
    longer = dict(steps=2000, command='python -m labml_memory.studies run memory_depth part=longer',
                  date='2026-12-02 00:00 UTC')
    _write(records, 'long6_last_2000steps', 6, 'last', 16, [1.40, 1.41, 1.42], **longer)
    _write(records, 'long0_last_2000steps', 0, 'last', 16, [1.45, 1.46, 1.47], **longer)
    runner.report(study.STUDY, tmp_path)
    page = (tmp_path / 'memory_depth.md').read_text()
    assert '_2000steps`' not in page.split('* **Not run:**')[1]
    # All long is ahead of all short: the premise of finding 1 holds.
    assert ("keep): -0.1000 [-0.1000, -0.1000] nats, ahead at the last step; the premise holds at this budget, "
            "so finding 1 can be read against all long.") in page
    assert '* **Fewer long layers against all long** (finding 1): tie: 1 long last; behind: 1 long first.' in page
    assert ('* **1 long, first against last** (finding 2): +0.1990 [+0.1990, +0.1990] nats, behind; as the paper '
            'finds.') in page
    assert ('* **Short range** (finding 3): the lowest mean is at 4 characters (1.4600); against all long '
            '-0.0500 [-0.0500, -0.0500], ahead.') in page
    assert ("* **The sweep**, one long layer on top: short 4 → 1.4600, short 16 → 1.5110; the shortest against "
            "the longest, -0.0510 [-0.0510, -0.0510] nats, ahead; as the paper finds.") in page
    assert ("* **With 2,000 steps**, all long against all short: -0.0500 [-0.0500, -0.0500] nats, ahead "
            "(all long 1.4100, all short 1.4600): by then the long memory has paid for itself. Only these two "
            "baselines were trained that long; every line above is read at 1,000 steps.") in page
    # The three findings in one line: the page's headline, under its title.
    assert ('In sum, at 3 seeds and 1,000 steps: finding 1 is read against all long below; finding 2 is '
            'shown; finding 3 is shown.') in page.splitlines()[2]
    # The table: one row per configuration, all short against all long is the premise turned.
    assert '| all long | [128, 128, 128, 128, 128, 128] | 393,216 | 1.5100' in page
    assert '| all short | [16, 16, 16, 16, 16, 16] | 49,152 | 1.6100<br><small>1.6000–1.6200</small> | ' \
           '+0.1000 [+0.1000, +0.1000], behind |' in page
    assert page.count('| all long |') == 1 and page.count('| all short |') == 1
    # Every comparison, once: four rows against all long, first against last, the sweep, the
    # longer budget's baselines.
    assert 'across the 7 comparisons of this page' in page
    assert '3 seeds per configuration' in page
    assert "* **Steps:** 1,000 per run (2,000 for the longer budget's baselines)" in page
    # Every command the records were made by, oldest first, once each (in the folded block,
    # whose lines are indented by four spaces).
    assert ("```\npython -m labml_memory.studies run memory_depth\npython -m labml_memory.studies run memory_depth "
            "part=longer\npython -m labml_memory.studies report memory_depth\n```") in page.replace('\n    ', '\n')
    assert 'earlier script' not in page and 'Margin:' not in page
    assert (tmp_path / 'memory_depth' / 'study.png').stat().st_size > 0


# At this page's budget the all-long model is the worse: the premise of finding 1 fails, and
# the page says what being ahead of all long then means.
def test_a_failed_premise_is_said(tmp_path):
    records = tmp_path / 'memory_depth' / 'records'
    _grid(records, [1.60, 1.61, 1.62], [1.50, 1.51, 1.52])
    _write(records, 'long2_last', 2, 'last', 16, [1.40, 1.42, 1.41])
    runner.report(study.STUDY, tmp_path)
    page = (tmp_path / 'memory_depth.md').read_text()
    assert ("+0.1000 [+0.1000, +0.1000] nats, behind at the last step; the premise fails: long memory in every "
            "layer is worse than none at this budget") in page
    # The short-range sweep is not a count of long layers: it is not in this line.
    assert '* **Fewer long layers against all long** (finding 1): ahead: 1 long last, 2 long last; behind: 1 long first.' in page
    assert ('With the premise not shown, being ahead of all long says that the all-long model trains worse at '
            'this budget, not that fewer long layers keep what all of them do.') in page
    assert 'finding 1 cannot be tested, its premise not being shown' in page


def test_other_budgets_are_read_by_their_baselines_only(tmp_path):
    records = tmp_path / 'memory_depth' / 'records'
    _grid(records, [1.50, 1.51, 1.52], [1.60, 1.61, 1.62])
    _write(records, 'long1_first_500steps', 1, 'first', 16, [1.9, 1.9, 1.9], steps=500)
    runner.report(study.STUDY, tmp_path)
    page = (tmp_path / 'memory_depth.md').read_text()
    assert ("* **Not read here:** `long1_first_500steps`: recorded at a budget other than 1,000 steps, where the "
            "page reads only the two baselines.") in page
    assert '1.9000' not in page


def test_records_of_different_margins_are_not_mixed(tmp_path):
    records = tmp_path / 'memory_depth' / 'records'
    _grid(records, [1.50, 1.51, 1.52], [1.60, 1.61, 1.62])
    _write(records, 'long2_last', 2, 'last', 16, [1.40, 1.42, 1.41], margin=0.01)
    with pytest.raises(SystemExit, match=r"different margins \(\[0.005, 0.01\]\)"):
        runner.report(study.STUDY, tmp_path)
