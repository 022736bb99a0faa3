r"""
# Study: memory reach and capacity, one suite for every architecture

The question the whole site exists for: *how far back, and how much, can each memory carry?*
This study trains every architecture on [associative recall](../tasks/recall.py) at the **same
state size per stream**, then scores it on a grid of distances (the gap between the pairs and
the queries, from inside the attention window out to 64 segments) and loads (how many pairs
must be kept at once). Beside each trained window-shaped model it prints its **reach**, counted
by the rule and measured by perturbing one token (see [reach](../tasks/reach.py)). The page it
writes is [memory reach](../results/memory_reach.md).

```
python -m labml_memory.studies run memory_reach                  # every contestant, both budgets, 3 seeds
python -m labml_memory.studies run memory_reach contestants=transformer_xl,infini_linear budgets=small seeds=0
python -m labml_memory.studies run memory_reach quick=true       # toy sizes, a minute (the tests run this)
python -m labml_memory.studies run memory_reach contestants=transformer_xl budgets=small \
    gate=0.95 step_cap=4000 train_segments=2,3,4,5,6,7,8,9,10     # train until learned, texts of up to 10 segments
python -m labml_memory.studies run memory_reach contestants=plain tables=32,64,128,256   # the kNN table sweep
python -m labml_memory.studies plan memory_reach                 # which runs are recorded, which are not
python -m labml_memory.studies report memory_reach               # the page, from the saved records
```

## How a comparison is made fair

* **Equal state.** Every contestant carries the same number of numbers from one segment to
  the next, within 10%, at each of two budgets: `small`, the state of Infini-attention at this
  width and head count, and `large`, its state with a single head of the full width (3.8 times
  as much at $d = 64$ with four heads). The state is not computed from a formula but *measured*:
  the size of what the model hands over after reading the longest evaluation text. A run
  whose state misses its budget by more than 10% fails before training.
* **The same window.** Every model reads segments of `seg_len` characters with the same width,
  heads, layers and feed-forward size; the plain transformer (Transformer-XL with no memory)
  sees the current segment only, the window every other model has before its memory.
* **A positive control.** Before any comparison a model must solve the case its mechanism
  allows trivially: one pair, no gap, the answer inside the attention window. A contestant
  whose control is under 0.95 needs a better recipe (more steps, a higher learning rate),
  not a row of zeros; the report marks such runs and leaves them out of the reading. The
  cells that needed more are a setting (`rerun_cells`), so the default plan is the suite as
  it was run. The lookup (two pairs, no gap) is the control that tests the task itself, and
  with `gate=0.95` a run trains in rounds until both pass, up to `step_cap` steps (see
  [Settings](#settings)); the committed suite predates the gate, and its lookup column shows
  how many of its memories had not yet learned the lookup.
* **Only what was trained.** A grid cell past the longest gap a training text held, or at a
  load never trained, is an extrapolation: italic in the tables, shaded in the plots, never
  read by the one-line answer (see [what training covered](#what-training-covered)).
* **Seeds, paired.** Three training seeds per cell by default, the same seeds for every cell;
  evaluation texts are drawn from their own seeds, the same for every model. So two cells are
  compared seed by seed with the [statistics](stats.py) of every page: the mean paired
  difference, its interval, and a verdict after Holm's correction across the page's
  comparisons, with a tie only inside the margin `margin` (exact match per query). The
  margin, 0.05, is about the sampling error of one cell's 64 texts at an accuracy of
  one half ($\sqrt{0.25 / 64} \approx 0.06$): a smaller difference is one the grid cannot
  see. For the records on the page it was set when the page moved to these statistics, after
  the runs; it decides only which differences may be called ties.
* **The floor.** A model that forgot the pairs scores $10^{-2}$ per query (see
  [recall](../tasks/recall.py)); every table and plot carries it.

## Contestants

Each contestant is an architecture of the project (by its package name, exactly as the
tasks take `model=`) with the overrides that set its state at each budget. Architectures
added later take part automatically: one not listed here is run at its own defaults for the
stack's shape, and if its experiment module defines `reach_overrides(numbers, d_model,
n_layers, heads, seg_len)` that function sets its state to the budget (or returns `None` when
the budget is below the architecture's smallest state).
"""

import importlib
import math
import statistics
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from labml_memory.studies import stats
from labml_memory.studies import plots
from labml_memory.studies.ablations import ABLATIONS
from labml_memory.studies.runner import SEED_CELLS, Convention, Page, Records, Run, Study, unheaded
from labml_memory.tasks import recall
from labml_memory.tasks.reach import measured_reach, window_reach
from labml_memory.training.synthetic import SyntheticTrainConfig, architectures, read_in_segments, start_run, train

NAME = 'memory_reach'
BUDGETS = ('small', 'large')
# Architectures whose memory has no window, so no reach in characters to measure.
UNBOUNDED = ('infini_attention', 'infinity_former', 'recurrent_memory')


# ## Sizing each contestant
#
# With width $d$, $H$ heads and $N$ layers, a budget of $S$ numbers per stream is met by:
#
# | contestant | state per stream | set to the budget by |
# |---|---|---|
# | Transformer-XL | $N M d$ | $M = S / (N d)$ |
# | Compressive | $N (M + M_c) d$ | $M + M_c = S / (N d)$, halved, rate $c = 4$ |
# | ∞-former | $N (M + N_b) d$ (short memory and basis coefficients) | $M + N_b = S / (N d)$, halved |
# | Infini-attention | $N H d_k (d_v + 1)$, $d_k = d_v = d / H$ | fixed by the width: $H$ heads for `small`, one head for `large` |
#
# Infini-attention's state is set by the shape of its heads, not by a length, so it *defines*
# both budgets: its $H$-head state is `small`, and with one head of width $d$ its state,
# $N d (d + 1)$, is `large` (3.8 times as much at $d = 64$, $H = 4$). The others are sized
# to match.
def infini_numbers(d_model: int, n_layers: int, heads: int) -> int:
    d_k = d_model // heads
    return n_layers * heads * d_k * (d_k + 1)


def _positions(numbers: int, n_layers: int, d_model: int) -> int:
    # Positions of width $d$ per layer that hold `numbers`; two memories split them, the
    # first taking the odd one.
    return max(2, round(numbers / (n_layers * d_model)))


def _split(numbers: int, n_layers: int, d_model: int, multiple: int = 1, least: int = 1) -> Tuple[int, int]:
    # `multiple`: the first length is kept a multiple of it. The Compressive Transformer evicts
    # whole groups of $c$, so a memory that is not a multiple of $c$ holds up to $c - 1$ extra
    # activations for a segment, and its state would exceed the budget.
    total = _positions(numbers, n_layers, d_model)
    first = max(least, multiple, (total // 2) // multiple * multiple)
    return first, total - first


# A contestant: the architecture and a function from (budget in numbers, width, layers, heads,
# segment length) to its overrides, or to `None` when the architecture cannot hold that budget
# at all (its smallest working state is larger); such a run is skipped and the page says why.
# The compressive run uses convolution with the attention-reconstruction loss, the paper's best
# cell in its Table 5; on Tiny Shakespeare the [compression study](../results/compressive.md)
# resolves none of its compression cells ahead of Transformer-XL at equal cost (three seeds),
# this one included, so nothing there argues for a different choice.
@dataclass
class Contestant:
    model: str
    size: Callable[[int, int, int, int, int], Optional[Dict[str, Any]]]
    extra: Dict[str, Any] = field(default_factory=dict)


CONTESTANTS: Dict[str, Contestant] = {
    'plain': Contestant('transformer_xl', lambda s, d, n, h, L: dict(mem_len=0, eval_mem_len=0)),
    'transformer_xl': Contestant('transformer_xl', lambda s, d, n, h, L: dict(
        mem_len=_positions(s, n, d), eval_mem_len=_positions(s, n, d))),
    'compressive': Contestant('compressive', lambda s, d, n, h, L: dict(
        zip(('mem_len', 'compressed_len'), _split(s, n, d, multiple=4))),
        dict(compression='conv', compression_loss='attention', compression_rate=4)),
    # The ∞-former's basis needs an even count, at least four (two widths, as its experiment uses).
    'infinity_former': Contestant('infinity_former', lambda s, d, n, h, L: dict(
        zip(('n_basis', 'mem_len'), _split(s, n, d, multiple=2, least=4)))),
    'infinity_former_sticky': Contestant('infinity_former', lambda s, d, n, h, L: dict(
        zip(('n_basis', 'mem_len'), _split(s, n, d, multiple=2, least=4))), dict(sticky=True)),
    'infini_linear': Contestant('infini_attention', lambda s, d, n, h, L: dict(
        heads=h if s == infini_numbers(d, n, h) else 1), dict(update_rule='linear', memory_grad=True)),
    'infini_delta': Contestant('infini_attention', lambda s, d, n, h, L: dict(
        heads=h if s == infini_numbers(d, n, h) else 1), dict(update_rule='delta', memory_grad=True)),
}


# Every architecture of the project takes part: those above by name, any other with its own
# hook or, lacking one, at its defaults (and the report says its state is not matched).
def contestants() -> Dict[str, Contestant]:
    found = dict(CONTESTANTS)
    covered = {c.model for c in CONTESTANTS.values()}
    for package in architectures():
        if package in covered or package == 'memory_depth':
            continue  # memory_depth is a study of Transformer-XL's layers, not a new memory
        module = importlib.import_module(f'labml_memory.{package}.experiment')
        hook = getattr(module, 'reach_overrides', None)
        found[package] = Contestant(package, hook if hook else (lambda s, d, n, h, L: {}))
    return found


# ### The kNN table's size
#
# The paper's Memorizing Transformer gains more the larger its table, and reads only the $k$
# nearest pairs of it. The sweep holds everything else fixed and varies the table: a contestant
# `memorizing_table{C}` keeps $C$ pairs, reads the `table_top_k` nearest (8 by default, far
# fewer than $C$, so the search selects), beside an XL cache of one segment per layer. Its state
# grows with $C$ by design, so it is not held to a budget; the page shows it apart.
TABLE = 'memorizing_table'


def table_of(name: str) -> Optional[int]:
    return int(name[len(TABLE):]) if name.startswith(TABLE) and name[len(TABLE):].isdigit() else None


def contestant_of(name: str, top_k: int = 8) -> Contestant:
    size = table_of(name)
    if size is None:
        return contestants()[name]
    return Contestant('memorizing_transformer', lambda s, d, n, h, L: dict(
        mem_size=size, top_k=min(top_k, size), mem_len=L, eval_mem_len=L))


# ## Settings
#
# The study's command line. The model's shape is shared by all contestants, so no model key
# can be given here: one would silently make the comparison unequal. The defaults train for a
# few minutes per run on a CPU; `quick=true` shrinks everything to toy size (and one seed) so
# the whole suite runs end to end in a minute, which is what the tests do (its numbers mean
# nothing, and its records are kept apart from the suite's: their keys start with `quick_`).
#
# The training loop's own settings (`batch_size` to `eval_every`) start from the loop's
# defaults; the suite sets `steps` and `lr`.
@dataclass
class Settings:
    contestants: List[str] = field(default_factory=list)   # empty: all of them
    budgets: List[str] = field(default_factory=lambda: list(BUDGETS))
    seeds: List[int] = field(default_factory=lambda: [0, 1, 2])
    d_model: int = 64
    heads: int = 4
    n_layers: int = 2
    d_ff: int = 128
    steps: int = 1000
    lr: float = 3e-3
    batch_size: int = SyntheticTrainConfig.batch_size
    warmup: int = SyntheticTrainConfig.warmup
    min_lr_ratio: float = SyntheticTrainConfig.min_lr_ratio
    weight_decay: float = SyntheticTrainConfig.weight_decay
    grad_clip: float = SyntheticTrainConfig.grad_clip
    lm_weight: float = SyntheticTrainConfig.lm_weight
    eval_every: int = SyntheticTrainConfig.eval_every
    seg_len: int = 32
    train_segments: List[int] = field(default_factory=lambda: [2, 3, 4])
    train_loads: List[int] = field(default_factory=lambda: [1, 2, 4, 8])
    # A first phase of `lookup_steps` on lookup texts alone, then `steps` on the mixture, with a
    # share `lookup_share` of lookups kept (see [recall](../tasks/recall.py) and one run, below).
    # The trial runs behind this recipe are kept in `docs/results/memory_reach/history/trials/`.
    lookup_steps: int = 300
    lookup_share: float = 0.5
    # The grid: gaps in segments (0: the pairs end right before the queries) and loads.
    eval_gaps: List[int] = field(default_factory=lambda: [0, 1, 2, 4, 8, 16, 64])
    eval_loads: List[int] = field(default_factory=lambda: [1, 2, 4, 8, 16])
    eval_samples: int = 64
    # Cells (`contestant_budget`) whose control failed at `steps` in some seed: every seed of
    # them trains the run proper for `rerun_steps` instead. Their first records are kept as
    # history (`history/at_1000_steps/`).
    rerun_cells: List[str] = field(default_factory=lambda: [
        'infini_linear_large', 'recurrent_memory_small', 'transformer_xl_large'])
    rerun_steps: int = 2000
    # **Train until the task is learned.** With `gate` above 0, the run proper is repeated in
    # rounds of its `steps` (each with its own warm-up and cosine, on fresh texts) until both
    # controls reach `gate` on texts of their own (one pair, and the lookup: two pairs, no gap),
    # or until `step_cap` steps of the run proper are spent; a run that hits the cap is recorded
    # as not learned, marked ⚠ and left out of the reading. 0 (the committed suite): one round.
    gate: float = 0.0
    step_cap: int = 0
    # The Memorizing Transformer's table sizes $C$ to sweep (empty: none), each read with
    # `table_top_k` nearest pairs; budgets do not apply to them (see the sizing above).
    tables: List[int] = field(default_factory=list)
    table_top_k: int = 8
    # The equivalence margin of the page's verdicts, in exact match per query.
    margin: float = 0.05
    quick: bool = False
    logs_dir: str = ''
    device: str = 'cpu'
    threads: int = 1

    def validate(self) -> None:
        for key in ('steps', 'rerun_steps', 'batch_size', 'seg_len', 'eval_samples', 'd_model', 'n_layers',
                    'heads', 'eval_every'):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be positive, got {getattr(self, key)}")
        unknown = [b for b in self.budgets if b not in BUDGETS]
        if unknown or not self.budgets:
            raise ValueError(f"unknown budgets {unknown}; valid: {list(BUDGETS)}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct and at least one, got {list(self.seeds)}")
        if not self.eval_gaps or any(g < 0 for g in self.eval_gaps):
            raise ValueError(f"eval_gaps are segments >= 0, got {list(self.eval_gaps)}")
        if any(not 1 <= k <= recall.N_KEYS for k in list(self.eval_loads) + list(self.train_loads)) \
                or not self.eval_loads or not self.train_loads:
            raise ValueError(f"loads must be between 1 and {recall.N_KEYS}")
        if self.lookup_steps < 0:
            raise ValueError(f"lookup_steps must be >= 0 (0: no lookup phase), got {self.lookup_steps}")
        if not 0.0 <= self.lookup_share <= 1.0:
            raise ValueError(f"lookup_share is a fraction of the training texts, in [0, 1]; got {self.lookup_share}")
        if self.margin < 0:
            raise ValueError(f"margin is a size of difference in exact match, >= 0; got {self.margin}")
        if (not self.quick and any(c < self.seg_len for c in self.tables)) or not 1 <= self.table_top_k:
            raise ValueError(f"tables must each hold at least one segment ({self.seg_len} pairs) and "
                             f"table_top_k must be >= 1; got tables={list(self.tables)}, table_top_k={self.table_top_k}")
        if not 0.0 <= self.gate <= 1.0:
            raise ValueError(f"gate is an exact match the controls must reach, in [0, 1] (0: off); got {self.gate}")
        if self.step_cap and not self.quick and self.step_cap < max(self.steps, self.rerun_steps):
            raise ValueError(f"step_cap={self.step_cap} must be 0 (one round) or at least one round of the run "
                             f"proper (steps={self.steps}, rerun_steps={self.rerun_steps})")
        valid = contestants()
        bad = [c for c in self.contestants if c not in valid]
        if bad:
            raise ValueError(f"unknown contestants {bad}; valid: {sorted(valid)}")
        cells = {f'{n}_{b}' for n in valid for b in BUDGETS}
        bad = [c for c in self.rerun_cells if c not in cells]
        if bad:
            raise ValueError(f"unknown rerun_cells {bad}; a cell is contestant_budget, e.g. transformer_xl_large")


# `quick=true`: every size at toy scale, one seed. It replaces what the command line gave for
# those keys, so a quick run is the same toy suite whatever else is set (a step cap, if any,
# becomes two toy rounds).
def effective(settings: Settings) -> Settings:
    if not settings.quick:
        return settings
    return replace(settings, d_model=16, heads=2, n_layers=1, d_ff=32, steps=4, rerun_steps=4, eval_every=2,
                   seg_len=8, warmup=1, lookup_steps=min(settings.lookup_steps, 2), train_segments=[2],
                   train_loads=[1, 2], eval_gaps=[0, 2], eval_loads=[1, 2], eval_samples=4, batch_size=4,
                   seeds=[0], step_cap=8 if settings.step_cap else 0)


def budget_numbers(d_model: int, n_layers: int, heads: int, budget: str) -> int:
    return infini_numbers(d_model, n_layers, heads if budget == 'small' else 1)


# ## One run's settings
#
# What one run trains with: the loop's settings (so the loop takes it as its own) and the
# suite's, for one contestant, budget and seed. Its dictionary is the run's settings in the
# plan and in the record (`run`, and `settings` as records have always had it).
@dataclass
class RunSettings(SyntheticTrainConfig):
    name: str = 'plain'
    model: str = 'transformer_xl'
    budget: str = 'small'
    d_model: int = 64
    heads: int = 4
    n_layers: int = 2
    d_ff: int = 128
    train_loads: List[int] = field(default_factory=lambda: [1, 2, 4, 8])
    lookup_steps: int = 300
    lookup_share: float = 0.5
    eval_gaps: List[int] = field(default_factory=lambda: [0, 1, 2, 4, 8, 16, 64])
    eval_loads: List[int] = field(default_factory=lambda: [1, 2, 4, 8, 16])
    eval_samples: int = 64
    margin: float = 0.05
    gate: float = 0.0
    step_cap: int = 0
    table_top_k: int = 8
    quick: bool = False
    logs_dir: str = ''
    device: str = 'cpu'
    threads: int = 1

    @property
    def numbers(self) -> int:
        if self.budget == 'sweep':
            return 0
        return budget_numbers(self.d_model, self.n_layers, self.heads, self.budget)


def sizing(one: RunSettings) -> Optional[Dict[str, Any]]:
    """The contestant's overrides at this run's budget, or `None` where it cannot hold it."""
    return contestant_of(one.name, one.table_top_k).size(one.numbers, one.d_model, one.n_layers, one.heads,
                                                          one.seg_len)


def key_of(quick: bool, name: str, budget: str, seed: int) -> str:
    return f"{'quick_' if quick else ''}{name}_{budget}_seed{seed}"


# ## The plan
#
# Budget by budget, contestant by contestant, seed by seed; a key is the record's old file
# name, `NAME_BUDGET_seedS`. Two cells have one run only: the plain transformer keeps no
# state, so its model is the same at every budget and one run, at the first budget asked for,
# serves them all (the page draws it in every panel); and a budget an architecture cannot hold
# is known from the sizing alone, so one record at the first seed says why, for every seed.
def plan(settings: Settings) -> List[Run]:
    s = effective(settings)
    names = s.contestants or sorted(contestants())
    loop = {k: getattr(s, k) for k in ('batch_size', 'seg_len', 'train_segments', 'lr', 'warmup',
                                       'min_lr_ratio', 'weight_decay', 'grad_clip', 'lm_weight', 'eval_every')}
    shared = {k: getattr(s, k) for k in ('d_model', 'heads', 'n_layers', 'd_ff', 'train_loads', 'lookup_steps',
                                         'lookup_share', 'eval_gaps', 'eval_loads', 'eval_samples', 'margin',
                                         'gate', 'step_cap', 'table_top_k', 'quick', 'logs_dir', 'device',
                                         'threads')}
    runs = []
    for budget in s.budgets:
        for name in names:
            if name == 'plain' and budget != s.budgets[0]:
                continue
            steps = s.rerun_steps if f'{name}_{budget}' in s.rerun_cells else s.steps
            one = RunSettings(**loop, **shared, steps=steps, name=name, model=contestants()[name].model,
                              budget=budget)
            seeds = s.seeds if sizing(one) is not None else s.seeds[:1]
            runs += [Run(key_of(s.quick, name, budget, seed), asdict(replace(one, seed=seed))) for seed in seeds]
    # The table sweep, after the suite, under budget `sweep` (its state is not matched).
    for size in s.tables:
        one = RunSettings(**loop, **shared, steps=s.steps, name=f'{TABLE}{size}', model='memorizing_transformer',
                          budget='sweep')
        runs += [Run(key_of(s.quick, one.name, 'sweep', seed), asdict(replace(one, seed=seed))) for seed in s.seeds]
    return runs


# ## The state a model hands over
#
# Measured after reading a text as long as the longest evaluation one, in evaluation mode, so a
# memory that grows with the text (a kNN memory up to its bound) is counted at its largest.
@torch.no_grad()
def state_numbers(model, one: RunSettings, device) -> int:
    model.eval()
    length = one.seg_len * (max(one.eval_gaps) + 8)
    tokens = torch.randint(len(recall.CHARS), (1, length), generator=torch.Generator().manual_seed(0)).to(device)
    memory = None
    for start in range(0, length, one.seg_len):
        _, memory, _ = model(tokens[:, start:start + one.seg_len], memory)
    return sum(t.numel() for t in memory.tensors())


# ## Scoring the grid
#
# One batch per (gap, load), from its own seed, so every model reads the same texts. The text
# is the shortest whole number of segments that holds the layout (`text_length`, which the gate
# and the search measurement below use too).
def text_length(load: int, gap: int, seg_len: int) -> int:
    need = recall.needed_length(load, gap, recall.default_queries(load))
    return math.ceil(need / seg_len) * seg_len


@torch.no_grad()
def evaluate_grid(model, one: RunSettings, device, change=None) -> Dict[str, Dict[str, float]]:
    model.eval()
    grid = {}
    for i, gap_segments in enumerate(one.eval_gaps):
        row = {}
        for j, load in enumerate(one.eval_loads):
            gap = gap_segments * one.seg_len
            length = text_length(load, gap, one.seg_len)
            generator = torch.Generator().manual_seed(20_000 + 100 * i + j)
            batch = recall.sample(one.eval_samples, length, generator, load, gap).to(device)
            logits = read_in_segments(model, batch.inputs, one.seg_len, change)
            row[str(load)] = recall.query_correct(logits.argmax(-1), batch).float().mean().item()
        grid[str(gap_segments)] = row
    return grid


# ## The gate: has the model learned the task?
#
# The two controls on texts of their own (seeds apart from the grid's, so the grid's control
# and lookup columns stay an independent reading): one pair, and two pairs, both with no gap.
GATE_SEED = 40_000


@torch.no_grad()
def gate_scores(model, one: RunSettings, device) -> Dict[str, float]:
    model.eval()
    scores = {}
    for name, load in (('control', 1), ('lookup', 2)):
        batch = recall.sample(one.eval_samples, text_length(load, 0, one.seg_len),
                              torch.Generator().manual_seed(GATE_SEED + load), load, 0).to(device)
        logits = read_in_segments(model, batch.inputs, one.seg_len)
        scores[name] = recall.query_correct(logits.argmax(-1), batch).float().mean().item()
    return scores


def passes(scores: Dict[str, float], gate: float) -> bool:
    return scores['control'] >= gate and scores['lookup'] >= gate


# Rounds of the run proper until the gate passes or the cap is spent: each round its own
# schedule and its own texts (a seed per round), one labml curve across them all.
def train_rounds(model, one: RunSettings, device) -> Tuple[List[Dict[str, float]], List[Dict[str, Any]]]:
    sampler = recall.training_sampler(one.train_loads, one.lookup_share)
    cap = max(one.step_cap, one.steps) if one.gate else one.steps
    history, rounds, done = [], [], 0
    while done + one.steps <= cap:
        history += train(model, sampler, replace(one, seed=one.seed + 7919 * len(rounds)), device,
                         first_step=one.lookup_steps + done)
        done += one.steps
        if not one.gate:
            break
        rounds.append({'steps': done, **gate_scores(model, one, device)})
        if passes(rounds[-1], one.gate):
            break
    return history, rounds


# ## Exact against approximate search
#
# A swept table is trained and scored with the exact index; then the same model is scored again
# with HNSW (faiss), and the recall@k of HNSW against the exact top $k$ is measured on the
# queries and table of the last segment of the longest grid text (captured at the kNN layer, as
# in [the recall measurement](../memorizing_transformer/recall.py)).
@torch.no_grad()
def approximate_search(model, one: RunSettings, device) -> Dict[str, Any]:
    from labml_memory.memorizing_transformer import measure_recall
    attention = model.layers[model.knn_layer].attention
    captured = {}
    handle = attention.register_forward_pre_hook(lambda module, args: captured.update(h=args[0], keys=args[6]))
    gap = max(one.eval_gaps) * one.seg_len
    load = one.eval_loads[0]
    batch = recall.sample(min(8, one.eval_samples), text_length(load, gap, one.seg_len),
                          torch.Generator().manual_seed(30_000), load, gap).to(device)
    model.eval()
    read_in_segments(model, batch.inputs, one.seg_len)
    handle.remove()
    q_hat = torch.nn.functional.normalize(attention.query(captured['h']).float(), dim=-1)
    k = min(attention.top_k, captured['keys'].shape[2])
    found = measure_recall(q_hat, captured['keys'], k, 'hnsw', hnsw_neighbors=attention.hnsw_neighbors,
                           hnsw_ef_search=attention.hnsw_ef_search)
    kept, attention.index = attention.index, 'hnsw'
    try:
        grid = evaluate_grid(model, one, device)
    finally:
        attention.index = kept
    return {'index': 'hnsw', 'recall': found, 'k': k, 'table_pairs': int(captured['keys'].shape[2]),
            'accuracy': grid}


# ## One run: a contestant, a budget, a seed
#
# Training has two phases. The first, `lookup_steps` long, reads lookup texts only: the pairs
# right before the queries, every key asked. It teaches the lookup inside the window, which
# memory texts alone never taught (see [recall](../tasks/recall.py)). The second, the run
# proper, reads the mixture, half lookups and half memory texts, so that the model learns to
# carry the pairs across the gap without forgetting how to look them up.
#
# The model's configuration is built in three layers: the stack's shape every contestant
# shares (no dropout: fresh texts every step leave nothing to overfit; `unroll` over the
# longest training text, so a model that learns through its memory, such as Infini-attention
# with `memory_grad` or the RMT, gets gradients across every segment of it), then the
# contestant's fixed settings, then its sizing to the budget $S$.
def execute(run: Run) -> Dict[str, Any]:
    from labml import experiment
    from labml_memory.training.config import build_config
    one = RunSettings(**run.settings)
    contestant = contestant_of(one.name, one.table_top_k)
    numbers = one.numbers
    head = {'name': one.name, 'model': contestant.model, 'budget': one.budget, 'seed': one.seed,
            'budget_numbers': numbers}
    sized = sizing(one)
    if sized is None:
        return {**head, 'skipped': f"{one.name} cannot keep a state as small as {numbers:,} numbers per "
                                   f"stream at this width (its smallest working state is larger)"}
    overrides = dict(d_model=one.d_model, heads=one.heads, n_layers=one.n_layers, d_ff=one.d_ff,
                     dropout=0.0, seq_len=one.seg_len, unroll=max(one.train_segments))
    overrides.update(contestant.extra)
    overrides.update(sized)
    # The architecture's own configuration checks every key, so a sizing rule that produced an
    # invalid memory fails here with that model's message, before anything is trained.
    module = importlib.import_module(f'labml_memory.{contestant.model}.experiment')
    model_config = build_config(module.Config, module.PRESETS, {k: str(v) for k, v in overrides.items()})
    model, device = start_run(f'memory_reach_{one.name}_{one.budget}', one, model_config, module, len(recall.CHARS))
    # Equal state is checked, not assumed: the number the model really hands over must lie
    # within 10% of the budget. The plain transformer carries nothing by definition; an
    # architecture with no sizing rule runs anyway and is marked as not matched on the page.
    state = state_numbers(model, one, device)
    matched = one.name == 'plain' or abs(state - numbers) <= 0.1 * numbers
    if not matched and one.budget != 'sweep' and (one.name in CONTESTANTS or hasattr(module, 'reach_overrides')):
        raise ValueError(f"{one.name} at budget {one.budget} keeps {state} numbers per stream, more than 10% "
                         f"from {numbers}; adjust its sizing")
    # Training time only (the grid's evaluation is not part of it), for the page's wall time.
    started = time.time()
    with experiment.start():
        # The lookup phase, then the run proper, one labml curve across both (each phase with its
        # own warm-up and cosine, as the frequency-sort curriculum does).
        if one.lookup_steps:
            train(model, recall.training_sampler(one.train_loads, 1.0), replace(one, steps=one.lookup_steps), device)
        history, rounds = train_rounds(model, one, device)
    train_seconds = time.time() - started
    grid = evaluate_grid(model, one, device)
    # The record holds everything the page prints, so `report` never needs the model: the
    # control is the first grid cell (gap 0, the lightest load) when the grid starts at gap 0.
    result = {
        **head, 'state_numbers': state, 'state_bytes': state * 4, 'state_matched': matched,
        'parameters': sum(p.numel() for p in model.parameters()), 'overrides': overrides,
        'train_seconds': round(train_seconds, 1), 'seg_len': one.seg_len,
        'control': grid[str(one.eval_gaps[0])][str(one.eval_loads[0])] if one.eval_gaps[0] == 0 else None,
        'accuracy': grid, 'final_train_loss': history[-1]['loss.train'], 'settings': asdict(one),
        'steps_trained': one.lookup_steps + len(history),
    }
    if one.gate:
        result['gate'] = {'threshold': one.gate, 'rounds': rounds, 'learned': passes(rounds[-1], one.gate)}
    # What the paper's own memory carries: the same grid with it removed before every segment
    # (see [ablations](ablations.py)).
    if contestant.model in ABLATIONS:
        what, change = ABLATIONS[contestant.model]
        result['ablated'] = {'what': what, 'accuracy': evaluate_grid(model, one, device, change)}
    if one.budget == 'sweep':
        result['approximate'] = approximate_search(model, one, device)
    # Window-shaped memories: the reach by the rule and measured on the trained model. The probe
    # reads enough segments for the rule's reach to fit with room to spare (the memory of every
    # layer, compressed slots counted at $c$ positions each, plus three segments), so a probe
    # that found movement at the very start of its text would show the rule too small.
    if contestant.model in ('transformer_xl', 'compressive'):
        mem = [model_config.eval_mem_len if isinstance(getattr(model_config, 'eval_mem_len', None), int)
               else model_config.mem_len] * one.n_layers
        comp = [getattr(model_config, 'compressed_len', 0)] * one.n_layers
        rate = getattr(model_config, 'compression_rate', 1)
        segments = max(4, (max(mem) + rate * max(comp)) * one.n_layers // one.seg_len + 3)
        result['reach_rule'] = window_reach(segments * one.seg_len - 1, one.seg_len, mem, comp, rate)
        result['reach_measured'] = measured_reach(model, len(recall.CHARS), one.seg_len, segments)
    return result


# ## Reading the records
#
# Records are grouped by (contestant, budget); each group's seeds give a mean and a min–max
# band per grid cell. The reach at 50% is where the mean accuracy at the lightest load first
# falls under one half, interpolated between the two gaps around the crossing (in segments);
# "beyond" means it never fell under one half on the grid.
def group(runs: Sequence[Dict[str, Any]]) -> Dict[Tuple[str, str], List[Dict[str, Any]]]:
    groups: Dict[Tuple[str, str], List[Dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r['name'], r['budget']), []).append(r)
    return groups


# The records a panel of one budget draws for a contestant: its own, or for the plain
# transformer, which keeps nothing, its run at whichever budget it was made.
def records_at(groups, name: str, budget: str) -> Optional[List[Dict[str, Any]]]:
    if (name, budget) in groups or name != 'plain':
        return groups.get((name, budget))
    return next((v for k, v in groups.items() if k[0] == 'plain'), None)


# The budget a row names: the plain transformer's one run serves them all.
def shown_budget(name: str, budget: str) -> str:
    return 'any' if name == 'plain' else budget


# A contestant whose positive control fell under 0.95 in any seed, or, trained to the gate, a
# seed that hit the step cap before learning: its numbers do not count.
def control_failed(records: List[Dict[str, Any]]) -> bool:
    return any((r['control'] is not None and r['control'] < 0.95) or not r.get('gate', {}).get('learned', True)
               for r in records)


# Steps of the run proper a record trained: its rounds, when trained to the gate.
def run_proper(record: Dict[str, Any]) -> int:
    rounds = record.get('gate', {}).get('rounds')
    return rounds[-1]['steps'] if rounds else record['settings']['steps']


# The exact match of one grid cell, one value per seed.
def accuracy_at(records: Sequence[Dict[str, Any]], gap: str, load: str) -> List[float]:
    return [r['accuracy'][gap][load] for r in records]


# The window line of the load table: the share of queries whose pair lies wholly inside the
# queries' own segment of `seg_len` characters, at gap 0, for a model that answers exactly those.
# The queries take the end of the text; the pairs before them, the last pair nearest.
def window_share(load: int, seg_len: int) -> float:
    n_queries = recall.default_queries(load)
    room = seg_len - n_queries * recall.QUERY_LEN
    inside = min(load, max(0, room // recall.PAIR_LEN))
    # The keys asked are a random subset: each is one of the pairs inside with probability inside / load.
    return inside / load


# The grid's first load (the lightest), as its keys spell it: the load of the reach and the gap tables.
def lightest_load(record: Dict[str, Any]) -> str:
    return next(iter(next(iter(record['accuracy'].values()))))


# The same runs with another of their grids read as theirs: `ablated` (the paper's memory
# removed) or `approximate` (HNSW search), so every table and comparison reads them alike.
def rescored(records: Sequence[Dict[str, Any]], part: str) -> List[Dict[str, Any]]:
    return [{**r, 'accuracy': r[part]['accuracy']} for r in records]


def reach_at_half(records: List[Dict[str, Any]]) -> Optional[float]:
    gaps = list(records[0]['accuracy'])
    load = lightest_load(records[0])
    means = [statistics.mean(accuracy_at(records, g, load)) for g in gaps]
    for (g0, m0), (g1, m1) in zip(zip(gaps, means), zip(gaps[1:], means[1:])):
        if m0 >= 0.5 > m1:
            return float(g0) + (m0 - 0.5) / (m0 - m1) * (float(g1) - float(g0))
    return None if means[0] < 0.5 else math.inf


# ## What training covered
#
# A memory text of the longest training length leaves room for a gap of at most
# $T_\max + 1 - (\text{pairs} + \text{queries})$ characters (the sampler's room $R$, see
# [recall](../tasks/recall.py)), and loads are drawn from `train_loads` only. A grid cell past
# either is an **extrapolation**: the model never saw a text like it, so its number says how a
# recipe generalises, not how far the memory can carry. Tables print such cells in italics, the
# plots shade them, and the one-line answer reads only cells inside.
def longest_trained_gap(record: Dict[str, Any], load: int) -> float:
    """In segments, the longest gap a training text at this load could hold."""
    s = record['settings']
    room = max(s['train_segments']) * record['seg_len'] + 1 - recall.needed_length(load, 0, recall.default_queries(load))
    return room / record['seg_len']


def trained(record: Dict[str, Any], gap: Any, load: Any) -> bool:
    """Whether training covered grid cell (gap in segments, load)."""
    return int(load) in record['settings']['train_loads'] and float(gap) <= longest_trained_gap(record, int(load))


# Grid gaps training covered at a load, for every record of a cell.
def trained_gaps(records: Sequence[Dict[str, Any]], gaps: Sequence[str], load: str) -> List[str]:
    return [g for g in gaps if all(trained(r, g, load) for r in records)]


def reach_words(records: List[Dict[str, Any]]) -> str:
    """The reach at 50% as the tables print it, marked *extrapolated* where it rests on a gap
    training did not cover: the first grid gap under one half (the crossing's far end) or, if
    none is, the grid's last."""
    reach = reach_at_half(records)
    if reach is None:
        return 'under 50% at gap 0'
    gaps, load = list(records[0]['accuracy']), lightest_load(records[0])
    under = [g for g in gaps if statistics.mean(accuracy_at(records, g, load)) < 0.5]
    far = under[0] if under else gaps[-1]
    inside = all(trained(r, far, load) for r in records)
    text = 'beyond the grid' if reach == math.inf else f'{reach:.1f}'
    return text + ('' if inside else ' (extrapolated)')


# ## The comparisons of the page
#
# Every claim of the reading that sets one cell against another, at one (gap, load) of the
# grid, first minus second. They are judged together, in one call, so Holm's correction runs
# across the whole page; higher exact match is better. A comparison whose cells or grid point
# the records lack (the toy suite, a partial run) is left out, and the correction counts only
# those made.
@dataclass(frozen=True)
class Comparison:
    label: str
    first: Tuple[str, ...]
    second: Tuple[str, ...]
    gap: int
    load: int = 1


COMPARISONS: Dict[str, Comparison] = {c.label: c for c in [
    Comparison('Transformer-XL, large against small budget', ('transformer_xl', 'large'),
               ('transformer_xl', 'small'), gap=2),
    Comparison('Compressive, large against small budget', ('compressive', 'large'), ('compressive', 'small'), gap=2),
    Comparison('∞-former, large against small budget', ('infinity_former', 'large'), ('infinity_former', 'small'),
               gap=2),
    Comparison('Infini-attention (linear), large against small budget', ('infini_linear', 'large'),
               ('infini_linear', 'small'), gap=8),
    Comparison('RMT, large against small budget', ('recurrent_memory', 'large'), ('recurrent_memory', 'small'),
               gap=2),
    Comparison('sticky ∞-former against the ∞-former, small', ('infinity_former_sticky', 'small'),
               ('infinity_former', 'small'), gap=2),
    Comparison('Infini-attention, delta against linear rule, small', ('infini_delta', 'small'),
               ('infini_linear', 'small'), gap=8),
    Comparison('Infini-attention (linear) against Transformer-XL, small', ('infini_linear', 'small'),
               ('transformer_xl', 'small'), gap=4),
    Comparison('RMT against Transformer-XL, small', ('recurrent_memory', 'small'), ('transformer_xl', 'small'),
               gap=4),
    Comparison('Infini-attention (linear) against RMT, small', ('infini_linear', 'small'),
               ('recurrent_memory', 'small'), gap=8),
    Comparison('Compressive (small) against the plain transformer', ('compressive', 'small'), ('plain', 'small'),
               gap=2),
    Comparison('Memorizing Transformer (large) against the plain transformer', ('memorizing_transformer', 'large'),
               ('plain', 'small'), gap=0, load=8),
    Comparison('Infini-attention (linear, small) against the plain transformer', ('infini_linear', 'small'),
               ('plain', 'small'), gap=0, load=4),
    Comparison('Transformer-XL (small) against the plain transformer', ('transformer_xl', 'small'),
               ('plain', 'small'), gap=0, load=2),
    # What each paper's own memory carries, at the gap past the cache (judged only for runs that
    # recorded the ablation).
    Comparison('Compressive (small) against its compressed memory emptied', ('compressive', 'small'),
               ('compressive', 'small', 'ablated'), gap=2),
    Comparison('∞-former (small) against its long-term memory zeroed', ('infinity_former', 'small'),
               ('infinity_former', 'small', 'ablated'), gap=2),
    Comparison('sticky ∞-former (small) against its long-term memory zeroed', ('infinity_former_sticky', 'small'),
               ('infinity_former_sticky', 'small', 'ablated'), gap=2),
]}


# A side is (contestant, budget), or (contestant, budget, 'ablated') for the same runs scored with
# their paper's memory removed (see [ablations](ablations.py)), or with 'approximate' for a swept
# table's runs scored with HNSW.
def cell_by_seed(groups, side: Tuple[str, ...], gap: int, load: int) -> Optional[Dict[int, float]]:
    records = records_at(groups, *side[:2])
    if records and len(side) == 3:
        if not all(side[2] in r for r in records):
            return None
        records = rescored(records, side[2])
    if not records or str(gap) not in records[0]['accuracy'] or str(load) not in records[0]['accuracy'][str(gap)]:
        return None
    return stats.by_seed(records, lambda r: r['accuracy'][str(gap)][str(load)])


# The sweep's own comparisons, made only when its records are there: the largest table against
# the smallest, and exact against approximate search for the largest, at the longest gap every
# sweep run trained on (load 1).
def sweep_comparisons(groups) -> Dict[str, Comparison]:
    swept = sorted((table_of(n), n) for n, b in groups if b == 'sweep' and table_of(n) is not None)
    if not swept:
        return {}
    records = [r for n in dict(swept).values() for r in groups[(n, 'sweep')]]
    gaps, load = list(records[0]['accuracy']), lightest_load(records[0])
    inside = trained_gaps(records, gaps, load)
    far = int(inside[-1]) if inside else int(gaps[0])
    (small, first), (large, last) = swept[0], swept[-1]
    made = [Comparison(f'kNN table of {large:,}, exact against approximate search', (last, 'sweep'),
                       (last, 'sweep', 'approximate'), gap=far)]
    if large != small:
        made.insert(0, Comparison(f'kNN table of {large:,} against {small:,} pairs', (last, 'sweep'),
                                  (first, 'sweep'), gap=far))
    return {c.label: c for c in made}


def comparisons(groups) -> Dict[str, Comparison]:
    return {**COMPARISONS, **sweep_comparisons(groups)}


def verdicts(groups, margin: float) -> Dict[str, stats.Verdict]:
    pairs = {}
    for label, c in comparisons(groups).items():
        first, second = (cell_by_seed(groups, side, c.gap, c.load) for side in (c.first, c.second))
        if first is not None and second is not None:
            pairs[label] = (first, second)
    return stats.compare(pairs, margin, lower_is_better=False) if pairs else {}


# The margin is declared with the runs; records that disagree on it cannot share a page.
# Records made before runs stored it were judged with the default.
def margin_of(runs: Sequence[Dict[str, Any]]) -> float:
    margins = {float((r.get('run') or {}).get('margin', Settings.margin)) for r in runs}
    if len(margins) > 1:
        raise ValueError(f"memory_reach: records declare different margins {sorted(margins)}; "
                         f"one page takes one margin (rerun, or move the odd records to history)")
    return margins.pop()


# ## The page
#
# Plots first, then the three tables (what each run is, exact match by gap at the lightest
# load, by load at gap 0), then the verdicts and the reading; how the numbers were made is
# folded at the end. Records of the toy suite (`quick_` keys) are drawn only when there are
# no others.
HISTORY = {
    'at_1000_steps': "the first runs of the three cells that failed their control at 1,000 steps",
    'colon_format': "the first recipe: pairs written `q:42`, memory texts only, 1,000 steps",
    'colon_format_at_1000_steps': "the first recipe's cells that failed their control at 1,000 steps",
    'colon_format_trials': "a trial of the first recipe, the plain transformer at 3,000 steps",
    'trials': "one-seed trials of the text format and the training mixture that chose the recipe",
    'trials_gate': "trials of training until learned (the gate) with texts of up to ten segments, on the plain "
                   "transformer and Transformer-XL, shown in their own table",
}


def report(records: Records, out: Path) -> Dict[str, Page]:
    from labml_memory.training import provenance
    out = Path(out)
    everything = records.runs
    suite = [(r, p) for r, p in everything if not p.stem.startswith('quick_')]
    chosen = suite or everything
    skipped = [r for r, _ in chosen if 'skipped' in r]
    measured = [(r, p) for r, p in chosen if 'skipped' not in r]
    runs = [r for r, _ in measured]
    groups = group(runs)
    gaps = list(runs[0]['accuracy'])
    loads = list(runs[0]['accuracy'][gaps[0]])
    seg_len = runs[0]['seg_len']
    budgets = [b for b in BUDGETS if any(k[1] == b for k in groups)]
    names = sorted({k[0] for k in groups if k[1] != 'sweep'})
    keys = [(n, b) for b in budgets for n in names if (n, b) in groups]
    figures = out / NAME
    figures.mkdir(parents=True, exist_ok=True)
    draw_by_gap(groups, names, budgets, gaps, loads, seg_len, figures / 'accuracy_by_gap.png')
    draw_heatmap(groups, keys, gaps, loads, figures / 'heatmap.png')
    found = verdicts(groups, margin_of(runs))
    reader = Reader(groups, records.history, found, gaps, loads, seg_len)
    try:
        reading, answer = reader.reading(), reader.answer()
    except Missing as missing:
        reading = [f'The reading is written for the full suite on the default grid; these records '
                   f'do not hold all it cites ({missing}).', '']
        answer = 'The tables below give what these records hold.'
    made = unheaded(provenance.section(
        measured, label=lambda r: f"{r['name']}/{r['budget']}/{r['seed']}", seeds=[r['seed'] for r in runs],
        extra=[f"* **Page:** `{STUDY.report_command}` rebuilds it from the records in "
               f"`docs/results/{NAME}/records/`", *command_today(measured), *history_lines(records)]))
    example = next(iter(found.values())).text(2) if found else ''
    page = Page(
        title='Memory reach and capacity',
        verdict=f'**{STUDY.question}** {answer}',
        figures=[(f'{NAME}/accuracy_by_gap.png', f'Exact match against the gap, load {loads[0]}, one panel '
                                                 f'per contestant'),
                 (f'{NAME}/heatmap.png', 'Exact match over gap and load')],
        convention=Convention(SEED_CELLS, len(found), margin_of(runs), example=example),
        body=[*tables(groups, keys, gaps, loads, seg_len, skipped), *sweep_table(groups, gaps, loads),
              *gate_trials(records.history.get('trials_gate', [])),
              *verdict_table(found, groups, all('margin' in (r.get('run') or {}) for r in runs)),
              '## Reading', '', *reading],
        made=made)
    return {f'{NAME}.md': page}


# Plot 1: accuracy against the gap at the lightest load, small multiples: one panel per
# contestant, its two budgets in it (colour and marker each), the seeds' min–max as a band,
# the plain transformer in grey in every panel for reference and the floor dotted. The gap
# axis is in segments, evenly spaced by grid index (the gaps roughly double), so its label
# says it is not to scale; the gaps no training text held are shaded.
def draw_by_gap(groups, names, budgets, gaps, loads, seg_len, path: Path) -> None:
    plt = plots.pyplot()
    panels = [n for n in names if n != 'plain'] or names
    fig, axes, _ = plots.grid(plt, len(panels), 3, width=9.0, row_height=2.2, sharex=True, sharey=True)
    xs = range(len(gaps))
    numbers = {}
    for budget in budgets:
        sized = [k for k in groups if k[1] == budget and k[0] != 'plain'] or [k for k in groups if k[1] == budget]
        numbers[budget] = groups[sized[0]][0]['budget_numbers']
    plain = records_at(groups, 'plain', budgets[0])
    inside = trained_gaps([r for rs in groups.values() for r in rs], gaps, loads[0])
    for ax, name in zip(axes, panels):
        if len(inside) < len(gaps):
            ax.axvspan(len(inside) - 0.5, len(gaps) - 0.5, color='0.5', alpha=0.12, linewidth=0,
                       label='extrapolation: gaps training never held')
        if plain and name != 'plain':
            ax.plot(xs, [statistics.mean(accuracy_at(plain, g, loads[0])) for g in gaps], color=plots.GREY,
                    linestyle='--', marker='x', markersize=4, label='plain transformer (no memory)')
        for i, budget in enumerate(budgets):
            records = records_at(groups, name, budget)
            if not records:
                continue
            cells = [accuracy_at(records, g, loads[0]) for g in gaps]
            style = plots.series(i)
            ax.plot(xs, [statistics.mean(c) for c in cells], markersize=4, **style,
                    label=f"budget {budget}: {numbers[budget]:,} numbers per stream")
            ax.fill_between(xs, [min(c) for c in cells], [max(c) for c in cells], color=style['color'],
                            alpha=0.15, linewidth=0)
        ax.axhline(recall.FLOOR, color='0.4', linestyle=':', linewidth=1, label='floor (memoryless guess)')
        failed = [b for b in budgets if records_at(groups, name, b) and control_failed(records_at(groups, name, b))]
        ax.set_title(name + (f" (control failed: {', '.join(failed)})" if failed else ''))
        ax.set_xticks(list(xs), gaps)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    plots.label_grid(axes, 3, 'gap (segments, not to scale)', f'exact match (load {loads[0]})')
    for ax in axes:
        ax.set_xlim(-0.5, len(gaps) - 0.5)
    fig.suptitle(f'Exact match by the gap between pairs and queries (segments of {seg_len} characters)')
    plots.legend_below(fig, ncol=2)
    plots.save(fig, path, dpi=110)


# Plot 2: the distance × load heat map of every contestant at every budget (mean over seeds),
# all on one colour scale from 0 to 1, so panels compare at a glance. Both axes are grid
# values spaced evenly, and say so; cells training did not cover are hatched.
def draw_heatmap(groups, keys, gaps, loads, path: Path) -> None:
    plt = plots.pyplot()
    from matplotlib.patches import Rectangle
    cols = min(4, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(9.0, 2.2 * rows + 0.6), squeeze=False, layout='constrained',
                             sharex=True, sharey=True)
    for ax in axes.flat[len(keys):]:
        ax.axis('off')
    for ax, key in zip(axes.flat, keys):
        grid = [[statistics.mean(accuracy_at(groups[key], g, k)) for g in gaps] for k in loads]
        image = ax.imshow(grid, vmin=0, vmax=1, cmap='viridis', origin='lower', aspect='auto')
        # Hatched: extrapolation, a cell training did not cover.
        for y, k in enumerate(loads):
            for x, g in enumerate(gaps):
                if not all(trained(r, g, k) for r in groups[key]):
                    ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, hatch='///',
                                           edgecolor='white', linewidth=0, alpha=0.5))
        ax.set_xticks(range(len(gaps)), gaps, fontsize=7)
        ax.set_yticks(range(len(loads)), loads, fontsize=7)
        ax.set_title(f'{key[0]}, {shown_budget(*key)}', fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel('gap (segments, not to scale)', fontsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel('load (pairs, not to scale)', fontsize=7)
    fig.colorbar(image, ax=axes, shrink=0.6, location='bottom',
                 label='exact match per query (hatched: extrapolation, never trained)')
    plots.save(fig, path, dpi=110)


# A grid cell as the tables print it: in italics where training did not cover it.
def shown(records: Sequence[Dict[str, Any]], gap: str, load: str) -> str:
    text = stats.cell(accuracy_at(records, gap, load), 2)
    return text if all(trained(r, gap, load) for r in records) else f'<i>{text}</i>'


def coverage_line(runs: Sequence[Dict[str, Any]], gaps: Sequence[str], loads: Sequence[str]) -> str:
    first = runs[0]
    limits = ', '.join(f"{min(longest_trained_gap(r, int(k)) for r in runs):.1f} at load {k}"
                       for k in loads if int(k) in first['settings']['train_loads'])
    untrained = [k for k in loads if int(k) not in first['settings']['train_loads']]
    return (f"*In italics: extrapolation*, a cell past what training covered. Training texts held at most "
            f"{max(first['settings']['train_segments'])} segments, so the longest gap a memory text could hold was "
            f"{limits} segments"
            + (f", and no text had {' or '.join(untrained)} pairs" if untrained else '')
            + ". Such a cell says how the recipe generalises, not how far the memory can carry; no headline "
              "reads one.")


# Three tables, each narrow enough to read at once: what each run is, then exact match by gap
# at the lightest load (reach), then by load at gap 0 (capacity inside the window). The lookup
# check: two pairs right before the queries, all inside the queries' segment. A cell is the
# mean over seeds with the lowest and highest seed under it (`stats.cell`).
def tables(groups, keys, gaps, loads, seg_len, skipped) -> List[str]:
    runs = [r for key in keys for r in groups[key]]
    lookup = '2' if '2' in loads else None
    summary = ['| contestant | budget | state (B) | parameters | seeds × steps | control '
               + ('| lookup ' if lookup else '') + '| reach at 50%<br><small>probe / rule</small> |',
               '|---|---|---:|---:|---:|---:|' + ('---:|' if lookup else '') + '---:|']
    # The two grids name the budget with the contestant, one column fewer.
    by_gap = ['| contestant (budget) | ' + ' | '.join(f'gap {g}' for g in gaps) + ' |',
              '|---|' + '---:|' * len(gaps)]
    by_load = ['| contestant (budget) | ' + ' | '.join(f'load {k}' for k in loads) + ' |',
               '|---|' + '---:|' * len(loads)]
    for key in keys:
        records = groups[key]
        control = stats.cell([r['control'] for r in records], 2) if records[0]['control'] is not None else 'n/a'
        failed = control_failed(records)
        reach_text = reach_words(records)
        # Memories with no window (a sum, a signal, tokens) have no reach to count; the kNN
        # table's reach is its length, which the probe does not measure.
        probe = (f"{records[0]['reach_measured']} / {records[0]['reach_rule']}" if 'reach_rule' in records[0]
                 else 'no hard limit' if records[0]['model'] in UNBOUNDED else 'not probed')
        # Steps as trained: the lookup phase, if any, plus the run proper.
        steps = '/'.join(sorted({(f"{r['settings']['lookup_steps']} + " if r['settings'].get('lookup_steps') else '')
                                 + str(run_proper(r)) for r in records}, key=lambda t: int(t.split()[-1])))
        lookup_cell = (stats.cell(accuracy_at(records, gaps[0], lookup), 2) + ' | ') if lookup else ''
        state = f"{records[0]['state_bytes']:,}" + ('' if records[0]['state_matched'] else ' (not matched)')
        label = f"{key[0]}{' ⚠' if failed else ''} | {shown_budget(*key)}"
        summary.append(f"| {label} | {state} | {records[0]['parameters']:,} | {len(records)} × {steps} | {control} "
                       f"| {lookup_cell}{reach_text}<br><small>{probe}</small> |")
        short = f"{key[0]}{' ⚠' if failed else ''} ({shown_budget(*key)})"
        by_gap.append(f"| {short} | " + ' | '.join(shown(records, g, loads[0]) for g in gaps) + ' |')
        by_load.append(f"| {short} | " + ' | '.join(shown(records, gaps[0], k) for k in loads) + ' |')
    ablated = [key for key in keys if all('ablated' in r for r in groups[key])]
    removed = ['| contestant (budget) | memory | ' + ' | '.join(f'gap {g}' for g in gaps) + ' |',
               '|---|---|' + '---:|' * len(gaps)]
    for key in ablated:
        records, what = groups[key], groups[key][0]['ablated']['what']
        cut = rescored(records, 'ablated')
        removed.append(f"| {key[0]} ({shown_budget(*key)}) | whole | "
                       + ' | '.join(shown(records, g, loads[0]) for g in gaps) + ' |')
        removed.append(f"| | {what} | " + ' | '.join(shown(cut, g, loads[0]) for g in gaps) + ' |')
    removal = ([f"## What each paper's memory carries (load {loads[0]})", '', *removed, '',
                "The same trained runs scored twice on the same texts: whole, and with the memory their paper "
                "adds removed before every segment (see [ablations](../studies/ablations.md)). What the score "
                "loses is what that memory carried; what it keeps came through the cache and the segment.", '']
               if ablated else [])
    return [
        '## The runs', '', *summary, '',
        '* **budget**: the state every contestant was sized to (the panels\' titles); *any* for the plain '
        'transformer, which keeps nothing and so is one model at every budget.',
        '* **state (B)**: bytes; the numbers each model hands from one segment to the next for one stream, measured '
        'after the longest evaluation text, times 4 bytes; *not matched* marks an architecture with no '
        'sizing rule yet, run at its defaults.',
        '* **seeds × steps**: training seeds, and optimiser steps of each run: the lookup phase plus the '
        'run proper (a contestant that failed its control at the default was rerun, every seed, with more; '
        'trained to the gate, the steps its seeds took, and ⚠ for a seed that hit the step cap unlearned).',
        f'* **control**: exact match per query at gap 0 with load {loads[0]} (the answer inside the '
        'attention window); ⚠ marks a contestant with a seed under 0.95, whose other numbers do not count.',
        *([f'* **lookup**: exact match per query at gap {gaps[0]} with {lookup} pairs, both inside the queries\' segment: '
           'whether the model learned to look a key up rather than copy the one value it saw. The load axis says '
           'something about a memory only where this is near 1.'] if lookup else []),
        f'* **reach at 50%**: the gap, in segments of {seg_len} characters, at which the mean exact '
        f'match at load {loads[0]} first falls under one half (interpolated between grid gaps); '
        f'*extrapolated* where that lies past the longest gap training covered.',
        '* **probe / rule**: for window-shaped memories, the farthest distance in characters at which '
        'changing one token moves the last output of the trained model (seed of the first record), '
        'beside the count from the layer-by-layer rule of [reach](../tasks/reach.md); under the reach at 50% '
        'in its cell.', '',
        *(["Not run: " + '; '.join(sorted({f"{r['name']} at budget {r['budget']} ({r['skipped']})" for r in skipped}))
           + '.', ''] if skipped else []),
        f'## Exact match by gap (load {loads[0]})', '', *by_gap, '',
        f'Per query, with the queries *gap* segments of {seg_len} characters after the pairs. The floor, a '
        f'guesser that forgot the pairs, is {recall.FLOOR:.2f}. ' + coverage_line(runs, gaps, loads), '',
        *removal,
        f'## Exact match by load (gap {gaps[0]})', '', *by_load, '',
        f'Per query, with *load* pairs written right before the queries. '
        f'A pair takes {recall.PAIR_LEN} characters and a query {recall.QUERY_LEN}, so from load 4 on some pairs lie '
        f'before the queries\' segment: a model that sees only its segment of {seg_len} could answer at most '
        + ', '.join(f'{window_share(int(k), seg_len):.2f} at load {k}' for k in loads) +
        ' (the window line: every pair wholly inside the segment found, no other).', '']


# Trials of the gated recipe (history, never counted): per run, the rounds it took with the
# gate's two scores after each, whether it learned, and its grid at the lightest load.
def gate_trials(kept: Sequence[Tuple[Dict[str, Any], Path]]) -> List[str]:
    runs = [r for r, _ in kept if 'gate' in r]
    if not runs:
        return []
    gaps, load = list(runs[0]['accuracy']), lightest_load(runs[0])
    s = runs[0]['settings']
    lines = ['| run | rounds: steps (control / lookup) | learned | ' + ' | '.join(f'gap {g}' for g in gaps) + ' |',
             '|---|---|---|' + '---:|' * len(gaps)]
    for r in sorted(runs, key=lambda r: (r['name'], r['budget'], r['seed'])):
        rounds = '; '.join(f"{k['steps']:,} ({k['control']:.2f} / {k['lookup']:.2f})" for k in r['gate']['rounds'])
        lines.append(f"| {r['name']} ({r['budget']}) seed {r['seed']} | {rounds} | "
                     f"{'yes' if r['gate']['learned'] else 'no ⚠'} | "
                     + ' | '.join(shown([r], g, load) for g in gaps) + ' |')
    return ['## Trials: training until the task is learned', '', *lines, '',
            f"Kept in `history/trials_gate/`, not counted above. Each run trained its lookup phase "
            f"({s['lookup_steps']} steps), then rounds of {s['steps']:,} steps (each its own schedule and texts) "
            f"on texts of {min(s['train_segments'])} to {max(s['train_segments'])} segments, until the one-pair "
            f"control and the lookup (two pairs, no gap) both reached {s['gate']:g} on texts of their own, or "
            f"{s['step_cap']:,} steps. Exact match per query at load {load}, italic past training.", '']


# The table sweep: one row per table size, the exact search's grid at the lightest load (italic
# past training), its lookup and its load-8 cell at gap 0, then what HNSW found of the exact top k
# and its own score at the farthest trained gap.
def sweep_table(groups, gaps, loads) -> List[str]:
    swept = sorted((table_of(n), (n, b)) for n, b in groups if b == 'sweep' and table_of(n) is not None)
    if not swept:
        return []
    lines = ['| table C | state (B) | seeds × steps | lookup | load 8 | ' + ' | '.join(f'gap {g}' for g in gaps)
             + ' | HNSW recall@k | HNSW at the far gap |', '|---:|---:|---:|---:|---:|' + '---:|' * len(gaps) + '---:|---:|']
    every = [r for _, key in swept for r in groups[key]]
    inside = trained_gaps(every, gaps, loads[0])
    far = inside[-1] if inside else gaps[0]
    for size, key in swept:
        records = groups[key]
        approx = rescored([r for r in records if 'approximate' in r], 'approximate')
        steps = '/'.join(str(n) for n in sorted({r['settings']['lookup_steps'] + run_proper(r) for r in records}))
        lookup = shown(records, gaps[0], '2') if '2' in loads else 'n/a'
        eight = shown(records, gaps[0], '8') if '8' in loads else 'n/a'
        lines.append(f"| {size:,}{' ⚠' if control_failed(records) else ''} | {records[0]['state_bytes']:,} | "
                     f"{len(records)} × {steps} | {lookup} | {eight} | "
                     + ' | '.join(shown(records, g, loads[0]) for g in gaps)
                     + f" | {stats.cell([r['approximate']['recall'] for r in records if 'approximate' in r], 3) if approx else 'n/a'}"
                     f" | {stats.cell(accuracy_at(approx, far, loads[0]), 2) if approx else 'n/a'} |")
    k = groups[swept[0][1]][0]['overrides']['top_k']
    return [f"## The kNN table's size (Memorizing Transformer, k = {k})", '', *lines, '',
            f"The same model with its table of C pairs (the XL cache one segment per layer), reading the k = {k} "
            f"nearest of them: the search selects. Its state grows with C, so these rows are not at a budget. "
            f"Exact match per query, load {loads[0]} by gap, italic past training. *HNSW recall@k*: the share of the "
            f"exact top k that faiss's HNSW index also returns, on the last segment of the longest grid text; "
            f"*HNSW at the far gap*: the same model scored with HNSW at gap {far}, the farthest every run trained on.",
            '']


# `declared`: every record stored the margin it ran under; records made before runs stored
# one were judged with the default, chosen after they were made, and the page says so.
def verdict_table(found: Dict[str, stats.Verdict], groups, declared: bool) -> List[str]:
    if not found:
        return []
    lines = ['## What the seeds resolve', '',
             '| comparison | gap, load | first | second | first − second |', '|---|---:|---:|---:|---|']
    for label, verdict in found.items():
        c = comparisons(groups)[label]
        first, second = (stats.cell(list(cell_by_seed(groups, side, c.gap, c.load).values()), 2)
                         for side in (c.first, c.second))
        lines.append(f"| {label} | {c.gap}, {c.load} | {first} | {second} | {verdict.text(2)} |")
    ties = any(v.verdict == stats.TIE for v in found.values())
    late = ('' if declared else
            " For these records the margin was set when the page moved to these statistics, after the runs; "
            + ("read its ties with that in mind." if ties else "no comparison here is a tie, so it decides none of them."))
    return lines + ['', "Exact match per query at the gap (in segments) and load named." + late, '']


# Records made before the study moved to the runner name the command of that time, which no
# longer exists; the page says what makes the same runs today.
def command_today(runs) -> List[str]:
    if all(record['command'].startswith(STUDY.run_command) for record, _ in runs):
        return []
    return [f"* **Command today:** runs listed with an earlier command were made before the study moved to "
            f"the runner; `{STUDY.run_command}` plans the same runs under the same keys (its defaults are this "
            f"suite, the reruns at more steps included), and runs those not recorded"]


def history_lines(records: Records) -> List[str]:
    if not records.history:
        return []
    parts = [f"`history/{why}/` ({len(kept)} record{'s' if len(kept) != 1 else ''}: {HISTORY.get(why, 'superseded')})"
             for why, kept in records.history.items()]
    return [f"* **Superseded records**, kept and never counted in the tables: {'; '.join(parts)}"]


# ## The reading
#
# Written from the records like the tables: every number in it is looked up, never typed, and
# every claim that sets one cell against another prints that comparison's verdict. It cites
# particular cells of the full suite (the default grid, every contestant, the history), so a
# partial or toy set of records gets one line saying so instead.
class Missing(LookupError):
    """A cell, a grid point or a history record the reading cites is not in the records."""


WORDS = ('no', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine')


def number(n: int) -> str:
    return WORDS[n] if n < len(WORDS) else str(n)


def _sci(x: float) -> str:
    exponent = math.floor(math.log10(abs(x)))
    mantissa = x / 10 ** exponent
    return f"${mantissa:g} \\cdot 10^{{{exponent}}}$"


class Reader:
    def __init__(self, groups, history, found: Dict[str, stats.Verdict], gaps, loads, seg_len):
        self.groups, self.history, self.found = groups, history, found
        self.gaps, self.loads, self.seg_len = gaps, loads, seg_len

    # ### Looking up what the reading cites
    def records(self, name: str, budget: str = 'small') -> List[Dict[str, Any]]:
        found = records_at(self.groups, name, budget)
        if not found:
            raise Missing(f'{name} at budget {budget}')
        return found

    def values(self, name: str, budget: str, gap: int, load: int = 1) -> List[float]:
        records = self.records(name, budget)
        if str(gap) not in records[0]['accuracy'] or str(load) not in records[0]['accuracy'][str(gap)]:
            raise Missing(f'gap {gap}, load {load}')
        return accuracy_at(records, str(gap), str(load))

    def m(self, name: str, budget: str, gap: int, load: int = 1) -> str:
        """The mean over seeds of one cell, as the tables print it."""
        return f"{statistics.mean(self.values(name, budget, gap, load)):.2f}"

    def band(self, name: str, budget: str, gap: int, load: int = 1) -> str:
        """`mean (lowest–highest)` over seeds: the reading's form of a table cell (square
        brackets are kept for the intervals of comparisons)."""
        v = self.values(name, budget, gap, load)
        return f"{statistics.mean(v):.2f} ({min(v):.2f}–{max(v):.2f})"

    def reach(self, name: str, budget: str = 'small') -> float:
        return reach_at_half(self.records(name, budget))

    def rw(self, name: str, budget: str = 'small') -> str:
        """The reach at 50% as the tables print it, *extrapolated* marked."""
        return reach_words(self.records(name, budget))

    def farthest_trained(self) -> str:
        """The last grid gap training covered at the lightest load, for every record."""
        inside = trained_gaps([r for rs in self.groups.values() for r in rs], self.gaps, self.loads[0])
        if not inside:
            raise Missing('a trained gap')
        return inside[-1]

    def first(self, name: str, budget: str = 'small') -> Dict[str, Any]:
        return self.records(name, budget)[0]

    def steps(self, name: str, budget: str) -> int:
        return self.first(name, budget)['settings']['steps']

    def v(self, label: str) -> str:
        if label not in self.found:
            raise Missing(f'the comparison {label!r}')
        return self.found[label].text(2)

    def kept(self, why: str) -> List[Dict[str, Any]]:
        if not self.history.get(why):
            raise Missing(f'history/{why}/')
        return [r for r, _ in self.history[why] if 'skipped' not in r]

    def trial(self, stem: str) -> Dict[str, Any]:
        for record, path in self.history.get('trials', []):
            if path.stem == stem:
                return record
        raise Missing(f'history/trials/{stem}.json')

    # ### The one-line answer under the question
    def answer(self) -> str:
        g = self.farthest_trained()
        window = max(statistics.mean(self.values(n, 'small', int(g))) for n in (
            'transformer_xl', 'compressive', 'infinity_former', 'infinity_former_sticky'))
        resolved = [v for v in self.found.values() if v.verdict != stats.UNRESOLVED]
        return (f"Read only where training reached (load {self.loads[0]}, gaps up to {g} segments): at the small "
                f"budget, by the means, Infini-attention answers {self.m('infini_linear', 'small', int(g))} "
                f"(linear) and {self.m('infini_delta', 'small', int(g))} (delta) of its queries {g} segments "
                f"back and the RMT {self.m('recurrent_memory', 'small', int(g))}, every window-shaped or "
                f"smoothed memory {window:.2f} or less; how far past that they reach (half the queries up to "
                f"{self.reach('infini_linear'):.1f} and {self.reach('recurrent_memory'):.1f} segments) is an "
                f"extrapolation, not yet measured on trained gaps. Three seeds resolve {number(len(resolved))} of the page's "
                f"{len(self.found)} comparisons.")

    def reading(self) -> List[str]:
        return [*self.recipe(), *self.controls(), *self.lookup(), *self.architectures(), *self.support()]

    # ### The recipe, and the trials that chose it
    def recipe(self) -> List[str]:
        base = self.first('plain')['settings']
        reruns = [(n, b) for (n, b), records in self.groups.items()
                  if records[0]['settings']['steps'] != base['steps']]
        more = {self.steps(n, b) for n, b in reruns}
        loads = ', '.join(str(k) for k in base['train_loads'][:-1]) + f" and {base['train_loads'][-1]}"
        share = ('half lookup texts and half *memory texts*' if base['lookup_share'] == 0.5 else
                 f"{base['lookup_share']:.0%} lookup texts and the rest *memory texts*")
        # The first recipe's lookup column, two pairs at gap 0, mean of each cell.
        colon = group(self.kept('colon_format'))
        colon_lookup = [statistics.mean(accuracy_at(v, '0', '2')) for v in colon.values()]
        colon_3000 = self.trial('colon_plain_lookup_only_3000_steps')
        memory_only, lookups, half = (self.trial(f'plain_{t}_1000_steps')
                                      for t in ('memory_texts_only', 'lookup_only', 'half_lookups'))

        half_of = 'Half' if base['lookup_share'] == 0.5 else f"A share {base['lookup_share']:g} of"

        def two(record: Dict[str, Any]) -> str:
            return f"{record['accuracy']['0']['2']:.2f}"
        return [
            f"**The recipe.** Every contestant: {base['n_layers']} layers, width {base['d_model']}, "
            f"{base['heads']} heads, feed-forward {base['d_ff']}, no dropout, segments of {base['seg_len']} "
            f"characters, {base['batch_size']} texts of {min(base['train_segments'])} to "
            f"{max(base['train_segments'])} segments per step, learning rate {_sci(base['lr'])}, loads {loads} in "
            f"training. Training has two phases: {base['lookup_steps']} steps of *lookup texts* (the pairs right "
            f"before the queries, every key asked), then {base['steps']:,} steps "
            f"({', '.join(f'{s:,}' for s in sorted(more))} for the {number(len(reruns))} reruns named under "
            f"*Controls*) of a mixture, {share} (gaps log-uniform from zero to all the room a text leaves). "
            f"Pairs are written `q42`, the value right after its key (see [recall](../tasks/recall.md) for why). "
            f"{'One thread' if base['threads'] == 1 else str(base['threads']) + ' threads'} per run. The suite ran "
            f"on a two-core Intel Xeon, two to five runs at a time beside mutation runs (03:03 to 04:59 UTC, about "
            f"two hours of wall time); the Transformer-XL large-budget rerun and the RMT's large budget ran later "
            f"on a two-core AMD EPYC, two runs at a time (06:47 UTC on). The wall times on this page are upper "
            f"bounds.", '',
            f"**Why this recipe, and what the earlier one showed.** The first version of this page wrote pairs as "
            f"`q:42`, trained on memory texts only, 1,000 steps. Its load axis measured nothing: at two pairs and "
            f"no gap every model answered {min(colon_lookup):.2f} to {max(colon_lookup):.2f}, about what naming "
            f"either value gives. Trials on the plain transformer (records in `memory_reach/history/trials/`) "
            f"found two causes. The colon put the key two characters before the answer: trained "
            f"{colon_3000['settings']['steps']:,} steps on lookups alone the model answered {two(colon_3000)} at "
            f"two pairs, its errors almost all on the first digit. And memory texts alone never taught the "
            f"lookup: without the colon, {memory_only['settings']['steps']:,} steps of memory texts gave "
            f"{two(memory_only)}, {lookups['settings']['steps']:,} steps of lookups {two(lookups)}, half and half "
            f"{two(half)}. So the lookup phase comes first. The earlier records are kept in "
            f"`memory_reach/history/colon_format/`. One difference from them is worth knowing: Infini-attention's "
            f"reach was longer there (about {reach_at_half(colon[('infini_linear', 'small')]):.0f} segments with "
            f"the linear rule and {reach_at_half(colon[('infini_delta', 'small')]):.0f} with the delta rule, small "
            f"budget, against {self.reach('infini_linear'):.1f} and {self.reach('infini_delta'):.1f} here; all four "
            f"past the gaps either recipe trained on, so extrapolations). "
            f"{half_of} the training texts are now lookups with no gap, so it saw half as many texts that reward carrying a "
            f"pair far: the reach of a memory trained end to end depends on how often training asks for it.", '']

    # ### The controls
    def controls(self) -> List[str]:
        base = self.first('plain')['settings']['steps']
        first = group(self.kept('at_1000_steps'))
        named = {'recurrent_memory': 'the RMT', 'infini_linear': 'Infini-attention with the linear rule',
                 'transformer_xl': 'Transformer-XL'}
        # Small budget first, as the page's tables list them.
        reruns = sorted((key for key in first if key in self.groups), key=lambda k: (BUDGETS.index(k[1]), k[0]))
        failing = [k for k, records in self.groups.items() if control_failed(records)]
        lowest = min(r['control'] for key in reruns for r in self.groups[key])
        cells = [f"{named.get(n, n)} at the {b} budget (one seed at {min(r['control'] for r in first[(n, b)]):.2f})"
                 for n, b in reruns]
        return [
            "**Controls.** "
            + ("Every row passes its control (one pair, no gap) in every seed. " if not failing else
               f"{', '.join(f'{n} ({b})' for n, b in failing)} fail their control in some seed (⚠). ")
            + f"{number(len(reruns)).capitalize()} needed more steps, every seed rerun with the run proper at "
              f"{self.steps(*reruns[0]):,} (their first records, at {base:,}, are kept in "
              f"`memory_reach/history/at_1000_steps/`): {', '.join(cells[:-1])} and {cells[-1]}. Rerun, "
              f"{'all ' + number(len(reruns)) if len(reruns) > 2 else 'both'} pass"
              + (", every seed at 1.00." if lowest == 1 else f" in every seed (the lowest at {lowest:.2f})."), '']

    # ### The lookup column
    def lookup(self) -> List[str]:
        share = {k: window_share(k, self.seg_len) for k in (4, 8, 16)}
        xl_large_16 = max(self.values('transformer_xl', 'large', 0, 16))
        # Whether every seed of Infini-attention looked up less than every seed of the plain one.
        apart = max(self.values('infini_linear', 'small', 0, 4)) < min(self.values('plain', 'small', 0, 4))
        return [
            f"**The lookup column, and what the load axis can say.** With the new recipe the plain transformer "
            f"learns the lookup: {self.band('plain', 'small', 0, 2)} at two pairs, and along the whole load axis "
            f"it sits on the window line ({self.m('plain', 'small', 0, 4)} at four pairs against {share[4]:.2f}, "
            f"{self.m('plain', 'small', 0, 8)} at eight against {share[8]:.2f}, {self.m('plain', 'small', 0, 16)} "
            f"at sixteen against {share[16]:.2f}): it answers what its segment holds and nothing else. The "
            f"memories score lower in the same steps: Transformer-XL {self.band('transformer_xl', 'small', 0, 2)} "
            f"(against the plain transformer, seed by seed: "
            f"{self.v('Transformer-XL (small) against the plain transformer')}), the Compressive Transformer "
            f"{self.band('compressive', 'small', 0, 2)}, the ∞-former {self.m('infinity_former', 'small', 0, 2)} "
            f"and {self.m('infinity_former_sticky', 'small', 0, 2)} (sticky), the RMT "
            f"{self.m('recurrent_memory', 'small', 0, 2)}, Infini-attention {self.m('infini_linear', 'small', 0, 2)} "
            f"(linear) and {self.m('infini_delta', 'small', 0, 2)} (delta), at the small budget. Half their "
            f"training is spent on memory texts, which the plain transformer cannot use at all. So a fall along "
            f"the load axis is a memory filling up only where the lookup column is near 1; elsewhere it is, in "
            f"part, a lookup not yet learned. Read that way, two things stand out. Transformer-XL and the "
            f"Compressive Transformer, whose caches hold the previous segment, beat the window line at eight and "
            f"sixteen pairs in their best seeds (XL at the large budget {xl_large_16:.2f} at sixteen pairs in one "
            f"seed), which is their memory at work. Infini-attention is *under* the window line from four pairs "
            f"on ({self.m('infini_linear', 'small', 0, 4)} against {share[4]:.2f} at the small budget; against "
            f"the plain transformer at four pairs: "
            f"{self.v('Infini-attention (linear, small) against the plain transformer')}): its local attention, "
            f"which must do the lookup inside the segment, shares each head with the memory read through a "
            f"learned gate, and in these steps it looked up less than a model with no memory at all "
            f"{'in every seed' if apart else 'in its mean'}.", '']

    # ### Each architecture
    def architectures(self) -> List[str]:
        xl = {b: self.first('transformer_xl', b) for b in BUDGETS}
        comp = {b: self.first('compressive', b)['overrides'] for b in BUDGETS}
        former = {b: self.first('infinity_former', b)['overrides'] for b in BUDGETS}
        rmt = {b: self.first('recurrent_memory', b) for b in BUDGETS}
        kt = self.first('memorizing_transformer', 'large')
        d, h = xl['small']['overrides']['d_model'], xl['small']['overrides']['heads']
        lookup_steps = xl['small']['settings']['lookup_steps']
        floor_seeds = [v > 10 * recall.FLOOR for v in self.values('transformer_xl', 'small', 2)]
        colon_xl = group(self.kept('colon_format'))[('transformer_xl', 'small')]
        colon_seeds = [v > 10 * recall.FLOOR for v in accuracy_at(colon_xl, '2', '1')]
        xl_large_2 = self.values('transformer_xl', 'large', 2)
        rmt_seconds = [r['train_seconds'] for r in self.records('recurrent_memory', 'large')]
        il_ratio = self.steps('infini_linear', 'large') / self.steps('infini_linear', 'small')
        rmt_ratio = self.steps('recurrent_memory', 'small') / self.steps('recurrent_memory', 'large')
        times = {2: 'twice', 3: 'three times', 4: 'four times'}
        share = {k: window_share(k, self.seg_len) for k in (4, 8, 16)}
        kt_loads = [self.m('memorizing_transformer', 'large', 0, k) for k in (2, 4, 8, 16)]
        return [
            f"**Transformer-XL** ($M = {xl['small']['overrides']['mem_len']}$ per layer, small; "
            f"{xl['large']['overrides']['mem_len']}, large). Its reach grows with $N M$, as the paper says: "
            f"{xl['small']['reach_rule']} and {xl['large']['reach_rule']} characters by the rule and by the probe "
            f"on the trained model. Recall follows: {self.m('transformer_xl', 'small', 1)} at one segment and "
            f"{self.band('transformer_xl', 'small', 2)} at two (small), where the value is only reachable along the "
            f"second hop, through the first layer's memory; {self.m('transformer_xl', 'large', 2)} at two segments"
            f"{' in every seed' if min(xl_large_2) == max(xl_large_2) else ''} and "
            f"{self.band('transformer_xl', 'large', 4)} at four (large, {lookup_steps} + "
            f"{self.steps('transformer_xl', 'large'):,} steps; large against small at two segments: "
            f"{self.v('Transformer-XL, large against small budget')}): four segments of filler "
            f"({4 * self.seg_len} characters) lie inside the {xl['large']['reach_rule']} characters the rule "
            f"allows, yet the far end of the two-hop path carries the value only in part. With the lookup learned "
            f"first, {number(sum(floor_seeds))} of {number(len(floor_seeds))} seeds use part of the second hop at the "
            f"small budget (over ten times the floor at two segments); with the earlier recipe "
            f"{'none' if not any(colon_seeds) else number(sum(colon_seeds))} did.", '',
            f"**Compressive Transformer** ($M = {comp['small']['mem_len']}$, $M_c = {comp['small']['compressed_len']}$ "
            f"at $c = {comp['small']['compression_rate']}$, small; {comp['large']['mem_len']} and "
            f"{comp['large']['compressed_len']}, large; convolution with the attention-reconstruction loss). "
            f"Compression extends the reach by $c$, by rule and probe ({self.first('compressive')['reach_rule']} and "
            f"{self.first('compressive', 'large')['reach_rule']} characters against {xl['small']['reach_rule']} and "
            f"{xl['large']['reach_rule']}), but what reaches that far is not the value: at two segments recall is "
            f"{self.band('compressive', 'small', 2)} (small) and {self.band('compressive', 'large', 2)} (large; "
            f"against the small budget: {self.v('Compressive, large against small budget')}), above the plain "
            f"transformer's {self.m('plain', 'small', 2)} in its mean (seed by seed: "
            f"{self.v('Compressive (small) against the plain transformer')}) yet far from answering. "
            f"{number(comp['small']['compression_rate']).capitalize()} positions squeezed into one slot keep what "
            f"attention needed, not two exact digits.", '',
            f"**∞-former** ({former['small']['mem_len']} short-term positions and {former['small']['n_basis']} "
            f"basis functions, small; {former['large']['mem_len']} and {former['large']['n_basis']}, large). No "
            f"hard limit, and blurring, as the paper says; here the blur wins. It answers one segment back (its "
            f"short-term memory) and {self.band('infinity_former', 'small', 2)} at two (small; the large budget "
            f"against it: {self.v('∞-former, large against small budget')}), then sits at the floor. Sticky "
            f"memories: {self.band('infinity_former_sticky', 'small', 2)} at two segments (against the ∞-former: "
            f"{self.v('sticky ∞-former against the ∞-former, small')}).", '',
            f"**Infini-attention** ({h} heads of $d_k (d_v + 1) = {(d // h) * (d // h + 1)}$ numbers per layer, "
            f"small; one head of {d * (d + 1):,}, large). The only memory here that carries an exact value far "
            f"past its window: half its queries are answered up to about {self.rw('infini_linear')} segments "
            f"with the linear rule and {self.rw('infini_delta')} with the delta rule (small), "
            f"{self.rw('infini_linear', 'large')} and {self.rw('infini_delta', 'large')} (large). "
            f"The large budget against the small (linear, at eight segments): "
            f"{self.band('infini_linear', 'large', 8)} against {self.band('infini_linear', 'small', 8)}, "
            f"{self.v('Infini-attention (linear), large against small budget')}, though the large runs trained "
            f"{times.get(il_ratio, f'{il_ratio:g} times')} as long. The delta rule against the linear one (small, "
            f"eight segments): {self.v('Infini-attention, delta against linear rule, small')}.", '',
            f"**RMT** ({rmt['small']['overrides']['n_mem']} memory tokens of width {d}, small, {lookup_steps} + "
            f"{self.steps('recurrent_memory', 'small'):,} steps; {rmt['large']['overrides']['n_mem']} tokens, "
            f"large, {lookup_steps} + {self.steps('recurrent_memory', 'large'):,} steps) "
            f"{'passes' if not any(control_failed(self.records('recurrent_memory', b)) for b in BUDGETS) else 'fails'} "
            f"its control in every seed at both budgets and carries a value further than any window-shaped memory of the same "
            f"state: at the small budget {self.m('recurrent_memory', 'small', 1)} at one segment, "
            f"{self.m('recurrent_memory', 'small', 2)} at two, {self.band('recurrent_memory', 'small', 4)} at four "
            f"(against Transformer-XL there: {self.v('RMT against Transformer-XL, small')}), half its queries "
            f"answered up to {self.rw('recurrent_memory')} segments. The large budget is *shorter*: "
            f"{self.band('recurrent_memory', 'large', 2)} at two segments, {self.band('recurrent_memory', 'large', 4)} "
            f"at four, reach {self.rw('recurrent_memory', 'large')} (large against small at two segments: "
            f"{self.v('RMT, large against small budget')}), but the two budgets did not train alike: the small runs "
            f"needed, and got, {times.get(rmt_ratio, f'{rmt_ratio:g} times')} the steps, and the large model reads "
            f"{rmt['large']['overrides']['n_mem']} + {self.seg_len} + {rmt['large']['overrides']['n_mem']} "
            f"positions per segment, so each of its steps cost four to six times as much ({min(rmt_seconds):,.0f} "
            f"to {max(rmt_seconds):,.0f} s per run). The likelier reading is a four times larger memory not yet "
            f"trained long enough to use, not more memory hurting; a large run at "
            f"{self.steps('recurrent_memory', 'small'):,} steps would test it and was not run.", '',
            f"**Memorizing Transformer** (large only: its table must hold a segment of pairs, more than the small "
            f"budget). At {kt['budget_numbers']:,} numbers its table holds one segment of pairs ($C = L = "
            f"{kt['overrides']['mem_size']}$) beside an XL cache of {kt['overrides']['mem_len']} per layer: it "
            f"answers one segment back ({self.m('memorizing_transformer', 'large', 1)}) and is at the floor from "
            f"two on ({self.m('memorizing_transformer', 'large', 2)}). It is the best at *load*: {kt_loads[0]} at "
            f"two pairs, {kt_loads[1]} at four, {kt_loads[2]} at eight and {kt_loads[3]} at sixteen with no gap, "
            f"far above the window line ({share[4]:.2f}, {share[8]:.2f}, {share[16]:.2f}; against the plain "
            f"transformer at eight pairs: {self.v('Memorizing Transformer (large) against the plain transformer')}): "
            f"exact keys looked up in a table are the one memory here that does not blur with load.", '',
            f"**The plain transformer** answers inside its segment (reach {self.first('plain')['reach_rule']} "
            f"characters) and at the floor ({recall.FLOOR:.2f}) "
            f"everywhere else: the baseline every memory above is read against.", '']

    # ### What the numbers support
    def support(self) -> List[str]:
        infini = sorted([self.reach('infini_linear'), self.reach('infini_delta')])
        g = self.farthest_trained()
        longest = min(longest_trained_gap(r, int(self.loads[0])) for rs in self.groups.values() for r in rs)
        far_window = max(statistics.mean(self.values(n, 'small', int(g))) for n in (
            'transformer_xl', 'compressive', 'infinity_former', 'infinity_former_sticky'))
        window = max(self.reach(n) for n in ('transformer_xl', 'compressive', 'infinity_former',
                                              'infinity_former_sticky'))
        resolved = [(label, v) for label, v in self.found.items() if v.verdict != stats.UNRESOLVED]
        unresolved = [label for label, v in self.found.items() if v.verdict == stats.UNRESOLVED]
        said = '; '.join(f"{label}, {v.verdict}" for label, v in resolved)
        return [
            f"**What the numbers support.** By the means, at equal state a memory that sums keys and values "
            f"(Infini-attention) carries one exact item furthest: half its queries answered up to {infini[0]:.1f} "
            f"to {infini[1]:.1f} segments at the small budget, against at most {window:.1f} for every "
            f"window-shaped or smoothed memory; a memory of tokens written by the model (the RMT, "
            f"{self.rw('recurrent_memory')}) comes second. Those reaches rest on gaps no training text held (the "
            f"longest held {longest:.1f} segments at load {self.loads[0]}): extrapolations, which say how the "
            f"recipe generalised. Inside "
            f"training, at {g} segments, Infini-attention answers {self.m('infini_linear', 'small', int(g))} (linear) "
            f"and {self.m('infini_delta', 'small', int(g))} (delta), the RMT "
            f"{self.m('recurrent_memory', 'small', int(g))}, the window-shaped and smoothed memories "
            f"{far_window:.2f} or less. For many items at once the kNN table "
            f"(Memorizing Transformer) is the only memory above the window line at every load it trained on; compression and "
            f"continuous memories extend how far a token can *influence* the output without extending how far an "
            f"exact item survives; more state moves Transformer-XL's mean at two segments from "
            f"{self.m('transformer_xl', 'small', 2)} to {self.m('transformer_xl', 'large', 2)}, the hop its longer "
            f"cache adds, and the others' means little or down (the RMT's large budget, trained half as long as its "
            f"small one, is shorter). Seed by seed, with the correction across the page, three seeds resolve "
            f"{number(len(resolved))} of the "
            f"{len(self.found)} comparisons ({said or 'none'}); "
            f"{'the others are' if len(unresolved) > 1 else 'the other is'} not resolved, and more seeds would be "
            f"needed to call them (the table above gives each).", '']


STUDY = Study(NAME, 'How far back, and how much, can each memory carry at equal state?', Settings, plan,
              execute, report, pages=[f'{NAME}.md'], seeds='3 seeds')
