r"""
# ∞-former

[∞-former: Infinite Memory Transformer](https://arxiv.org/abs/2109.00301)
(Martins, Marinho, Martins; ACL 2022).

Transformer-XL remembers a fixed number of past vectors; the Compressive Transformer squeezes
older ones into fewer slots, but still a fixed number of slots of fixed age. The ∞-former
keeps the past as a **continuous signal** over $t \in [0, 1]$: every vector the model has
read is a sample of a function $\bar X(t) = B^\top \psi(t)$ built from $J$ fixed Gaussian bumps (the paper's $N$; see the [notation](../__init__.py#notation)),
and only the $J \times d$ coefficients $B$ are stored. When new vectors arrive, the old signal
is *contracted* into $[0, \rho]$ (the paper's $\tau$, a letter this site keeps for the segment), the
new vectors are placed on $[\rho, 1]$, and the whole is
refitted with the same $J$ bumps. The memory never grows; older text simply gets blurrier,
because it is described by fewer and fewer bumps.

Each layer reads that **long-term memory (LTM)** with *continuous attention*
([second page](continuous.py)): a query places a Gaussian density over time,

$$\mu = \mathrm{sigmoid}(w_\mu^\top K q / \sqrt{d}), \qquad
  \sigma^2 = \mathrm{softplus}(w_\sigma^\top K q / \sqrt{d}), \qquad K = B W_K, \; V = B W_V,$$

and reads the expected value of the (projected) signal under it,
$V^\top\, \mathbb{E}_{t \sim \mathcal{N}(\mu, \sigma^2)}[\psi(t)]$, which has a closed form
because the bumps are Gaussians. The result is *added* to the output of an ordinary
Transformer-XL attention over a **short-term memory** (the previous segment's layer inputs)
and the segment itself. What leaves the short-term memory enters the long-term one:

$$B_{new} = G^\top \big[\bar X_{old}(t_1), \dots, \bar X_{old}(t_P),\; x_1, \dots, x_L\big],
  \qquad G = F^\top (F F^\top + \lambda I)^{-1},$$

with the $P$ samples of the old signal placed evenly on $[0, \rho]$ and the $L$ new vectors on
$[\rho, 1]$. **Sticky memories** choose the sample times $t_1, \dots, t_P$ not evenly but where the last
reads put their attention, so regions the model keeps using are kept sharp.

A KL term between each density and $\mathcal{N}(\mu_0, \sigma_0^2)$ keeps the densities from
collapsing; it is returned as the auxiliary loss `kl`.

The short-term half is built from [Transformer-XL](../transformer_xl/__init__.py)'s relative
attention; the rest from the shared [attention](../attention.py),
[feed-forward](../feed_forward.py), [residual](../residual.py) and [embedding](../embedding.py)
blocks, following the [protocol](../protocol.py).

## Deviations from the paper

* **Trained from scratch on characters.** The paper's language-modelling results fine-tune
  GPT-2 (or train a word-level model on WikiText-103); ours is a small character model, so
  $J$ is small too: the CPU preset uses $J = 64$ bumps (the paper 512) with widths
  $0.03, 0.08$ scaled up to match the wider spacing of the centres, and $P = 128$ samples.
* **Pre-LN by default**, as everywhere on this site; under pre-LN the long-term memory is fitted
  to the *normalised* layer inputs, which is what its key and value projections read.
* **Contraction per vector.** The paper contracts by $\rho$ per update, assuming every update
  brings one segment. We contract by $\rho^{L' / L}$ when $L'$ vectors arrive and $L$ is the
  training segment length: a full segment contracts by $\rho$ exactly, and $L$ one-token
  updates (generation) contract by the same total amount instead of by $\rho^L$.
* **Sticky sampling by stratified inverse-CDF.** Sample times are drawn by inverting the
  attention histogram's distribution at stratified quantiles (jittered when training,
  midpoints when evaluating), uniform inside a bin. The authors' code snaps samples to bin
  edges; ours come out sorted and spread through the bins.
* **The histogram is used in the same call.** The densities that read a signal decide how
  that same signal is sampled when it is contracted at the end of the call; the authors' code
  updates at the start of the next call with the previous call's densities, which is the same
  pairing. So the memory state carries only the short-term memory and the coefficients.
* **No padding positions.** The authors' code adds fitting positions beyond both ends of
  $[0, 1]$ and fits *zeros* there, which pulls the signal towards zero just outside the
  interval (it does not soften the edges: the fitted signal near $0$ and $1$ is pulled
  down). We fit on $[0, 1]$ only and let the ridge term handle the edges.
* **No convolutional mask on the memory vectors.** The authors' code can pass the vectors
  that enter the long-term memory through a learned convolutional mask before the fit; we
  fit them as they are.
* **The long-term reader has its own query projection.** The authors reuse the short-term
  attention's queries for the continuous attention; ours projects the same normalised
  segment with a $W_Q$ of its own (`LongTermAttention.query`), so the two readers can ask
  different questions at the cost of one more $d \times d$ matrix per layer.
* **An empty memory is the zero signal.** At the start of a stream $B = 0$, which reads as
  zero (the value projection has no bias); the first update contracts that zero into $[0, \rho]$.
* **Keys on the signal's scale, and biases on $\mu$ and $\sigma^2$.** Coefficient rows are
  multiplied by the basis mass before the key projection, and $\sigma^2$ starts at $\sigma_0^2$
  through a learned bias (see *The scale of the keys* below). Without both, at our scale every
  density starts as a near-uniform read of the whole signal and barely moves in 1,000 steps.
* **KL prior centred on each density's own mean by default** (`mu_0=None`, as in the authors'
  sorting code), so only the width is regularised; a number for `mu_0` also pulls the mean.
* **KL averaged over layers, weight $10^{-4}$.** The auxiliary loss is the mean of the
  layers' KL terms (each itself a mean over queries and heads) times `kl_weight` $= 10^{-4}$;
  the authors *sum* over layers with a weight of $10^{-6}$. With 4 layers each density is
  pulled towards the prior 25 times harder than under the authors' setting
  (`kl_weight=4e-6` with our averaging would match it).
"""

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from labml_memory.attention import HeadProjection, causal_mask, check_heads, merge_heads
from labml_memory.embedding import OutputHead, TokenEmbedding
from labml_memory.feed_forward import FeedForward
from labml_memory.infinity_former.continuous import (GaussianBasis, attention_histogram,
                                                     continuous_attention, evaluate, fit,
                                                     kl_to_prior, ridge_matrix, sample_times)
from labml_memory.positional import sinusoid_table
from labml_memory.protocol import MemoryLanguageModel, MemoryState, ModelOutput, check_stack
from labml_memory.residual import Residual
from labml_memory.transformer_xl import RelativeMultiHeadAttention


# ## The memory
#
# Per layer, two tensors, both stored detached:
#
# * `short`, the short-term memory: the last `mem_len` inputs of the layer, exactly
#   Transformer-XL's memory, `[batch, mem_len, d_model]`;
# * `coefficients`, $B$: the long-term signal, `[batch, J, d_model]`, whatever the stream's length.
#
# The paper stops gradients at the old coefficients; since the vectors that enter the
# signal come out of the (already detached) short-term memory, the whole state is a constant
# to the next segment. Once the short-term memory is full, `nbytes()` never changes again.
@dataclass
class InfinityMemory(MemoryState):
    short: List[torch.Tensor]
    coefficients: List[torch.Tensor]


# ## Reading the long-term memory
#
# One continuous-attention sub-layer. Queries come from the (normalised) segment, keys and
# values from the coefficient rows: $K = B W_K$, $V = B W_V$, one row per basis function,
# `[batch, heads, J, d_k]`. The output projection has no bias and neither do the key and
# value projections, so an empty memory ($B = 0$) contributes exactly nothing.
#
# What a trained model's heads do with it, for one query of the last layer after 16
# segments of validation text (drawn by the [figures study](../results/infinity_former_figures.md)):
#
# ![Densities of the four heads over the long-term memory](../results/infinity_former_figures/density.png)
#
# What the heads learned {{ result infinity_former_figures heads }}. The histogram on the
# figures page shows where all queries of the layer read together. One model is one seed: the
# picture shows what a trained model can do, not what every seed does.
class LongTermAttention(nn.Module):
    def __init__(self, d_model: int, heads: int, basis: GaussianBasis, dropout: float,
                 min_variance: float, sigma_0: float):
        super().__init__()
        d_k = check_heads(d_model, heads)
        n_basis = basis.n_basis
        self.query = HeadProjection(d_model, heads, d_k, bias=False)
        self.key = HeadProjection(d_model, heads, d_k, bias=False)
        self.value = HeadProjection(d_model, heads, d_k, bias=False)
        # ### The scale of the keys
        #
        # A coefficient row is about the signal's value near its bump's centre divided by the
        # basis mass $\sum_j \psi_j$ (about $J$ for our bumps). Keys built from raw rows would
        # be $J$ times smaller than ordinary keys, the scores $s$ nearly zero, and every
        # density would start identical and learn to move only slowly. We multiply the rows by
        # that mass before the key projection, so $K$ sits on the scale of the signal's own
        # keys. (The values need no such factor: $r$ sums to about the same mass, so
        # $V^\top r$ is already on the signal's scale.)
        self.key_scale = basis.mass()
        # $w_\mu$, $w_\sigma$: read the $J$ scores into a mean and a variance. Initialised like
        # a linear layer's weights, so the first densities already depend on the query.
        bound = n_basis ** -0.5
        self.w_mu = nn.Parameter(torch.empty(n_basis).uniform_(-bound, bound))
        self.w_sigma = nn.Parameter(torch.empty(n_basis).uniform_(-bound, bound))
        # Biases, which the paper does not have: $\mu$ starts around the middle, and
        # $\sigma^2$ around the prior's $\sigma_0^2$ (softplus inverted), rather than around
        # $\mathrm{softplus}(0) = 0.69$, a density so wide it reads the whole signal's average.
        self.b_mu = nn.Parameter(torch.zeros(()))
        self.b_sigma = nn.Parameter(torch.tensor(math.log(math.expm1(sigma_0 ** 2))))
        self.output = nn.Linear(d_model, d_model, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.min_variance = min_variance

    def forward(self, h: torch.Tensor, coefficients: torch.Tensor, basis: GaussianBasis
                ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # `h` `[B, L, D]`, `coefficients` $B$ `[B, J, D]`
        q = self.query(h)                       # [B, H, L, d_k]
        k = self.key(coefficients * self.key_scale)   # [B, H, J, d_k]
        v = self.value(coefficients)                  # [B, H, J, d_k]
        out, mu, variance = continuous_attention(q, k, v, self.w_mu, self.w_sigma, basis,
                                                 self.min_variance, self.b_mu, self.b_sigma)
        # `[B, L, D]`, plus the densities `[B, H, L]` for the KL term and sticky sampling
        return self.dropout(self.output(merge_heads(out))), mu, variance


# ## Writing the long-term memory
#
# The unbounded update, for every stream at once. $L'$ new vectors $X$ arrive (those leaving
# the short-term memory; $L' = L$ for a whole segment). The old signal is sampled at $P$ times
# $t_1, \dots, t_P$, evenly spaced or,
# with sticky memories, drawn from the attention histogram; the samples are laid down evenly
# on $[0, \rho']$ and the new vectors evenly on $[\rho', 1]$ (midpoints of equal cells, so no
# two points share a position), and the coefficients are refitted:
#
# $$B_{new} = G_{L'}^\top \big[\bar X_{old}(t_1) \dots \bar X_{old}(t_P);\; X\big].$$
#
# The *placement* of the points does not depend on where the samples were taken, only on
# $L'$, so $G_{L'}$ depends on positions only. The one for a full segment ($L' = L$) is computed
# at construction; others (the first segments, one-token generation) are computed on first
# use and cached. $\rho' = \rho^{L' / L}$: see the deviations.
#
# With sticky memories the $P$ times crowd where the last reads put their mass (red) instead
# of spreading evenly (grey); the same trained model and query as above:
#
# ![Sticky against uniform sample times](../results/infinity_former_figures/sticky.png)
class UnboundedMemory(nn.Module):
    def __init__(self, basis: GaussianBasis, tau: float, n_samples: int, ridge: float,
                 segment_len: int, sticky: bool):
        super().__init__()
        self.basis, self.tau, self.n_samples = basis, tau, n_samples
        self.ridge, self.segment_len, self.sticky = ridge, segment_len, sticky
        self._cache: Dict[Tuple[int, str, torch.dtype], torch.Tensor] = {}
        self.register_buffer('g_segment', ridge_matrix(basis, self.positions(segment_len), ridge),
                             persistent=False)
        # Uniform sampling reads the old signal at fixed midpoints, `[P]`.
        self.register_buffer('uniform_times', (torch.arange(n_samples) + 0.5) / n_samples,
                             persistent=False)

    def positions(self, n_new: int) -> torch.Tensor:
        r"""Where the $P$ old samples and the $L'$ new vectors sit on $[0, 1]$, `[P + L']`."""
        tau = self.tau ** (n_new / self.segment_len)
        old = tau * (torch.arange(self.n_samples, dtype=torch.float32) + 0.5) / self.n_samples
        new = tau + (1.0 - tau) * (torch.arange(n_new, dtype=torch.float32) + 0.5) / n_new
        return torch.cat([old, new])

    def g(self, n_new: int, like: torch.Tensor) -> torch.Tensor:
        r"""$G_{L'}$, `[P + L', J]`, on the device and in the dtype of `like`."""
        if n_new == self.segment_len:
            return self.g_segment.to(like.dtype)
        key = (n_new, str(like.device), like.dtype)
        if key not in self._cache:
            self._cache[key] = ridge_matrix(self.basis, self.positions(n_new).to(like.device),
                                            self.ridge).to(like.dtype)
        return self._cache[key]

    @torch.no_grad()
    def forward(self, coefficients: torch.Tensor, new: torch.Tensor,
                histogram: Optional[torch.Tensor] = None) -> torch.Tensor:
        # `coefficients` `[B, J, D]`, `new` `[B, L', D]`, `histogram` `[B, bins]` or `None`
        if self.sticky and histogram is not None:
            # `[B, P]`, a different set of times per stream
            times = sample_times(histogram, self.n_samples, stochastic=self.training)
        else:
            times = self.uniform_times.to(new.dtype)
        # $\bar X_{old}(t_1) \dots \bar X_{old}(t_P)$, `[B, P, D]`: the old signal is read, never differentiated.
        old = evaluate(self.basis, coefficients.detach(), times)
        # `[B, J, D]`
        return fit(self.g(new.shape[1], new), torch.cat([old, new], dim=1))


# ## An ∞-former layer
#
# Transformer-XL's layer with a second reader: the relative attention over
# `[short-term memory, segment]` and the continuous attention over the long-term signal
# read the same normalised queries, and their outputs are summed before they join the
# residual stream, as in the paper. Then the feed-forward network.
class InfinityLayer(nn.Module):
    def __init__(self, d_model: int, heads: int, d_ff: int, dropout: float, norm: str,
                 activation: str, attention_impl: str, basis: GaussianBasis, min_variance: float,
                 sigma_0: float):
        super().__init__()
        self.attention = RelativeMultiHeadAttention(d_model, heads, dropout, attention_impl)
        self.long_term = LongTermAttention(d_model, heads, basis, dropout, min_variance, sigma_0)
        self.attention_residual = Residual(d_model, norm, dropout)
        self.feed_forward = FeedForward(d_model, d_ff, dropout, activation)
        self.feed_forward_residual = Residual(d_model, norm, dropout)

    def forward(self, x: torch.Tensor, short: torch.Tensor, coefficients: torch.Tensor,
                rel: torch.Tensor, u: torch.Tensor, v: torch.Tensor, mask: torch.Tensor,
                basis: GaussianBasis):
        seq_len = x.shape[1]
        # `[B, M + L, D]`, normalised together under pre-LN (see Transformer-XL)
        context = self.attention_residual.prepare(torch.cat([short, x], dim=1))
        h = context[:, -seq_len:]
        short_read = self.attention(h, context, rel, u, v, mask)
        long_read, mu, variance = self.long_term(h, coefficients, basis)
        x = self.attention_residual.combine(x, short_read + long_read)
        return self.feed_forward_residual(x, self.feed_forward), mu, variance


# ## The model
class InfinityFormer(MemoryLanguageModel):
    r"""
    An ∞-former language model.

    * `mem_len`: the short-term memory per layer (Transformer-XL's $M$).
    * `n_basis` ($J$) and `widths`: the Gaussian basis; $J$ must be a multiple of the number
      of widths. `ridge` ($\lambda$): the ridge penalty of the fit.
    * `tau` ($\rho$): the share of $[0, 1]$ the old signal keeps when a segment arrives.
    * `n_samples` ($P$): how many points of the old signal are refitted at each update.
    * `sticky`: sample those points where attention went (sticky memories), with `bins` bins.
    * `kl_weight`, `sigma_0` ($\sigma_0$), `mu_0` ($\mu_0$ or `None`): the KL regulariser.
    * `segment_len`: the training segment length $L$, which defines what "one update" is.
    * `min_variance`: the floor on $\sigma^2$.
    """

    def __init__(self, vocab_size: int, d_model: int = 128, heads: int = 4, n_layers: int = 4,
                 d_ff: int = 512, mem_len: int = 64, n_basis: int = 64,
                 widths: Sequence[float] = (0.03, 0.08), ridge: float = 1.0, tau: float = 0.5,
                 n_samples: int = 128, sticky: bool = False, bins: int = 64,
                 kl_weight: float = 1e-4, sigma_0: float = 0.05, mu_0: Optional[float] = None,
                 segment_len: int = 64, min_variance: float = 1e-4, dropout: float = 0.1,
                 norm: str = 'pre', activation: str = 'gelu', attention_impl: str = 'sdpa'):
        super().__init__(vocab_size)
        # Every setting that could make the mathematics meaningless fails here, by name: the
        # stack's through the check every model shares, the memory's below.
        d_k = check_stack(d_model, heads, n_layers, d_ff, dropout, norm, activation)
        if not isinstance(mem_len, int) or mem_len < 0:
            raise ValueError(f"mem_len must be a non-negative integer, got {mem_len!r}")
        if not 0.0 < tau < 1.0:
            raise ValueError(f"tau must lie strictly between 0 and 1 (the share of [0, 1] the old "
                             f"signal keeps), got {tau}")
        if not ridge > 0.0:
            raise ValueError(f"the ridge penalty lambda must be positive, got {ridge}")
        for name, value in (('n_samples', n_samples), ('bins', bins), ('segment_len', segment_len)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not sigma_0 > 0.0 or not min_variance > 0.0:
            raise ValueError(f"sigma_0 and min_variance must be positive, got {sigma_0}, {min_variance}")
        if not kl_weight >= 0.0:
            raise ValueError(f"kl_weight must be >= 0, got {kl_weight}")
        if mu_0 is not None and not 0.0 <= mu_0 <= 1.0:
            raise ValueError(f"mu_0 must be None (prior on the width only) or lie in [0, 1], got {mu_0}")
        self.d_model, self.n_layers, self.mem_len = d_model, n_layers, mem_len
        self.kl_weight, self.sigma_0, self.mu_0 = kl_weight, sigma_0, mu_0
        self.sticky, self.bins = sticky, bins
        # One basis for every layer; it holds no parameters. (Checks `n_basis` and `widths`.)
        self.basis = GaussianBasis(n_basis, widths)
        self.memory_update = UnboundedMemory(self.basis, tau, n_samples, ridge, segment_len, sticky)
        self.embed = TokenEmbedding(vocab_size, d_model)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            InfinityLayer(d_model, heads, d_ff, dropout, norm, activation, attention_impl,
                          self.basis, min_variance, sigma_0) for _ in range(n_layers))
        # Transformer-XL's $u$ and $w$, shared by all layers as in its authors' code.
        self.u = nn.Parameter(torch.zeros(heads, d_k))
        self.v = nn.Parameter(torch.zeros(heads, d_k))
        self.head = OutputHead(d_model, vocab_size, final_norm=(norm == 'pre'))
        # The densities of the last call, `(mu, variance)` per layer, kept for figures.
        self.last_densities: List[Tuple[torch.Tensor, torch.Tensor]] = []

    # ### Reading one segment
    #
    # The same shape of call as every model here. Each layer reads its short-term memory and
    # its long-term signal; after the last layer, both memories are updated from what each
    # layer read, and the densities each layer placed over $[0, 1]$ feed the KL term and,
    # with sticky memories, the sampling of the update.
    def forward(self, tokens: torch.Tensor, memory: Optional[InfinityMemory] = None) -> ModelOutput:
        self.check_tokens(tokens)
        batch, seq_len = tokens.shape
        short, coefficients = self._memories(memory, batch, tokens.device)
        x = self.dropout(self.embed(tokens))
        # Every layer's short-term memory has the same length, so one table and one mask serve
        # all of them: distances $M + L - 1 \dots 0$ for the $M + L$ keys.
        k_len = short[0].shape[1] + seq_len
        rel = self.dropout(sinusoid_table(torch.arange(k_len - 1, -1, -1, device=tokens.device),
                                          self.d_model))
        mask = causal_mask(seq_len, k_len, tokens.device)
        inputs, densities = [], []
        for layer, mem, coef in zip(self.layers, short, coefficients):
            # What this layer reads becomes its memory: short-term now, long-term later.
            inputs.append(x)
            x, mu, variance = layer(x, mem, coef, rel, self.u, self.v, mask, self.basis)
            densities.append((mu, variance))
        logits = self.head(self.dropout(x))
        self.last_densities = [(mu.detach(), var.detach()) for mu, var in densities]
        # ### The auxiliary loss
        #
        # The KL term averaged over layers, already multiplied by its weight: the trainer adds
        # every entry of `losses` to the language-model loss and tracks it as `aux.kl`.
        losses = {}
        if self.kl_weight > 0:
            kl = sum(kl_to_prior(mu, var, self.sigma_0, self.mu_0) for mu, var in densities)
            losses['kl'] = self.kl_weight * kl / self.n_layers
        return ModelOutput(logits, self._update_memory(short, coefficients, inputs, densities), losses)

    # ### The incoming memory
    #
    # At the start of a stream: an empty short-term memory (zero rows) and the zero signal
    # ($B = 0$, a full `[batch, J, d_model]` tensor, so the state has its final size from the
    # first call on). A memory from elsewhere must match this model's layers, batch, width
    # and basis, or the error says which shapes disagree.
    def _memories(self, memory: Optional[InfinityMemory], batch: int, device
                  ) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        if memory is None:
            return ([torch.zeros(batch, 0, self.d_model, device=device) for _ in self.layers],
                    [torch.zeros(batch, self.basis.n_basis, self.d_model, device=device)
                     for _ in self.layers])
        if (not isinstance(memory, InfinityMemory) or len(memory.short) != self.n_layers
                or len(memory.coefficients) != self.n_layers):
            raise ValueError(f"expected an InfinityMemory with {self.n_layers} layers, got {memory!r:.80}")
        expected = (batch, self.basis.n_basis, self.d_model)
        for s, c in zip(memory.short, memory.coefficients):
            if s.shape[0] != batch or s.shape[2] != self.d_model or tuple(c.shape) != expected:
                raise ValueError(f"memory shapes {tuple(s.shape)} / {tuple(c.shape)} do not fit a batch "
                                 f"of {batch}, d_model={self.d_model}, n_basis={self.basis.n_basis}; "
                                 f"pass the memory this model returned for the same streams, or None")
        return memory.short, memory.coefficients

    # ### Updating both memories
    #
    # The short-term memory is Transformer-XL's: the last `mem_len` of
    # $[m^{n-1} \circ h^{n-1}]$. What falls off its front is what enters the long-term
    # memory: with `mem_len` equal to the segment length, the previous segment. Those vectors
    # are normalised as the attention would read them, and the signal is refitted; with
    # sticky memories the histogram comes from the densities this very call used to read
    # the signal being contracted.
    @torch.no_grad()
    def _update_memory(self, short: List[torch.Tensor], coefficients: List[torch.Tensor],
                       inputs: List[torch.Tensor], densities) -> InfinityMemory:
        new_short, new_coefficients = [], []
        for layer, mem, coef, x, (mu, var) in zip(self.layers, short, coefficients, inputs, densities):
            joined = torch.cat([mem, x.detach()], dim=1)
            cut = max(0, joined.shape[1] - self.mem_len)
            new_short.append(joined[:, cut:])
            if cut == 0:
                # Nothing left the short-term memory: the signal is unchanged.
                new_coefficients.append(coef)
                continue
            # The vectors leaving the short-term memory, as the attention reads them.
            # `[B, L', D]` with $L'$ = `cut`, usually one segment.
            leaving = layer.attention_residual.prepare(joined[:, :cut])
            histogram = attention_histogram(mu, var, self.bins) if self.sticky else None
            new_coefficients.append(self.memory_update(coef, leaving, histogram))
        return InfinityMemory(new_short, new_coefficients)


# ## What it measured
#
# **Tiny Shakespeare.** The CPU preset (`python -m labml_memory.infinity_former.experiment`:
# 4 layers, 128 wide, segments and short-term memory of 64, $J = 64$ basis functions,
# $\rho = 0.5$, 800 steps without dropout) carries 256 KiB per stream however long the text;
# its loss beside Transformer-XL's trained the same way, without dropout, is on the
# [experiment page](experiment.py), and the memory is not what that comparison shows. The figures
# above come from `python -m labml_memory.studies run infinity_former_figures`.
#
# **Frequency sort** {{ result frequency_sort infinity_former }}. The lead is as large where
# every memory sees the whole sequence as where none does: at this budget the ∞-former is
# the better counter, not the longer memory. No model yet counts the window Transformer-XL
# sees as well as exact counting does, so the paper's crossover with length is not tested at
# this size.
#
# The right floor to read these against is a guesser that never read the sequence: under
# teacher forcing it scores 0.18 to 0.20, not 0.05, and the page sets every run against it.
#
# **Memory reach** {{ result memory_reach infinity_former }} Its basis functions keep no exact
# item.
#
# **Quality at equal compute** {{ result quality infinity_former }} **Use of memory**
# {{ result quality infinity_former_context }} What counts beyond one segment is the
# continuous long-term memory.
