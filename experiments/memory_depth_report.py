r"""
# The page of the memory-depth study, from its records

`python experiments/memory_depth_study.py report` calls `write`, which reads every record and
writes `study.md` and `study.png` beside the records folder. The reading is worked out from
the numbers: which arrangements are within the seeds' spread of the all-long model, whether
placing the long layers first is worse beyond that spread, and which short range is best.
"""
import statistics
from pathlib import Path
from typing import Dict, List

from labml_memory.studies.reading import cell, separated, versus
from labml_memory.studies.records import by_name


def losses(rs: List[Dict]) -> List[float]:
    return [r['valid_loss'] for r in rs]


def label(r: Dict, n_layers: int) -> str:
    if r['n_long'] == 0:
        return 'all short'
    if r['n_long'] == n_layers:
        return 'all long'
    text = f"{r['n_long']} long, {r['placement']}"
    return text + (f", short {r['short_mem_len']}" if r['name'].startswith('long1_last_short') else '')


def write(records: Path, out: Path, planned: List[str] = ()) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    every_run = by_name(records)
    # The baselines trained for the longer budget (`part=longer`) are read apart from the rest.
    longer = {k: v for k, v in every_run.items() if k.endswith('steps')}
    runs = {k: v for k, v in every_run.items() if k not in longer}
    first = next(iter(runs.values()))[0]
    n_layers = len(first['lengths'])
    all_long = next((rs for rs in runs.values() if rs[0]['n_long'] == n_layers), [])
    all_short = next((rs for rs in runs.values() if rs[0]['n_long'] == 0), [])
    long_longer = next((rs for rs in longer.values() if rs[0]['n_long'] == n_layers), [])
    short_longer = next((rs for rs in longer.values() if rs[0]['n_long'] == 0), [])
    placement = {k: v for k, v in runs.items() if not k.startswith('long1_last_short')}
    shorts = sorted([rs for k, rs in runs.items() if k.startswith('long1_last_short')]
                    + [rs for k, rs in runs.items() if k == 'long1_last'],
                    key=lambda rs: rs[0]['short_mem_len'])

    fig, (a, b, c) = plt.subplots(1, 3, figsize=(13, 4.4))
    markers = {'first': 'v', 'interleaved': 'D', 'last': '^'}
    for name, rs in placement.items():
        x = rs[0]['state_bytes_per_stream'] / 1e3
        v = losses(rs)
        baseline = rs[0]['n_long'] in (0, n_layers)
        colour = 'black' if baseline else f"C{list(markers).index(rs[0]['placement'])}"
        a.errorbar([x], [statistics.mean(v)], yerr=[[statistics.mean(v) - min(v)], [max(v) - statistics.mean(v)]],
                   fmt='o' if baseline else markers[rs[0]['placement']], color=colour, capsize=3)
        a.annotate(label(rs[0], n_layers), (x, statistics.mean(v)), textcoords='offset points',
                   xytext=(5, 3), fontsize=7)
    a.set_xlabel('memory state per stream (kB)')
    a.set_ylabel('validation loss (nats/char)')
    a.set_title('How many long layers, and where\n(mean, min–max over seeds)')
    a.margins(x=0.2)
    a.grid(alpha=0.3)
    if shorts:
        xs = [rs[0]['short_mem_len'] for rs in shorts]
        means = [statistics.mean(losses(rs)) for rs in shorts]
        b.plot(xs, means, '-o', color='C3', label='1 long layer on top')
        b.fill_between(xs, [min(losses(rs)) for rs in shorts], [max(losses(rs)) for rs in shorts],
                       color='C3', alpha=0.2, linewidth=0)
        if all_long:
            v = losses(all_long)
            b.axhspan(min(v), max(v), color='0.5', alpha=0.25, label='all long (range)')
        b.set_xscale('log', base=2)
        b.set_xticks(xs, [str(x) for x in xs])
        b.legend(fontsize=8)
    b.set_xlabel('short range of the five lower layers (characters)')
    b.set_ylabel('validation loss (nats/char)')
    b.set_title('A shorter range below')
    b.grid(alpha=0.3)
    # The gap over training, seed paired with seed, for each budget that has both baselines.
    for longs, shorts_, colour in ((all_long, all_short, 'C0'), (long_longer, short_longer, 'C3')):
        if not (longs and shorts_):
            continue
        steps = sorted(set.intersection(*[set(r['valid_curve']) for r in longs + shorts_]), key=int)
        gaps = [[l['valid_curve'][s] - s_['valid_curve'][s] for s in steps] for l, s_ in zip(longs, shorts_)]
        x = [int(s) for s in steps]
        c.plot(x, [statistics.mean(g) for g in zip(*gaps)], '-o', color=colour, markersize=3,
               label=f"{longs[0]['steps']:,} steps")
        c.fill_between(x, [min(g) for g in zip(*gaps)], [max(g) for g in zip(*gaps)], color=colour, alpha=0.2)
        c.axhline(0, color='0.4', linewidth=0.8)
        c.legend(fontsize=8)
    c.set_xlabel('step')
    c.set_ylabel('all long − all short (nats/char)')
    c.set_title('Has the long memory paid for itself?\n(below zero: yes; seed pairs by seed)')
    c.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / 'study.png', dpi=110)
    plt.close(fig)

    seeds = sorted({r['seed'] for rs in runs.values() for r in rs})
    lines = ['# Memory-depth study', '',
             f'Does a {n_layers}-layer Transformer-XL need a long memory in every layer? If only in some, '
             'which, and does a shorter range in the others help? Tiny Shakespeare, '
             f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} per configuration.", '',
             '![Loss against state; loss against the short range; all long minus all short over training](study.png)', '',
             '| configuration | memory per layer | state per stream (bytes) | validation loss | against all long |',
             '|---|---|---:|---:|---|']
    reference = losses(all_long)
    for name, rs in sorted(runs.items(), key=lambda kv: (kv[1][0]['n_long'], kv[1][0]['placement'], kv[1][0]['short_mem_len'])):
        v = losses(rs)
        if rs is all_long or not reference:
            verdict = '(the reference)' if rs is all_long else ''
        else:
            verdict = versus(v, reference)
        lines.append(f"| {label(rs[0], n_layers)} | {rs[0]['lengths']} | {rs[0]['state_bytes_per_stream']:,} | "
                     f"{cell(v, 4)} | {verdict} |")
    lines += ['', '* **memory per layer**: positions each layer keeps, bottom layer first.',
              '* **state per stream**: bytes of memory carried between segments for one stream, float32.',
              '* **validation loss**: nats per character on the whole held-out text at the last step; mean, '
              'and the range over seeds below it.',
              '* **against all long**: the difference of the means; *beyond the seeds\' spread* when the '
              'ranges do not overlap.', '']
    lines += ['## Reading', '',
              'Rae and Razavi report, on enwik8 and WikiText-103 with 24 layers, that (1) about one '
              'long-range layer in six matches the all-long model, (2) long memory in the first layers '
              'is the worst placement, and (3) a shorter range in the lower layers helps. Each line '
              'below reads one of them off these records; "beyond the seeds\' spread" means the ranges '
              'of the two sets of seeds do not overlap.', '']
    if reference:
        matches = [label(rs[0], n_layers) for rs in placement.values()
                   if 0 < rs[0]['n_long'] < n_layers and (statistics.mean(losses(rs)) <= statistics.mean(reference)
                                                           or not separated(losses(rs), reference))]
        lines.append('* **Fewer long layers** within the spread of all long, or better: '
                     + ('; '.join(matches) if matches else 'none') + '.')
        for n in range(1, n_layers):
            by = {rs[0]['placement']: rs for rs in placement.values() if rs[0]['n_long'] == n}
            if 'first' in by and len(by) > 1:
                other = min((p for p in by if p != 'first'), key=lambda p: statistics.mean(losses(by[p])))
                lines.append(f"* **{n} long, first against {other}**: "
                             f"{versus(losses(by['first']), losses(by[other]), unit=' nats')}.")
    if shorts:
        best = min(shorts, key=lambda rs: statistics.mean(losses(rs)))
        lines.append(f"* **Short range**: the lowest mean is at {best[0]['short_mem_len']} characters "
                     f"({statistics.mean(losses(best)):.4f})" + (
                         f"; against all long {versus(losses(best), reference)}." if reference else '.'))
        lines.append('* **The sweep**, one long layer on top: ' + ', '.join(
            f"short {rs[0]['short_mem_len']} → {statistics.mean(losses(rs)):.4f}" for rs in shorts)
            + (f"; the shortest against the longest, {versus(losses(shorts[0]), losses(shorts[-1]), unit=' nats')}."
               if len(shorts) > 1 else '.'))
    if all_long and all_short:
        lines.append(f"* **All long against all short** at the last step: "
                     f"{versus(losses(all_long), losses(all_short), unit=' nats')}; the right panel shows the "
                     "gap over training.")
    if long_longer and short_longer:
        lines.append(f"* **With {long_longer[0]['steps']:,} steps**, all long against all short: "
                     f"{versus(losses(long_longer), losses(short_longer), unit=' nats')} (all long "
                     f"{cell(losses(long_longer), 4).split('<br>')[0]}, all short "
                     f"{cell(losses(short_longer), 4).split('<br>')[0]}). Only these two baselines "
                     f"were trained that long; every line above is read at {all_long[0]['steps']:,} steps.")
    # What the plan holds that the records do not: said on the page, with the command that
    # runs exactly what is missing.
    missing = [name for name in planned if name not in every_run or len(every_run[name]) < len(seeds)]
    if missing:
        lines.append(f"* **Not run:** {', '.join(f'`{n}`' for n in missing)}: in the study's plan, "
                     "not in these records (left out for compute, or missing a seed); "
                     "`python experiments/memory_depth_study.py run` runs only what is missing "
                     "(`run part=longer` for the longer budget), and `report` then adds it to this page.")
    every = [r for rs in every_run.values() for r in rs]
    dates = sorted(r['machine']['date'] for r in every)
    m = every[0]['machine']
    # Every distinct command the records were made by, in the order they were first run.
    commands = list(dict.fromkeys(r['command'].strip() for r in sorted(every, key=lambda r: r['machine']['date'])))
    lines += ['', '## How these numbers were made', '', '```', *commands,
              'python experiments/memory_depth_study.py report', '```', '',
              f"* **Machine:** {m['cpu']}, {m['cores']} cores, one PyTorch thread per run, PyTorch {m['torch']}.",
              f"* **Date:** {dates[0]} to {dates[-1]}",
              f"* **Seeds:** {', '.join(map(str, seeds))} ({len(every)} runs)",
              f"* **Wall time:** {sum(r['seconds'] for r in every):,.0f} s of training in all, two runs at "
              "a time on the two cores; the machine was shared with other work at times, so these are "
              "upper bounds.",
              f"* **Steps:** {first['steps']:,} per run"
              + (f" ({long_longer[0]['steps']:,} for the longer budget's baselines)" if long_longer else '')
              + "; run ids in each record "
              '(`docs/results/memory_depth/records/`).', '']
    (out / 'study.md').write_text('\n'.join(lines))
