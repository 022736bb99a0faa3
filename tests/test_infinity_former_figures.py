"""The ∞-former figures: a run keeps what the figures draw, computed by the model's own code
paths, and the report redraws the committed page from that record alone."""
import copy
import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch

from labml_memory.infinity_former.continuous import attention_histogram, sample_times
from labml_memory.studies import infinity_former_figures as study
from labml_memory.studies.runner import Records, parse_settings, pending, report

RESULTS = Path(__file__).resolve().parents[1] / 'docs' / 'results'


def committed():
    [(record, _)] = Records(RESULTS / study.NAME).runs
    return record


# ## The committed record and page
def test_report_gives_back_the_committed_page(tmp_path, monkeypatch):
    monkeypatch.setenv('MPLBACKEND', 'Agg')
    shutil.copytree(RESULTS / study.NAME, tmp_path / study.NAME)
    report(study.STUDY, tmp_path)
    keep = lambda text: [line for line in text.splitlines() if not line.startswith('* **Date:**')]  # noqa: E731
    assert keep((tmp_path / f'{study.NAME}.md').read_text()) == keep((RESULTS / f'{study.NAME}.md').read_text())
    assert (tmp_path / study.NAME / 'density.png').exists() and (tmp_path / study.NAME / 'sticky.png').exists()


def test_the_default_plan_finds_the_committed_record():
    assert pending(study.STUDY, study.Settings(), RESULTS) == []


def test_the_model_page_shows_the_study_figures():
    page = (Path(study.__file__).parents[1] / 'infinity_former' / '__init__.py').read_text()
    for figure in ('density.png', 'sticky.png'):
        assert f'](../results/{study.NAME}/{figure})' in page
        assert (RESULTS / study.NAME / figure).exists()


# The record's histogram and sticky times are what the update's own functions make of its
# densities: the figure cannot show a sampling the model would not do.
def test_the_record_is_what_the_update_would_sample():
    record = committed()
    mu, var = torch.tensor(record['mu'])[None], torch.tensor(record['variance'])[None]
    histogram = attention_histogram(mu, var, record['bins'])[0]
    assert torch.allclose(histogram, torch.tensor(record['histogram']), atol=1e-6)
    sticky = sample_times(histogram[None], record['n_samples'], stochastic=False)[0]
    assert torch.allclose(sticky, torch.tensor(record['sticky_times']), atol=1e-5)
    assert record['uniform_times'] == pytest.approx([(i + 0.5) / record['n_samples'] for i in range(record['n_samples'])])
    assert len(record['mu']) == 4 and len(record['mu'][0]) == 64


# ## A run, with the training replaced by an untrained narrow model
#
# Everything after training is the real code: the validation text, the densities of the
# chosen layer, the histogram and both sets of times.
def test_execute_keeps_what_the_figures_draw(monkeypatch):
    import labml_memory.training as training
    from labml_memory.data.shakespeare import Vocabulary, load_text
    from labml_memory.infinity_former.experiment import build_model
    seen = {}

    def fake_train(config, build, name):
        seen.update(steps=config.steps, seed=config.seed, sample_len=config.sample_len, name=name)
        vocab = Vocabulary.from_text(load_text())
        torch.manual_seed(config.seed)
        model = build_model(dataclasses.replace(config, d_model=16, heads=2, d_ff=16), vocab.size)
        return training.TrainResult('x', Path('.'), config.steps, 3.0, 0.2, wall_time=1.5, model=model,
                                    vocabulary=vocab)

    monkeypatch.setattr(training, 'train', fake_train)
    run = study.plan(parse_settings(study.Settings, ['steps=7', 'segments=2', 'layer=1']))[0]
    record = study.execute(run)
    assert seen == {'steps': 7, 'seed': 0, 'sample_len': 0, 'name': study.NAME}
    assert run.key == 'steps7-seed0-layer1-after2'
    assert (record['steps'], record['final_valid_loss'], record['train_seconds']) == (7, 3.0, 1.5)
    # Two heads of 64 queries, a probability per bin, sorted times inside the memory.
    assert len(record['mu']) == len(record['variance']) == 2 and len(record['mu'][0]) == 64
    assert sum(record['histogram']) == pytest.approx(1.0) and len(record['histogram']) == record['bins']
    assert record['sticky_times'] == sorted(record['sticky_times']) and 0 <= min(record['sticky_times'])
    assert (record['n_basis'], record['widths'], record['tau']) == (64, [0.03, 0.08], 0.5)


# `densities_after` reads `segments` segments and keeps the densities of the call after them.
def test_densities_after_keeps_the_call_after_the_reading():
    class Counting(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))
            self.calls = []

        def forward(self, tokens, memory):
            self.calls.append(memory)
            self.last_densities = len(self.calls)
            return None, len(self.calls), {}

    class Streams:
        def segment(self, index):
            return torch.zeros(1, 2, dtype=torch.long), None, False

    model = Counting()
    assert study.densities_after(model, Streams(), 3) == 4
    # The memory is carried from call to call, starting empty.
    assert model.calls == [None, 1, 2, 3]


# ## The page, from hand-made records
def test_the_page_draws_the_best_trained_record_and_names_the_others(tmp_path, monkeypatch):
    monkeypatch.setenv('MPLBACKEND', 'Agg')
    short = committed()
    short.update(key='steps100-seed0-layer3-after16', steps=100, final_valid_loss=2.26)
    short['run'] = dict(short['run'], steps=100)
    longer = copy.deepcopy(short)
    longer.update(key='steps800-seed0-layer3-after16', steps=800, final_valid_loss=1.66)
    longer['run'] = dict(short['run'], steps=800)
    folder = tmp_path / study.NAME / 'records'
    folder.mkdir(parents=True)
    for r in (short, longer):
        (folder / f"{r['key']}.json").write_text(json.dumps(r))
    report(study.STUDY, tmp_path)
    page = (tmp_path / f'{study.NAME}.md').read_text()
    assert 'trained for 800 steps, reaching 1.6600' in page and "of the preset's" not in page
    assert f"Also recorded, not drawn: `{short['key']}`." in page
    # The plots first, then the table, and how it was made last.
    assert page.index('density.png') < page.index('sticky.png') < page.index('| head |') < page.index('**Machine:**')


def test_the_middle_half_counts_sample_times_and_mass():
    record = committed()
    record = dict(record, sticky_times=[0.1, 0.3, 0.5, 0.74, 0.75, 0.9], uniform_times=[0.25, 0.8],
                  n_samples=6, histogram=[0.0] * 16 + [1 / 32] * 32 + [0.0] * 16)
    lines = study.page_lines(record, [(record, None)])
    text = '\n'.join(lines)
    assert 'holds 100% of the attention mass and gets 3 of the 6 sticky times, against 1 uniform ones' in text


def test_settings_refuse_a_layer_the_preset_does_not_have():
    with pytest.raises(SystemExit, match='layers 0..3'):
        parse_settings(study.Settings, ['layer=4'])
    with pytest.raises(SystemExit, match='steps must be at least 1'):
        parse_settings(study.Settings, ['steps=0'])
