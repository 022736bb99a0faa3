"""The Compressive Transformer study: its cells, its settings and its two pages
(experiments/compressive_study.py, experiments/compressive_report.py)."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'experiments'))
import compressive_report as report  # noqa: E402
import compressive_study as study  # noqa: E402

from labml_memory.data.shakespeare import load_text  # noqa: E402


def test_every_cell_reads_the_same_characters_in_the_same_streams(tmp_path):
    configs = {name: study.config_of(name, 0, 1000, str(tmp_path)) for name in study.RUNS}
    characters = {n: c.steps * c.unroll * c.batch_size * c.seq_len for n, c in configs.items()}
    assert set(characters.values()) == {1000 * 16 * 64}
    # The same streams (and so the same validation streams) everywhere: BPTT keeps the batch
    # and halves the steps.
    assert {c.batch_size for c in configs.values()} == {16}
    assert (configs['conv_bptt'].steps, configs['conv_bptt'].unroll) == (500, 2)
    # Equal attention cost, and the equal-span control.
    assert study.cost('xl_mem96', configs['xl_mem96'])['keys'] == study.cost('conv_attention', configs['conv_attention'])['keys'] == 160
    assert study.cost('xl_mem128', configs['xl_mem128'])['reach'] == study.cost('conv_attention', configs['conv_attention'])['reach'] == 128
    assert study.cost('conv_attention_c4', configs['conv_attention_c4'])['reach'] == 192
    # Table 5's seven cells are all there.
    assert set(report.TABLE5) <= set(study.RUNS)


def test_bad_settings_name_the_value():
    with pytest.raises(SystemExit, match=r"unknown run\(s\) \['conv_xl'\]; valid: xl_mem96, conv_attention"):
        study.parse(['only=conv_xl'])
    with pytest.raises(SystemExit, match="steps=301 must divide by the unroll of 2 .* try steps=300"):
        study.parse(['steps=301'])
    # An odd number is fine for cells that do not unroll.
    assert study.parse(['steps=301', 'only=xl_mem96'])['names'] == ['xl_mem96']
    with pytest.raises(SystemExit, match="unknown setting 'step=3'"):
        study.parse(['step=3'])


# A tiny end-to-end run: the cells that differ in kind (XL, compressive profiled, BPTT), with a
# small model and text, through the real trainer, records and both pages.
def test_a_tiny_study_runs_end_to_end(tmp_path, monkeypatch):
    text = tmp_path / 'text.txt'
    text.write_text(load_text()[:60_000])
    monkeypatch.setattr(study, 'SIZES', {**study.SIZES, 'd_model': 16, 'heads': 2, 'd_ff': 32,
                                         'n_layers': 1, 'data_file': str(text), 'eval_every': 1,
                                         'warmup': 1})
    records = tmp_path / 'records'
    monkeypatch.setenv('COMPRESSIVE_RECORDS', str(records))
    monkeypatch.chdir(tmp_path)
    study.main(['run', 'steps=2', 'seeds=0,1', 'only=xl_mem96,conv_attention,xl_mem128,conv_bptt'])
    assert sorted(p.name for p in records.glob('*.json')) == sorted(
        f'{n}_seed{s}.json' for n in ('xl_mem96', 'conv_attention', 'xl_mem128', 'conv_bptt') for s in (0, 1))
    bptt = json.loads((records / 'conv_bptt_seed0.json').read_text())
    xl = json.loads((records / 'xl_mem96_seed0.json').read_text())
    assert (bptt['steps'], bptt['unroll'], xl['steps'], xl['unroll']) == (1, 2, 2, 1)
    assert bptt['characters'] == xl['characters'] == 2 * 16 * 64
    # 6,000 held-out characters in 16 streams are 5 segments; both memories are full from the
    # third, so 3 are measured, in 16 streams.
    for name in ('conv_attention', 'xl_mem128'):
        profile = json.loads((records / f'{name}_seed1.json').read_text())['profile']
        assert (profile['segments_measured'], profile['streams']) == (3, 16)
        assert len(profile['buckets']['all layers']) == 18
    assert 'profile' not in xl
    study.main(['report'])
    page = (tmp_path / 'records').parent.joinpath('study.md').read_text()
    assert '| `xl_mem96` | 160 | 96 |' in page and '(the reference)' in page
    assert (records.parent / 'attention_buckets.md').read_text().count('| cmem ') == 6


def _record(records, name, seed, loss, keys=160, reach=128, profile=None, unroll=1):
    record = {'name': name, 'seed': seed, 'steps': 10 // unroll, 'unroll': unroll, 'characters': 10 * 1024,
              'keys': keys, 'reach': reach, 'parameters': 1000, 'state_bytes_per_stream': 4096,
              'memory': {'seq_len': 64, 'mem_len': 128 if name == 'xl_mem128' else 64, 'compressed_len': 32,
                         'compression_rate': 2},
              'valid_loss': loss, 'valid_curve': {'5': loss + 0.1, '10': loss}, 'train_curve': {},
              'run_uuid': 'x', 'seconds': 1.0, 'command': 'python experiments/compressive_study.py run ',
              'machine': {'cpu': 'cpu', 'cores': 2, 'torch': 't', 'date': f'2026-12-0{seed + 1} 00:00 UTC'}}
    if profile is not None:
        record['profile'] = {'buckets': {'all layers': profile, 'layer 0': profile}, 'segments_measured': 100,
                             'streams': 16}
    (records / f'{name}_seed{seed}.json').write_text(json.dumps(record))


# Made-up records with known answers: the pages must read them right.
def test_the_reading_follows_the_numbers(tmp_path):
    records = tmp_path / 'records'
    records.mkdir()
    # Compressive per key: compressed buckets 4.0 (per character 2.0 at c = 2), memory 3.0,
    # segment 10.0; the control 1.0 per character on its oldest buckets, the first bucket
    # within the spread (2.0 against 1.5-2.5).
    for seed in range(3):
        _record(records, 'xl_mem96', seed, 1.70 + seed / 100, keys=160, reach=96)
        _record(records, 'conv_attention', seed, 1.60 + seed / 100,
                profile=[4e-3] * 6 + [3e-3] * 6 + [1e-2] * 6)
        _record(records, 'xl_mem128', seed, 1.695 + seed / 100, keys=192,
                profile=[(1.5 + seed / 2) * 1e-3] + [1e-3] * 5 + [3e-3] * 6 + [1e-2] * 6)
        _record(records, 'max_pool', seed, 1.65 + seed / 100)
        _record(records, 'conv_bptt', seed, 1.605 + seed / 100, unroll=2)
    report.write(records, tmp_path)
    page = (tmp_path / 'study.md').read_text()
    assert "* **`conv_attention` against `xl_mem96`** (equal attention cost): -0.1000, beyond the seeds' spread." in page
    assert ("* **`xl_mem128` against `xl_mem96`** (32 more keys, for a memory as long as the compressed cells' reach): -0.0050, within the spread."
            in page)
    assert "* **`conv_attention` against `xl_mem128`** (the same 128 characters of reach, 32 fewer keys): -0.0950, beyond" in page
    assert ("* **Table 5's cells, best first:** `conv_attention`, `conv_bptt`, `max_pool`. "
            "Worse than `conv_attention` beyond the spread: `max_pool`.") in page
    assert '| `conv_bptt` | 160 | 128 | 1,000 | 4,096 | 5 × 2 |' in page
    assert page.index('`conv_attention`') < page.index('`xl_mem96`')   # best first
    assert '* **Seeds:** 0, 1, 2 (15 runs)' in page and '2026-12-01 00:00 UTC to 2026-12-03 00:00 UTC' in page
    buckets = (tmp_path / 'attention_buckets.md').read_text()
    # Per key 4.00, per character 2.00 against 1.50–2.50 (within) and 1.00 (beyond, ratio 2).
    assert '| cmem 1: 128–117 back | 4.00<br><small>4.00–4.00</small> | 2.00<br><small>2.00–2.00</small> | ' \
           '2.00<br><small>1.50–2.50</small> | 1.00 | within the spread |' in buckets
    assert '| cmem 6: 74–65 back | 4.00' in buckets and '| 2.00 | beyond the spread |' in buckets
    assert '| mem 1: 64–54 back |' in buckets and '| seq 6: positions 54–63 |' in buckets
    assert 'attention rises from the memory into the compressed memory' in buckets
    assert ('more attention than Transformer-XL beyond the spread in 5, less in 0, and the same within the '
            'spread in 1.') in buckets
    assert 'span 11, 11, 11, 11, 10 and 10 characters where the compressed slots span 12, 12, 10, 10, 10 and 10' in buckets
    # Flat inside the compressed part; the control's oldest bucket above its sixth in every seed.
    assert ("per key, the oldest bucket gets 4.00 and the newest 4.00 (×1000), +0.00, within the spread; over the "
            "same characters Transformer-XL's oldest memories get 2.00 and 1.00, +1.00, beyond the seeds' spread.") in buckets
    # In all, by hand: 32 slots of 4e-3 are 12.8% of a query's attention; the control's 64 oldest
    # memories are 11 keys at (1.5 + seed / 2)e-3 and 53 at 1e-3: 6.95%, 7.5% and 8.05%.
    assert ("`conv_attention` puts 12.8% [12.8, 12.8] of a query's attention on its 32 compressed slots, "
            "`xl_mem128` 7.5% [") in buckets
    assert ("+5.3 points, beyond the seeds' spread. A query that looked everywhere equally would put 20% and 33% "
            "there. One compressed slot gets 3.41 times the weight of one of those memories") in buckets
    assert (tmp_path / 'study.png').stat().st_size > 0 and (tmp_path / 'attention_buckets.png').stat().st_size > 0


def test_no_records_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match=r"no records \(\*_seed\*.json\) under .*; run the study first"):
        report.write(tmp_path, tmp_path)
