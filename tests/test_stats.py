"""The statistics every page's verdicts go through, against tables, integrals and hand counts."""
import math
import statistics

import pytest

from labml_memory.studies import stats


# Student's t density, integrated the slow way (Simpson's rule from 0), is the independent
# reference for the closed-form distribution function.
def _density(x, df):
    c = math.gamma((df + 1) / 2) / (math.sqrt(df * math.pi) * math.gamma(df / 2))
    return c * (1 + x * x / df) ** (-(df + 1) / 2)


def _cdf_by_integral(t, df, steps=20000):
    h = t / steps
    total = _density(0, df) + _density(t, df)
    total += sum((4 if i % 2 else 2) * _density(i * h, df) for i in range(1, steps))
    return 0.5 + total * h / 3


@pytest.mark.parametrize('df', [1, 2, 3, 4, 5, 8, 13])
@pytest.mark.parametrize('t', [-3.1, -0.4, 0.0, 0.7, 2.5, 9.0])
def test_t_cdf_matches_the_integral_of_the_density(t, df):
    assert stats.t_cdf(t, df) == pytest.approx(_cdf_by_integral(t, df), abs=1e-9)


# Quantiles from the printed table of Student's t.
@pytest.mark.parametrize('p, df, table', [(0.975, 1, 12.706), (0.975, 2, 4.303), (0.975, 4, 2.776),
                                          (0.95, 3, 2.353), (0.995, 10, 3.169), (0.9975, 2, 14.089),
                                          (0.025, 2, -4.303)])
def test_t_quantile_matches_the_table(p, df, table):
    assert stats.t_quantile(p, df) == pytest.approx(table, abs=1e-3)


def test_bad_degrees_and_probabilities_are_refused():
    with pytest.raises(ValueError, match='positive integer'):
        stats.t_cdf(1.0, 0)
    with pytest.raises(ValueError, match='0 < p < 1'):
        stats.t_quantile(1.0, 3)


def test_holm_by_hand():
    # Sorted: 0.01 x4 = 0.04; 0.03 x3 = 0.09; 0.04 x2 = 0.08, raised to 0.09; 0.2 x1 = 0.2.
    assert stats.holm([0.01, 0.04, 0.03, 0.2]) == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert stats.holm([]) == []


def test_the_interval_is_the_student_interval():
    d = [0.1, 0.3, 0.2, 0.6]
    half = 3.182446 * statistics.stdev(d) / 2
    low, high = stats.interval(d)
    assert (low, high) == pytest.approx((0.3 - half, 0.3 + half), abs=1e-5)


def test_pairing_needs_the_same_seeds():
    assert stats.paired({1: 3.0, 0: 1.0}, {0: 0.5, 1: 1.0}) == [0.5, 2.0]
    with pytest.raises(ValueError, match=r'unpaired seeds: \[0, 1\] against \[0, 2\]'):
        stats.paired({0: 1, 1: 1}, {0: 1, 2: 1})


def _cells(a, b):
    return dict(enumerate(a)), dict(enumerate(b))


def test_each_verdict_from_hand_made_seeds():
    pairs = {
        # Lower by 0.2 in every seed, a little spread: ahead (a loss).
        'ahead': _cells([1.00, 1.10, 1.05], [1.20, 1.32, 1.24]),
        # Higher by 0.2: behind.
        'behind': _cells([1.20, 1.32, 1.24], [1.00, 1.10, 1.05]),
        # Within 0.002 of each other with a margin of 0.01: a tie, shown.
        'tie': _cells([1.000, 1.001, 0.999], [1.000, 1.000, 1.000]),
        # A mean of 0.1 but one seed the other way: not resolved.
        'open': _cells([1.0, 1.3, 1.0], [1.1, 1.0, 0.9]),
    }
    v = stats.compare(pairs, margin=0.01)
    assert {k: x.verdict for k, x in v.items()} == {'ahead': 'ahead', 'behind': 'behind', 'tie': 'tie',
                                                   'open': 'not resolved'}
    assert v['ahead'].mean == pytest.approx(-0.2033333, abs=1e-6) and v['ahead'].seeds == 3
    assert v['ahead'].text() == '-0.203 [-0.241, -0.165], ahead'  # sd 0.0153, t 4.303
    # Higher is better (an accuracy): the same differences read the other way round.
    up = stats.compare(pairs, margin=0.01, lower_is_better=False)
    assert up['ahead'].verdict == 'behind' and up['behind'].verdict == 'ahead'


def test_overlapping_ranges_alone_are_never_a_tie():
    # The ranges overlap and the mean difference is small, but the spread is far wider than
    # the margin: the seeds cannot show equivalence.
    v = stats.compare({'x': _cells([1.0, 1.5, 0.8], [1.1, 1.2, 1.0])}, margin=0.01)
    assert v['x'].verdict == 'not resolved'


def test_holm_across_the_page_can_withdraw_a_call():
    # Alone, this difference passes (two-sided p about 0.02); beside nine comparisons of no
    # difference on the same page, Holm asks for p < 0.005 and it no longer does.
    one = _cells([1.00, 1.10, 1.20], [1.10, 1.22, 1.28])
    assert stats.compare({'one': one}, margin=0.0)['one'].verdict == 'ahead'
    page = {'one': one, **{f'null{i}': _cells([1.0, 1.2, 0.9], [1.1, 1.0, 1.0]) for i in range(9)}}
    assert stats.compare(page, margin=0.0)['one'].verdict == 'not resolved'


def test_tost_by_hand():
    d = [0.001, -0.002, 0.0015]
    mean, se = statistics.mean(d), statistics.stdev(d) / math.sqrt(3)
    lower = 1 - stats.t_cdf((mean + 0.01) / se, 2)
    upper = stats.t_cdf((mean - 0.01) / se, 2)
    v = stats.compare({'x': _cells([1 + x for x in d], [1, 1, 1])}, margin=0.01)['x']
    assert v.p_equivalent == pytest.approx(max(lower, upper), rel=1e-6)
    assert v.verdict == 'tie'


def test_one_seed_is_never_resolved_and_zero_spread_is_exact():
    v = stats.compare({'x': ({0: 1.0}, {0: 2.0})}, margin=0.1)['x']
    assert v.verdict == 'not resolved' and v.text() == '-1.000 (one seed), not resolved'
    # Identical differences in every seed: no spread, so the call is exact either way.
    same = stats.compare({'far': _cells([1, 1, 1], [2, 2, 2]), 'near': _cells([1, 1, 1], [1.001] * 3)},
                         margin=0.01)
    assert same['far'].verdict == 'ahead' and same['near'].verdict == 'tie'


def test_the_exact_permutation_test_counts_flips():
    # Three differences of one sign: of the 8 sign flips only all-plus and all-minus have a mean
    # as far from 0, so p = 2/8 and nothing can be called at three seeds.
    assert stats._p_two_sided([1.0, 2.0, 3.0], 'permutation') == pytest.approx(0.25)
    assert stats._p_two_sided([1.0, -2.0, 3.0, 0.5], 'permutation') == pytest.approx(
        sum(abs(a * 1.0 + b * -2.0 + c * 3.0 + e * 0.5) >= 2.5 - 1e-12
            for a in (1, -1) for b in (1, -1) for c in (1, -1) for e in (1, -1)) / 16)
    v = stats.compare({'x': _cells([1, 2, 3], [0, 0, 0])}, margin=0.0, method='permutation')
    assert v['x'].verdict == 'not resolved'
    with pytest.raises(ValueError, match="unknown method 'bootstrap'"):
        stats.compare({}, margin=0.1, method='bootstrap')
    with pytest.raises(ValueError, match='margin is a size'):
        stats.compare({}, margin=-1)


def test_cells_and_seed_maps():
    assert stats.cell([1.0, 2.0, 3.0]) == '2.000<br><small>1.000–3.000</small>'
    assert stats.cell([-1.0, 1.0], digits=1) == '0.0<br><small>-1.0 to 1.0</small>'
    assert stats.cell([0.5, 0.5]) == '0.500'
    records = [{'seed': 1, 'loss': 2.0}, {'seed': 0, 'loss': 1.0}]
    assert stats.by_seed(records, 'loss') == {0: 1.0, 1: 2.0}
    assert stats.by_seed(records, lambda r: r['loss'] * 2) == {0: 2.0, 1: 4.0}
    with pytest.raises(ValueError, match='seed 1 recorded twice'):
        stats.by_seed(records + [{'seed': 1, 'loss': 3.0}], 'loss')
    text = stats.convention(0.01, 4, ' nats')
    assert '±0.01 nats' in text and '4 comparisons' in text
