r"""
# Quality at equal compute, and whether each model uses its memory

Two questions about every architecture on Tiny Shakespeare, each asked of three seeds:

1. **Given the same training compute, which architecture learns the most?** Every model
   trains for as many steps as a fixed budget of floating-point operations allows, long
   enough that every one of them is past the early phase (below 1.75 nats per character).
2. **Does it use its memory?** The trained model is evaluated with its state built from only
   the last $h$ segments ($h = 0$ is no memory at all), for $h$ from 0 to 8 and for the whole
   stream; with a longer evaluation memory where the architecture has one (Transformer-XL's
   `eval_mem_len`, up to 8× the training memory); and character by character inside the
   segment, where memory should help the first positions most.

```
python experiments/quality_at_equal_compute.py run                 # every run not yet recorded
python experiments/quality_at_equal_compute.py run only=transformer_xl seeds=0
python experiments/quality_at_equal_compute.py report              # redraw both pages
```

Each run is one record, `docs/results/quality/<name>_seed<s>.json`, written as soon as the run
and its evaluations finish ([one record per run](../labml_memory/studies/records.py)): a run
already recorded is skipped, so the study can be stopped and restarted, and two workers
started at once share the list. `report` writes
`docs/results/quality.md` (question 1) and `docs/results/context.md` (question 2) from the
records alone.

## How compute is matched: counted operations

The budget is counted, not timed, so it does not depend on how busy the machine is.
`torch.utils.flop_counter.FlopCounterMode` counts the floating-point operations of one
training step of each model (forward and backward, memory full, as `train_step` takes it):
matrix products, attention and convolutions, which are nearly all of a transformer's work.
Element-wise operations, the optimiser and the Memorizing Transformer's top-$k$ selection are
not counted. The plain transformer's step at `steps` steps sets the budget $B$; every model
then trains $\mathrm{round}(B / F)$ steps, $F$ being its own operations per step. Every step
reads the same characters (16 streams of 64, or the plain transformer's 8 of 128), so the
budget per character is the same for every model.

## The models

The [quality page](../docs/results/quality_peers.md)'s sizes (4 layers, $d = 128$, 4 heads,
segments of $L = 64$, memory $M = 64$, 16 streams, dropout off, peak learning rate 0.002 with
a cosine schedule), each architecture at its CPU preset's remaining settings, built through
its experiment's registry entry. The plain transformer is Transformer-XL with no memory on
segments of 128 characters with 8 streams: each query sees up to 128 characters back, as the
last query of a memory model's segment does.
"""
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality_at_equal_budget as quick  # noqa: E402  (the shared sizes and builders)

from labml_memory.benchmark import machine, our_architectures  # noqa: E402
from labml_memory.studies.records import run_missing, settings as read_settings  # noqa: E402
from labml_memory.training import make_optimizer, train, train_step  # noqa: E402
from labml_memory.data.shakespeare import SequentialStreams, Vocabulary, load_text, split  # noqa: E402

RECORDS = Path('docs/results/quality')
BASELINE = quick.BASELINE
# The settings every run shares, on top of the quality page's: a longer warm-up for a longer
# run, and the final validation on the same 24 segments of the held-out text.
DEFAULTS = dict(steps=1200, seeds='0,1,2', only='', warmup=60, eval_segments=24,
                histories='0,1,2,4,8', eval_mem_lens='0,32,64,128,256,512')


def file_name(name: str) -> str:
    return name.replace(' ', '_')


# ## Counting a step's operations
#
# A stand-in for the training streams: random characters, the shapes the trainer reads.
class _RandomStreams:
    def __init__(self, batch: int, seq_len: int, vocab: int):
        self.batch, self.seq_len, self.vocab = batch, seq_len, vocab

    def segment(self, index: int):
        g = torch.Generator().manual_seed(index)
        x = torch.randint(self.vocab, (self.batch, self.seq_len + 1), generator=g)
        return x[:, :-1], x[:, 1:], False


# The memory is filled first with `warm` steps (a Memorizing Transformer's table and a
# Compressive Transformer's compressed memory grow over several segments; their attention
# costs most when full), then one step is counted.
def flops_per_step(name: str, vocab: int = 65, warm: int = 24) -> int:
    from torch.utils.flop_counter import FlopCounterMode
    config = quick.config_for(name, {'steps': 10})
    torch.manual_seed(0)
    model = quick.builder(name)(config, vocab)
    optimizer = make_optimizer(model, config)
    streams = _RandomStreams(config.batch_size, config.seq_len, vocab)
    memory = None
    for step in range(warm):
        memory, _ = train_step(model, model, optimizer, streams, memory, step, config, torch.device('cpu'))
    with FlopCounterMode(display=False) as counter:
        train_step(model, model, optimizer, streams, memory, warm, config, torch.device('cpu'))
    return int(counter.get_total_flops())


# ## Evaluating how far back a trained model looks
#
# The evaluation streams are the same for every model: the held-out text cut into 16 streams
# of segments of $L = 64$, and segments $t = 8 \dots 8 + E - 1$ of every stream are scored,
# so every $h \le 8$ has its full history. The plain transformer has no state: "history $h$"
# for it is the text it reads before the scored segment in the same call (at most the 64
# characters its 128-long window allows), so its $h \ge 1$ are one number.
FIRST = 8


def _score(logits, targets):
    # Per-position summed losses `[L]` and the count of streams.
    losses = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction='none')
    return losses.view(targets.shape).sum(0)


@torch.no_grad()
def context_curves(model, name: str, streams: SequentialStreams, config, histories: List[int],
                   eval_segments: int, eval_mem_lens: List[int]) -> Dict:
    model.eval()
    L = streams.seq_len
    plain = name == BASELINE
    scored = range(FIRST, FIRST + eval_segments)
    n_chars = streams.inputs.shape[0] * eval_segments

    def run_plain(t: int, h: int):
        # The scored segment with up to `h` preceding segments in the same window.
        back = min(h, config.seq_len // L - 1, t)
        x = torch.cat([streams.segment(t - back + k)[0] for k in range(back + 1)], dim=1)
        logits = model(x, None)[0][:, -L:]
        return _score(logits, streams.segment(t)[1])

    def run_memory(t: int, h: int):
        memory = None
        for k in range(t - h, t):
            memory = model(streams.segment(k)[0], memory)[1]
        x, y, _ = streams.segment(t)
        return _score(model(x, memory)[0], y)

    out = {'histories': {}, 'positions': {}, 'eval_mem_len': {}}
    for h in histories:
        per_position = sum((run_plain if plain else run_memory)(t, h) for t in scored)
        out['histories'][str(h)] = per_position.sum().item() / (n_chars * L)
        if h == 0:
            out['positions']['0'] = (per_position / n_chars).tolist()

    # The whole stream: the state runs from the start of the held-out text (segment 0), as
    # validation does, and the same segments are scored.
    def whole_stream():
        if plain:
            return sum(run_plain(t, 1) for t in scored)
        memory, total = None, torch.zeros(L)
        for t in range(FIRST + eval_segments):
            x, y, _ = streams.segment(t)
            logits, memory, _ = model(x, memory)
            if t >= FIRST:
                total += _score(logits, y)
        return total
    per_position = whole_stream()
    out['histories']['all'] = per_position.sum().item() / (n_chars * L)
    out['positions']['all'] = (per_position / n_chars).tolist()

    # A longer evaluation memory, where the model has one per layer (Transformer-XL and the
    # memory-depth study's models): every layer's memory set to the same length.
    if not plain and hasattr(model, 'eval_mem_len') and name == 'transformer_xl':
        kept = list(model.eval_mem_len)
        for m in eval_mem_lens:
            model.eval_mem_len = [m] * len(kept)
            out['eval_mem_len'][str(m)] = whole_stream().sum().item() / (n_chars * L)
        model.eval_mem_len = kept
    return out


# ## One run: train, then evaluate
def run_one(name: str, seed: int, steps: int, settings: Dict) -> Dict:
    logs = tempfile.mkdtemp(prefix='quality_compute_')
    config = quick.config_for(name, {'logs_dir': logs, 'steps': steps, 'seed': seed,
                                     'warmup': settings['warmup'], 'log_every': 10})
    started = time.time()
    result = train(config, quick.builder(name), 'quality_compute_' + file_name(name))
    trained = time.time() - started
    # The evaluation streams: 16 of 64 for every model (see above).
    text = load_text(Path(config.data_file) if config.data_file else None)
    vocab = Vocabulary.from_text(text)
    streams = SequentialStreams(split(vocab.encode(text))[1], quick.SIZES.batch_size, quick.SIZES.seq_len)
    started = time.time()
    curves = context_curves(result.model, name, streams, config, settings['histories'],
                            settings['eval_segments'], settings['eval_mem_lens'])
    return {'name': name, 'seed': seed, 'steps': result.final_step, 'run_uuid': result.run_uuid,
            'valid_loss': result.final_valid_loss, 'curve': result.train_losses,
            'wall_time': result.wall_time, 'train_seconds': trained,
            'eval_seconds': time.time() - started,
            'parameters': sum(p.numel() for p in result.model.parameters()),
            'state_bytes': result.memory_bytes // max(config.batch_size, 1),
            'context': curves, 'machine': machine()}


def parse(argv: List[str]) -> Dict:
    settings = read_settings(argv, DEFAULTS)
    settings['steps'] = int(settings['steps'])
    settings['warmup'] = int(settings['warmup'])
    settings['eval_segments'] = int(settings['eval_segments'])
    settings['histories'] = [int(h) for h in str(settings['histories']).split(',')]
    if max(settings['histories']) > FIRST:
        raise SystemExit(f"histories go up to {FIRST} segments (the first scored segment); got {settings['histories']}")
    settings['eval_mem_lens'] = [int(m) for m in str(settings['eval_mem_lens']).split(',')]
    names = our_architectures() + [BASELINE]
    settings['names'] = [n for n in str(settings['only']).split(',') if n] or names
    unknown = [n for n in settings['names'] if n not in names]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; valid: {', '.join(names)}")
    return settings


# Operations per step of every model, counted once and kept beside the records.
def counted(names: List[str], records: Path) -> Dict[str, int]:
    path = records / 'flops.json'
    known = json.loads(path.read_text()) if path.exists() else {}
    for name in names + [BASELINE]:
        if name not in known:
            print(f'counting one step of {name}', flush=True)
            known[name] = flops_per_step(name)
            records.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(known, indent=1, sort_keys=True))
    return known


def main(argv: Optional[List[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    action = argv.pop(0) if argv and argv[0] in ('run', 'report', 'count') else 'run'
    settings = parse(argv)
    records = Path(os.environ.get('QUALITY_RECORDS', RECORDS))
    if action == 'report':
        import quality_report
        quality_report.write(records, Path(records).parent)
        return
    flops = counted(settings['names'], records)
    if action == 'count':
        for name in settings['names']:
            print(f'{name:28s} {flops[name]:>16,d} operations per step')
        return
    budget = flops[BASELINE] * settings['steps']
    command = 'python experiments/quality_at_equal_compute.py run ' + ' '.join(argv)

    # Seeds outside, models inside: two workers finish seed 0 of every model before seed 1.
    def job(name: str, seed: int):
        def go():
            steps = max(1, round(budget / flops[name]))
            print(f'== {name}, seed {seed}: {steps} steps', flush=True)
            record = run_one(name, seed, steps, settings)
            record.update(flops_per_step=flops[name], budget_flops=budget, command=command,
                          reference_steps=settings['steps'])
            print(f"   {name} seed {seed}: valid {record['valid_loss']:.4f} in "
                  f"{record['train_seconds']:.0f} s", flush=True)
            return record
        return f'{file_name(name)}_seed{seed}', go
    run_missing((job(name, seed) for seed in settings['seeds'] for name in settings['names']), records)

if __name__ == '__main__':
    main()
