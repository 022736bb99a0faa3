r"""
Quality at equal budget: validation loss on Tiny Shakespeare for every architecture and for a
plain transformer with the same attention span, at equal steps and at equal wall time.

    python experiments/quality_at_equal_budget.py [--steps 150] [--out docs/results] [--peers]

Every model is built through its experiment's registry entry (`Config`, `PRESETS`,
`build_model`) at the sizes the [benchmark](../labml_memory/benchmark/__init__.py) uses
(4 layers, d = 128, 4 heads, segments of 64 characters, memory 64), and trained by the shared
trainer with the same batch, learning rate and schedule. Two budgets:

* **equal steps**: `--steps` optimiser steps each (the same characters seen by every model);
* **equal wall time**: each model gets T seconds, T being the median wall time of the
  equal-steps runs. So that every model ends its learning-rate schedule when its time ends,
  its `steps` is set from its own speed in the first run, `steps * T / its wall time`, and
  the trainer's `time_budget=T` stops it at T in case the machine got slower meanwhile.

The plain transformer is Transformer-XL with no memory (`mem_len=0`) reading segments twice
as long (128 characters) with half the streams (8): each of its queries sees up to 128
characters back, as the last query of a memory model's segment does (64 memory + 64 segment),
and it reads the same number of characters per step. Dropout is off for every model: a few
hundred steps do not overfit, and the peers have none.
`--peers` adds the installable peers, trained through their adapters (they follow the same
protocol), so the memory they use can be compared at equal loss.

It writes `quality_peers.md` and `quality_peers.png` under `--out`. The equal-time comparison depends on
the machine staying as busy as it was during the equal-step runs, so it is noisier than the
equal-step one; run it on an otherwise idle machine, and never beside another timed job.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from labml_memory.benchmark import build_ours, machine, our_architectures
from labml_memory.benchmark.peers import PEERS, PeerUnavailable, Sizes, build_peer
from labml_memory.training import train
from labml_memory.training.config import TrainConfig, build_config

# The benchmark's sizes, so the two pages describe the same models; 16 streams keep a step
# short enough for the whole study to fit in about a quarter of an hour on two cores.
SIZES = Sizes(batch_size=16)
# The trainer's settings every run shares (beyond the sizes): a short warm-up for a short
# run, no periodic validation or checkpoints (only the final ones), no sample, one thread
# (on a shared machine more threads make every run slower, see the benchmark page), and a
# final validation on a fixed slice of the held-out text so every model reads the same
# number of characters.
COMMON = dict(lr=2e-3, warmup=10, eval_every=10_000, checkpoint_every=10_000, sample_len=0,
              final_eval_segments=24, threads=1, device='cpu', log_every=10)
BASELINE = 'plain transformer'


# A model that learns its memory only by back-propagation across segments (the Recurrent Memory
# Transformer: its write tokens appear in no loss of their own segment) trains with the
# `unroll` of its CPU preset, and so does a peer of it. Reading `unroll` segments per step, it
# gets `1 / unroll` of the streams, so every model still reads the same characters per step.
def unroll_for(name: str) -> int:
    import importlib
    module = PEERS[name].implements if name in PEERS else 'transformer_xl' if name == BASELINE else name
    experiment = importlib.import_module(f'labml_memory.{module}.experiment')
    return int(experiment.PRESETS['cpu'].get('unroll', getattr(experiment.Config, 'unroll', 1)))


def config_for(name: str, overrides: dict):
    # Our architectures and the baseline go through their experiment's `build_config`; a
    # peer trains under the trainer's own settings and is built from `SIZES` directly.
    import importlib
    from labml_memory.benchmark import _overrides
    unroll = unroll_for(name)
    shared = dict(unroll=unroll, batch_size=max(1, SIZES.batch_size // unroll))
    if name in PEERS:
        return build_config(TrainConfig, {'cpu': {}}, {
            'seq_len': SIZES.seq_len, **shared, **COMMON, **overrides})
    module = 'transformer_xl' if name == BASELINE else name
    experiment = importlib.import_module(f'labml_memory.{module}.experiment')
    values = {**_overrides(experiment.Config, SIZES), **shared, 'device': 'cpu', **COMMON, **overrides}
    if name == BASELINE:
        # Same span as a memory model (128 characters back at most), same characters per step.
        values.update(mem_len=0, eval_mem_len=0, seq_len=2 * SIZES.seq_len,
                      batch_size=SIZES.batch_size // 2)
    return build_config(experiment.Config, experiment.PRESETS, values)


# The model builder the trainer calls: a peer's adapter, or the experiment's `build_model`.
def builder(name: str):
    if name in PEERS:
        return lambda config, vocab_size: build_peer(name, Sizes(**{**SIZES.__dict__, 'vocab_size': vocab_size}))
    module = 'transformer_xl' if name == BASELINE else name
    import importlib
    return importlib.import_module(f'labml_memory.{module}.experiment').build_model


# One training run through the shared trainer; what the page needs from it is the final
# validation loss, the steps done, the wall time, the training curve and the state size.
# The labml logs go to a temporary folder: these runs are the page's, not the user's.
def run_one(name: str, logs: str, **overrides):
    config = config_for(name, {'logs_dir': logs, **overrides})
    started = time.time()
    result = train(config, builder(name), 'quality_' + name.replace(' ', '_'))
    return {'valid_loss': result.final_valid_loss, 'steps': result.final_step,
            'wall_time': result.wall_time, 'curve': result.train_losses,
            'state_bytes': result.memory_bytes // max(config.batch_size, 1),
            'total_seconds': time.time() - started}


# The page and its figure. The page stands alone: the question, the figure, the table with
# its columns defined, the check against the peers, then how the numbers were made. Left
# panel: training curves at equal steps, each entry its own colour and marker (ours solid,
# the baseline and peers dashed). Right panel: both validation losses of every entry as dots
# on one line per entry, not bars: a bar's length reads as its value, and bars cut at 2.0 would
# make gaps of hundredths look two-fold. Everything is kept in `quality_peers.json` beside the
# page, so `--report` redraws both without training.
def write(rows, out: Path, args, command: str, measured=None) -> None:
    import json

    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    out.mkdir(parents=True, exist_ok=True)
    m = measured or machine()
    (out / 'quality_peers.json').write_text(json.dumps({'command': command, 'steps': args.steps,
                                                  'machine': m, 'rows': rows}, indent=1))
    done = [r for r in rows if 'error' not in r]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 0.32 * len(done) + 3.4),
                                      gridspec_kw={'width_ratios': [1.2, 1]})
    # Ten tab10 colours (C7 is the grey), then four that are none of them.
    colours = [f'C{i}' for i in range(10)] + ['black', 'navy', 'olive', 'maroon']
    markers = 'osD^vP*Xh<>p'
    for i, r in enumerate(done):
        steps = sorted(r['steps_run']['curve'], key=int)
        losses = [r['steps_run']['curve'][s] for s in steps]
        k = 5  # a short moving average: single steps of 16 streams are noisy
        smooth = [sum(losses[max(0, j - k + 1):j + 1]) / len(losses[max(0, j - k + 1):j + 1]) for j in range(len(losses))]
        left.plot([int(s) for s in steps], smooth, color=colours[i % len(colours)],
                  marker=markers[i % len(markers)], markevery=max(1, len(steps) // 5), markersize=4,
                  label=r['name'], linestyle='--' if r['name'] == BASELINE or r['name'] in PEERS else '-')
    # The first steps fall from 4.4 for every model alike; from step 20 on the curves part,
    # so the axis starts there rather than at the common start.
    later = [v for line in left.lines for x, v in zip(line.get_xdata(), line.get_ydata()) if x >= 20]
    if later:
        left.set_ylim(min(later) - 0.05, max(later) + 0.05)
        left.set_xlim(left=15)
    left.set_xlabel('step')
    left.set_ylabel('training loss (nats/char, moving average of 5)')
    left.set_title(f'Equal steps ({args.steps})')
    left.grid(alpha=0.3)
    left.legend(fontsize=7, ncol=2)
    y = list(range(len(done)))[::-1]
    for yi, r in zip(y, done):
        a, b = r['steps_run']['valid_loss'], r['time_run']['valid_loss']
        right.plot([a, b], [yi, yi], color='0.7', linewidth=1, zorder=1)
    right.scatter([r['steps_run']['valid_loss'] for r in done], y, marker='o', color='C0',
                  label='equal steps', zorder=2)
    right.scatter([r['time_run']['valid_loss'] for r in done], y, marker='D', color='C1',
                  label='equal wall time', zorder=2)
    right.set_yticks(y, [r['name'] for r in done], fontsize=8)
    right.set_xlabel('validation loss (nats/char; the axis spans the data)')
    right.set_title('Validation loss at equal budget (left is better)')
    right.grid(axis='x', alpha=0.3)
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / 'quality_peers.png', dpi=110)
    plt.close(fig)

    budget = next((r['budget_seconds'] for r in rows if 'budget_seconds' in r), None)
    lines = ['# Quality at equal budget: ours beside the public implementations', '',
             'Given the same characters, or the same minutes, which architecture learns the most? '
             'Every architecture, a plain transformer with the same attention span, and the public '
             'implementations of the same papers are trained on Tiny Shakespeare by the shared '
             'trainer with the same sizes, batch and schedule. Throughput, memory and inference '
             'cost are on the [benchmark](benchmark.md) page. This is a short look at one seed, '
             'to set ours beside the peers; the three-seed comparison past the early phase, at '
             'equal counted compute, is the [quality](quality.md) page.', '',
             '![Training curves at equal steps, and validation loss at equal steps and equal time](quality_peers.png)', '',
             'At this budget (minutes on a CPU) every model is early in training, and each '
             'point is one seed: differences of a few hundredths of a nat are within that noise.', '',
             '## Every entry', '',
             '| model | validation loss, equal steps | wall time (s) | validation loss, equal time | '
             'steps in that time | state per stream (bytes) |', '|---|---:|---:|---:|---:|---:|']
    for r in rows:
        if 'error' in r:
            lines.append(f"| {r['name']} | unavailable: {r['error']} | | | | |")
            continue
        s, t = r['steps_run'], r['time_run']
        lines.append(f"| {r['name']} | {s['valid_loss']:.4f} | {s['wall_time']:.0f} | {t['valid_loss']:.4f} | "
                     f"{t['steps']} | {s['state_bytes']:,} |")
    lines += ['', '* **model**: ours by architecture name; the peers by their adapter\'s name; the '
              f'{BASELINE} is Transformer-XL without memory (`mem_len=0`) on segments of '
              f'{2 * SIZES.seq_len} characters with {SIZES.batch_size // 2} streams, so a query sees at '
              'most as far back as the last query of a memory model\'s segment and each step reads '
              'the same characters.',
              f'* **validation loss**: nats per character on the first {COMMON["final_eval_segments"]} '
              'segments of the held-out text, from a fresh memory; **equal steps** after '
              f'{args.steps} steps each, **equal time** after the same wall time each'
              + (f' ({budget:.0f} s, the median of the equal-step runs; each model\'s schedule '
                 'sized from its own speed)' if budget else '') + '.',
              '* **wall time**: seconds of the equal-step run.',
              '* **steps in that time**: steps the model managed within the equal wall time.',
              '* **state per stream**: bytes the model carries from one segment to the next for one '
              'stream.']
    # The ranking in words, from the numbers above, so the page never contradicts its table.
    if done:
        best_steps = min(done, key=lambda r: r['steps_run']['valid_loss'])
        best_time = min(done, key=lambda r: r['time_run']['valid_loss'])
        lines += ['', f"Lowest validation loss at equal steps: **{best_steps['name']}** "
                      f"({best_steps['steps_run']['valid_loss']:.4f}); at equal wall time: "
                      f"**{best_time['name']}** ({best_time['time_run']['valid_loss']:.4f})."]
    # With `--peers`: whether a peer reaching our loss uses less memory. Each peer is set
    # against our model of the same paper at equal steps: its loss and the state it carries
    # per stream, and whether it is at least as good with less.
    by_name = {r['name']: r for r in done}
    checks = []
    for r in done:
        if r['name'] in PEERS and PEERS[r['name']].implements in by_name:
            ours, peer = by_name[PEERS[r['name']].implements]['steps_run'], r['steps_run']
            wins = peer['valid_loss'] <= ours['valid_loss'] and peer['state_bytes'] < ours['state_bytes']
            checks.append(f"* `{r['name']}` against our `{PEERS[r['name']].implements}`: loss "
                          f"{peer['valid_loss']:.4f} vs {ours['valid_loss']:.4f}, state {peer['state_bytes']:,} "
                          f"vs {ours['state_bytes']:,} bytes per stream: "
                          + ('**the peer is at least as good with less memory**.' if wins else
                             'no peer advantage in memory at this loss.'))
    if checks:
        lines += ['', '## Memory at equal loss (equal steps)', ''] + checks
    total = sum(r['steps_run']['wall_time'] + r.get('time_run', {}).get('wall_time', 0) for r in done)
    lines += ['', '## How these numbers were made', '', '```', command, '```', '',
              f'* **Machine:** {m["cpu"]}, {m["cores"]} cores, one PyTorch thread per run, PyTorch '
              f'{m["torch"]}; load average {m["load"]} as the runs ended ('
              + ('one run at a time and nothing else' if float(m["load"].split(",")[0]) < 1.5 else
                 'shared with other jobs, so wall times are inflated')
              + '); the equal-time column is noisier than the equal-step one.',
              f'* **Date:** {m["date"]}',
              f'* **Seeds:** {COMMON.get("seed", 0)} for every run (one seed each)',
              f'* **Wall time:** {total:,.0f} s of training in all, both phases',
              f'* **Sizes:** {SIZES.n_layers} layers, $d = {SIZES.d_model}$, {SIZES.heads} heads, '
              f'feed-forward {SIZES.d_ff}, segments of $L = {SIZES.seq_len}$ characters, memory '
              f'$M = {SIZES.mem_len}$, {SIZES.batch_size} streams, peak learning rate {COMMON["lr"]}.',
              '* **Redraw this page:** `python experiments/quality_at_equal_budget.py --report` '
              '(reads `quality_peers.json`, trains nothing). For a longer look, rerun with `--steps 1000`.', '']
    (out / 'quality_peers.md').write_text('\n'.join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument('--steps', type=int, default=150)
    parser.add_argument('--out', default='docs/results')
    parser.add_argument('--only', default='', help='comma-separated names (default: all of ours + baseline)')
    parser.add_argument('--peers', action='store_true', help='also train the installable peers')
    parser.add_argument('--report', action='store_true', help='redraw the page from quality.json only')
    args = parser.parse_args(argv)
    if args.report:
        import json
        saved = json.loads((Path(args.out) / 'quality_peers.json').read_text())
        args.steps = saved['steps']
        write(saved['rows'], Path(args.out), args, saved['command'], measured=saved['machine'])
        return
    command = ' '.join(['python experiments/quality_at_equal_budget.py'] + (argv if argv is not None else sys.argv[1:]))
    names = [n for n in args.only.split(',') if n] or (our_architectures() + [BASELINE] + (list(PEERS) if args.peers else []))
    logs = tempfile.mkdtemp(prefix='quality_logs_')
    rows = []
    # Phase 1: equal steps. A model that fails to build or train (an architecture being
    # rewritten) becomes a row with its error; the others still run.
    for name in names:
        print(f'== {name}: {args.steps} steps', flush=True)
        try:
            rows.append({'name': name, 'steps_run': run_one(name, logs, steps=args.steps)})
        except Exception as error:  # a half-written architecture is a row, not a crash
            rows.append({'name': name, 'error': f'{type(error).__name__}: {error}'})
            print('   unavailable:', rows[-1]['error'], flush=True)
    # Phase 2: equal wall time, the median of phase 1's. Each model's `steps` is what it
    # managed in phase 1 scaled to the budget, so its learning-rate schedule ends with its
    # time; `time_budget` is the hard stop if the machine slowed down in between.
    ran = [r for r in rows if 'error' not in r]
    if ran:
        budget = statistics.median(r['steps_run']['wall_time'] for r in ran)
        for r in ran:
            steps = max(1, round(args.steps * budget / r['steps_run']['wall_time']))
            print(f"== {r['name']}: {budget:.0f} s (planned {steps} steps)", flush=True)
            r['budget_seconds'] = budget
            try:
                r['time_run'] = run_one(r['name'], logs, steps=steps, time_budget=budget)
            except Exception as error:
                r['error'] = f'equal-time run: {type(error).__name__}: {error}'
    rows.sort(key=lambda r: 'error' in r)
    write(rows, Path(args.out), args, command)
    for r in rows:
        print(r['name'], r.get('error') or f"equal steps {r['steps_run']['valid_loss']:.4f}  "
              f"equal time {r['time_run']['valid_loss']:.4f} ({r['time_run']['steps']} steps)")


if __name__ == '__main__':
    main()
