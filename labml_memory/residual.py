r"""
# Residual connections: pre-LN and post-LN

Each sub-layer (attention, feed-forward) sits on a residual stream, and a layer norm keeps
the stream's scale in check. Where the norm goes is one of the most consequential small
choices in a transformer, so every model here makes it an option.

**Post-LN**, as in the original Transformer and in the Transformer-XL and Compressive
Transformer papers, normalises *after* adding:

$$x \leftarrow \mathrm{LN}\big(x + \mathrm{Sublayer}(x)\big)$$

**Pre-LN** normalises only what the sub-layer reads and leaves the stream itself untouched:

$$x \leftarrow x + \mathrm{Sublayer}\big(\mathrm{LN}(x)\big)$$

With pre-LN the gradient has an identity path from the loss to every layer, so training is
stable without a long learning-rate warm-up ([Xiong et al., 2020](https://arxiv.org/abs/2002.04745)).
That matters for our experiments, which train for minutes, not days; pre-LN is therefore our
default, and post-LN is there to reproduce the papers. A pre-LN model needs one last norm
before the output head, because nothing else normalises the stream's final value; the
[output head](embedding.py) adds it.

Memory models complicate the picture in one way: the attention sub-layer reads the current
segment *and* the memory. Under pre-LN both must pass through the same norm, so the wrapper
exposes the two halves of its work separately: `prepare` (what the sub-layer reads) and
`combine` (how its output rejoins the stream).
"""

from typing import Callable

import torch
from torch import nn

# The two placements a configuration may name.
NORM_PLACEMENTS = ('pre', 'post')


class Residual(nn.Module):
    r"""
    One residual connection with its layer norm and the dropout applied to the sub-layer's
    output before it is added.
    """

    def __init__(self, d_model: int, norm: str = 'pre', dropout: float = 0.0):
        super().__init__()
        if norm not in NORM_PLACEMENTS:
            raise ValueError(f"unknown norm placement {norm!r}; valid: {list(NORM_PLACEMENTS)}")
        self.pre = norm == 'pre'
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        r"""What the sub-layer reads: $\mathrm{LN}(x)$ under pre-LN, $x$ itself under post-LN."""
        return self.norm(x) if self.pre else x

    def combine(self, x: torch.Tensor, sublayer_out: torch.Tensor) -> torch.Tensor:
        r"""Add the sub-layer's output to the stream; post-LN normalises the sum."""
        y = x + self.dropout(sublayer_out)
        return y if self.pre else self.norm(y)

    def forward(self, x: torch.Tensor, sublayer: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        # The common case, a sub-layer that reads only the stream (the feed-forward network).
        return self.combine(x, sublayer(self.prepare(x)))
