r"""
# The pages of the equal-compute study, from its records

`python experiments/quality_at_equal_compute.py report` calls `write`, which reads every
`<name>_seed<s>.json` under the records folder and writes two pages beside it:

* `quality.md` and `quality.png`: validation loss at equal compute, mean and range over seeds,
  learning curves against counted operations with their seed bands;
* `context.md` and `context.png`: loss against the history a model may use, against a longer
  evaluation memory, and by position inside the segment; the effective context lengths.

Nothing here trains or evaluates a model, so a page can be rewritten at any time, and what
it says is worked out from the numbers (which model is lowest, which gaps exceed the seeds'
spread), so the text cannot drift from the table.
"""
import json
import statistics
from pathlib import Path
from typing import Dict, List

from labml_memory.studies.reading import cell, separated

BASELINE = 'plain transformer'
# The relative gain below which more context "no longer helps" (Khandelwal et al. and the
# Transformer-XL paper's threshold $r$; see the context page).
R = 0.01


def load(records: Path) -> Dict[str, List[Dict]]:
    runs: Dict[str, List[Dict]] = {}
    for path in sorted(records.glob('*_seed*.json')):
        record = json.loads(path.read_text())
        runs.setdefault(record['name'], []).append(record)
    if not runs:
        raise SystemExit(f"no records (<name>_seed<s>.json) under {records}; run the study first")
    for name in runs:
        runs[name].sort(key=lambda r: r['seed'])
    # Ours by name, then the plain transformer last, as on every other page.
    return dict(sorted(runs.items(), key=lambda kv: (kv[0] == BASELINE, kv[0])))


# The headline loss: every model scored on the same characters (segments 8 to 31 of the 16
# evaluation streams) with its whole history, see the study's module.
def headline(record: Dict) -> float:
    return record['context']['histories']['all']


# ## Effective context
#
# The history grid $h$ (segments before the scored one) in characters: $h L$.
def grid(record: Dict) -> List[str]:
    return [h for h in record['context']['histories'] if h != 'all']


# ECL of one model: the shortest history $h$ such that no longer history measured lowers the
# loss by a fraction $r$ or more of the loss at $h$.
def ecl(record: Dict, r: float = R) -> int:
    hs = grid(record)
    losses = record['context']['histories']
    for i, h in enumerate(hs):
        longer = [losses[k] for k in hs[i + 1:]] + [losses['all']]
        if all(losses[h] - v < r * losses[h] for v in longer):
            return int(h)
    return int(hs[-1])


# RECL, the Transformer-XL paper's relative version: the gain of going from $h$ to the next
# history is measured against the *best loss any model of the group reaches at $h$*, so a
# model that is poor with short context does not earn a long effective context by
# recovering what the others never lost. The smallest $h$ at which model $m$'s loss with the
# next longer history is not a fraction $r$ below the group's best at $h$.
def recl(record: Dict, group_best: Dict[str, float], r: float = R) -> int:
    hs = grid(record)
    losses = record['context']['histories']
    for h, nxt in zip(hs, hs[1:]):
        if (group_best[h] - losses[nxt]) / group_best[h] < r:
            return int(h)
    return int(hs[-1])


# A range over seeds, or its one value when every seed agrees.
def extent(values: List[int]) -> str:
    return str(values[0]) if min(values) == max(values) else f"{min(values)}–{max(values)}"


def seeds_of(runs: Dict[str, List[Dict]]) -> str:
    counts = sorted({len(rs) for rs in runs.values()})
    return '–'.join(map(str, counts)) if len(counts) > 1 else str(counts[0])


def machine_line(records: List[Dict]) -> str:
    m = records[0]['machine']
    return (f"{m['cpu']}, {m['cores']} cores, one PyTorch thread per run and two runs at a time, "
            f"PyTorch {m['torch']}")


def provenance(runs: Dict[str, List[Dict]]) -> List[str]:
    every = [r for rs in runs.values() for r in rs]
    dates = sorted(r['machine']['date'] for r in every)
    seeds = sorted({r['seed'] for r in every})
    train = sum(r['train_seconds'] for r in every)
    evaluate = sum(r['eval_seconds'] for r in every)
    return ['```', every[0]['command'].strip(), 'python experiments/quality_at_equal_compute.py report', '```', '',
            f'* **Machine:** {machine_line(every)}.',
            f'* **Date:** {dates[0]} to {dates[-1]}',
            f'* **Seeds:** {", ".join(map(str, seeds))} for every model ({len(every)} runs)',
            f'* **Wall time:** {train:,.0f} s of training and {evaluate:,.0f} s of evaluation in all '
            f'({(train + evaluate) / 3600:.1f} h of one core).',
            f'* **Run ids:** in each record (`run_uuid`), with the full-precision losses and the '
            f'learning curve: `docs/results/quality/<name>_seed<s>.json`.']


# ## The quality page
def quality_page(runs: Dict[str, List[Dict]], out: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    colours = [f'C{i}' for i in range(10)]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.6), gridspec_kw={'width_ratios': [1.3, 1]})
    names = list(runs)
    for i, (name, rs) in enumerate(runs.items()):
        # Curves against counted operations: steps × operations per step, in units of
        # $10^{12}$. Every seed logs the same steps, so the band is taken step by step.
        steps = sorted(set.intersection(*[set(r['curve']) for r in rs]), key=int)
        smooth = []
        for r in rs:
            values = [r['curve'][s] for s in steps]
            k = 30  # a moving average over 30 logged points (300 steps): single steps are noisy
            smooth.append([statistics.mean(values[max(0, j - k + 1):j + 1]) for j in range(len(values))])
        x = [int(s) * rs[0]['flops_per_step'] / 1e12 for s in steps]
        mean = [statistics.mean(v) for v in zip(*smooth)]
        style = '--' if name == BASELINE else '-'
        left.plot(x, mean, style, color=colours[i % 10], label=name, linewidth=1.2)
        left.fill_between(x, [min(v) for v in zip(*smooth)], [max(v) for v in zip(*smooth)],
                          color=colours[i % 10], alpha=0.2, linewidth=0)
    left.set_ylim(1.4, 2.1)
    left.set_xlabel('training operations (10¹² FLOPs, counted)')
    left.set_ylabel('training loss (nats/char, mean of the last 300 steps)')
    left.set_title('Learning curves: mean and min–max over seeds')
    left.grid(alpha=0.3)
    left.legend(fontsize=7)
    y = list(range(len(names)))[::-1]
    for yi, (i, name) in zip(y, enumerate(names)):
        values = [headline(r) for r in runs[name]]
        right.plot([min(values), max(values)], [yi, yi], color=colours[i % 10], linewidth=3, alpha=0.5)
        right.scatter(values, [yi] * len(values), color=colours[i % 10], s=14, zorder=3)
        right.scatter([statistics.mean(values)], [yi], color='black', marker='|', s=120, zorder=4)
    right.axvline(1.75, color='0.5', linestyle=':', linewidth=1)
    right.set_yticks(y, names, fontsize=8)
    right.set_xlabel('validation loss (nats/char): each seed a dot, | the mean')
    right.set_title('At equal compute (left is better)')
    right.grid(axis='x', alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / 'quality.png', dpi=110)
    plt.close(fig)

    base = [headline(r) for r in runs.get(BASELINE, [])]
    first = next(iter(runs.values()))[0]
    lines = ['# Quality at equal compute', '',
             'Given the same training compute, which architecture learns the most on Tiny '
             'Shakespeare? Every architecture and a plain transformer with the same attention span '
             'train for as many steps as the same budget of counted operations allows, '
             f'{seeds_of(runs)} seeds each, and are scored on the same held-out characters.', '',
             '![Learning curves against counted operations, and validation loss of every seed](quality.png)', '',
             '| model | steps | operations per step (10⁹) | parameters | state per stream (bytes) | '
             'validation loss, mean<br><small>min–max</small> | against the plain transformer |',
             '|---|---:|---:|---:|---:|---:|---|']
    readings = []
    for name, rs in runs.items():
        values = [headline(r) for r in rs]
        if name == BASELINE or not base:
            verdict = '(the reference)' if name == BASELINE else ''
        else:
            gap = statistics.mean(values) - statistics.mean(base)
            verdict = (f"{gap:+.3f}, " + ('beyond the seeds\' spread' if separated(values, base)
                                          else 'within the seeds\' spread'))
            readings.append((name, gap, separated(values, base)))
        lines.append(f"| {name} | {rs[0]['steps']:,} | {rs[0]['flops_per_step'] / 1e9:.2f} | "
                     f"{rs[0]['parameters']:,} | {rs[0]['state_bytes']:,} | {cell(values, 4)} | {verdict} |")
    lines += ['',
              '* **steps**: the budget divided by the model\'s operations per step, rounded; the budget is '
              f"the plain transformer's {first['reference_steps']:,} steps, "
              f"{first['budget_flops'] / 1e12:.1f} × 10¹² operations.",
              '* **operations per step**: counted by `torch.utils.flop_counter.FlopCounterMode` over one '
              'training step (forward and backward, memory full): matrix products, attention and '
              'convolutions. Element-wise work, the optimiser and top-$k$ selection are not counted.',
              '* **state per stream**: the bytes a model carries from one segment to the next for one stream.',
              '* **validation loss**: nats per character on the same characters for every model (segments 8 '
              'to 31 of the held-out text cut into 16 streams of 64, 24,576 characters), each model with '
              'its whole history; the plain transformer reads every scored segment with the 64 characters '
              'before it in its window of 128. (The trainer\'s own final validation, `valid_loss` in each '
              'record, cuts the held-out text into as many streams as the model trains with, so the '
              'plain transformer\'s 8 streams of 128 read other characters than the 16 of 64 of the rest; '
              'it is kept in the records, not compared here.)',
              '* **against the plain transformer**: the difference of the means; *beyond the seeds\' spread* '
              'when the two ranges of three seeds do not overlap.', '']
    ranked = sorted(runs, key=lambda n: statistics.mean(headline(r) for r in runs[n]))
    worst = max(max(headline(r) for r in rs) for rs in runs.values())
    lines += ['## Reading', '',
              f"* Lowest mean loss: **{ranked[0]}** "
              f"({statistics.mean(headline(r) for r in runs[ranked[0]]):.4f}); highest: **{ranked[-1]}** "
              f"({statistics.mean(headline(r) for r in runs[ranked[-1]]):.4f}). "
              + (f"Every seed of every model is below 1.75 nats/char (the worst is {worst:.4f})."
                 if worst < 1.75 else f"Not every seed is below 1.75 nats/char: the worst is {worst:.4f}.")]
    better = [f"{n} ({g:+.3f})" for n, g, s in readings if s and g < 0]
    worse = [f"{n} ({g:+.3f})" for n, g, s in readings if s and g > 0]
    tied = [f"{n} ({g:+.3f})" for n, g, s in readings if not s]
    if better:
        lines.append(f"* Better than the plain transformer beyond the seeds' spread: {', '.join(better)}.")
    if worse:
        lines.append(f"* Worse than the plain transformer beyond the seeds' spread: {', '.join(worse)}.")
    if tied:
        lines.append(f"* Within the seeds' spread of the plain transformer: {', '.join(tied)}.")
    # Against Transformer-XL as well: the memory every other architecture here builds on.
    if 'transformer_xl' in runs:
        xl = [headline(r) for r in runs['transformer_xl']]
        groups = {'better': [], 'worse': [], 'within': []}
        for name, rs in runs.items():
            if name in ('transformer_xl', BASELINE):
                continue
            values = [headline(r) for r in rs]
            gap = statistics.mean(values) - statistics.mean(xl)
            key = 'within' if not separated(values, xl) else ('better' if gap < 0 else 'worse')
            groups[key].append(f"{name} ({gap:+.3f})")
        lines.append("* Against Transformer-XL, the memory the others build on: better beyond the seeds' "
                     f"spread: {', '.join(groups['better']) or 'none'}; worse: {', '.join(groups['worse']) or 'none'}; "
                     f"within the spread: {', '.join(groups['within']) or 'none'}.")
    if BASELINE in runs:
        ref = runs[BASELINE][0]['steps']
        fewer = [f"{n} {rs[0]['steps'] / ref:.2f}×" for n, rs in runs.items() if n != BASELINE]
        lines.append('* At equal compute a model that costs more per step sees fewer characters. Steps '
                     'against the plain transformer\'s: ' + ', '.join(fewer) + '.')
    lines += [
              '* Whether the memories are used at all is measured on the [context page](context.md).',
              '* The one-seed comparison with the public implementations (same sizes, 150 steps) is '
              'on the [peers page](quality_peers.md).', '',
              '## How these numbers were made', ''] + provenance(runs) + [
              '* **Sizes:** 4 layers, $d = 128$, 4 heads, feed-forward 512, segments of $L = 64$, memory '
              '$M = 64$, 16 streams (the plain transformer 8 of 128), dropout off, peak learning rate '
              '0.002, warm-up 60 steps, cosine decay to the last step; each architecture\'s other '
              'settings from its CPU preset.', '']
    (out / 'quality.md').write_text('\n'.join(lines))


# ## The context page
def context_page(runs: Dict[str, List[Dict]], out: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    colours = [f'C{i}' for i in range(10)]
    hs = grid(next(iter(runs.values()))[0])
    keys = hs + ['all']
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.6))
    for i, (name, rs) in enumerate(runs.items()):
        # Loss against the history, as the gain over no memory at all: $L(0) - L(h)$.
        gains = [[r['context']['histories']['0'] - r['context']['histories'][k] for k in keys] for r in rs]
        x = list(range(len(keys)))
        a.plot(x, [statistics.mean(v) for v in zip(*gains)], '--' if name == BASELINE else '-o',
               color=colours[i % 10], label=name, markersize=3)
        a.fill_between(x, [min(v) for v in zip(*gains)], [max(v) for v in zip(*gains)],
                       color=colours[i % 10], alpha=0.2, linewidth=0)
        # By position: what the whole history saves at position $i$ over no history.
        diffs = [[p0 - pa for p0, pa in zip(r['context']['positions']['0'], r['context']['positions']['all'])]
                 for r in rs]
        pos = list(range(len(diffs[0])))
        b.plot(pos, [statistics.mean(v) for v in zip(*diffs)], '--' if name == BASELINE else '-',
               color=colours[i % 10], label=name, linewidth=1.2)
        b.fill_between(pos, [min(v) for v in zip(*diffs)], [max(v) for v in zip(*diffs)],
                       color=colours[i % 10], alpha=0.15, linewidth=0)
    a.set_xticks(range(len(keys)), [f'{k}\n({int(k) * 64})' if k != 'all' else 'all' for k in keys])
    a.set_xlabel('history h in segments (characters before the scored segment)')
    a.set_ylabel('gain over no memory, L(0) − L(h) (nats/char)')
    a.set_title('What the memory is worth, by history')
    a.axhline(0, color='0.5', linewidth=0.8)
    a.grid(alpha=0.3)
    # The legend sits in the empty upper right of the position panel, clear of every line.
    b.legend(*a.get_legend_handles_labels(), fontsize=7, loc='upper right')
    b.set_xlabel('position i inside the 64-character segment')
    b.set_ylabel('L(0) − L(all) at position i (nats/char)')
    b.set_title('Where in the segment the memory helps')
    b.axhline(0, color='0.5', linewidth=0.8)
    b.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / 'context.png', dpi=110)
    plt.close(fig)

    group_best = {h: min(statistics.mean(r['context']['histories'][h] for r in rs) for rs in runs.values())
                  for h in hs}
    lines = ['# Does each model use its memory?', '',
             'A memory is worth what it lowers the loss. Each model trained on the '
             f'[quality page](quality.md) ({seeds_of(runs)} seeds each) is scored on the same held-out characters with '
             'its state built from only the last $h$ segments before the scored one: $h = 0$ is no memory '
             'at all, *all* is the whole stream as in ordinary evaluation. The gain $L(0) - L(h)$ says what '
             'the memory is worth, and where in the segment it helps.', '',
             '![Gain over no memory by history, and by position inside the segment](context.png)', '',
             '### Loss by history', '',
             '| model | ' + ' | '.join(f'h = {h}' for h in hs) + ' | all |',
             '|---|' + '---:|' * (len(hs) + 1)]
    # The second table: what the memory is worth, and how far back it is used.
    worth = ['', '### What the memory is worth, and how far back', '',
             '| model | gain over h = 0 | gain beyond one segment | ECL (characters) | RECL (characters) |',
             '|---|---:|---:|---:|---:|']
    summary, beyond = [], []
    for name, rs in runs.items():
        cells = [cell([r['context']['histories'][k] for r in rs]) for k in keys]
        gains = [r['context']['histories']['0'] - r['context']['histories']['all'] for r in rs]
        ecls = [ecl(r) * 64 for r in rs]
        recls = [recl(r, group_best) * 64 for r in rs]
        # What the state carries from further back than the segment just before: $L(1) - L(all)$.
        far = [r['context']['histories']['1'] - r['context']['histories']['all'] for r in rs]
        lines.append(f"| {name} | " + ' | '.join(cells) + ' |')
        worth.append(f"| {name} | {cell(gains)} | {cell(far)} | {extent(ecls)} | {extent(recls)} |")
        beyond.append((name, statistics.mean(far), min(far)))
        # Where the gain falls: its mean over the first eight positions against the last eight.
        by_pos = [statistics.mean(p0 - pa for p0, pa in zip(r['context']['positions']['0'][s], r['context']['positions']['all'][s]))
                  for s in (slice(0, 8), slice(-8, None)) for r in rs]
        summary.append((name, statistics.mean(gains), min(gains), ecls, recls,
                        statistics.mean(by_pos[:len(rs)]), statistics.mean(by_pos[len(rs):])))
    lines += worth
    lines += ['',
              '* **h = k**: loss (nats/char, mean [min, max] over seeds) with the state built from the $k$ '
              'segments (64 characters each) before the scored one, starting from an empty state. The plain '
              'transformer carries no state; its $h \\geq 1$ is the scored segment read with the 64 characters '
              'before it in one window, the most its window of 128 holds.',
              '* **gain over h = 0**: $L(0) - L(all)$, what the whole state is worth; **gain beyond one '
              'segment**: $L(1) - L(all)$, what it carries from further back than the segment just before.',
              '* **all**: the state carried from the start of the held-out stream (up to 31 segments, 1,984 '
              'characters), as in ordinary validation.',
              f'* **ECL** (effective context length, after Khandelwal et al., 2018): in characters, the '
              f'shortest history $h$ beyond which no longer history lowers the loss by {R:.0%} of its value, '
              'range over seeds; on the grid of histories measured (0, 64, 128, 256 and 512 characters), so '
              '64 means "more than none, and no more than one segment".',
              f'* **RECL** (the Transformer-XL paper\'s *relative* effective context length): the same, '
              'but the gain from $h$ to the next history is measured against the lowest loss any model '
              f'of this group reaches with $h$, so that a model weak at short context does not earn a '
              f'long context by recovering what the others never lost; $r = {R}$. The paper takes '
              'the group of its own models and measures on the hardest tokens; here the group is every '
              'model on this page and every character counts.', '']
    used = [s for s in summary if s[2] > 0 and s[0] != BASELINE]
    lines += ['## Reading', '']
    if used:
        lines.append('* Every seed gains from its history (the gain\'s range is above zero) for: '
                     + ', '.join(f"{n} ({g:.3f} nats)" for n, g, *_ in sorted(used, key=lambda s: -s[1])) + '.')
    unused = [s for s in summary if s[2] <= 0 and s[0] != BASELINE]
    if unused:
        lines.append('* Not every seed gains: ' + ', '.join(f"{n} ({g:+.3f})" for n, g, *_ in unused) + '.')
    far = [f"{n} ({m:.3f})" for n, m, lowest in sorted(beyond, key=lambda b: -b[1]) if lowest > 0.002 and n != BASELINE]
    near = [n for n, m, lowest in beyond if lowest <= 0.002 and n != BASELINE]
    lines.append('* **Beyond one segment** (the state built from more than the 64 characters just before '
                 'the segment, against one segment only): more than 0.002 nats (about a tenth of a percent of '
                 'the loss) in every seed for '
                 + (', '.join(far) if far else 'no model') + '; at most 0.002 in some seed for '
                 + (', '.join(near) if near else 'no model') + '.')
    if BASELINE in runs:
        window = next(s for s in summary if s[0] == BASELINE)[1]
        beyond = [f"{n} ({g - window:+.3f})" for n, g, *_ in summary if n != BASELINE]
        lines.append(f"* The plain transformer's gain ({window:.3f} nats) is what 64 characters more in "
                     "its window give; a memory earns its keep by gaining more than that. Gain minus "
                     "the plain transformer's: " + ', '.join(beyond) + '.')
    lines.append('* By position (right panel): the mean gain over the first eight positions of the '
                 'segment, against the last eight: ' + ', '.join(
                     f"{n} {first:.3f} against {last:.3f}" for n, _, _, _, _, first, last in summary)
                 + '. Without memory the first positions have almost nothing to read; this is the '
                 'context fragmentation the Transformer-XL paper set out to remove.')
    xl = runs.get('transformer_xl', [])
    if xl and xl[0]['context'].get('eval_mem_len'):
        mems = list(xl[0]['context']['eval_mem_len'])
        lines += ['', '## A longer evaluation memory for Transformer-XL', '',
                  'Trained with $M = 64$, Transformer-XL can be evaluated with a longer cache, as its paper '
                  'does (it trains with 384 and evaluates with 1,600 on WikiText-103). Loss, mean [min, max] '
                  'over seeds, whole history:', '',
                  '| evaluation memory | ' + ' | '.join(mems) + ' |', '|---|' + '---:|' * len(mems),
                  '| loss | ' + ' | '.join(cell([r['context']['eval_mem_len'][m] for r in xl]) for m in mems) + ' |',
                  '']
        at = {m: [r['context']['eval_mem_len'][m] for r in xl] for m in mems}
        best = min(mems, key=lambda m: statistics.mean(at[m]))
        trained = str(xl[0]['context'].get('trained_mem_len', 64))
        lines.append(f"The lowest mean is at an evaluation memory of {best} characters"
                     + ('' if best == trained or trained not in at else
                        f", {statistics.mean(at[best]) - statistics.mean(at[trained]):+.4f} against the "
                        f"trained {trained}, " + ("beyond the seeds' spread" if separated(at[best], at[trained])
                                                   else "within the seeds' spread")) + '.')
    lines += ['', '## How these numbers were made', '',
              'The same runs as the [quality page](quality.md); each record holds these curves beside its '
              'learning curve.', ''] + provenance(runs) + ['']
    (out / 'context.md').write_text('\n'.join(lines))


def write(records: Path, out: Path) -> None:
    runs = load(records)
    out.mkdir(parents=True, exist_ok=True)
    quality_page(runs, out)
    context_page(runs, out)
