"""Transformer-XL against the paper's equations and the invariants segment-level recurrence implies."""
import math

import pytest
import torch

from labml_memory.attention import causal_mask
from labml_memory.positional import sinusoid_table
from labml_memory.transformer_xl import TransformerXL, XLMemory, relative_shift

VOCAB = 11


def small_model(**kw):
    args = dict(d_model=16, heads=2, n_layers=2, d_ff=32, mem_len=6, dropout=0.0)
    args.update(kw)
    return TransformerXL(VOCAB, **args).eval()


def test_relative_shift_matches_explicit_terms_b_and_d():
    # Terms (b) + (d) computed directly for every (i, j): (q_i + v) . r_{i - j}, where
    # query i sits at context position M + i and r_d is the projected encoding of distance d.
    L, M, d = 5, 4, 6
    K = M + L
    q, v_bias = torch.randn(L, d), torch.randn(d)
    r_by_distance = torch.randn(K, d)                   # row d: distance d
    descending = r_by_distance.flip(0)                  # rows K-1 ... 0, as the model lists them
    shifted = relative_shift(((q + v_bias) @ descending.T)[None])[0]
    for i in range(L):
        for j in range(K):
            if j <= M + i:  # the entries the causal mask keeps
                expected = (q[i] + v_bias) @ r_by_distance[M + i - j]
                assert shifted[i, j].item() == pytest.approx(expected.item(), abs=1e-5)


def test_attention_scores_are_the_four_terms():
    # The whole score matrix of one head, against A = (a) + (b) + (c) + (d) written per (i, j).
    model = small_model(n_layers=1, heads=1)
    attn = model.layers[0].attention
    L, M = 4, 3
    h = torch.randn(1, M + L, 16)
    rel = model.relative_table(M + L, 'cpu')
    u, v = torch.randn(1, 16), torch.randn(1, 16)
    _, weights = attn(h[:, -L:], h, rel, u, v, causal_mask(L, M + L), return_weights=True)
    Wq, Wk = attn.query.linear.weight, attn.key.linear.weight
    Wr = attn.key_pos.linear.weight
    q, k = h[0, -L:] @ Wq.T, h[0] @ Wk.T
    R = sinusoid_table(torch.arange(M + L).float(), 16)    # R[d]: distance d
    scores = torch.full((L, M + L), float('-inf'))
    for i in range(L):
        for j in range(M + i + 1):
            r = R[M + i - j] @ Wr.T
            scores[i, j] = (q[i] @ k[j] + q[i] @ r + u[0] @ k[j] + v[0] @ r) / math.sqrt(16)
    torch.testing.assert_close(weights[0, 0], scores.softmax(-1), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("mem_len,norm", [(8, 'pre'), (16, 'post'), (5, 'pre'), (13, 'post')])
def test_segment_recurrence_equals_banded_mask_on_whole_sequence(mem_len, norm):
    # One layer, read segment by segment with memory M, sees for position p the keys from
    # (start of p's segment) - M up to p. The same layer on the whole sequence under that
    # banded mask must give the same logits.
    L, segments = 8, 4
    model = small_model(n_layers=1, mem_len=mem_len, norm=norm)
    tokens = torch.randint(0, VOCAB, (2, L * segments))
    memory, pieces = None, []
    for s in range(segments):
        logits, memory, _ = model(tokens[:, s * L:(s + 1) * L], memory)
        pieces.append(logits)
    p = torch.arange(L * segments)[:, None]
    j = torch.arange(L * segments)[None, :]
    band = (j <= p) & (j >= (p // L) * L - mem_len)
    whole, _, _ = model(tokens, None, mask=band)
    torch.testing.assert_close(torch.cat(pieces, 1), whole, atol=1e-5, rtol=1e-4)


def test_sdpa_and_explicit_paths_agree():
    # With u, v and every norm moved off their initial values, so (c) and (d) are live.
    model = _perturb(small_model())
    explicit = small_model(attention_impl='explicit')
    explicit.load_state_dict(model.state_dict())
    tokens = torch.randint(0, VOCAB, (2, 7))
    a, mem_a, _ = model(tokens)
    b, mem_b, _ = explicit(tokens)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(model(tokens, mem_a)[0], explicit(tokens, mem_b)[0], atol=1e-5, rtol=1e-4)


def test_no_gradient_reaches_the_memory():
    model = small_model().train()
    seg1, seg2 = torch.randint(0, VOCAB, (2, 2, 5))
    captured = []

    def keep(module, inputs, output):
        output.retain_grad()
        captured.append(output)

    hook = model.embed.register_forward_hook(keep)
    _, memory, _ = model(seg1)
    hook.remove()
    assert all(not m.requires_grad and m.grad_fn is None for m in memory.layers)
    logits, _, _ = model(seg2, memory)
    logits.sum().backward()
    # The first segment's activations got no gradient from the second segment's loss.
    assert captured[0].grad is None
    assert model.embed.embed.weight.grad is not None


def test_memory_bookkeeping_over_many_segments():
    # Layer 0's memory is the embedding of the last M tokens seen; every layer keeps
    # min(M, tokens seen) positions; evaluation mode keeps eval_mem_len.
    model = small_model(mem_len=7, eval_mem_len=12).train()
    model.dropout.p = 0.0
    stream = torch.randint(0, VOCAB, (3, 5 * 20))
    memory = None
    for s in range(20):
        _, memory, _ = model(stream[:, s * 5:(s + 1) * 5], memory)
        seen = (s + 1) * 5
        assert memory.lengths == [min(7, seen)] * 2
        torch.testing.assert_close(memory.layers[0], model.embed(stream[:, seen - min(7, seen):seen]))
    model.eval()
    for s in range(3):
        _, memory, _ = model(stream[:, s * 5:(s + 1) * 5], memory)
    assert memory.lengths == [12, 12]
    assert memory.nbytes() == 2 * 3 * 12 * 16 * 4


def test_per_layer_memory_lengths():
    # Lengths, and content: layer n keeps the last M_n of the inputs it read, which a hook on
    # each layer records independently of the model's own bookkeeping.
    model = _perturb(small_model(n_layers=3, mem_len=[2, 9, 0]))
    seen = [[] for _ in range(3)]
    hooks = [layer.register_forward_pre_hook(lambda m, args, n=n: seen[n].append(args[0]))
             for n, layer in enumerate(model.layers)]
    memory = None
    for _ in range(2):
        _, memory, _ = model(torch.randint(0, VOCAB, (1, 6)), memory)
    for hook in hooks:
        hook.remove()
    assert memory.lengths == [2, 9, 0]
    for n, keep in enumerate([2, 9, 0]):
        history = torch.cat(seen[n], 1)
        torch.testing.assert_close(memory.layers[n], history[:, history.shape[1] - keep:])


def test_token_by_token_generation_equals_one_forward_pass():
    # With a memory at least as long as the text, feeding one token at a time with the cache
    # must reproduce the logits of a single causal pass.
    model = small_model(mem_len=20)
    tokens = torch.randint(0, VOCAB, (2, 12))
    whole, _, _ = model(tokens)
    memory, steps = None, []
    for t in range(12):
        logits, memory, _ = model(tokens[:, t:t + 1], memory)
        steps.append(logits)
    torch.testing.assert_close(torch.cat(steps, 1), whole, atol=1e-5, rtol=1e-4)
    sample = model.generate(tokens[:, :3], 5, segment_len=3)
    assert sample.shape == (2, 5) and sample.max() < VOCAB


def test_clamp_len_shares_encodings_beyond_it():
    model = small_model(clamp_len=3)
    table = model.relative_table(8, 'cpu')  # distances 7 ... 0
    for row in range(0, 4):                 # distances 7, 6, 5, 4 all read distance 3's row
        torch.testing.assert_close(table[row], table[4])
    assert not torch.allclose(table[4], table[5])


def test_clamp_len_of_zero_or_less_means_no_clamp():
    # The authors' convention (their default is clamp_len=-1): only a positive value clamps.
    # A literal clamp at 0 would give every distance one encoding and erase position.
    reference = small_model()
    tokens = torch.randint(0, VOCAB, (2, 5))
    for clamp in (0, -1):
        model = small_model(clamp_len=clamp)
        model.load_state_dict(reference.state_dict())
        assert model.clamp_len is None
        torch.testing.assert_close(model.relative_table(9, 'cpu'), reference.relative_table(9, 'cpu'))
        torch.testing.assert_close(model(tokens)[0], reference(tokens)[0])
    # And a positive clamp still changes what a long context reads.
    clamped = small_model(clamp_len=1)
    clamped.load_state_dict(reference.state_dict())
    _, memory, _ = reference(tokens)
    assert not torch.allclose(clamped(tokens, memory)[0], reference(tokens, memory)[0])


# ## The whole model against a slow reference
#
# A Transformer-XL written from the paper's equations with its own loops over heads, queries
# and keys, its own sinusoid table (from `math`, not `positional.py`), its own layer norm,
# GELU, mask and memory bookkeeping. It borrows only the weights. Every learned bias, gain and
# $u$, $v$ is first moved off its initial value, so terms (c) and (d), the norms' gains and
# the choice of $(u, v)$ per layer all matter to the result.

def _perturb(model, scale=0.5):
    # Every parameter gets noise, so nothing sits at an initial value that would hide a
    # wrong wiring (u = v = 0 makes terms (c) and (d) vanish; unit gains hide a missing norm).
    gen = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen))
    return model


def _table(distance, d):
    # PE(p, k) = sin(p / 10000^(2k/d)) for the first d/2 channels, cos for the rest.
    row = [math.sin(distance / 10000 ** (2 * k / d)) for k in range(d // 2)]
    return torch.tensor(row + [math.cos(distance / 10000 ** (2 * k / d)) for k in range(d // 2)])


def _layer_norm(x, norm):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias


def _gelu(x):
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def slow_xl(model, tokens, memories, clamp=None, activation='gelu', weights_out=None):
    # One batch row at a time; `memories[n]` is layer n's memory `[M_n, D]` for that row.
    # With `weights_out` (a list), each layer's attention weights `[H, L, M_n + L]` go there.
    d, heads = model.d_model, model.layers[0].attention.heads
    d_k = d // heads
    pre = model.layers[0].attention_residual.pre
    x = model.embed.embed.weight[tokens] * math.sqrt(d)            # [L, D]
    L = x.shape[0]
    inputs = []
    for n, layer in enumerate(model.layers):
        attn = layer.attention
        inputs.append(x)
        u = model.u[n if len(model.u) > 1 else 0]
        v = model.v[n if len(model.v) > 1 else 0]
        context = torch.cat([memories[n], x])                      # [M + L, D]
        M = memories[n].shape[0]
        read = _layer_norm(context, layer.attention_residual.norm) if pre else context
        q = read[M:] @ attn.query.linear.weight.T
        k = read @ attn.key.linear.weight.T
        val = read @ attn.value.linear.weight.T
        heads_out = []
        layer_weights = torch.zeros(heads, L, M + L)
        for h in range(heads):
            cols = slice(h * d_k, (h + 1) * d_k)
            out = torch.zeros(L, d_k)
            for i in range(L):
                scores = []
                for j in range(M + i + 1):                        # causal: j <= M + i
                    dist = M + i - j
                    if clamp is not None:
                        dist = min(dist, clamp)
                    r = (_table(dist, d) @ attn.key_pos.linear.weight.T)[cols]
                    a = q[i, cols] @ k[j, cols]                    # (a) content-content
                    b = q[i, cols] @ r                             # (b) content-position
                    c = u[h] @ k[j, cols]                          # (c) global content bias
                    e = v[h] @ r                                   # (d) global position bias
                    scores.append((a + b + c + e) / math.sqrt(d_k))
                w = torch.stack(scores).softmax(0)
                layer_weights[h, i, :M + i + 1] = w
                out[i] = sum(w[j] * val[j, cols] for j in range(M + i + 1))
            heads_out.append(out)
        if weights_out is not None:
            weights_out.append(layer_weights)
        attended = torch.cat(heads_out, -1) @ attn.output.weight.T
        if pre:
            x = x + attended
            y = _layer_norm(x, layer.feed_forward_residual.norm)
        else:
            x = _layer_norm(x + attended, layer.attention_residual.norm)
            y = x
        ff = layer.feed_forward
        hidden = y @ ff.expand.weight.T + ff.expand.bias
        hidden = _gelu(hidden) if activation == 'gelu' else hidden.clamp(min=0)
        f = hidden @ ff.contract.weight.T + ff.contract.bias
        x = x + f if pre else _layer_norm(x + f, layer.feed_forward_residual.norm)
    if pre:
        x = _layer_norm(x, model.head.norm)
    logits = x @ model.head.project.weight.T + model.head.project.bias
    lengths = model.memory_lengths()
    kept = [torch.cat([m, h])[max(0, m.shape[0] + L - keep):] for m, h, keep in
            zip(memories, inputs, lengths)]
    return logits, kept


@pytest.mark.parametrize("norm,tie_uv,impl,mem_len,clamp,activation", [
    ('pre', True, 'sdpa', 3, None, 'gelu'), ('post', False, 'explicit', [3, 1], None, 'relu'),
    ('pre', False, 'sdpa', [1, 4], None, 'relu'), ('post', True, 'sdpa', 2, None, 'gelu'),
    ('pre', True, 'explicit', 4, 2, 'gelu'),
])
def test_model_equals_a_slow_reference_with_every_parameter_moved(norm, tie_uv, impl, mem_len, clamp,
                                                                   activation):
    # Two segments, so the second one reads memories whose content the reference predicts;
    # with per-layer lengths the memory of each layer is checked against its own inputs.
    # Dropout is set but the model is in evaluation mode: nothing may be dropped.
    model = _perturb(small_model(d_model=8, heads=2, norm=norm, tie_uv=tie_uv, attention_impl=impl,
                                 mem_len=mem_len, clamp_len=clamp, activation=activation, dropout=0.3))
    tokens = torch.randint(0, VOCAB, (2, 2, 4))
    memory = None
    slow_memories = [[torch.zeros(0, 8) for _ in model.layers] for _ in range(2)]
    with torch.no_grad():
        for segment in tokens:
            weights = model.attention_weights(segment, memory)
            logits, memory, losses = model(segment, memory)
            assert losses == {}
            for b in range(2):
                slow_weights = []
                slow_logits, slow_memories[b] = slow_xl(model, segment[b], slow_memories[b], clamp,
                                                        activation, slow_weights)
                torch.testing.assert_close(logits[b], slow_logits, atol=1e-4, rtol=1e-4)
                for w, slow_w in zip(weights, slow_weights):
                    torch.testing.assert_close(w[b], slow_w, atol=1e-5, rtol=1e-4)
                for n, kept in enumerate(slow_memories[b]):
                    torch.testing.assert_close(memory.layers[n][b], kept, atol=1e-5, rtol=1e-5)
    expected = [mem_len] * 2 if isinstance(mem_len, int) else mem_len
    assert memory.lengths == expected


def test_tied_and_untied_biases():
    assert small_model(tie_uv=True).u.shape[0] == 1
    assert small_model(tie_uv=False, n_layers=3).u.shape[0] == 3
    # An untied model whose layers all hold the tied pair is the tied model; give one layer a
    # different pair and only then does the output change, so each layer reads its own pair.
    tied = _perturb(small_model(tie_uv=True))
    untied = small_model(tie_uv=False)
    state = {k: v for k, v in tied.state_dict().items() if k not in ('u', 'v')}
    untied.load_state_dict(state, strict=False)
    with torch.no_grad():
        untied.u.copy_(tied.u.expand_as(untied.u))
        untied.v.copy_(tied.v.expand_as(untied.v))
    tokens = torch.randint(0, VOCAB, (2, 5))
    _, memory, _ = tied(tokens)
    torch.testing.assert_close(untied(tokens, memory)[0], tied(tokens, memory)[0])
    for name in ('u', 'v'):
        for layer in range(2):
            changed = small_model(tie_uv=False)
            changed.load_state_dict(untied.state_dict())
            with torch.no_grad():
                getattr(changed, name)[layer] += 1.0
            assert not torch.allclose(changed(tokens, memory)[0], tied(tokens, memory)[0])


@pytest.mark.parametrize("kwargs,message", [
    (dict(heads=3), r"heads=3 does not divide d_model=16"),
    (dict(mem_len=-1), r"mem_len must hold non-negative integers, got -1"),
    (dict(mem_len=[4, 4, 4]), r"mem_len lists 3 lengths for 2 layers"),
    (dict(eval_mem_len=-2), r"eval_mem_len must hold non-negative integers"),
    (dict(clamp_len=1.5), r"clamp_len must be an integer or None, got 1.5"),
    (dict(norm='sandwich'), r"unknown norm placement 'sandwich'"),
    (dict(attention_impl='flash'), r"unknown attention_impl 'flash'"),
])
def test_bad_configurations_fail_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        small_model(**kwargs)


def test_bad_tokens_fail_clearly():
    model = small_model()
    with pytest.raises(ValueError, match=r"shape \[batch, seq\].*\(5,\)"):
        model(torch.zeros(5, dtype=torch.long))
    with pytest.raises(TypeError, match="dtype torch.float32"):
        model(torch.zeros(1, 5))
    with pytest.raises(ValueError, match=r"\[0, 11\).*from 0 to 11"):
        model(torch.tensor([[0, 11]]))
    _, memory, _ = model(torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="does not fit a batch of 1"):
        model(torch.zeros(1, 3, dtype=torch.long), memory)


def test_the_documented_defaults_and_the_papers_bias_free_projections():
    model = TransformerXL(VOCAB)
    assert (model.d_model, model.n_layers, model.mem_len, model.eval_mem_len, model.clamp_len) == \
        (128, 4, [64] * 4, [64] * 4, None)
    layer = model.layers[0]
    assert layer.attention.heads == 4 and layer.feed_forward.expand.out_features == 512
    assert layer.attention_residual.pre and isinstance(layer.feed_forward.activation, torch.nn.GELU)
    assert model.u.shape[0] == 1 and layer.attention.impl == 'sdpa'
    # Every dropout in the model runs at the one rate given.
    assert {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)} == {0.1}
    assert {m.p for m in small_model(dropout=0.25).modules() if isinstance(m, torch.nn.Dropout)} == {0.25}
    # The attention sub-layer alone defaults to no dropout and the fused path.
    from labml_memory.transformer_xl import RelativeMultiHeadAttention
    alone = RelativeMultiHeadAttention(16, 2)
    assert alone.dropout.p == 0.0 and alone.impl == 'sdpa'
    # The official code has no biases on W_q, W_k,E, W_v, W_k,R or W_o.
    attn = layer.attention
    assert all(p.linear.bias is None for p in (attn.query, attn.key, attn.value, attn.key_pos))
    assert attn.output.bias is None


@pytest.mark.parametrize("impl", ['sdpa', 'explicit'])
def test_attention_dropout_acts_in_training_only(impl):
    # Only the attention weights are dropped here (every other dropout is off), so a change
    # between training and evaluation can only come from them.
    model = _perturb(small_model(attention_impl=impl))
    for layer in model.layers:
        layer.attention.dropout.p = 0.5
    tokens = torch.randint(0, VOCAB, (2, 6))
    evaluated = model(tokens)[0]
    torch.testing.assert_close(model(tokens)[0], evaluated)
    model.train()
    assert not torch.allclose(model(tokens)[0], evaluated, atol=1e-4)


def test_a_memory_with_the_wrong_number_of_layers_is_refused_by_name():
    model = small_model()
    with pytest.raises(ValueError, match=r"expected an XLMemory with 2 layers"):
        model(torch.zeros(1, 3, dtype=torch.long), XLMemory([torch.zeros(1, 2, 16)]))


@pytest.mark.parametrize("norm,mem_len,impl", [('pre', [5, 0], 'sdpa'), ('post', 3, 'explicit'),
                                               ('pre', [2, 6], 'explicit')])
def test_generation_with_the_key_value_cache_equals_the_slow_reference(norm, mem_len, impl):
    # One token at a time without gradients, the path generation takes: every call after the
    # first reads the memory's keys and values from the cache. The slow reference recomputes
    # every key from the memory's rows, with loops of its own.
    model = _perturb(small_model(d_model=8, heads=2, norm=norm, mem_len=mem_len, attention_impl=impl))
    tokens = torch.randint(0, VOCAB, (2, 9))
    memory = None
    slow_memories = [[torch.zeros(0, 8) for _ in model.layers] for _ in range(2)]
    with torch.no_grad():
        # A first segment of three, then single tokens: the cache is made by a segment and
        # then extended and cut one row at a time, past the point where the memories are full.
        for start, end in [(0, 3)] + [(t, t + 1) for t in range(3, 9)]:
            logits, memory, _ = model(tokens[:, start:end], memory)
            assert memory.kv_cache is not None
            for b in range(2):
                slow_logits, slow_memories[b] = slow_xl(model, tokens[b, start:end], slow_memories[b],
                                                        None, 'gelu', [])
                torch.testing.assert_close(logits[b], slow_logits, atol=1e-4, rtol=1e-4)
            # The cache holds exactly the memory's rows, projected by each layer's W_k and W_v.
            for n, layer in enumerate(model.layers):
                rows = layer.attention_residual.prepare(memory.layers[n])
                torch.testing.assert_close(memory.kv_cache.keys[n], layer.attention.key(rows), atol=1e-5, rtol=1e-5)
                torch.testing.assert_close(memory.kv_cache.values[n], layer.attention.value(rows),
                                           atol=1e-5, rtol=1e-5)


def test_a_cache_made_by_other_weights_is_not_used():
    # A training step (here: W_k and a layer norm changed in place) between two calls makes the
    # carried cache stale: the next call must read the memory's rows afresh, as a memory
    # without a cache is read, and never the old keys. W_q is in no cache of keys, but the
    # stacked [W_q; W_k; W_v] of generation is made from it, so a changed W_q must be read too,
    # at the call after the change and the one after that (which reads a cache made since).
    model = _perturb(small_model(d_model=8, heads=2))
    tokens = torch.randint(0, VOCAB, (2, 8))
    # Each weight that maps memory rows to keys or values, changed alone.
    for change in (lambda: model.layers[0].attention.key.linear.weight.add_(0.5),
                   lambda: model.layers[1].attention.value.linear.weight.mul_(1.5),
                   lambda: model.layers[1].attention_residual.norm.bias.sub_(0.3),
                   lambda: model.layers[0].attention_residual.norm.weight.mul_(0.7),
                   lambda: model.layers[1].attention.query.linear.weight.mul_(-1.2)):
        with torch.no_grad():
            _, memory, _ = model(tokens[:, :5], None)
            _, memory, _ = model(tokens[:, 5:6], memory)
            assert memory.kv_cache is not None
            change()
            for t in (6, 7):
                fresh, _, _ = model(tokens[:, t:t + 1], XLMemory(list(memory.layers)))
                cached, memory, _ = model(tokens[:, t:t + 1], memory)
                torch.testing.assert_close(cached, fresh, atol=1e-6, rtol=1e-6)
    # In training, or with gradients on, no cache is made: the memory is the paper's state alone.
    model.train()
    _, memory, _ = model(tokens[:, :6], None)
    assert getattr(memory, 'kv_cache', None) is None
    assert memory.nbytes() == sum(m.numel() * 4 for m in memory.layers)
