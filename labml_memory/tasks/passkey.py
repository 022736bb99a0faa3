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
  [synthetic-task loop](synthetic.py));
* the needle's own digits are random, so they are left out of the training loss: no model
  could predict them, and they would only add noise.

Models train on texts of two to four segments and are evaluated on texts of $2\times$ (the
control), $4\times$, $16\times$ and $64\times$ the segment length at several depths. Any
architecture of the project runs the task by name, with its own settings after the task's:

```
python -m labml_memory.tasks.passkey model=infini_attention name=infini_linear memory_grad=true seed=1
python -m labml_memory.tasks.passkey model=transformer_xl name=xl mem_len=16 eval_mem_len=16
python -m labml_memory.tasks.passkey report          # table.md and accuracy.png from the runs
```

Each run is tracked with labml (`logs/passkey_<name>/`) and writes its accuracies to
`docs/results/passkey/<name>_seed<seed>.json`; `report` gathers the seeds of each name into
a mean with its range, in the table and the plot.
The runs behind the [Infini-attention page](../infini_attention/__init__.py) (Infini-attention with
the linear and the delta rule, and Transformer-XL at the same state size) are in the
[table](../results/passkey/table.md):

![Passkey exact match against depth, per context length](../results/passkey/accuracy.png)

## What a window can and cannot do

A model that remembers a window of recent positions can answer only when the needle's
digits lie inside what its last layer can reach from the answer. For Transformer-XL with
$N$ layers, segments of $L$ and a memory of $0 < M \le L$ per layer, that reach is
$(L - 1) + M + (N - 1) L$ characters back from the end of a segment: each layer below the
top adds a whole segment, because the oldest position a layer reads sits at the end of an
earlier segment and saw that segment whole (the rule, and a probe that measures it on a real
model, are in [reach](reach.py)). For the runs below ($L = 32$, $M = 16$, $N = 2$) that is 79
characters, not the $L + N M = 64$ an earlier version of this page said. The question and answer take the last
42 characters of the text (with a four-digit key), so the needle is in reach only at depth
1, or at every depth when the whole text fits the reach. Such a model therefore draws a
distinctive curve: accuracy near zero at small depths, rising at depth 1, and the same
curve at every length. A compressive memory has no reach in this sense: the needle's
segment was written into $(M, z)$ and stays there, blurred by everything written after it.
Its curve should fall with length (more filler blurs the memory more) but need not depend
on depth. Comparing the two at the same state size is the point of the table.

**What the runs show** (3 seeds each, 2 layers, width 64, every control at 1.00). Transformer-XL
draws exactly the window's curve: 0.96 to 0.98 at depth 1 at every length up to 2,048
characters, and 0.00 to 0.05 at every other depth beyond the control, for every seed. Both
Infini-attention rules read the key back from 128 characters at most depths (0.92 linear,
0.96 delta, over depths), keep about half of it at 512 (0.41 [0.33, 0.46] linear, 0.53
[0.49, 0.60] delta) and lose it at 2,048 (0.01 and 0.05): what is written over the needle
blurs the sum. Here the delta rule's correction helps, by more than the seeds' spread at 128
and 512 characters (in associative recall, many pairs at once, it is the other way round: see
[memory reach](../results/memory_reach.md)). Transformer-XL needed 2,000 steps to pass its
control: at 1,000 two seeds of three stopped at 0.91 and 0.94 (their records are kept in
`docs/results/passkey/xl_1000_steps/`); Infini-attention passed at 1,000.
"""

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

# `architectures` is imported for readers of this module: the names `model=` accepts.
from labml_memory.tasks.synthetic import (SyntheticBatch, SyntheticTrainConfig, architectures,  # noqa: F401
                                          evaluate, load_results, mean_and_range, save_result,
                                          split_task_overrides, start_run, task_main, train)

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
# Target $t$ is character $t + 1$, so the answer's digits, the last `n_digits` characters,
# are the last `n_digits` targets; the needle's digits at characters $p \dots p + n - 1$ are
# targets $p - 1 \dots p + n - 2$, which the loss mask leaves out.
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


# ## The run's settings
#
# The loop's settings plus the evaluation grid. Everything else on the command line goes to
# the model's own configuration (its experiment's `Config`, `cpu` preset), with the model's
# segment length set to `seg_len`.
@dataclass
class PasskeyConfig(SyntheticTrainConfig):
    # The architecture: any package of `labml_memory` with an `experiment.py`.
    model: str = 'infini_attention'
    # The run's name: its json file and its label in the table; defaults to `model`.
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
    # Where the json results go, and labml's logs (empty: `logs/` of the project).
    results_dir: str = 'docs/results/passkey'
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


# ## The command line, split
#
# The task's keys, the architecture, and the model's keys, by the shared
# [splitter](synthetic.py); the model reads segments of the task's length.
def split_overrides(overrides: Dict[str, str]) -> Tuple[PasskeyConfig, Any, Any]:
    r"""The task's settings, the model's configuration and its experiment module."""
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
# `logs/` keeps them), then score the grid and write everything, with the command that
# reproduces it, to `<results_dir>/<name>.json`.
def run(overrides: Dict[str, str]) -> Dict[str, Any]:
    from labml import experiment
    config, model_config, module = split_overrides(overrides)
    name = config.name or config.model
    # Seed, threads, the model on a 39-character vocabulary, and the labml experiment.
    model, device = start_run(f'passkey_{name}', config, model_config, module, len(CHARS))
    started = time.time()
    with experiment.start():
        history = train(model, lambda b, n, g: sample(b, n, g, config.n_digits), config, device)
    # Training time only; the grid's evaluation is not part of it. On a shared machine it is an
    # upper bound, and the table says so.
    train_time = time.time() - started
    # The json keeps the command line that produced it, so the report can print it next to
    # the numbers and anyone can rerun the row.
    result = {
        'name': name, 'model': config.model, 'seed': config.seed, 'overrides': overrides,
        'parameters': sum(p.numel() for p in model.parameters()),
        'state_numbers': state_numbers(model, config, device),
        'train_seconds': round(train_time, 1), 'seg_len': config.seg_len,
        'final_train_accuracy': history[-1].get('accuracy.valid'),
        'accuracy': evaluate_grid(model, config, device),
        'command': 'python -m labml_memory.tasks.passkey ' + ' '.join(f'{k}={v}' for k, v in overrides.items()),
    }
    # One file per (name, seed): the report gathers a name's seeds into a mean and a range.
    save_result(config.results_dir, f'{name}_seed{config.seed}.json', result)
    return result


# ## The report
#
# The page answers one question, plot first: how often each model reads the key back, by
# text length and needle depth, as the mean over seeds with their lowest and highest. Then
# the mean over depths per length, with the control and every column defined, the full grid,
# and how the numbers were made. It reads only the json files; runs of one `name` are that
# model's seeds.
def report(results_dir: str = 'docs/results/passkey') -> Tuple[Path, Path]:
    from labml_memory.training import provenance
    out = Path(results_dir)
    runs = load_results(results_dir, 'passkey')
    paths = sorted(out.glob('*.json'))
    # Every run must share the grid of the first; names are listed in order.
    lengths = list(runs[0]['accuracy'])
    depths = list(runs[0]['accuracy'][lengths[0]])
    seg_len = runs[0]['seg_len']
    defaults = PasskeyConfig()
    groups: Dict[str, List[Dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault(r['name'], []).append(r)

    def mean_over_depths(r, m):
        return sum(r['accuracy'][m].values()) / len(r['accuracy'][m])

    control = lengths[0]
    *most, last = [str(n) for n in defaults.train_segments]
    train_lengths = f"{', '.join(most)} or {last}" if most else last
    floor = 10.0 ** -defaults.n_digits
    lines = [f'Can a model read back a {defaults.n_digits}-digit key hidden in filler text, and '
             'how far behind the question can the key be? Each model is trained on texts of '
             f'{train_lengths} segments of {seg_len} characters, then scored on '
             f'{defaults.eval_samples} fresh texts per cell at {", ".join(f"{m}×" for m in lengths)} '
             f'the segment length, with the key at {len(depths)} depths. The floor, a guesser that '
             f'never saw the key, is {floor:g} per text: the {defaults.n_digits} digits are drawn '
             'uniformly and independently, so no guess does better.', '',
             '![Exact match against needle depth, one panel per text length](accuracy.png)', '',
             '## Mean exact match over depths', '']
    lines += ['| run | seeds × steps | state | parameters | train time (s) | '
              + ' | '.join(f'{m}× ({int(m) * seg_len:,} chars){" control" if m == control else ""}'
                           for m in lengths) + ' |',
              '|---|---:|---:|---:|---:|' + '---:|' * len(lengths)]
    # A mean over depths hides where a model fails; the full grid below shows it.
    for name, rs in groups.items():
        failed = any(mean_over_depths(r, control) < 0.95 for r in rs)
        seconds = [r['train_seconds'] for r in rs]
        steps = '/'.join(sorted({str(r['overrides'].get('steps', defaults.steps)) for r in rs}))
        lines.append(f"| {name}{' ⚠' if failed else ''} | {len(rs)} × {steps} | {rs[0]['state_numbers']:,} | "
                     f"{rs[0]['parameters']:,} | {min(seconds):.0f}–{max(seconds):.0f} | "
                     + ' | '.join(mean_and_range([mean_over_depths(r, m) for r in rs]) for m in lengths) + ' |')
    lines += ['', '* **run**: the `name=` of the run\'s command (below); *infini* runs are '
              'Infini-attention with the linear or the delta update rule. ⚠ marks a run with a seed '
              'whose control is under 0.95: its other numbers do not count.',
              '* **seeds × steps**: training seeds of the run, and optimiser steps of '
              f'{defaults.batch_size} texts each (the command\'s `steps=`); each cell is the mean over '
              'seeds, with the lowest and highest seed under it.',
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
            lines.append(f"| {name} | {m}× | " + ' | '.join(mean_and_range([r['accuracy'][m][d] for r in rs])
                                                          for d in depths) + ' |')
    lines += ['', '**depth**: where the key sits, from 0 (the start of the text) to 1 (just '
              f'before the question); each seed\'s cell is the exact match over {defaults.eval_samples} '
              f'texts, so it moves in steps of 1/{defaults.eval_samples}.', '']
    seeds = [r.get('seed', r['overrides'].get('seed', defaults.seed)) for r in runs]
    lines += provenance.section(list(zip(runs, paths)), seeds=seeds, extra=[
        f'* **Evaluation:** the same texts for every model and seed (a fixed seed per cell, never a '
        'training text).'])
    table = out / 'table.md'
    table.write_text('# Passkey retrieval\n\n' + '\n'.join(lines))

    # The plot: one panel per evaluation length, exact match against needle depth, one line
    # per run (the mean over its seeds) with the seeds' range as a band, each with its own
    # colour and marker. A model that only sees a recent window shows up as a line that is
    # zero except near depth 1.
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    # Shared y-axis from 0 to 1, so panels can be compared at a glance.
    fig, axes = plt.subplots(1, len(lengths), figsize=(3.6 * len(lengths), 3.4), sharey=True, squeeze=False)
    for ax, m in zip(axes[0], lengths):
        for k, (name, rs) in enumerate(groups.items()):
            xs = [float(d) for d in depths]
            values = [[r['accuracy'][m][d] for r in rs] for d in depths]
            ax.plot(xs, [sum(v) / len(v) for v in values], marker='osD^v'[k % 5], color=f'C{k}',
                    label=f'{name} ({len(rs)} seeds)')
            ax.fill_between(xs, [min(v) for v in values], [max(v) for v in values], color=f'C{k}', alpha=0.15)
        ax.axhline(floor, color='0.4', linestyle=':', linewidth=1)
        ax.set_title(f"{m}× segment ({int(m) * seg_len:,} chars){', control' if m == control else ''}")
        ax.set_xlabel('needle depth (0 = start of text)')
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
    # Labels once: the y-axis is shared, the legend names the runs as the table does.
    axes[0][0].set_ylabel('exact match')
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    plot = out / 'accuracy.png'
    fig.savefig(plot, dpi=110)
    plt.close(fig)
    return table, plot


# ## The command line
#
# The shared [task command line](synthetic.py): a run, or `report` to gather the results.
def main(argv: Optional[Sequence[str]] = None) -> None:
    result = task_main(argv, run, report, 'docs/results/passkey')
    if result is None:
        return
    # The grid, for the screen; the full result is in the json file.
    print(json.dumps(result['accuracy'], indent=1))


if __name__ == '__main__':
    main()
