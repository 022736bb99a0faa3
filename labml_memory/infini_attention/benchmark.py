r"""
# Measuring one read: speed and peak memory of a fixed-size memory

```
python -m labml_memory.infini_attention.benchmark --measure ours 8192 4 cpu 1
```

The promise of Infini-attention is that reading a longer text costs proportionally more
*time* but no more *memory*: each head carries $d_k (d_v + 1)$ numbers from segment to
segment whatever the length. This module measures one read of a random text, segment by
segment without gradients (inference), by one implementation at one length:

* **tokens per second**, the whole text divided by the time to read it;
* **peak memory**: on a GPU, PyTorch's peak allocation during the read; on a CPU, how far
  the process's peak resident memory rose above its resident memory just before the read
  (Linux `ru_maxrss` against `/proc/self/statm`). Each measurement runs in a fresh
  process (`in_subprocess`), so one length's allocations cannot hide another's.

It reads with our model and with [`infini-transformer-pytorch`](https://github.com/lucidrains/infini-transformer-pytorch),
the most used public port, at the same configuration (width, depth, heads, head width,
feed-forward width, segment length, batch). The port is optional: `pip install --no-deps
infini-transformer-pytorch einops rotary-embedding-torch` (it is in the project's `bench`
extra, never in its core dependencies).

The two models are not identical (the port uses RMSNorm, a feed-forward of its own and rotary
embeddings from another package), so a ratio of the two compares implementations of the same
idea at the same size, not the same arithmetic.

The [study](../studies/infini_benchmark.py) decides what to measure and in which order
(interleaved rounds, so a machine's drifting load cannot enter a ratio), keeps the record and
writes the page, [Infini-attention against infini-transformer-pytorch](../results/infini_benchmark.md).
The command above is the child process it starts for each measurement; it prints one line of
json.
"""

import json
import os
import resource
import subprocess
import sys
import time
from typing import Dict, List, Optional

import torch

# ## The configuration
#
# The CPU preset of the [experiment](experiment.py): 4 layers, width 128, 4 heads of 32,
# feed-forward 512, segments of 64, a Tiny-Shakespeare-sized vocabulary. The port takes
# the same numbers under its own names (`dim`, `depth`, `dim_head`, `heads`, `ff_mult`).
# Dropout is off in both: the read is inference.
CONFIG = dict(vocab=65, d_model=128, heads=4, n_layers=4, d_ff=512, seg_len=64)


# Resident memory is what the operating system has actually given the process. Reading it
# just before the timed read and comparing with the *peak* afterwards measures what the
# read itself needed at its worst moment, which is what grows if a state grows.
def _rss_bytes() -> int:
    # Resident memory now, from /proc (Linux); 0 where it does not exist.
    try:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except OSError:
        return 0


# ## The two readers
#
# Each returns a function that reads one segment and carries the memory forward; the
# port is called the way its own wrapper reads a long text at inference: one segment per
# call, asking for the new memories (under `no_grad` there is nothing to detach; the port's own
# `detach_memories=True` fails in this mode, trying to detach a key-value cache it does not return).
# Ours is the model of this folder with the experiment's defaults and no dropout; its
# memory is detached at each boundary (the default), as inference wants.
def ours(device):
    from labml_memory.infini_attention import InfiniTransformer
    model = InfiniTransformer(CONFIG['vocab'], d_model=CONFIG['d_model'], heads=CONFIG['heads'],
                              n_layers=CONFIG['n_layers'], d_ff=CONFIG['d_ff'], dropout=0.0).to(device).eval()
    state = {'memory': None}

    def step(tokens):
        _, state['memory'], _ = model(tokens, state['memory'])
    return model, step


# The port's model class, whose forward takes `past_memories` and returns them updated.
# Its gate starts saturated ($\beta = 10$, weighing the *local* attention) and its memory
# sums keys through $\mathrm{ELU} + 1$ as ours does; neither matters for speed.
def peer(device):
    from infini_transformer_pytorch import InfiniTransformer as PeerModel
    model = PeerModel(num_tokens=CONFIG['vocab'], dim=CONFIG['d_model'], depth=CONFIG['n_layers'],
                      dim_head=CONFIG['d_model'] // CONFIG['heads'], heads=CONFIG['heads'],
                      ff_mult=CONFIG['d_ff'] // CONFIG['d_model']).to(device).eval()
    state = {'memory': None}

    def step(tokens):
        out = model(tokens, past_memories=state['memory'], return_new_memories=True)
        state['memory'] = out.past_memories
    return model, step


# The names the table uses.
READERS = {'ours': ours, 'infini-transformer-pytorch': peer}


# ## One measurement, in its own process
#
# A fresh process per (implementation, length): PyTorch's CPU allocator keeps freed memory
# for reuse, and the peak resident size never goes down, so measurements taken one after
# another in one process would each inherit the largest before them.
#
# The random tokens are drawn up front, so their own memory is in the baseline. One
# segment is read first to warm up (lazy initialisation, first-call allocations), then the
# model is built afresh so the timed read starts from an empty memory like any text.
@torch.no_grad()
def measure(name: str, length: int, batch: int, device: str, threads: int) -> Dict[str, float]:
    # Threads are fixed explicitly: PyTorch's default (every core) would make the two
    # implementations compete with the machine's other jobs differently from run to run.
    torch.set_num_threads(threads)
    # The same seed for both, so they read the same random text.
    torch.manual_seed(0)
    dev = torch.device(device)
    model, step = READERS[name](dev)
    seg = CONFIG['seg_len']
    # Random ids: speed and memory do not depend on what the text says, and no corpus of
    # 32K tokens per row is needed. `[batch, length]`
    tokens = torch.randint(0, CONFIG['vocab'], (batch, length), device=dev)
    # One warm-up segment, then a fresh memory for the timed read.
    step(tokens[:, :seg])
    model, step = READERS[name](dev)
    # On a GPU PyTorch tracks its own peak allocation exactly; kernels are asynchronous,
    # so the clock starts and stops on a synchronised device.
    if dev.type == 'cuda':
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
    else:
        base = _rss_bytes()
    # The timed read: the whole text, one segment per call, the memory carried along.
    started = time.perf_counter()
    for start in range(0, length, seg):
        step(tokens[:, start:start + seg])
    if dev.type == 'cuda':
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated(dev) - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    # Tokens per second counts every row of the batch; the parameter count is printed so a
    # reader can see how close the two "same configurations" really are.
    elapsed = time.perf_counter() - started
    return {'tokens_per_second': batch * length / elapsed, 'peak_bytes': max(0, peak),
            'parameters': sum(p.numel() for p in model.parameters())}


# The parent starts `python -m ... --measure <name> <length> <batch> <device> <threads>` and
# reads one line of json back. A failure (the port raising, say) becomes an error entry in
# the record, and a cell of the table that says so, instead of ending the study.
def in_subprocess(name: str, length: int, batch: int, device: str, threads: int) -> Optional[Dict]:
    cmd = [sys.executable, '-m', 'labml_memory.infini_attention.benchmark', '--measure',
           name, str(length), str(batch), device, str(threads)]
    # The child's stdout ends with its json line; anything it printed before is ignored.
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        return {'error': (done.stderr.strip().splitlines() or ['failed'])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


# The port is optional: a missing package (or one that fails to import against this
# torch) means "measure ours only", which the page then says before its table.
def peer_available() -> bool:
    try:
        import infini_transformer_pytorch  # noqa: F401
        return True
    except Exception:
        return False


# ## The child's command line
#
# `--measure <name> <length> <batch> <device> <threads>`: one measurement, printed as one line
# of json for `in_subprocess` to read back.
def main(argv: List[str]) -> None:
    if len(argv) != 6 or argv[0] != '--measure':
        raise SystemExit("usage: python -m labml_memory.infini_attention.benchmark --measure "
                         "<ours|infini-transformer-pytorch> <length> <batch> <device> <threads>; "
                         "the study runs it: python -m labml_memory.studies run infini_benchmark")
    name, length, batch, device, threads = argv[1:6]
    if name not in READERS:
        raise SystemExit(f"unknown reader {name!r}; valid: {', '.join(READERS)}")
    print(json.dumps(measure(name, int(length), int(batch), device, int(threads))))


if __name__ == '__main__':
    main(sys.argv[1:])
