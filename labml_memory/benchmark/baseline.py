r"""
# The baseline: a plain transformer with the same span

What every memory architecture is measured against: a transformer with no memory at all.
It is our Transformer-XL with `mem_len=0`, trained on segments of $2L$ characters with
half the streams, so a step reads the same characters and a query sees at most $2L = M + L$
characters back, as the last query of a memory model's segment does. In inference it has
no state to carry except the text itself: each new token re-reads the last $2L$
characters in full. That is the cost Transformer-XL's memory was invented to avoid (the
paper's "up to 1,800× faster evaluation" is this comparison at much longer spans), and
the [benchmark](__init__.py)'s inference plot shows it as the line far above the others.
"""
from dataclasses import asdict, dataclass
from typing import Optional, Tuple

import torch

from labml_memory.benchmark.ours import build_ours
from labml_memory.benchmark.peers import Sizes
from labml_memory.protocol import MemoryLanguageModel, MemoryState, ModelOutput

BASELINE = 'plain_transformer'


@dataclass
class WindowMemory(MemoryState):
    # `[batch, window]`: the last characters read, as token ids; nothing else is kept.
    tokens: torch.Tensor


# ## A reader of long text without a memory
#
# The wrapper follows the protocol, so the benchmark times it exactly like the others, and
# its "memory" is the window of raw characters, whose size is reported like any other state.
class SlidingWindow(MemoryLanguageModel):
    def __init__(self, inner: MemoryLanguageModel, window: int):
        super().__init__(inner.vocab_size)
        self.inner, self.window = inner, window

    def forward(self, tokens, memory: Optional[WindowMemory] = None) -> ModelOutput:
        # Training reads whole segments independently, as a plain transformer is trained;
        # evaluation prepends the remembered text and recomputes the whole window.
        context = tokens
        if memory is not None and not self.training:
            context = torch.cat([memory.tokens, tokens], dim=1)[:, -self.window:]
        logits, _, losses = self.inner(context, None)
        # Only the positions of the new tokens are answers to this call.
        kept = WindowMemory(context[:, -self.window:].detach())
        return ModelOutput(logits[:, -tokens.shape[1]:], kept, losses)


# Built through the registry like the rest, from Transformer-XL's experiment with no memory:
# the same layers, attention and positions as ours, so only the memory differs.
def build_baseline(sizes: Sizes) -> SlidingWindow:
    wide = Sizes(**{**asdict(sizes), 'mem_len': 0, 'seq_len': 2 * sizes.seq_len})
    return SlidingWindow(build_ours('transformer_xl', wide), window=2 * sizes.seq_len)


# The segment length and batch the baseline trains with: twice the segment, half the streams.
def baseline_shape(sizes: Sizes) -> Tuple[int, int]:
    return 2 * sizes.seq_len, max(1, sizes.batch_size // 2)
