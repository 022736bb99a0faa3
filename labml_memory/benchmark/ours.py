r"""
# Our architectures, found and built at the shared sizes

The [benchmark](__init__.py) has no list of our models to keep up to date: the registry is
the file system. Every sub-package of `labml_memory` with an `experiment` module that
exposes `Config`, `PRESETS` and `build_model` is an architecture, and it is built through the
same path a training run takes, at the one configuration every entry shares
([`Sizes`](peers.py)). The quality studies build their models here too, so the speed page
and the quality pages compare the same models.
"""
import importlib
import importlib.util
import pkgutil
from dataclasses import fields
from typing import Any, Dict, List

import torch

from labml_memory.benchmark.peers import Sizes

# Packages of `labml_memory` that are infrastructure, never architectures: they have no
# `experiment` module today, but naming them keeps a future helper script inside one of
# them from being mistaken for a model.
NOT_ARCHITECTURES = {'benchmark', 'training', 'tasks', 'studies', 'data'}


# ## Finding them
#
# We only *find* them here; importing happens in the worker, so an architecture that is half
# written (it fails to import) costs one row saying so, not the run.
def our_architectures() -> List[str]:
    import labml_memory
    names = []
    # `iter_modules` lists the package's folders without importing them.
    for info in pkgutil.iter_modules(labml_memory.__path__):
        if not info.ispkg or info.name in NOT_ARCHITECTURES:
            continue
        # `find_spec` locates a sub-module without running it.
        if importlib.util.find_spec(f'labml_memory.{info.name}.experiment') is not None:
            names.append(info.name)
    return sorted(names)


# ## The shared sizes, as one architecture's settings
#
# Each shared size is passed only if the architecture's `Config` has that field
# (Infini-attention has no memory length); the evaluation memory is set equal to the training
# memory so that inference reads the same amount of memory the peers do. The memory-depth
# study's long-range layers get $M$.
def config_overrides(config_cls, sizes: Sizes) -> Dict[str, Any]:
    wanted = dict(d_model=sizes.d_model, heads=sizes.heads, n_layers=sizes.n_layers, d_ff=sizes.d_ff,
                  seq_len=sizes.seq_len, batch_size=sizes.batch_size, mem_len=sizes.mem_len,
                  eval_mem_len=sizes.mem_len, long_mem_len=sizes.mem_len,
                  compressed_len=sizes.compressed_len, compression_rate=sizes.compression_rate,
                  n_mem=sizes.n_mem, mem_size=sizes.knn_size, top_k=sizes.top_k,
                  dropout=0.0, device='cpu')
    # Dropout is off for everyone: the peers are built without it, and it would add random
    # masks to ours that a speed comparison should not pay for.
    known = {f.name for f in fields(config_cls)}
    # The memory-depth study sets every layer's memory from its own lengths and refuses a
    # `mem_len`, so it gets the shared length as its `long_mem_len` alone.
    if 'long_mem_len' in known:
        wanted.pop('mem_len')
        wanted.pop('eval_mem_len')
    return {k: v for k, v in wanted.items() if k in known}


# ## Building one
#
# `build_config(Config, PRESETS, overrides)` then `build_model(config, vocab_size)`: the `cpu`
# preset, then the shared sizes on top, so whatever the preset does not mention (compression
# function, update rule, basis size) stays at the architecture's default.
def build_ours(name: str, sizes: Sizes) -> torch.nn.Module:
    from labml_memory.training.config import build_config
    experiment = importlib.import_module(f'labml_memory.{name}.experiment')
    # A package that breaks the convention is reported by what it lacks, not by a traceback.
    missing = [a for a in ('Config', 'PRESETS', 'build_model') if not hasattr(experiment, a)]
    if missing:
        raise AttributeError(f"labml_memory.{name}.experiment lacks {missing}")
    config = build_config(experiment.Config, experiment.PRESETS, config_overrides(experiment.Config, sizes))
    return experiment.build_model(config, sizes.vocab_size)
