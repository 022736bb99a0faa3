"""Frequency sort: the generator drifts as specified, the answer is the true frequency order."""
import json
from pathlib import Path
from collections import Counter

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labml_memory.tasks import frequency_sort as fs


def test_answer_is_the_frequency_order_with_ties_to_the_smaller_id():
    sequences = torch.randint(0, fs.SYMBOLS, (50, 37))
    sequences[0] = torch.tensor([3, 3, 7, 7, 1] + [19] * 32)      # a tie between 3 and 7
    answer = fs.sort_by_frequency(sequences)
    for row, got in zip(sequences.tolist(), answer.tolist()):
        counts = Counter(row)
        expected = sorted(range(fs.SYMBOLS), key=lambda s: (-counts.get(s, 0), s))
        assert got == expected
    assert answer[0, :4].tolist() == [19, 3, 7, 1]


def test_the_distribution_drifts_from_p_init_to_p_final():
    n = 40_000
    sequences = fs.drifting_sequences(2, n, torch.Generator().manual_seed(7))
    # The generator's first draw is the two weight vectors: replay it to know p_init, p_final.
    weights = torch.randint(1, 10, (2, 2, fs.SYMBOLS), generator=torch.Generator().manual_seed(7)).float()
    p_init, p_final = weights / weights.sum(-1, keepdim=True)
    for b in range(2):
        def freq(part):
            return torch.bincount(part, minlength=fs.SYMBOLS).float() / len(part)
        head, tail = freq(sequences[b, :n // 20]), freq(sequences[b, -n // 20:])
        # The first and last 5% of the sequence follow p at r ~ 0.025 and r ~ 0.975.
        assert (head - p_init[b]).abs().sum() < min(0.15, (head - p_final[b]).abs().sum())
        assert (tail - p_final[b]).abs().sum() < (tail - p_init[b]).abs().sum()
        # The middle follows the average of the two.
        middle = freq(sequences[b, int(0.45 * n):int(0.55 * n)])
        assert (middle - (p_init[b] + p_final[b]) / 2).abs().sum() < 0.15


@settings(max_examples=8, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2 ** 31 - 1))
def test_each_symbols_frequency_moves_linearly_from_p_init_to_p_final(seed):
    # The specification: symbol s at relative position r is drawn with probability
    # (1 - r) p_init[s] + r p_final[s]. Regressing the indicator of s on r estimates both
    # ends: the slope is p_final[s] - p_init[s] and the value at r = 0 is p_init[s]. Each
    # estimate's standard error is computed from the design; every one of the 2 x 20 of each
    # must lie within 5 of them (a false alarm has odds below 1 in 10^5 per run, any seed).
    # A generator without drift has slope 0 and fails, whichever end it sits at.
    n = 40_000
    sequences = fs.drifting_sequences(2, n, torch.Generator().manual_seed(seed))
    weights = torch.randint(1, 10, (2, 2, fs.SYMBOLS), generator=torch.Generator().manual_seed(seed)).double()
    p_init, p_final = weights / weights.sum(-1, keepdim=True)
    r = (torch.arange(n, dtype=torch.float64) + 1) / n
    centred = r - r.mean()
    sxx = (centred ** 2).sum()
    for b in range(2):
        onehot = torch.nn.functional.one_hot(sequences[b], fs.SYMBOLS).double()   # [n, 20]
        slope = (centred[:, None] * onehot).sum(0) / sxx
        start = onehot.mean(0) - slope * r.mean()
        p_bar = (p_init[b] + p_final[b]) / 2
        slope_se = (p_bar * (1 - p_bar) / sxx).sqrt()
        start_se = (p_bar * (1 - p_bar) * (1 / n + r.mean() ** 2 / sxx)).sqrt()
        assert ((slope - (p_final[b] - p_init[b])).abs() < 5 * slope_se).all()
        assert ((start - p_init[b]).abs() < 5 * start_se).all()
        # The drift is visible: some symbol's slope is far from zero.
        assert (slope.abs() / slope_se).max() > 5


def test_batch_layout():
    batch = fs.sample(4, 64, torch.Generator().manual_seed(0))
    assert batch.inputs.shape == batch.targets.shape == (4, 64)
    torch.testing.assert_close(batch.inputs[:, 1:], batch.targets[:, :-1])
    n = 64 - fs.SYMBOLS
    assert (batch.inputs[:, n] == fs.SEPARATOR).all() and (batch.inputs[:, :n] < fs.SYMBOLS).all()
    answer = batch.targets[batch.score_mask].view(4, fs.SYMBOLS)
    torch.testing.assert_close(answer, fs.sort_by_frequency(batch.inputs[:, :n]))
    assert batch.score_mask.sum() == 4 * fs.SYMBOLS and batch.loss_mask.all()
    with pytest.raises(ValueError, match="length=20 leaves no room"):
        fs.sample(1, 20, torch.Generator())


def test_configuration_checks_and_routes_keys_to_the_model():
    config, model_config, module = fs.configure({'model': 'transformer_xl', 'length': '256',
                                                 'seg_len': '64', 'mem_len': '32'})
    assert config.train_segments == [4]
    assert (model_config.seq_len, model_config.mem_len, model_config.d_model) == (64, 32, 64)
    with pytest.raises(ValueError, match="unknown model 'nonsense'; valid: .*'transformer_xl'"):
        fs.configure({'model': 'nonsense'})
    with pytest.raises(ValueError, match="length=100 must be a multiple of seg_len=64"):
        fs.configure({'length': '100', 'seg_len': '64'})


def test_a_tiny_run_writes_a_result_and_the_report_reads_it(tmp_path):
    # No curriculum: its default is 600 steps at 256 symbols, which made this "tiny" run the
    # slowest test of the suite (the curriculum has its own test below).
    common = {'length': '64', 'seg_len': '32', 'steps': '2', 'batch_size': '2', 'eval_samples': '4',
              'eval_every': '1', 'd_model': '16', 'd_ff': '16', 'n_layers': '1', 'curriculum_steps': '0',
              'results_dir': str(tmp_path), 'logs_dir': str(tmp_path / 'logs')}
    result = fs.run({'model': 'infinity_former', 'n_basis': '8', 'n_samples': '8', 'sticky': 'true',
                     'name': 'inf_sticky', **common})
    assert 0.0 <= result['accuracy'] <= 1.0 and result['length'] == 64
    stored = json.loads((tmp_path / 'inf_sticky_64.json').read_text())
    assert stored['command'].startswith('python -m labml_memory.tasks.frequency_sort model=infinity_former')
    # A second, made-up run at another length: the table has both lengths and a gap.
    (tmp_path / 'xl_128.json').write_text(json.dumps({**stored, 'name': 'xl', 'length': 128, 'accuracy': 0.5}))
    table, plot = fs.report(str(tmp_path))
    text = table.read_text()
    assert '| run | 64 symbols | 128 symbols |' in text
    assert '| xl | – | 0.500' in text and plot.stat().st_size > 0


def test_the_curriculum_trains_at_its_length_first_then_at_the_target_length(tmp_path, monkeypatch):
    # Record the length of every batch the run draws, in order, by wrapping the sampler.
    drawn = []
    real_sample = fs.sample

    def spy(batch_size, length, generator):
        drawn.append((batch_size, length))
        return real_sample(batch_size, length, generator)

    monkeypatch.setattr(fs, 'sample', spy)
    fs.run({'model': 'transformer_xl', 'length': '64', 'seg_len': '32', 'steps': '2', 'batch_size': '2',
            'curriculum_length': '32', 'curriculum_steps': '3', 'eval_samples': '4', 'eval_every': '10',
            'd_model': '16', 'd_ff': '16', 'n_layers': '1', 'mem_len': '8',
            'results_dir': str(tmp_path), 'logs_dir': str(tmp_path / 'logs')})
    # Each phase draws its held-out batch, then one batch per step; then the final scoring set.
    assert drawn == [(2, 32)] * 4 + [(2, 64)] * 3 + [(4, 64)]
    stored = json.loads((tmp_path / 'transformer_xl_64.json').read_text())
    assert stored['curriculum'] == [32, 3] and stored['steps'] == 2


def test_a_curriculum_that_does_not_fit_the_segments_fails_clearly():
    with pytest.raises(ValueError, match="curriculum_length=100 must be a multiple of seg_len=64"):
        fs.configure({'length': '128', 'seg_len': '64', 'curriculum_length': '100'})
    with pytest.raises(ValueError, match="curriculum_steps must be >= 0"):
        fs.configure({'curriculum_steps': '-1'})
    # No curriculum: its length is not checked.
    config, _, _ = fs.configure({'length': '128', 'seg_len': '64', 'curriculum_length': '100',
                                 'curriculum_steps': '0'})
    assert config.curriculum_steps == 0


def test_the_window_oracle_is_perfect_on_the_whole_sequence_and_counts_only_its_window():
    sequences = fs.drifting_sequences(64, 500, torch.Generator().manual_seed(3))
    torch.testing.assert_close(fs.window_oracle(sequences, 500), torch.ones(64))
    # By hand: the whole row ranks 0 (6 times) > 1 (4) > 2 (2) > the rest by id. The last
    # three symbols, [2, 1, 2], rank 2 > 1: the oracle names 2 where the truth has 0, 2 again
    # where it has 1 (2 is not listed yet), then 2, right; the 17 symbols with no count follow
    # in id order, as in the truth. 18 of 20. A window of four, [1, 2, 1, 2], ties 1 with 2,
    # and ties go to the smaller id: wrong at 0 only, 19 of 20.
    row = torch.tensor([[0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 1, 2]])
    assert fs.sort_by_frequency(row)[0, :3].tolist() == [0, 1, 2]
    assert fs.window_oracle(row, 3).item() == pytest.approx(18 / 20)
    assert fs.window_oracle(row, 4).item() == pytest.approx(19 / 20)


# ## Closing the gaps mutation testing found (tools/mutation.py; tests/MUTATION.md)

def test_generator_is_the_only_source_of_randomness_and_rows_draw_independently():
    a = fs.sample(3, 64, torch.Generator().manual_seed(9))
    torch.manual_seed(77)
    b = fs.sample(3, 64, torch.Generator().manual_seed(9))
    for x, y in zip(a, b):
        assert torch.equal(x, y)
    # Each row's symbols come from uniforms of its own: the quantile a symbol sits at under its
    # row's distribution is uncorrelated between rows (shared uniforms would correlate it near 1).
    n = 4000
    sequences = fs.drifting_sequences(2, n, torch.Generator().manual_seed(3))
    weights = torch.randint(1, 10, (2, 2, fs.SYMBOLS), generator=torch.Generator().manual_seed(3)).float()
    p_init, p_final = weights / weights.sum(-1, keepdim=True)
    r = (torch.arange(n) + 1.0) / n
    p = (1 - r)[None, :, None] * p_init[:, None] + r[None, :, None] * p_final[:, None]
    cdf = p.cumsum(-1)
    quantile = torch.gather(cdf - p / 2, 2, sequences[..., None])[..., 0]     # [2, n]
    assert torch.corrcoef(quantile).abs()[0, 1] < 0.1


def test_configure_applies_its_preset_and_names_a_bad_one():
    config, model_config, _ = fs.configure({'preset': 'gpu', 'model': 'transformer_xl', 'device': 'cpu'})
    assert (config.length, config.seg_len, config.steps) == (8192, 512, 20_000)
    assert config.train_segments == [16] and isinstance(config.train_segments[0], int)
    assert model_config.d_model == 300
    default, _, _ = fs.configure({})
    assert default.train_segments == [default.length // default.seg_len]
    with pytest.raises(ValueError, match=r"unknown preset 'tiny'; valid: \['cpu', 'gpu'\]"):
        fs.configure({'preset': 'tiny'})


def test_sort_config_bounds_and_messages():
    fs.SortConfig(length=21, seg_len=21, steps=1, curriculum_steps=0).validate()   # one symbol, then the answer
    assert fs.sample(1, 21, torch.Generator()).inputs.shape == (1, 21)
    with pytest.raises(ValueError, match=r"length=20 must be a multiple of seg_len=20 and longer"):
        fs.SortConfig(length=20, seg_len=20).validate()
    with pytest.raises(ValueError, match=r"curriculum_length=20 must be a multiple of seg_len=20"):
        fs.SortConfig(length=40, seg_len=20, curriculum_length=20, curriculum_steps=1).validate()
    with pytest.raises(ValueError, match=r"steps must be positive, got 0"):
        fs.SortConfig(steps=0).validate()


# The committed page is the report of the committed records (see the same test for passkey).
def test_the_report_of_the_committed_records_is_the_committed_page(tmp_path):
    import shutil
    committed = Path(__file__).resolve().parents[1] / 'docs' / 'results' / 'frequency_sort'
    shutil.copytree(committed, tmp_path / 'frequency_sort')
    fs.report(str(tmp_path / 'frequency_sort'))

    def lines(path):
        return [line for line in path.read_text().splitlines() if not line.startswith('* **Date:**')]
    assert lines(tmp_path / 'frequency_sort' / 'table.md') == lines(committed / 'table.md')


def test_a_run_records_what_it_trained_and_scored(tmp_path, monkeypatch):
    # The record's fields against what the run did: the labml name, both training phases (the
    # curriculum at its own length, then the run proper numbered after it), the scoring set
    # drawn from the evaluation seed, the training time and the command.
    import time
    calls = {'train': [], 'sample': []}
    real_start, real_train, real_sample = fs.start_run, fs.train, fs.sample

    def start_run(name, *args):
        calls['name'] = name
        calls['model'], device = real_start(name, *args)
        return calls['model'], device

    def train(model, sampler, config, device, **kw):
        calls['train'].append((sampler, config.steps, list(config.train_segments), kw))
        return real_train(model, sampler, config, device, **kw)

    def sample(batch_size, length, generator):
        calls['sample'].append((batch_size, length, generator.initial_seed()))
        return real_sample(batch_size, length, generator)
    monkeypatch.setattr(fs, 'start_run', start_run)
    monkeypatch.setattr(fs, 'train', train)
    monkeypatch.setattr(fs, 'sample', sample)
    overrides = {'model': 'transformer_xl', 'length': '64', 'seg_len': '32', 'steps': '2', 'batch_size': '2',
                 'curriculum_length': '32', 'curriculum_steps': '3', 'eval_samples': '4', 'eval_every': '10',
                 'd_model': '16', 'd_ff': '16', 'n_layers': '1', 'mem_len': '8', 'name': 'xl_small',
                 'results_dir': str(tmp_path), 'logs_dir': str(tmp_path / 'logs')}
    started = time.time()
    result = fs.run(overrides)
    wall = time.time() - started
    assert calls['name'] == 'frequency_sort_xl_small' and result['model'] == 'transformer_xl'
    assert result['parameters'] == sum(p.numel() for p in calls['model'].parameters())
    # Phase one: 3 steps on one-segment texts; phase two: 2 steps, numbered from step 4.
    (s1, steps1, seg1, kw1), (s2, steps2, seg2, kw2) = calls['train']
    assert s1 is sample and s2 is sample
    assert (steps1, seg1, kw1.get('first_step', 0)) == (3, [1], 0)
    assert (steps2, seg2, kw2.get('first_step')) == (2, [2], 3)
    # Scored on 4 sequences of 64 symbols drawn from the evaluation seed.
    assert calls['sample'][-1] == (4, 64, fs.EVAL_SEED)
    # Rounded to a tenth, so at most 0.05 s above the wall time around the whole run.
    assert isinstance(result['train_seconds'], float) and 0 <= result['train_seconds'] <= wall + 0.05
    assert result['train_seconds'] == round(result['train_seconds'], 1)
    assert result['curriculum'] == [32, 3] and result['steps'] == 2
    assert result['command'] == 'python -m labml_memory.tasks.frequency_sort ' + ' '.join(
        f'{k}={v}' for k, v in overrides.items())
    # Without a curriculum the record says so.
    plain = fs.run({**overrides, 'curriculum_steps': '0', 'name': 'xl_plain'})
    assert plain['curriculum'] is None


def _records(tmp_path):
    # Two hand-made runs at two lengths with different recipes and seeds; one file named
    # otherwise than `<name>_<length>.json`, as a repeated seed's would be.
    base = {'model': 'transformer_xl', 'parameters': 10, 'exact_match': 0.0, 'train_seconds': 1.5,
            'command': 'python -m labml_memory.tasks.frequency_sort model=transformer_xl',
            'machine': {'date': '2026-12-02 03:00 UTC', 'cpu': 'a CPU', 'cores': 2, 'torch': '2.13.0'}}
    records = {'a_64.json': {**base, 'name': 'a', 'length': 64, 'accuracy': 0.25, 'curriculum': [32, 3],
                             'steps': 2, 'seed': 0},
               'a_128_seed1.json': {**base, 'name': 'a', 'length': 128, 'accuracy': 0.5, 'curriculum': None,
                                    'steps': 1000, 'seed': 1}}
    for file, record in records.items():
        (tmp_path / file).write_text(json.dumps(record))
    return records


def test_the_report_names_each_recipe_the_files_and_the_seeds(tmp_path, monkeypatch):
    from labml_memory.training import provenance
    records = _records(tmp_path)
    seen = {}
    real_section = provenance.section

    def section(runs, **kw):
        seen['runs'], seen['seeds'] = runs, kw['seeds']
        return real_section(runs, **kw)
    monkeypatch.setattr(provenance, 'section', section)
    table, _ = fs.report(str(tmp_path))
    text = table.read_text()
    assert ('* **Training:** 3 steps at 32 symbols, then 2 steps at the length of its column (a@64); '
            'no curriculum, 1,000 steps at the length of its column (a@128).') in text
    # Each record is paired with the file it was read from, and its own seed.
    assert [(r['length'], p.name) for r, p in seen['runs']] == [(64, 'a_64.json'), (128, 'a_128_seed1.json')]
    assert seen['seeds'] == [0, 1]
    # One recipe for all: one sentence.
    (tmp_path / 'a_128_seed1.json').write_text(json.dumps({**records['a_128_seed1.json'], 'curriculum': [32, 3], 'steps': 2}))
    assert '* **Training:** every run: 3 steps at 32 symbols, then 2 steps at the length of its column.' in \
        fs.report(str(tmp_path))[0].read_text()


def test_the_report_figure_draws_each_run_the_window_line_and_the_floor(tmp_path, monkeypatch):
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib.figure import Figure
    captured = []
    real_savefig = Figure.savefig
    monkeypatch.setattr(Figure, 'savefig', lambda self, path, **kw: (captured.append((self, path, kw)),
                                                                     real_savefig(self, path, **kw)))
    _records(tmp_path)
    (tmp_path / 'b_64.json').write_text(json.dumps({**json.loads((tmp_path / 'a_64.json').read_text()),
                                                    'name': 'b', 'accuracy': 0.125}))
    table, plot = fs.report(str(tmp_path))
    assert table == tmp_path / 'table.md' and plot == tmp_path / 'accuracy.png' and plot.stat().st_size > 0
    fig, path, kw = captured[0]
    assert path == plot and kw == {'dpi': 120}
    ax = fig.axes[0]
    # One error-bar series per run, its own colour and marker, error bars of one standard error.
    bars = {c.get_label(): c for c in ax.containers}
    assert set(bars) == {'a', 'b'}
    line_a, _, (errors_a,) = bars['a'].lines
    assert list(line_a.get_xdata()) == [64, 128] and list(line_a.get_ydata()) == [0.25, 0.5]
    positions = fs.SortConfig().eval_samples * fs.SYMBOLS
    spans = [seg[1][1] - seg[0][1] for seg in errors_a.get_segments()]
    assert spans == pytest.approx([2 * (p * (1 - p) / positions) ** 0.5 for p in (0.25, 0.5)])
    line_b = bars['b'].lines[0]
    assert line_a.get_marker() == 'o' and line_b.get_marker() == 's'
    assert matplotlib.colors.to_rgba(line_a.get_color()) == matplotlib.colors.to_rgba('C0')
    assert matplotlib.colors.to_rgba(line_b.get_color()) == matplotlib.colors.to_rgba('C1')
    # The window line dashed, the floor dotted, both at every length, with their values.
    lines = {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith('_')}
    window = lines[f'exact counts, last {fs.ORACLE_WINDOW} symbols']
    floor = lines['floor: guesser that never read the sequence']
    assert window.get_linestyle() == '--' and floor.get_linestyle() == ':'
    assert list(window.get_xdata()) == [64, 128] and list(floor.get_xdata()) == [64, 128]
    assert list(floor.get_ydata()) == pytest.approx([fs.memoryless_floor(64), fs.memoryless_floor(128)])
    assert ax.get_xscale() == 'log' and ax.xaxis.get_transform().base == 2
    assert [t.get_text() for t in ax.get_xticklabels()] == ['64', '128']
    assert ax.get_xlabel() == 'sequence length (symbols)'
    assert ax.get_ylabel() == 'token accuracy of the sorted answer'
    assert ax.get_ylim() == (0, 1)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == \
        [f'exact counts, last {fs.ORACLE_WINDOW} symbols', 'floor: guesser that never read the sequence', 'a', 'b']


def test_the_command_line_runs_prints_the_result_and_rebuilds_the_report(tmp_path, capsys):
    common = ['model=transformer_xl', 'length=64', 'seg_len=32', 'steps=1', 'batch_size=2', 'eval_samples=2',
              'd_model=16', 'd_ff=16', 'n_layers=1', 'curriculum_steps=0', 'name=cli',
              f'results_dir={tmp_path}', f'logs_dir={tmp_path / "logs"}']
    fs.main(common)
    import re
    printed = json.loads(re.search(r'\{"name".*?\}', capsys.readouterr().out).group(0))
    stored = json.loads((tmp_path / 'cli_64.json').read_text())
    assert printed == {k: stored[k] for k in ('name', 'length', 'accuracy', 'exact_match', 'train_seconds')}
    fs.main(['report', f'results_dir={tmp_path}'])
    assert capsys.readouterr().out.split() == [str(tmp_path / 'table.md'), str(tmp_path / 'accuracy.png')]
    with pytest.raises(SystemExit) as exit_:
        fs.main(common + ['length=65'])
    assert exit_.value.code == 2 and 'length' in capsys.readouterr().err
