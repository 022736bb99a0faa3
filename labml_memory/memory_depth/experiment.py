r"""
# The memory-depth model on Tiny Shakespeare

One run:

```
python -m labml_memory.memory_depth.experiment n_long=1 placement=last
python -m labml_memory.memory_depth.experiment n_long=6 n_layers=6 preset=gpu
```

The model is the [depth-study Transformer-XL](__init__.py): by default 4 layers, 128 wide,
32-character segments; long-range layers keep 128 positions, short-range ones 16, and
`n_long`, `placement`, `long_mem_len` and `short_mem_len` decide every layer's length.

The study itself, every count and placement of long layers in a 6-layer model and a sweep of
the short range, {{ result memory_depth seeds }} each, is [a study of its own](../studies/memory_depth.py)
(`python -m labml_memory.studies run memory_depth`); its page is
[the memory-depth study](../results/memory_depth.md). It builds every run through this
module's `Config` and `build_model`, and takes its arrangements from `arrangements` below.
"""

from dataclasses import dataclass
from typing import List, Union

from labml_memory.memory_depth import PLACEMENTS, depth_study_model, memory_lengths
from labml_memory.training import main
from labml_memory.training.config import as_typed
from labml_memory.transformer_xl.experiment import Config as XLConfig


@dataclass
class Config(XLConfig):
    # How many layers keep the long memory, and where they sit.
    n_long: int = 1
    placement: str = 'last'
    long_mem_len: int = 128
    short_mem_len: int = 16
    # Transformer-XL's `mem_len` and `eval_mem_len` are not settings here: the four numbers
    # above decide every layer's length, in training and in evaluation alike. They default to
    # `None` and are filled in by `validate` with the lengths the model is built with, so the
    # run's recorded configuration says what the model really kept.
    mem_len: Union[int, List[int], None] = None
    eval_mem_len: Union[int, List[int], None] = None

    def validate(self) -> None:
        # The two lengths, named as the command line names them.
        for name in ('long_mem_len', 'short_mem_len'):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.short_mem_len > self.long_mem_len:
            raise ValueError(f"short_mem_len={self.short_mem_len} is longer than long_mem_len="
                             f"{self.long_mem_len}; valid: short_mem_len <= long_mem_len")
        # Builds the per-layer lengths, which checks count, placement and lengths.
        lengths = memory_lengths(self.n_layers, self.n_long, self.placement, self.long_mem_len,
                                 self.short_mem_len)
        # A `mem_len` given on the command line would otherwise be recorded and then ignored.
        # The lengths themselves are accepted (a resumed run stores them), anything else fails.
        for name in ('mem_len', 'eval_mem_len'):
            value = getattr(self, name)
            if value is not None and value != lengths:
                raise ValueError(
                    f"{name}={as_typed(value)} cannot be set in the memory-depth study: every layer's "
                    f"memory comes from n_long, placement, long_mem_len and short_mem_len "
                    f"(here {lengths}); leave {name} unset and change those instead")
            setattr(self, name, lengths)
        # Transformer-XL's checks last, on the lengths just filled in.
        super().validate()


PRESETS = {
    'cpu': dict(seq_len=32, steps=300, warmup=30, eval_every=100, checkpoint_every=300,
                eval_segments=16, sample_len=200),
    'gpu': dict(d_model=384, heads=6, n_layers=12, d_ff=1536, seq_len=128, long_mem_len=512,
                short_mem_len=64, batch_size=64, steps=5000, lr=1e-3, warmup=200, dropout=0.2,
                eval_every=500, checkpoint_every=1000),
}


def build_model(config: Config, vocab_size: int):
    return depth_study_model(vocab_size, config.n_long, config.placement, config.long_mem_len,
                             config.short_mem_len, n_layers=config.n_layers, d_model=config.d_model,
                             heads=config.heads, d_ff=config.d_ff, clamp_len=config.clamp_len,
                             dropout=config.dropout, norm=config.norm, tie_uv=config.tie_uv,
                             activation=config.activation, attention_impl=config.attention_impl)


# ## The arrangements a study sweeps
#
# Every distinct arrangement of long layers: counts from 1 to half the layers in each placement
# (an arrangement already seen, such as one long layer interleaved or last, runs once), then
# the all-short ($N_{long} = 0$) and all-long ($N_{long} = N$) baselines.
def arrangements(n_layers: int) -> List[tuple]:
    seen, runs = set(), []
    for n_long in [0] + list(range(1, n_layers // 2 + 1)) + [n_layers]:
        for placement in (PLACEMENTS if 0 < n_long < n_layers else ('last',)):
            lengths = tuple(memory_lengths(n_layers, n_long, placement, 2, 1))
            if lengths not in seen:
                seen.add(lengths)
                runs.append((n_long, placement))
    return runs


if __name__ == '__main__':
    main(Config, PRESETS, build_model, 'memory_depth')
