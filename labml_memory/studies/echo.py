r"""
# Study: echoes, a natural-text test in which memory must pay

On plain Tiny Shakespeare a small model gains almost nothing from further back than one
segment, so a study of memory there has no positive control: a memory that carried nothing
and one that carried everything would score alike. This study trains and scores on
[echo streams](../data/echo.py): the same text, in which a passage of 64–128 characters now
and then recurs verbatim a distance $D$ after it first appeared. A model that still sees the
passage when its echo begins can copy it; one whose memory does not reach $D$ back cannot.

```
python -m labml_memory.studies run echo                                   # every run not yet recorded
python -m labml_memory.studies run echo cells=transformer_xl:64 seeds=0   # one cell, one seed
python -m labml_memory.studies report echo                                # redraw the page
```

## The measure: the echo gain

For each distance $D$ of the held-out echo streams, the mean loss on the passages' characters
where they first occur minus the mean loss on the same characters in their echoes (the first
`cue` characters of every passage, which no model can know are an echo, left out):

$$\text{gain}(D) = \bar{\mathcal{L}}_\text{first} - \bar{\mathcal{L}}_\text{echo} .$$

The memoryless floor is exactly zero: a model that cannot see the source reads both
occurrences as ordinary text, each with ordinary text before it. A perfect copier's gain is the
first-occurrence loss itself, about 1.8 nats per character here. Every run of every cell
reads the same held-out streams (built once, from the validation half, with a fixed seed), so
cells are paired seed by seed on the same characters.

## The positive control: Transformer-XL at three memory lengths

Copying a passage needs one attention read from the echo back to its source (an induction
read: the key one character after the match carries the character to copy). In
Transformer-XL a query at offset $t$ of its segment reads the $M$ cached positions before the
segment and the segment up to itself, $t + M$ positions back; the read that copies character
$j$ of an echo goes from the query one before it to the key one after the source's character
$j - 1$, $D - 1$ positions back. So a copy at distance $D$ is possible at every offset when
$D \le M + 1$, at some offsets when $M + 1 < D \le M + L$, and at none when $D > M + L$,
whatever the training, for a copy made in one read. The [reach rule](../tasks/reach.py) counts
further, $(L - 1) + M + (N - 1)\lceil M/L \rceil L$ from the end of a segment, because a lower
layer's cached state carries what that layer read one segment earlier: a copy can be relayed
through the layers, and beyond the rule no weights can make one. With $L = 64$ and $N = 4$:

* $M = 0$ (no memory): one read reaches $D = 64$ from the last query of a segment only; nothing
  reaches $D = 128$ or further;
* $M = 64$: one read up to $D = 64$ at every offset, $D = 128$ at the last; the rule reaches
  $D = 256$ through the layers and nothing reaches $D = 512$;
* $M = 256$: one read up to $D = 256$; the rule reaches $D = 512$ and $D = 1024$, nothing
  $D = 2048$.

A control passes when the gain is **ahead** of zero where one read covers $D$ at every
offset, and a **tie** with zero (inside the declared margin) where the rule leaves no path.
Between the two, past one read but inside the rule, whether a model relays a copy through its
layers is shown as a finding. (The first plan put the tie at the first distance past one read;
one seed of the $M = 256$ model copied there, so the tie moved, after those runs, to where
the rule leaves no path. The page says so.)

## The paper's claim: a longer memory at evaluation than in training

Transformer-XL's paper evaluates with a longer memory than it trained with. The $M = 64$
model is scored again with every layer's evaluation memory set to each of `eval_mem_lens`;
the page compares its gain at each distance with the trained memory's.

## Each paper's memory, at the shared sizes

An architecture named alone runs at the sizes every study shares, where each paper's own memory
sits beside (or instead of) a verbatim cache of 64 per layer. Four layers of $M = 64$ relay a
copy at most 319 characters back (the reach rule), so at the first distance past that, $D = 512$,
no verbatim read or relay can serve, and only what the paper adds can: the Memorizing
Transformer's kNN table of 1,024 positions, the ∞-former's continuous long-term memory,
Infini-attention's compressive memory, the RMT's memory tokens. Each paper claims its memory
carries the past that far; the page judges the gain there against zero (ahead: the claim
reproduced on this test; a tie: refuted at this size and training). A model with a cache of 64 is
judged at $D = 64$ too, its in-window control. The memory-depth model (one layer of 64 last,
three of 16) is judged against `transformer_xl:64` (all four of 64) at $D = 64$: its paper's
claim is that a few long layers suffice, a tie.

## The verdicts

Gains against zero (the memoryless floor) and the longer evaluation memory against the
trained one, paired by seed, Holm-corrected across the page, ties against the margin
`margin` in nats per character, declared in the settings before the runs.
"""
import functools
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Tuple

from labml_memory.studies import stats
from labml_memory.studies.runner import SEED_CELLS, Convention, Page, Records, Run, Study, tally, unheaded

NAME = 'echo'
XL = 'transformer_xl'
COMPRESSIVE = 'compressive'
# The held-out streams' seed, the same for every run: cells are paired on the same characters.
EVAL_SEED = 1_000
# Every model reads 16 streams of 64 characters, in training and in scoring.
STREAMS, SEGMENT = 16, 64
# The shared sizes' layers.
LAYERS = 4
# The other architectures, each a cell by its name alone, at the shared sizes of every study
# (the benchmark's: $M = 64$ where a memory has a length, 8 memory tokens for the RMT, a kNN
# table of 1,024 pairs with $k = 32$ for the Memorizing Transformer).
OTHERS = ('infini_attention', 'infinity_former', 'memorizing_transformer', 'memory_depth', 'recurrent_memory')


# ## Settings
#
# A cell is an architecture, with `:M` for Transformer-XL's memory length per layer.
@dataclass
class Settings:
    # The positive control. The compression cells, `transformer_xl:112` (the Compressive
    # Transformer's attention cost) and `compressive:64:48:4` (the span of `transformer_xl:256`),
    # are run with `cells=compressive:64:48:4@6000,transformer_xl:112@6000` and join the page
    # when recorded: they train as long as the M = 256 cell they are compared with.
    # A cell may carry its own step count after `@`: at 1,200 and at 3,000 steps the M = 256
    # model copied at some distances its direct read covers and not at others, seed by seed (its
    # records are kept in `history/at_1200_steps/` and `history/at_3000_steps/`), so it trains
    # for 6,000.
    cells: List[str] = field(default_factory=lambda: ['transformer_xl:0', 'transformer_xl:64',
                                                      'transformer_xl:256@6000'])
    seeds: List[int] = field(default_factory=lambda: [0, 1, 2])
    steps: int = 1200
    warmup: int = 60
    # The echo streams, for training and scoring alike: the fraction of characters that are
    # echoes and the distances drawn (each equally often).
    #
    # A cell may also carry `~log`: it then trains on distances drawn log-uniformly between the
    # grid's ends (every offset, not six), and is scored on the grid as every cell is. Trained
    # on the grid alone, a model can learn a head per trained distance in place of one copy by
    # content, and at 3,000 steps the M = 256 control's seeds differed in which distances they
    # had learned. The spread draw was tried as the cure and did worse: at 3,000 steps neither
    # M = 112 nor M = 256 learned to copy at all (its trial records,
    # `history/trial_log_uniform_at_3000_steps/`, are on the page), so the cells train on the
    # grid, and for longer.
    rate: float = 0.5
    distances: List[int] = field(default_factory=lambda: [64, 128, 256, 512, 1024, 2048])
    cue: int = 8
    # Evaluation memories of Transformer-XL's paper claim, for the `transformer_xl:64` cell.
    eval_mem_lens: List[int] = field(default_factory=lambda: [128, 256, 512])
    # nats per character: a gain inside ±margin of zero is "no gain" (copying gains about 0.8).
    margin: float = 0.1

    def validate(self) -> None:
        for cell in self.cells:
            cell, tilde, draw = cell.partition('~')
            if tilde and draw != 'log':
                raise ValueError(f"cells: {cell}~{draw}: the only recipe after ~ is 'log' (distances drawn "
                                 f"log-uniformly in training)")
            cell, _, steps = cell.partition('@')
            if _ and not steps.isdigit():
                raise ValueError(f"cells: {cell}@{steps}: the steps after @ must be a whole number")
            arch, *sizes = cell.split(':')
            if arch in OTHERS and not sizes:
                continue
            if not ((arch == XL and len(sizes) == 1) or (arch == COMPRESSIVE and len(sizes) == 3)) \
                    or not all(x.isdigit() for x in sizes):
                raise ValueError(f"cells: {cell!r} is neither transformer_xl:M nor compressive:M:Mc:c with "
                                 f"whole numbers (e.g. transformer_xl:64, compressive:64:48:4), nor one of "
                                 f"{', '.join(OTHERS)} (at the shared sizes)")
            if arch == COMPRESSIVE and SEGMENT % int(sizes[2]):
                raise ValueError(f"cells: {cell!r}: the compression rate must divide the segment of {SEGMENT}")
        if not self.seeds or self.steps < 1:
            raise ValueError(f"need at least one seed and steps >= 1; got seeds={self.seeds}, steps={self.steps}")
        if not 0 < self.rate < 1:
            raise ValueError(f"rate is the fraction of characters that are echoes, in (0, 1); got {self.rate}")
        if not self.distances or min(self.distances) < 64:
            raise ValueError(f"distances must be at least 64 (the shortest passage); got {self.distances}")
        if self.margin <= 0:
            raise ValueError(f"margin is a size in nats per character, got {self.margin}")


def base_of(cell: str) -> str:
    """The cell without its own step count and recipe."""
    return cell.partition('~')[0].partition('@')[0]


def steps_for(cell: str, steps: int) -> int:
    cell = cell.partition('~')[0]
    return int(cell.partition('@')[2]) if '@' in cell else steps


def draw_for(cell: str) -> str:
    """How the cell's training streams draw D: `log_uniform` for `~log`, else the grid."""
    return 'log_uniform' if cell.partition('~')[2] == 'log' else 'grid'


def arch_of(cell: str) -> str:
    return cell.split(':')[0]


def mem_of(cell: str) -> int:
    """$M$, the verbatim memory per layer (0 for an architecture named alone: it is not sized here)."""
    sizes = cell.split(':')
    return int(sizes[1]) if len(sizes) > 1 else 0


def sized(cell: str) -> bool:
    """Whether the cell is Transformer-XL or the Compressive Transformer with its lengths named,
    the cells whose reads the page can count."""
    return arch_of(cell) in (XL, COMPRESSIVE)


def compressed_of(cell: str) -> Tuple[int, int]:
    """$(M_c, c)$ of a Compressive Transformer cell, `(0, 1)` for Transformer-XL."""
    sizes = cell.split(':')
    return (int(sizes[2]), int(sizes[3])) if len(sizes) == 4 else (0, 1)


def key_of(cell: str, seed: int) -> str:
    return f"{cell.replace(':', '_m', 1).replace(':', '_')}_seed{seed}"


# Seeds outside, cells inside: a stopped study has every cell at the first seeds.
def plan(settings: Settings) -> List[Run]:
    shared = {'steps': settings.steps, 'warmup': settings.warmup, 'rate': settings.rate,
              'distances': settings.distances, 'cue': settings.cue, 'margin': settings.margin}
    runs = []
    for seed in settings.seeds:
        for spec in settings.cells:
            cell = base_of(spec)
            extra = {'eval_mem_lens': settings.eval_mem_lens} if cell == f'{XL}:64' else {}
            runs.append(Run(key_of(cell, seed), {'cell': cell, 'seed': seed, **shared,
                                                 'steps': steps_for(spec, settings.steps),
                                                 'train_draw': draw_for(spec), **extra}))
    return runs


def echo_settings(s: Dict[str, Any], seed: int, draw: str = 'grid'):
    from labml_memory.data.echo import EchoSettings
    return EchoSettings(distances=tuple(s['distances']), rate=s['rate'], cue=s['cue'], seed=seed, draw=draw)


# ## Scoring: the loss of every prediction of the held-out streams
#
# The model reads the streams from the start with its whole history, as validation does; the
# result is `[streams, characters]`, the loss of the prediction made at each input position.
def position_losses(model, streams, change=None):
    import torch
    import torch.nn.functional as F
    model.eval()
    memory, losses = None, []
    with torch.no_grad():
        for index in range(len(streams)):
            inputs, targets, _ = streams.segment(index)
            if change is not None and memory is not None:
                memory = change(memory)
            logits, memory, _ = model(inputs, memory)
            losses.append(F.cross_entropy(logits.transpose(1, 2), targets, reduction='none'))
    return torch.cat(losses, dim=1)


def held_out(s: Dict[str, Any]):
    from labml_memory.data.echo import EchoStreams
    from labml_memory.data.shakespeare import Vocabulary, load_text, split
    text = load_text()
    data = Vocabulary.from_text(text).encode(text)
    return EchoStreams(split(data)[1], STREAMS, SEGMENT, echo_settings(s, EVAL_SEED))


# One run: train on echo streams of the training half, then score the held-out streams. The
# shared sizes (`config_for`) set one PyTorch thread, which the scoring after training keeps:
# two workers on two cores, as every study on this machine.
def execute(run: Run) -> Dict[str, Any]:
    from labml_memory.data.echo import EchoStreams, echo_gains
    from labml_memory.studies.quality_peers import builder, config_for
    from labml_memory.training import train
    s = run.settings
    cell, seed, mem = s['cell'], s['seed'], mem_of(s['cell'])
    arch, (compressed, rate) = arch_of(cell), compressed_of(cell)
    sizes = {'mem_len': mem, 'eval_mem_len': mem} if arch == XL else {
        'mem_len': mem, 'compressed_len': compressed, 'compression_rate': rate} if arch == COMPRESSIVE else {}
    with tempfile.TemporaryDirectory(prefix='echo_') as logs:
        config = config_for(arch, {'logs_dir': logs, 'steps': s['steps'], 'seed': seed, 'warmup': s['warmup'],
                                   'batch_size': STREAMS, 'seq_len': SEGMENT, 'log_every': 20,
                                   'final_eval_segments': 16, **sizes})
        started = time.time()
        result = train(config, builder(arch), f'echo_{key_of(cell, seed)}',
                       make_streams=functools.partial(
                           EchoStreams, settings=echo_settings(s, seed, s.get('train_draw', 'grid'))))
        trained = time.time() - started
    model, streams = result.model, held_out(s)
    started = time.time()
    losses = position_losses(model, streams)
    record = {'cell': cell, 'seed': seed, 'mem_len': mem, 'compressed_len': compressed,
              'compression_rate': rate, 'steps': result.final_step,
              'train_draw': s.get('train_draw', 'grid'), 'run_uuid': result.run_uuid, 'train_seconds': trained,
              'loss': losses.mean().item(), 'gains': {str(d): g for d, g in echo_gains(streams, losses).items()},
              'echo_fraction': streams.echo_fraction(), 'curve': result.train_losses,
              'parameters': sum(p.numel() for p in model.parameters())}
    if s.get('eval_mem_lens'):
        kept = list(model.eval_mem_len)
        record['eval_mem_len'] = {}
        for m in s['eval_mem_lens']:
            model.eval_mem_len = [m] * len(kept)
            record['eval_mem_len'][str(m)] = {str(d): g for d, g in
                                              echo_gains(streams, position_losses(model, streams)).items()}
        model.eval_mem_len = kept
    # What the compressed slots carry: the same model, its compressed memory emptied before
    # every segment, so each layer reads only its verbatim memory and the segment.
    if arch == COMPRESSIVE:
        from labml_memory.studies.ablations import without_compressed
        record['without_compressed'] = {str(d): g for d, g in echo_gains(
            streams, position_losses(model, streams, without_compressed)).items()}
    record['eval_seconds'] = time.time() - started
    return record


# ## Reading the records
def load(records: Records) -> Dict[str, List[Dict]]:
    cells: Dict[str, List[Dict]] = {}
    for record, _ in records.runs:
        cells.setdefault(record['cell'], []).append(record)
    order = sorted(cells, key=lambda c: (arch_of(c) != XL, not sized(c), arch_of(c), mem_of(c)))
    return {c: sorted(cells[c], key=lambda r: r['seed']) for c in order}


def distances_of(cells: Dict[str, List[Dict]]) -> List[int]:
    return sorted({int(d) for rs in cells.values() for r in rs for d in r['gains']})


# Where a direct read covers the distance at every offset of a segment, at some, or at none.
def coverage(mem: int, distance: int, segment: int = SEGMENT) -> str:
    if distance <= mem + 1:
        return 'every'
    if distance <= mem + segment:
        return 'some'
    return 'none'


# The reach rule's version: whether the input $D - 1$ back can change the prediction at every
# offset of a segment, at some, or at none, counted through all the layers. Beyond it no
# weights can copy; inside it but past one read, only a copy relayed through the layers can.
def rule_coverage(cell: str, distance: int, layers: int = LAYERS, segment: int = SEGMENT) -> str:
    from labml_memory.tasks.reach import window_reach
    compressed, rate = compressed_of(cell)
    start = 64 * segment
    reached = [window_reach(start + t, segment, [mem_of(cell)] * layers, [compressed] * layers, rate)
               >= distance - 1 for t in range(segment)]
    return 'every' if all(reached) else 'none' if not any(reached) else 'some'


def reach_of(cell: str, layers: int = LAYERS, segment: int = SEGMENT) -> int:
    """The reach rule's count from the last position of a segment (tasks/reach.py)."""
    from labml_memory.tasks.reach import window_reach
    compressed, rate = compressed_of(cell)
    return window_reach(64 * segment - 1, segment, [mem_of(cell)] * layers, [compressed] * layers, rate)


# The furthest one attention read reaches from the end of a segment: the verbatim memory, and
# for the Compressive Transformer the $c\,M_c$ positions its compressed slots stand for.
def direct_read(cell: str) -> int:
    compressed, rate = compressed_of(cell)
    return mem_of(cell) + rate * compressed + SEGMENT


def gain_by_seed(rs: List[Dict], distance: int, eval_mem: int = 0) -> Dict[int, float]:
    def value(r):
        gains = r['eval_mem_len'][str(eval_mem)] if eval_mem else r['gains']
        return gains[str(distance)]['gain']
    return stats.by_seed(rs, value)


# ## The verdicts of the page
#
# Few comparisons, so Holm's correction leaves the seeds some power: for each cell, the
# furthest distance its direct read covers at every offset (expected **ahead** of zero) and the
# nearest the reach rule says no path reaches from any offset (expected a **tie** with zero);
# the nearest distance past one read but inside the rule, against zero, as a finding (a copy
# there is relayed through the layers); and for each longer evaluation memory $M'$, the
# distance it newly covers, the largest $D \le M' + 1$, against the trained memory at the same
# distance. Every other cell of the table is shown, not judged. (The first plan, before the
# runs, set the tie at the first distance past one read; the $M = 256$ model copied there in
# one seed, through the layers as the rule allows, so the tie moved to where the rule leaves
# no path, and the distance past one read became a finding. The page says so.)
def judged(cells: Dict[str, List[Dict]]) -> List[Tuple[str, int, str]]:
    distances = distances_of(cells)
    out = []
    for cell in cells:
        if arch_of(cell) != XL:
            continue
        mem = mem_of(cell)
        every = [d for d in distances if coverage(mem, d) == 'every']
        none = [d for d in distances if rule_coverage(cell, d) == 'none']
        if every:
            out.append((cell, every[-1], 'ahead'))
        if none:
            out.append((cell, none[0], 'tie'))
    return out


# Past one read, inside the rule: the nearest distance no single read reaches from any offset
# but the layers can relay. Whether a model copies there is a finding, not a control.
def relayed(cells: Dict[str, List[Dict]]) -> List[Tuple[str, int]]:
    distances = distances_of(cells)
    out = []
    for cell in cells:
        if arch_of(cell) != XL:
            continue
        inside = [d for d in distances if coverage(mem_of(cell), d) == 'none' and rule_coverage(cell, d) != 'none']
        if inside:
            out.append((cell, inside[0]))
    return out


# ### Each paper's memory
#
# What each architecture named alone keeps, at the shared sizes, and which of them have a
# verbatim cache of 64 in every layer (so that $D = 64$ is inside one read at every offset).
PAPER_MEMORY = {
    'memorizing_transformer': 'an XL cache of 64 per layer and, in the third layer, a kNN table of the last '
                              '1,024 positions per head, read by its top 32',
    'infinity_former': 'an XL cache of 64 per layer and a continuous long-term memory of 64 basis functions '
                       'over the whole past',
    'infini_attention': 'no cache: the segment, and per head a compressive memory matrix every segment is '
                        'added to',
    'recurrent_memory': 'no cache: the segment, and 8 memory tokens written by each segment and read by the next',
    'memory_depth': 'XL caches of 16 in the first three layers and of 64 in the last: one long layer',
}
CACHED = ('memorizing_transformer', 'infinity_former', 'memory_depth')
DEPTH = 'memory_depth'
# The memory-depth study's control on echoes: every layer long against every layer short (16,
# the memory-depth model's short range), at D = 64, where a read of 64 reaches at every offset
# and one of 16 at some only.
ALL_LONG, ALL_SHORT = f'{XL}:64', f'{XL}:16'
DEPTH_CONTROL = f"{ALL_LONG} (all long) against {ALL_SHORT} (all short), at D = {SEGMENT}"


def far_distance(distances: List[int]) -> int:
    """The first distance past every relay of four layers of M = 64: only a paper's own memory reaches it."""
    beyond = [d for d in distances if d - 1 > reach_of(f'{XL}:64')]
    return beyond[0] if beyond else distances[-1]


# The judged cells of the architectures named alone: (label, cell, distance, expected, kind),
# `kind` 'control' where a verbatim read covers the distance, 'claim' where the paper's claim
# is what is tested.
def paper_cells(cells: Dict[str, List[Dict]]) -> List[Tuple[str, str, int, str, str]]:
    far = far_distance(distances_of(cells))
    out = []
    for cell in cells:
        if sized(cell) or arch_of(cell) not in PAPER_MEMORY:
            continue
        if arch_of(cell) in CACHED:
            out.append((f"{cell} at D = {SEGMENT}", cell, SEGMENT, stats.AHEAD, 'control'))
        if arch_of(cell) == DEPTH:
            if f'{XL}:64' in cells:
                out.append((f"{cell} (one layer of 64) against {XL}:64 (four), at D = {SEGMENT}", cell,
                            SEGMENT, stats.TIE, 'claim'))
        else:
            out.append((f"{cell} at D = {far}", cell, far, stats.AHEAD, 'claim'))
    return out


# A claim's word: reproduced where the measured verdict is the one the paper predicts,
# refuted where it is another resolved one, and not resolved otherwise. A claim whose model has
# no passing positive control is read as neither: a memory that carries nothing and a model
# that has not learned to copy at all look the same.
NO_CONTROL = 'not resolved (no passing positive control)'


def claim_word(measured: str, expected: str, controlled: bool = True) -> str:
    if not controlled:
        return NO_CONTROL
    if measured == expected:
        return 'reproduced'
    return 'not resolved' if measured == stats.UNRESOLVED else 'refuted at this size and training'


def newly_covered(eval_mem: int, distances: List[int]) -> int:
    covered = [d for d in distances if d <= eval_mem + 1]
    return covered[-1] if covered else distances[0]


# Two cells are compared on the seeds both have: a control given more seeds (to resolve it)
# keeps them for its own verdict, and lends the others to every pair it is in.
def on_common_seeds(a: Dict[int, float], b: Dict[int, float]) -> Tuple[Dict[int, float], Dict[int, float]]:
    both = sorted(set(a) & set(b))
    return {s: a[s] for s in both}, {s: b[s] for s in both}


def verdicts(cells: Dict[str, List[Dict]], margin: float) -> Dict[str, stats.Verdict]:
    pairs = {}
    for cell, d, _ in judged(cells):
        rs = cells[cell]
        pairs[f"{cell} at D = {d}"] = (gain_by_seed(rs, d), {r['seed']: 0.0 for r in rs})
    for label, cell, d, _, _ in paper_cells(cells):
        mine = gain_by_seed(cells[cell], d)
        if ' against ' not in label:
            pairs[label] = (mine, {seed: 0.0 for seed in mine})
        else:
            pairs[label] = on_common_seeds(mine, gain_by_seed(cells[f'{XL}:64'], d))
    if ALL_LONG in cells and ALL_SHORT in cells:
        pairs[DEPTH_CONTROL] = on_common_seeds(gain_by_seed(cells[ALL_LONG], SEGMENT),
                                               gain_by_seed(cells[ALL_SHORT], SEGMENT))
    distances = distances_of(cells)
    for cell, rs in cells.items():
        with_eval = [r for r in rs if r.get('eval_mem_len')] if arch_of(cell) == XL else []
        for m in sorted({int(m) for r in with_eval for m in r['eval_mem_len']}):
            d = newly_covered(m, distances)
            pairs[f"{cell} evaluated with M = {m}, at D = {d}"] = (
                gain_by_seed(with_eval, d, m), gain_by_seed(with_eval, d))
    for cell, rs in cells.items():
        if arch_of(cell) != COMPRESSIVE:
            continue
        d = compressed_distance(cell, distances)
        if d is None:
            continue
        pairs[removed_label(cell, d)] = (
            gain_by_seed(rs, d), stats.by_seed(rs, lambda r: r['without_compressed'][str(d)]['gain']))
        for other, why in compression_rivals(cell):
            if other in cells:
                pairs[rival_label(cell, other, why, d)] = on_common_seeds(
                    gain_by_seed(rs, d), gain_by_seed(cells[other], d))
    return stats.compare(pairs, margin, lower_is_better=False)


# The Transformer-XL cells a Compressive Transformer cell is set against: as many keys per
# query ($M + M_c$, equal attention cost) and a verbatim memory as long as its span
# ($M + c M_c$, equal span); and the labels of its comparisons, which every page reads.
def compression_rivals(cell: str) -> List[Tuple[str, str]]:
    compressed, rate = compressed_of(cell)
    return [(f'{XL}:{mem_of(cell) + compressed}', 'equal attention cost'),
            (f'{XL}:{mem_of(cell) + rate * compressed}', 'equal span')]


def removed_label(cell: str, d: int) -> str:
    return f"{cell} against its compressed memory removed, at D = {d}"


def rival_label(cell: str, other: str, why: str, d: int) -> str:
    return f"{cell} against {other} ({why}), at D = {d}"


# The distance the compressed slots alone cover at every offset: beyond the verbatim read,
# within the compressed one (the largest such distance of the grid).
def compressed_distance(cell: str, distances: List[int]):
    compressed, rate = compressed_of(cell)
    inside = [d for d in distances if coverage(mem_of(cell), d) == 'none'
              and coverage(mem_of(cell) + rate * compressed, d) == 'every']
    return inside[-1] if inside else None


# ## Sections of other studies' pages
#
# Three pages carry an echo section. Each reads the echo records under `results` and the echo
# page's own verdicts, at the margin the records declare, so every page prints the same numbers;
# no records, no cells.
def recorded_verdicts(results: Path) -> Tuple[Dict[str, List[Dict]], Dict[str, stats.Verdict]]:
    records = Records(Path(results) / NAME)
    if not len(records):
        return {}, {}
    cells = load(records)
    return cells, verdicts(cells, next(iter(records))['run']['margin'])


# ## The compression study's echo section
#
# The [compression study](compressive.py) trains on plain Tiny Shakespeare, where no memory
# past one segment gains measurably, so its ties have no positive control. Its page carries
# these lines, made here from the echo records with the echo page's own verdicts (the same
# Holm family, so the two pages print the same numbers), and the claims they bear on. Returns
# the lines and the claims, `(claim, word)`; nothing where no Compressive Transformer cell is
# recorded.
# A comparison of two cells is fair only if they trained alike; where their steps differ the
# line says so.
def unequal_training(cells: Dict[str, List[Dict]], a: str, b: str) -> str:
    steps = [sorted({r['steps'] for r in cells[c]}) for c in (a, b)]
    if steps[0] == steps[1]:
        return ''
    return (f" (⚠ trained {'/'.join(f'{n:,}' for n in steps[0])} against {'/'.join(f'{n:,}' for n in steps[1])} "
            f"steps: not a fair pairing)")


def compression_section(results: Path, link: str) -> Tuple[List[str], List[Tuple[str, str]]]:
    cells, found = recorded_verdicts(results)
    chosen = [c for c in cells if arch_of(c) == COMPRESSIVE]
    if not chosen:
        return [], []
    distances = distances_of(cells)
    lines = ['## On echoes, where memory must pay', '',
             f"On the [echo streams]({link}) a passage of Tiny Shakespeare recurs verbatim D characters after "
             'it first appeared, and a model whose memory still holds the passage copies it (the echo gain, '
             'nats per character; 0 for a model that cannot see it). The verdicts are the echo page\'s, '
             f"Holm-corrected across its {len(found)} comparisons.", '']
    claims = []
    for cell in chosen:
        d = compressed_distance(cell, distances)
        if d is None:
            continue
        compressed, rate = compressed_of(cell)
        (cost, _), (span, _) = compression_rivals(cell)
        lines.append(f"`{cell}` keeps {mem_of(cell)} verbatim memories and {compressed} slots per layer, each "
                     f"compressing {rate}, so at D = {d} the source lies beyond its verbatim memory and the "
                     f"segment but inside what its slots stand for: there, only the slots can carry a copy.")
        lines.append('')
        control = found.get(f"{span} at D = {d}")
        if control is not None:
            ok = control.verdict == stats.AHEAD
            lines.append(f"* **Positive control**: `{span}` (a verbatim memory as long as the span) at D = {d}, "
                         f"where one read reaches at every offset: expected **ahead** of zero, measured "
                         f"{control.text(3)}" + ('.' if ok else ' ⚠: the control does not pass yet, so a tie '
                                                 'below may still be a copy not yet learned.'))
        controlled = control is not None and control.verdict == stats.AHEAD
        removed = found.get(removed_label(cell, d))
        if removed is not None:
            word = claim_word(removed.verdict, stats.AHEAD, controlled)
            claims.append(('the compressed slots carry what the verbatim memory has dropped', word))
            lines.append(f"* **The slots against the same model with them emptied** before every segment: "
                         f"{removed.text(3)}. The paper's premise, that the compressed memory carries what "
                         f"the verbatim memory has dropped: **{word}**.")
        for other, why in compression_rivals(cell):
            v = found.get(rival_label(cell, other, why, d))
            if v is not None:
                line = f"* **Against `{other}`** ({why}): {v.text(3)}" + unequal_training(cells, cell, other)
                if why == 'equal attention cost':
                    word = claim_word(v.verdict, stats.AHEAD, controlled)
                    claims.append(('compressing beats remembering at equal attention cost', word))
                    line += f"; compressing beats remembering at equal cost: **{word}**"
                lines.append(line + '.')
        lines.append('')
    return lines, claims


# ## The context page's echo section
#
# The [context page](quality.py) measures what a memory is worth on plain text, where little
# past one segment is worth anything. Its echo section gives, from the echo page's verdicts,
# what that page cannot: how far back each memory reaches when the text rewards it, the two
# memories of equal span side by side, and the Transformer-XL paper's longer evaluation memory.
def context_section(results: Path, link: str) -> List[str]:
    cells, found = recorded_verdicts(results)
    if not cells:
        return []
    lines = ['## On echoes: how far back each memory copies', '',
             f"On the [echo streams]({link}) a passage recurs verbatim D characters after it first appeared, "
             'and a memory that still holds it copies it: the echo gain (nats per character, 0 for a model that '
             'cannot see the source) is an effective context on natural text that does not depend on $h = 0$ '
             'being in distribution. The mean gain at each distance, and the echo page\'s verdicts '
             f"(Holm across its {len(found)} comparisons):", '']
    distances = distances_of(cells)
    lines += ['| cell | ' + ' | '.join(f'D = {d}' for d in distances) + ' |',
              '|---|' + '---:|' * len(distances)]
    judged_lines = []
    for cell, rs in cells.items():
        mine = [v for label, v in found.items() if label.startswith(f'{cell} at D = ')]
        lines.append(f"| {cell} <small>({len(rs)} seed{'s' if len(rs) != 1 else ''})</small> | " + ' | '.join(
            f"{stats.mean([r['gains'][str(d)]['gain'] for r in rs]):+.2f}" for d in distances) + ' |')
        if mine:
            judged_lines.append(f"{cell} " + ', '.join(f"{v.label.split(' at ')[1]} {v.verdict}" for v in mine))
    lines += ['', '* **D = n**: the mean echo gain over the seeds at that distance.',
              '* **Judged** by the echo page, against zero: ' + '; '.join(judged_lines) + '.']
    span = [v for label, v in found.items() if '(equal span)' in label]
    longer = [v for label, v in found.items() if 'evaluated with' in label]
    if span or longer:
        lines.append('')
    for v in span:
        lines.append(f"* **At equal span**, {v.label}: {v.text(3)}.")
    if longer:
        lines.append('* **A longer memory at evaluation than in training** (the Transformer-XL paper evaluates '
                     'with more than it trains with), gain with it minus gain with the trained M = 64: '
                     + '; '.join(f"{v.label.split(' evaluated with ')[1]}: {v.text(3)}" for v in longer) + '.')
    return lines + ['']


# ## The memory-depth study's echo section
#
# On plain text all long ties all short, so the [memory-depth study](memory_depth.py) has no
# positive control. On echoes: all long against all short at D = 64 (expected ahead, by the
# reads alone), the one-long-layer model's own copy there, and the paper's claim that a few
# long layers suffice (a tie with all long), read only where both controls pass.
def depth_section(results: Path, link: str) -> Tuple[List[str], List[Tuple[str, str]]]:
    cells, found = recorded_verdicts(results)
    if DEPTH not in cells or ALL_LONG not in cells:
        return [], []
    lines = ['## On echoes, where memory must pay', '',
             f"On the [echo streams]({link}) a passage recurs verbatim D characters after it first appeared, "
             'and a model whose memory still holds it copies it (the echo gain, nats per character). There the '
             'models are at the sizes every study shares, not this page\'s: 4 layers, segments of 64, a long '
             f"range of 64 and a short one of 16; `{DEPTH}` is one long layer, the last, and three short. The "
             f"verdicts are the echo page's, Holm-corrected across its {len(found)} comparisons.", '']
    controls = []
    control = found.get(DEPTH_CONTROL)
    if control is not None:
        controls.append(control.verdict == stats.AHEAD)
        lines.append(f"* **Positive control**: {DEPTH_CONTROL}, where a read of 64 reaches the source at every "
                     f"offset and one of 16 at some only: expected **ahead**, measured {control.text(3)}"
                     + ('.' if controls[-1] else ' ⚠.'))
    own = found.get(f"{DEPTH} at D = {SEGMENT}")
    if own is not None:
        controls.append(own.verdict == stats.AHEAD)
        lines.append(f"* **The one-long-layer model copies** at D = {SEGMENT}: expected **ahead** of zero, "
                     f"measured {own.text(3)}" + ('.' if controls[-1] else ' ⚠.'))
    claims = []
    label = f"{DEPTH} (one layer of 64) against {ALL_LONG} (four), at D = {SEGMENT}"
    if label in found:
        word = claim_word(found[label].verdict, stats.TIE, bool(controls) and all(controls))
        claims.append(('a few long layers suffice', word))
        lines.append(f"* **One long layer against four**, {found[label].text(3)}. The paper's claim that a few "
                     f"long layers suffice (a tie): **{word}**.")
    return lines + [''], claims


# ## The plot: the gain against the distance, one line per cell
#
# Mean over seeds with a marker, each seed faint; the shaded band is where a cell's direct read
# covers the distance at some offsets only, the dotted line where it stops; the compressed
# memory removed, where a cell has it, dashed.
def draw(cells: Dict[str, List[Dict]], path: Path) -> None:
    from labml_memory.studies import plots
    plt = plots.pyplot()
    distances = distances_of(cells)
    # Wide enough for three legend columns of the longest labels (every architecture named).
    fig, ax = plt.subplots(figsize=(9, 4.8), layout='constrained')
    for i, (cell, rs) in enumerate(cells.items()):
        style = plots.series(i)
        for r in rs:
            ax.plot(distances, [r['gains'][str(d)]['gain'] for d in distances], color=style['color'],
                    alpha=0.25, linewidth=0.8)
        ax.plot(distances, [stats.mean([r['gains'][str(d)]['gain'] for r in rs]) for d in distances],
                **style, label=f"{cell} ({len(rs)} seed{'s' if len(rs) != 1 else ''})")
        if all('without_compressed' in r for r in rs):
            ax.plot(distances, [stats.mean([r['without_compressed'][str(d)]['gain'] for r in rs])
                                for d in distances], color=style['color'], linestyle='--',
                    marker='x', label=f"{cell}, compressed memory removed")
        if sized(cell):
            mem = mem_of(cell)
            ax.axvspan(max(mem + 1, distances[0] / 1.2), direct_read(cell), color=style['color'], alpha=0.07)
            ax.axvline(direct_read(cell), color=style['color'], linestyle=':', linewidth=1)
    ax.axhline(0, color=plots.GREY, linewidth=0.8)
    ax.set_xscale('log', base=2)
    ax.set_xticks(distances, [str(d) for d in distances])
    ax.set_xlabel(f'distance D from a passage to its echo (characters, {plots.LOG})')
    ax.set_ylabel('echo gain (nats per character)')
    ax.set_title('Loss at the first occurrence minus loss in the echo')
    plots.legend_below(fig)
    plots.save(fig, path)


def seed_counts(cells: Dict[str, List[Dict]]) -> str:
    counts = sorted({len(rs) for rs in cells.values()})
    return f"{counts[0]} seeds per cell" if len(counts) == 1 else f"{counts[0]} to {counts[-1]} seeds per cell"


# The recipe a cell's rows name: nothing for the grid (the default), else how D was drawn.
def recipe_words(rs: List[Dict]) -> str:
    draws = sorted({r.get('train_draw', 'grid') for r in rs})
    return '' if draws == ['grid'] else '; ' + '/'.join(
        '*D log-uniform*' if d == 'log_uniform' else 'D on the grid' for d in draws)


# ## Superseded runs and trials
#
# Each history folder says why its runs were kept apart, and the page shows, from their records,
# what they measured, seed by seed, at the first four distances.
SUPERSEDED = {
    'at_1200_steps': 'at 1,200 steps the M = 256 model had learned to copy at D = 64 but barely at '
                     'D = 256, where its direct read reaches, so the cell was trained for longer (3,000 steps)',
    'trial_log_uniform_at_3000_steps': 'a trial of training on distances drawn log-uniformly (`~log`), '
                                       'which gives a model no fixed offset to learn: at 3,000 steps it learned '
                                       'no copy at any distance, so the cells stay on the grid',
    'at_3000_steps': 'at 3,000 steps the M = 256 model had learned to copy at some of the distances its direct '
                     'read covers and not at others, differently in each seed, and its control was not resolved; '
                     'it was trained for 6,000 steps, and the compression cells compared with it were trained '
                     'again as long',
}


def superseded(history: Dict[str, List[Tuple[Dict, Path]]]) -> List[str]:
    lines = ['## Superseded runs and trials', '', 'Kept as history and not read above, by why they were kept.', '']
    for why, rs in history.items():
        lines.append(f"* **`{why}/`**: {SUPERSEDED.get(why, 'superseded')}.")
        by_cell: Dict[str, List[Dict]] = {}
        for r, _ in rs:
            by_cell.setdefault(r['cell'], []).append(r)
        for cell, cell_rs in by_cell.items():
            shown = [d for d in ('64', '128', '256', '512') if all(d in r['gains'] for r in cell_rs)]
            steps = '/'.join(f'{n:,}' for n in sorted({r['steps'] for r in cell_rs}))
            lines.append(f"    * {cell} ({steps} steps, "
                         f"{len(cell_rs)} seed{'s' if len(cell_rs) != 1 else ''}), gain seed by seed: " + '; '.join(
                             f"D = {d}: " + ', '.join(f"{r['gains'][d]['gain']:+.2f}" for r in cell_rs)
                             for d in shown))
    return lines + ['']


# ## The page
def report(records: Records, out: Path) -> Dict[str, Page]:
    from labml_memory.training import provenance
    cells = load(records)
    if not cells:
        raise SystemExit(f"{NAME}: no records; run `python -m labml_memory.studies run {NAME}` first")
    runs = list(records.runs)
    first = runs[0][0]['run']
    margin = first['margin']
    draw(cells, Path(out) / NAME / 'gain.png')
    distances = distances_of(cells)
    found = verdicts(cells, margin)

    header = '| cell | ' + ' | '.join(f'D = {d}' for d in distances) + ' |'
    rows = [header, '|---|' + '---:|' * len(distances)]
    for cell, rs in cells.items():
        steps = sorted({r['steps'] for r in rs})
        row = [f"{cell} <small>({'/'.join(f'{n:,}' for n in steps)} steps{recipe_words(rs)}; "
               + (f"direct read {direct_read(cell)}, rule {reach_of(cell)})</small>" if sized(cell) else
                  "shared sizes)</small>")]
        for d in distances:
            text = stats.cell([r['gains'][str(d)]['gain'] for r in rs], 3)
            if not sized(cell):
                pass
            elif coverage(mem_of(cell), d) == 'some':
                text += ' <small>(partly covered)</small>'
            elif arch_of(cell) == XL and coverage(mem_of(cell), d) == 'none' and rule_coverage(cell, d) != 'none':
                text += ' <small>(past one read)</small>'
            row.append(text)
        rows.append('| ' + ' | '.join(row) + ' |')
        if all('without_compressed' in r for r in rs):
            rows.append(f'| {cell}, compressed memory removed | ' + ' | '.join(
                stats.cell([r['without_compressed'][str(d)]['gain'] for r in rs], 3) for d in distances) + ' |')
    first_rows = ['| cell | ' + ' | '.join(f'D = {d}' for d in distances) + ' |',
                  '|---|' + '---:|' * len(distances)]
    for cell, rs in cells.items():
        first_rows.append(f'| {cell} | ' + ' | '.join(
            f"{stats.mean([r['gains'][str(d)]['first'] for r in rs]):.3f}" for d in distances) + ' |')

    control, passed = [], 0
    controls = judged(cells)
    for cell, d, wanted in controls:
        v = found[f"{cell} at D = {d}"]
        ok = v.verdict == wanted
        passed += ok
        control.append(f"* {cell} at D = {d}: expected **{wanted}**, measured {v.text(3)}{'' if ok else ' ⚠'}")
    longer = [f"* {v.label}: {v.text(3)}" for label, v in found.items() if 'evaluated with' in label]
    compression = []
    for cell in cells:
        d = compressed_distance(cell, distances) if arch_of(cell) == COMPRESSIVE else None
        if d is None:
            continue
        compression.append(f"* {removed_label(cell, d)}: {found[removed_label(cell, d)].text(3)}")
        compression += [f"* {rival_label(cell, other, why, d)}: {found[rival_label(cell, other, why, d)].text(3)}"
                        + unequal_training(cells, cell, other) for other, why in compression_rivals(cell)
                        if other in cells]
    papers = paper_cells(cells)
    paper_lines, claims = [], []
    for cell in dict.fromkeys(c for _, c, _, _, _ in papers):
        mine = [(label, d, wanted, kind) for label, c, d, wanted, kind in papers if c == cell]
        parts = []
        controlled = all(found[label].verdict == wanted for label, _, wanted, kind in mine if kind == 'control') \
            and any(kind == 'control' for *_, kind in mine)
        for label, d, wanted, kind in mine:
            v = found[label]
            if kind == 'control':
                parts.append(f"in-window control at D = {d}: expected **{wanted}**, measured {v.text(3)}"
                             + ('' if v.verdict == wanted else ' ⚠'))
            else:
                word = claim_word(v.verdict, wanted, controlled)
                claims.append(word)
                what = (f"against {XL}:64 at D = {d} (the paper: a few long layers suffice, expected a tie)"
                        if ' against ' in label else f"at D = {d}, which only its paper's memory reaches")
                parts.append(f"{what}: measured {v.text(3)}; the claim **{word}**")
        paper_lines.append(f"* **{cell}** ({PAPER_MEMORY[arch_of(cell)]}; {len(cells[cell])} "
                           f"seed{'s' if len(cells[cell]) != 1 else ''}): " + '; '.join(parts) + '.')

    seeds = sorted({r['seed'] for rs in cells.values() for r in rs})
    failed = [f"{cell} at D = {d}" for cell, d, wanted in controls if found[f"{cell} at D = {d}"].verdict != wanted]
    longer_verdicts = [v for label, v in found.items() if 'evaluated with' in label]
    verdict = ("**On natural text with planted echoes, how far back does a memory copy?** "
               + (f"Transformer-XL copies a passage where one attention read reaches its source, and never "
                  f"where the reach rule leaves no path: all {len(controls)} judged cells of the positive "
                  f"control match, "
                  if not failed else
                  f"The positive control does not pass: {passed} of the {len(controls)} judged cells of "
                  f"Transformer-XL match what its reads allow ({', '.join(failed)} not), ")
               + f"with {seed_counts(cells)}"
               + (". Of the papers' claims (each memory judged where only it reaches, the memory-depth model "
                  "against all four layers long): "
                  + ', '.join(f"{claims.count(w)} {short}" for w, short in
                              (('reproduced', 'reproduced'), ('refuted at this size and training',
                                                              'refuted at this size and training'),
                               ('not resolved', 'not resolved'),
                               (NO_CONTROL, 'not read for want of a passing positive control'))
                              if claims.count(w))
                  + f", of {len(claims)}" if claims else '')
               + (". A longer memory at evaluation than in training "
                  + ("adds no copying at any distance it newly covers (a tie at each)"
                     if all(v.verdict == stats.TIE for v in longer_verdicts) else
                     f"gives {', '.join(v.text(3) for v in longer_verdicts)} at the distances it newly covers")
                  if longer_verdicts else '')
               + f"; {tally(found)}.")
    body = ['## The echo gain', '', *rows, '',
            '* **D**: characters from the start of a passage to the start of its echo (every character of '
            'the echo sits exactly D after its source).',
            '* **cell**: `transformer_xl:M` is Transformer-XL with a memory of M per layer, '
            '`compressive:M:Mc:c` the Compressive Transformer with M verbatim and Mc compressed slots '
            'per layer at rate c; *direct read* is M + c·Mc + L, the furthest a query at the end of a '
            'segment reads in one attention step, *rule* the reach rule\'s count through the layers. '
            'An architecture named alone runs at the shared sizes of every study; its reads are not '
            'counted here, and it is judged where only its paper\'s memory reaches, in the section on '
            'each paper\'s memory below.',
            '* **gain**: loss at the first occurrence minus loss in the echo, nats per character, on the '
            f"scored characters (each passage's characters after its first {first['cue']}); 0 is the "
            'memoryless floor, the first-occurrence loss (below) the perfect copier.',
            '* *partly covered*: M + 1 < D ≤ M + L, where some offsets of a segment can read the source; '
            '*past one read*: no single read reaches the source, but the reach rule leaves a path through '
            'the layers (a lower layer\'s cached state relays what it read); both shown, not judged as '
            'controls.', '',
            '### The loss at the first occurrence (the perfect copier\'s gain)', '', *first_rows, '',
            '## The positive control', '',
            'For each cell, the furthest distance its direct read covers at every offset of a segment '
            '(expected ahead of zero) and the nearest the reach rule leaves no path to from any offset '
            '(expected a tie with zero). The first plan, made before the runs, set the tie at the first '
            'distance past one read; one seed of the M = 256 model copied there through the layers, as '
            'the rule allows, so the tie was moved after those runs to where the rule leaves no path, '
            'and the distance past one read is read below as a finding.', '', *control, '']
    # Seeds beyond the first three were added after those three had been read, to cells whose
    # control was large but not resolved: a second look, which the page owns up to.
    extra = [cell for cell, rs in cells.items() if len(rs) > 3]
    if extra:
        body += [f"Seeds beyond the first three were added to {', '.join(f'`{c}`' for c in extra)} after the "
                  'first three had been read and left their controls large but not resolved: a second look, '
                  'which a reader may weigh against the verdicts.', '']
    if relayed(cells):
        relay = []
        for cell, d in relayed(cells):
            gains = [r['gains'][str(d)]['gain'] for r in cells[cell]]
            relay.append(f"* {cell} at D = {d}: seed by seed " + ', '.join(f'{g:+.3f}' for g in gains)
                         + f", mean {stats.mean(gains):+.3f}")
        body += ['## Past one read: copies relayed through the layers', '',
                 'At the nearest distance no single attention read reaches but the reach rule does (a lower '
                 'layer reads the source into a state the layer above reads later), the gain of each seed. '
                 'Shown, not judged: the distance was not among the comparisons planned before the runs, and '
                 'adding it to the page\'s comparisons would cost the planned ones their power.', '',
                 *relay, '']
    if longer:
        body += ['## A longer memory at evaluation than in training', '',
                 'The M = 64 model scored with every layer\'s evaluation memory set longer, against '
                 'its trained memory (gain with the longer memory minus gain with M = 64), at the distance '
                 'each longer memory newly covers:', '', *longer, '']
    if paper_lines:
        far = far_distance(distances)
        body += ["## Each paper's memory, at the shared sizes", '',
                 f"Every architecture named alone, at the sizes all studies share. Four layers of M = 64 relay "
                 f"a copy at most {reach_of(f'{XL}:64')} characters back, so at D = {far} no verbatim read or relay "
                 f"reaches the source and only what a paper adds can carry it; each paper claims its memory "
                 f"does. A model with a cache of 64 is also judged at D = {SEGMENT}, where one read reaches at "
                 f"every offset (its in-window control); a model without one has no distance of the grid inside "
                 f"its segment at every offset (a passage is at least {SEGMENT} characters), so it has no control "
                 f"here. A claim is read (reproduced or refuted) only for a model whose control passes: without "
                 f"one, a memory that carries nothing and a model that never learned to copy look alike. "
                 f"Verdicts are against zero unless named, in the page's Holm family.", '', *paper_lines, '']
    if records.history:
        body += superseded(records.history)
    if compression:
        body += ['## What the compressed slots carry', '',
                 'At the distance only the compressed memory covers (beyond the verbatim memory and the '
                 'segment, within the positions its slots stand for), the Compressive Transformer\'s gain '
                 'against the same model with its compressed memory emptied before every segment, and '
                 'against Transformer-XL with as many keys per query (equal attention cost) and with a '
                 'verbatim memory as long as its whole span (equal span):', '', *compression, '']
    made = unheaded(provenance.section(runs, label=lambda r: r['key'], seconds='train_seconds', seeds=seeds))
    made += ['* **Sizes:** 4 layers, $d = 128$, 4 heads, feed-forward 512, segments of $L = 64$, '
             f"{STREAMS} streams, dropout off, peak learning rate 0.002 with warm-up {first['warmup']} and a "
             f"cosine schedule over {first['steps']:,} steps; echo rate {first['rate']:g} asked for in training "
             f"and scoring ({stats.mean([r['echo_fraction'] for r, _ in runs if 'echo_fraction' in r] or [0]):.2f} "
             "of the held-out characters are echoes), passages 64–128 characters. Held-out distances "
             f"{', '.join(map(str, first['distances']))}, each equally often; in training the same grid"
             + (f", except the cells marked *D log-uniform*, whose training distances are drawn log-uniformly "
                f"between {min(first['distances'])} and {max(first['distances'])}."
                if any(r.get('train_draw') == 'log_uniform' for r, _ in runs) else '.'),
             f'* **Held-out streams:** the validation half cut into {STREAMS} streams, echoes placed with '
             f'seed {EVAL_SEED}, the same for every run.']
    convention = Convention(cells=SEED_CELLS, comparisons=len(found), margin=margin, unit=' nats/char',
                            example=next(iter(found.values())).text(3) if found else '')
    page = Page(title='Echoes: how far back a memory copies natural text', verdict=verdict,
                figures=[(f'{NAME}/gain.png', 'Echo gain against distance, one line per cell')],
                body=body, made=made, convention=convention,
                about=('Each held-out stream is Tiny Shakespeare in which passages of 64–128 characters '
                       'recur verbatim a distance D later. The plot shows the echo gain against D, the '
                       'mean over seeds with each seed faint; shaded, the distances a cell\'s direct read '
                       'covers at some offsets only; dotted, where it covers none.'))
    return {f'{NAME}.md': page}


STUDY = Study(NAME, 'On natural text with planted echoes, how far back does each memory copy?',
              Settings, plan, execute, report, pages=[f'{NAME}.md'], seeds='3 seeds')
