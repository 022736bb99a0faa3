r"""
# Configuration, presets and command-line overrides

Every experiment is a dataclass of settings: the training settings below, which every
architecture shares, plus the fields of its own model. A run starts from the dataclass
defaults, applies a *preset* (`cpu`, sized to train on a laptop in minutes, or `gpu`, sized for
one modern GPU) and then the `key=value` overrides from the command line:

```
python -m labml_memory.transformer_xl.experiment preset=cpu steps=2000 mem_len=128
```

Every key is checked: an unknown one fails and lists the valid ones, a value that does not
parse as the field's type fails and says what type was expected. Whatever the run ends up
with is recorded in labml's `configs.yaml`, so a run can always be traced back to its settings.

A bad setting, whichever check finds it (the parser here, a `validate` method, the model's
constructor, the dataset or the checkpoint being resumed), reaches the command line as a
`SettingError` and is printed by `exit_on_bad_setting` as one line that names the key, the
value and what would be valid; the process exits with status 2, never with a traceback.
"""

import dataclasses
import difflib
import math
import sys
import typing
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, NoReturn, Optional, Sequence, Tuple, Type, TypeVar

C = TypeVar('C', bound='TrainConfig')


# ## A bad setting, in one line
#
# Every check raises `ValueError` (or this subclass of it, which the trainer uses for errors
# it finds while setting a run up: the device, the dataset, the model's constructor). The
# command line of every experiment routes them through `exit_on_bad_setting`.
class SettingError(ValueError):
    """A setting that cannot run; its message names the key, the value and what is valid."""


def one_line(error: BaseException) -> str:
    """The message of an error with its whitespace collapsed, so it prints as one line."""
    return ' '.join(str(error).split()) or type(error).__name__


def exit_on_bad_setting(error: BaseException, status: int = 2) -> NoReturn:
    """Print `error` as one line on stderr and exit with `status`: no traceback."""
    print(f"error: {one_line(error)}", file=sys.stderr)
    raise SystemExit(status)


@dataclass
class TrainConfig:
    r"""The settings every experiment shares."""
    # The preset the other values start from (`cpu` or `gpu`).
    preset: str = 'cpu'
    # Number of optimiser steps, and segments per step: with `unroll > 1`, gradients flow
    # through the memory across `unroll` consecutive segments before it is detached (the
    # back-propagation-through-time option of the Compressive Transformer and Infini-attention).
    steps: int = 1000
    unroll: int = 1
    # Segment length $L$ and the number of parallel streams (the batch).
    seq_len: int = 64
    batch_size: int = 32
    # AdamW with linear warm-up, then cosine decay to `lr * min_lr_ratio`.
    lr: float = 2e-3
    min_lr_ratio: float = 0.1
    warmup: int = 50
    weight_decay: float = 0.05
    grad_clip: float = 1.0
    # Validation on the first `eval_segments` segments every `eval_every` steps (fresh
    # memory each time); the final validation reads the whole held-out text.
    eval_every: int = 200
    eval_segments: int = 16
    # `0` validates on all of it at the end; a positive number caps it (quick checks).
    final_eval_segments: int = 0
    log_every: int = 10
    # Checkpoints every `checkpoint_every` steps, at the end, and on Ctrl-C.
    checkpoint_every: int = 200
    # `resume=latest` continues the newest run of this experiment; `resume=<uuid>` a named one.
    resume: str = ''
    # Stop after this many seconds of training even if `steps` are not done (0: no limit);
    # the results page compares architectures at equal wall time with it. The cosine schedule
    # still runs over `steps`, so a run stopped early ends at a higher learning rate.
    time_budget: float = 0.0
    # Characters generated with memory at the end of training.
    sample_len: int = 400
    seed: int = 0
    # `auto` picks CUDA when it is available; `threads=0` leaves PyTorch's default.
    device: str = 'auto'
    threads: int = 0
    # Where runs are written; empty means labml's `logs/` under the project root.
    logs_dir: str = ''
    # The dataset file; empty means the shipped Tiny Shakespeare.
    data_file: str = ''

    def validate(self) -> None:
        """Fail early, naming the setting. Experiments extend this with their model's checks."""
        check_positive(self, 'steps', 'unroll', 'seq_len', 'batch_size', 'lr', 'eval_every',
                       'eval_segments', 'log_every', 'checkpoint_every')
        for name in ('warmup', 'sample_len', 'grad_clip', 'threads', 'weight_decay', 'time_budget'):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"min_lr_ratio must lie in [0, 1], got {self.min_lr_ratio}")
        if self.final_eval_segments < 0:
            raise ValueError(f"final_eval_segments must be >= 0 (0 reads the whole validation text), "
                             f"got {self.final_eval_segments}")
        if self.device not in ('auto', 'cpu', 'cuda') and not (
                self.device.startswith('cuda:') and self.device[5:].isdigit()):
            raise ValueError(f"device={self.device!r} is not a device; valid: auto, cpu, cuda or "
                             f"cuda:N (N the GPU's index)")


# ## Parsing a value
#
# The dataclass annotations are the only schema: a field declared `int` parses as an integer,
# `Optional[int]` also accepts `none`, `Union[int, List[int]]` accepts `64` or `64,64,16,16`
# (a memory length per layer), `bool` accepts `true/false/1/0/yes/no`. A new field needs no
# parsing code of its own.
def _parse_value(key: str, raw: str, hint: Any, default: Any) -> Any:
    # Convert one command-line string to the type the field is declared with.
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        options = [a for a in args if a is not type(None)]
        if type(None) in args and raw.lower() in ('none', 'null', ''):
            return None
        # Try each type of the union in the order declared: `64` is an int before it is a list.
        for option in options:
            try:
                return _parse_value(key, raw, option, default)
            except ValueError:
                pass
        raise ValueError(f"{key}={raw!r}: expected {describe(hint)}")
    if origin in (list, List, tuple, Tuple, Sequence, typing.Sequence) or hint in (list, tuple):
        inner = args[0] if args else str
        try:
            return [_parse_value(key, part.strip(), inner, None) for part in raw.split(',') if part.strip()]
        except ValueError:
            raise ValueError(f"{key}={raw!r}: expected {describe(hint)}") from None
    if hint is bool:
        if raw.lower() in ('true', '1', 'yes', 'on'):
            return True
        if raw.lower() in ('false', '0', 'no', 'off'):
            return False
        raise ValueError(f"{key}={raw!r}: expected a boolean (true/false)")
    if hint in (int, float):
        try:
            value = hint(raw)
        except ValueError:
            raise ValueError(f"{key}={raw!r}: expected {hint.__name__}") from None
        # `nan` and `inf` parse as floats, but no setting here means anything by them, and a
        # `lr=nan` would pass every comparison below and train on garbage.
        if not math.isfinite(value):
            raise ValueError(f"{key}={raw!r}: expected a finite number")
        return value
    if hint is str:
        return raw
    raise ValueError(f"{key}: cannot parse a value of type {hint}")


def describe(hint: Any) -> str:
    """What a field of this type accepts on the command line, in words."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        words = [describe(a) for a in args if a is not type(None)]
        if type(None) in args:
            words.append('none')
        return ' or '.join(words)
    if origin in (list, List, tuple, Tuple, Sequence, typing.Sequence) or hint in (list, tuple):
        inner = describe(args[0]) if args else 'str'
        return f"a comma-separated list of {inner}"
    return {bool: 'a boolean (true/false)', int: 'int', float: 'float', str: 'str'}.get(
        hint, getattr(hint, '__name__', str(hint)))


# ## From the command line to a configuration
def parse_overrides(argv: Sequence[str]) -> Dict[str, str]:
    """`['steps=10', 'preset=gpu']` → `{'steps': '10', 'preset': 'gpu'}`."""
    pairs = {}
    for arg in argv:
        if '=' not in arg:
            raise ValueError(f"argument {arg!r} is not of the form key=value (such as steps=200); "
                             f"--help lists every key")
        key, raw = arg.split('=', 1)
        pairs[key.strip()] = raw.strip()
    return pairs


def build_config(config_cls: Type[C], presets: Mapping[str, Mapping[str, Any]],
                 overrides: Mapping[str, Any], base: Optional[Mapping[str, Any]] = None) -> C:
    r"""
    Defaults, then the preset (or `base`, a stored configuration being resumed), then the
    overrides. Overrides may be strings (from the command line) or typed values (from Python).
    """
    # Unknown keys are the commonest typo (`step=` for `steps=`); silently ignoring one would
    # train for an hour with the wrong setting, so it fails and lists every valid key.
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        # The nearest valid key first: it is nearly always what was meant.
        near = [m for k in unknown for m in difflib.get_close_matches(k, fields, n=1)]
        hint = f" (did you mean {', '.join(near)}?)" if near else ''
        raise ValueError(f"unknown configuration key(s) {unknown}{hint}; valid keys: {sorted(fields)}")
    preset = str(overrides.get('preset', (base or {}).get('preset', config_cls.preset)))
    if preset not in presets:
        raise ValueError(f"unknown preset {preset!r}; valid presets: {sorted(presets)}")
    hints = typing.get_type_hints(config_cls)
    if base is None:
        values: Dict[str, Any] = dict(presets[preset])
    else:
        values = {k: v for k, v in base.items() if k in fields}
    for key, value in overrides.items():
        values[key] = (_parse_value(key, value, hints[key], fields[key].default)
                       if isinstance(value, str) else value)
    # Validation runs on the finished configuration, so a check that involves two fields
    # (a memory that must fit a compression rate) sees both final values.
    values['preset'] = preset
    config = config_cls(**values)
    config.validate()
    return config


def as_typed(value: Any) -> str:
    """A value as it is written on the command line: `64,64,16,16` for a list."""
    if isinstance(value, (list, tuple)):
        return ','.join(as_typed(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def check_lengths(config: Any, *names: str) -> None:
    """Fail, naming the field, unless each is a length >= 0 or one such length per layer."""
    for name in names:
        value = getattr(config, name)
        if value is None:
            continue
        lengths = list(value) if isinstance(value, (list, tuple)) else [value]
        if isinstance(value, (list, tuple)) and len(lengths) != config.n_layers:
            raise ValueError(f"{name}={as_typed(value)} lists {len(lengths)} lengths for n_layers="
                             f"{config.n_layers}; give one length, or one per layer")
        if any(not isinstance(n, int) or n < 0 for n in lengths):
            raise ValueError(f"{name}={as_typed(value)}: a memory length must be an integer >= 0")


def check_positive(config: Any, *names: str) -> None:
    """Fail, naming the field, if any of these settings is not positive."""
    for name in names:
        value = getattr(config, name)
        if value is None or value <= 0:
            raise ValueError(f"{name} must be positive, got {value!r}")


# ## The transformer stack every architecture shares
#
# Every model here is a stack of `n_layers` pre- or post-LN blocks of width `d_model`, with
# `heads` attention heads and a `d_ff`-wide feed-forward network. Those settings live here
# once; each experiment's `Config` extends this class with what its memory needs.
@dataclass
class ModelConfig(TrainConfig):
    r"""The trainer's settings plus the shape of the transformer stack."""
    d_model: int = 128
    heads: int = 4
    n_layers: int = 4
    d_ff: int = 512
    dropout: float = 0.1
    # `pre` or `post` layer norm; see [residual connections](../residual.py).
    norm: str = 'pre'
    activation: str = 'gelu'

    def validate(self) -> None:
        super().validate()
        check_positive(self, 'd_model', 'heads', 'n_layers', 'd_ff')

