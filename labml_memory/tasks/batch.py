r"""
# A synthetic task's batch

What every task hands to the [segment-by-segment loop](../training/synthetic.py): four
tensors of one shape, and a sampler that draws them. It lives with the tasks, below the
trainer, so a task is written without knowing how it will be trained.
"""
from typing import Callable, NamedTuple

import torch


# ## The batch
#
# A named tuple of four tensors of the same shape, so a task can build it with plain tensor
# operations and the loop can move it to a device in one call. Targets are kept next to the
# inputs rather than derived inside the loop, because a task knows best where its answer
# sits and which positions are noise.
class SyntheticBatch(NamedTuple):
    r"""
    One batch of a synthetic task. `inputs` and `targets` are `[batch, T]`, the targets being
    the inputs shifted by one; `loss_mask` and `score_mask` are boolean `[batch, T]`.
    """
    inputs: torch.Tensor
    targets: torch.Tensor
    loss_mask: torch.Tensor
    score_mask: torch.Tensor

    def to(self, device) -> 'SyntheticBatch':
        return SyntheticBatch(*(t.to(device) for t in self))


# A task is nothing more than a function. It receives the random-number generator rather
# than using the global one, so a training run and its evaluation batches can be reproduced
# independently of each other, and two models see identical evaluation texts.
# A task: `sample(batch_size, length, generator)` → a batch whose inputs are `length` long.
Sampler = Callable[[int, int, torch.Generator], SyntheticBatch]
