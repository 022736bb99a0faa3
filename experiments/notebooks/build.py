r"""
Writes the Colab notebooks, one per architecture, from the cells below.

    python experiments/notebooks/build.py          # rewrite every notebook
    python experiments/notebooks/build.py --check  # fail if a stored notebook differs (the tests do this)

Notebooks are generated rather than edited by hand so they stay in step with the code: the test
suite checks that the stored files equal what this script writes, and executes each one with a
tiny configuration (`LABML_MEMORY_NOTEBOOK_TINY=1`). They are stored without outputs.
"""
import argparse
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).parent
REPO = 'https://github.com/labml-memory/labml_memory'
SITE = 'https://labml-memory.github.io/labml_memory'

INSTALL = """\
# On Colab, install the package from its repository; locally it is already installed.
import sys
if 'google.colab' in sys.modules:
    !pip install -q "labml-memory{extras} @ git+{repo}"
"""

SETTINGS = """\
import os
# The test suite runs every notebook with a tiny model for a few steps; on Colab or a laptop,
# the CPU preset trains for a short while (raise `steps` for a better model).
TINY = os.environ.get('LABML_MEMORY_NOTEBOOK_TINY') == '1'
overrides = {short}
if TINY:
    overrides = {tiny}
    overrides['logs_dir'] = os.environ.get('LABML_MEMORY_NOTEBOOK_LOGS', '')
"""

TRAIN = """\
from labml_memory.training import configure, train
from labml_memory.{package}.experiment import Config, PRESETS, build_model

config = configure(Config, PRESETS, overrides, '{package}')
result = train(config, build_model, '{package}')
model, vocab = result.model, result.vocabulary
print(f'validation loss {{result.final_valid_loss:.3f}} nats/char, logs in {{result.run_path}}')
"""

PLOT = """\
# labml wrote every tracked value to log.jsonl in the run's folder; draw the loss curves from it.
import matplotlib.pyplot as plt
from labml_memory.training.logs import read_metrics

metrics = read_metrics(result.run_path)
fig, ax = plt.subplots(figsize=(6, 3.5))
for name in ('loss.train', 'loss.valid'):
    if name in metrics:
        steps, values = zip(*metrics[name])
        ax.plot(steps, values, marker='o' if name == 'loss.valid' else None, label=name)
ax.set_xlabel('step'); ax.set_ylabel('nats / char'); ax.legend(); ax.grid(alpha=0.3)
plt.show()
"""

SAMPLE = """\
# Generate with memory: the prompt is read segment by segment, then one character at a time,
# each step seeing only the newest character plus what the model remembers.
import torch
prompt = vocab.encode('ROMEO:\\n').unsqueeze(0)
model.eval()
generated = model.generate(prompt, 80 if TINY else 400, segment_len=config.seq_len,
                           generator=torch.Generator().manual_seed(0))
print(vocab.decode(prompt[0]) + vocab.decode(generated[0]))
"""

XL_MEMORY = """\
# How much of each layer's attention goes to the memory rather than the current segment?
import torch
text = vocab.encode(open(__import__('labml_memory.data.shakespeare', fromlist=['x']).DATA_FILE).read()[:4096])
segments = text[: (len(text) // config.seq_len) * config.seq_len].view(1, -1, config.seq_len)[0]
memory = None
with torch.no_grad():
    for segment in segments[:-1]:
        _, memory, _ = model(segment[None], memory)
    weights = model.attention_weights(segments[-1][None], memory)
shares = [w[..., :w.shape[-1] - config.seq_len].sum(-1).mean().item() for w in weights]
fig, ax = plt.subplots(figsize=(5, 3))
ax.bar(range(1, len(shares) + 1), shares)
ax.set_xlabel('layer'); ax.set_ylabel('attention on memory'); ax.set_ylim(0, 1)
plt.show()
print('memory state:', memory.nbytes(), 'bytes;', 'lengths per layer:', memory.lengths)
"""

TINY_XL = "dict(steps=3, d_model=32, heads=2, n_layers=2, d_ff=64, seq_len=16, mem_len=16, eval_mem_len=16, batch_size=4, eval_every=1000, final_eval_segments=2, sample_len=0, threads=1)"

VALID_STREAMS = """\
# Held-out text, read as parallel streams, for looking inside the trained model.
from labml_memory.data.shakespeare import SequentialStreams, load_text, split
_, valid = split(vocab.encode(load_text()))
streams = SequentialStreams(valid, 4, config.seq_len)
"""

COMPRESSIVE_MEMORY = VALID_STREAMS + """\
# The paper's attention analysis: the average attention weight a key receives, in six buckets
# each of compressed memory, memory and the current segment (oldest to newest).
from labml_memory.compressive.analysis import measure
buckets, measured = measure(model, streams, segments=2 if TINY else 20, device='cpu')
buckets = buckets['all layers']
fig, ax = plt.subplots(figsize=(7, 3))
ax.bar(range(18), buckets, color=['C2'] * 6 + ['C0'] * 6 + ['C1'] * 6)
ax.set_xticks([2.5, 8.5, 14.5], ['compressed memory', 'memory', 'segment'])
ax.set_yscale('log'); ax.set_ylabel('mean attention per key')
plt.show()
"""

INFINI_MEMORY = """\
# The gate of every head: sigmoid(beta) is the share of a head's output read from the
# compressive memory (1) rather than from local attention inside the segment (0).
gates = model.gates()
fig, ax = plt.subplots(figsize=(5, 3))
image = ax.imshow(gates, vmin=0, vmax=1, cmap='viridis')
ax.set_xlabel('head'); ax.set_ylabel('layer'); fig.colorbar(image, label='sigmoid(beta)')
plt.show()
print(gates)
"""

INFINITY_MEMORY = VALID_STREAMS + """\
# After reading some text, where does each head of the last layer look in the long-term
# memory? Its query's density N(t; mu, sigma^2) over the memory's time axis t in [0, 1].
import math
from labml_memory.studies.infinity_former_figures import densities_after
mu, var = densities_after(model, streams, segments=3)[-1]
t = torch.linspace(0, 1, 400)
fig, ax = plt.subplots(figsize=(6, 3))
for head in range(mu.shape[1]):
    m, v = mu[0, head, -1], var[0, head, -1]
    ax.plot(t, torch.exp(-(t - m) ** 2 / (2 * v)) / torch.sqrt(2 * math.pi * v), label=f'head {head}')
ax.set_xlabel('t (0: oldest, 1: newest)'); ax.set_ylabel('density'); ax.legend()
plt.show()
"""

RMT_MEMORY = VALID_STREAMS + """\
# What do the memory tokens carry? Read held-out text twice: once passing the memory from
# segment to segment, once starting every segment from the initial memory. The gap, by
# position in the segment, is what the memory holds; it is widest at the start of a segment,
# where the segment itself offers the least context.
import torch.nn.functional as F
n = 2 if TINY else 20
curves = {'memory carried': torch.zeros(config.seq_len), 'initial memory every segment': torch.zeros(config.seq_len)}
memory = None
with torch.no_grad():
    for i in range(n):
        inputs, targets, _ = streams.segment(i)
        logits, next_memory, _ = model(inputs, memory)
        fresh, _, _ = model(inputs, None)
        for name, out in zip(curves, (logits, fresh)):
            curves[name] += F.cross_entropy(out.transpose(1, 2), targets, reduction='none').mean(0) / n
        memory = next_memory
fig, ax = plt.subplots(figsize=(6, 3))
for name, curve in curves.items():
    ax.plot(range(1, config.seq_len + 1), curve, label=name)
ax.set_xlabel('position in the segment'); ax.set_ylabel('nats / char'); ax.legend()
plt.show()
print('memory state:', memory.nbytes(), 'bytes:', tuple(memory.tokens.shape), '[streams, n_mem, d_model]')
"""

KNN_MEMORY = VALID_STREAMS + """\
# The kNN memory fills one segment per call until it holds mem_size pairs per stream and
# head, then stays at that size: old pairs are evicted, first in, first out. The gate of each
# head of the kNN layer, sigmoid(b_g), is the share it reads from the retrieved pairs.
sizes = []
memory = None
with torch.no_grad():
    for i in range(4 if TINY else 24):
        inputs, _, _ = streams.segment(i)
        _, memory, _ = model(inputs, memory)
        sizes.append(memory.nbytes() / 2 ** 20)
fig, (ax, bx) = plt.subplots(1, 2, figsize=(9, 3))
ax.plot(range(1, len(sizes) + 1), sizes, marker='o')
ax.set_xlabel('segments read'); ax.set_ylabel('memory state (MiB)')
bx.bar(range(len(model.gates())), model.gates())
bx.set_xlabel('head of the kNN layer'); bx.set_ylabel('gate g'); bx.set_ylim(0, 1)
plt.show()
print('table:', tuple(memory.keys.shape), '[streams, heads, pairs, d_k]; gates:', model.gates())
"""

TINY_COMMON = "d_model=32, heads=2, n_layers=2, d_ff=64, seq_len=16, batch_size=4, eval_every=1000, final_eval_segments=2, sample_len=0, threads=1, steps=3"

NOTEBOOKS = {
    'transformer_xl': dict(
        title='Transformer-XL',
        blurb='Segment-level recurrence with relative positional attention '
              '([paper](https://arxiv.org/abs/1901.02860)).',
        short="dict(steps=300, eval_every=100)",
        tiny=TINY_XL,
        memory=XL_MEMORY),
    'memory_depth': dict(
        title='Do transformers need deep long-range memory?',
        blurb='A Transformer-XL where only some layers keep a long memory '
              '([paper](https://arxiv.org/abs/2007.03356)).',
        short="dict(steps=300, n_long=1, placement='last')",
        tiny=TINY_XL.replace("mem_len=16, eval_mem_len=16", "long_mem_len=16, short_mem_len=4, n_long=1, placement='last'"),
        memory=XL_MEMORY),
    'compressive': dict(
        title='Compressive Transformer',
        blurb='Old memories are compressed rather than discarded '
              '([paper](https://arxiv.org/abs/1911.05507)).',
        short="dict(steps=300, eval_every=100)",
        tiny=f"dict({TINY_COMMON}, mem_len=16, compressed_len=8)",
        memory=COMPRESSIVE_MEMORY),
    'infini_attention': dict(
        title='Infini-attention',
        blurb='A fixed-size compressive memory per head, read and written by linear attention '
              '([paper](https://arxiv.org/abs/2404.07143)).',
        short="dict(steps=300, eval_every=100)",
        tiny=f"dict({TINY_COMMON})",
        memory=INFINI_MEMORY),
    'infinity_former': dict(
        title='∞-former',
        blurb='Attention over a continuous signal fitted to the past, with sticky memories '
              '([paper](https://arxiv.org/abs/2109.00301)).',
        short="dict(steps=300, eval_every=100)",
        tiny=f"dict({TINY_COMMON}, mem_len=16, n_basis=16, n_samples=16, bins=16)",
        memory=INFINITY_MEMORY),
    'recurrent_memory': dict(
        title='Recurrent Memory Transformer',
        blurb='Memory tokens read before each segment and written after it, trained through time '
              '([paper](https://arxiv.org/abs/2207.06881)).',
        short="dict(steps=200, eval_every=100)",
        tiny=f"dict({TINY_COMMON}, n_mem=4)",
        memory=RMT_MEMORY),
    'memorizing_transformer': dict(
        title='Memorizing Transformer',
        blurb='A Transformer-XL whose kNN layer attends over the top-k of a large faiss-searched '
              'memory of past keys and values ([paper](https://arxiv.org/abs/2203.08913)).',
        short="dict(steps=200, eval_every=100)",
        tiny=f"dict({TINY_COMMON}, mem_len=16, eval_mem_len=16, mem_size=32, top_k=8)",
        memory=KNN_MEMORY,
        # faiss comes with the `knn` extra: a bare install cannot build this model.
        extras='[knn]'),
}


def notebook(package: str, spec: dict) -> nbformat.NotebookNode:
    cells = [
        nbformat.v4.new_markdown_cell(
            f"# {spec['title']}\n\n{spec['blurb']} The annotated implementation: "
            f"[{SITE}/{package}/]({SITE}/{package}/).\n\n"
            "Train a small model on Tiny Shakespeare with labml tracking, plot its loss, generate "
            "text with memory, and look at the memory at work."),
        nbformat.v4.new_code_cell(INSTALL.format(repo=REPO, extras=spec.get('extras', ''))),
        nbformat.v4.new_code_cell(SETTINGS.format(short=spec['short'], tiny=spec['tiny'])),
        nbformat.v4.new_markdown_cell("## Train"),
        nbformat.v4.new_code_cell(TRAIN.format(package=package)),
        nbformat.v4.new_markdown_cell("## The loss curve"),
        nbformat.v4.new_code_cell(PLOT),
        nbformat.v4.new_markdown_cell("## A sample, generated with memory"),
        nbformat.v4.new_code_cell(SAMPLE),
        nbformat.v4.new_markdown_cell("## The memory at work"),
        nbformat.v4.new_code_cell(spec['memory']),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    nb.metadata['colab'] = {'provenance': []}
    # Stable cell ids, so regenerating an unchanged notebook changes nothing on disk.
    for i, cell in enumerate(nb.cells):
        cell['id'] = f'{package}-{i}'
    return nb


def render(package: str, spec: dict) -> str:
    return nbformat.writes(notebook(package, spec)) + '\n'


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument('--check', action='store_true')
    args = parser.parse_args()
    stale = []
    for package, spec in NOTEBOOKS.items():
        path = HERE / f'{package}.ipynb'
        text = render(package, spec)
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
    if stale:
        print(f"stale notebooks (run python experiments/notebooks/build.py): {stale}")
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
