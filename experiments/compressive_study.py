r"""
# The Compressive Transformer study, with three seeds

Three questions, asked on Tiny Shakespeare of the quality study's model (4 layers, $d = 128$,
4 heads, segments of $L = 64$ characters, 16 streams, dropout off), three seeds per cell:

1. **At equal attention cost, does compressing beat remembering?** Transformer-XL with a memory
   of 96 attends over 160 keys and reaches 96 characters back. The Compressive Transformer with
   $M = 64$, $M_c = 32$ attends over the same 160 keys but reaches $M + c\,M_c$ back: 128
   characters at $c = 2$, 192 at $c = 4$.
2. **Which compression function and loss?** The seven cells of the paper's Table 5 at $c = 2$:
   max and mean pooling, most-used, convolution with each of the three losses (BPTT,
   auto-encoding, attention reconstruction), and the dilated convolution with the attention
   loss.
3. **Does attention rise into the compressed memory, beyond what distance alone gives?** The
   paper's 18-bucket profile of `conv_attention`, against a Transformer-XL whose memory covers
   the same 128 characters (`xl_mem128`), bucketed over the same character spans
   ([the analysis](../labml_memory/compressive/analysis.py)).

```
python experiments/compressive_study.py run                     # every run not yet recorded
python experiments/compressive_study.py run only=xl_mem96,conv_attention seeds=0
python experiments/compressive_study.py report                  # redraw both pages only
```

Each run writes `docs/results/compressive/records/<run>_seed<s>.json` when it finishes: the
full-precision validation curve and final loss, parameters, state bytes, the run id, the
command, the machine and the wall time, and for the two profiled runs the attention buckets
over the whole held-out text ([one record per run](../labml_memory/studies/records.py)); two
workers started at once share the list. `report` writes `study.md` and
`attention_buckets.md` beside the records from them alone.

## How the comparison is kept fair

* **The same characters, in the same order, for every cell.** Every run reads the same 16
  streams cut from the training text, segment after segment. The BPTT cells unroll two
  segments per step, and so take half the steps: they read exactly the characters the others
  read, two segments per update. (The paper halved the batch instead, which cuts the text
  into other streams and changes the validation streams too.)
* **The same validation.** The final validation reads the whole held-out text in the same 16
  streams from an empty memory; the compression loss is never part of the reported loss.
* **Attention cost counted in keys per query,** $M_c + M + L$: what sets the cost of attention.
  Parameters and state bytes per stream are given beside it.
* **Seeds.** The same three seeds in every cell: a seed sets the initial weights; the data
  order is a function of the step only.

## Deviations from the paper

* Tiny Shakespeare instead of enwik8, 4 layers instead of 24, a thousand steps instead of
  hundreds of thousands, one rate ($c = 2$) for the grid where Table 5 gives the best of
  $c \in \{2, 3, 4\}$; BPTT at the same batch and half the steps, as said above.
* The bucket profile is measured on every segment of the held-out text that has full
  memories (about 1,700 sequences of 64 characters per seed), not 20,000 sequences.
"""
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))

from labml_memory.compressive import experiment as compressive  # noqa: E402
from labml_memory.studies.records import run_missing, settings as read_settings  # noqa: E402
from labml_memory.training import provenance, train  # noqa: E402
from labml_memory.training.config import build_config  # noqa: E402
from labml_memory.transformer_xl import experiment as xl  # noqa: E402

RECORDS = Path('docs/results/compressive/records')
# The quality study's sizes, so the cells here and its Transformer-XL row are the same model.
SIZES = dict(n_layers=4, d_model=128, heads=4, d_ff=512, seq_len=64, batch_size=16, dropout=0.0,
             lr=2e-3, warmup=60, eval_every=100, eval_segments=16, checkpoint_every=100_000,
             sample_len=0, threads=1, device='cpu')
DEFAULTS = dict(steps='1000', seeds='0,1,2', only='')
# The runs whose attention is profiled over the held-out text, and how many of Transformer-XL's
# memories stand where the compressed slots stand: $c\,M_c = 64$.
PROFILED = {'conv_attention': None, 'xl_mem128': 64}

# ## The cells
#
# Name → (experiment module, settings). BPTT unrolls two segments per step (see above).
BPTT = dict(compression_loss='bptt', unroll=2)
RUNS = {
    # Question 1: equal attention cost (160 keys per query).
    'xl_mem96': (xl, dict(mem_len=96, eval_mem_len=96)),
    'conv_attention': (compressive, dict(compression='conv', compression_loss='attention')),
    'conv_attention_c4': (compressive, dict(compression='conv', compression_loss='attention',
                                            compression_rate=4)),
    # Question 3's control: equal span (128 characters back, 192 keys per query).
    'xl_mem128': (xl, dict(mem_len=128, eval_mem_len=128)),
    # Question 2: the rest of Table 5 at c = 2 (conv_attention above is one of its cells).
    'conv_autoencoding': (compressive, dict(compression='conv', compression_loss='autoencoding')),
    'conv_bptt': (compressive, dict(compression='conv', **BPTT)),
    'dilated_conv_attention': (compressive, dict(compression='dilated_conv', compression_loss='attention')),
    'max_pool': (compressive, dict(compression='max_pool', compression_loss='none')),
    'mean_pool': (compressive, dict(compression='mean_pool', compression_loss='none')),
    'most_used': (compressive, dict(compression='most_used', compression_loss='none')),
}


# Optimiser steps for a cell: the same characters for every cell, so an unrolled cell takes
# `steps / unroll` steps of `unroll` segments each.
def steps_of(name: str, steps: int) -> int:
    unroll = RUNS[name][1].get('unroll', 1)
    if steps % unroll:
        raise SystemExit(f"steps={steps} must divide by the unroll of {unroll} so that {name} reads "
                         f"the same characters as the other cells; try steps={steps - steps % unroll}")
    return steps // unroll


def config_of(name: str, seed: int, steps: int, logs: str):
    module, changes = RUNS[name]
    return build_config(module.Config, module.PRESETS,
                        {**SIZES, **changes, 'steps': steps_of(name, steps), 'seed': seed, 'logs_dir': logs})


# Keys per query and reach: $M + L$ and $M$ for XL; $M_c + M + L$ and $M + c\,M_c$ with compression.
def cost(name: str, config) -> Dict[str, int]:
    if RUNS[name][0] is xl:
        return {'keys': config.mem_len + config.seq_len, 'reach': config.mem_len}
    return {'keys': config.mem_len + config.compressed_len + config.seq_len,
            'reach': config.mem_len + config.compression_rate * config.compressed_len}


# ## The attention profile of a trained model
#
# Over every segment of the held-out text with full memories, read in the trainer's own
# validation streams.
def profile(name: str, model, config, vocabulary) -> Dict:
    import torch

    from labml_memory.compressive import analysis
    from labml_memory.data.shakespeare import SequentialStreams, load_text, split
    text = load_text(Path(config.data_file) if config.data_file else None)
    streams = SequentialStreams(split(vocabulary.encode(text))[1], config.batch_size, config.seq_len)
    model = model.to('cpu')
    if PROFILED[name] is None:
        buckets, measured = analysis.measure(model, streams, len(streams), torch.device('cpu'))
    else:
        buckets, measured = analysis.measure_equal_span(model, streams, len(streams), torch.device('cpu'),
                                                        older=PROFILED[name])
    return {'buckets': buckets, 'segments_measured': measured, 'streams': config.batch_size}


# ## One run
def run_one(name: str, seed: int, steps: int, command: str, logs: str) -> Dict:
    config = config_of(name, seed, steps, logs)
    started = time.time()
    result = train(config, RUNS[name][0].build_model, f'compressive_study_{name}')
    seconds = time.time() - started
    record = {'name': name, 'seed': seed, 'steps': result.final_step, 'unroll': config.unroll,
              'characters': result.final_step * config.unroll * config.batch_size * config.seq_len,
              **cost(name, config),
              'memory': {'seq_len': config.seq_len, 'mem_len': config.mem_len,
                         'compressed_len': getattr(config, 'compressed_len', 0),
                         'compression_rate': getattr(config, 'compression_rate', 1)},
              'parameters': sum(p.numel() for p in result.model.parameters()),
              'state_bytes_per_stream': result.memory_bytes // config.batch_size,
              'valid_loss': result.final_valid_loss, 'valid_curve': result.valid_losses,
              'train_curve': result.train_losses, 'run_uuid': result.run_uuid, 'seconds': seconds,
              'command': command, 'machine': provenance.machine()}
    if name in PROFILED:
        record['profile'] = profile(name, result.model, config, result.vocabulary)
    return record


def parse(argv: List[str]) -> Dict:
    settings = read_settings(argv, DEFAULTS)
    settings['steps'] = int(settings['steps'])
    names = [n for n in settings['only'].split(',') if n] or list(RUNS)
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        raise SystemExit(f"unknown run(s) {unknown}; valid: {', '.join(RUNS)}")
    for name in names:
        steps_of(name, settings['steps'])
    settings['names'] = names
    return settings


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    action = argv.pop(0) if argv and argv[0] in ('run', 'report') else 'run'
    settings = parse(argv)
    records = Path(os.environ.get('COMPRESSIVE_RECORDS', RECORDS))
    if action == 'report':
        import compressive_report
        compressive_report.write(records, records.parent)
        return
    command = 'python experiments/compressive_study.py run ' + ' '.join(argv)
    logs = tempfile.mkdtemp(prefix='compressive_study_')
    # Seed by seed, so that a stopped study leaves whole seeds behind.
    jobs = [(f'{name}_seed{seed}', (lambda n=name, s=seed: run_one(n, s, settings['steps'], command, logs)))
            for seed in settings['seeds'] for name in settings['names']]
    for key in run_missing(jobs, records):
        print('recorded', key, flush=True)


if __name__ == '__main__':
    main()
