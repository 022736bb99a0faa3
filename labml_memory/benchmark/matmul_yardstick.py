r"""
# The yardstick: the machine's matmul throughput, and each entry's share of it

"How much of the machine does training use" needs a machine to compare with. The yardstick
is the best of several `n × n` float32 matrix products, `2n³` floating-point operations
each, on the same threads the model uses. It is measured once per round, in a
[worker](worker.py) of its own, before any entry of the round: every entry of that round is
then divided by the same number, so a share compares entries rather than the cores their
processes happened to get. The best of several products is the least disturbed; the
[rounds](rounds.py) turn it into each entry's share.
"""
import math
import time

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
