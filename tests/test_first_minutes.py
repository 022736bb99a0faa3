"""A newcomer's first minutes: every bad setting of every experiment prints one line naming the
key, the value and what is valid, and exits non-zero; never a traceback.

Each case runs the experiment's own command line (`main(argv)`, in process) with a bad setting
on top of settings that would make any run tiny, so a check that went missing shows up as a run
that trains and returns instead of failing, not as a long wait.
"""
import dataclasses
import importlib
import sys
from pathlib import Path

import pytest
import torch

from labml_memory.training import checkpoint, main

ROOT = Path(__file__).resolve().parents[1]
# Every experiment module, found the way a newcomer finds them: `labml_memory/<name>/experiment.py`.
EXPERIMENTS = sorted(p.parent.name for p in (ROOT / 'labml_memory').glob('*/experiment.py'))


def module(name):
    return importlib.import_module(f'labml_memory.{name}.experiment')


def fields(name):
    return {f.name for f in dataclasses.fields(module(name).Config)}


# What any accidental run would be: two steps of two streams, nothing sampled, one segment
# validated. The Memorizing Transformer searches with PyTorch, so faiss is not needed.
def tiny(name, tmp_path):
    argv = ['steps=2', 'batch_size=2', 'sample_len=0', 'final_eval_segments=1', 'eval_segments=1',
            'threads=1', f'logs_dir={tmp_path / "logs"}']
    return argv + (['index=torch'] if name == 'memorizing_transformer' else [])


# ## The table: the bad setting, and the key and value the one line must name
#
# Shared by every experiment: the trainer's keys and the stack's.
COMMON = [
    ('stepz=3', 'stepz', 'stepz'),                # a typo of a key
    ('steps', 'steps', 'steps'),                  # no `=`
    ('steps=ten', 'steps', 'ten'),                # wrong type
    ('steps=-5', 'steps', '-5'),
    ('batch_size=0', 'batch_size', '0'),
    ('lr=nan', 'lr', 'nan'),
    ('min_lr_ratio=2', 'min_lr_ratio', '2'),
    ('warmup=-1', 'warmup', '-1'),
    ('final_eval_segments=-1', 'final_eval_segments', '-1'),
    ('preset=tpu', 'preset', 'tpu'),
    ('device=gpu', 'device', 'gpu'),
    ('device=cuda:x', 'device', 'cuda:x'),
    ('dropout=1.5', 'dropout', '1.5'),
    ('heads=3', 'heads', '3'),                    # does not divide d_model=128
    ('d_model=0', 'd_model', '0'),
    ('norm=middle', 'norm', 'middle'),
    ('activation=swish', 'activation', 'swish'),
    ('batch_size=100000', 'batch_size', '100000'),  # more streams than the text can fill
    ('resume=nope', 'resume', 'nope'),            # no such run
]
# Each experiment's own keys; a case applies where the experiment has the key.
OWN = {
    'transformer_xl': [
        ('mem_len=-5', 'mem_len', '-5'),
        ('eval_mem_len=64,64', 'eval_mem_len', '64,64'),   # two lengths for four layers
        ('attention_impl=flash', 'attention_impl', 'flash'),
        ('tie_uv=maybe', 'tie_uv', 'maybe'),
    ],
    'compressive': [
        ('mem_len=-5', 'mem_len', '-5'),
        ('compression_rate=3', 'compression_rate', '3'),   # does not divide seq_len=64
        ('seq_len=63', 'seq_len', '63'),
        ('compression=avg', 'compression', 'avg'),
        ('compression_loss=l2', 'compression_loss', 'l2'),
        ('compressed_len=-2', 'compressed_len', '-2'),
        ('compression_loss=bptt', 'compression_loss', 'bptt'),  # needs unroll >= 2
    ],
    'infini_attention': [
        ('update_rule=sideways', 'update_rule', 'sideways'),
        ('memory_grad=true', 'memory_grad', 'true'),      # with unroll=1
        ('eps=0', 'eps', '0'),
    ],
    'infinity_former': [
        ('mem_len=-5', 'mem_len', '-5'),
        ('tau=1.5', 'tau', '1.5'),
        ('ridge=0', 'ridge', '0'),
        ('ridge=1e-30', 'ridge', '1e-30'),
        ('n_basis=63', 'n_basis', '63'),
        ('widths=0.5,-1', 'widths', '0.5,-1'),
        ('n_samples=0', 'n_samples', '0'),
        ('mu_0=2', 'mu_0', '2'),
    ],
    'memorizing_transformer': [
        ('mem_len=-5', 'mem_len', '-5'),
        ('index=annoy', 'index', 'annoy'),
        ('mem_size=32', 'mem_size', '32'),
        ('top_k=0', 'top_k', '0'),
        ('knn_layer=9', 'knn_layer', '9'),
    ],
    'memory_depth': [
        ('mem_len=-5', 'mem_len', '-5'),
        ('n_long=9', 'n_long', '9'),
        ('placement=middle', 'placement', 'middle'),
        ('long_mem_len=-5', 'long_mem_len', '-5'),
        ('short_mem_len=200', 'short_mem_len', '200'),
    ],
    'recurrent_memory': [
        ('n_mem=0', 'n_mem', '0'),
        ('mask=diagonal', 'mask', 'diagonal'),
        ('memory_grad=true unroll=1', 'memory_grad', 'true'),
    ],
}
CASES = [(name, *case) for name in EXPERIMENTS for case in COMMON + OWN.get(name, [])
         if case[1] in fields(name) or '=' not in case[0] or case[1] == 'stepz']


def fails_in_one_line(name, argv, key, value, capsys):
    r"""Run the experiment's command line; return its one line of error after checking it."""
    experiment = module(name)
    with pytest.raises(SystemExit) as exit_info:
        main(experiment.Config, experiment.PRESETS, experiment.build_model, name, argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert exit_info.value.code not in (0, None), f"{name} {argv[-1]}: exited with status 0"
    assert 'Traceback' not in captured.err + captured.out
    assert len(lines) == 1, f"{name} {argv[-1]}: {len(lines)} lines on stderr:\n{captured.err}"
    line = lines[0]
    assert key in line and value in line, f"{name} {argv[-1]}: the line must name {key} and {value}: {line}"
    return line


@pytest.mark.parametrize('name,setting,key,value', CASES, ids=[f'{c[0]}:{c[1]}' for c in CASES])
def test_a_bad_setting_is_one_line(name, setting, key, value, tmp_path, capsys):
    fails_in_one_line(name, tiny(name, tmp_path) + setting.split(), key, value, capsys)


def test_every_experiment_is_in_the_table():
    # A new experiment is found by the glob above; it must at least be listed here, so that
    # someone has thought about the keys of its own.
    assert set(EXPERIMENTS) == set(OWN), sorted(set(EXPERIMENTS) ^ set(OWN))


# ## Settings that name the machine
@pytest.mark.parametrize('name', EXPERIMENTS)
def test_cuda_where_there_is_none(name, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    line = fails_in_one_line(name, tiny(name, tmp_path) + ['device=cuda'], 'device', 'cuda', capsys)
    assert 'device=cpu or auto' in line


def test_a_gpu_index_the_machine_lacks(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    line = fails_in_one_line('transformer_xl', tiny('transformer_xl', tmp_path) + ['device=cuda:7'],
                             'device', 'cuda:7', capsys)
    assert 'cuda:0 to cuda:0' in line


def test_faiss_missing(tmp_path, capsys, monkeypatch):
    # The Memorizing Transformer's default index needs faiss, an optional package.
    monkeypatch.setitem(sys.modules, 'faiss', None)
    line = fails_in_one_line('memorizing_transformer', tiny('memorizing_transformer', tmp_path)
                             + ['index=flat'], 'index', 'flat', capsys)
    assert "index='torch'" in line


def test_running_out_of_memory(tmp_path, capsys):
    def too_big(config, vocab_size):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB\nsee the docs")

    experiment = module('transformer_xl')
    with pytest.raises(SystemExit) as exit_info:
        main(experiment.Config, experiment.PRESETS, too_big, 'transformer_xl', tiny('transformer_xl', tmp_path))
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 1 and len(err) == 1 and 'out of memory' in err[0] and 'batch_size=2' in err[0]


# ## The dataset file
@pytest.mark.parametrize('name', EXPERIMENTS)
def test_bad_dataset_files(name, tmp_path, capsys):
    binary = tmp_path / 'model.bin'
    binary.write_bytes(bytes(range(256)) * 4)
    short = tmp_path / 'one.txt'
    short.write_text('a')
    for path in (tmp_path / 'nowhere.txt', tmp_path, binary, short):
        fails_in_one_line(name, tiny(name, tmp_path) + [f'data_file={path}'], 'data_file', str(path), capsys)


def test_logs_dir_that_cannot_be_written(tmp_path, capsys):
    blocker = tmp_path / 'a_file'
    blocker.write_text('')
    fails_in_one_line('transformer_xl', tiny('transformer_xl', tmp_path) + [f'logs_dir={blocker}/logs'],
                      'logs_dir', str(blocker), capsys)


# ## Resuming: a corrupt checkpoint, and a model the checkpoint does not fit
@pytest.mark.parametrize('name', EXPERIMENTS)
def test_bad_resumes(name, tmp_path, capsys):
    experiment = module(name)
    small = ['d_model=16', 'heads=2', 'n_layers=2', 'd_ff=32', 'seq_len=8', 'checkpoint_every=1']
    small += [s for s in ('mem_size=8', 'top_k=4', 'n_basis=8', 'n_samples=8', 'bins=8',
                          'long_mem_len=8', 'short_mem_len=4') if s.split('=')[0] in fields(name)]
    result = main(experiment.Config, experiment.PRESETS, experiment.build_model, name,
                  tiny(name, tmp_path) + small + ['steps=1'])
    capsys.readouterr()
    # The checkpoint it wrote, resumed with a wider model: the weights cannot fit.
    fails_in_one_line(name, tiny(name, tmp_path) + ['resume=latest', 'd_model=32', 'steps=2'],
                      'resume', 'd_model=32', capsys)
    # The same checkpoint, truncated.
    path = checkpoint.checkpoints_of(result.run_path)[-1]
    path.write_bytes(path.read_bytes()[:100])
    line = fails_in_one_line(name, tiny(name, tmp_path) + ['resume=latest', 'steps=2'],
                             'resume', 'latest', capsys)
    assert 'corrupt' in line and path.name in line
