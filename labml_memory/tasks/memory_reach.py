r"""
# Memory reach and capacity: one suite for every architecture

The question the whole site exists for: *how far back, and how much, can each memory carry?*
This suite trains every architecture on [associative recall](recall.py) at the **same state
size per stream**, then scores it on a grid of distances (the gap between the pairs and the
queries, from inside the attention window out to 64 segments) and loads (how many pairs must
be kept at once). Beside each trained window-shaped model it prints its **reach**, counted by
the rule and measured by perturbing one token (see [reach](reach.py)).

```
python -m labml_memory.tasks.memory_reach run                          # every contestant, both budgets, 3 seeds
python -m labml_memory.tasks.memory_reach run contestants=transformer_xl,infini_linear budgets=small seeds=0
python -m labml_memory.tasks.memory_reach run quick=true               # toy sizes, a minute (the tests run this)
python -m labml_memory.tasks.memory_reach report                       # the page, from the saved records
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
  not a row of zeros; the report marks such runs and leaves them out of the reading.
* **Seeds.** Three training seeds per cell by default; the report gives the mean and the
  min–max band. Evaluation texts are drawn from their own seeds, the same for every model.
* **The floor.** A model that forgot the pairs scores $10^{-2}$ per query (see
  [recall](recall.py)); every table and plot carries it.

## Contestants

Each contestant is an architecture of the project (by its package name, exactly as the
tasks take `model=`) with the overrides that set its state at each budget. Architectures
added later take part automatically: one not listed here is run at its own defaults for the
stack's shape, and if its experiment module defines `reach_overrides(numbers, d_model,
n_layers, heads, seg_len)` that function sets its state to the budget (or returns `None` when
the budget is below the architecture's smallest state).
"""

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from labml_memory.tasks import recall
from labml_memory.training import provenance
from labml_memory.tasks.reach import measured_reach, window_reach
from labml_memory.tasks.synthetic import (SyntheticTrainConfig, architectures, load_results, mean_and_range,
                                          save_result, split_task_overrides, start_run, train)

RESULTS = 'docs/results/memory_reach'
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
# cell in its Table 5; on Tiny Shakespeare the [compression study](../results/compressive/study.md)
# finds it within the seeds' spread of the best cell there (most-used), so the choice stands.
@dataclass
class Contestant:
    model: str
    size: Callable[[int, int, int, int], Dict[str, Any]]
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
        import importlib
        module = importlib.import_module(f'labml_memory.{package}.experiment')
        hook = getattr(module, 'reach_overrides', None)
        found[package] = Contestant(package, hook if hook else (lambda s, d, n, h, L: {}))
    return found


# ## Settings
#
# The model's shape is shared by all contestants. The defaults train for a few minutes per
# run on a CPU; `quick=true` shrinks everything to toy size so the whole suite runs end to end
# in a minute, which is what the tests do (its numbers mean nothing).
@dataclass
class ReachConfig(SyntheticTrainConfig):
    contestants: List[str] = field(default_factory=list)   # empty: all of them
    budgets: List[str] = field(default_factory=lambda: ['small', 'large'])
    seeds: List[int] = field(default_factory=lambda: [0, 1, 2])
    d_model: int = 64
    heads: int = 4
    n_layers: int = 2
    d_ff: int = 128
    steps: int = 1000
    lr: float = 3e-3
    seg_len: int = 32
    train_segments: List[int] = field(default_factory=lambda: [2, 3, 4])
    train_loads: List[int] = field(default_factory=lambda: [1, 2, 4, 8])
    # A first phase of `lookup_steps` on lookup texts alone, then `steps` on the mixture, with a
    # share `lookup_share` of lookups kept (see [recall](recall.py) and one run, below). A
    # trial run of each recipe is kept in `docs/results/memory_reach/trials/`.
    lookup_steps: int = 300
    lookup_share: float = 0.5
    # The grid: gaps in segments (0: the pairs end right before the queries) and loads.
    eval_gaps: List[int] = field(default_factory=lambda: [0, 1, 2, 4, 8, 16, 64])
    eval_loads: List[int] = field(default_factory=lambda: [1, 2, 4, 8, 16])
    eval_samples: int = 64
    quick: bool = False
    results_dir: str = RESULTS
    logs_dir: str = ''
    device: str = 'cpu'
    threads: int = 1
    # The task's own `model` key is not used: contestants name their architectures.
    model: str = 'transformer_xl'
    name: str = ''

    def apply_quick(self) -> None:
        if self.quick:
            self.d_model, self.heads, self.n_layers, self.d_ff = 16, 2, 1, 32
            self.steps, self.eval_every, self.seg_len, self.warmup = 4, 2, 8, 1
            self.lookup_steps = min(self.lookup_steps, 2)
            self.train_segments, self.train_loads = [2], [1, 2]
            self.eval_gaps, self.eval_loads, self.eval_samples = [0, 2], [1, 2], 4
            self.batch_size, self.seeds = 4, [0]

    def validate(self) -> None:
        for key in ('steps', 'batch_size', 'seg_len', 'eval_samples', 'd_model', 'n_layers', 'heads'):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be positive, got {getattr(self, key)}")
        unknown = [b for b in self.budgets if b not in ('small', 'large')]
        if unknown:
            raise ValueError(f"unknown budgets {unknown}; valid: ['small', 'large']")
        if any(g < 0 for g in self.eval_gaps):
            raise ValueError(f"eval_gaps are segments >= 0, got {list(self.eval_gaps)}")
        if any(not 1 <= k <= recall.N_KEYS for k in list(self.eval_loads) + list(self.train_loads)):
            raise ValueError(f"loads must be between 1 and {recall.N_KEYS}")
        if self.lookup_steps < 0:
            raise ValueError(f"lookup_steps must be >= 0 (0: no lookup phase), got {self.lookup_steps}")
        if not 0.0 <= self.lookup_share <= 1.0:
            raise ValueError(f"lookup_share is a fraction of the training texts, in [0, 1]; got {self.lookup_share}")
        valid = contestants()
        bad = [c for c in self.contestants if c not in valid]
        if bad:
            raise ValueError(f"unknown contestants {bad}; valid: {sorted(valid)}")

    def budget_numbers(self, budget: str) -> int:
        return infini_numbers(self.d_model, self.n_layers, self.heads if budget == 'small' else 1)


# ## The state a model hands over
#
# Measured after reading a text as long as the longest evaluation one, in evaluation mode, so a
# memory that grows with the text (a kNN memory up to its bound) is counted at its largest.
@torch.no_grad()
def state_numbers(model, config: ReachConfig, device) -> int:
    model.eval()
    length = config.seg_len * (max(config.eval_gaps) + 8)
    tokens = torch.randint(len(recall.CHARS), (1, length), generator=torch.Generator().manual_seed(0)).to(device)
    memory = None
    for start in range(0, length, config.seg_len):
        _, memory, _ = model(tokens[:, start:start + config.seg_len], memory)
    return sum(t.numel() for t in memory.tensors())


# ## Scoring the grid
#
# One batch per (gap, load), from its own seed, so every model reads the same texts. The text
# is the shortest whole number of segments that holds the layout.
@torch.no_grad()
def evaluate_grid(model, config: ReachConfig, device) -> Dict[str, Dict[str, float]]:
    from labml_memory.tasks.synthetic import read_in_segments
    model.eval()
    grid = {}
    for i, gap_segments in enumerate(config.eval_gaps):
        row = {}
        for j, load in enumerate(config.eval_loads):
            gap = gap_segments * config.seg_len
            need = recall.needed_length(load, gap, recall.default_queries(load))
            length = math.ceil(need / config.seg_len) * config.seg_len
            generator = torch.Generator().manual_seed(20_000 + 100 * i + j)
            batch = recall.sample(config.eval_samples, length, generator, load, gap).to(device)
            logits = read_in_segments(model, batch.inputs, config.seg_len)
            row[str(load)] = recall.query_correct(logits.argmax(-1), batch).float().mean().item()
        grid[str(gap_segments)] = row
    return grid


# ## One run: a contestant, a budget, a seed
#
# Training has two phases. The first, `lookup_steps` long, reads lookup texts only: the pairs
# right before the queries, every key asked. It teaches the lookup inside the window, which
# memory texts alone never taught (see [recall](recall.py)). The second, the run proper,
# reads the mixture, half lookups and half memory texts, so that the model learns to carry
# the pairs across the gap without forgetting how to look them up.
#
# The model's configuration is built in three layers: the stack's shape every contestant
# shares (no dropout: fresh texts every step leave nothing to overfit; `unroll` over the
# longest training text, so a model that learns through its memory, such as Infini-attention
# with `memory_grad` or the RMT, gets gradients across every segment of it), then the
# contestant's fixed settings, then its sizing to the budget $S$.
def run_one(config: ReachConfig, name: str, budget: str, seed: int) -> Dict[str, Any]:
    from labml import experiment
    from labml_memory.training.config import build_config
    contestant = contestants()[name]
    numbers = config.budget_numbers(budget)
    overrides = dict(d_model=config.d_model, heads=config.heads, n_layers=config.n_layers, d_ff=config.d_ff,
                     dropout=0.0, seq_len=config.seg_len, unroll=max(config.train_segments))
    overrides.update(contestant.extra)
    sized = contestant.size(numbers, config.d_model, config.n_layers, config.heads, config.seg_len)
    if sized is None:
        return {'name': name, 'model': contestant.model, 'budget': budget, 'seed': seed,
                'budget_numbers': numbers, 'skipped': f"{name} cannot keep a state as small as "
                f"{numbers:,} numbers per stream at this width (its smallest working state is larger)"}
    overrides.update(sized)
    # The architecture's own configuration checks every key, so a sizing rule that produced an
    # invalid memory fails here with that model's message, before anything is trained.
    module = __import__(f'labml_memory.{contestant.model}.experiment', fromlist=['Config'])
    model_config = build_config(module.Config, module.PRESETS, {k: str(v) for k, v in overrides.items()})
    run_config = ReachConfig(**{**asdict(config), 'seed': seed, 'model': contestant.model, 'name': name})
    model, device = start_run(f'memory_reach_{name}_{budget}', run_config, model_config, module, len(recall.CHARS))
    # Equal state is checked, not assumed: the number the model really hands over must lie
    # within 10% of the budget. The plain transformer carries nothing by definition; an
    # architecture with no sizing rule runs anyway and is marked as not matched on the page.
    state = state_numbers(model, config, device)
    matched = name == 'plain' or abs(state - numbers) <= 0.1 * numbers
    if not matched and (name in CONTESTANTS or hasattr(module, 'reach_overrides')):
        raise ValueError(f"{name} at budget {budget} keeps {state} numbers per stream, more than 10% from "
                         f"{numbers}; adjust its sizing")
    # Training time only (the grid's evaluation is not part of it), for the page's wall time.
    started = time.time()
    with experiment.start():
        # The lookup phase, then the run proper, one labml curve across both (each phase with its
        # own warm-up and cosine, as the frequency-sort curriculum does).
        if config.lookup_steps:
            train(model, recall.training_sampler(config.train_loads, 1.0),
                  replace(run_config, steps=config.lookup_steps), device)
        history = train(model, recall.training_sampler(config.train_loads, config.lookup_share), run_config, device,
                        first_step=config.lookup_steps)
    train_seconds = time.time() - started
    grid = evaluate_grid(model, config, device)
    # The record holds everything the page prints, so `report` never needs the model: the
    # control is the first grid cell (gap 0, the lightest load) when the grid starts at gap 0.
    result = {
        'name': name, 'model': contestant.model, 'budget': budget, 'seed': seed,
        'budget_numbers': numbers, 'state_numbers': state, 'state_bytes': state * 4, 'state_matched': matched,
        'parameters': sum(p.numel() for p in model.parameters()), 'overrides': overrides,
        'train_seconds': round(train_seconds, 1), 'seg_len': config.seg_len,
        'control': grid[str(config.eval_gaps[0])][str(config.eval_loads[0])] if config.eval_gaps[0] == 0 else None,
        'accuracy': grid, 'final_train_loss': history[-1]['loss.train'],
        'settings': {k: v for k, v in asdict(config).items() if k not in ('contestants', 'budgets', 'seeds')},
    }
    # Window-shaped memories: the reach by the rule and measured on the trained model. The probe
    # reads enough segments for the rule's reach to fit with room to spare (the memory of every
    # layer, compressed slots counted at $c$ positions each, plus three segments), so a probe
    # that found movement at the very start of its text would show the rule too small.
    if contestant.model in ('transformer_xl', 'compressive'):
        mem = [model_config.eval_mem_len if isinstance(getattr(model_config, 'eval_mem_len', None), int)
               else model_config.mem_len] * config.n_layers
        comp = [getattr(model_config, 'compressed_len', 0)] * config.n_layers
        rate = getattr(model_config, 'compression_rate', 1)
        segments = max(4, (max(mem) + rate * max(comp)) * config.n_layers // config.seg_len + 3)
        result['reach_rule'] = window_reach(segments * config.seg_len - 1, config.seg_len, mem, comp, rate)
        result['reach_measured'] = measured_reach(model, len(recall.CHARS), config.seg_len, segments)
    return result


# ## The suite
#
# Every key the suite does not know is an error: the model's shape is the suite's own setting,
# shared by all contestants, so a model key on this command line would silently make the
# comparison unequal. Runs go budget by budget, contestant by contestant, seed by seed, and each
# record names the one-run command that reproduces it.
def run(overrides: Dict[str, str]) -> List[Dict[str, Any]]:
    config, _, rest = split_task_overrides(ReachConfig, overrides)
    if rest:
        raise ValueError(f"unknown keys {sorted(rest)}; the suite's keys are {sorted(asdict(config))}")
    config.apply_quick()
    names = config.contestants or sorted(contestants())
    shared = ' '.join(f'{k}={v}' for k, v in overrides.items() if k not in ('contestants', 'budgets', 'seeds'))
    results = []
    for budget in config.budgets:
        for name in names:
            # The plain transformer keeps no state, so its model is the same at every budget: one
            # run, at the first budget asked for, serves them all (the page draws it in every panel).
            if name == 'plain' and budget != config.budgets[0]:
                continue
            for seed in config.seeds:
                # Each run writes its record as soon as it ends, so an interrupted suite loses
                # only the run in progress, and `report` can be run at any time. A budget the
                # architecture cannot hold leaves a record too, so the page can say why.
                result = run_one(config, name, budget, seed)
                if 'skipped' in result:
                    print(result['skipped'])
                else:
                    result['command'] = ' '.join(filter(None, (
                        'python -m labml_memory.tasks.memory_reach run', shared,
                        f'contestants={name} budgets={budget} seeds={seed}')))
                save_result(config.results_dir, f'{name}_{budget}_seed{seed}.json', result)
                results.append(result)
    return results


# ## Reading the records
#
# Records are grouped by (contestant, budget); each group's seeds give a mean and a min–max
# band per grid cell. The reach at 50% is where the mean accuracy at the lightest load first
# falls under one half, interpolated between the two gaps around the crossing (in segments);
# "beyond" means it never fell under one half on the grid.
def group(runs: List[Dict[str, Any]]) -> Dict[Tuple[str, str], List[Dict[str, Any]]]:
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


# A contestant whose positive control fell under 0.95 in any seed: its numbers do not count.
def control_failed(records: List[Dict[str, Any]]) -> bool:
    return any(r['control'] is not None and r['control'] < 0.95 for r in records)


def cell(records: List[Dict[str, Any]], gap: str, load: str) -> Tuple[float, float, float]:
    values = [r['accuracy'][gap][load] for r in records]
    return sum(values) / len(values), min(values), max(values)


# The window line of the load table: the share of queries whose pair lies wholly inside the
# queries' own segment of `seg_len` characters, at gap 0, for a model that answers exactly those.
# The queries take the end of the text; the pairs before them, the last pair nearest.
def window_share(load: int, seg_len: int) -> float:
    n_queries = recall.default_queries(load)
    room = seg_len - n_queries * recall.QUERY_LEN
    inside = min(load, max(0, room // recall.PAIR_LEN))
    # The keys asked are a random subset: each is one of the pairs inside with probability inside / load.
    return inside / load


def reach_at_half(records: List[Dict[str, Any]]) -> Optional[float]:
    gaps = list(records[0]['accuracy'])
    load = list(records[0]['accuracy'][gaps[0]])[0]
    means = [cell(records, g, load)[0] for g in gaps]
    for (g0, m0), (g1, m1) in zip(zip(gaps, means), zip(gaps[1:], means[1:])):
        if m0 >= 0.5 > m1:
            return float(g0) + (m0 - 0.5) / (m0 - m1) * (float(g1) - float(g0))
    return None if means[0] < 0.5 else math.inf


def report(results_dir: str = RESULTS, page: Optional[str] = None) -> Tuple[Path, Path]:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    out = Path(results_dir)
    # Skipped cells are records too (listed under the table); the rest are grouped by cell.
    runs = load_results(results_dir, 'memory reach')
    skipped = [r for r in runs if 'skipped' in r]
    runs = [r for r in runs if 'skipped' not in r]
    groups = group(runs)
    gaps = list(runs[0]['accuracy'])
    loads = list(runs[0]['accuracy'][gaps[0]])
    seg_len = runs[0]['seg_len']
    budgets = [b for b in ('small', 'large') if any(k[1] == b for k in groups)]
    names = sorted({k[0] for k in groups})
    # Colour and marker both change from line to line, so no two series look alike even in
    # grey or to a reader who cannot tell the colours apart.
    markers = 'osD^v<>pP*Xh'
    colours = plt.get_cmap('tab10').colors

    # Plot 1: accuracy against the gap at the lightest load, one panel per budget, one line per
    # contestant with its min–max band over seeds; the gap axis is in segments, evenly spaced
    # by grid index (the gaps roughly double), labelled with their values.
    fig, axes = plt.subplots(1, len(budgets), figsize=(6.2 * len(budgets) + 2.6, 4), sharey=True, squeeze=False)
    for ax, budget in zip(axes[0], budgets):
        for i, name in enumerate(names):
            records = records_at(groups, name, budget)
            if not records:
                continue
            stats = [cell(records, g, loads[0]) for g in gaps]
            xs = range(len(gaps))
            ax.plot(xs, [s[0] for s in stats], marker=markers[i % len(markers)], color=colours[i % 10],
                    label=f"{name} ({len(records)} seeds{', control failed' if control_failed(records) else ''})")
            ax.fill_between(xs, [s[1] for s in stats], [s[2] for s in stats], color=colours[i % 10], alpha=0.15)
        ax.axhline(recall.FLOOR, color='0.4', linestyle=':', linewidth=1, label='floor (memoryless guess)')
        ax.set_xticks(range(len(gaps)), gaps)
        ax.set_xlabel(f'gap between pairs and queries (segments of {seg_len} characters)')
        sized = [k for k in groups if k[1] == budget and k[0] != 'plain'] or [k for k in groups if k[1] == budget]
        ax.set_title(f"budget {budget}: {groups[sized[0]][0]['budget_numbers']:,} numbers per stream")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f'exact match per query (load {loads[0]})')
    # Outside the panel: inside it would sit on the curves that stay high.
    # One legend for all panels: a contestant run at one budget only is still named.
    handles = {}
    for ax in axes[0]:
        for handle, text in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(text, handle)
    axes[0][-1].legend(list(handles.values()), list(handles), fontsize=8, loc='upper left', bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    lines_png = out / 'accuracy_by_gap.png'
    fig.savefig(lines_png, dpi=120)
    plt.close(fig)

    # Plot 2: the distance x load heat map of every contestant at every budget (mean over seeds),
    # all on one colour scale from 0 to 1, so panels compare at a glance.
    keys = [(n, b) for b in budgets for n in names if (n, b) in groups]
    cols = min(4, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.9 * rows), squeeze=False, layout='constrained')
    for ax in axes.flat[len(keys):]:
        ax.axis('off')
    for ax, key in zip(axes.flat, keys):
        records = groups[key]
        grid = [[cell(records, g, k)[0] for g in gaps] for k in loads]
        image = ax.imshow(grid, vmin=0, vmax=1, cmap='viridis', origin='lower', aspect='auto')
        ax.set_xticks(range(len(gaps)), gaps, fontsize=7)
        ax.set_yticks(range(len(loads)), loads, fontsize=7)
        ax.set_title(f'{key[0]}, {shown_budget(*key)}', fontsize=9)
        ax.set_xlabel('gap (segments)', fontsize=8)
        ax.set_ylabel('load (pairs)', fontsize=8)
    fig.colorbar(image, ax=axes, shrink=0.8, label='exact match per query')
    heat_png = out / 'heatmap.png'
    fig.savefig(heat_png, dpi=120)
    plt.close(fig)

    # Three tables, each narrow enough to read at once: what each run is, then exact match by
    # gap at the lightest load (reach), then by load at gap 0 (capacity inside the window).
    # The lookup check: two pairs right before the queries, all inside the queries' segment.
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
        control = mean_and_range([r['control'] for r in records]) if records[0]['control'] is not None else 'n/a'
        failed = control_failed(records)
        reach = reach_at_half(records)
        reach_text = 'under 50% at gap 0' if reach is None else ('beyond the grid' if reach == math.inf else f'{reach:.1f}')
        # Memories with no window (a sum, a signal, tokens) have no reach to count; the kNN
        # table's reach is its length, which the probe does not measure.
        probe = (f"{records[0]['reach_measured']} / {records[0]['reach_rule']}" if 'reach_rule' in records[0]
                 else 'no hard limit' if records[0]['model'] in UNBOUNDED else 'not probed')
        # Steps as trained: the lookup phase, if any, plus the run proper.
        steps = '/'.join(sorted({(f"{r['settings']['lookup_steps']} + " if r['settings'].get('lookup_steps') else '')
                                 + str(r['settings']['steps']) for r in records}))
        lookup_cell = (mean_and_range([r['accuracy'][gaps[0]][lookup] for r in records]) + ' | ') if lookup else ''
        state = f"{records[0]['state_bytes']:,}" + ('' if records[0]['state_matched'] else ' (not matched)')
        label = f"{key[0]}{' ⚠' if failed else ''} | {shown_budget(*key)}"
        summary.append(f"| {label} | {state} | {records[0]['parameters']:,} | {len(records)} × {steps} | {control} "
                       f"| {lookup_cell}{reach_text}<br><small>{probe}</small> |")
        short = f"{key[0]}{' ⚠' if failed else ''} ({shown_budget(*key)})"
        by_gap.append(f"| {short} | " + ' | '.join(mean_and_range([r['accuracy'][g][loads[0]] for r in records]) for g in gaps) + ' |')
        by_load.append(f"| {short} | " + ' | '.join(mean_and_range([r['accuracy'][gaps[0]][k] for r in records]) for k in loads) + ' |')
    text = [
        '# Memory reach and capacity', '',
        f'![Exact match against the gap, load {loads[0]}](memory_reach/accuracy_by_gap.png)', '',
        '![Exact match over gap and load](memory_reach/heatmap.png)', '',
        '## The runs', '', *summary, '',
        '* **budget**: the state every contestant was sized to (the panels\' titles); *any* for the plain '
        'transformer, which keeps nothing and so is one model at every budget.',
        '* **state (B)**: bytes; the numbers each model hands from one segment to the next for one stream, measured '
        'after the longest evaluation text, times 4 bytes; *not matched* marks an architecture with no '
        'sizing rule yet, run at its defaults.',
        '* **seeds × steps**: training seeds, and optimiser steps of each run: the lookup phase plus the '
        'run proper (a contestant that failed its control at the default was rerun, every seed, with more).',
        f'* **control**: exact match per query at gap 0 with load {loads[0]} (the answer inside the '
        'attention window), the mean over seeds with their lowest and highest under it; ⚠ marks a contestant with a seed under 0.95, '
        'whose other numbers do not count.',
        *([f'* **lookup**: exact match per query at gap {gaps[0]} with {lookup} pairs, both inside the queries\' segment: '
           'whether the model learned to look a key up rather than copy the one value it saw. The load axis says '
           'something about a memory only where this is near 1.'] if lookup else []),
        f'* **reach at 50%**: the gap, in segments of {seg_len} characters, at which the mean exact '
        f'match at load {loads[0]} first falls under one half (interpolated between grid gaps).',
        '* **probe / rule**: for window-shaped memories, the farthest distance in characters at which '
        'changing one token moves the last output of the trained model (seed of the first record), '
        'beside the count from the layer-by-layer rule of [reach](../tasks/reach.md); under the reach at 50% '
        'in its cell.', '',
        *([f"Not run: " + '; '.join(sorted({f"{r['name']} at budget {r['budget']} ({r['skipped']})" for r in skipped})) + '.', '']
          if skipped else []),
        f'## Exact match by gap (load {loads[0]})', '', *by_gap, '',
        f'Per query, the mean over seeds with their lowest and highest under it, with the queries *gap* segments of {seg_len} characters '
        f'after the pairs. The floor, a guesser that forgot the pairs, is {recall.FLOOR:.2f}.', '',
        f'## Exact match by load (gap {gaps[0]})', '', *by_load, '',
        f'Per query, the mean over seeds with their lowest and highest under it, with *load* pairs written right before the queries. '
        f'A pair takes {recall.PAIR_LEN} characters and a query {recall.QUERY_LEN}, so from load 4 on some pairs lie '
        f'before the queries\' segment: a model that sees only its segment of {seg_len} could answer at most '
        + ', '.join(f'{window_share(int(k), seg_len):.2f} at load {k}' for k in loads) +
        ' (the window line: every pair wholly inside the segment found, no other).', '',
        *provenance.section([(r, out / f"{r['name']}_{r['budget']}_seed{r['seed']}.json") for r in runs],
                            label=lambda r: f"{r['name']}/{r['budget']}/{r['seed']}",
                            seeds=[r['seed'] for r in runs]),
    ]
    # The page sits beside the records' folder (`docs/results/memory_reach.md`), which is why
    # its images are linked as `memory_reach/...`.
    page_path = Path(page) if page else out.parent / 'memory_reach.md'
    existing = page_path.read_text() if page_path.exists() else ''
    # A hand-written reading (machine, date, what the numbers say) may follow the generated part;
    # it is kept across reports, after the marker line.
    marker = '<!-- reading -->'
    reading = existing[existing.index(marker):] if marker in existing else marker + '\n'
    page_path.write_text('\n'.join(text) + '\n' + reading)
    return page_path, lines_png


# ## The command line
#
# `run` (or no verb) trains, `report` rebuilds the page; a bad setting prints one line naming
# it and exits with status 2, as every command of the project does.
def main(argv: Optional[Sequence[str]] = None) -> None:
    import sys
    argv = sys.argv[1:] if argv is None else list(argv)
    from labml_memory.training.config import parse_overrides
    try:
        if argv and argv[0] == 'report':
            overrides = parse_overrides(argv[1:])
            print(*report(overrides.get('results_dir', RESULTS), overrides.get('page')), sep='\n')
            return
        if argv and argv[0] == 'run':
            argv = argv[1:]
        for r in run(parse_overrides(argv)):
            if 'skipped' in r:
                continue
            print(f"{r['name']:24s} {r['budget']:6s} seed {r['seed']}: state {r['state_bytes']:,} B, "
                  f"control {r['control']}, accuracy by gap {[round(v[list(v)[0]], 2) for v in r['accuracy'].values()]}")
    except ValueError as e:
        print(f"configuration error: {e}", file=sys.stderr)
        raise SystemExit(2)


if __name__ == '__main__':
    main()
