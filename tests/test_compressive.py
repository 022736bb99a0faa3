"""Compressive Transformer: Algorithm 1's bookkeeping, every f_c, every loss, and clear errors."""
import math
import time

import pytest
import torch
import torch.nn.functional as F

from labml_memory.compressive import CompressiveMemory, CompressiveTransformer
from labml_memory.compressive.compression import (Conv, Decoder, DilatedConv, MaxPool, MeanPool,
                                                  MostUsed, autoencoding_loss, segment_usage)
from labml_memory.compressive.experiment import PRESETS, Config, build_model
from labml_memory.training import main
from labml_memory.training.config import build_config
from labml_memory.transformer_xl import TransformerXL, XLMemory

VOCAB = 11


def small_model(**kw):
    args = dict(d_model=16, heads=2, n_layers=2, d_ff=32, segment_len=4, mem_len=8,
                compressed_len=4, compression_rate=2, dropout=0.0)
    args.update(kw)
    return CompressiveTransformer(VOCAB, **args).eval()


# ## Algorithm 1 bookkeeping

@pytest.mark.parametrize("seg,mem_len,compressed_len,c",
                         [(4, 8, 5, 2), (6, 9, 4, 3), (4, 6, 3, 2), (4, 5, 7, 2)])
def test_memory_and_compressed_memory_over_many_segments(seg, mem_len, compressed_len, c):
    # Layer 0 reads the embeddings, so its memories can be predicted from the tokens alone.
    # After `seen` tokens, exactly the oldest floor((seen - mem_len) / c) * c have been evicted,
    # in order, and the compressed memory holds the means of their consecutive groups of c
    # (the last compressed_len of them); the memory holds every later token.
    model = small_model(segment_len=seg, mem_len=mem_len, compressed_len=compressed_len,
                        compression_rate=c, compression='mean_pool')
    stream = torch.randint(0, VOCAB, (3, seg * 15))
    embedded = model.embed(stream)
    memory = None
    for s in range(15):
        _, memory, _ = model(stream[:, s * seg:(s + 1) * seg], memory)
        seen = (s + 1) * seg
        evicted = max(0, seen - mem_len) // c * c
        torch.testing.assert_close(memory.memory[0], embedded[:, evicted:seen])
        groups = embedded[:, :evicted].unflatten(1, (evicted // c, c)).mean(2)
        torch.testing.assert_close(memory.compressed[0], groups[:, max(0, evicted // c - compressed_len):])
        assert mem_len <= memory.memory[0].shape[1] < mem_len + c or seen < mem_len
        assert memory.lengths == [memory.lengths[0]] * 2
    assert memory.nbytes() == sum(t.numel() * 4 for t in memory.tensors())


def test_steady_state_compresses_the_oldest_n_s_memories_each_step():
    # With M a multiple of L, every step after the memory fills evicts exactly m_t[:L].
    model = small_model(compression='max_pool', mem_len=8, compressed_len=6)
    _, memory, _ = model(torch.randint(0, VOCAB, (2, 4)))
    _, memory, _ = model(torch.randint(0, VOCAB, (2, 4)), memory)
    for _ in range(5):
        before = memory.memory[1]
        old_compressed = memory.compressed[1]
        _, memory, _ = model(torch.randint(0, VOCAB, (2, 4)), memory)
        expected = before[:, :4].unflatten(1, (2, 2)).amax(2)
        torch.testing.assert_close(memory.compressed[1][:, -2:], expected)
        torch.testing.assert_close(memory.compressed[1][:, :-2], old_compressed[:, -4:])
        torch.testing.assert_close(memory.memory[1][:, :4], before[:, 4:])


def test_without_compressed_memory_it_is_transformer_xl():
    model = small_model(compressed_len=0)
    xl = TransformerXL(VOCAB, d_model=16, heads=2, n_layers=2, d_ff=32, mem_len=8, dropout=0.0).eval()
    missing = xl.load_state_dict(model.state_dict(), strict=False)
    assert not missing.missing_keys
    stream = torch.randint(0, VOCAB, (2, 24))
    memory, xl_memory = None, None
    for s in range(6):
        a, memory, _ = model(stream[:, s * 4:(s + 1) * 4], memory)
        b, xl_memory, _ = xl(stream[:, s * 4:(s + 1) * 4], xl_memory)
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_relative_positions_continue_through_the_compressed_memory():
    # A compressed slot gets the distance of its index in [cm, m, h]: the model must read
    # exactly like Transformer-XL handed the concatenation [cm, m] as its memory.
    model = small_model(compression='conv')
    xl = TransformerXL(VOCAB, d_model=16, heads=2, n_layers=2, d_ff=32, mem_len=100, dropout=0.0).eval()
    xl.load_state_dict(model.state_dict(), strict=False)
    memory = None
    for _ in range(6):
        _, memory, _ = model(torch.randint(0, VOCAB, (2, 4)), memory)
    assert memory.lengths == [(8, 4), (8, 4)]
    tokens = torch.randint(0, VOCAB, (2, 4))
    as_xl = XLMemory([torch.cat([cm, m], 1) for cm, m in zip(memory.compressed, memory.memory)])
    torch.testing.assert_close(model(tokens, memory)[0], xl(tokens, as_xl)[0], atol=1e-5, rtol=1e-4)


def test_one_token_at_a_time_keeps_whole_groups():
    # Generation feeds segments of one token: evictions wait for a whole group of c.
    model = small_model(compression='conv', compression_rate=2, mem_len=5)
    memory = None
    for t in range(20):
        _, memory, _ = model(torch.randint(0, VOCAB, (1, 1)), memory)
        seen = t + 1
        evicted = max(0, seen - 5) // 2 * 2
        assert memory.lengths[0] == (seen - evicted, min(4, evicted // 2))
    assert model.generate(torch.randint(0, VOCAB, (2, 8)), 6, segment_len=4).shape == (2, 6)


# ## The compression functions

def test_pooling_equals_the_manual_computation():
    x = torch.randn(2, 6, 5)
    for c in (1, 2, 3):
        max_out, mean_out = MaxPool(5, c)(x), MeanPool(5, c)(x)
        assert max_out.shape == (2, 6 // c, 5)
        for i in range(6 // c):
            group = [x[:, c * i + k] for k in range(c)]
            torch.testing.assert_close(max_out[:, i], torch.stack(group).max(0).values)
            torch.testing.assert_close(mean_out[:, i], sum(group) / c)


def test_conv_is_one_linear_map_per_group():
    conv = Conv(4, 3)
    x = torch.randn(2, 9, 4)
    out = conv(x)
    assert out.shape == (2, 3, 4)
    weight, bias = conv.conv.weight, conv.conv.bias   # [out, in, c]
    for i in range(3):
        expected = sum(x[:, 3 * i + k] @ weight[:, :, k].T for k in range(3)) + bias
        torch.testing.assert_close(out[:, i], expected, atol=1e-5, rtol=1e-4)


def _receptive_fields(module, length, d=3):
    # Which inputs each output slot depends on, from the Jacobian.
    x = torch.randn(1, length, d)
    jac = torch.autograd.functional.jacobian(lambda t: module(t), x)   # [1, slots, d, 1, length, d]
    reach = jac.abs().sum(dim=(0, 2, 3, 5)) > 0                         # [slots, length]
    return [set(torch.nonzero(row).flatten().tolist()) for row in reach]


@pytest.mark.parametrize("c", [2, 3])
def test_convolution_receptive_fields(c):
    length = 4 * c
    assert _receptive_fields(Conv(3, c), length) == [set(range(c * i, c * i + c)) for i in range(4)]
    dilated = _receptive_fields(DilatedConv(3, c), length)
    assert dilated == [set(range(max(0, c * (i - 1)), c * (i + 1))) for i in range(4)]
    assert DilatedConv(3, c)(torch.randn(2, length, 3)).shape == (2, 4, 3)


def test_most_used_keeps_the_top_usage_slots_in_order():
    x = torch.randn(3, 8, 4)
    usage = torch.rand(3, 8)
    out = MostUsed(4, 2)(x, usage)
    for b in range(3):
        top = sorted(sorted(range(8), key=lambda j: -usage[b, j].item())[:4])
        torch.testing.assert_close(out[b], x[b, top])
    with pytest.raises(ValueError, match="most_used needs a usage score"):
        MostUsed(4, 2)(x)


def test_usage_is_attention_received_per_viewer():
    weights = torch.rand(2, 3, 4, 7).softmax(-1)
    usage = segment_usage(weights)
    for j in range(4):
        expected = weights[:, :, :, 3 + j].sum(dim=(1, 2)) / (3 * (4 - j))
        torch.testing.assert_close(usage[:, j], expected)


def test_most_used_model_compresses_with_the_usage_of_the_producing_step():
    model = small_model(compression='most_used', mem_len=4, n_layers=1)
    tokens = torch.randint(0, VOCAB, (2, 4))
    weights, memory = model.attention_weights(tokens)
    torch.testing.assert_close(memory.usage[0], segment_usage(weights[0]))
    first_inputs, first_usage = memory.memory[0], memory.usage[0]
    _, memory, _ = model(torch.randint(0, VOCAB, (2, 4)), memory)
    torch.testing.assert_close(memory.compressed[0], MostUsed(16, 2)(first_inputs, first_usage))


# ## The compression losses

def _two_segments(model):
    # The second segment evicts the first (M = L = 4), so a compression happens.
    _, memory, _ = model(torch.randint(0, VOCAB, (2, 4)))
    return model(torch.randint(0, VOCAB, (2, 4)), memory)


def test_attention_loss_trains_only_the_compression():
    model = small_model(compression='conv', compression_loss='attention', mem_len=4).train()
    logits, memory, losses = _two_segments(model)
    losses['compression'].backward(retain_graph=True)
    with_grad = {name for name, p in model.named_parameters()
                 if p.grad is not None and p.grad.abs().sum() > 0}
    assert with_grad and all(name.startswith('compress.') for name in with_grad)
    assert {n for n, _ in model.named_parameters() if n.startswith('compress.')} == with_grad
    # The projections the loss used through detached copies still learn from the LM loss.
    model.zero_grad()
    assert all(p.requires_grad for p in model.parameters())
    F.cross_entropy(logits.flatten(0, 1), torch.randint(0, VOCAB, (8,))).backward()
    for layer in model.layers:
        for projection in (layer.attention.query, layer.attention.key, layer.attention.value):
            assert projection.linear.weight.grad is not None
            assert projection.linear.weight.grad.abs().sum() > 0
    # The memory the next segment reads is a stop-gradient.
    assert all(not t.requires_grad for t in memory.tensors())


def test_attention_loss_value_is_algorithm_2():
    model = small_model(compression='conv', compression_loss='attention', mem_len=4, n_layers=1,
                        heads=1).train()
    _, memory, _ = model(torch.randint(0, VOCAB, (1, 4)))
    tokens = torch.randint(0, VOCAB, (1, 4))
    h = model.embed(tokens)
    old = memory.memory[0]
    _, _, losses = model(tokens, memory)
    layer = model.layers[0]
    norm = layer.attention_residual.norm
    wq, wk, wv = (p.linear.weight for p in (layer.attention.query, layer.attention.key,
                                            layer.attention.value))

    def attn(m):
        q, k, v = norm(h) @ wq.T, norm(m) @ wk.T, norm(m) @ wv.T
        return (q @ k.transpose(-2, -1) / math.sqrt(16)).softmax(-1) @ v

    expected = ((attn(old) - attn(model.compress[0](old))) ** 2).mean()
    torch.testing.assert_close(losses['compression'], expected, atol=1e-5, rtol=1e-4)


def test_autoencoding_loss_reaches_zero_where_the_compression_is_invertible():
    # Inputs whose last d - d/c channels are zero carry d numbers per group of c: a
    # convolution can pack them into one slot and the decoder unpack them exactly.
    d, c = 4, 2
    conv, decoder = Conv(d, c), Decoder(d, c)
    with torch.no_grad():
        conv.conv.weight.zero_(), conv.conv.bias.zero_()
        decoder.expand.weight.zero_(), decoder.expand.bias.zero_()
        for k in range(c):
            for j in range(d // c):
                conv.conv.weight[k * (d // c) + j, j, k] = 1.0          # slot channel <- x[k][j]
                decoder.expand.weight[k * (d // c) + j, j, k] = 1.0     # x[k][j] <- slot channel
    x = torch.randn(3, 8, d)
    x[..., d // c:] = 0
    assert autoencoding_loss(decoder, x, conv(x)).item() == pytest.approx(0.0, abs=1e-12)
    # And training from a random start drives it towards zero, through f_c and g.
    conv, decoder = Conv(d, c), Decoder(d, c)
    opt = torch.optim.Adam([*conv.parameters(), *decoder.parameters()], lr=0.03)
    first = autoencoding_loss(decoder, x, conv(x)).item()
    for _ in range(200):
        loss = autoencoding_loss(decoder, x, conv(x))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 1e-3 * first  # from ~0.6 to under 1e-3 of it


def test_autoencoding_loss_trains_compression_and_decoder_only():
    model = small_model(compression='dilated_conv', compression_loss='autoencoding', mem_len=4).train()
    _, _, losses = _two_segments(model)
    losses['compression'].backward()
    # Non-zero gradients (not merely present ones) on every parameter of f_c and g, none elsewhere.
    with_grad = {name for name, p in model.named_parameters()
                 if p.grad is not None and p.grad.abs().sum() > 0}
    expected = {name for name, _ in model.named_parameters() if name.split('.')[0] in ('compress', 'decoders')}
    assert with_grad == expected and expected


@pytest.mark.parametrize("loss,reaches", [('bptt', True), ('attention', False), ('none', False)])
def test_bptt_gradients_reach_the_compression(loss, reaches):
    # Only under BPTT does the language-model loss of a later segment reach f_c.
    model = small_model(compression='conv', compression_loss=loss, mem_len=4).train()
    _, memory, _ = _two_segments(model)
    assert any(t.requires_grad for t in memory.compressed) == reaches
    logits, _, _ = model(torch.randint(0, VOCAB, (2, 4)), memory)
    F.cross_entropy(logits.flatten(0, 1), torch.randint(0, VOCAB, (8,))).backward()
    grads = [p.grad for p in model.compress.parameters()]
    assert all((g is not None and g.abs().sum() > 0) == reaches for g in grads)
    # Evaluation never keeps a graph.
    _, memory, _ = _two_segments(model.eval())
    assert not any(t.requires_grad for t in memory.tensors())


def test_parameter_free_compressions_skip_the_loss():
    for name in ('max_pool', 'mean_pool', 'most_used'):
        model = small_model(compression=name, compression_loss='attention', mem_len=4).train()
        _, memory, losses = _two_segments(model)
        assert losses == {} and model.compression_loss == 'none'
        assert not any(t.requires_grad for t in memory.tensors())


# ## Bad configurations

@pytest.mark.parametrize("kw,message", [
    (dict(segment_len=5, compression_rate=2), r"n_s=5 is not a multiple of compression_rate c=2.*\[1, 5\]"),
    (dict(compression='avg_pool'), r"unknown compression 'avg_pool'; valid: \['max_pool'"),
    (dict(compression_loss='l2'), r"unknown compression_loss 'l2'; valid: \['attention'"),
    (dict(compression_rate=0), r"compression_rate must be an integer >= 1, got 0"),
    (dict(compressed_len=-1), r"compressed_len must be a non-negative integer, got -1"),
    (dict(mem_len=0), r"compressed_len > 0 needs mem_len > 0"),
])
def test_bad_configurations_fail_clearly(kw, message):
    with pytest.raises(ValueError, match=message):
        small_model(**kw)


def test_bad_command_line_fails_before_building(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(Config, PRESETS, build_model, 'compressive', ['seq_len=63'])
    assert exit_info.value.code == 2
    assert "not a multiple of compression_rate" in capsys.readouterr().err


def test_bptt_without_unroll_fails_clearly():
    with pytest.raises(ValueError, match=r"needs unroll >= 2 \(got unroll=1\).*unroll=2 batch_size=16"):
        build_config(Config, PRESETS, {'compression_loss': 'bptt'})
    assert build_config(Config, PRESETS, {'compression_loss': 'bptt', 'unroll': '2'}).unroll == 2


def test_wrong_memory_fails_clearly():
    model = small_model()
    _, memory, _ = model(torch.randint(0, VOCAB, (2, 4)))
    with pytest.raises(ValueError, match="does not fit a batch of 3"):
        model(torch.randint(0, VOCAB, (3, 4)), memory)
    with pytest.raises(ValueError, match="expected a CompressiveMemory with 2 layers"):
        model(torch.randint(0, VOCAB, (2, 4)), XLMemory([memory.memory[0]]))


# ## The experiment, every function and every loss from the command line

TINY = ['d_model=16', 'heads=2', 'n_layers=1', 'd_ff=32', 'mem_len=8', 'compressed_len=4',
        'seq_len=8', 'batch_size=4', 'steps=3', 'warmup=1', 'eval_every=1000', 'eval_segments=2',
        'checkpoint_every=1000', 'sample_len=0', 'log_every=1', 'threads=1', 'final_eval_segments=2']
RUNS = [('conv', 'attention'), ('conv', 'autoencoding'), ('conv', 'bptt'),
        ('dilated_conv', 'attention'), ('dilated_conv', 'autoencoding'), ('dilated_conv', 'bptt'),
        ('max_pool', 'none'), ('mean_pool', 'none'), ('most_used', 'none')]


@pytest.mark.parametrize("compression,loss", RUNS)
def test_experiment_runs(tmp_path, compression, loss, capsys):
    unroll = ['unroll=2'] if loss == 'bptt' else []
    result = main(Config, PRESETS, build_model, 'compressive',
                  TINY + unroll + [f'logs_dir={tmp_path}', f'compression={compression}',
                                   f'compression_loss={loss}'])
    assert result.final_step == 3 and math.isfinite(result.final_valid_loss)
    # labml's file writer runs on a thread: wait for the final validation to be written.
    log, tracked = result.run_path / 'log.jsonl', ''
    for _ in range(200):
        tracked = log.read_text() if log.is_file() else ''
        if 'loss.valid' in tracked:
            break
        time.sleep(0.1)
    assert ('aux.compression' in tracked) == (loss in ('attention', 'autoencoding'))
    assert isinstance(result.memory_bytes, int) and result.memory_bytes > 0


def test_presets_are_valid():
    assert build_config(Config, PRESETS, {'preset': 'gpu'}).seq_len % 4 == 0
    config = build_config(Config, PRESETS, {})
    model = build_model(config, 65)
    assert isinstance(model, CompressiveTransformer) and model.compression_loss == 'attention'
    assert isinstance(CompressiveMemory([], [], []).nbytes(), int)


# ## The attention analysis

def test_bucket_means_against_a_per_key_computation():
    from labml_memory.compressive.analysis import bucket_sums
    compressed_len, mem_len, L = 7, 12, 6
    weights = torch.rand(2, 3, L, compressed_len + mem_len + L)
    sums, counts = bucket_sums(weights, compressed_len, mem_len)
    assert sums.shape == counts.shape == (18,)
    # Per key: weight received, over the (batch, head, query) triples allowed to see it.
    edges = []
    for start, length in ((0, compressed_len), (compressed_len, mem_len), (compressed_len + mem_len, L)):
        keys = list(range(start, start + length))
        size, extra = divmod(length, 6)
        position = 0
        for b in range(6):
            take = size + (1 if b < extra else 0)
            edges.append(keys[position:position + take])
            position += take
    for bucket, keys in enumerate(edges):
        total, allowed = 0.0, 0
        for key in keys:
            for i in range(L):
                if key < compressed_len + mem_len or key - compressed_len - mem_len <= i:
                    total += weights[:, :, i, key].sum().item()
                    allowed += 2 * 3
        assert sums[bucket].item() == pytest.approx(total, rel=1e-5)
        assert counts[bucket].item() == allowed
    with pytest.raises(ValueError, match="expected compressed_len \\+ mem_len \\+ L = 25"):
        bucket_sums(weights[..., 1:], compressed_len, mem_len)


def test_buckets_refuse_a_part_with_fewer_keys_than_buckets():
    # Fewer than six keys would leave a bucket empty and its mean 0 / 0 = NaN.
    from labml_memory.compressive.analysis import bucket_sums
    for compressed_len, mem_len, L, part in (
            (5, 8, 6, r'compressed memory \(compressed_len\) holds 5 keys'),
            (6, 3, 6, r'memory \(mem_len\) holds 3 keys'),
            (6, 6, 4, 'segment L holds 4 keys')):
        weights = torch.rand(1, 1, L, compressed_len + mem_len + L)
        with pytest.raises(ValueError, match=rf"the {part}, fewer than the 6 buckets"):
            bucket_sums(weights, compressed_len, mem_len)


class _Streams:
    # The two members of `SequentialStreams` that `measure` uses, over a fixed tensor.
    def __init__(self, tokens, seq_len):
        self.tokens, self.seq_len = tokens, seq_len

    def __len__(self):
        return self.tokens.shape[1] // self.seq_len

    def segment(self, index):
        # Inputs, then targets that differ from them, so reading the wrong one changes the profile.
        cols = slice(index * self.seq_len, (index + 1) * self.seq_len)
        return self.tokens[:, cols], (self.tokens[:, cols] + 1) % VOCAB, index == 0


@pytest.mark.parametrize("requested", [1, 2, 50])
def test_measure_against_a_per_key_average_and_counts_segments(requested):
    from labml_memory.compressive.analysis import measure
    # L = 6, M = 6, M_c = 6, c = 2: the memory is full after one segment, the compressed
    # memory after two more evictions of 6 -> 3 slots. 8 segments leave 5 measurable ones.
    model = small_model(segment_len=6, mem_len=6, compressed_len=6, compression_rate=2,
                        compression='conv')
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    tokens = torch.randint(0, VOCAB, (2, 8 * 6))
    result, measured = measure(model, _Streams(tokens, 6), requested, torch.device('cpu'))
    # Independently: walk the stream, and for every segment whose memories are full average
    # each key's weight over the (batch, head, query) triples allowed to see it, bucket by bucket.
    memory, total, allowed, count = None, torch.zeros(2, 18), torch.zeros(2, 18), 0
    for s in range(8):
        weights, new_memory = model.attention_weights(tokens[:, s * 6:(s + 1) * 6], memory)
        full = memory is not None and all(m >= 6 and cm == 6 for m, cm in memory.lengths)
        if full and count < requested:
            count += 1
            for n, w in enumerate(weights):
                mem_len = memory.memory[n].shape[1]
                edges = [list(range(start + b * size // 6, start + (b + 1) * size // 6))
                         for start, size in ((0, 6), (6, mem_len), (6 + mem_len, 6)) for b in range(6)]
                for bucket, keys in enumerate(edges):
                    for key in keys:
                        for i in range(6):
                            if key < 6 + mem_len or key - 6 - mem_len <= i:
                                total[n, bucket] += w[:, :, i, key].sum()
                                allowed[n, bucket] += w.shape[0] * w.shape[1]
        memory = new_memory
    assert measured == count == min(requested, 5)
    for n in range(2):
        torch.testing.assert_close(torch.tensor(result[f'layer {n}']), total[n] / allowed[n])
    torch.testing.assert_close(torch.tensor(result['all layers']), total.sum(0) / allowed.sum(0))
    assert all(math.isfinite(v) for v in result['all layers'])
    with pytest.raises(ValueError, match="segments must be a positive number of segments to measure, got 0"):
        measure(model, _Streams(tokens, 6), 0, torch.device('cpu'))
    # Three segments fill the memories and leave none to measure: an error, not empty buckets.
    with pytest.raises(ValueError, match="^no segment was read with full memories; read more segments$"):
        measure(model, _Streams(tokens[:, :18], 6), requested, torch.device('cpu'))


def test_equal_span_profile_of_a_transformer_xl_against_a_per_key_average():
    # The control of the attention analysis: a Transformer-XL of memory 14 read in segments of
    # 6, its memories split as 8 older (where compressed slots would stand) and 6 newer. It is
    # measured only once its memory is full: after three segments (6, 12, then 14 keys).
    from labml_memory.compressive.analysis import measure_equal_span
    from labml_memory.transformer_xl import TransformerXL
    model = TransformerXL(VOCAB, d_model=16, heads=2, n_layers=2, d_ff=32, mem_len=14, dropout=0.0).eval()
    with torch.no_grad():
        for p in model.parameters():   # u, v, norms and projections all off their initial values
            p.add_(0.3 * torch.randn_like(p))
    tokens = torch.randint(0, VOCAB, (2, 7 * 6))
    result, measured = measure_equal_span(model, _Streams(tokens, 6), 50, torch.device('cpu'), older=8)
    # Keys: 8 older memories, 6 newer, 6 of the segment, six buckets in each part, as evenly
    # as whole keys allow (the older part 2, 2, 1, 1, 1, 1).
    edges = [[0, 1], [2, 3], [4], [5], [6], [7]] + [[k] for k in range(8, 20)]
    total, allowed, count, memory = torch.zeros(2, 18), torch.zeros(2, 18), 0, None
    for s in range(7):
        chunk = tokens[:, s * 6:(s + 1) * 6]
        weights = model.attention_weights(chunk, memory)
        if memory is not None and all(length == 14 for length in memory.lengths):
            count += 1
            for n, w in enumerate(weights):
                for bucket, keys in enumerate(edges):
                    for key in keys:
                        for i in range(6):
                            if key < 14 or key - 14 <= i:
                                total[n, bucket] += w[:, :, i, key].sum()
                                allowed[n, bucket] += w.shape[0] * w.shape[1]
        memory = model(chunk, memory).memory
    assert measured == count == 4
    for n in range(2):
        torch.testing.assert_close(torch.tensor(result[f'layer {n}']), total[n] / allowed[n])
    torch.testing.assert_close(torch.tensor(result['all layers']), total.sum(0) / allowed.sum(0))
    for bad in (0, 14, 20):
        with pytest.raises(ValueError, match=f"0 < older < M_XL; got older={bad} with memory lengths \\[14, 14\\]"):
            measure_equal_span(model, _Streams(tokens, 6), 5, torch.device('cpu'), older=bad)


# ## Against slow references written from the paper

def _perturbed(model, scale=0.3, seed=11):
    # Every parameter off its initial value: u, v, the norms' gains and biases, f_c.
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen))
    return model


def _ln(x, norm):
    mean = x.mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(((x - mean) ** 2).mean(-1, keepdim=True) + norm.eps) * norm.weight + norm.bias


def test_attention_loss_with_several_heads_and_layers_is_algorithm_2():
    # Algorithm 2 per layer and per head, with loops: content-only softmax attention of the
    # (normalised) segment over the (normalised) evicted memories and over their compression,
    # squared error averaged, summed over layers.
    model = _perturbed(small_model(compression='conv', compression_loss='attention', mem_len=4,
                                   n_layers=2, heads=2)).train()
    inputs = []
    hooks = [layer.register_forward_pre_hook(lambda m, a: inputs.append(a[0])) for layer in model.layers]
    _, memory, _ = model(torch.randint(0, VOCAB, (2, 4)))
    inputs.clear()
    _, _, losses = model(torch.randint(0, VOCAB, (2, 4)), memory)
    for hook in hooks:
        hook.remove()
    total = 0.0
    for n, layer in enumerate(model.layers):
        norm, attn = layer.attention_residual.norm, layer.attention
        old = memory.memory[n]                                   # all four leave (M = L = 4)
        packed = model.compress[n](old)
        h = _ln(inputs[n], norm)
        per_layer = 0.0
        for b in range(2):
            for hd in range(2):
                cols = slice(8 * hd, 8 * hd + 8)

                def read(mem):
                    m = _ln(mem[b], norm)
                    q = h[b] @ attn.query.linear.weight[cols].T
                    k, v = m @ attn.key.linear.weight[cols].T, m @ attn.value.linear.weight[cols].T
                    out = []
                    for i in range(4):
                        w = torch.stack([q[i] @ k[j] / math.sqrt(8) for j in range(len(k))]).softmax(0)
                        out.append(sum(w[j] * v[j] for j in range(len(k))))
                    return torch.stack(out)

                per_layer = per_layer + ((read(old) - read(packed)) ** 2).sum()
        total = total + per_layer / (2 * 2 * 4 * 8)
    torch.testing.assert_close(losses['compression'], total, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("norm,compression", [('pre', 'conv'), ('post', 'mean_pool'), ('pre', 'most_used')])
def test_model_equals_a_slow_reference_over_compressed_memory_memory_and_segment(norm, compression):
    # The slow Transformer-XL of the XL tests (own loops, own sinusoid table, own norms), handed
    # the concatenation [cm, m] as each layer's memory: relative positions run through the
    # compressed slots by index, as the page says. Five segments fill both memories.
    from test_transformer_xl import slow_xl
    model = _perturbed(small_model(d_model=8, heads=2, norm=norm, compression=compression,
                                   mem_len=4, compressed_len=3, segment_len=4))
    stream = torch.randint(0, VOCAB, (2, 24))
    memory = None
    with torch.no_grad():
        for s in range(6):
            tokens = stream[:, 4 * s:4 * (s + 1)]
            logits, new_memory, _ = model(tokens, memory)
            if memory is not None:
                for b in range(2):
                    past = [torch.cat([cm[b], m[b]]) for cm, m in zip(memory.compressed, memory.memory)]
                    expected, _ = slow_xl(model, tokens[b], past)
                    torch.testing.assert_close(logits[b], expected, atol=1e-4, rtol=1e-4)
            memory = new_memory
    assert memory.lengths == [(4, 3), (4, 3)]


# ## Closing the gaps mutation testing found (tools/mutation.py; tests/MUTATION.md)

def test_documented_defaults_and_settings_reaching_transformer_xl():
    model = CompressiveTransformer(VOCAB)
    assert (model.d_model, model.n_layers, model.layers[0].attention.heads) == (128, 4, 4)
    assert (model.segment_len, model.compressed_len, model.rate, model.compression_name,
            model.requested_loss, model.compression_loss) == (64, 32, 2, 'conv', 'attention', 'attention')
    assert model.layers[0].feed_forward.expand.out_features == 512 and model.decoders is None
    assert model.mem_len == [64] * 4
    custom = small_model(clamp_len=3, tie_uv=False, activation='relu', norm='post', attention_impl='explicit')
    assert custom.clamp_len == 3 and custom.u.shape[0] == 2 and custom.mem_len == [8, 8]
    assert isinstance(custom.layers[0].feed_forward.activation, torch.nn.ReLU)
    assert isinstance(custom.head.norm, torch.nn.Identity) and custom.layers[0].attention.impl == 'explicit'
    pooled = small_model(compression='max_pool', compression_loss='attention')
    assert pooled.requested_loss == 'attention' and pooled.compression_loss == 'none'
    assert Conv(4, 2).d_model == 4 and DilatedConv(4, 2).d_model == 4


def test_rate_one_and_tiny_memories_compress_exactly_what_overflows():
    # c = 1: every activation leaving the memory becomes one slot, and nothing leaves early.
    model = small_model(compression='mean_pool', compression_rate=1, mem_len=3, compressed_len=5)
    stream = torch.randint(0, VOCAB, (1, 12))
    embedded = model.embed(stream)
    memory = None
    for t in range(12):
        _, memory, _ = model(stream[:, t:t + 1], memory)
        seen = t + 1
        evicted = max(0, seen - 3)
        torch.testing.assert_close(memory.memory[0], embedded[:, evicted:seen])
        torch.testing.assert_close(memory.compressed[0], embedded[:, max(0, evicted - 5):evicted])
    # A compressed memory of one slot keeps the newest one.
    model = small_model(compression='mean_pool', compressed_len=1)
    memory = None
    for _ in range(4):
        _, memory, _ = model(torch.randint(0, VOCAB, (1, 4)), memory)
    assert memory.lengths[0] == (8, 1)
    # Without a compressed memory nothing is compressed, and no loss is computed.
    model = small_model(compression='conv', compressed_len=0, mem_len=4).train()
    _, _, losses = _two_segments(model)
    assert losses == {}


@pytest.mark.parametrize("kw,message", [
    (dict(mem_len=-1), r"mem_len must be a non-negative integer, got -1"),
    (dict(mem_len=0, compressed_len=1),
     r"^compressed_len > 0 needs mem_len > 0: the compressed memory is filled from activations leaving the memory$"),
])
def test_more_bad_configurations_fail_clearly(kw, message):
    with pytest.raises(ValueError, match=message):
        small_model(**kw)
    small_model(compression_rate=1)
    small_model(mem_len=0, compressed_len=0)
    small_model(segment_len=1, compression_rate=1)
    with pytest.raises(ValueError, match=r"segment_len \(n_s\) must be a positive integer, got 0"):
        small_model(segment_len=0)


def test_compression_functions_name_bad_input():
    from labml_memory.compressive.compression import make_compression
    with pytest.raises(ValueError, match=r"unknown compression 'avg'; valid: \['max_pool', 'mean_pool'"):
        make_compression('avg', 4, 2)
    with pytest.raises(ValueError, match=r"cannot compress 3 activations at rate 2"):
        MeanPool(4, 2)(torch.randn(1, 3, 4))
    with pytest.raises(ValueError, match=r"\(2, 6\), got \(2, 5\)"):
        MostUsed(4, 2)(torch.randn(2, 6, 4), torch.rand(2, 5))
    model = small_model(compression='most_used')
    _, memory, _ = model(torch.randint(0, VOCAB, (2, 4)))
    with pytest.raises(ValueError, match=r"^most_used compression needs the usage scores this model returned$"):
        model(torch.randint(0, VOCAB, (2, 4)), CompressiveMemory(memory.memory, memory.compressed, []))


# ## The analysis page: table, figure and command line

def _profile():
    # A made-up result with every value distinct, so a swapped slice or row shows.
    values = [0.001 * (k + 1) for k in range(18)]
    return {'all layers': values, 'layer 0': [v / 2 for v in values], 'layer 1': [v * 1.5 for v in values]}


def test_analysis_table_gives_every_bucket_times_a_thousand():
    from labml_memory.compressive.analysis import table
    lines = table(_profile()).split('\n')
    assert lines[0] == '| | ' + ' | '.join([f'cmem {b}' for b in range(1, 7)] + [f'mem {b}' for b in range(1, 7)]
                                           + [f'seq {b}' for b in range(1, 7)]) + ' |'
    assert lines[1] == '|---' * 19 + '|'
    assert lines[2] == '| all layers | ' + ' | '.join(f'{k + 1:.2f}' for k in range(18)) + ' |'
    assert lines[3].startswith('| layer 0 | 0.50 | 1.00 | 1.50 |')
    assert lines[4].endswith('| 27.00 |') and len(lines) == 5


def test_analysis_figure_draws_each_part_each_layer_and_the_uniform_line(tmp_path, monkeypatch):
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib.figure import Figure

    from labml_memory.compressive.analysis import draw
    captured = []
    real_savefig = Figure.savefig
    monkeypatch.setattr(Figure, 'savefig', lambda self, path, **kw: (captured.append(self), real_savefig(self, path, **kw)))
    result = _profile()
    draw(result, tmp_path / 'buckets.png', 'the title', uniform=0.004)
    assert (tmp_path / 'buckets.png').stat().st_size > 0
    ax = captured[0].axes[0]
    # Three bar groups of six, coloured by part, heights the average over layers.
    assert [len(c) for c in ax.containers] == [6, 6, 6]
    heights = [bar.get_height() for c in ax.containers for bar in c]
    assert heights == pytest.approx(result['all layers'])
    assert [bar.get_x() + bar.get_width() / 2 for c in ax.containers for bar in c] == pytest.approx(range(18))
    assert [c.patches[0].get_facecolor() for c in ax.containers] == \
        [matplotlib.colors.to_rgba(f'tab:{name}') for name in ('purple', 'blue', 'green')]
    # One line per layer over the bars, lighter for the lower layer, and the uniform level.
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines['layer 1'].get_ydata()) == pytest.approx(result['layer 1'])
    assert list(lines['layer 0'].get_xdata()) == list(range(18))
    # Two layers: the lowest at grey 0.75, the top at 0.15.
    assert [float(lines[f'layer {n}'].get_color()) for n in range(2)] == pytest.approx([0.75, 0.15])
    assert list(lines['uniform, 1/K'].get_ydata()) == [0.004, 0.004]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == [f'{p}{b}' for p in 'cms' for b in range(1, 7)]
    assert ax.get_yscale() == 'log' and ax.get_title() == 'the title'
    assert ax.get_xlabel() == 'key bucket: compressed memory (c), memory (m), sequence (s); oldest on the left'
    assert ax.get_ylabel() == 'mean attention weight per key'
    assert [t.get_text() for t in ax.get_legend().get_texts()] == \
        ['layer 0', 'layer 1', 'uniform, 1/K', 'compressed memory', 'memory', 'sequence']


def test_analysis_figure_shades_layers_evenly_from_light_to_dark(tmp_path, monkeypatch):
    # Three layers: grey levels 0.75, 0.45 and 0.15, evenly spaced from the lowest to the top.
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib.figure import Figure

    from labml_memory.compressive.analysis import draw
    captured = []
    real_savefig = Figure.savefig
    monkeypatch.setattr(Figure, 'savefig', lambda self, path, **kw: (captured.append(self), real_savefig(self, path, **kw)))
    result = {**_profile(), 'layer 2': [v * 2 for v in _profile()['all layers']]}
    draw(result, tmp_path / 'buckets.png', 'three layers')
    lines = {line.get_label(): line for line in captured[0].axes[0].get_lines()}
    assert [float(lines[f'layer {n}'].get_color()) for n in range(3)] == pytest.approx([0.75, 0.45, 0.15])


def test_analysis_command_line_measures_the_newest_run(tmp_path, monkeypatch, capsys):
    from labml_memory.compressive import analysis
    from labml_memory.data.shakespeare import SequentialStreams, Vocabulary, load_text, split
    from labml_memory.training import checkpoint, train
    monkeypatch.chdir(tmp_path)
    # A short text, so that the held-out tenth (2 streams of 110 characters, 13 segments of 8)
    # runs out before the 50 segments asked for: the page must give the number measured.
    text = load_text(None)[:2200]
    (tmp_path / 'short.txt').write_text(text)
    config = build_config(Config, PRESETS, dict(
        d_model=16, heads=2, n_layers=1, d_ff=16, seq_len=8, mem_len=8, compressed_len=6,
        compression_rate=2, batch_size=2, steps=2, eval_every=100, checkpoint_every=100,
        sample_len=0, final_eval_segments=1, dropout=0.0, logs_dir=str(tmp_path / 'logs'),
        data_file=str(tmp_path / 'short.txt')))
    result = train(config, build_model, 'compressive')
    drawn = []
    real_draw = analysis.draw
    monkeypatch.setattr(analysis, 'draw', lambda *a, **kw: (drawn.append((a, kw)), real_draw(*a, **kw)))
    # `out` may name folders that do not exist yet, several levels deep.
    analysis.main(['segments=50', f'out={tmp_path / "new" / "out"}'])
    # A query that looked everywhere equally gives each of the M_c + M + L keys 1/22.
    assert drawn[0][1]['uniform'] == pytest.approx(1 / 22)
    page = (tmp_path / 'new' / 'out' / 'attention_buckets.md').read_text()
    # The figure carries the page's title.
    assert drawn[0][0][2] == "conv + attention loss, step 2: M_c=6, M=8, L=8, c=2"
    # The same numbers measured here from the same checkpoint.
    run_path = checkpoint.find_run(tmp_path / 'logs', 'compressive', 'latest')
    assert run_path.name == result.run_uuid
    state = checkpoint.load(checkpoint.checkpoints_of(run_path)[-1])
    model = build_model(config, len(state['vocabulary']))
    model.load_state_dict(state['model'])
    streams = SequentialStreams(split(Vocabulary.from_text(text).encode(text))[1], 2, 8)
    expected, measured = analysis.measure(model, streams, 50, torch.device('cpu'))
    # 13 segments, the first 3 filling the memories (1 for M = 8, 2 for c * M_c = 12).
    assert measured == 10
    assert page == ("# Compressive Transformer: where attention goes\n\n"
                    "Mean attention weight per key (×1000), conv + attention loss, step 2: M_c=6, "
                    f"M=8, L=8, c=2; run `{result.run_uuid}`, 10 validation segments with full "
                    "memories.\n\n" + analysis.table(expected) + '\n')
    assert (tmp_path / 'new' / 'out' / 'attention_buckets.png').stat().st_size > 0
    # The table goes to the screen too.
    assert analysis.table(expected) in capsys.readouterr().out
    # Without `out`, the profile goes beside the run's checkpoints, never over the study's page.
    analysis.main(['segments=50'])
    assert (run_path / 'attention_buckets.md').read_text() == page
    assert not (tmp_path / 'docs').exists()


def test_analysis_defaults_to_48_segments_of_the_projects_own_text(tmp_path, monkeypatch):
    # A run with no `data_file` trained on the project's copy of Tiny Shakespeare; the analysis
    # reads the same text and, with no `segments` given, measures 48 segments with full memories.
    from labml_memory.compressive import analysis
    from labml_memory.training import train
    monkeypatch.chdir(tmp_path)
    config = build_config(Config, PRESETS, dict(
        d_model=16, heads=2, n_layers=1, d_ff=16, seq_len=8, mem_len=8, compressed_len=6,
        compression_rate=2, batch_size=2, steps=1, eval_every=100, checkpoint_every=100,
        sample_len=0, final_eval_segments=1, dropout=0.0, logs_dir=str(tmp_path / 'logs')))
    assert not config.data_file
    result = train(config, build_model, 'compressive')
    analysis.main([f'out={tmp_path / "out"}'])
    page = (tmp_path / 'out' / 'attention_buckets.md').read_text()
    assert f"run `{result.run_uuid}`, 48 validation segments with full memories." in page


@pytest.mark.parametrize("compression,c,mem_len,compressed_len", [('conv', 2, 5, 3), ('mean_pool', 3, 4, 2),
                                                                  ('dilated_conv', 2, 6, 4)])
def test_generation_with_the_key_value_cache_equals_reading_the_memories_afresh(compression, c, mem_len,
                                                                               compressed_len):
    # Without gradients every call after the first reads both memories' keys and values from
    # the cache; with gradients on (still in evaluation) the model reads its memories afresh.
    # The two must give the same logits, token after token, through evictions, compressions
    # and a compressed memory that drops its oldest slots; the cache must be the projections
    # of [cm, m] themselves.
    model = small_model(compression=compression, compression_rate=c, mem_len=mem_len,
                        compressed_len=compressed_len, segment_len=6)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=gen))
    tokens = torch.randint(0, VOCAB, (2, 30))
    cached = fresh = None
    for start, end in [(0, 6)] + [(t, t + 1) for t in range(6, 30)]:
        with torch.no_grad():
            logits, cached, _ = model(tokens[:, start:end], cached)
        with torch.enable_grad():
            expected, fresh, _ = model(tokens[:, start:end], fresh)
        torch.testing.assert_close(logits, expected.detach(), atol=1e-5, rtol=1e-4)
        assert cached.lengths == fresh.lengths
        with torch.no_grad():
            for n, layer in enumerate(model.layers):
                rows = layer.attention_residual.prepare(torch.cat([cached.compressed[n], cached.memory[n]], 1))
                torch.testing.assert_close(cached.kv_cache.keys[n], layer.attention.key(rows), atol=1e-5, rtol=1e-5)
                torch.testing.assert_close(cached.kv_cache.values[n], layer.attention.value(rows),
                                           atol=1e-5, rtol=1e-5)
    assert cached.lengths[0][1] == compressed_len
