"""The memory-depth study: each layer's range is exactly what was configured."""
import pytest
import torch

from labml_memory.memory_depth import depth_study_model, long_range_layers, memory_lengths, state_numbers
from labml_memory.memory_depth.experiment import PRESETS, Config, arrangements
from labml_memory.training.config import build_config


def test_placements():
    assert long_range_layers(6, 2, 'first') == [0, 1]
    assert long_range_layers(6, 2, 'last') == [4, 5]
    assert long_range_layers(6, 2, 'interleaved') == [2, 5]
    assert long_range_layers(24, 4, 'interleaved') == [5, 11, 17, 23]
    assert long_range_layers(6, 0, 'interleaved') == []
    assert memory_lengths(4, 1, 'first', 32, 4) == [32, 4, 4, 4]


def test_each_layer_attends_over_exactly_its_range():
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


@pytest.mark.parametrize("kwargs,message", [
    (dict(n_long=5), r"n_long=5 long-range layers do not fit a model of 4 layers; valid: 0 to 4"),
    (dict(n_long=-1), r"n_long=-1"),
    (dict(placement='middle'), r"unknown placement 'middle'; valid: \['first', 'interleaved', 'last'\]"),
    (dict(short_mem_len=200), r"short_len=200 is longer than long_len=128"),
])
def test_bad_configurations_fail_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_config(Config, PRESETS, kwargs)
