r"""
# Reading seeds: one cell, one verdict

Two small pieces every seeded study page uses, so the pages say the same thing the same way.

* `cell`: a table cell for a quantity measured over seeds, its mean and, in small type below,
  the lowest and highest seed. A range is what three seeds honestly give; a standard error from
  three values would claim more than they hold.
* `versus`: the difference of two sets' means, with that verdict, in the words every page uses.
* `separated`: whether two sets of seeds differ beyond their spread, read as "their ranges do
  not overlap". It is deliberately strict: with three seeds each, non-overlapping ranges happen
  by chance for two equal models with probability $2 / \binom{6}{3} = 0.1$, so a page calls a
  difference real only when it clears that bar, and calls everything else within the spread.
"""
import statistics
from typing import List


def cell(values: List[float], digits: int = 3) -> str:
    low, high = f"{min(values):.{digits}f}", f"{max(values):.{digits}f}"
    # A dash between two negative numbers reads as a minus sign; "to" does not.
    joint = ' to ' if low.startswith('-') or high.startswith('-') else '–'
    return f"{statistics.mean(values):.{digits}f}<br><small>{low}{joint}{high}</small>"


# One seed has no spread, so nothing is judged beyond it.
def separated(a: List[float], b: List[float]) -> bool:
    if len(a) < 2 or len(b) < 2:
        return False
    return max(a) < min(b) or max(b) < min(a)


def versus(a: List[float], b: List[float], digits: int = 4, unit: str = '') -> str:
    gap = statistics.mean(a) - statistics.mean(b)
    return f"{gap:+.{digits}f}{unit}, " + ("beyond the seeds' spread" if separated(a, b) else 'within the spread')
