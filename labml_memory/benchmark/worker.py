r"""
# The worker: one entry in one process

Each entry is measured in a process of its own, started fresh by [rounds](rounds.py):

```
python -m labml_memory.benchmark.worker '{"name": ..., "sizes": {...}, "plan": {...}, "hide": [...]}'
```

A fresh process is what makes peak resident memory meaningful: `ru_maxrss` is the
high-water mark of the *process*, so in a shared process every entry would report the
largest of all before it. It also isolates entries from each other's allocator caches and
thread pools, and an entry that crashes, hangs or runs out of memory takes only its own row
with it. The worker prints one line of JSON, its row, on its standard output.
"""
import importlib.abc
import json
import os
import resource
import sys
from typing import Any, Dict, Sequence

import torch

from labml_memory.benchmark.entries import build_entry, describe, training_shape
from labml_memory.benchmark.generation_timing import inference_per_token, streams_of
from labml_memory.benchmark.matmul_yardstick import matmul_flops_per_second
from labml_memory.benchmark.peers import PeerUnavailable, Sizes
from labml_memory.benchmark.profile import top_operations
from labml_memory.benchmark.timing_plan import Plan
from labml_memory.benchmark.training_timing import time_training, warmup_steps


# The resident set size *now*, from `/proc/self/statm` (its second field, in pages). Read
# once before training starts, it lets the page separate what the entry's training and
# inference added from what importing PyTorch and the peer's package cost.
def resident_mb() -> float:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2 ** 20


# ## Measuring one entry
#
# Build, train for the [timed steps](training_timing.py), [generate](generation_timing.py),
# and read the process's peak memory. Every way this can fail is a row that says where.
def measure(name: str, sizes: Sizes, plan: Plan) -> Dict[str, Any]:
    from labml_memory.data.shakespeare import SequentialStreams, Vocabulary, load_text, split
    row: Dict[str, Any] = {'name': name, **describe(name)}
    if plan.threads:
        torch.set_num_threads(plan.threads)
    # Same seed for everyone: the weights differ by architecture, but not by luck of the run.
    torch.manual_seed(0)
    try:
        model = build_entry(name, sizes)
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
    rss_start = resident_mb()
    # A failure while training or reading (a shape a peer cannot take, an architecture
    # mid-rewrite) is also a row, tagged with where it happened.
    try:
        timed, memory = time_training(model, streams, plan, warmup_steps(sizes, plan, row['implements'], seq_len))
    except Exception as error:
        return {**row, 'status': f'failed in training: {type(error).__name__}: {error}'}
    row.update(timed)
    # Tokens per second counts the characters of the batch, its streams times $L$ per step.
    row['tokens_per_second'] = batch_size * seq_len / row['step_seconds']
    # The training state covers the whole batch; the per-stream figure comes from inference.
    row['train_state_bytes'] = memory.nbytes() if memory is not None else 0
    # Generation reads the whole text (the validation half alone is too short for sixteen
    # streams of 16k characters), with a fresh memory at each batch.
    whole = torch.cat([train_data, valid_data])
    length = max(plan.contexts) + plan.tokens_per_context * len(plan.contexts) + 1
    generation: Dict[str, Dict[str, float]] = {}
    try:
        for batch in plan.generation_batches:
            times, memory = inference_per_token(model, streams_of(whole, batch, length), seq_len,
                                                plan.contexts, plan.tokens_per_context)
            # JSON keys are strings; the lengths are kept as such everywhere after this point.
            generation[str(batch)] = {str(c): t for c, t in times.items()}
            if batch == plan.generation_batches[0]:
                # One stream's state after the longest context: what it costs to keep a reader going.
                row['state_bytes_per_stream'] = (memory.nbytes() // batch) if memory is not None else 0
                # A key and value cache kept beside the state for generation is not state (it
                # can always be recomputed from it), but it is memory a reader holds.
                cache = getattr(memory, 'kv_cache', None)
                row['cache_bytes_per_stream'] = sum(t.nbytes for t in cache.keys + cache.values) // batch \
                    if cache is not None else 0
                # A table grown in a buffer (the Memorizing Transformer's) holds spare rows too.
                found = getattr(memory, 'table_buffer', None)
                row['cache_bytes_per_stream'] += ((found[0].keys.nbytes + found[0].values.nbytes
                                                   - memory.keys.nbytes - memory.values.nbytes) // batch
                                                  if found is not None else 0)
                row['counts_table_buffer'] = True
    except Exception as error:
        return {**row, 'status': f'failed in inference: {type(error).__name__}: {error}'}
    row['generation_seconds_per_token'] = generation
    # The first batch's times under the name records have always used.
    row['inference_seconds_per_token'] = generation[str(plan.generation_batches[0])]
    if plan.profile and row['kind'] == 'ours':
        row['profile'] = profiles(model, streams, seq_len, whole)
    # `ru_maxrss` is in kilobytes on Linux.
    row['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # What training and inference added on top of the libraries, the model and the data:
    # activations kept for backward, optimiser state, memories and allocator slack.
    row['rss_growth_mb'] = row['peak_rss_mb'] - rss_start
    row['status'] = 'ok'
    return row


# ## The profiles
#
# One more training step, the trainer's own, and one more generated token at batch 1, each
# under the [profiler](profile.py), after everything timed.
def profiles(model, streams, seq_len: int, text: torch.Tensor) -> Dict[str, Any]:
    from labml_memory.training import make_optimizer, train_step
    from labml_memory.benchmark.training_timing import CONFIG
    cpu = torch.device('cpu')
    model.train()
    optimizer = make_optimizer(model, CONFIG)
    memory, _ = train_step(model, model, optimizer, streams, None, 0, CONFIG, cpu)
    train = top_operations(lambda: train_step(model, model, optimizer, streams, memory, 1, CONFIG, cpu))
    model.eval()
    with torch.no_grad():
        _, state, _ = model(text[None, :seq_len], None)
        _, state, _ = model(text[None, seq_len:seq_len + 1], state)
        token = text[None, seq_len + 1:seq_len + 2]
        generate = top_operations(lambda: model(token, state))
    return {'train_step': train, 'generated_token': generate}


# ## The yardstick's own worker
#
# At the start of every round, before any entry, a worker measures only the matmul rate:
# one yardstick per round that every entry of the round is divided by (a yardstick measured
# in each entry's own process would partly measure which process got the faster core).
def yardstick(plan: Plan) -> Dict[str, Any]:
    if plan.threads:
        torch.set_num_threads(plan.threads)
    return {'status': 'ok', 'matmul_flops_per_second': matmul_flops_per_second(plan.matmul_n)}


# ## Simulating a missing peer
#
# The test suite (and anyone curious) can pretend a package is not installed: this finder,
# put first on `sys.meta_path`, refuses to import the named top-level modules, so the
# adapter meets a genuine `ImportError`, exactly as on a machine without the package.
class Hidden(importlib.abc.MetaPathFinder):
    def __init__(self, names: Sequence[str]):
        self.names = set(names)

    # Called for every import not already in `sys.modules`; returning `None` lets the
    # normal finders carry on, raising stops the import as a missing package would.
    def find_spec(self, fullname, path=None, target=None):
        # Sub-modules too: hiding `x_transformers` hides `x_transformers.attend`.
        if fullname.split('.')[0] in self.names:
            raise ImportError(f"No module named {fullname!r} (hidden by the study's `hide` setting)")
        return None


# ## The worker's command line
#
# Internal: the parent passes the entry, the sizes, the plan and the modules to hide as one
# JSON argument, so a worker measures exactly the configuration the parent records.
def main(argv: Sequence[str]) -> None:
    if len(argv) != 1:
        raise SystemExit("usage: python -m labml_memory.benchmark.worker '<json: name, sizes, plan, hide>' "
                         "(started by the benchmark study, not by hand)")
    job = json.loads(argv[0])
    # Hiding must come before anything could import the hidden package.
    if job.get('hide'):
        sys.meta_path.insert(0, Hidden(job['hide']))
    if job.get('yardstick'):
        row = yardstick(Plan(**job['plan']))
    else:
        row = measure(job['name'], Sizes(**job['sizes']), Plan(**job['plan']))
    # One line of JSON on standard output is the whole answer; the parent parses nothing else.
    print(json.dumps(row), flush=True)


if __name__ == '__main__':
    main(sys.argv[1:])
