"""Echo streams: every echo is its passage, exactly D later, inside one stream and one half of the split."""
import random

import pytest
import torch

from labml_memory.data.echo import EchoSettings, EchoStreams, build_row, echo_gains
from labml_memory.data.shakespeare import Vocabulary, load_text, split


@pytest.fixture(scope='module')
def halves():
    text = load_text()
    vocab = Vocabulary.from_text(text)
    return vocab, split(vocab.encode(text))


@pytest.fixture(scope='module')
def held_out(halves):
    return EchoStreams(halves[1][1], 8, 64, EchoSettings(seed=3))


def test_every_echo_is_its_passage_exactly_d_later(held_out):
    streams = held_out
    assert len(streams.echoes) > 100
    distances = set()
    for e in streams.echoes:
        row = streams.chars[e.row]
        assert torch.equal(row[e.start:e.start + e.length], row[e.source:e.source + e.length])
        assert e.start - e.source == e.distance
        assert e.distance in streams.settings.distances
        assert 64 <= e.length <= min(128, e.distance)
        distances.add(e.distance)
    assert distances == set(streams.settings.distances)


def test_sources_are_ordinary_text_and_echoes_never_overlap(held_out):
    for b in range(held_out.chars.shape[0]):
        spans = sorted((e.start, e.start + e.length) for e in held_out.echoes if e.row == b)
        covered = set()
        for lo, hi in spans:
            assert not covered & set(range(lo, hi))
            covered |= set(range(lo, hi))
        for e in (e for e in held_out.echoes if e.row == b):
            assert not covered & set(range(e.source, e.source + e.length))


# Removing the echoes from a stream must give back a contiguous stretch of the half it was built
# from: the echoes are insertions and nothing else, so no held-out echo can hold training text.
def test_removing_the_echoes_gives_back_the_original_text(halves, held_out):
    _, (_, valid) = halves
    share = len(valid) // held_out.chars.shape[0]
    for b in range(held_out.chars.shape[0]):
        row = held_out.chars[b].tolist()
        inside = set()
        for e in held_out.echoes:
            if e.row == b:
                inside |= set(range(e.start, e.start + e.length))
        kept = [c for i, c in enumerate(row) if i not in inside]
        original = valid[b * share:b * share + len(kept)].tolist()
        # The row's end may cut one last echo that is not listed: compare up to its start.
        cut = len(kept)
        for i in range(len(kept)):
            if kept[i] != original[i]:
                cut = i
                break
        assert cut > len(kept) - 128


def test_the_echo_fraction_follows_the_rate(halves):
    _, (train, _) = halves
    for rate in (0.1, 0.25):
        streams = EchoStreams(train[:400_000], 4, 64, EchoSettings(rate=rate))
        assert abs(streams.echo_fraction() - rate) < 0.03


def test_streams_are_a_pure_function_of_the_seed(halves):
    _, (_, valid) = halves
    a, b = (EchoStreams(valid, 4, 64, EchoSettings(seed=5)) for _ in range(2))
    c = EchoStreams(valid, 4, 64, EchoSettings(seed=6))
    assert torch.equal(a.chars, b.chars) and a.echoes == b.echoes
    assert a.echoes != c.echoes


def test_segments_walk_the_rows_and_targets_are_inputs_shifted(held_out):
    x0, y0, first = held_out.segment(0)
    x1, _, later = held_out.segment(1)
    assert first and not later
    assert torch.equal(y0[:, :-1], x0[:, 1:]) and torch.equal(y0[:, -1], x1[:, 0])
    assert held_out.segment(len(held_out))[2]


# The scored characters of an echo and of its first occurrence are the same characters, the
# first `cue` of every passage left out.
def test_scored_positions_pair_the_same_characters(held_out):
    pairs = held_out.scored_positions()
    total = 0
    for distance, (first, echo) in pairs.items():
        assert len(first) == len(echo)
        for (b1, t1), (b2, t2) in zip(first, echo):
            assert b1 == b2 and t2 - t1 == distance
            assert held_out.targets[b1, t1] == held_out.targets[b2, t2]
        total += len(echo)
    cue = held_out.settings.cue
    assert total == sum(e.length - cue for e in held_out.echoes)


# A model that copies perfectly at distances up to 256 and knows nothing further: loss 0 on the
# echo's characters there, the same loss as the first occurrence elsewhere.
def test_gain_of_a_copier_that_reaches_256(held_out):
    rng = torch.Generator().manual_seed(0)
    losses = torch.rand(held_out.inputs.shape, generator=rng) + 1.0
    for distance, (_, echo) in held_out.scored_positions().items():
        for b, t in echo:
            losses[b, t] = 0.0 if distance <= 256 else losses[b, t - distance]
    gains = echo_gains(held_out, losses)
    for distance, g in gains.items():
        if distance <= 256:
            assert g['echo'] == 0.0 and abs(g['gain'] - g['first']) < 1e-12 and 1.4 < g['first'] < 1.6
        else:
            assert abs(g['gain']) < 1e-12


@pytest.mark.parametrize('settings, word', [
    (EchoSettings(distances=(32, 64)), 'distances'),
    (EchoSettings(rate=1.0), 'rate'),
    (EchoSettings(min_length=0), "min_length"),
    (EchoSettings(cue=64), 'cue'),
    (EchoSettings(draw='uniform'), 'draw'),
])
def test_bad_settings_name_the_setting(settings, word):
    with pytest.raises(ValueError, match=word):
        EchoStreams(torch.zeros(10_000, dtype=torch.long), 2, 64, settings)


def test_too_short_a_text_is_one_clear_error():
    with pytest.raises(ValueError, match='cannot fill'):
        EchoStreams(torch.zeros(100, dtype=torch.long), 4, 64)


def test_a_row_built_alone_has_its_echoes_inside_it():
    text = torch.arange(5_000) % 61
    row, echoes = build_row(text, EchoSettings(distances=(100,)), 0, random.Random(0))
    assert echoes and all(e.distance == 100 for e in echoes)
    assert all(torch.equal(row[e.start:e.start + e.length], row[e.source:e.source + e.length]) for e in echoes)


# The spread draw: every distance a whole number between the grid's ends, off the grid as well
# as on it, and log-uniform: the share below a distance x is log(x / 64) / log(2048 / 64), the
# log-uniform law's own formula, for every octave's edge and its middle.
def test_a_log_uniform_draw_spreads_distances_between_the_grid_ends():
    import math
    from labml_memory.data.echo import draw_distance
    settings, rng = EchoSettings(draw='log_uniform'), random.Random(0)
    drawn = [draw_distance(settings, rng) for _ in range(40_000)]
    assert all(isinstance(d, int) and 64 <= d <= 2048 for d in drawn)
    assert sum(d not in settings.distances for d in drawn) > 0.95 * len(drawn)
    for x in (91, 128, 181, 256, 362, 512, 724, 1024, 1448):
        want = math.log(x / 64) / math.log(2048 / 64)
        assert abs(sum(d <= x for d in drawn) / len(drawn) - want) < 0.01, x


# Built into streams, a spread draw still puts each echo exactly D after its source, verbatim,
# with sources in every octave; the grid draw (the held-out streams') stays on the grid.
def test_log_uniform_streams_echo_verbatim_at_every_octave():
    text = torch.arange(60_000) % 61
    streams = EchoStreams(text, 2, 64, EchoSettings(draw='log_uniform', rate=0.5, seed=1))
    assert len({e.distance for e in streams.echoes}) > 100
    for e in streams.echoes:
        row = streams.chars[e.row]
        assert torch.equal(row[e.start:e.start + e.length], row[e.source:e.source + e.length])
        assert e.length <= min(128, e.distance)
    # 64 … 2,047 span bit lengths 7 … 11: one per octave.
    assert {e.distance.bit_length() for e in streams.echoes} == set(range(7, 12))
    grid = EchoStreams(text, 2, 64, EchoSettings(rate=0.5, seed=1))
    assert {e.distance for e in grid.echoes} <= set(EchoSettings().distances)
