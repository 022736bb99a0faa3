r"""
# Compressive Transformer on Tiny Shakespeare

```
python -m labml_memory.compressive.experiment                     # CPU preset: conv + attention loss
python -m labml_memory.compressive.experiment compression=mean_pool
python -m labml_memory.compressive.experiment compression=dilated_conv compression_loss=autoencoding
python -m labml_memory.compressive.experiment compression_loss=bptt unroll=2 batch_size=16
python -m labml_memory.compressive.experiment preset=gpu
```

The [model](__init__.py) of this folder on the shared [trainer](../training/__init__.py),
tracked with labml under `logs/compressive/<uuid>/`. The language-model loss is tracked as
`loss.train` / `loss.valid` and the compression loss separately as `aux.compression` (it
trains only the compression function, so it is not part of the language-model figures).

The CPU preset has the [Transformer-XL](../transformer_xl/experiment.py) preset's stack (4 layers,
128 wide, segments of $L = 64$, 32 streams, learning rate $2 \cdot 10^{-3}$) with the paper's
dropout of 0.1, trained for 750 steps so that it fits five minutes on two cores, with a memory of $M = 64$ and a compressed memory of $M_c = 32$ slots at rate $c = 2$,
so each layer attends over 160 keys and reaches 128 characters behind the segment.
For BPTT the paper unrolls twice the segment length with half the batch: `unroll=2
batch_size=16` reads the same characters per step.

Measured on an otherwise idle two-core Xeon: `python -m labml_memory.compressive.experiment`
(the CPU preset, 750 steps) reached a final validation loss of **1.7814 nats/char** (2.570
bits/char, accuracy 0.470) after 295.5 s of training at 5,199 characters/s, 5 min 0.6 s for
the whole command. A step costs about 1.4 Transformer-XL steps (the compression and its loss),
hence the shorter schedule. Trained for 1,000 steps (`steps=1000`) it reaches 1.717 nats/char;
see the [model page](__init__.py) for the attention analysis of that run and the study.
"""

from dataclasses import dataclass
from typing import Optional

from labml_memory.compressive import CompressiveTransformer, check_compression
from labml_memory.training import main
from labml_memory.training.config import ModelConfig, check_lengths


@dataclass
class Config(ModelConfig):
    r"""The trainer's settings, the stack's shape, and this model's own."""
    # $M$, $M_c$ and $c$; the segment length $L$ is the trainer's `seq_len`.
    mem_len: int = 64
    compressed_len: int = 32
    compression_rate: int = 2
    # $f_c$ and how it is trained; see [compression](compression.py).
    compression: str = 'conv'
    compression_loss: str = 'attention'
    clamp_len: Optional[int] = None
    tie_uv: bool = True
    attention_impl: str = 'sdpa'

    def validate(self) -> None:
        super().validate()
        # The two checks that involve the trainer's `seq_len` and the memory length, named as
        # the command line names them; the rest are the model's own.
        check_lengths(self, 'mem_len', 'compressed_len')
        if self.compression_rate >= 1 and self.seq_len % self.compression_rate:
            valid = [r for r in range(1, self.seq_len + 1) if self.seq_len % r == 0]
            raise ValueError(f"seq_len={self.seq_len} is not a multiple of compression_rate="
                             f"{self.compression_rate}: the oldest seq_len memories must split into "
                             f"whole groups; valid compression_rate for seq_len={self.seq_len}: {valid}")
        if self.compressed_len > 0 and self.mem_len == 0:
            raise ValueError(f"mem_len=0 leaves compressed_len={self.compressed_len} empty forever: the "
                             f"compressed memory is filled from what leaves the memory; set mem_len > 0 "
                             f"or compressed_len=0")
        check_compression(self.seq_len, self.compression_rate, self.mem_len, self.compressed_len,
                          self.compression, self.compression_loss)
        # Slots compressed in one segment are first read in the next, so BPTT reaches $f_c$
        # only when a step spans at least two segments; with `unroll=1` it would train nothing.
        if self.compression_loss == 'bptt' and self.unroll < 2:
            raise ValueError(f"compression_loss='bptt' needs unroll >= 2 (got unroll={self.unroll}): "
                             f"compressed slots are read one segment after they are made; "
                             f"try unroll=2 batch_size={max(1, self.batch_size // 2)}")


# `cpu` trains in minutes on two cores; `gpu` follows the Transformer-XL GPU preset and gives
# the compressed memory the same length as the memory.
PRESETS = {
    'cpu': dict(steps=750),
    'gpu': dict(d_model=384, heads=6, n_layers=6, d_ff=1536, seq_len=256, mem_len=256,
                compressed_len=128, compression_rate=4, batch_size=64, steps=5000, lr=1e-3,
                warmup=200, dropout=0.2, eval_every=500, checkpoint_every=1000, eval_segments=32),
}


def build_model(config: Config, vocab_size: int) -> CompressiveTransformer:
    return CompressiveTransformer(
        vocab_size, d_model=config.d_model, heads=config.heads, n_layers=config.n_layers,
        d_ff=config.d_ff, segment_len=config.seq_len, mem_len=config.mem_len,
        compressed_len=config.compressed_len, compression_rate=config.compression_rate,
        compression=config.compression, compression_loss=config.compression_loss,
        clamp_len=config.clamp_len, dropout=config.dropout, norm=config.norm,
        tie_uv=config.tie_uv, activation=config.activation, attention_impl=config.attention_impl)


if __name__ == '__main__':
    main(Config, PRESETS, build_model, 'compressive')
