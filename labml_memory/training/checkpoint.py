r"""
# Checkpoints

labml 0.5 no longer saves models, so the trainer does it itself with `torch.save`, and loads
with `torch.load(weights_only=True)`, which refuses to run code hidden in a file. Everything a
run needs to continue *exactly* where it stopped goes into one file: the model and optimiser
states, the step, the training memory (the streams are a pure function of the step, so their
position needs no saving), the random-number generator states and the configuration.

A checkpoint is written to a temporary file and renamed into place, so a run killed while
saving leaves the previous checkpoint intact rather than half a new one.
"""

import dataclasses
import importlib
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

from labml_memory.protocol import MemoryState

# A tag checked on load, so a file from elsewhere fails with a clear message.
FORMAT = 'labml_memory/checkpoint/1'


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, truncated, or not one of ours."""


# ## Memory states in a checkpoint
#
# `torch.load(weights_only=True)` accepts tensors, numbers, strings and containers of them,
# never arbitrary classes. A memory is one of our dataclasses, so it is stored as its class's
# name plus its fields, and rebuilt from them. The class name is checked against our own
# package before anything is imported, so a crafted checkpoint cannot make us import other code.
def memory_to_dict(memory: Optional[MemoryState]) -> Optional[Dict[str, Any]]:
    r"""
    A memory state as plain data (the class's dotted name and its fields), which
    `weights_only` loading accepts. Only classes inside `labml_memory` are recreated on load.
    """
    if memory is None:
        return None
    cls = type(memory)
    fields = {f.name: getattr(memory, f.name) for f in dataclasses.fields(memory)}
    return {'class': f'{cls.__module__}:{cls.__qualname__}', 'fields': fields}


def memory_from_dict(data: Optional[Dict[str, Any]], device) -> Optional[MemoryState]:
    if data is None:
        return None
    module_name, _, class_name = data['class'].partition(':')
    if not module_name.startswith('labml_memory'):
        raise CheckpointError(f"refusing to recreate memory class {data['class']!r} from a checkpoint")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(**data['fields']).to(device)


# ## Writing and reading
def save(path: Path, state: Dict[str, Any]) -> Path:
    """Write atomically: a temporary file first, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix('.tmp')
    torch.save({'format': FORMAT, **state}, tmp)
    os.replace(tmp, path)
    return path


REQUIRED = ('format', 'step', 'config', 'model', 'optimizer', 'rng', 'vocabulary')


def load(path: Path) -> Dict[str, Any]:
    """Load and check a checkpoint; any failure names the file and what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # truncated or corrupt files surface as several exception types
        raise CheckpointError(f"checkpoint {path} is corrupt or unreadable ({type(e).__name__}: {e}); "
                              f"resume from an earlier checkpoint in {path.parent}") from e
    if not isinstance(state, dict) or state.get('format') != FORMAT:
        raise CheckpointError(f"{path} is not a labml_memory checkpoint (expected format {FORMAT!r})")
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {missing}")
    return state


# ## Finding checkpoints
#
# Checkpoints live in the labml run's folder, `logs/<experiment>/<uuid>/checkpoints/`, named
# by step with zero padding so that sorting names sorts steps.
def checkpoint_path(run_path: Path, step: int) -> Path:
    return Path(run_path) / 'checkpoints' / f'step_{step:08d}.pt'


def checkpoints_of(run_path: Path) -> List[Path]:
    """A run's checkpoints, oldest first."""
    return sorted((Path(run_path) / 'checkpoints').glob('step_*.pt'))


def find_run(experiments_path: Path, name: str, resume: str) -> Path:
    r"""
    The run to resume: `latest` is the run of experiment `name` whose newest checkpoint is
    the most recent; anything else is a run's uuid.
    """
    root = Path(experiments_path) / name
    runs = [p for p in root.iterdir() if p.is_dir() and checkpoints_of(p)] if root.is_dir() else []
    if resume == 'latest':
        if not runs:
            raise CheckpointError(f"resume=latest: no run of {name!r} with a checkpoint under {root}")
        return max(runs, key=lambda p: checkpoints_of(p)[-1].stat().st_mtime)
    for run in runs:
        if run.name == resume:
            return run
    known = sorted(p.name for p in runs)
    raise CheckpointError(f"resume={resume!r}: no run of {name!r} with a checkpoint under {root}; "
                          f"runs that can be resumed: {known or 'none'}")
