r"""
# Transformers that remember

A transformer language model sees a window of tokens and nothing else. Make the window longer
and attention costs grow with its square; cut a long text into segments and each segment
starts blind. The models on this site keep a window of affordable size, a *segment* of $L$
tokens, and carry a **memory** from one segment to the next. They differ in what the memory
holds, in how fast it grows, and in what it costs to read. Every page here is one annotated
module: the notes on the left explain the code on the right, with the paper's equations, and
every architecture page lists where the code departs from its paper.

## The family

**[Transformer-XL](transformer_xl/__init__.py)** ([Dai et al., 2019](https://arxiv.org/abs/1901.02860))
is where the line starts. Each layer keeps the hidden states it read in the previous segment
and lets the current segment attend to them as well, with no gradient flowing back into
them. Because layer $n$ reads what layer $n-1$ remembered, information climbs back further
with every layer: each layer below the top steps back its memory rounded up to whole
segments, so $N$ layers with a memory $0 < M \le L$ reach $(L - 1) + M + (N - 1) L$ tokens
back from the end of a segment, about $N L$ (the paper's $O(N \times L)$; the rule and its
measurement are in [reach](tasks/reach.py)). Absolute
positions stop making sense once segments are glued together, so positions enter attention
as distances $i - j$ instead.

**[Compressive Transformer](compressive/__init__.py)** ([Rae et al., 2020](https://arxiv.org/abs/1911.05507)) asks what
to do with the states Transformer-XL throws away. Instead of dropping the oldest memories it
squeezes them, $c$ states into one slot, into a second, *compressed* memory that reaches $c$
times further for the same number of slots. The compression function (pooling, convolutions,
keeping the most attended states) is trained by a loss of its own: the compressed memory
should answer the layer's attention the way the uncompressed one did.

**[∞-former](infinity_former/__init__.py)** ([Martins et al., 2022](https://arxiv.org/abs/2109.00301)) drops the idea of a
list of slots. The past becomes a continuous signal over $t \in [0, 1]$, a weighted sum of
$J$ radial basis functions fitted to the hidden states by ridge regression. Attention reads
it through a Gaussian density over $t$ instead of a softmax over positions. New text is
appended by squeezing the old signal into the left part of $[0, 1]$ and refitting, so the
memory keeps the same size forever and loses resolution instead of content; *sticky
memories* spend that resolution where attention went before.

**[Infini-attention](infini_attention/__init__.py)** ([Munkhdalai et al., 2024](https://arxiv.org/abs/2404.07143)) keeps, in
every head, one matrix $M_s \in \mathbb{R}^{d_k \times d_v}$ and one normaliser
$z_s \in \mathbb{R}^{d_k}$, written to by linear attention: every key-value pair of every past
segment is added in, $M_s = M_{s-1} + \sigma(K)^\top V$. A query reads it as
$\sigma(Q) M_{s-1} / (\sigma(Q) z_{s-1})$, and a learned gate per head mixes that with ordinary
attention inside the segment. The memory never grows; old and new are superimposed in it.

**[Memorizing Transformer](memorizing_transformer/__init__.py)** ([Wu et al., 2022](https://arxiv.org/abs/2203.08913))
keeps the past exactly but outside the network. One layer near the top writes every key and
value it computes into a table that no gradient reaches, and each query fetches its top $k$
matches by a nearest-neighbour search (here a faiss index) and attends over them; a learned
gate per head mixes that read with the layer's ordinary attention. The table grows with the
text up to its bound $C$, so the state is large but the reach is as long as the table.

**[Recurrent Memory Transformer](recurrent_memory/__init__.py)** ([Bulatov et al., 2022](https://arxiv.org/abs/2207.06881))
changes no layer at all. A few memory tokens are placed before each segment (read) and after
it (write); the write tokens' outputs become the next segment's read tokens, so the whole
state is $m$ vectors, and the model learns what to put there only through back-propagation
across segments.

**[How deep must memory be?](memory_depth/__init__.py)** ([Rae & Razavi, 2020](https://arxiv.org/abs/2007.03356)) is not a
new architecture but a study of Transformer-XL: give long memories to only some layers and
short ones to the rest. A handful of long-range layers does nearly as well as all of them,
provided they are not the first layers, and shortening the reach of the lower layers can even
help. Transformer-XL here takes one memory length per layer so that this study can be run.

## Notation

One set of symbols on every page. Where a paper writes another, its page says so once, and the
last column names the setting in the code.

| symbol | meaning | the papers write | in the code |
|---|---|---|---|
| $L$ | segment length: tokens read per call | $n_s$ (Compressive), $N$ (Infini-attention) | `seq_len` |
| $M$ | memory length per layer: past states kept | $n_m$ (Compressive) | `mem_len` |
| $M_c$ | compressed-memory slots per layer | $n_{cm}$ (Compressive) | `compressed_len` |
| $c$ | compression rate: states per compressed slot | $c$ | `compression_rate` |
| $N$ | number of layers | $N$ (XL), $l$ (Compressive) | `n_layers` |
| $d$, $d_k$, $d_v$ | model width; width of a head's keys and values | $d$, $d_{model}$ | `d_model` |
| $J$ | basis functions of the ∞-former's signal | $N$ (∞-former) | `n_basis` |
| $\tau$ | where the ∞-former contracts the old signal to | $\tau$ | `tau` |
| $M_s$, $z_s$ | Infini-attention's memory and normaliser after segment $s$ | $M_s$, $z_s$ | `m`, `z` |
| $\beta$ | Infini-attention's gate per head | $\beta$ | `beta` |

A segment is counted as its paper counts it ($\tau$ in Transformer-XL, $t$ in the Compressive
Transformer, $s$ in Infini-attention); no page needs two of them at once.

## What each one keeps

Sizes and costs are per layer, in the notation above.

| Model | What the memory holds | As the context grows | Attention cost per segment |
|---|---|---|---|
| Transformer-XL | the last $M$ hidden states the layer read | fixed at $M$ vectors; the oldest fall off, so it reaches about $N \lceil M / L \rceil L$ tokens | $O(L (M + L) d)$ |
| Compressive | $M$ recent states and $M_c$ compressed slots, each standing for $c$ older states | fixed at $M + M_c$ vectors; reaches about $N \lceil (M + c M_c) / L \rceil L$ tokens | $O(L (M + M_c + L) d)$, plus compressing $L$ states |
| ∞-former | the coefficients of $J$ basis functions describing the whole past as a signal (beside an XL-style short memory) | fixed at $J$ vectors; the past never falls off but is seen ever more coarsely | $O(L (J + M + L) d)$, plus refitting the signal |
| Infini-attention | per head a $d_k \times d_v$ matrix and a $d_k$ vector, sums over every past key and value | fixed at $d_k (d_v + 1)$ numbers per head; everything is kept, superimposed | $O(L^2 d + L d\, d_k)$ |
| Memorizing Transformer | one layer's past keys and values in a kNN table (beside Transformer-XL's memory) | grows with the text up to $C$ pairs; reaches as far back as the table | $O(L (M + L + k) d)$, plus a top-$k$ search over $C$ keys |
| Recurrent Memory Transformer | $m$ memory tokens, the outputs of the last segment's write tokens | fixed at $m$ vectors for the whole model | $O((L + 2m)^2 d)$ |
| Memory-depth study | Transformer-XL's memory, long in a few layers and short in the others | as Transformer-XL, layer by layer | as Transformer-XL, less in the short layers |

## How the site is organised

*Building blocks* are the pieces every model shares: embeddings, positional tables, attention,
feed-forward and residual layers, and the [protocol](protocol.py) that makes every model
callable the same way, `logits, memory, losses = model(tokens, memory)`. Each architecture
has its own section with the model and the experiment that trains it; every experiment also
runs as a Colab notebook. *Training* is the one trainer they all share and the text they read,
*Tasks* the synthetic tasks that probe a memory, and *Results* compares them on the same text,
the same budget and the same machine. The [layout](layout.md) draws the floors these stand
on, each importing only from the floors below.

Every results page is made by one study, and every study runs on the same
small [runner](studies/runner.py): typed `key=value` settings, a plan of runs with stable names (what is recorded
is skipped, so a stopped study resumes), one record per run, and a report that rebuilds the
page from the records without training. The verdicts on every page come from one
[statistics module](studies/stats.py): seeds paired by design, Holm's correction across a page,
and "tie" only where an equivalence test inside a declared margin says so.

```
python -m labml_memory.studies list                  # every study and its question
python -m labml_memory.studies run memory_depth      # what is not yet recorded, then the page
python -m labml_memory.studies report all            # every page from its records
```

## Where to look first

* [Memory reach](results/memory_reach.md): how far back, and how much, each memory really
  carries, at equal state, with {{ result memory_reach seeds }}, positive controls and the floor of a guesser.
* The [benchmark](results/benchmark.md): training speed, memory and inference cost of every
  architecture against the public implementations of the same ones, measured in one run.
* [Quality at equal compute](results/quality.md): validation loss of every architecture at equal
  counted operations, {{ result quality landing }}; and [whether each model uses its
  memory](results/quality/context.md): the loss by history and by position, effective context lengths.
  The one-seed look beside the public implementations is [quality against the peers](results/quality_peers.md).
* The experiments' own figures: the Compressive Transformer's
  [compression study](results/compressive.md) and
  [attention over its memories](results/compressive/attention_buckets.md) ({{ result compressive seeds }}), the
  [passkey grid](results/passkey.md), the [memory-depth study](results/memory_depth.md) (6 layers, {{ result memory_depth seeds }}),
  the [frequency-sort table](results/frequency_sort.md).

Every number on those pages was produced by the command printed beside it, on the machine the
page names; none is typed by hand.
"""

__version__ = "0.1.0"
