r"""
# Where a step goes: the profile of one training step and one generated token

A throughput says how fast; a profile says why. For each of our entries the
[worker](worker.py) runs `torch.profiler` over one more training step and one more
generated token (batch 1) after the timed ones, never during them (profiling slows every
operation), and keeps the operations with the most time of their own (*self* time: inside
the operation, not in what it calls). The page prints each as its share of the profiled
call's total self time, with the number of times it ran: a few large products mean the step
is compute-bound; hundreds of small copies, views and concatenations mean it is
overhead-bound, and that is where a faster implementation has room.
"""
from typing import Callable, Dict, List

from torch.profiler import ProfilerActivity, profile

# Operations kept per profile.
TOP = 8


def top_operations(call: Callable[[], object], top: int = TOP) -> Dict[str, object]:
    """The `top` operations by self CPU time of one `call()`, as shares of its total, with
    their call counts, and how many operations the call ran in all."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        call()
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    ops: List[Dict[str, object]] = [{'op': e.key, 'share': e.self_cpu_time_total / total, 'calls': e.count}
                                    for e in events[:top]]
    return {'operations': sum(e.count for e in events), 'self_seconds': total / 1e6, 'top': ops}
