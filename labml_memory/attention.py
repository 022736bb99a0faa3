r"""
# Multi-head attention: the core every memory model shares

Every architecture on this site is a variation on one operation. Queries from the current
segment ask a *context* (the segment itself, plus whatever the model remembers) for values:

$$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\Big(\frac{Q K^\top}{\sqrt{d_k}} + \mathrm{bias}\Big) V$$

The memory transformers differ in what the context holds and in the additive bias:
Transformer-XL puts its relative-position terms there, every model puts its causal mask
there (as $-\infty$). So this module provides the pieces once:

* the projections that split a `[batch, seq, d_model]` stream into heads,
* the causal mask between a segment and a longer context that ends with it,
* the attention itself, on PyTorch's fused kernel (`F.scaled_dot_product_attention`) with
  the bias folded into its additive mask, and a slow explicit version that also returns the
  attention weights, which the Compressive Transformer's *most-used* compression and the
  attention analyses need, and which the tests use as a reference,
* a plain multi-head attention layer built from those pieces.

One tensor layout everywhere: batch first, heads second, `[batch, heads, seq, d_k]`,
which is what `F.scaled_dot_product_attention` expects.
"""

import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn


def check_heads(d_model: int, heads: int) -> int:
    r"""
    The width of one head, $d_k = d / H$. A head count that does not divide the
    model width fails here with the head counts that would.
    """
    if d_model <= 0:
        raise ValueError(f"d_model must be positive, got {d_model}")
    if heads <= 0 or d_model % heads != 0:
        valid = [h for h in range(1, d_model + 1) if d_model % h == 0]
        raise ValueError(f"heads={heads} does not divide d_model={d_model}; "
                         f"valid head counts for this width: {valid}")
    return d_model // heads


class HeadProjection(nn.Module):
    r"""
    A linear map followed by a split into heads: $x W$, `[batch, seq, d_model]` →
    `[batch, heads, seq, d_k]`. Used for $W_q$, $W_k$, $W_v$ and, in Transformer-XL,
    the positional key projection $W_{k,R}$.

    `detached=True` computes the same projection through *copies* of the weights that carry
    no gradient. The Compressive Transformer's attention-reconstruction loss needs exactly
    that: the loss must not train the projections, yet the projections must keep learning
    from the language-model loss. Detaching the parameters in place would silently freeze
    them for good (a bug seen in a public port), so we never do.
    """

    def __init__(self, d_model: int, heads: int, d_k: int, bias: bool = True):
        super().__init__()
        self.heads, self.d_k = heads, d_k
        self.linear = nn.Linear(d_model, heads * d_k, bias=bias)

    def forward(self, x: torch.Tensor, detached: bool = False) -> torch.Tensor:
        weight, bias = self.linear.weight, self.linear.bias
        if detached:
            weight = weight.detach()
            bias = None if bias is None else bias.detach()
        # `[batch, seq, heads * d_k]`
        y = F.linear(x, weight, bias)
        # `[batch, heads, seq, d_k]`
        return y.unflatten(-1, (self.heads, self.d_k)).transpose(-3, -2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """`[batch, heads, seq, d_k]` → `[batch, seq, heads * d_k]`: the heads side by side."""
    return x.transpose(-3, -2).flatten(-2)


def causal_mask(q_len: int, k_len: int, device: Optional[torch.device] = None) -> torch.Tensor:
    r"""
    Which keys each query may see, `True` where it may. The context is
    `[memory, segment]`, so it is `k_len - q_len` positions longer than the segment: the
    memory, $M$ positions. Query $i$ sits at context position $M + i$ and sees key $j$ when
    $j \le M + i$: all of the memory, and the segment up to itself.
    """
    if k_len < q_len:
        raise ValueError(f"the context ({k_len}) must be at least as long as the segment ({q_len})")
    offset = k_len - q_len
    query_pos = torch.arange(q_len, device=device)[:, None] + offset
    key_pos = torch.arange(k_len, device=device)[None, :]
    # `[q_len, k_len]`
    return key_pos <= query_pos


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
              bias: Optional[torch.Tensor] = None, mask: Optional[torch.Tensor] = None,
              dropout: float = 0.0) -> torch.Tensor:
    r"""
    The fast path. `q` is `[batch, heads, q_len, d_k]`, `k` and `v` are
    `[batch, heads, k_len, d_k]`, `bias` broadcasts to `[batch, heads, q_len, k_len]`
    and is *added to the scaled scores*, `mask` is boolean, `True` where attention is allowed.

    `F.scaled_dot_product_attention` computes $\mathrm{softmax}(QK^\top/\sqrt{d_k} + \mathrm{mask})V$
    for an additive mask, so we hand it the bias, with $-\infty$ where the mask forbids.
    Without a bias a boolean mask goes through as it is, which lets PyTorch choose its
    fastest kernel.
    """
    if bias is None:
        attn_mask = mask
    else:
        attn_mask = bias if mask is None else bias.masked_fill(~mask, float('-inf'))
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout)


def attention_with_weights(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                           bias: Optional[torch.Tensor] = None,
                           mask: Optional[torch.Tensor] = None,
                           dropout: Optional[nn.Module] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    r"""
    The same attention written out step by step, returning the weights as well,
    `[batch, heads, q_len, k_len]`. Slower and heavier than the fused kernel, because it
    materialises the whole weight matrix; used when the weights themselves are wanted.
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if bias is not None:
        scores = scores + bias
    if mask is not None:
        scores = scores.masked_fill(~mask, float('-inf'))
    weights = scores.softmax(dim=-1)
    if dropout is not None:
        weights = dropout(weights)
    return weights @ v, weights


class MultiHeadAttention(nn.Module):
    r"""
    Plain multi-head attention of a segment over a context, with no positional terms of its
    own: $\mathrm{MHA}(x, \tilde x) = [\mathrm{head}_1; \dots; \mathrm{head}_H] W_o$ for a
    segment $x$ and its context $\tilde x$ (memory, then segment), each head computing
    $\mathrm{Attention}(x W_q, \tilde x W_k, \tilde x W_v)$ with projections of its own.
    Models that encode position inside attention (Transformer-XL) build their own layer
    from the same parts.
    """

    def __init__(self, d_model: int, heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        d_k = check_heads(d_model, heads)
        self.query = HeadProjection(d_model, heads, d_k, bias)
        self.key = HeadProjection(d_model, heads, d_k, bias)
        self.value = HeadProjection(d_model, heads, d_k, bias)
        self.output = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, context: Optional[torch.Tensor] = None,
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        # Self-attention when no separate context is given.
        context = x if context is None else context
        q, k, v = self.query(x), self.key(context), self.value(context)
        out = attention(q, k, v, mask=mask, dropout=self.dropout if self.training else 0.0)
        # `[batch, seq, d_model]`
        return self.output(merge_heads(out))
