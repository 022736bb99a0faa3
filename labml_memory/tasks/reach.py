r"""
# How far back a model can see: the reach, counted and measured

A model with a window-shaped memory has a **reach**: the largest distance such that the
token that many positions before a prediction can change that prediction at all. Beyond it a token
has no path to the output, whatever the weights. For Transformer-XL the reach follows from the
segment length $L$, the number of layers $N$ and the memory length $M$ of each layer; for the
Compressive Transformer the compressed memory adds $c \, M_c$ more positions per layer. The
∞-former and Infini-attention have no such limit: their state is a summary of everything read,
so every token keeps *some* path to every later output, however faint.

This page does two things with that idea:

* `window_reach` **counts** the reach from the architecture's rule, layer by layer;
* `measured_reach` **measures** it on a real model: change one token, run the text again,
  and see whether the last output moved. The largest distance at which it moved is the
  measured reach.

The two must agree for Transformer-XL and the Compressive Transformer (the tests check it on
small models), and the measurement is what the [memory-reach results](../results/memory_reach.md)
print beside each model.

## The rule, layer by layer

A query at position $p$ of layer $n$ reads the $M_n$ memory positions before its segment and
the segment up to itself; the memory holds layer $n$'s *input* at those positions, which layer
$n - 1$ computed from its own context one segment earlier. So the earliest position the top
layer reads is $\lfloor p / L \rfloor L - M_N$, where $\lfloor p / L \rfloor L$ is the first
position of $p$'s segment, and the earliest position that one depends on is found the same way
one layer down, from $p_N = p$:

$$p_{n-1} = \lfloor p_n / L \rfloor L - M_n - c\,M_{c,n}, \qquad \text{reach} = p - p_0,$$

with $M_c = 0$ for Transformer-XL. At the last position of a segment ($p \bmod L = L - 1$)
and equal memories $0 < M \le L$, this is $(L - 1) + M + (N - 1) L$: each layer below the top
adds a whole segment, not one memory length, because the oldest position a layer reads sits
at the *end* of an earlier segment and sees that segment whole. The simpler bound
$L + N M$ is right only for $M = L$ (and with no memory at all, $M = 0$, the reach is the
segment, $L - 1$, however many layers there are). For any $M$, each layer below the top steps
back its memory rounded up to whole segments, so from offset $p \bmod L$ in the segment the
reach is $(p \bmod L) + M + (N - 1) \lceil M / L \rceil L$, and the paper's "$O(N \times L)$" is this with $M \le L$.
For $L = 32$, $M = 16$, $N = 2$ the simple bound says 64 where the rule (and the measurement)
give 79.
"""

from typing import List, Optional, Sequence

import torch

from labml_memory.protocol import MemoryLanguageModel


# ## Counting
#
# The recursion above, from the top layer down. Memory lengths are per layer, bottom first,
# as Transformer-XL's `mem_len` list is; so are the compressed lengths. A distance that runs
# past the start of the text is cut at position 0: the reach of a short text is the text.
def window_reach(position: int, seg_len: int, mem_lens: Sequence[int],
                 compressed_lens: Optional[Sequence[int]] = None, rate: int = 1) -> int:
    r"""How many positions before `position` (0-based, in the whole text) the output there can depend on."""
    if seg_len <= 0 or position < 0:
        raise ValueError(f"need seg_len > 0 and position >= 0, got seg_len={seg_len}, position={position}")
    compressed_lens = compressed_lens or [0] * len(mem_lens)
    if len(compressed_lens) != len(mem_lens):
        raise ValueError(f"{len(mem_lens)} memory lengths but {len(compressed_lens)} compressed lengths")
    earliest = position
    for m, mc in zip(reversed(list(mem_lens)), reversed(list(compressed_lens))):
        segment_start = (earliest // seg_len) * seg_len
        earliest = max(0, segment_start - m - rate * mc)
    return position - earliest


# ## Measuring
#
# One text of random tokens, read segment by segment exactly as the tasks read it, in
# evaluation mode (Transformer-XL then uses its evaluation memory) and in double precision, so
# that "did not move" means an exact zero, or rounding far below any real effect, rather than
# a judgement call. Row 0 of the batch is the text itself; row $1 + j$ is the text with token
# $j$ replaced by another. A stream's memory never mixes with another's, so one batched pass
# answers every position at once.
#
# The threshold `tol` sits many orders of magnitude below the effect of a token inside the
# reach of an untrained model (about $10^{-4}$ in the tests) and above double-precision
# rounding (about $10^{-15}$). A model that keeps its state in float32 on purpose
# (Infini-attention does) is probed in float32 with `dtype=torch.float32` and a `tol` of about
# $10^{-5}$, above single-precision rounding.
@torch.no_grad()
def moved_positions(model: MemoryLanguageModel, vocab_size: int, seg_len: int, n_segments: int,
                    seed: int = 0, tol: float = 1e-9, dtype: torch.dtype = torch.float64) -> List[int]:
    r"""Distances back from the last position whose token changes the last output, nearest first."""
    if vocab_size < 2 or n_segments <= 0:
        raise ValueError(f"need vocab_size >= 2 and n_segments >= 1, got {vocab_size}, {n_segments}")
    length = seg_len * n_segments
    generator = torch.Generator().manual_seed(seed)
    text = torch.randint(vocab_size, (length,), generator=generator)
    # `[1 + length, length]`: the text, then one copy per position with that token shifted by a
    # random non-zero amount (so it is always a different token).
    batch = text.repeat(1 + length, 1)
    shift = torch.randint(1, vocab_size, (length,), generator=generator)
    rows = torch.arange(length)
    batch[1 + rows, rows] = (text + shift) % vocab_size
    # Tables a model builds on the fly (sinusoids, masks) follow the default dtype, so it is
    # switched too for the duration of the pass, and everything is put back afterwards.
    was_training, dtype, default = model.training, next(model.parameters()).dtype, torch.get_default_dtype()
    model.eval().to(dtype)
    torch.set_default_dtype(dtype)
    try:
        memory, last = None, None
        for start in range(0, length, seg_len):
            logits, memory, _ = model(batch[:, start:start + seg_len], memory)
            last = logits[:, -1]
    finally:
        torch.set_default_dtype(default)
        model.to(dtype).train(was_training)
    # `[length]`: how far each perturbed text's last output is from the original's.
    change = (last[1:] - last[:1]).abs().amax(dim=-1)
    return [length - 1 - j for j in range(length - 1, -1, -1) if change[j] > tol]


# The measured reach is the farthest distance that moved. For a window-shaped memory every
# distance up to it moves too (the tests check that the set has no holes); a summary memory
# moves at every distance the text has, and its reach is then "at least the text".
def measured_reach(model: MemoryLanguageModel, vocab_size: int, seg_len: int, n_segments: int,
                   seed: int = 0, tol: float = 1e-9, dtype: torch.dtype = torch.float64) -> int:
    r"""The largest distance back from the last position at which one token changes the last output."""
    moved = moved_positions(model, vocab_size, seg_len, n_segments, seed, tol, dtype)
    return max(moved) if moved else -1
