"""The shared blocks, each checked against its formula written out the slow way."""
import importlib
import math

import pytest
import torch

from labml_memory.attention import (HeadProjection, MultiHeadAttention, attention, attention_with_weights,
                                    causal_mask, check_heads)
from labml_memory.feed_forward import FeedForward
from labml_memory.positional import sinusoid_table
from labml_memory.residual import Residual


def test_sinusoid_table_matches_formula():
    d = 8
    table = sinusoid_table(torch.tensor([0.0, 3.0, 17.0]), d)
    for row, p in enumerate([0.0, 3.0, 17.0]):
        for k in range(d // 2):
            angle = p / 10000 ** (2 * k / d)
            assert table[row, k].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert table[row, d // 2 + k].item() == pytest.approx(math.cos(angle), abs=1e-6)


def test_sinusoid_table_rejects_odd_width():
    with pytest.raises(ValueError, match="d_model=7"):
        sinusoid_table(torch.arange(3), 7)


def test_causal_mask_against_loops():
    mask = causal_mask(3, 7)
    for i in range(3):
        for j in range(7):
            assert mask[i, j].item() == (j <= 4 + i)


def test_heads_must_divide_width():
    with pytest.raises(ValueError, match=r"heads=5 does not divide d_model=12.*\[1, 2, 3, 4, 6, 12\]"):
        check_heads(12, 5)


@pytest.mark.parametrize("with_bias", [False, True])
def test_fused_attention_equals_explicit_softmax(with_bias):
    q, k, v = torch.randn(2, 3, 4, 8), torch.randn(2, 3, 6, 8), torch.randn(2, 3, 6, 8)
    bias = torch.randn(2, 3, 4, 6) if with_bias else None
    mask = causal_mask(4, 6)
    fast = attention(q, k, v, bias=bias, mask=mask)
    # The definition, one query at a time.
    slow = torch.zeros_like(fast)
    for i in range(4):
        s = (q[:, :, i:i + 1] @ k.transpose(-2, -1)) / math.sqrt(8)
        if bias is not None:
            s = s + bias[:, :, i:i + 1]
        s[..., ~mask[i]] = float('-inf')
        slow[:, :, i] = (s.softmax(-1) @ v)[:, :, 0]
    out, weights = attention_with_weights(q, k, v, bias=bias, mask=mask)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out, slow, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 4))


def test_detached_projection_keeps_the_parameters_trainable():
    proj = HeadProjection(8, 2, 4)
    x = torch.randn(1, 3, 8, requires_grad=True)
    proj(x, detached=True).sum().backward()
    assert x.grad is not None  # the gradient still reaches the input
    assert proj.linear.weight.grad is None  # the copy carried no gradient
    assert proj.linear.weight.requires_grad  # and the parameter itself was not switched off
    proj(x).sum().backward()
    assert proj.linear.weight.grad is not None


def test_multi_head_attention_shapes():
    mha = MultiHeadAttention(16, 4)
    out = mha(torch.randn(2, 5, 16), torch.randn(2, 9, 16), mask=causal_mask(5, 9))
    assert out.shape == (2, 5, 16)


def test_residual_placements_follow_their_formulas():
    x = torch.randn(2, 3, 8)
    f = torch.nn.Linear(8, 8)
    pre, post = Residual(8, 'pre'), Residual(8, 'post')
    torch.testing.assert_close(pre(x, f), x + f(torch.nn.functional.layer_norm(x, (8,))))
    torch.testing.assert_close(post(x, f), torch.nn.functional.layer_norm(x + f(x), (8,)))
    with pytest.raises(ValueError, match="'middle'.*pre.*post"):
        Residual(8, 'middle')


def test_feed_forward():
    ff = FeedForward(8, 32, activation='relu')
    x = torch.randn(2, 3, 8)
    torch.testing.assert_close(ff(x), ff.contract(torch.relu(ff.expand(x))))
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        FeedForward(8, 32, activation='swish')


# Every model, and the positions it uses: a sinusoid table of relative positions (needs an even
# model width) or a rotary encoding (needs an even head width). The Memorizing Transformer
# searches in PyTorch here, so the test does not need faiss.
EVERY_STACK = [('transformer_xl', 'TransformerXL', {}, 'sinusoid'),
               ('compressive', 'CompressiveTransformer', {}, 'sinusoid'),
               ('infinity_former', 'InfinityFormer', {}, 'sinusoid'),
               ('memorizing_transformer', 'MemorizingTransformer', {'index': 'torch'}, 'sinusoid'),
               ('infini_attention', 'InfiniTransformer', {}, 'rotary'),
               ('recurrent_memory', 'RecurrentMemoryTransformer', {}, 'rotary')]


@pytest.mark.parametrize('module, name, extra, positions', EVERY_STACK)
def test_every_stack_rejects_the_same_bad_settings(module, name, extra, positions):
    # One shared check (protocol.check_stack), so every model fails alike, with one line that
    # names the bad value and, where there is a short list, what would be valid.
    model_class = getattr(importlib.import_module(f'labml_memory.{module}'), name)

    def build(**kwargs):
        return model_class(11, **extra, **kwargs)

    bad = [(dict(d_model=16, heads=3), r"^heads=3 does not divide d_model=16; valid head counts "
                                       r"for this width: \[1, 2, 4, 8, 16\]$"),
           (dict(d_model=0, heads=1), r"^d_model must be positive, got 0$"),
           (dict(d_model=16, heads=2, n_layers=0), r"^n_layers must be a positive integer, got 0$"),
           (dict(d_model=16, heads=2, d_ff=0), r"^d_ff must be positive, got 0$"),
           (dict(d_model=16, heads=2, dropout=1.0), r"^dropout must lie in \[0, 1\), got 1.0$"),
           (dict(d_model=16, heads=2, dropout=-0.1), r"^dropout must lie in \[0, 1\), got -0.1$"),
           (dict(d_model=16, heads=2, norm='sandwich'),
            r"^unknown norm placement 'sandwich'; valid: \['pre', 'post'\]$"),
           (dict(d_model=16, heads=2, activation='swish'),
            r"^unknown activation 'swish'; valid: \['gelu', 'relu'\]$")]
    if positions == 'sinusoid':
        # An odd width that the heads still divide: only the sinusoid table objects.
        bad.append((dict(d_model=15, heads=3), r"^d_model must be even for the sinusoid table, got 15$"))
        # An odd head width is fine for a table over the whole model width.
        build(d_model=12, heads=4, n_layers=2)
    else:
        # An even width with odd heads: only the rotary encoding objects.
        bad.append((dict(d_model=12, heads=4), r"^the rotary encoding needs an even head width, but "
                                               r"d_model=12 / heads=4 = 3; choose heads so that "
                                               r"d_model / heads is even$"))
        # The narrowest heads a rotation can turn: one pair of coordinates each.
        build(d_model=18, heads=9, n_layers=1)
    for kwargs, message in bad:
        with pytest.raises(ValueError, match=message):
            build(**kwargs)
    # The edges of every range are valid: one layer, one feed-forward unit, no dropout.
    build(d_model=16, heads=2, n_layers=1, d_ff=1, dropout=0.0)


def test_check_stack_returns_the_head_width_and_knows_its_positions():
    from labml_memory.protocol import check_stack
    assert check_stack(24, 3, 2, 8, 0.1) == 8
    assert check_stack(24, 4, 2, 8, 0.1, positions='rotary') == 6
    with pytest.raises(ValueError, match=r"^unknown positions 'alibi'; valid: \['sinusoid', 'rotary'\]$"):
        check_stack(24, 4, 2, 8, 0.1, positions='alibi')


# ## Closing the gaps mutation testing found (tools/mutation.py; tests/MUTATION.md)

def test_positional_rejects_zero_width_and_non_vectors_and_computes_in_the_default_dtype():
    with pytest.raises(ValueError, match=r"even, positive width; got d_model=0"):
        sinusoid_table(torch.arange(3), 0)
    with pytest.raises(ValueError, match=r"positions must be a 1-D tensor, got shape \(2, 3\)"):
        sinusoid_table(torch.zeros(2, 3), 8)
    # Positions of any dtype give a table in the default float dtype.
    assert sinusoid_table(torch.arange(4, dtype=torch.float64), 8).dtype == torch.get_default_dtype()
    torch.testing.assert_close(sinusoid_table(torch.arange(4, dtype=torch.float64), 8),
                               sinusoid_table(torch.arange(4), 8))


def test_residual_defaults_to_pre_ln():
    assert Residual(8).pre and not Residual(8, 'post').pre


def _slow_mha(mha, x, context, mask):
    # Multi-head attention with biases, per batch row, head and query, from the formula.
    heads, d_k = mha.query.heads, mha.query.d_k
    out = torch.zeros_like(x)
    for b in range(x.shape[0]):
        q = x[b] @ mha.query.linear.weight.T + mha.query.linear.bias
        k = context[b] @ mha.key.linear.weight.T + mha.key.linear.bias
        v = context[b] @ mha.value.linear.weight.T + mha.value.linear.bias
        joined = []
        for h in range(heads):
            cols = slice(h * d_k, (h + 1) * d_k)
            rows = []
            for i in range(x.shape[1]):
                seen = [j for j in range(context.shape[1]) if mask is None or mask[i, j]]
                w = torch.stack([q[i, cols] @ k[j, cols] / math.sqrt(d_k) for j in seen]).softmax(0)
                rows.append(sum(w[n] * v[j, cols] for n, j in enumerate(seen)))
            joined.append(torch.stack(rows))
        out[b] = torch.cat(joined, -1) @ mha.output.weight.T + mha.output.bias
    return out


def test_multi_head_attention_against_a_slow_reference_with_biases_and_dropout():
    mha = MultiHeadAttention(8, 2, dropout=0.5)
    assert mha.query.linear.bias is not None and MultiHeadAttention(8, 2).dropout == 0.0
    plain = MultiHeadAttention(8, 2, bias=False)
    assert all(p.linear.bias is None for p in (plain.query, plain.key, plain.value))
    with torch.no_grad():
        for p in mha.parameters():
            p.add_(0.3 * torch.randn_like(p))
    x, context = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    mha.eval()
    torch.testing.assert_close(mha(x, context, causal_mask(3, 5)), _slow_mha(mha, x, context, causal_mask(3, 5)),
                               atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(mha(x), _slow_mha(mha, x, x, None), atol=1e-5, rtol=1e-4)
    # Dropout acts in training only.
    torch.testing.assert_close(mha(x, context), mha(x, context))
    mha.train()
    assert not torch.allclose(mha(x, context), _slow_mha(mha, x, context, None), atol=1e-3)


def test_head_projection_bias_detached_copies_and_unbatched_inputs():
    projection = HeadProjection(8, 2, 4)
    assert projection.linear.bias is not None
    with torch.no_grad():
        projection.linear.bias.add_(1.0)
    x = torch.randn(3, 5, 8, requires_grad=True)
    torch.testing.assert_close(projection(x, detached=True), projection(x))
    projection(x, detached=True).sum().backward()
    assert projection.linear.bias.grad is None and projection.linear.weight.grad is None
    assert x.grad is not None
    # Without a bias the detached path works too.
    plain = HeadProjection(8, 2, 4, bias=False)
    torch.testing.assert_close(plain(x, detached=True), plain(x))
    x = x.detach()
    # One sequence without a batch dimension: `[L, D]` -> `[H, L, d_k]`, and back.
    from labml_memory.attention import merge_heads
    single = projection(x[0])
    assert single.shape == (2, 5, 4)
    torch.testing.assert_close(single, projection(x)[0])
    torch.testing.assert_close(merge_heads(single), merge_heads(projection(x))[0])
    assert merge_heads(single).shape == (5, 8)


def test_attention_paths_without_a_batch_with_a_bias_and_no_mask_and_with_dropout():
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 6, 4), torch.randn(2, 6, 4)
    bias = torch.randn(3, 6)
    fused = attention(q, k, v, bias=bias)
    explicit, _ = attention_with_weights(q, k, v, bias=bias)
    torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-4)
    expected = ((q @ k.transpose(-2, -1)) / 2.0 + bias).softmax(-1) @ v
    torch.testing.assert_close(explicit, expected)
    torch.manual_seed(1)
    assert not torch.allclose(attention(q, k, v, bias=bias, dropout=0.5), fused)


def test_mask_and_head_checks_name_the_bad_values():
    with pytest.raises(ValueError, match=r"the context \(3\) must be at least as long as the segment \(5\)"):
        causal_mask(5, 3)
    with pytest.raises(ValueError, match=r"d_model must be positive, got 0"):
        check_heads(0, 1)
    with pytest.raises(ValueError, match=r"heads=0 does not divide d_model=12"):
        check_heads(12, 0)
    assert check_heads(1, 1) == 1
