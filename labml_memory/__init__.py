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
every head, one matrix $\mathcal{M}_\tau \in \mathbb{R}^{d_k \times d_v}$ and one normaliser
$z_\tau \in \mathbb{R}^{d_k}$ after segment $\tau$, written to by linear attention: every key-value
pair of every past segment is added in, $\mathcal{M}_\tau = \mathcal{M}_{\tau-1} + \phi(K)^\top V$. A
query reads it as $\phi(Q) \mathcal{M}_{\tau-1} / (\phi(Q) z_{\tau-1})$, and a learned gate per head mixes
that with ordinary attention inside the segment. The memory never grows; old and new are superimposed in it.

**[Memorizing Transformer](memorizing_transformer/__init__.py)** ([Wu et al., 2022](https://arxiv.org/abs/2203.08913))
keeps the past exactly but outside the network. One layer near the top writes every key and
value it computes into a table that no gradient reaches, and each query fetches its top $k$
matches by a nearest-neighbour search (here a faiss index) and attends over them; a learned
gate per head mixes that read with the layer's ordinary attention. The table grows with the
text up to its bound $C$, so the state is large but the reach is as long as the table.

**[Recurrent Memory Transformer](recurrent_memory/__init__.py)** ([Bulatov et al., 2022](https://arxiv.org/abs/2207.06881))
changes no layer at all. A few memory tokens are placed before each segment (read) and after
it (write); the write tokens' outputs become the next segment's read tokens, so the whole
state is $M$ vectors, and the model learns what to put there only through back-propagation
across segments.

**[How deep must memory be?](memory_depth/__init__.py)** ([Rae & Razavi, 2020](https://arxiv.org/abs/2007.03356)) is not a
new architecture but a study of Transformer-XL: give long memories to only some layers and
short ones to the rest. A handful of long-range layers does nearly as well as all of them,
provided they are not the first layers, and shortening the reach of the lower layers can even
help. Transformer-XL here takes one memory length per layer so that this study can be run.

## Notation

One set of symbols on every page, in one table. Where a paper writes another, its page says so
once; the fourth column names the paper's symbol and the last the setting in the code. A symbol
keeps its meaning across pages; the few that a page of measurements borrows for a quantity of
its own say so in their row ("elsewhere"). Sub- and superscripts pick out one of a kind ($M_c$
among the memory lengths, $W_q$ among the projections, $h^n_\tau$ among the hidden states), and
a hat, tilde, bar or prime marks a variant of the same symbol.

| symbol | meaning | where it is used | the papers write | in the code |
|---|---|---|---|---|
| **Sizes** | | | | |
| $L$ | segment length: the tokens read per call; $L'$ the vectors of one update when it is not a whole segment | every page | $n_s$ (Compressive), $N$ (Infini-attention) | `seq_len`, `segment_len` |
| $M$ | memory length: the vectors a memory holds. Per layer, the past states kept ($M_n$ layer $n$'s, $M_{long}$ and $M_{short}$ in the memory-depth study); in the Recurrent Memory Transformer, the memory tokens of the whole model | every architecture, reach, benchmark | $n_m$ (Compressive), $m$ (RMT) | `mem_len`, `n_mem` |
| $M_c$ | compressed-memory slots per layer | Compressive Transformer, reach, explorer | $n_{cm}$ | `compressed_len` |
| $c$ | compression rate: states per compressed slot | Compressive Transformer, reach, explorer | $c$ | `compression_rate` |
| $N$ | number of layers; $N_{long}$ of them with a long memory | every architecture, reach, memory depth | $N$ (XL), $l$ (Compressive) | `n_layers`, `n_long` |
| $H$ | attention heads per layer | attention, protocol, Infini-attention, benchmark; elsewhere $H_{20}$ is a harmonic number (frequency sort) | $h$ | `heads` |
| $d$, $d_k$, $d_v$, $d_{ff}$ | widths: the model's, a head's keys and values ($d / H$), the feed-forward's hidden layer; elsewhere $d_s$, $d_r$ are paired differences (statistics, benchmark) | building blocks, every architecture | $d_{model}$ | `d_model`, `d_ff` |
| $J$ | basis functions of the ∞-former's signal | ∞-former | $N$ (∞-former) | `n_basis` |
| $P$ | points at which the ∞-former resamples its old signal for each refit | ∞-former | | `n_samples` |
| $C$ | the kNN table's bound: (key, value) pairs kept per stream and head; $C'$ the pairs held so far | Memorizing Transformer | | `mem_size` |
| $E$ | activations leaving the memory in one update, a whole number of groups of $c$; elsewhere the number of scored segments (quality) | Compressive Transformer's compression | | `old_mem` |
| $U$ | segments back-propagated through at once | training, Infini-attention, Recurrent Memory Transformer | | `unroll` |
| $S$ | a state budget: numbers a memory may carry per stream | memory reach, Recurrent Memory Transformer's sizing | | `budgets` |
| $O$ | order of growth, $O(N \times L)$ | landing page, Transformer-XL, Compressive, Memorizing, reach | | |
| **Positions and indices** | | | | |
| $i$, $j$ | positions: query $i$ and key $j$, $i - j$ their distance ($j'$ a column of the relative shift); elsewhere ranks (statistics) and counters | attention, every architecture, tasks | $i$, $j$ | |
| $p$ | a position in the text (or a distance, in the sinusoid table); $p_n$ the earliest position layer $n$ depends on; elsewhere $p_{(j)}$ a p-value (statistics), $p_{init}$, $p_{final}$ symbol distributions (frequency sort) | positional, reach, passkey, convolutions | | |
| $n$ | a layer, counted from 1 ($n = 0$ is the embeddings); elsewhere a count of seeds (statistics) or of symbols (frequency sort) | Transformer-XL, ∞-former, reach | $n$ | |
| $\tau$ | a segment; $\tau + 1$ is the next one | Transformer-XL, Compressive, Infini-attention, RMT, training, data | $\tau$ (XL, RMT), $t$ (Compressive), $s$ (Infini-attention) | |
| $t$ | a time on the ∞-former's signal, $t \in [0, 1]$ with the oldest text near 0 ($t_1 \dots t_P$ sample times, $t_a$, $t_b$ bin edges); elsewhere a wall time (quality against the peers), an offset or a scored segment (echo, quality) or Student's $t$ (statistics) | ∞-former | $t$ | |
| $\kappa$, $\theta$ | a channel pair of the sinusoid table and its angular frequency $\theta_\kappa$; elsewhere $\theta$ is an angle (statistics) | positional, Infini-attention's rotary positions | $i$, $\theta_i$ | |
| **States and vectors** | | | | |
| $x$ | a vector of the residual stream, a sub-layer's input; $\tilde x$ its context (memory, then segment); $x_1 \dots x_L$ new vectors (∞-former) | building blocks, compression, ∞-former | $x$ | |
| $h$ | hidden states: $h^n_\tau$ is layer $n$'s output for segment $\tau$ ($h^0_\tau$ the embeddings), $\tilde h$ with the memory in front; $h^{mem}$, $h^{read}$, $h^{write}$ the memory tokens' (RMT); elsewhere a history of $h$ segments (quality) | Transformer-XL, Compressive, Memorizing, RMT, ∞-former | $h$, $H$ (RMT) | `h`, `x` |
| $m$ | a layer's memory: $m^{n-1}_\tau$ the states layer $n$ keeps when it reads segment $\tau$ (XL, ∞-former's short memory), $m_\tau$ (Compressive); elsewhere a number of comparisons (statistics) | Transformer-XL, Compressive, ∞-former, benchmark | $m$ | `memory` |
| $\mathit{cm}$ | the Compressive Transformer's compressed memory | Compressive Transformer, benchmark | $cm$ | `compressed` |
| $q$, $k$, $v$ | a query, key and value vector ($q_i$ of position $i$; $\hat q$, $\hat k$ normalised; $v_c$, $v_m$ the Memorizing Transformer's local and memory readings). As a count, $k$ is the pairs a kNN query retrieves (top-$k$) and, elsewhere, a task's load or a place in its answer | attention, every architecture, tasks | $q$, $k$, $v$ | `q`, `k`, `v`, `top_k` |
| $Q$, $K$, $V$ | matrices of queries, keys and values, one row per position (per basis function in the ∞-former) | attention, Infini-attention, ∞-former | $Q$, $K$, $V$ | |
| $W$ | a learned matrix, named by its subscript: $W_q$, $W_k$, $W_v$, $W_o$ the projections, $W_{k,E}$ and $W_{k,R}$ Transformer-XL's content and position keys, $W_1$, $W_2$ the feed-forward's, $W_{out}$ the output head, $W_a$, $W_b$ a convolution's taps | building blocks, every architecture | $W$ | |
| $b$ | a learned bias: $b_1$, $b_2$ (feed-forward), $b_g$ (the Memorizing Transformer's gate); elsewhere $b_s$ a seed's result (statistics) | feed-forward, Memorizing Transformer | $b$ | `gate_bias` |
| $u$, $w$ | Transformer-XL's content bias $u$ and position bias $w$, per head; $w_\mu$, $w_\sigma$ the ∞-former's learned vectors that read its scores into a mean and a variance; elsewhere $u$ is a uniform draw (tasks) | Transformer-XL and the models built on it, ∞-former | $u$, $v$ (XL) | `u`, `v`; `w_mu`, `w_sigma` |
| $R$ | the sinusoid table: $R_{i-j}$ encodes the distance $i - j$; elsewhere the room for a gap (recall task) | Transformer-XL, positional | $R$ | `rel` |
| $A$ | attention: Transformer-XL's score $A_{i,j}$ of query $i$ for key $j$; Infini-attention's readings $A_{dot}$ (local) and $A_{mem}$ (memory), their mix $A$, and $A^1 \dots A^H$ per head | Transformer-XL, Infini-attention | $A$ | |
| $\mathcal{M}$, $z$ | Infini-attention's memory matrix and normaliser after segment $\tau$, $\mathcal{M}_\tau \in \mathbb{R}^{d_k \times d_v}$ and $z_\tau \in \mathbb{R}^{d_k}$ | Infini-attention, passkey, benchmark | $M_s$, $z_s$ | `m`, `z` |
| $\phi$ | a non-linearity applied element by element: the feed-forward's activation, Infini-attention's feature map $\mathrm{ELU}(x) + 1$ | feed-forward, Infini-attention | $\sigma$ (Infini-attention) | `activation`, `sigma` |
| $\beta$ | Infini-attention's gate per head, $\mathrm{sigmoid}(\beta)$ the memory's share | Infini-attention | $\beta$ | `beta` |
| $g$ | the Memorizing Transformer's gate per head, $g = \mathrm{sigmoid}(b_g)$; elsewhere a gap in characters (recall task) | Memorizing Transformer | $g$ | |
| $\gamma$ | the Memorizing Transformer's learned scale of the memory reading | Memorizing Transformer | | `log_scale` (its log) |
| $\mathcal{K}$ | the positions a query retrieves from the kNN table, $\mathcal{K}_i$ | Memorizing Transformer | | `positions` |
| $f$ | a learned function: the compression $f_c$ and the auto-encoder's decoder $f_d$ | Compressive Transformer | $f_c$, $g$ | `compression` |
| $\mathcal{L}$ | a loss: $\mathcal{L}^{attn}$ the attention-reconstruction loss; $\bar{\mathcal{L}}_\text{first}$, $\bar{\mathcal{L}}_\text{echo}$ the echo task's mean losses at a passage's first occurrence and in its echo | Compressive Transformer's compression, echo data and study | $\mathcal{L}^{attn}$ | |
| **The ∞-former's signal** | | | | |
| $B$ | coefficients of the signal, $J \times d$ ($B_{new}$ after a refit); elsewhere a budget of operations (quality) or a batch (training) | ∞-former | $B$ | `coefficients` |
| $\psi$ | the basis functions, $\psi_j(t) = \mathcal{N}(t; \mu_j, \sigma_j^2)$ | ∞-former | $\psi$ | `basis` |
| $X$ | vectors to fit, one row per time; $\bar X(t) = B^\top \psi(t)$ the signal | ∞-former | $X$, $\bar X$ | |
| $F$, $G$, $I$, $\lambda$ | the ridge fit: $F$ the basis at the fitted times, $G$ the fit matrix, $I$ the identity, $\lambda$ the ridge penalty; elsewhere $F$ a model's operations per step (quality) | ∞-former | $F$, $\lambda$ | `ridge` |
| $\rho$ | the share of $[0, 1]$ the old signal is contracted into when a segment arrives | ∞-former | $\tau$ | `tau` |
| $\mu$, $\sigma$ | mean and standard deviation of a Gaussian: a query's density $\mathcal{N}(\mu, \sigma^2)$, its prior $\mu_0$, $\sigma_0$, basis function $j$'s centre $\mu_j$ and width $\sigma_j$ | ∞-former | $\mu$, $\sigma$ | `mu`, `sigma_0` |
| $r$, $s$ | a query's scores $s$ over the $J$ coefficient rows, and $r_j$ basis function $j$'s mass under its density; elsewhere $r$ is a rank, a round, a ratio, a relative position or a threshold, $s$ a seed or $s_d$ a standard deviation (statistics) | ∞-former | $r$ | |
| $\mathcal{N}$, $\Phi$ | the normal density $\mathcal{N}(t; \mu, \sigma^2)$ and the standard normal distribution function | ∞-former, Transformer-XL's initialisation | $\mathcal{N}$ | |
| **Constants and number sets** | | | | |
| $e$, $\pi$ | Euler's number and $\pi$ | Infini-attention, ∞-former, benchmark | | |
| $\mathbb{R}$, $\mathbb{E}$ | the real numbers, and an expectation | landing page, Compressive, Infini-attention, ∞-former | | |
| **Measuring** | | | | |
| $\alpha$, $\delta$, $\nu$ | the statistics module's level, equivalence margin and degrees of freedom | statistics, benchmark | | `alpha`, `margin` |
| $a$ | a seed's result of one model, $a_s$ (statistics) | statistics | | |
| $D$, $\ell$ | the echo task's distance from a passage to its echo, and a passage's length | echo data and study | | `distances` |
| $T$ | a time budget | quality against the peers | | `time_budget` |

## What each one keeps

Sizes and costs are per layer, in the notation above.

| Model | What the memory holds | As the context grows | Attention cost per segment |
|---|---|---|---|
| Transformer-XL | the last $M$ hidden states the layer read | fixed at $M$ vectors; the oldest fall off, so it reaches about $N \lceil M / L \rceil L$ tokens | $O(L (M + L) d)$ |
| Compressive | $M$ recent states and $M_c$ compressed slots, each standing for $c$ older states | fixed at $M + M_c$ vectors; reaches about $N \lceil (M + c M_c) / L \rceil L$ tokens | $O(L (M + M_c + L) d)$, plus compressing $L$ states |
| ∞-former | the coefficients of $J$ basis functions describing the whole past as a signal (beside an XL-style short memory) | fixed at $J$ vectors; the past never falls off but is seen ever more coarsely | $O(L (J + M + L) d)$, plus refitting the signal |
| Infini-attention | per head a $d_k \times d_v$ matrix and a $d_k$ vector, sums over every past key and value | fixed at $d_k (d_v + 1)$ numbers per head; everything is kept, superimposed | $O(L^2 d + L d\, d_k)$ |
| Memorizing Transformer | one layer's past keys and values in a kNN table (beside Transformer-XL's memory) | grows with the text up to $C$ pairs; reaches as far back as the table | $O(L (M + L + k) d)$, plus a top-$k$ search over $C$ keys |
| Recurrent Memory Transformer | $M$ memory tokens, the outputs of the last segment's write tokens | fixed at $M$ vectors for the whole model | $O((L + 2M)^2 d)$ |
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
