r"""
# One protocol for every memory model

Every architecture on this site is a character-level language model that reads a long text
one *segment* at a time and carries something from each segment to the next. They differ
in what they carry; the way they are called is the same:

```python
logits, memory, losses = model(tokens, memory)
```

* `tokens` is one segment, `[batch, seq]` integer ids;
* `memory` is whatever the architecture carries over: `None` at the start of a stream,
  afterwards the state the previous call returned. Transformer-XL carries cached layer
  inputs, the Compressive Transformer those plus a compressed memory, the ∞-former basis
  coefficients, Infini-attention a matrix and a normaliser per head;
* `logits` are next-token scores, `[batch, seq, vocab]`;
* `losses` holds the architecture's auxiliary losses by name (attention reconstruction,
  KL regularisation, …); the trainer adds them to the language-model loss and tracks each
  one separately. It is empty for models that have none.

Because every model honours this one call, one trainer, one sampler, one benchmark and one
test suite serve them all.

Each memory is a small typed object, a subclass of `MemoryState`. It knows its tensors, so
it can report its own size in bytes (the number the results page compares), move between
devices and be saved in a checkpoint. Each architecture decides where gradients stop: its
state is detached where its paper stops them, and its page says where that is.
"""

import dataclasses
from typing import Dict, List, NamedTuple, Optional

import torch
from torch import nn

# The building blocks own the lists of valid choices that `check_stack` below enforces.
from labml_memory.attention import check_heads
from labml_memory.feed_forward import ACTIVATIONS
from labml_memory.residual import NORM_PLACEMENTS


class MemoryState:
    r"""
    The base of every architecture's memory. Subclasses are dataclasses whose fields are
    tensors, or lists of tensors (one per layer); everything else here follows from that.
    """

    def tensors(self) -> List[torch.Tensor]:
        """Every tensor the state holds, flattened into one list."""
        # Walk the dataclass fields rather than ask each subclass to list its tensors: a
        # field added later is then counted in `nbytes` and saved in checkpoints by itself.
        found = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, torch.Tensor):
                found.append(value)
            elif isinstance(value, (list, tuple)):
                found.extend(v for v in value if isinstance(v, torch.Tensor))
        return found

    # ### The size of a memory
    #
    # The number the results page compares across architectures: Transformer-XL's state
    # grows with memory length × layers, the Compressive Transformer's with its two lengths,
    # while the ∞-former's and Infini-attention's stay fixed however long the text.
    def nbytes(self) -> int:
        """The size of the state in bytes: what the model must keep between segments."""
        return sum(t.numel() * t.element_size() for t in self.tensors())

    def _map(self, fn) -> 'MemoryState':
        # Apply `fn` to every tensor, keeping the structure (and any non-tensor fields).
        changes = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, torch.Tensor):
                changes[field.name] = fn(value)
            elif isinstance(value, (list, tuple)):
                changes[field.name] = type(value)(fn(v) if isinstance(v, torch.Tensor) else v
                                                  for v in value)
        return dataclasses.replace(self, **changes)

    # ### Stopping gradients, moving, selecting
    #
    # All three rebuild the state with every tensor transformed and every other field kept,
    # so an architecture gets them for free.
    def detach(self) -> 'MemoryState':
        """A copy that no gradient flows through, for a stop-gradient at the segment boundary."""
        return self._map(lambda t: t.detach())

    def to(self, device) -> 'MemoryState':
        return self._map(lambda t: t.to(device))

    def select(self, index: torch.Tensor) -> 'MemoryState':
        """Keep only some streams of the batch (the batch is the first axis everywhere)."""
        return self._map(lambda t: t[index])


# ## The return value
#
# A named tuple rather than a plain one, so code may write `out.logits` where that reads
# better, while `logits, memory, losses = model(tokens, memory)` still works everywhere.
class ModelOutput(NamedTuple):
    """What every model returns; a named tuple, so it unpacks as `logits, memory, losses`."""
    logits: torch.Tensor
    memory: Optional[MemoryState]
    losses: Dict[str, torch.Tensor]


# ## Checks every stack shares
#
# Every architecture is a stack of `n_layers` layers of attention over `heads` heads and a
# feed-forward block of width `d_ff`, each wrapped in a residual connection with a layer norm
# and dropout. The settings of that stack are checked here, once for every model, before any
# weight is made, so a bad one fails with one line naming the value and what would be valid
# rather than deep inside a layer, and every model fails alike:
#
# * the heads must divide the model width, $d_k = d / H$ (the message lists the head
#   counts that would);
# * no layers, an empty feed-forward block, or a dropout of 1 (every activation dropped)
#   would build a model that cannot learn;
# * the norm placement and the activation must be ones the building blocks provide.
#
# The positions add one constraint of their own. A sinusoid table of relative positions
# (Transformer-XL and the models built on it, the ∞-former) needs an even model width, one
# sine and one cosine per frequency; a rotary encoding (Infini-attention, the RMT) rotates
# pairs of coordinates inside each head, so it needs an even head width instead.
POSITIONS = ('sinusoid', 'rotary')


def check_stack(d_model: int, heads: int, n_layers: int, d_ff: int, dropout: float,
                norm: str = 'pre', activation: str = 'gelu', positions: str = 'sinusoid') -> int:
    """Check the settings every stack shares; returns the width of one head, $d_k$."""
    if positions not in POSITIONS:
        raise ValueError(f"unknown positions {positions!r}; valid: {list(POSITIONS)}")
    d_k = check_heads(d_model, heads)
    if positions == 'sinusoid' and d_model % 2 != 0:
        raise ValueError(f"d_model must be even for the sinusoid table, got {d_model}")
    if positions == 'rotary' and d_k % 2 != 0:
        raise ValueError(f"the rotary encoding needs an even head width, but d_model={d_model} / "
                         f"heads={heads} = {d_k}; choose heads so that d_model / heads is even")
    if not isinstance(n_layers, int) or n_layers <= 0:
        raise ValueError(f"n_layers must be a positive integer, got {n_layers!r}")
    if d_ff <= 0:
        raise ValueError(f"d_ff must be positive, got {d_ff}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
    if norm not in NORM_PLACEMENTS:
        raise ValueError(f"unknown norm placement {norm!r}; valid: {list(NORM_PLACEMENTS)}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; valid: {sorted(ACTIVATIONS)}")
    return d_k


class MemoryLanguageModel(nn.Module):
    r"""
    The base class of every architecture. It checks inputs the same way everywhere and
    provides generation with memory; subclasses implement `forward`.
    """

    def __init__(self, vocab_size: int):
        super().__init__()
        if not isinstance(vocab_size, int) or vocab_size <= 0:
            raise ValueError(f"vocab_size must be a positive integer, got {vocab_size!r}")
        self.vocab_size = vocab_size

    # ### Checking the input
    #
    # Out-of-range ids would otherwise surface as an index error inside the embedding (or,
    # on a GPU, as an unrelated device-side assert much later), and a `[seq]` tensor with the
    # batch axis missing would be silently read as a batch of one-token segments.
    def check_tokens(self, tokens: torch.Tensor) -> None:
        """Fail early, naming the bad value, for input no model could read."""
        if not isinstance(tokens, torch.Tensor):
            raise TypeError(f"tokens must be a torch.Tensor, got {type(tokens).__name__}")
        if tokens.dtype not in (torch.long, torch.int32, torch.int16, torch.uint8):
            raise TypeError(f"tokens must hold integer ids (torch.long), got dtype {tokens.dtype}")
        if tokens.dim() != 2 or tokens.shape[1] == 0:
            raise ValueError(f"tokens must have shape [batch, seq] with seq >= 1, "
                             f"got shape {tuple(tokens.shape)}")
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.vocab_size):
            raise ValueError(f"token ids must lie in [0, {self.vocab_size}), got values from "
                             f"{int(tokens.min())} to {int(tokens.max())}")

    @torch.no_grad()
    def generate(self, prompt: torch.Tensor, length: int, segment_len: int,
                 temperature: float = 1.0, memory: Optional[MemoryState] = None,
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
        r"""
        Continue each prompt by `length` tokens, sampling with memory.

        The prompt, `[batch, seq]`, is read in segments of `segment_len`, exactly as in
        training, so the memory is built the way the model learned to use it. Then the model
        is fed one token at a time: each call sees only the newest token plus its memory, so
        the cost per token stays constant however long the text grows. That is the point of
        a recurrent memory, and it is also what the token-by-token test checks.
        """
        if length < 0 or segment_len <= 0:
            raise ValueError(f"length must be >= 0 and segment_len > 0, got {length}, {segment_len}")
        self.check_tokens(prompt)
        # Read the prompt segment by segment; only the last segment's logits are needed.
        logits = None
        for start in range(0, prompt.shape[1], segment_len):
            logits, memory, _ = self(prompt[:, start:start + segment_len], memory)
        # Sample from the temperature-scaled distribution of the last position, feed the
        # sample back with the memory, repeat.
        out = []
        for _ in range(length):
            probs = (logits[:, -1] / max(temperature, 1e-6)).softmax(-1)
            nxt = torch.multinomial(probs, 1, generator=generator)
            out.append(nxt)
            logits, memory, _ = self(nxt, memory)
        return torch.cat(out, dim=1) if out else prompt.new_zeros(prompt.shape[0], 0)
