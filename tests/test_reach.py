"""The reach of a window-shaped memory: counted by the rule, measured by perturbing one token."""
import pytest
import torch

from labml_memory.compressive import CompressiveTransformer
from labml_memory.infini_attention import InfiniTransformer
from labml_memory.tasks.reach import measured_reach, moved_positions, window_reach
from labml_memory.transformer_xl import TransformerXL

VOCAB = 11


def xl(n_layers, mem_len, **kw):
    return TransformerXL(VOCAB, d_model=16, heads=2, n_layers=n_layers, d_ff=32, mem_len=mem_len,
                         eval_mem_len=mem_len, dropout=0.0, **kw)


def test_one_layer_reach_by_hand():
    # L = 4, M = 3, three segments: positions 0..11. The last position (11) sits at offset 3 of
    # the segment starting at 8; it reads the three memory positions 5, 6, 7 and the segment
    # 8..11, so tokens 5..11 (distances 0..6) move its output and tokens 0..4 do not.
    model = xl(1, 3)
    assert moved_positions(model, VOCAB, seg_len=4, n_segments=3) == [0, 1, 2, 3, 4, 5, 6]
    assert window_reach(11, 4, [3]) == 6


def test_two_layer_reach_by_hand():
    # The same with two layers: the top layer reaches position 5 (offset 1 of the segment 4..7);
    # layer 1's input there was computed from memory 1..3 and segment 4..5, so the earliest
    # token is 1: reach 10, which is (L - 1) + M + (N - 1) L, not L + N M = 10 by coincidence
    # only here; with M = 2 the rule gives 3 + 2 + 4 = 9 and the naive bound 8.
    assert moved_positions(xl(2, 3), VOCAB, 4, 3) == list(range(11))
    assert moved_positions(xl(2, 2), VOCAB, 4, 3) == list(range(10))
    assert window_reach(11, 4, [2, 2]) == 9


@pytest.mark.parametrize('seg_len, mem_len, n_layers', [(4, 3, 2), (4, 6, 2), (8, 4, 3), (4, [2, 5], 2),
                                                         (4, [5, 2], 2), (4, 0, 2)])
def test_transformer_xl_measured_equals_the_rule(seg_len, mem_len, n_layers):
    torch.manual_seed(1)
    model = xl(n_layers, mem_len)
    moved = moved_positions(model, VOCAB, seg_len, 10)
    lengths = mem_len if isinstance(mem_len, list) else [mem_len] * n_layers
    reach = window_reach(10 * seg_len - 1, seg_len, lengths)
    # Every distance up to the reach moves, and nothing beyond it.
    assert moved == list(range(reach + 1))


def test_closed_form_for_equal_memories_no_longer_than_the_segment():
    for seg_len in (4, 8, 32):
        for mem in range(1, seg_len + 1):
            for n in (1, 2, 4):
                assert window_reach(100 * seg_len - 1, seg_len, [mem] * n) == (seg_len - 1) + mem + (n - 1) * seg_len
            # Without memory the reach is the segment, however many layers.
            assert window_reach(100 * seg_len - 1, seg_len, [0] * 3) == seg_len - 1
    # The configuration the passkey page used: 79 characters, where L + N M says 64.
    assert window_reach(32 * 10 - 1, 32, [16, 16]) == 79


@pytest.mark.parametrize('seg_len, mem, comp, rate, layers, fn', [(4, 4, 2, 2, 1, 'conv'), (4, 8, 3, 2, 2, 'max_pool'),
                                                                  (8, 8, 2, 4, 2, 'mean_pool'), (8, 4, 2, 2, 1, 'conv')])
def test_compressive_measured_equals_the_rule(seg_len, mem, comp, rate, layers, fn):
    torch.manual_seed(2)
    model = CompressiveTransformer(VOCAB, d_model=16, heads=2, n_layers=layers, d_ff=32, segment_len=seg_len,
                                   mem_len=mem, compressed_len=comp, compression_rate=rate, compression=fn,
                                   dropout=0.0)
    reach = window_reach(12 * seg_len - 1, seg_len, [mem] * layers, [comp] * layers, rate)
    assert reach > window_reach(12 * seg_len - 1, seg_len, [mem] * layers)  # compression adds reach
    assert moved_positions(model, VOCAB, seg_len, 12) == list(range(reach + 1))


def test_a_summary_memory_has_no_hard_limit():
    torch.manual_seed(3)
    model = InfiniTransformer(VOCAB, d_model=16, heads=2, n_layers=2, d_ff=32, dropout=0.0)
    # Move the gate off its initial value, so the memory read is mixed into the output.
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1 and p.numel() == 2:
                p.add_(0.7)
    assert measured_reach(model, VOCAB, 4, 8, tol=1e-5, dtype=torch.float32) == 31  # the whole text


def test_probe_leaves_the_model_and_defaults_as_they_were():
    model = xl(1, 3).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    measured_reach(model, VOCAB, 4, 2)
    assert model.training and torch.get_default_dtype() == torch.float32
    assert all(v.dtype == torch.float32 and torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_bad_arguments():
    with pytest.raises(ValueError, match='seg_len'):
        window_reach(3, 0, [1])
    with pytest.raises(ValueError, match='compressed lengths'):
        window_reach(3, 2, [1, 1], [1])
    with pytest.raises(ValueError, match='n_segments'):
        moved_positions(xl(1, 1), VOCAB, 4, 0)


def test_closed_form_for_any_memory_length():
    # r + M + (N - 1) ceil(M / L) L from offset r: each lower layer steps back whole segments.
    for seg_len in (4, 8):
        for mem in range(0, 3 * seg_len + 1):
            for n in (1, 2, 3):
                for r in (0, seg_len - 1):
                    p = 50 * seg_len + r
                    steps = -(-mem // seg_len) * seg_len
                    assert window_reach(p, seg_len, [mem] * n) == r + mem + (n - 1) * steps
