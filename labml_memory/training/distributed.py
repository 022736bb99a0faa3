r"""
# Training across processes

The same experiment runs under `torchrun` without a change of code:

```
torchrun --nproc_per_node=2 -m labml_memory.transformer_xl.experiment
```

`torchrun` starts one process per rank and tells each its `RANK`, `WORLD_SIZE` and
`LOCAL_RANK` through the environment. Each rank then

* joins a process group (`gloo` on the CPU, `nccl` on GPUs), and wraps its model in
  `DistributedDataParallel`, which averages gradients across ranks during the backward pass;
* reads **its own streams**: the text is cut into `world_size × batch_size` streams and rank $r$
  reads rows $r B$ to $(r+1) B - 1$. Together the ranks read exactly what one process would read
  with a batch of `world_size × batch_size`, which is why a two-process run and a one-process
  run with twice the batch take the same steps (the test checks this);
* keeps **its own memory**, since a memory belongs to the streams that produced it.

Only rank 0 talks to labml and writes checkpoints. A checkpoint gathers every rank's memory and
random state, so a resumed run gives each rank back exactly what it had.
"""

import os
from dataclasses import dataclass
from typing import Any, List

import torch
import torch.distributed as dist


# ## Who am I?
#
# A single process is rank 0 of a world of one, so the trainer asks the same questions either
# way and the one-process path has no special cases.
@dataclass
class Context:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def init_from_env(device_name: str) -> Context:
    """Join the process group `torchrun` describes in the environment; a no-op for one process."""
    # `torchrun` sets these variables; without them this is an ordinary single process.
    world_size = int(os.environ.get('WORLD_SIZE', '1'))
    if world_size <= 1:
        return Context()
    ctx = Context(int(os.environ['RANK']), world_size, int(os.environ.get('LOCAL_RANK', '0')))
    # NCCL is the GPU backend; gloo runs on the CPU, which is what the tests use.
    use_cuda = device_name != 'cpu' and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(ctx.local_rank)
    if not dist.is_initialized():
        dist.init_process_group('nccl' if use_cuda else 'gloo')
    return ctx


def device_for(ctx: Context, device: torch.device) -> torch.device:
    # One GPU per rank: rank `local_rank` of this machine takes GPU `local_rank`.
    if ctx.active and device.type == 'cuda':
        return torch.device('cuda', ctx.local_rank)
    return device


# ## Agreeing across ranks
#
# Each rank measures its loss on its own rows. With equal rows per rank, the average of the
# ranks' losses is the loss of the whole batch, which is what DDP's averaged gradient is the
# gradient of; tracking that average makes the logged curve independent of the world size.
def mean_over_ranks(ctx: Context, value: float) -> float:
    """The average of a number across ranks (the loss each rank measured on its own rows)."""
    if not ctx.active:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return t.item() / ctx.world_size


def gather(ctx: Context, obj: Any) -> List[Any]:
    """Every rank's `obj`, in rank order (used to collect memories and random states)."""
    if not ctx.active:
        return [obj]
    out: List[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(ctx: Context) -> None:
    if ctx.active:
        dist.barrier()


def shutdown(ctx: Context) -> None:
    if ctx.active and dist.is_initialized():
        dist.destroy_process_group()
