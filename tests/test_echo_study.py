"""The echo study: which distances a memory can copy, the judged cells, and the page's verdicts."""
import random

import pytest

from labml_memory.studies import echo
from labml_memory.studies.runner import Records, parse_settings, render
from labml_memory.tasks.reach import window_reach


# The copy of character j of an echo is a read D − 1 positions back, from the query at offset t
# of its segment. A one-layer Transformer-XL's reach from offset t is the whole story (the reach
# rule, tested against real models in test_reach.py); count the offsets that reach by brute force.
@pytest.mark.parametrize('mem', [0, 1, 16, 64, 100, 256])
def test_coverage_counts_the_offsets_a_one_layer_read_reaches(mem):
    seg = 64
    for distance in list(range(1, 3 * seg + mem)) + [512, 2048]:
        start = 10 * seg
        reached = [window_reach(start + t, seg, [mem]) >= distance - 1 for t in range(seg)]
        want = 'every' if all(reached) else 'none' if not any(reached) else 'some'
        assert echo.coverage(mem, distance, seg) == want, (mem, distance)


def test_the_judged_cells_are_the_edges_of_each_direct_read():
    cells = {c: [{'gains': {str(d): {} for d in (64, 128, 256, 512, 1024, 2048)}}]
             for c in ('transformer_xl:0', 'transformer_xl:64', 'transformer_xl:256')}
    cells['compressive:64:48:4'] = cells['transformer_xl:64']
    # The ties sit where the reach rule (4 layers) leaves no path: past (L - 1) + M + 3 M.
    assert echo.judged(cells) == [('transformer_xl:0', 128, 'tie'),
                                  ('transformer_xl:64', 64, 'ahead'), ('transformer_xl:64', 512, 'tie'),
                                  ('transformer_xl:256', 256, 'ahead'), ('transformer_xl:256', 2048, 'tie')]
    # Past one read, inside the rule: shown, not judged.
    assert echo.relayed(cells) == [('transformer_xl:64', 256), ('transformer_xl:256', 512)]
    assert [echo.newly_covered(m, [64, 128, 256, 512]) for m in (128, 256, 512)] == [128, 256, 512]


# The positive control and the compression cells: Transformer-XL at the Compressive
# Transformer's attention cost (112) and at its span (256).
CELLS = ['transformer_xl:0', 'transformer_xl:64', 'transformer_xl:256', 'transformer_xl:112',
         'compressive:64:48:4']


def _records(tmp_path, copies_to):
    """Fake records: each cell copies (gain 0.8) up to `copies_to(M)` and gains nothing beyond."""
    folder = tmp_path / 'echo'
    (folder / 'records').mkdir(parents=True, exist_ok=True)
    settings = echo.Settings(cells=CELLS)
    for r in echo.plan(settings):
        cell = r.settings['cell']
        mem = echo.mem_of(cell)
        compressed, rate = echo.compressed_of(cell)
        rng = random.Random(r.key)

        def gains(reach):
            out = {}
            for d in settings.distances:
                gain = (0.8 if d <= reach else 0.0) + rng.gauss(0, 0.002)
                out[str(d)] = {'first': 1.8, 'echo': 1.8 - gain, 'gain': gain, 'characters': 100, 'echoes': 2}
            return out
        record = {'study': 'echo', 'key': r.key, 'run': r.settings, 'cell': r.settings['cell'],
                  'seed': r.settings['seed'], 'mem_len': mem, 'steps': 1200, 'train_seconds': 10.0,
                  'gains': gains(copies_to(mem + rate * compressed)), 'command': 'python -m labml_memory.studies run echo',
                  'machine': {'cpu': 'test', 'cores': 2, 'torch': 'x', 'date': '2026-12-03 00:00 UTC'}}
        if compressed:
            record['without_compressed'] = gains(copies_to(mem))
        if 'eval_mem_lens' in r.settings:
            record['eval_mem_len'] = {str(m): gains(copies_to(m)) for m in r.settings['eval_mem_lens']}
        import json
        (folder / 'records' / f'{r.key}.json').write_text(json.dumps(record))
    return Records(folder)


def test_a_model_that_copies_within_its_direct_read_passes_the_control(tmp_path):
    records = _records(tmp_path, lambda mem: mem + 1)
    pages = echo.report(records, tmp_path)
    text = render(pages['echo.md'], 'echo.md')
    assert 'all 7 judged cells of the positive control match' in text
    assert 'adds no copying' not in text  # the fake longer memories copy further: ahead, not a tie
    assert '⚠' not in text
    assert (tmp_path / 'echo' / 'gain.png').exists()
    found = echo.verdicts(echo.load(records), 0.1)
    assert all(v.verdict == 'ahead' for k, v in found.items() if 'evaluated with' in k)
    # Slots that carry the passage: ahead of the same model without them and of Transformer-XL
    # at equal attention cost, a tie with Transformer-XL of equal span.
    assert {k: v.verdict for k, v in found.items() if ' against ' in k} == {
        'compressive:64:48:4 against its compressed memory removed, at D = 256': 'ahead',
        'compressive:64:48:4 against transformer_xl:112 (equal attention cost), at D = 256': 'ahead',
        'compressive:64:48:4 against transformer_xl:256 (equal span), at D = 256': 'tie'}
    assert '## What the compressed slots carry' in text


# A memory that copied further than its direct read allows (or not at all) fails the control,
# and the page says which cells.
@pytest.mark.parametrize('copies_to, failing', [
    (lambda mem: 4 * mem + 400, 'transformer_xl:64 at D = 512: expected **tie**'),
    (lambda mem: 0, 'transformer_xl:64 at D = 64: expected **ahead**'),
])
def test_a_model_that_does_not_follow_its_read_fails_the_control(tmp_path, copies_to, failing):
    text = render(echo.report(_records(tmp_path, copies_to), tmp_path)['echo.md'], 'echo.md')
    assert 'The positive control does not pass' in text
    line = next(line for line in text.splitlines() if line.startswith(f'* {failing}'))
    assert line.endswith('⚠')


@pytest.mark.parametrize('argv, word', [
    (['cells=compressive'], 'cells'), (['cells=compressive:64:48:5'], 'rate must divide'), (['cells=transformer_xl:x'], 'cells'),
    (['rate=1.5'], 'rate'), (['distances=32,64'], 'distances'), (['margin=0'], 'margin'),
    (['cells=transformer_xl:64~spread'], "only recipe after ~ is 'log'"), (['cells=transformer_xl:64@x~log'], 'whole number'),
])
def test_bad_settings_name_the_setting(argv, word):
    with pytest.raises((ValueError, SystemExit), match=word):
        parse_settings(echo.Settings, argv)


def test_every_run_reads_the_same_held_out_streams():
    runs = echo.plan(echo.Settings())
    a, b = (echo.held_out(r.settings) for r in runs[:2])
    assert a.echoes == b.echoes and (a.chars == b.chars).all()
    # At rate 0.5 a source falls inside an earlier echo often enough that some draws are given
    # up: the measured share, which the page prints, is lower than the rate asked for.
    assert 0.35 < a.echo_fraction() < 0.5


def _other(tmp_path, cell, copies_to, seeds=(0, 1, 2)):
    """Fake records of another cell (an architecture named alone by default): it copies (gain
    0.8) up to `copies_to`."""
    import json
    one = json.loads((tmp_path / 'echo' / 'records' / 'transformer_xl_m64_seed0.json').read_text())
    for seed in seeds:
        rng = random.Random(f'{cell}{seed}')
        gains = {d: {**g, 'gain': (0.8 if int(d) <= copies_to else 0.0) + rng.gauss(0, 0.002)}
                 for d, g in one['gains'].items()}
        key = echo.key_of(cell, seed)
        (tmp_path / 'echo' / 'records' / f'{key}.json').write_text(json.dumps(
            {**{k: v for k, v in one.items() if k != 'eval_mem_len'}, 'key': key, 'mem_len': echo.mem_of(cell),
             'cell': cell, 'seed': seed, 'gains': gains, 'run': {**one['run'], 'cell': cell, 'seed': seed}}))
    return Records(tmp_path / 'echo')


def test_another_architecture_is_a_cell_by_its_name_judged_where_only_its_memory_reaches(tmp_path):
    # An architecture named alone runs at the shared sizes: its row and line join the page, the
    # control's verdicts keep their labels, and its paper's memory is judged at D = 512, past
    # every relay of four layers of M = 64 (the rule: 319).
    settings = parse_settings(echo.Settings, ['cells=transformer_xl:64,infini_attention@2000'])
    assert echo.plan(settings)[1].key == 'infini_attention_seed0' and echo.plan(settings)[1].settings['steps'] == 2000
    with pytest.raises((ValueError, SystemExit), match='nor one of infini_attention'):
        parse_settings(echo.Settings, ['cells=infini_attention:64'])
    before = echo.verdicts(echo.load(_records(tmp_path, lambda mem: mem + 1)), 0.1)
    records = _other(tmp_path, 'infini_attention', copies_to=0)
    found = echo.verdicts(echo.load(records), 0.1)
    assert set(before) < set(found) and set(found) - set(before) == {'infini_attention at D = 512'}
    assert found['infini_attention at D = 512'].verdict == 'tie'
    text = render(echo.report(records, tmp_path)['echo.md'], 'echo.md')
    assert '| infini_attention <small>(1,200 steps; shared sizes)</small> |' in text
    line = next(line for line in text.splitlines() if line.startswith('* **infini_attention**'))
    # Without a control a tie cannot refute: nothing copied and nothing learned look alike.
    assert 'no cache' in line and 'the claim **not resolved (no passing positive control)**' in line
    assert 'in-window control' not in line   # no distance of the grid is inside its segment


@pytest.mark.parametrize('copies_to, control, claim', [
    (1024, 'ahead', 'reproduced'),                      # a kNN table that copies as far as it holds
    (64, 'ahead', 'refuted at this size and training'),  # copies in its cache, not from its table
    (0, 'tie', 'not resolved (no passing positive control)'),  # copies nothing: the control fails
])
def test_a_paper_memory_is_judged_in_window_and_where_only_it_reaches(tmp_path, copies_to, control, claim):
    _records(tmp_path, lambda mem: mem + 1)
    records = _other(tmp_path, 'memorizing_transformer', copies_to)
    found = echo.verdicts(echo.load(records), 0.1)
    assert found['memorizing_transformer at D = 64'].verdict == control
    text = render(echo.report(records, tmp_path)['echo.md'], 'echo.md')
    line = next(line for line in text.splitlines() if line.startswith('* **memorizing_transformer**'))
    assert f'the claim **{claim}**' in line and line.count('⚠') == (control != 'ahead')
    short = 'not read for want of a passing positive control' if claim == echo.NO_CONTROL else claim
    assert f"1 {short}, of 1" in text


def test_the_memory_depth_claim_is_a_tie_with_every_layer_long(tmp_path):
    # One long layer that copies as the four-long model does at D = 64 reproduces the claim;
    # one that does not copy there refutes it (and fails its in-window control).
    for copies_to, word in ((64, 'reproduced'), (0, 'refuted at this size and training')):
        _records(tmp_path, lambda mem: mem + 1)
        records = _other(tmp_path, 'memory_depth', copies_to)
        found = echo.verdicts(echo.load(records), 0.1)
        label = 'memory_depth (one layer of 64) against transformer_xl:64 (four), at D = 64'
        assert echo.claim_word(found[label].verdict, 'tie') == word
        assert 'memory_depth at D = 512' not in found


def test_the_compression_page_carries_the_echo_verdicts(tmp_path):
    # The compression study's section reads the echo page's verdicts (same Holm family) and
    # names the claims; without echo records there is no section.
    assert echo.compression_section(tmp_path / 'nowhere', 'echo.md') == ([], [])
    records = _records(tmp_path, lambda mem: mem + 1)
    lines, claims = echo.compression_section(tmp_path, 'echo.md')
    found = echo.verdicts(echo.load(records), 0.1)
    text = '\n'.join(lines)
    assert found['compressive:64:48:4 against its compressed memory removed, at D = 256'].text(3) in text
    assert f"across its {len(found)} comparisons" in text and '⚠' not in text
    assert dict(claims) == {'the compressed slots carry what the verbatim memory has dropped': 'reproduced',
                            'compressing beats remembering at equal attention cost': 'reproduced'}
    # Slots that carry nothing while the equal-span model copies: the premise refuted.
    import json
    for i, path in enumerate(sorted((tmp_path / 'echo' / 'records').glob('compressive_*.json'))):
        record = json.loads(path.read_text())
        record['gains']['256']['gain'] = 0.001 * i
        path.write_text(json.dumps(record))
    lines, claims = echo.compression_section(tmp_path, 'echo.md')
    assert dict(claims)['the compressed slots carry what the verbatim memory has dropped'] == \
        'refuted at this size and training'
    # An equal-span model that copies nothing fails the control: no claim is read, and the
    # section says the tie may be a copy not yet learned.
    _records(tmp_path, lambda mem: min(mem, 112) + 1)
    lines, claims = echo.compression_section(tmp_path, 'echo.md')
    assert set(dict(claims).values()) == {'not resolved (no passing positive control)'}
    assert any('⚠: the control does not pass yet' in line for line in lines)


def test_the_context_page_carries_how_far_each_memory_copies(tmp_path):
    assert echo.context_section(tmp_path / 'nowhere', '../echo.md') == []
    records = _records(tmp_path, lambda mem: mem + 1)
    found = echo.verdicts(echo.load(records), 0.1)
    text = '\n'.join(echo.context_section(tmp_path, '../echo.md'))
    # Every cell's gains by distance, its judged distances, the equal-span pair and the
    # longer evaluation memories, with the echo page's own intervals.
    line = next(line for line in text.splitlines() if line.startswith('| transformer_xl:64 <small>(3 seeds)</small> | +0.80 | '))
    assert line.count('|') == 8
    assert 'transformer_xl:64 D = 64 ahead, D = 512 tie;' in text
    label = 'compressive:64:48:4 against transformer_xl:256 (equal span), at D = 256'
    assert f"**At equal span**, {label}: {found[label].text(3)}." in text
    assert found['transformer_xl:64 evaluated with M = 128, at D = 128'].text(3) in text


def test_a_claim_is_reproduced_refuted_or_not_resolved():
    assert echo.claim_word('ahead', 'ahead') == 'reproduced' and echo.claim_word('tie', 'tie') == 'reproduced'
    assert echo.claim_word('tie', 'ahead') == 'refuted at this size and training'
    assert echo.claim_word('behind', 'tie') == 'refuted at this size and training'
    assert echo.claim_word('not resolved', 'ahead') == 'not resolved'
    assert echo.claim_word('ahead', 'ahead', controlled=False) == 'not resolved (no passing positive control)'


def test_a_control_given_more_seeds_is_compared_with_the_others_on_the_seeds_they_share(tmp_path):
    import json
    _records(tmp_path, lambda mem: mem + 1)
    folder = tmp_path / 'echo' / 'records'
    for seed in (3, 4):
        record = json.loads((folder / 'transformer_xl_m256_seed0.json').read_text())
        record.update(key=f'transformer_xl_m256_seed{seed}', seed=seed, run={**record['run'], 'seed': seed})
        (folder / f'transformer_xl_m256_seed{seed}.json').write_text(json.dumps(record))
    found = echo.verdicts(echo.load(Records(tmp_path / 'echo')), 0.1)
    assert found['transformer_xl:256 at D = 256'].seeds == 5
    assert found['compressive:64:48:4 against transformer_xl:256 (equal span), at D = 256'].seeds == 3


def test_the_page_names_the_cells_whose_seeds_were_added_after_a_first_reading(tmp_path):
    import json
    _records(tmp_path, lambda mem: mem + 1)
    page = '\n'.join(echo.report(Records(tmp_path / 'echo'), tmp_path)['echo.md'].body)
    assert 'Seeds beyond the first three' not in page
    folder = tmp_path / 'echo' / 'records'
    record = json.loads((folder / 'transformer_xl_m112_seed0.json').read_text())
    record.update(key='transformer_xl_m112_seed3', seed=3, run={**record['run'], 'seed': 3})
    (folder / 'transformer_xl_m112_seed3.json').write_text(json.dumps(record))
    page = '\n'.join(echo.report(Records(tmp_path / 'echo'), tmp_path)['echo.md'].body)
    line = next(x for x in page.splitlines() if 'Seeds beyond the first three' in x)
    assert '`transformer_xl:112`' in line and '`transformer_xl:256`' not in line


def test_the_memory_depth_page_carries_its_control_and_claim_from_the_echoes(tmp_path):
    assert echo.depth_section(tmp_path / 'nowhere', 'echo.md') == ([], [])
    _records(tmp_path, lambda mem: mem + 1)
    _other(tmp_path, 'transformer_xl:16', copies_to=17)
    records = _other(tmp_path, 'memory_depth', copies_to=64)
    found = echo.verdicts(echo.load(records), 0.1)
    assert found[echo.DEPTH_CONTROL].verdict == 'ahead'
    lines, claims = echo.depth_section(tmp_path, 'echo.md')
    assert dict(claims) == {'a few long layers suffice': 'reproduced'} and '⚠' not in '\n'.join(lines)
    # All short copying as far as all long: the control fails, and the claim is not read.
    _other(tmp_path, 'transformer_xl:16', copies_to=64)
    lines, claims = echo.depth_section(tmp_path, 'echo.md')
    assert dict(claims) == {'a few long layers suffice': echo.NO_CONTROL}
    assert any(line.startswith('* **Positive control**') and line.endswith('⚠.') for line in lines)


# `~log` is a recipe, not a cell: the run keeps its cell's key and steps, records the draw, and
# trains on log-uniform streams while it is scored on the grid like every other cell.
def test_a_log_cell_trains_on_spread_distances_and_keeps_its_key():
    runs = {r.key: r.settings for r in echo.plan(echo.Settings(cells=['transformer_xl:64', 'transformer_xl:256@3000~log'],
                                                              seeds=[0]))}
    assert runs['transformer_xl_m256_seed0']['cell'] == 'transformer_xl:256'
    assert runs['transformer_xl_m256_seed0']['steps'] == 3000
    assert runs['transformer_xl_m256_seed0']['train_draw'] == 'log_uniform'
    assert runs['transformer_xl_m64_seed0']['train_draw'] == 'grid'
    s = runs['transformer_xl_m256_seed0']
    assert echo.echo_settings(s, 0, s['train_draw']).draw == 'log_uniform'
    assert echo.held_out(s).settings.draw == 'grid'


def test_the_page_names_each_cells_training_draw_and_what_history_measured(tmp_path):
    import json
    _records(tmp_path, lambda mem: mem + 1)
    folder = tmp_path / 'echo' / 'records'
    path = folder / 'transformer_xl_m256_seed0.json'
    record = json.loads(path.read_text())
    history = tmp_path / 'echo' / 'history' / 'trial_log_uniform_at_3000_steps'
    history.mkdir(parents=True)
    (history / path.name).write_text(json.dumps(record))
    for seed in (0, 1, 2):
        p = folder / f'transformer_xl_m256_seed{seed}.json'
        r = json.loads(p.read_text())
        r['train_draw'] = 'log_uniform'
        p.write_text(json.dumps(r))
    page = '\n'.join(echo.report(Records(tmp_path / 'echo'), tmp_path)['echo.md'].body)
    row = next(x for x in page.splitlines() if x.startswith('| transformer_xl:256 '))
    assert '*D log-uniform*' in row
    assert '*D log-uniform*' not in next(x for x in page.splitlines() if x.startswith('| transformer_xl:64 '))
    line = next(x for x in page.splitlines() if x.startswith('    * transformer_xl:256'))
    assert f"D = 256: {record['gains']['256']['gain']:+.2f}" in line and '1 seed)' in line
    assert '`trial_log_uniform_at_3000_steps/`' in page


# Two cells compared after unequal training are flagged on the line that compares them, on the
# compression page and on the echo page alike.
def test_a_comparison_of_cells_trained_unequally_says_so(tmp_path):
    import json
    _records(tmp_path, lambda mem: mem + 1)
    text = '\n'.join(echo.compression_section(tmp_path, 'echo.md')[0])
    assert 'not a fair pairing' not in text
    for path in (tmp_path / 'echo' / 'records').glob('transformer_xl_m256_*.json'):
        record = json.loads(path.read_text())
        record['steps'] = 6000
        path.write_text(json.dumps(record))
    text = '\n'.join(echo.compression_section(tmp_path, 'echo.md')[0])
    line = next(x for x in text.splitlines() if x.startswith('* **Against `transformer_xl:256`**'))
    assert '⚠ trained 1,200 against 6,000 steps: not a fair pairing' in line
    assert 'not a fair pairing' not in next(x for x in text.splitlines() if 'transformer_xl:112' in x)
    page = '\n'.join(echo.report(Records(tmp_path / 'echo'), tmp_path)['echo.md'].body)
    assert 'equal span), at D = 256: ' in page and 'against 6,000 steps: not a fair pairing' in page
