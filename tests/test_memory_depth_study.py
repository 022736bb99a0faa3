"""The six-layer memory-depth study: its plan, its settings and its page (experiments/memory_depth_study.py)."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'experiments'))
import memory_depth_report as report  # noqa: E402
import memory_depth_study as study  # noqa: E402

from labml_memory.memory_depth import memory_lengths  # noqa: E402


def test_the_plan_has_every_distinct_arrangement_once_and_the_short_sweep():
    runs = study.plan('all')
    names = [n for n, _ in runs]
    assert len(names) == len(set(names))
    lengths = [tuple(memory_lengths(6, c['n_long'], c['placement'], 128, c.get('short_mem_len', 16))) for _, c in runs]
    assert len(lengths) == len(set(lengths))
    # The paper's "one in six", on top, is there, with every short range below it.
    assert 'long1_last' in names and 'long6_last' in names and 'long0_last' in names
    assert [c['short_mem_len'] for n, c in runs if n.startswith('long1_last_short')] == [4, 8, 32, 64]
    # The longer budget: the two baselines, with their own steps.
    assert study.plan('longer') == [('long0_last_2000steps', dict(n_long=0, placement='last', steps=2000)),
                                    ('long6_last_2000steps', dict(n_long=6, placement='last', steps=2000))]
    # The short part alone includes its own 16.
    assert [c['short_mem_len'] for _, c in study.plan('short')] == [4, 8, 16, 32, 64]


def test_bad_settings_name_the_value():
    with pytest.raises(SystemExit, match="unknown part 'deep'.*placement, short"):
        study.parse(['part=deep'])
    with pytest.raises(SystemExit, match="unknown setting 'step=3'"):
        study.parse(['step=3'])


def _write(records, name, n_long, placement, short, values, curve=None, steps=10,
           command='python experiments/memory_depth_study.py run', date='2026-12-01 00:00 UTC'):
    lengths = memory_lengths(6, n_long, placement, 128, short)
    for seed, v in enumerate(values):
        (records / f'{name}_seed{seed}.json').write_text(json.dumps({
            'name': name, 'seed': seed, 'steps': steps, 'n_long': n_long, 'placement': placement,
            'short_mem_len': short, 'long_mem_len': 128, 'lengths': lengths,
            'state_bytes_per_stream': 4 * 128 * sum(lengths), 'parameters': 1, 'valid_loss': v,
            'valid_curve': curve or {'10': v}, 'train_curve': {}, 'run_uuid': 'x', 'seconds': 1.0,
            'command': command, 'machine': {'cpu': 'cpu', 'cores': 2, 'torch': 't', 'date': date}}))


# Made-up records with known answers: the page must read them right.
def test_the_reading_follows_the_numbers(tmp_path):
    records = tmp_path / 'records'
    records.mkdir()
    _write(records, 'long6_last', 6, 'last', 16, [1.50, 1.51, 1.52])
    _write(records, 'long0_last', 0, 'last', 16, [1.60, 1.61, 1.62])
    _write(records, 'long1_first', 1, 'first', 16, [1.70, 1.71, 1.72])     # worse, beyond the spread
    _write(records, 'long1_last', 1, 'last', 16, [1.505, 1.515, 1.525])    # within the spread of all long
    _write(records, 'long1_last_short4', 1, 'last', 4, [1.45, 1.46, 1.47])  # best, beyond the spread
    report.write(records, tmp_path, ['long6_last', 'long3_first', 'long1_last', 'long6_last_30steps'])
    assert "* **Not run:** `long3_first`, `long6_last_30steps`: in the study's plan" in (tmp_path / 'study.md').read_text()
    # The longer budget's baselines are read apart: all long now ahead, beyond the spread.
    longer = dict(steps=30, command='python experiments/memory_depth_study.py run part=longer ',
                  date='2026-12-02 00:00 UTC')
    _write(records, 'long6_last_30steps', 6, 'last', 16, [1.40, 1.41, 1.42], **longer)
    _write(records, 'long0_last_30steps', 0, 'last', 16, [1.45, 1.46, 1.47], **longer)
    report.write(records, tmp_path, ['long6_last', 'long3_first', 'long1_last'])
    page = (tmp_path / 'study.md').read_text()
    assert "* **Not run:** `long3_first`: in the study's plan, not in these records" in page
    report.write(records, tmp_path)
    assert 'Not run' not in (tmp_path / 'study.md').read_text()
    page = (tmp_path / 'study.md').read_text()
    assert '* **Fewer long layers** within the spread of all long, or better: 1 long, last.' in page
    assert '* **1 long, first against last**: +0.1950 nats, beyond the seeds\' spread.' in page
    assert '* **Short range**: the lowest mean is at 4 characters (1.4600); against all long -0.0500, beyond' in page
    assert ("* **The sweep**, one long layer on top: short 4 → 1.4600, short 16 → 1.5150; the shortest against "
            "the longest, -0.0550 nats, beyond the seeds' spread.") in page
    assert '3 seeds per configuration' in page
    assert '* **All long against all short** at the last step: -0.1000 nats, beyond the seeds\' spread' in page
    assert '| all long | [128, 128, 128, 128, 128, 128] | 393,216 | 1.5100' in page
    assert page.count('| all long |') == 1 and page.count('| all short |') == 1
    assert ("* **With 30 steps**, all long against all short: -0.0500 nats, beyond the seeds' spread "
            "(all long 1.4100, all short 1.4600). Only these two baselines were trained that long; every line "
            "above is read at 10 steps.") in page
    assert '* **Steps:** 10 per run (30 for the longer budget\'s baselines)' in page
    # Every command the records were made by, oldest first, once each.
    assert ("```\npython experiments/memory_depth_study.py run\npython experiments/memory_depth_study.py run "
            "part=longer\npython experiments/memory_depth_study.py report\n```") in page
    assert (tmp_path / 'study.png').stat().st_size > 0
