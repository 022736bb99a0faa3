r"""
# Study: does our Infini-attention need more memory, or more time per token, for a longer text?

Infini-attention promises that reading a longer text costs proportionally more *time* but no
more *memory*: every head carries $d_k (d_v + 1)$ numbers from segment to segment, whatever
the length. This study reads random texts of growing length with our
[model](../infini_attention/__init__.py) and with
[`infini-transformer-pytorch`](https://github.com/lucidrains/infini-transformer-pytorch), the
most used public port, at the same configuration, and records for every length the tokens
read per second and the peak memory of the read. How one read is measured (a fresh process
per measurement, resident memory on a CPU, PyTorch's peak allocation on a GPU) is the
[measuring tool](../infini_attention/benchmark.py) beside the model; what is measured in which
order, the record and the page are here.

```
python -m labml_memory.studies run infini_benchmark                      # CPU, one thread
python -m labml_memory.studies run infini_benchmark lengths=512,2048 batch=2 threads=2
python -m labml_memory.studies report infini_benchmark                   # the page from the record
```

The port is optional: `pip install --no-deps infini-transformer-pytorch einops
rotary-embedding-torch` (the project's `bench` extra). Without it the study measures our
model alone and the page says so.

**Interleaved rounds.** Each round visits every length, and at each length reads with ours and
the port one right after the other, in an order that alternates from round to round. On a
shared machine the load drifts over the minutes a run takes; measuring all of ours before all
of the port's (as this measurement once did) puts that drift into the ratio. Each round's
ratio compares two reads taken seconds apart, so the rounds pair the two implementations the
way seeds pair two cells of a trained study, and the verdicts compare them round by round.

**The verdict.** Speed is compared on the logarithm of tokens per second: the paired
difference of a round is $\log(\text{ours}) - \log(\text{port})$, the log of that round's
ratio, so a margin of $\delta$ is a ratio within $[e^{-\delta}, e^{\delta}]$. Memory is
shown, not tested: it is a few MiB at every length for both, and its differences are the
allocator's granularity, not a state that grows.
"""
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from labml_memory.studies import stats
from labml_memory.studies import plots
from labml_memory.studies.runner import Convention, Page, Records, Run, Study, why_not_run

NAME = 'infini_benchmark'
PORT = 'infini-transformer-pytorch'
# The segment length of the measuring tool's configuration: a length must be a whole number
# of segments (a short last segment costs less than the others).
SEG_LEN = 64


@dataclass
class Settings:
    # Four lengths, each four times the last, from 8 to 512 segments.
    lengths: List[int] = field(default_factory=lambda: [512, 2048, 8192, 32768])
    batch: int = 4
    # `cpu` or `cuda`. Threads are fixed explicitly: PyTorch's default (every core) would make
    # the two implementations compete with the machine's other jobs differently from run to run.
    device: str = 'cpu'
    threads: int = 1
    rounds: int = 3
    # Ours and the port read at the same speed if the mean log ratio over rounds is shown to
    # be within this margin: 0.05 is a ratio between 0.95 and 1.05.
    margin: float = 0.05

    def validate(self) -> None:
        bad = [L for L in self.lengths if L <= 0 or L % SEG_LEN]
        if not self.lengths or bad:
            raise ValueError(f"lengths must be positive multiples of the segment length {SEG_LEN}; got {bad or 'none'}")
        for name in ('batch', 'threads', 'rounds'):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not (self.device == 'cpu' or self.device.startswith('cuda')):
            raise ValueError(f"device must be cpu or cuda (cuda:N), got {self.device!r}")
        if self.margin < 0:
            raise ValueError(f"margin is a size, at least 0; got {self.margin}")


# One record per device, batch and thread count. Measuring again with them is a deliberate
# act (move the record to `history/WHY/`), since a timing is not a seed that adds to others.
def plan(settings: Settings) -> List[Run]:
    key = f"{settings.device.replace(':', '')}-batch{settings.batch}-threads{settings.threads}"
    return [Run(key, {'lengths': list(settings.lengths), 'batch': settings.batch, 'device': settings.device,
                      'threads': settings.threads, 'rounds': settings.rounds, 'margin': settings.margin})]


# ## The rounds
#
# `measure(name, length)` is one measurement; the order of the calls is the whole point: both
# implementations back to back at each length, who goes first alternating by round.
def measure_rounds(names: List[str], lengths: List[int], rounds: int,
                   measure: Callable[[str, int], Optional[Dict]]) -> List[Dict[str, Dict[str, Dict]]]:
    by_round = [{n: {} for n in names} for _ in range(rounds)]
    for r in range(rounds):
        for length in lengths:
            for n in (names if r % 2 == 0 else names[::-1]):
                by_round[r][n][str(length)] = measure(n, length)
    return by_round


# The median of the rounds (robust to one round caught by a burst of load), with the lowest
# and highest beside it. A round that failed is left out; if all failed, the error is kept.
def summarise(rounds: List[Optional[Dict]]) -> Dict:
    ok = [r for r in rounds if r and 'error' not in r]
    if not ok:
        return rounds[0] or {'error': 'failed'}
    summary = {'parameters': ok[0]['parameters'], 'rounds': len(ok)}
    for key in ('tokens_per_second', 'peak_bytes'):
        values = sorted(r[key] for r in ok)
        summary.update({key: values[len(values) // 2], f'{key}_min': values[0], f'{key}_max': values[-1]})
    return summary


# The record keeps every round (`rounds`), the summary the table prints and each round's ratio
# of ours over the port's tokens per second, by length.
def record_of(by_round: List[Dict[str, Dict[str, Dict]]], names: List[str], lengths: List[int]) -> Dict[str, Any]:
    from labml_memory.infini_attention.benchmark import CONFIG
    keys = [str(L) for L in lengths]
    summary = {n: {L: summarise([rnd[n][L] for rnd in by_round]) for L in keys} for n in names}
    ratios = {L: [rnd[names[0]][L]['tokens_per_second'] / rnd[names[1]][L]['tokens_per_second']
                  for rnd in by_round if all('tokens_per_second' in (rnd[n][L] or {}) for n in names)]
              if len(names) == 2 else [] for L in keys}
    return {'config': dict(CONFIG), 'rounds': by_round, 'summary': summary, 'ratios': ratios}


def execute(run: Run, measurer: Optional[Callable] = None) -> Dict[str, Any]:
    from labml_memory.infini_attention import benchmark
    s = run.settings
    measurer = measurer or benchmark.in_subprocess
    names = ['ours'] + ([PORT] if benchmark.peer_available() else [])
    by_round = measure_rounds(names, s['lengths'], s['rounds'],
                              lambda n, L: measurer(n, L, s['batch'], s['device'], s['threads']))
    return record_of(by_round, names, s['lengths'])


# ## The verdicts
#
# One comparison per length and record, all of the page in one call: the log of tokens per
# second, ours minus the port's, paired by round. A round where either read failed cannot be
# paired and is left out of both.
def speed_pairs(record: Dict[str, Any]) -> Dict[str, tuple]:
    names = list(record['summary'])
    pairs = {}
    if len(names) < 2:
        return pairs
    for length in record['summary'][names[0]]:
        ok = [i for i, rnd in enumerate(record['rounds'])
              if all('tokens_per_second' in (rnd[n][length] or {}) for n in names)]
        pairs[f"{record['key']} {length}"] = tuple(
            {i: math.log(record['rounds'][i][n][length]['tokens_per_second']) for i in ok} for n in names)
    return pairs


def verdicts(records: Records) -> Dict[str, stats.Verdict]:
    margins = {r['run']['margin'] for r in records}
    if len(margins) > 1:
        raise ValueError(f"{NAME}: the records declare different margins {sorted(margins)}; "
                         f"one page, one margin: move the odd record to history/")
    pairs = {label: pair for record in records for label, pair in speed_pairs(record).items()}
    return stats.compare(pairs, margins.pop(), lower_is_better=False) if pairs else {}


# A verdict on the log scale, printed as the ratio it stands for.
def ratio_text(v: stats.Verdict) -> str:
    if v.seeds < 2:
        return f"×{math.exp(v.mean):.2f} (one round), {v.verdict}"
    return f"×{math.exp(v.mean):.2f} [{math.exp(v.low):.2f}, {math.exp(v.high):.2f}], {v.verdict}"


# ## The figure
#
# Two panels over context length on a log scale: throughput, which should be flat too (a
# segment costs the same whether it is the first or the thousandth), and peak memory, the
# line the paper's claim is about. The whiskers span the lowest and highest round: the spread
# the ratios are read against.
def draw(summary: Dict[str, Dict[str, Dict]], path: Path) -> None:
    plt = plots.pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.0, 3.6), layout='constrained')
    for k, (name, res) in enumerate(summary.items()):
        ok = [L for L in res if res[L] and 'error' not in res[L]]
        xs = [int(L) for L in ok]
        for ax, key, scale in ((left, 'tokens_per_second', 1), (right, 'peak_bytes', 1024 ** 2)):
            mid = [res[L][key] / scale for L in ok]
            low = [m - res[L].get(f'{key}_min', res[L][key]) / scale for m, L in zip(mid, ok)]
            high = [res[L].get(f'{key}_max', res[L][key]) / scale - m for m, L in zip(mid, ok)]
            ax.errorbar(xs, mid, yerr=[low, high], capsize=3, label=name, **plots.series(k))
    for ax, title in ((left, 'tokens per second'), (right, 'peak memory during the read (MiB)')):
        ax.set_xscale('log', base=2)
        ax.set_xlabel(f'context length (tokens, {plots.LOG})')
        ax.set_title(title)
        ax.grid(alpha=0.3)
    right.set_ylim(bottom=0)
    left.set_ylim(bottom=0)
    plots.legend_below(fig, ncol=2)
    plots.save(fig, path)


# ## The table of one record
#
# One column per implementation and quantity, and our figure over the port's after each pair:
# per round and then the median for speed, the ratio of the medians for memory.
COLUMNS = (('tokens_per_second', 'tok/s'), ('peak_bytes', 'peak MiB'))


def table(record: Dict[str, Any]) -> List[str]:
    names, summary = list(record['summary']), record['summary']
    both = len(names) == 2
    header = ['context (tokens)']
    for _, unit in COLUMNS:
        header += [f'{n} {unit}' for n in names] + (['ours / port'] if both else [])
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---:|' * len(header)]
    for length in summary[names[0]]:
        row = [f'{int(length):,}']
        for key, _ in COLUMNS:
            # Peak memory in MiB, throughput in tokens; a failed measurement shows its error.
            scale = 1024 ** 2 if key == 'peak_bytes' else 1
            cells = [summary[n][length] for n in names]
            values = [c[key] / scale if key in c else None for c in cells]
            row += [f"{v:,.1f}<br><small>{c[f'{key}_min'] / scale:,.1f}–{c[f'{key}_max'] / scale:,.1f}</small>"
                    if v is not None else why_not_run(c.get('error', '')) for v, c in zip(values, cells)]
            if both and key == 'tokens_per_second':
                rs = sorted(record['ratios'][length])
                row.append(f'{rs[len(rs) // 2]:.2f}<br><small>{rs[0]:.2f}–{rs[-1]:.2f}</small>' if rs else '–')
            elif both:
                ok = None not in values and values[1] > 0
                row.append(f'{values[0] / values[1]:.2f}' if ok else '–')
        lines.append('| ' + ' | '.join(row) + ' |')
    return lines


# What the reading says, from the record: the range of the peaks, how far the rounds of one
# implementation spread, the size of the state. Nothing here is typed in by hand.
def reading(record: Dict[str, Any], device: str) -> List[str]:
    names, summary, config = list(record['summary']), record['summary'], record['config']
    lengths = [int(L) for L in summary[names[0]]]
    ok = {n: [c for c in summary[n].values() if 'error' not in c] for n in names}
    peaks = {n: max(c['peak_bytes_max'] for c in ok[n]) / 1024 ** 2 for n in names if ok[n]}
    # $H$ heads of $d_k \times (d_v + 1)$ float32 numbers in each of the layers.
    d_k = config['d_model'] // config['heads']
    state = config['n_layers'] * config['heads'] * d_k * (d_k + 1)
    lines = [f"* **Memory is flat** for both: reading {max(lengths) // min(lengths)} times more text "
             "needs no more memory; the highest peak of any round is "
             + ', '.join(f"{p:.1f} MiB for {n}" for n, p in peaks.items())
             + f", whatever the length. The state itself is ${config['n_layers']} \\times {config['heads']} "
             f"\\times {d_k} \\times {d_k + 1}$ float32 numbers, {state * 4 / 1024:.0f} KiB per sequence"
             + (", below the CPU allocator's granularity: differences of a MiB or two between lengths, "
                "or between the two implementations, are not the state, and the memory ratio should "
                "not be quoted." if device == 'cpu' else '.')]
    spread = max((c['tokens_per_second_max'] / c['tokens_per_second_min'] - 1) for n in names for c in ok[n])
    lines.append(f"* **Throughput is flat** too, for both: a segment costs the same whether it is the first "
                 f"or the {max(lengths) // config['seg_len']:,}th. The rounds of one implementation at "
                 f"one length spread by up to {spread:.0%}, which is why each ratio pairs two reads "
                 "taken seconds apart.")
    if len(names) == 2:
        medians = [statistics.median(r) for r in record['ratios'].values() if r]
        p = {n: ok[n][0]['parameters'] for n in names}
        lines.append(f"* In the median round ours reads {min(medians):.2f} to {max(medians):.2f} times as "
                     "many tokens per second as the port; the verdicts above say what the rounds "
                     "can and cannot tell of that.")
        lines.append(f"* The parameter counts differ by {abs(p[names[0]] / p[names[1]] - 1):.1%} "
                     f"({p[names[0]]:,} against {p[names[1]]:,}): the same size, with different "
                     "norms and feed-forward details.")
    return lines


# What the verdicts of this page add to the convention every page states: a round stands for
# a seed, and the margin is a ratio.
def convention(found: Dict[str, stats.Verdict], records: Records) -> List[str]:
    return ["Here a round stands for a seed: the difference of a round is the log of its ratio."
            + (' The record predates the margin, which was declared with this study after the '
               'measurement.' if any(r.get('converted') for r in records) else '')]


# ## The page
def report(records: Records, out: Path) -> Dict[str, Page]:
    from labml_memory.training import provenance
    found = verdicts(records)
    words: Dict[str, List[str]] = {}
    for label, v in found.items():
        words.setdefault(v.verdict, []).append(f"{int(label.split()[-1]):,}")
    lines, figures, flat = [], [], []
    for record, path in records.runs:
        s, names, config = record['run'], list(record['summary']), record['config']
        figure = f"{NAME}/{record['key']}.png"
        draw(record['summary'], Path(out) / figure)
        figures.append((figure, 'Tokens per second and peak memory against context length'
                        + (f" on {record['key']}" if len(records) > 1 else '')))
        if len(records) > 1:
            lines += [f"## On `{record['key']}`", '']
        lines += [f"Reading random text segment by segment, no gradients; batch {s['batch']}, segment "
                  f"{config['seg_len']}, {config['n_layers']} layers, width {config['d_model']}, "
                  f"{config['heads']} heads, feed-forward {config['d_ff']}; device {s['device']}, "
                  f"{s['threads']} thread(s). Each figure is the median of {s['rounds']} interleaved "
                  "rounds, with the lowest and highest round in small type.", '']
        if len(names) == 1:
            lines += [f'**{PORT} is not installed**: our model alone. Install it with '
                      f'`pip install --no-deps {PORT} einops rotary-embedding-torch`.', '']
        params = {n: next((c['parameters'] for c in record['summary'][n].values() if 'parameters' in c), None)
                  for n in names}
        lines += ['Parameters: ' + ', '.join(f'{n} {p:,}' if p else f'{n} ?' for n, p in params.items()), '']
        lines += table(record) + ['']
        lines += ['* **tok/s**: characters read per second over the whole text, segment by segment, '
                  'without gradients.',
                  "* **peak MiB**: how far the process's peak resident memory rose during the read (on a "
                  "GPU, PyTorch's peak allocation), each measurement in a fresh process.",
                  "* **ours / port**: our figure over the port's, per round and then the median with the "
                  "lowest and highest round; above 1 ours reads faster, below 1 ours needs less memory "
                  "(the memory ratio is of the medians: differences of a MiB or two are the allocator's "
                  "granularity).", '']
        mine = {label: v for label, v in found.items() if label.startswith(f"{record['key']} ")}
        if mine:
            lines += ["Ours against the port in tokens per second, round by round:", '',
                      '| context (tokens) | ours / port over the rounds |', '|---:|---|']
            lines += [f"| {int(label.split()[-1]):,} | {ratio_text(v)} |" for label, v in mine.items()]
            lines += [''] + convention(found, records) + ['']
        lines += reading(record, s['device']) + ['']
        lengths = [int(L) for L in record['summary'][names[0]]]
        flat.append(max(lengths) // min(lengths))
    made = ['```'] + [r['command'] for r in records] + ['```', '']
    for record, path in records.runs:
        seconds = record.get('seconds')
        made += [f"* **Machine:** {provenance.describe(record.get('machine'))} as the run ended",
                 f"* **Date:** {provenance.date_of(record, path)}",
                 "* **Seeds:** none: the texts are random and the models untrained; the rounds are the repeats",
                 f"* **Rounds:** {record['run']['rounds']}, interleaved",
                 f"* **Wall time:** {f'{seconds:,.0f} s' if seconds else 'not recorded'} for the whole run"]
        if record.get('converted'):
            made.append(f"* **Record:** {record['converted']}; the same measurement is now "
                        f"`python -m labml_memory.studies run {NAME}` (with this record moved to `history/`)")
    example = ratio_text(next(iter(found.values()))) if found else ''
    return {f'{NAME}.md': Page(
        title='Infini-attention against infini-transformer-pytorch',
        verdict=('**Does reading a longer text cost more memory?** Infini-attention says no: its state is fixed '
                 'whatever the length, and the peak memory of both implementations stays flat over '
                 f'{max(flat)} times more text.'
                 + (' Is ours faster? Round by round: '
                    + '; '.join(f"{w} at {', '.join(ls)} tokens" for w, ls in words.items()) + '.'
                    if words else '')),
        figures=figures,
        about=('Both implementations read texts of growing length here, and the figure gives tokens per second '
               'and peak memory against the length.'),
        convention=Convention('A table cell is the median over rounds, with the lowest and highest round in '
                              'small type under it.', len(found), next(iter(found.values())).margin if found else 0,
                              ' in log tokens per second', pairs='rounds', ratio=True, example=example),
        body=lines, made=made)}


STUDY = Study(NAME, "How do our Infini-attention's speed and memory scale with length, against the port?",
              Settings, plan, execute, report, pages=[f'{NAME}.md'], seeds='rounds')
