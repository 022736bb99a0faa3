r"""
# Compressive Transformer study, the one-seed version of 2026-11-22

Kept so that its page can be redrawn from `study.json` until the three-seed study,
[compressive_study.py](compressive_study.py), has been run and replaces it. The commands on
its page are the ones its runs were launched with, when this script bore that name.

Two questions, on Tiny Shakespeare, with the CPU preset's model (4 layers, 128 wide, segments of
64 characters, 32 streams) trained for the same short budget each:

1. **At equal attention cost, does compressing beat remembering?** Transformer-XL with a memory
   of 96 attends over 160 keys and reaches 96 characters back. The Compressive Transformer with
   $M = 64$, $M_c = 32$ attends over the same 160 keys but reaches $64 + 32c$ back:
   128 at $c = 2$, 192 at $c = 4$.
2. **A small Table 5.** Every compression function, and every loss for the learnable ones
   (BPTT with `unroll=2` and half the batch, as in the paper), at $c = 2$.

```
python experiments/compressive_study_one_seed.py                # everything not yet measured
python experiments/compressive_study_one_seed.py steps=300 only=xl_mem96,conv_attention
python experiments/compressive_study_one_seed.py report         # redraw the table and plot only
```

Each run's result is kept in `docs/results/compressive/study.json` as soon as it finishes, so
the study can be run in parts (a run already there is skipped unless `force=true`); the table
`study.md` and the figure `study.png` are redrawn from that file every time.
These are short runs, far from convergence: differences of a few hundredths of a nat are
within the spread that a different seed gives.

## How the comparison is kept fair

* **Same budget.** Every run takes the same number of optimiser steps over the same number
  of characters per step: BPTT reads two segments of 16 streams per step instead of one of 32.
* **Same data order and initial state.** One seed for all; the streams are a pure function of
  the step, so every run sees the same characters in the same order.
* **Same measure.** The final validation reads the whole held-out tenth of the text from an
  empty memory, segment by segment, as every experiment here does; the compression loss is
  never part of the reported loss.
* **Attention cost counted in keys per query.** That is what decides the cost of attention
  (the $O(L(M + M_c))$ term); the compression function's own cost is small beside it.
  Wall times are reported too, but they come from a shared two-core machine and say little.

## The table's columns

* **keys per query**: $M_c + M + L$ (or $M + L$ for XL), the attention cost;
* **reach**: how many characters behind the segment the oldest key stands for;
* **valid loss**: nats per character on the whole validation text, and the same in bits (bpc);
* **train loss, last 50 steps**: the language-model loss only, a less noisy view of how far
  each run got than the final step alone;
* **wall time**: seconds for the run including validation, on a shared two-core machine.

The figure's left panel shows the smoothed training curves of the equal-cost runs, the right
one every run's final validation loss. See [the model](../labml_memory/compressive/__init__.py)
for what the names mean and [compression](../labml_memory/compressive/compression.py) for the
functions and losses.

## Deviations from the paper

* Tiny Shakespeare instead of enwik8, a 4-layer model instead of 24 layers, a few hundred
  steps instead of hundreds of thousands, and one compression rate ($c = 2$) for the grid
  where Table 5 reports the best of $c \in \{2, 3, 4\}$.
"""

import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

# The script runs from a checkout without installing the package: the repository root goes on
# the import path, and the results land under its `docs/`.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labml_memory.compressive import experiment as compressive  # noqa: E402
from labml_memory.training import provenance, train  # noqa: E402
from labml_memory.training.config import build_config, parse_overrides  # noqa: E402
from labml_memory.transformer_xl import experiment as xl  # noqa: E402

OUT = ROOT / 'docs' / 'results' / 'compressive'

# ## The runs
#
# Name → (experiment module, overrides). Every run shares `COMMON`.
# Three hundred steps with a 30-step warm-up and a single validation at the end; one thread
# per run and one run at a time, which is what a shared two-core machine can take.
COMMON = dict(steps=300, warmup=30, eval_every=10_000, eval_segments=8, checkpoint_every=10_000,
              sample_len=0, log_every=50, threads=1, seed=0)
# BPTT as the paper ran it: twice the unroll, half the batch, the same characters per step.
BPTT = dict(compression_loss='bptt', unroll=2, batch_size=16)
RUNS = {
    # Question 1: equal attention cost (160 keys per query).
    'xl_mem96': (xl, dict(mem_len=96, eval_mem_len=96)),
    'conv_attention': (compressive, dict(compression='conv', compression_loss='attention')),
    'conv_attention_c4': (compressive, dict(compression='conv', compression_loss='attention',
                                            compression_rate=4)),
    # Question 2: the grid at c = 2 (conv_attention above is one of its cells).
    'conv_autoencoding': (compressive, dict(compression='conv', compression_loss='autoencoding')),
    'conv_bptt': (compressive, dict(compression='conv', **BPTT)),
    'dilated_conv_attention': (compressive, dict(compression='dilated_conv', compression_loss='attention')),
    'dilated_conv_autoencoding': (compressive, dict(compression='dilated_conv',
                                                    compression_loss='autoencoding')),
    'dilated_conv_bptt': (compressive, dict(compression='dilated_conv', **BPTT)),
    'max_pool': (compressive, dict(compression='max_pool', compression_loss='none')),
    'mean_pool': (compressive, dict(compression='mean_pool', compression_loss='none')),
    'most_used': (compressive, dict(compression='most_used', compression_loss='none')),
}


# ## One run
#
# Builds the configuration exactly as the command line would (defaults, the `cpu` preset,
# `COMMON`, the run's overrides), trains in a temporary log folder (the study keeps only the
# numbers), and records the final validation loss, the mean training loss of the last 50
# steps, the whole training curve, the attention cost and the reach.
def run_one(name: str, steps: int) -> Dict:
    module, overrides = RUNS[name]
    # The labml logs of study runs are thrown away: the numbers kept are the ones below.
    with tempfile.TemporaryDirectory() as logs:
        config = build_config(module.Config, module.PRESETS,
                              {**COMMON, **overrides, 'steps': steps, 'logs_dir': logs})
        started = time.time()
        result = train(config, module.build_model, f'study_{name}')
    # Keys per query (memory parts plus the segment) and how many characters behind the segment
    # the oldest key reaches: $M$ for XL, $M + c\,M_c$ with compression.
    if module is xl:
        keys, reach = config.mem_len + config.seq_len, config.mem_len
    else:
        keys = config.mem_len + config.compressed_len + config.seq_len
        reach = config.mem_len + config.compression_rate * config.compressed_len
    return {'name': name, 'steps': steps, 'valid_loss': result.final_valid_loss,
            'train_loss_last50': sum(list(result.train_losses.values())[-50:]) / 50,
            'train_curve': result.train_losses, 'keys': keys, 'reach': reach,
            'memory_bytes': result.memory_bytes, 'wall_s': time.time() - started,
            'tokens_per_second': result.tokens_per_second, 'machine': provenance.machine()}


# ## The page, the table and the figure
#
# `study.md` reads on its own: the figure first, then a row for every run in `RUNS` with
# every column defined, then how the numbers were made. `study.png` has two panels.
def report(results: Dict[str, Dict]) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    lines = ['Two questions, each answered by a 300-step run of the CPU preset\'s model (4 '
             'layers, 128 wide, segments of 64 characters) on Tiny Shakespeare: at equal '
             'attention cost, does compressing old memories beat keeping more of them? And '
             'which compression function and loss (a small version of the paper\'s Table 5) '
             'trains best? The runs are short, far from convergence, and one seed each.', '',
             '![Left: training loss at equal attention cost, minus Transformer-XL\'s. Right: each run\'s validation loss '
             'minus Transformer-XL\'s](study.png)', '',
             'Right panel: each run\'s final validation loss minus that of `xl_mem96`, '
             'Transformer-XL at the same attention cost; left of zero is better. The spread '
             'across seeds was not measured: read gaps of a few hundredths as a direction, '
             'not a result.', '',
             '## Every run', '',
             '| run | keys per query | reach (chars) | steps | valid loss (nats/char) | bpc | '
             'train loss, last 50 steps | wall time (s) |', '|---|---:|---:|---:|---:|---:|---:|---:|']
    # One row per run in the order of `RUNS`; runs not measured yet keep their row, so the
    # table shows what is missing.
    for name in RUNS:
        if name in results:
            r = results[name]
            lines.append(f"| `{name}` | {r['keys']} | {r['reach']} | {r['steps']} | "
                         f"{r['valid_loss']:.4f} | {r['valid_loss'] / math.log(2):.4f} | "
                         f"{r['train_loss_last50']:.4f} | {r['wall_s']:.0f} |")
        else:
            lines.append(f"| `{name}` | | | not run yet | | | | |")
    lines += ['', '* **run**: `xl_mem96` is Transformer-XL with a memory of 96; the others are '
              'the Compressive Transformer with the compression function and loss in the name '
              '(`c4`: compression rate 4, otherwise 2; pooling and `most_used` have no loss).',
              '* **keys per query**: compressed memory + memory + segment (memory + segment for '
              'XL), what sets the attention cost.',
              '* **reach**: how many characters behind the segment the oldest key stands for, '
              '$M + c M_c$ ($M$ for XL).',
              '* **valid loss**: nats per character on the whole validation text read from an '
              'empty memory; **bpc** the same in bits. The compression loss is never part of it.',
              '* **train loss, last 50 steps**: the language-model loss averaged over the last '
              '50 steps, a less noisy view of how far a run got.',
              '* **wall time**: seconds for the run including validation.', '']
    done = [n for n in RUNS if n in results]
    paths = OUT / 'study.json'
    records = [({**results[n], 'command': f"python experiments/compressive_study.py only={n} "
                 f"steps={results[n]['steps']} force=true", 'seconds': results[n]['wall_s']}, paths)
               for n in done]
    lines += provenance.section(records, seconds='seconds', seeds=[COMMON['seed']], extra=[
        '* **Threads:** one per run, one run at a time.',
        '* **Redraw this page:** `python experiments/compressive_study_one_seed.py report` (reads '
        '`study.json`, trains nothing).'])
    (OUT / 'study.md').write_text('# Compressive Transformer study\n\n' + '\n'.join(lines))
    if not done:
        return
    # Left: the smoothed training curves of the equal-cost runs, drawn as differences from
    # XL's: the curves themselves lie on top of each other at any scale that shows all of
    # them. Each has its own colour, line style and marker.
    fig, (curves, bars) = plt.subplots(1, 2, figsize=(11, 4.4), gridspec_kw={'width_ratios': [1, 1.1]})

    def smoothed(name: str) -> Dict[int, float]:
        # A 25-step running mean: single steps on 32 streams are noisy.
        curve = {int(k): v for k, v in results[name]['train_curve'].items()}
        steps, window = sorted(curve), 25
        return {s: sum(curve[t] for t in steps[max(0, i - window + 1):i + 1]) /
                len(steps[max(0, i - window + 1):i + 1]) for i, s in enumerate(steps)}

    if 'xl_mem96' in results:
        base = smoothed('xl_mem96')
        curves.axhline(0, color='0.35', linewidth=1, label='xl_mem96 (zero line)')
        for name, color, style, marker in (('conv_attention', 'C0', '--', 's'),
                                           ('conv_attention_c4', 'C1', ':', 'D')):
            if name in results:
                mine = smoothed(name)
                steps = [s for s in sorted(mine) if s in base and s >= 25]
                curves.plot(steps, [mine[s] - base[s] for s in steps], color=color,
                            linestyle=style, marker=marker, markevery=max(1, len(steps) // 6),
                            label=name)
    curves.set_xlabel('step')
    curves.set_ylabel('training loss − xl_mem96\'s (nats/char)')
    curves.set_title('Equal attention cost (160 keys per query), 25-step means', fontsize=10)
    curves.grid(alpha=0.3)
    curves.legend(fontsize=8)
    # Right: differences from XL, so the axis has a true zero and no bar is cut: a bar's
    # length is the whole difference. XL itself is the zero line.
    reference = results['xl_mem96']['valid_loss'] if 'xl_mem96' in results else None
    others = [n for n in done if n != 'xl_mem96']
    if reference is not None and others:
        deltas = [results[n]['valid_loss'] - reference for n in others]
        bars.barh(range(len(others)), deltas,
                  color=['C0' if d < 0 else 'C1' for d in deltas])
        bars.axvline(0, color='0.3', linewidth=1)
        bars.set_yticks(range(len(others)), others, fontsize=8)
        bars.invert_yaxis()
        for k, d in enumerate(deltas):
            bars.text(d + (0.001 if d >= 0 else -0.001), k, f'{d:+.3f}', va='center',
                      ha='left' if d >= 0 else 'right', fontsize=7)
        span = max(abs(d) for d in deltas) * 1.35
        bars.set_xlim(-span, span)
        bars.set_xlabel(f'validation loss − xl_mem96\'s {reference:.4f} (nats/char)')
        bars.set_title('Every run against Transformer-XL (left is better)', fontsize=10)
        bars.grid(axis='x', alpha=0.3)
    fig.tight_layout()
    fig.savefig(OUT / 'study.png', dpi=110)
    plt.close(fig)


# ## Command line
#
# `steps` (300 by default), `only` (a comma-separated subset of the runs), `force=true` to rerun
# what is stored, `report` to redraw without training. Results are saved after every run, so
# an interrupted study loses at most the run in progress.
def main(argv: List[str]) -> None:
    # `report` is a bare word; everything else is `key=value`, parsed like an experiment's.
    report_only = 'report' in argv
    args = {'steps': str(COMMON['steps']), 'only': '', 'force': 'false'}
    args.update(parse_overrides([a for a in argv if a != 'report']))
    # Unknown run names fail before anything trains, naming the valid ones.
    names = [n for n in args['only'].split(',') if n] or list(RUNS)
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        raise SystemExit(f"unknown run(s) {unknown}; valid: {list(RUNS)}")
    # Results go beside the other result pages; the site lists `study.md` under Results.
    OUT.mkdir(parents=True, exist_ok=True)
    # Earlier results are read back, so parts of the study run on different days add up.
    store = OUT / 'study.json'
    results = json.loads(store.read_text()) if store.is_file() else {}
    if not report_only:
        for name in names:
            if name in results and args['force'] != 'true':
                continue
            # Trained, then saved at once: the file always holds every finished run.
            results[name] = run_one(name, int(args['steps']))
            store.write_text(json.dumps(results, indent=1))
            print(f"{name}: valid loss {results[name]['valid_loss']:.4f}", flush=True)
    # The table and figure are redrawn from everything stored, measured now or before.
    report(results)
    print((OUT / 'study.md').read_text())


if __name__ == '__main__':
    main(sys.argv[1:])
