r"""
# Do transformers need deep long-range memory?

[Do Transformers Need Deep Long-Range Memory?](https://arxiv.org/abs/2007.03356)
(Rae and Razavi; ACL 2020).

A [Transformer-XL](../transformer_xl/__init__.py) gives *every* layer the same long memory. That
is expensive: the memory state grows with layers × memory length, and so does the attention
cost per segment. Rae and Razavi asked whether all that depth of long-range memory is used.
Their intervention is simple: keep the model, but let only some layers look far back (a
*long-range* memory) and restrict the others to a *short-range* memory. Then vary

* **how many** layers get the long memory, and
* **where** they sit: the **first** layers, **interleaved** evenly through the stack, or the
  **last** layers.

On enwik8 and WikiText-103 they report three findings:

1. far fewer long-range memories are enough: about a sixth of the layers with long memory
   matched the all-long model;
2. placement matters: long memory only in the *first* layers was the worst arrangement, and
   interleaved or *last*-layer placement the best; the lower layers seem to build local
   features that long-range attention in the upper layers then uses;
3. a short range in the lower layers can *improve* on the all-long model, not just match it.

This module builds such a model: a Transformer-XL whose memory length is set per layer, from
three numbers and a placement. The [experiment](experiment.py) trains one arrangement; the
[memory-depth study](../results/memory_depth.md) sweeps counts, placements and the short
range of a 6-layer model on Tiny Shakespeare, {{ result memory_depth seeds }} each. It puts each configuration's
validation loss beside its memory state's size, so the trade the paper describes can be read
off one table.

For a model with $N$ layers of width $d$, long length $M_{long}$ and short length
$M_{short}$, with $N_{long}$ long-range layers, the state of one stream holds

$$d \cdot \big(N_{long} \, M_{long} + (N - N_{long}) \, M_{short}\big)$$

numbers, against $d \cdot N M_{long}$ for the plain model.

## Deviations from the paper

* The paper studies 24-layer models on enwik8 and WikiText-103; our study uses a 6-layer model
  on Tiny Shakespeare (the experiment's default is 4 layers), 1,000 steps per run, so that the
  whole study fits a few hours of two CPU cores. Six layers are the fewest in which the paper's
  "one long-range layer in six" can be expressed. With one long layer, "interleaved" and "last"
  are the same arrangement.
* Only the Transformer-XL form is built; the paper's interventions also cover a Compressive
  Transformer, which would take the same per-layer lengths.
* Interleaved placement spaces the long layers evenly and ends at the top layer (for 24 layers and
  4 long ones: layers 6, 12, 18 and 24, counting from 1), our reading of the paper's arrangement.
"""

from typing import List

from labml_memory.transformer_xl import TransformerXL

# The placements a configuration may name.
PLACEMENTS = ('first', 'interleaved', 'last')


# ## Which layers are long-range
#
# The whole intervention is this list: one memory length per layer. `first` puts the
# $N_{long}$ long memories at the bottom of the stack, `last` at the top, and `interleaved`
# spreads them over layers $\lceil N / N_{long} \rceil, \lceil 2N / N_{long} \rceil, \dots, N$
# (counting from 1): evenly spaced, the last one on top.
def long_range_layers(n_layers: int, n_long: int, placement: str) -> List[int]:
    """The indices (from 0) of the layers that get the long memory."""
    if placement not in PLACEMENTS:
        raise ValueError(f"unknown placement {placement!r}; valid: {list(PLACEMENTS)}")
    if n_layers <= 0:
        raise ValueError(f"n_layers must be positive, got {n_layers}")
    if not 0 <= n_long <= n_layers:
        raise ValueError(f"n_long={n_long} long-range layers do not fit a model of {n_layers} layers; "
                         f"valid: 0 to {n_layers}")
    if placement == 'first':
        return list(range(n_long))
    if placement == 'last':
        return list(range(n_layers - n_long, n_layers))
    return [-(-(k + 1) * n_layers // n_long) - 1 for k in range(n_long)]


def memory_lengths(n_layers: int, n_long: int, placement: str, long_len: int, short_len: int) -> List[int]:
    r"""One memory length per layer: $M_{long}$ for the long-range layers, $M_{short}$ for the rest."""
    if long_len < 0 or short_len < 0:
        raise ValueError(f"memory lengths must be >= 0, got long_len={long_len}, short_len={short_len}")
    if short_len > long_len:
        raise ValueError(f"short_len={short_len} is longer than long_len={long_len}; "
                         f"the short-range memory must not exceed the long one")
    long_layers = set(long_range_layers(n_layers, n_long, placement))
    return [long_len if n in long_layers else short_len for n in range(n_layers)]


def state_numbers(batch: int, d_model: int, lengths: List[int]) -> int:
    r"""How many numbers the memory holds once full: $d \sum_n M_n$ per stream, times the batch."""
    return batch * d_model * sum(lengths)


# ## The model
#
# Nothing new is needed inside the network: [Transformer-XL](../transformer_xl/__init__.py)
# already accepts one memory length per layer, building each layer's causal mask and relative
# position table for its own context. The study is entirely in how the lengths are chosen.
def depth_study_model(vocab_size: int, n_long: int, placement: str, long_len: int, short_len: int,
                      n_layers: int = 4, **xl_options) -> TransformerXL:
    r"""
    A Transformer-XL whose `n_long` layers at `placement` keep `long_len` positions and the
    others `short_len`. The same lengths apply in evaluation.
    """
    lengths = memory_lengths(n_layers, n_long, placement, long_len, short_len)
    return TransformerXL(vocab_size, n_layers=n_layers, mem_len=lengths, eval_mem_len=lengths, **xl_options)


# ## What it measured
#
# **The study** {{ result memory_depth design }}. The paper's three findings, read off these
# records: {{ result memory_depth findings }}.
#
# 1. *Fewer long-range layers suffice.* {{ result memory_depth fewer }}.
# 2. *Long memory in the first layers is the worst placement.* {{ result memory_depth placement }}.
# 3. *A shorter range below helps.* {{ result memory_depth short_range }}.
#
# {{ result memory_depth longer }}. Only the two baselines were trained for the longer budget
# (`part=longer`); the findings above are read at the shorter one, and whether they keep
# their size with more training is not measured.
#
# **Quality at equal compute** {{ result quality memory_depth }} The quality runs use 4
# layers, one long memory of 64 on top and three short ones of 16, where Transformer-XL keeps
# 64 in every layer: the comparison with it is the paper's first finding at equal compute.
