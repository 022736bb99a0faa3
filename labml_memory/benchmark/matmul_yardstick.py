r"""
# The yardstick: the machine's matmul throughput, and each entry's share of it

"How much of the machine does training use" needs a machine to compare with. The yardstick
is the best of several `n × n` float32 matrix products, `2n³` floating-point operations
each, on the same threads the model uses. Each [worker](worker.py) measures it right before
its training, because the machine is shared and its speed drifts; the best of several is
the least disturbed.
"""
import math
import time
from typing import Any, Dict, List

import torch


def matmul_flops_per_second(n: int, repeats: int = 8) -> float:
    # 1024 is large enough for the library to reach its peak rate on one core, and small
    # enough (12 MB for the three matrices) to leave no trace in the peak memory.
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up: the first product pays for allocation and thread start-up
    best = math.inf
    # The fastest product, not the mean: disturbances only ever make a product slower.
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * n ** 3 / best


# ## The share of the machine's matmul throughput
#
# On a shared machine one worker's yardstick can land in a busy moment and make that entry's
# share look high. The yardstick of the run is therefore the *best* rate any worker of the run
# measured: what this machine can do when it is left alone. The share of an entry is its
# [counted FLOPs](flop_count.py) per step over its seconds per step, divided by that:
# $$\text{share} = \frac{\text{FLOPs per step} / \text{seconds per step}}{\max \text{ matmul FLOP/s}}$$
def add_matmul_shares(rows: List[Dict[str, Any]]) -> float:
    rates = [r['matmul_flops_per_second'] for r in rows if r.get('status') == 'ok']
    # With nothing measured there is nothing to divide, and no share is written.
    peak = max(rates) if rates else 0.0
    for r in rows:
        if r.get('status') == 'ok':
            r['matmul_share'] = r['flops_per_step'] / r['step_seconds'] / peak
    return peak
