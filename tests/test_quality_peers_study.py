"""The equal-budget study beside the public implementations (labml_memory/studies/quality_peers.py)."""
import shutil
from pathlib import Path

import pytest

from labml_memory.benchmark.peers import PEERS
from labml_memory.studies import quality_peers as study
from labml_memory.studies import stats
from labml_memory.studies.runner import Records, Run, parse_settings, pending, report, write_pages

RESULTS = Path(__file__).resolve().parents[1] / 'docs' / 'results'
BASELINE = study.BASELINE
IMPORT_ERROR = ("PeerUnavailable: labml-nn does not import: ModuleNotFoundError: "
                "No module named 'labml_nn'")


# ## Why a row is empty, in words
def test_a_peer_that_does_not_import_reads_as_not_installed():
    assert study.not_run(IMPORT_ERROR) == 'not run: the package does not install here'
    assert study.not_run('PeerUnavailable: compressive-transformer-pytorch needs mem_len >= seq_len, '
                         'got mem_len=8') == 'not run: the package cannot express the shared sizes'
    assert study.not_run('RuntimeError: shapes do not match') == 'failed: the error is in its record'


def test_the_committed_page_shows_no_exception():
    page = (RESULTS / 'quality_peers.md').read_text()
    rows = [line for line in page.splitlines() if line.startswith('| ')]
    assert not [row for row in rows if 'Error' in row or 'PeerUnavailable' in row]
    assert sum('not run: the package does not install here' in row for row in rows) == 3
    # The records keep the error as it was raised.
    errors = [r['error'] for r in Records(RESULTS / 'quality_peers') if 'error' in r]
    assert len(errors) == 3 and all(e.startswith('PeerUnavailable:') for e in errors)


# ## One run, both budgets, without training
def _fake_run_one(calls):
    def run_one(name, logs, steps, seed, time_budget=None):
        calls.append((name, steps, time_budget))
        return {'valid_loss': 2.0, 'steps': steps, 'wall_time': 20.0 if time_budget is None else time_budget,
                'curve': {'1': 4.0}, 'state_bytes': 64, 'total_seconds': 1.0}
    return run_one


def test_the_equal_time_run_is_sized_from_the_models_own_speed(monkeypatch):
    calls = []
    monkeypatch.setattr(study, 'run_one', _fake_run_one(calls))
    record = study.execute(Run('transformer_xl_seed0', {'name': 'transformer_xl', 'seed': 0, 'steps': 150,
                                                         'seconds': 30.0, 'margin': 0.01}))
    # 150 steps took 20 s, so 30 s holds 225 steps, and the trainer stops at 30 s.
    assert calls == [('transformer_xl', 150, None), ('transformer_xl', 225, 30.0)]
    assert record['budget_seconds'] == 30.0 and record['time_run']['steps'] == 225
    assert 'error' not in record


def test_a_model_that_cannot_be_built_is_a_record_with_its_error(monkeypatch):
    def broken(name, logs, **overrides):
        raise study.PeerUnavailable("labml-nn does not import: ModuleNotFoundError: No module named 'labml_nn'")
    monkeypatch.setattr(study, 'run_one', broken)
    record = study.execute(Run('labml_nn_xl_seed0', {'name': 'labml_nn_xl', 'seed': 0, 'steps': 150,
                                                      'seconds': 30.0, 'margin': 0.01}))
    assert record == {'name': 'labml_nn_xl', 'seed': 0, 'error': IMPORT_ERROR}


# ## Building at the shared sizes
def test_baseline_and_unrolled_models_read_the_same_characters_per_step():
    plain = study.config_for(BASELINE, {})
    assert (plain.seq_len, plain.batch_size, plain.mem_len) == (128, 8, 0)
    rmt = study.config_for('recurrent_memory', {})
    assert rmt.unroll > 1 and rmt.batch_size * rmt.unroll == study.SIZES.batch_size
    assert 'transformer_xl' in study.ours() and not {'studies', 'benchmark', 'training'} & set(study.ours())


# ## Verdicts and the memory check, from hand-made records
def _record(name, seed, loss, state, error=None):
    record = {'name': name, 'seed': seed, 'run': {'steps': 150, 'margin': 0.01, 'seconds': 30.0},
              'command': 'python -m labml_memory.studies run quality_peers',
              'machine': {'cpu': 'x', 'cores': 2, 'torch': 't', 'date': '2026-12-01 13:55 UTC', 'load': '1.0'}}
    if error:
        return {**record, 'error': error}
    run = {'valid_loss': loss, 'steps': 150, 'wall_time': 30.0, 'curve': {'1': 4.0, '2': 3.9}, 'state_bytes': state}
    return {**record, 'steps_run': run, 'time_run': dict(run, steps=140), 'budget_seconds': 30.0,
            'budget_rule': 'declared in the settings before the runs'}


class _Records:
    def __init__(self, records):
        self.records = records

    def __iter__(self):
        return iter(self.records)


def test_a_peer_shown_no_worse_with_less_state_has_the_memory_advantage(tmp_path):
    ours = [2.20, 2.30, 2.25]
    records = ([_record('infini_attention', s, loss, 1000) for s, loss in enumerate(ours)]
               + [_record('lucidrains_infini', s, loss - 0.1 + e, 500)
                  for s, (loss, e) in enumerate(zip(ours, (0.001, -0.001, 0.0)))]
               + [_record('recurrent_memory', s, loss, 100) for s, loss in enumerate(ours)]
               + [_record('lucidrains_rmt', s, loss + 0.1 + e, 50)
                  for s, (loss, e) in enumerate(zip(ours, (0.001, -0.001, 0.0)))]
               + [_record('labml_nn_xl', s, 0, 0, error=IMPORT_ERROR) for s in range(3)])
    done = {k: v for k, v in study.rows_of(_Records(records)).items() if k != 'labml_nn_xl'}
    found = study.verdicts(done, margin=0.01)
    assert found['lucidrains_infini'].verdict == stats.AHEAD
    assert found['lucidrains_rmt'].verdict == stats.BEHIND
    write_pages(study.report(_Records(records), tmp_path), tmp_path)
    page = (tmp_path / 'quality_peers.md').read_text()
    infini = next(line for line in page.splitlines() if line.startswith('* `lucidrains_infini`'))
    rmt = next(line for line in page.splitlines() if line.startswith('* `lucidrains_rmt`'))
    assert 'at least as good with less memory' in infini
    # Less state but a worse loss is no advantage.
    assert 'no peer advantage' in rmt
    assert '| labml_nn_xl | not run: the package does not install here |' in page
    assert 'across the 2 comparisons' in page


def test_rows_come_ours_then_baseline_then_peers_then_what_did_not_run():
    names = ['lucidrains_rmt', 'labml_nn_xl', 'transformer_xl', BASELINE, 'compressive', 'xtransformers_xl']
    records = [_record(n, 0, 2.0, 1, error=IMPORT_ERROR if n == 'labml_nn_xl' else None) for n in names]
    assert list(study.rows_of(_Records(records))) == [
        'compressive', 'transformer_xl', BASELINE, 'xtransformers_xl', 'lucidrains_rmt', 'labml_nn_xl']


# ## Settings and plan
def test_bad_settings_name_the_value_and_what_is_valid():
    with pytest.raises(SystemExit, match="peers: unknown \\['nope'\\]; valid: xtransformers_xl"):
        parse_settings(study.Settings, ['peers=nope'])
    with pytest.raises(SystemExit, match="architectures: unknown"):
        parse_settings(study.Settings, ['architectures=transformer_xxl'])
    with pytest.raises(SystemExit, match='seconds > 0'):
        parse_settings(study.Settings, ['seconds=0'])
    # `peers=` leaves the peers out.
    assert parse_settings(study.Settings, ['peers=']).peers == []


def test_the_default_plan_finds_every_committed_record():
    records = Records(RESULTS / 'quality_peers')
    planned = [r.key for r in study.plan(study.Settings())]
    assert len(planned) == len(study.ours()) + 1 + len(PEERS)
    assert sorted(records.keys()) == sorted(planned)
    assert pending(study.STUDY, study.Settings(), RESULTS) == []


def test_report_gives_back_the_committed_page(tmp_path):
    shutil.copy(RESULTS / 'quality_peers.md', tmp_path / 'quality_peers.md')
    shutil.copytree(RESULTS / 'quality_peers', tmp_path / 'quality_peers')
    report(study.STUDY, tmp_path)

    def lines(path):
        return [x for x in path.read_text().splitlines() if not x.startswith('* **Date:**')]
    assert lines(tmp_path / 'quality_peers.md') == lines(RESULTS / 'quality_peers.md')
    assert (tmp_path / 'quality_peers' / 'quality_peers.png').exists()


# Superseded records are named on the page, never read as results.
def test_history_is_named_not_reported(tmp_path):
    shutil.copy(RESULTS / 'quality_peers.md', tmp_path / 'quality_peers.md')
    shutil.copytree(RESULTS / 'quality_peers', tmp_path / 'quality_peers')
    older = tmp_path / 'quality_peers' / 'history' / 'at_100_steps'
    older.mkdir(parents=True)
    shutil.copy(tmp_path / 'quality_peers' / 'records' / 'transformer_xl_seed0.json', older / 'transformer_xl_seed0.json')
    report(study.STUDY, tmp_path)
    page = (tmp_path / 'quality_peers.md').read_text()
    assert '* **History:** superseded records, not shown above: `history/at_100_steps/` (1 run)' in page
    assert page.count('| transformer_xl |') == 1
