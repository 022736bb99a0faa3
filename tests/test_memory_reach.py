"""The memory-reach suite: every architecture runs end to end at toy size, states are matched,
the report is written from the records alone, and bad settings fail clearly."""
import json

import pytest

from labml_memory.tasks import memory_reach, recall
from labml_memory.tasks.memory_reach import ReachConfig, contestants, infini_numbers, reach_at_half
from labml_memory.tasks.synthetic import architectures


@pytest.fixture(scope='module')
def quick_records(tmp_path_factory):
    out = tmp_path_factory.mktemp('reach')
    results = memory_reach.run({'quick': 'true', 'results_dir': str(out), 'logs_dir': str(out / 'logs')})
    return out, results


def test_quick_runs_every_registered_architecture(quick_records):
    out, results = quick_records
    models = {r['model'] for r in results}
    assert models == set(architectures()) - {'memory_depth'}
    # Both budgets, every contestant, one record file each; the plain transformer keeps no state,
    # so its one run (at the first budget) serves both.
    assert len(results) == 2 * len(contestants()) - 1
    assert [r['budget'] for r in results if r['name'] == 'plain'] == ['small']
    assert len(list(out.glob('*.json'))) == len(results)


def test_matched_states_are_within_ten_percent(quick_records):
    _, results = quick_records
    # The kNN table must hold a segment of pairs, more than the small budget: that run is skipped.
    assert [r['budget'] for r in results if 'skipped' in r] == ['small']
    for r in results:
        if 'skipped' in r:
            continue
        hooked = r['name'] in ('memorizing_transformer', 'recurrent_memory')
        if (r['name'] in memory_reach.CONTESTANTS or hooked) and r['name'] != 'plain':
            assert abs(r['state_numbers'] - r['budget_numbers']) <= 0.1 * r['budget_numbers'], r['name']
            assert r['state_matched']
    # The budgets are Infini-attention's own states, with H heads and with one.
    config = ReachConfig(quick=True)
    config.apply_quick()
    assert config.budget_numbers('small') == infini_numbers(16, 1, 2) == 16 // 2 * (16 // 2 + 1) * 2
    assert config.budget_numbers('large') == 16 * 17


def test_window_models_report_measured_reach_equal_to_the_rule(quick_records):
    _, results = quick_records
    for r in results:
        if r.get('model') in ('transformer_xl', 'compressive') and 'skipped' not in r:
            assert r['reach_measured'] == r['reach_rule'], r['name']
    plain = next(r for r in results if r['name'] == 'plain')
    assert plain['reach_rule'] == plain['seg_len'] - 1  # the plain transformer sees its segment only


def test_report_is_written_from_the_records_alone(quick_records, tmp_path):
    out, results = quick_records
    page = tmp_path / 'page.md'
    page.write_text('old generated part\n<!-- reading -->\nA reading kept across reports.\n')
    memory_reach.report(str(out), str(page))
    text = page.read_text()
    assert text.startswith('# Memory reach and capacity') and 'A reading kept across reports.' in text
    assert 'old generated part' not in text
    assert f'forgot the pairs, is {recall.FLOOR:.2f}' in text and 'control' in text and '## How these numbers were made' in text
    for r in results:
        assert (f"{r['name']} at budget {r['budget']}" if 'skipped' in r else f"| {r['name']}") in text
    assert (out / 'accuracy_by_gap.png').stat().st_size > 10_000 and (out / 'heatmap.png').exists()
    # The plain transformer's one run stands for every budget; the steps column is filled.
    # (Four toy steps learn nothing, so every row is marked as failing its control.)
    assert text.count('| plain ⚠ | any |') == 1 and '| plain ⚠ | small |' not in text
    assert '| seeds × steps |' in text and '| 1 × 2 + 4 |' in text
    # The lookup column (two pairs, gap 0) and the window line of the load table.
    assert '| lookup |' in text and '* **lookup**: exact match per query at gap 0 with 2 pairs' in text
    # At the toy segment of 8 characters two queries leave no room for a pair: the line is at 0.
    assert memory_reach.window_share(1, 8) == memory_reach.window_share(2, 8) == 0.0
    assert 'only its segment of 8 could answer at most 0.00 at load 1, 0.00 at load 2 (the window line' in text


def test_reach_at_half_interpolates_between_gaps():
    records = [{'accuracy': {'0': {'1': 1.0}, '2': {'1': 0.8}, '4': {'1': 0.2}}},
               {'accuracy': {'0': {'1': 1.0}, '2': {'1': 0.6}, '4': {'1': 0.0}}}]
    # Means 1.0, 0.7, 0.1: the crossing lies a third of the way from gap 2 to gap 4.
    assert reach_at_half(records) == pytest.approx(2 + 2 * (0.7 - 0.5) / 0.6)
    assert reach_at_half([{'accuracy': {'0': {'1': 0.9}, '8': {'1': 0.7}}}]) == float('inf')
    assert reach_at_half([{'accuracy': {'0': {'1': 0.3}, '8': {'1': 0.1}}}]) is None


@pytest.mark.parametrize('override, message', [
    ({'contestants': 'transformer_xl,lstm'}, "unknown contestants \\['lstm'\\]"),
    ({'budgets': 'huge'}, "unknown budgets"),
    ({'eval_gaps': '0,-1'}, 'eval_gaps'),
    ({'eval_loads': '0,2'}, 'loads must be between 1 and 26'),
    ({'mem_len': '4'}, "unknown keys \\['mem_len'\\]"),
    ({'lookup_steps': '-1'}, 'lookup_steps must be >= 0 \\(0: no lookup phase\\), got -1'),
    ({'lookup_share': '1.5'}, 'lookup_share is a fraction of the training texts, in \\[0, 1\\]; got 1.5'),
])
def test_bad_settings_name_the_value(override, message):
    with pytest.raises(ValueError, match=message):
        memory_reach.run({'quick': 'true', **override})


def test_records_hold_what_the_page_needs(quick_records):
    out, _ = quick_records
    record = json.loads(next(out.glob('transformer_xl_small_seed0.json')).read_text())
    for key in ('seed', 'state_bytes', 'parameters', 'control', 'accuracy', 'train_seconds', 'command', 'settings'):
        assert key in record
    assert record['command'].startswith('python -m labml_memory.tasks.memory_reach run')


@pytest.mark.parametrize('seg_len', [16, 32])
def test_window_line_is_the_share_of_queries_whose_pair_is_inside_the_segment(seg_len):
    # Counted on generated texts: for each query, find its key's pair in the text and see
    # whether the key and both digits lie in the last segment of the inputs.
    import torch
    for load in (1, 2, 3, 4, 8, 16):
        need = recall.needed_length(load, 0, min(load, 4))
        length = -(-need // seg_len) * seg_len
        batch = recall.sample(200, length, torch.Generator().manual_seed(load), load, 0)
        inside = total = 0
        for row in range(200):
            text = recall.decode(batch.inputs[row]) + recall.decode(batch.targets[row, -1:])
            first_query = text.index('?')
            for q in range(min(load, 4)):
                key = text[first_query + q * recall.QUERY_LEN + 1]
                pair = text.index(key, length - need + 1)   # keys are distinct, filler before the pairs skipped
                inside += pair >= length - seg_len
                total += 1
        assert inside / total == pytest.approx(memory_reach.window_share(load, seg_len), abs=0.05), load
