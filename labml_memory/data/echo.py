r"""
# Echo streams: Tiny Shakespeare in which memory must pay

On plain Tiny Shakespeare a small model gains almost nothing from text further back than one
segment: the next character is decided by the last few words, and a memory has nothing it
alone can carry. An **echo stream** gives it something. It is the same text, read as the same
parallel streams, except that now and then a **passage** of the text itself, $\ell$ characters
long ($64 \le \ell \le 128$), recurs verbatim a controlled **distance** $D$ after it first
appeared:

```
... the text ... [passage P] ... D − ℓ characters of text ... [passage P again] ... the text ...
                 ^ source s                                     ^ echo e = s + D
```

A model that can still see the passage when the echo begins can copy it, and its loss on the
echo's characters falls towards zero; a model whose memory does not reach $D$ back can only
read the echo as ordinary text. The difference between the two losses is the **echo gain**
(measured in [the echo study](../studies/echo.py)):

$$\text{gain}(D) = \bar{\mathcal{L}}_\text{first} - \bar{\mathcal{L}}_\text{echo},$$

the mean loss on the passage's characters where they first occur minus the mean loss on the
same characters in the echo. Both sets have natural text before them, so without memory the
gain is zero (up to noise), and with a perfect copy it is the first-occurrence loss itself.

## Where the distance is exact

$D$ is measured in the stream the model reads, not in the original text: the echo starts
exactly $D$ characters after its source, so character $j$ of the echo sits exactly $D$ after
character $j$ of the source. Each stream is built on its own, so no echo crosses from one
stream to another, and the training and held-out streams are built from their own halves of
the split, so no held-out echo copies training text.

## The first characters of an echo are its cue

Nothing announces an echo, so its first characters cannot be predicted from the passage:
a model must read a few characters before it can find where they came from. The first `cue`
characters of every echo (8 by default) are therefore not scored, here or at the first
occurrence.

## How the echoes are placed

Each stream is the original text with passages inserted. After every insertion, an ordinary
stretch of text is copied whose length is drawn so that, on average, a fraction `rate` of the
stream's characters are echoes; then a distance $D$ is drawn from `distances` and a length
$\ell$ uniformly from $[64, \min(128, D)]$ (so a passage never overlaps its own echo). The
source must be ordinary text (never part of an earlier echo), so every first occurrence is
natural text; where that fails, up to eight draws are tried before more text is copied. So
`rate` is the share asked for: at 0.25 about 0.24 of the characters are echoes, at 0.5 about
0.40 (more sources fall inside earlier echoes), and `echo_fraction()` measures it.

## Drawing the distance: on a grid, or spread between its ends

With `draw='grid'`, $D$ is one of `distances`, each equally often: the held-out streams are
always built this way, so every scored distance has its own echoes. With `draw='log_uniform'`,
$D$ is a whole number drawn log-uniformly between the smallest and the largest of `distances`
(every octave equally often, as on the grid, but every offset inside it too). Training on the
grid alone lets a model learn one attention head per distance ("look exactly $D$ back") in place
of one copy by content; training on the spread draw gives it no fixed offset to learn.
"""

import math

import random
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch


# ## One echo
#
# Positions are indices into one stream's characters (its row), 0-based: the source passage
# occupies `source … source + length − 1`, its echo `start … start + length − 1`.
@dataclass(frozen=True)
class Echo:
    row: int
    source: int
    start: int
    length: int

    @property
    def distance(self) -> int:
        return self.start - self.source


DRAWS = ('grid', 'log_uniform')


@dataclass(frozen=True)
class EchoSettings:
    r"""How an echo stream is made: the distances $D$ to draw from, the passage lengths, the
    fraction of characters that are echoes, the unscored cue, and the random seed."""
    distances: Tuple[int, ...] = (64, 128, 256, 512, 1024, 2048)
    min_length: int = 64
    max_length: int = 128
    rate: float = 0.25
    cue: int = 8
    seed: int = 0
    # `grid` or `log_uniform` (see above).
    draw: str = 'grid'

    def validate(self) -> None:
        if self.draw not in DRAWS:
            raise ValueError(f"draw must be one of {', '.join(DRAWS)}; got {self.draw!r}")
        if not self.distances or min(self.distances) < self.min_length:
            raise ValueError(f"every echo distance must be at least the shortest passage "
                             f"({self.min_length} characters) so a passage never overlaps its echo; "
                             f"got distances={list(self.distances)}")
        if not 0 < self.min_length <= self.max_length:
            raise ValueError(f"passage lengths must satisfy 0 < min_length <= max_length; got "
                             f"{self.min_length}, {self.max_length}")
        if not 0.0 < self.rate < 1.0:
            raise ValueError(f"rate is the fraction of characters that are echoes, in (0, 1); got {self.rate}")
        if not 0 <= self.cue < self.min_length:
            raise ValueError(f"cue must lie in [0, min_length={self.min_length}); got {self.cue}")


# ## Building one stream
#
# `text` is the stream's share of the original characters. Ordinary stretches are drawn from
# an exponential distribution with the mean that makes the echo fraction `rate`: if passages
# average $\bar\ell$ characters, ordinary text between them must average
# $\bar\ell (1 - r) / r$.
TRIES = 8
# The log-uniform draw's mean passage length is taken over this many of its quantiles.
QUANTILES = 1024


def draw_distance(settings: EchoSettings, rng: random.Random) -> int:
    if settings.draw == 'grid':
        return rng.choice(settings.distances)
    low, high = min(settings.distances), max(settings.distances)
    return min(high, max(low, round(math.exp(rng.uniform(math.log(low), math.log(high))))))


# The distances whose passage lengths set the mean: the grid itself, or evenly spaced quantiles
# of the log-uniform draw.
def typical_distances(settings: EchoSettings) -> List[float]:
    if settings.draw == 'grid':
        return list(settings.distances)
    low, high = min(settings.distances), max(settings.distances)
    return [low * (high / low) ** ((i + 0.5) / QUANTILES) for i in range(QUANTILES)]


def build_row(text: torch.Tensor, settings: EchoSettings, row: int, rng: random.Random
              ) -> Tuple[torch.Tensor, List[Echo]]:
    """One stream with echoes inserted, and the echoes, in order."""
    original = text.tolist()
    out: List[int] = []
    is_echo: List[bool] = []
    echoes: List[Echo] = []
    typical = typical_distances(settings)
    mean_length = sum((settings.min_length + min(settings.max_length, d)) / 2 for d in typical) / len(typical)
    mean_gap = mean_length * (1 - settings.rate) / settings.rate
    read = 0
    while read < len(original):
        gap = max(1, round(rng.expovariate(1 / mean_gap)))
        out.extend(original[read:read + gap])
        is_echo.extend([False] * len(original[read:read + gap]))
        read += gap
        if read >= len(original):
            break
        # The source must exist and be ordinary text; its echo starts right here. A few
        # draws are tried before giving up, so short distances (whose source more often falls
        # inside the previous echo) are not thinned out.
        for _ in range(TRIES):
            distance = draw_distance(settings, rng)
            length = rng.randint(settings.min_length, min(settings.max_length, distance))
            source = len(out) - distance
            if source >= 0 and not any(is_echo[source:source + length]):
                echoes.append(Echo(row, source, len(out), length))
                out.extend(out[source:source + length])
                is_echo.extend([True] * length)
                break
    return torch.tensor(out, dtype=torch.long), echoes


# ## Echo streams
#
# The same interface as [the sequential streams](shakespeare.py) the trainer reads
# (`segment(index)`, `len`, `seq_len`), so any model trains and evaluates on them unchanged.
# Every row is built from its own contiguous share of the text, then all rows are cut to the
# shortest, so the batch is rectangular; an echo cut by that end is dropped from the list.
class EchoStreams:
    def __init__(self, data: torch.Tensor, batch_size: int, seq_len: int,
                 settings: EchoSettings = EchoSettings(), rows: Optional[slice] = None):
        settings.validate()
        if batch_size <= 0 or seq_len <= 0:
            raise ValueError(f"batch_size and seq_len must be positive, got {batch_size}, {seq_len}")
        share = len(data) // batch_size
        if share < seq_len + 1:
            raise ValueError(f"{len(data)} tokens cannot fill {batch_size} echo streams of at least "
                             f"seq_len={seq_len}; lower batch_size or seq_len")
        self.settings, self.seq_len = settings, seq_len
        rng = random.Random(settings.seed)
        built = [build_row(data[b * share:(b + 1) * share], settings, b, rng) for b in range(batch_size)]
        stream_len = min(len(row) for row, _ in built) - 1
        self.segments_per_epoch = stream_len // seq_len
        if self.segments_per_epoch < 1:
            raise ValueError(f"the echo streams hold {stream_len} characters, less than one segment of {seq_len}")
        usable = self.segments_per_epoch * seq_len
        whole = torch.stack([row[:usable + 1] for row, _ in built])
        rows = slice(None) if rows is None else rows
        self.chars = whole[rows]
        self.inputs, self.targets = self.chars[:, :-1], self.chars[:, 1:]
        kept = range(batch_size)[rows]
        renumber = {b: i for i, b in enumerate(kept)}
        # An echo counts only if every one of its characters is a target of some segment.
        self.echoes = [Echo(renumber[e.row], e.source, e.start, e.length)
                       for b in kept for e in built[b][1] if e.start + e.length <= usable]

    def __len__(self) -> int:
        return self.segments_per_epoch

    def segment(self, index: int) -> Tuple[torch.Tensor, torch.Tensor, bool]:
        r"""Segment `index` (epochs wrap), and whether it opens an epoch (memory reset)."""
        position = index % self.segments_per_epoch
        cols = slice(position * self.seq_len, (position + 1) * self.seq_len)
        return self.inputs[:, cols], self.targets[:, cols], position == 0

    # ### Which losses to compare
    #
    # Character $j$ of a passage is the target at input position `source + j − 1` (its first
    # occurrence) and `start + j − 1` (its echo). For each distance, the two lists of
    # (row, input position) pairs, over every scored character $j \ge$ `cue` of every echo.
    # A character at position 0 has no input before it and is never scored.
    def scored_positions(self) -> Dict[int, Tuple[List[Tuple[int, int]], List[Tuple[int, int]]]]:
        found: Dict[int, Tuple[List[Tuple[int, int]], List[Tuple[int, int]]]] = {}
        for e in self.echoes:
            first, echo = found.setdefault(e.distance, ([], []))
            for j in range(max(self.settings.cue, 1), e.length):
                first.append((e.row, e.source + j - 1))
                echo.append((e.row, e.start + j - 1))
        return found

    def echo_fraction(self) -> float:
        """The share of the streams' characters that are echoes (the setting `rate`, measured)."""
        total = self.chars.shape[0] * self.chars.shape[1]
        return sum(e.length for e in self.echoes) / total


# ## The echo gain from per-position losses
#
# `losses[b, t]` is the loss of the prediction made at input position `t` of row `b` (the
# target `t + 1`). The gain at each distance, with the counts behind it.
def echo_gains(streams: EchoStreams, losses: torch.Tensor) -> Dict[int, Dict[str, float]]:
    gains = {}
    for distance, (first, echo) in sorted(streams.scored_positions().items()):
        first_loss = sum(float(losses[b, t]) for b, t in first) / len(first)
        echo_loss = sum(float(losses[b, t]) for b, t in echo) / len(echo)
        gains[distance] = {'first': first_loss, 'echo': echo_loss, 'gain': first_loss - echo_loss,
                           'characters': len(echo),
                           'echoes': sum(1 for e in streams.echoes if e.distance == distance)}
    return gains
