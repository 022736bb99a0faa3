r"""
# Study: the Compressive Transformer, at equal attention cost and by compression function

Three questions, asked on Tiny Shakespeare of the quality study's model (4 layers, $d = 128$,
4 heads, segments of $L = 64$ characters, 16 streams, dropout off), three seeds per cell:

1. **At equal attention cost, does compressing beat remembering?** Transformer-XL with a memory
   of 96 attends over 160 keys and reaches 96 characters back. The Compressive Transformer with
   $M = 64$, $M_c = 32$ attends over the same 160 keys but reaches $M + c\,M_c$ back: 128
   characters at $c = 2$, 192 at $c = 4$.
2. **Which compression function and loss?** The seven cells of the paper's Table 5 at $c = 2$:
   max and mean pooling, most-used, convolution with each of the three losses (BPTT,
   auto-encoding, attention reconstruction), and the dilated convolution with the attention
   loss. The paper finds convolution with the attention loss best; every other cell is
   compared with it, a reference fixed before the runs rather than the best mean found after
   them.
3. **Does attention rise into the compressed memory, beyond what distance alone gives?** The
   paper's 18-bucket profile of `conv_attention`, against a Transformer-XL whose memory covers
   the same 128 characters (`xl_mem128`), bucketed over the same character spans
   ([the analysis](../compressive/analysis.py)).

```
python -m labml_memory.studies run compressive                  # every run not yet recorded
python -m labml_memory.studies run compressive only=xl_mem96,conv_attention seeds=0
python -m labml_memory.studies report compressive               # both pages from the records
```

Each run is one record, `docs/results/compressive/records/<run>_seed<s>.json`: the
full-precision validation curve and final loss, parameters, state bytes, the run id and, for
the two profiled runs, the attention buckets over the whole held-out text; the
[runner](runner.py) adds the command, the machine and the wall time. `report` writes
[the study's page](../results/compressive.md) and its second page,
[where attention goes](../results/compressive/attention_buckets.md), from the records alone.

## How the comparison is kept fair

* **The same characters, in the same order, for every cell.** Every run reads the same 16
  streams cut from the training text, segment after segment. The BPTT cells unroll two
  segments per step, and so take half the steps: they read exactly the characters the others
  read, two segments per update. (The paper halved the batch instead, which cuts the text
  into other streams and changes the validation streams too.)
* **The same validation.** The final validation reads the whole held-out text in the same 16
  streams from an empty memory; the compression loss is never part of the reported loss.
* **Attention cost counted in keys per query,** $M_c + M + L$: what sets the cost of attention.
  Parameters and state bytes per stream are given beside it.
* **Seeds.** The same three seeds in every cell: a seed sets the initial weights; the data
  order is a function of the step only. Every verdict pairs the cells seed by seed
  ([the statistics](stats.py)).

## Deviations from the paper

* Tiny Shakespeare instead of enwik8, 4 layers instead of 24, a thousand steps instead of
  hundreds of thousands, one rate ($c = 2$) for the grid where Table 5 gives the best of
  $c \in \{2, 3, 4\}$; BPTT at the same batch and half the steps, as said above.
* The bucket profile is measured on every segment of the held-out text that has full
  memories (about 1,700 sequences of 64 characters per seed), not 20,000 sequences.
"""
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from labml_memory.studies import stats
from labml_memory.studies import plots
from labml_memory.studies.runner import SEED_CELLS, Convention, Page, Records, Run, Study, tally

NAME = 'compressive'
# The quality study's sizes, so the cells here and its Transformer-XL row are the same model.
SIZES = dict(n_layers=4, d_model=128, heads=4, d_ff=512, seq_len=64, batch_size=16, dropout=0.0,
             lr=2e-3, warmup=60, eval_every=100, eval_segments=16, checkpoint_every=100_000,
             sample_len=0, threads=1, device='cpu')
# The runs whose attention is profiled over the held-out text, and how many of Transformer-XL's
# memories stand where the compressed slots stand: $c\,M_c = 64$.
PROFILED = {'conv_attention': None, 'xl_mem128': 64}

# ## The cells
#
# Name → (architecture, settings). BPTT unrolls two segments per step (see above). The
# architecture is named, not imported, so that listing the studies does not load the models.
BPTT = dict(compression_loss='bptt', unroll=2)
RUNS = {
    # Question 1: equal attention cost (160 keys per query).
    'xl_mem96': ('transformer_xl', dict(mem_len=96, eval_mem_len=96)),
    'conv_attention': ('compressive', dict(compression='conv', compression_loss='attention')),
    'conv_attention_c4': ('compressive', dict(compression='conv', compression_loss='attention',
                                              compression_rate=4)),
    # Question 3's control: equal span (128 characters back, 192 keys per query).
    'xl_mem128': ('transformer_xl', dict(mem_len=128, eval_mem_len=128)),
    # Question 2: the rest of Table 5 at c = 2 (conv_attention above is one of its cells).
    'conv_autoencoding': ('compressive', dict(compression='conv', compression_loss='autoencoding')),
    'conv_bptt': ('compressive', dict(compression='conv', **BPTT)),
    'dilated_conv_attention': ('compressive', dict(compression='dilated_conv', compression_loss='attention')),
    'max_pool': ('compressive', dict(compression='max_pool', compression_loss='none')),
    'mean_pool': ('compressive', dict(compression='mean_pool', compression_loss='none')),
    'most_used': ('compressive', dict(compression='most_used', compression_loss='none')),
}
REFERENCE = 'xl_mem96'
EQUAL_SPAN = 'xl_mem128'
PROFILED_COMPRESSIVE = 'conv_attention'
# Table 5 of the paper, enwik8 bits per character (lower is better), for the reading; its best
# cell is the reference the other six are compared with.
TABLE5 = {'conv_bptt': 0.996, 'max_pool': 0.986, 'conv_autoencoding': 0.984, 'mean_pool': 0.982,
          'most_used': 0.980, 'dilated_conv_attention': 0.977, 'conv_attention': 0.973}
PAPER_BEST = min(TABLE5, key=TABLE5.get)
# The three parts of the keys, oldest first, as the bucket table and its plot name them.
PARTS = ('cmem', 'mem', 'seq')
DEFAULT_STEPS = 1000


# ## Settings
#
# Two margins, one per page, each in the unit of that page's comparisons. A validation loss
# difference within ±0.005 nats per character (0.007 bits) is taken not to matter: that is
# about the gap between neighbouring cells of Table 5 (0.002 to 0.010 bits), so a tie says two
# cells are closer than neighbours in the paper's ranking usually are. Attention weights span two
# orders of magnitude from the oldest bucket to the newest, so they are compared as ratios:
# a log-ratio within ±0.05 (a ratio between 0.95 and 1.05) is a tie.
@dataclass
class Settings:
    steps: int = DEFAULT_STEPS
    seeds: List[int] = field(default_factory=lambda: [0, 1, 2])
    # Cells to run; empty for every cell.
    only: List[str] = field(default_factory=list)
    margin: float = 0.005
    bucket_margin: float = 0.05

    def validate(self) -> None:
        unknown = [n for n in self.only if n not in RUNS]
        if unknown:
            raise ValueError(f"unknown run(s) {unknown}; valid: {', '.join(RUNS)}")
        if not self.seeds:
            raise ValueError("seeds: give at least one seed, e.g. seeds=0,1,2")
        if self.margin < 0 or self.bucket_margin < 0:
            raise ValueError(f"a margin is a size: margin={self.margin}, bucket_margin={self.bucket_margin}")
        for name in self.names():
            steps_of(name, self.steps)

    def names(self) -> List[str]:
        return list(self.only) or list(RUNS)


# Optimiser steps for a cell: the same characters for every cell, so an unrolled cell takes
# `steps / unroll` steps of `unroll` segments each.
def steps_of(name: str, steps: int) -> int:
    unroll = RUNS[name][1].get('unroll', 1)
    if steps < unroll or steps % unroll:
        raise ValueError(f"steps={steps} must divide by the unroll of {unroll} so that {name} reads "
                         f"the same characters as the other cells; try steps={max(unroll, steps - steps % unroll)}")
    return steps // unroll


# ## The plan
#
# One run per cell and seed, seed by seed, so that a stopped study leaves whole seeds behind.
# The key is the cell and the seed at the study's thousand steps; another budget is another
# run, and its key says so, so it never finds the thousand-step record in its place.
def key_of(name: str, seed: int, steps: int) -> str:
    budget = '' if steps == DEFAULT_STEPS else f'_{steps}steps'
    return f'{name}{budget}_seed{seed}'


def plan(settings: Settings) -> List[Run]:
    return [Run(key_of(name, seed, settings.steps),
                {'name': name, 'seed': seed, 'steps': settings.steps, 'margin': settings.margin,
                 'bucket_margin': settings.bucket_margin})
            for seed in settings.seeds for name in settings.names()]


def module_of(name: str):
    from labml_memory.compressive import experiment as compressive
    from labml_memory.transformer_xl import experiment as transformer_xl
    return {'compressive': compressive, 'transformer_xl': transformer_xl}[RUNS[name][0]]


def config_of(name: str, seed: int, steps: int, logs: str):
    from labml_memory.training.config import build_config
    module = module_of(name)
    return build_config(module.Config, module.PRESETS,
                        {**SIZES, **RUNS[name][1], 'steps': steps_of(name, steps), 'seed': seed,
                         'logs_dir': logs})


# Keys per query and reach: $M + L$ and $M$ for XL; $M_c + M + L$ and $M + c\,M_c$ with compression.
def cost(name: str, config) -> Dict[str, int]:
    if RUNS[name][0] == 'transformer_xl':
        return {'keys': config.mem_len + config.seq_len, 'reach': config.mem_len}
    return {'keys': config.mem_len + config.compressed_len + config.seq_len,
            'reach': config.mem_len + config.compression_rate * config.compressed_len}


# ## The attention profile of a trained model
#
# Over every segment of the held-out text with full memories, read in the trainer's own
# validation streams.
def profile(name: str, model, config, vocabulary) -> Dict:
    import torch

    from labml_memory.compressive import analysis
    from labml_memory.data.shakespeare import SequentialStreams, load_text, split
    text = load_text(Path(config.data_file) if config.data_file else None)
    streams = SequentialStreams(split(vocabulary.encode(text))[1], config.batch_size, config.seq_len)
    model = model.to('cpu')
    if PROFILED[name] is None:
        buckets, measured = analysis.measure(model, streams, len(streams), torch.device('cpu'))
    else:
        buckets, measured = analysis.measure_equal_span(model, streams, len(streams), torch.device('cpu'),
                                                        older=PROFILED[name])
    return {'buckets': buckets, 'segments_measured': measured, 'streams': config.batch_size}


# ## One run
#
# `seconds` is the training alone, as in every record of this study; the runner keeps it.
def execute(run: Run) -> Dict[str, Any]:
    import tempfile
    import time

    from labml_memory.training import train
    name, seed = run.settings['name'], run.settings['seed']
    config = config_of(name, seed, run.settings['steps'], tempfile.mkdtemp(prefix='compressive_study_'))
    started = time.time()
    result = train(config, module_of(name).build_model, f'compressive_study_{name}')
    seconds = time.time() - started
    record = {'name': name, 'seed': seed, 'steps': result.final_step, 'unroll': config.unroll,
              'characters': result.final_step * config.unroll * config.batch_size * config.seq_len,
              **cost(name, config),
              'memory': {'seq_len': config.seq_len, 'mem_len': config.mem_len,
                         'compressed_len': getattr(config, 'compressed_len', 0),
                         'compression_rate': getattr(config, 'compression_rate', 1)},
              'parameters': sum(p.numel() for p in result.model.parameters()),
              'state_bytes_per_stream': result.memory_bytes // config.batch_size,
              'valid_loss': result.final_valid_loss, 'valid_curve': result.valid_losses,
              'train_curve': result.train_losses, 'run_uuid': result.run_uuid, 'seconds': seconds}
    if name in PROFILED:
        record['profile'] = profile(name, result.model, config, result.vocabulary)
    return record


# ## Reading the records
#
# The records of each cell, seeds in order. A page reads one budget and one declared margin:
# records that disagree on either were made by different plans, and mixing them would pair a
# seed of one with a seed of the other.
def by_name(records: Records) -> Dict[str, List[Dict]]:
    runs: Dict[str, List[Dict]] = {}
    for record in records:
        runs.setdefault(record['name'], []).append(record)
    return {name: sorted(rs, key=lambda r: r['seed']) for name, rs in runs.items()}


def declared(records: Sequence[Dict], setting: str) -> Any:
    values = sorted({r['run'][setting] for r in records})
    if len(values) != 1:
        raise SystemExit(f"{NAME}: the records were made with different {setting} ({values}); a page "
                         f"reads one plan's records: move the others into history/")
    return values[0]


def losses(rs: List[Dict]) -> List[float]:
    return [r['valid_loss'] for r in rs]


# A comparison is made only between cells that have every seed of the page: a cell still
# missing a seed is shown, with what it has, but not compared.
def pair(runs: Dict[str, List[Dict]], a: str, b: str, seeds: List[int], value=lambda r: r['valid_loss']):
    if a not in runs or b not in runs:
        return None
    first, second = stats.by_seed(runs[a], value), stats.by_seed(runs[b], value)
    if sorted(first) != seeds or sorted(second) != seeds:
        return None
    return first, second


def incomplete(rs: List[Dict], seeds: List[int]) -> str:
    return f"not compared: seeds {', '.join(str(r['seed']) for r in rs)} of {', '.join(map(str, seeds))}"


# ## Page 1: loss by cell
#
# Left, every cell against the reference, seed by seed (the mean and range of the paired
# differences, blue where the mean is lower, orange where higher); right, the validation
# curves of the equal-cost cells and the equal-span control, each its own colour, marker and
# line, the band the range over seeds. One legend, under both.
def draw_study(runs: Dict[str, List[Dict]], path: Path) -> None:
    plt = plots.pyplot()
    names = sorted(runs, key=lambda n: statistics.mean(losses(runs[n])))
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.0, 4.4), layout='constrained',
                                      gridspec_kw={'width_ratios': [1.1, 1]})
    if REFERENCE in runs:
        # Differences paired by seed (the same seed's Transformer-XL), mean and range.
        for k, name in enumerate(names):
            seeds = {r['seed']: r['valid_loss'] for r in runs[name]}
            gaps = [seeds[r['seed']] - r['valid_loss'] for r in runs[REFERENCE] if r['seed'] in seeds]
            mean = statistics.mean(gaps)
            colour = '0.3' if name.startswith('xl') else ('C0' if mean < 0 else 'C1')
            left.errorbar([mean], [k], xerr=[[mean - min(gaps)], [max(gaps) - mean]], fmt='o',
                          color=colour, capsize=3)
        left.axvline(0, color='0.3', linewidth=1)
        left.set_yticks(range(len(names)), names)
        left.invert_yaxis()
        left.set_xlabel(f'validation loss − {REFERENCE}\'s, same seed (nats/char)')
        left.set_title(f'Every cell against {REFERENCE} (left is better)\nmean and range over seeds')
        left.grid(axis='x', alpha=0.3)
    # Validation curves of the equal-cost cells and the equal-span control, mean and band.
    for i, (name, style) in enumerate(((REFERENCE, '-'), ('conv_attention', '--'),
                                       ('conv_attention_c4', ':'), (EQUAL_SPAN, '-.'))):
        if name not in runs:
            continue
        steps = sorted(set.intersection(*[set(r['valid_curve']) for r in runs[name]]), key=int)
        per_step = runs[name][0]['characters'] / runs[name][0]['steps']
        characters = [int(s) * per_step / 1e6 for s in steps]
        values = [[r['valid_curve'][s] for r in runs[name]] for s in steps]
        look = plots.series(i)
        right.plot(characters, [statistics.mean(v) for v in values], linestyle=style, label=name, markersize=4,
                   markevery=max(1, len(steps) // 6), **look)
        right.fill_between(characters, [min(v) for v in values], [max(v) for v in values],
                           color=look['color'], alpha=0.15, linewidth=0)
    right.set_xlabel('characters read (millions)')
    right.set_ylabel('validation loss, 16 segments (nats/char)')
    right.set_title('Learning curves: equal cost and equal span')
    right.grid(alpha=0.3)
    plots.legend_below(fig, ncol=4)
    plots.save(fig, path)


# Every comparison of the page, made in one call so that Holm's correction covers the page:
# each cell against Transformer-XL of equal cost (the table's last column), the compressive
# cell against the equal-span control, and the rest of Table 5 against the paper's best.
def study_comparisons(runs: Dict[str, List[Dict]], seeds: List[int]) -> Dict[str, tuple]:
    wanted = [(f'{name} against {REFERENCE}', name, REFERENCE) for name in runs if name != REFERENCE]
    wanted.append((f'conv_attention against {EQUAL_SPAN}', 'conv_attention', EQUAL_SPAN))
    wanted += [(f'{name} against {PAPER_BEST}', name, PAPER_BEST) for name in TABLE5 if name != PAPER_BEST]
    pairs = {}
    for label, a, b in wanted:
        paired = pair(runs, a, b, seeds)
        if paired:
            pairs[label] = paired
    return pairs


# The seeds of the page and its verdicts: what the page prints, and what the model's own page
# quotes from it.
def study_verdicts(runs: Dict[str, List[Dict]], margin: float):
    seeds = sorted({r['seed'] for rs in runs.values() for r in rs})
    pairs = study_comparisons(runs, seeds)
    return seeds, (stats.compare(pairs, margin) if pairs else {})


def write_study(runs: Dict[str, List[Dict]], out: Path, margin: float) -> Page:
    draw_study(runs, out / NAME / 'study.png')
    seeds, verdicts = study_verdicts(runs, margin)

    def said(label: str, rs: List[Dict]) -> str:
        return verdicts[label].text(4) if label in verdicts else incomplete(rs, seeds)

    lines = [
             '| run | keys per query | reach (chars) | parameters | state per stream (bytes) | steps × segments '
             f'| validation loss | against {REFERENCE} |', '|---|---:|---:|---:|---:|---|---:|---|']
    for name in sorted(runs, key=lambda n: statistics.mean(losses(runs[n]))):
        rs = runs[name]
        first = rs[0]
        against = '(the reference)' if name == REFERENCE else said(f'{name} against {REFERENCE}', rs)
        lines.append(f"| `{name}` | {first['keys']} | {first['reach']} | {first['parameters']:,} | "
                     f"{first['state_bytes_per_stream']:,} | {first['steps']:,} × {first['unroll']} | "
                     f"{stats.cell(losses(rs), 4)} | {against} |")
    lines += ['', '* **run**: `xl_mem96` and `xl_mem128` are Transformer-XL with that memory; the others are '
              'the Compressive Transformer with the compression function and loss in the name (`c4`: rate 4, '
              'otherwise 2; pooling and `most_used` have no loss).',
              '* **keys per query**: compressed memory + memory + segment (memory + segment for XL), what '
              'sets the attention cost.',
              '* **reach**: how many characters behind the segment the oldest key stands for, $M + c M_c$ '
              '($M$ for XL).',
              '* **state per stream**: bytes of memory carried between segments for one stream, float32.',
              '* **steps × segments**: optimiser steps and segments per step; every cell reads the same '
              'characters.',
              '* **validation loss**: nats per character on the whole held-out text at the last step, in the '
              'same 16 streams for every cell; mean, and the range over seeds below it. The compression loss '
              'is never part of it.',
              f'* **against {REFERENCE}**: the row\'s loss minus {REFERENCE}\'s, seed by seed; ahead is a lower '
              'loss.', '',
              '## Reading', '']
    for name in ('conv_attention', 'conv_attention_c4', EQUAL_SPAN):
        if name in runs and REFERENCE in runs:
            why = ('32 more keys, for a memory as long as the compressed cells\' reach' if name == EQUAL_SPAN
                   else 'equal attention cost')
            lines.append(f"* **`{name}` against `{REFERENCE}`** ({why}): "
                         f"{said(f'{name} against {REFERENCE}', runs[name])}.")
    if 'conv_attention' in runs and EQUAL_SPAN in runs:
        lines.append(f"* **`conv_attention` against `{EQUAL_SPAN}`** (the same 128 characters of reach, 32 "
                     f"fewer keys): {said(f'conv_attention against {EQUAL_SPAN}', runs['conv_attention'])}.")
    grid = [n for n in TABLE5 if n in runs]
    if grid:
        order = sorted(grid, key=lambda n: statistics.mean(losses(runs[n])))
        line = f"* **Table 5's cells, best first:** {', '.join(f'`{n}`' for n in order)}."
        if PAPER_BEST in runs:
            line += (f" Against `{PAPER_BEST}`, the paper's best: "
                     + '; '.join(f"`{n}` {said(f'{n} against {PAPER_BEST}', runs[n])}"
                                 for n in order if n != PAPER_BEST) + '.')
        lines.append(line + ' The paper\'s order on enwik8 (best first): '
                     + ', '.join(f'`{n}` {TABLE5[n]}' for n in sorted(TABLE5, key=TABLE5.get)) + ' bpc.')
    claims = []
    if f'conv_attention against {REFERENCE}' in verdicts:
        claims.append('compressing beats remembering at equal attention cost: '
                      + claim([verdicts[f'conv_attention against {REFERENCE}']], -1))
    grid_verdicts = [verdicts[f'{n} against {PAPER_BEST}'] for n in TABLE5 if f'{n} against {PAPER_BEST}' in verdicts]
    if grid_verdicts:
        claims.append(f'`{PAPER_BEST}` is the best cell of Table 5: ' + claim(grid_verdicts, +1))
    lines.append(f'* **Where attention goes** is on its own page, [attention buckets]({NAME}/attention_buckets.md).')
    from labml_memory.studies import echo
    echo_lines, echo_claims = echo.compression_section(out, f'{echo.NAME}.md')
    if echo_lines:
        lines += ['', *echo_lines]
        claims += [f'on echoes, {what}: {word}' for what, word in echo_claims]
    verdict = ('**At equal attention cost, does compressing old memories beat keeping more of them? And which '
               'compression function and loss (the paper\'s Table 5) trains best?** '
               + (f"The paper's claims, at {len(seeds)} seeds and this size: " + '; '.join(claims) + '.'
                  if claims else 'These records hold no cell the claims are read from.')
               + (f' In all, {tally(verdicts)}.' if verdicts else ''))
    return Page(
        title='Compressive Transformer study', verdict=verdict,
        figures=[(f'{NAME}/study.png', f"Left: each cell's validation loss minus {REFERENCE}'s. Right: validation "
                                       'curves of the equal-cost and equal-span cells')],
        about=f'Tiny Shakespeare, {len(seeds)} seeds per cell, every cell reading the same characters.',
        convention=Convention(SEED_CELLS, len(verdicts), margin, ' nats per character',
                              example=next(iter(verdicts.values())).text(4) if verdicts else ''),
        body=lines, made=made(runs, seeds, margin, ' nats per character', verdicts))




# What a set of verdicts says of one claim of the paper. `expect` is the sign of the difference
# the claim predicts for each (first minus second; lower is better): the claim is supported
# where every verdict shows it, contradicted where any goes the other way or ties, and
# otherwise the page says which way the means point.
def claim(vs: List[stats.Verdict], expect: int) -> str:
    shown = stats.AHEAD if expect < 0 else stats.BEHIND
    if all(v.verdict == shown for v in vs):
        return 'supported'
    if any(v.verdict not in (shown, stats.UNRESOLVED) for v in vs):
        return 'contradicted'
    towards = all(v.mean * expect > 0 for v in vs)
    if len(vs) == 1:
        return 'not resolved' + (" (the mean points the paper's way)" if towards else ' (the mean points against it)')
    return 'not resolved' + (" (the means point the paper's way)" if towards else " (not every mean points the paper's way)")


# ## How the numbers were made, for both pages
#
# The commands are the ones the runs were launched with, as recorded. Where that was the
# study's earlier script, the page says so: its plan had the same keys, so the runner's plan
# finds those records and has nothing to run.
def made(runs: Dict[str, List[Dict]], seeds: List[int], margin: float, unit: str,
         verdicts: Dict[str, stats.Verdict]) -> List[str]:
    every = [r for rs in runs.values() for r in rs]
    dates = sorted(r['machine']['date'] for r in every)
    m = every[0]['machine']
    commands = sorted({r['command'].strip() for r in every})
    lines = ['```', *commands, f'python -m labml_memory.studies report {NAME}', '```', '']
    if any(not c.startswith('python -m labml_memory.studies') for c in commands):
        lines += ['The runs were launched by the study\'s earlier script, as their records say; '
                  f'`python -m labml_memory.studies run {NAME}` plans these runs under the same keys, so it '
                  'finds them recorded and runs only what is missing.', '']
    lines += [f"* **Machine:** {m['cpu']}, {m['cores']} cores, one PyTorch thread per run, two runs at a time, "
              f"PyTorch {m['torch']}.",
              f"* **Date:** {dates[0]} to {dates[-1]}",
              f"* **Seeds:** {', '.join(map(str, seeds))} ({len(every)} runs)",
              f"* **Wall time:** {sum(r['seconds'] for r in every):,.0f} s of training in all (the "
              "profiling of the two profiled cells comes on top).",
              f"* **Records:** one per run, with its run id, in `docs/results/{NAME}/records/`."]
    if any(r.get('converted') for r in every):
        ties = sum(v.verdict == stats.TIE for v in verdicts.values())
        lines.append(f"* **Margin:** the ±{margin:g}{unit} of a tie is a setting of the study; these "
                     "records predate it, and it was declared when they were converted to the study's "
                     "format, after the runs" + ('; no verdict on this page is a tie.' if not ties else '.'))
    return lines + ['']


# ## Page 2: where attention goes
#
# A bucket's *attention per character of history* is its mean weight per key divided by the
# characters a key stands for: $c$ for a compressed slot, one for anything else. That is the
# quantity two models of the same span can be compared on, bucket by bucket.
def per_character(buckets: List[float], rate: int) -> List[float]:
    from labml_memory.compressive.analysis import BUCKETS_PER_PART
    return [v / (rate if b < BUCKETS_PER_PART else 1) for b, v in enumerate(buckets)]


def spans(rate: int, m_c: int, mem: int, seq_len: int) -> List[str]:
    import torch

    from labml_memory.compressive.analysis import BUCKETS_PER_PART
    names = []
    # Characters before the segment's first one (negative distances count into the segment).
    for part, size, per_key, start_back in zip(PARTS, (m_c, mem, seq_len), (rate, 1, 1),
                                               (mem + rate * m_c, mem, 0)):
        for b, keys in enumerate(torch.tensor_split(torch.arange(size), BUCKETS_PER_PART)):
            if part == 'seq':
                names.append(f'{part} {b + 1}: positions {int(keys[0])}–{int(keys[-1])}')
            else:
                names.append(f'{part} {b + 1}: {start_back - per_key * int(keys[0])}–'
                             f'{start_back - per_key * (int(keys[-1]) + 1) + 1} back')
    return names


# Keys in each of a part's six buckets, split as the analysis splits them.
def bucket_sizes(keys: int) -> List[int]:
    import torch

    from labml_memory.compressive.analysis import BUCKETS_PER_PART
    return [len(k) for k in torch.tensor_split(torch.arange(keys), BUCKETS_PER_PART)]


# Characters each of a part's six buckets stands for, `per_key` characters a key.
def widths(per_key: int, keys: int) -> str:
    sizes = [str(per_key * n) for n in bucket_sizes(keys)]
    return ', '.join(sizes[:-1]) + ' and ' + sizes[-1]


# The share of a query's attention that lands on the oldest part, in all: each of its six
# buckets' weight per key times the keys it holds. For the compressive model that part is
# its $M_c$ slots; for Transformer-XL of equal span, its oldest $c M_c$ memories. Both stand
# for the same characters, so this is the one number that says which model reads them more.
def oldest_share(per_key: List[float], keys: int) -> float:
    from labml_memory.compressive.analysis import BUCKETS_PER_PART
    return sum(v * n for v, n in zip(per_key[:BUCKETS_PER_PART], bucket_sizes(keys)))


# The buckets are named as the table names them: six per part, oldest first, the part's name
# (cmem, mem, seq) under its six; the weights span two decades, so the axis is logarithmic
# and says so.
def draw_buckets(per_key, comp_char, ctrl_char, uniform_keys: int, path: Path) -> None:
    plt = plots.pyplot()
    from labml_memory.compressive.analysis import BUCKETS_PER_PART
    x = list(range(3 * BUCKETS_PER_PART))
    ticks = [f'{b + 1}' for _ in PARTS for b in range(BUCKETS_PER_PART)]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9.0, 4.0), layout='constrained')
    for axis, series in ((a, ((f'{PROFILED_COMPRESSIVE}, per slot', per_key, 0, '-'),)),
                         (b, ((f'{PROFILED_COMPRESSIVE}, per character', comp_char, 0, '-'),
                              (f'{EQUAL_SPAN}, per character', ctrl_char, 1, '--')))):
        for label, values, k, line in series:
            columns = list(zip(*values))
            look = plots.series(k)
            axis.plot(x, [statistics.mean(c) for c in columns], line, label=label, markersize=4, **look)
            axis.fill_between(x, [min(c) for c in columns], [max(c) for c in columns], color=look['color'],
                              alpha=0.2, linewidth=0)
        for edge in (BUCKETS_PER_PART - 0.5, 2 * BUCKETS_PER_PART - 0.5):
            axis.axvline(edge, color='0.6', linewidth=0.8)
        axis.set_xticks(x, ticks)
        # The part's name under its six buckets.
        for i, (part, words) in enumerate(zip(PARTS, ('compressed', 'memory', 'segment'))):
            axis.text((i + 0.5) / 3, -0.1, f'{part}\n({words})', transform=axis.transAxes, ha='center', va='top',
                      fontsize=8)
        axis.set_yscale('log')
        axis.grid(alpha=0.3)
        axis.set_xlabel('\n\nkey bucket, oldest on the left')
    a.axhline(1 / uniform_keys, color='black', linestyle=':', linewidth=0.8,
              label=f"uniform, 1/{uniform_keys}")
    a.set_ylabel(f'mean attention weight per key ({plots.LOG})')
    a.set_title('The paper\'s view: weight per key\n(mean, range over seeds)')
    b.set_ylabel(f'attention per character of history ({plots.LOG})')
    b.set_title('Against a Transformer-XL of equal span,\nper character')
    plots.legend_below(fig, ncol=2)
    plots.save(fig, path)


# Attention is compared as a ratio, seed by seed: the paired difference of logarithms, whose
# mean and interval are shown back as ratios. `ahead` on this page means more attention.
def logs(values: Dict[int, float]) -> Dict[int, float]:
    return {seed: math.log(v) for seed, v in values.items()}


def ratio(v: stats.Verdict) -> str:
    if v.seeds < 2:
        return f"{math.exp(v.mean):.2f}× (one seed), {v.verdict}"
    return f"{math.exp(v.mean):.2f}× [{math.exp(v.low):.2f}, {math.exp(v.high):.2f}], {v.verdict}"


# What a verdict on a rise says in words, the means' direction given where the seeds do not
# decide.
# The share of attention a query that weighs every key it may see alike puts on `slots` keys
# before the segment, averaged over the segment's queries: query $i$ (0-based) sees the
# `keys - seq_len` keys before the segment and $i + 1$ of the segment.
def uniform_share(slots: int, keys: int, seq_len: int) -> float:
    before = keys - seq_len
    return statistics.mean(slots / (before + i + 1) for i in range(seq_len))


def rise_words(v: stats.Verdict) -> str:
    if v.verdict == stats.AHEAD:
        return 'attention rises from the memory into the compressed memory'
    if v.verdict == stats.BEHIND:
        return 'attention falls from the memory into the compressed memory'
    if v.verdict == stats.TIE:
        return 'attention is level across the boundary, within the margin'
    return ('the seeds resolve neither a rise nor a fall across the boundary (the means '
            + ('rise' if v.mean > 0 else 'fall') + ')')


# ## The reading of the two profiles
#
# The quantities of the page and every verdict on it, from one call to `stats.compare`: the
# page is written from this, and so is what the model's own page quotes. None when the two
# profiled models are not both recorded with the same seeds, since the page pairs them.
@dataclass
class Profiles:
    comp: List[Dict]            # the compressive model's records, by seed
    ctrl: List[Dict]            # Transformer-XL of equal span
    seeds: List[int]
    rate: int
    m_c: int
    per_key: List[List[float]]  # per seed, the 18 buckets' weight per key
    comp_char: List[List[float]]
    ctrl_char: List[List[float]]
    comp_share: List[float]     # per seed, the oldest part's share of attention
    ctrl_share: List[float]
    verdicts: Dict[str, stats.Verdict]


def read_profiles(runs: Dict[str, List[Dict]], margin: float) -> Optional[Profiles]:
    from labml_memory.compressive.analysis import BUCKETS_PER_PART
    if PROFILED_COMPRESSIVE not in runs or EQUAL_SPAN not in runs:
        return None
    comp, ctrl = runs[PROFILED_COMPRESSIVE], runs[EQUAL_SPAN]
    if [r['seed'] for r in comp] != [r['seed'] for r in ctrl]:
        return None
    seeds = [r['seed'] for r in comp]
    memory = comp[0]['memory']
    rate, m_c = memory['compression_rate'], memory['compressed_len']
    per_key = [r['profile']['buckets']['all layers'] for r in comp]
    comp_char = [per_character(v, rate) for v in per_key]
    ctrl_char = [r['profile']['buckets']['all layers'] for r in ctrl]
    comp_share = [oldest_share(v, m_c) for v in per_key]
    ctrl_share = [oldest_share(v, rate * m_c) for v in ctrl_char]
    newest_cmem, oldest_mem = BUCKETS_PER_PART - 1, BUCKETS_PER_PART
    by = lambda rows, k: dict(zip(seeds, (row[k] for row in rows)))  # noqa: E731
    # Every comparison of the page in one call: the 18 buckets, compressive against
    # Transformer-XL per character; the rise at the boundary, per key; age inside the oldest
    # part, for each model; and the oldest part's share in all.
    pairs = {f'bucket {k}': (logs(by(comp_char, k)), logs(by(ctrl_char, k))) for k in range(3 * BUCKETS_PER_PART)}
    pairs['rise'] = (logs(by(per_key, newest_cmem)), logs(by(per_key, oldest_mem)))
    pairs['age, compressive'] = (logs(by(per_key, 0)), logs(by(per_key, newest_cmem)))
    pairs['age, control'] = (logs(by(ctrl_char, 0)), logs(by(ctrl_char, newest_cmem)))
    pairs['share'] = (logs(dict(zip(seeds, comp_share))), logs(dict(zip(seeds, ctrl_share))))
    verdicts = stats.compare(pairs, margin, lower_is_better=False)
    return Profiles(comp, ctrl, seeds, rate, m_c, per_key, comp_char, ctrl_char, comp_share, ctrl_share, verdicts)


def write_buckets(runs: Dict[str, List[Dict]], out: Path, margin: float) -> Optional[Page]:
    from labml_memory.compressive.analysis import BUCKETS_PER_PART
    found = read_profiles(runs, margin)
    if found is None:
        return None
    comp, ctrl, seeds, rate, m_c = found.comp, found.ctrl, found.seeds, found.rate, found.m_c
    per_key, comp_char, ctrl_char = found.per_key, found.comp_char, found.ctrl_char
    comp_share, ctrl_share, verdicts = found.comp_share, found.ctrl_share, found.verdicts
    memory = comp[0]['memory']
    draw_buckets(per_key, comp_char, ctrl_char, comp[0]['keys'], out / NAME / 'attention_buckets.png')
    x = list(range(3 * BUCKETS_PER_PART))
    newest_cmem, oldest_mem = BUCKETS_PER_PART - 1, BUCKETS_PER_PART

    names = spans(rate, m_c, memory['mem_len'], memory['seq_len'])
    measured = [r['profile']['segments_measured'] * r['profile']['streams'] for r in comp + ctrl]
    lines = [
             f'| bucket | {PROFILED_COMPRESSIVE}: per key (×1000) | per character (×1000) | {EQUAL_SPAN}: per '
             f'character (×1000) | ratio | against {EQUAL_SPAN} |', '|---|---:|---:|---:|---:|---|']
    for k in x:
        c_key = [v[k] * 1000 for v in per_key]
        c_chr = [v[k] * 1000 for v in comp_char]
        x_chr = [v[k] * 1000 for v in ctrl_char]
        lines.append(f"| {names[k]} | {stats.cell(c_key, 2)} | {stats.cell(c_chr, 2)} | {stats.cell(x_chr, 2)} | "
                     f"{statistics.mean(c_chr) / statistics.mean(x_chr):.2f} | {ratio(verdicts[f'bucket {k}'])} |")
    lines += ['', '* **bucket**: six buckets per part, oldest first, with the characters before the segment '
              f'they stand for (a compressed slot stands for c = {rate}); segment buckets by position.',
              '* **per key**: mean attention weight one key of the bucket receives, averaged over layers, '
              'heads, queries allowed to see it and sequences; mean over seeds, range below.',
              '* **per character**: the same divided by the characters a key stands for; the quantity two '
              'models of equal span share. Transformer-XL\'s oldest memories are split into buckets of whole '
              f"keys, so its first six buckets span {widths(1, rate * m_c)} characters "
              f"where the compressed slots span {widths(rate, m_c)}.",
              '* **ratio**: compressive over Transformer-XL, per character, of the means.',
              f'* **against {EQUAL_SPAN}**: the same ratio seed by seed: the mean paired difference of the two '
              'logarithms and its interval, shown as ratios (the first is the geometric mean of the seeds\' '
              'ratios), then the verdict. Every comparison on this page is of attention, as a ratio: **ahead** '
              'means the first gets more attention than the second, **behind** less.', '',
              '## Reading', '']
    cm = [statistics.mean(v[k] for v in per_key) for k in x]
    lines.append(f"* **Per key, the paper's view:** the newest compressed bucket gets {cm[newest_cmem] * 1000:.2f} "
                 f"and the oldest memory bucket {cm[oldest_mem] * 1000:.2f} (×1000), newest compressed over oldest memory "
                 f"{ratio(verdicts['rise'])}: {rise_words(verdicts['rise'])}.")
    # Inside the compressed part, oldest bucket against newest: does weight per key grow with
    # age? Transformer-XL over the same characters is the distance effect to set it against.
    mean = lambda rows, k: statistics.mean(row[k] for row in rows) * 1000  # noqa: E731
    lines.append(f"* **Inside the compressed memory, by age:** per key, the oldest bucket gets "
                 f"{mean(per_key, 0):.2f} and the newest {mean(per_key, newest_cmem):.2f} (×1000), "
                 f"{mean(per_key, 0) - mean(per_key, newest_cmem):+.2f}; oldest over newest "
                 f"{ratio(verdicts['age, compressive'])}. Over the same characters Transformer-XL's oldest "
                 f"memories get {mean(ctrl_char, 0):.2f} and {mean(ctrl_char, newest_cmem):.2f}, "
                 f"{mean(ctrl_char, 0) - mean(ctrl_char, newest_cmem):+.2f}; oldest over newest "
                 f"{ratio(verdicts['age, control'])}.")
    older = range(BUCKETS_PER_PART)
    count = {word: sum(verdicts[f'bucket {k}'].verdict == word for k in older)
             for word in (stats.AHEAD, stats.BEHIND, stats.TIE, stats.UNRESOLVED)}
    ratios = [statistics.mean(v[k] for v in comp_char) / statistics.mean(v[k] for v in ctrl_char) for k in older]
    lines.append(f"* **Per character, against equal span:** of the six oldest buckets ({names[0].split(': ')[1]} to "
                 f"{names[BUCKETS_PER_PART - 1].split(': ')[1]}), the compressive model is ahead of "
                 f"Transformer-XL (more attention) in {count[stats.AHEAD]}, behind in {count[stats.BEHIND]}, "
                 f"tied in {count[stats.TIE]} and not resolved in {count[stats.UNRESOLVED]}; the ratios of "
                 f"the means run from {min(ratios):.2f} to {max(ratios):.2f}.")
    percent = lambda vs: f"{100 * statistics.mean(vs):.1f}% ({100 * min(vs):.1f}–{100 * max(vs):.1f})"  # noqa: E731
    lines.append(f"* **In all, on the same {rate * m_c} oldest characters:** `{PROFILED_COMPRESSIVE}` puts "
                 f"{percent(comp_share)} of a query's attention on its {m_c} compressed slots, `{EQUAL_SPAN}` "
                 f"{percent(ctrl_share)} on its {rate * m_c} oldest memories (mean, and the range over seeds), "
                 f"{100 * (statistics.mean(comp_share) - statistics.mean(ctrl_share)):+.1f} points; compressive "
                 f"over Transformer-XL {ratio(verdicts['share'])}. Queries that looked everywhere equally would "
                 f"put {100 * uniform_share(m_c, comp[0]['keys'], memory['seq_len']):.1f}% and "
                 f"{100 * uniform_share(rate * m_c, ctrl[0]['keys'], memory['seq_len']):.1f}% there, averaged "
                 "over the queries of a segment as the shares are (the last query alone, which sees every key, "
                 f"{100 * m_c / comp[0]['keys']:.0f}% and {100 * rate * m_c / ctrl[0]['keys']:.0f}%). "
                 "One compressed slot gets "
                 f"{(statistics.mean(comp_share) / m_c) / (statistics.mean(ctrl_share) / (rate * m_c)):.2f} times "
                 f"the weight of one of those memories; it stands for {rate} characters.")
    question = (f"Does `{PROFILED_COMPRESSIVE}` (M = {memory['mem_len']}, M_c = {m_c}, c = {rate}, "
                f"L = {memory['seq_len']}) read its compressed memory more than a plain distance effect would give?")
    verdict = (f"**{question}** Per key, newest compressed over oldest memory bucket {ratio(verdicts['rise'])}: "
               f"{rise_words(verdicts['rise'])}. In all, its "
               f"{m_c} compressed slots take {percent(comp_share)} of a query's attention where `{EQUAL_SPAN}`'s "
               f"{rate * m_c} oldest memories, over the same characters, take {percent(ctrl_share)}: compressive "
               f"over Transformer-XL {ratio(verdicts['share'])}.")
    return Page(
        title='Compressive Transformer: where attention goes', verdict=verdict,
        figures=[('attention_buckets.png', 'Left: weight per key by bucket. Right: attention per character of '
                                           'history, against Transformer-XL of equal span')],
        about=(f"Beside it, `{EQUAL_SPAN}`, a Transformer-XL whose {ctrl[0]['memory']['mem_len']} "
               'memories cover the same characters, bucketed over the same spans. Every segment of the '
               f"held-out text with full memories ({min(measured):,}"
               + (f"–{max(measured):,}" if max(measured) > min(measured) else '') + " sequences of "
               f"{memory['seq_len']} characters per model and seed), {len(comp)} seeds each."),
        convention=Convention(SEED_CELLS, len(verdicts), margin, ' in the logarithm of the ratio', ratio=True,
                              example=ratio(next(iter(verdicts.values())))),
        body=lines,
        made=made({PROFILED_COMPRESSIVE: comp, EQUAL_SPAN: ctrl}, seeds, margin, ' in the logarithm of the ratio',
                  verdicts))




def report(records: Records, out: Path) -> Dict[str, Page]:
    every = list(records)
    declared(every, 'steps')
    runs = by_name(records)
    pages = {f'{NAME}.md': write_study(runs, Path(out), declared(every, 'margin'))}
    buckets = write_buckets(runs, Path(out), declared(every, 'bucket_margin'))
    if buckets is not None:
        pages[f'{NAME}/attention_buckets.md'] = buckets
    return pages


STUDY = Study(NAME, 'Does compressing beat remembering at equal attention cost; which compression function '
                    'and loss; and does attention rise into the compressed memory beyond a distance effect?',
              Settings, plan, execute, report, pages=[f'{NAME}.md', f'{NAME}/attention_buckets.md'],
              seeds='3', reads=('echo',))
