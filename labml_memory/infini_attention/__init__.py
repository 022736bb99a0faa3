r"""
# Infini-attention

[Leave No Context Behind: Efficient Infinite Context Transformers with Infini-attention](https://arxiv.org/abs/2404.07143)
(Munkhdalai, Faruqui, Gopal; 2024).

Transformer-XL remembers the last few hundred positions *verbatim* and forgets everything
older; its memory grows with how far back it can see. Infini-attention keeps instead a
**compressive memory of fixed size** in every attention head of every layer: a matrix
$\mathcal{M} \in \mathbb{R}^{d_k \times d_v}$ and a normaliser $z \in \mathbb{R}^{d_k}$, which
together are a *linear-attention* summary of every key and value the head has ever seen.
However long the text, a head keeps $d_k \times (d_v + 1)$ numbers.

Inside a segment the head does ordinary causal softmax attention, $A_{dot}$. It also asks
the memory what the previous segments held, through the same queries passed through a
positive feature map $\phi(x) = \mathrm{ELU}(x) + 1$:

$$A_{mem} = \frac{\phi(Q)\, \mathcal{M}_{\tau-1}}{\phi(Q)\, z_{\tau-1}}$$

and only then writes the current segment into the memory, either by the **linear** rule

$$\mathcal{M}_\tau = \mathcal{M}_{\tau-1} + \phi(K)^\top V, \qquad z_\tau = z_{\tau-1} + \sum_{t=1}^{L} \phi(K_t)$$

(the paper writes $N$ for the segment length, $s$ for the segment, $M_s$ for the memory
and $\sigma$ for the feature map; here they are $L$, $\tau$, $\mathcal{M}_\tau$ and $\phi$, as in
the site's [notation](../__init__.py#notation), where $M$ is a memory's length and $\sigma$ a
standard deviation)

or by the **delta** rule, which first subtracts what the memory would already return for
those keys, so that a value it already holds is not written twice:

$$\mathcal{M}_\tau = \mathcal{M}_{\tau-1} + \phi(K)^\top \Big(V - \frac{\phi(K) \mathcal{M}_{\tau-1}}{\phi(K) z_{\tau-1}}\Big)$$

A learned scalar $\beta$ per head mixes the two readings (equation 10 of the paper):

$$A = \mathrm{sigmoid}(\beta) \odot A_{mem} + \big(1 - \mathrm{sigmoid}(\beta)\big) \odot A_{dot}$$

and the heads are concatenated and projected, $[A^1; \dots; A^H] W_O$, as in any
multi-head attention. The rest of the model is a standard transformer built from the shared
[attention](../attention.py), [feed-forward](../feed_forward.py),
[residual](../residual.py) and [embedding](../embedding.py) blocks, and it follows the
[protocol](../protocol.py): the memory is an `InfiniMemory`, one $(\mathcal{M}, z)$ pair per layer.

Public ports of this paper (there is no official code) have disagreed with it and with each
other; each pitfall users reported is answered by a line below and checked by a test:
$\phi$ applied to both $Q$ and $K$; the denominator is a dot product per query, not a
broadcast $z$; one memory per layer and per head; the memory kept in float32; a defined
value on the first segment; the gate convention of equation 10 ($\mathrm{sigmoid}(\beta)$
weighs the *memory*).

## Deviations from the paper

* **Positions: rotary, inside the segment, local attention only.** The paper does not say which
  encoding its local attention uses; it only says the memory's $Q$ and $K$ carry none. We
  rotate the local attention's queries and keys by their position *within the segment*
  ([RoPE](https://arxiv.org/abs/2104.09864), on the shared sinusoid frequencies of
  [positional](../positional.py)) and feed the memory the un-rotated $Q$ and $K$.
* **First segment.** The paper leaves $\mathcal{M}_0$, $z_0$ and the value of $0/0$ unstated. We start
  from $\mathcal{M}_0 = 0$, $z_0 = 0$ and clamp the denominator from below by `eps`, which makes
  $A_{mem} = 0$ exactly while the memory is empty; the gate still applies, so on the first
  segment the head outputs $(1 - \mathrm{sigmoid}(\beta)) A_{dot}$.
* **Gate initialisation** $\beta = 0$ (an even mix), which the paper does not specify; see the gate's note.
* **Weight decay on $\beta$ depends on the loop.** The shared trainer exempts $\beta$ (with the
  norms and biases) from weight decay; the synthetic-task loop of the passkey and
  frequency-sort runs decays every parameter, $\beta$ included, at its `weight_decay` of
  0.01, which pulls the gate gently back towards the even mix.
* **Gradients across segments are an option.** The paper back-propagates through 16
  segments. `memory_grad=True` keeps $(\mathcal{M}, z)$ differentiable so the trainer's `unroll=U` does
  the same across $U$ segments; by default the state is detached at every segment boundary,
  which is cheaper and is what inference does anyway.
* **Pre-LN, GELU, no biases on $W_Q, W_K, W_V$**, as in our other models; `norm='post'` and
  `activation='relu'` are there. The paper's models are much larger (12 layers, 8 heads of 128,
  segments of 2,048); our presets are sized for a CPU.
* **Generation** (the protocol's `generate`) feeds one token per call after the prompt, so each
  generated token is a segment of length one: its local attention sees only itself, everything
  earlier comes from the memory.
"""

from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from labml_memory.attention import HeadProjection, attention, causal_mask, check_heads, merge_heads
from labml_memory.embedding import OutputHead, TokenEmbedding
from labml_memory.feed_forward import FeedForward
from labml_memory.positional import inverse_frequencies
from labml_memory.protocol import MemoryLanguageModel, MemoryState, ModelOutput, check_stack
from labml_memory.residual import Residual

# The two memory update rules a configuration may name.
UPDATE_RULES = ('linear', 'delta')


# ## The memory
#
# One pair $(\mathcal{M}, z)$ per layer, each with one slice per head. Its size depends on the widths
# only, never on how many segments have been read: that is the whole point, and a test
# checks it after one and after a thousand segments. The tensors are float32 whatever the
# model computes in, because $z$ is a running *sum* over every token ever seen and a 16-bit
# float would overflow long before a long book ends (one of the reported pitfalls).
@dataclass
class InfiniMemory(MemoryState):
    # $\mathcal{M}$ for each layer, `[batch, heads, d_k, d_v]`
    m: List[torch.Tensor]
    # $z$ for each layer, `[batch, heads, d_k]`
    z: List[torch.Tensor]

    def numbers_per_head_per_layer(self) -> int:
        r"""$d_k \times (d_v + 1)$: the numbers one head of one layer keeps."""
        _, _, d_k, d_v = self.m[0].shape
        return d_k * (d_v + 1)


# ## The feature map
#
# Linear attention replaces $\exp(q^\top k)$ by $\phi(q)^\top \phi(k)$ for a feature map
# whose values are positive, so that every similarity is positive and the normaliser can
# never be negative. The paper follows
# [Katharopoulos et al. (2020)](https://arxiv.org/abs/2006.16236) with
# $\phi(x) = \mathrm{ELU}(x) + 1$: the identity plus one for $x > 0$, $e^x$ below. The code keeps
# the paper's letter for it, `sigma`.
def sigma(x: torch.Tensor) -> torch.Tensor:
    return F.elu(x) + 1.0


# ## Reading the memory
#
# $$A_{mem} = \frac{\phi(Q) \mathcal{M}_{\tau-1}}{\phi(Q) z_{\tau-1}}$$
#
# The numerator is `[L, d_k] @ [d_k, d_v]`; the denominator is a *matrix-vector* product,
# one scalar per query, which we keep as a column so that it divides each query's row. (A
# port that divides by $z$ broadcast over the channels computes something else entirely.)
# Written out, query $i$ receives
# $\sum_j \phi(q_i)^\top \phi(k_j)\, v_j \,/\, \sum_j \phi(q_i)^\top \phi(k_j)$
# over every key $j$ of every earlier segment: normalised linear attention, which is
# exactly what the first test computes directly from the stored keys and values.
#
# The clamp is our answer to the first segment: there $\mathcal{M} = 0$ and $z = 0$, so the
# numerator is exactly zero and the clamped denominator turns $0/0$ into $0$. Afterwards
# the denominator is a sum of positive terms and the clamp never binds in practice.
def retrieve(sigma_q: torch.Tensor, m: torch.Tensor, z: torch.Tensor, eps: float) -> torch.Tensor:
    # `sigma_q`: `[B, H, L, d_k]`, `m`: `[B, H, d_k, d_v]`, `z`: `[B, H, d_k]`
    numerator = sigma_q @ m                         # [B, H, L, d_v]
    denominator = sigma_q @ z.unsqueeze(-1)         # [B, H, L, 1]
    return numerator / denominator.clamp(min=eps)


# ## Writing the memory
#
# Both rules add $\phi(K)^\top(\cdot)$, an outer product per token summed over the
# segment, and both add $\sum_t \phi(K_t)$ to $z$. They differ in what is written.
# The **linear** rule writes $V$. The **delta** rule writes $V$ minus what the memory
# already returns for these keys, $\phi(K) \mathcal{M}_{\tau-1} / \phi(K) z_{\tau-1}$; a value the memory
# already holds therefore leaves $\mathcal{M}$ untouched (the second test), while $z$ still counts
# the keys. On the first segment the retrieved term is $0$ (the clamp again), so both rules
# write the same thing.
def update(m: torch.Tensor, z: torch.Tensor, sigma_k: torch.Tensor, v: torch.Tensor,
           rule: str, eps: float) -> Tuple[torch.Tensor, torch.Tensor]:
    # `sigma_k`: `[B, H, L, d_k]`, `v`: `[B, H, L, d_v]`
    if rule == 'delta':
        v = v - retrieve(sigma_k, m, z, eps)
    # $\mathcal{M}_\tau$: `[B, H, d_k, d_v]`
    m = m + sigma_k.transpose(-2, -1) @ v
    # $z_\tau$: `[B, H, d_k]`
    z = z + sigma_k.sum(dim=-2)
    return m, z


# ## Positions for the local attention
#
# Rotary embedding: the pair of channels $(\kappa, \kappa + d_k/2)$ of a query or key at position $p$
# is rotated by the angle $p\,\theta_\kappa$, with $\theta_\kappa$ the sinusoid table's frequencies.
# The dot product of a rotated query and a rotated key then depends on their *distance*
# only, so the segment's absolute offset in the text does not matter. It is applied to the
# local attention alone: the memory sums keys from every segment, where "position within
# a segment" would mean nothing, and the paper keeps position out of it.
def rotate(x: torch.Tensor) -> torch.Tensor:
    # `x`: `[B, H, L, d_k]`; positions $0 \dots L-1$ within the segment
    seq_len, d_k = x.shape[-2], x.shape[-1]
    positions = torch.arange(seq_len, device=x.device, dtype=torch.float32)
    angles = positions[:, None] * inverse_frequencies(d_k).to(x.device)[None, :]  # [L, d_k / 2]
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    first, second = x[..., :d_k // 2], x[..., d_k // 2:]
    return torch.cat([first * cos - second * sin, first * sin + second * cos], dim=-1)


# ## The Infini-attention sub-layer
class InfiniAttention(nn.Module):
    def __init__(self, d_model: int, heads: int, dropout: float = 0.0, update_rule: str = 'linear',
                 gate_init: float = 0.0, eps: float = 1e-6):
        super().__init__()
        d_k = check_heads(d_model, heads)
        self.heads, self.d_k, self.update_rule, self.eps = heads, d_k, update_rule, eps
        self.dropout = dropout
        # $W_Q$, $W_K$, $W_V$: *one* set of projections serves both readings, as in the paper;
        # the memory is not a separate attention with weights of its own.
        self.query = HeadProjection(d_model, heads, d_k, bias=False)
        self.key = HeadProjection(d_model, heads, d_k, bias=False)
        self.value = HeadProjection(d_model, heads, d_k, bias=False)
        # $W_O$
        self.output = nn.Linear(d_model, d_model, bias=False)
        # ### The gate
        #
        # One learned scalar $\beta$ per head. Equation 10 weighs the *memory* by
        # $\mathrm{sigmoid}(\beta)$; some ports weigh the local attention by it instead,
        # which flips what a trained $\beta$ means. We start at $\beta = 0$: an even mix,
        # and the point where $\mathrm{sigmoid}$ is steepest ($\mathrm{sigmoid}'(0) = 1/4$), so
        # the gate moves fastest from there. Users of ports that started the gate deep in
        # saturation (e.g. $\beta = \pm 10$, where the slope is $4.5 \times 10^{-5}$)
        # found that it needed a far larger learning rate to move at all. $\beta$ is a bare
        # parameter, so the shared trainer does not apply weight decay to it (the synthetic-task
        # loop, which decays every parameter, does; see the deviations).
        self.beta = nn.Parameter(torch.full((heads,), float(gate_init)))

    def gate(self) -> torch.Tensor:
        r"""$\mathrm{sigmoid}(\beta)$ shaped to broadcast over `[B, H, L, d_v]`."""
        return torch.sigmoid(self.beta)[None, :, None, None]

    def forward(self, x: torch.Tensor, m: torch.Tensor, z: torch.Tensor,
                return_parts: bool = False):
        r"""
        `x` is what the sub-layer reads, `[B, L, D]`; `m`, `z` this layer's memory. Returns
        the output `[B, L, D]` and the updated $(\mathcal{M}_\tau, z_\tau)$; with `return_parts`, also the
        two readings $A_{mem}$ and $A_{dot}$ for the tests.
        """
        seq_len = x.shape[1]
        q, k, v = self.query(x), self.key(x), self.value(x)        # [B, H, L, d_k] each
        # ### Local attention
        #
        # $A_{dot} = \mathrm{softmax}(Q K^\top / \sqrt{d_k}) V$, causal, within the segment,
        # on rotated queries and keys, with the shared fused kernel.
        a_dot = attention(rotate(q), rotate(k), v, mask=causal_mask(seq_len, seq_len, x.device),
                          dropout=self.dropout if self.training else 0.0)
        # ### Memory: read, then write
        #
        # The memory sees the *un-rotated* $Q$, $K$ through $\phi$, in float32. Reading
        # comes first, from $\mathcal{M}_{\tau-1}$: the current segment is the local attention's business,
        # and reading after writing would let a query see keys after it, breaking causality.
        sigma_q, sigma_k = sigma(q.float()), sigma(k.float())
        a_mem = retrieve(sigma_q, m, z, self.eps)                 # [B, H, L, d_v]
        m_new, z_new = update(m, z, sigma_k, v.float(), self.update_rule, self.eps)
        # ### Mixing the two (equation 10), then the heads
        g = self.gate()
        mixed = g * a_mem.to(a_dot.dtype) + (1.0 - g) * a_dot     # [B, H, L, d_v]
        out = self.output(merge_heads(mixed))                     # [B, L, D]
        if return_parts:
            return out, (m_new, z_new), {'a_mem': a_mem, 'a_dot': a_dot}
        return out, (m_new, z_new)


# ## A layer
#
# Infini-attention, then the feed-forward network, each on a residual connection.
class InfiniLayer(nn.Module):
    def __init__(self, d_model: int, heads: int, d_ff: int, dropout: float, norm: str,
                 activation: str, update_rule: str, gate_init: float, eps: float):
        super().__init__()
        self.attention = InfiniAttention(d_model, heads, dropout, update_rule, gate_init, eps)
        self.attention_residual = Residual(d_model, norm, dropout)
        self.feed_forward = FeedForward(d_model, d_ff, dropout, activation)
        self.feed_forward_residual = Residual(d_model, norm, dropout)

    def forward(self, x: torch.Tensor, m: torch.Tensor, z: torch.Tensor):
        attended, (m, z) = self.attention(self.attention_residual.prepare(x), m, z)
        x = self.attention_residual.combine(x, attended)
        return self.feed_forward_residual(x, self.feed_forward), m, z


# ## The model
class InfiniTransformer(MemoryLanguageModel):
    r"""
    A language model whose every attention layer is Infini-attention.

    * `update_rule`: `'linear'` or `'delta'` (the paper's "Linear" and "Linear + Delta").
    * `memory_grad`: keep $(\mathcal{M}, z)$ differentiable across segments, so that the trainer's
      `unroll=U` back-propagates through the memory over $U$ segments; detached otherwise.
    * `gate_init`: the starting $\beta$ of every head; `eps`: the denominator's floor.
    * `norm`: `'pre'` (default) or `'post'`; `activation`: `'gelu'` or `'relu'`.
    """

    def __init__(self, vocab_size: int, d_model: int = 128, heads: int = 4, n_layers: int = 4,
                 d_ff: int = 512, update_rule: str = 'linear', memory_grad: bool = False,
                 dropout: float = 0.1, norm: str = 'pre', activation: str = 'gelu',
                 gate_init: float = 0.0, eps: float = 1e-6):
        super().__init__(vocab_size)
        # Every bad setting fails here, naming the value and what would be valid: the stack's
        # by the check every model shares (rotary positions need an even head width), the
        # memory's below it.
        d_k = check_stack(d_model, heads, n_layers, d_ff, dropout, norm, activation, positions='rotary')
        if update_rule not in UPDATE_RULES:
            raise ValueError(f"unknown update_rule {update_rule!r}; valid: {list(UPDATE_RULES)}")
        if not eps > 0.0:
            raise ValueError(f"eps must be positive (it floors the memory's denominator), got {eps}")
        if not torch.isfinite(torch.tensor(float(gate_init))):
            raise ValueError(f"gate_init must be a finite number, got {gate_init}")
        self.d_model, self.heads, self.d_k, self.n_layers = d_model, heads, d_k, n_layers
        self.memory_grad = memory_grad
        self.embed = TokenEmbedding(vocab_size, d_model)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            InfiniLayer(d_model, heads, d_ff, dropout, norm, activation, update_rule, gate_init, eps)
            for _ in range(n_layers))
        self.head = OutputHead(d_model, vocab_size, final_norm=(norm == 'pre'))

    def empty_memory(self, batch: int, device) -> InfiniMemory:
        r"""$\mathcal{M}_0 = 0$, $z_0 = 0$ for every layer: the start of a stream."""
        shape = (batch, self.heads, self.d_k)
        return InfiniMemory([torch.zeros(*shape, self.d_k, device=device) for _ in self.layers],
                            [torch.zeros(*shape, device=device) for _ in self.layers])

    def forward(self, tokens: torch.Tensor, memory: Optional[InfiniMemory] = None) -> ModelOutput:
        self.check_tokens(tokens)
        batch = tokens.shape[0]
        memory = self.empty_memory(batch, tokens.device) if memory is None else memory
        self._check_memory(memory, batch)
        x = self.dropout(self.embed(tokens))
        ms, zs = [], []
        # Each layer reads and writes *its own* memory (a memory shared across layers, seen
        # in a port, would mix representations of different depths in one sum).
        for layer, m, z in zip(self.layers, memory.m, memory.z):
            x, m, z = layer(x, m, z)
            ms.append(m)
            zs.append(z)
        new_memory = InfiniMemory(ms, zs)
        # ### Where gradients stop
        #
        # Detached by default: the next segment treats $(\mathcal{M}_\tau, z_\tau)$ as constants. With
        # `memory_grad` the graph is kept, and the trainer detaches after its `unroll`
        # segments (back-propagation through the memory, as the paper trains).
        if not self.memory_grad:
            new_memory = new_memory.detach()
        logits = self.head(self.dropout(x))
        return ModelOutput(logits, new_memory, {})

    def _check_memory(self, memory: InfiniMemory, batch: int) -> None:
        if not isinstance(memory, InfiniMemory) or len(memory.m) != self.n_layers:
            raise ValueError(f"expected an InfiniMemory with {self.n_layers} layers, got {memory!r:.80}")
        expected = (batch, self.heads, self.d_k, self.d_k)
        for m, z in zip(memory.m, memory.z):
            if tuple(m.shape) != expected or tuple(z.shape) != expected[:3]:
                raise ValueError(f"memory of shape {tuple(m.shape)} / {tuple(z.shape)} does not fit "
                                 f"{expected} / {expected[:3]}; pass the memory this model returned "
                                 f"for the same streams, or None to start afresh")

    def gates(self) -> torch.Tensor:
        r"""$\mathrm{sigmoid}(\beta)$ of every layer and head, `[layers, heads]`: how much each head reads from memory."""
        return torch.stack([torch.sigmoid(layer.attention.beta.detach()) for layer in self.layers])


# ## What it measured
#
# **Tiny Shakespeare.** The [experiment](experiment.py)'s CPU preset (4 layers, width 128,
# segments of 64, 1,000 steps) and its loss are on that page. The preset detaches the memory at every segment boundary (`memory_grad`
# off, `unroll=1`): no gradient crossed a segment, unlike the paper's training.
#
# **Passkey retrieval** {{ result passkey infini_attention }} The models trained on texts of
# 2 to 4 segments; over longer texts, everything written after the needle blurs it in the sum.
#
# **Speed** {{ result infini_benchmark infini_attention }}; at the benchmark's shared
# configuration, {{ result benchmark infini_attention }}.
#
# **Memory reach** {{ result memory_reach infini_attention }} How far it carries depends on
# how often training asks for it.
#
# **Quality at equal compute** {{ result quality infini_attention }} **Use of memory**
# {{ result quality infini_attention_context }} Without a cache of raw keys, the first
# positions of a segment see little of the past: the sum holds it, blurred, where
# Transformer-XL's cache holds it exactly.
