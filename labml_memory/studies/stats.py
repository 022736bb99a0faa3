r"""
# Reading seeds: paired differences, one correction, three verdicts

Every verdict on a results page comes from here, so every page says the same thing the same
way and none says more than its seeds hold.

**Paired by design.** A study runs every cell with the same seeds, and a seed fixes the
initialisation, the data order and the evaluation texts. Two cells are therefore compared
seed by seed: for each seed $s$ the difference $d_s = a_s - b_s$, and the question is whether
the mean difference $\bar d$ is away from zero. Pairing removes what two cells of the same seed
share (the easy or hard draw of evaluation texts), which unpaired ranges cannot.

**The interval.** With $n$ seeds, the Student interval of the mean difference,
$$\bar d \pm t_{1-\alpha/2,\,n-1}\,\frac{s_d}{\sqrt n},$$
where $s_d$ is the standard deviation of the $d_s$. It is the one interval that can say
anything at three seeds: an exact sign-flip permutation test has $2^n$ equally likely flips,
so at $n = 3$ its smallest two-sided p-value is $2/8 = 0.25$ and it could never call anything
ahead. `method='permutation'` gives that test for studies with enough seeds to use it.

**One correction per page.** A page that makes $m$ comparisons at level $\alpha$ would call
about $\alpha m$ of them by chance. Holm's step-down correction holds the chance of *any* false
call on the page at $\alpha$: sort the $m$ p-values, compare the $i$-th smallest with
$\alpha / (m - i + 1)$, and stop at the first that fails. Equivalently each p-value is
adjusted to $\max_{j \le i} \min(1, (m - j + 1)\, p_{(j)})$, which is what `holm` returns.

**Three verdicts, and a margin declared first.** A difference is only worth calling a tie
against a margin $\delta$ that says how small a difference does not matter, and the margin
must be fixed before the runs (it is a study setting, recorded with every run), or it would
be chosen to fit the result. Two one-sided tests (TOST) ask whether $\bar d > -\delta$ and
$\bar d < \delta$; the larger of their two p-values is the equivalence p-value.
After Holm's correction of each family (differences, equivalences) across the page:

* **tie**: the equivalence test passes: the difference is shown to be inside $\pm\delta$;
* **ahead** (or **behind**): otherwise, the difference test passes, in favour of the
  first (or the second);
* **not resolved**: neither: the seeds cannot tell. Overlapping ranges alone are never a tie.

One seed has no spread: its comparisons are always "not resolved".
"""
import itertools
import math
import statistics
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

ALPHA = 0.05
TIE, AHEAD, BEHIND, UNRESOLVED = 'tie', 'ahead', 'behind', 'not resolved'


# ## Student's t, without a statistics package
#
# The distribution function for an integer number of degrees of freedom $\nu$ has a closed
# form (Abramowitz and Stegun 26.7.3 and 26.7.4): with $\theta = \arctan(t / \sqrt\nu)$, a
# finite sum of powers of $\cos\theta$, odd and even $\nu$ apart. Seeds come in whole numbers,
# so integer $\nu = n - 1$ is all a study needs.
def t_cdf(t: float, df: int) -> float:
    if df < 1 or int(df) != df:
        raise ValueError(f"degrees of freedom must be a positive integer, got {df!r}")
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    theta = math.atan(t / math.sqrt(df))
    s, c = math.sin(theta), math.cos(theta)
    if df % 2 == 1:
        # A(t|ν) = (2/π)(θ + sin θ (cos θ + (2/3) cos³θ + ... ))
        term, total = c, c if df > 1 else 0.0
        for k in range(3, df, 2):
            term *= c * c * (k - 1) / k
            total += term
        a = 2 / math.pi * (theta + s * total) if df > 1 else 2 / math.pi * theta
    else:
        # A(t|ν) = sin θ (1 + (1/2) cos²θ + (1·3)/(2·4) cos⁴θ + ...)
        term, total = 1.0, 1.0
        for k in range(2, df, 2):
            term *= c * c * (k - 1) / k
            total += term
        a = s * total
    # `a` is P(|T| < |t|) signed with t, so the distribution function is (1 + a) / 2.
    return (1 + a) / 2


def t_quantile(p: float, df: int) -> float:
    """The `p` quantile of Student's t with `df` degrees of freedom, by bisection."""
    if not 0 < p < 1:
        raise ValueError(f"a quantile needs 0 < p < 1, got {p!r}")
    low, high = -1.0, 1.0
    while t_cdf(low, df) > p:
        low *= 2
    while t_cdf(high, df) < p:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        if t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
    return (low + high) / 2


# ## Pairing
#
# Values keyed by seed. Two cells must have been run with the same seeds; a cell that lost a
# seed cannot be paired, and silently dropping the seed would compare different data.
def paired(a: Mapping[int, float], b: Mapping[int, float]) -> List[float]:
    if set(a) != set(b):
        raise ValueError(f"unpaired seeds: {sorted(a)} against {sorted(b)}; every cell needs the same seeds")
    return [a[s] - b[s] for s in sorted(a)]


# ## The tests on one set of differences
def _p_two_sided(diffs: Sequence[float], method: str) -> float:
    n = len(diffs)
    mean = statistics.mean(diffs)
    if method == 'permutation':
        # Every sign flip of the differences is equally likely when there is no difference;
        # the p-value is the share of flips whose mean is at least as far from 0.
        flips = [abs(sum(sg * d for sg, d in zip(signs, diffs))) / n
                 for signs in itertools.product((1, -1), repeat=n)]
        return sum(f >= abs(mean) - 1e-15 for f in flips) / len(flips)
    sd = statistics.stdev(diffs)
    if sd == 0:
        return 0.0 if mean != 0 else 1.0
    t = mean / (sd / math.sqrt(n))
    return 2 * (1 - t_cdf(abs(t), n - 1))


def _p_equivalent(diffs: Sequence[float], margin: float) -> float:
    # Two one-sided t tests: H0 d̄ ≤ -δ against d̄ > -δ, and H0 d̄ ≥ δ against d̄ < δ.
    n = len(diffs)
    mean, sd = statistics.mean(diffs), statistics.stdev(diffs)
    if margin <= 0:
        return 1.0
    if sd == 0:
        return 0.0 if abs(mean) < margin else 1.0
    se = sd / math.sqrt(n)
    lower = 1 - t_cdf((mean + margin) / se, n - 1)
    upper = t_cdf((mean - margin) / se, n - 1)
    return max(lower, upper)


def interval(diffs: Sequence[float], alpha: float = ALPHA) -> Tuple[float, float]:
    """The two-sided $1 - \\alpha$ Student interval of the mean difference."""
    n = len(diffs)
    mean = statistics.mean(diffs)
    if n < 2:
        return (-math.inf, math.inf)
    half = t_quantile(1 - alpha / 2, n - 1) * statistics.stdev(diffs) / math.sqrt(n)
    return (mean - half, mean + half)


# ## Holm's correction
def holm(p_values: Sequence[float]) -> List[float]:
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


# ## One comparison, read
@dataclass(frozen=True)
class Verdict:
    label: str              # what is compared, as the page names it
    mean: float             # mean paired difference, first minus second
    low: float              # the 95% interval of that mean
    high: float
    seeds: int
    p: float                # Holm-adjusted p-value of the difference
    p_equivalent: float     # Holm-adjusted p-value of equivalence within the margin
    margin: float
    verdict: str            # tie / ahead / behind / not resolved

    def text(self, digits: int = 3, unit: str = '') -> str:
        """`-0.012 [-0.020, -0.004] nats, ahead`: the form every page prints."""
        if self.seeds < 2:
            return f"{self.mean:+.{digits}f}{unit} (one seed), {self.verdict}"
        return (f"{self.mean:+.{digits}f} [{self.low:+.{digits}f}, {self.high:+.{digits}f}]{unit}, "
                f"{self.verdict}")


# `pairs` maps a label to the two cells it compares, each values by seed. `lower_is_better`
# says which direction is "ahead": a loss (lower) or an accuracy (higher). The margin is
# the study's, declared in its settings before the runs.
def compare(pairs: Mapping[str, Tuple[Mapping[int, float], Mapping[int, float]]], margin: float,
            lower_is_better: bool = True, alpha: float = ALPHA, method: str = 't') -> Dict[str, Verdict]:
    if method not in ('t', 'permutation'):
        raise ValueError(f"unknown method {method!r}; valid: t, permutation")
    if margin < 0:
        raise ValueError(f"an equivalence margin is a size, got {margin!r}")
    labels = list(pairs)
    diffs = {label: paired(*pairs[label]) for label in labels}
    testable = [label for label in labels if len(diffs[label]) >= 2]
    p_diff = dict(zip(testable, holm([_p_two_sided(diffs[k], method) for k in testable])))
    p_eq = dict(zip(testable, holm([_p_equivalent(diffs[k], margin) for k in testable])))
    verdicts = {}
    for label in labels:
        d = diffs[label]
        if not d:
            raise ValueError(f"{label}: no seeds to compare")
        mean = statistics.mean(d)
        low, high = interval(d, alpha)
        if label not in p_diff:
            verdicts[label] = Verdict(label, mean, low, high, len(d), 1.0, 1.0, margin, UNRESOLVED)
            continue
        if p_eq[label] < alpha:
            word = TIE
        elif p_diff[label] < alpha:
            better = mean < 0 if lower_is_better else mean > 0
            word = AHEAD if better else BEHIND
        else:
            word = UNRESOLVED
        verdicts[label] = Verdict(label, mean, low, high, len(d), p_diff[label], p_eq[label], margin, word)
    return verdicts


# ## A table cell over seeds
#
# The mean and, in small type below, the lowest and highest seed: what the seeds honestly
# show of one cell. Verdicts between cells come from `compare`, never from these ranges.
def cell(values: Sequence[float], digits: int = 3) -> str:
    low, high = f"{min(values):.{digits}f}", f"{max(values):.{digits}f}"
    # A dash between two negative numbers reads as a minus sign; "to" does not.
    joint = ' to ' if low.startswith('-') or high.startswith('-') else '–'
    if low == high:
        return f"{statistics.mean(values):.{digits}f}"
    return f"{statistics.mean(values):.{digits}f}<br><small>{low}{joint}{high}</small>"


# What every page prints once, before its tables, so a reader knows what a bracket means.
# `link` is the statistics page as seen from the results page (one folder deeper, one more
# `../`). `pairs` names what is paired (seeds, or the rounds of a timing); `ratio` says the
# differences are of logarithms and printed back as ratios; `example` is one comparison as
# the page prints it.
def convention(margin: float, comparisons: int, unit: str = '', link: str = '../studies/stats.md',
               pairs: str = 'seeds', ratio: bool = False, example: str = '') -> str:
    one = pairs[:-1] if pairs.endswith('s') else pairs
    if ratio:
        what = (f"the geometric mean over {pairs} of the ratio, first over second, then in square "
                f"brackets the 95% Student interval of the mean log-ratio, printed back as ratios")
        size = f"±{margin:g}{unit} (a ratio between {math.exp(-margin):.2f} and {math.exp(margin):.2f})"
    else:
        what = (f"the mean over {pairs} of the paired difference, first minus second, then in square "
                f"brackets its 95% Student interval")
        size = f"±{margin:g}{unit}"
    shown = f" as `{example}`" if example else ''
    return (f"A comparison pairs two cells {one} by {one} and is printed{shown}: {what}; then its verdict "
            f"after Holm's correction across the {comparisons} comparisons of this page: **tie** where a "
            f"two-one-sided test shows the difference inside the margin of {size} the study declares in its "
            f"settings, **ahead** or **behind** where the difference test passes, **not resolved** otherwise. "
            f"A single {one} has no interval and resolves nothing; square brackets hold nothing else "
            f"(see [the statistics]({link})).")


def by_seed(records: Sequence[Mapping], value) -> Dict[int, float]:
    """`{seed: value(record)}` for one cell's records; a seed twice is an error."""
    out: Dict[int, float] = {}
    for r in records:
        if r['seed'] in out:
            raise ValueError(f"seed {r['seed']} recorded twice in one cell")
        out[r['seed']] = float(value(r) if callable(value) else r[value])
    return out


def mean(values: Sequence[float]) -> Optional[float]:
    return statistics.mean(values) if values else None
