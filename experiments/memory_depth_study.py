r"""
# The memory-depth study, with six layers and three seeds

Rae and Razavi's questions (see the [model](../labml_memory/memory_depth/__init__.py)), asked
of a 6-layer Transformer-XL on Tiny Shakespeare so that their "one long-range layer in six"
can be expressed:

1. **How many long-range layers, and where?** Every distinct arrangement of $n$ long layers
   ($n$ = 0, 1, 2, 3 and 6) placed first, interleaved or last.
2. **Does a shorter range in the lower layers help?** The paper's third finding, as its own
   sweep: one long layer at the top, and the short range of the five below it set to 4, 8,
   16, 32 or 64 characters.
3. **Does the all-long model catch up with a longer budget?** The two baselines, all long and
   all short, trained `LONGER_STEPS` steps (`part=longer`), twice the study's budget.

```
python experiments/memory_depth_study.py run                    # every run not yet recorded
python experiments/memory_depth_study.py run part=short seeds=0
python experiments/memory_depth_study.py run part=longer        # the two baselines, 2,000 steps
python experiments/memory_depth_study.py report                 # redraw the page only
```

Each run writes `docs/results/memory_depth/records/<run>_seed<s>.json` when it finishes:
the full-precision validation curve and final loss, the run id, the command, the machine and
the wall time ([one record per run](../labml_memory/studies/records.py)); two workers started
at once share the list. `report` writes `docs/results/memory_depth/study.md` from the records.

## Sizes

6 layers, $d = 128$, 4 heads, feed-forward 512, segments of $L = 32$ characters, 32 streams,
long range $M_{long} = 128$, short range $M_{short} = 16$ unless swept, dropout off, peak
learning rate 0.002 with warm-up and cosine decay, `steps` steps each (validation every 100
steps on 16 segments, then the final validation on the whole held-out text). The study asks
for a budget at which the all-long model is at least as good as the all-short one; the curves
of both are kept, so the page shows whether that happens within the budget.
"""
import sys
import time
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))

from labml_memory.memory_depth import memory_lengths, state_numbers  # noqa: E402
from labml_memory.memory_depth.experiment import PRESETS, Config, arrangements, build_model  # noqa: E402
from labml_memory.studies.records import run_missing, settings as read_settings  # noqa: E402
from labml_memory.training import provenance, train  # noqa: E402
from labml_memory.training.config import build_config  # noqa: E402

RECORDS = Path('docs/results/memory_depth/records')
SIZES = dict(n_layers=6, d_model=128, heads=4, d_ff=512, seq_len=32, batch_size=32,
             long_mem_len=128, short_mem_len=16, dropout=0.0, lr=2e-3, warmup=60,
             eval_every=100, eval_segments=16, checkpoint_every=100_000, sample_len=0, threads=1,
             device='cpu')
SHORT_RANGES = [4, 8, 16, 32, 64]
DEFAULTS = dict(steps='1000', seeds='0,1,2', part='all')
# The longer budget of question 3; its runs are named `<baseline>_<steps>steps`.
LONGER_STEPS = 2000


# The runs of a part, each a name and the settings it changes.
def plan(part: str) -> List[tuple]:
    runs = []
    if part in ('all', 'placement'):
        for n_long, placement in arrangements(SIZES['n_layers']):
            # One long layer interleaved is the one on top: it is named (and built) as `last`,
            # which is also the arrangement the short-range sweep varies.
            if n_long == 1 and placement == 'interleaved':
                placement = 'last'
            runs.append((f'long{n_long}_{placement}', dict(n_long=n_long, placement=placement)))
    if part in ('all', 'short'):
        for short in SHORT_RANGES:
            if short != SIZES['short_mem_len'] or part == 'short':
                runs.append((f'long1_last_short{short}', dict(n_long=1, placement='last', short_mem_len=short)))
    if part == 'longer':
        for n_long in (0, SIZES['n_layers']):
            runs.append((f'long{n_long}_last_{LONGER_STEPS}steps',
                         dict(n_long=n_long, placement='last', steps=LONGER_STEPS)))
    if not runs:
        raise SystemExit(f"unknown part {part!r}; valid: all, placement, short, longer")
    return runs


def run_one(name: str, changes: Dict, seed: int, steps: int, command: str, logs: str) -> Dict:
    # A run's own `steps` (the longer budget) wins over the study's.
    config = build_config(Config, PRESETS, {**SIZES, 'steps': steps, **changes, 'seed': seed,
                                            'logs_dir': logs})
    started = time.time()
    result = train(config, build_model, 'memory_depth_study')
    lengths = memory_lengths(config.n_layers, config.n_long, config.placement, config.long_mem_len,
                             config.short_mem_len)
    return {'name': name, 'seed': seed, 'steps': result.final_step, 'n_long': config.n_long,
            'placement': config.placement, 'short_mem_len': config.short_mem_len,
            'long_mem_len': config.long_mem_len, 'lengths': lengths,
            'state_bytes_per_stream': 4 * state_numbers(1, config.d_model, lengths),
            'parameters': sum(p.numel() for p in result.model.parameters()),
            'valid_loss': result.final_valid_loss, 'valid_curve': result.valid_losses,
            'train_curve': result.train_losses, 'run_uuid': result.run_uuid,
            'seconds': time.time() - started, 'command': command, 'machine': provenance.machine()}


def parse(argv: List[str]) -> Dict:
    settings = read_settings(argv, DEFAULTS)
    settings['steps'] = int(settings['steps'])
    plan(settings['part'])  # fails on an unknown part before anything trains
    return settings


def main(argv=None) -> None:
    import os
    import tempfile
    argv = list(sys.argv[1:] if argv is None else argv)
    action = argv.pop(0) if argv and argv[0] in ('run', 'report') else 'run'
    settings = parse(argv)
    records = Path(os.environ.get('MEMORY_DEPTH_RECORDS', RECORDS))
    if action == 'report':
        import memory_depth_report
        memory_depth_report.write(records, records.parent,
                                  [name for part in ('all', 'longer') for name, _ in plan(part)])
        return
    command = 'python experiments/memory_depth_study.py run ' + ' '.join(argv)
    logs = tempfile.mkdtemp(prefix='memory_depth_study_')
    jobs = [(f'{name}_seed{seed}', (lambda n=name, c=changes, s=seed:
                                    run_one(n, c, s, settings['steps'], command, logs)))
            for seed in settings['seeds'] for name, changes in plan(settings['part'])]
    for key in run_missing(jobs, records):
        print('recorded', key, flush=True)


if __name__ == '__main__':
    main()
