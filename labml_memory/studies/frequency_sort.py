r"""
# Study: how well can a memory count? The ∞-former's frequency sort

The [task](../tasks/frequency_sort.py) draws 20 symbols with frequencies that drift along a
long sequence and asks for the symbols sorted by how often they occurred in the whole of it:
a window of recent symbols is a misleading sample, so only a memory of the whole sequence can
answer well. The [∞-former paper](https://arxiv.org/abs/2109.00301) (section 4.1) reports
Transformer-XL ahead on the shortest sequences and the ∞-former ahead as they grow, sticky
memories helping it further. This study trains four memories at four lengths and writes the
[results page](../results/frequency_sort.md) from the records.

```
python -m labml_memory.studies plan frequency_sort                         # the runs, and which are recorded
python -m labml_memory.studies run frequency_sort seeds=0,1,2              # two more seeds of every cell
python -m labml_memory.studies run frequency_sort models=transformer_xl lengths=8192
python -m labml_memory.studies report frequency_sort                       # the page from the records only
```

A record's key is its run's name and length (`transformer_xl_1024`), with `_seed<s>` after it
for any seed but 0, the seed the first records were made with. A name in `models=` that is not
one of the page's runs (`RUNS` below) is an architecture, trained with the common recipe and
its experiment's defaults.

## Learning to count first

Trained from scratch at a thousand symbols or more, a small model spends its first hundreds
of steps learning what the answer *is*: that it comes after the separator, that it lists
each symbol once, that the first entry is the commonest symbol. None of that needs a long
memory, yet every one of those steps pays for reading the whole sequence. An earlier version
of the page trained straight at the target length (150 steps of 8 sequences, learning rate
$2 \cdot 10^{-3}$, full weight on the symbols) and left every model at chance. So we split
training in two, which the paper does not do:

1. `curriculum_steps` steps on short sequences (`curriculum_length`, 256 symbols by default,
   two segments), where every model can see the whole sequence and a step is cheap: here
   the model learns the format and to count;
2. `steps` steps at the target `length`, where what it learned must now survive segment
   boundaries, and only the memory can carry it.

At 256 symbols all three memories reach every symbol, and all three learn (the 256 column
of the page). With `curriculum_steps=0` a run trains at `length` from the start, as in the
paper.

The other settings the runs change from the paper, and why:

* the **learning rate** is $10^{-2}$ (with gradient clipping at 1), five times the language
  experiments': these models are tiny;
* the loss on the symbols themselves is weighted **0.1** against the answer's (see
  `lm_weight` below);
* the ∞-former uses the paper's sorting value **$\tau = 0.75$** (its language default is
  0.5), so that each update contracts the old signal less.

Every run: 2 layers, 64 wide, segments of 128 symbols, a 128-token short-term memory (the
Compressive Transformer adds 64 compressed slots at rate 4), 600 curriculum steps at 256
symbols then 100 steps at the target length, 16 sequences a step; scored on the same 128
held-out sequences per length.

## What the runs say, at this budget

One training seed per cell, so none of the page's comparisons between models can be resolved:
its verdicts say so, and what follows is a description of one seed, not a finding.

* **Read against the right floor, most cells are at it.** A guesser that never reads the
  sequence scores 0.18 to 0.20 (`memoryless_floor`; an earlier version of the page drew
  1/20 = 0.05 instead, which made every run look three to five times better than guessing).
  At 256 symbols every model is above it. Beyond that, Transformer-XL and the Compressive
  Transformer score at or under it: ranking by the window they see is worse than guessing,
  because the drift makes the recent counts a misleading sample. Only the ∞-former stays
  above it at 1,024 and 2,048 symbols, by about two standard errors of the evaluation (a
  second training seed could move a cell by more).
* **The ∞-former scores highest at every length**, sticky memories or not, by about as much
  at 256 symbols, where every memory sees the whole sequence, as at 4,096. A second seed at
  1,024 symbols (the same commands with `seed=1`; its records were not kept) gave
  Transformer-XL 0.183 and the ∞-former 0.214, the same gap. If the gap holds, it is a better
  *counter*, not a longer memory: a wide Gaussian read of the signal is an average over time,
  which is what counting needs, and the ∞-former has that read in every layer from the first
  step. The paper's crossover (Transformer-XL ahead on short sequences, the ∞-former on long
  ones) does not appear.
* **Accuracy falls with length for all four alike**, most of it from 256 to 1,024 symbols.
  Transformer-XL and the Compressive Transformer, which differ only in the compressed memory,
  are close at every length.
* **No model reaches the window reference.** Exact counting of the last 384 symbols would
  score about twice what the models score beyond 256 symbols. They have not yet learned to
  count the window they see, so what lies beyond it cannot matter yet. The comparison of
  memories the task was built for needs models that first beat that row: longer training at
  the target length.

## What the paper's regime costs, and what ours can show

The paper's run script trains a 3-layer, 300-wide model for 20,000 steps of 8 sequences of
8,000 symbols: about $1.3 \times 10^9$ symbols read. Our runs read about $9 \times 10^6$ (600
steps of 16 sequences of 256, then 100 steps of 16 at the target length), some 140 times
fewer, with a model about 20 times cheaper per symbol. The paper's regime is therefore several
thousand times our CPU budget: hours on one modern GPU, months on two CPU cores. What our
budget *can* show is the first phase: every model learns the format and to count a sequence
it sees whole (the 256 column, above the floor), and none has yet learned to carry counts
across segments well enough to beat a guesser at 1,024 symbols and more. It cannot show the
paper's crossover, which needs models that first beat the window reference.

`preset=gpu` sets the paper's regime for one modern GPU: 3 layers, 300 wide (6 heads), 8,192
symbols in segments of 512, 20,000 steps of 8 sequences, learning rate $2 \cdot 10^{-4}$, no
curriculum, on `cuda`; its runs are filed under `<name>_gpu`:

```
python -m labml_memory.studies run frequency_sort preset=gpu models=infinity_former lengths=8192
```
"""
import dataclasses
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Tuple

import torch

from labml_memory.studies import stats
from labml_memory.studies import plots
from labml_memory.studies.runner import SEED_CELLS, Convention, Page, Records, Run, Study, tally, unheaded
from labml_memory.tasks.frequency_sort import (ORACLE_WINDOW, SYMBOLS, VOCAB, memoryless_floor, sample,
                                               window_oracle)
from labml_memory.training.synthetic import (SyntheticBatch, SyntheticTrainConfig, architectures,
                                             exact_match, read_in_segments, split_task_overrides,
                                             start_run, train)

NAME = 'frequency_sort'

# Every run is scored on sequences from this seed; the page scores the window reference on
# the same ones (`SortConfig.eval_samples` of them: runs with another `eval_samples` differ).
EVAL_SEED = 12_345


# ## One run's settings
#
# The loop's settings plus which model and how long. The defaults are sized for a CPU:
# 2 layers, 64 wide (set through the model's own keys, below).
@dataclass
class SortConfig(SyntheticTrainConfig):
    # `cpu` (these defaults) or `gpu` (the paper's regime, see `PRESETS` below); keys given on
    # the command line override the preset's.
    preset: str = 'cpu'
    # The architecture (a package name) and the name its results are filed under, so one
    # architecture can appear twice (the ∞-former with and without sticky memories).
    model: str = 'infinity_former'
    name: str = ''
    # Sequence length in tokens read (symbols + separator + answer), a whole number of
    # segments; the model reads `seg_len` tokens per call.
    length: int = 1024
    seg_len: int = 128
    # Optimiser steps and sequences per step: every step draws fresh sequences.
    steps: int = 300
    batch_size: int = 16
    # A curriculum, which the paper does not have: first `curriculum_steps` steps on sequences
    # of `curriculum_length`, then `steps` at `length` (see *Learning to count first*).
    # `curriculum_steps=0` trains at `length` from the start, as the paper does.
    curriculum_length: int = 256
    curriculum_steps: int = 600
    # A small model learns this task faster with a larger learning rate than the language
    # experiments use; gradient clipping (the loop's default 1.0) keeps it stable.
    lr: float = 1e-2
    # The weight of the loss on the symbols themselves, relative to the answer's. Predicting
    # the next symbol of a drifting stream teaches a model to track frequencies, but at full
    # weight its thousand positions drown the twenty of the answer: at 256 symbols and 600
    # steps, Transformer-XL reached 0.16 token accuracy with weight 1 and 0.24 with 0.1.
    lm_weight: float = 0.1
    # Held-out accuracy while training (a batch), and the final scoring set (`eval_samples`).
    eval_every: int = 100
    eval_samples: int = 128
    # Where labml logs go (empty: `logs/`).
    logs_dir: str = ''
    # One thread by default: the machines these runs were sized for are shared.
    device: str = 'cpu'
    threads: int = 1
    # Set from `length`: the loop reads one training length.
    train_segments: List[int] = field(default_factory=list)

    def validate(self) -> None:
        for key in ('steps', 'batch_size', 'seg_len', 'eval_samples', 'eval_every', 'length'):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be positive, got {getattr(self, key)}")
        if self.length % self.seg_len != 0 or self.length <= SYMBOLS:
            raise ValueError(f"length={self.length} must be a multiple of seg_len={self.seg_len} "
                             f"and longer than the {SYMBOLS}-token answer")
        if self.curriculum_steps < 0:
            raise ValueError(f"curriculum_steps must be >= 0 (0: no curriculum), got {self.curriculum_steps}")
        if self.curriculum_steps and (self.curriculum_length % self.seg_len != 0
                                      or self.curriculum_length <= SYMBOLS):
            raise ValueError(f"curriculum_length={self.curriculum_length} must be a multiple of "
                             f"seg_len={self.seg_len} and longer than the {SYMBOLS}-token answer")


# ## The model size
#
# The small model every architecture is trained with here, unless the command line says
# otherwise: 2 layers, 64 wide, 4 heads, no dropout (fresh data every step leaves nothing to
# overfit). Everything else, memory lengths included, comes from the architecture's own
# defaults or the command line; the commands under the table say which were changed.
MODEL_DEFAULTS = dict(d_model=64, heads=4, n_layers=2, d_ff=128, dropout=0.0)

# The presets: the task's settings and the model's shape. `gpu` is the paper's regime (its
# run script: 3 layers, 300 wide, 20,000 steps of 8 sequences of about 8,000 symbols), sized
# for one modern GPU; the segment of 512 keeps every model's memory a few segments long.
PRESETS = {
    'cpu': ({}, {}),
    'gpu': (dict(length=8192, seg_len=512, steps=20_000, batch_size=8, curriculum_steps=0, lr=2e-4,
                 warmup=1000, eval_every=1000, eval_samples=256, device='cuda', threads=0),
            dict(d_model=300, heads=6, n_layers=3, d_ff=1200, mem_len=512, dropout=0.0)),
}


# ## Splitting a run's command line
#
# Keys the run knows configure the run, `model=` picks any architecture (the shared
# [splitter](../training/synthetic.py)); every other key goes to the model's own configuration,
# on top of the small `MODEL_DEFAULTS` (only those the model has). The model's checks then
# apply unchanged, so a bad `n_basis` fails with the ∞-former's own message.
def configure(overrides: Dict[str, str]) -> Tuple[SortConfig, Any, Any]:
    r"""The run's settings, the model's configuration and its experiment module."""
    from labml_memory.training.config import build_config
    preset = overrides.get('preset', 'cpu')
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; valid: {sorted(PRESETS)}")
    task_preset, model_preset = PRESETS[preset]
    overrides = {**{k: str(v) for k, v in task_preset.items()}, **overrides}
    config, module, extra = split_task_overrides(SortConfig, overrides)
    # One training length: the loop draws its sequences `length` symbols long.
    config.train_segments = [config.length // config.seg_len]
    model_fields = {f.name for f in dataclasses.fields(module.Config)}
    model_overrides = {k: v for k, v in {**MODEL_DEFAULTS, **model_preset}.items() if k in model_fields}
    model_overrides.update(extra)
    # The segment length the model is built for is the one it reads.
    model_overrides['seq_len'] = config.seg_len
    # The loop back-propagates over the whole sequence, which is the trainer's `unroll`.
    model_overrides.setdefault('unroll', config.train_segments[0])
    return config, build_config(module.Config, module.PRESETS, model_overrides), module


# ## The page's runs
#
# The recipe of the committed runs (on the `cpu` preset), then each named run's architecture
# and model keys for each preset, as command-line strings in the order of the recorded
# commands. Memory sizes follow the preset: Transformer-XL keeps in evaluation the memory it
# trained with, and the Compressive Transformer's compressed memory is a quarter of it.
RECIPE = {'cpu': {'seg_len': '128', 'mem_len': '128', 'steps': '100', 'batch_size': '16',
                  'curriculum_length': '256', 'curriculum_steps': '600', 'lr': '1e-2', 'lm_weight': '0.1',
                  'eval_samples': '128', 'eval_every': '50'},
          'gpu': {'preset': 'gpu'}}
RUNS = {
    'compressive': ('compressive', {'cpu': {'compressed_len': '64', 'compression_rate': '4'},
                                    'gpu': {'compressed_len': '128', 'compression_rate': '4'}}),
    'infinity_former': ('infinity_former', {'cpu': {'tau': '0.75'}, 'gpu': {'tau': '0.75'}}),
    'infinity_former_sticky': ('infinity_former', {'cpu': {'tau': '0.75', 'sticky': 'true'},
                                                   'gpu': {'tau': '0.75', 'sticky': 'true'}}),
    'transformer_xl': ('transformer_xl', {'cpu': {'eval_mem_len': '128'}, 'gpu': {'eval_mem_len': '512'}}),
}

# The page's comparisons, each a claim of the paper: the ∞-former against Transformer-XL (its
# crossover), sticky memories against none, and the compressed memory against the window alone.
COMPARISONS = [('infinity_former', 'transformer_xl'), ('infinity_former_sticky', 'infinity_former'),
               ('compressive', 'transformer_xl')]


# ## The study's settings
@dataclass
class Settings:
    # Runs by name (`RUNS`), or architectures by package name with the common recipe.
    models: List[str] = field(default_factory=lambda: list(RUNS))
    # Sequence lengths, in tokens read: each a whole number of segments.
    lengths: List[int] = field(default_factory=lambda: [256, 1024, 2048, 4096])
    seeds: List[int] = field(default_factory=lambda: [0])
    # The equivalence margin of the page's verdicts, in token accuracy: 0.02 is one answer
    # position in 50, about twice the evaluation's standard error near 0.2. It was declared
    # when the study moved to this runner, after its runs; every later run records it.
    margin: float = 0.02
    preset: str = 'cpu'

    def validate(self) -> None:
        known = set(RUNS) | set(architectures())
        unknown = [m for m in self.models if m not in known]
        if unknown:
            raise ValueError(f"models: unknown {unknown}; valid: the runs {sorted(RUNS)} or an "
                             f"architecture {architectures()}")
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; valid: {sorted(PRESETS)}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise ValueError(f"seeds must be distinct non-negative integers, got {self.seeds}")
        if self.margin < 0:
            raise ValueError(f"margin is a size, at least 0; got {self.margin}")
        seg_len = int(RECIPE['cpu']['seg_len']) if self.preset == 'cpu' else PRESETS['gpu'][0]['seg_len']
        bad = [n for n in self.lengths if n % seg_len or n <= SYMBOLS]
        if bad:
            raise ValueError(f"lengths {bad}: each must be a multiple of the segment, {seg_len}, "
                             f"and longer than the {SYMBOLS}-token answer")


def key_of(name: str, length: int, seed: int) -> str:
    return f'{name}_{length}' + (f'_seed{seed}' if seed else '')


# One run per (name, length, seed); its settings are its command line, as strings, and the
# page's margin.
def plan(settings: Settings) -> List[Run]:
    runs = []
    suffix = '' if settings.preset == 'cpu' else f'_{settings.preset}'
    for name in settings.models:
        model, keys = RUNS.get(name, (name, {}))
        for length in settings.lengths:
            for seed in settings.seeds:
                overrides = {'model': model, 'name': name + suffix, 'length': str(length),
                             **RECIPE[settings.preset], **keys.get(settings.preset, {}), 'seed': str(seed)}
                runs.append(Run(key_of(name + suffix, length, seed),
                                {'overrides': overrides, 'margin': settings.margin}))
    return runs


# ## Scoring
#
# Token accuracy over the answer (the paper's measure) and exact match of the whole answer.
@torch.no_grad()
def score(model, batch: SyntheticBatch, seg_len: int) -> Dict[str, float]:
    was_training = model.training
    model.eval()
    predictions = read_in_segments(model, batch.inputs, seg_len).argmax(-1)
    model.train(was_training)
    # Teacher-forced: position $k$ of the answer is predicted after the true first $k - 1$,
    # so one early mistake does not spoil the rest of the row.
    right = (predictions == batch.targets)[batch.score_mask]
    return {'accuracy': right.float().mean().item(),
            'exact_match': exact_match(predictions, batch.targets, batch.score_mask).float().mean().item()}


# ## A run
#
# Train on sequences of `length` symbols, score on `eval_samples` fresh ones from a fixed
# seed (the same for every model), and return the record.
def execute(run: Run) -> Dict[str, Any]:
    from labml import experiment
    overrides = run.settings['overrides']
    config, model_config, module = configure(overrides)
    name = config.name or config.model
    # Seed, threads, the model on a 21-token vocabulary, and the labml experiment.
    model, device = start_run(f'frequency_sort_{name}', config, model_config, module, VOCAB)
    # labml tracks the loss and the held-out accuracy of the loop as it trains; the
    # auxiliary losses a model returns (the ∞-former's KL term) are not added by this loop.
    started = time.time()
    with experiment.start():
        # The curriculum's phase, then the run proper; one labml curve across both.
        if config.curriculum_steps:
            first = dataclasses.replace(config, steps=config.curriculum_steps,
                                        train_segments=[config.curriculum_length // config.seg_len])
            train(model, sample, first, device)
        train(model, sample, config, device, first_step=config.curriculum_steps)
    seconds = time.time() - started
    # The evaluation set depends only on its seed and the length: every model sees the same.
    held_out = sample(config.eval_samples, config.length, torch.Generator().manual_seed(EVAL_SEED)).to(device)
    return {'name': name, 'model': config.model, 'length': config.length, 'seed': config.seed,
            'parameters': sum(p.numel() for p in model.parameters()),
            'train_seconds': round(seconds, 1), 'steps': config.steps,
            'curriculum': [config.curriculum_length, config.curriculum_steps] if config.curriculum_steps else None,
            **score(model, held_out, config.seg_len)}


# ## Reading the records
#
# The first records kept no seed: they were made with the default, 0.
def seed_of(record: Dict[str, Any]) -> int:
    return int(record.get('seed', SortConfig().seed))


# The margin the records were run with: one page, one margin (see the passkey study). Records
# made by hand and carrying no run settings are read with the settings' default.
def declared_margin(records: List[Dict[str, Any]]) -> float:
    margins = sorted({r['run']['margin'] for r in records if 'margin' in r.get('run', {})})
    if len(margins) > 1:
        raise ValueError(f"the records declare different margins {margins}; one page has one margin")
    return margins[0] if margins else Settings().margin


# ## The verdicts
#
# The page's comparisons at every length where both runs were trained, seed by seed on token
# accuracy, first minus second, all in one call (Holm across the page). With one seed per cell
# every verdict is "not resolved": the page says so rather than read a gap of one seed.
def verdicts(cells: Dict[Tuple[str, int], List[Dict[str, Any]]], margin: float) -> Dict[Tuple[str, str, int], stats.Verdict]:
    pairs = {}
    for a, b in COMPARISONS:
        for n in sorted({n for _, n in cells}):
            if (a, n) in cells and (b, n) in cells:
                pairs[a, b, n] = tuple({seed_of(r): r['accuracy'] for r in cells[name, n]} for name in (a, b))
    return stats.compare(pairs, margin, lower_is_better=False) if pairs else {}


# ## The page
#
# Plot first: token accuracy against length, one line per run name, with the window reference
# and the memoryless floor for scale; then one row per run name and one column per length (a
# length a run name has not been trained at shows as a dash, so every column means the same
# thing), the columns defined, the verdicts, and how every cell was made. The commands keep
# their training time, so every number can be reproduced; the machines were shared, so times
# are upper bounds. The page reads only the records, never the models.
def report(records: Records, out: Path) -> Dict[str, Page]:
    from labml_memory.training import provenance
    out = Path(out)
    pairs = records.runs
    runs = [r for r, _ in pairs]
    names = sorted({r['name'] for r in runs})
    lengths = sorted({r['length'] for r in runs})
    # `(name, length)` → that cell's records, one per seed
    cells: Dict[Tuple[str, int], List[Dict[str, Any]]] = {}
    for r in runs:
        cells.setdefault((r['name'], r['length']), []).append(r)
    defaults = SortConfig()
    # The untrained reference, on the same held-out sequences the models were scored on.
    oracle = {n: window_oracle(sample(defaults.eval_samples, n, torch.Generator().manual_seed(EVAL_SEED))
                               .inputs[:, :n - SYMBOLS], ORACLE_WINDOW).mean().item() for n in lengths}
    # One standard error of a token accuracy near p over eval_samples × SYMBOLS positions:
    # the evaluation's own noise, drawn as error bars. It says nothing of another training seed.
    positions = defaults.eval_samples * SYMBOLS
    # The floor at every length: the tie-aware guesser that never read the sequence.
    floor = {n: memoryless_floor(n) for n in lengths}
    stderr = lambda p: (p * (1 - p) / positions) ** 0.5  # noqa: E731
    mean = {k: statistics.mean(r['accuracy'] for r in rs) for k, rs in cells.items()}
    lines = ['## Token accuracy by length', '',
             '| run | ' + ' | '.join(f'{n:,} symbols' for n in lengths) + ' |',
             '|---|' + '---:|' * len(lengths)]
    for name in names:
        row = [f"{stats.cell([r['accuracy'] for r in cells[name, n]], 3)} "
               f"({statistics.mean(r['exact_match'] for r in cells[name, n]):.2f})" if (name, n) in cells
               else '–' for n in lengths]
        lines.append(f'| {name} | ' + ' | '.join(row) + ' |')
    lines.append(f'| *exact counts of the last {ORACLE_WINDOW} symbols* | '
                 + ' | '.join(f'*{oracle[n]:.3f}*' for n in lengths) + ' |')
    lines.append('| *floor: a guesser that never read the sequence* | '
                 + ' | '.join(f'*{floor[n]:.3f}*' for n in lengths) + ' |')
    seeds_per_cell = sorted({len(rs) for rs in cells.values()})
    lines += ['', '* **run**: the name of the run (its command is below); *infinity_former_sticky* is the '
              '∞-former with sticky memories.',
              f'* **n symbols**: token accuracy over the {SYMBOLS} answer positions (teacher-forced) '
              f'on {defaults.eval_samples} held-out sequences of n symbols, the same for every '
              f'model; in brackets the exact match, the share of answers with all {SYMBOLS} right. '
              + ('One training seed per cell.' if seeds_per_cell == [1] else
                 'The mean over seeds, with the lowest and highest seed under it.'),
              '* **floor**: what a model that ignores the sequence scores under teacher forcing: it '
              'knows which symbols the answer has listed, so it names the smallest id not yet '
              f'listed (H₂₀/20 ≈ 0.18 for a uniform pick, a little more with the tie rule; '
              f'`memoryless_floor`), not 1/{SYMBOLS}.',
              f'* **exact counts of the last {ORACLE_WINDOW} symbols**: no model, a reference that '
              f'counts the last {ORACLE_WINDOW} symbols exactly and ranks by those counts, about '
              'what a window as long as Transformer-XL\'s reach allows (a perfect count of the '
              'whole sequence would score 1).', '']
    margin = declared_margin(runs)
    found = verdicts(cells, margin)
    lines += reading(cells, mean, floor, oracle, names, lengths, stderr, margin)

    # How each run trained, in words: one sentence when every run agrees, else one per recipe
    # with the runs that used it.
    def training(r):
        then = f"{r['steps']:,} steps at the length of its column"
        return (f"{r['curriculum'][1]:,} steps at {r['curriculum'][0]:,} symbols, then {then}"
                if r['curriculum'] else f"no curriculum, {then}")

    def label(r):
        return f"{r['name']}@{r['length']}" + (f" seed {seed_of(r)}" if seed_of(r) else '')
    ordered = sorted(pairs, key=lambda rp: (rp[0]['name'], rp[0]['length'], seed_of(rp[0])))
    recipes: Dict[str, List[str]] = {}
    for r, _ in ordered:
        recipes.setdefault(training(r), []).append(label(r))
    trained = (f'* **Training:** every run: {next(iter(recipes))}.' if len(recipes) == 1 else
               '* **Training:** ' + '; '.join(f"{recipe} ({', '.join(runs_)})" for recipe, runs_ in recipes.items()) + '.')
    extra = [trained, '* **A second seed** (`seed=1`) at 1,024 symbols is quoted on the '
             '[study page](../studies/frequency_sort.md); its records were not kept.']
    # Records from before the runner keep the command that launched them, the task's former
    # command line; the study's command plans the same runs under the same keys.
    if any(not r['command'].startswith(STUDY.run_command) for r in runs):
        extra.append(f'* **Rerun:** the commands above are the runs as they were launched, by the '
                     f'task\'s former command line; `{STUDY.run_command}` plans the same runs, one '
                     f'record per name, length and seed (`{pairs[0][1].stem}`), and runs those not recorded.')
    section = provenance.section(ordered, label=label, seeds=[seed_of(r) for r, _ in ordered], extra=extra)
    draw(cells, names, lengths, oracle, floor, stderr, out / NAME / 'accuracy.png')
    # The headline: the best run at the longest length, against the floor and the window.
    n = lengths[-1]
    best = max((k for k in names if (k, n) in mean), key=lambda k: mean[k, n])
    near = mean[best, n] - floor[n] < 0.05
    said = tally(found)
    verdict = (f'**How well can a memory count?** {"No model counts much beyond a guess" if near else "Some count"}: '
               f'at {n:,} symbols the best, {best}, gets {mean[best, n]:.3f} of the answer positions right, against '
               f'{floor[n]:.3f} for a guesser that never read the sequence and {oracle[n]:.3f} for exact counts '
               f'of the last {ORACLE_WINDOW} symbols' + (f'; {said}.' if said else '.'))
    one_seed = seeds_per_cell == [1]
    return {f'{NAME}.md': Page(
        title='Frequency sort', verdict=verdict,
        figures=[(f'{NAME}/accuracy.png', 'Token accuracy against sequence length')],
        about=(f'Each sequence draws {SYMBOLS} symbols with frequencies that drift along it; the model must '
               'then emit the symbols sorted by how often they occurred in the whole sequence. Longer '
               'sequences put more of the counting out of reach of a fixed window. Error bars: one standard '
               f'error of the evaluation ({defaults.eval_samples} sequences of {SYMBOLS} answer positions), '
               f'about {stderr(0.2):.3f} near 0.2: the noise of the scoring alone, not of training, which '
               'only more seeds measure.'),
        convention=Convention('' if one_seed else SEED_CELLS, len(found), margin,
                              example=next(iter(found.values())).text(3) if found else ''),
        body=lines,
        made=unheaded([dated(line, ordered) for line in section]))}


# ## The reading
#
# The verdicts as a table of comparisons by length, the bracket defined once; then each run's
# distance to the floor and to the window reference, which need no verdict: they are what a
# reader measures a cell against.
def reading(cells, mean, floor, oracle, names, lengths, stderr, margin) -> List[str]:
    found = verdicts(cells, margin)
    lines = ['## What the runs show', '']
    if found:
        compared = list(dict.fromkeys((a, b) for a, b, _ in found))
        lines += ['Token accuracy, first run minus second, at each length both were trained at:', '',
                  '| comparison | ' + ' | '.join(f'{n:,} symbols' for n in lengths) + ' |',
                  '|---|' + '---|' * len(lengths)]
        for a, b in compared:
            lines.append(f'| {a} − {b} | ' + ' | '.join(found[a, b, n].text(3) if (a, b, n) in found else '–'
                                                       for n in lengths) + ' |')
        lines += ['', '"Ahead" is the first run ranking more symbols right. The margin was declared when '
                  'the study moved to its runner, after the runs recorded then.'
                  + (' With one training seed per cell no comparison can be resolved.'
                     if all(v.seeds < 2 for v in found.values()) else ''), '']
    lines += ['Each run against the floor and the window reference (run minus reference) at '
              + ' / '.join(f'{n:,}' for n in lengths) + f' symbols; one standard error of the '
              f'evaluation is about {stderr(0.2):.3f}:', '']
    for name in names:
        def gaps(reference):
            return ' / '.join(f'{mean[name, n] - reference[n]:+.3f}' if (name, n) in mean else '–' for n in lengths)
        lines.append(f'* **{name}**: {gaps(floor)} above the floor, {gaps(oracle)} against the window.')
    return lines + ['']


# Records from before runs stored their date carry, since their move to `records/`, the day
# their first file was committed (`date`): `git log` of the moved file would name the day of
# the move. The date line is rebuilt with it, in the form the provenance section uses.
def dated(line: str, runs: List[Tuple[Dict[str, Any], Path]]) -> str:
    from labml_memory.training import provenance
    if not line.startswith('* **Date:**') or not any(r.get('date') for r, _ in runs):
        return line
    dates = sorted({(r.get('machine') or {}).get('date') or r.get('date') or provenance.date_of(r, p)
                    for r, p in runs})
    text = dates[0] if len(dates) == 1 else (
        '; '.join(dates) if len(dates) <= 3 else f"{dates[0]} to {dates[-1]} ({len(runs)} runs)")
    return f'* **Date:** {text}'


# ## The plot
#
# A log scale for length, since the lengths double; each run its own colour and marker, the
# mean over its seeds with one standard error of the evaluation; the window reference dashed
# and the memoryless floor dotted; the y-axis from zero.
def draw(cells, names, lengths, oracle, floor, stderr, path: Path) -> None:
    plt = plots.pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4), layout='constrained')
    for k, name in enumerate(names):
        xs = [n for n in lengths if (name, n) in cells]
        ys = [statistics.mean(r['accuracy'] for r in cells[name, n]) for n in xs]
        ax.errorbar(xs, ys, yerr=[stderr(y) for y in ys], capsize=3, label=name, **plots.series(k))
    ax.plot(lengths, [oracle[n] for n in lengths], color='0.3', linestyle='--', linewidth=1, marker='x',
            label=f'exact counts, last {ORACLE_WINDOW} symbols')
    ax.plot(lengths, [floor[n] for n in lengths], color='0.45', linestyle=':', linewidth=1.5, marker='+',
            label='floor: guesser that never read the sequence')
    ax.set_xscale('log', base=2)
    ax.set_xticks(lengths, [f'{n:,}' for n in lengths])
    ax.set_xlabel(f'sequence length (symbols, {plots.LOG})')
    ax.set_ylabel('token accuracy of the sorted answer')
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    plots.legend_below(fig, ncol=2)
    plots.save(fig, path, dpi=120)


STUDY = Study(NAME, "Can each model count symbols over a long sequence (the ∞-former's task)?",
              Settings, plan, execute, report, pages=[f'{NAME}.md'], seeds='1 seed')
