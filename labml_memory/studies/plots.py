r"""
# How the results plots are drawn

Every plot on a results page follows the same few rules, so that it reads the same way on a
wide screen, on a phone and in the dark scheme:

* **Every series differs in colour and in marker** (`SERIES`): no two look alike in grey, in
  print, or to a reader who cannot tell the colours apart.
* **The legend sits under the axes**, across the width (`legend_below`): beside the axes it is
  the first thing a phone cuts off, and inside them it covers a curve.
* **An axis that is not linear says so in its label**: a log scale says "log scale", and grid
  values drawn evenly spaced although they are not evenly apart say "not to scale".
* **Many curves become small multiples**: one panel per model on shared axes, with the
  reference drawn in grey in every panel, rather than a dozen lines on one.
* **An opaque white ground** (`save`). The colours and the viridis scale are chosen for a light
  ground, and a PNG cannot follow the page's scheme, so a plot keeps its white ground and the
  site's stylesheet shows it on the dark scheme as a light card (docs/assets/literate.css).
  A transparent plot would put black lettering on a dark page, and inverting it would turn
  the colour scales inside out.
* **Figures no wider than the content column**: about 9 inches at 110 dpi, which a phone
  scales to its width (a tap opens it full size).
"""
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

# Ten colours of matplotlib's `tab10` cycle, then four that are none of them, each with a
# marker of its own: the pair is unique whatever the number of series up to fourteen.
COLOURS = [f'C{i}' for i in range(10)] + ['black', 'navy', 'olive', 'maroon']
MARKERS = 'osD^v<>pP*XhH8'
# The reference drawn in every panel of a small multiple, and a floor or a window line.
GREY = '0.55'

LOG = 'log scale'
NOT_TO_SCALE = 'evenly spaced, not to scale'


def pyplot():
    """matplotlib's pyplot on the file backend, with the site's type sizes."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    plt.rcParams.update({'font.size': 9, 'axes.titlesize': 9.5, 'axes.labelsize': 9,
                         'xtick.labelsize': 8, 'ytick.labelsize': 8, 'legend.fontsize': 8,
                         'figure.facecolor': 'white', 'savefig.facecolor': 'white'})
    return plt


def series(i: int) -> Dict[str, Any]:
    """Colour and marker of the `i`-th series."""
    return {'color': COLOURS[i % len(COLOURS)], 'marker': MARKERS[i % len(MARKERS)]}


# One legend for the whole figure, under every panel, naming each label once (a series drawn
# in several panels is one entry). The figure must use the constrained layout, which makes
# room for it.
def legend_below(fig, ncol: Optional[int] = None, handles: Optional[Sequence] = None,
                 labels: Optional[Sequence[str]] = None) -> None:
    if handles is None:
        found: Dict[str, Any] = {}
        for ax in fig.axes:
            for handle, label in zip(*ax.get_legend_handles_labels()):
                found.setdefault(label, handle)
        handles, labels = list(found.values()), list(found)
    elif labels is None:
        labels = [h.get_label() for h in handles]
    if not handles:
        return
    ncol = ncol or min(len(handles), 3)
    fig.legend(handles, labels, loc='outside lower center', ncol=ncol, frameon=False)


# A legend under one panel of several, for panels whose series differ (one per paper): below
# its tick labels and its x label where it has them (call it after `label_grid`).
def legend_under(ax, ncol: int = 2) -> None:
    ticks = any(t.get_visible() and t.get_text() for t in ax.get_xticklabels()) or \
        ax.xaxis.get_tick_params().get('labelbottom', False)
    below = 0.04 + (0.12 if ticks else 0) + (0.12 if ax.get_xlabel() else 0)
    ax.legend(loc='upper center', bbox_to_anchor=(0.5, -below), ncol=ncol, frameon=False)


def save(fig, path: Path, dpi: int = 110) -> None:
    plt = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, facecolor='white', transparent=False)
    plt.close(fig)


# The panels of a small multiple, `n` of them in rows of `columns`, the unused ones hidden.
def grid(plt, n: int, columns: int, width: float = 9.0, row_height: float = 2.1, **kwargs) -> List:
    rows = (n + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(width, row_height * rows + 0.8), squeeze=False,
                             layout='constrained', **kwargs)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return [fig, list(axes.flat[:n]), axes]


# The labels of a small multiple: the x label under the bottom panel of each column (a panel
# above an empty place is the bottom of its column, and gets its tick labels back), the y
# label beside the first panel of each row.
def label_grid(axes: Sequence, columns: int, xlabel: str, ylabel: str) -> None:
    n = len(axes)
    for i, ax in enumerate(axes):
        if i + columns >= n:
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel(xlabel)
        if i % columns == 0:
            ax.set_ylabel(ylabel)
