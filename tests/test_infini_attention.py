"""Infini-attention against the paper's equations, computed independently, and its invariants."""
import math

import pytest
import torch
import torch.nn.functional as F

from labml_memory.infini_attention import (InfiniAttention, InfiniMemory, InfiniTransformer, retrieve,
                                           sigma, update)
from labml_memory.infini_attention.experiment import Config, PRESETS, build_model
from labml_memory.training.config import build_config

VOCAB = 11


def small_model(**kw):
    args = dict(d_model=16, heads=2, n_layers=2, d_ff=32, dropout=0.0)
    args.update(kw)
    return InfiniTransformer(VOCAB, **args).eval()


def heads_of(layer, x):
    # The layer's own projections, split into heads, without going through its forward.
    return layer.query(x), layer.key(x), layer.value(x)


@pytest.mark.parametrize("n_segments", [1, 3])
def test_retrieval_is_normalised_linear_attention_over_earlier_segments(n_segments):
    # A_mem for query i of segment s must equal
    #   sum_j phi(q_i).phi(k_j) v_j / sum_j phi(q_i).phi(k_j),  phi(x) = elu(x) + 1,
    # over every key j of segments 0 .. s-1, computed here from the stored keys and values.
    layer = InfiniAttention(16, 2, update_rule='linear').eval()
    B, N = 2, 5
    xs = torch.randn(n_segments + 1, B, N, 16)
    m, z = torch.zeros(B, 2, 8, 8), torch.zeros(B, 2, 8)
    for s in range(n_segments):
        _, (m, z) = layer(xs[s], m, z)
    _, _, parts = layer(xs[n_segments], m, z, return_parts=True)
    q, _, _ = heads_of(layer, xs[n_segments])
    _, keys, values = heads_of(layer, xs[:n_segments].transpose(0, 1).flatten(1, 2))
    phi_q = F.elu(q) + 1                            # [B, H, N, d]
    phi_k = F.elu(keys) + 1                         # [B, H, s*N, d]
    weights = torch.einsum('bhid,bhjd->bhij', phi_q, phi_k)
    expected = torch.einsum('bhij,bhjd->bhid', weights, values) / weights.sum(-1, keepdim=True)
    torch.testing.assert_close(parts['a_mem'], expected, atol=1e-5, rtol=1e-4)


def test_first_segment_reads_exactly_zero_from_the_empty_memory():
    layer = InfiniAttention(16, 2).eval()
    x = torch.randn(2, 5, 16)
    _, (m, z), parts = layer(x, torch.zeros(2, 2, 8, 8), torch.zeros(2, 2, 8), return_parts=True)
    assert torch.equal(parts['a_mem'], torch.zeros_like(parts['a_mem']))
    # ... and the write is the linear rule's sigma(K)^T V, sum_t sigma(K_t), for either rule.
    _, k, v = heads_of(layer, x)
    torch.testing.assert_close(m, sigma(k).transpose(-2, -1) @ v)
    torch.testing.assert_close(z, sigma(k).sum(-2))


def test_delta_rule_leaves_memory_unchanged_when_values_are_already_stored():
    B, H, N, d = 2, 3, 6, 4
    m = torch.randn(B, H, d, d)
    z = torch.rand(B, H, d) * 5 + 1
    sigma_k = sigma(torch.randn(B, H, N, d))
    # Values equal to what the memory already returns for these keys.
    v = (sigma_k @ m) / (sigma_k @ z.unsqueeze(-1))
    m_delta, z_delta = update(m, z, sigma_k, v, 'delta', 1e-6)
    torch.testing.assert_close(m_delta, m, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(z_delta, z + sigma_k.sum(-2))
    # The linear rule, by contrast, does write them again: the test can tell the rules apart.
    m_linear, _ = update(m, z, sigma_k, v, 'linear', 1e-6)
    assert (m_linear - m).abs().max() > 1e-2


def test_delta_rule_writes_the_residual():
    B, H, N, d = 1, 2, 3, 4
    m, z = torch.randn(B, H, d, d), torch.rand(B, H, d) + 1
    sigma_k, v = sigma(torch.randn(B, H, N, d)), torch.randn(B, H, N, d)
    m_new, _ = update(m, z, sigma_k, v, 'delta', 1e-6)
    for b in range(B):
        for h in range(H):
            expected = m[b, h].clone()
            for t in range(N):
                kt = sigma_k[b, h, t]
                expected += torch.outer(kt, v[b, h, t] - (kt @ m[b, h]) / (kt @ z[b, h]))
            torch.testing.assert_close(m_new[b, h], expected, atol=1e-5, rtol=1e-5)


def _some_memory(layer, B):
    m, z = torch.zeros(B, 2, 8, 8), torch.zeros(B, 2, 8)
    for _ in range(2):
        _, (m, z) = layer(torch.randn(B, 5, 16), m, z)
    return m, z


def test_gate_at_minus_infinity_is_pure_local_attention():
    layer = InfiniAttention(16, 2).eval()
    with torch.no_grad():
        layer.beta.fill_(-1e4)       # sigmoid(beta) == 0 exactly in float32
    x = torch.randn(2, 5, 16)
    m, z = _some_memory(layer, 2)
    out, _ = layer(x, m, z)
    # Local causal softmax attention written out, with the rotary positions, no memory.
    q, k, v = heads_of(layer, x)
    from labml_memory.infini_attention import rotate
    scores = rotate(q) @ rotate(k).transpose(-2, -1) / (8 ** 0.5)
    scores = scores.masked_fill(torch.ones(5, 5, dtype=torch.bool).triu(1), float('-inf'))
    local = scores.softmax(-1) @ v
    expected = layer.output(local.transpose(1, 2).flatten(2))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)
    # Whatever the memory holds, it is not read.
    out_other, _ = layer(x, *_some_memory(layer, 2))
    torch.testing.assert_close(out, out_other)


def test_gate_at_plus_infinity_is_pure_memory_attention():
    layer = InfiniAttention(16, 2).eval()
    with torch.no_grad():
        layer.beta.fill_(1e4)        # sigmoid(beta) == 1 exactly
    x = torch.randn(2, 5, 16)
    m, z = _some_memory(layer, 2)
    out, _ = layer(x, m, z)
    q, _, _ = heads_of(layer, x)
    expected = layer.output(retrieve(sigma(q), m, z, 1e-6).transpose(1, 2).flatten(2))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)
    # No position reads another: changing the other tokens of the segment changes nothing at 0.
    x2 = x.clone()
    x2[:, 1:] = torch.randn(2, 4, 16)
    torch.testing.assert_close(layer(x2, m, z)[0][:, 0], out[:, 0])


def test_gate_mixes_with_sigmoid_beta_on_the_memory():
    # Equation 10's convention: sigmoid(beta) weighs A_mem, 1 - sigmoid(beta) weighs A_dot.
    layer = InfiniAttention(16, 2).eval()
    with torch.no_grad():
        layer.beta.copy_(torch.tensor([1.5, -0.7]))
    x = torch.randn(1, 4, 16)
    m, z = _some_memory(layer, 1)
    out, _, parts = layer(x, m, z, return_parts=True)
    g = torch.sigmoid(torch.tensor([1.5, -0.7]))[None, :, None, None]
    mixed = g * parts['a_mem'] + (1 - g) * parts['a_dot']
    torch.testing.assert_close(out, layer.output(mixed.transpose(1, 2).flatten(2)))


def test_each_layer_has_its_own_memory_and_retrieval_uses_no_position():
    model = small_model()
    tokens = torch.randint(0, VOCAB, (2, 6))
    _, memory, _ = model(tokens)
    assert not torch.allclose(memory.m[0], memory.m[1])
    # The memory's keys carry no position: a segment read in one call, or its tokens' keys
    # at shifted positions, write the same sum. Check through layer 0 with the embedding input:
    # (M, z) are sums over tokens, so permuting a segment's tokens leaves them unchanged.
    layer = model.layers[0].attention
    x = torch.randn(1, 6, 16)
    zeros = (torch.zeros(1, 2, 8, 8), torch.zeros(1, 2, 8))
    _, (m1, z1) = layer(x, *zeros)
    _, (m2, z2) = layer(x[:, torch.randperm(6)], *zeros)
    torch.testing.assert_close(m1, m2)
    torch.testing.assert_close(z1, z2)


@pytest.fixture
def one_thread():
    # Ten thousand tiny sequential calls: one thread avoids paying for thread hand-offs.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_state_size_is_fixed_and_reports_dk_times_dv_plus_one(one_thread):
    model = small_model(n_layers=3)
    tokens = torch.randint(0, VOCAB, (2, 1000 * 4))
    memory = None
    with torch.no_grad():
        _, memory, _ = model(tokens[:, :4], memory)
        after_one = memory.nbytes()
        for s in range(1, 1000):
            _, memory, _ = model(tokens[:, 4 * s:4 * (s + 1)], memory)
    assert memory.nbytes() == after_one
    assert memory.numbers_per_head_per_layer() == 8 * (8 + 1)
    # batch x layers x heads x d_k (d_v + 1) float32 numbers
    assert after_one == 2 * 3 * 2 * 8 * 9 * 4


def test_ten_thousand_segments_stay_finite(one_thread):
    # Random inputs, scaled up, through the layer with the linear rule: M and z only grow.
    layer = InfiniAttention(8, 2, update_rule='linear').eval()
    m, z = torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4)
    inputs = torch.randn(10_000, 1, 4, 8) * 3
    with torch.inference_mode():
        for x in inputs:
            out, (m, z) = layer(x, m, z)
    assert m.dtype == z.dtype == torch.float32
    assert torch.isfinite(m).all() and torch.isfinite(z).all() and torch.isfinite(out).all()
    # z counts the keys: it grew with the 40,000 tokens read (each sigma(k) > 0).
    assert z.min() > 100


def test_ten_thousand_delta_updates_stay_finite():
    # The delta rule's write and read, 10,000 segments of random keys and values, float32.
    m, z = torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4)
    keys, values = torch.randn(2, 10_000, 1, 2, 4, 4) * 3
    for k, v in zip(keys, values):
        m, z = update(m, z, sigma(k), v, 'delta', 1e-6)
    read = retrieve(sigma(keys[-1]), m, z, 1e-6)
    assert torch.isfinite(m).all() and torch.isfinite(z).all() and torch.isfinite(read).all()


@pytest.mark.parametrize("memory_grad", [False, True])
def test_gradient_through_the_memory_is_an_option(memory_grad):
    # With memory_grad, segment 2's loss reaches segment 1's activations through (M, z);
    # without it, the memory is a constant and segment 1 gets no gradient at all.
    model = small_model(memory_grad=memory_grad).train()
    seg1, seg2 = torch.randint(0, VOCAB, (2, 2, 5))
    captured = []

    def keep(module, inputs, output):
        output.retain_grad()
        captured.append(output)

    hook = model.embed.register_forward_hook(keep)
    _, memory, _ = model(seg1)
    hook.remove()
    assert all(t.requires_grad == memory_grad for t in memory.tensors())
    logits, _, _ = model(seg2, memory)
    logits.sum().backward()
    if memory_grad:
        assert captured[0].grad is not None and captured[0].grad.abs().sum() > 0
    else:
        assert captured[0].grad is None
    assert model.embed.embed.weight.grad is not None


def test_memory_from_another_model_or_batch_is_refused():
    model = small_model()
    _, memory, _ = model(torch.randint(0, VOCAB, (2, 4)))
    with pytest.raises(ValueError, match="does not fit"):
        model(torch.randint(0, VOCAB, (3, 4)), memory)
    with pytest.raises(ValueError, match="InfiniMemory with 3 layers"):
        small_model(n_layers=3)(torch.randint(0, VOCAB, (2, 4)), memory)


@pytest.mark.parametrize("kwargs,message", [
    (dict(update_rule='hebbian'), "unknown update_rule 'hebbian'; valid: \\['linear', 'delta'\\]"),
    (dict(heads=3), "heads=3 does not divide d_model=16"),
    (dict(d_model=12, heads=4), "even head width"),
    (dict(n_layers=0), "n_layers must be a positive integer, got 0"),
    (dict(dropout=1.0), "dropout must lie in"),
    (dict(norm='sandwich'), "unknown norm placement 'sandwich'"),
    (dict(eps=0.0), "eps must be positive"),
    (dict(gate_init=float('nan')), "gate_init must be a finite number"),
])
def test_bad_configurations_fail_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        small_model(**kwargs)


def test_experiment_config_and_builder():
    config = build_config(Config, PRESETS, {'update_rule': 'delta', 'd_model': '32', 'heads': '2'})
    model = build_model(config, 65)
    assert model.layers[0].attention.update_rule == 'delta'
    with pytest.raises(ValueError, match="memory_grad=true has no effect with unroll=1"):
        build_config(Config, PRESETS, {'memory_grad': 'true'})
    with pytest.raises(ValueError, match="unknown update_rule"):
        build_model(build_config(Config, PRESETS, {'update_rule': 'x'}), 65)


def test_trains_through_the_shared_trainer(tmp_path):
    # A few steps on Tiny Shakespeare with back-propagation through the memory: the loss falls.
    from labml_memory.training import train
    config = build_config(Config, PRESETS, dict(
        d_model=32, heads=2, n_layers=1, d_ff=64, seq_len=16, batch_size=8, steps=30, warmup=5,
        unroll=2, memory_grad=True, eval_every=1000, final_eval_segments=2, sample_len=0,
        checkpoint_every=1000, logs_dir=str(tmp_path), threads=1))
    result = train(config, build_model, 'infini_attention_test')
    first, last = result.train_losses[1], result.train_losses[30]
    assert last < first - 0.5
    assert result.memory_bytes == 8 * 1 * 2 * 16 * 17 * 4


# ## The whole model against a slow reference
#
# Written from the paper's equations with its own loops: its own sigma, its own rotation
# (angles from `math`, not the module's `rotate`), causal softmax per query, retrieval and
# both update rules per head, and one memory per layer and per head kept by the reference
# itself. It borrows only the weights, after every parameter (beta, the norms' gains) has
# been moved off its initial value.

def _elu1(x):
    return torch.where(x > 0, x + 1, torch.exp(x))


def _rotated(x):
    # RoPE on pairs (c, c + d/2): angle p * 10000^(-2c/d) for the row at position p.
    n, d = x.shape
    out = torch.empty_like(x)
    for p in range(n):
        for c in range(d // 2):
            a = p * 10000 ** (-2 * c / d)
            out[p, c] = x[p, c] * math.cos(a) - x[p, c + d // 2] * math.sin(a)
            out[p, c + d // 2] = x[p, c] * math.sin(a) + x[p, c + d // 2] * math.cos(a)
    return out


def _norm(x, ln):
    mean = x.mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(((x - mean) ** 2).mean(-1, keepdim=True) + ln.eps) * ln.weight + ln.bias


def slow_infini(model, tokens, memories, rule):
    # One batch row; `memories[n][h]` is (M [d_k, d_k], z [d_k]) of layer n, head h.
    d, H = model.d_model, model.heads
    d_k = d // H
    x = model.embed.embed.weight[tokens] * math.sqrt(d)
    N = x.shape[0]
    new_memories = []
    for n, layer in enumerate(model.layers):
        attn = layer.attention
        read = _norm(x, layer.attention_residual.norm)
        q_all, k_all, v_all = (read @ p.linear.weight.T for p in (attn.query, attn.key, attn.value))
        heads, kept = [], []
        for h in range(H):
            cols = slice(h * d_k, (h + 1) * d_k)
            q, k, v = q_all[:, cols], k_all[:, cols], v_all[:, cols]
            rq, rk = _rotated(q), _rotated(k)
            local = torch.zeros(N, d_k)
            for i in range(N):
                w = torch.stack([rq[i] @ rk[j] / math.sqrt(d_k) for j in range(i + 1)]).softmax(0)
                local[i] = sum(w[j] * v[j] for j in range(i + 1))
            M, z = memories[n][h]
            sq, sk = _elu1(q), _elu1(k)
            a_mem = torch.stack([(sq[i] @ M) / max(float(sq[i] @ z), 1e-6) for i in range(N)])
            if rule == 'linear':
                M_new = M + sum(torch.outer(sk[t], v[t]) for t in range(N))
            else:
                M_new = M + sum(torch.outer(sk[t], v[t] - (sk[t] @ M) / max(float(sk[t] @ z), 1e-6))
                                for t in range(N))
            kept.append((M_new, z + sk.sum(0)))
            g = 1 / (1 + math.exp(-float(attn.beta[h])))
            heads.append(g * a_mem + (1 - g) * local)
        new_memories.append(kept)
        x = x + torch.cat(heads, -1) @ attn.output.weight.T
        ff = layer.feed_forward
        y = _norm(x, layer.feed_forward_residual.norm)
        x = x + F.gelu(y @ ff.expand.weight.T + ff.expand.bias) @ ff.contract.weight.T + ff.contract.bias
    logits = _norm(x, model.head.norm) @ model.head.project.weight.T + model.head.project.bias
    return logits, new_memories


@pytest.mark.parametrize("rule", ['linear', 'delta'])
def test_model_equals_a_slow_per_layer_reference(rule):
    model = small_model(d_model=8, heads=2, update_rule=rule)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=gen))
    assert len({round(float(layer.attention.beta[0].detach()), 4) for layer in model.layers}) == 2
    tokens = torch.randint(0, VOCAB, (3, 2, 4))
    memory = None
    slow = [[[(torch.zeros(4, 4), torch.zeros(4)) for _ in range(2)] for _ in range(2)] for _ in range(2)]
    with torch.no_grad():
        for segment in tokens:
            logits, memory, _ = model(segment, memory)
            for b in range(2):
                slow_logits, slow[b] = slow_infini(model, segment[b], slow[b], rule)
                torch.testing.assert_close(logits[b], slow_logits, atol=1e-4, rtol=1e-4)
                for n in range(2):
                    for h in range(2):
                        torch.testing.assert_close(memory.m[n][b, h], slow[b][n][h][0], atol=1e-4, rtol=1e-4)
                        torch.testing.assert_close(memory.z[n][b, h], slow[b][n][h][1], atol=1e-4, rtol=1e-4)


def test_rotary_against_an_independent_rotation():
    from labml_memory.infini_attention import rotate
    x = torch.randn(2, 3, 7, 6)
    out = rotate(x)
    for b in range(2):
        for h in range(3):
            torch.testing.assert_close(out[b, h], _rotated(x[b, h]), atol=1e-5, rtol=1e-5)


def test_the_gate_starts_at_an_even_mix_unless_told_otherwise():
    # beta = 0 in every layer and head: sigmoid(beta) = 1/2 (the page's stated initialisation).
    assert torch.equal(small_model(n_layers=3).gates(), torch.full((3, 2), 0.5))
    gates = small_model(gate_init=2.0).gates()
    torch.testing.assert_close(gates, torch.full((2, 2), 1 / (1 + math.exp(-2.0))))


# ## Closing the gaps mutation testing found (tools/mutation.py; tests/MUTATION.md)

def test_documented_defaults():
    model = InfiniTransformer(VOCAB)
    assert (model.d_model, model.heads, model.n_layers, model.memory_grad) == (128, 4, 4, False)
    layer = model.layers[0]
    assert layer.feed_forward.expand.out_features == 512
    assert {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)} == {0.1}
    attn = layer.attention
    assert attn.update_rule == 'linear' and attn.eps == 1e-6 and torch.equal(attn.beta, torch.zeros(4))
    alone = InfiniAttention(16, 2)
    assert (alone.dropout, alone.update_rule, alone.eps) == (0.0, 'linear', 1e-6)
    assert torch.equal(alone.beta, torch.zeros(2))
    # Settings reach every layer: eps, the activation and one dropout rate everywhere.
    custom = small_model(eps=1e-3, activation='relu', dropout=0.2)
    assert all(layer.attention.eps == 1e-3 for layer in custom.layers)
    assert all(isinstance(layer.feed_forward.activation, torch.nn.ReLU) for layer in custom.layers)
    assert {m.p for m in custom.modules() if isinstance(m, torch.nn.Dropout)} == {0.2}
    assert all(layer.attention.dropout == 0.2 for layer in custom.layers)


def test_the_state_reports_its_size_per_head():
    _, memory, losses = small_model(d_model=24, heads=2, n_layers=1)(torch.randint(0, VOCAB, (1, 3)))
    assert memory.numbers_per_head_per_layer() == 12 * (12 + 1) and losses == {}
    # Post-LN normalises the stream after every block, so its head adds no final norm.
    assert isinstance(small_model(norm='post').head.norm, torch.nn.Identity)
    assert isinstance(small_model().head.norm, torch.nn.LayerNorm)


def test_a_memory_wrong_in_m_alone_or_z_alone_is_refused_with_both_shapes():
    model = small_model()
    _, memory, _ = model(torch.randint(0, VOCAB, (2, 4)))
    for bad in (InfiniMemory([m[..., :4] for m in memory.m], memory.z),
                InfiniMemory(memory.m, [z[..., :4] for z in memory.z])):
        with pytest.raises(ValueError, match=r"does not fit \(2, 2, 8, 8\) / \(2, 2, 8\); pass the memory"):
            model(torch.randint(0, VOCAB, (2, 4)), bad)


def test_local_attention_dropout_acts_in_training_only():
    layer = InfiniAttention(16, 2, dropout=0.5)
    with torch.no_grad():
        layer.beta.fill_(-1e4)       # local attention only, so only its dropout can act
    x = torch.randn(2, 6, 16)
    zeros = (torch.zeros(2, 2, 8, 8), torch.zeros(2, 2, 8))
    layer.eval()
    evaluated = layer(x, *zeros)[0]
    torch.testing.assert_close(layer(x, *zeros)[0], evaluated)
    layer.train()
    assert not torch.allclose(layer(x, *zeros)[0], evaluated, atol=1e-4)


def test_half_precision_computes_in_its_dtype_and_keeps_the_memory_in_float32():
    # The page's claim: the memory is float32 whatever the model computes in.
    from labml_memory.infini_attention import rotate
    layer = InfiniAttention(16, 2).to(torch.bfloat16).eval()
    x = torch.randn(1, 5, 16, dtype=torch.bfloat16)
    out, (m, z) = layer(x, torch.zeros(1, 2, 8, 8), torch.zeros(1, 2, 8))
    assert out.dtype == torch.bfloat16 and m.dtype == z.dtype == torch.float32
    assert rotate(torch.randn(1, 2, 5, 8, dtype=torch.float16)).dtype == torch.float16
    # Rotation on one sequence without batch and head dimensions.
    y = torch.randn(5, 8)
    torch.testing.assert_close(rotate(y), rotate(y[None, None])[0, 0])


@pytest.mark.parametrize("kwargs,message", [
    (dict(d_ff=0), r"d_ff must be positive, got 0"),
    (dict(activation='swish'), r"unknown activation 'swish'; valid: \['gelu', 'relu'\]"),
])
def test_more_bad_settings_name_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        small_model(**kwargs)
    assert small_model(d_ff=1).layers[0].feed_forward.expand.out_features == 1
