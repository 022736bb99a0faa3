"""The Compressive Transformer study (labml_memory/studies/compressive.py): its cells, its
settings, its plan against the committed records, and its two pages."""
import json
import shutil
from pathlib import Path

import pytest

from labml_memory.data.shakespeare import load_text
from labml_memory.studies import compressive as study
from labml_memory.studies import runner
from labml_memory.studies.runner import parse_settings

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / 'docs' / 'results'
PAGES = ['compressive.md', 'compressive/attention_buckets.md']


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
    # Table 5's seven cells are all there, and its best is the paper's.
    assert set(study.TABLE5) <= set(study.RUNS) and study.PAPER_BEST == 'conv_attention'


def test_bad_settings_name_the_value():
    with pytest.raises(SystemExit, match=r"unknown run\(s\) \['conv_xl'\]; valid: xl_mem96, conv_attention"):
        parse_settings(study.Settings, ['only=conv_xl'])
    with pytest.raises(SystemExit, match="steps=301 must divide by the unroll of 2 .* try steps=300"):
        parse_settings(study.Settings, ['steps=301'])
    # An odd number is fine for cells that do not unroll.
    assert parse_settings(study.Settings, ['steps=301', 'only=xl_mem96']).names() == ['xl_mem96']
    with pytest.raises(SystemExit, match="unknown setting 'step'"):
        parse_settings(study.Settings, ['step=3'])
    with pytest.raises(SystemExit, match="a margin is a size"):
        parse_settings(study.Settings, ['margin=-0.1'])


def test_the_plan_goes_seed_by_seed_and_a_budget_is_in_the_key():
    runs = study.plan(study.Settings(seeds=[0, 1], only=['xl_mem96', 'conv_bptt']))
    assert [r.key for r in runs] == ['xl_mem96_seed0', 'conv_bptt_seed0', 'xl_mem96_seed1', 'conv_bptt_seed1']
    assert runs[1].settings == {'name': 'conv_bptt', 'seed': 0, 'steps': 1000, 'margin': 0.005,
                                'bucket_margin': 0.05}
    assert [r.key for r in study.plan(study.Settings(steps=500, seeds=[2], only=['max_pool']))] == \
        ['max_pool_500steps_seed2']


# ## The committed records and pages
def test_the_default_plan_finds_every_committed_record():
    keys = {r.key for r in study.plan(study.Settings())}
    recorded = {p.stem for p in (RESULTS / 'compressive' / 'records').glob('*.json')}
    assert recorded == keys
    assert runner.pending(study.STUDY, study.Settings(), RESULTS) == []


def test_the_report_gives_back_the_committed_pages(tmp_path):
    shutil.copytree(RESULTS / 'compressive', tmp_path / 'compressive')
    # The page's echo section is read from the echo study's records.
    shutil.copytree(RESULTS / 'echo' / 'records', tmp_path / 'echo' / 'records')
    runner.report(study.STUDY, tmp_path)
    assert study.STUDY.pages == PAGES
    for page in PAGES:
        new, committed = (tmp_path / page).read_text(), (RESULTS / page).read_text()
        undated = lambda text: [line for line in text.splitlines() if not line.startswith('* **Date:**')]  # noqa: E731
        assert undated(new) == undated(committed), page


# A tiny end-to-end run: the cells that differ in kind (XL, compressive profiled, BPTT), with a
# small model and text, through the runner, the real trainer, records and both pages.
def test_a_tiny_study_runs_end_to_end(tmp_path, monkeypatch):
    text = tmp_path / 'text.txt'
    text.write_text(load_text()[:60_000])
    monkeypatch.setattr(study, 'SIZES', {**study.SIZES, 'd_model': 16, 'heads': 2, 'd_ff': 32,
                                         'n_layers': 1, 'data_file': str(text), 'eval_every': 1,
                                         'warmup': 1})
    cells = ('xl_mem96', 'conv_attention', 'xl_mem128', 'conv_bptt')
    runner.run(study.STUDY, ['steps=2', 'seeds=0,1', f"only={','.join(cells)}"], results=tmp_path, log=lambda _: None)
    records = tmp_path / 'compressive' / 'records'
    assert sorted(p.name for p in records.glob('*.json')) == sorted(
        f'{n}_2steps_seed{s}.json' for n in cells for s in (0, 1))
    bptt = json.loads((records / 'conv_bptt_2steps_seed0.json').read_text())
    xl = json.loads((records / 'xl_mem96_2steps_seed0.json').read_text())
    assert (bptt['steps'], bptt['unroll'], xl['steps'], xl['unroll']) == (1, 2, 2, 1)
    assert bptt['characters'] == xl['characters'] == 2 * 16 * 64
    assert (bptt['study'], bptt['key'], bptt['run']['margin']) == ('compressive', 'conv_bptt_2steps_seed0', 0.005)
    # 6,000 held-out characters in 16 streams are 5 segments; both memories are full from the
    # third, so 3 are measured, in 16 streams.
    for name in ('conv_attention', 'xl_mem128'):
        profile = json.loads((records / f'{name}_2steps_seed1.json').read_text())['profile']
        assert (profile['segments_measured'], profile['streams']) == (3, 16)
        assert len(profile['buckets']['all layers']) == 18
    assert 'profile' not in xl
    page = (tmp_path / 'compressive.md').read_text()
    assert '| `xl_mem96` | 160 | 96 |' in page and '(the reference)' in page
    assert 'python -m labml_memory.studies run compressive steps=2 seeds=0,1 only=' in page
    assert "earlier script" not in page
    assert (tmp_path / 'compressive' / 'attention_buckets.md').read_text().count('| cmem ') == 6


# ## Made-up records with known answers: the pages must read them right
def _record(records, name, seed, loss, keys=160, reach=128, profile=None, unroll=1, margin=0.005):
    record = {'study': 'compressive', 'key': f'{name}_seed{seed}',
              'run': {'name': name, 'seed': seed, 'steps': 10, 'margin': margin, 'bucket_margin': 0.05},
              'name': name, 'seed': seed, 'steps': 10 // unroll, 'unroll': unroll, 'characters': 10 * 1024,
              'keys': keys, 'reach': reach, 'parameters': 1000, 'state_bytes_per_stream': 4096,
              'memory': {'seq_len': 64, 'mem_len': 128 if name == 'xl_mem128' else 64, 'compressed_len': 32,
                         'compression_rate': 2},
              'valid_loss': loss, 'valid_curve': {'5': loss + 0.1, '10': loss}, 'train_curve': {},
              'run_uuid': 'x', 'seconds': 1.0, 'command': 'python -m labml_memory.studies run compressive',
              'machine': {'cpu': 'cpu', 'cores': 2, 'torch': 't', 'date': f'2026-12-0{seed + 1} 00:00 UTC'}}
    if profile is not None:
        record['profile'] = {'buckets': {'all layers': profile, 'layer 0': profile}, 'segments_measured': 100,
                             'streams': 16}
    records.mkdir(parents=True, exist_ok=True)
    (records / f'{name}_seed{seed}.json').write_text(json.dumps(record))


# Differences that are the same in every seed are resolved whatever the correction (a t of
# thousands); one within the margin in every seed is a tie; noisy ones are not resolved.
def _grid(records):
    for seed in range(3):
        _record(records, 'xl_mem96', seed, 1.70 + seed / 100, keys=160, reach=96)
        # Compressive per key: compressed buckets 4.0 (per character 2.0 at c = 2), memory 3.0,
        # segment 10.0; the control 1.0 per character on its oldest buckets but the first,
        # which moves with the seed (1.5, 2.0, 2.5), and the compressive model's elsewhere.
        _record(records, 'conv_attention', seed, 1.60 + seed / 100,
                profile=[4e-3] * 6 + [3e-3] * 6 + [1e-2] * 6)
        _record(records, 'xl_mem128', seed, 1.701 + seed / 100, keys=192,
                profile=[(1.5 + seed / 2) * 1e-3] + [1e-3] * 5 + [3e-3] * 6 + [1e-2] * 6)
        _record(records, 'max_pool', seed, [1.70, 1.80, 1.60][seed])
        _record(records, 'conv_bptt', seed, 1.80 + seed / 100, unroll=2)


def test_the_study_page_reads_the_numbers(tmp_path):
    _grid(tmp_path / 'compressive' / 'records')
    runner.report(study.STUDY, tmp_path)
    page = (tmp_path / 'compressive.md').read_text()
    assert "* **`conv_attention` against `xl_mem96`** (equal attention cost): -0.1000 [-0.1000, -0.1000], ahead." in page
    assert ("* **`xl_mem128` against `xl_mem96`** (32 more keys, for a memory as long as the compressed cells' "
            "reach): +0.0010 [+0.0010, +0.0010], tie.") in page
    assert ("* **`conv_attention` against `xl_mem128`** (the same 128 characters of reach, 32 fewer keys): "
            "-0.1010 [-0.1010, -0.1010], ahead.") in page
    assert ("* **Table 5's cells, best first:** `conv_attention`, `max_pool`, `conv_bptt`. Against `conv_attention`, "
            "the paper's best: `max_pool` +0.0900 [") in page
    assert "], not resolved; `conv_bptt` +0.2000 [+0.2000, +0.2000], behind." in page
    # The claims are the page's headline, under its title.
    assert ("The paper's claims, at 3 seeds and this size: compressing beats remembering at equal attention "
            "cost: supported; `conv_attention` is the best cell of Table 5: not resolved (the means point the "
            "paper's way).") in page.splitlines()[2]
    # The table: noisy max_pool is not resolved against xl_mem96, BPTT behind.
    assert '| `max_pool` | 160 | 128 | 1,000 | 4,096 | 10 × 1 | 1.7000<br><small>1.6000–1.8000</small> | -0.0100 [-0.2717, +0.2517], not resolved |' in page
    assert '| `conv_bptt` | 160 | 128 | 1,000 | 4,096 | 5 × 2 |' in page
    assert '| +0.1000 [+0.1000, +0.1000], behind |' in page
    assert page.index('`conv_attention`') < page.index('`xl_mem96`')   # best first
    # Seven comparisons, corrected together: four against xl_mem96, one against the equal
    # span, two of Table 5 against its best.
    assert 'across the 7 comparisons of this page' in page and '±0.005 nats per character' in page
    assert '* **Seeds:** 0, 1, 2 (15 runs)' in page and '2026-12-01 00:00 UTC to 2026-12-03 00:00 UTC' in page
    assert 'Margin:' not in page   # only converted records carry that note
    assert (tmp_path / 'compressive' / 'study.png').stat().st_size > 0


def test_the_attention_page_reads_the_numbers(tmp_path):
    _grid(tmp_path / 'compressive' / 'records')
    runner.report(study.STUDY, tmp_path)
    buckets = (tmp_path / 'compressive' / 'attention_buckets.md').read_text()
    # Per key 4.00 in every seed, per character 2.00 against 1.50–2.50 (not resolved) and 1.00
    # (ahead, twice the attention, in every seed).
    assert ('| cmem 1: 128–117 back | 4.00 | 2.00 | 2.00<br><small>1.50–2.50</small> | 1.00 | '
            '1.02× [0.54, 1.93], not resolved |') in buckets
    assert '| cmem 6: 74–65 back | 4.00 | 2.00 | 1.00 | 2.00 | 2.00× [2.00, 2.00], ahead |' in buckets
    # The same attention in both models is a tie: inside ±0.05 in every seed.
    assert '| mem 1: 64–54 back | 3.00 | 3.00 | 3.00 | 1.00 | 1.00× [1.00, 1.00], tie |' in buckets
    assert '| seq 6: positions 54–63 |' in buckets
    assert 'across the 22 comparisons of this page' in buckets and 'a ratio between 0.95 and 1.05' in buckets
    # The rise at the boundary: 4.00 against 3.00 per key in every seed.
    assert ('newest compressed over oldest memory 1.33× [1.33, 1.33], ahead: attention rises from the memory '
            'into the compressed memory.') in buckets
    assert ('the compressive model is ahead of Transformer-XL (more attention) in 5, behind in 0, tied in 0 and '
            'not resolved in 1; the ratios of the means run from 1.00 to 2.00.') in buckets
    assert 'span 11, 11, 11, 11, 10 and 10 characters where the compressed slots span 12, 12, 10, 10, 10 and 10' in buckets
    # Flat inside the compressed part (a tie); the control's oldest bucket above its sixth in
    # every seed, by 1.5, 2 and 2.5 times: at three seeds and 22 comparisons, not resolved.
    assert ("per key, the oldest bucket gets 4.00 and the newest 4.00 (×1000), +0.00; oldest over newest "
            "1.00× [1.00, 1.00], tie. Over the same characters Transformer-XL's oldest memories get 2.00 and 1.00, "
            "+1.00; oldest over newest 1.96× [") in buckets
    # In all, by hand: 32 slots of 4e-3 are 12.8% of a query's attention; the control's 64 oldest
    # memories are 11 keys at (1.5 + seed / 2)e-3 and 53 at 1e-3: 6.95%, 7.5% and 8.05%.
    assert ("`conv_attention` puts 12.8% (12.8–12.8) of a query's attention on its 32 compressed slots, "
            "`xl_mem128` 7.5% (7.0–8.0) on its 64 oldest memories") in buckets
    assert "+5.3 points; compressive over Transformer-XL 1.71× [1.42, 2.05], not resolved." in buckets
    assert ("Queries that looked everywhere equally would put 25.4% and 40.4% there, averaged over the queries "
            "of a segment as the shares are (the last query alone, which sees every key, 20% and 33%). One "
            "compressed slot gets 3.41 times the weight of one of those memories") in buckets
    assert (tmp_path / 'compressive' / 'attention_buckets.png').stat().st_size > 0


def test_a_cell_missing_a_seed_is_shown_not_compared(tmp_path):
    records = tmp_path / 'compressive' / 'records'
    _grid(records)
    (records / 'max_pool_seed2.json').unlink()
    runner.report(study.STUDY, tmp_path)
    page = (tmp_path / 'compressive.md').read_text()
    assert '| not compared: seeds 0, 1 of 0, 1, 2 |' in page
    assert 'across the 5 comparisons of this page' in page


def test_records_of_different_plans_are_not_mixed(tmp_path):
    records = tmp_path / 'compressive' / 'records'
    _grid(records)
    _record(records, 'most_used', 0, 1.7, margin=0.01)
    with pytest.raises(SystemExit, match=r"different margin \(\[0.005, 0.01\]\)"):
        runner.report(study.STUDY, tmp_path)


def test_no_records_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match=r"compressive: no records under .*run it first"):
        runner.report(study.STUDY, tmp_path)


# Queries that weigh every key alike, averaged over a segment as the measured shares are: a
# slow count over every query and key, against the page's figure.
def test_the_uniform_share_is_averaged_over_the_queries():
    from labml_memory.studies.compressive import uniform_share
    seq_len, before = 64, 96
    shares = []
    for i in range(seq_len):
        seen = [1.0] * before + [1.0] * (i + 1)
        shares.append(sum(seen[:32]) / sum(seen))
    assert uniform_share(32, before + seq_len, seq_len) == pytest.approx(sum(shares) / seq_len)
    assert round(100 * uniform_share(32, 160, 64), 1) == 25.4
    assert round(100 * uniform_share(64, 192, 64), 1) == 40.4
    text = (Path(__file__).parent.parent / 'docs' / 'results' / 'compressive' / 'attention_buckets.md').read_text()
    assert 'would put 25.4% and 40.4% there, averaged over the queries' in text
