"""The cross-architecture benchmark study: a tiny run writes a well-formed record and page, a
missing peer is a row that says why, the numbers it derives agree with independent
computations, the committed page is rebuilt from its record, and each verdict word follows
from hand-made rounds."""
import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

from labml_memory.studies import benchmark_page as report
from labml_memory.benchmark.baseline import build_baseline
from labml_memory.benchmark.entries import training_shape
from labml_memory.benchmark.flop_count import count_step_flops
from labml_memory.benchmark.ours import build_ours, config_overrides, our_architectures
from labml_memory.benchmark.peers import PEERS, PeerUnavailable, Sizes, build_peer
from labml_memory.benchmark.rounds import add_matmul_shares, add_ratios, summarise
from labml_memory.benchmark.timing_plan import TINY, Plan
from labml_memory.protocol import ModelOutput
from labml_memory.studies import runner
from labml_memory.studies.benchmark import STUDY, Settings, by_round, judged, key_of, plan, verdict_text, verdicts

RESULTS = Path(__file__).resolve().parents[1] / 'docs' / 'results'


def test_tiny_run_writes_a_well_formed_record_and_page_and_reports_a_missing_peer(tmp_path, capsys):
    # One of ours and one peer made to look uninstalled: the run must finish, measure ours,
    # and say why the peer is missing, in the record, on the console and on the page.
    done = runner.run(STUDY, ['size=tiny', 'rounds=1', 'only=transformer_xl,xtransformers_xl',
                              'hide=x_transformers'], results=tmp_path)
    printed = capsys.readouterr().out
    assert done == ['tiny-only-transformer_xl-xtransformers_xl-hide-x_transformers']
    record = json.loads((tmp_path / 'benchmark' / 'records' / f'{done[0]}.json').read_text())
    assert record['study'] == 'benchmark' and record['run']['size'] == 'tiny' and record['seconds'] > 0
    assert record['command'].startswith('python -m labml_memory.studies run benchmark size=tiny')
    assert "the trainer's `make_optimizer` and `train_step`" in record['train_step']
    rows = {r['name']: r for r in record['rows']}
    assert set(rows) == {'transformer_xl', 'xtransformers_xl'}

    ours = rows['transformer_xl']
    assert ours['status'] == 'ok', ours['status']
    sizes, timing = TINY
    assert ours['tokens_per_second'] > 0 and 0 < ours['matmul_share'] < 1.5
    assert ours['peak_rss_mb'] > 0 and ours['parameters'] > 0
    assert ours['rounds_measured'] == [0] and len(ours['tokens_per_second_rounds']) == 1
    assert set(ours['inference_seconds_per_token']) == {str(c) for c in timing.contexts}
    # After a long context one stream keeps mem_len float32 vectors of width d per layer.
    assert ours['state_bytes_per_stream'] == sizes.n_layers * sizes.mem_len * sizes.d_model * 4
    # ... and in training, one such memory per stream of the batch.
    assert ours['train_state_bytes'] == sizes.batch_size * ours['state_bytes_per_stream']
    # The step's FLOPs are at least those of the output layer: forward and two backward products.
    assert ours['flops_per_step'] >= 6 * sizes.batch_size * sizes.seq_len * sizes.d_model * sizes.vocab_size

    missing = rows['xtransformers_xl']
    assert missing['status'].startswith('unavailable') and 'x_transformers' in missing['status']
    assert missing['ratio_to_fastest_peer'] is None
    assert 'xtransformers_xl' in printed and 'unavailable' in printed

    page = (tmp_path / 'benchmark.md').read_text()
    assert page.startswith('# Benchmark')
    assert '| **transformer_xl** | labml_memory | Transformer-XL |' in page
    assert '### Entries that could not run' in page and 'xtransformers_xl' in page
    assert '**Transformer-XL.** No peer ran here' in page
    assert f'[the record](benchmark/records/{done[0]}.json)' in page
    assert 'Intel' in page or 'AMD' in page or 'CPU:' in page
    header = next(line for line in page.splitlines() if line.startswith('| entry |'))
    row = next(line for line in page.splitlines() if line.startswith('| **transformer_xl**'))
    assert header.count('|') == row.count('|')
    for image in ('training.png', 'inference.png'):
        assert (tmp_path / 'benchmark' / image).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
        assert f'](benchmark/{image})' in page


def test_bad_settings_are_one_clear_line():
    with pytest.raises(SystemExit, match=r"unknown entries \['transformer_xxl'\]; valid: .*'transformer_xl'"):
        runner.parse_settings(Settings, ['only=transformer_xxl'])
    with pytest.raises(SystemExit, match=r"size must be one of full, tiny; got 'huge'"):
        runner.parse_settings(Settings, ['size=huge'])
    with pytest.raises(SystemExit, match=r'threads must be >= 0 and rounds >= 1'):
        runner.parse_settings(Settings, ['rounds=0'])
    with pytest.raises(SystemExit, match=r"unknown setting 'tiny'"):
        runner.parse_settings(Settings, ['tiny=1'])


def test_the_key_names_what_changes_the_numbers_and_not_the_rounds():
    assert key_of(Settings()) == 'full' and key_of(Settings(rounds=5, margin=0.1)) == 'full'
    assert key_of(Settings(threads=0)) == 'full-threads0'
    assert key_of(Settings(size='tiny', only=['a', 'b'], hide=['m'])) == 'tiny-only-a-b-hide-m'
    [one] = plan(Settings(rounds=5))
    assert one.settings['rounds'] == 5 and one.settings['margin'] == 0.05


# ## The committed page and its record
def test_report_rebuilds_the_committed_page_from_its_record(tmp_path):
    shutil.copy(RESULTS / 'benchmark.md', tmp_path / 'benchmark.md')
    shutil.copytree(RESULTS / 'benchmark', tmp_path / 'benchmark')
    committed = (tmp_path / 'benchmark.md').read_text()
    (tmp_path / 'benchmark.md').unlink()
    runner.report(STUDY, tmp_path)

    def without_date(text):
        return [line for line in text.splitlines() if not line.startswith('* **Date:**')]
    assert without_date((tmp_path / 'benchmark.md').read_text()) == without_date(committed)
    for image in ('training.png', 'inference.png'):
        assert (tmp_path / 'benchmark' / image).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_the_default_record_is_the_page_and_the_others_are_named_at_its_foot(tmp_path):
    shutil.copytree(RESULTS / 'benchmark', tmp_path / 'benchmark')
    full = json.loads((tmp_path / 'benchmark' / 'records' / 'full.json').read_text())
    other = {**full, 'key': 'tiny', 'machine': {**full['machine'], 'date': '2030-01-01 00:00 UTC'},
             'rows': full['rows'][:1]}
    (tmp_path / 'benchmark' / 'records' / 'tiny.json').write_text(json.dumps(other))
    runner.report(STUDY, tmp_path)
    page = (tmp_path / 'benchmark.md').read_text()
    # The newer record does not displace the default configuration's.
    assert '[the record](benchmark/records/full.json)' in page and '| xtransformers_xl |' in page
    line = next(l for l in page.splitlines() if l.strip().startswith('* **Other records of this study** (not shown here): '))
    assert '`tiny` (2030-01-01 00:00 UTC)' in line
    # Superseded records are named too, by the folder that says why.
    assert '`history/best_of_2_rounds_own_yardsticks/full`' in line

def test_the_default_plan_finds_the_committed_record():
    assert runner.pending(STUDY, Settings(), RESULTS) == []
    record = runner.Records(RESULTS / 'benchmark').get('full')
    # The fields the model pages read, unchanged by the conversion.
    assert {'rows', 'machine', 'sizes', 'plan', 'command', 'matmul_peak_flops_per_second'} <= set(record)
    assert {'tokens_per_second', 'tokens_per_second_rounds', 'ratio_to_fastest_peer', 'matmul_share',
            'state_bytes_per_stream', 'peak_rss_mb', 'inference_seconds_per_token'} <= set(record['rows'][0])


def test_a_converted_record_pairs_its_rounds_only_when_every_round_ran():
    # Converted rows list every round in order when every round ran; otherwise which round
    # a throughput came from is unknown, and nothing is paired.
    assert by_round({'tokens_per_second_rounds': [100.0, 200.0]}, 2) == {0: math.log(100), 1: math.log(200)}
    assert by_round({'tokens_per_second_rounds': [100.0]}, 2) is None
    assert by_round({'tokens_per_second_rounds': [100.0], 'rounds_measured': [1]}, 2) == {1: math.log(100)}


# ## Verdicts from hand-made rounds
def _row(name, kind, implements, rounds, which=None):
    return {'name': name, 'kind': kind, 'implements': implements, 'package': 'p', 'status': 'ok',
            'tokens_per_second': sorted(rounds)[len(rounds) // 2], 'tokens_per_second_rounds': list(rounds),
            'rounds_measured': list(which if which is not None else range(len(rounds))),
            'state_bytes_per_stream': 1024, 'peak_rss_mb': 400.0, 'flops_per_step': 1e9,
            'matmul_share': 0.3, 'parameters': 10}


def _record(families, margin=0.05):
    # `families`: {implements: (our rounds, the peer's rounds)}
    rows = []
    for family, (ours, peer) in families.items():
        rows += [_row(family, 'ours', family, ours), _row(f'{family}_peer', 'peer', family, peer)]
    add_ratios(rows)
    return {'rows': rows, 'plan': {'rounds': max(len(o) for o, _ in families.values())},
            'run': {'margin': margin}}


def _verdict(families, margin=0.05):
    found, _ = verdicts(_record(families, margin))
    return {k: v.verdict for k, v in found.items()}


def test_a_lead_in_every_round_is_ahead_and_its_mirror_behind():
    fast, slow = [200.0, 210.0, 190.0], [100.0, 104.0, 96.0]
    assert _verdict({'xl': (fast, slow)}) == {'xl': 'ahead'}
    assert _verdict({'xl': (slow, fast)}) == {'xl': 'behind'}
    # The ratio comes back as a ratio: about 2× with an interval around it.
    found, _ = verdicts(_record({'xl': (fast, slow)}))
    text = verdict_text(found['xl'])
    assert text.startswith('2.00× [') and text.endswith('over 3 rounds, **ahead**')


def test_a_difference_shown_inside_the_margin_is_a_tie_and_overlap_alone_is_not():
    close = ([100.0, 101.0, 99.5], [100.0, 100.5, 99.8])
    assert _verdict({'xl': close}, margin=0.05) == {'xl': 'tie'}
    # The same rounds against a margin too small to show: not a tie, not a lead.
    assert _verdict({'xl': close}, margin=0.0001) == {'xl': 'not resolved'}
    # Rounds that overlap widely, with no margin to speak of: not resolved, never a tie.
    assert _verdict({'xl': ([100.0, 200.0], [150.0, 150.0])}) == {'xl': 'not resolved'}


def test_holm_spans_every_comparison_of_the_page():
    # Differences of ln tokens/s whose lone p-value is between 0.025 and 0.05: ahead alone,
    # not resolved once a second such comparison shares the page's correction.
    diffs = [0.135, 0.2, 0.265]
    ours, peer = [100.0 * math.exp(d) for d in diffs], [100.0, 100.0, 100.0]
    assert _verdict({'xl': (ours, peer)}) == {'xl': 'ahead'}
    assert _verdict({'xl': (ours, peer), 'inf': (ours, peer)}) == {'xl': 'not resolved', 'inf': 'not resolved'}


def test_only_rounds_both_measured_are_paired_and_one_round_is_not_resolved():
    record = _record({'xl': ([200.0, 210.0, 190.0], [100.0, 104.0, 96.0])})
    # The peer lost its middle round: the pairs are rounds 0 and 2.
    peer = record['rows'][1]
    peer['tokens_per_second_rounds'], peer['rounds_measured'] = [100.0, 96.0], [0, 2]
    found, _ = verdicts(record)
    assert found['xl'].seeds == 2
    assert found['xl'].mean == pytest.approx((math.log(2.0) + math.log(190 / 96)) / 2)
    one = _record({'xl': ([200.0], [100.0])})
    found, _ = verdicts(one)
    assert found['xl'].verdict == 'not resolved'
    assert verdict_text(found['xl']) == '2.00× (one round), not resolved'


def test_the_reading_prints_each_verdict_and_the_convention_once():
    record = _record({'transformer_xl': ([200.0, 210.0, 190.0], [100.0, 104.0, 96.0]),
                      'compressive': ([100.0, 200.0], [150.0, 150.0])})
    text = '\n'.join(report.reading(record, *judged(record)))
    # The median round's throughputs, and the median of the per-round ratios (2.00, 2.02, 1.98).
    assert '**Transformer-XL.** Ours trains 200 tokens/s, **2.00×** `transformer_xl_peer` (100)' in text
    assert 'over 3 rounds, **ahead** (ours 190–210, the peer 96–104)' in text
    assert 'over 2 rounds, **not resolved**' in text
    # The brackets and the verdict words are defined once per page, before its tables (the
    # runner's template; tests/test_studies.py holds every page to it): the reading adds only
    # what this study's pairs are.
    assert "Holm's correction" not in text
    assert text.count('Here the pairs are rounds, not seeds') == 1


# ## What the harness derives
def test_architectures_are_found_by_the_registry_convention():
    found = our_architectures()
    assert 'transformer_xl' in found and 'memory_depth' in found
    assert not {'benchmark', 'training', 'tasks', 'studies', 'data'} & set(found)


def test_shared_sizes_go_only_to_fields_a_config_has():
    from labml_memory.transformer_xl.experiment import Config
    sizes = Sizes(d_model=48, mem_len=24)
    values = config_overrides(Config, sizes)
    assert values['d_model'] == 48 and values['mem_len'] == 24 and values['eval_mem_len'] == 24
    assert 'compressed_len' not in values and 'long_mem_len' not in values


def test_every_architecture_builds_at_the_shared_sizes():
    # What the benchmark and the quality study build: a setting one model refuses (the
    # memory-depth study refuses `mem_len`) would drop its row from both pages.
    sizes = Sizes(d_model=32, heads=2, n_layers=2, d_ff=64, seq_len=16, mem_len=16, batch_size=2)
    for name in our_architectures():
        model = build_ours(name, sizes)
        assert sum(p.numel() for p in model.parameters()) > 0, name
    from labml_memory.memory_depth.experiment import Config
    assert config_overrides(Config, sizes)['long_mem_len'] == 16 and 'mem_len' not in config_overrides(Config, sizes)


def test_ratios_are_to_the_fastest_peer_of_the_same_paper():
    rows = [_row('ours_xl', 'ours', 'xl', [300.0]), _row('peer_a', 'peer', 'xl', [100.0]),
            _row('peer_b', 'peer', 'xl', [200.0]), _row('ours_inf', 'ours', 'inf', [50.0]),
            {'name': 'peer_c', 'kind': 'peer', 'implements': 'inf', 'status': 'unavailable: no'}]
    add_ratios(rows)
    ratios = {r['name']: r['ratio_to_fastest_peer'] for r in rows}
    assert ratios['ours_xl'] == pytest.approx(1.5) and ratios['peer_b'] == pytest.approx(1.0)
    assert ratios['peer_a'] == pytest.approx(0.5)
    # The only peer of `inf` did not run, so there is nothing to divide by.
    assert ratios['ours_inf'] is None and ratios['peer_c'] is None


def _round(tps, times):
    # One round of an entry as a worker writes it: batch 1 and batch 16 generation times.
    return {**_row('x', 'ours', 'xl', [tps]), 'step_seconds': 1024 / tps,
            'generation_seconds_per_token': {'1': dict(times), '16': {c: 2 * t for c, t in times.items()}}}


def test_the_row_is_the_median_round_and_a_failed_round_leaves_a_gap():
    rounds = [_round(100.0, {'64': 0.01, '256': 0.02}), {'name': 'x', 'status': 'failed: boom'},
              _round(150.0, {'64': 0.03, '256': 0.01}), _round(120.0, {'64': 0.02, '256': 0.05})]
    row = summarise(rounds)
    assert row['tokens_per_second'] == 120.0 and row['rounds'] == 3
    assert row['tokens_per_second_rounds'] == [100.0, 150.0, 120.0]
    # The failed second round leaves a gap, so round 3 is still round 3 when pairing.
    assert row['rounds_measured'] == [0, 2, 3]
    assert row['generation_seconds_per_token']['1'] == {'64': 0.02, '256': 0.02}
    assert row['generation_seconds_per_token']['16'] == {'64': 0.04, '256': 0.04}
    assert row['inference_seconds_per_token'] == row['generation_seconds_per_token']['1']
    assert row['characters_per_step'] == pytest.approx(1024)
    assert summarise([{'name': 'x', 'status': 'failed: boom'}])['status'] == 'failed: boom'


def test_ratios_are_taken_round_by_round_and_generation_is_the_peers_time_over_ours():
    # Round 0 is slow for both, round 1 fast for both: the per-round ratios are 2 and 2,
    # where ours' best round over the peer's worst would say 8.
    ours = summarise([_round(100.0, {'64': 0.010}), _round(400.0, {'64': 0.005})])
    peer = summarise([_round(50.0, {'64': 0.030}), _round(200.0, {'64': 0.020})])
    peer.update(name='peer', kind='peer')
    add_ratios([ours, peer])
    assert ours['ratio_to_fastest_peer'] == pytest.approx(2.0)
    # The peer's time over ours, per round: 3 and 4, median 3.5.
    assert ours['generation_ratio_to_fastest_peer']['1'] == {'peer': 'peer', 'ratio': pytest.approx(3.5)}


def test_the_share_is_against_the_yardstick_of_its_own_round():
    row = summarise([_round(1024.0, {'64': 0.01}), _round(2048.0, {'64': 0.01}), _round(512.0, {'64': 0.01})])
    row['flops_per_step'] = 100.0
    # FLOP/s per round: 100, 200, 50; yardsticks 400, 400, 100 (round 2's machine was slow).
    add_matmul_shares([row, {'status': 'unavailable: no'}], {0: 400.0, 1: 400.0, 2: 100.0})
    assert row['matmul_share_rounds'] == pytest.approx([0.25, 0.5, 0.5])
    assert row['matmul_share'] == pytest.approx(0.5)


def test_every_architecture_of_the_registry_has_a_row_on_the_page():
    # A new architecture that the committed benchmark never measured fails here, by name.
    record = json.loads((RESULTS / 'benchmark' / 'records' / 'full.json').read_text())
    measured = {r['name'] for r in record['rows'] if r.get('status') == 'ok'}
    missing = set(our_architectures()) - measured
    assert not missing, f"no benchmark row for {sorted(missing)}: run python -m labml_memory.studies run benchmark"


def test_warm_up_fills_the_longest_memory_before_the_clock_starts():
    from labml_memory.benchmark.training_timing import warmup_steps
    sizes = Sizes()
    # $n_m + c\, n_{cm} = 64 + 2 \cdot 32 = 128$ characters: two segments, and one more.
    assert warmup_steps(sizes, Plan(warmup_steps=1), 'compressive', 64) == 3
    assert warmup_steps(sizes, Plan(warmup_steps=5), 'compressive', 64) == 5
    # The kNN table of 1,024 pairs: 16 segments of 64, and one more.
    assert warmup_steps(sizes, Plan(), 'memorizing_transformer', 64) == 17

class _Bigram(nn.Module):
    # Embedding then one linear layer: the only matrix products are the output layer's.
    def __init__(self, vocab, d):
        super().__init__()
        self.embed, self.out = nn.Embedding(vocab, d), nn.Linear(d, vocab)

    def forward(self, tokens, memory=None):
        return ModelOutput(self.out(self.embed(tokens)), None, {})


def test_flop_count_matches_the_products_by_hand():
    model = _Bigram(11, 8)
    tokens = torch.randint(0, 11, (3, 5))
    flops = count_step_flops(model, torch.optim.SGD(model.parameters(), lr=0.1), tokens, tokens, None)
    # Forward $2 B L d V$, then the gradients of the input and of the weight, the same again each.
    assert flops == 3 * 2 * 3 * 5 * 8 * 11


def test_the_timed_step_is_the_trainers_own(monkeypatch):
    # The benchmark has no training step of its own: it calls the trainer's, once per
    # warm-up and timed step, and the FLOP count does not step the model.
    from labml_memory.benchmark import training_timing
    from labml_memory.data.shakespeare import SequentialStreams
    from labml_memory.training import train_step
    calls = []

    def counted(*args, **kwargs):
        calls.append(args[5])
        return train_step(*args, **kwargs)
    monkeypatch.setattr(training_timing, 'train_step', counted)
    model = _Bigram(11, 8)
    streams = SequentialStreams(torch.randint(0, 11, (400,)), 2, 5)
    timed, memory = training_timing.time_training(model, streams, Plan(timed_steps=3), warmup=2)
    assert calls == [0, 1, 2, 3, 4] and timed['step_seconds'] > 0
    assert timed['flops_per_step'] == 3 * 2 * 2 * 5 * 8 * 11 and memory is None
    assert training_timing.CONFIG.unroll == 1 and training_timing.CONFIG.grad_clip > 0


@pytest.mark.parametrize('name', sorted(PEERS))
def test_each_installed_peer_answers_our_protocol(name):
    sizes = Sizes(d_model=16, heads=2, n_layers=2, d_ff=64, seq_len=8, mem_len=8, compressed_len=4,
                  compression_rate=2, batch_size=2)
    try:
        peer = build_peer(name, sizes)
    except PeerUnavailable as error:
        pytest.skip(str(error))
    memory = None
    for _ in range(4):
        tokens = torch.randint(0, sizes.vocab_size, (sizes.batch_size, sizes.seq_len))
        logits, memory, losses = peer(tokens, memory)
        assert logits.shape == (sizes.batch_size, sizes.seq_len, sizes.vocab_size)
        (logits.mean() + sum(losses.values(), torch.zeros(()))).backward()
        memory = memory.detach()
    # Every peer's state is batch-first, and of the size its paper says once it is full.
    assert all(t.shape[0] == sizes.batch_size for t in memory.tensors())
    d, n, m = sizes.d_model, sizes.n_layers, sizes.mem_len
    expected = {'transformer_xl': n * m * d, 'compressive': n * (m + sizes.compressed_len) * d,
                # per head: $d_k \times d_v$ for $M$ plus $d_k$ for $z$
                'infini_attention': n * sizes.heads * (d // sizes.heads) * (d // sizes.heads + 1),
                # one `d`-wide vector per memory token, however many layers
                'recurrent_memory': sizes.n_mem * d,
                # one shared key/value head: XL caches of keys and values per layer, then the
                # kNN table, which the port allocates at its full size from the start
                'memorizing_transformer': (n * m + sizes.knn_size) * 2 * (d // sizes.heads)}
    assert memory.nbytes() == sizes.batch_size * 4 * expected[peer.implements]


def test_a_peer_that_cannot_express_the_configuration_says_why():
    pytest.importorskip('compressive_transformer_pytorch')
    with pytest.raises(PeerUnavailable, match=r'd_ff=100'):
        build_peer('lucidrains_compressive', Sizes(d_model=16, heads=2, d_ff=100, seq_len=8, mem_len=8))
    with pytest.raises(ValueError, match=r"unknown peer 'nope'; valid peers: \["):
        build_peer('nope', Sizes())


def test_plain_baseline_rereads_its_whole_window_for_each_new_token():
    sizes = Sizes(d_model=16, heads=2, n_layers=1, d_ff=64, seq_len=4, mem_len=4, batch_size=4)
    model = build_baseline(sizes).eval()
    assert training_shape('plain_transformer', sizes) == (8, 2)  # same characters per step
    text = torch.randint(0, sizes.vocab_size, (1, 13))
    with torch.no_grad():
        memory = None
        for start in range(0, 12, 4):
            _, memory, _ = model(text[:, start:start + 4], memory)
        logits, memory, _ = model(text[:, 12:13], memory)
        # Independently: the inner model run once on the last 8 characters, no memory.
        direct, _, _ = model.inner(text[:, 5:13], None)
    assert torch.allclose(logits[:, -1], direct[:, -1], atol=1e-5)
    # Its only state is the text of the window: 8 token ids of 8 bytes each.
    assert torch.equal(memory.tokens, text[:, 5:13]) and memory.nbytes() == 8 * 8
