"""The trainer, its configuration and data: exact resume, clear errors, streams that carry on."""
import math

import pytest
import torch

from labml_memory.data import shakespeare
from labml_memory.data.shakespeare import SequentialStreams, Vocabulary, load_text
from labml_memory.training import checkpoint, configure, learning_rate, main, train
from labml_memory.training.config import TrainConfig, build_config, parse_overrides
from labml_memory.training.logs import read_metrics
from labml_memory.transformer_xl.experiment import PRESETS, Config, build_model

TINY = dict(d_model=16, heads=2, n_layers=1, d_ff=32, mem_len=8, eval_mem_len=8, seq_len=8,
            batch_size=4, warmup=2, eval_every=1000, eval_segments=2, checkpoint_every=3,
            sample_len=0, log_every=1, threads=1, final_eval_segments=4)


def tiny(tmp_path, **overrides):
    return build_config(Config, PRESETS, {**TINY, 'logs_dir': str(tmp_path), **overrides})


def test_learning_rate_warms_up_then_follows_a_cosine():
    config = TrainConfig(steps=110, warmup=10, lr=1.0, min_lr_ratio=0.1)
    assert learning_rate(0, config) == pytest.approx(0.1)
    assert learning_rate(9, config) == pytest.approx(1.0)
    assert learning_rate(60, config) == pytest.approx(0.1 + 0.9 * 0.5)  # half way down the cosine
    assert learning_rate(110, config) == pytest.approx(0.1)


def test_overrides_are_typed_and_checked():
    config = build_config(Config, PRESETS, parse_overrides(
        ['steps=7', 'lr=0.01', 'tie_uv=false', 'mem_len=8,4,4,2', 'clamp_len=none']))
    assert (config.steps, config.lr, config.tie_uv, config.mem_len, config.clamp_len) == \
        (7, 0.01, False, [8, 4, 4, 2], None)
    assert build_config(Config, PRESETS, {'preset': 'gpu'}).d_model == 384
    with pytest.raises(ValueError, match=r"unknown configuration key\(s\) \['stepz'\].*valid keys:.*'steps'"):
        build_config(Config, PRESETS, {'stepz': '3'})
    with pytest.raises(ValueError, match=r"steps='ten': expected int"):
        build_config(Config, PRESETS, {'steps': 'ten'})
    with pytest.raises(ValueError, match=r"unknown preset 'tpu'; valid presets: \['cpu', 'gpu'\]"):
        build_config(Config, PRESETS, {'preset': 'tpu'})
    with pytest.raises(ValueError, match="batch_size must be positive, got 0"):
        build_config(Config, PRESETS, {'batch_size': '0'})
    with pytest.raises(ValueError, match="not of the form key=value"):
        parse_overrides(['steps'])


def test_unknown_key_on_the_command_line_exits_with_the_valid_keys(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(Config, PRESETS, build_model, 'transformer_xl', ['nonsense=1'])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown configuration key(s) ['nonsense']" in err and "'mem_len'" in err


def test_streams_continue_row_by_row():
    data = torch.arange(1000)
    streams = SequentialStreams(data, batch_size=4, seq_len=10)
    first, first_targets, reset = streams.segment(0)
    second, _, reset2 = streams.segment(1)
    assert reset and not reset2
    stream_len = 999 // 4
    for b in range(4):
        torch.testing.assert_close(first[b], torch.arange(10) + b * stream_len)
        torch.testing.assert_close(second[b], torch.arange(10, 20) + b * stream_len)
        torch.testing.assert_close(first_targets[b], first[b] + 1)
    assert streams.segment(len(streams))[2]  # a new epoch resets the memory
    with pytest.raises(ValueError, match="cannot fill 8 streams"):
        SequentialStreams(torch.arange(20), batch_size=8, seq_len=4)


def test_shipped_dataset_and_vocabulary():
    text = load_text()
    vocab = Vocabulary.from_text(text)
    assert len(text) == 1_115_394 and vocab.size == 65
    assert vocab.decode(vocab.encode("To be, or not")) == "To be, or not"


def test_missing_dataset_fails_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset file not found: .*nowhere.txt"):
        load_text(tmp_path / 'nowhere.txt')


def test_download_code_checks_the_file(tmp_path, monkeypatch):
    # The real download code, with the network replaced by a local stand-in.
    class Response:
        def __init__(self, body):
            self.body = body

        def __enter__(self):
            return self

        def __exit__(self, *args):
            return False

        def read(self):
            return self.body

    good = shakespeare.DATA_FILE.read_bytes()
    monkeypatch.setattr(shakespeare.urllib.request, 'urlopen', lambda url, timeout: Response(good))
    target = tmp_path / 'copy' / 'tiny.txt'
    shakespeare.download(target)
    assert target.read_bytes() == good
    monkeypatch.setattr(shakespeare.urllib.request, 'urlopen', lambda url, timeout: Response(b'not it'))
    with pytest.raises(ValueError, match="does not have md5"):
        shakespeare.download(tmp_path / 'bad.txt')

    def offline(url, timeout):
        raise OSError("network unreachable")

    monkeypatch.setattr(shakespeare.urllib.request, 'urlopen', offline)
    with pytest.raises(FileNotFoundError, match="could not be downloaded"):
        shakespeare.download(tmp_path / 'none.txt')


def test_interrupted_run_resumes_exactly(tmp_path):
    # Dropout on, so the random state must be restored too.
    straight = train(tiny(tmp_path, steps=6, dropout=0.1), build_model, 'resume_test')

    def interrupt(step, loss):
        if step == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(tiny(tmp_path, steps=6, dropout=0.1), build_model, 'resume_test', on_step=interrupt)
    # The newest run is the interrupted one; it saved a checkpoint at step 4 on interrupt.
    run = checkpoint.find_run(tmp_path, 'resume_test', 'latest')
    assert checkpoint.checkpoints_of(run)[-1].name == 'step_00000004.pt'
    config = configure(Config, PRESETS, {'resume': 'latest', 'logs_dir': str(tmp_path)}, 'resume_test')
    assert (config.steps, config.dropout, config.d_model) == (6, 0.1, 16)  # the stored configuration
    resumed = train(config, build_model, 'resume_test')
    assert sorted(resumed.train_losses) == [5, 6]
    for step in (5, 6):
        assert resumed.train_losses[step] == pytest.approx(straight.train_losses[step], abs=1e-6)
    assert resumed.final_valid_loss == pytest.approx(straight.final_valid_loss, abs=1e-6)


def test_run_reports_and_logs(tmp_path, capsys):
    result = main(Config, PRESETS, build_model, 'report_test',
                  [f'{k}={v}' for k, v in {**TINY, 'logs_dir': tmp_path, 'steps': 4, 'sample_len': 20,
                                            'eval_every': 2}.items()])
    screen = capsys.readouterr().out
    out = screen.strip().splitlines()
    # The last line says where the labml run and its last checkpoint are, and both exist.
    assert out[-2].startswith("final validation loss: ")
    assert result.checkpoint == result.run_path / 'checkpoints' / 'step_00000004.pt' and result.checkpoint.is_file()
    assert out[-1] == (f"labml run: {result.run_path} (configs.yaml, log.jsonl); "
                       f"checkpoint: {result.checkpoint}")
    # The progress line counts the share of all steps done: a quarter after the first of four.
    progress = [line for line in screen.replace('\r', '\n').splitlines() if 'train:' in line]
    assert any(' 25%' in line for line in progress) and ' 100%' in progress[-1]
    assert (result.run_path / 'log.jsonl').is_file() and (result.run_path / 'configs.yaml').is_file()
    # Every tracked value reaches the log, the final validation included (labml writes its log
    # on a thread that the end of the experiment joins).
    metrics = read_metrics(result.run_path)
    assert [step for step, _ in metrics['loss.valid']] == [2, 4]
    assert metrics['loss.valid'][-1][1] == pytest.approx(result.final_valid_loss)
    assert [step for step, _ in metrics['loss.train']] == [1, 2, 3, 4]
    assert math.isfinite(result.final_valid_loss) and len(result.sample) == 8 + 20
    assert 2 in result.valid_losses


def test_corrupt_checkpoint_fails_clearly(tmp_path):
    train(tiny(tmp_path, steps=3), build_model, 'corrupt_test')
    run = checkpoint.find_run(tmp_path, 'corrupt_test', 'latest')
    path = checkpoint.checkpoints_of(run)[-1]
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(checkpoint.CheckpointError, match=r"step_00000003.pt is corrupt"):
        checkpoint.load(path)
    with pytest.raises(checkpoint.CheckpointError, match="resume='nope': no run of 'corrupt_test'"):
        checkpoint.find_run(tmp_path, 'corrupt_test', 'nope')
    with pytest.raises(SystemExit) as exit_info:
        main(Config, PRESETS, build_model, 'corrupt_test', ['resume=latest', f'logs_dir={tmp_path}'])
    assert exit_info.value.code == 2


def test_time_budget_stops_training_early(tmp_path):
    result = train(tiny(tmp_path, steps=100_000, time_budget=1.0), build_model, 'budget_test')
    assert 0 < result.final_step < 100_000
    assert result.wall_time < 30


# A study's own streams (the echo study's) replace the sequential ones for training and for
# validation alike: every segment the trainer reads comes from the maker it was given.
def test_make_streams_feeds_training_and_validation(tmp_path):
    made, read = [], []

    class Counted(SequentialStreams):
        def segment(self, index):
            read.append(self.name)
            return super().segment(index)

    def maker(data, batch_size, seq_len, rows=None):
        streams = Counted(data, batch_size, seq_len, rows=rows)
        streams.name = 'train' if rows is not None else 'valid'
        made.append(streams.name)
        return streams
    train(tiny(tmp_path, steps=3), build_model, 'streams_test', make_streams=maker)
    assert made == ['train', 'valid']
    assert read.count('train') == 3 and read.count('valid') == 4
