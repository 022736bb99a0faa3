r"""
# Benchmark: a fixed-size memory in practice

```
python -m labml_memory.infini_attention.benchmark                     # CPU, one thread
python -m labml_memory.infini_attention.benchmark lengths=512,2048 batch=2 threads=2
```

The promise of Infini-attention is that reading a longer text costs proportionally more
*time* but no more *memory*: each head carries $d_k (d_v + 1)$ numbers from segment to
segment whatever the length. This script reads random texts of growing length, segment by
segment without gradients (inference), and measures for each length

* **tokens per second**, the whole text divided by the time to read it;
* **peak memory**: on a GPU, PyTorch's peak allocation during the read; on a CPU, how far
  the process's peak resident memory rose above its resident memory just before the read
  (Linux `ru_maxrss` against `/proc/self/statm`). Each measurement runs in a fresh
  process, so one length's allocations cannot hide another's.

It does the same for [`infini-transformer-pytorch`](https://github.com/lucidrains/infini-transformer-pytorch),
the most used public port, at the same configuration (width, depth, heads, head width,
feed-forward width, segment length, batch), and prints our figures as ratios of the port's,
all from one run. The port is optional: `pip install --no-deps infini-transformer-pytorch
einops rotary-embedding-torch` (it is in the project's `bench` extra, never in its core
dependencies); without it the script measures our model alone and says so.

The two models are not identical (the port uses RMSNorm, a GEGLU-free feed-forward of its
own and rotary embeddings from another package), so the ratios compare implementations of
the same idea at the same size, not the same arithmetic. Results are written to
[`docs/results/infini_attention/benchmark.md`](../results/infini_attention/benchmark.md).

## Measured here

`python -m labml_memory.infini_attention.benchmark` on a two-core AMD EPYC machine with nothing
else running (load average 1.0 during the run, which is the benchmark's own thread), torch
2.13.0, one thread per measurement, batch 4, 2026-12-01: three interleaved rounds, 185 s in
all. Each figure is the median round, with the lowest and highest in brackets:

| context (tokens) | ours tok/s | port tok/s | ours / port | ours peak MiB | port peak MiB |
|---:|---:|---:|---:|---:|---:|
| 512 | 11,534 [8,773, 15,268] | 9,097 [8,771, 10,381] | 1.11 [1.00, 1.68] | 1.7 | 4.0 |
| 2,048 | 10,034 [9,907, 14,012] | 8,530 [8,361, 9,033] | 1.18 [1.10, 1.68] | 1.2 | 3.7 |
| 8,192 | 10,856 [9,694, 13,654] | 8,169 [7,346, 9,220] | 1.19 [1.18, 1.86] | 1.8 | 3.8 |
| 32,768 | 11,433 [11,204, 12,041] | 8,477 [8,351, 10,012] | 1.34 [1.20, 1.35] | 2.8 | 3.8 |

![Tokens per second and peak memory against context length](../results/infini_attention/benchmark.png)

How to read it:

* **Memory is flat** for both: reading 64 times more text needs no more memory, a few MiB
  above the baseline, whatever the length. Differences of a couple of MiB are the CPU
  allocator's granularity, not the models: the state itself is
  $4 \times 4 \times 32 \times 33$ float32 numbers, 66 KiB per sequence.
  The ratio column for memory is therefore noise around one and should not be quoted.
* **Throughput is flat** too, for both: a segment costs the same whether it is the first or
  the five-hundredth. Ours reads faster at every length, by a median of 1.11 to 1.34 times,
  and in every round at 2,048 tokens and beyond (the lowest round's ratio is 1.10 or more
  there); at 512 the lowest round is a tie. The rounds of one implementation spread by up to
  three quarters even on a quiet machine, which is why each ratio pairs two reads taken seconds apart.
  The fused attention kernel and the absence of `einops` rearrangements are the likely
  reasons for the gap, not anything about the method.
* The parameter counts differ by 0.1% (808,017 against 807,097): the same size, with
  different norms and feed-forward details.

An earlier version of this script measured all of ours before all of the port's, in one
round, on a machine shared with other jobs; its ratios (1.08 to 1.81) carried the load's
drift between the two halves and are superseded by the table above.
"""

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
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
# the table instead of ending the benchmark.
def _in_subprocess(name: str, length: int, batch: int, device: str, threads: int) -> Optional[Dict]:
    cmd = [sys.executable, '-m', 'labml_memory.infini_attention.benchmark', '--measure',
           name, str(length), str(batch), device, str(threads)]
    # The child's stdout ends with its json line; anything it printed before is ignored.
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        return {'error': (done.stderr.strip().splitlines() or ['failed'])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


# The port is optional: a missing package (or one that fails to import against this
# torch) means "measure ours only", reported as such on the first line of the results.
def peer_available() -> bool:
    try:
        import infini_transformer_pytorch  # noqa: F401
        return True
    except Exception:
        return False


# ## Many rounds, one figure
#
# The median of the rounds (robust to one round caught by a burst of load), with the lowest
# and highest beside it. A round that failed is left out; if all failed, the error is kept.
def summarise(rounds: List[Dict]) -> Dict:
    ok = [r for r in rounds if r and 'error' not in r]
    if not ok:
        return rounds[0] or {'error': 'failed'}
    summary = {'parameters': ok[0]['parameters'], 'rounds': len(ok)}
    for key in ('tokens_per_second', 'peak_bytes'):
        values = sorted(r[key] for r in ok)
        summary.update({key: values[len(values) // 2], f'{key}_min': values[0], f'{key}_max': values[-1]})
    return summary


# ## The report
#
# One table per quantity with a column per implementation and our figure as a ratio of the
# port's (above 1 means ours reads faster; below 1 means ours needs less memory).
def run(lengths: List[int], batch: int, device: str, threads: int, out: Path, rounds: int = 3,
        measurer=None) -> str:
    # Measurements are **interleaved**: each round visits every length, and at each length
    # reads with ours and the port one right after the other, in an order that alternates
    # from round to round. On a shared machine the load drifts over the minutes a run takes;
    # measuring all of ours before all of the port's (as an earlier version did) would put
    # that drift into the ratio. Each round's ratio compares two reads taken seconds apart,
    # and the spread over rounds is the noise floor printed beside every figure.
    measurer = measurer or _in_subprocess
    started = time.time()
    names = ['ours'] + (['infini-transformer-pytorch'] if peer_available() else [])
    by_round = [{n: {} for n in names} for _ in range(rounds)]
    for r in range(rounds):
        for L in lengths:
            for n in (names if r % 2 == 0 else names[::-1]):
                by_round[r][n][L] = measurer(n, L, batch, device, threads)
    results = {n: {L: summarise([by_round[r][n][L] for r in range(rounds)]) for L in lengths} for n in names}
    ratios = {L: [by_round[r][names[0]][L]['tokens_per_second'] / by_round[r][names[1]][L]['tokens_per_second']
                  for r in range(rounds)
                  if all('tokens_per_second' in by_round[r][n][L] for n in names)] if len(names) == 2 else []
              for L in lengths}
    # The header: the exact configuration and the command that reproduces the table.
    lines = [f"Reading random text segment by segment, no gradients; batch {batch}, segment "
             f"{CONFIG['seg_len']}, {CONFIG['n_layers']} layers, width {CONFIG['d_model']}, "
             f"{CONFIG['heads']} heads, feed-forward {CONFIG['d_ff']}; device {device}, "
             f"{threads} thread(s). Command: `python -m labml_memory.infini_attention.benchmark "
             f"lengths={','.join(map(str, lengths))} batch={batch} device={device} threads={threads} "
             f"rounds={rounds}`. Each figure is the median of {rounds} interleaved rounds, "
             "with the lowest and highest round in brackets.", '']
    if len(names) == 1:
        lines += ['**infini-transformer-pytorch is not installed**: our model alone. '
                  'Install it with `pip install --no-deps infini-transformer-pytorch einops rotary-embedding-torch`.', '']
    params = {n: next((r['parameters'] for r in results[n].values() if 'parameters' in r), None) for n in names}
    lines += ['Parameters: ' + ', '.join(f'{n} {p:,}' if p else f'{n} ?' for n, p in params.items()), '']
    # One column per implementation and quantity, and the ratio ours / port after each pair.
    both = len(names) == 2
    columns = (('tokens_per_second', 'tok/s'), ('peak_bytes', 'peak MiB'))
    header = ['context (tokens)']
    for _, unit in columns:
        header += [f'{n} {unit}' for n in names] + (['ours / port'] if both else [])
    lines += ['| ' + ' | '.join(header) + ' |', '|' + '---:|' * len(header)]
    for L in lengths:
        row = [f'{L:,}']
        for key, unit in columns:
            # Peak memory in MiB, throughput in tokens; a failed measurement shows its error.
            scale = 1024 ** 2 if key == 'peak_bytes' else 1
            values = [results[n][L][key] / scale if key in results[n][L] else None for n in names]
            spans = [(results[n][L][f'{key}_min'] / scale, results[n][L][f'{key}_max'] / scale)
                     if key in results[n][L] else None for n in names]
            row += [f'{v:,.1f} [{lo:,.1f}, {hi:,.1f}]' if v is not None else f"failed: {results[n][L].get('error')}"
                    for n, v, (lo, hi) in zip(names, values, [sp or (0, 0) for sp in spans])]
            if both and key == 'tokens_per_second':
                rs = sorted(ratios[L])
                row.append(f'{rs[len(rs) // 2]:.2f} [{rs[0]:.2f}, {rs[-1]:.2f}]' if rs else '–')
            elif both:
                ok = None not in values and values[1] > 0
                row.append(f'{values[0] / values[1]:.2f}' if ok else '–')
        lines.append('| ' + ' | '.join(row) + ' |')
    # The markdown, the raw figures as json (for later plots) and the figure, side by side.
    # The page stands alone: the question, the figure, the table with its columns defined,
    # then how the numbers were made (machine, date, rounds, wall time).
    from labml_memory.training import provenance
    text = '\n'.join(lines) + '\n'
    m = provenance.machine()
    page = ['# Infini-attention against infini-transformer-pytorch', '',
            'Does reading a longer text cost more memory? Infini-attention says no: its state is '
            'fixed whatever the length. Both implementations read texts of growing length here, '
            'and the figure gives tokens per second and peak memory against the length.', '',
            f'![Tokens per second and peak memory against context length]({out.with_suffix(".png").name})', '',
            text,
            '* **tok/s**: characters read per second over the whole text, segment by segment, '
            'without gradients.',
            '* **peak MiB**: how far the process\'s peak resident memory rose during the read (on a '
            'GPU, PyTorch\'s peak allocation), each measurement in a fresh process.',
            '* **ours / port**: our figure over the port\'s, per round and then the median with the '
            'lowest and highest round; above 1 ours reads faster, below 1 ours needs less memory '
            '(the memory ratio is of the medians: differences of a MiB or two are the allocator\'s '
            'granularity).', '',
            '## How these numbers were made', '',
            f'* **Machine:** {provenance.describe(m)} as the run ended',
            f'* **Date:** {m["date"]}',
            f'* **Rounds:** {rounds}, interleaved (no seeds: the texts are random, the models untrained)',
            f'* **Wall time:** {time.time() - started:,.0f} s for the whole run', '']
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text('\n'.join(page))
    (out.with_suffix('.json')).write_text(json.dumps({
        'rounds': [{n: {str(L): r for L, r in res.items()} for n, res in rnd.items()} for rnd in by_round],
        'summary': {n: {str(L): r for L, r in res.items()} for n, res in results.items()},
        'ratios': {str(L): v for L, v in ratios.items()}}, indent=1))
    _plot(results, lengths, out.with_suffix('.png'))
    return text


# ## The figure
#
# Two panels over context length on a log scale: throughput, which should be flat too (a
# segment costs the same whether it is the first or the thousandth), and peak memory, the
# line the paper's claim is about.
def _plot(results, lengths, path: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    for name, res in results.items():
        ok = [L for L in lengths if res[L] and 'error' not in res[L]]
        # The whiskers span the lowest and highest round: the spread the ratios are read against.
        for ax, key, scale in ((left, 'tokens_per_second', 1), (right, 'peak_bytes', 1024 ** 2)):
            mid = [res[L][key] / scale for L in ok]
            low = [m - res[L].get(f'{key}_min', res[L][key]) / scale for m, L in zip(mid, ok)]
            high = [res[L].get(f'{key}_max', res[L][key]) / scale - m for m, L in zip(mid, ok)]
            ax.errorbar(ok, mid, yerr=[low, high], marker='o', capsize=3, label=name)
    for ax, title in ((left, 'tokens per second'), (right, 'peak memory during the read (MiB)')):
        ax.set_xscale('log', base=2)
        ax.set_xlabel('context length (tokens)')
        ax.set_title(title)
        ax.grid(alpha=0.3)
    right.set_ylim(bottom=0)
    left.set_ylim(bottom=0)
    left.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ## The command line
#
# `key=value` settings: `lengths` (comma-separated multiples of the segment length), `batch`,
# `device` (`cpu` or `cuda`), `threads`, and `out`, the markdown file (the json and the png
# are written beside it). `--measure` is the child's entry point, not meant for users.
def main(argv: List[str]) -> None:
    if argv and argv[0] == '--measure':
        name, length, batch, device, threads = argv[1:6]
        print(json.dumps(measure(name, int(length), int(batch), device, int(threads))))
        return
    # Defaults: four lengths, each four times the last, from 8 to 512 segments.
    settings = dict(lengths='512,2048,8192,32768', batch='4', device='cpu', threads='1', rounds='3',
                    out='docs/results/infini_attention/benchmark.md')
    for arg in argv:
        key, _, value = arg.partition('=')
        if key not in settings:
            raise SystemExit(f"unknown setting {key!r}; valid: {sorted(settings)}")
        settings[key] = value
    # A length that is not a whole number of segments would end on a short segment, whose
    # cost is not that of the others; it is refused with the valid alternative named.
    lengths = [int(x) for x in settings['lengths'].split(',')]
    seg = CONFIG['seg_len']
    bad = [L for L in lengths if L <= 0 or L % seg]
    if bad:
        raise SystemExit(f"lengths must be positive multiples of the segment length {seg}; got {bad}")
    if int(settings['rounds']) < 1:
        raise SystemExit(f"rounds must be at least 1, got {settings['rounds']}")
    print(run(lengths, int(settings['batch']), settings['device'], int(settings['threads']),
              Path(settings['out']), rounds=int(settings['rounds'])))


if __name__ == '__main__':
    main(sys.argv[1:])
