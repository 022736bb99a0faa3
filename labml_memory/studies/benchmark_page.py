r"""
# Writing the benchmark's results page

The [benchmark study](benchmark.py) hands its record here and gets back the page
`docs/results/benchmark.md`, with its two plots in `docs/results/benchmark/`: the plots
first, then the two tables with every column defined, a reading of what they show, and last,
folded, how the numbers were made (command, machine, date, configuration); the study's
[runner](runner.py) writes it in the template of every results page. Nothing on the page is
typed by hand, and nothing here measures: the page is rebuilt from the record alone.

## Reading the numbers

* **Throughput** is what a user of the code waits for, and the only column the goal is set
  on. It depends on the machine and its load; the **ratios** within one run much less,
  because every entry was measured on the same machine in the same minutes.
* The **share of the yardstick** says how much of the step is spent doing matrix
  products at full speed. A small model on a CPU never gets near 100%: softmax, layer norms,
  activations, the relative shift, the optimiser and Python's own overhead per operation all
  take time without adding counted FLOPs. Two implementations with the same FLOPs per step
  and different shares do the same arithmetic with different overheads; two with the same
  share and different FLOPs do different amounts of arithmetic.
* **Peak RSS** includes PyTorch itself (a few hundred MB) and the imported package, so
  differences between rows are what matters; the record also keeps the growth after the
  model was built. The **state per stream** is exact: the bytes of the tensors the model
  hands to its next call, for one stream.
* The **generation** columns time one generated token with the memory, at batch 1 and at
  batch 16. Every model here keeps a memory of fixed size, so the lines should be flat: that
  flatness, against a plain transformer whose cost per token grows with its window, is the
  reason these architectures exist.
* The **profiles** say where one training step and one generated token of each of ours
  spend their time, operation by operation: where a goal is missed, they say why.

The reading compares each of ours with the *fastest* peer of the same paper, never an
average of peers: beating a slow port proves nothing. Its verdict, which the study computes,
pairs the two [round by round](benchmark.py), and its account of what limits a lead is written from
reading both codes, printed next to the measured FLOP counts and shares, so a reader can see
whether the numbers bear it out.

## What the page does not show

* Quality. Speed at equal configuration says nothing about which model learns more from
  the same characters; the quality pages answer that at equal steps and equal wall time.
* A GPU. The numbers are from a CPU, one thread per process; on a GPU the fused attention
  kernels and the cost of launching many small operations change the picture, and the
  ratios may move either way. The harness runs there unchanged (`threads=0`), but the
  page only ever shows the machine it was generated on.
* Variance beyond the rounds. Five rounds on a shared machine are all that stands behind a
  verdict; where they disagree the interval is wide, and the page says "not resolved" rather
  than read a lead into one lucky round.
"""

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

# ## The record
#
# One record holds everything the page is drawn from. At the top: `machine` (CPU model,
# cores, versions, date, load average when the run began), `sizes` and `plan` (the
# configuration and how it was timed), `train_step` (which step was timed), `command` (what
# produced it), `run` (the study's settings, with the equivalence `margin`), `yardsticks`
# (the matmul rate each round measured before its entries, by round), their median
# `matmul_peak_flops_per_second` and `wall_seconds`. Then `rows`, one per entry, each with
#
# * `name`, `kind` (`ours`, `baseline` or `peer`), `implements` (which of our architectures
#   it is compared with), `package` (where it comes from) and `status` (`ok`, or the reason it
#   did not run: `unavailable: ...` when it could not be built, `failed ...` when it broke
#   while being measured);
# * and, for a row that ran: `parameters`; `step_seconds` and `tokens_per_second` of the
#   timed training steps, medians over the rounds; `tokens_per_second_rounds`, every round's,
#   and `rounds_measured`, which rounds those were; `flops_per_step`, the counted matmul work
#   of one step; `matmul_share_rounds`, the step's rate over its round's yardstick, and their
#   median `matmul_share`; `train_state_bytes` (the whole batch's memory),
#   `state_bytes_per_stream` (one stream, after the longest context) and
#   `cache_bytes_per_stream` (a key and value cache kept beside it for generation);
#   `generation_seconds_per_token` by batch and context length (medians), with every round in
#   `generation_rounds`, and `inference_seconds_per_token`, the batch-1 times; `peak_rss_mb`
#   and `rss_growth_mb`; `rounds`; `ratio_to_fastest_peer` (the median of per-round ratios,
#   or `null` where no peer of that paper ran) and `generation_ratio_to_fastest_peer`, by
#   batch, the peer and the median of its time over ours; and for ours, `profile`, the top
#   operations of one training step and one generated token.
#
# Times are in seconds and sizes in bytes in the record; the page and the console convert
# them to milliseconds, KiB and MB.

# The page's figures, in the study's folder, and their captions.
FIGURES = {'training.png': 'Training throughput of every entry',
           'inference.png': 'Generation cost per token against context at batch 1, one panel per paper',
           'inference_batch16.png': 'Generation cost per token against context at batch 16, one panel per paper'}

# The goals the page checks, as ratios measured in one interleaved run.
GOALS = {'training': 1.5, 'generation': 1.2, 'share': 0.5}

# Readable names for the architectures a row is compared under; an architecture added
# later and missing here is shown by its package name, which is still correct.
FAMILY = {'transformer_xl': 'Transformer-XL', 'compressive': 'Compressive Transformer',
          'infini_attention': 'Infini-attention', 'infinity_former': '∞-former',
          'memory_depth': 'memory-depth Transformer-XL', 'recurrent_memory': 'Recurrent Memory Transformer',
          'memorizing_transformer': 'Memorizing Transformer', 'plain_transformer': 'plain transformer'}

# Records made before the benchmark timed the trainer's own step name none; this is the step
# their code took.
OLD_STEP = ("the benchmark's own step of that time (AdamW at learning rate $10^{-3}$, the "
            "language-model and auxiliary losses, backward; no gradient clipping)")

# ## What limits the lead
#
# What we know from reading the code of both sides, printed in the reading after the
# measured work and shares. No number is written here: those come from the record.
WHY_THE_GAP = {
    'transformer_xl': (
        'At this size most of a step is dense products of the same shapes on both sides (projections, '
        "feed-forward, output layer) through the same matmul library, and both run attention in PyTorch's "
        'fused kernel, so a 1.5× lead would need the peer to waste a third of its step, which x-transformers '
        "does not. What ours adds is the paper's relative position terms (b) and (d): a position-key "
        'projection of the $M + L$ sinusoid rows and a `[B, H, L, M + L]` score matrix per layer, lined up by '
        "the relative shift and passed to the fused kernel as an additive mask, where x-transformers' rotary "
        'positions cost only an element-wise rotation of $q$ and $k$.'),
    'compressive': (
        "Ours does more work per step than lucidrains' port (see the FLOP counts), for three reasons visible "
        "in the two codes: ours uses Transformer-XL's four-term relative attention (the peer adds one learned "
        'position term); ours computes the attention-reconstruction loss on stop-gradient *copies* of each '
        "layer's $W_k$, $W_v$ as Algorithm 2 asks; and the peer's in-place `to_kv.weight.detach_()` switches "
        "off the key/value projection's gradient for good, so its backward pass skips a product ours must do. "
        'The peer is faster partly because it trains less of its model.'),
    'infini_attention': (
        'Both sides do the same counted work per step; what can make ours faster is that its local attention '
        "runs in PyTorch's fused kernel (the peer spells out scores, mask and softmax), but the memory itself, a few "
        'small products per layer, costs both the same, and the dense projections and feed-forward products '
        'that dominate the step leave no room for a larger lead at this size.'),
    'memorizing_transformer': (
        'The two do different work, so the ratio compares designs as much as code. The port searches one '
        'faiss HNSW graph per stream that it grows in place, and it shares one key/value head among all '
        'query heads, so it keeps and searches one table where ours keeps one per head. In training ours '
        'builds an exact faiss index per stream and head from its tensors at every call, which is a copy, and '
        "runs the searches on one thread beside PyTorch's; a generated token (one query per stream) is "
        'searched in PyTorch instead, one product over all streams and heads, and its row is written into a '
        "buffer the table is a view of, not appended by a copy. The faiss searches are outside PyTorch, so "
        "neither side's FLOP count includes them."),
}


# A ratio, or a dash where there is no running peer to divide by.
def _fmt_rate(value: Optional[float]) -> str:
    return '—' if value is None else f"{value:.2f}×"


def _fmt_share(row: Dict[str, Any]) -> str:
    return '—' if row.get('matmul_share') is None else f"{100 * row['matmul_share']:.1f}%"


def _generation(row: Dict[str, Any], batch: str) -> Dict[str, float]:
    """Seconds per token by context at one batch (records before batches kept batch 1 only)."""
    return (row.get('generation_seconds_per_token') or {'1': row['inference_seconds_per_token']}).get(batch, {})


# Every round's throughput, lowest to highest, as `low–high` (one value for one round).
# On a quiet machine the two ends nearly meet; on a shared one the gap is the noise floor
# below which a difference between rows means nothing.
def _spread(row: Dict[str, Any]) -> str:
    values = sorted(row.get('tokens_per_second_rounds') or [row['tokens_per_second']])
    return f"{values[0]:,.0f}" if len(values) == 1 else f"{values[0]:,.0f}–{values[-1]:,.0f}"


# The rows that ran; every table, plot and verdict reads only these, and the others are
# listed by the reason they give.
def _ok(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [r for r in rows if r.get('status') == 'ok']


# ## The console table
#
# What the measurement prints when it finishes: one line per entry in fixed-width columns,
# the ratio right beside the throughput, so the comparison can be read without opening the
# page. An entry that did not run prints its reason in place of numbers.
def console_table(record: Dict[str, Any]) -> str:
    # One inference column per context length of the plan, labelled `ms@<length>`.
    contexts = [str(c) for c in record['plan']['contexts']]
    head = (f"{'entry':24} {'implements':18} {'tokens/s':>9} {'×peer':>6} {'mm share':>8} "
            f"{'peak MB':>8} {'state KiB':>9} " + ' '.join(f"{'ms@' + c:>8}" for c in contexts))
    # A rule under the header as wide as the header itself.
    lines = [head, '-' * len(head)]
    for r in record['rows']:
        if r.get('status') != 'ok':
            lines.append(f"{r['name']:24} {r['implements']:18} {r['status']}")
            continue
        # Seconds become milliseconds and bytes KiB: the units a reader compares at a glance.
        per_token = r['inference_seconds_per_token']
        lines.append(
            f"{r['name']:24} {r['implements']:18} {r['tokens_per_second']:9,.0f} "
            f"{_fmt_rate(r['ratio_to_fastest_peer']):>6} {_fmt_share(r):>8} "
            f"{r['peak_rss_mb']:8.0f} {r['state_bytes_per_stream'] / 1024:9.1f} "
            + ' '.join(f"{1e3 * per_token[c]:8.2f}" for c in contexts))
    return '\n'.join(lines) + '\n'


# ## The plots
#
# Two figures, both drawn with matplotlib's file-only `Agg` backend so that the page is
# rebuilt on a machine without a display.
#
# **Training throughput** as horizontal bars from zero, grouped by the paper each entry
# implements and, within a group, ours first: the comparison the page is about sits in
# adjacent bars. Ours are blue, the plain baseline red and peers grey; a whisker spans the
# rounds (lowest to highest), so a reader sees which gaps are wider than the noise, and each
# bar carries its ratio to the fastest peer, so the figure stands on its own.
def plot(record: Dict[str, Any], folder: Path) -> List[str]:
    from labml_memory.studies import plots
    plt = plots.pyplot()
    # Nothing ran (every package missing, say): no figures, and the page links none.
    rows = _ok(record['rows'])
    if not rows:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    # Sorted by paper, then ours before peers, then by name: a stable order from run to run.
    rows = sorted(rows, key=lambda r: (r['implements'], r['kind'] != 'ours', r['name']))
    # The figure grows with the number of bars, so labels never overlap.
    fig, ax = plt.subplots(figsize=(8.0, 0.45 * len(rows) + 1.4), layout='constrained')
    labels = [f"{r['name']} ({r['package'] if r['kind'] == 'peer' else r['kind']})" for r in rows]
    colours = [{'ours': 'C0', 'baseline': 'C3'}.get(r['kind'], '0.6') for r in rows]
    # Reversed, so the first row of the table is the top bar.
    y = list(range(len(rows)))[::-1]
    best = [r['tokens_per_second'] for r in rows]
    low = [min(r.get('tokens_per_second_rounds') or [t]) for r, t in zip(rows, best)]
    high = [max(r.get('tokens_per_second_rounds') or [t]) for r, t in zip(rows, best)]
    ax.barh(y, best, color=colours, xerr=[[b - lo for b, lo in zip(best, low)], [h - b for b, h in zip(best, high)]],
            error_kw={'ecolor': '0.2', 'capsize': 3, 'linewidth': 1})
    # Each bar is labelled at its end with its throughput, and its ratio where it has one.
    for yi, r in zip(y, rows):
        text = f" {r['tokens_per_second']:,.0f}"
        if r['ratio_to_fastest_peer'] is not None:
            text += f"  ({r['ratio_to_fastest_peer']:.2f}× fastest peer)"
        # Past the whisker's end, so the label never sits on it.
        ax.text(max(r.get('tokens_per_second_rounds') or [r['tokens_per_second']]), yi, text, va='center', fontsize=8)
    ax.set_yticks(y, labels, fontsize=8)
    # Room on the right (the limit) for the longest label.
    ax.set(xlabel='training tokens/s (bar: median round; whisker: slowest to fastest round)',
           xlim=(0, 1.75 * max(best)), title='Training throughput at one shared configuration')
    ax.grid(axis='x', alpha=0.3)
    # 110 dpi: sharp in the site's content column without making the repository heavy; a white
    # ground, which the site shows as a light card in the dark scheme (see studies/plots.py).
    plots.save(fig, folder / 'training.png')

    figures = ['training.png']
    for batch, name in (('1', 'inference.png'), ('16', 'inference_batch16.png')):
        if all(_generation(r, batch) for r in rows):
            _generation_plot(plt, plots, record, rows, batch, folder / name)
            figures.append(name)
    return figures


# **Generation cost per token** against the context already read, at one batch: one panel
# per paper, ours and its peers in it, so no panel has more than a handful of lines, each
# with its own colour, marker and line style; the plain transformer, whose cost grows with
# its window, is the grey reference in every panel. The context lengths grow by factors of
# four, so the horizontal axis is logarithmic; the vertical axis starts at zero and is
# shared, so a flat line looks flat and panels compare directly.
def _generation_plot(plt, plots, record, rows, batch: str, path: Path) -> None:
    contexts = [int(c) for c in record['plan']['contexts']]
    plain = [r for r in rows if r['kind'] == 'baseline']
    with_peers = sorted({r['implements'] for r in rows if r['kind'] == 'peer'})
    panels = [(FAMILY.get(f, f), [r for r in rows if r['implements'] == f and r['kind'] != 'baseline'])
              for f in with_peers]
    alone = [r for r in rows if r['kind'] == 'ours' and r['implements'] not in with_peers]
    if alone:
        panels.append(('no public peer', alone))
    columns = 2 if len(panels) > 1 else 1
    fig, axes = plt.subplots((len(panels) + columns - 1) // columns, columns, sharex=True, sharey=True,
                             figsize=(9.0, 3.4 * ((len(panels) + columns - 1) // columns) + 0.6),
                             squeeze=False, layout='constrained')
    styles = [('C0', '-', 'o'), ('C1', '--', 's'), ('C2', '-.', '^'), ('C4', ':', 'D')]
    # The plain transformer sets no limit: at batch 16 it would flatten every other line.
    top = max(1e3 * v for r in rows if r['kind'] != 'baseline' for v in _generation(r, batch).values())
    for ax, (title, entries) in zip(axes.flat, panels):
        for (colour, style, marker), r in zip(styles, entries):
            ax.plot(contexts, [1e3 * _generation(r, batch)[str(c)] for c in contexts],
                    color=colour, linestyle=style, marker=marker, label=r['name'])
        for r in plain:
            ax.plot(contexts, [1e3 * _generation(r, batch)[str(c)] for c in contexts],
                    color='0.55', linestyle=':', marker='x',
                    label=r['name'] + (' (clipped)' if max(_generation(r, batch).values()) * 1e3 > 1.15 * top else ''))
        ax.set_title(title, fontsize=10)
        ax.set_xscale('log', base=2)
        ax.set_ylim(0, 1.15 * top)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    shown = list(axes.flat[:len(panels)])
    plots.label_grid(shown, columns, f'characters of context already read ({plots.LOG})',
                     f'ms per token (batch {batch})')
    # Each panel names its own entries, under it.
    for ax in shown:
        plots.legend_under(ax, ncol=2)
    fig.suptitle(f'Generation cost per token as the context grows, batch {batch} (median round)', fontsize=11)
    plots.save(fig, path)


# ## The reading
#
# For every architecture of ours that has a peer, one paragraph: the median per-round ratio to
# the fastest peer, and the round-by-round verdict the study `judged` (by the paper each
# entry implements), with its interval; then memory, in both its
# senses: the **state** a stream carries between segments (what grows with the number of
# streams served at once) and the **peak resident memory** of the process that trained it
# (what decides whether it fits on a machine); then the counted work per step and the matmul
# share of both, which separates "does more arithmetic" from "does the same arithmetic more
# slowly", and what, from reading both codes, limits the lead. An architecture whose peers
# all failed, or which failed itself, says so instead.
def reading(record: Dict[str, Any], judged: Mapping[str, str], convention: str = '') -> List[str]:
    rows = record['rows']
    notes = []
    # One paragraph per architecture of ours, in the order of the table.
    for ours in [r for r in rows if r['kind'] == 'ours']:
        family = ours['implements']
        peers = [r for r in rows if r['kind'] == 'peer' and r['implements'] == family]
        # The ∞-former and the memory-depth study have no public peer: nothing to compare.
        if not peers:
            continue
        name = FAMILY.get(family, family)
        running = _ok(peers)
        if ours.get('status') != 'ok':
            notes += [f"**{name}.** Ours did not run ({_why(ours['status'])}).", '']
            continue
        # If no peer ran, each one's reason is listed: the comparison was not possible here,
        # which is different from ours being fast.
        if not running:
            notes += [f"**{name}.** No peer ran here (" +
                      '; '.join(f"{p['name']}: {_why(p['status'])}" for p in peers) + ").", '']
            continue
        fastest = max(running, key=lambda p: p['tokens_per_second'])
        ratio = ours['ratio_to_fastest_peer']
        others = [p['name'] for p in running if p is not fastest]
        line = (f"**{name}.** Ours trains {ours['tokens_per_second']:,.0f} tokens/s, "
                f"**{ratio:.2f}×** `{fastest['name']}` ({fastest['tokens_per_second']:,.0f})"
                + (f", the faster of its peers (also measured: {', '.join(f'`{o}`' for o in others)})"
                   if others else '')
                + f"; {judged[family]} (ours {_spread(ours)}, the peer {_spread(fastest)}).")
        # Every running peer is checked for memory, not only the fastest one.
        smaller = [p for p in running if p['state_bytes_per_stream'] < ours['state_bytes_per_stream']]
        lighter = [p for p in running if p['peak_rss_mb'] < ours['peak_rss_mb']]
        line += (f" Each stream carries {ours['state_bytes_per_stream'] / 1024:,.1f} KiB between segments"
                 + (f", more than {', '.join(p['name'] + ' (' + format(p['state_bytes_per_stream'] / 1024, ',.1f') + ' KiB)' for p in smaller)}."
                    if smaller else ", no more than any peer."))
        line += (f" The training process peaked at {ours['peak_rss_mb']:.0f} MB"
                 + (f", above {', '.join(p['name'] + ' (' + format(p['peak_rss_mb'], '.0f') + ' MB)' for p in lighter)}."
                    if lighter else ", the lowest of the group."))
        # More FLOPs at the same share means more arithmetic; the same FLOPs at a lower share
        # means the arithmetic is done less efficiently (overheads, small kernels, copies).
        line += (f" Counted work per step: ours {ours['flops_per_step'] / 1e9:.2f} GFLOP at "
                 f"{_fmt_share(ours)} of the yardstick, `{fastest['name']}` "
                 f"{fastest['flops_per_step'] / 1e9:.2f} GFLOP at {_fmt_share(fastest)}.")
        if family in WHY_THE_GAP:
            line += f" What limits the lead: {WHY_THE_GAP[family]}"
        # Generation, batch by batch: the fastest generating peer may be another one.
        for batch, g in (ours.get('generation_ratio_to_fastest_peer') or {}).items():
            peer = next(r for r in running if r['name'] == g['peer'])
            mine, theirs = _generation(ours, batch), _generation(peer, batch)
            longest = str(record['plan']['contexts'][-1])
            line += (f" Generating at batch {batch}, ours is **{g['ratio']:.2f}×** as fast as `{peer['name']}` "
                     f"(at {int(longest):,} characters of context {1e3 * mine[longest]:.2f} against "
                     f"{1e3 * theirs[longest]:.2f} ms/token); {judged.get(f'{family}@{batch}', 'not compared')}.")
        notes += [line, '']
    # What the study adds to the bracket and the verdict words, which the page defines once
    # before its tables.
    if convention:
        notes += [convention, '']
    return notes


# ## The goals
#
# One line per paper with a peer: training at least 1.5× the fastest peer, generation at
# least 1.2× at every batch, and every architecture of ours at least half of the yardstick
# in training; each marked met or missed from the medians of the record, with the profile
# named where one is missed.
def goals(record: Dict[str, Any]) -> List[str]:
    out = ['| architecture | training × fastest peer (goal ≥ 1.5×) | generation × fastest peer, batch 1 / 16 '
           '(goal ≥ 1.2×) | share of yardstick (goal ≥ 50%) |', '|---|---:|---:|---:|']
    mark = lambda value, goal, text: f"{text} {'✓' if value >= goal else '✗'}"
    for r in _ok(record['rows']):
        if r['kind'] != 'ours':
            continue
        ratio = r.get('ratio_to_fastest_peer')
        gen = r.get('generation_ratio_to_fastest_peer') or {}
        # Three digits here, so that a ratio just under its goal does not print as the goal.
        train = '— (no peer)' if ratio is None else mark(ratio, GOALS['training'], f"{ratio:.3f}×")
        generation = ' / '.join(mark(g['ratio'], GOALS['generation'], f"{g['ratio']:.3f}×") for g in gen.values()) \
            or '— (no peer)'
        share = '—' if r.get('matmul_share') is None else mark(r['matmul_share'], GOALS['share'], _fmt_share(r))
        out.append(f"| {FAMILY.get(r['implements'], r['implements'])} | {train} | {generation} | {share} |")
    return out + ['', '✓ met, ✗ missed. Where a goal is missed, the profiles below show where the time goes.', '']


# ## The profiles
#
# For each of ours, the operations with the most time of their own in one training step and
# one generated token (batch 1), folded away: a reader who wants to know why a step costs what
# it costs opens them.
def profiles(record: Dict[str, Any]) -> List[str]:
    out = []
    for r in _ok(record['rows']):
        prof = r.get('profile')
        if r['kind'] != 'ours' or not prof:
            continue
        out += [f'??? note "Profile: {FAMILY.get(r["implements"], r["implements"])}"', '']
        for part, title in (('train_step', 'one training step'), ('generated_token', 'one generated token, batch 1')):
            one = prof[part]
            out += [f"    **{title}**: {one['operations']:,} operations, {1e3 * one['self_seconds']:.1f} ms "
                    'of their own time under the profiler.', '',
                    '    | operation | share of self time | calls |', '    |---|---:|---:|']
            out += [f"    | `{op['op']}` | {100 * op['share']:.1f}% | {op['calls']:,} |" for op in one['top']]
            out += ['', f"    The {len(one['top'])} operations with the most time of their own, as shares of all "
                    "the call's own time; *calls* counts every time each ran.", '']
    return out


# Why a row has no numbers, in the words of every results page (never the exception itself,
# which the record keeps).
def _why(status: str) -> str:
    from labml_memory.studies.runner import why_not_run
    return why_not_run(status)


# ## The page
#
# In the order a reader needs it: what the page answers, the plots, the training table and
# the memory-and-inference table (split so that neither hides columns in a scrolled box),
# each with its columns defined; the entries that could not run and why; the reading; and
# last where the numbers come from: the command, the date, the machine and how busy it was,
# the configuration, how to rerun. Every number is formatted from the record. `record_link`
# and `figures` are relative to the page; `judged` and `convention` are the study's verdicts
# and their definition; `others` lists the study's other records.
# The page is returned to the study, whose runner writes it in the template of every results
# page: `verdict` is its headline, `convention` the definition of its cells and brackets, said
# once before the tables; `note` is what the study adds to that definition in the reading.
def page(record: Dict[str, Any], record_link: str, figures: List[str], judged: Mapping[str, str],
         note: str = '', others: List[str] = (), verdict: str = '', convention=None):
    from labml_memory.studies.runner import Page
    p = record['plan']
    contexts = [str(c) for c in p['contexts']]
    about = ('Speed only: what each learns from the same characters is on the [quality](quality.md) page. '
             'What is measured and how is explained on the [benchmark](../../labml_memory/benchmark/__init__.py) '
             'page, the peers on the [peers](../../labml_memory/benchmark/peers.py) page; raw rows in '
             f'[the record]({record_link}).')
    # ### Training: one row per entry that ran, ours in bold
    # Right-aligned number columns (`---:`), so digits line up.
    out = ['## Training', '',
            '| entry | package | implements | parameters | tokens/s | rounds (tokens/s) | '
            '× fastest peer | share of yardstick |',
            '|---|---|---|---:|---:|---:|---:|---:|']
    missing = []
    ran = []
    for r in record['rows']:
        if r.get('status') != 'ok':
            missing.append(r)
            continue
        ran.append(r)
        who = f"**{r['name']}**" if r['kind'] == 'ours' else r['name']
        out.append(f"| {who} | {r['package']} | {FAMILY.get(r['implements'], r['implements'])} | "
                   f"{r['parameters']:,} | {r['tokens_per_second']:,.0f} | {_spread(r)} | "
                   f"{_fmt_rate(r['ratio_to_fastest_peer'])} | {_fmt_share(r)} |")
    out += ['', '* **entry**: ours in bold, `plain_transformer` a memoryless baseline, the others '
            'public implementations (**package**) of the paper in **implements**.',
            '* **parameters**: trainable parameters at this configuration.',
            f"* **tokens/s**: training characters per second (forward, backward, AdamW), the median of "
            f"{p['rounds']} rounds; **rounds** gives the slowest and fastest round, the noise of "
            'this machine.',
            '* **× fastest peer**: the median over rounds of tokens/s over that of the fastest peer '
            'implementing the same paper in the same round; a dash where no peer exists.',
            "* **share of yardstick**: the step's counted matrix-product FLOPs per second over the rate "
            f"of a {p['matmul_n']}×{p['matmul_n']} float32 matmul measured at the start of the same round "
            'on the same threads, the median over rounds (the rounds\' yardsticks: '
            + ', '.join(f"{v / 1e9:.1f}" for v in (record.get('yardsticks') or {}).values()) + ' GFLOP/s).', '',
            '## Goals', '', *goals(record),
            '## Memory', '',
            '| entry | peak RSS (MB) | state per stream (KiB) | generation cache per stream (KiB) |',
            '|---|---:|---:|---:|']
    uncounted = []
    for r in ran:
        who = f"**{r['name']}**" if r['kind'] == 'ours' else r['name']
        # Records made before the table buffer was counted leave its spare rows out.
        buffer_left_out = r['name'] == 'memorizing_transformer' and not r.get('counts_table_buffer')
        uncounted += [r['name']] if buffer_left_out else []
        out.append(f"| {who} | {r['peak_rss_mb']:.0f} | {r['state_bytes_per_stream'] / 1024:,.1f} | "
                   f"{r.get('cache_bytes_per_stream', 0) / 1024:,.1f}{' + buffer ¹' if buffer_left_out else ''} |")
    out += ['', '* **peak RSS**: the high-water mark of the process that built, trained and ran '
            'the entry (the median round); PyTorch itself accounts for a few hundred MB, so compare rows, not totals.',
            '* **state per stream**: the bytes of the tensors a model hands to its next call for '
            'one stream, after the longest context.',
            '* **generation cache per stream**: the keys and values ours keep beside that state while '
            'generating, so that a token projects only itself; not state (it is recomputed from the state '
            'whenever missing or stale), but memory a reader holds. Peers keep none beyond their state.']
    if uncounted:
        sizes = record.get('sizes', {})
        spare = 2 * sizes.get('knn_size', 0) * sizes.get('d_model', 0) * 4
        out.append(f"* ¹ This record predates the count of the buffer the kNN table grows in while "
                   f"generating: its spare room, C rows of keys and of values per head, is another "
                   f"{spare / 1024:,.1f} KiB per stream at these sizes, not in the figure.")
    out.append('')
    batches = list((ran[0].get('generation_seconds_per_token') or {'1': None}) if ran else ['1'])
    for batch in batches:
        out += [f'## Generation, batch {batch}', '',
                '| entry | ' + ' | '.join(f'ms/token @ {int(c):,}' for c in contexts) + ' | × fastest peer |',
                '|---|' + '---:|' * (len(contexts) + 1)]
        for r in ran:
            t = _generation(r, batch)
            if not t:
                continue
            g = (r.get('generation_ratio_to_fastest_peer') or {}).get(batch)
            who = f"**{r['name']}**" if r['kind'] == 'ours' else r['name']
            out.append(f"| {who} | " + ' | '.join(f"{1e3 * t[c]:.2f}" for c in contexts)
                       + f" | {_fmt_rate(g['ratio'] if g else None)} |")
        if batch == batches[0]:
            out += ['', f"* **ms/token @ n**: milliseconds for the call that generates one token for each of the "
                    f"batch's streams after n characters of context, median of {p['tokens_per_context']} calls, "
                    "then the median over rounds. A memory of fixed size keeps this flat; the plain transformer's "
                    'grows with its window.',
                    '* **× fastest peer**: the time per token of the fastest generating peer of the same paper over '
                    "ours, per round (the geometric mean over the context lengths), the median over rounds; above 1 "
                    'where ours is faster.', '']
        else:
            out += ['', f"The cells are those of the batch {batches[0]} table, for {batch} streams generated side by "
                    'side in one call.', '']
    # Entries that did not run are never silently dropped.
    if missing:
        out += ['### Entries that could not run', '']
        out += [f"* `{r['name']}` ({r['package']}): {_why(r['status'])}" for r in missing]
        out += ['']
    out += ['## What the measurements say', '']
    out += reading(record, judged, note) or ['No architecture of ours had a peer that ran.', '']
    if any(r.get('profile') for r in ran):
        out += ['## Profiles', '', 'Where one training step and one generated token of each of ours spend '
                'their time: the operations with the most time of their own, from `torch.profiler`, '
                'measured after the timings of the first round.', '']
        out += profiles(record)
    out += ['Single-thread CPU timings at a small size: on a GPU, or with larger models, fused '
            'kernels and launch overheads change the picture and the ratios may move either way.', '']
    return Page(title='Benchmark: every memory architecture on one machine',
                verdict=('**How fast does each architecture train and generate, against the public '
                         'implementations of the same paper, at one shared configuration on one machine?** '
                         + verdict),
                figures=[(figure, FIGURES.get(Path(figure).name, Path(figure).stem)) for figure in figures],
                about=about, convention=convention, body=out, made=provenance(record, record_link, others))


# ## Where the numbers come from
#
# The command, the date, the CPU model and core count, the threads each measured process
# used, the load average when the run began (above the core count means other jobs were
# competing), the versions; then the configuration, and how to rerun. A timing has no seeds:
# the rounds are its repeats.
def provenance(record: Dict[str, Any], record_link: str, others: List[str] = ()) -> List[str]:
    m, s, p = record['machine'], record['sizes'], record['plan']
    seconds = record.get('wall_seconds') or record.get('seconds')
    wall = (f"{seconds:,.0f} s for the whole measurement" if seconds else
            "not recorded by this run; the measurement takes about five minutes a round on two cores")
    out = ['```', record['command'], '```', '',
           f"* **Date:** {m['date']}",
           f"* **Machine:** CPU: {m['cpu']}, {m['cores']} cores; "
           + (f"{p['threads']} PyTorch thread(s) per measured process" if p['threads'] else "PyTorch's default threads")
           + f"; PyTorch {m['torch']}, Python {m['python']}, {m['platform']}",
           f"* **Load average when the run started:** {m.get('load', 'unknown')}. The machine was "
           'shared with other jobs, so absolute times are inflated and noisy; every entry ran in '
           f"its own process, {p['rounds']} rounds interleaved with the others, the matmul "
           + ('yardstick measured once at the start of each round, and the median round is shown.'
              if record.get('yardsticks') else 'yardstick re-measured right before each entry, and the best round is shown.'),
           '* **Seeds:** none matter here: nothing is trained to a result, and the spread shown is '
           'over rounds.',
           f"* **Wall time:** {wall}.",
           f"* **Configuration:** {s['n_layers']} layers, $d = {s['d_model']}$, {s['heads']} heads, "
           f"feed-forward width {s['d_ff']}, segments of $L = {s['seq_len']}$ characters, memory "
           f"$M = {s['mem_len']}$ per layer (Compressive: $M_c = {s['compressed_len']}$ at rate "
           f"$c = {s['compression_rate']}$), batch {s['batch_size']}, dropout off, float32, Tiny "
           f"Shakespeare. Training: {p['timed_steps']} timed steps after the memories are full, each "
           f"{record.get('train_step', OLD_STEP)}. Generation: batch "
           + ' and '.join(str(b) for b in p.get('generation_batches', [1]))
           + f", median of {p['tokens_per_context']} single-token calls after each context length."]
    if record.get('converted'):
        out.append(f"* **Record:** [{record['key']}]({record_link}), converted {record['converted']}.")
    if others:
        out.append(f"* **Other records of this study** (not shown here): {', '.join(others)}.")
    out += ['', 'To rerun (the `bench` extra installs the PyPI peers; labml-nn must come without its '
            'dependencies, which the layers used never need). A configuration that has a record is '
            'not measured again: move its record to `docs/results/benchmark/history/<why>/` first, '
            'since a timing is not a seed that adds to the others.', '',
            '```', 'pip install -c constraints.txt -e ".[bench]"',
            'pip install -c constraints.txt --no-deps labml-nn memorizing-transformers-pytorch',
            'python -m labml_memory.studies run benchmark         # about nine minutes a round on two cores',
            'python -m labml_memory.studies report benchmark      # this page, from the record alone',
            '```']
    return out
