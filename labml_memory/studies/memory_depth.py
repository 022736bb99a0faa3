r"""
# Study: how many long-range layers, and where, in a six-layer Transformer-XL

Rae and Razavi's questions (see the [model](../memory_depth/__init__.py)), asked of a 6-layer
Transformer-XL on Tiny Shakespeare so that their "one long-range layer in six" can be
expressed:

1. **How many long-range layers, and where?** Every distinct arrangement of $n$ long layers
   ($n$ = 0, 1, 2, 3 and 6) placed first, interleaved or last (`part=placement`).
2. **Does a shorter range in the lower layers help?** The paper's third finding, as its own
   sweep: one long layer at the top, and the short range of the five below it set to 4, 8,
   16, 32 or 64 characters (`part=short`).
3. **Does the all-long model catch up with a longer budget?** The two baselines, all long and
   all short, trained `longer_steps` steps, twice the study's budget (`part=longer`).

The paper's first finding, that a few long layers match the all-long model, presumes that
the all-long model is at least as good as the all-short one: that there is a long-range
benefit for the few layers to keep. The page tests that premise before it reads the finding.

```
python -m labml_memory.studies run memory_depth                 # every run not yet recorded
python -m labml_memory.studies run memory_depth part=short seeds=0
python -m labml_memory.studies run memory_depth part=longer     # the two baselines, 2,000 steps
python -m labml_memory.studies report memory_depth              # the page from the records
```

Each run is one record, `docs/results/memory_depth/records/<run>_seed<s>.json`: the
full-precision validation curve and final loss, the memory per layer, the state's size and the
run id; the [runner](runner.py) adds the command, the machine and the wall time. `report`
writes [the study's page](../results/memory_depth.md) from the records alone.

## Sizes

6 layers, $d = 128$, 4 heads, feed-forward 512, segments of $L = 32$ characters, 32 streams,
long range $M_{long} = 128$, short range $M_{short} = 16$ unless swept, dropout off, peak
learning rate 0.002 with warm-up and cosine decay, `steps` steps each (validation every 100
steps on 16 segments, then the final validation on the whole held-out text). The curves of
both baselines are kept, so the page shows over training whether the all-long model has
paid for its memory.
"""
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from labml_memory.studies import stats
from labml_memory.studies import plots
from labml_memory.studies.runner import SEED_CELLS, Convention, Page, Records, Run, Study, tally

NAME = 'memory_depth'
SIZES = dict(n_layers=6, d_model=128, heads=4, d_ff=512, seq_len=32, batch_size=32,
             long_mem_len=128, short_mem_len=16, dropout=0.0, lr=2e-3, warmup=60,
             eval_every=100, eval_segments=16, checkpoint_every=100_000, sample_len=0, threads=1,
             device='cpu')
SHORT_RANGES = [4, 8, 16, 32, 64]
PARTS = ('all', 'placement', 'short', 'longer')
DEFAULT_STEPS = 1000


# ## Settings
#
# The margin of a tie is ±0.005 nats per character (0.007 bits): the size of the smaller
# differences between arrangements in the paper (hundredths of a bit on enwik8), so a tie says
# two arrangements are closer than the paper's own findings are apart.
@dataclass
class Settings:
    steps: int = DEFAULT_STEPS
    seeds: List[int] = field(default_factory=lambda: [0, 1, 2])
    part: str = 'all'
    # The budget of the two baselines of `part=longer`.
    longer_steps: int = 2000
    margin: float = 0.005

    def validate(self) -> None:
        if self.part not in PARTS:
            raise ValueError(f"unknown part {self.part!r}; valid: {', '.join(PARTS)}")
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if self.longer_steps <= self.steps:
            raise ValueError(f"longer_steps={self.longer_steps} must be more than steps={self.steps}")
        if not self.seeds:
            raise ValueError("seeds: give at least one seed, e.g. seeds=0,1,2")
        if self.margin < 0:
            raise ValueError(f"a margin is a size, got margin={self.margin}")


# ## The plan
#
# A cell is a name and the model it trains. One long layer interleaved is the one on top: it
# is named (and built) as `last`, which is also the arrangement the short-range sweep varies,
# and the sweep's 16 is that same run. A budget other than the study's thousand steps is
# another run, and its name says so (`long0_last_2000steps`), so it never finds the
# thousand-step record in its place.
def cells(part: str, steps: int, longer_steps: int) -> List[Tuple[str, Dict[str, Any]]]:
    from labml_memory.memory_depth.experiment import arrangements
    found: List[Tuple[str, Dict[str, Any]]] = []

    def add(cell: str, budget: int, n_long: int, placement: str, short: int = SIZES['short_mem_len']):
        name = cell + ('' if budget == DEFAULT_STEPS else f'_{budget}steps')
        if name not in [n for n, _ in found]:
            found.append((name, dict(steps=budget, n_long=n_long, placement=placement, short_mem_len=short)))

    if part in ('all', 'placement'):
        for n_long, placement in arrangements(SIZES['n_layers']):
            placement = 'last' if n_long == 1 and placement == 'interleaved' else placement
            add(f'long{n_long}_{placement}', steps, n_long, placement)
    if part in ('all', 'short'):
        for short in SHORT_RANGES:
            cell = 'long1_last' if short == SIZES['short_mem_len'] else f'long1_last_short{short}'
            add(cell, steps, 1, 'last', short)
    if part in ('all', 'longer'):
        for n_long in (0, SIZES['n_layers']):
            add(f'long{n_long}_last', longer_steps, n_long, 'last')
    return found


def plan(settings: Settings) -> List[Run]:
    found = cells(settings.part, settings.steps, settings.longer_steps)
    return [Run(f'{name}_seed{seed}', {'name': name, 'seed': seed, **changes, 'margin': settings.margin})
            for seed in settings.seeds for name, changes in found]


# ## One run
#
# `seconds` is the training alone, as in every record of this study; the runner keeps it.
def execute(run: Run) -> Dict[str, Any]:
    import tempfile
    import time

    from labml_memory.memory_depth import memory_lengths, state_numbers
    from labml_memory.memory_depth.experiment import PRESETS, Config, build_model
    from labml_memory.training import train
    from labml_memory.training.config import build_config
    s = run.settings
    config = build_config(Config, PRESETS, {**SIZES, 'steps': s['steps'], 'n_long': s['n_long'],
                                            'placement': s['placement'], 'short_mem_len': s['short_mem_len'],
                                            'seed': s['seed'],
                                            'logs_dir': tempfile.mkdtemp(prefix='memory_depth_study_')})
    started = time.time()
    result = train(config, build_model, 'memory_depth_study')
    lengths = memory_lengths(config.n_layers, config.n_long, config.placement, config.long_mem_len,
                             config.short_mem_len)
    return {'name': s['name'], 'seed': s['seed'], 'steps': result.final_step, 'n_long': config.n_long,
            'placement': config.placement, 'short_mem_len': config.short_mem_len,
            'long_mem_len': config.long_mem_len, 'lengths': lengths,
            'state_bytes_per_stream': 4 * state_numbers(1, config.d_model, lengths),
            'parameters': sum(p.numel() for p in result.model.parameters()),
            'valid_loss': result.final_valid_loss, 'valid_curve': result.valid_losses,
            'train_curve': result.train_losses, 'run_uuid': result.run_uuid,
            'seconds': time.time() - started}


# ## Reading the records
def by_name(records: Sequence[Dict]) -> Dict[str, List[Dict]]:
    runs: Dict[str, List[Dict]] = {}
    for record in records:
        runs.setdefault(record['name'], []).append(record)
    return {name: sorted(rs, key=lambda r: r['seed']) for name, rs in runs.items()}


def losses(rs: List[Dict]) -> List[float]:
    return [r['valid_loss'] for r in rs]


def label(r: Dict, n_layers: int) -> str:
    if r['n_long'] == 0:
        return 'all short'
    if r['n_long'] == n_layers:
        return 'all long'
    text = f"{r['n_long']} long, {r['placement']}"
    return text + (f", short {r['short_mem_len']}" if r['name'].startswith('long1_last_short') else '')


# The page reads one budget in full, the one most cells were trained at, and of every other
# budget its two baselines.
def budgets(runs: Dict[str, List[Dict]]) -> Tuple[int, Dict[int, Dict[str, List[Dict]]]]:
    by_budget: Dict[int, Dict[str, List[Dict]]] = {}
    for name, rs in runs.items():
        by_budget.setdefault(rs[0]['run']['steps'], {})[name] = rs
    main = min(by_budget, key=lambda b: (-len(by_budget[b]), b))
    return main, by_budget


def baseline(runs: Dict[str, List[Dict]], n_long: int) -> List[Dict]:
    return next((rs for rs in runs.values() if rs[0]['n_long'] == n_long), [])


# A comparison is made only between cells that have every seed of the page.
def pair(a: List[Dict], b: List[Dict], seeds: List[int]):
    if not a or not b:
        return None
    first, second = stats.by_seed(a, 'valid_loss'), stats.by_seed(b, 'valid_loss')
    if sorted(first) != seeds or sorted(second) != seeds:
        return None
    return first, second


# The same comparison read the other way round: all long against all short is the table's
# all short against all long, with the sign and the verdict turned.
def flipped(v: stats.Verdict) -> stats.Verdict:
    word = {stats.AHEAD: stats.BEHIND, stats.BEHIND: stats.AHEAD}.get(v.verdict, v.verdict)
    return stats.Verdict(v.label, -v.mean, -v.high, -v.low, v.seeds, v.p, v.p_equivalent, v.margin, word)


# ## The figure
#
# Three panels: loss against state for every configuration (a marker per placement, the two
# baselines black circles), loss against the short range of the lower layers (a log scale of
# base 2, said on the axis), and all long minus all short over training for each budget.
def draw(placement, shorts, all_long, baselines, n_layers: int, path: Path) -> None:
    plt = plots.pyplot()
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(9.0, 3.9), layout='constrained')
    markers = {'first': 'v', 'interleaved': 'D', 'last': '^'}
    for name, rs in placement.items():
        x = rs[0]['state_bytes_per_stream'] / 1e3
        v = losses(rs)
        is_baseline = rs[0]['n_long'] in (0, n_layers)
        colour = 'black' if is_baseline else f"C{list(markers).index(rs[0]['placement'])}"
        kind = 'all long or all short' if is_baseline else f"long layers {rs[0]['placement']}"
        a.errorbar([x], [statistics.mean(v)], yerr=[[statistics.mean(v) - min(v)], [max(v) - statistics.mean(v)]],
                   fmt='o' if is_baseline else markers[rs[0]['placement']], color=colour, capsize=3, label=kind)
        a.annotate(label(rs[0], n_layers), (x, statistics.mean(v)), textcoords='offset points',
                   xytext=(5, 3), fontsize=6.5)
    a.set_xlabel('memory state per stream (kB)')
    a.set_ylabel('validation loss (nats/char)')
    a.set_title('How many long layers, and where\n(mean, min–max over seeds)')
    a.margins(x=0.4)
    a.grid(alpha=0.3)
    if shorts:
        xs = [rs[0]['short_mem_len'] for rs in shorts]
        means = [statistics.mean(losses(rs)) for rs in shorts]
        b.plot(xs, means, '-', label='1 long layer on top', color='C3', marker='s')
        b.fill_between(xs, [min(losses(rs)) for rs in shorts], [max(losses(rs)) for rs in shorts],
                       color='C3', alpha=0.2, linewidth=0)
        if all_long:
            v = losses(all_long)
            b.axhspan(min(v), max(v), color='0.5', alpha=0.25, label='all long (range)')
        b.set_xscale('log', base=2)
        b.set_xticks(xs, [str(x) for x in xs])
    b.set_xlabel(f'short range below (characters, {plots.LOG})')
    b.set_ylabel('validation loss (nats/char)')
    b.set_title('A shorter range below')
    b.grid(alpha=0.3)
    # The gap over training, seed paired with seed, for each budget that has both baselines.
    for k, (longs, shorts_) in enumerate(baselines):
        if not (longs and shorts_):
            continue
        steps = sorted(set.intersection(*[set(r['valid_curve']) for r in longs + shorts_]), key=int)
        gaps = [[l['valid_curve'][s] - s_['valid_curve'][s] for s in steps] for l, s_ in zip(longs, shorts_)]
        x = [int(s) for s in steps]
        look = plots.series(k + 4)
        c.plot(x, [statistics.mean(g) for g in zip(*gaps)], '-', markersize=3,
               label=f"all long − all short, {longs[0]['steps']:,} steps", **look)
        c.fill_between(x, [min(g) for g in zip(*gaps)], [max(g) for g in zip(*gaps)], color=look['color'], alpha=0.2)
        c.axhline(0, color='0.4', linewidth=0.8)
    c.set_xlabel('step')
    c.set_ylabel('all long − all short (nats/char)')
    c.set_title('Has the long memory paid for itself?\n(below zero: yes; seeds paired)')
    c.grid(alpha=0.3)
    plots.legend_below(fig, ncol=3)
    plots.save(fig, path)


# ## What a verdict says of a finding
#
# `expect` is the sign of the difference the paper predicts (first minus second, lower is
# better): where the seeds do not decide, the page still says which way the means point.
def against_paper(v: stats.Verdict, expect: int) -> str:
    if v.verdict == stats.UNRESOLVED:
        return ("the means point the paper's way" if v.mean * expect > 0
                else "the means point against the paper")
    if v.verdict == stats.TIE:
        return 'no difference beyond the margin, against the paper'
    shown = (v.verdict == stats.BEHIND) == (expect > 0)
    return 'as the paper finds' if shown else 'against the paper'


# One finding over several comparisons: shown only where every one of them shows it.
def finding(vs: List[stats.Verdict], expect: int) -> str:
    words = [against_paper(v, expect) for v in vs]
    if all(w == 'as the paper finds' for w in words):
        return 'shown'
    if any(w in ('against the paper', 'no difference beyond the margin, against the paper') for w in words):
        return 'not borne out'
    return 'not resolved' + (" (the means point the paper's way)" if all(v.mean * expect > 0 for v in vs) else '')


# Whether long memory has paid for itself, from all long against all short at one budget.
def paid_words(v: stats.Verdict) -> str:
    if v.verdict == stats.AHEAD:
        return 'by then the long memory has paid for itself'
    if v.verdict == stats.BEHIND:
        return 'even then the long memory has not paid for itself'
    if v.verdict == stats.TIE:
        return 'by then the two are level within the margin'
    return 'the seeds cannot tell whether the long memory has paid for itself by then'


def premise_words(v: stats.Verdict) -> str:
    if v.verdict == stats.AHEAD:
        return 'the premise holds at this budget, so finding 1 can be read against all long'
    if v.verdict == stats.TIE:
        return ('long memory neither helps nor hurts within the margin: there is no long-range benefit '
                'for fewer long layers to keep, and finding 1 cannot be tested at this budget')
    if v.verdict == stats.BEHIND:
        return ('the premise fails: long memory in every layer is worse than none at this budget, so '
                'matching or beating all long says nothing of how many long layers are needed, and '
                'finding 1 cannot be tested here')
    return ('the premise is not shown: the seeds do not resolve the gap, and its mean is '
            + ('against it (all long is the worse)' if v.mean > 0 else 'in its favour')
            + '; finding 1 cannot be tested at this budget')


# ## The reading of a set of records
#
# Everything the page says, worked out once: the budget it reads in full, the configurations
# and baselines, and every verdict from one call to `stats.compare`. The page is written from
# it, and so is what the model's own page quotes, so the two cannot disagree.
@dataclass
class Reading:
    margin: float
    every_run: Dict[str, List[Dict]]
    main: int                                   # the budget read in full
    runs: Dict[str, List[Dict]]                 # its configurations
    n_layers: int
    all_long: List[Dict]
    all_short: List[Dict]
    others: Dict[int, Tuple[List[Dict], List[Dict]]]   # every other budget: (all long, all short)
    unread: List[str]                           # other budgets' runs that are not baselines
    placement: Dict[str, List[Dict]]            # the count-and-placement configurations
    shorts: List[List[Dict]]                    # the short-range sweep, shortest first
    seeds: List[int]
    order: List[Tuple[str, List[Dict]]]         # the table's rows
    verdicts: Dict[str, stats.Verdict]
    premise: Optional[stats.Verdict]            # all long against all short


def read(every: Sequence[Dict]) -> Reading:
    every = list(every)
    margins = sorted({r['run']['margin'] for r in every})
    if len(margins) != 1:
        raise SystemExit(f"{NAME}: the records were made with different margins ({margins}); a page reads "
                         "one plan's records: move the others into history/")
    margin = margins[0]
    every_run = by_name(every)
    main, by_budget = budgets(every_run)
    runs = by_budget[main]
    n_layers = len(next(iter(runs.values()))[0]['lengths'])
    all_long, all_short = baseline(runs, n_layers), baseline(runs, 0)
    # The other budgets: their baselines are read, anything else they hold is named, not read.
    others = {b: (baseline(rs, n_layers), baseline(rs, 0)) for b, rs in sorted(by_budget.items()) if b != main}
    unread = [name for b, rs in by_budget.items() if b != main for name, r in rs.items()
              if r[0]['n_long'] not in (0, n_layers)]
    placement = {k: v for k, v in runs.items() if not k.startswith('long1_last_short')}
    shorts = sorted([rs for k, rs in runs.items() if k.startswith('long1_last_short')]
                    + [rs for rs in runs.values() if rs[0]['n_long'] == 1 and rs[0]['placement'] == 'last'
                       and not rs[0]['name'].startswith('long1_last_short')],
                    key=lambda rs: rs[0]['short_mem_len'])
    seeds = sorted({r['seed'] for rs in runs.values() for r in rs})
    order = sorted(runs.items(), key=lambda kv: (kv[1][0]['n_long'], kv[1][0]['placement'],
                                                 kv[1][0]['short_mem_len']))
    # Every comparison of the page, in one call: each configuration against all long (the
    # table), first against last for each count of long layers (finding 2), the shortest
    # range against the longest (finding 3), and the baselines of each other budget.
    pairs = {}
    for name, rs in order:
        if rs is not all_long:
            pairs[name] = pair(rs, all_long, seeds)
    by_count: Dict[int, Dict[str, List[Dict]]] = {}
    for rs in placement.values():
        by_count.setdefault(rs[0]['n_long'], {})[rs[0]['placement']] = rs
    for n in range(1, n_layers):
        if 'first' in by_count.get(n, {}) and 'last' in by_count[n]:
            pairs[f'{n} first'] = pair(by_count[n]['first'], by_count[n]['last'], seeds)
    if len(shorts) > 1:
        pairs['sweep'] = pair(shorts[0], shorts[-1], seeds)
    for budget, (longs, shorts_) in others.items():
        other_seeds = sorted({r['seed'] for r in longs + shorts_})
        pairs[f'{budget} steps'] = pair(longs, shorts_, other_seeds)
    pairs = {k: v for k, v in pairs.items() if v is not None}
    verdicts = stats.compare(pairs, margin) if pairs else {}
    short_name = name_of(runs, all_short) if all_short else None
    premise = flipped(verdicts[short_name]) if short_name in verdicts else None
    return Reading(margin, every_run, main, runs, n_layers, all_long, all_short, others, unread, placement,
                   shorts, seeds, order, verdicts, premise)


def report(records: Records, out: Path) -> Dict[str, Page]:
    r = read(records)
    margin, every_run, main, n_layers = r.margin, r.every_run, r.main, r.n_layers
    all_long, all_short, others, unread, placement = r.all_long, r.all_short, r.others, r.unread, r.placement
    shorts, seeds, order, verdicts, premise = r.shorts, r.seeds, r.order, r.verdicts, r.premise
    draw(placement, shorts, all_long, [(all_long, all_short)] + list(others.values()), n_layers,
         Path(out) / NAME / 'study.png')

    def said(key: str, rs: List[Dict], unit: str = '') -> str:
        if key in verdicts:
            return verdicts[key].text(4, unit)
        return f"not compared: seeds {', '.join(str(r['seed']) for r in rs)} of {', '.join(map(str, seeds))}"

    lines = [
             '| configuration | memory per layer | state per stream (bytes) | validation loss | against all long |',
             '|---|---|---:|---:|---|']
    for name, rs in order:
        verdict = '(the reference)' if rs is all_long else (said(name, rs) if all_long else '')
        lines.append(f"| {label(rs[0], n_layers)} | {rs[0]['lengths']} | {rs[0]['state_bytes_per_stream']:,} | "
                     f"{stats.cell(losses(rs), 4)} | {verdict} |")
    lines += ['', '* **memory per layer**: positions each layer keeps, bottom layer first.',
              '* **state per stream**: bytes of memory carried between segments for one stream, float32.',
              '* **validation loss**: nats per character on the whole held-out text at the last step; mean, '
              'and the range over seeds below it.',
              '* **against all long**: the row\'s loss minus all long\'s, seed by seed; ahead is a lower loss.', '']
    lines += ['## Reading', '',
              'Rae and Razavi report, on enwik8 and WikiText-103 with 24 layers, that (1) about one '
              'long-range layer in six matches the all-long model, (2) long memory in the first layers '
              'is the worst placement, and (3) a shorter range in the lower layers helps. Each line '
              'below reads one of them off these records.', '']
    if premise:
        lines.append("* **All long against all short**, the premise of finding 1 (an all-long model at least "
                     "as good as one with no long memory, so that there is a benefit for fewer long layers to "
                     f"keep): {premise.text(4, ' nats')} at the last step; {premise_words(premise)}. The right "
                     "panel shows the gap over training.")
    fewer = [(label(rs[0], n_layers), verdicts[name]) for name, rs in order
             if 0 < rs[0]['n_long'] < n_layers and name in placement and name in verdicts]
    if fewer:
        # Named without their inner comma, so that a list of them reads as one.
        groups = [(word, [text.replace(', ', ' ') for text, v in fewer if v.verdict == word])
                  for word in (stats.AHEAD, stats.TIE, stats.BEHIND, stats.UNRESOLVED)]
        line = ('* **Fewer long layers against all long** (finding 1): '
                + '; '.join(f"{word}: {', '.join(names)}" for word, names in groups if names) + '.')
        if premise and premise.verdict != stats.AHEAD and any(v.verdict == stats.AHEAD for _, v in fewer):
            line += (' With the premise not shown, being ahead of all long says that the all-long model '
                     'trains worse at this budget, not that fewer long layers keep what all of them do.')
        lines.append(line)
    for n in range(1, n_layers):
        if f'{n} first' in verdicts:
            v = verdicts[f'{n} first']
            lines.append(f"* **{n} long, first against last** (finding 2): {v.text(4, ' nats')}; "
                         f"{against_paper(v, +1)}.")
    if shorts:
        best = min(shorts, key=lambda rs: statistics.mean(losses(rs)))
        lines.append(f"* **Short range** (finding 3): the lowest mean is at {best[0]['short_mem_len']} characters "
                     f"({statistics.mean(losses(best)):.4f})"
                     + (f"; against all long {said(best[0]['name'], best)}." if all_long else '.'))
        line = '* **The sweep**, one long layer on top: ' + ', '.join(
            f"short {rs[0]['short_mem_len']} → {statistics.mean(losses(rs)):.4f}" for rs in shorts)
        if 'sweep' in verdicts:
            line += (f"; the shortest against the longest, {verdicts['sweep'].text(4, ' nats')}; "
                     f"{against_paper(verdicts['sweep'], -1)}.")
        lines.append(line + ('' if line.endswith('.') else '.'))
    for budget, (longs, shorts_) in others.items():
        if f'{budget} steps' in verdicts:
            v = verdicts[f'{budget} steps']
            lines.append(f"* **With {budget:,} steps**, all long against all short: {v.text(4, ' nats')} "
                         f"(all long {statistics.mean(losses(longs)):.4f}, all short "
                         f"{statistics.mean(losses(shorts_)):.4f}): {paid_words(v)}. Only these two baselines were "
                         f"trained that long; every line above is read at {main:,} steps.")
    # The three findings in one line, each from the verdicts above and nothing else: the
    # page's headline.
    placements = [verdicts[f'{n} first'] for n in range(1, n_layers) if f'{n} first' in verdicts]
    in_sum = ''
    if premise:
        sums = ['finding 1 ' + ('is read against all long below' if premise.verdict == stats.AHEAD
                                else 'cannot be tested, its premise not being shown')]
        if placements:
            sums.append(f"finding 2 is {finding(placements, +1)}")
        if 'sweep' in verdicts:
            sums.append(f"finding 3 is {finding([verdicts['sweep']], -1)}")
        in_sum = f"In sum, at {len(seeds)} seeds and {main:,} steps: " + '; '.join(sums) + '.'
    if unread:
        lines.append(f"* **Not read here:** {', '.join(f'`{n}`' for n in sorted(unread))}: recorded at a budget "
                     f"other than {main:,} steps, where the page reads only the two baselines.")
    # What the plan holds that the records do not: said on the page, with the command that
    # runs exactly what is missing.
    longer = max(others) if others else Settings.longer_steps if Settings.longer_steps > main else 2 * main
    planned = [name for name, _ in cells('all', main, longer)]
    missing = [name for name in planned if name not in every_run or len(every_run[name]) < len(seeds)]
    if missing:
        lines.append(f"* **Not run:** {', '.join(f'`{n}`' for n in missing)}: in the study's plan, "
                     "not in these records (left out for compute, or missing a seed); "
                     f"`python -m labml_memory.studies run {NAME}` runs only what is missing "
                     "(`part=longer` for the longer budget alone), and then rewrites this page.")
    from labml_memory.studies import echo
    echo_lines, echo_claims = echo.depth_section(out, f'{echo.NAME}.md')
    if echo_lines:
        lines += ['', *echo_lines]
        in_sum += ''.join(f" On echoes, {what}: {word}." for what, word in echo_claims)
    question = (f'Does a {n_layers}-layer Transformer-XL need a long memory in every layer? If only in some, '
                'which, and does a shorter range in the others help?')
    return {f'{NAME}.md': Page(
        title='Memory-depth study',
        verdict=f"**{question}** {in_sum or 'These records hold neither baseline.'}"
                + (f" Seed by seed, {tally(verdicts)}." if verdicts else ''),
        figures=[(f'{NAME}/study.png', 'Loss against state; loss against the short range; all long minus all short '
                                       'over training')],
        about=f"Tiny Shakespeare, {len(seeds)} seed{'s' if len(seeds) != 1 else ''} per configuration.",
        convention=Convention(SEED_CELLS, len(verdicts), margin, ' nats per character',
                              example=next(iter(verdicts.values())).text(4) if verdicts else ''),
        body=lines, made=made(list(records), seeds, margin, main, others, verdicts))}




def name_of(runs: Dict[str, List[Dict]], rs: List[Dict]) -> Optional[str]:
    return next((name for name, found in runs.items() if found is rs), None)


# ## How the numbers were made
#
# Every distinct command the records were made by, in the order they were first run. Where
# that was the study's earlier script, the page says so: its plan had the same keys, so the
# runner's plan finds those records.
def made(every: List[Dict], seeds: List[int], margin: float, main: int, others, verdicts) -> List[str]:
    dates = sorted(r['machine']['date'] for r in every)
    m = every[0]['machine']
    commands = list(dict.fromkeys(r['command'].strip() for r in sorted(every, key=lambda r: r['machine']['date'])))
    lines = ['```', *commands, f'python -m labml_memory.studies report {NAME}', '```', '']
    if any(not c.startswith('python -m labml_memory.studies') for c in commands):
        lines += ['The runs were launched by the study\'s earlier script, as their records say; '
                  f'`python -m labml_memory.studies run {NAME}` plans these runs under the same keys, so it '
                  'finds them recorded and runs only what is missing.', '']
    longer = [longs[0]['steps'] for longs, shorts in others.values() if longs]
    lines += [f"* **Machine:** {m['cpu']}, {m['cores']} cores, one PyTorch thread per run, PyTorch {m['torch']}.",
              f"* **Date:** {dates[0]} to {dates[-1]}",
              f"* **Seeds:** {', '.join(map(str, seeds))} ({len(every)} runs)",
              f"* **Wall time:** {sum(r['seconds'] for r in every):,.0f} s of training in all, two runs at "
              "a time on the two cores; the machine was shared with other work at times, so these are "
              "upper bounds.",
              f"* **Steps:** {main:,} per run"
              + (f" ({', '.join(f'{s:,}' for s in longer)} for the longer budget's baselines)" if longer else '')
              + f"; run ids in each record (`docs/results/{NAME}/records/`)."]
    if any(r.get('converted') for r in every):
        ties = sum(v.verdict == stats.TIE for v in verdicts.values())
        lines.append(f"* **Margin:** the ±{margin:g} nats per character of a tie is a setting of the study; "
                     "these records predate it, and it was declared when they were converted to the study's "
                     "format, after the runs" + ('; no verdict on this page is a tie.' if not ties else '.'))
    return lines + ['']


STUDY = Study(NAME, 'How many long-range layers does a transformer need, and where?', Settings, plan,
              execute, report, pages=[f'{NAME}.md'], seeds='3', reads=('echo',))
