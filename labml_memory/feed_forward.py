r"""
# Position-wise feed-forward network

The second sub-layer of every transformer block here: the same two-layer network applied
to each position independently,

$$\mathrm{FFN}(x) = W_2 \, \phi(W_1 x + b_1) + b_2,$$

widening the model from $d_{model}$ to $d_{ff}$ (usually four times wider) and back.
Attention mixes information *between* positions; this network transforms what each
position holds. Roughly two thirds of a block's parameters live here.

The papers of this family use ReLU ($\phi$); we default to GELU, which trains a little
better at the small scale of our experiments, and keep ReLU as an option so the original
can be reproduced.
"""

import torch
from torch import nn

# The activations a configuration may name.
ACTIVATIONS = {'relu': nn.ReLU, 'gelu': nn.GELU}


class FeedForward(nn.Module):
    r"""
    `d_model` is the width of the stream, `d_ff` the hidden width, `dropout` applies to the
    hidden activations (the official Transformer-XL code drops there and again after $W_2$;
    the residual wrapper does the second).
    """

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0, activation: str = 'gelu'):
        super().__init__()
        if d_model <= 0 or d_ff <= 0:
            raise ValueError(f"widths must be positive; got d_model={d_model}, d_ff={d_ff}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; valid: {sorted(ACTIVATIONS)}")
        # $W_1, b_1$: widen
        self.expand = nn.Linear(d_model, d_ff)
        self.activation = ACTIVATIONS[activation]()
        self.dropout = nn.Dropout(dropout)
        # $W_2, b_2$: project back to the stream
        self.contract = nn.Linear(d_ff, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # `[batch, seq, d_model]` → `[batch, seq, d_ff]` → `[batch, seq, d_model]`
        return self.contract(self.dropout(self.activation(self.expand(x))))
