r"""
# Frequency sort: the ∞-former's synthetic task

The [∞-former paper](https://arxiv.org/abs/2109.00301) (section 4.1) tests long-term memory
with a task no recent window can solve. A long sequence of symbols is drawn from a
distribution that **drifts** from its start to its end; after a separator, the model must
write the 20 symbols in decreasing order of how often they occurred *in the whole sequence*.
Because the distribution drifts, the end of the sequence is not a good sample of the whole:
a model that only remembers the last few hundred symbols ranks by the final distribution and
gets the order wrong. A model must keep (a blurred account of) everything it read.

The generator follows the paper's description: 20 symbols; two random distributions
$p_{init}$ and $p_{final}$ (integer weights from 1 to 9, normalised); the symbol at relative
position $r = (j + 1) / n$ is drawn from $(1 - r)\,p_{init} + r\,p_{final}$. The target is
every symbol by decreasing count; **ties go to the smaller symbol id**, so the answer is a
function of the sequence (the authors break ties by first occurrence; either is a fixed rule
the model has to learn).

This module is the task only: the generator, the answer, a sampler that builds batches for
the [synthetic-task loop](../training/synthetic.py), and two references that need no model
(the floor of a guesser and an exact counter of a window). The loss covers every next symbol
(learning the drifting statistics is part of the task) and the answer. The score is the
paper's: **token accuracy** over the 20 answer positions, teacher-forced; exact match of all
20 is reported too. The floor is not 5%: teacher forcing tells even a guesser that never read
the sequence which symbols are already listed, and such a guesser scores about 0.18 to 0.20
(see *The floor* below). The study that trains the memories on it and writes the
[results page](../results/frequency_sort.md) is [frequency sort](../studies/frequency_sort.py).

## What the task separates

A segment-level memory (Transformer-XL) sees the last `mem_len` symbols per layer, a few
hundred at most: it can count the end of the sequence exactly and the start not at all. A
compressive memory sees further, coarsely. The ∞-former's signal spans the whole sequence at
fixed cost, with the oldest part the blurriest; counting is an average over time, which is
exactly what a blurred signal keeps best. The paper reports Transformer-XL ahead on the
shortest sequences and the ∞-former ahead as they grow; sticky memories help it further.
A model that ignores the sequence still scores $H_{20}/20 \approx 0.18$ under teacher forcing,
and a little more by exploiting the tie rule: that is the floor every number is read against.

To read a model's numbers against something that needs no training, the study's page adds a
row that is no model at all: exact counts of the last 384 symbols, about as far back as
Transformer-XL reaches in its runs (see `window_oracle` below). A model that counted its window
perfectly would score that row; only a memory of what came before could beat it.
"""

import torch

from labml_memory.tasks.batch import SyntheticBatch

# 20 symbols, then the separator: a vocabulary of 21.
SYMBOLS = 20
SEPARATOR = SYMBOLS
VOCAB = SYMBOLS + 1


# ## The drifting distribution
#
# All sequences of a batch at once: per sequence two distributions, `[batch, 20]`, and per
# position their mixture, `[batch, n, 20]`; each symbol is drawn by inverting that
# mixture's cumulative distribution at a uniform number.
def drifting_sequences(batch: int, n: int, generator: torch.Generator) -> torch.Tensor:
    # Integer weights 1..9 as in the paper's generator: every symbol keeps some probability at
    # both ends, so none is absent and the answer is always a permutation of all 20.
    weights = torch.randint(1, 10, (2, batch, SYMBOLS), generator=generator).float()
    p_init, p_final = weights / weights.sum(-1, keepdim=True)
    r = (torch.arange(n, dtype=torch.float32) + 1) / n
    # $(1 - r) p_{init} + r p_{final}$, `[batch, n, 20]`
    p = (1 - r)[None, :, None] * p_init[:, None] + r[None, :, None] * p_final[:, None]
    u = torch.rand(batch, n, 1, generator=generator)
    # The first symbol whose cumulative probability exceeds $u$ (clamped against rounding).
    return (p.cumsum(-1) < u).sum(-1).clamp(max=SYMBOLS - 1)


# ## The answer
#
# Counting by `scatter_add_` per row, then sorting. `torch.sort` with `stable=True` keeps
# equal keys in their original (id) order, which is the tie rule; `torch.argsort` without
# it would break ties arbitrarily and make the target itself noisy.
def sort_by_frequency(sequences: torch.Tensor) -> torch.Tensor:
    r"""`[batch, n]` → every symbol by decreasing count, ties to the smaller id, `[batch, 20]`."""
    counts = torch.zeros(sequences.shape[0], SYMBOLS, dtype=torch.long)
    counts.scatter_add_(1, sequences, torch.ones_like(sequences))
    # A stable sort on the negated counts keeps equal counts in id order.
    return torch.sort(-counts, dim=1, stable=True).indices


# ## One batch
#
# The full sequence is `[symbols..., SEP, answer...]`, $n + 21$ tokens; the model reads
# all but the last (`length` = $n + 20$ inputs) and predicts each next token. The answer is
# the targets at the last 20 positions, which is the score mask; every position counts in
# the loss.
def sample(batch_size: int, length: int, generator: torch.Generator) -> SyntheticBatch:
    # $n$ symbols leave room for the separator and the answer inside `length` inputs.
    n = length - SYMBOLS
    if n < 1:
        raise ValueError(f"length={length} leaves no room for symbols before the {SYMBOLS}-token answer; "
                         f"use length > {SYMBOLS}")
    # `[batch, n]` symbols, the separator, then the answer: `[batch, n + 21]`
    symbols = drifting_sequences(batch_size, n, generator)
    separator = torch.full((batch_size, 1), SEPARATOR, dtype=torch.long)
    full = torch.cat([symbols, separator, sort_by_frequency(symbols)], dim=1)
    # Inputs and targets are the full sequence shifted by one; the answer is the last 20 targets.
    score = torch.zeros(batch_size, length, dtype=torch.bool)
    score[:, -SYMBOLS:] = True
    return SyntheticBatch(full[:, :-1], full[:, 1:], torch.ones_like(score), score)


# ## A reference that needs no training: counting a window exactly
#
# What would a model score if it counted the last `window` symbols perfectly and nothing
# before them? At answer position $k$, teacher-forced like the models, it names the symbol
# with the highest count in the window among those the true answer has not listed yet
# (ties to the smaller id, as the target's rule). With the window covering the whole
# sequence it is always right; as the window shrinks against the length, the drift makes the
# recent counts a worse guide to the whole. Transformer-XL in the study's runs reaches about
# 384 symbols back (a 128-token memory in each of 2 layers, plus the segment), so the page
# draws this reference for a 384-symbol window beside the models.
def window_oracle(sequences: torch.Tensor, window: int) -> torch.Tensor:
    r"""`[batch, n]` symbols → per-sequence token accuracy of exact window counting, `[batch]`."""
    truth = sort_by_frequency(sequences)
    recent = sequences[:, -window:]
    counts = torch.zeros(sequences.shape[0], SYMBOLS)
    counts.scatter_add_(1, recent, torch.ones_like(recent, dtype=counts.dtype))
    right = torch.zeros(sequences.shape[0])
    for k in range(SYMBOLS):
        # `argmax` returns the first of equal maxima: ties go to the smaller id.
        right += (counts.argmax(-1) == truth[:, k]).float()
        # The true symbol at position $k$ is listed now: it can never be named again.
        counts.scatter_(1, truth[:, k:k + 1], -1.0)
    return right / SYMBOLS


ORACLE_WINDOW = 384


# ## The floor: a guesser with no memory of the sequence
#
# Teacher forcing hands the model the true answer so far, so even a guesser that never read
# the sequence knows which symbols are already listed and never repeats one. If it picks
# uniformly among the $20 - k$ left at answer position $k$, it is right with probability
# $1 / (20 - k)$, and its token accuracy is
# $$\frac{1}{20} \sum_{k=0}^{19} \frac{1}{20 - k} = \frac{H_{20}}{20} \approx 0.180,$$
# not $1/20$. It can do a little better still: ties go to the smaller id, so naming the
# *smallest* id not yet listed is right slightly more often (0.198 at 256 symbols, where ties
# are common; 0.183 at 4,096). That guesser is the floor the study's page draws, estimated on
# `samples` sequences of each length; the tests check both numbers by simulation.
def memoryless_floor(length: int, samples: int = 4000, seed: int = 54_321) -> float:
    r"""Token accuracy of naming the smallest id not yet listed, on sequences of `length` tokens read."""
    # Drawn 500 sequences at a time: a long sequence's mixture table is `[batch, n, 20]`.
    generator = torch.Generator().manual_seed(seed)
    truth = torch.cat([sample(min(500, samples - i), length, generator).targets[:, -SYMBOLS:]
                       for i in range(0, samples, 500)])
    listed = torch.zeros(samples, SYMBOLS, dtype=torch.bool)
    right = 0.0
    for k in range(SYMBOLS):
        # `argmax` of the not-yet-listed indicator is the smallest such id.
        right += ((~listed).float().argmax(-1) == truth[:, k]).float().mean().item()
        listed[torch.arange(samples), truth[:, k]] = True
    return right / SYMBOLS
