r"""
# Recurrent Memory Transformer

[Recurrent Memory Transformer](https://arxiv.org/abs/2207.06881) (Bulatov, Kuratov, Burtsev;
NeurIPS 2022).

Every other model on this site changes the attention layer to give it a memory: Transformer-XL
lets it read cached activations, the Compressive Transformer compresses them, Infini-attention
sums them into a matrix. The Recurrent Memory Transformer (RMT) leaves the transformer exactly
as it is and changes only its *input*. A handful of $M$ extra positions, the **memory tokens**
(the paper's $m$: on this site $M$ is the size of every memory, as $h$ is every hidden state,
the paper's $H$), travel with every segment. They are ordinary vectors in the stream: they pass through every
layer, attend and are attended to like characters, and what the last layer makes of them is
handed to the next segment. The memory is therefore a recurrent state of $M \times d_{model}$
numbers, and the transformer itself learns what to put in it.

In the decoder form the paper uses for language modelling, the same memory
$h^{mem}_\tau$ (`memory.tokens`) is placed on both sides of segment $\tau$'s embeddings
$h^0_\tau$:

$$\tilde h^0_\tau = \big[\, h^{mem}_\tau \circ h^0_\tau \circ h^{mem}_\tau \,\big], \qquad
\big[\, h^{read}_\tau \circ h^N_\tau \circ h^{write}_\tau \,\big] = \mathrm{Transformer}(\tilde h^0_\tau)$$

$$h^{mem}_{\tau+1} = h^{write}_\tau$$

The copy in front is the **read** block: every character of the segment can attend to it, so it
is how the past reaches the present. The copy behind is the **write** block: it comes after the
last character, so under a causal mask it can attend to the whole segment and to the read block,
and what the top layer leaves there becomes the next memory. The characters themselves never see
the write block, which has already seen their future.

Which position may attend to which, for $M = 2$ and a segment of 4 (`■` allowed, `·` masked;
rows are queries, columns keys; `r` read, `s` segment, `w` write), with the default `mask='memory'`:

| query ╲ key | `r` | `r` | `s` | `s` | `s` | `s` | `w` | `w` | |
|---|---|---|---|---|---|---|---|---|---|
| `r` | ■ | ■ | · | · | · | · | · | · | read tokens see each other, nothing else |
| `r` | ■ | ■ | · | · | · | · | · | · |  |
| `s` | ■ | ■ | ■ | · | · | · | · | · | characters: all read tokens, causal among themselves |
| `s` | ■ | ■ | ■ | ■ | · | · | · | · |  |
| `s` | ■ | ■ | ■ | ■ | ■ | · | · | · |  |
| `s` | ■ | ■ | ■ | ■ | ■ | ■ | · | · |  |
| `w` | ■ | ■ | ■ | ■ | ■ | ■ | ■ | ■ | write tokens see everything |
| `w` | ■ | ■ | ■ | ■ | ■ | ■ | ■ | ■ |  |

`mask='causal'` is the plain lower triangle over the whole row of $2M + L$ positions, as a
decoder that knows nothing of memory would use; it differs only inside the two memory blocks.
Either way no character sees anything to its right.

Training is back-propagation through time. The gradient of segment $\tau$'s loss flows into
$h^{mem}_\tau$, through it into the whole computation of segment $\tau - 1$ that wrote it, and so
on back, which is the only way the write block learns what is worth keeping: its outputs appear
in no loss of their own segment. The shared [trainer](../training/__init__.py)'s `unroll=k`
does exactly that over $U$ segments and detaches the memory between steps.

The rest of the model is built from the shared [attention](../attention.py),
[feed-forward](../feed_forward.py), [residual](../residual.py) and [embedding](../embedding.py)
blocks, and it follows the [protocol](../protocol.py): the memory is a `MemoryTokens`.

## Deviations from the paper

* **No Transformer-XL cache underneath.** The paper builds RMT on the Transformer-XL code and
  reports it both alone and with the XL cache ("RMT + XL"); here the backbone is a plain
  decoder, so the memory tokens are the *only* way anything crosses a segment boundary. That is
  the paper's pure RMT, and it keeps the comparison with the other pages clean.
* **Positions: rotary over the row of $2M + L$ positions**, the same rotary encoding as
  [Infini-attention](../infini_attention/__init__.py), restarted at every segment. The paper's
  backbone uses Transformer-XL's relative positions; without a cache the two carry the same
  information (only distances inside one row matter).
* **Pre-LN by default, and the memory leaves through the final layer norm.** The paper's
  backbone is post-LN, so what the top layer writes is already normalised. Under pre-LN the
  stream is not, and feeding it back segment after segment would let its scale drift, so the
  write block's outputs pass through a layer norm of their own before they become the next
  memory. With `norm='post'` there is no extra norm, as in the paper.
* **The initial memory** $h^{mem}_0$ is one learned vector per memory token, shared by all
  streams, drawn at the scale of the token embeddings; the paper says the memory starts from
  trainable embeddings and no more.
* **Generation re-reads the unfinished segment.** The protocol's default feeds one character per
  call, which here would write a memory from a one-character segment, something the model never
  saw in training. Our `generate` keeps the memory of the last *full* segment and re-reads the
  partial one with each new character, so the memory advances once per `segment_len`
  characters, exactly as in training; a character costs one pass over at most $2M + L$ positions.
* The paper's models are larger; our presets are sized for a CPU.

"""

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from labml_memory.attention import HeadProjection, attention, check_heads, merge_heads
from labml_memory.embedding import OutputHead, TokenEmbedding
from labml_memory.feed_forward import FeedForward
from labml_memory.infini_attention import rotate
from labml_memory.protocol import MemoryLanguageModel, MemoryState, ModelOutput, check_stack
from labml_memory.residual import Residual

# The two attention masks a configuration may name (see the figure above).
MASK_RULES = ('memory', 'causal')


# ## The memory
#
# $h^{mem}_\tau$: $M$ vectors of the model's width per stream, `[batch, n_mem, d_model]`, the
# same size after one segment and after a thousand. Unlike every other state on this site it
# is *not* detached by the model: it carries the graph of the segment that wrote it, and the
# trainer cuts it after `unroll` segments.
@dataclass
class MemoryTokens(MemoryState):
    # $h^{mem}_\tau$, `[batch, n_mem, d_model]`
    tokens: torch.Tensor


# ## The mask
#
# The row is `[read (M), segment (L), write (M)]`; `True` where query $i$ may attend to key $j$.
# Every rule starts from the causal triangle, which already lets the characters see all read
# tokens (they come first) and hides the write tokens from them (they come last). The `memory`
# rule then opens the two memory blocks fully: a read token sees every read token, so the order
# of the memory slots means nothing to it, and a write token sees every write token. Neither
# addition lets a character see anything after it: read tokens still see no character, and
# nothing but write tokens sees a write token.
def memory_mask(n_mem: int, seq_len: int, rule: str = 'memory',
                device: Optional[torch.device] = None) -> torch.Tensor:
    total = 2 * n_mem + seq_len
    position = torch.arange(total, device=device)
    query, key = position[:, None], position[None, :]
    allowed = key <= query
    if rule == 'memory':
        is_read = position < n_mem
        is_write = position >= n_mem + seq_len
        allowed = allowed | (is_read[:, None] & is_read[None, :]) | is_write[:, None]
    elif rule != 'causal':
        raise ValueError(f"unknown mask rule {rule!r}; valid: {list(MASK_RULES)}")
    # `[2M + L, 2M + L]`
    return allowed


# ## What the memory costs
#
# The state is $M \times d_{model}$ numbers per stream, whatever the number of layers: one
# vector per memory token, not one per token and layer as in Transformer-XL. The price is
# paid in compute instead: every layer attends over $2M + L$ positions rather than $L$, so a
# step costs about $(2M + L) / L$ times a memoryless step (1.25 for the CPU preset's
# $M = 8$, $L = 64$), and training back-propagates through $U$ segments at once, so the
# activations of all $U$ are kept until the backward pass.
#
# ## Attention
#
# Standard multi-head self-attention over the whole row. Read, segment and write positions
# share the projections $W_Q, W_K, W_V, W_O$: the paper's point is that the memory needs no
# weights of its own, the transformer learns to treat those positions differently from what
# they hold and where they sit.
class SelfAttention(nn.Module):
    def __init__(self, d_model: int, heads: int, dropout: float):
        super().__init__()
        d_k = check_heads(d_model, heads)
        self.query = HeadProjection(d_model, heads, d_k, bias=False)
        self.key = HeadProjection(d_model, heads, d_k, bias=False)
        self.value = HeadProjection(d_model, heads, d_k, bias=False)
        self.output = nn.Linear(d_model, d_model, bias=False)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # `x`: `[B, 2M + L, D]`; queries and keys rotated by their place in the row, so a
        # character is $i + M$ positions from the first read token and the write block always
        # sits right after the last character. The row starts at position $0$ in every
        # segment, so a score depends on where a token sits in its row, never on how far into
        # the text the row is.
        q, k, v = rotate(self.query(x)), rotate(self.key(x)), self.value(x)
        out = attention(q, k, v, mask=mask, dropout=self.dropout if self.training else 0.0)
        return self.output(merge_heads(out))


# ## A layer
#
# Attention, then the feed-forward network, each on a residual connection: an unmodified
# transformer block.
class Layer(nn.Module):
    def __init__(self, d_model: int, heads: int, d_ff: int, dropout: float, norm: str,
                 activation: str):
        super().__init__()
        self.attention = SelfAttention(d_model, heads, dropout)
        self.attention_residual = Residual(d_model, norm, dropout)
        self.feed_forward = FeedForward(d_model, d_ff, dropout, activation)
        self.feed_forward_residual = Residual(d_model, norm, dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.attention_residual(x, lambda h: self.attention(h, mask))
        return self.feed_forward_residual(x, self.feed_forward)


# ## The model
class RecurrentMemoryTransformer(MemoryLanguageModel):
    r"""
    A decoder whose only memory is `n_mem` memory tokens, read before each segment and
    written after it.

    * `n_mem`: $M$, the number of memory tokens (at least one).
    * `mask`: `'memory'` (read and write blocks fully visible inside themselves, the default)
      or `'causal'` (one lower triangle over the whole row).
    * `memory_grad`: keep the written memory differentiable, so that the trainer's `unroll=k`
      back-propagates through it across $U$ segments (the paper's training, and the default).
      With `False` the memory arrives detached and the write block never learns.
    * `norm`: `'pre'` (default) or `'post'`; `activation`: `'gelu'` or `'relu'`.
    """

    def __init__(self, vocab_size: int, d_model: int = 128, heads: int = 4, n_layers: int = 4,
                 d_ff: int = 512, n_mem: int = 8, mask: str = 'memory', memory_grad: bool = True,
                 dropout: float = 0.1, norm: str = 'pre', activation: str = 'gelu'):
        super().__init__(vocab_size)
        # Every bad setting fails here, naming the value and what would be valid. Zero memory
        # tokens is the one the paper's framing invites (RMT with $M = 0$ "is" a plain
        # transformer), so its message says what such a model would be; a boolean is refused
        # too, since `True` would otherwise pass as one token.
        if isinstance(n_mem, bool) or not isinstance(n_mem, int) or n_mem <= 0:
            raise ValueError(f"n_mem must be a positive integer, got {n_mem!r}: the memory tokens are "
                             f"the only thing this model carries between segments, so with none it "
                             f"is a plain transformer that forgets at every boundary")
        # The stack's settings go through the check every model shares (rotary positions need
        # an even head width).
        check_stack(d_model, heads, n_layers, d_ff, dropout, norm, activation, positions='rotary')
        if mask not in MASK_RULES:
            raise ValueError(f"unknown mask rule {mask!r}; valid: {list(MASK_RULES)}")
        # The embedding, the layers and the head are those of any decoder; only the initial
        # memory and the memory's layer norm below belong to RMT.
        self.d_model, self.n_mem, self.n_layers = d_model, n_mem, n_layers
        self.mask_rule, self.memory_grad = mask, memory_grad
        self.embed = TokenEmbedding(vocab_size, d_model)
        self.dropout = nn.Dropout(dropout)
        # ### The initial memory
        #
        # Learned, one vector per memory token, at the scale of a scaled token embedding
        # ($0.02 \sqrt{d_{model}}$), so that on the first segment the memory does not drown the
        # characters beside it.
        self.initial_memory = nn.Parameter(torch.randn(n_mem, d_model) * 0.02 * d_model ** 0.5)
        self.layers = nn.ModuleList(Layer(d_model, heads, d_ff, dropout, norm, activation)
                                    for _ in range(n_layers))
        # The write block's way out under pre-LN (see the deviations); post-LN needs none.
        self.memory_norm = nn.LayerNorm(d_model) if norm == 'pre' else nn.Identity()
        self.head = OutputHead(d_model, vocab_size, final_norm=(norm == 'pre'))

    def empty_memory(self, batch: int) -> MemoryTokens:
        r"""$h^{mem}_0$ for every stream: the start of a stream. It is differentiable, so the
        initial memory learns from every segment it reaches."""
        return MemoryTokens(self.initial_memory[None].expand(batch, -1, -1))

    # ### Running the unchanged transformer on a row
    #
    # `row` is `[B, 2M + L, D]`, already assembled; the result is the top layer's output for
    # every position. It is a method of its own so that the tests can perturb single
    # positions of the row, which the protocol call cannot (it puts the same memory in front
    # and behind).
    def transform(self, row: torch.Tensor, seq_len: int) -> torch.Tensor:
        mask = memory_mask(self.n_mem, seq_len, self.mask_rule, row.device)
        for layer in self.layers:
            row = layer(row, mask)
        return row

    # ### One segment
    #
    # `tokens` is segment $\tau$, `[B, L]`; `memory` is $h^{mem}_\tau$, or `None` at the start
    # of a stream, where $h^{mem}_0$ takes its place. A segment may be shorter than the one
    # the model trained on (generation sends partial ones): the row is simply shorter and the
    # mask is built for its length.
    def forward(self, tokens: torch.Tensor, memory: Optional[MemoryTokens] = None) -> ModelOutput:
        self.check_tokens(tokens)
        batch, seq_len = tokens.shape
        memory = self.empty_memory(batch) if memory is None else memory
        self._check_memory(memory, batch)
        m = self.n_mem
        # ### Reading and writing: one row
        #
        # $\tilde h^0_\tau = [h^{mem}_\tau \circ h^0_\tau \circ h^{mem}_\tau]$: the same memory
        # vectors on both sides. Dropout touches the characters' embeddings only; dropping
        # coordinates of the memory would corrupt the state itself, not a view of it.
        h = self.dropout(self.embed(tokens))                               # [B, L, D]
        mem = memory.tokens.to(h.dtype)
        row = torch.cat([mem, h, mem], dim=1)                              # [B, 2M + L, D]
        out = self.transform(row, seq_len)
        # ### Splitting the output
        #
        # $[h^{read}_\tau \circ h^N_\tau \circ h^{write}_\tau]$: the read block's outputs are
        # discarded (the paper does the same), the characters' go to the output head, and the
        # write block's become $h^{mem}_{\tau+1}$.
        logits = self.head(self.dropout(out[:, m:m + seq_len]))           # [B, L, vocab]
        written = self.memory_norm(out[:, m + seq_len:])                   # [B, m, D]
        # ### Where gradients stop
        #
        # Nowhere inside the model, by default: the next segment's loss must reach the write
        # block through $h^{mem}_{\tau+1}$. The trainer detaches after its `unroll`.
        new_memory = MemoryTokens(written)
        if not self.memory_grad:
            new_memory = new_memory.detach()
        return ModelOutput(logits, new_memory, {})

    # ### Checking the memory
    #
    # A memory from another model (another width, another $M$) or from other streams would
    # otherwise fail deep inside `torch.cat` with a message about dimensions, or, with the
    # batch broadcast, silently read one stream's memory into another.
    def _check_memory(self, memory: MemoryTokens, batch: int) -> None:
        if not isinstance(memory, MemoryTokens):
            raise ValueError(f"expected MemoryTokens, got {type(memory).__name__}; pass the memory "
                             f"this model returned, or None to start afresh")
        expected = (batch, self.n_mem, self.d_model)
        if tuple(memory.tokens.shape) != expected:
            raise ValueError(f"memory tokens of shape {tuple(memory.tokens.shape)} do not fit "
                             f"[batch, n_mem, d_model] = {expected}; pass the memory this model "
                             f"returned for the same streams, or None to start afresh")

    # ### Generation
    #
    # See the deviations: the memory moves on only when a segment is complete, and the
    # characters of the unfinished segment are re-read with each new one. `committed` is the
    # memory that precedes the unfinished segment `pending`.
    @torch.no_grad()
    def generate(self, prompt: torch.Tensor, length: int, segment_len: int,
                 temperature: float = 1.0, memory: Optional[MemoryTokens] = None,
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
        r"""Continue each prompt by `length` tokens, with the memory advanced once per
        `segment_len` tokens, as in training."""
        if length < 0 or segment_len <= 0:
            raise ValueError(f"length must be >= 0 and segment_len > 0, got {length}, {segment_len}")
        self.check_tokens(prompt)
        committed, pending = memory, prompt[:, :0]
        logits = None
        # The prompt in segments of `segment_len`, as in training; a shorter last piece
        # stays pending, so the first generated character completes it.
        for start in range(0, prompt.shape[1], segment_len):
            pending = prompt[:, start:start + segment_len]
            logits, written, _ = self(pending, committed)
            if pending.shape[1] == segment_len:
                committed, pending = written, pending[:, :0]
        out = []
        for _ in range(length):
            # Sample the next character from the last position's distribution, as the
            # protocol's generator does, then read the unfinished segment again with it.
            probs = (logits[:, -1] / max(temperature, 1e-6)).softmax(-1)
            nxt = torch.multinomial(probs, 1, generator=generator)
            out.append(nxt)
            pending = torch.cat([pending, nxt], dim=1)
            # When the segment is full, what this call wrote becomes the memory of the next.
            logits, written, _ = self(pending, committed)
            if pending.shape[1] == segment_len:
                committed, pending = written, pending[:, :0]
        return torch.cat(out, dim=1) if out else prompt.new_zeros(prompt.shape[0], 0)


# ## What it measured
#
# **Tiny Shakespeare**, the [experiment](experiment.py)'s CPU preset (4 layers, width 128,
# segments of 64, 8 memory tokens, `unroll=2`, 600 steps, no dropout): final validation loss
# **1.7036 nats per character** (2.458 bits, accuracy 0.496) on the whole held-out text, under
# the 1.80 target, carrying $8 \times 128 = 1{,}024$ numbers per stream from segment to segment.
# One seed. On an idle two-core AMD EPYC machine the whole command takes **263 s** (start-up and final
# evaluation included), within the five minutes a CPU preset is allowed.
#
# What the memory buys, read from the same checkpoint over the same text: with every segment
# started from the initial memory $h^{mem}_0$ instead of the carried one, the loss is 1.7398,
# 0.036 nats worse. Almost all of the gap is at the start of a segment: over its first 8
# characters the carried memory gives 1.857 against 2.059, over its last 8 characters 1.684
# against 1.689, where the segment itself already holds 56 characters of context. The
# notebook (*Open in Colab*, above) draws this curve for any trained model.
#
# **Speed** {{ result benchmark recurrent_memory }}.
#
# **Against the public port** (`recurrent-memory-transformer-pytorch` 0.7.0, set up as described
# in the [benchmark's peers](../benchmark/peers.py)), at the CPU preset's sizes with one
# thread, best of three rounds: ours trains 3,221 characters per second, 1.17 times the port's
# 2,748, but the rounds overlap (2,463 to 3,221 against 2,354 to 2,748), so on this shared
# machine the two are not told apart. Both carry 4.0 KiB per stream, and a one-character call
# with the memory takes both a flat 10 to 13 ms whether 64 or 4,096 characters came before (the
# benchmark's calls write a new memory at every character; our `generate` instead re-reads the
# unfinished segment, up to $2M + L$ positions a character, see the deviations). One run,
# on two cores shared with other jobs:
# `python -m labml_memory.studies run benchmark only=recurrent_memory,lucidrains_rmt`.
#
# **Memory reach** {{ result memory_reach recurrent_memory }} The large budget trained for
# fewer steps, at several times the cost per step; it likely does not yet use the larger
# memory (a run as long as the small budget's would tell; not run).
#
# **Quality at equal compute** {{ result quality recurrent_memory }} **Use of memory**
# {{ result quality recurrent_memory_context }} Its 16 memory tokens are the only path
# across a segment boundary.
