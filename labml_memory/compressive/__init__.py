r"""
# Compressive Transformer

[Compressive Transformers for Long-Range Sequence Modelling](https://arxiv.org/abs/1911.05507)
(Rae, Potapenko, Jayakumar, Hillier, Lillicrap; ICLR 2020).

[Transformer-XL](../transformer_xl/__init__.py) forgets an activation the moment it leaves its
memory of $M$ positions. The Compressive Transformer keeps a second, coarser memory behind
the first: when activations fall out of the memory they are *compressed* at a rate $c$ into
fewer slots and pushed into a **compressed memory** of $M_c$ slots. Each layer then attends
over three things, oldest first: compressed memory, memory, current segment.

Per layer and per segment $\tau$ of $L$ activations $h$ (Algorithm 1 of the paper, which writes
$n_s$, $n_m$, $n_{cm}$ for the [site's](../__init__.py#notation) $L$, $M$, $M_c$ and $t$ for the
segment $\tau$; $m$ is the memory and $\mathit{cm}$ the compressed memory):

$$\texttt{old\_mem} = m_\tau[:L], \qquad \texttt{new\_cm} = f_c(\texttt{old\_mem}) \in \mathbb{R}^{\lfloor L/c \rfloor \times d}$$
$$m_{\tau+1} = [m_\tau \circ h]_{[-M:]}, \qquad \mathit{cm}_{\tau+1} = [\mathit{cm}_\tau \circ \texttt{new\_cm}]_{[-M_c:]}$$

A layer sees $M + c\, M_c$ activations back for the price of attending over
$M + M_c$ keys, so the temporal range of an $N$-layer model grows to
$N \times (M + c\, M_c)$ at attention cost $O(L^2 + L (M + M_c))$.

The five compression functions $f_c$ and the three ways of training them (an
attention-reconstruction loss, an auto-encoding loss, back-propagation through time) live on
their own page, [compression](compression.py). This page is the memory bookkeeping and the
model, which reuses Transformer-XL's relative attention and layers unchanged.

## Deviations from the paper

* Everything [Transformer-XL](../transformer_xl/__init__.py) lists (pre-LN by default, GELU,
  shared $u$, $w$ starting at zero, one dropout rate, no `same_length` evaluation, an untied
  output layer, no adaptive softmax), since this model is built on it.
* **Compressed slots get index distances.** Relative positions simply continue through
  $[\mathit{cm} \circ m \circ h]$: a compressed slot is one step further back than the slot after it,
  although it stands for $c$ characters. Beyond the memory, one step of distance therefore
  means $c$ characters. This is our choice; the reasons for it are in the note on the
  attention below.
* **With $M < L$ part of the current segment is compressed.** Algorithm 1 compresses
  $m_\tau[:L]$, which holds only $M$ activations when $M < L$, and the first $L - M$ of the
  segment fall out of $[m_\tau \circ h]_{[-M:]}$ without being compressed: the paper drops them.
  We compress everything that overflows the memory, so those activations enter the
  compressed memory too. With $M \ge L$ (every preset) the two agree.
* **Compression happens in whole groups of $c$.** Algorithm 1 compresses $L$ activations
  every step, which assumes every segment is $L$ long. We compress whatever overflows the
  memory, rounded *down* to a multiple of $c$; the remainder (fewer than $c$ activations)
  stays in the memory until the next segment completes its group. In training every segment
  has $L$ positions and this is exactly Algorithm 1; it also lets generation feed one
  character at a time. For pooling and the plain convolution, compressing in pieces gives the
  same slots as compressing $L$ at once; for the dilated convolution and most-used the
  pieces are smaller during token-by-token generation.
* **BPTT flows through $f_c$, not through the memory.** With `compression_loss='bptt'` the
  compressed memory keeps its graph across the trainer's `unroll` segments, so the
  language-model loss of later segments trains $f_c$; the ordinary memory it reads is still
  stop-gradient, as in Transformer-XL. This trains $f_c$ from the task loss, which is the
  point of the option, without back-propagating through every earlier layer activation.
* The reconstruction losses are means of squared errors; the dilated convolution has a shape
  of our choosing; most-used measures usage in one precise way. See
  [compression](compression.py).
* **Most-used scores usage from the weights after dropout** in training: the attention
  weights it sums are those the layer actually used, dropped entries included, so training
  scores are noisier than the attention the model would give without dropout. Evaluation
  has no dropout.
* **One optimiser step and one gradient clip for both losses.** The compression loss is added
  to the language-model loss and the trainer clips the norm of the sum. The attention loss
  reaches only $f_c$'s parameters (its gradients are exactly zero elsewhere), but a large
  compression gradient still takes a share of the clipped norm and so shrinks the
  language-model update in that step: "trains only $f_c$" holds for the gradients, not for
  the size of the language model's update.
* **Generation keeps the keys and values of both memories**, as
  [Transformer-XL's](../transformer_xl/__init__.py) does: a generated token projects itself,
  and a new compressed slot (one per $c$ tokens) is projected once, when it is made. Not with
  most-used compression, whose usage scores need the explicit attention path.
"""

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

from labml_memory.attention import causal_mask
from labml_memory.compressive.compression import (COMPRESSION_LOSSES, COMPRESSIONS, Decoder,
                                                  attention_reconstruction_loss, autoencoding_loss,
                                                  make_compression, segment_usage)
from labml_memory.protocol import MemoryState, ModelOutput
from labml_memory.transformer_xl import KVCache, TransformerXL


# ## The memory
#
# Per layer: the memory $m$ (`memory`, the layer's raw inputs, as in Transformer-XL), the
# compressed memory $\mathit{cm}$ (`compressed`) and, for most-used compression only, the usage score
# of every memory slot (`usage`), which travels with the slot until it is compressed.
@dataclass
class CompressiveMemory(MemoryState):
    # `[batch, ≤ mem_len + c - 1, d_model]` per layer
    memory: List[torch.Tensor]
    # `[batch, ≤ compressed_len, d_model]` per layer
    compressed: List[torch.Tensor]
    # `[batch, len(memory)]` per layer for `most_used`; an empty list otherwise
    usage: List[torch.Tensor]

    @property
    def lengths(self) -> List[Tuple[int, int]]:
        """(memory, compressed memory) length of each layer."""
        return [(m.shape[1], cm.shape[1]) for m, cm in zip(self.memory, self.compressed)]


def check_compression(segment_len: int, rate: int, mem_len: int, compressed_len: int,
                      compression: str, compression_loss: str) -> None:
    r"""
    Fail at construction, naming the bad value and what would be valid. The experiment's
    configuration calls this too, so a bad command line fails before anything is built.
    """
    if compression not in COMPRESSIONS:
        raise ValueError(f"unknown compression {compression!r}; valid: {list(COMPRESSIONS)}")
    if compression_loss not in COMPRESSION_LOSSES:
        raise ValueError(f"unknown compression_loss {compression_loss!r}; "
                         f"valid: {list(COMPRESSION_LOSSES)}")
    if not isinstance(rate, int) or rate < 1:
        raise ValueError(f"compression_rate must be an integer >= 1, got {rate!r}")
    if not isinstance(segment_len, int) or segment_len < 1:
        raise ValueError(f"segment_len (n_s) must be a positive integer, got {segment_len!r}")
    if segment_len % rate != 0:
        valid = [r for r in range(1, segment_len + 1) if segment_len % r == 0]
        raise ValueError(f"segment_len n_s={segment_len} is not a multiple of compression_rate "
                         f"c={rate}: the oldest n_s memories must split into whole groups of c; "
                         f"valid rates for this segment length: {valid}")
    for name, value in (('mem_len', mem_len), ('compressed_len', compressed_len)):
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if compressed_len > 0 and mem_len == 0:
        raise ValueError("compressed_len > 0 needs mem_len > 0: the compressed memory is filled "
                         "from activations leaving the memory")


# ## The model
#
# A [Transformer-XL](../transformer_xl/__init__.py) whose memory update also compresses. We
# subclass it, so the embedding, the layers, $u$, $w$, the sinusoid table and the output head
# are the same modules, and only the reading and writing of the memory differ.
class CompressiveTransformer(TransformerXL):
    r"""
    * `mem_len` ($M$), `compressed_len` ($M_c$), `compression_rate` ($c$), per layer
      the same;
    * `segment_len` ($L$), the training segment length, checked to be a multiple of $c$;
    * `compression`: one of `max_pool`, `mean_pool`, `conv`, `dilated_conv`, `most_used`;
    * `compression_loss`: `attention`, `autoencoding`, `bptt` or `none`;
    * the rest as in [Transformer-XL](../transformer_xl/__init__.py).
    """

    def __init__(self, vocab_size: int, d_model: int = 128, heads: int = 4, n_layers: int = 4,
                 d_ff: int = 512, segment_len: int = 64, mem_len: int = 64,
                 compressed_len: int = 32, compression_rate: int = 2, compression: str = 'conv',
                 compression_loss: str = 'attention', clamp_len: Optional[int] = None,
                 dropout: float = 0.1, norm: str = 'pre', tie_uv: bool = True,
                 activation: str = 'gelu', attention_impl: str = 'sdpa'):
        check_compression(segment_len, compression_rate, mem_len, compressed_len, compression,
                          compression_loss)
        super().__init__(vocab_size, d_model=d_model, heads=heads, n_layers=n_layers, d_ff=d_ff,
                         mem_len=mem_len, clamp_len=clamp_len, dropout=dropout, norm=norm,
                         tie_uv=tie_uv, activation=activation, attention_impl=attention_impl)
        # $M$ is Transformer-XL's `self.mem_len`, one entry per layer; $M_c$ is kept beside it.
        self.segment_len, self.rate = segment_len, compression_rate
        self.compressed_len = compressed_len
        self.compression_name = compression
        # One $f_c$ per layer: each layer's activations live in a space of their own.
        self.compress = nn.ModuleList(make_compression(compression, d_model, compression_rate)
                                      for _ in range(n_layers))
        # ### Which loss is in force
        #
        # Pooling and most-used have no parameters: no loss can train them, so the loss is
        # switched off (`none`) for them whatever was asked, and BPTT would only send
        # gradients into older activations, which the memory otherwise stops. The effective
        # choice is kept in `self.compression_loss`.
        self.requested_loss = compression_loss
        self.compression_loss = compression_loss if self.compress[0].learnable else 'none'
        # The auto-encoder's decoder $f_d$, one per layer, only when it is used.
        self.decoders = nn.ModuleList(Decoder(d_model, compression_rate) for _ in range(n_layers)) \
            if self.compression_loss == 'autoencoding' else None
        self.keeps_usage = compression == 'most_used'

    # ## Reading one segment
    #
    # The protocol's call. `forward` trains and evaluates; `attention_weights` runs the same
    # computation and also returns every layer's weights, for the
    # [attention analysis](analysis.py).
    def forward(self, tokens: torch.Tensor, memory: Optional[CompressiveMemory] = None) -> ModelOutput:
        logits, memory, losses, _ = self._run(tokens, memory, keep_weights=False)
        return ModelOutput(logits, memory, losses)

    def attention_weights(self, tokens: torch.Tensor, memory: Optional[CompressiveMemory] = None):
        r"""
        `(weights, memory)`: the attention weights of every layer, `[B, H, L, M_c + M + L]`
        with the keys in the order compressed memory, memory, segment, and the memory after
        this segment (its lengths tell where each part starts).
        """
        _, new_memory, _, weights = self._run(tokens, memory, keep_weights=True)
        return weights, new_memory

    def _run(self, tokens, memory, keep_weights: bool):
        self.check_tokens(tokens)
        batch, seq_len = tokens.shape
        state = self._state(memory, batch, tokens.device)
        # Generation reads the keys and values of both memories from the cache, as
        # [Transformer-XL](../transformer_xl/__init__.py#the-key-and-value-cache-of-generation) does
        # (not with most-used compression, nor when the weights are wanted: those take the
        # explicit path).
        generating = not self.training and not torch.is_grad_enabled() and not keep_weights \
            and not self.keeps_usage
        cache = self._valid_cache(memory) if generating else None
        keys, values = [], []
        x = self.dropout(self.embed(tokens))
        # One sinusoid table for the longest context of any layer; each layer takes its last
        # rows, the distances its own context spans (as in Transformer-XL).
        longest = max(m.shape[1] + cm.shape[1] for m, cm in zip(state.memory, state.compressed))
        rel_full = self.relative_table(longest + seq_len, tokens.device)
        new_memory, new_compressed, new_usage = [], [], []
        # `losses['compression']` sums the compression loss over layers, as Algorithm 2 does;
        # it stays absent when no layer compressed anything this segment (early in a stream)
        # or when the loss is off, so the trainer only tracks it when it means something.
        losses: Dict[str, torch.Tensor] = {}
        all_weights = []
        for n, layer in enumerate(self.layers):
            mem, cmem = state.memory[n], state.compressed[n]
            usage = state.usage[n] if self.keeps_usage else None
            # $h$, this layer's input: what its memory will store, as in Transformer-XL.
            x_in = x
            # ### Attention over compressed memory, memory and segment
            #
            # The context is $[\mathit{cm} \circ m \circ h]$, oldest first, `[B, M_c + M + L, D]`.
            # Relative positions simply continue through it: a compressed slot gets the
            # distance of its *index* in this sequence, one more than the slot after it.
            # Distances then count slots, not characters; a slot that sits a few places behind
            # the oldest memory summarises activations about $c$ times as many characters further back. We keep the
            # index distance for three reasons. A slot stands for $c$ activations (or, for the
            # dilated convolution and most-used, an irregular set of them), so there is no one
            # "true" distance to give it. Index distances depend only on $i - j$, so the same
            # [relative shift](../transformer_xl/__init__.py) lines up all three parts in one
            # go. And once the memories are full the compressed slots always sit at the same
            # distances, so the model learns what those distances mean: beyond $M + L$ back,
            # one step is $c$ characters.
            k_len = cmem.shape[1] + mem.shape[1] + seq_len
            # A single query sees every key: no mask.
            mask = causal_mask(seq_len, k_len, tokens.device) if seq_len > 1 else None
            u, v = self.u[n % len(self.u)], self.v[n % len(self.v)]
            rel = rel_full[-k_len:]
            # The raw rows of both memories, which a call with the cache does not read.
            past = torch.cat([cmem, mem], dim=1) if cache is None else None
            if keep_weights or self.keeps_usage:
                # The same sub-layers as `XLLayer.forward`, with the explicit attention path,
                # because most-used and the analysis need the weights.
                context = layer.attention_residual.prepare(torch.cat([past, x], dim=1))
                attended, weights = layer.attention(context[:, -seq_len:], context, rel, u, v, mask,
                                                    return_weights=True)
                x = layer.attention_residual.combine(x, attended)
                x = layer.feed_forward_residual(x, layer.feed_forward)
                if keep_weights:
                    all_weights.append(weights.detach())
            elif generating:
                kv = (cache.keys[n], cache.values[n]) if cache is not None else None
                x, (k, val) = layer(x, past, rel, u, v, mask, past=kv, keep=True)
                weights = None
            else:
                x = layer(x, past, rel, u, v, mask)
                weights = None
            # Most-used scores the segment's activations now, by the attention they got in the
            # step that produced them; the score travels with each slot through the memory.
            seg_usage = segment_usage(weights) if self.keeps_usage else None
            # ### Writing the memories
            m, cm, use, loss = self._update_layer(n, mem, cmem, usage, x_in, seg_usage)
            if generating:
                k, val = self._cache_rows(n, cmem.shape[1], mem.shape[1] + seq_len - m.shape[1], m, cm, k, val)
                keys.append(k)
                values.append(val)
            new_memory.append(m)
            new_compressed.append(cm)
            if self.keeps_usage:
                new_usage.append(use)
            if loss is not None:
                losses['compression'] = losses.get('compression', 0.0) + loss
        # The output head is Transformer-XL's: final norm (pre-LN) and projection to logits.
        logits = self.head(self.dropout(x))
        new_state = CompressiveMemory(new_memory, new_compressed, new_usage)
        if generating:
            new_state.kv_cache = KVCache(keys, values, self._kv_stamp())
        return logits, new_state, losses, all_weights

    # ### The cache after a call
    #
    # `k`, `val` hold the keys and values of this call's context $[\mathit{cm} \circ m \circ h]$.
    # The memory keeps the rows after the `evicted` ones, so its keys are the matching rows;
    # the compressed memory keeps its old slots and gains the new ones at its end, which are
    # the only rows projected here (one slot per $c$ generated tokens); both are cut to what
    # the memories kept. The cache of a layer lists compressed memory, then memory.
    def _cache_rows(self, n: int, old_compressed: int, evicted: int, m, cm, k, val):
        layer = self.layers[n]
        added = min(evicted // self.rate if self.compressed_len > 0 else 0, cm.shape[1])
        kept_k, kept_v = k[:, :, old_compressed + evicted:], val[:, :, old_compressed + evicted:]
        old_k, old_v = k[:, :, :old_compressed], val[:, :, :old_compressed]
        if added:
            rows = layer.attention_residual.prepare(cm[:, cm.shape[1] - added:])
            old_k = torch.cat([old_k, layer.attention.key(rows)], dim=2)
            old_v = torch.cat([old_v, layer.attention.value(rows)], dim=2)
        start = old_k.shape[2] - cm.shape[1]
        return (torch.cat([old_k[:, :, start:], kept_k], dim=2),
                torch.cat([old_v[:, :, start:], kept_v], dim=2))

    def _valid_cache(self, memory: Optional[CompressiveMemory]) -> Optional[KVCache]:
        cache = getattr(memory, 'kv_cache', None)
        if cache is None or cache.stamp != self._kv_stamp():
            return None
        if any(k.shape[2] != m.shape[1] + cm.shape[1] or k.shape[0] != m.shape[0]
               for k, m, cm in zip(cache.keys, memory.memory, memory.compressed)):
            return None
        return cache

    # ### Algorithm 1 for one layer
    #
    # `mem` ($m_\tau$), `cmem` ($\mathit{cm}_\tau$), `x_in` ($h$: this layer's input for the segment).
    # The joined sequence $[m_\tau \circ h]$ keeps its last $M$ activations; what overflows
    # is `old_mem`, rounded down to whole groups of $c$ (the remainder stays in memory one
    # segment longer). In the steady state of training, with $M \ge L$, `old_mem` is
    # exactly $m_\tau[:L]$.
    def _update_layer(self, n, mem, cmem, usage, x_in, seg_usage):
        joined = torch.cat([mem, x_in.detach()], dim=1)
        overflow = max(0, joined.shape[1] - self.mem_len[n])
        evict = overflow - overflow % self.rate
        old_mem, kept = joined[:, :evict], joined[:, evict:]
        # The usage scores are split at the same place as the activations they belong to.
        if self.keeps_usage:
            usage = torch.cat([usage, seg_usage], dim=1)
            old_usage, usage = usage[:, :evict], usage[:, evict:]
        loss = None
        if evict > 0 and self.compressed_len > 0:
            # $\texttt{new\_cm} = f_c(\texttt{old\_mem})$, `[B, evict / c, D]`
            new_cm = self.compress[n](old_mem, old_usage if self.keeps_usage else None)
            # The compression loss is a training signal only: evaluation never computes it.
            if self.training and self.compression_loss == 'attention':
                layer = self.layers[n]
                loss = attention_reconstruction_loss(layer.attention, layer.attention_residual,
                                                     x_in, old_mem, new_cm)
            elif self.training and self.compression_loss == 'autoencoding':
                loss = autoencoding_loss(self.decoders[n], old_mem, new_cm)
            # The compressed memory is a stop-gradient, except under BPTT, where the graph
            # through $f_c$ is what trains it. The trainer detaches it after each step.
            if self.compression_loss != 'bptt' or not self.training:
                new_cm = new_cm.detach()
            # $\mathit{cm}_{\tau+1} = [\mathit{cm}_\tau \circ \texttt{new\_cm}]_{[-M_c:]}$
            cmem = torch.cat([cmem, new_cm], dim=1)
            cmem = cmem[:, max(0, cmem.shape[1] - self.compressed_len):]
        return kept, cmem, usage, loss

    # An empty memory at the start of a stream: zero-length tensors, so the first segment goes
    # through the same code as every other.
    def _state(self, memory: Optional[CompressiveMemory], batch: int, device) -> CompressiveMemory:
        if memory is None:
            empty = lambda *shape: [torch.zeros(*shape, device=device) for _ in self.layers]
            return CompressiveMemory(empty(batch, 0, self.d_model), empty(batch, 0, self.d_model),
                                     empty(batch, 0) if self.keeps_usage else [])
        if not isinstance(memory, CompressiveMemory) or len(memory.memory) != self.n_layers:
            raise ValueError(f"expected a CompressiveMemory with {self.n_layers} layers, "
                             f"got {memory!r:.80}")
        if self.keeps_usage and len(memory.usage) != self.n_layers:
            raise ValueError("most_used compression needs the usage scores this model returned")
        for t in memory.memory + memory.compressed:
            if t.shape[0] != batch or t.shape[2] != self.d_model:
                raise ValueError(f"memory of shape {tuple(t.shape)} does not fit a batch of {batch} "
                                 f"and d_model={self.d_model}; pass the memory this model "
                                 f"returned for the same streams, or None to start afresh")
        return memory


# ## What it measured
#
# **Tiny Shakespeare.** The CPU preset (`python -m labml_memory.compressive.experiment`: 4
# layers, 128 wide, $L = M = 64$, $M_c = 32$, $c = 2$, convolution trained by attention
# reconstruction, 750 steps) and the same at `steps=1000`: their losses and times are on the
# [experiment page](experiment.py).
#
# **The study** {{ result compressive study }}
#
# **Where attention goes** {{ result compressive buckets }}
#
# **Speed** {{ result benchmark compressive }}.
#
# **Memory reach** {{ result memory_reach compressive }} Compression extends the reach, but
# an exact item does not survive being compressed.
#
# **Quality at equal compute** {{ result quality compressive }} **Use of memory**
# {{ result quality compressive_context }} The compressed part is everything older than one
# segment: at this size and length of training the model barely reads it.
