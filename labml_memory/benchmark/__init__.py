r"""
# The cross-architecture benchmark

A reader choosing a memory architecture wants one table: the same data, the same sizes, the
same machine, and every model measured the same way. This page is the harness that makes it:

```
python -m labml_memory.benchmark                  # every architecture and every installed peer
python -m labml_memory.benchmark --tiny --out /tmp/bench   # a seconds-long smoke run
python -m labml_memory.benchmark --only transformer_xl,xtransformers_xl
```

It finds our architectures by the project's registry convention (a package
`labml_memory.<name>` whose `experiment` module exposes `Config`, `PRESETS` and
`build_model`), builds each at one shared configuration, and does the same for the public
implementations of the same papers wrapped in [peers](peers.py), and a plain transformer
with no memory and the same attention span as the baseline. For every entry it measures

* **training throughput**: tokens per second of full training steps (forward, auxiliary
  losses, backward, AdamW), the memory carried from segment to segment;
* the **share of the machine's matmul throughput** that training achieves (below);
* **peak resident memory** of the process that trained it;
* the **memory state**: bytes one stream carries between segments, after a long text;
* **inference time per token as the context grows**: one token at a time with memory, after
  reading $64$, $256$, $1024$ and $4096$ characters of context.

It prints a table with each entry's throughput as a ratio to the fastest peer implementing
the same paper, and regenerates the results page `docs/results/benchmark.md` with its plots;
nothing on that page is typed by hand. An architecture that does not import or build, and a
peer that is not installed or cannot express the configuration, gets a row that says why.

The shared configuration is the CPU preset of the [Transformer-XL experiment](../transformer_xl/experiment.py):
4 layers, $d = 128$, 4 heads, feed-forward width 512, segments of $L = 64$ characters, a
memory of $M = 64$ per layer (and for the Compressive Transformer $n_{cm} = 32$ slots at
rate $c = 2$), 16 streams, dropout off.

## Adding an entry

A new architecture needs nothing here: once its folder has an `experiment.py` with
`Config`, `PRESETS` and `build_model`, the next run finds it and gives it a row. A new peer
is a class in [peers](peers.py) that builds the peer at the shared sizes and translates
its call; add it to `PEERS` with the architecture it `implements`, and its row and ratio
follow. The test suite calls every registered peer that is installed through the same
protocol, so an adapter that mistranslates (a memory of the wrong size, a wrong layout)
fails there before it distorts a table.

## Deviations from the papers

* This is not from a paper; it measures the implementations, not the ideas. Architectures
  with no public peer (∞-former, the memory-depth study) are measured but have no ratio.
* Peers keep their authors' choices of positional scheme, normalisation and feed-forward
  gating; the [peers](peers.py) page lists them. Equal configuration means equal widths,
  depths, lengths and batch, not identical arithmetic.
"""

import argparse
import importlib
import importlib.abc
import importlib.util
import json
import math
import os
import pkgutil
import platform
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F

from labml_memory.benchmark.peers import PEERS, PeerUnavailable, Sizes, build_peer
from labml_memory.protocol import MemoryLanguageModel, MemoryState, ModelOutput

# Packages of `labml_memory` that are infrastructure, never architectures: they have no
# `experiment` module today, but naming them keeps a future helper script inside one of
# them from being mistaken for a model.
NOT_ARCHITECTURES = {'benchmark', 'training', 'tasks'}


# ## What a run measures
#
# `Sizes` (in [peers](peers.py)) is the model; `Plan` is how long we look at it. The full
# plan times eight training steps after enough warm-up steps to fill every memory, and
# eight single-token calls at each context length. Eight steps is few, but each is a
# fraction of a second of steady, identical work, so their mean is stable; what moves the
# numbers on a shared machine is other people's load, which rounds (below) deal with.
@dataclass
class Plan:
    # Steps timed, after at least `warmup_steps` untimed ones (more if a memory needs them).
    timed_steps: int = 8
    warmup_steps: int = 3
    # Context lengths at which inference is timed, and how many single-token calls at each.
    contexts: List[int] = field(default_factory=lambda: [64, 256, 1024, 4096])
    tokens_per_context: int = 8
    # The side of the square matmul that measures the machine's throughput.
    matmul_n: int = 1024
    # Seconds before a worker is given up on.
    timeout: float = 300.0
    # PyTorch threads per worker; `0` keeps PyTorch's default (one per core). See below.
    threads: int = 1
    # Every entry is measured this many times, each in a fresh process; the best round counts.
    rounds: int = 3


# The two configurations: the CPU preset, and a tiny one for the test suite that goes
# through every line of the harness in a few seconds per entry. The tiny plan keeps the
# feed-forward width at $4d$ so that every peer can express it.
FULL = (Sizes(), Plan())
TINY = (Sizes(d_model=32, heads=2, n_layers=1, d_ff=128, seq_len=16, mem_len=16, compressed_len=8,
              compression_rate=2, batch_size=2, knn_size=64, top_k=8),
        Plan(timed_steps=2, warmup_steps=2, contexts=[16, 48], tokens_per_context=2, matmul_n=128,
             timeout=120.0, rounds=1))


# ## Finding our architectures
#
# The registry is the file system: every sub-package with an `experiment` module. We only
# *find* them here; importing happens in the worker, so an architecture that is half written
# (it fails to import) costs one row saying so, not the run.
def our_architectures() -> List[str]:
    import labml_memory
    names = []
    # `iter_modules` lists the package's folders without importing them.
    for info in pkgutil.iter_modules(labml_memory.__path__):
        if not info.ispkg or info.name in NOT_ARCHITECTURES:
            continue
        # `find_spec` locates a sub-module without running it.
        if importlib.util.find_spec(f'labml_memory.{info.name}.experiment') is not None:
            names.append(info.name)
    return sorted(names)


# Every name the command line accepts: the same list `--only` is checked against.
def all_entries() -> List[str]:
    """Ours first, then the plain-transformer baseline, then the peers, by name."""
    return our_architectures() + [BASELINE] + list(PEERS)


# ## The baseline: a plain transformer with the same span
#
# What every memory architecture is measured against: a transformer with no memory at all.
# It is our Transformer-XL with `mem_len=0`, trained on segments of $2L$ characters with
# half the streams, so a step reads the same characters and a query sees at most $2L = M + L$
# characters back, as the last query of a memory model's segment does. In inference it has
# no state to carry except the text itself: each new token re-reads the last $2L$
# characters in full. That is the cost Transformer-XL's memory was invented to avoid (the
# paper's "up to 1,800× faster evaluation" is this comparison at much longer spans), and
# the inference plot shows it as the line far above the others.
BASELINE = 'plain_transformer'


@dataclass
class WindowMemory(MemoryState):
    # `[batch, window]`: the last characters read, as token ids; nothing else is kept.
    tokens: torch.Tensor


# The wrapper that turns a memoryless model into a reader of long text: it follows the
# protocol, so the harness times it exactly like the others, and its "memory" is the window
# of raw characters, whose size is reported like any other state.
class SlidingWindow(MemoryLanguageModel):
    def __init__(self, inner: MemoryLanguageModel, window: int):
        super().__init__(inner.vocab_size)
        self.inner, self.window = inner, window

    def forward(self, tokens, memory: Optional[WindowMemory] = None) -> ModelOutput:
        # Training reads whole segments independently, as a plain transformer is trained;
        # evaluation prepends the remembered text and recomputes the whole window.
        context = tokens
        if memory is not None and not self.training:
            context = torch.cat([memory.tokens, tokens], dim=1)[:, -self.window:]
        logits, _, losses = self.inner(context, None)
        # Only the positions of the new tokens are answers to this call.
        kept = WindowMemory(context[:, -self.window:].detach())
        return ModelOutput(logits[:, -tokens.shape[1]:], kept, losses)


# Built through the registry like the rest, from Transformer-XL's experiment with no memory:
# the same layers, attention and positions as ours, so only the memory differs.
def build_baseline(sizes: Sizes) -> SlidingWindow:
    wide = Sizes(**{**asdict(sizes), 'mem_len': 0, 'seq_len': 2 * sizes.seq_len})
    return SlidingWindow(build_ours('transformer_xl', wide), window=2 * sizes.seq_len)


# The segment length and batch an entry trains with: the shared ones, except for the
# baseline's twice-as-long segments with half the streams.
def training_shape(name: str, sizes: Sizes) -> tuple:
    if name == BASELINE:
        return 2 * sizes.seq_len, max(1, sizes.batch_size // 2)
    return sizes.seq_len, sizes.batch_size


# ## Building one of ours at the shared sizes
#
# Through the same path a training run takes: `build_config(Config, PRESETS, overrides)`
# then `build_model(config, vocab_size)`. Each shared size is passed only if the
# architecture's `Config` has that field (Infini-attention has no memory length); the
# evaluation memory is set equal to the training memory so that inference reads the same
# amount of memory the peers do. The memory-depth study's long-range layers get $M$.
def _overrides(config_cls, sizes: Sizes) -> Dict[str, Any]:
    wanted = dict(d_model=sizes.d_model, heads=sizes.heads, n_layers=sizes.n_layers, d_ff=sizes.d_ff,
                  seq_len=sizes.seq_len, batch_size=sizes.batch_size, mem_len=sizes.mem_len,
                  eval_mem_len=sizes.mem_len, long_mem_len=sizes.mem_len,
                  compressed_len=sizes.compressed_len, compression_rate=sizes.compression_rate,
                  n_mem=sizes.n_mem, mem_size=sizes.knn_size, top_k=sizes.top_k,
                  dropout=0.0, device='cpu')
    # Dropout is off for everyone: the peers are built without it, and it would add random
    # masks to ours that a speed comparison should not pay for.
    known = {f.name for f in fields(config_cls)}
    # The memory-depth study sets every layer's memory from its own lengths and refuses a
    # `mem_len`, so it gets the shared length as its `long_mem_len` alone.
    if 'long_mem_len' in known:
        wanted.pop('mem_len')
        wanted.pop('eval_mem_len')
    return {k: v for k, v in wanted.items() if k in known}


def build_ours(name: str, sizes: Sizes) -> torch.nn.Module:
    from labml_memory.training.config import build_config
    experiment = importlib.import_module(f'labml_memory.{name}.experiment')
    # A package that breaks the convention is reported by what it lacks, not by a traceback.
    missing = [a for a in ('Config', 'PRESETS', 'build_model') if not hasattr(experiment, a)]
    if missing:
        raise AttributeError(f"labml_memory.{name}.experiment lacks {missing}")
    # The `cpu` preset, then the shared sizes on top: whatever the preset does not mention
    # (compression function, update rule, basis size) stays at the architecture's default.
    config = build_config(experiment.Config, experiment.PRESETS, _overrides(experiment.Config, sizes))
    return experiment.build_model(config, sizes.vocab_size)


# Every row says whether it is ours or a peer, which of our architectures it is compared
# with (`implements`), and which distribution it came from.
def describe(name: str) -> Dict[str, str]:
    """Whether an entry is ours or a peer, and which of our architectures it is compared with."""
    if name in PEERS:
        return {'kind': 'peer', 'implements': PEERS[name].implements, 'package': PEERS[name].package}
    if name == BASELINE:
        return {'kind': 'baseline', 'implements': BASELINE, 'package': 'labml_memory'}
    return {'kind': 'ours', 'implements': name, 'package': 'labml_memory'}


# ## The machine's matmul throughput
#
# The yardstick for "how much of the machine does training use": the best of several
# `n × n` float32 matrix products, $2n^3$ floating-point operations each, on the same
# threads the model uses. Measured inside each worker, right before its training, because
# the machine is shared and its speed drifts; the best of several is the least disturbed,
# and the run keeps the best over all workers (see the share, below).
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


# ## One training step
#
# What the [trainer](../training/__init__.py) does per step, without its tracking: the
# language-model loss plus every auxiliary loss, backward, AdamW, and the stop-gradient on
# the memory after the step.
def train_step(model, optimizer, inputs, targets, memory):
    # Auxiliary losses (compression, KL) are part of the work: a model pays for them.
    logits, memory, losses = model(inputs, memory)
    loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
    loss = loss + sum(losses.values(), torch.zeros(()))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    # The stop-gradient at the segment boundary: the next step's graph starts here.
    return memory.detach() if memory is not None else None


# ## Counting the floating-point operations of a step
#
# PyTorch's `FlopCounterMode` counts the matrix products of a forward and backward pass
# from their shapes: $2mnk$ for an $m \times k$ by $k \times n$ product, including batched
# products, convolutions and attention. It cannot see inside the fused CPU attention
# kernel, so for the count (and only for it) attention is forced onto PyTorch's *math*
# path, which spells it out as products; that counts every entry of the score matrix,
# masked or not, which is what a dense kernel computes. Element-wise work (softmax, norms,
# activations, the optimiser) is not counted: the share is of matmul throughput, and
# element-wise work is what keeps a small model below it.
def count_step_flops(model, optimizer, inputs, targets, memory) -> int:
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode
    # A separate step, never timed: counting slows every operation down.
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        logits, _, losses = model(inputs, memory)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        loss = loss + sum(losses.values(), torch.zeros(()))
        loss.backward()
    # The gradients are thrown away: the counted step must not change the model.
    optimizer.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


# ## Inference as the context grows
#
# One stream, no gradients, evaluation mode. The text is read a segment at a time, as in
# training, up to each context length in turn; there we time single-token calls that carry
# the memory, the way [generation](../protocol.py) runs. A model whose memory has a fixed
# size should show a flat line: the point of a memory is that the cost of the next token
# does not grow with the text behind it. The median of the calls is reported.
@torch.no_grad()
def inference_per_token(model, text: torch.Tensor, seq_len: int, contexts: Sequence[int],
                        tokens: int):
    model.eval()
    memory, read, times = None, 0, {}
    for context in contexts:
        # Catch up to this context length in whole segments (the last one may be shorter).
        while read < context:
            step = min(seq_len, context - read)
            _, memory, _ = model(text[None, read:read + step], memory)
            read += step
        calls = []
        for i in range(tokens):
            token = text[None, read + i:read + i + 1]
            started = time.perf_counter()
            _, memory, _ = model(token, memory)
            calls.append(time.perf_counter() - started)
        # The timed tokens are part of the text read; the next length starts after them.
        read += tokens
        # The median, because a single call can be hit by a context switch.
        times[context] = sorted(calls)[len(calls) // 2]
    return times, memory


# The resident set size *now*, from `/proc/self/statm` (its second field, in pages). Read
# once before training starts, it lets the page separate what the entry's training and
# inference added from what importing PyTorch and the peer's package cost.
def resident_mb() -> float:
    # The current resident set size, from `/proc/self/statm` (pages).
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2 ** 20


# ## The worker: one entry in one process
#
# Each entry is measured in a process of its own, started fresh. That is what makes peak
# resident memory meaningful: `ru_maxrss` is the high-water mark of the *process*, so in a
# shared process every entry would report the largest of all before it. It also isolates
# entries from each other's allocator caches and thread pools, and an entry that crashes,
# hangs or runs out of memory takes only its own row with it. The worker prints one line of
# JSON on its standard output.
def measure(name: str, sizes: Sizes, plan: Plan) -> Dict[str, Any]:
    from labml_memory.data.shakespeare import SequentialStreams, Vocabulary, load_text, split
    row: Dict[str, Any] = {'name': name, **describe(name)}
    if plan.threads:
        torch.set_num_threads(plan.threads)
    # Same seed for everyone: the weights differ by architecture, but not by luck of the run.
    torch.manual_seed(0)
    # Building is where a half-written architecture or a missing package shows; either way
    # the row records why and the run goes on.
    try:
        model = (build_peer(name, sizes) if name in PEERS else
                 build_baseline(sizes) if name == BASELINE else build_ours(name, sizes))
    except PeerUnavailable as error:
        return {**row, 'status': f'unavailable: {error}'}
    except Exception as error:
        return {**row, 'status': f'unavailable: {type(error).__name__}: {error}'}
    row['parameters'] = sum(p.numel() for p in model.parameters())
    # The real text, read as the trainer reads it: parallel streams, one segment per step.
    # Speed hardly depends on the characters, but a model with data-dependent work (the
    # most-used compression, sticky memories) should see realistic data.
    text = load_text()
    vocab = Vocabulary.from_text(text)
    train_data, valid_data = split(vocab.encode(text))
    seq_len, batch_size = training_shape(name, sizes)
    streams = SequentialStreams(train_data, batch_size, seq_len)
    # AdamW, as in the trainer: its update is part of every real step.
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rss_start = resident_mb()
    row['matmul_flops_per_second'] = matmul_flops_per_second(plan.matmul_n)

    # Warm-up: enough segments to fill the longest memory (the Compressive Transformer's
    # $n_m + c\, n_{cm}$ characters), so the timed steps are steady-state steps.
    fill = sizes.mem_len + sizes.compression_rate * sizes.compressed_len
    # The Memorizing Transformer's table (ours and the port's) is the longest memory of all.
    if row['implements'] == 'memorizing_transformer':
        fill = max(fill, sizes.knn_size)
    warmup = max(plan.warmup_steps, math.ceil(fill / seq_len) + 1)
    model.train()
    memory = None
    # A failure while training or reading (a shape a peer cannot take, an architecture
    # mid-rewrite) is also a row, tagged with where it happened.
    try:
        for step in range(warmup):
            inputs, targets, _ = streams.segment(step)
            memory = train_step(model, optimizer, inputs, targets, memory)
        # `perf_counter` is a monotonic wall clock: wall time is what a user waits for, and
        # with one thread per process it is also the work the process did.
        started = time.perf_counter()
        for step in range(warmup, warmup + plan.timed_steps):
            inputs, targets, _ = streams.segment(step)
            memory = train_step(model, optimizer, inputs, targets, memory)
        elapsed = time.perf_counter() - started
        # The FLOP count uses the next segment, with the memory as full as in the timed steps.
        inputs, targets, _ = streams.segment(warmup + plan.timed_steps)
        row['flops_per_step'] = count_step_flops(model, optimizer, inputs, targets, memory)
    except Exception as error:
        return {**row, 'status': f'failed in training: {type(error).__name__}: {error}'}
    # Tokens per second counts the characters of the batch, $B \times L$ per step.
    row['step_seconds'] = elapsed / plan.timed_steps
    row['tokens_per_second'] = batch_size * seq_len / row['step_seconds']
    # The training state covers the whole batch; the per-stream figure comes from inference.
    row['train_state_bytes'] = memory.nbytes() if memory is not None else 0
    # Inference reads the validation text, which training never saw, with a fresh memory.
    try:
        times, memory = inference_per_token(model, valid_data, seq_len, plan.contexts,
                                            plan.tokens_per_context)
    except Exception as error:
        return {**row, 'status': f'failed in inference: {type(error).__name__}: {error}'}
    # JSON keys are strings; the lengths are kept as such everywhere after this point.
    row['inference_seconds_per_token'] = {str(c): t for c, t in times.items()}
    # One stream's state after the longest context: what it costs to keep a reader going.
    row['state_bytes_per_stream'] = memory.nbytes() if memory is not None else 0
    # `ru_maxrss` is in kilobytes on Linux.
    row['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # What training and inference added on top of the libraries, the model and the data:
    # activations kept for backward, optimiser state, memories and allocator slack.
    row['rss_growth_mb'] = row['peak_rss_mb'] - rss_start
    row['status'] = 'ok'
    return row


# ## Simulating a missing peer
#
# The test suite (and anyone curious) can pretend a package is not installed: this finder,
# put first on `sys.meta_path`, refuses to import the named top-level modules, so the
# adapter meets a genuine `ImportError`, exactly as on a machine without the package.
class _Hidden(importlib.abc.MetaPathFinder):
    def __init__(self, names: Sequence[str]):
        self.names = set(names)

    # Called for every import not already in `sys.modules`; returning `None` lets the
    # normal finders carry on, raising stops the import as a missing package would.
    def find_spec(self, fullname, path=None, target=None):
        # Sub-modules too: hiding `x_transformers` hides `x_transformers.attend`.
        if fullname.split('.')[0] in self.names:
            raise ImportError(f"No module named {fullname!r} (hidden by --hide)")
        return None


# The worker's command line is internal: the parent passes the sizes and the plan as one
# JSON argument, so a worker measures exactly the configuration the parent prints.
def worker_main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--worker', required=True)
    parser.add_argument('--config', required=True)
    parser.add_argument('--hide', default='')
    args = parser.parse_args(argv)
    # Hiding must come before anything could import the hidden package.
    if args.hide:
        sys.meta_path.insert(0, _Hidden(args.hide.split(',')))
    # One line of JSON on standard output is the whole answer; the parent parses nothing else.
    config = json.loads(args.config)
    row = measure(args.worker, Sizes(**config['sizes']), Plan(**config['plan']))
    print(json.dumps(row), flush=True)


# ## Running every entry
#
# One worker at a time, never in parallel: they would compete for the same cores and every
# throughput would be wrong. A worker that dies or overruns becomes a row with the reason.
def run_worker(name: str, sizes: Sizes, plan: Plan, hide: Sequence[str] = ()) -> Dict[str, Any]:
    # The same interpreter as the parent, so the worker sees the same installed packages.
    command = [sys.executable, '-m', 'labml_memory.benchmark', '--worker', name,
               '--config', json.dumps({'sizes': asdict(sizes), 'plan': asdict(plan)})]
    if hide:
        command += ['--hide', ','.join(hide)]
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


# ## Threads and rounds on a shared machine
#
# On a machine whose cores are busy with other work, a PyTorch process with one thread per
# core spends much of each small operation waiting for its other threads to be scheduled:
# we saw the same 4-layer step take ten times longer with two threads than with one. So by
# default every worker runs on **one thread**, the matmul yardstick too, which keeps the
# comparison fair and repeatable; `--threads 0` gives PyTorch's default on a quiet machine.
# Load from other jobs comes and goes, so each entry is measured in `rounds` separate
# processes, interleaved with the others, and the round with the best training throughput
# is kept (with, for inference, the best time seen at each context length): the least
# disturbed measurement is the closest to what the code itself costs.
def best_of(rounds: List[Dict[str, Any]]) -> Dict[str, Any]:
    ok = [r for r in rounds if r.get('status') == 'ok']
    # An entry that never ran keeps the reason from its last attempt.
    if not ok:
        return rounds[-1]
    # The whole row of the best round, so that its step time, FLOP count and matmul rate
    # belong together; only the inference times are the best of all rounds, per length.
    best = dict(max(ok, key=lambda r: r['tokens_per_second']))
    best['inference_seconds_per_token'] = {
        c: min(r['inference_seconds_per_token'][c] for r in ok)
        for c in best['inference_seconds_per_token']}
    best['rounds'] = len(ok)
    # Every round's throughput is kept too: the page shows the spread, so a reader can see
    # how much of a difference between two rows the machine's load alone could explain.
    best['tokens_per_second_rounds'] = [r['tokens_per_second'] for r in ok]
    return best


# ## The share of the machine's matmul throughput
#
# Each worker measured the matmul rate right before training, but on a shared machine one
# such measurement can land in a busy moment and make that entry's share look high. The
# yardstick is therefore the *best* rate any worker of the run measured: what this machine
# can do when it is left alone. The share of an entry is its counted FLOPs per step over its
# seconds per step, divided by that:
# $$\text{share} = \frac{\text{FLOPs per step} / \text{seconds per step}}{\max \text{ matmul FLOP/s}}$$
def add_matmul_shares(rows: List[Dict[str, Any]]) -> float:
    rates = [r['matmul_flops_per_second'] for r in rows if r.get('status') == 'ok']
    # With nothing measured there is nothing to divide, and no share is written.
    peak = max(rates) if rates else 0.0
    for r in rows:
        if r.get('status') == 'ok':
            r['matmul_share'] = r['flops_per_step'] / r['step_seconds'] / peak
    return peak


# ## Ratios to the fastest peer
#
# For each of our architectures, the fastest *available* peer implementing the same paper
# sets 1.00; every entry of that family (ours and the peers) gets its throughput over that
# one. The page reads each ratio against the spread of the rounds.
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
# The page names the machine its numbers come from: the same record every run keeps (the CPU
# model as `/proc/cpuinfo` gives it, the cores, torch, the date and the load average, which
# tells a reader how busy the machine was; see [provenance](../training/provenance.py)), plus
# the Python and platform versions a speed comparison also depends on.
def machine() -> Dict[str, Any]:
    """The machine the numbers come from: CPU model, cores, torch and Python versions, load."""
    from labml_memory.training import provenance
    return {**provenance.machine(), 'python': platform.python_version(), 'platform': platform.platform()}


# ## The run
#
# Check the names first (a typo should fail before minutes of measuring), measure every
# entry round after round, keep each entry's best round, derive ratios and shares, and
# hand everything to the [report](report.py), which writes the page.
def run(sizes: Sizes, plan: Plan, out_dir: Path, only: Optional[Sequence[str]] = None,
        hide: Sequence[str] = (), command: str = 'python -m labml_memory.benchmark') -> Dict[str, Any]:
    # `--only` picks entries by name, in the order given; by default ours, then the peers.
    names = list(only) if only else all_entries()
    known = set(all_entries())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown entries {unknown}; valid: {sorted(known)}")
    # Rounds on the outside, entries inside: each entry's measurements are spread over the
    # whole run, so a burst of load from elsewhere hurts one round of several entries rather
    # than every round of one.
    measured: Dict[str, List[Dict[str, Any]]] = {name: [] for name in names}
    for round_ in range(plan.rounds):
        for name in names:
            if measured[name] and measured[name][-1].get('status', '').startswith('unavailable'):
                continue  # it will not become available in the next round
            print(f"round {round_ + 1}/{plan.rounds}: measuring {name} ...", flush=True)
            row = run_worker(name, sizes, plan, hide)
            measured[name].append(row)
            print('   ', row['status'] if row['status'] != 'ok' else
                  f"{row['tokens_per_second']:,.0f} tokens/s", flush=True)
    rows = [best_of(measured[name]) for name in names]
    add_ratios(rows)
    peak = add_matmul_shares(rows)
    results = {'machine': machine(), 'sizes': asdict(sizes), 'plan': asdict(plan),
               'command': command, 'matmul_peak_flops_per_second': peak, 'rows': rows}
    # Imported here so that a worker process never loads matplotlib.
    from labml_memory.benchmark.report import write_results
    write_results(results, out_dir)
    print(open(out_dir / 'benchmark_table.txt').read())
    return results


# ## The command line
#
# One entry point for both roles: with `--worker` it is a measuring process, otherwise the
# parent that starts them. Bad arguments exit with status 2 and one clear line, as the
# experiments' command lines do.
def main(argv: Optional[Sequence[str]] = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if '--worker' in argv:
        return worker_main(argv)
    parser = argparse.ArgumentParser(prog='python -m labml_memory.benchmark',
                                     description='Every memory architecture and installed peer, one table.')
    # `--tiny` is the test suite's configuration; `--out` a folder other than the site's
    # results (the tests write to a temporary one); `--only` and `--hide` select entries
    # and simulate missing packages.
    parser.add_argument('--tiny', action='store_true', help='a seconds-long configuration, for tests')
    parser.add_argument('--out', default='docs/results', help='where the page, plots and JSON go')
    parser.add_argument('--only', default='', help='comma-separated entries (default: all)')
    parser.add_argument('--hide', default='', help='pretend these modules are not installed')
    parser.add_argument('--threads', type=int, default=None, help='PyTorch threads per worker (0: default)')
    parser.add_argument('--rounds', type=int, default=None, help='measurements per entry; the best counts')
    args = parser.parse_args(argv)
    sizes, plan = TINY if args.tiny else FULL
    # Command-line threads and rounds replace the plan's, when given.
    plan = Plan(**{**asdict(plan), **{k: v for k, v in (('threads', args.threads), ('rounds', args.rounds))
                                      if v is not None}})
    # Checked before any process starts, naming both values.
    if plan.threads < 0 or plan.rounds < 1:
        print(f"error: --threads must be >= 0 and --rounds >= 1, got {plan.threads} and {plan.rounds}",
              file=sys.stderr)
        raise SystemExit(2)
    only = [n for n in args.only.split(',') if n] or None
    hide = [n for n in args.hide.split(',') if n]
    # The exact command goes on the page, so a reader can rerun what produced it.
    command = ' '.join(['python -m labml_memory.benchmark'] + argv)
    # An unknown entry name is the one mistake `run` reports as a `ValueError`.
    try:
        run(sizes, plan, Path(args.out), only, hide, command)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2)
