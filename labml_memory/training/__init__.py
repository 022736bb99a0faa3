r"""
# The trainer

One small training loop serves every architecture, because every model follows the same
[protocol](../protocol.py): `logits, memory, losses = model(tokens, memory)`. It is written
on labml's core (`experiment`, `tracker`, `monit`) rather than on the helper classes of
labml_nn, which live in a package whose heavy requirements do not install sensibly here and
whose memory-transformer experiments no longer run against labml 0.5.3. It keeps their spirit:
configuration recorded in the run, metrics tracked by name, progress on screen.

What a run does, in order:

1. builds the configuration (defaults, preset, overrides; see [configuration](config.py));
2. reads Tiny Shakespeare as [parallel sequential streams](../data/shakespeare.py), a
   training set and a validation set, each with **its own memory**: validation must never
   read the training memory, or it would see text it is not supposed to know;
3. trains: each step reads `unroll` consecutive segments, carrying the memory between them,
   adds the language-model loss and every auxiliary loss, back-propagates once, clips the
   gradient norm and takes an AdamW step; the learning rate warms up linearly and then
   follows a cosine; the memory is detached after the step, so gradients never cross steps;
4. tracks loss, bits per character, accuracy, tokens per second, learning rate and each
   auxiliary loss with labml, with periodic validation;
5. checkpoints every `checkpoint_every` steps, at the end, and on Ctrl-C;
   `resume=latest` (or a run's uuid) continues exactly where a run stopped;
6. runs unchanged under `torchrun`, one process per rank, each with its own streams and
   memory (see [distributed training](distributed.py));
7. validates on the whole held-out text, generates a sample with memory, and prints the final
   validation loss and where the run's logs are as its last two lines.
"""

import math
import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Type

import torch
import torch.nn.functional as F
from torch import nn

from labml_memory.protocol import MemoryLanguageModel, MemoryState
from labml_memory.data.shakespeare import SequentialStreams, Vocabulary, load_text, split
from labml_memory.training import checkpoint, distributed
from labml_memory.training.config import (SettingError, TrainConfig, build_config, exit_on_bad_setting,
                                          one_line, parse_overrides)
from labml_memory.training.labml_compat import restore_ipython_display_alias

# labml 0.5.3 imports a name that current IPython releases no longer have, the first time it
# writes to a notebook; [the compatibility note](labml_compat.py) says why and when this goes.
restore_ipython_display_alias()

# A function from a configuration and a vocabulary size to a model: what each experiment provides.
ModelBuilder = Callable[[Any, int], MemoryLanguageModel]
# What builds the streams from one half of the text: `(data, batch_size, seq_len, rows=…)`.
StreamMaker = Callable[..., SequentialStreams]


# ## What a run returns
#
# The command line prints a summary; scripts (the studies, the benchmark, the notebooks) and
# the tests call `train` directly and read this instead. Losses are kept by step so that two
# runs can be compared step for step, which is how exact resume is tested.
@dataclass
class TrainResult:
    """What a finished run reports, for scripts and tests that call `train` directly."""
    run_uuid: str
    run_path: Path
    final_step: int
    final_valid_loss: float
    final_valid_accuracy: float
    train_losses: Dict[int, float] = field(default_factory=dict)
    valid_losses: Dict[int, float] = field(default_factory=dict)
    tokens_per_second: float = 0.0
    wall_time: float = 0.0
    sample: str = ''
    memory_bytes: int = 0
    # The last checkpoint written, the one `resume` continues from.
    checkpoint: Optional[Path] = None
    # The trained model and its vocabulary, for notebooks and scripts that go on using them.
    model: Optional[nn.Module] = None
    vocabulary: Optional[Vocabulary] = None


# ## Learning-rate schedule
#
# Linear warm-up from almost zero to `lr` over `warmup` steps, then half a cosine down to
# `lr * min_lr_ratio` at the last step (the Compressive Transformer paper's schedule).
def learning_rate(step: int, config: TrainConfig) -> float:
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    return config.lr * (config.min_lr_ratio + (1.0 - config.min_lr_ratio) * cosine)


# ## The optimiser
#
# Weight decay applies to the weight matrices of linear and embedding layers only; biases,
# layer norms and the attention biases $u$, $w$ (Transformer-XL's) are left alone, as is customary.
def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    decayed = {id(m.weight) for m in model.modules() if isinstance(m, (nn.Linear, nn.Embedding))}
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{'params': [p for p in params if id(p) in decayed], 'weight_decay': config.weight_decay},
              {'params': [p for p in params if id(p) not in decayed], 'weight_decay': 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.99))


# ## The device
#
# `auto` takes the GPU when there is one, so the same command works on a laptop and on a
# GPU machine; naming CUDA where there is none is an error rather than a silent fallback.
def pick_device(name: str) -> torch.device:
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if name.startswith('cuda') and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} was asked for but CUDA is not available; use device=cpu or auto")
    if name.startswith('cuda:') and int(name[5:]) >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise ValueError(f"device={name!r}: this machine has {count} CUDA device(s); valid: auto, cpu, "
                         f"cuda or cuda:0 to cuda:{count - 1}")
    return torch.device(name)


# ## Validation
#
# Reads the first `max_segments` segments of the validation streams (all of them when
# `None`) in order, starting from an empty memory: the validation memory is separate from
# the training memory and starts afresh each time, so every validation measures the same thing.
@torch.no_grad()
def evaluate(model: MemoryLanguageModel, streams: SequentialStreams, device: torch.device,
             max_segments: Optional[int] = None) -> Dict[str, float]:
    # Evaluation mode switches off dropout and, for Transformer-XL, switches on the longer
    # evaluation memory. Losses are summed over every character and divided once at the end,
    # so a segment's weight does not depend on how the text was cut.
    was_training = model.training
    model.eval()
    memory = None
    total_loss, correct, count = 0.0, 0, 0
    n = len(streams) if max_segments is None else min(max_segments, len(streams))
    for index in range(n):
        inputs, targets, _ = streams.segment(index)
        inputs, targets = inputs.to(device), targets.to(device)
        logits, memory, _ = model(inputs, memory)
        total_loss += F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction='sum').item()
        correct += (logits.argmax(-1) == targets).sum().item()
        count += targets.numel()
    model.train(was_training)
    return {'loss': total_loss / count, 'accuracy': correct / count}


# ### Random state
#
# Dropout draws from PyTorch's generator, so an exact resume needs the generator's state as
# it was after the last completed step (and the GPU's generator when training on one). The
# data needs no state at all: segment $\tau$ is a pure function of $\tau$.
def _rng_state(device: torch.device) -> Dict[str, Any]:
    state = {'torch': torch.get_rng_state()}
    if device.type == 'cuda':
        state['cuda'] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: Dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state['torch'])
    if device.type == 'cuda' and 'cuda' in state:
        torch.cuda.set_rng_state(state['cuda'], device)


# ### Where runs are written
def experiments_path(config: TrainConfig) -> Path:
    r"""
    Where runs go: `logs_dir` when set (the tests use a temporary folder), otherwise `logs/`
    beside the nearest `.labml.yaml` above the working directory, otherwise `./logs`. We tell
    labml explicitly rather than let it search from the installed package's location, which
    for a non-editable install would be inside site-packages.
    """
    from labml.internal.lab import lab_singleton
    if config.logs_dir:
        root = Path(config.logs_dir).resolve()
    else:
        cwd = Path.cwd().resolve()
        root = next((p / 'logs' for p in (cwd, *cwd.parents) if (p / '.labml.yaml').is_file()),
                    cwd / 'logs')
    lab_singleton().set_configurations({'experiments_path': str(root)})
    return root


# ### Errors that come from the settings
#
# Everything a run does before its first step depends only on its settings: the device, the
# dataset, the model's constructor, the checkpoint it resumes. An error raised there is a bad
# setting, and it becomes a `SettingError` that the command line prints as one line; an error
# raised once training has started is a bug, and keeps its traceback.
@contextmanager
def _from_settings(prefix: str = ''):
    try:
        yield
    except (SettingError, checkpoint.CheckpointError):
        raise
    except (ValueError, ImportError, OSError) as e:
        raise SettingError(prefix + one_line(e)) from e


# ### Loading the weights of a resumed run
#
# `resume` keeps the stored settings and changes only what the command line gives again; a
# key that shapes the model (`d_model=256`) then builds a model the weights do not fit.
def _load_resumed(model: nn.Module, resumed: Dict[str, Any], config: TrainConfig) -> None:
    try:
        model.load_state_dict(resumed['model'])
    except RuntimeError as e:
        stored = resumed['config']
        changed = ', '.join(f"{k}={v!r} (stored: {stored[k]!r})" for k, v in asdict(config).items()
                            if k in stored and stored[k] != v and k != 'resume')
        raise checkpoint.CheckpointError(
            f"resume={config.resume!r}: the checkpoint's weights do not fit the model these settings "
            f"build ({changed or 'the model code changed'}); resume with the stored model settings, "
            f"changing only training settings such as steps") from e


# ### Configuring a fresh or a resumed run
def configure(config_cls: Type[TrainConfig], presets: Mapping[str, Mapping[str, Any]],
              overrides: Mapping[str, Any], name: str) -> TrainConfig:
    r"""
    The configuration of a run. A fresh run starts from the preset; a resumed run starts from
    the configuration stored in its checkpoint, and only what is given explicitly this time
    (typically a larger `steps`) changes it.
    """
    resume = overrides.get('resume')
    if not resume:
        return build_config(config_cls, presets, overrides)
    # Finding the run needs only the logs folder and the preset; the rest comes from the
    # checkpoint, so that `resume=latest` alone rebuilds the same model.
    probe = build_config(config_cls, presets, {k: v for k, v in overrides.items()
                                               if k in ('logs_dir', 'preset')})
    try:
        run_path = checkpoint.find_run(experiments_path(probe), name, str(resume))
        stored = checkpoint.load(checkpoint.checkpoints_of(run_path)[-1])['config']
    except checkpoint.CheckpointError as e:
        # Name the setting that led here, as every other bad setting does.
        message = one_line(e)
        raise checkpoint.CheckpointError(
            message if message.startswith('resume=') else f"resume={resume!r}: {message}") from e
    return build_config(config_cls, presets, overrides, base=stored)


# ## One optimiser step
def train_step(model: nn.Module, train_model: nn.Module, optimizer: torch.optim.Optimizer,
               streams: SequentialStreams, memory: Optional[MemoryState], step: int,
               config: TrainConfig, device: torch.device):
    r"""
    Read `unroll` consecutive segments, carrying the memory from one to the next, and take one
    optimiser step on their average loss. Returns the memory to carry into the next step
    (detached) and the step's statistics.

    With `unroll = 1` this is ordinary truncated training: gradients stop at every segment
    boundary (the memory arrives detached). With `unroll = U`, a model that keeps its memory
    differentiable lets the gradient of segment $U$'s loss flow back through the memory into
    the computation of segments $1 \dots U-1$: back-propagation through time over $U$ segments,
    the Compressive Transformer's `bptt` loss and Infini-attention's unrolled training.
    """
    model.train()
    loss = torch.zeros((), device=device)
    lm_total, correct, aux_totals = 0.0, 0, {}
    for k in range(config.unroll):
        inputs, targets, reset = streams.segment(step * config.unroll + k)
        inputs, targets = inputs.to(device), targets.to(device)
        if reset:
            # A new epoch: the memory describes text that no longer precedes us.
            memory = None
        # The protocol call. `aux` holds the model's auxiliary losses by name; they are added
        # to the language-model loss with weight one (each model scales its own), and
        # averaged over the unroll like it.
        logits, memory, aux = train_model(inputs, memory)
        lm_loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        loss = loss + (lm_loss + sum(aux.values(), torch.zeros((), device=device))) / config.unroll
        # Statistics for tracking, as plain numbers (`.item()` also keeps the graph small).
        lm_total += lm_loss.item() / config.unroll
        correct += (logits.argmax(-1) == targets).sum().item()
        for key, value in aux.items():
            aux_totals[key] = aux_totals.get(key, 0.0) + value.item() / config.unroll
    # One backward pass for the whole unroll, then clip the global gradient norm (the papers
    # in this family all clip; the Compressive Transformer uses 0.1 at scale, our small
    # models are comfortable at 1.0).
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if config.grad_clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    optimizer.step()
    # The stop-gradient between steps: whatever the model kept differentiable inside the
    # unroll becomes a constant now.
    memory = memory.detach() if memory is not None else None
    return memory, {'lm': lm_total, 'correct': correct, 'aux': aux_totals}


# ## The training loop
def train(config: TrainConfig, build_model: ModelBuilder, name: str,
          on_step: Optional[Callable[[int, float], None]] = None,
          make_streams: Optional[StreamMaker] = None) -> TrainResult:
    r"""
    Train `build_model(config, vocab_size)` on Tiny Shakespeare under the labml experiment
    `name`. `on_step(step, loss)` is called after every step (the tests use it to simulate an
    interruption); `make_streams(data, batch_size, seq_len, rows)` replaces the sequential
    streams with another source of the same interface, for training and validation alike (the
    [echo streams](../data/echo.py) of the echo study); a `KeyboardInterrupt` from anywhere in
    the loop saves a checkpoint and is raised again. Under `torchrun` every rank calls this; see [distributed](distributed.py).
    """
    # labml is imported here rather than at the top so that importing the trainer (from a
    # test or a notebook) does not print labml's notices.
    from labml import experiment, monit, tracker

    # One process, or one rank of a `torchrun` job: either way the loop below is the same.
    ctx = distributed.init_from_env(config.device)
    try:
        return _train(config, build_model, name, on_step, ctx, experiment, monit, tracker,
                      make_streams or SequentialStreams)
    finally:
        distributed.shutdown(ctx)


def _train(config, build_model, name, on_step, ctx, experiment, monit, tracker,
           make_streams) -> TrainResult:
    main_rank = ctx.is_main
    # A resumed run continues from the newest checkpoint of the run `resume` names
    # (build its configuration with `configure`, which starts from the stored one).
    resumed = None
    root = experiments_path(config)
    with _from_settings(f"logs_dir={config.logs_dir!r}: cannot write there: " if config.logs_dir else
                        f"cannot write the logs folder {root}: "):
        root.mkdir(parents=True, exist_ok=True)
    if config.resume:
        run_path = checkpoint.find_run(root, name, config.resume)
        resumed = checkpoint.load(checkpoint.checkpoints_of(run_path)[-1])
        if len(resumed['rng']) != ctx.world_size:
            raise checkpoint.CheckpointError(
                f"resume={config.resume!r}: the checkpoint was written by {len(resumed['rng'])} "
                f"process(es); resume it with the same number (this run has {ctx.world_size})")

    # Seed before the model is built: the same seed gives the same initial weights, and
    # under torchrun every rank starts from the same weights (DDP also broadcasts rank 0's).
    if config.threads:
        torch.set_num_threads(config.threads)
    with _from_settings():
        device = distributed.device_for(ctx, pick_device(config.device))
    torch.manual_seed(config.seed)

    # ### Data
    with _from_settings(f"data_file={config.data_file!r}: " if config.data_file else ''):
        text = load_text(Path(config.data_file) if config.data_file else None)
    vocab = Vocabulary.from_text(text)
    if resumed is not None and resumed['vocabulary'] != vocab.chars:
        raise checkpoint.CheckpointError(
            f"resume={config.resume!r}: the checkpoint's vocabulary does not match the dataset "
            f"(data_file={config.data_file!r}); resume with the data_file the run was trained on")
    # The first 90% trains, the last 10% validates. Each rank reads its own `batch_size`
    # rows of `world_size * batch_size` training streams; every rank sees the same
    # validation streams, but only rank 0 runs validation.
    train_data, valid_data = split(vocab.encode(text))
    batch = config.batch_size
    with _from_settings():
        train_streams = make_streams(train_data, batch * ctx.world_size, config.seq_len,
                                     rows=slice(ctx.rank * batch, (ctx.rank + 1) * batch))
        valid_streams = make_streams(valid_data, batch, config.seq_len)

    # ### Model and optimiser
    # `memory` is the training memory. It lives here, outside the model, so the loop can
    # reset it at an epoch boundary, detach it after a step and save it in a checkpoint.
    with _from_settings():
        model = build_model(config, vocab.size).to(device)
    start_step, memory = 0, None
    if resumed is not None:
        _load_resumed(model, resumed, config)
    # Under torchrun the training forward pass goes through DistributedDataParallel, which
    # averages gradients across ranks; validation and sampling use the model itself.
    train_model = model
    if ctx.active:
        train_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == 'cuda' else None)
    optimizer = make_optimizer(model, config)
    if resumed is not None:
        optimizer.load_state_dict(resumed['optimizer'])
        start_step = resumed['step']
        memory = checkpoint.memory_from_dict(resumed['train_memory'][ctx.rank], device)
        _set_rng_state(resumed['rng'][ctx.rank], device)

    # ### Tracking, on rank 0 only
    # labml's `screen` writer draws the progress line; its `file` writer appends every
    # tracked value to `log.jsonl`, which the notebooks and results pages plot. The whole
    # configuration goes into `configs.yaml`, together with the parameter count, the device
    # and the step a resumed run started from.
    run_path, run_uuid = None, ''
    if main_rank:
        experiment.create(name=name, writers={'screen', 'file'})
        configs = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in asdict(config).items()}
        configs.update(model_parameters=sum(p.numel() for p in model.parameters()),
                       resumed_from_step=start_step, device_used=str(device), world_size=ctx.world_size)
        experiment.configs(configs)
        from labml.internal.experiment import experiment_singleton
        run = experiment_singleton().run
        run_path, run_uuid = Path(run.run_path), run.uuid
        # The screen shows the losses only, so that the progress line fits a terminal (a line
        # that wraps is redrawn as a new one at every step); `log.jsonl` keeps everything.
        for key in ('loss.*', 'bpc.*', 'accuracy.*', 'tokens_per_second', 'lr', 'aux.*'):
            tracker.set_scalar(key, is_print=key in ('loss.*', 'aux.*'))

    # ### Saving a checkpoint
    #
    # Called by every rank at the same step, because gathering is a collective operation.
    def save_checkpoint(step: int) -> Optional[Path]:
        # Every rank contributes its memory and random state; rank 0 writes the file.
        memories = distributed.gather(ctx, checkpoint.memory_to_dict(memory.to('cpu') if memory is not None else None))
        rngs = distributed.gather(ctx, _rng_state(device))
        path = None
        if main_rank:
            path = checkpoint.save(checkpoint.checkpoint_path(run_path, step), {
                'step': step, 'config': asdict(config), 'model': model.state_dict(),
                'optimizer': optimizer.state_dict(), 'rng': rngs, 'train_memory': memories,
                'vocabulary': vocab.chars, 'experiment': name, 'run_uuid': run_uuid})
        distributed.barrier(ctx)
        return path

    # ### The loop
    #
    # Tokens per step count every rank's batch and every segment of the unroll, so the
    # throughput figures of single- and multi-process runs compare directly.
    result = TrainResult(run_uuid, run_path, start_step, float('nan'), float('nan'))
    tokens_per_step = batch * config.seq_len * config.unroll * ctx.world_size
    started = time.time()
    step = start_step
    steps = range(start_step, config.steps)
    with (experiment.start() if main_rank else nullcontext()):
        if main_rank:
            tracker.set_global_step(start_step)
        try:
            # The progress line: the step, `train:` with the share of all `steps` done (one
            # section entered at every step, so labml counts its progress over the whole run),
            # the validations, the losses, the time per step, and the time spent and left.
            # labml prints an untimed section with no space after it, hence the leading
            # space of the validation sections' names.
            for step in (monit.loop(steps) if main_rank else steps):
                lr = learning_rate(step, config)
                for group in optimizer.param_groups:
                    group['lr'] = lr
                step_started = time.time()
                with (monit.section('train', is_partial=True, total_steps=config.steps, is_timed=False)
                      if main_rank else nullcontext()):
                    memory, stats = train_step(model, train_model, optimizer, train_streams,
                                               memory, step, config, device)
                    if main_rank:
                        monit.progress(step + 1)
                lm_total, correct, aux_totals = stats['lm'], stats['correct'], stats['aux']
                # #### Tracking
                #
                # Bits per character are nats divided by $\ln 2$, the unit the papers report
                # for enwik8 and text8. Tokens per second is measured per step, so the
                # progress line shows the current speed; the run's average is in the summary.
                elapsed = time.time() - step_started
                # What is tracked is the average over ranks: the loss of the whole batch.
                lm_total = distributed.mean_over_ranks(ctx, lm_total)
                accuracy = distributed.mean_over_ranks(ctx, correct / (batch * config.seq_len * config.unroll))
                result.train_losses[step + 1] = lm_total
                done = step + 1
                # The wall-time budget: every rank stops at the same step.
                over_budget = config.time_budget > 0 and distributed.mean_over_ranks(
                    ctx, float(time.time() - started > config.time_budget)) > 0
                last = done == config.steps or over_budget
                if main_rank:
                    tracker.add({'loss.train': lm_total, 'bpc.train': lm_total / math.log(2),
                                 'accuracy.train': accuracy,
                                 'tokens_per_second': tokens_per_step / max(elapsed, 1e-9), 'lr': lr})
                    tracker.add({f'aux.{key}': value for key, value in aux_totals.items()})
                    # #### Periodic validation (rank 0 only; the others carry on training)
                    #
                    # Validation calls the model itself, not the DDP wrapper, so it starts no
                    # collective operation: the other ranks simply wait at the next backward
                    # pass until rank 0 catches up.
                    #
                    # The last step validates on the whole held-out text instead: the number
                    # every experiment page reports, read once in order from an empty memory
                    # with the evaluation memory length. It happens *inside* the loop because
                    # labml closes its file writer when `monit.loop` ends; anything tracked
                    # after that would never reach `log.jsonl`.
                    if last:
                        with monit.section(' final validation'):
                            final = evaluate(model, valid_streams, device, config.final_eval_segments or None)
                        result.final_valid_loss, result.final_valid_accuracy = final['loss'], final['accuracy']
                        result.valid_losses[done] = final['loss']
                        tracker.add({'loss.valid': final['loss'], 'bpc.valid': final['loss'] / math.log(2),
                                     'accuracy.valid': final['accuracy']})
                    elif done % config.eval_every == 0:
                        with monit.section(' valid'):
                            metrics = evaluate(model, valid_streams, device, config.eval_segments)
                        result.valid_losses[done] = metrics['loss']
                        tracker.add({'loss.valid': metrics['loss'], 'bpc.valid': metrics['loss'] / math.log(2),
                                     'accuracy.valid': metrics['accuracy']})
                    tracker.set_global_step(done)
                    tracker.save()
                    if done % config.log_every == 0:
                        tracker.new_line()
                # #### Checkpoints
                #
                # The step number in the file name is the number of *completed* steps, which
                # is also the step a resumed run starts from.
                if done % config.checkpoint_every == 0:
                    save_checkpoint(done)
                step = done
                if on_step is not None:
                    on_step(done, lm_total)
                if over_budget:
                    break
        except KeyboardInterrupt:
            # Nothing is lost: the state after the last completed step goes to disk. Under
            # torchrun the ranks cannot be trusted to meet for a gather any more, so the
            # periodic checkpoints are what a distributed run resumes from.
            if not ctx.active:
                path = save_checkpoint(step)
                print(f"\ninterrupted at step {step}; checkpoint saved to {path}\n"
                      f"resume with: resume={run_uuid}", file=sys.stderr)
            raise
        # The end of training: a final checkpoint, so `resume` with a larger `steps` can
        # extend a finished run, and the throughput over the whole run.
        result.checkpoint = save_checkpoint(step)
        result.final_step = step
        result.wall_time = time.time() - started
        result.tokens_per_second = (step - start_step) * tokens_per_step / max(result.wall_time, 1e-9)
        result.memory_bytes = memory.nbytes() if isinstance(memory, MemoryState) else 0
        result.model, result.vocabulary = model, vocab
        if not main_rank:
            return result

        # A resumed run with no steps left to take still reports its validation loss.
        if math.isnan(result.final_valid_loss):
            final = evaluate(model, valid_streams, device, config.final_eval_segments or None)
            result.final_valid_loss, result.final_valid_accuracy = final['loss'], final['accuracy']
            result.valid_losses[step] = final['loss']

        # ### A sample, generated with memory
        #
        # The prompt is the opening segment of the validation text; the generator is seeded so
        # two runs of the same model print the same sample.
        if config.sample_len > 0:
            model.eval()
            prompt = valid_streams.segment(0)[0][:1].to(device)
            generator = torch.Generator(device=device).manual_seed(config.seed)
            ids = model.generate(prompt, config.sample_len, config.seq_len, generator=generator)
            result.sample = vocab.decode(prompt[0]) + vocab.decode(ids[0])
    _wait_for_log_writer()
    return result


def _wait_for_log_writer(timeout: float = 30.0) -> None:
    # labml's file writer appends to `log.jsonl` on a thread of its own, which the end of the
    # experiment tells to finish but does not wait for. Waiting here means that whoever reads
    # the log after `train` returns (a plot, a study, a test) sees every value.
    import threading
    from labml.internal.tracker.writers.file import FileWriterThread
    for thread in threading.enumerate():
        if isinstance(thread, FileWriterThread):
            thread.join(timeout)


# ## The command line
#
# Every experiment module ends with `main(Config, PRESETS, build_model, name)`. Its last two
# printed lines are always the final validation loss and where the labml run and its last
# checkpoint are, so scripts (and people) can read the outcome of a run from the end of its
# output.
def _shown(path: Optional[Path]) -> str:
    # Relative to the working directory when the run is under it: shorter, and what one types.
    if path is None:
        return 'none'
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def report(result: TrainResult) -> str:
    """The closing lines a run prints: the sample, the final validation loss, where the run is."""
    lines = []
    if result.sample:
        lines += ['', '--- sample (prompt from the validation text, then generated with memory) ---',
                  result.sample, '---']
    lines += [f"tokens per second: {result.tokens_per_second:,.0f}; wall time {result.wall_time:.1f} s; "
              f"memory state {result.memory_bytes:,} bytes",
              f"final validation loss: {result.final_valid_loss:.4f} nats/char "
              f"({result.final_valid_loss / math.log(2):.4f} bits/char, accuracy "
              f"{result.final_valid_accuracy:.3f}) at step {result.final_step}",
              f"labml run: {_shown(result.run_path)} (configs.yaml, log.jsonl); "
              f"checkpoint: {_shown(result.checkpoint)}"]
    return '\n'.join(lines)


def main(config_cls: Type[TrainConfig], presets: Mapping[str, Mapping[str, Any]],
         build_model: ModelBuilder, name: str, argv: Optional[Sequence[str]] = None) -> TrainResult:
    r"""
    The command line every experiment shares: `key=value` overrides. A bad setting, wherever
    it is found (the parser, a `validate` method, the device, the dataset, the model's
    constructor, the checkpoint to resume), prints one line naming the key, the value and what
    is valid, and exits with status 2 ([configuration](config.py)); running out of memory
    prints one line and exits with 1; Ctrl-C exits with 130 after saving a checkpoint.
    """
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ('-h', '--help') for a in argv):
        keys = ', '.join(f.name for f in __import__('dataclasses').fields(config_cls))
        print(f"usage: python -m <experiment module> [key=value ...]\npresets: {sorted(presets)}\nkeys: {keys}")
        raise SystemExit(0)
    try:
        config = configure(config_cls, presets, parse_overrides(argv), name)
    except (ValueError, checkpoint.CheckpointError) as e:
        exit_on_bad_setting(e)
    try:
        result = train(config, build_model, name)
    except KeyboardInterrupt:
        raise SystemExit(130)
    # Only what the settings caused: an error raised inside the training loop is a bug and
    # keeps its traceback.
    except (SettingError, checkpoint.CheckpointError) as e:
        exit_on_bad_setting(e)
    except (MemoryError, torch.OutOfMemoryError) as e:
        exit_on_bad_setting(_out_of_memory(config, e), status=1)
    except RuntimeError as e:
        if "can't allocate memory" not in str(e):
            raise
        exit_on_bad_setting(_out_of_memory(config, e), status=1)
    if result.run_path is not None:  # rank 0 (the only rank that tracked the run)
        print(report(result))
    return result


def _out_of_memory(config: TrainConfig, error: BaseException) -> str:
    sizes = ', '.join(f"{k}={getattr(config, k)}" for k in
                      ('batch_size', 'seq_len', 'd_model', 'n_layers', 'mem_len', 'unroll')
                      if hasattr(config, k))
    return (f"out of memory on device={config.device!r} ({type(error).__name__}); the run's sizes are "
            f"{sizes}: lower one of them, or use preset=cpu")
