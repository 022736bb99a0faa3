r"""
# Study: every memory architecture on one machine

How fast does each architecture train and generate, against the public implementations of the
same paper, at one shared configuration on one machine? The [benchmark](../benchmark/__init__.py)
package measures; this module is its study on the [runner](runner.py): the settings, the one
run they plan, and the page its record becomes.

```
python -m labml_memory.studies run benchmark                      # every entry, 5 rounds
python -m labml_memory.studies run benchmark rounds=5 threads=0    # more rounds, PyTorch's threads
python -m labml_memory.studies run benchmark size=tiny only=transformer_xl,xtransformers_xl
python -m labml_memory.studies report benchmark                   # the page from the record alone
```

One run measures every entry, round after round, because the rounds interleave the entries
(see [rounds](../benchmark/rounds.py)): split into a run per entry, two entries would no longer
share a round, and nothing would pair them. So the record is one per configuration, keyed by
what changes the numbers (the sizes, the threads, the entries, the modules hidden); the
number of rounds is not in the key, since a timing is not a seed that adds to the others, and
measuring a recorded configuration again is a deliberate act: move its record to
`docs/results/benchmark/history/<why>/` first.

The page ([benchmark](../results/benchmark.md)) is written by the
[page builder](benchmark_page.py) from the record of the default configuration, or, where
there is none (a test's folder), from the newest record there is.
"""
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from labml_memory.studies import stats
from labml_memory.studies.runner import Convention, Page, Records, Run, Study, tally

NAME = 'benchmark'


@dataclass
class Settings:
    # `full`: the CPU preset every page shows; `tiny`: seconds per entry, for the test suite.
    size: str = 'full'
    # Every entry is measured this many times, each in a fresh process; the median round counts
    # for the tables, and the rounds pair the entries for the verdicts.
    rounds: int = 5
    # PyTorch threads per measured process; 0 keeps PyTorch's default (one per core).
    threads: int = 1
    # Entries to measure, by name (default: every one of ours, the baseline, every peer).
    only: List[str] = field(default_factory=list)
    # Top-level modules to pretend are not installed (the tests' missing peer).
    hide: List[str] = field(default_factory=list)
    # The equivalence margin of the round-by-round verdicts, in ln tokens/s: 0.05 is a ratio
    # within about ±5%, below which a difference in speed is not worth a name.
    margin: float = 0.05

    def validate(self) -> None:
        from labml_memory.benchmark.rounds import check_entries
        from labml_memory.benchmark.timing_plan import SIZES
        if self.size not in SIZES:
            raise ValueError(f"size must be one of {', '.join(SIZES)}; got {self.size!r}")
        if self.threads < 0 or self.rounds < 1:
            raise ValueError(f"threads must be >= 0 and rounds >= 1, got threads={self.threads} "
                             f"and rounds={self.rounds}")
        if self.margin < 0:
            raise ValueError(f"margin is a size in ln tokens/s, got {self.margin!r}")
        check_entries(self.only)


# ## The one run
#
# Its key names what changes the numbers, shortest for the default: `full` is the page's.
def key_of(settings: Settings) -> str:
    parts = [settings.size]
    if settings.threads != 1:
        parts.append(f'threads{settings.threads}')
    if settings.only:
        parts += ['only', *settings.only]
    if settings.hide:
        parts += ['hide', *settings.hide]
    return '-'.join(parts)


def plan(settings: Settings) -> List[Run]:
    return [Run(key_of(settings), asdict(settings))]


def execute(run: Run) -> Dict[str, Any]:
    from labml_memory.studies.benchmark_page import console_table
    from labml_memory.benchmark.rounds import measure_all
    from labml_memory.benchmark.timing_plan import SIZES
    settings = Settings(**run.settings)
    sizes, timing = SIZES[settings.size]
    timing = replace(timing, rounds=settings.rounds, threads=settings.threads)
    record = measure_all(sizes, timing, settings.only or None, settings.hide,
                         log=lambda line: print(line, flush=True))
    # The table the run used to leave in a file is printed instead: the page has it all. A
    # table that cannot be printed must not cost the record of a long measurement.
    try:
        print(console_table(record), flush=True)
    except Exception as error:  # the page builder is checked by the tests, not here
        print(f"(no console table: {type(error).__name__}: {error})", flush=True)
    return record


# ## Round by round
#
# These are timings, not trained results: there are no seeds, and what stands behind a
# throughput is its rounds. Round $r$ measured every entry once, one after another, so two
# entries of one round met much the same load; the rounds pair them as seeds pair two cells
# of a trained study. A throughput is a rate, and a lead is a ratio, so the paired difference
# is of logarithms: for round $r$,
# $$d_r = \ln \text{tokens/s}_{ours, r} - \ln \text{tokens/s}_{peer, r},$$
# and the [statistics](stats.py) read the $d_r$ like any paired differences, with Holm's
# correction across the page's comparisons and the equivalence margin the study declared (in
# $\ln$ units: $0.05$ is a ratio within about $\pm 5\%$). The page prints the mean and its
# interval back as ratios, $e^{\bar d}$: the geometric mean of the per-round ratios. Two
# rounds give a Student interval with one degree of freedom, which is wide; a lead that two
# rounds cannot resolve is printed as such.
def by_round(row: Dict[str, Any], rounds: int) -> Optional[Dict[int, float]]:
    """`{round: ln tokens/s}` for a row, or `None` where the record does not say which
    round each throughput came from."""
    values = row.get('tokens_per_second_rounds') or []
    which = row.get('rounds_measured')
    # Records made before `rounds_measured` was kept list every round in order when every
    # round ran, which is the one case where the rounds are known.
    if which is None:
        which = list(range(len(values))) if len(values) == rounds else None
    if which is None or len(which) != len(values):
        return None
    return {i: math.log(v) for i, v in zip(which, values)}


# The comparisons of the page: each of ours that ran, against the fastest peer of its paper
# that ran, on the rounds both have; in training (`family`), and in generation at each batch
# (`family@b`), where the paired value of a round is $-\ln$ of its time per token (the
# geometric mean over the context lengths), so that higher is faster there too. One call,
# so Holm's correction spans them all.
def verdicts(record: Dict[str, Any]) -> Tuple[Dict[str, stats.Verdict], Dict[str, str]]:
    """The verdict of each paper's comparison, and why the others could not be paired."""
    from labml_memory.benchmark.rounds import fastest_peers, generation_by_round
    ok = [r for r in record['rows'] if r.get('status') == 'ok']
    rounds = record['plan']['rounds']
    pairs: Dict[str, Tuple[Dict[int, float], Dict[int, float]]] = {}
    unpaired: Dict[str, str] = {}

    def pair(label, mine, theirs):
        if mine is None or theirs is None:
            unpaired[label] = 'the record does not say which round each throughput came from'
            return
        common = sorted(set(mine) & set(theirs))
        if not common:
            unpaired[label] = 'no round measured both'
            return
        pairs[label] = ({i: mine[i] for i in common}, {i: theirs[i] for i in common})

    for ours in [r for r in ok if r['kind'] == 'ours']:
        running = [r for r in ok if r['kind'] == 'peer' and r['implements'] == ours['implements']]
        if not running:
            continue
        fastest = max(running, key=lambda p: p['tokens_per_second'])
        pair(ours['implements'], by_round(ours, rounds), by_round(fastest, rounds))
        for batch in ours.get('generation_rounds', {}):
            peer = fastest_peers(ok, batch).get(ours['implements'])
            if peer is not None:
                pair(f"{ours['implements']}@{batch}",
                     {i: -math.log(t) for i, t in generation_by_round(ours, batch).items()},
                     {i: -math.log(t) for i, t in generation_by_round(peer, batch).items()})
    found = stats.compare(pairs, margin=record['run']['margin'], lower_is_better=False) if pairs else {}
    return found, unpaired


def verdict_text(verdict: stats.Verdict) -> str:
    """`1.43× [0.60×, 3.41×] over 2 rounds, **not resolved**`: `Verdict.text` as ratios."""
    if verdict.seeds < 2:
        return f"{math.exp(verdict.mean):.2f}× (one round), {verdict.verdict}"
    return (f"{math.exp(verdict.mean):.2f}× [{math.exp(verdict.low):.2f}×, {math.exp(verdict.high):.2f}×] "
            f"over {verdict.seeds} rounds, **{verdict.verdict}**")


# What the reading prints for each paper, and what this study adds to the definition of the
# brackets and words every page gives once: the pairs are rounds, printed back as ratios.
def judged(record: Dict[str, Any]) -> Tuple[Dict[str, str], str]:
    found, unpaired = verdicts(record)
    texts = {label: f"round by round, ours over the peer: {verdict_text(v)}" for label, v in found.items()}
    texts.update({label: f"not compared round by round: {why}" for label, why in unpaired.items()})
    note = ''
    if found:
        note = ("Here the pairs are rounds, not seeds (each round measured every entry once), and the "
                "difference of a round is the log of its ratio: of throughputs in training, ours over the "
                "peer's, and of times per generated token in generation, the peer's over ours.")
    return texts, note


# The headline: for each paper with a peer that ran, ours over the fastest peer (the median
# of the per-round ratios) in training and in generation at each batch, and how many of those
# comparisons the rounds decide.
def headline(record: Dict[str, Any]) -> str:
    from labml_memory.studies.benchmark_page import FAMILY
    rows = record['rows']
    ours = [r for r in rows if r['kind'] == 'ours' and r.get('status') == 'ok'
            and r.get('ratio_to_fastest_peer') is not None]
    if not ours:
        return 'No architecture of ours had a peer that ran.'
    parts = []
    for r in ours:
        gen = r.get('generation_ratio_to_fastest_peer') or {}
        parts.append(f"{FAMILY.get(r['implements'], r['implements'])} {r['ratio_to_fastest_peer']:.2f}× in training"
                     + ''.join(f", {g['ratio']:.2f}× generating at batch {b}" for b, g in gen.items()))
    found, _ = verdicts(record)
    return ("Ours against the fastest public peer of each paper, the median of per-round ratios (above 1: ours "
            "faster): " + '; '.join(parts)
            + (f". Round by round, {tally(found, 'rounds')}" if found else '') + '.')


# ## The page
#
# The default configuration's record is the page; every other record, current or
# superseded, is named at its foot.
def report(records: Records, out: Path) -> Dict[str, Page]:
    from labml_memory.studies.benchmark_page import page, plot
    if not len(records):
        raise SystemExit(f"{NAME}: only superseded records under {records.folder / 'history'}; "
                         f"run the study to make a current one")
    default = plan(Settings())[0].key
    shown = records.get(default)
    if shown is None:
        # No default record (a test's folder): the newest one there is.
        shown = max(records, key=lambda r: r['machine'].get('date', ''))
    others = [f"`{path.stem}` ({record['machine'].get('date', 'undated')})"
              for record, path in records.runs if record is not shown]
    others += [f"`history/{why}/{path.stem}` ({record['machine'].get('date', 'undated')})"
               for why, kept in records.history.items() for record, path in kept]
    folder = Path(out) / NAME
    figures = [f'{NAME}/{name}' for name in plot(shown, folder)]
    texts, note = judged(shown)
    found, _ = verdicts(shown)
    convention = Convention('A throughput is the median of the rounds; the rounds column gives the slowest '
                            'and the fastest.', len(found), shown['run']['margin'], ' in ln tokens/s',
                            pairs='rounds', ratio=True,
                            example=verdict_text(next(iter(found.values()))).replace('**', '') if found else '')
    return {f'{NAME}.md': page(shown, f"{NAME}/records/{shown['key']}.json", figures, texts, note, others,
                               verdict=headline(shown), convention=convention)}


STUDY = Study(NAME, 'How fast does each architecture train and generate, against the public '
                    'implementations of the same paper?',
              Settings, plan, execute, report, pages=[f'{NAME}.md'], seeds='rounds, not seeds')
