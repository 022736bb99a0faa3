r"""
# The pages of the Compressive Transformer study, from its records

`python experiments/compressive_study.py report` calls `write`, which reads every record and
writes, beside the records folder, `study.md` with `study.png` (questions 1 and 2) and
`attention_buckets.md` with `attention_buckets.png` (question 3). Every verdict on the pages
is worked out from the numbers with the project's one rule (ranges over seeds that do not
overlap, [reading](../labml_memory/studies/reading.py)).
"""
import statistics
from pathlib import Path
from typing import Dict, List

from labml_memory.compressive.analysis import BUCKETS_PER_PART
from labml_memory.studies.reading import cell, separated, versus
from labml_memory.studies.records import by_name

REFERENCE = 'xl_mem96'
EQUAL_SPAN = 'xl_mem128'
PROFILED = 'conv_attention'
# Table 5 of the paper, enwik8 bits per character (lower is better), for the reading.
TABLE5 = {'conv_bptt': 0.996, 'max_pool': 0.986, 'conv_autoencoding': 0.984, 'mean_pool': 0.982,
          'most_used': 0.980, 'dilated_conv_attention': 0.977, 'conv_attention': 0.973}


def losses(rs: List[Dict]) -> List[float]:
    return [r['valid_loss'] for r in rs]


# ## Page 1: loss by cell
def write_study(runs: Dict[str, List[Dict]], out: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    reference = losses(runs.get(REFERENCE, []))
    names = sorted(runs, key=lambda n: statistics.mean(losses(runs[n])))
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={'width_ratios': [1.1, 1]})
    if reference:
        # Differences paired by seed (the same seed's Transformer-XL), mean and range.
        for k, name in enumerate(names):
            by_seed = {r['seed']: r['valid_loss'] for r in runs[name]}
            gaps = [by_seed[r['seed']] - r['valid_loss'] for r in runs[REFERENCE] if r['seed'] in by_seed]
            mean = statistics.mean(gaps)
            colour = '0.3' if name.startswith('xl') else ('C0' if mean < 0 else 'C1')
            left.errorbar([mean], [k], xerr=[[mean - min(gaps)], [max(gaps) - mean]], fmt='o',
                          color=colour, capsize=3)
        left.axvline(0, color='0.3', linewidth=1)
        left.set_yticks(range(len(names)), names, fontsize=8)
        left.invert_yaxis()
        left.set_xlabel(f'validation loss − {REFERENCE}\'s, same seed (nats/char)')
        left.set_title(f'Every cell against {REFERENCE} (left is better)\nmean and range over seeds',
                       fontsize=10)
        left.grid(axis='x', alpha=0.3)
    # Validation curves of the equal-cost cells and the equal-span control, mean and band.
    for name, colour, style in ((REFERENCE, '0.2', '-'), ('conv_attention', 'C0', '--'),
                                ('conv_attention_c4', 'C1', ':'), (EQUAL_SPAN, 'C2', '-.')):
        if name not in runs:
            continue
        steps = sorted(set.intersection(*[set(r['valid_curve']) for r in runs[name]]), key=int)
        per_step = runs[name][0]['characters'] / runs[name][0]['steps']
        characters = [int(s) * per_step / 1e6 for s in steps]
        values = [[r['valid_curve'][s] for r in runs[name]] for s in steps]
        right.plot(characters, [statistics.mean(v) for v in values], color=colour, linestyle=style, label=name)
        right.fill_between(characters, [min(v) for v in values], [max(v) for v in values],
                           color=colour, alpha=0.15, linewidth=0)
    right.set_xlabel('characters read (millions)')
    right.set_ylabel('validation loss, 16 segments (nats/char)')
    right.set_title('Learning curves: equal cost and equal span', fontsize=10)
    right.grid(alpha=0.3)
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / 'study.png', dpi=110)
    plt.close(fig)

    seeds = sorted({r['seed'] for rs in runs.values() for r in rs})
    lines = ['# Compressive Transformer study', '',
             'At equal attention cost, does compressing old memories beat keeping more of them? And which '
             'compression function and loss (the paper\'s Table 5) trains best? Tiny Shakespeare, '
             f'{len(seeds)} seeds per cell, every cell reading the same characters.', '',
             f'![Left: each cell\'s validation loss minus {REFERENCE}\'s. Right: validation curves of the '
             'equal-cost and equal-span cells](study.png)', '',
             '| run | keys per query | reach (chars) | parameters | state per stream (bytes) | steps × segments '
             f'| validation loss | against {REFERENCE} |', '|---|---:|---:|---:|---:|---|---:|---|']
    for name in names:
        rs, first = runs[name], runs[name][0]
        against = '(the reference)' if name == REFERENCE else (versus(losses(rs), reference) if reference else '')
        lines.append(f"| `{name}` | {first['keys']} | {first['reach']} | {first['parameters']:,} | "
                     f"{first['state_bytes_per_stream']:,} | {first['steps']:,} × {first['unroll']} | "
                     f"{cell(losses(rs), 4)} | {against} |")
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
              f'* **against {REFERENCE}**: the difference of the means; *beyond the seeds\' spread* when the '
              'ranges do not overlap (two equal models do that by chance one time in ten).', '',
              '## Reading', '']
    if reference:
        for name in ('conv_attention', 'conv_attention_c4', EQUAL_SPAN):
            if name in runs:
                why = ('32 more keys, for a memory as long as the compressed cells\' reach' if name == EQUAL_SPAN
                       else 'equal attention cost')
                lines.append(f"* **`{name}` against `{REFERENCE}`** ({why}): {versus(losses(runs[name]), reference)}.")
    if 'conv_attention' in runs and EQUAL_SPAN in runs:
        lines.append(f"* **`conv_attention` against `{EQUAL_SPAN}`** (the same 128 characters of reach, 32 "
                     f"fewer keys): {versus(losses(runs['conv_attention']), losses(runs[EQUAL_SPAN]))}.")
    grid = [n for n in TABLE5 if n in runs]
    if grid:
        best = min(grid, key=lambda n: statistics.mean(losses(runs[n])))
        apart = [n for n in grid if n != best and separated(losses(runs[n]), losses(runs[best]))]
        lines.append(f"* **Table 5's cells, best first:** {', '.join(f'`{n}`' for n in sorted(grid, key=lambda n: statistics.mean(losses(runs[n]))))}. "
                     f"Worse than `{best}` beyond the spread: {', '.join(f'`{n}`' for n in apart) or 'none'}. "
                     'The paper\'s order on enwik8 (best first): '
                     + ', '.join(f'`{n}` {TABLE5[n]}' for n in sorted(TABLE5, key=TABLE5.get)) + ' bpc.')
    lines.append('* **Where attention goes** is on its own page, [attention buckets](attention_buckets.md).')
    lines += [''] + provenance(runs, seeds)
    (out / 'study.md').write_text('\n'.join(lines))


def provenance(runs: Dict[str, List[Dict]], seeds: List[int]) -> List[str]:
    every = [r for rs in runs.values() for r in rs]
    dates = sorted(r['machine']['date'] for r in every)
    m = every[0]['machine']
    commands = sorted({r['command'].strip() for r in every})
    return ['## How these numbers were made', '', '```', *commands,
            'python experiments/compressive_study.py report', '```', '',
            f"* **Machine:** {m['cpu']}, {m['cores']} cores, one PyTorch thread per run, two runs at a time, "
            f"PyTorch {m['torch']}.",
            f"* **Date:** {dates[0]} to {dates[-1]}",
            f"* **Seeds:** {', '.join(map(str, seeds))} ({len(every)} runs)",
            f"* **Wall time:** {sum(r['seconds'] for r in every):,.0f} s of training and profiling in all.",
            '* **Records:** one per run, with its run id, in `docs/results/compressive/records/`.', '']


# ## Page 2: where attention goes
#
# A bucket's *attention per character of history* is its mean weight per key divided by the
# characters a key stands for: $c$ for a compressed slot, one for anything else. That is the
# quantity two models of the same span can be compared on, bucket by bucket.
def per_character(buckets: List[float], rate: int) -> List[float]:
    return [v / (rate if b < BUCKETS_PER_PART else 1) for b, v in enumerate(buckets)]


def spans(rate: int, m_c: int, mem: int, seq_len: int) -> List[str]:
    import torch
    names = []
    # Characters before the segment's first one (negative distances count into the segment).
    for part, size, per_key, start_back in (('cmem', m_c, rate, mem + rate * m_c), ('mem', mem, 1, mem),
                                            ('seq', seq_len, 1, 0)):
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
    return sum(v * n for v, n in zip(per_key[:BUCKETS_PER_PART], bucket_sizes(keys)))


def write_buckets(runs: Dict[str, List[Dict]], out: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    if PROFILED not in runs or EQUAL_SPAN not in runs:
        return
    comp, ctrl = runs[PROFILED], runs[EQUAL_SPAN]
    memory = comp[0]['memory']
    rate = memory['compression_rate']
    per_key = [r['profile']['buckets']['all layers'] for r in comp]
    comp_char = [per_character(v, rate) for v in per_key]
    ctrl_char = [r['profile']['buckets']['all layers'] for r in ctrl]
    x = list(range(3 * BUCKETS_PER_PART))
    ticks = [f'{p}{b + 1}' for p in ('c', 'm', 's') for b in range(BUCKETS_PER_PART)]
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.2))
    for axis, series in ((a, ((f'{PROFILED}, per slot', per_key, 'C4', '-o'),)),
                         (b, ((f'{PROFILED}, per character', comp_char, 'C4', '-o'),
                              (f'{EQUAL_SPAN}, per character', ctrl_char, 'C2', '--s')))):
        for label, values, colour, style in series:
            columns = list(zip(*values))
            axis.plot(x, [statistics.mean(c) for c in columns], style, color=colour, label=label, markersize=4)
            axis.fill_between(x, [min(c) for c in columns], [max(c) for c in columns], color=colour,
                              alpha=0.2, linewidth=0)
        for edge in (BUCKETS_PER_PART - 0.5, 2 * BUCKETS_PER_PART - 0.5):
            axis.axvline(edge, color='0.6', linewidth=0.8)
        axis.set_xticks(x, ticks, fontsize=8)
        axis.set_yscale('log')
        axis.grid(alpha=0.3)
        axis.set_xlabel('key bucket, oldest on the left: compressed (c), memory (m), segment (s)')
    a.axhline(1 / comp[0]['keys'], color='black', linestyle=':', linewidth=0.8,
              label=f"uniform, 1/{comp[0]['keys']}")
    a.set_ylabel('mean attention weight per key')
    a.set_title('The paper\'s view: weight per key (mean, range over seeds)', fontsize=10)
    a.legend(fontsize=8)
    b.set_ylabel('attention per character of history')
    b.set_title('Against a Transformer-XL of equal span, per character', fontsize=10)
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / 'attention_buckets.png', dpi=110)
    plt.close(fig)

    names = spans(rate, memory['compressed_len'], memory['mem_len'], memory['seq_len'])
    measured = [r['profile']['segments_measured'] * r['profile']['streams'] for r in comp + ctrl]
    lines = ['# Compressive Transformer: where attention goes', '',
             f"Does `{PROFILED}` (M = {memory['mem_len']}, M_c = {memory['compressed_len']}, c = {rate}, "
             f"L = {memory['seq_len']}) read its compressed memory more than a plain distance effect "
             f"would give? Beside it, `{EQUAL_SPAN}`, a Transformer-XL whose {ctrl[0]['memory']['mem_len']} "
             'memories cover the same characters, bucketed over the same spans. Every segment of the '
             f"held-out text with full memories ({min(measured):,}"
             + (f"–{max(measured):,}" if max(measured) > min(measured) else '') + " sequences of "
             f"{memory['seq_len']} characters per model and seed), {len(comp)} seeds each.", '',
             '![Left: weight per key by bucket. Right: attention per character of history, against '
             'Transformer-XL of equal span](attention_buckets.png)', '',
             f'| bucket | {PROFILED}: per key (×1000) | per character (×1000) | {EQUAL_SPAN}: per character '
             '(×1000) | ratio | difference |', '|---|---:|---:|---:|---:|---|']
    for k in x:
        c_key = [v[k] * 1000 for v in per_key]
        c_chr = [v[k] * 1000 for v in comp_char]
        x_chr = [v[k] * 1000 for v in ctrl_char]
        lines.append(f"| {names[k]} | {cell(c_key, 2)} | {cell(c_chr, 2)} | {cell(x_chr, 2)} | "
                     f"{statistics.mean(c_chr) / statistics.mean(x_chr):.2f} | "
                     + ('beyond the spread' if separated(c_chr, x_chr) else 'within the spread') + ' |')
    lines += ['', '* **bucket**: six buckets per part, oldest first, with the characters before the segment '
              'they stand for (a compressed slot stands for c = 2); segment buckets by position.',
              '* **per key**: mean attention weight one key of the bucket receives, averaged over layers, '
              'heads, queries allowed to see it and sequences; mean over seeds, range below.',
              '* **per character**: the same divided by the characters a key stands for; the quantity two '
              'models of equal span share. Transformer-XL\'s oldest memories are split into buckets of whole '
              f"keys, so its first six buckets span {widths(1, rate * memory['compressed_len'])} characters "
              f"where the compressed slots span {widths(rate, memory['compressed_len'])}.",
              '* **ratio**: compressive over Transformer-XL, per character, of the means.',
              '* **difference**: *beyond the spread* when the two models\' seed ranges do not overlap.', '',
              '## Reading', '']
    cm = [statistics.mean(v[k] for v in per_key) for k in x]
    rise = cm[BUCKETS_PER_PART - 1] > cm[BUCKETS_PER_PART]
    lines.append(f"* **Per key, the paper's view:** the newest compressed bucket gets {cm[BUCKETS_PER_PART - 1] * 1000:.2f} "
                 f"and the oldest memory bucket {cm[BUCKETS_PER_PART] * 1000:.2f} (×1000): attention "
                 + ('rises' if rise else 'does not rise') + ' from the memory into the compressed memory.')
    # Inside the compressed part, oldest bucket against newest: does weight per key grow with
    # age? Transformer-XL over the same characters is the distance effect to set it against.
    first, last = 0, BUCKETS_PER_PART - 1
    oldest, newest = [v[first] for v in per_key], [v[last] for v in per_key]
    ctrl_old, ctrl_new = [v[first] for v in ctrl_char], [v[last] for v in ctrl_char]
    lines.append(f"* **Inside the compressed memory, by age:** per key, the oldest bucket gets "
                 f"{statistics.mean(oldest) * 1000:.2f} and the newest {statistics.mean(newest) * 1000:.2f} (×1000), "
                 f"{versus([1000 * v for v in oldest], [1000 * v for v in newest], digits=2)}; over the same "
                 f"characters Transformer-XL's oldest memories get {statistics.mean(ctrl_old) * 1000:.2f} and "
                 f"{statistics.mean(ctrl_new) * 1000:.2f}, "
                 f"{versus([1000 * v for v in ctrl_old], [1000 * v for v in ctrl_new], digits=2)}.")
    older = range(BUCKETS_PER_PART)
    above = [k for k in older if separated([v[k] for v in comp_char], [v[k] for v in ctrl_char])
             and statistics.mean(v[k] for v in comp_char) > statistics.mean(v[k] for v in ctrl_char)]
    below = [k for k in older if separated([v[k] for v in comp_char], [v[k] for v in ctrl_char])
             and statistics.mean(v[k] for v in comp_char) < statistics.mean(v[k] for v in ctrl_char)]
    lines.append(f"* **Per character, against equal span:** of the six oldest buckets ({names[0].split(': ')[1]} to "
                 f"{names[BUCKETS_PER_PART - 1].split(': ')[1]}), "
                 f"the compressive model gives more attention than Transformer-XL beyond the spread in "
                 f"{len(above)}, less in {len(below)}, and the same within the spread in {6 - len(above) - len(below)}.")
    m_c = memory['compressed_len']
    comp_share = [oldest_share(v, m_c) for v in per_key]
    ctrl_share = [oldest_share(v, rate * m_c) for v in ctrl_char]
    percent = lambda vs: (f"{100 * statistics.mean(vs):.1f}% [{100 * min(vs):.1f}, {100 * max(vs):.1f}]")
    lines.append(f"* **In all, on the same {rate * m_c} oldest characters:** `{PROFILED}` puts "
                 f"{percent(comp_share)} of a query's attention on its {m_c} compressed slots, `{EQUAL_SPAN}` "
                 f"{percent(ctrl_share)} on its {rate * m_c} oldest memories (mean [min, max] over seeds): "
                 f"{versus([100 * v for v in comp_share], [100 * v for v in ctrl_share], digits=1, unit=' points')}. "
                 f"A query that looked everywhere equally would put {100 * m_c / comp[0]['keys']:.0f}% and "
                 f"{100 * rate * m_c / ctrl[0]['keys']:.0f}% there. One compressed slot gets "
                 f"{(statistics.mean(comp_share) / m_c) / (statistics.mean(ctrl_share) / (rate * m_c)):.2f} times "
                 "the weight of one of those memories; it stands for "
                 f"{rate} characters.")
    lines += [''] + provenance({PROFILED: comp, EQUAL_SPAN: ctrl}, sorted({r['seed'] for r in comp}))
    (out / 'attention_buckets.md').write_text('\n'.join(lines))


def write(records: Path, out: Path) -> None:
    runs = by_name(records)
    write_study(runs, out)
    write_buckets(runs, out)
