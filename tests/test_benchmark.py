"""The cross-architecture benchmark: a tiny run writes well-formed results, a missing peer is a
row that says why, and the numbers it derives agree with independent computations."""
import json

import pytest
import torch
from torch import nn

from labml_memory.benchmark import (TINY, _overrides, add_ratios, best_of, build_ours, count_step_flops, main,
                                    our_architectures)
from labml_memory.benchmark.peers import PEERS, PeerUnavailable, Sizes, build_peer
from labml_memory.protocol import ModelOutput


def test_tiny_run_writes_a_well_formed_page_and_reports_a_missing_peer(tmp_path, capsys):
    # One of ours and one peer made to look uninstalled: the run must finish, measure ours,
    # and say why the peer is missing, in the JSON, on the console and on the page.
    main(['--tiny', '--out', str(tmp_path), '--only', 'transformer_xl,xtransformers_xl',
          '--hide', 'x_transformers'])
    printed = capsys.readouterr().out
    results = json.loads((tmp_path / 'benchmark.json').read_text())
    rows = {r['name']: r for r in results['rows']}
    assert set(rows) == {'transformer_xl', 'xtransformers_xl'}

    ours = rows['transformer_xl']
    assert ours['status'] == 'ok', ours['status']
    sizes, plan = TINY
    assert ours['tokens_per_second'] > 0 and 0 < ours['matmul_share'] < 1.5
    assert ours['peak_rss_mb'] > 0 and ours['parameters'] > 0
    assert set(ours['inference_seconds_per_token']) == {str(c) for c in plan.contexts}
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
    assert 'Intel' in page or 'AMD' in page or 'CPU:' in page
    header = next(line for line in page.splitlines() if line.startswith('| entry |'))
    row = next(line for line in page.splitlines() if line.startswith('| **transformer_xl**'))
    assert header.count('|') == row.count('|')
    for image in ('benchmark_training.png', 'benchmark_inference.png'):
        assert (tmp_path / image).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
        assert f']({image})' in page


def test_unknown_entry_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(['--tiny', '--out', str(tmp_path), '--only', 'transformer_xxl'])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown entries ['transformer_xxl']" in err and 'transformer_xl' in err


def test_architectures_are_found_by_the_registry_convention():
    found = our_architectures()
    assert 'transformer_xl' in found and 'memory_depth' in found
    assert not {'benchmark', 'training', 'tasks'} & set(found)


def test_shared_sizes_go_only_to_fields_a_config_has():
    from labml_memory.transformer_xl.experiment import Config
    sizes = Sizes(d_model=48, mem_len=24)
    values = _overrides(Config, sizes)
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
    assert _overrides(Config, sizes)['long_mem_len'] == 16 and 'mem_len' not in _overrides(Config, sizes)


def _row(name, kind, implements, tps):
    return {'name': name, 'kind': kind, 'implements': implements, 'status': 'ok', 'tokens_per_second': tps}


def test_ratios_are_to_the_fastest_peer_of_the_same_paper():
    rows = [_row('ours_xl', 'ours', 'xl', 300.0), _row('peer_a', 'peer', 'xl', 100.0),
            _row('peer_b', 'peer', 'xl', 200.0), _row('ours_inf', 'ours', 'inf', 50.0),
            {'name': 'peer_c', 'kind': 'peer', 'implements': 'inf', 'status': 'unavailable: no'}]
    add_ratios(rows)
    ratios = {r['name']: r['ratio_to_fastest_peer'] for r in rows}
    assert ratios['ours_xl'] == pytest.approx(1.5) and ratios['peer_b'] == pytest.approx(1.0)
    assert ratios['peer_a'] == pytest.approx(0.5)
    # The only peer of `inf` did not run, so there is nothing to divide by.
    assert ratios['ours_inf'] is None and ratios['peer_c'] is None


def test_best_round_is_kept_with_the_fastest_inference_seen():
    slow = {**_row('x', 'ours', 'xl', 100.0), 'inference_seconds_per_token': {'64': 0.01, '256': 0.02}}
    fast = {**_row('x', 'ours', 'xl', 150.0), 'inference_seconds_per_token': {'64': 0.03, '256': 0.01}}
    best = best_of([slow, fast])
    assert best['tokens_per_second'] == 150.0
    assert best['inference_seconds_per_token'] == {'64': 0.01, '256': 0.01}
    assert best['tokens_per_second_rounds'] == [100.0, 150.0] and best['rounds'] == 2
    failed = {'name': 'x', 'status': 'failed: boom'}
    assert best_of([failed])['status'] == 'failed: boom'


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
    from labml_memory.benchmark import build_baseline, training_shape
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
