r"""
# Rounds: every entry, one process each, round after round

This is the measuring half of the [benchmark study](../studies/benchmark.py): it starts a
[worker](worker.py) per entry and round (and one for the round's yardstick), summarises each
entry by its median round, and derives the two figures that need every row at once, the
[ratios](#ratios-to-the-fastest-peer) and the [shares of the yardstick](#the-share-of-the-rounds-yardstick). What it returns is the study's record.

## Threads and rounds on a shared machine

On a machine whose cores are busy with other work, a PyTorch process with one thread per
core spends much of each small operation waiting for its other threads to be scheduled: we
saw the same 4-layer step take ten times longer with two threads than with one. So by default
every worker runs on **one thread**, the matmul yardstick too, which keeps the comparison fair
and repeatable; `threads=0` gives PyTorch's default on a quiet machine. Load from other jobs
comes and goes, so each entry is measured in `rounds` separate processes, interleaved with
the others: each round measures every entry once, one after another, before the next round
starts. A burst of load then hurts one round of several entries rather than every round of
one, and two entries of the same round met much the same machine, which is what lets the
page compare them [round by round](../studies/benchmark_page.py).
"""
import json
import math
import platform
import subprocess
import sys
import time
from statistics import median
from dataclasses import asdict, replace
from typing import Any, Dict, List, Optional, Sequence

from labml_memory.benchmark.entries import all_entries, describe
from labml_memory.benchmark.peers import Sizes
from labml_memory.benchmark.timing_plan import Plan
from labml_memory.benchmark.training_timing import STEP


# ## One worker
#
# Never two in parallel: they would compete for the same cores and every throughput would be
# wrong. A worker that dies or overruns becomes a row with the reason.
def run_worker(name: str, sizes: Sizes, plan: Plan, hide: Sequence[str] = (),
               yardstick: bool = False) -> Dict[str, Any]:
    # The same interpreter as the parent, so the worker sees the same installed packages.
    job = {'name': name, 'sizes': asdict(sizes), 'plan': asdict(plan), 'hide': list(hide),
           'yardstick': yardstick}
    command = [sys.executable, '-m', 'labml_memory.benchmark.worker', json.dumps(job)]
    # The worker's own console output (warnings, a peer's prints) is captured and ignored;
    # only its last JSON line is read, and its last error line if there is no JSON.
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=plan.timeout)
    except subprocess.TimeoutExpired:
        # `subprocess.run` has already killed the worker; its row says how long it was given.
        return {'name': name, **describe(name), 'status': f'failed: no result within {plan.timeout:.0f} s'}
    lines = [line for line in done.stdout.splitlines() if line.startswith('{')]
    # A crash (a segmentation fault, the out-of-memory killer) leaves no JSON: the last
    # line of its error output is the most useful thing to print.
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ['no output'])[-1]
        return {'name': name, **describe(name), 'status': f'failed (exit {done.returncode}): {tail}'}
    return json.loads(lines[-1])


# ## The median round
#
# Every round's throughput and generation times are kept (`tokens_per_second_rounds`,
# `generation_rounds`, with `rounds_measured` saying which rounds), and the row's figures are
# medians over its rounds: the training throughput, each generation time, and
# the share of the round's yardstick. The median is what a typical run of this machine
# gives; one disturbed round moves it little, and unlike a best-of it is not flattered by
# the luck of many tries. `tokens_per_second_rounds` and `rounds_measured` pair two entries
# round by round on the page.
def summarise(rounds: List[Dict[str, Any]]) -> Dict[str, Any]:
    ok = [(i, r) for i, r in enumerate(rounds) if r.get('status') == 'ok']
    # An entry that never ran keeps the reason from its last attempt.
    if not ok:
        return rounds[-1]
    # The figures that do not vary by round (parameters, FLOPs, state) come from the first
    # round that ran, the profile from the round that made one.
    row = dict(ok[0][1])
    row.pop('profile', None)
    for _, r in ok:
        if 'profile' in r:
            row['profile'] = r['profile']
    row['characters_per_step'] = row['tokens_per_second'] * row['step_seconds']
    row['rounds'] = len(ok)
    row['rounds_measured'] = [i for i, _ in ok]
    row['tokens_per_second_rounds'] = [r['tokens_per_second'] for _, r in ok]
    row['tokens_per_second'] = median(row['tokens_per_second_rounds'])
    row['step_seconds'] = median([r['step_seconds'] for _, r in ok])
    row['peak_rss_mb'] = median([r['peak_rss_mb'] for _, r in ok])
    generation = {b: {c: [r['generation_seconds_per_token'][b][c] for _, r in ok] for c in times}
                  for b, times in row['generation_seconds_per_token'].items()}
    row['generation_rounds'] = generation
    row['generation_seconds_per_token'] = {b: {c: median(v) for c, v in times.items()}
                                           for b, times in generation.items()}
    row['inference_seconds_per_token'] = row['generation_seconds_per_token'][next(iter(generation))]
    return row


# ## Ratios to the fastest peer
#
# For each of our architectures, the fastest *available* peer implementing the same paper
# (by median throughput) sets 1.00. A ratio is taken round by round, ours in round $r$
# over that peer in round $r$, and its median over the rounds both ran is the row's
# `ratio_to_fastest_peer`; generation likewise, as the peer's time per token over ours
# (above 1 where ours is faster), per batch, the geometric mean over the context lengths.
def _by_round(row: Dict[str, Any], values: Sequence[float]) -> Dict[int, float]:
    return dict(zip(row['rounds_measured'], values))


def generation_by_round(row: Dict[str, Any], batch: str) -> Dict[int, float]:
    """`{round: geometric mean over contexts of seconds per token}` at one batch."""
    times = row['generation_rounds'][batch]
    return {r: math.exp(sum(math.log(times[c][i]) for c in times) / len(times))
            for i, r in enumerate(row['rounds_measured'])}


# The fastest running peer of each paper: by median throughput in training (`batch=None`), by
# median time per generated token at one batch.
def fastest_peers(rows: List[Dict[str, Any]], batch: Optional[str] = None) -> Dict[str, Dict[str, Any]]:
    def speed(r):
        if batch is None:
            return r['tokens_per_second']
        return -median(generation_by_round(r, batch).values())
    fastest: Dict[str, Dict[str, Any]] = {}
    for r in rows:
        if r['kind'] != 'peer' or r.get('status') != 'ok':
            continue
        if batch is not None and batch not in r.get('generation_rounds', {}):
            continue
        best = fastest.get(r['implements'])
        if best is None or speed(r) > speed(best):
            fastest[r['implements']] = r
    return fastest


# The median over the rounds both measured of a per-round ratio, or `None` with no round in common.
def _paired_median(top: Dict[int, float], bottom: Dict[int, float]) -> Optional[float]:
    common = sorted(set(top) & set(bottom))
    return median([top[i] / bottom[i] for i in common]) if common else None


def add_ratios(rows: List[Dict[str, Any]]) -> None:
    fastest = fastest_peers(rows)
    # The fastest generating peers, found once per batch.
    generating: Dict[str, Dict[str, Dict[str, Any]]] = {}
    # Architectures without a running peer get `None`, printed as a dash, never a made-up 1.
    for r in rows:
        best = fastest.get(r['implements'])
        r['ratio_to_fastest_peer'] = None
        r['fastest_peer'] = best['name'] if best else None
        if best and r.get('status') == 'ok':
            r['ratio_to_fastest_peer'] = _paired_median(_by_round(r, r['tokens_per_second_rounds']),
                                                        _by_round(best, best['tokens_per_second_rounds']))
        r['generation_ratio_to_fastest_peer'] = {}
        if r.get('status') != 'ok' or 'generation_rounds' not in r:
            continue
        for batch in r['generation_rounds']:
            if batch not in generating:
                generating[batch] = fastest_peers(rows, batch)
            peer = generating[batch].get(r['implements'])
            if peer is None:
                continue
            ratio = _paired_median(generation_by_round(peer, batch), generation_by_round(r, batch))
            if ratio is not None:
                r['generation_ratio_to_fastest_peer'][batch] = {'peer': peer['name'], 'ratio': ratio}


# ## The share of the round's yardstick
#
# The share of an entry in round $r$ is its [counted FLOPs](flop_count.py) per step over its
# seconds per step in that round, divided by the matmul rate the round's yardstick measured
# just before; the row gives the median over its rounds.
def add_matmul_shares(rows: List[Dict[str, Any]], yardsticks: Dict[int, float]) -> None:
    for r in rows:
        if r.get('status') != 'ok':
            continue
        # A round's steps per second are its characters per second over the characters a step reads.
        shares = [r['flops_per_step'] * (tps / r['characters_per_step']) / yardsticks[i]
                  for i, tps in zip(r['rounds_measured'], r['tokens_per_second_rounds']) if yardsticks.get(i)]
        r['matmul_share_rounds'] = shares
        r['matmul_share'] = median(shares) if shares else None


# ## The machine
#
# The record names the machine its numbers come from: what every record of the project keeps
# (the CPU model as `/proc/cpuinfo` gives it, the cores, torch, the date and the load average,
# which tells a reader how busy the machine was; see [provenance](../training/provenance.py)),
# plus the Python and platform versions a speed comparison also depends on.
def machine() -> Dict[str, Any]:
    """The machine the numbers come from: CPU model, cores, torch and Python versions, load."""
    from labml_memory.training import provenance
    return {**provenance.machine(), 'python': platform.python_version(), 'platform': platform.platform()}


def check_entries(names: Sequence[str]) -> None:
    """A typo should fail before minutes of measuring, naming the valid entries."""
    known = set(all_entries())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown entries {unknown}; valid: {sorted(known)}")


# ## The whole measurement
#
# Rounds on the outside, entries inside; then each entry's median round, the ratios and the
# shares. The record keeps the configuration and the plan beside the rows, and which step
# was timed.
def measure_all(sizes: Sizes, plan: Plan, only: Optional[Sequence[str]] = None, hide: Sequence[str] = (),
                log=print) -> Dict[str, Any]:
    # `only` picks entries by name, in the order given; by default ours, then the peers.
    names = list(only) if only else all_entries()
    check_entries(names)
    started = machine()
    clock = time.perf_counter()
    measured: Dict[str, List[Dict[str, Any]]] = {name: [] for name in names}
    yardsticks: Dict[int, float] = {}
    for round_ in range(plan.rounds):
        # The round's yardstick first, in a worker of its own.
        stick = run_worker('yardstick', sizes, plan, hide, yardstick=True)
        if stick.get('status') == 'ok':
            yardsticks[round_] = stick['matmul_flops_per_second']
            log(f"round {round_ + 1}/{plan.rounds}: yardstick {yardsticks[round_] / 1e9:.1f} GFLOP/s")
        for name in names:
            if measured[name] and measured[name][-1].get('status', '').startswith('unavailable'):
                continue  # it will not become available in the next round
            log(f"round {round_ + 1}/{plan.rounds}: measuring {name} ...")
            # Our entries are profiled once, in the first round, after their timings.
            timing = replace(plan, profile=(round_ == 0 and describe(name)['kind'] == 'ours'))
            row = run_worker(name, sizes, timing, hide)
            measured[name].append(row)
            log('    ' + (row['status'] if row['status'] != 'ok' else f"{row['tokens_per_second']:,.0f} tokens/s"))
    rows = [summarise(measured[name]) for name in names]
    add_ratios(rows)
    add_matmul_shares(rows, yardsticks)
    # The machine as it was when the run began: its load average says how busy it was then.
    return {'machine': started, 'sizes': asdict(sizes), 'plan': asdict(plan), 'train_step': STEP,
            'yardsticks': {str(k): v for k, v in yardsticks.items()},
            'matmul_peak_flops_per_second': median(list(yardsticks.values())) if yardsticks else 0.0,
            'wall_seconds': time.perf_counter() - clock, 'rows': rows}
