r"""
# Associative recall: how much a memory holds, and for how long

Passkey retrieval asks a memory to keep *one* item. Associative recall asks it to keep
*many*: a text opens with $k$ key-value pairs, a stretch of filler follows, and then the text
asks for the values of some of the keys. Two numbers set the difficulty, and they are the two
axes of the [memory-reach results](../results/memory_reach.md):

* the **load** $k$, how many pairs must be kept at once (a window that holds the pairs holds
  them all; a fixed-size summary blurs as $k$ grows);
* the **gap** $g$, how many filler characters separate the last pair from the first query
  (a window forgets everything beyond its reach; a summary need not).

```
 pairs (load k = 3)  gap g (filler)                 queries
 q42 b07 m93 the sky is blue. the sun is ... ?b07 ?q42
```

Keys are lower-case letters, all different within a text (so a load of at most 26); values
are two digits, drawn uniformly and independently of everything else. A query `?b` is
answered by the two digits after it, and a query counts as right when **both** digits are (exact match per
query, teacher-forced as in every task here; see the [synthetic-task loop](../training/synthetic.py)).

**Why the value follows its key directly.** An earlier version wrote `q:42` and asked `?q:`.
The colon puts the key two characters before the first digit, so a model must match a
character *two* back (the key before the colon) against one *one* back at the query: a
two-step lookup that a two-layer model learned slowly. A plain transformer trained 3,000
steps on lookups alone answered 0.75 of its queries at two pairs, almost all its errors on
the first digit, the one that needs the key (the second follows the first, a one-back match,
and was right 0.97 of the time). Without the colon the first digit is the usual one-back
copy, "find where my character was before and say what came next", and the same model
trained the same way answers 1.00 at two pairs after 1,000 steps. The records of these trials
are kept in `docs/results/memory_reach/history/trials/` (see the [results](../results/memory_reach.md)).

## The floor

A value is independent of its key, of the other pairs and of all the filler, so a model that
has forgotten the pairs can do no better than guess: whatever rule it uses, it is right with
probability $10^{-2}$ per query (the answer is one of 100 equally likely values). That is the
floor on every table and plot; the tests check it by simulating guessers. The digits of the
keys and values in the pairs, and the key of each query, are random too: no model could
predict them, so they are left out of the training loss.
"""

from typing import List, Optional, Tuple

import torch

from labml_memory.tasks.passkey import FILLER, _filler
from labml_memory.tasks.batch import SyntheticBatch

# ## The text
#
# The passkey alphabet: digits, lower-case letters, space, `.` and `?`.
CHARS = '0123456789abcdefghijklmnopqrstuvwxyz .?'
INDEX = {c: i for i, c in enumerate(CHARS)}
LETTERS, DIGITS = CHARS[10:36], CHARS[:10]
KEY_LEN, VALUE_LEN = 1, 2
# `q42 ` and `?q42 `: four and five characters.
PAIR_LEN, QUERY_LEN = KEY_LEN + VALUE_LEN + 1, 1 + KEY_LEN + VALUE_LEN + 1
N_KEYS = len(LETTERS) ** KEY_LEN
# A memory text asks at most this many of its keys; a lookup text asks every one.
MAX_QUERIES = 4


def default_queries(load: int) -> int:
    return min(load, MAX_QUERIES)


# A memoryless guesser's exact match per query.
FLOOR = 10.0 ** -VALUE_LEN


def encode(text: str) -> torch.Tensor:
    return torch.tensor([INDEX[c] for c in text], dtype=torch.long)


def decode(ids) -> str:
    return ''.join(CHARS[int(i)] for i in ids)


# ## Where everything goes
#
# A text of `length` characters is laid out as: filler that pads it to length (the prefix),
# the $k$ pairs, the gap of $g$ filler characters, the queries. Every row of a batch shares
# the layout, so the answer positions are the same for every row, and the queries stay at the
# very end, where the model is asked. The shortest text that holds a layout is
# `needed_length`; a layout that does not fit is an error naming what would.
def needed_length(load: int, gap: int, n_queries: int) -> int:
    return load * PAIR_LEN + gap + n_queries * QUERY_LEN


def layout(length: int, load: int, gap: int, n_queries: int) -> Tuple[int, int]:
    r"""`(prefix, first query)`: where the pairs start and where the queries start, in characters."""
    if not 1 <= load <= N_KEYS:
        raise ValueError(f"load must be between 1 and {N_KEYS} (distinct {KEY_LEN}-letter keys), got {load}")
    if not 1 <= n_queries <= load:
        raise ValueError(f"n_queries must be between 1 and the load ({load}), got {n_queries}")
    if gap < 0:
        raise ValueError(f"gap must be >= 0 characters, got {gap}")
    need = needed_length(load, gap, n_queries)
    if need > length:
        raise ValueError(f"a text of {length} characters cannot hold {load} pairs, a gap of {gap} and "
                         f"{n_queries} queries ({need} characters); use a length of at least {need}")
    prefix = length - need
    return prefix, prefix + load * PAIR_LEN + gap


# ## A batch
#
# `length` inputs need `length + 1` characters; target $i$ is character $i + 1$. Text is built
# as strings, row by row, like the passkey texts, and every random choice comes from
# `generator`, so a batch is a function of the seed.
def sample(batch_size: int, length: int, generator: torch.Generator, load: int, gap: int,
           n_queries: Optional[int] = None) -> SyntheticBatch:
    r"""`load` pairs, `gap` filler characters, then `n_queries` (default: all, at most 4) queries."""
    n_queries = default_queries(load) if n_queries is None else n_queries
    prefix, first_query = layout(length + 1, load, gap, n_queries)
    rows, scored, unpredictable = [], [], []
    for _ in range(batch_size):
        # Distinct keys: a random subset of all the keys, in random order.
        key_ids = torch.randperm(N_KEYS, generator=generator)[:load].tolist()
        keys = [''.join(LETTERS[i // len(LETTERS) ** p % len(LETTERS)] for p in range(KEY_LEN)) for i in key_ids]
        values = [''.join(DIGITS[int(d)] for d in torch.randint(10, (VALUE_LEN,), generator=generator))
                  for _ in range(load)]
        # Which keys are asked, in what order: a random subset, so no position is a shortcut.
        asked = torch.randperm(load, generator=generator)[:n_queries].tolist()
        offset = int(torch.randint(len(FILLER), (), generator=generator))
        text = (_filler(offset, prefix)
                + ''.join(f'{k}{v} ' for k, v in zip(keys, values))
                + _filler((offset + prefix) % len(FILLER), gap)
                + ''.join(f'?{keys[i]}{values[i]} ' for i in asked))
        rows.append(encode(text))
    # Positions, as indices into the characters of a text: the pairs' keys and values, the
    # queries' keys (unpredictable) and the queries' values (the answers).
    for j in range(load):
        start = prefix + j * PAIR_LEN
        unpredictable += list(range(start, start + PAIR_LEN - 1))
    for j in range(n_queries):
        start = first_query + j * QUERY_LEN
        unpredictable += list(range(start + 1, start + 1 + KEY_LEN))
        scored += list(range(start + 1 + KEY_LEN, start + 1 + KEY_LEN + VALUE_LEN))
    tokens = torch.stack(rows)
    # Character $i$ is target $i - 1$.
    loss_mask = torch.ones(batch_size, length, dtype=torch.bool)
    loss_mask[:, [c - 1 for c in unpredictable if c > 0]] = False
    score_mask = torch.zeros(batch_size, length, dtype=torch.bool)
    score_mask[:, [c - 1 for c in scored]] = True
    return SyntheticBatch(tokens[:, :-1], tokens[:, 1:], loss_mask, score_mask)


# ## Scoring each query
#
# The score mask marks `VALUE_LEN` targets per query, in order, and the same targets in every
# row; a query is right when all of its targets are. Returns `[batch, n_queries]` booleans.
def query_correct(predictions: torch.Tensor, batch: SyntheticBatch) -> torch.Tensor:
    positions = batch.score_mask[0].nonzero().flatten()
    if positions.numel() == 0 or positions.numel() % VALUE_LEN:
        raise ValueError(f"expected {VALUE_LEN} scored targets per query, got {positions.numel()}")
    if not (batch.score_mask == batch.score_mask[:1]).all():
        raise ValueError("every row of a recall batch must share its answer positions")
    right = predictions[:, positions] == batch.targets[:, positions]
    # `[batch, n_queries, VALUE_LEN]` → `[batch, n_queries]`
    return right.view(right.shape[0], -1, VALUE_LEN).all(dim=-1)


# ## Training texts
#
# The shared loop asks for texts of a given length. Two kinds are mixed, drawn text by text:
#
# * a **lookup text** (a share `lookup_share` of them): a load from `loads` (those that fit),
#   the pairs right before the queries and *every* written key asked, in random order. It
#   teaches the lookup itself, inside the attention window, with as many lookups per text as
#   the text has pairs;
# * a **memory text** (the rest): a load from `loads` and a gap from zero to all the room $R$
#   the length leaves, **log-uniformly**, $g = \lfloor (R + 1)^u \rfloor - 1$ with $u$ uniform
#   in $[0, 1)$, so every doubling of the gap is about equally likely, as on the evaluation
#   grid; at most four keys asked. It teaches carrying the pairs across the gap.
#
# Both are needed. Memory texts alone never taught the lookup: a plain transformer trained on
# them 1,000 steps answered 0.42 of its queries at two pairs and no gap, about what naming
# either value gives; trained on lookup texts alone it answered 1.00. Earlier samplers failed
# the one-pair control outright: pairs always at the start left every gap longer than a
# segment, and a Transformer-XL trained 600 steps never learned to look anything up (answer
# loss stuck at $\ln 10$); gaps uniform in $[0, R]$ made a gap of zero so rare that the same
# model scored 1.00 one segment away but 0.81 at gap zero.
def training_sampler(loads: List[int], lookup_share: float = 0.5):
    if not 0.0 <= lookup_share <= 1.0:
        raise ValueError(f"lookup_share is a fraction of the training texts, in [0, 1]; got {lookup_share}")

    def draw(batch_size: int, length: int, generator: torch.Generator) -> SyntheticBatch:
        lookup = float(torch.rand((), generator=generator)) < lookup_share
        fitting = [k for k in loads if needed_length(k, 0, k if lookup else default_queries(k)) <= length + 1]
        if not fitting:
            raise ValueError(f"no load in {loads} fits a training text of {length} characters")
        load = fitting[int(torch.randint(len(fitting), (), generator=generator))]
        if lookup:
            return sample(batch_size, length, generator, load, 0, n_queries=load)
        room = length + 1 - needed_length(load, 0, default_queries(load))
        u = float(torch.rand((), generator=generator))
        gap = min(room, int((room + 1) ** u) - 1)
        return sample(batch_size, length, generator, load, gap)
    return draw
