"""The Infini-attention benchmark interleaves its rounds and reports each ratio with its spread."""
from labml_memory.infini_attention import benchmark


def test_rounds_interleave_ours_and_the_port_and_ratios_pair_reads_of_one_round(tmp_path, monkeypatch):
    monkeypatch.setattr(benchmark, 'peer_available', lambda: True)
    calls = []
    # A fake machine whose load drifts: every read is slower than the one before it.
    def measurer(name, length, batch, device, threads):
        calls.append((name, length))
        slow = 1 + 0.05 * len(calls)
        return {'tokens_per_second': (2000.0 if name == 'ours' else 1000.0) / slow,
                'peak_bytes': 1024 ** 2, 'parameters': 10}
    text = benchmark.run([512, 1024], 1, 'cpu', 1, tmp_path / 'b.md', rounds=3, measurer=measurer)
    port = 'infini-transformer-pytorch'
    # Each length read by both, back to back, the order alternating from round to round.
    assert calls == [('ours', 512), (port, 512), ('ours', 1024), (port, 1024),
                     (port, 512), ('ours', 512), (port, 1024), ('ours', 1024),
                     ('ours', 512), (port, 512), ('ours', 1024), (port, 1024)]
    # Ratios come from the two reads of one round: 2 x (slow_port / slow_ours), near 2, never the
    # drift between a first half of ours and a second half of the port's.
    import json
    record = json.loads((tmp_path / 'b.json').read_text())
    ratios = record['ratios']['512']
    assert len(ratios) == 3 and all(1.8 < r < 2.2 for r in ratios)
    assert ratios[1] < 2 < ratios[0]  # the port went first in round 2, so the drift flips sign
    assert 'median of 3 interleaved rounds' in text and '[' in text.splitlines()[-1]
    assert (tmp_path / 'b.png').exists()
    # The page stands alone: figure first, the table, its columns, then machine, date and time.
    page = (tmp_path / 'b.md').read_text()
    assert page.index('![') < page.index('| context') < page.index('**ours / port**') < page.index('**Machine:**')
    assert '**Date:**' in page and '**Wall time:**' in page and '**Rounds:** 3' in page


def test_summary_is_the_median_with_its_range_and_skips_failed_rounds():
    rounds = [{'tokens_per_second': v, 'peak_bytes': 1, 'parameters': 3} for v in (5.0, 1.0, 9.0)] + [{'error': 'x'}]
    s = benchmark.summarise(rounds)
    assert (s['tokens_per_second'], s['tokens_per_second_min'], s['tokens_per_second_max'], s['rounds']) == (5.0, 1.0, 9.0, 3)
    assert benchmark.summarise([{'error': 'boom'}]) == {'error': 'boom'}
