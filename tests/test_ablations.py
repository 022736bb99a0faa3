"""The ablations: removing a paper's memory cuts exactly its path and leaves the rest intact."""
import torch

from labml_memory.compressive import CompressiveTransformer
from labml_memory.infinity_former import InfinityFormer
from labml_memory.studies.ablations import ABLATIONS, without_compressed, without_long_term
from labml_memory.training.synthetic import read_in_segments

VOCAB, SEG = 11, 4


def _moved(model):
    # Every weight, bias and gate off its initial value, so no path is zero by construction.
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model.eval()


def compressive():
    torch.manual_seed(0)
    return _moved(CompressiveTransformer(VOCAB, d_model=16, heads=2, n_layers=1, d_ff=32, segment_len=SEG,
                                         mem_len=SEG, compressed_len=8, compression_rate=2, dropout=0.0))


def infinity_former():
    torch.manual_seed(0)
    return _moved(InfinityFormer(VOCAB, d_model=16, heads=2, n_layers=1, d_ff=32, mem_len=SEG, n_basis=8,
                                 n_samples=16, segment_len=SEG, dropout=0.0))


# One layer whose cache holds one segment: the output at segment t can see segment t − 1
# through the cache, and anything older only through the paper's memory. Change the first
# segment: with the memory removed, every segment from the third on is untouched (the cache
# path alone cannot reach it); whole, the change reaches them.
def _reach_of_the_first_segment(model, change):
    torch.manual_seed(2)
    a = torch.randint(VOCAB, (2, 6 * SEG))
    b = a.clone()
    b[:, :SEG] = (a[:, :SEG] + 1) % VOCAB
    with torch.no_grad():
        whole = [read_in_segments(model, x, SEG) for x in (a, b)]
        cut = [read_in_segments(model, x, SEG, change) for x in (a, b)]
    later = slice(2 * SEG, None)
    return (whole[0][:, later] - whole[1][:, later]).abs().max().item(), \
        (cut[0][:, later] - cut[1][:, later]).abs().max().item()


def test_emptying_the_compressed_memory_cuts_every_path_older_than_the_cache():
    through, cut = _reach_of_the_first_segment(compressive(), without_compressed)
    assert through > 1e-3 and cut == 0.0


def test_zeroing_the_long_term_memory_cuts_every_path_older_than_the_short_term_memory():
    through, cut = _reach_of_the_first_segment(infinity_former(), without_long_term)
    assert through > 1e-3 and cut == 0.0


# The ablation removes only its part: the cache is handed on as it was, and what is left of the
# removed part is what a fresh stream starts with (no compressed slots; B = 0).
def _after_five_segments(model):
    x, memory = torch.randint(VOCAB, (2, SEG)), None
    for _ in range(5):
        _, memory, _ = model(x, memory)
    return memory


def test_emptying_the_compressed_memory_keeps_the_verbatim_memory():
    memory = _after_five_segments(compressive())
    removed = without_compressed(memory)
    assert all(c.shape[1] > 0 for c in memory.compressed) and all(c.shape[1] == 0 for c in removed.compressed)
    assert all(a is b for a, b in zip(removed.memory, memory.memory))


def test_zeroing_the_long_term_memory_keeps_the_short_term_memory():
    memory = _after_five_segments(infinity_former())
    removed = without_long_term(memory)
    assert all(c.abs().sum() > 0 for c in memory.coefficients)
    assert all(c.shape == b.shape and not c.any() for c, b in zip(removed.coefficients, memory.coefficients))
    assert all(a is b for a, b in zip(removed.short, memory.short))


def test_the_studies_name_an_ablation_for_each_paper_memory():
    assert set(ABLATIONS) == {'compressive', 'infinity_former'}
    assert all(isinstance(what, str) and callable(change) for what, change in ABLATIONS.values())
