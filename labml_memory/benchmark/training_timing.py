r"""
# Timing a training step

A training step here is the [trainer](../training/__init__.py)'s own: its `make_optimizer`
(AdamW, weight decay on the weight matrices) and its `train_step` (the language-model loss
plus every auxiliary loss, backward, gradient clipping, the optimiser step, and the
stop-gradient on the memory after the step), with one segment per step. So the throughput on
the page is what a user of the trainer waits for, and a peer, which answers the same
protocol, is trained by the very same lines.

The memory is carried from step to step as in training. Before the clock starts, enough
steps are taken to fill the longest memory, so the timed steps are steady-state steps.
"""
import math
import time
from typing import Any, Dict, Tuple

import torch

from labml_memory.benchmark.flop_count import count_step_flops
from labml_memory.benchmark.peers import Sizes
from labml_memory.benchmark.timing_plan import Plan
from labml_memory.data.shakespeare import SequentialStreams
from labml_memory.training import make_optimizer, train_step
from labml_memory.training.config import TrainConfig

# The trainer's settings for the step: one segment per step, and its defaults for the
# optimiser and the gradient clipping. Only these fields reach `make_optimizer` and `train_step`.
CONFIG = TrainConfig(unroll=1, device='cpu')

# What a record says about the step it timed, printed on the page.
STEP = (f"the trainer's `make_optimizer` and `train_step` (AdamW, one segment per step, gradient "
        f"clipping at {CONFIG.grad_clip:g})")


# ## How many steps before the clock starts
#
# Enough segments to fill the longest memory, the Compressive Transformer's $M + c\, M_c$
# characters, or the Memorizing Transformer's kNN table (ours and the port's), the longest of
# all; and never fewer than the plan's warm-up.
def warmup_steps(sizes: Sizes, plan: Plan, implements: str, seq_len: int) -> int:
    fill = sizes.mem_len + sizes.compression_rate * sizes.compressed_len
    if implements == 'memorizing_transformer':
        fill = max(fill, sizes.knn_size)
    return max(plan.warmup_steps, math.ceil(fill / seq_len) + 1)


def time_training(model, streams: SequentialStreams, plan: Plan, warmup: int,
                  config: TrainConfig = CONFIG) -> Tuple[Dict[str, Any], Any]:
    """Seconds per timed step, the counted FLOPs of one more, and the memory after them."""
    cpu = torch.device('cpu')
    optimizer = make_optimizer(model, config)
    memory = None
    for step in range(warmup):
        memory, _ = train_step(model, model, optimizer, streams, memory, step, config, cpu)
    # `perf_counter` is a monotonic wall clock: wall time is what a user waits for, and with
    # one thread per process it is also the work the process did.
    started = time.perf_counter()
    for step in range(warmup, warmup + plan.timed_steps):
        memory, _ = train_step(model, model, optimizer, streams, memory, step, config, cpu)
    elapsed = time.perf_counter() - started
    # The FLOP count uses the next segment, with the memory as full as in the timed steps.
    inputs, targets, _ = streams.segment(warmup + plan.timed_steps)
    model.train()
    flops = count_step_flops(model, optimizer, inputs, targets, memory)
    return {'step_seconds': elapsed / plan.timed_steps, 'flops_per_step': flops}, memory
