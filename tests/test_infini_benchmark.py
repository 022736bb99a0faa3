"""The Infini-attention benchmark interleaves its rounds, pairs its ratios by round, and its page
comes back from its record."""
import json
import math
import shutil
from pathlib import Path

import pytest

from labml_memory.infini_attention import benchmark
from labml_memory.studies import infini_benchmark as study
from labml_memory.studies.runner import Records, parse_settings, pending, report

RESULTS = Path(__file__).resolve().parents[1] / 'docs' / 'results'
PORT = 'infini-transformer-pytorch'


# A fake machine whose load drifts: every read is slower than the one before it.
def drifting(calls):
    def measurer(name, length, batch, device, threads):
        calls.append((name, length))
        slow = 1 + 0.05 * len(calls)
        return {'tokens_per_second': (2000.0 if name == 'ours' else 1000.0) / slow,
                'peak_bytes': 1024 ** 2, 'parameters': 10}
    return measurer


def test_rounds_interleave_ours_and_the_port_and_ratios_pair_reads_of_one_round(monkeypatch):
    monkeypatch.setattr(benchmark, 'peer_available', lambda: True)
    calls = []
    run = study.plan(parse_settings(study.Settings, ['lengths=512,1024', 'batch=1']))[0]
    record = study.execute(run, measurer=drifting(calls))
    # Each length read by both, back to back, the order alternating from round to round.
    assert calls == [('ours', 512), (PORT, 512), ('ours', 1024), (PORT, 1024),
                     (PORT, 512), ('ours', 512), (PORT, 1024), ('ours', 1024),
                     ('ours', 512), (PORT, 512), ('ours', 1024), (PORT, 1024)]
    # Ratios come from the two reads of one round: 2 x (slow_port / slow_ours), near 2, never the
    # drift between a first half of ours and a second half of the port's.
    ratios = record['ratios']['512']
    assert len(ratios) == 3 and all(1.8 < r < 2.2 for r in ratios)
    assert ratios[1] < 2 < ratios[0]  # the port went first in round 2, so the drift flips sign
    assert list(record['summary']) == ['ours', PORT] and record['config'] == benchmark.CONFIG


def test_a_page_from_a_fresh_record_stands_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(benchmark, 'peer_available', lambda: True)
    monkeypatch.setenv('MPLBACKEND', 'Agg')
    run = study.plan(parse_settings(study.Settings, ['lengths=512,1024']))[0]
    record = {'study': study.NAME, 'key': run.key, 'run': run.settings,
              **study.execute(run, measurer=drifting([])), 'command': 'cmd', 'seconds': 3.0}
    (tmp_path / study.NAME / 'records').mkdir(parents=True)
    (tmp_path / study.NAME / 'records' / f'{run.key}.json').write_text(json.dumps(record))
    report(study.STUDY, tmp_path)
    page = (tmp_path / f'{study.NAME}.md').read_text()
    # The page stands alone: figure first, the table, its columns, then machine, date and time.
    assert page.index('![') < page.index('| context') < page.index('**ours / port**') < page.index('**Machine:**')
    assert '**Date:**' in page and '**Wall time:** 3 s' in page and '**Rounds:** 3' in page
    assert 'median of 3 interleaved rounds' in page
    assert (tmp_path / study.NAME / f'{run.key}.png').exists()
    # A record made by the study itself does not carry the converted record's apology.
    assert 'predates the margin' not in page


def test_summary_is_the_median_with_its_range_and_skips_failed_rounds():
    rounds = [{'tokens_per_second': v, 'peak_bytes': 1, 'parameters': 3} for v in (5.0, 1.0, 9.0)] + [{'error': 'x'}]
    s = study.summarise(rounds)
    assert (s['tokens_per_second'], s['tokens_per_second_min'], s['tokens_per_second_max'], s['rounds']) == (5.0, 1.0, 9.0, 3)
    assert study.summarise([{'error': 'boom'}]) == {'error': 'boom'}


def test_settings_refuse_lengths_that_are_not_whole_segments():
    with pytest.raises(SystemExit, match='multiples of the segment length 64'):
        parse_settings(study.Settings, ['lengths=512,100'])
    with pytest.raises(SystemExit, match='rounds must be at least 1'):
        parse_settings(study.Settings, ['rounds=0'])


# ## The committed record and page
def test_report_gives_back_the_committed_page(tmp_path, monkeypatch):
    monkeypatch.setenv('MPLBACKEND', 'Agg')
    shutil.copytree(RESULTS / study.NAME, tmp_path / study.NAME)
    report(study.STUDY, tmp_path)
    keep = lambda text: [line for line in text.splitlines() if not line.startswith('* **Date:**')]  # noqa: E731
    assert keep((tmp_path / f'{study.NAME}.md').read_text()) == keep((RESULTS / f'{study.NAME}.md').read_text())


def test_the_default_plan_finds_the_committed_record():
    assert pending(study.STUDY, study.Settings(), RESULTS) == []


def test_the_committed_table_keeps_the_measured_numbers():
    page = (RESULTS / f'{study.NAME}.md').read_text()
    # The median round, its range in small type (square brackets are for intervals), and the
    # median ratio of the rounds, as measured.
    def cell(mid, low, high):
        return f'{mid}<br><small>{low}–{high}</small>'
    assert (f"| 32,768 | {cell('11,432.5', '11,203.6', '12,041.3')} | {cell('8,476.6', '8,350.9', '10,012.3')} | "
            f"{cell('1.34', '1.20', '1.35')} | {cell('2.8', '1.5', '3.0')} | {cell('3.8', '3.7', '4.1')} | 0.73 |") in page
    assert f"| 512 | {cell('11,534.4', '8,772.7', '15,267.7')} | {cell('9,097.0', '8,770.7', '10,381.1')} | " in page


# ## The verdicts, from hand-made records
#
# Ours reads twice as fast in every round at one length and the same, to within a hair, at
# another: the first is "ahead", the second a "tie" against a margin of 0.05 in log terms.
def hand_made(by_length, margin=0.05):
    rounds = [{'ours': {}, PORT: {}} for _ in range(3)]
    for length, (ours, port) in by_length.items():
        for r in range(3):
            rounds[r]['ours'][length] = {'tokens_per_second': ours[r], 'peak_bytes': 1, 'parameters': 1}
            rounds[r][PORT][length] = {'tokens_per_second': port[r], 'peak_bytes': 1, 'parameters': 1}
    summary = {n: {L: study.summarise([rnd[n][L] for rnd in rounds]) for L in by_length} for n in ('ours', PORT)}
    return {'key': 'cpu-batch4-threads1', 'run': {'margin': margin}, 'rounds': rounds, 'summary': summary}


class FakeRecords(list):
    pass


def test_verdicts_pair_rounds_on_the_log_scale():
    record = hand_made({'512': ([2000, 2100, 1900], [1000, 1040, 960]),
                        '2048': ([1000, 1001, 999], [1000, 1000.5, 999.4]),
                        '8192': ([3000, 1000, 1500], [1000, 2000, 1400])})
    found = study.verdicts(FakeRecords([record]))
    assert found['cpu-batch4-threads1 512'].verdict == 'ahead'
    assert math.isclose(math.exp(found['cpu-batch4-threads1 512'].mean), 2.0, rel_tol=0.01)
    assert found['cpu-batch4-threads1 2048'].verdict == 'tie'
    assert found['cpu-batch4-threads1 8192'].verdict == 'not resolved'
    # Slower in every round is "behind", not "ahead".
    slower = hand_made({'512': ([1000, 1040, 960], [2000, 2100, 1900])})
    assert study.verdicts(FakeRecords([slower]))['cpu-batch4-threads1 512'].verdict == 'behind'
    assert study.ratio_text(found['cpu-batch4-threads1 512']).startswith('×2.00 [')


def test_a_failed_round_is_left_out_of_both_sides_and_margins_must_agree():
    record = hand_made({'512': ([2000, 2100, 1900], [1000, 1040, 960])})
    record['rounds'][1][PORT]['512'] = {'error': 'boom'}
    assert study.verdicts(FakeRecords([record]))['cpu-batch4-threads1 512'].seeds == 2
    other = dict(hand_made({'512': ([1, 1, 1], [1, 1, 1])}, margin=0.1), key='cuda-batch4-threads1')
    with pytest.raises(ValueError, match='one page, one margin'):
        study.verdicts(FakeRecords([record, other]))


def test_the_committed_verdicts():
    found = study.verdicts(Records(RESULTS / study.NAME))
    # Three rounds whose ratios spread from 1.00 to 1.86 resolve no length after Holm's correction.
    assert {v.verdict for v in found.values()} == {'not resolved'}
    assert len(found) == 4
