"""Every plot of every results page, redrawn from the committed records and read back as
matplotlib drew it: series told apart by colour and marker, legends under the axes, axes that
are not linear saying so, small multiples rather than a tangle of long curves, an opaque white
ground (the site shows it as a light card in the dark scheme), and no wider than the content
column."""
import re
import shutil
from pathlib import Path

import pytest

from labml_memory.studies import STUDY_MODULES, by_name
from labml_memory.studies.runner import report

RESULTS = Path(__file__).resolve().parents[1] / 'docs' / 'results'
STUDIES = [n for n in STUDY_MODULES if list((RESULTS / n / 'records').glob('*.json'))]


def _drawn(name, tmp_path, monkeypatch):
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib.figure import Figure
    shutil.copytree(RESULTS / name, tmp_path / name, ignore=shutil.ignore_patterns('*.png'))
    drawn = []
    real = Figure.savefig

    def keep(fig, path, *args, **kwargs):
        fig.canvas.draw()
        drawn.append((fig, Path(path), kwargs, _look(fig)))
        return real(fig, path, *args, **kwargs)
    monkeypatch.setattr(Figure, 'savefig', keep)
    report(by_name(name), tmp_path)
    return drawn


# What a reader sees of one figure, taken while it is still open.
def _look(fig):
    from matplotlib.container import ErrorbarContainer
    renderer = fig.canvas.get_renderer()
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != '<colorbar>' and ax.has_data()]
    out = {'width': fig.get_size_inches()[0], 'axes': [], 'legends': [],
           'texts': [t.get_text() for t in fig.findobj(lambda o: hasattr(o, 'get_text'))]}
    lowest = min((ax.get_window_extent(renderer).y0 for ax in axes), default=0)
    for legend in fig.legends:
        box = legend.get_window_extent(renderer)
        out['legends'].append((box.y1, lowest, box.x0, box.x1, fig.bbox.width))
    for ax in axes:
        series = [(line.get_label(), line.get_color(), line.get_marker(), len(line.get_xdata()))
                  for line in ax.get_lines() if not line.get_label().startswith('_')]
        series += [(c.get_label(), c.lines[0].get_color(), c.lines[0].get_marker(), len(c.lines[0].get_xdata()))
                   for c in ax.containers if isinstance(c, ErrorbarContainer) and not c.get_label().startswith('_')]
        long = [line for line in ax.get_lines() if len(line.get_xdata()) > 20 and line.get_linewidth() > 0.7]
        legend = ax.get_legend()
        if legend is not None:
            box = legend.get_window_extent(renderer)
            out['legends'].append((box.y1, ax.get_window_extent(renderer).y0, box.x0, box.x1, fig.bbox.width))
        out['axes'].append({'series': series, 'long': len(long), 'xscale': ax.get_xscale(),
                            'yscale': ax.get_yscale(), 'xlabel': ax.get_xlabel(), 'ylabel': ax.get_ylabel(),
                            'ticks': [t.get_text() for t in ax.get_xticklabels()]})
    return out


@pytest.mark.parametrize('name', STUDIES)
def test_every_plot_reads_on_any_screen(name, tmp_path, monkeypatch):
    from PIL import Image
    drawn = _drawn(name, tmp_path, monkeypatch)
    assert drawn, name
    for fig, path, kwargs, look in drawn:
        where = f'{name}: {path.name}'
        # An opaque white ground, and no wider than the content column.
        assert kwargs.get('facecolor') == 'white' and not kwargs.get('transparent'), where
        corner = Image.open(path).convert('RGBA').getpixel((0, 0))
        assert corner == (255, 255, 255, 255), (where, corner)
        assert look['width'] <= 9.0 + 1e-6, (where, look['width'])
        for ax in look['axes']:
            # Every named series has a marker, and no two in one panel share colour and marker.
            for label, colour, marker, points in ax['series']:
                if points > 2:
                    assert marker not in ('None', '', None, ' '), (where, label)
            pairs = [(str(c), m) for _, c, m, p in ax['series'] if p > 2]
            assert len(pairs) == len(set(pairs)), (where, ax['series'])
            # Long curves (learning curves) come a few to a panel: small multiples.
            assert ax['long'] <= 4, (where, ax['long'])
        # A legend sits under its axes (under all of them, for one legend of the figure) and
        # inside the figure.
        for top, bottom, left, right, width in look['legends']:
            assert top <= bottom + 1, (where, top, bottom)
            assert left >= -1 and right <= width + 1, (where, left, right, width)
        # An axis that is not linear says so in a label of the figure.
        labels = ' '.join(a['xlabel'] + ' ' + a['ylabel'] for a in look['axes'])
        if any(a['xscale'] != 'linear' or a['yscale'] != 'linear' for a in look['axes']):
            assert 'log scale' in labels, (where, labels)


def test_grid_values_spaced_evenly_say_so(tmp_path, monkeypatch):
    # The reach plots space the gaps 0, 1, 2, 4, 8, 16, 64 evenly; the context plot its
    # histories 0, 1, 2, 4, 8, all.
    for name, figures in (('memory_reach', ('accuracy_by_gap.png', 'heatmap.png')), ('quality', ('context.png',))):
        drawn = {path.name: look for _, path, _, look in _drawn(name, tmp_path / name, monkeypatch)}
        for figure in figures:
            labels = ' '.join(a['xlabel'] for a in drawn[figure]['axes'])
            assert 'not to scale' in labels, (figure, labels)


def test_the_bucket_plot_names_the_buckets_as_the_table_does(tmp_path, monkeypatch):
    drawn = {path.name: look for _, path, _, look in _drawn('compressive', tmp_path, monkeypatch)}
    look = drawn['attention_buckets.png']
    page = (tmp_path / 'compressive' / 'attention_buckets.md').read_text()
    for part in ('cmem', 'mem', 'seq'):
        assert any(t.startswith(part) for t in look['texts']), part
        assert f'| {part} 1: ' in page
    ticks = [t for a in look['axes'] for t in a['ticks']]
    assert not [t for t in ticks if re.fullmatch(r'[cms]\d', t)], ticks
