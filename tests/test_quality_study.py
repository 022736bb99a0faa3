"""The equal-compute quality study and its context measurements (experiments/quality_at_equal_compute.py)."""
import json
import sys
from pathlib import Path

import pytest
import torch

EXPERIMENTS = Path(__file__).resolve().parents[1] / 'experiments'
sys.path.insert(0, str(EXPERIMENTS))
import quality_at_equal_compute as study  # noqa: E402
import quality_report as report  # noqa: E402

from labml_memory.data.shakespeare import SequentialStreams  # noqa: E402
from labml_memory.transformer_xl import TransformerXL  # noqa: E402


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
    curves = study.context_curves(model, study.BASELINE, _streams(), _Window(), [0, 1, 2, 4], 2, [0, 8])
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
def _record(losses):
    return {'context': {'histories': dict(zip(['0', '1', '2', '4', '8', 'all'], losses))}}


def test_ecl_is_the_first_history_past_which_gains_fall_below_r():
    # From h = 0 the rest gains 0.115 (> 1% of 2.0); from h = 1, 0.015 (< 1% of 1.9).
    assert report.ecl(_record([2.0, 1.9, 1.89, 1.885, 1.885, 1.885])) == 1
    # A late gain counts: from h = 2 the whole stream is still 0.05 lower.
    assert report.ecl(_record([2.0, 1.9, 1.89, 1.885, 1.885, 1.84])) == 8
    assert report.ecl(_record([2.0, 2.0, 2.0, 2.0, 2.0, 2.0])) == 0


def test_recl_measures_the_gain_against_the_group_best():
    record = _record([2.0, 1.9, 1.89, 1.885, 1.885, 1.885])
    # Against itself RECL is the step-to-next version of ECL.
    alone = {h: v for h, v in record['context']['histories'].items() if h != 'all'}
    assert report.recl(record, alone) == 1
    # A group whose best already has 1.90 at h = 0: this model's 1.9 at h = 1 gains nothing
    # over it, so its relative effective context is 0.
    best = dict(alone, **{'0': 1.90})
    assert report.recl(record, best) == 0


def test_seed_ranges_decide_what_is_beyond_the_spread():
    assert report.separated([1.0, 1.1, 1.2], [1.3, 1.4, 1.5])
    assert not report.separated([1.0, 1.3, 1.2], [1.25, 1.4, 1.5])
    # One seed has no spread, so nothing is judged beyond it.
    assert not report.separated([1.0], [2.0])


def test_bad_settings_name_the_value_and_what_is_valid():
    with pytest.raises(SystemExit, match='stepz'):
        study.parse(['stepz=3'])
    with pytest.raises(SystemExit, match="unknown model.*'nope'.*transformer_xl"):
        study.parse(['only=nope'])
    with pytest.raises(SystemExit, match='histories go up to 8'):
        study.parse(['histories=0,16'])


# ## End to end at toy size: two models, two steps, one scored segment
def test_run_then_report_writes_both_pages(tmp_path, monkeypatch):
    records = tmp_path / 'quality'
    monkeypatch.setenv('QUALITY_RECORDS', str(records))
    # The operation counts are given, so the test controls the budget: the XL step costs
    # twice the plain transformer's, so it gets half the steps.
    records.mkdir()
    (records / 'flops.json').write_text(json.dumps({'transformer_xl': 2000, study.BASELINE: 1000}))
    study.main(['run', 'steps=4', 'seeds=0', f'only=transformer_xl,{study.BASELINE}',
                'eval_segments=1', 'histories=0,1', 'eval_mem_lens=0,64'])
    xl = json.loads((records / 'transformer_xl_seed0.json').read_text())
    plain = json.loads((records / 'plain_transformer_seed0.json').read_text())
    assert (xl['steps'], plain['steps']) == (2, 4)
    assert xl['budget_flops'] == plain['budget_flops'] == 4000
    assert set(xl['context']['histories']) == {'0', '1', 'all'}
    assert set(xl['context']['eval_mem_len']) == {'0', '64'}
    # A second run finds both recorded and trains nothing.
    before = (records / 'transformer_xl_seed0.json').stat().st_mtime
    study.main(['run', 'steps=4', 'seeds=0', f'only=transformer_xl,{study.BASELINE}', 'eval_segments=1'])
    assert (records / 'transformer_xl_seed0.json').stat().st_mtime == before
    study.main(['report'])
    quality = (tmp_path / 'quality.md').read_text()
    context = (tmp_path / 'context.md').read_text()
    assert (tmp_path / 'quality.png').exists() and (tmp_path / 'context.png').exists()
    for page in (quality, context):
        assert 'transformer_xl' in page and study.BASELINE in page and 'nan' not in page
    assert '| transformer_xl | 2 |' in quality
