r"""
# Citations: a model page's measured figures, computed from the records

A model page says what the studies found about its model: how far back its memory reaches,
what it is worth on text, what compressing costs. Those figures belong to the results pages,
which rebuild them from saved records; retyped on a model page they would go stale at the
next rerun, silently. So a model page never writes a measured figure. Its note writes a
marker instead,

```
# **Memory reach** {{ result memory_reach transformer_xl }} Its memory is ...
```

and at site-build time the renderer replaces `{{ result STUDY NAME }}` by the sentence that
`CITATIONS[(STUDY, NAME)]` computes from the study's records (read with the runner's
[`Records`](runner.py) from `docs/results/STUDY/records/`). Each sentence links to the results
page its numbers come from, so a reader is one click from the seeds, the spread and how the
numbers were made.

* A marker that names no citation, or a study with no records, fails the build with one
  line naming the marker; a page is never published with a hole or a stale figure.
* A marker inside a code span or a fenced block is shown as written (as here), because that
  is what Markdown shows of anything in code.
* Links inside a citation are written from the root of the site (`results/memory_reach.md`,
  as the landing page writes them); `cite` turns them into links from the citing page.
* Paper figures (what the paper reports, its hyperparameters), settings and arithmetic are
  not measurements and stay in the prose. The [citation test](../../tests/test_citations.py)
  lists each of them with its reason, and the measurements no record holds yet (the
  experiments' preset runs, timed by hand), and fails on any other results-like figure
  outside a marker.

The functions reuse the study modules' own computations where a study exposes them, so a
model page and its results page cannot round the same number differently.
"""
import importlib
import math
import posixpath
import re
import statistics
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence, Tuple

from labml_memory.studies import stats
from labml_memory.studies.runner import RESULTS, Records

Citation = Callable[[Records], str]
CITATIONS: Dict[Tuple[str, str], Citation] = {}


class CitationError(ValueError):
    """A marker that cannot be resolved; its message is one line naming the marker."""


def citation(study: str, name: str) -> Callable[[Citation], Citation]:
    def register(function: Citation) -> Citation:
        if (study, name) in CITATIONS:
            raise ValueError(f"citation {study} {name} is defined twice")
        CITATIONS[(study, name)] = function
        return function
    return register


# ## Resolving one marker
#
# The records are read afresh for every marker: a site build reads a few hundred small files,
# and a citation can never see records of another build.
def cite(study: str, name: str, results: Path = RESULTS, page: str = 'index.md') -> str:
    marker = f'{{{{ result {study} {name} }}}}'
    function = CITATIONS.get((study, name))
    if function is None:
        known = sorted(n for s, n in CITATIONS if s == study)
        hint = f"; {study} has: {', '.join(known)}" if known else (
            f"; studies with citations: {', '.join(sorted({s for s, _ in CITATIONS}))}")
        raise CitationError(f"{marker} names no citation{hint}")
    folder = Path(results) / study
    records = Records(folder)
    if not len(records):
        raise CitationError(f"{marker}: no records under {folder / 'records'}")
    try:
        text = function(records)
    except (KeyError, ValueError, IndexError, ZeroDivisionError) as error:
        raise CitationError(f"{marker}: the records under {folder / 'records'} do not give it "
                            f"({type(error).__name__}: {error})") from None
    return _from_page(text.strip(), page)


# Links in a citation are written from the site's root; a page one folder down
# (`transformer_xl/index.md`) needs `../results/...`.
_ROOT_LINK = re.compile(r'\]\((results/[^)\s]*)\)')


def _from_page(text: str, page: str) -> str:
    here = posixpath.dirname(page) or '.'
    return _ROOT_LINK.sub(lambda m: f']({posixpath.relpath(m.group(1), here)})', text)


# ## Finding the markers in a page
#
# Code spans and fenced blocks are matched first and given back unchanged, so that a marker
# shown as an example (like the one above) is never resolved; a code span ends at its
# paragraph, as in Markdown. Anything else of the form `{{ result ... }}` is a marker and must
# name exactly a study and a citation.
MARKER = re.compile(r'(?P<fence>^[ \t]*(?P<ticks>```+|~~~+)[^\n]*\n[\s\S]*?^[ \t]*(?P=ticks)[ \t]*$)'
                    r'|(?P<span>(?P<quote>`+)(?:[^\n]|\n(?![ \t]*\n))*?(?<!`)(?P=quote)(?!`))'
                    r'|(?P<marker>\{\{\s*result\b(?P<words>[^{}]*)\}\})', re.M)


def markers(markdown: str) -> List[Tuple[str, str]]:
    """The (study, name) of every marker in `markdown`, in order."""
    found = []
    for match in MARKER.finditer(markdown):
        if match.group('marker'):
            found.append(_words(match))
    return found


def _words(match: re.Match) -> Tuple[str, str]:
    words = match.group('words').split()
    if len(words) != 2:
        raise CitationError(f"{' '.join(match.group('marker').split())}: a marker is "
                            f"{{{{ result STUDY NAME }}}}, with a study and a name")
    return words[0], words[1]


def substitute(markdown: str, results: Path = RESULTS, page: str = 'index.md') -> str:
    """`markdown` with every marker replaced by its citation, linked from `page`."""
    def replace(match: re.Match) -> str:
        if not match.group('marker'):
            return match.group(0)
        study, name = _words(match)
        return cite(study, name, results, page)
    return MARKER.sub(replace, markdown)


# ## Shared wording
#
# A cell over seeds reads as the mean with the lowest and highest seed beside it, or "in every
# seed" when they agree to the digits shown. A comparison reads as its study's verdict: the
# mean paired difference, the verdict word, and the 95% interval of the difference, so that
# a bracket on a model page is never mistaken for a range of seeds.
def spread(values: Sequence[float], digits: int = 2, unit: str = '') -> str:
    m, low, high = (f'{v:.{digits}f}' for v in (statistics.mean(values), min(values), max(values)))
    if low == high:
        return f'{m}{unit} in every seed'
    joint = ' to ' if low.startswith('-') or high.startswith('-') else '–'
    return f'{m}{unit} (seeds {low}{joint}{high})'


# `gain`: a study compares losses, first minus second; a gain is that difference with its
# sign turned, so that a memory that helps reads positive.
def judged(v: stats.Verdict, digits: int = 3, gain: bool = False) -> str:
    low, high = (-v.high, -v.low) if gain else (v.low, v.high)
    return f'{v.verdict}, 95% interval {low:+.{digits}f} to {high:+.{digits}f}'


def versus(v: stats.Verdict, digits: int = 3, unit: str = ' nats', gain: bool = False) -> str:
    return f'{-v.mean if gain else v.mean:+.{digits}f}{unit}: {judged(v, digits, gain)}'


def mean(values: Sequence[float]) -> float:
    return statistics.mean(values)


def seeds(records: Sequence[Dict[str, Any]]) -> str:
    count = len({r['seed'] for r in records})
    return 'one seed' if count == 1 else f'{count} seeds'


def needs(groups: Dict[Any, List], *names: Any) -> None:
    """Fail, naming what is missing, before a citation reads a group the records lack."""
    missing = [n for n in names if not groups.get(n)]
    if missing:
        raise KeyError(f"no records of {', '.join(map(str, missing))}")


# ## Memory reach
#
# Exact match per query by gap (in segments) and load (pairs per text), one record per
# contestant, budget and seed. The reach at 50%, the window line and the verdicts (every
# comparison of the results page, in one call) are the study's own.
REACH = '[results](results/memory_reach.md)'


def _reach():
    return importlib.import_module('labml_memory.studies.memory_reach')


def reach_groups(records: Records) -> Dict[Tuple[str, str], List[Dict[str, Any]]]:
    # A contestant that cannot run at a budget has a record that says why (`skipped`) and
    # no measurements; it is left out here, as on the page.
    return _reach().group([r for r in records if 'skipped' not in r])


def reach_verdicts(records: Records) -> Dict[str, stats.Verdict]:
    mr = _reach()
    measured = [r for r in records if 'skipped' not in r]
    return mr.verdicts(mr.group(measured), mr.margin_of(measured))


def recall(group: List[Dict[str, Any]], gap: int, load: int = 1) -> str:
    return spread(_reach().accuracy_at(group, str(gap), str(load)))


def reach_at_half(group: List[Dict[str, Any]]) -> float:
    reach = _reach().reach_at_half(group)
    if reach is None:
        raise ValueError(f"{group[0]['name']} ({group[0]['budget']}) is under one half at gap 0")
    return reach


# A reach past the longest gap any training text held is an extrapolation, and a citation says so.
def past_training(group: List[Dict[str, Any]]) -> str:
    longest = min(_reach().longest_trained_gap(r, 1) for r in group)
    return (f"Reaches past {longest:.1f} segments, the longest gap its training texts held, are "
            f"extrapolations of the recipe, not measured on trained gaps.")


def training(group: List[Dict[str, Any]]) -> str:
    s = group[0]['settings']
    return f"{s['lookup_steps']} + {s['steps']:,} steps"


def control(group: List[Dict[str, Any]]) -> str:
    return ('control passed in every seed' if not _reach().control_failed(group)
            else 'control failed in a seed')


def span(group: List[Dict[str, Any]]) -> str:
    rule, probe = group[0]['reach_rule'], group[0]['reach_measured']
    if rule == probe:
        return f'{rule} characters by the rule and by the probe'
    return f'{rule} characters by the rule, {probe} by the probe'


@citation('memory_reach', 'transformer_xl')
def reach_transformer_xl(records: Records) -> str:
    groups, found = reach_groups(records), reach_verdicts(records)
    needs(groups, ('transformer_xl', 'small'), ('transformer_xl', 'large'))
    small, large = groups[('transformer_xl', 'small')], groups[('transformer_xl', 'large')]
    return (f"({REACH}, associative recall, {seeds(small)}): at {small[0]['state_bytes']:,} bytes "
            f"of state per stream, {span(small)} on the trained model; recall {recall(small, 1)} at "
            f"one segment's gap and {recall(small, 2)} at two; at {large[0]['state_bytes']:,} bytes "
            f"($M = {large[0]['overrides']['mem_len']}$, {training(large)}, {control(large)}), "
            f"{large[0]['reach_rule']} characters, {recall(large, 2)} at two segments (against the "
            f"small budget {versus(found['Transformer-XL, large against small budget'], 2, '')}) and "
            f"{recall(large, 4)} at four, a gap past those its training texts held (an extrapolation).")


@citation('memory_reach', 'compressive')
def reach_compressive(records: Records) -> str:
    groups, found = reach_groups(records), reach_verdicts(records)
    needs(groups, ('compressive', 'small'), ('compressive', 'large'), ('transformer_xl', 'small'))
    small, large = groups[('compressive', 'small')], groups[('compressive', 'large')]
    xl = groups[('transformer_xl', 'small')]
    same = 'at the same state as' if small[0]['state_bytes'] == xl[0]['state_bytes'] else 'beside'
    return (f"({REACH}, {same} Transformer-XL, {seeds(small)}): a reach of {span(small)} "
            f"(Transformer-XL's {xl[0]['reach_rule']}), and recall at two segments' gap "
            f"{recall(small, 2)} (against the plain transformer "
            f"{versus(found['Compressive (small) against the plain transformer'], 2, '')}); at "
            f"{large[0]['state_bytes']:,} bytes ({large[0]['reach_rule']} characters) "
            f"{recall(large, 2)} at two.")


@citation('memory_reach', 'infini_attention')
def reach_infini_attention(records: Records) -> str:
    groups, found = reach_groups(records), reach_verdicts(records)
    cells = [(rule, budget) for budget in ('small', 'large') for rule in ('infini_linear', 'infini_delta')]
    needs(groups, *cells)
    reach = {cell: reach_at_half(groups[cell]) for cell in cells}
    small, large = groups[('infini_linear', 'small')], groups[('infini_linear', 'large')]
    heads = large[0]['overrides']['heads']
    # The first recipe's records are the study's history, kept under `colon_format/`.
    earlier: Dict[str, List[Dict[str, Any]]] = {}
    for record, _ in records.history.get('colon_format', []):
        if record['budget'] == 'small':
            earlier.setdefault(record['name'], []).append(record)
    needs(earlier, 'infini_linear', 'infini_delta')
    return (f"({REACH}, {seeds(small)}): half the queries are answered up to about "
            f"{reach[('infini_linear', 'small')]:.1f} segments "
            f"({reach[('infini_linear', 'small')] * small[0]['seg_len']:.0f} characters) with the linear "
            f"rule and {reach[('infini_delta', 'small')]:.1f} with the delta rule at "
            f"{small[0]['state_bytes']:,} bytes per stream, and {reach[('infini_linear', 'large')]:.1f} and "
            f"{reach[('infini_delta', 'large')]:.1f} with {'one head' if heads == 1 else f'{heads} heads'} at "
            f"{large[0]['state_bytes']:,} bytes. At eight segments' gap the linear rule against the "
            f"RMT of the same state: {versus(found['Infini-attention (linear) against RMT, small'], 2, '')}. "
            f"{past_training(small)}"
            f"Trained on memory texts only (the page's earlier recipe, kept as its history) it reached "
            f"{reach_at_half(earlier['infini_linear']):.0f} and {reach_at_half(earlier['infini_delta']):.0f} "
            f"segments.")


@citation('memory_reach', 'infinity_former')
def reach_infinity_former(records: Records) -> str:
    groups = reach_groups(records)
    cells = [(n, b) for n in ('infinity_former', 'infinity_former_sticky') for b in ('small', 'large')]
    needs(groups, *cells, ('transformer_xl', 'small'))
    small = groups[('infinity_former', 'small')]
    far = max(mean(_reach().accuracy_at(groups[c], g, '1')) for c in cells
              for g in small[0]['accuracy'] if int(g) >= 4)
    same = ('at the same state as' if small[0]['state_bytes'] == groups[('transformer_xl', 'small')][0]['state_bytes']
            else 'beside')
    return (f"({REACH}, {same} Transformer-XL, {seeds(small)}): no hard limit, but recall beyond the "
            f"short-term memory falls to {recall(small, 2)} at two segments' gap (small budget) and to "
            f"{far:.2f} or less from four on, with or without sticky memories, at both budgets.")


@citation('memory_reach', 'memorizing_transformer')
def reach_memorizing_transformer(records: Records) -> str:
    groups, found = reach_groups(records), reach_verdicts(records)
    needs(groups, ('memorizing_transformer', 'large'))
    large = groups[('memorizing_transformer', 'large')]
    skipped = [r for r in records if r['name'] == 'memorizing_transformer' and r.get('skipped')]
    if not skipped:
        raise ValueError('the records hold no note that memorizing_transformer cannot run small')
    o, seg = large[0]['overrides'], large[0]['seg_len']
    window = _reach().window_share
    return (f"({REACH}, {seeds(large)}): at the suite's small budget ({skipped[0]['budget_numbers']:,} "
            f"numbers per stream) the model cannot run at all, since its table must hold at least one "
            f"segment of pairs ($2 L d = {2 * seg * o['d_model']:,}$ numbers). At the large budget "
            f"({large[0]['budget_numbers']:,} numbers: $C = L = {o['mem_size']}$ pairs and an XL cache "
            f"of {o['mem_len']}) it answers one segment back ({recall(large, 1)}) and {recall(large, 2)} "
            f"at two, but it holds many pairs at once: {recall(large, 0, 8)} at eight and "
            f"{recall(large, 0, 16)} at sixteen with no gap, where a segment alone allows "
            f"{window(8, seg):.2f} and {window(16, seg):.2f} (at eight, against the plain transformer "
            f"{versus(found['Memorizing Transformer (large) against the plain transformer'], 2, '')})."
            ).replace('$2 L d = 4,096$', '$2 L d = 4{,}096$')


@citation('memory_reach', 'recurrent_memory')
def reach_recurrent_memory(records: Records) -> str:
    groups, found = reach_groups(records), reach_verdicts(records)
    needs(groups, ('recurrent_memory', 'small'), ('recurrent_memory', 'large'))
    small, large = groups[('recurrent_memory', 'small')], groups[('recurrent_memory', 'large')]
    return (f"({REACH}, {seeds(small)}): at the small budget ({small[0]['overrides']['n_mem']} memory "
            f"tokens, {training(small)}, {control(small)}) {recall(small, 2)} at two segments' gap and "
            f"{recall(small, 4)} at four (against Transformer-XL of the same state there "
            f"{versus(found['RMT against Transformer-XL, small'], 2, '')}), half the queries answered up "
            f"to {reach_at_half(small):.1f} segments. At the large budget ({large[0]['overrides']['n_mem']} "
            f"tokens, {training(large)}, {control(large)}) {recall(large, 2)} at two segments (against "
            f"the small budget {versus(found['RMT, large against small budget'], 2, '')}) and a reach of "
            f"{reach_at_half(large):.1f}. {past_training(small)}")


# ## Quality at equal compute, and the use of memory
#
# One record per model and seed; the headline loss, the grouping, the margin and every
# verdict are the quality study's own, computed over each page's comparisons at once.
QUALITY = '[results](results/quality.md)'
CONTEXT = '[context](results/quality/context.md)'
NAMES = {'transformer_xl': 'Transformer-XL', 'plain transformer': 'the plain transformer'}


def _quality():
    return importlib.import_module('labml_memory.studies.quality')


def _quality_citation(name: str, state: bool = False) -> Citation:
    def sentence(records: Records) -> str:
        q = _quality()
        runs = q.load(records)
        needs(runs, name, q.XL, q.BASELINE)
        found = q.quality_verdicts(runs, q.margin_of(runs))
        loss = {n: [q.headline(r) for r in rs] for n, rs in runs.items()}
        one, xl = runs[name][0], runs[q.XL][0]
        text = f"({QUALITY}, {seeds(runs[name])}"
        if name == q.XL:
            budget = one['budget_flops']
            power = math.floor(math.log10(budget))
            return (text + f", every model at ${budget / 10 ** power:.1f} \\times 10^{{{power}}}$ counted "
                    f"operations): {spread(loss[name], 3, ' nats/char')} in {one['steps']:,} steps; against "
                    f"the plain transformer {versus(found[f'{name} against {q.BASELINE}'])}.")
        means = {n: mean(v) for n, v in loss.items()}
        rank = (', the lowest of every model' if means[name] == min(means.values()) else
                ', the highest of every model' if means[name] == max(means.values()) else '')
        if state:
            text += f", {one['state_bytes']:,} bytes per stream against Transformer-XL's {xl['state_bytes']:,}"
        return (text + f"): {spread(loss[name], 3, ' nats/char')}{rank}. Its step costs "
                f"{one['flops_per_step'] / xl['flops_per_step']:.2f} times Transformer-XL's in counted "
                f"operations, so it gets {one['steps']:,} steps to Transformer-XL's {xl['steps']:,}; "
                f"against Transformer-XL {versus(found[f'{name} against {q.XL}'])}; against the plain "
                f"transformer {versus(found[f'{name} against {q.BASELINE}'])}.")
    return sentence


def _context_citation(name: str) -> Citation:
    def sentence(records: Records) -> str:
        q = _quality()
        runs = q.load(records)
        needs(runs, name)
        found = q.context_verdicts(runs, q.margin_of(runs))
        rs = runs[name]
        h = [r['context']['histories'] for r in rs]
        worth = [x['0'] - x['all'] for x in h]
        beyond = [x['1'] - x['all'] for x in h]
        # What the whole history saves at each position of the segment, over its first and
        # its last eight characters (the context page's right panel).
        by_position = [[a - b for a, b in zip(r['context']['positions']['0'], r['context']['positions']['all'])]
                       for r in rs]
        first = mean([mean(p[:8]) for p in by_position])
        last = mean([mean(p[-8:]) for p in by_position])
        text = (f"({CONTEXT}): the whole history is worth {spread(worth, 3, ' nats')} against none "
                f"({judged(found[('worth', name)], gain=True)}), {first:.3f} over the first eight "
                f"positions of a segment against {last:.3f} over the last eight; what it carries from "
                f"further back than one segment is {spread(beyond, 3, ' nats')} "
                f"({judged(found[('beyond', name)], gain=True)})")
        if name == q.XL and rs[0]['context'].get('eval_mem_len'):
            best, trained = q.best_eval_memory(rs)
            if ('eval memory', name) in found:
                text += (f"; a cache of {best} in evaluation instead of the trained {trained} changes "
                         f"the loss by {versus(found[('eval memory', name)])}")
            else:
                text += f"; no longer cache in evaluation does better than the trained {trained}"
        return text + '.'
    return sentence


for _name in ('transformer_xl', 'compressive', 'infini_attention', 'infinity_former',
              'memorizing_transformer', 'memory_depth', 'recurrent_memory'):
    citation('quality', _name)(_quality_citation(_name, state=_name == 'memory_depth'))
    if _name != 'memory_depth':
        citation('quality', f'{_name}_context')(_context_citation(_name))


# The landing page's line on the quality page: what stands behind it and how low every
# seed got, rounded up to the next twentieth of a nat.
@citation('quality', 'landing')
def quality_landing(records: Records) -> str:
    q = _quality()
    runs = q.load(records)
    worst = max(q.headline(r) for rs in runs.values() for r in rs)
    return (f"{seeds([r for rs in runs.values() for r in rs])}, every seed below "
            f"{math.ceil(worst * 20) / 20:.2f} nats per character (the worst {worst:.4f})")


# ## The Compressive Transformer study
#
# Two pages, two margins: the study's losses and the attention buckets' ratios. The study
# page's verdicts are its own comparisons in one call; the buckets page builds its family of
# comparisons inside its report, and `bucket_verdicts` builds the same family here, label for
# label (a test checks that both pages print the verdicts quoted from them).
STUDY_PAGE = 'results/compressive.md'
BUCKETS_PAGE = 'results/compressive/attention_buckets.md'


def _compressive():
    return importlib.import_module('labml_memory.studies.compressive')


def ratio(v: stats.Verdict) -> str:
    return (f'{math.exp(v.mean):.2f}×: {v.verdict}, 95% interval {math.exp(v.low):.2f} to '
            f'{math.exp(v.high):.2f}')


def study_verdicts(records: Records) -> Dict[str, stats.Verdict]:
    cs = _compressive()
    runs = cs.by_name(records)
    every_seed = sorted({r['seed'] for rs in runs.values() for r in rs})
    return stats.compare(cs.study_comparisons(runs, every_seed), cs.declared(list(records), 'margin'))


def bucket_verdicts(records: Records) -> Dict[str, stats.Verdict]:
    from labml_memory.compressive.analysis import BUCKETS_PER_PART
    cs = _compressive()
    runs = cs.by_name(records)
    comp, ctrl = runs[cs.PROFILED_COMPRESSIVE], runs[cs.EQUAL_SPAN]
    seed_list = [r['seed'] for r in comp]
    memory = comp[0]['memory']
    rate, m_c = memory['compression_rate'], memory['compressed_len']
    per_key = [r['profile']['buckets']['all layers'] for r in comp]
    comp_char = [cs.per_character(v, rate) for v in per_key]
    ctrl_char = [r['profile']['buckets']['all layers'] for r in ctrl]
    newest_cmem, oldest_mem = BUCKETS_PER_PART - 1, BUCKETS_PER_PART

    def by(rows, k):
        return cs.logs(dict(zip(seed_list, (row[k] for row in rows))))
    pairs = {f'bucket {k}': (by(comp_char, k), by(ctrl_char, k)) for k in range(3 * BUCKETS_PER_PART)}
    pairs['rise'] = (by(per_key, newest_cmem), by(per_key, oldest_mem))
    pairs['age, compressive'] = (by(per_key, 0), by(per_key, newest_cmem))
    pairs['age, control'] = (by(ctrl_char, 0), by(ctrl_char, newest_cmem))
    shares = ([cs.oldest_share(v, m_c) for v in per_key], [cs.oldest_share(v, rate * m_c) for v in ctrl_char])
    pairs['share'] = tuple(cs.logs(dict(zip(seed_list, s))) for s in shares)
    return stats.compare(pairs, cs.declared(list(records), 'bucket_margin'), lower_is_better=False)


@citation('compressive', 'study')
def compressive_study(records: Records) -> str:
    cs = _compressive()
    runs = cs.by_name(records)
    needs(runs, 'conv_attention', 'conv_attention_c4', cs.REFERENCE)
    found = study_verdicts(records)
    reference = runs[cs.REFERENCE][0]
    grid = sorted((n for n in cs.TABLE5 if n in runs), key=lambda n: mean(cs.losses(runs[n])))
    against_best = [found[f'{n} against {cs.PAPER_BEST}'] for n in grid if n != cs.PAPER_BEST
                    and f'{n} against {cs.PAPER_BEST}' in found]
    words = [(w, sum(v.verdict == w for v in against_best))
             for w in (stats.BEHIND, stats.TIE, stats.AHEAD, stats.UNRESOLVED)]
    return (f"([{seeds(runs['conv_attention'])} per cell, {reference['steps']:,} steps]({STUDY_PAGE})): "
            f"at equal attention cost ({reference['keys']} keys per query), `conv_attention` against "
            f"Transformer-XL with a memory of {reference['memory']['mem_len']}: "
            f"{versus(found[f'conv_attention against {cs.REFERENCE}'])}; with `c = 4`: "
            f"{versus(found[f'conv_attention_c4 against {cs.REFERENCE}'])}. Of the paper's Table 5 cells, "
            f"best first: " + ', '.join(f"`{n}` {mean(cs.losses(runs[n])):.3f}" for n in grid)
            + f"; against `{cs.PAPER_BEST}`, the paper's best, "
            + ', '.join(f'{count} {w}' for w, count in words if count) + '. The paper\'s claim that '
            f"compressing beats remembering at equal attention cost: "
            f"{cs.claim([found[f'conv_attention against {cs.REFERENCE}']], -1)}.")


@citation('compressive', 'buckets')
def compressive_buckets(records: Records) -> str:
    from labml_memory.compressive.analysis import BUCKETS_PER_PART
    cs = _compressive()
    runs = cs.by_name(records)
    needs(runs, cs.PROFILED_COMPRESSIVE, cs.EQUAL_SPAN)
    found = bucket_verdicts(records)
    comp, ctrl = runs[cs.PROFILED_COMPRESSIVE], runs[cs.EQUAL_SPAN]
    memory = comp[0]['memory']
    rate, m_c = memory['compression_rate'], memory['compressed_len']
    per_key = [r['profile']['buckets']['all layers'] for r in comp]
    ctrl_char = [r['profile']['buckets']['all layers'] for r in ctrl]
    newest = BUCKETS_PER_PART - 1

    def at(rows, k):
        return 1000 * mean([row[k] for row in rows])
    share = mean([cs.oldest_share(v, m_c) for v in per_key])
    ctrl_share = mean([cs.oldest_share(v, rate * m_c) for v in ctrl_char])
    read = {stats.BEHIND: 'per character of history the compressed memory is read less, not more',
            stats.AHEAD: 'per character of history the compressed memory is read more',
            stats.TIE: 'the two are read alike, within the margin'}.get(
        found['share'].verdict, 'the seeds do not tell which is read more')
    return (f"([the {3 * BUCKETS_PER_PART} buckets, {seeds(comp)}]({BUCKETS_PAGE})): per key, the newest "
            f"compressed bucket gets {at(per_key, newest):.2f} and the oldest memory bucket "
            f"{at(per_key, newest + 1):.2f} ×10⁻³ (the first over the second {ratio(found['rise'])}); "
            f"inside the compressed memory weight per key goes from {at(per_key, newest):.2f} to "
            f"{at(per_key, 0):.2f} with age (oldest over newest {ratio(found['age, compressive'])}), "
            f"where Transformer-XL over the same characters goes from {at(ctrl_char, newest):.2f} to "
            f"{at(ctrl_char, 0):.2f} ({ratio(found['age, control'])}). Against that Transformer-XL "
            f"of equal span, the compressed slots get {share:.1%} of a query's attention for the "
            f"{rate * m_c} oldest characters, its plain memories {ctrl_share:.1%} "
            f"({ratio(found['share'])}): {read}.")


# ## The memory-depth study
#
# Its report builds the page's family of comparisons inline; `depth_verdicts` builds the same
# family from the study's own helpers, label for label (checked against the page by a test):
# each configuration against all long, first against last per count of long layers, the
# shortest range against the longest, and the baselines of every other budget.
DEPTH_PAGE = 'results/memory_depth.md'


def _depth():
    return importlib.import_module('labml_memory.studies.memory_depth')


def depth_verdicts(records: Records):
    md = _depth()
    every = list(records)
    margins = sorted({r['run']['margin'] for r in every})
    if len(margins) != 1:
        raise ValueError(f'the records declare different margins {margins}')
    main, by_budget = md.budgets(md.by_name(every))
    runs = by_budget[main]
    n_layers = len(next(iter(runs.values()))[0]['lengths'])
    all_long, all_short = md.baseline(runs, n_layers), md.baseline(runs, 0)
    others = {b: (md.baseline(rs, n_layers), md.baseline(rs, 0)) for b, rs in sorted(by_budget.items()) if b != main}
    placement = {k: v for k, v in runs.items() if not k.startswith('long1_last_short')}
    shorts = sorted([rs for k, rs in runs.items() if k.startswith('long1_last_short')]
                    + [rs for rs in runs.values() if rs[0]['n_long'] == 1 and rs[0]['placement'] == 'last'
                       and not rs[0]['name'].startswith('long1_last_short')],
                    key=lambda rs: rs[0]['short_mem_len'])
    seed_list = sorted({r['seed'] for rs in runs.values() for r in rs})
    pairs = {name: md.pair(rs, all_long, seed_list) for name, rs in runs.items() if rs is not all_long}
    by_count: Dict[int, Dict[str, List[Dict]]] = {}
    for rs in placement.values():
        by_count.setdefault(rs[0]['n_long'], {})[rs[0]['placement']] = rs
    for n in range(1, n_layers):
        if 'first' in by_count.get(n, {}) and 'last' in by_count[n]:
            pairs[f'{n} first'] = md.pair(by_count[n]['first'], by_count[n]['last'], seed_list)
    if len(shorts) > 1:
        pairs['sweep'] = md.pair(shorts[0], shorts[-1], seed_list)
    for budget, (longs, shorts_) in others.items():
        pairs[f'{budget} steps'] = md.pair(longs, shorts_, sorted({r['seed'] for r in longs + shorts_}))
    pairs = {k: v for k, v in pairs.items() if v is not None}
    found = stats.compare(pairs, margins[0]) if pairs else {}
    return found, runs, main, others, shorts, all_long, all_short, n_layers


def _loss(rs: List[Dict[str, Any]]) -> str:
    return spread([r['valid_loss'] for r in rs], 3, ' nats/char')


@citation('memory_depth', 'design')
def depth_design(records: Records) -> str:
    found, runs, main, others, shorts, all_long, all_short, n_layers = depth_verdicts(records)
    first = all_long[0]
    return (f"([table, plot and reading]({DEPTH_PAGE}); {n_layers} layers, long range "
            f"{first['long_mem_len']}, short range {all_short[0]['short_mem_len']} unless swept, "
            f"{main:,} steps, {seeds(all_long)}, {sum(len(rs) for rs in runs.values())} runs)")


@citation('memory_depth', 'fewer')
def depth_fewer(records: Records) -> str:
    found, runs, main, others, shorts, all_long, all_short, n_layers = depth_verdicts(records)
    md = _depth()
    one, two = runs['long1_last'], runs['long2_last']
    state = all_long[0]['state_bytes_per_stream']
    return (f"One long layer on top, {_loss(one)}, and two on top, {_loss(two)}, against the all-long "
            f"model, {_loss(all_long)}, at {one[0]['state_bytes_per_stream'] / state:.0%} and "
            f"{two[0]['state_bytes_per_stream'] / state:.0%} of its state: {versus(found['long1_last'])} "
            f"and {versus(found['long2_last'])}; all long against all short, the premise of the "
            f"finding, {versus(md.flipped(found[md.name_of(runs, all_short)]))}")


@citation('memory_depth', 'placement')
def depth_placement(records: Records) -> str:
    found = depth_verdicts(records)[0]
    return (f"With one long layer, first against last {versus(found['1 first'])}; with two, "
            f"{versus(found['2 first'])}")


@citation('memory_depth', 'short_range')
def depth_short_range(records: Records) -> str:
    found, runs, main, others, shorts, all_long, all_short, n_layers = depth_verdicts(records)
    sweep = ', '.join(f"{rs[0]['short_mem_len']} characters gives {mean([r['valid_loss'] for r in rs]):.3f}"
                      for rs in shorts)
    return (f"With one long layer on top, a lower-layer range of {sweep}; the shortest against the "
            f"longest {versus(found['sweep'])}, and against all long {versus(found[shorts[0][0]['name']])}")


@citation('memory_depth', 'longer')
def depth_longer(records: Records) -> str:
    found, runs, main, others, shorts, all_long, all_short, n_layers = depth_verdicts(records)
    md = _depth()
    text = [f"At {main:,} steps the all-long model against the all-short one, {_loss(all_short)}: "
            f"{versus(md.flipped(found[md.name_of(runs, all_short)]))}"]
    for budget, (longs, shorts_) in others.items():
        wins = sum(a['valid_loss'] < b['valid_loss'] for a in longs for b in shorts_ if a['seed'] == b['seed'])
        text.append(f"with {budget:,} steps all long {_loss(longs)}, all short {_loss(shorts_)}, "
                    f"{versus(found[f'{budget} steps'])}, all long lower in {wins} of the "
                    f"{len(longs)} seed pairs")
    return '. '.join(text[:1]) + ('; ' + '; '.join(text[1:]) if text[1:] else '')


# ## Passkey retrieval
#
# Exact match of the 4 digits by text length (in segments) and needle depth, one record per
# run and seed; the mean over depths and the verdicts (every pair of runs that pass their
# control, at every length beyond it, in one call) are the study's own.
PASSKEY = '[the grid and its plot](results/passkey.md)'


@citation('passkey', 'infini_attention')
def passkey_infini_attention(records: Records) -> str:
    pk = importlib.import_module('labml_memory.studies.passkey')
    runs = list(records)
    groups: Dict[str, List[Dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault(r['name'], []).append(r)
    needs(groups, 'infini_linear', 'infini_delta', 'transformer_xl')
    lengths = list(runs[0]['accuracy'])
    control = lengths[0]
    found, _ = pk.verdicts(groups, lengths, control, pk.declared_margin(runs))

    def over_depths(name: str, m: int) -> str:
        return spread([pk.mean_over_depths(r, str(m)) for r in groups[name]])
    o = groups['infini_linear'][0]['overrides']
    lowest = min(pk.mean_over_depths(r, control) for r in runs)
    xl = groups['transformer_xl']
    seg, mem, layers = xl[0]['seg_len'], int(xl[0]['overrides']['mem_len']), int(xl[0]['overrides']['n_layers'])
    beyond = [m for m in lengths if m != control]
    at_one = [mean([r['accuracy'][m]['1'] for r in xl]) for m in beyond]
    elsewhere = max(mean([r['accuracy'][m][d] for r in xl]) for m in beyond for d in xl[0]['accuracy'][m] if d != '1')
    delta = ('infini_delta', 'infini_linear')
    return (f"({PASSKEY}): {o['n_layers']}-layer, {o['d_model']}-wide models, {seeds(groups['infini_linear'])} "
            f"each, every control passed (the lowest {lowest:.2f}). Over depths, the linear and the delta rule read "
            f"the key back from texts of {beyond[0]} segments at {over_depths('infini_linear', beyond[0])} "
            f"and {over_depths('infini_delta', beyond[0])}, from {beyond[1]} at "
            f"{over_depths('infini_linear', beyond[1])} and {over_depths('infini_delta', beyond[1])}, and "
            f"from {beyond[-1]} at {over_depths('infini_linear', beyond[-1])} and "
            f"{over_depths('infini_delta', beyond[-1])} (delta against linear at {beyond[1]}: "
            f"{versus(found[(*delta, beyond[1])], 2, '')}). Transformer-XL with a memory of {mem} "
            f"positions, about the same state, answers only when the key is inside its "
            f"{(seg - 1) + mem + (layers - 1) * seg}-character reach, at depth 1 ({min(at_one):.2f} to "
            f"{max(at_one):.2f}), and at most {elsewhere:.2f} at every other depth.")


# ## Frequency sort
#
# One record per run name, length and seed: token accuracy over the answer positions.
SORTING = '[every run, with its plot](results/frequency_sort.md)'


@citation('frequency_sort', 'infinity_former')
def sort_infinity_former(records: Records) -> str:
    fs = importlib.import_module('labml_memory.studies.frequency_sort')
    runs = list(records)
    cells: Dict[Tuple[str, int], List[Dict[str, Any]]] = {}
    for r in runs:
        cells.setdefault((r['name'], r['length']), []).append(r)
    found = fs.verdicts(cells, fs.declared_margin(runs))
    lengths = sorted({n for _, n in cells})
    acc = {k: mean([r['accuracy'] for r in rs]) for k, rs in cells.items()}
    for name in ('infinity_former', 'infinity_former_sticky', 'transformer_xl', 'compressive'):
        needs(cells, *((name, n) for n in lengths))
    lead = {n: [acc['infinity_former', n] - acc[other, n] for other in ('transformer_xl', 'compressive')]
            for n in lengths}
    sticky = [acc['infinity_former_sticky', n] - acc['infinity_former', n] for n in lengths]
    per_cell = sorted({len(rs) for rs in cells.values()})
    resolved = [v for v in found.values() if v.verdict != stats.UNRESOLVED]
    judged_line = ("one training seed per cell, so no comparison between runs is resolved" if per_cell == [1]
                   else f"{len(resolved)} of its {len(found)} comparisons resolved")
    return (f"({SORTING}; {judged_line}): the ∞-former's token accuracy is "
            f"{min(min(v) for v in lead.values()):+.3f} to {max(max(v) for v in lead.values()):+.3f} "
            f"against Transformer-XL's and the Compressive Transformer's at every length from "
            f"{lengths[0]:,} to {lengths[-1]:,} symbols ({' and '.join(f'{v:+.3f}' for v in lead[lengths[0]])} "
            f"at {lengths[0]:,}, where every memory sees the whole sequence, "
            f"{' and '.join(f'{v:+.3f}' for v in lead[lengths[-1]])} at {lengths[-1]:,}); sticky memories "
            f"move it by {min(sticky):+.3f} to {max(sticky):+.3f}")


# ## Where the ∞-former's heads look
#
# The figures study draws its best-trained record; the model page describes that record.
@citation('infinity_former_figures', 'heads')
def infinity_former_heads(records: Records) -> str:
    figures = importlib.import_module('labml_memory.studies.infinity_former_figures')
    record = max(records, key=lambda r: r['steps'])
    heads = figures.heads(record)

    def where(mu: float) -> str:
        return 'the oldest quarter' if mu < 0.25 else 'the newest quarter' if mu >= 0.75 else 'the middle half'
    places: Dict[str, List[int]] = {}
    for h, (mu, _) in enumerate(heads):
        places.setdefault(where(mu), []).append(h)
    bins = record['bins']
    middle = sum(m for b, m in enumerate(record['histogram']) if 0.25 <= b / bins < 0.75)
    widths = [v ** 0.5 for _, v in heads]
    told = '; '.join(f"{'head' if len(hs) == 1 else 'heads'} {', '.join(map(str, hs))} in {place}"
                     for place, hs in sorted(places.items()))
    return (f"([the figures](results/infinity_former_figures.md), one model of {record['steps']:,} steps, "
            f"seed {record['run']['seed']}): the heads' means are "
            f"{', '.join(f'{mu:.3f}' for mu, _ in heads)}, so {told}, with widths $\\sigma$ from "
            f"{min(widths):.3f} to {max(widths):.3f}; over all queries of the layer the middle half of "
            f"the memory, $0.25 \\le t < 0.75$, holds {middle:.0%} of the attention mass")


# ## Speed against the public implementations
#
# The benchmark's default record is its page; its comparisons pair each of ours with the
# fastest peer of the same paper, round by round.
BENCHMARK = '[benchmark](results/benchmark.md)'


def _benchmark(records: Records, family: str) -> str:
    bm = importlib.import_module('labml_memory.studies.benchmark')
    record = records.get(bm.plan(bm.Settings())[0].key)
    if record is None:
        raise KeyError('no record of the default configuration')
    found, _ = bm.verdicts(record)
    ours = next(r for r in record['rows'] if r['kind'] == 'ours' and r['implements'] == family)
    peers = [r for r in record['rows'] if r['kind'] == 'peer' and r['implements'] == family
             and r['status'] == 'ok']
    if not peers or ours.get('ratio_to_fastest_peer') is None:
        raise KeyError(f'no peer of {family} ran')
    fastest = max(peers, key=lambda r: r['tokens_per_second'])
    generation = [f"{g['ratio']:.2f}× generating at batch {b}"
                  + (f" (round by round {ratio(found[f'{family}@{b}'])})" if f'{family}@{b}' in found else '')
                  for b, g in (ours.get('generation_ratio_to_fastest_peer') or {}).items()]
    return (f"against public implementations ours trains {ours['ratio_to_fastest_peer']:.2f}× as fast as "
            f"the fastest, `{fastest['name']}`, at the same configuration (the median of per-round ratios; "
            f"round by round {ratio(found[family])})"
            + (', and is ' + ', '.join(generation) if generation else '') + f" ({BENCHMARK})")


for _family in ('transformer_xl', 'compressive', 'infini_attention', 'memorizing_transformer', 'recurrent_memory'):
    citation('benchmark', _family)(lambda records, family=_family: _benchmark(records, family))


INFINI_BENCHMARK = '[against infini-transformer-pytorch](results/infini_benchmark.md)'


@citation('infini_benchmark', 'infini_attention')
def benchmark_infini_attention(records: Records) -> str:
    ib = importlib.import_module('labml_memory.studies.infini_benchmark')
    found = ib.verdicts(records)
    record = records.runs[0][0]
    names = list(record['summary'])
    if len(names) < 2:
        raise KeyError('the record has no port to compare with')
    lengths = [int(n) for n in record['summary'][names[0]]]
    peaks = {n: max(c['peak_bytes_max'] for c in record['summary'][n].values()) / 1024 ** 2 for n in names}
    medians = [statistics.median(r) for r in record['ratios'].values() if r]
    words = sorted({v.verdict for v in found.values()})
    rounds = record['summary'][names[0]][str(lengths[0])]['rounds']
    return (f"({INFINI_BENCHMARK}, and on the [benchmark page](results/benchmark.md)): peak memory stays "
            f"under {max(peaks.values()):.1f} MiB up to {max(lengths):,} tokens for both, and in the "
            f"median of {rounds} interleaved rounds ours reads {min(medians):.2f} to {max(medians):.2f} times "
            f"as many tokens per second as the port; round by round that is {' or '.join(words)} at every "
            f"length")


# ## How many seeds stand behind a study (the landing page's list of results)
def _seed_count(records: Records) -> str:
    return seeds(list(records))


for _study in ('memory_reach', 'compressive', 'memory_depth'):
    citation(_study, 'seeds')(_seed_count)


# ## Fused against explicit attention in Transformer-XL
#
# One record per device: explicit over fused step time at each shape (the study's ratio,
# the median of the rounds a record keeps).
ATTENTION_IMPL = '[timings](results/xl_attention_impl.md)'


@citation('xl_attention_impl', 'cpu')
def attention_impl_cpu(records: Records) -> str:
    xa = importlib.import_module('labml_memory.studies.xl_attention_impl')
    record = records.get('cpu')
    if record is None:
        raise KeyError('no record of the cpu')
    shapes = [(row['seq_len'], row['mem_len'], statistics.median(xa.ratios(row))) for row in record['rows']]
    return ("explicit over fused step time on a CPU is " + ', '.join(
        f"{r:.2f}× at $L = {L}$, $M = {M}$" for L, M, r in shapes) + f" ({ATTENTION_IMPL})")


# The three findings in one line, each from the verdicts and the study's own words for them.
@citation('memory_depth', 'findings')
def depth_findings(records: Records) -> str:
    found, runs, main, others, shorts, all_long, all_short, n_layers = depth_verdicts(records)
    md = _depth()
    premise = md.flipped(found[md.name_of(runs, all_short)])
    placements = [found[f'{n} first'] for n in range(1, n_layers) if f'{n} first' in found]
    return (f"at {seeds(all_long)} and {main:,} steps, {md.premise_words(premise)}; finding 2 is "
            f"{md.finding(placements, +1)} and finding 3 is {md.finding([found['sweep']], -1)} "
            f"([the reading]({DEPTH_PAGE}))")
