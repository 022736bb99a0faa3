"""Frequency sort: the generator drifts as specified and the answer is the true frequency order
(`tasks/frequency_sort.py`); the study trains on it and writes the page from its records
(`studies/frequency_sort.py`)."""
import dataclasses
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labml_memory.studies import frequency_sort as study
from labml_memory.studies import stats
from labml_memory.studies.frequency_sort import STUDY, Settings
from labml_memory.studies.runner import Records, Run, parse_settings, pending, report, run
from labml_memory.tasks import frequency_sort as fs

RESULTS = Path(__file__).resolve().parents[1] / 'docs' / 'results'


# ## The task

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
    config, model_config, _ = study.configure({'preset': 'gpu', 'model': 'transformer_xl', 'device': 'cpu'})
    assert (config.length, config.seg_len, config.steps) == (8192, 512, 20_000)
    assert config.train_segments == [16] and isinstance(config.train_segments[0], int)
    assert model_config.d_model == 300
    default, _, _ = study.configure({})
    assert default.train_segments == [default.length // default.seg_len]
    with pytest.raises(ValueError, match=r"unknown preset 'tiny'; valid: \['cpu', 'gpu'\]"):
        study.configure({'preset': 'tiny'})


def test_sort_config_bounds_and_messages():
    study.SortConfig(length=21, seg_len=21, steps=1, curriculum_steps=0).validate()   # one symbol, then the answer
    assert fs.sample(1, 21, torch.Generator()).inputs.shape == (1, 21)
    with pytest.raises(ValueError, match=r"length=20 must be a multiple of seg_len=20 and longer"):
        study.SortConfig(length=20, seg_len=20).validate()
    with pytest.raises(ValueError, match=r"curriculum_length=20 must be a multiple of seg_len=20"):
        study.SortConfig(length=40, seg_len=20, curriculum_length=20, curriculum_steps=1).validate()
    with pytest.raises(ValueError, match=r"steps must be positive, got 0"):
        study.SortConfig(steps=0).validate()


# ## One run of the study

def _execute(overrides):
    return study.execute(Run('one', {'overrides': overrides, 'margin': 0.02}))


def test_a_tiny_run_through_the_runner_and_its_page(tmp_path):
    # No curriculum: its default is 600 steps at 256 symbols, which made this "tiny" run the
    # slowest test of the suite (the curriculum has its own test below).
    common = {'length': '64', 'seg_len': '32', 'steps': '2', 'batch_size': '2', 'eval_samples': '4',
              'eval_every': '1', 'd_model': '16', 'd_ff': '16', 'n_layers': '1', 'curriculum_steps': '0',
              'logs_dir': str(tmp_path / 'logs')}
    one = Run('inf_sticky_64', {'overrides': {'model': 'infinity_former', 'n_basis': '8', 'n_samples': '8',
                                              'sticky': 'true', 'name': 'inf_sticky', **common}, 'margin': 0.02})
    tiny = dataclasses.replace(STUDY, plan=lambda s: [one])
    assert run(tiny, [], tmp_path, log=lambda _: None) == ['inf_sticky_64']
    stored = json.loads((tmp_path / 'frequency_sort' / 'records' / 'inf_sticky_64.json').read_text())
    assert 0.0 <= stored['accuracy'] <= 1.0 and stored['length'] == 64 and stored['name'] == 'inf_sticky'
    assert (stored['study'], stored['key'], stored['run']) == ('frequency_sort', 'inf_sticky_64', one.settings)
    assert stored['command'] == STUDY.run_command
    # A second, made-up run at another length: the table has both lengths and a gap.
    (tmp_path / 'frequency_sort' / 'records' / 'xl_128.json').write_text(
        json.dumps({**stored, 'name': 'xl', 'length': 128, 'accuracy': 0.5}))
    report(STUDY, tmp_path)
    text = (tmp_path / 'frequency_sort.md').read_text()
    assert '| run | 64 symbols | 128 symbols |' in text
    assert '| xl | – | 0.500' in text and (tmp_path / 'frequency_sort' / 'accuracy.png').stat().st_size > 0
    # Neither name is one of the page's comparisons: no verdict table.
    assert '| comparison |' not in text and '* **Rerun:**' not in text


def test_configuration_checks_and_routes_keys_to_the_model():
    config, model_config, module = study.configure({'model': 'transformer_xl', 'length': '256',
                                                 'seg_len': '64', 'mem_len': '32'})
    assert config.train_segments == [4]
    assert (model_config.seq_len, model_config.mem_len, model_config.d_model) == (64, 32, 64)
    with pytest.raises(ValueError, match="unknown model 'nonsense'; valid: .*'transformer_xl'"):
        study.configure({'model': 'nonsense'})
    with pytest.raises(ValueError, match="length=100 must be a multiple of seg_len=64"):
        study.configure({'length': '100', 'seg_len': '64'})


def test_the_curriculum_trains_at_its_length_first_then_at_the_target_length(tmp_path, monkeypatch):
    # Record the length of every batch the run draws, in order, by wrapping the sampler.
    drawn = []
    real_sample = study.sample

    def spy(batch_size, length, generator):
        drawn.append((batch_size, length))
        return real_sample(batch_size, length, generator)

    monkeypatch.setattr(study, 'sample', spy)
    stored = _execute({'model': 'transformer_xl', 'length': '64', 'seg_len': '32', 'steps': '2', 'batch_size': '2',
            'curriculum_length': '32', 'curriculum_steps': '3', 'eval_samples': '4', 'eval_every': '10',
            'd_model': '16', 'd_ff': '16', 'n_layers': '1', 'mem_len': '8',
            'logs_dir': str(tmp_path / 'logs')})
    # Each phase draws its held-out batch, then one batch per step; then the final scoring set.
    assert drawn == [(2, 32)] * 4 + [(2, 64)] * 3 + [(4, 64)]
    assert stored['curriculum'] == [32, 3] and stored['steps'] == 2


def test_a_curriculum_that_does_not_fit_the_segments_fails_clearly():
    with pytest.raises(ValueError, match="curriculum_length=100 must be a multiple of seg_len=64"):
        study.configure({'length': '128', 'seg_len': '64', 'curriculum_length': '100'})
    with pytest.raises(ValueError, match="curriculum_steps must be >= 0"):
        study.configure({'curriculum_steps': '-1'})
    # No curriculum: its length is not checked.
    config, _, _ = study.configure({'length': '128', 'seg_len': '64', 'curriculum_length': '100',
                                 'curriculum_steps': '0'})
    assert config.curriculum_steps == 0


def test_a_run_records_what_it_trained_and_scored(tmp_path, monkeypatch):
    # The record's fields against what the run did: the labml name, both training phases (the
    # curriculum at its own length, then the run proper numbered after it), the scoring set
    # drawn from the evaluation seed, the training time and the seed.
    import time
    calls = {'train': [], 'sample': []}
    real_start, real_train, real_sample = study.start_run, study.train, study.sample

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
    monkeypatch.setattr(study, 'start_run', start_run)
    monkeypatch.setattr(study, 'train', train)
    monkeypatch.setattr(study, 'sample', sample)
    overrides = {'model': 'transformer_xl', 'length': '64', 'seg_len': '32', 'steps': '2', 'batch_size': '2',
                 'curriculum_length': '32', 'curriculum_steps': '3', 'eval_samples': '4', 'eval_every': '10',
                 'd_model': '16', 'd_ff': '16', 'n_layers': '1', 'mem_len': '8', 'name': 'xl_small',
                 'logs_dir': str(tmp_path / 'logs')}
    started = time.time()
    result = _execute(overrides)
    wall = time.time() - started
    assert calls['name'] == 'frequency_sort_xl_small' and result['model'] == 'transformer_xl'
    assert result['parameters'] == sum(p.numel() for p in calls['model'].parameters())
    # Phase one: 3 steps on one-segment texts; phase two: 2 steps, numbered from step 4.
    (s1, steps1, seg1, kw1), (s2, steps2, seg2, kw2) = calls['train']
    assert s1 is sample and s2 is sample
    assert (steps1, seg1, kw1.get('first_step', 0)) == (3, [1], 0)
    assert (steps2, seg2, kw2.get('first_step')) == (2, [2], 3)
    # Scored on 4 sequences of 64 symbols drawn from the evaluation seed.
    assert calls['sample'][-1] == (4, 64, study.EVAL_SEED)
    # Rounded to a tenth, so at most 0.05 s above the wall time around the whole run.
    assert isinstance(result['train_seconds'], float) and 0 <= result['train_seconds'] <= wall + 0.05
    assert result['train_seconds'] == round(result['train_seconds'], 1)
    assert result['curriculum'] == [32, 3] and result['steps'] == 2
    # The command is the runner's to add; the record says which seed it trained.
    assert 'command' not in result and result['seed'] == 0 and result['length'] == 64
    # Without a curriculum the record says so.
    plain = _execute({**overrides, 'curriculum_steps': '0', 'name': 'xl_plain'})
    assert plain['curriculum'] is None


# ## The plan

def test_the_default_plan_is_every_committed_record_and_nothing_to_run():
    runs = study.plan(parse_settings(Settings, []))
    assert sorted(r.key for r in runs) == sorted(
        f'{n}_{length}' for n in ('compressive', 'infinity_former', 'infinity_former_sticky', 'transformer_xl')
        for length in (256, 1024, 2048, 4096))
    assert pending(STUDY, parse_settings(Settings, []), RESULTS) == []
    # Each planned run's settings are the command it was launched with, and the seed it had.
    records = Records(RESULTS / 'frequency_sort')
    for one in runs:
        record = records.get(one.key)
        assert record['run'] == one.settings, one.key
        launched = dict(w.split('=', 1) for w in record['command'].split()[3:])
        assert {**launched, 'seed': '0'} == one.settings['overrides'], one.key


def test_the_plan_files_other_seeds_and_the_gpu_preset_apart():
    keys = [r.key for r in study.plan(parse_settings(Settings, ['models=transformer_xl', 'lengths=256',
                                                                'seeds=0,1']))]
    assert keys == ['transformer_xl_256', 'transformer_xl_256_seed1']
    gpu = study.plan(parse_settings(Settings, ['preset=gpu', 'models=transformer_xl,compressive', 'lengths=8192']))
    assert [r.key for r in gpu] == ['transformer_xl_gpu_8192', 'compressive_gpu_8192']
    assert gpu[0].settings['overrides'] == {'model': 'transformer_xl', 'name': 'transformer_xl_gpu', 'length': '8192',
                                            'preset': 'gpu', 'eval_mem_len': '512', 'seed': '0'}
    # The gpu preset's model: the paper's size, and Transformer-XL's evaluation memory is its memory.
    config, model_config, _ = study.configure({**gpu[0].settings['overrides'], 'device': 'cpu'})
    assert (config.length, config.seg_len, model_config.mem_len, model_config.eval_mem_len) == (8192, 512, 512, 512)
    # An architecture by package name: the common recipe and its own defaults.
    rmt = study.plan(parse_settings(Settings, ['models=recurrent_memory', 'lengths=256']))[0]
    assert rmt.settings['overrides'] == {'model': 'recurrent_memory', 'name': 'recurrent_memory', 'length': '256',
                                         **study.RECIPE['cpu'], 'seed': '0'}


@pytest.mark.parametrize('argv,message', [
    (['models=nope'], r"models: unknown \['nope'\]"),
    (['lengths=100'], r'lengths \[100\]: each must be a multiple of the segment, 128'),
    (['preset=gpu', 'lengths=768'], r'lengths \[768\]: each must be a multiple of the segment, 512'),
    (['preset=tpu'], "unknown preset 'tpu'"),
    (['seeds=2,2'], 'seeds must be distinct'),
    (['margin=-1'], 'margin is a size'),
])
def test_bad_study_settings_fail_with_one_line(argv, message):
    with pytest.raises(SystemExit, match=message):
        parse_settings(Settings, argv)


# ## The page

# The committed page is the report of the committed records (see the same test for passkey),
# and so is its figure.
def test_the_report_of_the_committed_records_is_the_committed_page(tmp_path):
    shutil.copytree(RESULTS / 'frequency_sort', tmp_path / 'frequency_sort')
    (tmp_path / 'frequency_sort' / 'accuracy.png').unlink()
    report(STUDY, tmp_path)

    def lines(path):
        return [line for line in path.read_text().splitlines() if not line.startswith('* **Date:**')]
    assert lines(tmp_path / 'frequency_sort.md') == lines(RESULTS / 'frequency_sort.md')
    assert (tmp_path / 'frequency_sort' / 'accuracy.png').read_bytes() == \
        (RESULTS / 'frequency_sort' / 'accuracy.png').read_bytes()
    # The records predate stored dates; their conversion kept the day their first files were
    # committed, which a copy outside the repository still shows.
    assert ('* **Date:** 2026-11-22 (the day the record was committed; the run did not store its date)'
            in (tmp_path / 'frequency_sort.md').read_text())


def _records(tmp_path):
    # Two hand-made runs at two lengths with different recipes and seeds; one file named
    # `<name>_<length>_seed<s>.json`, as any seed but 0 is.
    folder = tmp_path / 'frequency_sort' / 'records'
    folder.mkdir(parents=True)
    base = {'model': 'transformer_xl', 'parameters': 10, 'exact_match': 0.0, 'train_seconds': 1.5,
            'command': 'python -m labml_memory.tasks.frequency_sort model=transformer_xl',
            'machine': {'date': '2026-12-02 03:00 UTC', 'cpu': 'a CPU', 'cores': 2, 'torch': '2.13.0'}}
    records = {'a_64.json': {**base, 'name': 'a', 'length': 64, 'accuracy': 0.25, 'curriculum': [32, 3],
                             'steps': 2, 'seed': 0},
               'a_128_seed1.json': {**base, 'name': 'a', 'length': 128, 'accuracy': 0.5, 'curriculum': None,
                                    'steps': 1000, 'seed': 1}}
    for file, record in records.items():
        (folder / file).write_text(json.dumps(record))
    return folder


def test_the_report_names_each_recipe_the_files_and_the_seeds(tmp_path, monkeypatch):
    from labml_memory.training import provenance
    folder = _records(tmp_path)
    seen = {}
    real_section = provenance.section

    def section(runs, **kw):
        seen['runs'], seen['seeds'] = runs, kw['seeds']
        return real_section(runs, **kw)
    monkeypatch.setattr(provenance, 'section', section)
    report(STUDY, tmp_path)
    text = (tmp_path / 'frequency_sort.md').read_text()
    assert ('* **Training:** 3 steps at 32 symbols, then 2 steps at the length of its column (a@64); '
            'no curriculum, 1,000 steps at the length of its column (a@128 seed 1).') in text
    # Each record is paired with the file it was read from, and its own seed.
    assert [(r['length'], p.name) for r, p in seen['runs']] == [(64, 'a_64.json'), (128, 'a_128_seed1.json')]
    assert seen['seeds'] == [0, 1]
    # Dates stored with the machine are the dates; nothing to rebuild.
    assert '* **Date:** 2026-12-02 03:00 UTC' in text
    # One recipe for all, and two runs of it: one sentence.
    record = {**json.loads((folder / 'a_128_seed1.json').read_text()), 'curriculum': [32, 3], 'steps': 2}
    (folder / 'a_128_seed1.json').write_text(json.dumps(record))
    (folder / 'b_64.json').write_text(json.dumps({**record, 'name': 'b', 'length': 64, 'seed': 0}))
    report(STUDY, tmp_path)
    assert '* **Training:** every run: 3 steps at 32 symbols, then 2 steps at the length of its column.' in \
        (tmp_path / 'frequency_sort.md').read_text()
    (folder / 'b_64.json').write_text(json.dumps({**record, 'name': 'b', 'length': 64, 'seed': 0, 'steps': 5}))
    report(STUDY, tmp_path)
    assert '(a@64, a@128 seed 1); 3 steps at 32 symbols, then 5 steps' in (tmp_path / 'frequency_sort.md').read_text()


def test_the_verdicts_are_the_pages_comparisons_in_one_call(tmp_path):
    # Three seeds per cell: the ∞-former ahead of Transformer-XL, sticky memories tied with none,
    # and the compressive run at one length only (compared where both were trained).
    folder = tmp_path / 'frequency_sort' / 'records'
    folder.mkdir(parents=True)
    accuracy = {'infinity_former': [0.30, 0.31, 0.32], 'transformer_xl': [0.20, 0.22, 0.21],
                'infinity_former_sticky': [0.301, 0.311, 0.321]}
    base = {'model': 'm', 'parameters': 1, 'exact_match': 0.0, 'train_seconds': 1.0, 'steps': 1,
            'curriculum': None, 'command': STUDY.run_command, 'run': {'margin': 0.02}}
    for name, values in accuracy.items():
        for seed, value in enumerate(values):
            for length in (64, 128):
                r = {**base, 'name': name, 'length': length, 'seed': seed, 'accuracy': value}
                (folder / f'{study.key_of(name, length, seed)}.json').write_text(json.dumps(r))
    for seed in range(3):
        r = {**base, 'name': 'compressive', 'length': 128, 'seed': seed, 'accuracy': 0.2 + 0.01 * seed}
        (folder / f'{study.key_of("compressive", 128, seed)}.json').write_text(json.dumps(r))
    report(STUDY, tmp_path)
    text = (tmp_path / 'frequency_sort.md').read_text()
    by_seed = {n: dict(enumerate(v)) for n, v in accuracy.items()}
    compressive = {s: 0.2 + 0.01 * s for s in range(3)}
    expected = stats.compare({('infinity_former', 'transformer_xl', n): (by_seed['infinity_former'], by_seed['transformer_xl'])
                              for n in (64, 128)}
                             | {('infinity_former_sticky', 'infinity_former', n): (by_seed['infinity_former_sticky'],
                                                                                   by_seed['infinity_former']) for n in (64, 128)}
                             | {('compressive', 'transformer_xl', 128): (compressive, by_seed['transformer_xl'])},
                             0.02, lower_is_better=False)
    assert expected['infinity_former', 'transformer_xl', 64].verdict == 'ahead'
    assert expected['infinity_former_sticky', 'infinity_former', 64].verdict == 'tie'
    v = expected
    assert (f"| infinity_former − transformer_xl | {v['infinity_former', 'transformer_xl', 64].text(3)} | "
            f"{v['infinity_former', 'transformer_xl', 128].text(3)} |") in text
    assert f"| compressive − transformer_xl | – | {v['compressive', 'transformer_xl', 128].text(3)} |" in text
    assert 'across the 5 comparisons of this page' in text and '±0.02' in text
    assert 'no comparison can be resolved' not in text
    assert 'The mean over seeds, with the lowest and highest seed under it.' in text
    assert '| infinity_former | 0.310<br><small>0.300–0.320</small> (0.00) |' in text


def test_one_seed_is_never_resolved_and_the_gaps_to_the_references_are_given(tmp_path):
    shutil.copytree(RESULTS / 'frequency_sort', tmp_path / 'frequency_sort')
    report(STUDY, tmp_path)
    text = (tmp_path / 'frequency_sort.md').read_text()
    # Twelve comparisons in the table, and one of them again as the convention's example.
    assert text.count('(one seed), not resolved') == 12 + 1
    assert 'With one training seed per cell no comparison can be resolved.' in text
    records = Records(tmp_path / 'frequency_sort')
    xl = {r['length']: r['accuracy'] for r in records if r['name'] == 'transformer_xl'}
    floor = fs.memoryless_floor(1024)
    assert f"* **transformer_xl**: {xl[256] - fs.memoryless_floor(256):+.3f} / {xl[1024] - floor:+.3f} /" in text


def test_the_report_figure_draws_each_run_the_window_line_and_the_floor(tmp_path, monkeypatch):
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib.figure import Figure
    captured = []
    real_savefig = Figure.savefig
    monkeypatch.setattr(Figure, 'savefig', lambda self, path, **kw: (captured.append((self, path, kw)),
                                                                     real_savefig(self, path, **kw)))
    folder = _records(tmp_path)
    (folder / 'b_64.json').write_text(json.dumps({**json.loads((folder / 'a_64.json').read_text()),
                                                  'name': 'b', 'accuracy': 0.125}))
    report(STUDY, tmp_path)
    plot = tmp_path / 'frequency_sort' / 'accuracy.png'
    assert plot.stat().st_size > 0 and (tmp_path / 'frequency_sort.md').exists()
    fig, path, kw = captured[0]
    assert path == plot and kw['dpi'] == 120 and kw['facecolor'] == 'white' and not kw['transparent']
    ax = fig.axes[0]
    # One error-bar series per run, its own colour and marker, error bars of one standard error.
    bars = {c.get_label(): c for c in ax.containers}
    assert set(bars) == {'a', 'b'}
    line_a, _, (errors_a,) = bars['a'].lines
    assert list(line_a.get_xdata()) == [64, 128] and list(line_a.get_ydata()) == [0.25, 0.5]
    positions = study.SortConfig().eval_samples * fs.SYMBOLS
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
    assert ax.get_xlabel() == 'sequence length (symbols, log scale)'
    assert ax.get_ylabel() == 'token accuracy of the sorted answer'
    assert ax.get_ylim() == (0, 1)
    # One legend, under the axes.
    assert ax.get_legend() is None
    assert [t.get_text() for t in fig.legends[0].get_texts()] == \
        [f'exact counts, last {fs.ORACLE_WINDOW} symbols', 'floor: guesser that never read the sequence', 'a', 'b']
