r"""
# Timing generation as the context grows

No gradients, evaluation mode. Each stream's text is read a segment at a time, as in
training, up to each context length in turn; there we time single-token calls that carry
the memory, the way [generation](../protocol.py) runs. A model whose memory has a fixed size
should show a flat line: the point of a memory is that the cost of the next token does not
grow with the text behind it. The [plain transformer](baseline.py), which re-reads its whole
window for every token, is the line that shows what the memory saves.

Generation is timed at two batches: one reader (where a call is a few hundred small
operations, and their overhead decides), and sixteen streams side by side (where the
products grow sixteen-fold and work done per token shows). Each call after the first reads
what the model carries from the call before; ours keep the keys and values of their memory
between calls where the architecture allows (see
[Transformer-XL](../transformer_xl/__init__.py#the-key-and-value-cache-of-generation)), so a
token is projected once.
"""
import time
from typing import Dict, Sequence, Tuple

import torch


# ## The streams of a batch
#
# `batch` streams of at least `length` characters each, cut from the text at evenly spaced
# starts (wrapping round its end), so that every stream reads real text.
def streams_of(text: torch.Tensor, batch: int, length: int) -> torch.Tensor:
    starts = [(i * len(text)) // batch for i in range(batch)]
    doubled = torch.cat([text, text])
    if length > len(text):
        raise ValueError(f"a stream of {length} characters needs a text at least that long; got {len(text)}")
    return torch.stack([doubled[s:s + length] for s in starts])


@torch.no_grad()
def inference_per_token(model, text: torch.Tensor, seq_len: int, contexts: Sequence[int],
                        tokens: int) -> Tuple[Dict[int, float], object]:
    """Seconds per generated token (the call that produces one token for every stream of
    `text`, `[batch, length]` or a single stream `[length]`) after each context length (the
    median of `tokens` calls), and the memory after the longest context."""
    model.eval()
    if text.dim() == 1:
        text = text[None]
    memory, read, times = None, 0, {}
    for context in contexts:
        # Catch up to this context length in whole segments (the last one may be shorter).
        while read < context:
            step = min(seq_len, context - read)
            _, memory, _ = model(text[:, read:read + step], memory)
            read += step
        calls = []
        for i in range(tokens):
            token = text[:, read + i:read + i + 1]
            started = time.perf_counter()
            _, memory, _ = model(token, memory)
            calls.append(time.perf_counter() - started)
        # The timed tokens are part of the text read; the next length starts after them.
        read += tokens
        # The median, because a single call can be hit by a context switch.
        times[context] = sorted(calls)[len(calls) // 2]
    return times, memory
