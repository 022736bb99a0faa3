r"""
# How long each entry is looked at

[`Sizes`](peers.py) is the model every entry shares; `Plan` is how it is timed. The full
plan times eight training steps after enough warm-up steps to fill every memory, and eight
single-token calls at each context length, at batch 1 and at batch 16, over five rounds. Eight steps is few, but each is a fraction of a
second of steady, identical work, so their mean is stable; what moves the numbers on a shared
machine is other people's load, which [rounds](rounds.py) deal with.
"""
from dataclasses import dataclass, field
from typing import List

from labml_memory.benchmark.peers import Sizes


@dataclass
class Plan:
    # Steps timed, after at least `warmup_steps` untimed ones (more if a memory needs them).
    timed_steps: int = 8
    warmup_steps: int = 3
    # Context lengths at which generation is timed, how many single-token calls at each, and
    # the batches (streams generated side by side) it is timed at: one reader, and sixteen.
    contexts: List[int] = field(default_factory=lambda: [64, 256, 1024, 4096, 16384])
    tokens_per_context: int = 8
    generation_batches: List[int] = field(default_factory=lambda: [1, 16])
    # The side of the square matmul that measures the machine's throughput.
    matmul_n: int = 1024
    # Seconds before a worker is given up on.
    timeout: float = 300.0
    # PyTorch threads per worker; `0` keeps PyTorch's default (one per core). See rounds.
    threads: int = 1
    # Every entry is measured this many times, each in a fresh process, round after round;
    # the tables give the median round, and the rounds pair entries for the verdicts.
    rounds: int = 5
    # Whether the worker also profiles one training step and one generated token (set by the
    # rounds for our entries in the first round only: profiling is never timed).
    profile: bool = False


# The two configurations the study's `size` setting names: the CPU preset of the
# [Transformer-XL experiment](../transformer_xl/experiment.py), and a tiny one for the test
# suite that goes through every line of the harness in a few seconds per entry. The tiny plan
# keeps the feed-forward width at $4d$ so that every peer can express it.
SIZES = {
    'full': (Sizes(), Plan()),
    'tiny': (Sizes(d_model=32, heads=2, n_layers=1, d_ff=128, seq_len=16, mem_len=16, compressed_len=8,
                   compression_rate=2, batch_size=2, knn_size=64, top_k=8),
             Plan(timed_steps=2, warmup_steps=2, contexts=[16, 48], tokens_per_context=2, generation_batches=[1, 2],
                  matmul_n=128, timeout=120.0, rounds=1)),
}
FULL, TINY = SIZES['full'], SIZES['tiny']
