r"""
# Timing generation as the context grows

One stream, no gradients, evaluation mode. The text is read a segment at a time, as in
training, up to each context length in turn; there we time single-token calls that carry
the memory, the way [generation](../protocol.py) runs. A model whose memory has a fixed size
should show a flat line: the point of a memory is that the cost of the next token does not
grow with the text behind it. The [plain transformer](baseline.py), which re-reads its whole
window for every token, is the line that shows what the memory saves.
"""
import time
from typing import Dict, Sequence, Tuple

import torch


@torch.no_grad()
def inference_per_token(model, text: torch.Tensor, seq_len: int, contexts: Sequence[int],
                        tokens: int) -> Tuple[Dict[int, float], object]:
    """Seconds per generated token after each context length (the median of `tokens`
    calls), and the memory after the longest context."""
    model.eval()
    memory, read, times = None, 0, {}
    for context in contexts:
        # Catch up to this context length in whole segments (the last one may be shorter).
        while read < context:
            step = min(seq_len, context - read)
            _, memory, _ = model(text[None, read:read + step], memory)
            read += step
        calls = []
        for i in range(tokens):
            token = text[None, read + i:read + i + 1]
            started = time.perf_counter()
            _, memory, _ = model(token, memory)
            calls.append(time.perf_counter() - started)
        # The timed tokens are part of the text read; the next length starts after them.
        read += tokens
        # The median, because a single call can be hit by a context switch.
        times[context] = sorted(calls)[len(calls) // 2]
    return times, memory
