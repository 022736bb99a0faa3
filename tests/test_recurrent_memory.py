"""The Recurrent Memory Transformer against a reference written from the paper's equations.

The reference below builds its own masks with loops, its own rotary encoding and its own
attention from the model's weight matrices, and it reads k segments as one row of k blocks.
Only the per-position pieces (layer norms, feed-forward, embedding, output head) are the
model's own modules, which the building-block tests cover.
"""
import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from labml_memory.recurrent_memory import MemoryTokens, RecurrentMemoryTransformer, memory_mask
from labml_memory.recurrent_memory.experiment import Config, PRESETS, build_model
from labml_memory.training import train_step
from labml_memory.training.checkpoint import memory_from_dict, memory_to_dict
from labml_memory.training.config import build_config

VOCAB = 13


def small_model(**kw):
    args = dict(d_model=16, heads=2, n_layers=2, d_ff=32, n_mem=3, dropout=0.0)
    args.update(kw)
    model = RecurrentMemoryTransformer(VOCAB, **args)
    # Every layer-norm gain and bias, every linear bias and the initial memory moved off their
    # initial values, so that a norm or a bias wired to the wrong place cannot hide behind
    # the identity it starts as.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if 'norm' in name or name.endswith('bias') or name == 'initial_memory':
                p.add_(0.3 * torch.randn_like(p))
    return model


# ## The reference

def roles(n_mem, seq_len):
    """'r', 's' or 'w' for each position of a row [read, segment, write]."""
    return ['r'] * n_mem + ['s'] * seq_len + ['w'] * n_mem


def reference_mask(n_mem, seq_len, rule):
    # Written from the rule in words: read tokens are seen by everyone, write tokens see
    # everyone, characters are causal among themselves, nobody but a write token sees a
    # write token. Under `causal` it is the plain lower triangle.
    role = roles(n_mem, seq_len)
    total = len(role)
    mask = torch.zeros(total, total, dtype=torch.bool)
    for i in range(total):
        for j in range(total):
            if rule == 'causal':
                mask[i, j] = j <= i
            elif role[i] == 'w':
                mask[i, j] = True
            elif role[j] == 'r':
                mask[i, j] = True
            elif role[i] == 's' and role[j] == 's':
                mask[i, j] = j <= i
    return mask


def block_mask(n_mem, seq_len, rule, blocks):
    # k rows side by side, each under its own mask and blind to the others.
    size = 2 * n_mem + seq_len
    local = reference_mask(n_mem, seq_len, rule)
    mask = torch.zeros(blocks * size, blocks * size, dtype=torch.bool)
    for b in range(blocks):
        for i in range(size):
            for j in range(size):
                mask[b * size + i, b * size + j] = local[i, j]
    return mask


def reference_rotary(x, positions):
    # Channel pair (c, c + d/2) rotated by position * 10000^(-2c/d), one pair at a time.
    d = x.shape[-1]
    out = x.clone()
    for c in range(d // 2):
        angle = positions.float() * (10000.0 ** (-2 * c / d))
        cos, sin = angle.cos(), angle.sin()
        a, b = x[..., c], x[..., c + d // 2]
        out[..., c] = a * cos - b * sin
        out[..., c + d // 2] = a * sin + b * cos
    return out


def reference_attention(att, x, mask, positions, heads):
    batch, length, d_model = x.shape
    d_k = d_model // heads

    def split(w):
        return (x @ w.T).view(batch, length, heads, d_k).transpose(1, 2)
    q = reference_rotary(split(att.query.linear.weight), positions)
    k = reference_rotary(split(att.key.linear.weight), positions)
    v = split(att.value.linear.weight)
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(d_k)
    weights = scores.masked_fill(~mask, float('-inf')).softmax(-1)
    out = (weights @ v).transpose(1, 2).reshape(batch, length, d_model)
    return out @ att.output.weight.T


def reference_stack(model, row, mask, positions, heads):
    # Pre-LN blocks: x + Attn(LN(x)), then x + FFN(LN(x)).
    for layer in model.layers:
        n1, n2 = layer.attention_residual.norm, layer.feed_forward_residual.norm
        x = F.layer_norm(row, (row.shape[-1],), n1.weight, n1.bias)
        row = row + reference_attention(layer.attention, x, mask, positions, heads)
        x = F.layer_norm(row, (row.shape[-1],), n2.weight, n2.bias)
        row = row + layer.feed_forward(x)
    return row


def reference_loss(model, segments, heads, rule='memory', sweeps=None):
    r"""
    The mean cross-entropy over k segments, computed as one pass over the concatenated row
    [r_1 s_1 w_1 | r_2 s_2 w_2 | ...] under the block mask. The memory placed in block s + 1
    must be what block s wrote, so the pass is repeated k times, each time feeding every block
    the previous pass's writes: after pass p the first p blocks are exact, and the graph of
    the last pass runs back through all the writes, as back-propagation through time does.
    """
    inputs, targets = zip(*segments)
    k, (batch, seq_len), m = len(segments), inputs[0].shape, model.n_mem
    size = 2 * m + seq_len
    mask = block_mask(m, seq_len, rule, k)
    positions = torch.arange(size).repeat(k)
    embedded = [model.embed(t) for t in inputs]
    initial = model.initial_memory[None].expand(batch, -1, -1)
    memories = [initial] * k
    norm = model.memory_norm
    for _ in range(k if sweeps is None else sweeps):
        row = torch.cat([torch.cat([mem, h, mem], 1) for mem, h in zip(memories, embedded)], 1)
        out = reference_stack(model, row, mask, positions, heads).view(batch, k, size, -1)
        writes = [F.layer_norm(out[:, b, m + seq_len:], (out.shape[-1],), norm.weight, norm.bias)
                  for b in range(k)]
        memories = [initial] + writes[:-1]
    logits = [model.head(out[:, b, m:m + seq_len]) for b in range(k)]
    losses = [F.cross_entropy(lg.flatten(0, 1), t.flatten()) for lg, t in zip(logits, targets)]
    return sum(losses) / k, writes[-1], logits


class FixedStreams:
    """Stands in for the trainer's streams: segment t is the t-th of a fixed list."""

    def __init__(self, segments):
        self.segments = segments

    def segment(self, index):
        inputs, targets = self.segments[index]
        return inputs, targets, False


def random_segments(k, batch=2, seq_len=5):
    text = torch.randint(0, VOCAB, (batch, k * seq_len + 1))
    return [(text[:, s * seq_len:(s + 1) * seq_len], text[:, s * seq_len + 1:(s + 1) * seq_len + 1])
            for s in range(k)]


# ## The unrolled trainer equals the reference

@pytest.mark.parametrize("rule", ['memory', 'causal'])
def test_unroll_k_matches_one_pass_over_the_concatenated_segments(rule):
    k = 3
    model = small_model(mask=rule)
    segments = random_segments(k)
    expected_loss, expected_memory, _ = reference_loss(model, segments, heads=2, rule=rule)
    params = [p for p in model.parameters()]
    expected_grads = torch.autograd.grad(expected_loss, params)
    # The trainer's own step with unroll=k; lr=0 keeps the weights, clipping is off so that
    # the gradients are left as back-propagation made them.
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    config = SimpleNamespace(unroll=k, grad_clip=0.0)
    memory, stats = train_step(model, model, optimizer, FixedStreams(segments), None, 0, config,
                               torch.device('cpu'))
    assert stats['lm'] == pytest.approx(expected_loss.item(), abs=1e-5)
    torch.testing.assert_close(memory.tokens, expected_memory, atol=1e-5, rtol=1e-4)
    for (name, p), g in zip(model.named_parameters(), expected_grads):
        torch.testing.assert_close(p.grad, g, atol=1e-5, rtol=1e-4, msg=f"gradient of {name}")
    # The gradient reached the write path of the first segment through two memories: the
    # initial memory is only ever seen by segment 1, so its gradient includes that path.
    assert model.initial_memory.grad.abs().sum() > 0
    # The trainer hands the memory on detached, so no graph crosses steps.
    assert memory.tokens.grad_fn is None


def test_the_reference_depends_on_the_memory_it_carries():
    # A check on the check: with one pass instead of k, blocks 2 and 3 read the initial memory
    # instead of what was written, and their logits move, so the equality above is not the
    # trivial one of a model that ignores its memory. Block 1 reads the same either way.
    model, segments = small_model(), random_segments(3)
    with torch.no_grad():
        _, _, exact = reference_loss(model, segments, heads=2)
        _, _, one_pass = reference_loss(model, segments, heads=2, sweeps=1)
    assert torch.equal(exact[0], one_pass[0])
    for b in (1, 2):
        assert (exact[b] - one_pass[b]).abs().amax() > 1e-4


def test_memory_written_at_s_is_exactly_what_is_read_at_s_plus_1():
    model = small_model().eval()
    m = model.n_mem
    rows, tops = [], []
    model.layers[0].register_forward_hook(lambda mod, args, out: rows.append(args[0].detach()))
    model.layers[-1].register_forward_hook(lambda mod, args, out: tops.append(out.detach()))
    memory, written = None, []
    for inputs, _ in random_segments(4):
        _, memory, _ = model(inputs, memory)
        written.append(memory.tokens.detach())
    # Segment 0 reads the learned initial memory, on both sides of the segment.
    init = model.initial_memory.detach().expand(2, -1, -1)
    assert torch.equal(rows[0][:, :m], init) and torch.equal(rows[0][:, -m:], init)
    for s in range(3):
        # The same tensor values, bit for bit, in front of and behind segment s + 1.
        assert torch.equal(rows[s + 1][:, :m], written[s])
        assert torch.equal(rows[s + 1][:, -m:], written[s])
        # ... and what was written is the top layer at the *write* positions, normalised.
        norm = model.memory_norm
        torch.testing.assert_close(written[s], F.layer_norm(tops[s][:, -m:], (16,), norm.weight, norm.bias))
        assert not torch.allclose(written[s], F.layer_norm(tops[s][:, :m], (16,), norm.weight, norm.bias))


# ## The mask, by perturbation

@pytest.mark.parametrize("rule", ['memory', 'causal'])
def test_one_layer_sees_exactly_what_the_mask_rule_allows(rule):
    # With one layer, output i moves when input j moves exactly when i may attend to j.
    model = small_model(n_layers=1, mask=rule).eval()
    m, n = model.n_mem, 4
    size = 2 * m + n
    row = torch.randn(1, size, 16)
    with torch.no_grad():
        base = model.transform(row, n)
        seen = torch.zeros(size, size, dtype=torch.bool)
        for j in range(size):
            moved = row.clone()
            moved[0, j] += torch.randn(16)
            seen[:, j] = (model.transform(moved, n) - base).abs().amax(-1)[0] > 1e-6
    assert torch.equal(seen, reference_mask(m, n, rule))
    assert torch.equal(memory_mask(m, n, rule), reference_mask(m, n, rule))


def test_the_two_rules_differ_only_inside_the_memory_blocks():
    m, n = 3, 4
    differ = reference_mask(m, n, 'memory') != reference_mask(m, n, 'causal')
    role = roles(m, n)
    for i, j in differ.nonzero().tolist():
        assert role[i] == role[j] and role[i] in 'rw'
    assert differ.any()


def test_characters_see_every_read_token_and_nothing_after_themselves():
    model = small_model().eval()
    tokens = torch.randint(0, VOCAB, (2, 6))
    with torch.no_grad():
        logits, memory, _ = model(tokens)
        # A later character changes no earlier logit, but it does change what is written:
        # the write block sees the whole segment.
        for j in range(1, 6):
            moved = tokens.clone()
            moved[:, j] = (moved[:, j] + 1) % VOCAB
            other, other_memory, _ = model(moved)
            assert torch.equal(other[:, :j], logits[:, :j])
            assert (other[:, j:] - logits[:, j:]).abs().amax() > 1e-5
            assert (other_memory.tokens - memory.tokens).abs().amax() > 1e-5
        # A change in the memory reaches every character, the first one included.
        shifted = MemoryTokens(memory.tokens + torch.randn_like(memory.tokens))
        a, _, _ = model(tokens, memory)
        b, _, _ = model(tokens, shifted)
        assert ((a - b).abs().amax(-1) > 1e-5).all()


def test_gradients_stop_inside_the_model_only_when_asked():
    tokens = torch.randint(0, VOCAB, (2, 5))
    _, kept, _ = small_model()(tokens)
    _, cut, _ = small_model(memory_grad=False)(tokens)
    assert kept.tokens.grad_fn is not None
    assert cut.tokens.grad_fn is None


# ## Generation keeps the training rhythm

def test_generation_advances_the_memory_once_per_full_segment():
    model = small_model().eval()
    with torch.no_grad():
        # Sharper outputs, so that a wrong context shows in the draws.
        model.head.project.weight.mul_(8.0)
    prompt = torch.randint(0, VOCAB, (2, 7))
    n, length = 4, 10
    out = model.generate(prompt, length, segment_len=n, generator=torch.Generator().manual_seed(3))
    # The same draws, from the same generator, with each distribution computed by reading the
    # text so far in segments of n: whole segments pass their memory on, the unfinished last
    # one is read from the memory before it.
    generator = torch.Generator().manual_seed(3)
    text = prompt
    with torch.no_grad():
        for i in range(length):
            memory, logits = None, None
            for start in range(0, text.shape[1], n):
                logits, new_memory, _ = model(text[:, start:start + n], memory)
                if text[:, start:start + n].shape[1] == n:
                    memory = new_memory
            nxt = torch.multinomial(logits[:, -1].softmax(-1), 1, generator=generator)
            text = torch.cat([text, nxt], 1)
    assert torch.equal(out, text[:, prompt.shape[1]:])


# ## The state

def test_the_state_reports_its_bytes_and_keeps_its_size():
    model = small_model(n_mem=5).eval()
    memory = None
    with torch.no_grad():
        for s in range(30):
            _, memory, _ = model(torch.randint(0, VOCAB, (3, 4)), memory)
            if s == 0:
                first = memory.nbytes()
    assert first == memory.nbytes() == 3 * 5 * 16 * 4
    assert memory.select(torch.tensor([0, 2])).nbytes() == 2 * 5 * 16 * 4
    assert memory.detach().tokens.grad_fn is None
    restored = memory_from_dict(memory_to_dict(memory), 'cpu')
    assert isinstance(restored, MemoryTokens) and torch.equal(restored.tokens, memory.tokens)


# ## Bad settings fail clearly

@pytest.mark.parametrize("kwargs, message", [
    (dict(n_mem=0), "n_mem must be a positive integer, got 0"),
    (dict(n_mem=-2), "n_mem must be a positive integer, got -2"),
    (dict(n_mem=2.5), "n_mem must be a positive integer, got 2.5"),
    (dict(mask='bidirectional'), r"unknown mask rule 'bidirectional'; valid: \['memory', 'causal'\]"),
    (dict(d_model=12, heads=4), "even head width"),
    (dict(heads=3), "heads=3 does not divide d_model=16"),
    (dict(norm='sandwich'), "unknown norm placement"),
])
def test_bad_settings_fail_naming_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        small_model(**kwargs)


def test_bad_memory_and_tokens_fail_naming_the_shape():
    model = small_model()
    tokens = torch.randint(0, VOCAB, (2, 5))
    with pytest.raises(ValueError, match=r"shape \(2, 4, 16\) do not fit \[batch, n_mem, d_model\] = \(2, 3, 16\)"):
        model(tokens, MemoryTokens(torch.zeros(2, 4, 16)))
    with pytest.raises(ValueError, match=r"= \(2, 3, 16\)"):
        model(tokens, MemoryTokens(torch.zeros(3, 3, 16)))
    with pytest.raises(ValueError, match="expected MemoryTokens, got Tensor"):
        model(tokens, torch.zeros(2, 3, 16))
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 13\)"):
        model(tokens + VOCAB)
    with pytest.raises(ValueError, match=r"got shape \(5,\)"):
        model(tokens[0])


def test_experiment_config_and_builder():
    config = build_config(Config, PRESETS, {'n_mem': '4', 'mask': 'causal', 'd_model': '32', 'heads': '2'})
    model = build_model(config, 65)
    assert model.n_mem == 4 and model.mask_rule == 'causal' and config.unroll == 2
    assert build_config(Config, PRESETS, {'preset': 'gpu'}).n_mem == 16
    with pytest.raises(ValueError, match="n_mem must be positive, got 0"):
        build_config(Config, PRESETS, {'n_mem': '0'})
    with pytest.raises(ValueError, match="unroll to 2 or more"):
        build_config(Config, PRESETS, {'unroll': '1'})
    with pytest.raises(ValueError, match="unknown mask 'x'"):
        build_config(Config, PRESETS, {'mask': 'x'})
    build_config(Config, PRESETS, {'unroll': '1', 'memory_grad': 'false'})


def test_trains_through_the_shared_trainer(tmp_path):
    from labml_memory.training import train
    config = build_config(Config, PRESETS, dict(
        d_model=32, heads=2, n_layers=1, d_ff=64, seq_len=16, batch_size=8, steps=30, warmup=5,
        n_mem=4, eval_every=1000, final_eval_segments=2, sample_len=20, checkpoint_every=1000,
        logs_dir=str(tmp_path), threads=1))
    result = train(config, build_model, 'recurrent_memory_test')
    assert result.train_losses[30] < result.train_losses[1] - 0.5
    assert result.memory_bytes == 8 * 4 * 32 * 4
    assert len(result.sample) > 20


def test_help_lists_the_model_keys(capsys):
    from labml_memory.training import main
    with pytest.raises(SystemExit) as info:
        main(Config, PRESETS, build_model, 'recurrent_memory', ['--help'])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert 'n_mem' in out and 'mask' in out and "['cpu', 'gpu']" in out
