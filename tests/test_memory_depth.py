"""The memory-depth study: each layer's range is exactly what was configured."""
import pytest
import torch

from labml_memory.memory_depth import depth_study_model, long_range_layers, memory_lengths, state_numbers
from labml_memory.memory_depth.experiment import PRESETS, Config, arrangements
from labml_memory.training.config import build_config


def test_placements_that_do_not_divide_evenly_and_edge_cases():
    # ceil(k N / n) - 1 for k = 1 .. n, in integers: 6 layers and 4 long ones give 2, 3, 5, 6
    # counting from 1; 4 and 3 give 2, 3, 4.
    assert long_range_layers(6, 4, 'interleaved') == [1, 2, 4, 5]
    assert long_range_layers(4, 3, 'interleaved') == [1, 2, 3]
    assert all(isinstance(n, int) for n in long_range_layers(6, 4, 'interleaved'))
    assert long_range_layers(1, 1, 'last') == [0]
    with pytest.raises(ValueError, match=r"n_layers must be positive, got 0"):
        long_range_layers(0, 0, 'first')
    # Lengths: zero is a valid (memoryless) length, equal lengths are valid, negatives are not.
    assert memory_lengths(2, 1, 'first', 0, 0) == [0, 0]
    assert memory_lengths(2, 1, 'first', 5, 5) == [5, 5]
    for long_len, short_len in ((-1, 0), (3, -1)):
        with pytest.raises(ValueError, match=rf"memory lengths must be >= 0, got long_len={long_len}, "
                                             rf"short_len={short_len}"):
            memory_lengths(2, 1, 'first', long_len, short_len)
    # The model's defaults: four layers, and the same lengths in evaluation.
    model = depth_study_model(13, 1, 'last', 6, 2, d_model=16, heads=2, d_ff=32)
    assert model.n_layers == 4 and model.mem_len == model.eval_mem_len == [2, 2, 2, 6]


def test_placements():
    assert long_range_layers(6, 2, 'first') == [0, 1]
    assert long_range_layers(6, 2, 'last') == [4, 5]
    assert long_range_layers(6, 2, 'interleaved') == [2, 5]
    assert long_range_layers(24, 4, 'interleaved') == [5, 11, 17, 23]
    assert long_range_layers(6, 0, 'interleaved') == []
    assert memory_lengths(4, 1, 'first', 32, 4) == [32, 4, 4, 4]


def _reach(p, lengths, L):
    # The tokens position p's output can depend on, from the recurrence alone: layer n's query
    # at position a reads that layer's inputs from (start of a's segment) - M_n up to a.
    needed = {p}
    for keep in reversed(lengths):
        needed = {t for a in needed for t in range(max(0, (a // L) * L - keep), a + 1)}
    return needed


@pytest.mark.parametrize("n_long,placement,long_len,short_len", [
    (1, 'first', 9, 2), (2, 'interleaved', 10, 3), (1, 'last', 7, 0), (2, 'first', 5, 1)])
def test_each_layer_attends_over_exactly_its_range(n_long, placement, long_len, short_len):
    # Change one token at a time and see which outputs of the last segment move: exactly those
    # whose receptive field, computed from the configured lengths, contains that token. A layer
    # that kept one position more (or less) than configured would move (or fix) some output.
    L, segments = 4, 6
    lengths = memory_lengths(3, n_long, placement, long_len, short_len)
    model = depth_study_model(13, n_long=n_long, placement=placement, long_len=long_len,
                              short_len=short_len, n_layers=3, d_model=16, heads=2, d_ff=32,
                              dropout=0.0).eval()
    with torch.no_grad():
        for p in model.parameters():   # u, v and the norms off their initial values
            p.add_(0.3 * torch.randn_like(p))
    stream = torch.randint(0, 12, (1, segments * L))

    def last_segment(tokens):
        memory = None
        with torch.no_grad():
            for s in range(segments):
                logits, memory, _ = model(tokens[:, s * L:(s + 1) * L], memory)
        return logits[0]

    base = last_segment(stream)
    for t in range(segments * L):
        changed = stream.clone()
        changed[0, t] = 12
        moved = (last_segment(changed) - base).abs().amax(-1) > 1e-6
        for i in range(L):
            p = (segments - 1) * L + i
            assert bool(moved[i]) == (t in _reach(p, lengths, L)), (t, p, lengths)


def test_each_layer_keeps_exactly_its_memory_length():
    L, batch = 4, 2
    model = depth_study_model(13, n_long=2, placement='interleaved', long_len=10, short_len=3,
                              n_layers=4, d_model=16, heads=2, d_ff=32, dropout=0.0).eval()
    expected = [3, 10, 3, 10]
    memory = None
    stream = torch.randint(0, 13, (batch, 5 * L))
    for s in range(4):  # fill every memory
        _, memory, _ = model(stream[:, s * L:(s + 1) * L], memory)
    assert memory.lengths == expected
    weights = model.attention_weights(stream[:, 4 * L:], memory)
    for n, w in enumerate(weights):
        assert w.shape == (batch, 2, L, expected[n] + L)
        # Query i sees the whole memory and the segment up to itself, and nothing else.
        seen = (w > 0).sum(-1)
        assert torch.equal(seen, (torch.arange(L) + 1 + expected[n]).expand_as(seen))


def test_state_size_equals_the_formula():
    model = depth_study_model(13, n_long=1, placement='first', long_len=12, short_len=2,
                              n_layers=3, d_model=16, heads=2, d_ff=32, dropout=0.0)
    memory = None
    for _ in range(5):
        _, memory, _ = model(torch.randint(0, 13, (3, 4)), memory)
    assert memory.nbytes() == 4 * state_numbers(3, 16, [12, 2, 2]) == 4 * 3 * 16 * 16


def test_sweep_covers_baselines_and_distinct_arrangements():
    runs = arrangements(4)
    assert (0, 'last') in runs and (4, 'last') in runs
    assert (1, 'interleaved') in runs and (1, 'last') not in runs  # the same layers as interleaved
    assert len({tuple(memory_lengths(4, n, p, 2, 1)) for n, p in runs}) == len(runs)


def test_inherited_memory_lengths_are_refused_or_recorded_truthfully():
    # The study sets every layer's length itself; a mem_len or eval_mem_len from the command
    # line would be ignored, so it fails, and the configuration records the lengths used.
    config = build_config(Config, PRESETS, {'n_long': '1', 'placement': 'first'})
    assert config.mem_len == config.eval_mem_len == [128, 16, 16, 16]
    for key in ('mem_len', 'eval_mem_len'):
        with pytest.raises(ValueError, match=rf"{key}=64 cannot be set in the memory-depth study.*"
                                             r"n_long, placement, long_mem_len and short_mem_len"):
            build_config(Config, PRESETS, {key: '64'})
    # A stored configuration (a resumed run) carries the derived lengths, which are accepted.
    assert build_config(Config, PRESETS, {}, base=vars(config)).mem_len == [128, 16, 16, 16]


@pytest.mark.parametrize("kwargs,message", [
    (dict(n_long=5), r"n_long=5 long-range layers do not fit a model of 4 layers; valid: 0 to 4"),
    (dict(n_long=-1), r"n_long=-1"),
    (dict(placement='middle'), r"unknown placement 'middle'; valid: \['first', 'interleaved', 'last'\]"),
    (dict(short_mem_len=200), r"short_mem_len=200 is longer than long_mem_len=128"),
])
def test_bad_configurations_fail_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_config(Config, PRESETS, kwargs)
