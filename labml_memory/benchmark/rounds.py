r"""
# Rounds: every entry, one process each, round after round

This is the measuring half of the [benchmark study](../studies/benchmark.py): it starts a
[worker](worker.py) per entry and round, keeps each entry's best round, and derives the two
figures that need every row at once, the [ratios](#ratios-to-the-fastest-peer) and the
[matmul shares](matmul_yardstick.py). What it returns is the study's record.

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
import platform
import subprocess
import sys
from dataclasses import asdict
from typing import Any, Dict, List, Optional, Sequence

from labml_memory.benchmark.entries import all_entries, describe
from labml_memory.benchmark.matmul_yardstick import add_matmul_shares
from labml_memory.benchmark.peers import Sizes
from labml_memory.benchmark.timing_plan import Plan
from labml_memory.benchmark.training_timing import STEP


# ## One worker
#
# Never two in parallel: they would compete for the same cores and every throughput would be
# wrong. A worker that dies or overruns becomes a row with the reason.
def run_worker(name: str, sizes: Sizes, plan: Plan, hide: Sequence[str] = ()) -> Dict[str, Any]:
    # The same interpreter as the parent, so the worker sees the same installed packages.
    job = {'name': name, 'sizes': asdict(sizes), 'plan': asdict(plan), 'hide': list(hide)}
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


# ## The best round
#
# The round with the best training throughput is kept (with, for inference, the best time
# seen at each context length): the least disturbed measurement is the closest to what the
# code itself costs. Every round's throughput is kept beside it, with the round it came from,
# so the page can show the spread and pair two entries round by round.
def best_of(rounds: List[Dict[str, Any]]) -> Dict[str, Any]:
    ok = [(i, r) for i, r in enumerate(rounds) if r.get('status') == 'ok']
    # An entry that never ran keeps the reason from its last attempt.
    if not ok:
        return rounds[-1]
    # The whole row of the best round, so that its step time, FLOP count and matmul rate
    # belong together; only the inference times are the best of all rounds, per length.
    best = dict(max((r for _, r in ok), key=lambda r: r['tokens_per_second']))
    best['inference_seconds_per_token'] = {
        c: min(r['inference_seconds_per_token'][c] for _, r in ok)
        for c in best['inference_seconds_per_token']}
    best['rounds'] = len(ok)
    best['tokens_per_second_rounds'] = [r['tokens_per_second'] for _, r in ok]
    # Which rounds those were (from 0): a round that failed leaves a gap, not a shift.
    best['rounds_measured'] = [i for i, _ in ok]
    return best


# ## Ratios to the fastest peer
#
# For each of our architectures, the fastest *available* peer implementing the same paper
# sets 1.00; every entry of that family (ours and the peers) gets its throughput over that
# one.
def add_ratios(rows: List[Dict[str, Any]]) -> None:
    # First pass: the fastest running peer of each paper; second pass: every row against it.
    fastest: Dict[str, float] = {}
    for r in rows:
        if r['kind'] == 'peer' and r.get('status') == 'ok':
            fastest[r['implements']] = max(fastest.get(r['implements'], 0.0), r['tokens_per_second'])
    # Architectures without a running peer get `None`, printed as a dash, never a made-up 1.
    for r in rows:
        best = fastest.get(r['implements'])
        r['ratio_to_fastest_peer'] = (r['tokens_per_second'] / best
                                      if best and r.get('status') == 'ok' else None)


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
# Rounds on the outside, entries inside; then each entry's best round, the ratios and the
# shares. The record keeps the configuration and the plan beside the rows, and which step
# was timed.
def measure_all(sizes: Sizes, plan: Plan, only: Optional[Sequence[str]] = None, hide: Sequence[str] = (),
                log=print) -> Dict[str, Any]:
    # `only` picks entries by name, in the order given; by default ours, then the peers.
    names = list(only) if only else all_entries()
    check_entries(names)
    started = machine()
    measured: Dict[str, List[Dict[str, Any]]] = {name: [] for name in names}
    for round_ in range(plan.rounds):
        for name in names:
            if measured[name] and measured[name][-1].get('status', '').startswith('unavailable'):
                continue  # it will not become available in the next round
            log(f"round {round_ + 1}/{plan.rounds}: measuring {name} ...")
            row = run_worker(name, sizes, plan, hide)
            measured[name].append(row)
            log('    ' + (row['status'] if row['status'] != 'ok' else f"{row['tokens_per_second']:,.0f} tokens/s"))
    rows = [best_of(measured[name]) for name in names]
    add_ratios(rows)
    peak = add_matmul_shares(rows)
    # The machine as it was when the run began: its load average says how busy it was then.
    return {'machine': started, 'sizes': asdict(sizes), 'plan': asdict(plan), 'train_step': STEP,
            'matmul_peak_flops_per_second': peak, 'rows': rows}
