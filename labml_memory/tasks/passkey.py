r"""
# Passkey retrieval

A number is hidden somewhere in a long stretch of meaningless filler text; at the very end
the text asks for it. A model whose memory really carries information across segments can
answer; one that only sees a recent window cannot, unless the number happens to sit inside
that window. The test was popularised by
[Mohtashami and Jaggi (2023)](https://arxiv.org/abs/2305.16300) and is one of the two
long-context results of the [Infini-attention paper](https://arxiv.org/abs/2404.07143)
(a 1B model fine-tuned on 5K-token inputs retrieves the key from 1M tokens).

Ours is a small character-level version that trains on a CPU in minutes:

```
...the sun is yellow. here we go. the pass key is 4817. there and back again. the grass
is green. ... what is the pass key? the pass key is 4817
```

* the filler cycles through a few fixed sentences, starting at a random point;
* the **needle** `the pass key is 4817. ` starts at a chosen **depth**: $0$ puts it at the
  start of the text, $1$ just before the question;
* the **answer** is the last `n_digits` characters; exact match scores it (see the
  [synthetic-task loop](../training/synthetic.py));
* the needle's own digits are random, so they are left out of the training loss: no model
  could predict them, and they would only add noise.

The study that trains models on it, scores them over lengths and depths and writes the
[results page](../results/passkey.md) is [passkey retrieval](../studies/passkey.py); this
module is only the task: the text, and a sampler that builds batches of it for the
[synthetic-task loop](../training/synthetic.py).

![Passkey exact match against depth, per context length](../results/passkey/accuracy.png)

## What a window can and cannot do

A model that remembers a window of recent positions can answer only when the needle's
digits lie inside what its last layer can reach from the answer. For Transformer-XL with
$N$ layers, segments of $L$ and a memory of $0 < M \le L$ per layer, that reach is
$(L - 1) + M + (N - 1) L$ characters back from the end of a segment: each layer below the
top adds a whole segment, because the oldest position a layer reads sits at the end of an
earlier segment and saw that segment whole (the rule, and a probe that measures it on a real
model, are in [reach](reach.py)). For the study's runs ($L = 32$, $M = 16$, $N = 2$) that is 79
characters, not the $L + N M = 64$ an earlier version of this page said. The question and answer take the last
42 characters of the text (with a four-digit key), so the needle is in reach only at depth
1, or at every depth when the whole text fits the reach. Such a model therefore draws a
distinctive curve: accuracy near zero at small depths, rising at depth 1, and the same
curve at every length. A compressive memory has no reach in this sense: the needle's
segment was written into $(\mathcal{M}, z)$ and stays there, blurred by everything written after it.
Its curve should fall with length (more filler blurs the memory more) but need not depend
on depth. Comparing the two at the same state size is the point of the study.
"""

from typing import Optional, Tuple

import torch

from labml_memory.tasks.batch import SyntheticBatch

# ## The text
#
# Lower-case letters, digits, space and two punctuation marks: 39 characters.
CHARS = '0123456789abcdefghijklmnopqrstuvwxyz .?'
DIGITS = CHARS[:10]
FILLER = ('the grass is green. the sky is blue. the sun is yellow. '
          'here we go. there and back again. ')
NEEDLE = 'the pass key is {key}. '
QUESTION = 'what is the pass key? the pass key is {key}'
INDEX = {c: i for i, c in enumerate(CHARS)}


# Characters to ids and back. The vocabulary is fixed, not read from the data, so every
# run of every model uses the same ids and a model's output layer has the same size.
def encode(text: str) -> torch.Tensor:
    return torch.tensor([INDEX[c] for c in text], dtype=torch.long)


# The inverse, for reading a model's answer and for the tests.
def decode(ids) -> str:
    return ''.join(CHARS[int(i)] for i in ids)


# The filler is deliberately boring and predictable: a model learns it within a few dozen
# steps, after which nearly all of its loss is on the answer. Starting the cycle at a random
# point keeps the needle from always following the same words, so "the digits come after
# `here we go.`" is not a shortcut.
def _filler(offset: int, length: int) -> str:
    # `length` characters of the filler cycle, starting `offset` characters into it.
    repeats = (offset + length) // len(FILLER) + 1
    return (FILLER * repeats)[offset:offset + length]


# ## One passkey text
#
# A text of exactly `length` characters: filler, the needle at `depth`, more filler, the
# question and the answer. The needle's first character sits at
# $\mathrm{round}(\mathrm{depth} \times (\mathrm{length} - |\mathrm{question}| - |\mathrm{needle}|))$,
# so depth $0$ and $1$ are the two extremes the filler allows.
# Returns the text and where the key's digits start in it (the tests check both).
def passkey_text(length: int, depth: float, key: str, filler_offset: int = 0) -> Tuple[str, int]:
    # Bad arguments fail with the value and the valid range: the evaluation grid is
    # configured from the command line, where a typo is easy.
    if not key or any(c not in DIGITS for c in key):
        raise ValueError(f"the key must be a non-empty string of digits, got {key!r}")
    if not 0.0 <= depth <= 1.0:
        raise ValueError(f"depth must lie in [0, 1], got {depth}")
    # (A text too short for the needle and the question fails below rather than being
    # truncated: a truncated question would score a different task.)
    # The question ends with the key itself: the model is asked to *continue* the text, which
    # is how a language model answers, and the last `len(key)` characters are the answer.
    needle, question = NEEDLE.format(key=key), QUESTION.format(key=key)
    free = length - len(needle) - len(question)
    if free < 0:
        raise ValueError(f"a text of {length} characters cannot hold the needle and the question "
                         f"({len(needle) + len(question)} characters with a {len(key)}-digit key)")
    # `free` characters of filler in all: `start` of them before the needle, the rest after.
    # The second stretch continues the cycle where the first stopped, so the needle looks
    # like a sentence inserted into otherwise unbroken text.
    start = round(depth * free)
    text = (_filler(filler_offset, start) + needle
            + _filler((filler_offset + start) % len(FILLER), free - start) + question)
    return text, start + NEEDLE.index('{key}')


# ## A batch
#
# `length` inputs need `length + 1` characters (the targets are the inputs shifted by one).
# Target $i$ is character $i + 1$, so the answer's digits, the last `n_digits` characters,
# are the last `n_digits` targets; the needle's digits, from character $p$ on, are the targets
# from $p - 1$ on, which the loss mask leaves out.
def sample(batch_size: int, length: int, generator: torch.Generator, n_digits: int = 4,
           depth: Optional[float] = None) -> SyntheticBatch:
    r"""Random keys, filler offsets and (unless `depth` is given) depths, uniform in $[0, 1]$."""
    # Texts are built as strings, one per row, then encoded: clear to read and cheap next to
    # the model's forward pass. Every random choice comes from `generator`.
    texts, key_starts = [], []
    for _ in range(batch_size):
        # A fresh key per text: digits drawn independently, leading zeros allowed.
        key = ''.join(DIGITS[int(d)] for d in torch.randint(10, (n_digits,), generator=generator))
        d = float(torch.rand((), generator=generator)) if depth is None else depth
        offset = int(torch.randint(len(FILLER), (), generator=generator))
        text, key_start = passkey_text(length + 1, d, key, offset)
        texts.append(encode(text))
        key_starts.append(key_start)
    # `[batch, length + 1]`; all texts have the same length, so they stack.
    tokens = torch.stack(texts)
    loss_mask = torch.ones(batch_size, length, dtype=torch.bool)
    # Mask out the needle's digits (targets p-1 .. p+n-2) row by row; the answer's digits are
    # the same last `n_digits` targets in every row, so one slice marks them for the batch.
    for row, p in enumerate(key_starts):
        loss_mask[row, max(0, p - 1):p - 1 + n_digits] = False
    score_mask = torch.zeros(batch_size, length, dtype=torch.bool)
    score_mask[:, length - n_digits:] = True
    return SyntheticBatch(tokens[:, :-1], tokens[:, 1:], loss_mask, score_mask)
