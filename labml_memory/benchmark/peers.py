r"""
# Peers: other people's memory transformers, called our way

The [benchmark](__init__.py) compares each of our architectures with the public
implementations of the same paper that install from PyPI. They all have different calling
conventions: sequence-first or batch-first, memory as a list, a named tuple or a stacked
tensor, auxiliary losses returned or not. This module wraps each of them so that it answers
the same call as our models,

```python
logits, memory, losses = peer(tokens, memory)
```

which means our [trainer](../training/__init__.py), whose training step the benchmark times,
can run a peer exactly as it runs one of ours. The wrapper only translates: tokens in, logits
out, the peer's own memory kept in a [`PeerMemory`](#the-memory-of-a-peer) so it can report its
size. All the arithmetic is the peer's.

| peer | package | implements |
|---|---|---|
| `xtransformers_xl` | `x-transformers` (`max_mem_len`, `return_mems=True`) | Transformer-XL |
| `labml_nn_xl` | `labml-nn` (installed `--no-deps`) | Transformer-XL |
| `lucidrains_compressive` | `compressive-transformer-pytorch` | Compressive Transformer |
| `labml_nn_compressive` | `labml-nn` | Compressive Transformer |
| `lucidrains_infini` | `infini-transformer-pytorch` | Infini-attention |
| `lucidrains_memorizing` | `memorizing-transformers-pytorch` (installed `--no-deps`) | Memorizing Transformers |
| `lucidrains_rmt` | `recurrent-memory-transformer-pytorch` | Recurrent Memory Transformer |

A peer that is not installed, fails to import, or cannot express the shared configuration
raises `PeerUnavailable` with the reason; the benchmark prints that reason in its table
instead of stopping.

## Deviations from the papers

* These are the peers' models, not ours: each keeps its authors' choices (positional scheme,
  normalisation, gating), listed per adapter below. We switch off options that add work our
  models do not do (lucidrains' GRU-gated residuals) so that the *same configuration* means
  the same amount of model, and say so.
"""

import importlib
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import torch
from torch import nn

from labml_memory.protocol import MemoryLanguageModel, MemoryState, ModelOutput


class PeerUnavailable(Exception):
    """A peer that cannot run here or cannot run this configuration; the message says why."""


# ## The shared sizes
#
# One configuration for every entry of the benchmark. `d_ff` is the hidden width of the
# feed-forward network; `mem_len` is $M$ (Transformer-XL's memory, the Compressive
# Transformer's $n_m$); `compressed_len` and `compression_rate` are $M_c$ (its $n_{cm}$) and $c$.
@dataclass
class Sizes:
    # $d$, the number of heads $H$ (so $d_k = d / H$), and the number of layers.
    d_model: int = 128
    heads: int = 4
    n_layers: int = 4
    d_ff: int = 512
    # The segment length $L$ and the memory lengths.
    seq_len: int = 64
    mem_len: int = 64
    compressed_len: int = 32
    compression_rate: int = 2
    # $M$ for the Recurrent Memory Transformer: its number of memory tokens.
    n_mem: int = 8
    # The Memorizing Transformer's kNN table per stream ($C$ pairs) and its $k$.
    knn_size: int = 1024
    top_k: int = 32
    # Parallel streams per step, and Tiny Shakespeare's 65 characters.
    batch_size: int = 16
    vocab_size: int = 65


# ## The memory of a peer
#
# Whatever tensors the peer carries between segments, in a flat list, each batch-first like
# every memory on this site (so `select` keeps streams the same way for all). Each adapter
# knows how to pack and unpack its own; the base class gives `nbytes()` and `detach()`.
@dataclass
class PeerMemory(MemoryState):
    parts: List[torch.Tensor]


# ## The common wrapper
#
# `implements` names the architecture of ours the peer is compared with, `package` the
# PyPI distribution it comes from.
class Peer(MemoryLanguageModel):
    implements = ''
    package = ''

    # Deriving from our base class gives every peer `generate` and the token checks, so the
    # trainer's final sample and validation run on a peer unchanged.
    def __init__(self, sizes: Sizes):
        super().__init__(sizes.vocab_size)
        self.sizes = sizes


def _import(module: str, package: str):
    # Import a peer's module, turning any failure into a reason the table can print. Not
    # only `ImportError`: a package built against another torch can fail with anything
    # while importing, and that too is a reason it cannot run here.
    try:
        return importlib.import_module(module)
    except Exception as error:  # ImportError, or an import-time error inside the peer
        raise PeerUnavailable(f"{package} does not import: {type(error).__name__}: {error}") from None


def _import_labml_nn(module: str):
    # labml_nn's attention calls `labml.tracker.debug`, which labml 0.5 removed. A no-op in
    # its place is all it needs; we add it only if it is missing, so nothing else changes.
    from labml import tracker
    if not hasattr(tracker, 'debug'):
        tracker.debug = lambda *args, **kwargs: None
    return _import(module, 'labml-nn')


def _require_ff_mult_4(sizes: Sizes, package: str) -> None:
    # lucidrains' compressive transformer fixes the feed-forward width at $4 d$.
    # Anything else would compare a peer of another width, so it is refused, not rounded.
    if sizes.d_ff != 4 * sizes.d_model:
        raise PeerUnavailable(f"{package} fixes the feed-forward width at 4*d_model = "
                              f"{4 * sizes.d_model}; this configuration asks for d_ff={sizes.d_ff}")


# ## x-transformers with memory (Transformer-XL)
#
# `TransformerWrapper(max_mem_len=M)` returns, with `return_mems=True`, each layer's hidden
# states, already concatenated with the old ones, cut to the last $M$ and detached: the
# Transformer-XL memory. Positions are rotary (x-transformers' recommended relative scheme;
# it has no Transformer-XL four-term attention) and attention runs on PyTorch's fused kernel.
class XTransformersXL(Peer):
    implements = 'transformer_xl'
    package = 'x-transformers'

    def __init__(self, sizes: Sizes):
        super().__init__(sizes)
        xt = _import('x_transformers', self.package)
        # `ff_mult` sets the feed-forward width as a multiple of $d$ (here $512 / 128 = 4$);
        # `max_seq_len` only sizes position tables, which rotary positions do not use;
        # `attn_flash=True` routes attention through `F.scaled_dot_product_attention`, the
        # same fused kernel ours use, so neither side is slowed by a hand-written softmax.
        self.net = xt.TransformerWrapper(
            num_tokens=sizes.vocab_size, max_seq_len=sizes.seq_len, max_mem_len=sizes.mem_len,
            attn_layers=xt.Decoder(dim=sizes.d_model, depth=sizes.n_layers, heads=sizes.heads,
                                   ff_mult=sizes.d_ff / sizes.d_model, rotary_pos_emb=True,
                                   attn_flash=True))

    def forward(self, tokens, memory: Optional[PeerMemory] = None) -> ModelOutput:
        # x-transformers' memory is already a batch-first list, one `[B, M, D]` per layer.
        mems = memory.parts if memory is not None else None
        logits, mems = self.net(tokens, mems=mems, return_mems=True)
        return ModelOutput(logits, PeerMemory(list(mems)), {})


# ## labml_nn's Transformer-XL
#
# labml_nn ships the layers but its model wrapper lives in `experiment.py`, which imports
# torchvision and does not load here; so the embedding, the output layer, the mask and the
# memory update are written below from the paper, around labml_nn's `TransformerXL`.
# labml_nn is sequence-first (`[seq, batch, d]`), hence the transposes.
class LabmlNNXL(Peer):
    implements = 'transformer_xl'
    package = 'labml-nn'

    def __init__(self, sizes: Sizes):
        super().__init__(sizes)
        xl = _import_labml_nn('labml_nn.transformers.xl')
        ff = _import_labml_nn('labml_nn.transformers.feed_forward')
        # One layer is built and `TransformerXL` clones it `n_layers` times. Its relative
        # attention learns a table of position embeddings for $2^{12}$ distances per layer,
        # which is why it has several times the parameters of the others at the same $d$
        # (most of them are never touched by a 128-key context).
        layer = xl.TransformerXLLayer(
            d_model=sizes.d_model,
            self_attn=xl.RelativeMultiHeadAttention(sizes.heads, sizes.d_model, 0.0),
            feed_forward=ff.FeedForward(sizes.d_model, sizes.d_ff, 0.0), dropout_prob=0.0)
        # The wrapper's own layers, as in the paper: a token embedding in, a linear layer out
        # (labml_nn's `TransformerXL` ends with a layer norm, so no extra norm is needed).
        self.embed = nn.Embedding(sizes.vocab_size, sizes.d_model)
        self.transformer = xl.TransformerXL(layer, sizes.n_layers)
        self.head = nn.Linear(sizes.d_model, sizes.vocab_size)

    @staticmethod
    def mask(q_len: int, mem_len: int, device) -> torch.Tensor:
        # `[L, M + L, 1]`: every query sees the whole memory and the segment up to itself.
        return torch.ones(q_len, mem_len + q_len, device=device).tril(mem_len).bool()[..., None]

    # The peer's layers return each layer's input for this segment (detached); appending it
    # to the memory and cutting it to $M$ is the part its experiment file used to do.
    def forward(self, tokens, memory: Optional[PeerMemory] = None) -> ModelOutput:
        # Stored batch-first `[B, M, D]`, used sequence-first `[M, B, D]`.
        mem = [m.transpose(0, 1) for m in memory.parts] if memory is not None else []
        x = self.embed(tokens.t())                                    # [L, B, D]
        mask = self.mask(x.shape[0], mem[0].shape[0] if mem else 0, x.device)
        # labml_nn reads an empty list as "no memory", which is what the first segment has.
        h, new = self.transformer(x, mem, mask)
        # The memory update of the paper: append this segment's layer inputs, keep the last $M$.
        merged = [torch.cat((m, n), 0)[-self.sizes.mem_len:] for m, n in zip(mem, new)] if mem else \
            [n[-self.sizes.mem_len:] for n in new]
        return ModelOutput(self.head(h).transpose(0, 1),
                           PeerMemory([m.transpose(0, 1) for m in merged]), {})


# ## lucidrains' Compressive Transformer
#
# `forward(x, memories)` returns the logits, a `Memory(mem, compressed_mem)` of stacked
# per-layer tensors `[layers, B, len, D]`, and the attention-reconstruction loss, which we
# pass on as an auxiliary loss like our own. Two things to know when reading its numbers:
# its positions are a learned table per head (not Transformer-XL's sinusoids), and in
# training its reconstruction step calls `to_kv.weight.detach_()`, which permanently stops
# the key/value projection from learning; the backward pass is therefore a little cheaper
# than a correct one (the pitfall is described in the project's fact sheet).
class LucidrainsCompressive(Peer):
    implements = 'compressive'
    package = 'compressive-transformer-pytorch'

    def __init__(self, sizes: Sizes):
        super().__init__(sizes)
        ct = _import('compressive_transformer_pytorch', self.package)
        # Configurations it cannot express are refused here, with the reason, before any
        # weight is allocated.
        _require_ff_mult_4(sizes, self.package)
        if sizes.mem_len < sizes.seq_len:
            # Its own assertion, turned into a reason before it could fire.
            raise PeerUnavailable(f"{self.package} needs mem_len >= seq_len, got mem_len="
                                  f"{sizes.mem_len} < seq_len={sizes.seq_len}")
        # GRU-gated residuals are its default; ours are plain residuals, so we switch them off.
        self.net = ct.CompressiveTransformer(
            num_tokens=sizes.vocab_size, dim=sizes.d_model, seq_len=sizes.seq_len,
            depth=sizes.n_layers, heads=sizes.heads, mem_len=sizes.mem_len,
            cmem_len=sizes.compressed_len, cmem_ratio=sizes.compression_rate,
            gru_gated_residual=False)

    def forward(self, tokens, memory: Optional[PeerMemory] = None) -> ModelOutput:
        # `None` on the first segment: the peer then starts from empty memories itself.
        memories = None
        if memory is not None:
            # Kept as one `[B, len, D]` tensor per layer; the peer wants them stacked by layer.
            n = self.sizes.n_layers
            memories = (torch.stack(memory.parts[:n]), torch.stack(memory.parts[n:]))
        logits, mem, aux = self.net(tokens, memories)
        # Unstacked again into per-layer tensors; the loss is a one-element tensor, made a scalar.
        return ModelOutput(logits, PeerMemory(list(mem.mem) + list(mem.compressed_mem)),
                           {'compression': aux.reshape(())})


# ## labml_nn's Compressive Transformer
#
# As with its Transformer-XL, only the layers, the convolution $f_c$ and the
# attention-reconstruction loss import; the memory bookkeeping of Algorithm 1 is written
# here: append the segment's layer inputs to $m$; when $m$ is longer than $M$, the oldest
# $c \lceil (|m| - M) / c \rceil$ are compressed by $f_c$ and appended to $\mathit{cm}$, which keeps
# its last $M_c$. The loss compares attention over the memories being compressed with
# attention over their compression, as labml_nn's experiment does.
class LabmlNNCompressive(Peer):
    implements = 'compressive'
    package = 'labml-nn'

    def __init__(self, sizes: Sizes):
        super().__init__(sizes)
        ct = _import_labml_nn('labml_nn.transformers.compressive')
        xl = _import_labml_nn('labml_nn.transformers.xl')
        ff = _import_labml_nn('labml_nn.transformers.feed_forward')
        layer = ct.CompressiveTransformerLayer(
            d_model=sizes.d_model,
            self_attn=xl.RelativeMultiHeadAttention(sizes.heads, sizes.d_model, 0.0),
            feed_forward=ff.FeedForward(sizes.d_model, sizes.d_ff, 0.0), dropout_prob=0.0,
            compress=ct.Conv1dCompression(sizes.compression_rate, sizes.d_model))
        self.embed = nn.Embedding(sizes.vocab_size, sizes.d_model)
        self.transformer = ct.CompressiveTransformer(layer, sizes.n_layers)
        self.head = nn.Linear(sizes.d_model, sizes.vocab_size)
        # labml_nn's loss object: it re-runs each layer's attention with detached weights.
        self.reconstruction = ct.AttentionReconstructionLoss(self.transformer.layers)

    def forward(self, tokens, memory: Optional[PeerMemory] = None) -> ModelOutput:
        n = self.sizes.n_layers
        # The list holds the $N$ memories, then the $N$ compressed memories (possibly empty).
        parts = [p.transpose(0, 1) for p in memory.parts] if memory is not None else []
        mem, c_mem = parts[:n], parts[n:]
        x = self.embed(tokens.t())                                    # [L, B, D]
        # Every query sees all of the compressed memory and the memory, then its own past.
        known = (mem[0].shape[0] if mem else 0) + (c_mem[0].shape[0] if c_mem else 0)
        mask = LabmlNNXL.mask(x.shape[0], known, x.device)
        h, new = self.transformer(x, mem, c_mem or None, mask)
        # $m \leftarrow [m \circ h]$: the segment's layer inputs join the memory first.
        mem = [torch.cat((m, s), 0) for m, s in zip(mem, new)] if mem else list(new)
        losses = {}
        excess = mem[0].shape[0] - self.sizes.mem_len
        if excess > 0:
            rate = self.sizes.compression_rate
            # Whole groups of $c$: round the overflow *up* (labml_nn's choice; ours rounds
            # down and keeps the remainder one segment longer).
            n_old = -(-excess // rate) * rate
            old = [m[:n_old] for m in mem]
            mem = [m[n_old:] for m in mem]
            # $\texttt{new\_cm} = f_c(\texttt{old\_mem})$, with each layer's own convolution,
            # then $\mathit{cm} \leftarrow [\mathit{cm} \circ \texttt{new\_cm}]$ cut to its last $M_c$.
            fresh = [layer.compress(o) for layer, o in zip(self.transformer.layers, old)]
            c_mem = [torch.cat((c, f), 0) for c, f in zip(c_mem, fresh)] if c_mem else fresh
            c_mem = [c[-self.sizes.compressed_len:] for c in c_mem]
            # Only in training, like ours: evaluation never pays for the compression loss.
            if self.training:
                losses['compression'] = self.reconstruction(new, old)
        # The compressed memory is stored detached, like the memory; $f_c$ learns from the loss.
        parts = [m.detach().transpose(0, 1) for m in mem + c_mem]
        return ModelOutput(self.head(h).transpose(0, 1), PeerMemory(parts), losses)


# ## lucidrains' Infini-attention
#
# `forward(x, past_memories, return_new_memories=True)` returns the logits and, per layer,
# the fast-weight memory $(\mathcal{M}, z)$. Its feed-forward network is gated (GLU, hidden width
# $\frac{2}{3} \cdot$ `ff_mult` $\cdot d$), its norms are RMSNorm and its local attention
# is rotary; the memory is not detached here, because our trainer detaches every model's
# memory after the optimiser step.
class LucidrainsInfini(Peer):
    implements = 'infini_attention'
    package = 'infini-transformer-pytorch'

    def __init__(self, sizes: Sizes):
        super().__init__(sizes)
        it = _import('infini_transformer_pytorch', self.package)
        # `dim_head` is $d_k = d / H$ like ours (its default, 128, would make the heads wider
        # than the model); `ff_mult` gives the GLU's nominal width the same $4d$.
        self.net = it.InfiniTransformer(
            num_tokens=sizes.vocab_size, dim=sizes.d_model, depth=sizes.n_layers,
            dim_head=sizes.d_model // sizes.heads, heads=sizes.heads,
            ff_mult=sizes.d_ff / sizes.d_model)

    def forward(self, tokens, memory: Optional[PeerMemory] = None) -> ModelOutput:
        # As with the other peers, `None` means the start of a stream and an empty memory.
        past = None
        if memory is not None:
            # Unflatten `[M_1, z_1, M_2, z_2, ...]` into the peer's per-layer pairs.
            past = [(memory.parts[i], memory.parts[i + 1]) for i in range(0, len(memory.parts), 2)]
        # `return_new_memories=True` makes every call, even a single token, update $(\mathcal{M}, z)$.
        out = self.net(tokens, past_memories=past, return_new_memories=True)
        logits, new = out[0], out[2]
        return ModelOutput(logits, PeerMemory([t for pair in new for t in pair]), {})


# ## lucidrains' Recurrent Memory Transformer
#
# `forward(x, read_memories)` returns the logits, the write block's outputs (the next read
# memories) and, by default, Transformer-XL memories as well. Set to match ours: no XL cache
# (`use_xl_memories=False`), one residual stream (its default of four hyper-connection streams
# is a later idea, not the paper's), rotary positions instead of its absolute table, and its
# `memory_not_causal` mask, which is the same rule as our default `mask='memory'`. What stays
# its own: a GEGLU feed-forward and RMSNorm; a learned positional vector added to the read
# memories; the write block fed a *learned constant* rather than the incoming memory; a learned
# "null" key and value in every head, which any query may attend to; and a gated "value
# residual" from the first layer's values into every later layer's. `use_flash_attn=True`
# sends its attention through `F.scaled_dot_product_attention`, the kernel ours use.
class LucidrainsRMT(Peer):
    implements = 'recurrent_memory'
    package = 'recurrent-memory-transformer-pytorch'

    def __init__(self, sizes: Sizes):
        super().__init__(sizes)
        rmt = _import('recurrent_memory_transformer_pytorch', self.package)
        self.net = rmt.RecurrentMemoryTransformer(
            sizes.d_model, num_tokens=sizes.vocab_size, depth=sizes.n_layers,
            num_memory_tokens=sizes.n_mem, seq_len=sizes.seq_len, heads=sizes.heads,
            dim_head=sizes.d_model // sizes.heads, ff_mult=sizes.d_ff / sizes.d_model,
            use_flash_attn=True, abs_pos_emb=False, rotary_pos_emb=True, use_xl_memories=False,
            num_residual_streams=1)

    def forward(self, tokens, memory: Optional[PeerMemory] = None) -> ModelOutput:
        # `None` on the first segment: the peer then reads its learned initial memory.
        read = memory.parts[0] if memory is not None else None
        logits, written, _ = self.net(tokens, read)
        # The write block's outputs, `[B, m, D]`, kept differentiable; the trainer detaches.
        return ModelOutput(logits, PeerMemory([written]), {})


# ## lucidrains' Memorizing Transformers
#
# `memorizing-transformers-pytorch` requires `faiss-gpu` (which would install over our
# `faiss-cpu`, with four CUDA libraries) and imports `einops_exts` without declaring it, so
# it is not in the `bench` extra; install it with
# `pip install --no-deps memorizing-transformers-pytorch einops-exts joblib cloudpickle`.
# Its kNN memory is not a tensor but an object beside the model (faiss HNSW indexes and a
# memory-mapped file on disk, one per stream), which `forward` mutates in place; the adapter
# keeps it and empties it when a stream starts (`memory=None`). Its design differs from the
# paper and from ours in ways that change the arithmetic, so read its row as "a port of the
# paper", not "the same model": one key/value head shared by all query heads (multi-query),
# cosine attention with a learned temperature in every layer, T5 relative position buckets,
# one softmax over the retrieved and the local keys together instead of a gate, keys entering
# the kNN memory only once they leave the XL cache, and, when the table is full, the whole
# index cleared rather than the oldest entries evicted. The state reported is the XL caches
# plus the table file at its full size, which the port allocates up front.
class LucidrainsMemorizing(Peer):
    implements = 'memorizing_transformer'
    package = 'memorizing-transformers-pytorch'

    def __init__(self, sizes: Sizes):
        super().__init__(sizes)
        mt = _import('memorizing_transformers_pytorch', self.package)
        import tempfile
        # Its feed-forward width is an integer multiple of $d$; any other width is refused.
        if sizes.d_ff % sizes.d_model:
            raise PeerUnavailable(f"{self.package} takes the feed-forward width as an integer "
                                  f"multiple of d_model={sizes.d_model}; got d_ff={sizes.d_ff}")
        # Its memories live in files; a folder of our own keeps runs from sharing them.
        self.folder = tempfile.mkdtemp(prefix='memorizing_port_')
        # Layers are numbered from 1 there: the second from the top, as our `knn_layer`.
        self.net = mt.MemorizingTransformer(
            num_tokens=sizes.vocab_size, dim=sizes.d_model, depth=sizes.n_layers,
            dim_head=sizes.d_model // sizes.heads, heads=sizes.heads,
            ff_mult=sizes.d_ff // sizes.d_model, memorizing_layers=(max(1, sizes.n_layers - 1),),
            max_knn_memories=sizes.knn_size, num_retrieved_memories=sizes.top_k,
            xl_max_memories=sizes.mem_len, knn_memories_directory=self.folder)
        self.knn, self.batch = None, None

    def forward(self, tokens, memory: Optional[PeerMemory] = None) -> ModelOutput:
        batch = tokens.shape[0]
        # A new stream (or a new batch size): fresh, empty kNN memories.
        if memory is None or self.knn is None or self.batch != batch:
            self.knn = self.net.create_knn_memories(batch_size=batch)
            self.batch = batch
        xl = memory.parts[:-1] if memory is not None else None
        logits, xl = self.net(tokens, self.knn, xl_memories=xl or None)
        # The port's table, `[B, C, 2, d_k]`, viewed as a tensor so its bytes are counted.
        table = torch.from_numpy(self.knn[0].db)
        return ModelOutput(logits, PeerMemory([*xl, table]), {})


# ## The registry of peers
#
# Name to class; the benchmark iterates over it in this order.
# Two peers implement Transformer-XL and two the Compressive Transformer, so each of those
# comparisons is against the faster of two independent ports.
PEERS: Dict[str, Callable[[Sizes], Peer]] = {
    'xtransformers_xl': XTransformersXL,
    'labml_nn_xl': LabmlNNXL,
    'lucidrains_compressive': LucidrainsCompressive,
    'labml_nn_compressive': LabmlNNCompressive,
    'lucidrains_infini': LucidrainsInfini,
    'lucidrains_rmt': LucidrainsRMT,
    'lucidrains_memorizing': LucidrainsMemorizing,
}


# A wrong name is a programming error, not an absent package, so it is a `ValueError`
# listing the valid names rather than a row in the table.
def build_peer(name: str, sizes: Sizes) -> Peer:
    """Build a peer by name; `PeerUnavailable` says why one cannot be built."""
    if name not in PEERS:
        raise ValueError(f"unknown peer {name!r}; valid peers: {sorted(PEERS)}")
    return PEERS[name](sizes)
