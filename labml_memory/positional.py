r"""
# The sinusoid table

Every model here that needs to know *how far apart* two tokens are reads it from one
fixed table of sines and cosines, the one introduced with the original Transformer
([Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)). It has no parameters,
so it extends to any distance, including lengths never seen in training. Transformer-XL
depends on this: it evaluates with a longer memory than it trains with.

For a position (or a distance) $p$ and a channel pair $\kappa$ of a width-$d$ vector:

$$\mathrm{PE}(p, \kappa) = \sin\big(p \,/\, 10000^{2\kappa/d}\big), \qquad
  \mathrm{PE}(p, d/2 + \kappa) = \cos\big(p \,/\, 10000^{2\kappa/d}\big)$$

We lay all the sines first and all the cosines after, as the Transformer-XL code does,
rather than interleaving them. The order of channels does not matter to a model that
projects the table with a learned matrix, which every user of this table does.
"""

import torch


def inverse_frequencies(d_model: int, base: float = 10_000.0) -> torch.Tensor:
    r"""
    The $d/2$ angular frequencies $\theta_\kappa = 1 / 10000^{2\kappa/d}$, from one radian per position down
    to one radian per $10000$ positions: a geometric ladder, so nearby and distant
    positions are both told apart by some channel.
    """
    if d_model <= 0 or d_model % 2 != 0:
        raise ValueError(f"the sinusoid table needs an even, positive width; got d_model={d_model}")
    return 1.0 / (base ** (torch.arange(0, d_model, 2, dtype=torch.get_default_dtype()) / d_model))


def sinusoid_table(positions: torch.Tensor, d_model: int) -> torch.Tensor:
    r"""
    The table for any list of positions (or relative distances), as floats.

    `positions` has shape `[n]`; the result has shape `[n, d_model]`.
    """
    if positions.dim() != 1:
        raise ValueError(f"positions must be a 1-D tensor, got shape {tuple(positions.shape)}")
    inv_freq = inverse_frequencies(d_model).to(positions.device)
    # Outer product: one angle per (position, frequency) pair. `[n, d_model / 2]`
    angles = positions.to(inv_freq.dtype)[:, None] * inv_freq[None, :]
    # Sines first, then cosines. `[n, d_model]`
    return torch.cat([angles.sin(), angles.cos()], dim=-1)
