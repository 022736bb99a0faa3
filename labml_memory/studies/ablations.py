r"""
# What a memory carries: the same model with one part of it removed at evaluation

Two papers add a second memory beside Transformer-XL's cache: the Compressive Transformer its
compressed slots, the ∞-former its continuous long-term signal. A score alone cannot say which
memory did the work. So the studies score the **same trained model twice**: as it is, and with
that part of its state removed before every segment it reads. What the score loses is what the
part carried; what it keeps came through the cache and the segment. Nothing is retrained, so the
comparison is paired by construction (same weights, same texts).

| architecture | what is removed | how |
|---|---|---|
| Compressive Transformer | the compressed memory | every layer's compressed slots cut to none |
| ∞-former | the long-term memory | every layer's coefficients $B$ set to 0, the state of a fresh stream |

Both leave the model a state it has met in training: no compressed slots is how every stream
starts, and $B = 0$ is the ∞-former's empty signal, so the model is not fed anything it never
saw; it is only kept from what that memory wrote. The synthetic tasks read a text with such a
change through `read_in_segments(..., change=...)` of [the loop](../training/synthetic.py).
"""
import dataclasses
from typing import Callable, Dict, Tuple

import torch


def without_compressed(memory):
    """A Compressive Transformer's memory with its compressed slots removed (verbatim kept)."""
    return dataclasses.replace(memory, compressed=[c[:, :0] for c in memory.compressed])


def without_long_term(memory):
    """An ∞-former's memory with its long-term signal zeroed (short-term kept)."""
    return dataclasses.replace(memory, coefficients=[torch.zeros_like(c) for c in memory.coefficients])


# By architecture (its package name): what the removal is called on a page, and the function.
ABLATIONS: Dict[str, Tuple[str, Callable]] = {
    'compressive': ('compressed memory emptied', without_compressed),
    'infinity_former': ('long-term memory zeroed', without_long_term),
}

