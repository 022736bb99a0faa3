r"""
# The synthetic-task loop: one loop for every model and every task

Language modelling tells us whether a memory helps *on average*; a synthetic task asks one
sharp question, such as "can the model still produce the number it read 2,000 characters
ago?". Every such task here has the same shape, so one loop trains and scores any model
that follows the [protocol](../protocol.py):

* a **task** draws a batch of sequences, each `[batch, T + 1]` token ids, with two masks
  over the `T` next-token targets: `loss_mask` (which targets the model is trained on;
  random characters no model could predict are left out) and `score_mask` (the answer);
* the model reads the `T` inputs **segment by segment**, `seg_len` tokens per call,
  carrying its memory, exactly as it reads Tiny Shakespeare;
* a sequence counts as solved when **every** answer position is predicted exactly
  (exact match), the usual score for passkey retrieval.

Scoring uses the argmax at each answer position with the true answer fed in (teacher
forcing). For exact match this is the same as greedy generation: if every argmax is right,
greedy decoding produces exactly those tokens; if one is wrong, greedy decoding goes wrong
at the first such position. So we get generation's score at the cost of one forward pass.

Training back-propagates through the whole sequence at once: all its segments are read, the
loss summed, and one optimiser step taken. Whether gradients actually cross segment boundaries
is each model's choice (Transformer-XL stops them by design; Infini-attention keeps them with
`memory_grad=True`).

**Where it sits.** This loop is part of the trainer, below the tasks: it defines what a task
must hand it (a `SyntheticBatch`, from a `Sampler`) and knows no task by name. The
[tasks](../tasks/__init__.py) are only generators and samplers that build such batches, and
the studies put the two together: [passkey retrieval](../studies/passkey.py),
[frequency sort](../studies/frequency_sort.py) and [memory reach](../studies/memory_reach.py)
train through this loop with their task's `sample` function. So an import runs one way only:
studies read tasks and the trainer, tasks read this module for the batch type, and nothing
here reads a task.
"""

import dataclasses
import importlib
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from labml_memory.protocol import MemoryLanguageModel
from labml_memory.tasks.batch import Sampler, SyntheticBatch
from labml_memory.training import learning_rate
from labml_memory.training.config import _parse_value


# ## A batch
#
# A task's batch and the shape of its sampler are the tasks' own (see
# [the batch](../tasks/batch.py)): the tasks define what they hand over, the loop reads it.


# ## Reading a sequence segment by segment
#
# The sequence's length must be a whole number of segments, so that every call has the
# shape the model was built for and no segment is a ragged tail.
#
# The model starts each sequence from an empty memory (`None`): sequences of a batch are
# independent texts, unlike the continuous streams of language modelling.
def read_in_segments(model: MemoryLanguageModel, inputs: torch.Tensor, seg_len: int,
                     change: Optional[Callable[[Any], Any]] = None) -> torch.Tensor:
    r"""`change`, if given, is applied to the memory before every segment after the first (the
    [ablations](../studies/ablations.py) remove one part of a memory this way)."""
    if inputs.shape[1] % seg_len != 0:
        raise ValueError(f"sequence length {inputs.shape[1]} is not a multiple of seg_len={seg_len}")
    memory, pieces = None, []
    for start in range(0, inputs.shape[1], seg_len):
        if change is not None and memory is not None:
            memory = change(memory)
        logits, memory, _ = model(inputs[:, start:start + seg_len], memory)
        pieces.append(logits)
    # `[batch, T, vocab]`
    return torch.cat(pieces, dim=1)


# ## Exact match
#
# A sequence is correct when the prediction equals the target at *every* position of its
# score mask; sequences without any scored position are an error, not a free point.
def exact_match(predictions: torch.Tensor, targets: torch.Tensor, score_mask: torch.Tensor) -> torch.Tensor:
    r"""`[batch, T]` ids, ids and mask → `[batch]` booleans."""
    if not score_mask.any(dim=1).all():
        raise ValueError("every sequence needs at least one scored position")
    wrong = (predictions != targets) & score_mask
    return ~wrong.any(dim=1)


# ## The loss
#
# Cross-entropy on the answer positions, plus `lm_weight` times cross-entropy on every other
# trainable position. The second term teaches the model the shape of the text (the filler,
# the question), which the answer alone, a handful of characters per sequence, would teach
# slowly; the first is what the task is about.
def task_loss(logits: torch.Tensor, batch: SyntheticBatch, lm_weight: float) -> torch.Tensor:
    per_token = F.cross_entropy(logits.flatten(0, 1), batch.targets.flatten(),
                                reduction='none').view_as(batch.targets)
    answer = per_token[batch.score_mask].mean()
    rest = batch.loss_mask & ~batch.score_mask
    if lm_weight == 0.0 or not rest.any():
        return answer
    return answer + lm_weight * per_token[rest].mean()


# ## Evaluation
#
# Without gradients and in evaluation mode (no dropout; Transformer-XL switches to its
# evaluation memory length), then back to whatever mode the model was in. Besides exact
# match we report the cross-entropy on the answer: it moves long before exact match does,
# so it shows a model that is learning but not yet right.
@torch.no_grad()
def evaluate(model: MemoryLanguageModel, batch: SyntheticBatch, seg_len: int) -> Dict[str, float]:
    r"""Exact-match accuracy and the answer's loss on one batch, in evaluation mode."""
    was_training = model.training
    model.eval()
    logits = read_in_segments(model, batch.inputs, seg_len)
    model.train(was_training)
    correct = exact_match(logits.argmax(-1), batch.targets, batch.score_mask)
    per_token = F.cross_entropy(logits[batch.score_mask], batch.targets[batch.score_mask])
    return {'accuracy': correct.float().mean().item(), 'loss': per_token.item()}


# ## Settings
#
# The defaults are sized for a few minutes on a CPU. Sequence lengths vary between steps so
# that the model cannot learn that the answer always sits a fixed number of segments after
# the start; every length is a whole number of segments.
@dataclass
class SyntheticTrainConfig:
    r"""The loop's own settings; the model's come from its experiment's configuration."""
    steps: int = 300
    batch_size: int = 32
    seg_len: int = 32
    # Training sequences are `train_segments` segments long; a list draws one length per step.
    train_segments: List[int] = field(default_factory=lambda: [2, 3, 4])
    # AdamW with the shared trainer's schedule: a short linear warm-up keeps the first steps
    # of a fresh model from diverging at the full rate, then a cosine down to
    # `lr * min_lr_ratio` lets the last steps settle.
    lr: float = 2e-3
    warmup: int = 30
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    lm_weight: float = 0.1
    eval_every: int = 50
    seed: int = 0


# ## The training loop
#
# Each step draws a fresh batch (the generator is seeded, so a run repeats exactly), reads it
# in segments, and takes one AdamW step on the task loss. labml tracks the loss and, every
# `eval_every` steps, the exact-match accuracy on a held-out batch at training length.
def train(model: MemoryLanguageModel, sample: Sampler, config: SyntheticTrainConfig,
          device: torch.device, log: Optional[Callable[[str], None]] = None,
          first_step: int = 0) -> List[Dict[str, float]]:
    r"""
    `first_step` numbers the tracked steps after those of an earlier call, so that two phases
    of one run (a curriculum) make one continuous curve in labml.
    """
    from labml import monit, tracker
    # Two generators: one draws the training batches, the other one fixed held-out batch at
    # the longest training length, evaluated every `eval_every` steps to follow progress.
    generator = torch.Generator().manual_seed(config.seed)
    held_out = sample(config.batch_size, config.seg_len * max(config.train_segments),
                      torch.Generator().manual_seed(config.seed + 1)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    history = []
    started = time.time()
    for step in monit.loop(range(config.steps)):
        for group in optimizer.param_groups:
            group['lr'] = learning_rate(step, config)
        n_segments = config.train_segments[int(torch.randint(len(config.train_segments), (1,),
                                                                 generator=generator))]
        batch = sample(config.batch_size, config.seg_len * n_segments, generator).to(device)
        model.train()
        logits = read_in_segments(model, batch.inputs, config.seg_len)
        loss = task_loss(logits, batch, config.lm_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        # What labml tracks this step; validation figures only on evaluation steps.
        record = {'step': first_step + step + 1, 'loss.train': loss.item()}
        if (step + 1) % config.eval_every == 0 or step + 1 == config.steps:
            metrics = evaluate(model, held_out, config.seg_len)
            record.update({'accuracy.valid': metrics['accuracy'], 'loss.valid': metrics['loss']})
        tracker.add({k: v for k, v in record.items() if k != 'step'})
        tracker.save(first_step + step + 1)
        if (step + 1) % config.eval_every == 0:
            tracker.new_line()
        history.append(record)
    if log is not None:
        log(f"trained {config.steps} steps in {time.time() - started:.0f} s")
    return history


# ## Any architecture, by name
#
# The registry is the folder layout: a package with an `experiment.py` is a model, and its
# experiment provides `Config`, `PRESETS` and `build_model`. Nothing here names a model, so
# a new architecture takes part in every task the day its experiment exists.
def architectures() -> List[str]:
    r"""The packages with an `experiment.py`: the names `model=` accepts."""
    root = Path(__file__).resolve().parent.parent
    return sorted(p.parent.name for p in root.glob('*/experiment.py'))


# ## Splitting a task's command line
#
# A task's own keys are parsed with the trainer's parser, so lists (`eval_depths=0,0.5,1`)
# and booleans read the same way everywhere, and checked by the task's `validate()`. The
# `model` key picks the architecture; importing its experiment module is the whole lookup.
# Every other key belongs to the model: it is returned for the task to add its own settings
# (the segment length, `unroll`) before the model's configuration checks it, which names
# the valid keys when one is unknown.
def split_task_overrides(config_class: type, overrides: Dict[str, str]) -> Tuple[Any, Any, Dict[str, Any]]:
    r"""The task's settings, the model's experiment module, and the keys left for the model."""
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    hints = typing.get_type_hints(config_class)
    task = {k: _parse_value(k, v, hints[k], fields[k].default) for k, v in overrides.items() if k in fields}
    config = config_class(**task)
    config.validate()
    if config.model not in architectures():
        raise ValueError(f"unknown model {config.model!r}; valid: {architectures()}")
    module = importlib.import_module(f'labml_memory.{config.model}.experiment')
    return config, module, {k: v for k, v in overrides.items() if k not in fields}


# ## Starting a task run
#
# What every synthetic task does before its loop: fix the threads and the seed (so the model's
# initial weights are the same for every run of the same command; the batches have a generator
# of their own in the loop), build the architecture with the same builder its Tiny Shakespeare
# experiment uses, and open a labml experiment under the project's `logs/` (or `logs_dir`)
# that records both configurations, the task's and the model's prefixed with `model.`.
def start_run(experiment_name: str, config: Any, model_config: Any, module: Any,
              vocab_size: int) -> Tuple[MemoryLanguageModel, torch.device]:
    from labml import experiment
    from labml_memory.training import experiments_path
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    device = torch.device(config.device)
    model = module.build_model(model_config, vocab_size).to(device)
    experiments_path(config)
    experiment.create(name=experiment_name, writers={'screen', 'file'})
    experiment.configs({**{k: str(v) for k, v in dataclasses.asdict(config).items()},
                        **{f'model.{k}': str(v) for k, v in dataclasses.asdict(model_config).items()}})
    return model, device
