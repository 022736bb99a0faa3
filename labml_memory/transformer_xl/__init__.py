r"""
# Transformer-XL

[Transformer-XL: Attentive Language Models Beyond a Fixed-Length Context](https://arxiv.org/abs/1901.02860)
(Dai, Yang, Yang, Carbonell, Le, Salakhutdinov; ACL 2019).

A vanilla transformer language model trained on fixed-length chunks cannot see past the start
of its chunk, and at evaluation it must recompute a whole window for every new token.
Transformer-XL adds **segment-level recurrence**: when layer $n$ processes segment $\tau$, it
attends over its own current input $h^{n-1}_\tau$ *and* over the inputs it saw in the previous
segment(s), kept in a memory $m^{n-1}_\tau$ that no gradient flows into:

$$\tilde h^{n-1}_\tau = \big[\mathrm{SG}(m^{n-1}_\tau) \circ h^{n-1}_\tau\big], \qquad
q = h^{n-1}_\tau W_q, \quad k = \tilde h^{n-1}_\tau W_{k,E}, \quad v = \tilde h^{n-1}_\tau W_v$$

Information climbs back one segment per layer below the top (a memory $M \le L$ ends where an
earlier segment ended, and that segment saw itself whole), so an $N$-layer model reaches
$(L - 1) + M + (N - 1) L$ tokens back from the end of a segment, the paper's $O(N \times L)$,
while paying for attention over only $M + L$ keys ([reach](../tasks/reach.py) counts and
measures it).

Recurrence breaks absolute positions (position 5 of this segment and position 5 of the last
one would look alike), so the paper moves position into attention as **relative** terms.
For query $i$ and key $j$:

$$A_{i,j} = \underbrace{q_i^\top k_j}_{(a)} + \underbrace{q_i^\top W_{k,R} R_{i-j}}_{(b)}
          + \underbrace{u^\top k_j}_{(c)} + \underbrace{w^\top W_{k,R} R_{i-j}}_{(d)}$$

(a) matches content to content, (b) content to distance, (c) is a global preference for some
content, (d) a global preference for some distances. $R$ is the fixed [sinusoid table](../positional.py),
$W_{k,R}$ a key projection of its own for positions, and $u$ and $w$ learned vectors per head,
a content bias and a position bias (`u` and `v` in the code; the paper names the second $v$,
which on this site always means a value).
Terms (b) and (d) are computed for every distance at once and lined up with the
**relative shift** (below). The model is otherwise a standard transformer built from the
shared [attention](../attention.py), [feed-forward](../feed_forward.py),
[residual](../residual.py) and [embedding](../embedding.py) blocks, and it follows the
[protocol](../protocol.py) every memory model here follows.

## Deviations from the paper

* **Pre-LN by default.** The paper normalises after each residual addition (post-LN). We
  default to pre-LN, which trains stably in the few hundred steps of a CPU experiment without
  a long warm-up, and keep post-LN as `norm='post'`; the choice is discussed in
  [residual connections](../residual.py). Under pre-LN the memory still holds each layer's
  *input* (the un-normalised stream), and the layer normalises memory and segment together.
* **A final layer norm under pre-LN.** The [output head](../embedding.py) normalises the
  stream before the logits when `norm='pre'`; the authors' pre-LN variant has no such norm
  and feeds the last layer's un-normalised sum to the softmax.
* **GELU** in the feed-forward network by default; `activation='relu'` restores the paper's.
* **$u$ and $w$ tied across layers** by default, as in the authors' PyTorch code
  (their TensorFlow code has an `untie_r` flag); `tie_uv=False` gives each layer its own.
* **$u$ and $w$ start at zero**, so terms (c) and (d) begin switched off and are learned; the
  authors draw them from $\mathcal{N}(0, 0.02^2)$ like their other weights.
* **One dropout rate.** Attention weights are dropped at the model's `dropout`; the authors
  have a separate rate for them (`dropatt`, often 0 or lower than the main rate).
* **No `same_length` evaluation.** Every one of the authors' evaluation scripts sets
  `same_length`, which lets each query see the same number of keys (the first tokens of a
  segment lose nothing, the last ones see no further back than the first). Here a query
  sees the whole memory plus the segment up to itself, so later positions of a segment see
  further back; evaluation losses are therefore not the authors' protocol exactly.
* **The output layer is not tied to the embedding**: the head has its own matrix from the width $d$ to
  the vocabulary, and a bias (the authors tie them, through their adaptive softmax).
* **No adaptive softmax or adaptive embeddings**: with 65 characters there is nothing to adapt.
* **Memory length per layer.** `mem_len` may be a list with one length per layer. The paper
  uses one length; the per-layer form is what the
  [memory-depth study](https://arxiv.org/abs/2007.03356) needs, and with equal lengths it is
  the paper's model exactly.
* Attention runs on PyTorch's fused `scaled_dot_product_attention`, with terms (b) and (d)
  passed in as its additive mask; term (c) is folded into the query as $(q_i + u)^\top k_j$.
  This is the same arithmetic as the paper's, arranged for the fused kernel
  (`attention_impl='explicit'` keeps the step-by-step version). On a CPU the two measure
  within a few percent of each other (figures on the [experiment page](experiment.py)).
* **Generation keeps the memory's keys and values.** The paper's state is the layer inputs
  $m^{n-1}_\tau$, and training recomputes their keys and values at every segment, as it must
  (the projections are learning). In evaluation without gradients the same projections of
  the same rows would be recomputed for every generated token, so a memory returned then
  also carries them in a [cache](#the-key-and-value-cache-of-generation), and the position
  keys $W_{k,R} R$ are kept per context length: a token projects only itself. The
  arithmetic is the paper's; the tests check token-by-token generation against the slow
  reference, and that a cache made by other weights is never read.
"""

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from labml_memory.attention import (HeadProjection, attention, attention_with_weights, causal_mask,
                                    check_heads, merge_heads)
from labml_memory.embedding import OutputHead, TokenEmbedding
from labml_memory.feed_forward import FeedForward
from labml_memory.positional import sinusoid_table
from labml_memory.protocol import MemoryLanguageModel, MemoryState, ModelOutput, check_stack
from labml_memory.residual import Residual


# ## The memory
#
# One tensor per layer: the last `mem_len` inputs that layer has seen, $m^{n-1}_\tau$.
# Layer 0's input is the token embedding. The tensors are always stored detached, which is
# the paper's stop-gradient $\mathrm{SG}(\cdot)$: the memory is a constant to the current
# segment, so back-propagation stops at the segment boundary and a training step costs the
# same however long the text is.
@dataclass
class XLMemory(MemoryState):
    # `[batch, mem_len_n, d_model]` for each layer $n$
    layers: List[torch.Tensor]

    @property
    def lengths(self) -> List[int]:
        return [m.shape[1] for m in self.layers]


# ### The key and value cache of generation
#
# In evaluation without gradients, the keys $W_{k,E} \tilde h_j$ and values $W_v \tilde h_j$
# of the memory's rows are the same at every call until they fall out of the memory: only the
# new rows need projecting. A memory returned in that mode carries them as `kv_cache`, an
# attribute and not a field, so it is not part of the model's state (its size, a checkpoint,
# `select` and `to` all leave it out, and a memory rebuilt from its fields simply recomputes
# them). `stamp` records the versions of the weights that made the cache; a memory handed
# back after those weights changed (a training step, a checkpoint loaded) is read afresh.
@dataclass
class KVCache:
    # `[batch, heads, mem_len_n, d_k]` for each layer $n$
    keys: List[torch.Tensor]
    values: List[torch.Tensor]
    stamp: tuple


# ## The relative shift
#
# Terms (b) and (d) depend on the distance $i - j$ only. We compute them against the
# sinusoid rows for *every* distance the context can hold, listed in descending order
# $M + L - 1, \dots, 1, 0$ for the $M + L$ keys of the context (memory plus segment; `K` in
# the shapes). That gives a `[L, K]` matrix whose column $j'$ belongs to distance
# $M + L - 1 - j'$, the same for every row. The score for query $i$ (context position
# $M + i$) and key $j$ needs distance $M + i - j$, which lives in column
# $j' = j + (L - 1 - i)$: row $i$ must slide left by $L - 1 - i$ places, a different amount
# per row.
#
# Appendix B of the paper does this without gathering: pad one column of zeros on the left
# (`[L, K + 1]`), reinterpret the same memory as `[K + 1, L]`, drop the first row and
# reinterpret the rest as `[L, K]`. Reading the flat buffer row by row, each row now starts
# one element later than it did, and that element is exactly the shift row $i$ needs.
# Entries above the causal diagonal ($j > M + i$) come out as garbage from the next row;
# the causal mask removes them. The tests check every surviving entry against a direct
# per-$(i, j)$ computation.
def relative_shift(x: torch.Tensor) -> torch.Tensor:
    *batch, q_len, k_len = x.shape
    zero_column = x.new_zeros(*batch, q_len, 1)
    # `[..., L, K + 1]`
    padded = torch.cat([zero_column, x], dim=-1)
    # `[..., K + 1, L]`: the same numbers, read with rows of a different length
    padded = padded.view(*batch, k_len + 1, q_len)
    # Drop the first row and read back as `[..., L, K]`
    return padded[..., 1:, :].reshape(*batch, q_len, k_len)


# ## Relative multi-head attention
#
# One attention sub-layer with the four terms. The biases $u$ and $w$ (`u`, `v`) are passed
# in, because they may be shared by all layers.
class RelativeMultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, heads: int, dropout: float = 0.0, impl: str = 'sdpa'):
        super().__init__()
        if impl not in ('sdpa', 'explicit'):
            raise ValueError(f"unknown attention_impl {impl!r}; valid: ['sdpa', 'explicit']")
        d_k = check_heads(d_model, heads)
        self.heads, self.d_k, self.impl = heads, d_k, impl
        # $W_q$, the content key projection $W_{k,E}$ and $W_v$; the official code has no
        # biases on these, and $u$, $w$ play the role a query bias would.
        self.query = HeadProjection(d_model, heads, d_k, bias=False)
        self.key = HeadProjection(d_model, heads, d_k, bias=False)
        self.value = HeadProjection(d_model, heads, d_k, bias=False)
        # $W_{k,R}$: positions get a key projection of their own
        self.key_pos = HeadProjection(d_model, heads, d_k, bias=False)
        self.output = nn.Linear(heads * d_k, d_model, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.scale = d_k ** -0.5

    def forward(self, h: torch.Tensor, context: torch.Tensor, rel: torch.Tensor,
                u: torch.Tensor, v: torch.Tensor, mask: Optional[torch.Tensor],
                return_weights: bool = False, past: Optional[Tuple[torch.Tensor, torch.Tensor]] = None,
                keep: bool = False):
        # `h`: the segment `[B, L, D]`; `context`: memory then segment `[B, K, D]`;
        # `rel`: sinusoid rows for distances $M + L - 1 \dots 0$, `[K, D]`;
        # `u`, `v` ($u$, $w$): `[H, d_k]`; `mask`: `[L, K]`, `True` where attention is allowed,
        # or `None` where every key is (a single query at the end of its context).
        # In generation, `past` holds the memory's keys and values from the
        # [cache](#the-key-and-value-cache-of-generation), and `context` is then the segment
        # alone; `keep` hands back the keys and values of the whole context for the next call.
        # $q_i = W_q h_i$ for the segment only; keys and values for memory and segment
        # alike, $k_j = W_{k,E} \tilde h_j$, $v_j = W_v \tilde h_j$.
        if past is not None:
            # With the memory's keys and values cached, the context is the segment itself, so
            # $q$, $k$ and $v$ project the same rows: one product with the three matrices
            # side by side, rather than three.
            q, k, val = self.projections_together(context)
            k, val = torch.cat([past[0], k], dim=2), torch.cat([past[1], val], dim=2)
        else:
            q = self.query(h)                      # [B, H, L, d_k]
            k = self.key(context)                  # [B, H, K, d_k]
            val = self.value(context)              # [B, H, K, d_k]
        # $W_{k,R} R$: the position keys. They depend on distances only, not on the batch,
        # so they are computed once per call and broadcast over the batch.
        r = self.position_keys(rel)            # [H, K, d_k]
        # Terms (b) + (d) for every distance at once, $(q_i + w)^\top W_{k,R} R_{\cdot}$ (`q + v`),
        # then lined up by distance. `[B, H, L, K]`. A single query needs no shift: its row
        # is already in the order of the keys (the distances $K - 1, \dots, 0$).
        position_scores = torch.einsum('bhld,hkd->bhlk', q + v[:, None], r)
        if q.shape[2] > 1:
            position_scores = relative_shift(position_scores)
        # Terms (a) + (c) are $(q_i + u)^\top k_j$: $u$ is a bias on the query.
        q_u = q + u[:, None]
        # Scaling: every term is divided by $\sqrt{d_k}$, as in the paper's code.
        #
        # Two arrangements of the same arithmetic follow. On the fused path, PyTorch picks
        # a kernel that never materialises the softmax in the backward pass; the explicit
        # path writes the weights out, which analyses and the most-used compression need.
        if self.impl == 'sdpa' and not return_weights:
            # The fused kernel scales $Q K^\top$ by $1/\sqrt{d_k}$ itself and then adds its
            # mask, so the position terms go in pre-scaled.
            out = attention(q_u, k, val, bias=position_scores * self.scale, mask=mask,
                            dropout=self.dropout.p if self.training else 0.0)
            weights = None
        else:
            out, weights = attention_with_weights(q_u, k, val, bias=position_scores * self.scale,
                                                  mask=mask, dropout=self.dropout)
        # Concatenate the heads and mix them: $[\mathrm{head}_1; \dots; \mathrm{head}_H] W_o$.
        out = self.output(merge_heads(out))    # [B, L, D]
        if keep:
            return out, (k, val)
        return (out, weights) if return_weights else out

    # ### The three projections in one product, in generation
    #
    # The stacked matrix `[3 H d_k, D]` is kept with the versions of the three it was made
    # from (generation runs without gradients, so nothing needs to flow back through it),
    # and made again when any of them changes.
    def projections_together(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        projections = (self.query, self.key, self.value)
        # Transformer-XL's have no biases; a subclass whose do is projected one by one.
        if any(p.linear.bias is not None for p in projections):
            return tuple(p(x) for p in projections)
        weights = tuple(p.linear.weight for p in projections)
        stamp = tuple((w.data_ptr(), w._version) for w in weights)
        stacked = self.__dict__.get('_stacked_qkv')
        if stacked is None or stacked[0] != stamp:
            stacked = (stamp, torch.cat([w.detach() for w in weights]))
            self.__dict__['_stacked_qkv'] = stacked
        q, k, v = F.linear(x, stacked[1]).unflatten(-1, (3, self.heads, self.d_k)).permute(2, 0, 3, 1, 4)
        return q, k, v

    # ### Position keys, computed once in evaluation
    #
    # In training $W_{k,R}$ changes every step (and dropout touches $R$), so the product is
    # taken at every call. In evaluation without gradients it depends on the context's length
    # alone, so it is kept per length, with the version of $W_{k,R}$ it was made from: a
    # generated token then pays for no `[M + L, d] \times [d, d]` product at all.
    def position_keys(self, rel: torch.Tensor) -> torch.Tensor:
        if self.training or torch.is_grad_enabled():
            return self.key_pos(rel[None])[0]
        weight = self.key_pos.linear.weight
        key = (rel.shape[0], rel.dtype, rel.device, weight.data_ptr(), weight._version)
        cache = self.__dict__.setdefault('_position_keys', {})
        if key not in cache:
            # Stale lengths go: a model switched between memories keeps only what it uses.
            if len(cache) > 8:
                cache.clear()
            cache[key] = self.key_pos(rel[None])[0]
        return cache[key]


# ## A Transformer-XL layer
#
# Attention over `[memory, segment]`, then the feed-forward network, each on a residual
# connection. The layer is handed its memory separately so it can normalise memory and
# segment together under pre-LN: the memory stores raw layer inputs either way.
class XLLayer(nn.Module):
    def __init__(self, d_model: int, heads: int, d_ff: int, dropout: float, norm: str,
                 activation: str, attention_impl: str):
        super().__init__()
        # Two sub-layers, each with its own residual wrapper (and so its own layer norm):
        # the paper's $\mathrm{LN}(h + \mathrm{Attn})$ then $\mathrm{LN}(x + \mathrm{FFN}(x))$
        # under post-LN, or their pre-LN counterparts.
        self.attention = RelativeMultiHeadAttention(d_model, heads, dropout, attention_impl)
        self.attention_residual = Residual(d_model, norm, dropout)
        self.feed_forward = FeedForward(d_model, d_ff, dropout, activation)
        self.feed_forward_residual = Residual(d_model, norm, dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, rel: torch.Tensor,
                u: torch.Tensor, v: torch.Tensor, mask: Optional[torch.Tensor],
                past: Optional[Tuple[torch.Tensor, torch.Tensor]] = None, keep: bool = False):
        seq_len = x.shape[1]
        if past is None:
            # $\tilde h^{n-1}_\tau = [\mathrm{SG}(m^{n-1}_\tau) \circ h^{n-1}_\tau]$, normalised
            # as a whole under pre-LN. `[B, M + L, D]`
            context = self.attention_residual.prepare(torch.cat([memory, x], dim=1))
        else:
            # With the memory's keys and values cached, only the segment is read; the layer
            # norm works row by row, so its rows are the ones the whole context would give.
            context = self.attention_residual.prepare(x)
        # Queries come from the segment only: the last $L$ rows of the context.
        attended = self.attention(context[:, -seq_len:], context, rel, u, v, mask, past=past, keep=keep)
        if keep:
            attended, kv = attended
        x = self.attention_residual.combine(x, attended)
        x = self.feed_forward_residual(x, self.feed_forward)
        return (x, kv) if keep else x


# ### Memory lengths, one per layer
#
# The paper's model has a single $M$. Accepting a list costs nothing here (each layer already
# builds its own mask) and makes the model reusable for the memory-depth study.
def _per_layer(value: Union[int, Sequence[int]], n_layers: int, name: str) -> List[int]:
    # A memory length given once applies to every layer; a list must name every layer.
    lengths = [value] * n_layers if isinstance(value, int) else list(value)
    if len(lengths) != n_layers:
        raise ValueError(f"{name} lists {len(lengths)} lengths for {n_layers} layers; "
                         f"give one integer or one length per layer")
    for length in lengths:
        if not isinstance(length, int) or length < 0:
            raise ValueError(f"{name} must hold non-negative integers, got {length!r}")
    return lengths


# ## The model
class TransformerXL(MemoryLanguageModel):
    r"""
    A Transformer-XL language model.

    * `mem_len` ($M$): how many past layer inputs each layer keeps; one integer, or one per layer.
    * `eval_mem_len`: the memory kept in evaluation mode; longer than in training, as in the
      paper (WikiText-103 trains with 384 and evaluates with 1,600), because relative sinusoid
      positions extend to distances never trained on. Defaults to `mem_len`.
    * `clamp_len`: distances beyond this reuse the encoding of this distance; `None`, 0 or a
      negative value for no clamp (the authors' convention).
    * `tie_uv`: one $u$, $w$ pair for all layers (the authors' PyTorch code) or one per layer.
    * `norm`: `'pre'` (default) or `'post'` (the paper); `attention_impl`: `'sdpa'` or `'explicit'`.
    """

    def __init__(self, vocab_size: int, d_model: int = 128, heads: int = 4, n_layers: int = 4,
                 d_ff: int = 512, mem_len: Union[int, Sequence[int]] = 64,
                 eval_mem_len: Union[int, Sequence[int], None] = None,
                 clamp_len: Optional[int] = None, dropout: float = 0.1, norm: str = 'pre',
                 tie_uv: bool = True, activation: str = 'gelu', attention_impl: str = 'sdpa'):
        super().__init__(vocab_size)
        # Every setting is checked here, before any weight is made, so a bad configuration
        # fails with the name of the bad value rather than deep inside a matmul.
        d_k = check_stack(d_model, heads, n_layers, d_ff, dropout, norm, activation)
        # `clamp_len` follows the authors' convention: only a positive value clamps, and zero
        # or a negative value (their default is -1) means no clamp. Taken literally, a clamp at
        # 0 would give every distance the encoding of distance 0 and erase position from the
        # model altogether, which nobody asking for "0" means.
        if clamp_len is not None and not isinstance(clamp_len, int):
            raise ValueError(f"clamp_len must be an integer or None, got {clamp_len!r}")
        if clamp_len is not None and clamp_len <= 0:
            clamp_len = None
        self.d_model, self.n_layers, self.clamp_len = d_model, n_layers, clamp_len
        self.mem_len = _per_layer(mem_len, n_layers, 'mem_len')
        self.eval_mem_len = _per_layer(mem_len if eval_mem_len is None else eval_mem_len,
                                       n_layers, 'eval_mem_len')
        # The stack: embedding, $N$ layers, output head. Dropout is applied to the embeddings,
        # to the position table and to the last layer's output, as in the official code.
        self.embed = TokenEmbedding(vocab_size, d_model)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(XLLayer(d_model, heads, d_ff, dropout, norm, activation,
                                            attention_impl) for _ in range(n_layers))
        # $u$ and $w$ (`u`, `v`), `[H, d_k]`: one pair shared by every layer, or one pair per layer.
        n_biases = 1 if tie_uv else n_layers
        self.u = nn.Parameter(torch.zeros(n_biases, heads, d_k))
        self.v = nn.Parameter(torch.zeros(n_biases, heads, d_k))
        self.head = OutputHead(d_model, vocab_size, final_norm=(norm == 'pre'))

    # ### Training and evaluation memory
    #
    # `model.train()` and `model.eval()` switch between the two lengths: the memory returned
    # by a call is cut to the length of the mode the model is in at that call.
    def memory_lengths(self) -> List[int]:
        """The memory each layer keeps in the current mode (training or evaluation)."""
        return self.mem_len if self.training else self.eval_mem_len

    # ### The relative position table
    #
    # Rows for distances $M + L - 1, \dots, 0$, the order the relative shift expects. With
    # `clamp_len`, every distance beyond it shares its encoding, which caps how far apart
    # the model can tell positions and bounds the table at evaluation.
    # In evaluation (no dropout) the table depends on its length alone and is kept per length.
    def relative_table(self, k_len: int, device) -> torch.Tensor:
        if not self.training:
            cache = self.__dict__.setdefault('_relative_tables', {})
            if (k_len, device) not in cache:
                if len(cache) > 8:
                    cache.clear()
                with torch.no_grad():
                    cache[(k_len, device)] = self._sinusoids(k_len, device)
            return cache[(k_len, device)]
        return self.dropout(self._sinusoids(k_len, device))

    def _sinusoids(self, k_len: int, device) -> torch.Tensor:
        distances = torch.arange(k_len - 1, -1, -1, device=device)
        if self.clamp_len is not None:
            distances = distances.clamp(max=self.clamp_len)
        # `[K, D]`
        return sinusoid_table(distances, self.d_model)

    def forward(self, tokens: torch.Tensor, memory: Optional[XLMemory] = None,
                mask: Optional[torch.Tensor] = None) -> ModelOutput:
        r"""
        Read one segment. `mask` (`[L, M + L]`, boolean) replaces the causal mask; the tests
        use it to run a whole sequence under the banded mask that segment-wise recurrence
        implies. It is meant for single-layer checks: each layer applies the same mask.
        """
        self.check_tokens(tokens)
        batch, seq_len = tokens.shape
        memories = self._memories(memory, batch, tokens.device)
        # Generation (evaluation, no gradients, the causal mask) reads the memory's keys and
        # values from the cache where the memory carries a valid one.
        generating = not self.training and not torch.is_grad_enabled() and mask is None
        cache = self._valid_cache(memory, memories) if generating else None
        # $h^0_\tau$: the embedded segment, `[B, L, D]`
        x = self.dropout(self.embed(tokens))
        # One table for the longest context; a layer with a shorter memory uses its last rows,
        # which are exactly the distances its own context spans.
        longest = max(m.shape[1] for m in memories) + seq_len
        rel_full = self.relative_table(longest, tokens.device)
        inputs, keys, values = [], [], []
        for n, (layer, mem) in enumerate(zip(self.layers, memories)):
            # Remember what this layer reads: these become $m^{n-1}_{\tau+1}$.
            inputs.append(x)
            # This layer's context is its own memory plus the segment; its mask lets query
            # $i$ see the whole memory and the segment up to position $i$. A single query
            # (a generated token) sees every key, and needs no mask at all.
            k_len = mem.shape[1] + seq_len
            if mask is not None:
                layer_mask = mask
            else:
                layer_mask = causal_mask(seq_len, k_len, tokens.device) if seq_len > 1 else None
            # With tied biases there is one $(u, w)$ pair, which `n % 1` always picks.
            u, v = self.u[n % len(self.u)], self.v[n % len(self.v)]
            if generating:
                past = (cache.keys[n], cache.values[n]) if cache is not None else None
                x, (k, val) = layer(x, mem, rel_full[-k_len:], u, v, layer_mask, past=past, keep=True)
                keys.append(k)
                values.append(val)
            else:
                x = layer(x, mem, rel_full[-k_len:], u, v, layer_mask)
        logits = self.head(self.dropout(x))
        new_memory = self._update_memory(memories, inputs)
        if generating:
            # Each layer's cache keeps the rows its memory keeps: the last ones of the context.
            new_memory.kv_cache = KVCache([k[:, :, k.shape[2] - m.shape[1]:] for k, m in zip(keys, new_memory.layers)],
                                          [w[:, :, w.shape[2] - m.shape[1]:] for w, m in zip(values, new_memory.layers)],
                                          self._kv_stamp())
        # Transformer-XL has no auxiliary loss: the dictionary of losses is empty.
        return ModelOutput(logits, new_memory, {})

    # ### Is a memory's cache still good?
    #
    # The cache is used only when it was made by these very weights (the versions of every
    # layer norm, $W_{k,E}$ and $W_v$ that map memory rows to keys and values) and still
    # has the memory's lengths; anything else is recomputed, never trusted.
    def _kv_stamp(self) -> tuple:
        return tuple((p.data_ptr(), p._version) for layer in self.layers
                     for p in (layer.attention_residual.norm.weight, layer.attention_residual.norm.bias,
                               layer.attention.key.linear.weight, layer.attention.value.linear.weight))

    def _valid_cache(self, memory: Optional[XLMemory], memories: List[torch.Tensor]) -> Optional[KVCache]:
        cache = getattr(memory, 'kv_cache', None)
        if cache is None or cache.stamp != self._kv_stamp():
            return None
        if any(k.shape[2] != m.shape[1] or k.shape[0] != m.shape[0] for k, m in zip(cache.keys, memories)):
            return None
        return cache

    # ### Checking the memory handed in
    #
    # A memory belongs to the streams that produced it. Handing one over for a different
    # batch size or model width is the commonest mistake with recurrent models, and it would
    # otherwise surface as a shape error deep inside attention, so it is checked here.
    def _memories(self, memory: Optional[XLMemory], batch: int, device) -> List[torch.Tensor]:
        # An empty memory at the start of a stream: zero-length tensors, so every segment
        # goes through the same code.
        if memory is None:
            return [torch.zeros(batch, 0, self.d_model, device=device) for _ in self.layers]
        if not isinstance(memory, XLMemory) or len(memory.layers) != self.n_layers:
            raise ValueError(f"expected an XLMemory with {self.n_layers} layers, got {memory!r:.80}")
        for m in memory.layers:
            if m.shape[0] != batch or m.shape[2] != self.d_model:
                raise ValueError(f"memory of shape {tuple(m.shape)} does not fit a batch of {batch} "
                                 f"and d_model={self.d_model}; pass the memory this model returned "
                                 f"for the same streams, or None to start afresh")
        return memory.layers

    # ### Updating the memory
    #
    # $m^{n-1}_{\tau+1}$ is the last $M$ positions of $[m^{n-1}_\tau \circ h^{n-1}_\tau]$,
    # detached. With $M \ge L$ the memory spans this segment and the end of the older ones;
    # with $M < L$ it keeps only the end of this segment.
    @torch.no_grad()
    def _update_memory(self, memories: List[torch.Tensor], inputs: List[torch.Tensor]) -> XLMemory:
        kept = []
        for mem, x, keep in zip(memories, inputs, self.memory_lengths()):
            joined = torch.cat([mem, x.detach()], dim=1)
            # Slice from an explicit start: `joined[:, -keep:]` would keep everything when
            # `keep` is 0, and a layer with no memory is a valid configuration.
            kept.append(joined[:, max(0, joined.shape[1] - keep):])
        return XLMemory(kept)

    # ### Attention weights, for analysis
    #
    # The same pass as `forward`, except that each layer's attention also runs through the
    # explicit path to hand back its weights. The figures on the experiment page and the
    # memory-depth tests read them; training never calls this.

    def attention_weights(self, tokens: torch.Tensor, memory: Optional[XLMemory] = None) -> List[torch.Tensor]:
        r"""
        The attention weights of every layer for one segment, `[B, H, L, M + L]` each, computed
        with the explicit path; for analyses and figures, not for training.
        """
        self.check_tokens(tokens)
        batch, seq_len = tokens.shape
        memories = self._memories(memory, batch, tokens.device)
        x = self.embed(tokens)
        rel_full = self.relative_table(max(m.shape[1] for m in memories) + seq_len, tokens.device)
        weights = []
        for n, (layer, mem) in enumerate(zip(self.layers, memories)):
            k_len = mem.shape[1] + seq_len
            # The attention sub-layer's input, exactly as `XLLayer.forward` prepares it.
            context = layer.attention_residual.prepare(torch.cat([mem, x], dim=1))
            u, v = self.u[n % len(self.u)], self.v[n % len(self.v)]
            _, w = layer.attention(context[:, -seq_len:], context, rel_full[-k_len:], u, v,
                                   causal_mask(seq_len, k_len, tokens.device), return_weights=True)
            weights.append(w)
            x = layer(x, mem, rel_full[-k_len:], u, v, causal_mask(seq_len, k_len, tokens.device))
        return weights


# ## What it measured
#
# **Tiny Shakespeare.** What the CPU preset (`python -m labml_memory.transformer_xl.experiment`,
# 800 steps without dropout) reaches, and what 1,000 steps with dropout reached, is on the
# [experiment page](experiment.py).
# It is the reference every other architecture here is compared with at equal settings.
#
# **Speed**: {{ result xl_attention_impl cpu }}; {{ result benchmark transformer_xl }}.
#
# **Memory reach** {{ result memory_reach transformer_xl }} At the small state, two segments
# back is where only the second hop reaches.
#
# **Quality at equal compute** {{ result quality transformer_xl }} **Use of memory**
# {{ result quality transformer_xl_context }} Nearly all of the cache's worth is at the first
# positions of the segment: it holds one segment, and what lies further back it does not see.
