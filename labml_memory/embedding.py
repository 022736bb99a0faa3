r"""
# Token embedding and output head

The two ends of every language model here. Characters come in as integer ids and leave as
a score (logit) for each possible next character; the memory machinery lives in between.
"""

import math

import torch
from torch import nn


class TokenEmbedding(nn.Module):
    r"""
    A lookup table from token ids to vectors, scaled by $\sqrt{d_{model}}$.

    The scaling follows the Transformer and the Transformer-XL code: embeddings start small
    (standard deviation $0.02$) and the factor brings them to the scale of the rest of the
    residual stream, so the first layers are not dominated by their own biases.
    """

    def __init__(self, vocab_size: int, d_model: int):
        super().__init__()
        if vocab_size <= 0 or d_model <= 0:
            raise ValueError(f"vocab_size and d_model must be positive; got {vocab_size}, {d_model}")
        self.embed = nn.Embedding(vocab_size, d_model)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.scale = math.sqrt(d_model)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        # `[batch, seq]` → `[batch, seq, d_model]`
        return self.embed(tokens) * self.scale


class OutputHead(nn.Module):
    r"""
    The stream's last value becomes next-token logits, $\mathrm{logits} = \mathrm{LN}(x) W_{out}$.

    `final_norm` must be on for pre-LN models, whose stream is never normalised after the
    last residual addition (see [residual connections](residual.py)); post-LN models have
    already normalised it and leave it off.
    """

    def __init__(self, d_model: int, vocab_size: int, final_norm: bool = True):
        super().__init__()
        self.norm = nn.LayerNorm(d_model) if final_norm else nn.Identity()
        self.project = nn.Linear(d_model, vocab_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # `[batch, seq, d_model]` → `[batch, seq, vocab_size]`
        return self.project(self.norm(x))
