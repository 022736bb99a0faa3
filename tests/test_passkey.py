"""The passkey generator, the exact-match scorer and the generic synthetic-task loop."""
import json
from pathlib import Path

import pytest
import torch

from labml_memory.tasks import passkey
from labml_memory.tasks.passkey import (CHARS, FILLER, NEEDLE, QUESTION, PasskeyConfig, decode,
                                        passkey_text, sample, split_overrides)
from labml_memory.tasks.synthetic import (SyntheticBatch, SyntheticTrainConfig, exact_match,
                                          read_in_segments, task_loss)


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


def test_exact_match_scores_exactly():
    targets = torch.tensor([[1, 2, 3, 4, 5], [1, 2, 3, 4, 5], [1, 2, 3, 4, 5]])
    mask = torch.tensor([[0, 0, 1, 1, 1]] * 3, dtype=torch.bool)
    predictions = torch.tensor([[9, 9, 3, 4, 5],      # wrong only where not scored: correct
                                [1, 2, 3, 0, 5],      # one scored digit wrong: incorrect
                                [1, 2, 3, 4, 5]])     # all right
    assert exact_match(predictions, targets, mask).tolist() == [True, False, True]
    with pytest.raises(ValueError, match="at least one scored position"):
        exact_match(predictions, targets, torch.zeros_like(mask))


def test_read_in_segments_equals_calling_the_model_by_hand():
    from labml_memory.infini_attention import InfiniTransformer
    model = InfiniTransformer(len(CHARS), d_model=16, heads=2, n_layers=1, d_ff=32, dropout=0.0).eval()
    inputs = torch.randint(0, len(CHARS), (2, 12))
    l1, memory, _ = model(inputs[:, :4])
    l2, memory, _ = model(inputs[:, 4:8], memory)
    l3, _, _ = model(inputs[:, 8:], memory)
    torch.testing.assert_close(read_in_segments(model, inputs, 4), torch.cat([l1, l2, l3], 1))
    with pytest.raises(ValueError, match="not a multiple of seg_len=5"):
        read_in_segments(model, inputs, 5)


def test_task_loss_counts_the_right_positions():
    targets = torch.tensor([[1, 2, 0]])
    logits = torch.zeros(1, 3, 4)
    logits[0, 0, 1] = 10.0    # position 0 right, position 1 uniform, position 2 (answer) uniform
    loss_mask = torch.tensor([[True, False, True]])
    score_mask = torch.tensor([[False, False, True]])
    batch = SyntheticBatch(targets, targets, loss_mask, score_mask)
    uniform = torch.log(torch.tensor(4.0))
    right = torch.nn.functional.cross_entropy(logits[0, :1], targets[0, :1])
    torch.testing.assert_close(task_loss(logits, batch, 0.0), uniform)
    torch.testing.assert_close(task_loss(logits, batch, 0.5), uniform + 0.5 * right)


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
    assert 'infini_attention' in passkey.architectures() and 'transformer_xl' in passkey.architectures()


def test_a_tiny_run_end_to_end_and_its_report(tmp_path):
    # Runs every stage for two architectures: training, the evaluation grid, the json, the report.
    for model, extra in [('infini_attention', {'memory_grad': 'true'}),
                         ('transformer_xl', {'mem_len': '8', 'eval_mem_len': '8'})]:
        passkey.run({'model': model, 'steps': '3', 'batch_size': '4', 'seg_len': '32',
                     'eval_lengths': '2,4', 'eval_depths': '0,1', 'eval_samples': '2', 'eval_every': '3',
                     'results_dir': str(tmp_path), 'logs_dir': str(tmp_path / 'logs'),
                     'd_model': '16', 'heads': '2', 'n_layers': '1', 'd_ff': '32', **extra})
    # A second seed of one model: the report gathers the two into one row.
    passkey.run({'model': 'transformer_xl', 'seed': '1', 'steps': '3', 'batch_size': '4', 'seg_len': '32',
                 'eval_lengths': '2,4', 'eval_depths': '0,1', 'eval_samples': '2', 'eval_every': '3',
                 'results_dir': str(tmp_path), 'logs_dir': str(tmp_path / 'logs'),
                 'd_model': '16', 'heads': '2', 'n_layers': '1', 'd_ff': '32', 'mem_len': '8', 'eval_mem_len': '8'})
    result = json.loads((tmp_path / 'transformer_xl_seed0.json').read_text())
    # XL keeps mem_len x d_model numbers per layer; Infini keeps heads x d_k (d_k + 1).
    assert result['state_numbers'] == 8 * 16 and result['seed'] == 0
    assert json.loads((tmp_path / 'infini_attention_seed0.json').read_text())['state_numbers'] == 2 * 8 * 9
    assert json.loads((tmp_path / 'transformer_xl_seed1.json').read_text())['seed'] == 1
    assert set(result['accuracy']) == {'2', '4'} and set(result['accuracy']['4']) == {'0', '1'}
    table, plot = passkey.report(str(tmp_path))
    text = table.read_text()
    # Three steps learn nothing: both rows fail their control and are marked.
    assert '| transformer_xl ⚠ | 2 × 3 | 128 |' in text and '| infini_attention ⚠ | 1 × 3 | 144 |' in text
    assert '2× (64 chars) control' in text and 'is 0.0001 per text' in text
    assert plot.stat().st_size > 1000


def test_the_grid_reads_the_same_texts_at_every_cell_for_every_model(monkeypatch):
    # Each cell's texts come from a seed of its own, 10,000 + 100 i + j for length i and depth
    # j, at that cell's length and depth: every model and every run is scored on the same texts.
    seen = []
    monkeypatch.setattr(passkey, 'evaluate', lambda model, batch, seg_len: (
        seen.append((batch, seg_len)), {'accuracy': len(seen) / 10})[1])
    config = PasskeyConfig(eval_lengths=(2, 3), eval_depths=(0.0, 0.5, 1.0), eval_samples=3,
                           n_digits=3, seg_len=32)
    grid = passkey.evaluate_grid(None, config, torch.device('cpu'))
    assert grid == {'2': {'0': 0.1, '0.5': 0.2, '1': 0.3}, '3': {'0': 0.4, '0.5': 0.5, '1': 0.6}}
    for k, (batch, seg_len) in enumerate(seen):
        i, j = divmod(k, 3)
        expected = sample(3, (2, 3)[i] * 32, torch.Generator().manual_seed(10_000 + 100 * i + j), 3,
                          (0.0, 0.5, 1.0)[j])
        assert seg_len == 32
        assert torch.equal(batch.inputs, expected.inputs) and torch.equal(batch.targets, expected.targets)


def test_a_run_records_what_it_trained_and_evaluated(tmp_path, monkeypatch):
    # The record's fields against what the run did: the labml name, the training sampler
    # (seeded, with the configured digits), the training time, the last validation accuracy
    # and the command that reruns it.
    import time
    calls = {}
    real_start, real_train = passkey.start_run, passkey.train

    def start_run(name, *args):
        calls['name'] = name
        return real_start(name, *args)

    def train(model, sampler, config, device):
        calls['sampler'] = sampler
        calls['history'] = real_train(model, sampler, config, device)
        return calls['history']
    monkeypatch.setattr(passkey, 'start_run', start_run)
    monkeypatch.setattr(passkey, 'train', train)
    overrides = {'model': 'transformer_xl', 'steps': '4', 'batch_size': '2', 'seg_len': '32', 'n_digits': '3',
                 'eval_lengths': '2', 'eval_depths': '0', 'eval_samples': '2', 'eval_every': '3',
                 'results_dir': str(tmp_path), 'logs_dir': str(tmp_path / 'logs'), 'd_model': '16',
                 'heads': '2', 'n_layers': '1', 'd_ff': '32', 'mem_len': '8', 'eval_mem_len': '8'}
    started = time.time()
    result = passkey.run(overrides)
    wall = time.time() - started
    assert calls['name'] == 'passkey_transformer_xl' and result['model'] == 'transformer_xl'
    # The sampler is seeded by the generator it is given, and writes 3-digit keys.
    one = calls['sampler'](2, 64, torch.Generator().manual_seed(5))
    two = calls['sampler'](2, 64, torch.Generator().manual_seed(5))
    assert torch.equal(one.inputs, two.inputs)
    key = decode(one.targets[0][one.score_mask[0]])
    assert len(key) == 3 and key.isdigit()
    assert isinstance(result['train_seconds'], float) and 0 < result['train_seconds'] <= wall
    assert result['train_seconds'] == round(result['train_seconds'], 1)
    assert len(calls['history']) == 4 and result['final_train_accuracy'] == calls['history'][-1]['accuracy.valid']
    # Validated at step 3 and at the last, not at step 2: the value is the last step's.
    assert calls['history'][-1]['accuracy.valid'] is not None and 'accuracy.valid' not in calls['history'][1]
    assert result['command'] == 'python -m labml_memory.tasks.passkey ' + ' '.join(
        f'{k}={v}' for k, v in overrides.items())


def test_the_report_gives_each_name_its_seeds_mean_and_range(tmp_path):
    # Hand-made records: the mean over depths per seed, then the mean and range over seeds.
    def record(name, seed, control, far):
        return {'name': name, 'model': 'transformer_xl', 'seed': seed, 'overrides': {}, 'parameters': 10,
                'state_numbers': 4, 'train_seconds': 1.0 + seed, 'seg_len': 32,
                'accuracy': {'2': {'0': control, '1': control}, '16': {'0': far, '1': 0.0}}, 'command': 'x'}
    for seed, (control, far) in enumerate([(1.0, 0.5), (0.96, 0.25), (1.0, 0.75)]):
        (tmp_path / f'good_seed{seed}.json').write_text(json.dumps(record('good', seed, control, far)))
    (tmp_path / 'weak_seed0.json').write_text(json.dumps(record('weak', 0, 0.9, 0.0)))
    text = passkey.report(str(tmp_path))[0].read_text()
    # good: control means 1.0, 0.96, 1.0 -> 0.99 [0.96, 1.00]; at 16x 0.25, 0.125, 0.375 -> 0.25.
    assert '| good | 3 × 300 | 4 | 10 | 1–3 | 0.99<br><small>0.96–1.00</small> | 0.25<br><small>0.12–0.38</small> |' in text
    assert '| weak ⚠ | 1 × 300 |' in text and '| good ⚠' not in text
    assert '| good | 16× | 0.50<br><small>0.25–0.75</small> | 0.00<br><small>0.00–0.00</small> |' in text


def test_the_loop_learns_a_task_within_one_segment():
    # A sanity check of the generic loop: with the needle at depth 1 in a one-segment text,
    # the key is inside the local window, so even a tiny model must learn to copy it.
    from labml_memory.infini_attention import InfiniTransformer
    from labml_memory.tasks.synthetic import evaluate, train
    torch.manual_seed(0)
    model = InfiniTransformer(len(CHARS), d_model=32, heads=2, n_layers=2, d_ff=64, dropout=0.0)
    config = SyntheticTrainConfig(steps=40, batch_size=16, seg_len=64, train_segments=(1,), lr=3e-3,
                                  warmup=5, eval_every=1000, lm_weight=0.1)
    before = evaluate(model, sample(32, 64, torch.Generator().manual_seed(1), 2, 1.0), 64)['loss']
    history = train(model, lambda b, n, g: sample(b, n, g, 2, 1.0), config, torch.device('cpu'))
    after = evaluate(model, sample(32, 64, torch.Generator().manual_seed(1), 2, 1.0), 64)['loss']
    assert len(history) == 40 and after < before - 0.5


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


class _Oracle(torch.nn.Module):
    # Reads segments through the protocol and predicts the next character from the full text
    # it was built with, except in the rows and answer positions told to be wrong; the memory
    # it carries is the number of characters read, so a misuse of the memory shows up.
    def __init__(self, batch, wrong):
        super().__init__()
        self.batch, self.wrong = batch, wrong

    def forward(self, tokens, memory=None):
        start = 0 if memory is None else memory
        seg = tokens.shape[1]
        assert torch.equal(tokens, self.batch.inputs[:, start:start + seg])
        logits = torch.full((*tokens.shape, len(CHARS)), -5.0)
        for b in range(tokens.shape[0]):
            for t in range(seg):
                target = int(self.batch.targets[b, start + t])
                if (b, start + t) in self.wrong:
                    target = (target + 1) % len(CHARS)
                logits[b, t, target] = 5.0
        return logits, start + seg, {}


def test_evaluation_scores_exactly_and_reports_the_answer_loss():
    from labml_memory.tasks.synthetic import evaluate
    batch = sample(8, 96, torch.Generator().manual_seed(2), n_digits=4, depth=0.3)
    answer = list(range(96 - 4, 96))
    # Rows 1 and 6 get one answer digit wrong, row 3 a non-answer character: 6 of 8 correct.
    wrong = {(1, answer[2]), (6, answer[0]), (3, 10)}
    result = evaluate(_Oracle(batch, wrong), batch, 32)
    assert result['accuracy'] == 6 / 8
    # The loss is the cross-entropy of the 32 answer digits alone: 30 right, 2 wrong.
    right = -torch.log_softmax(torch.tensor([5.0] + [-5.0] * (len(CHARS) - 1)), 0)[0]
    miss = -torch.log_softmax(torch.tensor([5.0] + [-5.0] * (len(CHARS) - 1)), 0)[1]
    assert result['loss'] == pytest.approx(((30 * right + 2 * miss) / 32).item(), rel=1e-5)


def test_the_loop_learns_an_answer_that_needs_the_memory():
    # Two-segment texts with the needle at depth 0: the key sits in the first segment and
    # the answer at the end of the second, so no model reading one segment alone can know
    # it. Transformer-XL with a memory of one segment learns to fetch it; the same trained
    # weights, read with the memory cut at the segment boundary, answer at chance.
    from labml_memory.tasks.synthetic import evaluate, train
    from labml_memory.transformer_xl import TransformerXL
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = TransformerXL(len(CHARS), d_model=32, heads=2, n_layers=2, d_ff=64, mem_len=32,
                              dropout=0.0)
        config = SyntheticTrainConfig(steps=150, batch_size=16, seg_len=32, train_segments=(2,),
                                      lr=3e-3, warmup=5, eval_every=1000, lm_weight=0.1)
        train(model, lambda b, n, g: sample(b, n, g, 2, 0.0), config, torch.device('cpu'))
        held_out = sample(64, 64, torch.Generator().manual_seed(1), 2, 0.0)
        text = decode(held_out.inputs[0])
        assert text.index('the pass key is ') < 32 and text.rindex('the pass key is ') >= 32

        class WithoutMemory(torch.nn.Module):
            def __init__(self, model):
                super().__init__()
                self.model = model

            def forward(self, tokens, memory=None):
                return self.model(tokens, None)

        assert evaluate(model, held_out, 32)['accuracy'] >= 0.8
        assert evaluate(WithoutMemory(model), held_out, 32)['accuracy'] <= 0.1
    finally:
        torch.set_num_threads(before)


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


# The committed page is the report of the committed records: redrawn in place of a copy, it
# comes back line for line (the date of records that did not store one comes from `git log`,
# which a copy outside the repository lacks, so that one line is left out). Any change to
# what the report computes or writes shows here.
def test_the_report_of_the_committed_records_is_the_committed_page(tmp_path):
    import shutil
    committed = Path(__file__).resolve().parents[1] / 'docs' / 'results' / 'passkey'
    shutil.copytree(committed, tmp_path / 'passkey')
    # The copied page and plot go first, so only what the report writes can match.
    (tmp_path / 'passkey' / 'table.md').unlink()
    (tmp_path / 'passkey' / 'accuracy.png').unlink()
    table, plot = passkey.report(str(tmp_path / 'passkey'))
    assert (table, plot) == (tmp_path / 'passkey' / 'table.md', tmp_path / 'passkey' / 'accuracy.png')

    def lines(path):
        return [line for line in path.read_text().splitlines() if not line.startswith('* **Date:**')]
    assert lines(tmp_path / 'passkey' / 'table.md') == lines(committed / 'table.md')


# The figure of the committed page, read back artist by artist against the records: one panel
# per length, one line per run at the mean over its seeds with a band from the lowest to the
# highest seed, the guesser's floor, and the labels a reader needs.
def test_the_report_figure_draws_every_run_from_its_records(tmp_path, monkeypatch):
    import shutil
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib.figure import Figure
    committed = Path(__file__).resolve().parents[1] / 'docs' / 'results' / 'passkey'
    shutil.copytree(committed, tmp_path / 'passkey')
    saved = []
    real_savefig = Figure.savefig
    monkeypatch.setattr(Figure, 'savefig', lambda self, path, **kw: (saved.append((self, path, kw)),
                                                                     real_savefig(self, path, **kw)))
    table, plot = passkey.report(str(tmp_path / 'passkey'))
    fig, path, kw = saved[0]
    assert Path(path) == plot == tmp_path / 'passkey' / 'accuracy.png' and kw['dpi'] == 110
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / 'passkey').glob('*.json'))]
    names = list(dict.fromkeys(r['name'] for r in records))
    lengths = list(records[0]['accuracy'])
    depths = list(records[0]['accuracy'][lengths[0]])
    assert len(fig.axes) == len(lengths)
    # One y-axis for every panel, so their heights compare at a glance.
    assert all(fig.axes[0].get_shared_y_axes().joined(fig.axes[0], ax) for ax in fig.axes[1:])
    assert tuple(fig.get_size_inches()) == pytest.approx((3.6 * len(lengths), 3.4))
    for i, (ax, m) in enumerate(zip(fig.axes, lengths)):
        chars = int(m) * records[0]['seg_len']
        assert ax.get_title() == f"{m}× segment ({chars:,} chars)" + (', control' if i == 0 else '')
        assert ax.get_xlabel() == 'needle depth (0 = start of text)'
        assert ax.get_ylabel() == ('exact match' if i == 0 else '')
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
        assert ax.get_legend() is None if i < len(lengths) - 1 else \
            [t.get_text() for t in ax.get_legend().get_texts()] == [l.get_label() for l in lines[:len(names)]]


# Older records kept their seed only in the command's overrides, and the oldest in neither
# (the default seed): the page's seeds come from wherever the record has them.
def test_the_report_reads_a_seed_from_the_record_its_overrides_or_the_default(tmp_path):
    import shutil
    committed = Path(__file__).resolve().parents[1] / 'docs' / 'results' / 'passkey'
    folder = tmp_path / 'passkey'
    folder.mkdir()
    for seed in (1, 2):
        shutil.copy(committed / f'transformer_xl_seed{seed}.json', folder)
    first = json.loads((folder / 'transformer_xl_seed1.json').read_text())
    del first['seed']                      # seed 1, in the overrides only
    (folder / 'transformer_xl_seed1.json').write_text(json.dumps(first))
    second = json.loads((folder / 'transformer_xl_seed2.json').read_text())
    del second['seed'], second['overrides']['seed']   # no seed anywhere: the default, 0
    second['overrides']['steps'] = '1000'               # and another number of steps
    (folder / 'transformer_xl_seed2.json').write_text(json.dumps(second))
    third = json.loads((committed / 'transformer_xl_seed0.json').read_text())
    third['seed'] = 5                                   # the record's own seed comes first
    del third['overrides']['seed']
    (folder / 'transformer_xl_seed5.json').write_text(json.dumps(third))
    table, _ = passkey.report(str(folder))
    text = table.read_text()
    assert '* **Seeds:** 0, 1, 5 (one training seed per run)' in text
    # Seeds trained for different numbers of steps list both.
    assert '| transformer_xl | 3 × 1000/2000 |' in text


# One record is a whole report (a single run, a single seed); no record is an error that says
# which task's results are missing and where.
def test_the_report_of_one_record_and_of_none(tmp_path):
    import shutil
    committed = Path(__file__).resolve().parents[1] / 'docs' / 'results' / 'passkey'
    (tmp_path / 'one').mkdir()
    shutil.copy(committed / 'infini_delta_seed0.json', tmp_path / 'one')
    record = json.loads((committed / 'infini_delta_seed0.json').read_text())
    # A control of exactly 0.95 passes: the mark is for a control *under* 0.95.
    control = list(record['accuracy'])[0]
    record['accuracy'][control] = {d: 0.95 for d in record['accuracy'][control]}
    (tmp_path / 'one' / 'infini_delta_seed0.json').write_text(json.dumps(record))
    table, _ = passkey.report(str(tmp_path / 'one'))
    text = table.read_text()
    assert '| infini_delta | 1 × 1000 |' in text and '| infini_delta | 64× |' in text
    (tmp_path / 'none').mkdir()
    with pytest.raises(ValueError, match=r"no passkey results \(\*\.json\) under .*none; run the task first"):
        passkey.report(str(tmp_path / 'none'))
