"""The equal-compute quality study and its context measurements (labml_memory/studies/quality.py)."""
import json
import shutil
from pathlib import Path

import pytest
import torch

from labml_memory.data.shakespeare import SequentialStreams
from labml_memory.studies import quality as study
from labml_memory.studies import stats
from labml_memory.studies.runner import Records, parse_settings, pending, report, run
from labml_memory.transformer_xl import TransformerXL

RESULTS = Path(__file__).resolve().parents[1] / 'docs' / 'results'
BASELINE = study.BASELINE


def _streams(segments: int = 12, seq_len: int = 8, batch: int = 3, vocab: int = 11):
    g = torch.Generator().manual_seed(5)
    return SequentialStreams(torch.randint(vocab, (batch * segments * seq_len + 1,), generator=g), batch, seq_len)


def _xl(n_layers: int, mem_len: int, vocab: int = 11):
    torch.manual_seed(3)
    model = TransformerXL(vocab, d_model=16, heads=2, n_layers=n_layers, d_ff=32, mem_len=mem_len, dropout=0.0)
    # Every parameter off its initial value ($u = v = 0$ and the norms' ones included).
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model


class _Window:
    seq_len = 16  # the plain transformer's window: two segments of 8


# ## How far back a model looks
#
# An $n$-layer Transformer-XL whose memory is one segment reaches exactly $n$ segments back:
# layer $l$'s memory of segment $t - 1$ was computed from layer $l - 1$'s memory of $t - 2$.
# So its loss with a history of $n$ segments equals its loss with the whole stream, and with
# fewer it differs. A history built from the wrong segments (one too few, or not starting
# from an empty state) breaks one of the two.
@pytest.mark.parametrize('n_layers', [1, 2])
def test_history_of_n_segments_is_all_an_n_layer_xl_can_use(n_layers):
    model = _xl(n_layers, mem_len=8)
    curves = study.context_curves(model, 'transformer_xl', _streams(), None, [0, 1, 2], 3, [])
    h = curves['histories']
    assert h[str(n_layers)] == pytest.approx(h['all'], abs=1e-6)
    assert abs(h[str(n_layers - 1)] - h['all']) > 1e-4
    # The per-position losses average to the same loss.
    for key in ('0', 'all'):
        assert sum(curves['positions'][key]) / 8 == pytest.approx(h[key], rel=1e-6)


# The slow way, for one scored segment: run the segments before it by hand, then score it.
def test_history_loss_equals_a_hand_run():
    model, streams = _xl(2, mem_len=8).eval(), _streams()
    curves = study.context_curves(model, 'transformer_xl', streams, None, [1], 1, [])
    t = study.FIRST
    with torch.no_grad():
        memory = model(streams.inputs[:, (t - 1) * 8:t * 8], None)[1]
        logits = model(streams.inputs[:, t * 8:(t + 1) * 8], memory)[0]
        expected = torch.nn.functional.cross_entropy(logits.flatten(0, 1), streams.targets[:, t * 8:(t + 1) * 8].flatten())
    assert curves['histories']['1'] == pytest.approx(expected.item(), rel=1e-6)


# The plain transformer carries no state: a history is text in its own window, so every
# $h \geq 1$ gives one number (its window holds one segment before the scored one), and a
# longer evaluation memory is not offered to it.
def test_plain_transformer_history_is_its_window():
    model = _xl(2, mem_len=0)
    curves = study.context_curves(model, BASELINE, _streams(), _Window(), [0, 1, 2, 4], 2, [0, 8])
    h = curves['histories']
    assert h['1'] == h['2'] == h['4'] == h['all']
    assert abs(h['0'] - h['1']) > 1e-4
    assert curves['eval_mem_len'] == {}


def test_longer_evaluation_memory_is_restored_afterwards():
    model = _xl(2, mem_len=8)
    kept = list(model.eval_mem_len)
    curves = study.context_curves(model, 'transformer_xl', _streams(), None, [0], 2, [0, 8, 16])
    assert model.eval_mem_len == kept
    # A memory of 0 is no memory: the same as a history of 0.
    assert curves['eval_mem_len']['0'] == pytest.approx(curves['histories']['0'], rel=1e-6)


# ## Effective context, by hand
def _context(losses):
    return {'context': {'histories': dict(zip(['0', '1', '2', '4', '8', 'all'], losses))}}


def test_ecl_is_the_first_history_past_which_gains_fall_below_r():
    # From h = 0 the rest gains 0.115 (> 1% of 2.0); from h = 1, 0.015 (< 1% of 1.9).
    assert study.ecl(_context([2.0, 1.9, 1.89, 1.885, 1.885, 1.885])) == 1
    # A late gain counts: from h = 2 the whole stream is still 0.05 lower.
    assert study.ecl(_context([2.0, 1.9, 1.89, 1.885, 1.885, 1.84])) == 8
    assert study.ecl(_context([2.0, 2.0, 2.0, 2.0, 2.0, 2.0])) == 0


def test_recl_measures_the_gain_against_the_group_best():
    record = _context([2.0, 1.9, 1.89, 1.885, 1.885, 1.885])
    # Against itself RECL is the step-to-next version of ECL.
    alone = {h: v for h, v in record['context']['histories'].items() if h != 'all'}
    assert study.recl(record, alone) == 1
    # A group whose best already has 1.90 at h = 0: this model's 1.9 at h = 1 gains nothing
    # over it, so its relative effective context is 0.
    best = dict(alone, **{'0': 1.90})
    assert study.recl(record, best) == 0


# ## Verdicts, from hand-made records
#
# Three seeds of each model; the plain transformer's seeds differ from one another by far
# more than a model's difference from it, which pairing by seed removes.
def _record(name, seed, all_, zero=None, one=None, mems=None):
    histories = {'0': zero if zero is not None else all_ + 0.1, '1': one if one is not None else all_,
                 'all': all_}
    return {'name': name, 'seed': seed, 'run': {'margin': 0.01},
            'context': {'histories': histories, 'eval_mem_len': mems or {}}}


def _runs(cells):
    return {name: [_record(name, s, *values[s]) if isinstance(values[s], tuple) else _record(name, s, values[s])
                   for s in range(3)] for name, values in cells.items()}


PLAIN = [1.60, 1.70, 1.80]


def test_quality_verdicts_pair_seeds_and_read_direction_and_ties():
    runs = _runs({
        'better': [p - 0.05 + e for p, e in zip(PLAIN, (0.001, -0.001, 0.0))],   # ahead
        'worse': [p + 0.05 + e for p, e in zip(PLAIN, (0.001, -0.001, 0.0))],    # behind
        'same': [p + e for p, e in zip(PLAIN, (0.0005, -0.0005, 0.0))],          # tie
        'noisy': [p + e for p, e in zip(PLAIN, (0.04, -0.05, 0.03))],            # not resolved
        'transformer_xl': PLAIN,
        BASELINE: PLAIN})
    found = study.quality_verdicts(runs, margin=0.01)
    against = {k.split(' against ')[0]: v.verdict for k, v in found.items() if k.endswith(BASELINE)}
    assert against == {'better': stats.AHEAD, 'worse': stats.BEHIND, 'same': stats.TIE,
                       'noisy': stats.UNRESOLVED, 'transformer_xl': stats.TIE}
    # Five against the plain transformer, four against Transformer-XL: one Holm family of nine.
    assert len(found) == 9
    assert found['better against transformer_xl'].mean == pytest.approx(-0.05, abs=1e-9)
    # The ranges of the seeds overlap for every model here (the plain transformer spans
    # 1.6 to 1.8), so a reading of overlapping ranges would call nothing.


def test_context_verdicts_say_what_the_memory_is_worth():
    runs = _runs({
        # The whole history is worth 0.1 against none, and nothing beyond one segment.
        'used': [(a, a + 0.1 + e, a) for a, e in zip((1.6, 1.7, 1.8), (0.002, -0.002, 0.0))],
        # Worth 0.03 beyond one segment, in every seed.
        'far': [(a, a + 0.1, a + 0.03 + e) for a, e in zip((1.6, 1.7, 1.8), (0.001, -0.001, 0.0))],
        BASELINE: [(a, a + 0.04 + e, a) for a, e in zip((1.6, 1.7, 1.8), (0.001, -0.001, 0.0))]})
    found = study.context_verdicts(runs, margin=0.01)
    assert found[('worth', 'used')].verdict == stats.AHEAD
    assert found[('worth', 'used')].mean == pytest.approx(-0.1, abs=1e-9)
    assert found[('beyond', 'used')].verdict == stats.TIE
    assert found[('beyond', 'far')].verdict == stats.AHEAD
    # No verdict sets a memory model's gain over h = 0 (out of its training distribution)
    # against the plain transformer's; the plain transformer is never a row of its own.
    assert {kind for kind, _ in found} == {'worth', 'beyond'}
    assert not any(name == BASELINE for _, name in found)


# The committed context page, read as a skeptic would: a memory that gains a tenth of a nat
# from its history has a relative effective context of at least one segment, and the page
# says why it makes no verdict against the plain transformer's gain over h = 0.
def test_the_context_page_does_not_read_an_out_of_distribution_baseline():
    text = (Path(__file__).parent.parent / 'docs' / 'results' / 'quality' / 'context.md').read_text()
    rows = [line.split('|') for line in text.splitlines() if line.startswith('| ')
            and line.count('|') == 6 and 'RECL' not in line and '---' not in line]
    memories = [r for r in rows if r[1].strip() != BASELINE]
    assert len(memories) == 7
    for row in memories:
        gain = float(row[2].split('<br>')[0])
        assert gain < 0.05 or row[5].strip() != '0', row
    assert 'No verdict against the plain transformer here' in text
    assert 'earns its keep by gaining more than that' not in text


def test_recl_of_a_memory_model_starts_at_one_segment():
    # Out of distribution at h = 0 (2.0), then 1.9, 1.89, flat: against a group whose best h = 0
    # is 1.90 the old rule gave 0; from one segment it is 64 characters (h = 1).
    record = _context([2.0, 1.9, 1.89, 1.885, 1.885, 1.885])
    best = {h: v for h, v in record['context']['histories'].items() if h != 'all'}
    best['0'] = 1.90
    assert study.recl(record, best) == 0
    assert study.recl(record, best, start='1') == 1


def test_longer_evaluation_memory_is_compared_with_the_trained_one():
    mems = [{'0': 1.9, '64': a, '128': a - 0.02 + e} for a, e in zip((1.6, 1.7, 1.8), (0.001, -0.001, 0.0))]
    runs = {'transformer_xl': [_record('transformer_xl', s, 1.6, mems=mems[s]) for s in range(3)],
            BASELINE: [_record(BASELINE, s, 1.7) for s in range(3)]}
    found = study.context_verdicts(runs, margin=0.01)
    assert study.best_eval_memory(runs['transformer_xl']) == ('128', '64')
    assert found[('eval memory', 'transformer_xl')].verdict == stats.AHEAD


def test_records_that_disagree_on_the_margin_are_refused():
    runs = _runs({'a': PLAIN, BASELINE: PLAIN})
    runs['a'][0]['run'] = {'margin': 0.02}
    with pytest.raises(ValueError, match='disagree on the margin'):
        study.margin_of(runs)


# ## Settings and plan
def test_bad_settings_name_the_value_and_what_is_valid():
    with pytest.raises(SystemExit, match='stepz'):
        parse_settings(study.Settings, ['stepz=3'])
    with pytest.raises(SystemExit, match="unknown.*'nope'.*transformer_xl"):
        parse_settings(study.Settings, ['architectures=nope'])
    with pytest.raises(SystemExit, match='histories go from 0 up to 8'):
        parse_settings(study.Settings, ['histories=0,1,16'])


def test_plan_keys_are_model_and_seed_seeds_outside():
    settings = parse_settings(study.Settings, ['architectures=transformer_xl,plain_transformer', 'seeds=0,1'])
    runs = study.plan(settings)
    assert [r.key for r in runs] == ['transformer_xl_seed0', 'plain_transformer_seed0',
                                     'transformer_xl_seed1', 'plain_transformer_seed1']
    assert runs[1].settings['name'] == BASELINE and runs[1].settings['margin'] == 0.01


def test_the_default_plan_finds_every_committed_record():
    records = Records(RESULTS / 'quality')
    planned = {r.key for r in study.plan(study.Settings())}
    assert len(records) == 24 and set(records.keys()) == planned
    assert pending(study.STUDY, study.Settings(), RESULTS) == []


# ## The committed pages come back from their records
def test_report_gives_back_the_committed_pages(tmp_path):
    shutil.copy(RESULTS / 'quality.md', tmp_path / 'quality.md')
    shutil.copytree(RESULTS / 'quality', tmp_path / 'quality')
    # The context page's echo section is read from the echo study's records.
    shutil.copytree(RESULTS / 'echo' / 'records', tmp_path / 'echo' / 'records')
    report(study.STUDY, tmp_path)
    for page in study.STUDY.pages:
        def lines(path):
            return [x for x in path.read_text().splitlines() if not x.startswith('* **Date:**')]
        assert lines(tmp_path / page) == lines(RESULTS / page), page
    assert (tmp_path / 'quality' / 'quality.png').exists() and (tmp_path / 'quality' / 'context.png').exists()


# ## End to end at toy size: two models, a few steps, one scored segment
def test_run_then_report_writes_both_pages(tmp_path, monkeypatch):
    # The operation counts are given, so the test controls the budget: the XL step costs
    # twice the plain transformer's, so it gets half the steps.
    monkeypatch.setattr(study, 'flops_per_step', {'transformer_xl': 2000, BASELINE: 1000}.__getitem__)
    argv = ['steps=4', 'seeds=0', 'architectures=transformer_xl,plain_transformer',
            'eval_segments=1', 'histories=0,1', 'eval_mem_lens=0,64']
    run(study.STUDY, argv, results=tmp_path, log=lambda _: None)
    records = tmp_path / 'quality' / 'records'
    xl = json.loads((records / 'transformer_xl_seed0.json').read_text())
    plain = json.loads((records / 'plain_transformer_seed0.json').read_text())
    assert (xl['steps'], plain['steps']) == (2, 4)
    assert xl['budget_flops'] == plain['budget_flops'] == 4000
    assert set(xl['context']['histories']) == {'0', '1', 'all'}
    assert set(xl['context']['eval_mem_len']) == {'0', '64'}
    assert xl['study'] == 'quality' and xl['run']['margin'] == 0.01
    # A second run finds both recorded and trains nothing.
    before = (records / 'transformer_xl_seed0.json').stat().st_mtime
    run(study.STUDY, argv, results=tmp_path, log=lambda _: None)
    assert (records / 'transformer_xl_seed0.json').stat().st_mtime == before
    quality = (tmp_path / 'quality.md').read_text()
    context = (tmp_path / 'quality' / 'context.md').read_text()
    for page in (quality, context):
        assert 'transformer_xl' in page and BASELINE in page and 'nan' not in page
    assert '| transformer_xl | 2 |' in quality
    # One seed has no spread: its comparisons are never resolved.
    assert '(one seed), not resolved' in quality
