r"""
# Where does a trained Compressive Transformer look?

The paper's attention analysis (Figure 4 of [Rae et al.](https://arxiv.org/abs/1911.05507)):
take a trained model, read held-out text with full memories, and average the attention weights
over 18 buckets of keys, six each for the compressed memory, the memory and the current
sequence, oldest first. If the compressed memory were useless, attention would fall steadily
with distance and the six compressed buckets would be near zero. The paper finds the opposite
on enwik8: attention *rises* again in the compressed memory, so the model reads it.

```
python -m labml_memory.compressive.analysis                  # the newest run of the experiment
python -m labml_memory.compressive.analysis run=<uuid> segments=64 out=<folder>
```

For a run of your own it writes the figure `attention_buckets.png` and the numbers
`attention_buckets.md` into the run's folder beside its checkpoints (or into `out`). The
profile on the site is the compression study's: the same `measure`, run on three seeds of
the study's `conv_attention` model over the whole held-out text, beside a Transformer-XL of
equal span ([the page](../results/compressive/attention_buckets.md)):

![Attention per key and per character over 18 buckets, three seeds](../results/compressive/attention_buckets.png)

## Reading the figure

Left to right is oldest to newest: six buckets of compressed slots, six of memories, six of the
current segment. Each bar is the attention weight a single key of that bucket receives on
average, so a bar is comparable with every other bar whatever the sizes of the parts.

* A weight of $1 / (M_c + M + L)$, one over the number of keys, is what a query that looked
  everywhere equally would give; bars above it are read more than chance.
* The rightmost buckets are the recent characters of the segment itself; in character-level
  text they dominate, because the next character depends most on the last few.
* What the paper's claim is about is the *shape* at the left end: whether the compressed
  buckets get less weight than the memory next to them (attention simply decays with
  distance) or more (the model prefers a compressed summary over raw old activations).
  Each compressed slot stands for $c$ characters, so even at equal weight per key a slot
  delivers $c$ times the context per unit of attention.
* The grey lines separate the layers: the average hides that some layers look almost only
  locally while others spread their weight over the whole context.

## Deviations from the paper

* **Mean weight per key, not total per bucket.** Buckets of different parts hold different
  numbers of keys ($M_c = 32$ slots against $M = 64$ memories here), so a bucket's value is
  the average weight one key in it receives. The total would favour whichever part is longer.
* **Causal mask respected.** In the current sequence a key is averaged only over the queries
  allowed to see it; otherwise the late positions, hidden from most queries, would look unread.
* Averaged over all layers, heads and the validation segments read (not 20,000 sequences).
"""

import math
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import torch

# The three parts of the context, oldest first, and how many buckets each is split into.
PARTS = ('compressed memory', 'memory', 'sequence')
BUCKETS_PER_PART = 6


# ## Bucketing one layer's weights
#
# `weights` is `[batch, heads, L, M_c + M + L]` with keys ordered compressed memory, memory,
# segment. Each part is cut into six contiguous buckets of (nearly) equal size with
# `tensor_split`. For every bucket we add up the weights it received and count the
# (batch, head, query, key) combinations that were *allowed*: every query sees all memories,
# query $i$ sees segment keys $0 \dots i$. Summing both over layers and segments and dividing
# at the end gives the mean weight per allowed key. Returns `(sums, counts)`, `[18]` each.
def bucket_sums(weights: torch.Tensor, compressed_len: int, mem_len: int):
    batch, heads, seq_len, k_len = weights.shape
    if k_len != compressed_len + mem_len + seq_len:
        raise ValueError(f"weights have {k_len} keys, expected compressed_len + mem_len + L = "
                         f"{compressed_len + mem_len + seq_len}")
    # A part with fewer keys than buckets would leave some buckets empty, and an empty bucket's
    # mean is 0 / 0: a NaN in the figure rather than an answer. Refuse instead, naming the part.
    for name, size in (('compressed memory (compressed_len)', compressed_len),
                       ('memory (mem_len)', mem_len), ('segment L', seq_len)):
        if size < BUCKETS_PER_PART:
            raise ValueError(f"the {name} holds {size} keys, fewer than the {BUCKETS_PER_PART} "
                             f"buckets it is split into; the analysis needs at least "
                             f"{BUCKETS_PER_PART} keys in each part")
    # Which (query, key) pairs the causal mask allows: all of both memories, and the segment up
    # to the query itself. `[L, K]`
    allowed = torch.ones(seq_len, k_len, dtype=weights.dtype, device=weights.device)
    past = compressed_len + mem_len
    allowed[:, past:] = torch.tril(allowed[:, past:])
    # Received weight and allowed count per key. `[k_len]`
    # (Masked pairs hold zero weight in a real model; multiplying by `allowed` makes sure.)
    received = (weights * allowed).sum(dim=(0, 1, 2))
    viewers = allowed.sum(0) * batch * heads
    sums, counts = [], []
    # The three parts in key order; `tensor_split` makes buckets whose sizes differ by at
    # most one when a part does not divide by six (32 compressed slots: 6, 6, 5, 5, 5, 5).
    for start, length in ((0, compressed_len), (compressed_len, mem_len), (past, seq_len)):
        index = torch.arange(start, start + length, device=weights.device)
        for part in torch.tensor_split(index, BUCKETS_PER_PART):
            sums.append(received[part].sum())
            counts.append(viewers[part].sum())
    return torch.stack(sums), torch.stack(counts)


# ## Reading held-out text
#
# The model reads the validation streams from an empty memory, as validation does. The first
# segments, while the memories are still filling, are skipped: only segments whose memories
# are full are measured, so every bucket means the same thing each time.
#
# One loop serves two models. `step(inputs, memory)` returns a segment's attention weights,
# layer by layer, and the memory after it; `parts(memory)` returns, per layer, where the keys
# split into the three parts (the sizes of the oldest two), or `None` while the memory is not
# yet full. Returns the buckets and how many segments were measured, which is fewer than asked
# for when the held-out text runs out first: the page reports the number that was measured.
def _read(step, parts, n_layers: int, fill: int, streams, segments: int, device):
    if segments < 1:
        raise ValueError(f"segments must be a positive number of segments to measure, got {segments}")
    total_sums, total_counts = 0.0, 0.0
    per_layer = [[0.0, 0.0] for _ in range(n_layers)]
    memory, measured = None, 0
    for index in range(min(len(streams), fill + segments)):
        inputs = streams.segment(index)[0].to(device)
        # Measured only when every layer's memories are full (checked on the state itself,
        # not predicted), so the buckets cover the same keys in every measured segment.
        sizes = None if memory is None else parts(memory)
        weights, new_memory = step(inputs, memory)
        if sizes is not None:
            # Sums and counts accumulate; the division happens once, at the end, so a
            # bucket's mean weighs every (query, key) pair equally across segments and layers.
            for n, (w, (older, newer)) in enumerate(zip(weights, sizes)):
                sums, counts = bucket_sums(w, older, newer)
                total_sums, total_counts = total_sums + sums, total_counts + counts
                per_layer[n][0] = per_layer[n][0] + sums
                per_layer[n][1] = per_layer[n][1] + counts
            measured += 1
        # The memory carries on to the next segment whether or not this one was measured.
        memory = new_memory
    if not measured:
        raise ValueError("no segment was read with full memories; read more segments")
    # Mean weight per allowed key: overall, and per layer (lower layers usually look more
    # locally than upper ones, so the figure shows both).
    result = {'all layers': (total_sums / total_counts).tolist()}
    for n, (s, c) in enumerate(per_layer):
        result[f'layer {n}'] = (s / c).tolist()
    return result, measured


# The Compressive Transformer: compressed memory, memory, segment. Segments needed before both
# memories are full: $M / L$ to fill the memory, then $c\,M_c / L$ more whose evictions fill
# the compressed memory.
@torch.no_grad()
def measure(model, streams, segments: int, device) -> Tuple[Dict[str, List[float]], int]:
    model.eval()
    # Every layer keeps the same $M$ and $M_c$ (`model.mem_len` lists $M$ once per layer).
    mem_len = max(model.mem_len)
    fill = math.ceil(mem_len / model.segment_len) + \
        math.ceil(model.compressed_len * model.rate / model.segment_len)

    def parts(memory):
        if not all(m >= mem_len and cm == model.compressed_len for m, cm in memory.lengths):
            return None
        return [(c.shape[1], m.shape[1]) for c, m in zip(memory.compressed, memory.memory)]

    return _read(model.attention_weights, parts, len(model.layers), fill, streams, segments, device)


# ## The same buckets for a Transformer-XL of equal span
#
# Is attention that rises into the compressed memory a sign that the model reads its summary,
# or would any model put that much weight on keys that far back? The control is a
# Transformer-XL whose memory covers the same characters: $M_{XL} = M + c\,M_c$. Its oldest
# `older` $= c\,M_c$ memories stand where the compressed slots stand, one key per character
# instead of one per $c$; the next $M$ are the memory, then the segment. The buckets are the
# same 18, cut from the same character spans.
@torch.no_grad()
def measure_equal_span(model, streams, segments: int, device, older: int) -> Tuple[Dict[str, List[float]], int]:
    model.eval()
    span = model.memory_lengths()
    if len(set(span)) != 1 or not 0 < older < span[0]:
        raise ValueError(f"older must split one memory length shared by every layer, 0 < older < "
                         f"M_XL; got older={older} with memory lengths {span}")
    span = span[0]
    seq_len = streams.seq_len

    # Transformer-XL's `attention_weights` returns the weights only, so the segment is read a
    # second time for the memory $m_{\tau+1}$: twice the cost of an analysis that reads ~100
    # segments, kept rather than widening the model's interface for a figure.
    def step(inputs, memory):
        return model.attention_weights(inputs, memory), model(inputs, memory).memory

    def parts(memory):
        if not all(length == span for length in memory.lengths):
            return None
        return [(older, span - older)] * len(memory.lengths)

    return _read(step, parts, len(model.layers), math.ceil(span / seq_len), streams, segments, device)


# ## The figure and the table
#
# Bars for the average over layers, coloured by part, with each layer's profile drawn over
# them as a grey line (darker for higher layers). The weights span orders of magnitude between
# the nearest keys and the compressed memory, so the axis is logarithmic; on a linear axis the
# compressed buckets would be invisible next to the last sequence bucket.
def draw(result: Dict[str, List[float]], path: Path, title: str, uniform: float = None) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    # One colour per part: compressed memory, memory, segment.
    colours = ['tab:purple', 'tab:blue', 'tab:green']
    # Wide and low, to sit in the page's note column beside the code.
    fig, ax = plt.subplots(figsize=(8, 3.6))
    values = result['all layers']
    for p, part in enumerate(PARTS):
        xs = range(p * BUCKETS_PER_PART, (p + 1) * BUCKETS_PER_PART)
        ax.bar(list(xs), values[p * BUCKETS_PER_PART:(p + 1) * BUCKETS_PER_PART],
               color=colours[p], label=part)
    # One line per layer, lighter for lower layers.
    layers = len(result) - 1
    for n in range(layers):
        shade = str(0.75 - 0.6 * n / max(1, layers - 1))
        ax.plot(range(len(values)), result[f'layer {n}'], marker='.', lw=0.8, color=shade,
                label=f'layer {n}')
    # The weight every key would get from a query that looked everywhere equally.
    if uniform is not None:
        ax.axhline(uniform, color='black', ls=':', lw=0.8, label='uniform, 1/K')
    # Ticks name the buckets: `c1` is the oldest compressed bucket, `s6` the newest characters.
    ax.set_xticks(range(len(values)), [f'{p[0]}{b + 1}' for p in ('cmem', 'mem', 'seq')
                                       for b in range(BUCKETS_PER_PART)], fontsize=8)
    # Logarithmic: the weights span orders of magnitude from the nearest keys to the oldest.
    ax.set_yscale('log')
    ax.set_xlabel('key bucket: compressed memory (c), memory (m), sequence (s); oldest on the left')
    ax.set_ylabel('mean attention weight per key')
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    # A PNG at a resolution that stays sharp in the page's note column.
    fig.savefig(path, dpi=120)
    plt.close(fig)


# The table gives the same numbers multiplied by 1,000, one row per layer and one for the average.
def table(result: Dict[str, List[float]]) -> str:
    # Column names: `cmem 1` is the oldest compressed bucket, `seq 6` the newest characters.
    header = '| | ' + ' | '.join(f'{p[:4]} {b + 1}' for p in ('cmem', 'mem', 'seq')
                                   for b in range(BUCKETS_PER_PART)) + ' |'
    lines = [header, '|---' * (3 * BUCKETS_PER_PART + 1) + '|']
    for name, values in result.items():
        lines.append(f'| {name} | ' + ' | '.join(f'{1000 * v:.2f}' for v in values) + ' |')
    return '\n'.join(lines)


# ## Command line
#
# `run` picks the run (`latest` by default, or a uuid), `segments` how many validation segments
# with full memories to average over, `out` where to write (the run's own folder unless given,
# so that profiling a run of your own never overwrites the study's page). The model is rebuilt from the
# configuration stored in the checkpoint, so the analysis always matches what was trained,
# and it runs on the CPU in evaluation mode (no dropout).
def main(argv: List[str]) -> None:
    from labml_memory.compressive.experiment import PRESETS, Config, build_model
    from labml_memory.data.shakespeare import SequentialStreams, Vocabulary, load_text, split
    from labml_memory.training import checkpoint, experiments_path
    from labml_memory.training.config import build_config, parse_overrides
    args = {'run': 'latest', 'segments': '48', 'out': ''}
    args.update(parse_overrides(argv))
    # A default configuration, only to find where the runs of the experiment are kept.
    probe = build_config(Config, PRESETS, {})
    run_path = checkpoint.find_run(experiments_path(probe), 'compressive', args['run'])
    state = checkpoint.load(checkpoint.checkpoints_of(run_path)[-1])
    config = build_config(Config, PRESETS, {}, base=state['config'])
    text = load_text(Path(config.data_file) if config.data_file else None)
    vocab = Vocabulary.from_text(text)
    # The vocabulary is rebuilt from the text, as the trainer does; the checkpoint stores it too,
    # and the state dict fails loudly if the sizes disagree.
    model = build_model(config, vocab.size)
    model.load_state_dict(state['model'])
    # The validation half of the split, read as parallel streams exactly as in training.
    streams = SequentialStreams(split(vocab.encode(text))[1], config.batch_size, config.seq_len)
    result, measured = measure(model, streams, int(args['segments']), torch.device('cpu'))
    out = Path(args['out']) if args['out'] else run_path
    out.mkdir(parents=True, exist_ok=True)
    # The figure's title records what was measured, so the picture is never separated from it.
    title = (f"{config.compression} + {config.compression_loss} loss, step {state['step']}: "
             f"M_c={config.compressed_len}, M={config.mem_len}, L={config.seq_len}, "
             f"c={config.compression_rate}")
    # The figure for the page, the numbers next to it, and the table on the screen.
    draw(result, out / 'attention_buckets.png', title,
         uniform=1 / (config.compressed_len + config.mem_len + config.seq_len))
    (out / 'attention_buckets.md').write_text(
        "# Compressive Transformer: where attention goes\n\n"
        f"Mean attention weight per key (×1000), {title}; run `{run_path.name}`, "
        f"{measured} validation segments with full memories.\n\n" + table(result) + '\n')
    print(table(result))


if __name__ == '__main__':
    main(sys.argv[1:])
