"""The synthetic-task loop: reading in segments, exact match, the task loss, evaluation and
training, with the passkey task as the batches they read; and the floors of the package, which
keep the loop below the tasks and the tasks below the studies."""
from pathlib import Path

import pytest
import torch

from labml_memory.tasks.passkey import CHARS, decode, sample
from labml_memory.training.synthetic import (SyntheticBatch, SyntheticTrainConfig, evaluate, exact_match,
                                             read_in_segments, task_loss, train)

PACKAGE = Path(__file__).resolve().parents[1] / 'labml_memory'


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


def test_the_loop_learns_a_task_within_one_segment():
    # A sanity check of the generic loop: with the needle at depth 1 in a one-segment text,
    # the key is inside the local window, so even a tiny model must learn to copy it.
    from labml_memory.infini_attention import InfiniTransformer
    torch.manual_seed(0)
    model = InfiniTransformer(len(CHARS), d_model=32, heads=2, n_layers=2, d_ff=64, dropout=0.0)
    config = SyntheticTrainConfig(steps=40, batch_size=16, seg_len=64, train_segments=(1,), lr=3e-3,
                                  warmup=5, eval_every=1000, lm_weight=0.1)
    before = evaluate(model, sample(32, 64, torch.Generator().manual_seed(1), 2, 1.0), 64)['loss']
    history = train(model, lambda b, n, g: sample(b, n, g, 2, 1.0), config, torch.device('cpu'))
    after = evaluate(model, sample(32, 64, torch.Generator().manual_seed(1), 2, 1.0), 64)['loss']
    assert len(history) == 40 and after < before - 0.5


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
