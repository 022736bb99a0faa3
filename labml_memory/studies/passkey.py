r"""
# Study: passkey retrieval over lengths and depths

Can a model read back a four-digit key hidden in filler text, and how far behind the question
can the key be? The [task](../tasks/passkey.py) hides the key at a chosen depth of a text of a
chosen length; this study trains each model on short texts, scores it on a fixed grid of longer
ones, and writes the [results page](../results/passkey.md) from the records. It is one of the
two long-context results of the [Infini-attention paper](https://arxiv.org/abs/2404.07143)
(there a 1B model fine-tuned on 5K-token inputs retrieves the key from 1M tokens), here at a
size a CPU trains in minutes.

```
python -m labml_memory.studies plan passkey                          # the runs, and which are recorded
python -m labml_memory.studies run passkey seeds=3                   # one more seed of every run
python -m labml_memory.studies run passkey models=recurrent_memory   # another architecture, same recipe
python -m labml_memory.studies report passkey                        # the page from the records only
```

## The runs

Every run has the same small model (2 layers, width 64, 4 heads, no dropout) and the same
loop: batches of 32 texts of two, three or four segments of 32 characters, learning rate
$3 \cdot 10^{-3}$, validated every 100 steps. The runs differ only in the memory, sized so
that what crosses a segment boundary is about the same, 2,048 to 2,176 numbers per sequence
(the kNN table, which cannot be that small, and the plain transformer, which keeps nothing,
aside):

* **infini_linear** and **infini_delta**: Infini-attention with the linear and the delta update
  rule, gradients through the memory (`memory_grad=true`), 1,000 steps;
* **transformer_xl**: Transformer-XL with a memory of 16 positions per layer, 2,000 steps: at
  1,000, two seeds of three stopped at 0.91 and 0.94 on the control, under the 0.95 a run must
  reach (their records are kept in `docs/results/passkey/history/at_1000_steps/`);
* **compressive**, **infinity_former**, **infinity_former_sticky**, **recurrent_memory**: the other
  memories of [memory reach](memory_reach.py), each at that study's small budget (the same 2,176
  numbers), 1,000 steps;
* **memorizing_transformer**: the kNN memory at the smallest table it can keep (one segment of
  pairs, 4,096 numbers, no XL cache), reading the 8 nearest, 1,000 steps;
* **plain**: Transformer-XL with no memory, the floor: it sees only its segment.

The last six are defined and not yet recorded: the page shows them once they are run (the
default plan is the recorded runs; see the settings).

A record's key is its run's name and seed (`infini_delta_seed0`). A name in `models=` that is
not one of these is an architecture (any package with an `experiment.py`), trained with the
common recipe, 1,000 steps, and its experiment's defaults, under its package name. A new recipe
is a new entry in `RUNS` below: its name is its records' name, so two recipes never share a key.

## What to look for

A memory that keeps a window of recent positions can answer only when the needle lies inside
what its last layer reaches from the answer; for Transformer-XL here that is 79 characters
(see the [task](../tasks/passkey.py) and [reach](../tasks/reach.py)), so only depth 1 is in
reach beyond the control: its curve is near zero at small depths and high at depth 1, the same
at every length. A compressive memory has no reach in this sense: the needle is written into
$(M, z)$ and blurred by everything written after it, so its curve falls with length but need
not depend on depth. The page sets the two against each other at the same state size, with
the seeds paired and Holm's correction across its comparisons ([the statistics](stats.py));
the margin within which a difference counts as a tie is declared in the settings below.

What the page showed for its first three runs, in words (its numbers and verdicts are on it,
for every run): every run passes its control; Transformer-XL draws the window's curve, high
at depth 1 at every length and near zero at every other depth, for every seed; both
Infini-attention rules read the key back from 128 characters at most depths, keep part of it
at 512 and lose it by 2,048, as what is written over the needle blurs the sum. At 128
characters both rules are ahead of Transformer-XL; at 2,048 the linear rule is behind it,
since the window still answers at depth 1. The delta rule's lead over the linear is not
resolved at any length: three seeds and nine comparisons on one page leave its intervals too
wide (in associative recall, many pairs at once, the order is the other way round: see
[memory reach](../results/memory_reach.md)).
"""
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Tuple

import torch

from labml_memory.studies import stats
from labml_memory.studies import plots
from labml_memory.studies.runner import SEED_CELLS, Convention, Page, Records, Run, Study, tally, unheaded
from labml_memory.tasks.passkey import CHARS, NEEDLE, QUESTION, sample
from labml_memory.training.synthetic import (SyntheticTrainConfig, architectures, evaluate,
                                             split_task_overrides, start_run, train)

NAME = 'passkey'


# ## One run's settings
#
# The loop's settings plus the evaluation grid. Everything else on a run's command line goes
# to the model's own configuration (its experiment's `Config`, `cpu` preset), with the model's
# segment length set to `seg_len`.
@dataclass
class PasskeyConfig(SyntheticTrainConfig):
    # The architecture: any package of `labml_memory` with an `experiment.py`.
    model: str = 'infini_attention'
    # The run's name: its label in the tables; defaults to `model`.
    name: str = ''
    # Digits in the key: chance level is $10^{-n}$, so four digits make a lucky guess
    # negligible while keeping the answer short next to the segment.
    n_digits: int = 4
    # Training texts of two to four segments, one length per step. In texts of three or four
    # the needle is usually one or more segment boundaries away from the question, so the
    # answer must cross the memory; texts of two are the shortest that hold needle and question,
    # and they put the key within reach of every model, which is how a window-shaped memory
    # learns the lookup at all. Trained on three and four alone, Transformer-XL with a 79-character
    # reach met the key inside it too rarely and ended at 0.00 on every text, the shortest
    # included: a model that had not learned the task, not a measure of its memory.
    train_segments: List[int] = field(default_factory=lambda: [2, 3, 4])
    # Evaluation lengths as multiples of `seg_len`, and needle depths. The first length is the
    # positive control: at two segments every model has the key one boundary back at most, and
    # a run whose control stays under 0.95 has not learned the task (the page marks it).
    eval_lengths: List[int] = field(default_factory=lambda: [2, 4, 16, 64])
    eval_depths: List[float] = field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0])
    # Texts per (length, depth) cell: one cell's accuracy moves in steps of 1/64.
    eval_samples: int = 64
    # labml's logs (empty: `logs/` of the project).
    logs_dir: str = ''
    # One thread by default: the machines this was sized for are shared, and tiny models
    # gain little from more.
    device: str = 'cpu'
    threads: int = 1

    # Bad settings fail before any training, naming the value. The shortest text any length
    # must allow is the needle plus the question.
    def validate(self) -> None:
        for key in ('steps', 'batch_size', 'seg_len', 'n_digits', 'eval_samples', 'eval_every'):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be positive, got {getattr(self, key)}")
        shortest = len(NEEDLE.format(key='0' * self.n_digits)) + len(QUESTION.format(key='0' * self.n_digits))
        for name in ('train_segments', 'eval_lengths'):
            for n in getattr(self, name):
                if n * self.seg_len + 1 < shortest:
                    raise ValueError(f"{name} holds {n}: {n} x seg_len={self.seg_len} characters cannot "
                                     f"hold the needle and the question ({shortest}); use more segments")
        if any(not 0.0 <= d <= 1.0 for d in self.eval_depths):
            raise ValueError(f"eval_depths must lie in [0, 1], got {list(self.eval_depths)}")


# ## The page's runs
#
# The recipe every run shares, then each named run's architecture, steps and model keys, as
# the command-line strings a run's configuration is parsed from. The order of the keys is the
# order of the recorded commands, so a planned run's settings read as its record's.
COMMON = {'lr': '3e-3', 'd_model': '64', 'heads': '4', 'n_layers': '2', 'd_ff': '128',
          'dropout': '0.0', 'eval_every': '100'}
RUNS = {
    'infini_delta': ('infini_attention', '1000', {'update_rule': 'delta', 'memory_grad': 'true'}),
    'infini_linear': ('infini_attention', '1000', {'update_rule': 'linear', 'memory_grad': 'true'}),
    'transformer_xl': ('transformer_xl', '2000', {'mem_len': '16', 'eval_mem_len': '16'}),
    # Every other contestant of [memory reach](memory_reach.py) at that study's small budget, the
    # same 2,176 numbers per sequence (its sizing rules, at this width, layers and segment), and
    # the plain transformer, which keeps nothing: the floor every memory is read against.
    'plain': ('transformer_xl', '1000', {'mem_len': '0', 'eval_mem_len': '0'}),
    'compressive': ('compressive', '1000', {'compression': 'conv', 'compression_loss': 'attention',
                                             'compression_rate': '4', 'mem_len': '8', 'compressed_len': '9'}),
    'infinity_former': ('infinity_former', '1000', {'n_basis': '8', 'mem_len': '9'}),
    'infinity_former_sticky': ('infinity_former', '1000', {'sticky': 'true', 'n_basis': '8', 'mem_len': '9'}),
    'recurrent_memory': ('recurrent_memory', '1000', {'n_mem': '34'}),
    # Its table must hold a segment of pairs, 2 L d = 4,096 numbers, more than the budget: the
    # smallest it can keep, with no XL cache, reading the k = 8 nearest of its 32 pairs.
    'memorizing_transformer': ('memorizing_transformer', '1000', {'mem_size': '32', 'top_k': '8', 'mem_len': '0',
                                                                  'eval_mem_len': '0'}),
}
# The runs compared pairwise on the page before the others joined; with the plain transformer
# recorded, every other run is also compared with it (and only with it), so the page's
# comparisons grow by one per run, not by one per pair.
FIRST = ('infini_delta', 'infini_linear', 'transformer_xl')
BASELINE = 'plain'


# ## The study's settings
@dataclass
class Settings:
    # Runs by name (`RUNS`), or architectures by package name with the common recipe. The
    # default is the runs recorded so far, so the default plan is the page as it stands; the
    # others run with `models=plain,compressive,infinity_former,infinity_former_sticky,
    # recurrent_memory,memorizing_transformer` and join the default once recorded.
    models: List[str] = field(default_factory=lambda: list(FIRST))
    seeds: List[int] = field(default_factory=lambda: [0, 1, 2])
    # The equivalence margin of the page's verdicts, in exact match (a share of texts): two
    # runs within ±0.05 of each other, mean over depths, are a tie. One cell moves in steps of
    # 1/64 and a mean over five depths in steps of 1/320, so 0.05 is a difference of about
    # three texts in a cell of 64. It was declared when the study moved to this runner, after
    # its runs; every later run records it.
    margin: float = 0.05
    device: str = 'cpu'
    threads: int = 1

    def validate(self) -> None:
        known = set(RUNS) | set(architectures())
        unknown = [m for m in self.models if m not in known]
        if unknown:
            raise ValueError(f"models: unknown {unknown}; valid: the runs {sorted(RUNS)} or an "
                             f"architecture {architectures()}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise ValueError(f"seeds must be distinct non-negative integers, got {self.seeds}")
        if self.margin < 0:
            raise ValueError(f"margin is a size, at least 0; got {self.margin}")


# One run per (name, seed). Its settings are the run's command line, as strings, and the page's
# margin; the device and threads join the command line only when they are not the defaults,
# so the planned settings of the committed runs are exactly what those runs were given.
def plan(settings: Settings) -> List[Run]:
    runs = []
    for name in settings.models:
        model, steps, keys = RUNS.get(name, (name, '1000', {}))
        for seed in settings.seeds:
            overrides = {'steps': steps, **COMMON, 'model': model, 'name': name, **keys, 'seed': str(seed)}
            if settings.device != 'cpu':
                overrides['device'] = settings.device
            if settings.threads != 1:
                overrides['threads'] = str(settings.threads)
            runs.append(Run(f'{name}_seed{seed}', {'overrides': overrides, 'margin': settings.margin}))
    return runs


# ## The command line of one run, split
#
# The run's keys, the architecture, and the model's keys, by the shared
# [splitter](../training/synthetic.py); the model reads segments of the task's length.
def split_overrides(overrides: Dict[str, str]) -> Tuple[PasskeyConfig, Any, Any]:
    r"""The run's settings, the model's configuration and its experiment module."""
    from labml_memory.training.config import build_config
    config, module, model_overrides = split_task_overrides(PasskeyConfig, overrides)
    model_overrides['seq_len'] = config.seg_len
    # The loop back-propagates across every segment of a text, which is what the trainer
    # calls `unroll`; saying so lets a model check options such as `memory_grad` against it.
    model_overrides.setdefault('unroll', max(config.train_segments))
    model_config = build_config(module.Config, module.PRESETS, model_overrides)
    return config, model_config, module


# ## Evaluation over lengths and depths
#
# One fixed batch of `eval_samples` texts per (length, depth), from its own seeded generator,
# so every model is scored on exactly the same texts.
def evaluate_grid(model, config: PasskeyConfig, device) -> Dict[str, Dict[str, float]]:
    # `{length multiple: {depth: accuracy}}`, with string keys so that it goes to json as is.
    grid = {}
    for i, multiple in enumerate(config.eval_lengths):
        row = {}
        for j, depth in enumerate(config.eval_depths):
            # A seed per cell, far from the training seeds: the same texts for every model,
            # and never a text the model was trained on.
            generator = torch.Generator().manual_seed(10_000 + 100 * i + j)
            batch = sample(config.eval_samples, multiple * config.seg_len, generator,
                           config.n_digits, depth).to(device)
            row[f'{depth:g}'] = evaluate(model, batch, config.seg_len)['accuracy']
        grid[str(multiple)] = row
    return grid


# ## The state a model keeps
#
# What makes the comparison fair is the size of what crosses a segment boundary, counted
# after reading the longest evaluation text in evaluation mode: Transformer-XL's memory holds
# `mem_len` positions of width `d_model` per layer (its evaluation length, which may differ
# from training), Infini-attention's $(M, z)$ holds $d_k (d_v + 1)$ numbers per head and layer.
@torch.no_grad()
def state_numbers(model, config: PasskeyConfig, device) -> int:
    r"""Numbers the model carries between segments for one sequence, in evaluation, after a long text."""
    model.eval()
    batch = sample(1, max(config.eval_lengths) * config.seg_len, torch.Generator().manual_seed(0),
                   config.n_digits).to(device)
    memory = None
    # Read segment by segment, keeping only the last memory: its tensors are the state.
    for start in range(0, batch.inputs.shape[1], config.seg_len):
        _, memory, _ = model(batch.inputs[:, start:start + config.seg_len], memory)
    return sum(t.numel() for t in memory.tensors())


# ## A run
#
# Build the model from its experiment's configuration, train it under a labml experiment
# named `passkey_<name>` (the screen shows the loss and the held-out exact match, and
# `logs/` keeps them), then score the grid. The record keeps the run's command line
# (`overrides`), from which the page reads its steps and seed.
def execute(run: Run) -> Dict[str, Any]:
    from labml import experiment
    overrides = run.settings['overrides']
    config, model_config, module = split_overrides(overrides)
    name = config.name or config.model
    # Seed, threads, the model on a 39-character vocabulary, and the labml experiment.
    model, device = start_run(f'passkey_{name}', config, model_config, module, len(CHARS))
    started = time.time()
    with experiment.start():
        history = train(model, lambda b, n, g: sample(b, n, g, config.n_digits), config, device)
    # Training time only; the grid's evaluation is not part of it. On a shared machine it is an
    # upper bound, and the page says so.
    train_time = time.time() - started
    return {
        'name': name, 'model': config.model, 'seed': config.seed, 'overrides': overrides,
        'parameters': sum(p.numel() for p in model.parameters()),
        'state_numbers': state_numbers(model, config, device),
        'train_seconds': round(train_time, 1), 'seg_len': config.seg_len,
        'final_train_accuracy': history[-1].get('accuracy.valid'),
        'accuracy': evaluate_grid(model, config, device),
    }


# ## Reading the records
#
# Older records kept their seed only in the command's overrides, and the oldest in neither
# (the default seed): a record's seed is wherever it has one.
def seed_of(record: Dict[str, Any]) -> int:
    return int(record.get('seed', record['overrides'].get('seed', PasskeyConfig().seed)))


def mean_over_depths(record: Dict[str, Any], multiple: str) -> float:
    return sum(record['accuracy'][multiple].values()) / len(record['accuracy'][multiple])


# The margin the records were run with. One page has one margin; records that disagree are an
# error to resolve by hand, not a choice for the report. Records made by hand (the tests) and
# carrying no run settings are read with the settings' default.
def declared_margin(records: List[Dict[str, Any]]) -> float:
    margins = sorted({r['run']['margin'] for r in records if 'margin' in r.get('run', {})})
    if len(margins) > 1:
        raise ValueError(f"the records declare different margins {margins}; one page has one margin")
    return margins[0] if margins else Settings().margin


# ## The verdicts
#
# Every two runs that pass their control and share their seeds, at every length beyond the
# control: the mean exact match over depths, paired seed by seed, first run minus second
# (runs in the order of the tables). All of them in one call, so Holm's correction runs across
# the page. Returns the verdicts by `(first, second, length)`, and the pairs left out because
# their seeds differ.
def compared(passing: List[str]) -> List[Tuple[str, str]]:
    if BASELINE not in passing:
        return [(a, b) for i, a in enumerate(passing) for b in passing[i + 1:]]
    first = [n for n in passing if n in FIRST]
    return ([(a, b) for i, a in enumerate(first) for b in first[i + 1:]]
            + [(a, BASELINE) for a in passing if a != BASELINE])


def verdicts(groups: Dict[str, List[Dict[str, Any]]], lengths: List[str], control: str,
             margin: float) -> Tuple[Dict[Tuple[str, str, str], stats.Verdict], List[Tuple[str, str]]]:
    passing = [n for n, rs in groups.items() if all(mean_over_depths(r, control) >= 0.95 for r in rs)]
    cells = {(n, m): {seed_of(r): mean_over_depths(r, m) for r in groups[n]}
             for n in passing for m in lengths}
    pairs, unpaired = {}, []
    for a, b in compared(passing):
        if set(cells[a, control]) != set(cells[b, control]):
            unpaired.append((a, b))
            continue
        for m in lengths:
            if m != control:
                pairs[a, b, m] = (cells[a, m], cells[b, m])
    found = stats.compare(pairs, margin, lower_is_better=False) if pairs else {}
    return found, unpaired


# ## The page
#
# It answers one question, plot first: how often each model reads the key back, by text
# length and needle depth, as the mean over seeds with their lowest and highest. Then the mean
# over depths per length, with the control and every column defined, the full grid, the
# verdicts between runs, the superseded records, and how the numbers were made. Runs of one
# `name` are that model's seeds.
def report(records: Records, out: Path) -> Dict[str, Page]:
    from labml_memory.training import provenance
    out = Path(out)
    pairs = records.runs
    runs = [r for r, _ in pairs]
    # Every run must share the grid of the first; names are listed in order.
    lengths = list(runs[0]['accuracy'])
    depths = list(runs[0]['accuracy'][lengths[0]])
    seg_len = runs[0]['seg_len']
    defaults = PasskeyConfig()
    groups: Dict[str, List[Dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault(r['name'], []).append(r)

    control = lengths[0]
    *most, last = [str(n) for n in defaults.train_segments]
    train_lengths = f"{', '.join(most)} or {last}" if most else last
    floor = 10.0 ** -defaults.n_digits
    margin = declared_margin(runs)
    found, _ = verdicts(groups, lengths, control, margin)

    def chars(m):
        return f'{int(m) * seg_len:,} chars'
    lines = ['## Mean exact match over depths', '']
    lines += ['| run | seeds × steps | state | parameters | train time (s) | '
              + ' | '.join(f'{m}× ({chars(m)}){" control" if m == control else ""}' for m in lengths) + ' |',
              '|---|---:|---:|---:|---:|' + '---:|' * len(lengths)]
    # A mean over depths hides where a model fails; the full grid below shows it.
    for name, rs in groups.items():
        failed = any(mean_over_depths(r, control) < 0.95 for r in rs)
        seconds = [r['train_seconds'] for r in rs]
        steps = '/'.join(sorted({str(r['overrides'].get('steps', defaults.steps)) for r in rs}))
        lines.append(f"| {name}{' ⚠' if failed else ''} | {len(rs)} × {steps} | {rs[0]['state_numbers']:,} | "
                     f"{rs[0]['parameters']:,} | {min(seconds):.0f}–{max(seconds):.0f} | "
                     + ' | '.join(stats.cell([mean_over_depths(r, m) for r in rs], 2) for m in lengths) + ' |')
    lines += ['', '* **run**: the name of the run (its command is below); *infini* runs are '
              'Infini-attention with the linear or the delta update rule. ⚠ marks a run with a seed '
              'whose control is under 0.95: its other numbers do not count.',
              '* **seeds × steps**: training seeds of the run, and optimiser steps of '
              f'{defaults.batch_size} texts each (the command\'s `steps=`).',
              '* **state**: the numbers one sequence carries across a segment boundary, all layers '
              'together, after the longest text (the sizes were matched on purpose).',
              '* **parameters**: trainable parameters of the model.',
              '* **train time**: seconds of training, without the evaluation, fastest and slowest seed.',
              f'* **k× (n chars)**: the share of texts of k segments (n characters) whose '
              f'{defaults.n_digits} digits all came back right, averaged over the depths. '
              f'{train_lengths} segments were seen in training; longer texts test how far the '
              f'memory carries. **{control}× is the control**: the shortest text that holds the needle '
              'and the question, so the key is at most one segment boundary back, within every '
              "model's reach; a model that fails it has not learned the task.", '',
              '## By needle depth', '',
              '| run | length | ' + ' | '.join(f'depth {d}' for d in depths) + ' |',
              '|---|---:|' + '---:|' * len(depths)]
    for name, rs in groups.items():
        for m in lengths:
            lines.append(f"| {name} | {m}× | " + ' | '.join(stats.cell([r['accuracy'][m][d] for r in rs], 2)
                                                          for d in depths) + ' |')
    lines += ['', '**depth**: where the key sits, from 0 (the start of the text) to 1 (just '
              f'before the question); each seed\'s cell is the exact match over {defaults.eval_samples} '
              f'texts, so it moves in steps of 1/{defaults.eval_samples}.', '']
    lines += reading(groups, lengths, depths, control, chars, margin)
    lines += superseded(records, control)
    seeds = [seed_of(r) for r in runs]
    extra = ['* **Evaluation:** the same texts for every model and seed (a fixed seed per cell, never a '
             'training text).']
    # Records from before the runner keep the command that launched them, the task's former
    # command line; the study's command plans the same runs under the same keys.
    if any(not r['command'].startswith(STUDY.run_command) for r in runs):
        extra.append(f'* **Rerun:** the commands above are the runs as they were launched, by the '
                     f'task\'s former command line; `{STUDY.run_command}` plans the same runs, one '
                     f'record per name and seed (`{pairs[0][1].stem}`), and runs those not recorded.')
    draw(groups, lengths, depths, control, seg_len, floor, out / NAME / 'accuracy.png')
    question = (f'Can a model read back a {defaults.n_digits}-digit key hidden in filler text, and how far '
                'behind the question can the key be?')
    return {f'{NAME}.md': Page(
        title='Passkey retrieval',
        verdict=f'**{question}** {headline(groups, lengths, depths, control, chars, found)}',
        figures=[(f'{NAME}/accuracy.png', 'Exact match against needle depth, one panel per text length')],
        about=(f'Each model is trained on texts of {train_lengths} segments of {seg_len} characters, then '
               f'scored on {defaults.eval_samples} fresh texts per cell at {", ".join(f"{m}×" for m in lengths)} '
               f'the segment length, with the key at {len(depths)} depths. The floor, a guesser that never saw '
               f'the key, is {floor:g} per text: the {defaults.n_digits} digits are drawn uniformly and '
               'independently, so no guess does better.'),
        convention=Convention(SEED_CELLS, len(found), margin,
                              example=next(iter(found.values())).text(3) if found else ''),
        body=lines,
        made=unheaded(provenance.section(pairs, seeds=seeds, extra=extra)))}


# The headline: beyond the control, which run reads back the most keys at each length (mean
# over depths), flagged where it does so only with the key right before the question; then
# how much of the page the seeds decide.
def headline(groups, lengths, depths, control, chars, found) -> str:
    parts = []
    last = depths[-1]
    for m in [m for m in lengths if m != control]:
        best = max(groups, key=lambda n: statistics.mean(mean_over_depths(r, m) for r in groups[n]))
        rs = groups[best]
        at_end = statistics.mean(r['accuracy'][m][last] for r in rs)
        elsewhere = statistics.mean(r['accuracy'][m][d] for r in rs for d in depths if d != last)
        only = ', only with the key just before the question' if at_end >= 0.5 > 10 * elsewhere else ''
        parts.append(f"{best} at {m}× ({chars(m)}), "
                     f"{statistics.mean(mean_over_depths(r, m) for r in rs):.2f}{only}")
    said = tally(found)
    return ('Beyond the control, the most keys read back (mean over depths): ' + '; '.join(parts) + '.'
            + (f' Seed by seed, {said}.' if said else ''))


# ## The reading
#
# The verdicts first, as a table of comparisons by length, with the bracket defined once;
# then, for each run, depth 1 against the other depths beyond the control: a window-shaped
# memory scores high at depth 1 and near zero elsewhere, a compressive one need not care.
def reading(groups, lengths, depths, control, chars, margin) -> List[str]:
    found, unpaired = verdicts(groups, lengths, control, margin)
    beyond = [m for m in lengths if m != control]
    lines = ['## What the runs show', '']
    if found:
        lines += ['Each run against each other, on the mean exact match over depths, first minus second:', '',
                  '| comparison | ' + ' | '.join(f'{m}× ({chars(m)})' for m in beyond) + ' |',
                  '|---|' + '---|' * len(beyond)]
        for a, b in dict.fromkeys((a, b) for a, b, _ in found):
            lines.append(f'| {a} − {b} | ' + ' | '.join(found[a, b, m].text(3) for m in beyond) + ' |')
        # The margin of the records made before the runner was declared when the study moved
        # to it, after those runs: the page says so rather than let the convention claim more.
        lines += ['', '"Ahead" is the first run reading back more keys. The margin was declared when the '
                  'study moved to its runner, after the runs recorded then.', '']
    for a, b in unpaired:
        lines.append(f'* {a} and {b} are not compared: they were run with different seeds.')
    if unpaired:
        lines.append('')
    last = depths[-1]
    lines += [f'Depth {last} against the mean of the other depths, mean over seeds, at '
              + ' / '.join(f'{m}×' for m in beyond) + ':', '']
    for name, rs in groups.items():
        at_end = [statistics.mean(r['accuracy'][m][last] for r in rs) for m in beyond]
        others = [statistics.mean(r['accuracy'][m][d] for r in rs for d in depths if d != last) for m in beyond]
        lines.append(f'* **{name}**: ' + ' / '.join(f'{v:.2f}' for v in at_end) + f' at depth {last}, '
                     + ' / '.join(f'{v:.2f}' for v in others) + ' elsewhere.')
    return lines + ['']


# Superseded records, by the folder that says why: never counted above, shown so that what
# was replaced can be seen, with each seed's control.
def superseded(records: Records, control: str) -> List[str]:
    if not records.history:
        return []
    lines = ['## Superseded records', '',
             f'Kept in `{NAME}/history/` and counted nowhere above; the control is the mean over depths at {control}×.', '']
    for why, pairs in records.history.items():
        groups: Dict[Tuple[str, str], List[Dict[str, Any]]] = {}
        for r, _ in pairs:
            groups.setdefault((r['name'], str(r['overrides'].get('steps', PasskeyConfig().steps))), []).append(r)
        for (name, steps), rs in groups.items():
            controls = ', '.join(f'{mean_over_depths(r, control):.2f} (seed {seed_of(r)})'
                                 for r in sorted(rs, key=seed_of))
            under = sum(mean_over_depths(r, control) < 0.95 for r in rs)
            lines.append(f'* **{why}**: {name} at {int(steps):,} steps, control {controls}; '
                         f'{under} of {len(rs)} under 0.95.')
    return lines + ['']


# ## The plot
#
# One panel per evaluation length, exact match against needle depth, one line per run (the
# mean over its seeds) with the seeds' range as a band, each with its own colour and marker.
# A model that only sees a recent window shows up as a line that is zero except near depth 1.
def draw(groups, lengths, depths, control, seg_len, floor, path: Path) -> None:
    plt = plots.pyplot()
    # Shared axes from 0 to 1, so panels can be compared at a glance; two panels a row.
    fig, axes, _ = plots.grid(plt, len(lengths), 2, width=8.0, row_height=2.6, sharex=True, sharey=True)
    for ax, m in zip(axes, lengths):
        for k, (name, rs) in enumerate(groups.items()):
            xs = [float(d) for d in depths]
            values = [[r['accuracy'][m][d] for r in rs] for d in depths]
            style = plots.series(k)
            ax.plot(xs, [sum(v) / len(v) for v in values], label=f'{name} ({len(rs)} seeds)', **style)
            ax.fill_between(xs, [min(v) for v in values], [max(v) for v in values], color=style['color'],
                            alpha=0.15, linewidth=0)
        ax.axhline(floor, color='0.4', linestyle=':', linewidth=1, label=f'floor ({floor:g})')
        ax.set_title(f"{m}× segment ({int(m) * seg_len:,} chars){', control' if m == control else ''}")
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
    plots.label_grid(axes, 2, 'needle depth (0 = start of text)', 'exact match')
    plots.legend_below(fig, ncol=2)
    plots.save(fig, path)


STUDY = Study(NAME, 'Can each model retrieve one item from a long filler text, at what length and depth?',
              Settings, plan, execute, report, pages=[f'{NAME}.md'], seeds='3 seeds')
