r"""
# Counting the floating-point operations of a training step

PyTorch's `FlopCounterMode` counts the matrix products of a forward and backward pass from
their shapes: `2·m·n·k` for an `m × k` by `k × n` product, including batched products,
convolutions and attention. It cannot see inside the fused CPU attention kernel, so for the
count (and only for it) attention is forced onto PyTorch's *math* path, which spells it out
as products; that counts every entry of the score matrix, masked or not, which is what a
dense kernel computes. Element-wise work (softmax, norms, activations, gradient clipping, the
optimiser) is not counted: the [share](matmul_yardstick.py) is of matmul throughput, and
element-wise work is what keeps a small model below it.

The loss is the [trainer](../training/__init__.py)'s: the language-model cross-entropy plus
every auxiliary loss the model returns, so the counted work is the work of the timed step.
"""
import torch
import torch.nn.functional as F


def count_step_flops(model, optimizer, inputs, targets, memory) -> int:
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode
    # A separate step, never timed: counting slows every operation down.
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        logits, _, losses = model(inputs, memory)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        loss = loss + sum(losses.values(), torch.zeros(()))
        loss.backward()
    # The gradients are thrown away and no optimiser step is taken: the counted step must not
    # change the model.
    optimizer.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())
