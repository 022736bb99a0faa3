r"""
# Study: quality at equal budget, ours beside the public implementations

Given the same characters, or the same minutes, which architecture learns the most on Tiny
Shakespeare? Every architecture of ours, a plain transformer with the same attention span, and
the public implementations of the same papers ([peers](../benchmark/peers.py)) are trained by
the shared trainer with the same sizes, batch and schedule, under two budgets:

* **equal steps**: `steps` optimiser steps each, so every model sees the same characters;
* **equal wall time**: `seconds` of training each. So that every model ends its learning-rate
  schedule when its time ends, its step count is set from its own speed in the equal-step run,
  $\mathrm{round}(\text{steps} \cdot T / t)$ for a budget $T$ and an equal-step wall time $t$,
  and the trainer's `time_budget` $= T$ stops it at $T$ if the machine slowed down meanwhile.

```
python -m labml_memory.studies run quality_peers                    # every run not yet recorded
python -m labml_memory.studies run quality_peers peers= seeds=0,1,2 # ours only, three seeds
python -m labml_memory.studies report quality_peers                 # the page from the records
```

Each (model, seed) is one run and one record, `docs/results/quality_peers/records/<model>_seed<s>.json`,
holding both budgets. A run is keyed by model and seed only: to measure again at other steps
or another time budget, move the records to `history/<why>/` first, or they are found and
kept. A model that cannot be built is a record too, with its error, so the page can say why
its row is empty; a peer whose package does not import is shown as *not run: the package does
not install here*, never as the exception.

**The budget in time is declared, not measured.** The page's records were made when the
budget was the median of the equal-step wall times of the same invocation (38 s on the
two-core CPU machine, with 150 steps); a run now takes `seconds` from its settings, declared
before it starts, so each run stands on its own. On another machine set `seconds` near the
equal-step wall times it prints. The equal-time comparison depends on the machine staying as
busy as during the equal-step runs, so it is noisier than the equal-step one: run it on an
otherwise idle machine, never beside another timed job.

## The models

The plain transformer is Transformer-XL with no memory (`mem_len=0`) reading segments twice
as long (128 characters) with half the streams (8): each of its queries sees up to 128
characters back, as the last query of a memory model's segment does (64 memory + 64 segment),
and it reads the same number of characters per step. Dropout is off for every model: a few
hundred steps do not overfit, and the peers have none. The [equal-compute study](quality.py)
builds its models through the same `config_for` and `builder`, so the two pages describe the
same models.
"""
import importlib
import statistics
import tempfile
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, List

from labml_memory.benchmark.peers import PEERS, PeerUnavailable, Sizes, build_peer
from labml_memory.studies import stats
from labml_memory.studies import plots
from labml_memory.studies.runner import (Convention, Page, Records, Run, Study, tally,
                                          why_not_run)

NAME = 'quality_peers'
BASELINE = 'plain transformer'
# The benchmark's sizes, so the pages describe the same models; 16 streams keep a step
# short enough for the whole study to fit in about a quarter of an hour on two cores.
SIZES = Sizes(batch_size=16)
# The trainer's settings every run shares (beyond the sizes): a short warm-up for a short
# run, no periodic validation or checkpoints (only the final ones), no sample, one thread
# (on a shared machine more threads make every run slower, see the benchmark page), and a
# final validation on a fixed slice of the held-out text so every model reads the same
# number of characters.
COMMON = dict(lr=2e-3, warmup=10, eval_every=10_000, checkpoint_every=10_000, sample_len=0,
              final_eval_segments=24, threads=1, device='cpu', log_every=10)


# ## Which models there are
#
# Ours are found by the project's registry convention: a package `labml_memory.<name>` with an
# `experiment` module. The file is looked for rather than imported, so listing the models
# (for a plan, or a settings check) loads none of them.
def ours() -> List[str]:
    import labml_memory
    root = Path(labml_memory.__path__[0])
    return sorted(p.parent.name for p in root.glob('*/experiment.py'))


# A record's file name has no spaces: the plain transformer's key is `plain_transformer`, and
# the settings accept either spelling.
def file_name(name: str) -> str:
    return name.replace(' ', '_')


def name_of(word: str) -> str:
    return BASELINE if word in (BASELINE, file_name(BASELINE)) else word


# ## Building a model at the shared sizes
#
# A model that learns its memory only by back-propagation across segments (the Recurrent
# Memory Transformer: its write tokens appear in no loss of their own segment) trains with the
# `unroll` of its CPU preset, and so does a peer of it. Reading `unroll` segments per step, it
# gets `1 / unroll` of the streams, so every model still reads the same characters per step.
def unroll_for(name: str) -> int:
    module = PEERS[name].implements if name in PEERS else 'transformer_xl' if name == BASELINE else name
    experiment = importlib.import_module(f'labml_memory.{module}.experiment')
    return int(experiment.PRESETS['cpu'].get('unroll', getattr(experiment.Config, 'unroll', 1)))


# The shared sizes as one architecture's settings: only the fields its `Config` declares.
# The memory-depth study sets every layer's memory from its own lengths and refuses a
# `mem_len`, so it gets the shared length as its `long_mem_len` alone.
def _sized(config_cls) -> Dict[str, Any]:
    wanted = dict(d_model=SIZES.d_model, heads=SIZES.heads, n_layers=SIZES.n_layers, d_ff=SIZES.d_ff,
                  seq_len=SIZES.seq_len, batch_size=SIZES.batch_size, mem_len=SIZES.mem_len,
                  eval_mem_len=SIZES.mem_len, long_mem_len=SIZES.mem_len,
                  compressed_len=SIZES.compressed_len, compression_rate=SIZES.compression_rate,
                  n_mem=SIZES.n_mem, mem_size=SIZES.knn_size, top_k=SIZES.top_k, dropout=0.0)
    known = {f.name for f in fields(config_cls)}
    if 'long_mem_len' in known:
        wanted.pop('mem_len')
        wanted.pop('eval_mem_len')
    return {k: v for k, v in wanted.items() if k in known}


# Ours and the baseline go through their experiment's `build_config` (the `cpu` preset, then
# the shared sizes on top); a peer trains under the trainer's own settings.
def config_for(name: str, overrides: Dict[str, Any]):
    from labml_memory.training.config import TrainConfig, build_config
    unroll = unroll_for(name)
    shared = dict(unroll=unroll, batch_size=max(1, SIZES.batch_size // unroll))
    if name in PEERS:
        return build_config(TrainConfig, {'cpu': {}}, {
            'seq_len': SIZES.seq_len, **shared, **COMMON, **overrides})
    module = 'transformer_xl' if name == BASELINE else name
    experiment = importlib.import_module(f'labml_memory.{module}.experiment')
    values = {**_sized(experiment.Config), **shared, **COMMON, **overrides}
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
    return importlib.import_module(f'labml_memory.{module}.experiment').build_model


# ## Settings
#
# Peers are in by default (`peers=` leaves them out). The margin is the equivalence margin of
# the page's verdicts, in nats per character, declared with the runs.
@dataclass
class Settings:
    architectures: List[str] = field(default_factory=lambda: ours() + [file_name(BASELINE)])
    peers: List[str] = field(default_factory=lambda: list(PEERS))
    seeds: List[int] = field(default_factory=lambda: [0])
    steps: int = 150
    seconds: float = 38.0
    margin: float = 0.01

    def validate(self) -> None:
        valid = ours() + [file_name(BASELINE)]
        unknown = [a for a in self.architectures if name_of(a) not in ours() + [BASELINE]]
        if unknown:
            raise ValueError(f"architectures: unknown {unknown}; valid: {', '.join(valid)}")
        unknown = [p for p in self.peers if p not in PEERS]
        if unknown:
            raise ValueError(f"peers: unknown {unknown}; valid: {', '.join(PEERS)}")
        if not self.seeds or self.steps < 1 or self.seconds <= 0:
            raise ValueError(f"need at least one seed, steps >= 1 and seconds > 0; got seeds={self.seeds}, "
                             f"steps={self.steps}, seconds={self.seconds}")
        if self.margin < 0:
            raise ValueError(f"margin is a size in nats per character, got {self.margin}")


# Seeds outside, models inside: two workers finish seed 0 of every model before seed 1.
def plan(settings: Settings) -> List[Run]:
    names = [name_of(a) for a in settings.architectures] + list(settings.peers)
    return [Run(f'{file_name(name)}_seed{seed}',
                {'name': name, 'seed': seed, 'steps': settings.steps, 'seconds': settings.seconds,
                 'margin': settings.margin})
            for seed in settings.seeds for name in names]


# ## One run, both budgets
#
# What the page needs from a training run is the final validation loss, the steps done, the
# wall time, the training curve and the state size. The labml logs go to a temporary folder:
# these runs are the page's, not the user's.
def run_one(name: str, logs: str, **overrides) -> Dict[str, Any]:
    from labml_memory.training import train
    config = config_for(name, {'logs_dir': logs, **overrides})
    started = time.time()
    result = train(config, builder(name), 'quality_' + file_name(name))
    return {'valid_loss': result.final_valid_loss, 'steps': result.final_step,
            'wall_time': result.wall_time, 'curve': result.train_losses,
            'state_bytes': result.memory_bytes // max(config.batch_size, 1),
            'total_seconds': time.time() - started}


# A model that fails to build or train (a peer not installed, an architecture being
# rewritten) becomes a record with its error rather than a crash: the others still run, and
# the page says why the row is empty.
def execute(run: Run) -> Dict[str, Any]:
    s = run.settings
    logs = tempfile.mkdtemp(prefix='quality_peers_')
    record: Dict[str, Any] = {'name': s['name'], 'seed': s['seed']}
    try:
        record['steps_run'] = run_one(s['name'], logs, steps=s['steps'], seed=s['seed'])
    except Exception as error:  # a missing package or a half-written architecture is a row
        print(f"   {s['name']} not run: {type(error).__name__}: {error}", flush=True)
        return {**record, 'error': f'{type(error).__name__}: {error}'}
    steps = max(1, round(s['steps'] * s['seconds'] / record['steps_run']['wall_time']))
    print(f"== {s['name']}: {s['seconds']:.0f} s (planned {steps} steps)", flush=True)
    record.update(budget_seconds=s['seconds'], budget_rule='declared in the settings before the runs')
    try:
        record['time_run'] = run_one(s['name'], logs, steps=steps, time_budget=s['seconds'], seed=s['seed'])
    except Exception as error:
        record['error'] = f'equal-time run: {type(error).__name__}: {error}'
    return record


# ## Why a row is empty, in words
#
# The record keeps the exception as it was raised; the page says what it means, in the words
# every results page uses ([the runner](runner.py)): a peer's package that does not import
# (`PeerUnavailable: ... does not import: ...`) is a package that does not install here; a peer
# that refuses the shared sizes says so; anything else is a failure whose error is in the record.
def not_run(error: str) -> str:
    if error.startswith(f'{PeerUnavailable.__name__}:') and 'does not import' not in error:
        return 'not run: the package cannot express the shared sizes'
    return why_not_run(error)


# ## Reading the records
#
# Rows in the page's order: ours by name, the plain transformer, then the peers in the
# registry's order; the rows that did not run last. A row is every seed of one model.
def rows_of(records: Records) -> Dict[str, List[Dict[str, Any]]]:
    rows: Dict[str, List[Dict[str, Any]]] = {}
    for record in records:
        rows.setdefault(record['name'], []).append(record)
    peers = list(PEERS)

    def order(name: str):
        failed = any('error' in r for r in rows[name])
        kind = 2 if name in PEERS else 1 if name == BASELINE else 0
        return failed, kind, peers.index(name) if name in PEERS else 0, name
    return {name: sorted(rows[name], key=lambda r: r['seed']) for name in sorted(rows, key=order)}


# A value that every record must share: a page's verdicts have one margin.
def shared(records: Records, key: str) -> Any:
    values = {record['run'][key] for record in records}
    if len(values) != 1:
        raise ValueError(f"{NAME}: the records disagree on {key} ({sorted(values)}); move the older "
                         f"ones to history/<why>/ before reporting")
    return values.pop()


# ## The figures
#
# The training curves at equal steps are small multiples: one panel per paper with ours and
# the peers that ran (ours solid, the peers dashed, each its own colour and marker), one panel
# for ours that have no peer that ran, and the plain transformer in grey in every panel; each
# curve is the mean over seeds step by step, with a short moving average. The second figure
# gives both validation losses of every entry as dots on one line per entry, not bars: a bar's
# length reads as its value, and bars cut at 2.0 would make gaps of hundredths look two-fold.
def panels_of(done: Dict[str, List[Dict[str, Any]]]) -> List[tuple]:
    ours_names = [n for n in done if n not in PEERS and n != BASELINE]
    panels, alone = [], []
    for name in ours_names:
        peers = [p for p in done if p in PEERS and PEERS[p].implements == name]
        (panels.append((name, [name, *peers])) if peers else alone.append(name))
    if alone:
        panels.append(('ours without a peer that ran', alone))
    return panels


def draw(done: Dict[str, List[Dict[str, Any]]], steps: int, path: Path, losses_path: Path = None) -> None:
    plt = plots.pyplot()

    def curve(rs):
        logged = sorted(set.intersection(*[set(r['steps_run']['curve']) for r in rs]), key=int)
        losses = [statistics.mean(r['steps_run']['curve'][s] for r in rs) for s in logged]
        k = 5  # a short moving average: single steps of 16 streams are noisy
        return [int(s) for s in logged], [statistics.mean(losses[max(0, j - k + 1):j + 1]) for j in range(len(losses))]
    panels = panels_of(done)
    fig, axes, _ = plots.grid(plt, len(panels), 3, width=9.0, row_height=2.4, sharex=True, sharey=True)
    # The first steps fall from 4.4 for every model alike; from step 20 on the curves part,
    # so the axis starts there rather than at the common start.
    later = []
    for ax, (title, names) in zip(axes, panels):
        if BASELINE in done:
            x, y = curve(done[BASELINE])
            ax.plot(x, y, color=plots.GREY, linestyle='--', linewidth=1, marker='x', markevery=max(1, len(x) // 5),
                    markersize=4)
        for i, name in enumerate(names):
            x, y = curve(done[name])
            later += [v for xi, v in zip(x, y) if xi >= 20]
            ax.plot(x, y, linestyle='--' if name in PEERS else '-', markevery=max(1, len(x) // 5), markersize=4,
                    label=name, **plots.series(i))
        ax.set_title(title)
        ax.grid(alpha=0.3)
    if later:
        axes[0].set_ylim(min(later) - 0.05, max(later) + 0.05)
        axes[0].set_xlim(left=15)
    plots.label_grid(axes, 3, 'step', 'training loss (nats/char)')
    for ax in axes:
        plots.legend_under(ax, ncol=1)
    fig.suptitle(f'Training loss at equal steps ({steps}), moving average of 5 steps: ours solid, the peers '
                 f'dashed,\nthe {BASELINE} grey in every panel')
    plots.save(fig, path)
    if losses_path is not None:
        draw_losses(done, losses_path)


def draw_losses(done: Dict[str, List[Dict[str, Any]]], path: Path) -> None:
    plt = plots.pyplot()
    fig, right = plt.subplots(figsize=(6.4, 0.3 * len(done) + 1.8), layout='constrained')
    y = list(range(len(done)))[::-1]
    for yi, rs in zip(y, done.values()):
        for r in rs:
            right.plot([r['steps_run']['valid_loss'], r['time_run']['valid_loss']], [yi, yi],
                       color='0.7', linewidth=1, zorder=1)
    for phase, marker, colour, label in (('steps_run', 'o', 'C0', 'equal steps'),
                                         ('time_run', 'D', 'C1', 'equal wall time')):
        xs = [r[phase]['valid_loss'] for rs in done.values() for r in rs]
        ys = [yi for yi, rs in zip(y, done.values()) for _ in rs]
        right.scatter(xs, ys, marker=marker, color=colour, label=label, zorder=2)
    right.set_yticks(y, list(done))
    right.set_xlabel('validation loss (nats/char; the axis spans the data)')
    right.set_title('Validation loss at equal budget (left is better)')
    right.grid(axis='x', alpha=0.3)
    plots.legend_below(fig, ncol=2)
    plots.save(fig, path)


# ## The verdicts
#
# Each peer is set against our model of the same paper at equal steps, seed by seed: every
# comparison of the page in one call, so Holm's correction covers them all. A peer has the
# advantage in memory only if it carries less state *and* its loss is shown no worse (tied
# within the margin, or ahead).
def peer_pairs(done: Dict[str, List[Dict[str, Any]]]) -> Dict[str, tuple]:
    def loss(rs):
        return stats.by_seed(rs, lambda r: r['steps_run']['valid_loss'])
    return {name: (loss(rs), loss(done[PEERS[name].implements]))
            for name, rs in done.items() if name in PEERS and PEERS[name].implements in done}


def verdicts(done: Dict[str, List[Dict[str, Any]]], margin: float) -> Dict[str, stats.Verdict]:
    pairs = peer_pairs(done)
    return stats.compare(pairs, margin, lower_is_better=True) if pairs else {}


def _mean(rs: List[Dict[str, Any]], phase: str, key: str) -> float:
    return statistics.mean(r[phase][key] for r in rs)


def _machine_line(every: List[Dict[str, Any]]) -> str:
    machines = sorted({(m['cpu'], m['cores'], m['torch']) for m in (r['machine'] for r in every)})
    loads = sorted({r['machine'].get('load', '') for r in every} - {''})
    busiest = max((float(load.split(',')[0]) for load in loads), default=0.0)
    load = (f"load average {loads[0]}" if len(loads) == 1 else
            f"one-minute load average {min(float(x.split(',')[0]) for x in loads):.1f} to {busiest:.1f}")
    return ('; '.join(f"{cpu}, {cores} cores, one PyTorch thread per run, PyTorch {torch}"
                      for cpu, cores, torch in machines)
            + f"; {load} as the runs ended ("
            + ('one run at a time and nothing else' if busiest < 1.5 else
               'shared with other jobs, so wall times are inflated')
            + '); the equal-time column is noisier than the equal-step one.')


# Superseded records are named, never read as results: the folder that says why, and how
# many runs it holds.
def history_lines(records: Records) -> List[str]:
    history = getattr(records, 'history', {})
    return (["* **History:** superseded records, not shown above: " + '; '.join(
        f"`history/{why}/` ({len(runs)} run{'s' if len(runs) != 1 else ''})" for why, runs in history.items())] if history else [])


# ## The page
#
# It stands alone: the question, the figure, the table with its columns defined, the check
# against the peers with its verdicts, then how the numbers were made.
def report(records: Records, out: Path) -> Dict[str, Page]:
    out = Path(out)
    rows = rows_of(records)
    done = {name: rs for name, rs in rows.items() if not any('error' in r for r in rs)}
    steps, margin = shared(records, 'steps'), shared(records, 'margin')
    figure, losses = f'{NAME}/{NAME}.png', f'{NAME}/{NAME}_loss.png'
    if done:
        draw(done, steps, out / figure, out / losses)
    every = [r for rs in rows.values() for r in rs]
    seeds = sorted({r['seed'] for r in every})
    one_seed = all(len(rs) == 1 for rs in done.values())
    lines = [('At this budget (minutes on a CPU) every model is early in training'
              + (', and each point is one seed: one seed has no spread, so no difference between two '
                 'entries can be resolved (the verdicts below say *not resolved*); `seeds=0,1,2` would '
                 'give each an interval.' if one_seed else '.')), '',
             '## Every entry', '',
             '| model | validation loss, equal steps | wall time (s) | validation loss, equal time | '
             'steps in that time | state per stream (bytes) |', '|---|---:|---:|---:|---:|---:|']
    for name, rs in rows.items():
        if name not in done:
            lines.append(f"| {name} | {not_run(next(r['error'] for r in rs if 'error' in r))} | | | | |")
            continue
        lines.append(f"| {name} | {stats.cell([r['steps_run']['valid_loss'] for r in rs], 4)} | "
                     f"{_mean(rs, 'steps_run', 'wall_time'):.0f} | "
                     f"{stats.cell([r['time_run']['valid_loss'] for r in rs], 4)} | "
                     f"{stats.cell([r['time_run']['steps'] for r in rs], 0)} | "
                     f"{rs[0]['steps_run']['state_bytes']:,} |")
    first = next((rs[0] for rs in done.values()), {})
    budget = first.get('budget_seconds')
    missing = {name: rs for name, rs in rows.items() if name not in done}
    lines += ['', '* **model**: ours by architecture name; the peers by their adapter\'s name; the '
              f'{BASELINE} is Transformer-XL without memory (`mem_len=0`) on segments of '
              f'{2 * SIZES.seq_len} characters with {SIZES.batch_size // 2} streams, so a query sees at '
              'most as far back as the last query of a memory model\'s segment and each step reads '
              'the same characters.',
              f'* **validation loss**: nats per character on the first {COMMON["final_eval_segments"]} '
              'segments of the held-out text, from a fresh memory; **equal steps** after '
              f'{steps} steps each, **equal time** after the same wall time each'
              + (f" ({budget:.0f} s, {first.get('budget_rule', 'declared in the settings')}; each "
                 "model's schedule sized from its own speed)" if budget else '') + '.',
              '* **wall time**: seconds of the equal-step run.',
              '* **steps in that time**: steps the model managed within the equal wall time.',
              '* **state per stream**: bytes the model carries from one segment to the next for one '
              'stream.']
    # The rows that did not run, grouped by their reason, each with the package it needs.
    reasons: Dict[str, List[str]] = {}
    for name, rs in missing.items():
        reasons.setdefault(not_run(next(r['error'] for r in rs if 'error' in r)), []).append(
            name + (f" (`{PEERS[name].package}`)" if name in PEERS else ''))
    if reasons:
        lines.append('* ' + '; '.join(f"**{why}** for {', '.join(names)}" for why, names in reasons.items())
                     + '. Each record keeps the error as it was raised.')
    # The ranking in words, from the numbers of the table, so the page never contradicts it:
    # the headline.
    headline = 'No entry ran.'
    if done:
        best_steps = min(done, key=lambda n: _mean(done[n], 'steps_run', 'valid_loss'))
        best_time = min(done, key=lambda n: _mean(done[n], 'time_run', 'valid_loss'))
        headline = (f"Lowest validation loss at equal steps: **{best_steps}** "
                    f"({_mean(done[best_steps], 'steps_run', 'valid_loss'):.4f}); at equal wall time: "
                    f"**{best_time}** ({_mean(done[best_time], 'time_run', 'valid_loss'):.4f}).")
    found = verdicts(done, margin)
    if found:
        headline += f" Each peer against ours of the same paper: {tally(found)}."
    # The rows with no numbers, by reason: "a and b were not run: the package does not install here".
    by_reason: Dict[str, List[str]] = {}
    for name, rs in missing.items():
        by_reason.setdefault(not_run(next(r['error'] for r in rs if 'error' in r)), []).append(name)
    for why, names in by_reason.items():
        verb, _, reason = why.partition(': ')
        listed = ', '.join(names[:-1]) + ' and ' + names[-1] if len(names) > 1 else names[0]
        said = f"{'was' if len(names) == 1 else 'were'} not run" if verb == 'not run' else verb
        headline += f" {listed} {said}: {reason}."

    if found:
        lines += ['', '## Memory at equal loss (equal steps)', '']
        for name, verdict in found.items():
            ours_name = PEERS[name].implements
            peer, mine = done[name], done[ours_name]
            state_peer, state_ours = peer[0]['steps_run']['state_bytes'], mine[0]['steps_run']['state_bytes']
            wins = state_peer < state_ours and verdict.verdict in (stats.TIE, stats.AHEAD)
            lines.append(f"* `{name}` against our `{ours_name}`: loss "
                         f"{_mean(peer, 'steps_run', 'valid_loss'):.4f} vs "
                         f"{_mean(mine, 'steps_run', 'valid_loss'):.4f}, {verdict.text(3)}; state "
                         f"{state_peer:,} vs {state_ours:,} bytes per stream: "
                         + ('**the peer is at least as good with less memory**.' if wins else
                            'no peer advantage in memory at this loss.'))
        if any(r.get('converted') for r in every):
            lines += ['', 'For these records the margin was set when they were converted to the study '
                      'runner, after the runs.']
    total = sum(r['steps_run']['wall_time'] + r.get('time_run', {}).get('wall_time', 0)
                for rs in done.values() for r in rs)
    commands = list(dict.fromkeys(r['command'] for r in every))
    dates = sorted({r['machine']['date'] for r in every})
    made = ['```', *commands, '```', '',
              f'* **Machine:** {_machine_line(every)}',
              f"* **Date:** {dates[0] if len(dates) == 1 else f'{dates[0]} to {dates[-1]}'}",
              f"* **Seeds:** {', '.join(map(str, seeds))} for every run "
              + ('(one seed each)' if len(seeds) == 1 else f'({len(seeds)} seeds each)'),
              f'* **Wall time:** {total:,.0f} s of training in all, both phases',
              f'* **Sizes:** {SIZES.n_layers} layers, $d = {SIZES.d_model}$, {SIZES.heads} heads, '
              f'feed-forward {SIZES.d_ff}, segments of $L = {SIZES.seq_len}$ characters, memory '
              f'$M = {SIZES.mem_len}$, {SIZES.batch_size} streams, peak learning rate {COMMON["lr"]}.',
              *([f'* **Records:** made by the command above before the study runner, one row of its '
                 f'output each, and converted to its layout; `{STUDY.run_command}` makes the same runs, '
                 'with the equal-time budget declared as `seconds` rather than taken from the '
                 'equal-step runs.'] if any(r.get('converted') for r in every) else []),
              f'* **Redraw this page:** `{STUDY.report_command}` (reads the records under '
              f'`docs/results/{NAME}/records/`, trains nothing). For a longer look, move the records to '
              f'`history/<why>/` and run `{STUDY.run_command} steps=1000 seeds=0,1,2`.']
    made += history_lines(records)
    return {f'{NAME}.md': Page(
        title='Quality at equal budget: ours beside the public implementations',
        verdict=('**Given the same characters, or the same minutes, which architecture learns the most?** '
                 + headline),
        figures=[(figure, 'Training curves at equal steps, one panel per paper'),
                 (losses, 'Validation loss at equal steps and equal time')] if done else [],
        about=('Every architecture, a plain transformer with the same attention span, and the public '
               'implementations of the same papers are trained on Tiny Shakespeare by the shared '
               'trainer with the same sizes, batch and schedule. Throughput, memory and inference '
               'cost are on the [benchmark](benchmark.md) page. This is a short look at '
               + ('one seed' if one_seed else f'{len(seeds)} seeds')
               + ', to set ours beside the peers; the three-seed comparison past the early phase, at '
               'equal counted compute, is the [quality](quality.md) page.'),
        convention=Convention('' if one_seed else
                              'A table cell is the mean over seeds, with the lowest and highest seed in '
                              'small type under it.', len(found), margin, ' nats/char',
                              example=next(iter(found.values())).text(3) if found else ''),
        body=lines, made=made)}




STUDY = Study(NAME, 'How do ours compare with the public implementations of the same papers, at equal '
                    'steps and equal time?',
              Settings, plan, execute, report, pages=[f'{NAME}.md'], seeds='1')
