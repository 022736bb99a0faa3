"""Two processes under torchrun take the same steps as one process with twice the batch."""
import subprocess
import sys

import pytest
import torch

from labml_memory.training import checkpoint, train
from labml_memory.training.logs import read_metrics
from labml_memory.training.config import build_config
from labml_memory.transformer_xl.experiment import PRESETS, Config, build_model

SETTINGS = dict(d_model=16, heads=2, n_layers=1, d_ff=32, mem_len=8, eval_mem_len=8, seq_len=8,
                warmup=2, eval_every=1000, eval_segments=2, checkpoint_every=1000, sample_len=0,
                log_every=1, threads=1, final_eval_segments=2, dropout=0.0, steps=4)


def logged_losses(run_path):
    return dict(read_metrics(run_path)['loss.train'])


def test_two_ranks_agree_with_one_process(tmp_path):
    single = train(build_config(Config, PRESETS, {**SETTINGS, 'batch_size': 8, 'logs_dir': str(tmp_path / 'one')}),
                   build_model, 'ddp_test')
    command = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2',
               '-m', 'labml_memory.transformer_xl.experiment', 'batch_size=4', f'logs_dir={tmp_path / "two"}']
    command += [f'{k}={v}' for k, v in SETTINGS.items()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    two_run = next((tmp_path / 'two' / 'transformer_xl').iterdir())
    # The same loss at every step (each rank's loss averaged over ranks) ...
    two_losses = logged_losses(two_run)
    assert sorted(two_losses) == [1, 2, 3, 4]
    for step, loss in two_losses.items():
        assert loss == pytest.approx(single.train_losses[step], abs=1e-5)
    # ... and the same weights after four steps, so the averaged gradients were the same. Adam
    # divides by the gradient's running scale, which magnifies float-order noise where a
    # gradient is near zero, so weights are compared to a quarter of one step (lr = 2e-3).
    one_state = checkpoint.load(checkpoint.checkpoints_of(single.run_path)[-1])
    two_state = checkpoint.load(checkpoint.checkpoints_of(two_run)[-1])
    for key, value in one_state['model'].items():
        torch.testing.assert_close(two_state['model'][key], value, atol=5e-4, rtol=0)
    # Each rank's memory went into the checkpoint, for resuming with two processes.
    assert len(two_state['train_memory']) == 2 and len(one_state['train_memory']) == 1
