"""Associative recall: the generator puts everything where it says, the scorer counts exactly, and
the floor is what a memoryless guesser scores."""
import math
import re

import pytest
import torch

from labml_memory.tasks import recall
from labml_memory.tasks.recall import FLOOR, decode, query_correct, sample, training_sampler


def full_text(batch, row):
    # The inputs plus the last target: the whole text of one row.
    return decode(batch.inputs[row]) + decode(batch.targets[row, -1:])


@pytest.mark.parametrize('seed', range(5))
@pytest.mark.parametrize('load, gap, length', [(1, 0, 31), (3, 17, 95), (8, 40, 127), (5, 0, 63), (26, 3, 200)])
def test_pairs_gap_and_queries_sit_where_the_layout_says(seed, load, gap, length):
    batch = sample(6, length, torch.Generator().manual_seed(seed), load, gap)
    n_queries = min(load, 4)
    prefix = length + 1 - (4 * load + gap + 5 * n_queries)
    for row in range(6):
        text = full_text(batch, row)
        assert len(text) == length + 1
        pairs = re.findall(r'([a-z])(\d{2}) ', text[prefix:prefix + 4 * load])
        assert len(pairs) == load and ''.join(f'{k}{v} ' for k, v in pairs) == text[prefix:prefix + 4 * load]
        written = dict(pairs)
        assert len(written) == load  # distinct keys
        # Filler only before the pairs and in the gap: no question mark or digit.
        between = text[prefix + 4 * load:prefix + 4 * load + gap]
        assert len(between) == gap and not re.search(r'[?0-9]', between + text[:prefix])
        queries = re.findall(r'\?([a-z])(\d{2}) ', text[-5 * n_queries:])
        assert len(queries) == n_queries and len({k for k, _ in queries}) == n_queries
        # Only written keys are asked, and the answer is the value written for that key.
        assert all(written[k] == v for k, v in queries)
        # The scored targets are exactly the answers' digits, in order.
        assert decode(batch.targets[row][batch.score_mask[row]]) == ''.join(v for _, v in queries)


def test_loss_leaves_out_exactly_the_random_characters():
    load, gap, length = 3, 10, 63
    batch = sample(2, length, torch.Generator().manual_seed(0), load, gap)
    prefix = length + 1 - (4 * load + gap + 5 * 3)
    text = full_text(batch, 0)
    # In each pair `k42 ` the key and both digits; in each query `?k42 ` the key.
    random_chars = [c for j in range(load) for c in (prefix + 4 * j, prefix + 4 * j + 1, prefix + 4 * j + 2)]
    random_chars += [len(text) - 5 * 3 + 5 * j + 1 for j in range(3)]
    left_out = {t + 1 for t in (~batch.loss_mask[0]).nonzero().flatten().tolist()}
    assert left_out == set(random_chars)
    assert all(text[c].isalnum() for c in random_chars)


def test_scorer_counts_each_query_exactly():
    batch = sample(3, 79, torch.Generator().manual_seed(1), 6, 5)
    predictions = batch.targets.clone()
    answer_positions = batch.score_mask[0].nonzero().flatten()
    # Row 1: second digit of query 2 wrong; row 2: first digit of query 0 wrong.
    predictions[1, answer_positions[2 * 2 + 1]] = (predictions[1, answer_positions[5]] + 1) % 10
    predictions[2, answer_positions[0]] = (predictions[2, answer_positions[0]] + 3) % 10
    # A wrong prediction outside the answers does not count.
    predictions[0, 0] = (predictions[0, 0] + 1) % 10
    expected = torch.ones(3, 4, dtype=torch.bool)
    expected[1, 2] = expected[2, 0] = False
    assert torch.equal(query_correct(predictions, batch), expected)


def test_floor_matches_memoryless_guessers():
    # Values are uniform and independent of everything else, so any guesser that ignores the
    # pairs is right with probability 1/100 per query; simulate two such guessers.
    generator = torch.Generator().manual_seed(7)
    batch = sample(2000, 95, generator, 4, 20)
    n = batch.inputs.shape[0] * 4
    sd = math.sqrt(FLOOR * (1 - FLOOR) / n)
    uniform = torch.randint(10, batch.targets.shape, generator=generator)
    constant = torch.zeros_like(batch.targets)
    for guesses in (uniform, constant):
        rate = query_correct(guesses, batch).float().mean().item()
        assert abs(rate - FLOOR) < 4 * sd, (rate, FLOOR)
    assert FLOOR == 0.01


def test_training_texts_fit_their_length_and_vary_the_load():
    draw = training_sampler([1, 2, 4, 8])
    generator = torch.Generator().manual_seed(0)
    loads = set()
    for _ in range(30):
        batch = draw(2, 64, generator)
        assert batch.inputs.shape == (2, 64)
        loads.add(int(batch.score_mask[0].sum()) // 2)
    assert loads == {1, 2, 4}  # the number of queries: min(load, 4)


def test_bad_settings_name_the_value():
    g = torch.Generator()
    with pytest.raises(ValueError, match='at least 36'):
        sample(1, 31, g, 2, 18)  # 8 + 18 + 10 = 36 characters do not fit in 32
    sample(1, 31, g, 2, 14)      # 8 + 14 + 10 = 32 do
    with pytest.raises(ValueError, match='n_queries'):
        sample(1, 63, g, 2, 0, n_queries=3)
    with pytest.raises(ValueError, match='gap'):
        sample(1, 63, g, 2, -1)
    with pytest.raises(ValueError, match='load must be between 1 and 26'):
        sample(1, 63, g, 0, 0)
    with pytest.raises(ValueError, match='no load'):
        training_sampler([20])(1, 31, g)
    for share in (-0.1, 1.5):
        with pytest.raises(ValueError, match=f'lookup_share is a fraction of the training texts, in \\[0, 1\\]; got {share}'):
            training_sampler([1], share)
    assert recall.N_KEYS == 26


def _gap(text):
    # Filler holds no digits: the last pair `k42 ` before the first query ends the pairs.
    first_query = text.index('?')
    return first_query - list(re.finditer(r'[a-z]\d{2} ', text[:first_query]))[-1].end()


def test_training_gaps_are_log_uniform_from_zero_to_the_room():
    # Memory texts only. With load 1 in 97 characters the room is 97 - 9 = 88; P(gap = 0) = log 2 / log 89.
    draw, generator, gaps = training_sampler([1], lookup_share=0.0), torch.Generator().manual_seed(3), []
    for _ in range(400):
        gaps.append(_gap(full_text(draw(1, 96, generator), 0)))
    assert abs(sum(g == 0 for g in gaps) / 400 - math.log(2) / math.log(89)) < 0.06
    assert max(gaps) > 60 and min(gaps) == 0
    # Each doubling about equally likely: as many gaps in [8, 16) as in [32, 64).
    assert abs(sum(8 <= g < 16 for g in gaps) - sum(32 <= g < 64 for g in gaps)) < 40


@pytest.mark.parametrize('seed', range(3))
def test_lookup_texts_ask_every_key_with_no_gap_and_make_their_share(seed):
    # Loads of 6 and 8 pairs: a lookup text asks every key with no gap; a memory text asks
    # four, so the number asked tells the two kinds apart. The kind is drawn text by text.
    generator = torch.Generator().manual_seed(seed)
    for share, texts in ((1.0, 40), (0.0, 40), (0.5, 400)):
        draw, lookups = training_sampler([6, 8], share), 0
        for _ in range(texts):
            batch = draw(1, 96, generator)
            text = full_text(batch, 0)
            written = len(re.findall(r'[a-z]\d{2} ', text[:text.index('?')]))
            asked = int(batch.score_mask[0].sum()) // 2
            assert written in (6, 8) and asked in (4, written)
            if asked == written:
                assert _gap(text) == 0
                lookups += 1
        # Exact at the ends; half, within four standard deviations, in between.
        assert abs(lookups / texts - share) <= 4 * math.sqrt(share * (1 - share) / texts)
