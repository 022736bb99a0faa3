"""The Memorizing Transformer against brute-force references written from the paper's equations, and its memory's invariants."""
import math
import sys

import pytest
import torch
import torch.nn.functional as F

from labml_memory.attention import causal_mask
from labml_memory.memorizing_transformer import (KNNAttention, KNNMemory, MemorizingTransformer,
                                                 measure_recall, top_k)
from labml_memory.memorizing_transformer.experiment import PRESETS, Config, build_model
from labml_memory.positional import sinusoid_table
from labml_memory.training import checkpoint
from labml_memory.training.config import build_config
from labml_memory.transformer_xl import RelativeMultiHeadAttention

VOCAB = 11
D, H = 16, 2
DK = D // H


def small_model(**kw):
    args = dict(d_model=D, heads=H, n_layers=3, d_ff=32, mem_len=8, mem_size=12, top_k=4,
                dropout=0.0)
    args.update(kw)
    torch.manual_seed(0)
    model = MemorizingTransformer(VOCAB, **args).eval()
    # Move every learned bias and gate off its initial value, so wiring mistakes show.
    with torch.no_grad():
        model.u.normal_(0, 0.5)
        model.v.normal_(0, 0.5)
        attn = model.layers[model.knn_layer].attention
        attn.gate_bias.copy_(torch.tensor([-0.7, 1.3])[:H])
        attn.log_scale.add_(torch.tensor([0.4, -0.3])[:H])
    return model


def unit(*shape):
    return F.normalize(torch.randn(*shape), dim=-1)


def brute_force_top_k(q, keys, n_valid, k):
    # Own loops: for each stream, head and query, score every valid key (the last n_valid
    # positions of the table) and keep the k best positions, best first.
    B, Hh, L, _ = q.shape
    N = keys.shape[2]
    out = {}
    for b in range(B):
        for h in range(Hh):
            for i in range(L):
                scored = [(float(q[b, h, i].detach() @ keys[b, h, j]), j) for j in range(N - n_valid[b], N)]
                scored.sort(reverse=True)
                out[b, h, i] = [j for _, j in scored[:k]]
    return out


@pytest.mark.parametrize('index', ['flat', 'torch'])
@pytest.mark.parametrize('L', [5, 1])
def test_exact_search_finds_the_true_top_k_of_each_stream(index, L):
    # Stream 1 holds fewer valid entries than k (as after a reset): it gets all it has.
    # One query per stream is a generated token, which the flat index answers in PyTorch.
    B, N, k = 3, 20, 6
    q, keys = unit(B, H, L, DK), unit(B, H, N, DK)
    n_valid = [20, 4, 11]
    positions, found = top_k(q, keys, torch.tensor(n_valid), k, index)
    expected = brute_force_top_k(q, keys, n_valid, k)
    for (b, h, i), best in expected.items():
        got = positions[b, h, i][found[b, h, i]].tolist()
        assert sorted(got) == sorted(best), (b, h, i)
    assert found[1].sum(-1).eq(4).all() and found[0].all()


def test_knn_attention_equals_attention_over_the_true_top_k_keys():
    # v_m for query i = softmax_j(s q_i.k_j) v_j over the k keys with the largest q_i.k_j,
    # computed here with loops from the stored table, the scale and the layer's W_q.
    torch.manual_seed(1)
    attn = small_model().layers[1].attention
    B, L, M, N, k = 2, 5, 3, 16, 4
    h = torch.randn(B, L, D)
    context = torch.cat([torch.randn(B, M, D), h], dim=1)
    rel = sinusoid_table(torch.arange(M + L - 1, -1, -1), D)
    u, v = torch.randn(H, DK), torch.randn(H, DK)
    keys, values = unit(B, H, N, DK), torch.randn(B, H, N, DK)
    n_valid = [16, 9]
    out, written, parts = attn(h, context, rel, u, v, causal_mask(L, M + L), keys, values,
                               torch.tensor(n_valid), return_parts=True)
    q_hat = F.normalize(attn.query(h), dim=-1)
    scale = attn.log_scale.exp()
    best = brute_force_top_k(q_hat, keys, n_valid, k)
    expected = torch.zeros(B, H, L, DK)
    for (b, hh, i), js in best.items():
        scores = torch.stack([scale[hh] * (q_hat[b, hh, i] @ keys[b, hh, j]) for j in js])
        weights = torch.softmax(scores, 0)
        expected[b, hh, i] = sum(w * values[b, hh, j] for w, j in zip(weights, js))
    torch.testing.assert_close(parts['memory'], expected, atol=1e-5, rtol=1e-4)
    # What the segment writes: its own keys, normalised, and its values.
    torch.testing.assert_close(written[0], F.normalize(attn.key(h), dim=-1))
    torch.testing.assert_close(written[1], attn.value(h))


def test_k_equal_to_the_memory_is_full_attention_over_the_memory():
    torch.manual_seed(2)
    attn = KNNAttention(D, H, 0.0, 'sdpa', top_k=10, index='flat').eval()
    with torch.no_grad():
        attn.log_scale.fill_(1.1)
    B, L, N = 2, 4, 10
    h = torch.randn(B, L, D)
    rel = sinusoid_table(torch.arange(L - 1, -1, -1), D)
    keys, values = unit(B, H, N, DK), torch.randn(B, H, N, DK)
    _, _, parts = attn(h, h, rel, torch.zeros(H, DK), torch.zeros(H, DK), causal_mask(L, L),
                       keys, values, torch.tensor([N, N]), return_parts=True)
    q_hat = F.normalize(attn.query(h), dim=-1)
    full = torch.softmax(math.exp(1.1) * q_hat @ keys.transpose(-2, -1), dim=-1) @ values
    torch.testing.assert_close(parts['memory'], full, atol=1e-5, rtol=1e-4)


def test_gate_mixes_the_two_readings_as_the_formula_says():
    torch.manual_seed(3)
    attn = small_model().layers[1].attention
    B, L, M, N = 2, 5, 3, 12
    h = torch.randn(B, L, D)
    context = torch.cat([torch.randn(B, M, D), h], dim=1)
    rel = sinusoid_table(torch.arange(M + L - 1, -1, -1), D)
    u, v = torch.randn(H, DK), torch.randn(H, DK)
    mask = causal_mask(L, M + L)
    table = (unit(B, H, N, DK), torch.randn(B, H, N, DK), torch.tensor([N, 7]))
    # g -> 0: exactly Transformer-XL's relative attention, the parent class's own forward.
    with torch.no_grad():
        saved = attn.gate_bias.clone()
        attn.gate_bias.fill_(-1e4)
    out_local, _ = attn(h, context, rel, u, v, mask, *table)
    torch.testing.assert_close(out_local, RelativeMultiHeadAttention.forward(attn, h, context, rel, u, v, mask))
    # The gate as moved off 0 by small_model: per head g = sigmoid(b_g), out = W_o[g v_m + (1-g) v_c].
    with torch.no_grad():
        attn.gate_bias.copy_(saved)
    out, _, parts = attn(h, context, rel, u, v, mask, *table, return_parts=True)
    g = torch.sigmoid(saved)
    assert not torch.allclose(g, torch.full_like(g, 0.5))
    mixed = g[None, :, None, None] * parts['memory'] + (1 - g[None, :, None, None]) * parts['local']
    torch.testing.assert_close(out, attn.output(mixed.transpose(1, 2).flatten(2)))
    # And the two readings really differ, so the mix is a real test of the gate.
    assert (parts['memory'] - parts['local']).abs().max() > 1e-2
    assert (out - out_local).abs().max() > 1e-3


def test_no_gradient_reaches_the_external_memory():
    model = small_model().train()
    tokens = torch.randint(0, VOCAB, (2, 12, 4))
    _, memory, _ = model(tokens[:, 0])
    _, memory, _ = model(tokens[:, 1], memory)
    # Hand in a memory whose tensors ask for gradients: the model must treat them as constants.
    leaves = KNNMemory([m.clone().requires_grad_() for m in memory.xl],
                       memory.keys.clone().requires_grad_(), memory.values.clone().requires_grad_(),
                       memory.seen)
    logits, new_memory, _ = model(tokens[:, 2], leaves)
    logits.sum().backward()
    assert all(t.grad is None for t in [*leaves.xl, leaves.keys, leaves.values])
    assert not any(t.requires_grad for t in new_memory.tensors())
    # The memory reading itself is live: its scale and the gate receive gradients.
    attn = model.layers[model.knn_layer].attention
    assert attn.log_scale.grad.abs().min() > 0 and attn.gate_bias.grad.abs().min() > 0


def test_eviction_keeps_the_newest_entries_and_the_state_grows_to_its_bound():
    # The kNN layer's keys depend only on the layers below it, never on what it read, so a
    # model with a table of 10 must hold exactly the last 10 entries of an unbounded one.
    small, large = small_model(mem_size=10, top_k=4), small_model(mem_size=100, top_k=4)
    large.load_state_dict(small.state_dict())
    tokens = torch.randint(0, VOCAB, (2, 6, 4))
    m_small = m_large = None
    sizes = []
    for s in range(6):
        _, m_small, _ = small(tokens[:, s], m_small)
        _, m_large, _ = large(tokens[:, s], m_large)
        sizes.append((m_small.size, m_small.nbytes()))
    assert m_large.size == 24
    torch.testing.assert_close(m_small.keys, m_large.keys[:, :, -10:])
    torch.testing.assert_close(m_small.values, m_large.values[:, :, -10:])
    # The table grows one segment per call until it reaches its bound, and nbytes with it.
    assert [n for n, _ in sizes] == [4, 8, 10, 10, 10, 10]
    assert sizes[0][1] < sizes[1][1] < sizes[2][1] == sizes[5][1]
    table_bytes = 2 * 2 * H * 10 * DK * 4
    cache_bytes = 3 * 2 * 8 * D * 4
    assert sizes[5][1] == table_bytes + cache_bytes + 2 * 8


def test_a_reset_empties_exactly_one_stream():
    model = small_model()
    tokens = torch.randint(0, VOCAB, (3, 5, 4))
    memory = None
    for s in range(3):
        _, memory, _ = model(tokens[:, s], memory)
    reset = memory.reset(1)
    assert reset.seen.tolist() == [12, 0, 12] and memory.seen.tolist() == [12, 12, 12]
    assert reset.keys[1].abs().sum() == 0 and torch.equal(reset.keys[0], memory.keys[0])
    kept, fresh = memory, None
    for s in range(3, 5):
        logits, reset, _ = model(tokens[:, s], reset)
        logits_kept, kept, _ = model(tokens[:, s], kept)
        # Stream 1 reads as if its text started at segment 3 (a batch of one, from nothing) ...
        logits_fresh, fresh, _ = model(tokens[1:2, s], fresh)
        torch.testing.assert_close(logits[1:2], logits_fresh, atol=1e-5, rtol=1e-5)
        # ... and it really did read its old memory before the reset.
        assert (logits_kept[1] - logits[1]).abs().max() > 1e-3
        # Streams 0 and 2 are untouched by the reset.
        torch.testing.assert_close(logits[[0, 2]], logits_kept[[0, 2]], atol=1e-6, rtol=1e-6)


def reference_step(model, tokens, memory):
    # The training path in evaluation mode: gradients on, so no cache and no buffer is read
    # or made, and a memory rebuilt from its fields carries neither.
    with torch.enable_grad():
        logits, memory, _ = model(tokens, memory)
    return logits.detach(), KNNMemory(list(memory.xl), memory.keys, memory.values, memory.seen)


def assert_same_memory(a, b):
    for x, y in zip(a.xl + [a.keys, a.values], b.xl + [b.keys, b.values]):
        torch.testing.assert_close(x, y, atol=1e-5, rtol=1e-5)
    assert torch.equal(a.seen, b.seen) and a.nbytes() == b.nbytes()


@pytest.mark.parametrize('index', ['flat', 'torch'])
def test_generation_with_cached_keys_and_a_growing_table_equals_the_training_path(index):
    # A prompt of 5 (the XL caches of 8 still partly empty, so masked), then 40 tokens one at
    # a time: the table of 12 fills, evicts, and its buffer of 24 runs out and is renewed.
    model = small_model(index=index)
    tokens = torch.randint(0, VOCAB, (2, 45))
    with torch.no_grad():
        logits, memory, _ = model(tokens[:, :5])
        ref_logits, ref = reference_step(model, tokens[:, :5], None)
        torch.testing.assert_close(logits, ref_logits, atol=1e-5, rtol=1e-5)
        renewed = 0
        for i in range(5, 45):
            before = memory.table_buffer[0]
            logits, memory, _ = model(tokens[:, i:i + 1], memory)
            ref_logits, ref = reference_step(model, tokens[:, i:i + 1], ref)
            renewed += memory.table_buffer[0] is not before
            torch.testing.assert_close(logits, ref_logits, atol=1e-5, rtol=1e-5)
            assert_same_memory(memory, ref)
        # The cache was read (the table is a view of its buffer, renewed now and then).
        assert memory.kv_cache is not None and not memory.keys.is_contiguous() and 1 <= renewed <= 3
        # The buffer holds C spare rows beside the table's C (what the benchmark counts as cache).
        assert memory.table_buffer[0].keys.shape[2] == 2 * model.mem_size == 2 * memory.size


def test_two_continuations_of_one_memory_do_not_overwrite_each_other():
    model = small_model()
    tokens = torch.randint(0, VOCAB, (2, 20))
    with torch.no_grad():
        _, prompt, _ = model(tokens[:, :10])
        _, ref_prompt = reference_step(model, tokens[:, :10], None)
        # Two different next tokens from the same memory, then each continued.
        branches = {}
        for name, token in (('a', tokens[:, 10:11]), ('b', (tokens[:, 10:11] + 1) % VOCAB)):
            _, branches[name], _ = model(token, prompt)
        for name, token in (('a', tokens[:, 10:11]), ('b', (tokens[:, 10:11] + 1) % VOCAB)):
            _, ref = reference_step(model, token, ref_prompt)
            assert_same_memory(branches[name], ref)
            logits, grown, _ = model(tokens[:, 11:12], branches[name])
            ref_logits, ref = reference_step(model, tokens[:, 11:12], ref)
            torch.testing.assert_close(logits, ref_logits, atol=1e-5, rtol=1e-5)
            assert_same_memory(grown, ref)
        # The prompt's own rows never changed either.
        assert_same_memory(prompt, ref_prompt)


def test_a_cache_made_by_other_weights_is_not_read():
    model = small_model()
    tokens = torch.randint(0, VOCAB, (2, 12))
    with torch.no_grad():
        _, memory, _ = model(tokens[:, :10])
        _, ref = reference_step(model, tokens[:, :10], None)
        # The kNN layer's key projection changes (as a training step would change it).
        model.layers[model.knn_layer].attention.key.linear.weight.mul_(1.5)
        for i in (10, 11):
            logits, memory, _ = model(tokens[:, i:i + 1], memory)
            ref_logits, ref = reference_step(model, tokens[:, i:i + 1], ref)
            torch.testing.assert_close(logits, ref_logits, atol=1e-5, rtol=1e-5)


def test_flat_and_torch_searches_give_the_same_model_and_hnsw_is_close():
    tokens = torch.randint(0, VOCAB, (2, 4, 6))
    outputs = {}
    for index in ('flat', 'torch', 'hnsw'):
        model, memory, out = small_model(index=index, mem_size=24, top_k=6), None, []
        for s in range(4):
            logits, memory, _ = model(tokens[:, s], memory)
            out.append(logits)
        outputs[index] = torch.stack(out)
    torch.testing.assert_close(outputs['flat'], outputs['torch'], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(outputs['hnsw'], outputs['flat'], atol=1e-2, rtol=1e-2)


def test_recall_of_the_approximate_index():
    torch.manual_seed(4)
    q, keys = unit(1, 2, 64, 32), unit(1, 2, 1024, 32)
    assert measure_recall(q, keys, 32, 'flat') == 1.0
    # A broad search finds nearly everything; the narrowest one (efSearch = k) visibly misses
    # some, so the measure is not a constant and tells the two breadths apart.
    broad = measure_recall(q, keys, 32, 'hnsw', hnsw_ef_search=128)
    narrow = measure_recall(q, keys, 32, 'hnsw', hnsw_ef_search=32)
    assert 0.99 <= broad <= 1.0 and 0.85 <= narrow <= 0.99


def test_memory_survives_a_checkpoint_and_selects_streams():
    model = small_model()
    tokens = torch.randint(0, VOCAB, (3, 2, 4))
    _, memory, _ = model(tokens[:, 0])
    restored = checkpoint.memory_from_dict(checkpoint.memory_to_dict(memory), 'cpu')
    a, _, _ = model(tokens[:, 1], memory)
    b, _, _ = model(tokens[:, 1], restored)
    torch.testing.assert_close(a, b)
    c, _, _ = model(tokens[1:, 1], memory.select(torch.tensor([1, 2])))
    torch.testing.assert_close(c, a[1:], atol=1e-6, rtol=1e-6)


def test_bad_settings_fail_clearly(monkeypatch):
    with pytest.raises(ValueError, match=r"top_k must lie in \[1, mem_size=16\], got 32"):
        MemorizingTransformer(VOCAB, d_model=D, heads=H, mem_size=16, top_k=32)
    with pytest.raises(ValueError, match=r"unknown index 'ivf'; valid: \['flat', 'hnsw', 'torch'\]"):
        MemorizingTransformer(VOCAB, d_model=D, heads=H, index='ivf')
    with pytest.raises(ValueError, match=r"knn_layer must lie in \[0, 3\], got 4"):
        MemorizingTransformer(VOCAB, d_model=D, heads=H, knn_layer=4)
    model = small_model(mem_size=6, top_k=2)
    with pytest.raises(ValueError, match=r"segment of 7 tokens does not fit a kNN memory of mem_size=6"):
        model(torch.zeros(1, 7, dtype=torch.long))
    with pytest.raises(ValueError, match=r"mem_size=32 is smaller than a segment \(seq_len=64\)"):
        build_config(Config, PRESETS, {'mem_size': '32'})
    with pytest.raises(ValueError, match=r"top_k must lie in \[1, mem_size=64\], got 65"):
        build_config(Config, PRESETS, {'mem_size': '64', 'top_k': '65'})
    # An index whose library is not installed, and one the installed faiss lacks.
    import faiss
    monkeypatch.delattr(faiss, 'IndexHNSWFlat')
    with pytest.raises(ImportError, match=r"index='hnsw' needs faiss.IndexHNSWFlat"):
        MemorizingTransformer(VOCAB, d_model=D, heads=H, index='hnsw')
    monkeypatch.setitem(sys.modules, 'faiss', None)
    with pytest.raises(ImportError, match=r"index='flat' needs faiss, which is not installed.*index='torch'"):
        MemorizingTransformer(VOCAB, d_model=D, heads=H, index='flat')
    # The exact search in PyTorch needs no faiss at all.
    MemorizingTransformer(VOCAB, d_model=D, heads=H, index='torch')


def test_presets_build():
    for preset in ('cpu', 'gpu'):
        config = build_config(Config, PRESETS, {'preset': preset})
        assert config.mem_size >= config.seq_len
    cpu = build_config(Config, PRESETS, {})
    model = build_model(cpu, 65)
    assert isinstance(model, MemorizingTransformer) and model.knn_layer == 2 and model.index == 'flat'


def test_recall_script_reads_a_trained_checkpoint(tmp_path, capsys):
    # Two steps of a tiny model through the real trainer, then the recall page's command on
    # its checkpoint: the table it searches must be full, and exact search must score 1.
    from labml_memory.memorizing_transformer import recall
    from labml_memory.training import train
    config = build_config(Config, PRESETS, dict(
        steps=2, d_model=32, heads=2, n_layers=2, d_ff=64, seq_len=16, mem_len=16,
        eval_mem_len=16, mem_size=64, top_k=8, batch_size=2, eval_every=1000,
        final_eval_segments=1, sample_len=0, threads=1, logs_dir=str(tmp_path)))
    result = train(config, build_model, 'memorizing_transformer')
    path = checkpoint.checkpoints_of(result.run_path)[-1]
    q_hat, keys, _ = recall.queries_and_table(path, streams_count=2)
    assert keys.shape == (2, 2, 64, 16) and q_hat.shape == (2, 2, 16, 16)
    assert measure_recall(q_hat, keys, 8, 'flat') == 1.0
    recall.main([str(path)])
    assert '| trained | 128 |' in capsys.readouterr().out
