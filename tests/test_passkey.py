"""Passkey retrieval: the task's texts and batches (`tasks/passkey.py`), and the study that
trains on them and writes the page (`studies/passkey.py`). The loop they share has its own
tests (`test_synthetic_loop.py`)."""
import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch

from labml_memory.studies import passkey as study
from labml_memory.studies import stats
from labml_memory.studies.passkey import STUDY, PasskeyConfig, Settings, split_overrides
from labml_memory.studies.runner import Records, Run, parse_settings, pending, report, run
from labml_memory.tasks.passkey import FILLER, NEEDLE, QUESTION, CHARS, decode, passkey_text, sample
from labml_memory.training.synthetic import architectures

RESULTS = Path(__file__).resolve().parents[1] / 'docs' / 'results'


# ## The task
@pytest.mark.parametrize("depth", [0.0, 0.3, 0.5, 1.0])
def test_the_key_is_where_the_generator_says(depth):
    length, key = 200, '4817'
    text, key_start = passkey_text(length, depth, key, filler_offset=7)
    assert len(text) == length
    assert text[key_start:key_start + 4] == key
    needle_start = key_start - NEEDLE.index('{key}')
    assert text[needle_start:key_start + 4 + 2] == NEEDLE.format(key=key)
    # The needle starts at round(depth * free), free being the filler's total length.
    free = length - len(NEEDLE.format(key=key)) - len(QUESTION.format(key=key))
    assert needle_start == round(depth * free)
    # The text ends with the question and the answer; the key appears exactly twice.
    assert text.endswith(QUESTION.format(key=key))
    assert text.count(key) == 2
    # Everything else is the filler cycle, starting 7 characters in, unbroken around the needle.
    rest = text[:needle_start] + text[needle_start + len(NEEDLE.format(key=key)):-len(QUESTION.format(key=key))]
    assert rest == (FILLER * 10)[7:7 + free]


def test_depth_extremes_put_the_needle_at_the_start_and_before_the_question():
    text0, start0 = passkey_text(120, 0.0, '123')
    assert text0.startswith('the pass key is 123. ')
    text1, start1 = passkey_text(120, 1.0, '123')
    assert text1.endswith('the pass key is 123. ' + QUESTION.format(key='123'))


def test_batch_masks_and_shift():
    generator = torch.Generator().manual_seed(3)
    batch = sample(5, 96, generator, n_digits=4, depth=0.5)
    assert batch.inputs.shape == batch.targets.shape == (5, 96)
    # Targets are the inputs shifted by one.
    assert torch.equal(batch.inputs[:, 1:], batch.targets[:, :-1])
    for row in range(5):
        full = decode(batch.inputs[row]) + decode(batch.targets[row, -1:])
        key = full[-4:]
        # The scored targets are exactly the answer's four digits ...
        assert decode(batch.targets[row][batch.score_mask[row]]) == key
        # ... and the loss skips exactly the needle's four (unpredictable) digits.
        skipped = (~batch.loss_mask[row]).nonzero().flatten()
        assert len(skipped) == 4 and decode(batch.targets[row, skipped]) == key
        assert full.index(key) == skipped[0].item() + 1


def test_random_depths_are_spread_and_keys_vary():
    batch = sample(64, 128, torch.Generator().manual_seed(0))
    positions = (~batch.loss_mask).float().argmax(1)
    assert positions.min() < 20 and positions.max() > 40
    answers = {decode(t[m]) for t, m in zip(batch.targets, batch.score_mask)}
    assert len(answers) > 50


@pytest.mark.parametrize("depth", [0.0, 0.2, 0.55, 1.0])
def test_sample_honours_its_depth(depth):
    # Every row's needle starts at round(depth * free) of the length + 1 characters drawn,
    # whatever its key and filler offset; targets are shifted by one, so the first skipped
    # target is one before the key's first character.
    length, n = 150, 3
    free = length + 1 - len(NEEDLE.format(key='0' * n)) - len(QUESTION.format(key='0' * n))
    key_at = round(depth * free) + NEEDLE.index('{key}')
    batch = sample(6, length, torch.Generator().manual_seed(5), n_digits=n, depth=depth)
    for row in range(6):
        skipped = (~batch.loss_mask[row]).nonzero().flatten().tolist()
        assert skipped == list(range(key_at - 1, key_at - 1 + n))
        text = decode(batch.inputs[row]) + decode(batch.targets[row, -1:])
        assert text[key_at - len('the pass key is '):key_at] == 'the pass key is '


@pytest.mark.parametrize("overrides,message", [
    ({'model': 'nope'}, "unknown model 'nope'; valid: \\["),
    ({'seg_len': '8', 'train_segments': '2'}, "train_segments holds 2"),
    ({'eval_depths': '0.5,1.5'}, "eval_depths must lie in"),
    ({'update_rule': 'hebbian'}, "unknown update_rule"),
    ({'colour': 'red'}, "unknown configuration key"),
])
def test_bad_settings_fail_clearly(overrides, message):
    with pytest.raises(ValueError, match=message):
        config, model_config, module = split_overrides({'model': 'infini_attention', **overrides})
        module.build_model(model_config, len(CHARS))


def test_bad_texts_fail_clearly():
    with pytest.raises(ValueError, match="cannot hold the needle"):
        passkey_text(30, 0.5, '1234')
    with pytest.raises(ValueError, match="depth must lie in"):
        passkey_text(100, 1.5, '1234')
    with pytest.raises(ValueError, match="string of digits"):
        passkey_text(100, 0.5, '12a4')


def test_model_settings_go_to_the_models_config():
    config, model_config, module = split_overrides({'model': 'transformer_xl', 'seg_len': '32',
                                                    'mem_len': '8', 'steps': '3'})
    assert config.steps == 3 and model_config.mem_len == 8 and model_config.seq_len == 32
    assert 'infini_attention' in architectures() and 'transformer_xl' in architectures()


def test_the_grid_reads_the_same_texts_at_every_cell_for_every_model(monkeypatch):
    # Each cell's texts come from a seed of its own, 10,000 + 100 i + j for length i and depth
    # j, at that cell's length and depth: every model and every run is scored on the same texts.
    seen = []
    monkeypatch.setattr(study, 'evaluate', lambda model, batch, seg_len: (
        seen.append((batch, seg_len)), {'accuracy': len(seen) / 10})[1])
    config = PasskeyConfig(eval_lengths=(2, 3), eval_depths=(0.0, 0.5, 1.0), eval_samples=3,
                           n_digits=3, seg_len=32)
    grid = study.evaluate_grid(None, config, torch.device('cpu'))
    assert grid == {'2': {'0': 0.1, '0.5': 0.2, '1': 0.3}, '3': {'0': 0.4, '0.5': 0.5, '1': 0.6}}
    for k, (batch, seg_len) in enumerate(seen):
        i, j = divmod(k, 3)
        expected = sample(3, (2, 3)[i] * 32, torch.Generator().manual_seed(10_000 + 100 * i + j), 3,
                          (0.0, 0.5, 1.0)[j])
        assert seg_len == 32
        assert torch.equal(batch.inputs, expected.inputs) and torch.equal(batch.targets, expected.targets)


# ## Closing the gaps mutation testing found (tools/mutation.py; tests/MUTATION.md)

def test_sample_draws_only_from_its_generator_and_varies_the_filler():
    a = sample(8, 96, torch.Generator().manual_seed(4))
    torch.manual_seed(123)                      # the global generator must not matter
    b = sample(8, 96, torch.Generator().manual_seed(4))
    for x, y in zip(a, b):
        assert torch.equal(x, y)
    # Default: four digits, so four needle targets are left out of the loss in every row.
    assert ((~a.loss_mask).sum(1) == 4).all() and (a.score_mask.sum(1) == 4).all()
    # Filler offsets are drawn per row: at depth 1 the texts start at different points of the cycle.
    starts = {decode(row[:12]) for row in sample(8, 96, torch.Generator().manual_seed(4), depth=1.0).inputs}
    assert len(starts) > 1


def test_text_edges_and_messages():
    needle, question = NEEDLE.format(key='1234'), QUESTION.format(key='1234')
    text, _ = passkey_text(len(needle) + len(question), 0.5, '1234')
    assert text == needle + question                           # no room left for filler: valid
    with pytest.raises(ValueError, match=rf"\({len(needle) + len(question)} characters with a 4-digit key\)"):
        passkey_text(len(needle) + len(question) - 1, 0.5, '1234')
    assert passkey_text(120, 1.0, '123')[0].startswith(FILLER[:20])   # filler offset 0 by default


def test_config_accepts_exactly_the_shortest_text_and_names_bad_counts():
    shortest = len(NEEDLE.format(key='0000')) + len(QUESTION.format(key='0000'))
    # A text of n * seg_len inputs holds n * seg_len + 1 characters.
    PasskeyConfig(seg_len=shortest - 1, train_segments=[1], eval_lengths=[1]).validate()
    with pytest.raises(ValueError, match="train_segments holds 1"):
        PasskeyConfig(seg_len=shortest - 2, train_segments=[1], eval_lengths=[1]).validate()
    PasskeyConfig(steps=1, batch_size=1).validate()
    with pytest.raises(ValueError, match=r"steps must be positive, got 0"):
        PasskeyConfig(steps=0).validate()


# ## One run of the study

TINY = {'steps': '3', 'batch_size': '4', 'seg_len': '32', 'eval_lengths': '2,4', 'eval_depths': '0,1',
        'eval_samples': '2', 'eval_every': '3', 'd_model': '16', 'heads': '2', 'n_layers': '1', 'd_ff': '32'}


# A study whose plan is given, so the runner itself records and stamps tiny runs in `tmp_path`.
def _tiny_study(runs):
    return dataclasses.replace(STUDY, plan=lambda settings: runs)


def test_a_tiny_run_end_to_end_and_its_page(tmp_path):
    # Every stage for two architectures, through the runner: training, the evaluation grid, the
    # record and its provenance, the page and its plot.
    logs = {'logs_dir': str(tmp_path / 'logs')}
    runs = [Run('infini_attention_seed0', {'overrides': {'model': 'infini_attention', **TINY, 'memory_grad': 'true', **logs}}),
            Run('transformer_xl_seed0', {'overrides': {'model': 'transformer_xl', **TINY, 'mem_len': '8',
                                                       'eval_mem_len': '8', **logs}}),
            # A second seed of one model: the page gathers the two into one row.
            Run('transformer_xl_seed1', {'overrides': {'model': 'transformer_xl', 'seed': '1', **TINY, 'mem_len': '8',
                                                       'eval_mem_len': '8', **logs}})]
    assert run(_tiny_study(runs), [], tmp_path, log=lambda _: None) == [r.key for r in runs]
    folder = tmp_path / 'passkey' / 'records'
    result = json.loads((folder / 'transformer_xl_seed0.json').read_text())
    # XL keeps mem_len x d_model numbers per layer; Infini keeps heads x d_k (d_k + 1).
    assert result['state_numbers'] == 8 * 16 and result['seed'] == 0
    assert json.loads((folder / 'infini_attention_seed0.json').read_text())['state_numbers'] == 2 * 8 * 9
    assert json.loads((folder / 'transformer_xl_seed1.json').read_text())['seed'] == 1
    assert set(result['accuracy']) == {'2', '4'} and set(result['accuracy']['4']) == {'0', '1'}
    # The runner's provenance: the study, the key, the run's settings and the study's command.
    assert (result['study'], result['key'], result['run']) == ('passkey', 'transformer_xl_seed0', runs[1].settings)
    assert result['command'] == STUDY.run_command and result['overrides'] == runs[1].settings['overrides']
    text = (tmp_path / 'passkey.md').read_text()
    # Three steps learn nothing: both rows fail their control, are marked, and are compared with nothing.
    assert '| transformer_xl ⚠ | 2 × 3 | 128 |' in text and '| infini_attention ⚠ | 1 × 3 | 144 |' in text
    assert '2× (64 chars) control' in text and 'is 0.0001 per text' in text
    assert '| comparison |' not in text and '* **Rerun:**' not in text
    assert (tmp_path / 'passkey' / 'accuracy.png').stat().st_size > 1000


def test_a_run_records_what_it_trained_and_evaluated(tmp_path, monkeypatch):
    # The record's fields against what the run did: the labml name, the training sampler
    # (seeded, with the configured digits), the training time, the last validation accuracy
    # and the command line it was given.
    import time
    calls = {}
    real_start, real_train = study.start_run, study.train

    def start_run(name, *args):
        calls['name'] = name
        return real_start(name, *args)

    def train(model, sampler, config, device):
        calls['sampler'] = sampler
        calls['history'] = real_train(model, sampler, config, device)
        return calls['history']
    monkeypatch.setattr(study, 'start_run', start_run)
    monkeypatch.setattr(study, 'train', train)
    overrides = {'model': 'transformer_xl', 'steps': '4', 'batch_size': '2', 'seg_len': '32', 'n_digits': '3',
                 'eval_lengths': '2', 'eval_depths': '0', 'eval_samples': '2', 'eval_every': '3',
                 'logs_dir': str(tmp_path / 'logs'), 'd_model': '16',
                 'heads': '2', 'n_layers': '1', 'd_ff': '32', 'mem_len': '8', 'eval_mem_len': '8'}
    started = time.time()
    result = study.execute(Run('transformer_xl_seed0', {'overrides': overrides, 'margin': 0.05}))
    wall = time.time() - started
    assert calls['name'] == 'passkey_transformer_xl' and result['model'] == 'transformer_xl'
    assert result['name'] == 'transformer_xl' and result['seed'] == 0 and result['seg_len'] == 32
    # The sampler is seeded by the generator it is given, and writes 3-digit keys.
    one = calls['sampler'](2, 64, torch.Generator().manual_seed(5))
    two = calls['sampler'](2, 64, torch.Generator().manual_seed(5))
    assert torch.equal(one.inputs, two.inputs)
    key = decode(one.targets[0][one.score_mask[0]])
    assert len(key) == 3 and key.isdigit()
    # Rounded to a tenth, a time may stand up to 0.05 s above the measured wall time.
    assert isinstance(result['train_seconds'], float) and 0 < result['train_seconds'] <= wall + 0.05
    assert result['train_seconds'] == round(result['train_seconds'], 1)
    assert len(calls['history']) == 4 and result['final_train_accuracy'] == calls['history'][-1]['accuracy.valid']
    # Validated at step 3 and at the last, not at step 2: the value is the last step's.
    assert calls['history'][-1]['accuracy.valid'] is not None and 'accuracy.valid' not in calls['history'][1]
    # The command line is kept as given; the runner adds the command that launched the study.
    assert result['overrides'] == overrides and 'command' not in result


# ## The plan

def test_the_default_plan_is_every_committed_record_and_nothing_to_run():
    runs = study.plan(parse_settings(Settings, []))
    assert [r.key for r in runs] == [f'{n}_seed{s}' for n in study.FIRST for s in (0, 1, 2)]
    # Every contestant of memory reach and the plain transformer has a run, recorded or not.
    assert len(study.RUNS) == 9 and set(study.FIRST) < set(study.RUNS)
    assert pending(STUDY, parse_settings(Settings, []), RESULTS) == []
    # Each planned run's settings are what its record says it was run with.
    records = Records(RESULTS / 'passkey')
    for one in runs:
        assert records.get(one.key)['run'] == one.settings, one.key
        assert records.get(one.key)['overrides'] == one.settings['overrides'], one.key


def test_the_plan_of_a_new_seed_and_a_new_architecture():
    runs = study.plan(parse_settings(Settings, ['models=transformer_xl,memory_depth', 'seeds=3',
                                                'margin=0.1', 'threads=2']))
    assert [r.key for r in runs] == ['transformer_xl_seed3', 'memory_depth_seed3']
    xl, rmt = (r.settings for r in runs)
    assert xl['margin'] == 0.1
    assert xl['overrides'] == {'steps': '2000', **study.COMMON, 'model': 'transformer_xl', 'name': 'transformer_xl',
                               'mem_len': '16', 'eval_mem_len': '16', 'seed': '3', 'threads': '2'}
    # An architecture by package name: the common recipe and its own defaults, 1,000 steps.
    assert rmt['overrides'] == {'steps': '1000', **study.COMMON, 'model': 'memory_depth',
                                'name': 'memory_depth', 'seed': '3', 'threads': '2'}
    assert 'device' not in rmt['overrides']
    assert study.plan(parse_settings(Settings, ['models=infini_delta', 'seeds=0', 'device=cuda']))[0] \
        .settings['overrides']['device'] == 'cuda'


@pytest.mark.parametrize('argv,message', [
    (['models=nope'], r"models: unknown \['nope'\]; valid: the runs"),
    (['seeds=1,1'], 'seeds must be distinct'),
    (['margin=-0.1'], 'margin is a size'),
    (['depth=1'], "unknown setting 'depth'"),
])
def test_bad_study_settings_fail_with_one_line(argv, message):
    with pytest.raises(SystemExit, match=message):
        parse_settings(Settings, argv)


# ## The page

# The committed page is the report of the committed records: rebuilt from a copy, it comes back
# line for line (the date of records that did not store one comes from `git log`, which a copy
# outside the repository lacks, so that one line is left out), and so does the figure.
def test_the_report_of_the_committed_records_is_the_committed_page(tmp_path):
    shutil.copytree(RESULTS / 'passkey', tmp_path / 'passkey')
    (tmp_path / 'passkey' / 'accuracy.png').unlink()
    report(STUDY, tmp_path)

    def lines(path):
        return [line for line in path.read_text().splitlines() if not line.startswith('* **Date:**')]
    assert lines(tmp_path / 'passkey.md') == lines(RESULTS / 'passkey.md')
    assert (tmp_path / 'passkey' / 'accuracy.png').read_bytes() == (RESULTS / 'passkey' / 'accuracy.png').read_bytes()


def _record(name, seed, control, far, end=0.0, steps=None):
    # A hand-made record: the control at both depths, at 16x `far` at depth 0 and `end` at depth 1.
    return {'name': name, 'model': 'transformer_xl', 'seed': seed, 'overrides': {} if steps is None else {'steps': steps},
            'parameters': 10, 'state_numbers': 4, 'train_seconds': 1.0 + seed, 'seg_len': 32,
            'accuracy': {'2': {'0': control, '1': control}, '16': {'0': far, '1': end}}, 'command': 'x'}


def _write(folder, records):
    (folder / 'passkey' / 'records').mkdir(parents=True)
    for r in records:
        (folder / 'passkey' / 'records' / f"{r['name']}_seed{r['seed']}.json").write_text(json.dumps(r))


def test_the_report_gives_each_name_its_seeds_mean_and_range(tmp_path):
    # The mean over depths per seed, then the mean and range over seeds.
    _write(tmp_path, [_record('good', seed, control, far) for seed, (control, far) in
                      enumerate([(1.0, 0.5), (0.96, 0.25), (1.0, 0.75)])] + [_record('weak', 0, 0.9, 0.0)])
    report(STUDY, tmp_path)
    text = (tmp_path / 'passkey.md').read_text()
    # good: control means 1.0, 0.96, 1.0 -> 0.99 [0.96, 1.00]; at 16x 0.25, 0.125, 0.375 -> 0.25.
    assert '| good | 3 × 300 | 4 | 10 | 1–3 | 0.99<br><small>0.96–1.00</small> | 0.25<br><small>0.12–0.38</small> |' in text
    assert '| weak ⚠ | 1 × 300 |' in text and '| good ⚠' not in text
    # Where every seed agrees, the cell is the one number.
    assert '| good | 16× | 0.50<br><small>0.25–0.75</small> | 0.00 |' in text
    # A run that fails its control is compared with nothing; depth 1 against the rest, per run.
    assert '| comparison |' not in text
    assert '* **good**: 0.00 at depth 1, 0.50 elsewhere.' in text
    assert '* **weak**: 0.00 at depth 1, 0.00 elsewhere.' in text
    assert '* **Rerun:** the commands above are the runs as they were launched' in text


def test_the_verdicts_pair_seeds_and_correct_across_the_page(tmp_path):
    # a reads more keys than b at 16x on every seed; c ties a within the margin; d has other seeds.
    far = {'a': [0.60, 0.62, 0.64], 'b': [0.20, 0.30, 0.25], 'c': [0.61, 0.62, 0.63]}
    records = [_record(n, s, 1.0, far[n][s]) for n in far for s in range(3)]
    records += [_record('d', s, 1.0, 0.5) for s in (5, 6)]
    _write(tmp_path, records)
    report(STUDY, tmp_path)
    text = (tmp_path / 'passkey.md').read_text()
    # The page's verdicts are one call of `compare` over its three pairs, on the mean over depths.
    cell = {n: {s: far[n][s] / 2 for s in range(3)} for n in far}
    expected = stats.compare({('a', 'b'): (cell['a'], cell['b']), ('a', 'c'): (cell['a'], cell['c']),
                              ('b', 'c'): (cell['b'], cell['c'])}, 0.05, lower_is_better=False)
    assert [v.verdict for v in expected.values()] == ['ahead', 'tie', 'behind']
    for (first, second), verdict in expected.items():
        assert f'| {first} − {second} | {verdict.text(3)} |' in text
    assert 'across the 3 comparisons of this page' in text and '±0.05' in text
    for other in 'abc':
        assert f'* {other} and d are not compared: they were run with different seeds.' in text


def test_the_margin_is_the_one_the_records_declare(tmp_path):
    records = [{**_record(n, s, 1.0, 0.5 + 0.01 * s), 'run': {'margin': 0.2}} for n in 'ab' for s in range(3)]
    _write(tmp_path, records)
    report(STUDY, tmp_path)
    assert '±0.2 the study declares' in (tmp_path / 'passkey.md').read_text()
    assert study.declared_margin([_record('a', 0, 1.0, 0.5)]) == Settings().margin
    with pytest.raises(ValueError, match=r'different margins \[0.05, 0.2\]'):
        study.declared_margin(records + [{'run': {'margin': 0.05}}])


# The figure of the committed page, read back artist by artist against the records: one panel
# per length, one line per run at the mean over its seeds with a band from the lowest to the
# highest seed, the guesser's floor, and the labels a reader needs.
def test_the_report_figure_draws_every_run_from_its_records(tmp_path, monkeypatch):
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib.figure import Figure
    shutil.copytree(RESULTS / 'passkey', tmp_path / 'passkey')
    saved = []
    real_savefig = Figure.savefig
    monkeypatch.setattr(Figure, 'savefig', lambda self, path, **kw: (saved.append((self, path, kw)),
                                                                     real_savefig(self, path, **kw)))
    report(STUDY, tmp_path)
    fig, path, kw = saved[0]
    assert Path(path) == tmp_path / 'passkey' / 'accuracy.png' and kw['dpi'] == 110
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / 'passkey' / 'records').glob('*.json'))]
    names = list(dict.fromkeys(r['name'] for r in records))
    lengths = list(records[0]['accuracy'])
    depths = list(records[0]['accuracy'][lengths[0]])
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == len(lengths)
    # One y-axis for every panel, so their heights compare at a glance; two panels a row, so
    # the figure is no wider than the content column.
    assert all(shown[0].get_shared_y_axes().joined(shown[0], ax) for ax in shown[1:])
    assert fig.get_size_inches()[0] <= 9
    for i, (ax, m) in enumerate(zip(shown, lengths)):
        chars = int(m) * records[0]['seg_len']
        assert ax.get_title() == f"{m}× segment ({chars:,} chars)" + (', control' if i == 0 else '')
        assert ax.get_xlabel() == ('needle depth (0 = start of text)' if i + 2 >= len(lengths) else '')
        assert ax.get_ylabel() == ('exact match' if i % 2 == 0 else '')
        assert ax.get_ylim() == pytest.approx((-0.05, 1.05))
        lines = ax.get_lines()
        for k, name in enumerate(names):
            rs = [r for r in records if r['name'] == name]
            line = lines[k]
            assert line.get_label() == f'{name} ({len(rs)} seeds)'
            assert list(line.get_xdata()) == [float(d) for d in depths]
            assert list(line.get_ydata()) == pytest.approx(
                [sum(r['accuracy'][m][d] for r in rs) / len(rs) for d in depths])
            assert line.get_marker() == 'osD^v'[k % 5] and line.get_color() == f'C{k}'
            # The band: its outline holds every seed's lowest and highest value.
            band = ax.collections[k].get_paths()[0].vertices[:, 1]
            for d in depths:
                values = [r['accuracy'][m][d] for r in rs]
                assert any(abs(band - max(values)) < 1e-9) and any(abs(band - min(values)) < 1e-9)
            assert ax.collections[k].get_alpha() == 0.15
        floor = lines[len(names)]
        assert list(floor.get_ydata()) == [1e-4, 1e-4] and floor.get_linestyle() == ':'
        assert ax.get_legend() is None
    # One legend, under the panels, naming each run once (then the floor).
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        f"{n} ({sum(r['name'] == n for r in records)} seeds)" for n in names] + ['floor (0.0001)']


# Older records kept their seed only in the command's overrides, and the oldest in neither
# (the default seed): the page's seeds come from wherever the record has them.
def test_the_report_reads_a_seed_from_the_record_its_overrides_or_the_default(tmp_path):
    committed = RESULTS / 'passkey' / 'records'
    folder = tmp_path / 'passkey' / 'records'
    folder.mkdir(parents=True)
    first = json.loads((committed / 'transformer_xl_seed1.json').read_text())
    del first['seed']                      # seed 1, in the overrides only
    (folder / 'transformer_xl_seed1.json').write_text(json.dumps(first))
    second = json.loads((committed / 'transformer_xl_seed2.json').read_text())
    del second['seed'], second['overrides']['seed']   # no seed anywhere: the default, 0
    second['overrides']['steps'] = '1000'               # and another number of steps
    (folder / 'transformer_xl_seed2.json').write_text(json.dumps(second))
    third = json.loads((committed / 'transformer_xl_seed0.json').read_text())
    third['seed'] = 5                                   # the record's own seed comes first
    del third['overrides']['seed']
    (folder / 'transformer_xl_seed5.json').write_text(json.dumps(third))
    report(STUDY, tmp_path)
    text = (tmp_path / 'passkey.md').read_text()
    assert '* **Seeds:** 0, 1, 5 (one training seed per run)' in text
    # Seeds trained for different numbers of steps list both.
    assert '| transformer_xl | 3 × 1000/2000 |' in text


# One record is a whole page (a single run, a single seed); no record is an error that says
# which study's records are missing, where, and the command that makes them.
def test_the_report_of_one_record_and_of_none(tmp_path):
    record = json.loads((RESULTS / 'passkey' / 'records' / 'infini_delta_seed0.json').read_text())
    # A control of exactly 0.95 passes: the mark is for a control *under* 0.95.
    control = list(record['accuracy'])[0]
    record['accuracy'][control] = {d: 0.95 for d in record['accuracy'][control]}
    (tmp_path / 'one' / 'passkey' / 'records').mkdir(parents=True)
    (tmp_path / 'one' / 'passkey' / 'records' / 'infini_delta_seed0.json').write_text(json.dumps(record))
    report(STUDY, tmp_path / 'one')
    text = (tmp_path / 'one' / 'passkey.md').read_text()
    assert '| infini_delta | 1 × 1000 |' in text and '| infini_delta | 64× |' in text
    assert '## Superseded records' not in text
    with pytest.raises(SystemExit, match=r"passkey: no records under .*none/passkey/records; run it first: "
                                         r"python -m labml_memory.studies run passkey"):
        report(STUDY, tmp_path / 'none')


def test_superseded_records_are_shown_apart_with_their_controls(tmp_path):
    _write(tmp_path, [_record('a', s, 1.0, 0.5) for s in range(2)])
    history = tmp_path / 'passkey' / 'history' / 'too_short'
    history.mkdir(parents=True)
    for s, control in enumerate([0.9, 0.97]):
        (history / f'a_seed{s}.json').write_text(json.dumps(_record('a', s, control, 0.0, steps='1200')))
    report(STUDY, tmp_path)
    text = (tmp_path / 'passkey.md').read_text()
    assert ('* **too_short**: a at 1,200 steps, control 0.90 (seed 0), 0.97 (seed 1); 1 of 2 under 0.95.'
            in text)
    # Counted nowhere above: the table has the two recorded seeds only.
    assert '| a | 2 × 300 |' in text


# With the plain transformer recorded, the page compares the first three runs with each other and
# every run with the plain one; without it, every pair, as before.
def test_the_comparisons_are_each_run_against_the_plain_transformer_and_the_first_three_pairwise():
    from labml_memory.studies.passkey import compared
    assert compared(['infini_delta', 'infini_linear', 'transformer_xl']) == [
        ('infini_delta', 'infini_linear'), ('infini_delta', 'transformer_xl'), ('infini_linear', 'transformer_xl')]
    names = ['compressive', 'infini_delta', 'infini_linear', 'plain', 'recurrent_memory', 'transformer_xl']
    got = compared(names)
    assert got[:3] == compared(['infini_delta', 'infini_linear', 'transformer_xl'])
    assert got[3:] == [(n, 'plain') for n in names if n != 'plain']
