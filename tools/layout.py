r"""
The package's floors and the imports between them, drawn from the code itself.

    python tools/layout.py            # rewrite docs/layout.md and docs/assets/layout.svg
    python tools/layout.py --check    # fail, naming each import that runs back up a floor

Every module of `labml_memory/` stands on one floor. A module may import from its own floor
or from floors below it, never from a floor above: the data knows nothing of the trainer, the
models nothing of the studies that measure them. The floors are named by rule (below), so a new
module finds its floor by its name; the imports are read from the source with `ast`, so the
drawing cannot drift from the code. `tests/test_layout.py` holds both to the committed page.
"""
import ast
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Set, Tuple

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / 'labml_memory'

# Bottom to top. Each floor: its name, what it holds, and the test a unit passes to be on it.
BLOCKS = {'attention', 'embedding', 'feed_forward', 'positional', 'residual', 'protocol'}
# Modules inside an architecture's folder that use the trainer or the data rather than build
# the model: they stand with the experiments.
TOOLS = {'experiment', 'analysis', 'figures', 'recall', 'benchmark'}
# Folders that are not an architecture's: their modules stand on the folder's floor.
SHARED = {'data', 'tasks', 'training', 'benchmark', 'studies'}
FLOORS = [
    ('data', 'the text every experiment reads'),
    ('building blocks', 'attention, positions, the protocol every model follows'),
    ('models and tasks', 'one folder per architecture; task generators and samplers'),
    ('training', 'the labml-tracked trainer, configuration, checkpoints'),
    ('experiments and tools', "each architecture's experiment, the benchmark, model-side analyses"),
    ('studies', 'settings, plans, records and the results pages'),
    ('landing page', 'the family, in words'),
]


def unit_of(module: str) -> str:
    """`labml_memory.compressive.analysis` → `compressive.analysis`; a model's own modules → its folder."""
    parts = module.split('.')[1:]
    if not parts:
        return 'labml_memory'
    if len(parts) > 1 and parts[1] in TOOLS and parts[0] not in SHARED:
        return f'{parts[0]}.{parts[1]}'
    return parts[0]


def floor_of(unit: str) -> int:
    head = unit.split('.')[0]
    if unit == 'labml_memory':
        return 6
    if head == 'data':
        return 0
    if head in BLOCKS:
        return 1
    if head == 'training':
        return 3
    if head == 'studies':
        return 5
    if head == 'benchmark' or '.' in unit:
        return 4
    return 2


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts = parts[:-1]
    return '.'.join(parts)


def _resolve(name: str) -> str:
    # `from labml_memory.data.shakespeare import load_text` names a function: walk back to
    # the longest prefix that is a module or a package.
    parts = name.split('.')
    while len(parts) > 1 and not ((ROOT.joinpath(*parts).with_suffix('.py')).exists()
                                  or (ROOT.joinpath(*parts) / '__init__.py').exists()):
        parts = parts[:-1]
    return '.'.join(parts)


def imports() -> Dict[str, Set[str]]:
    """Every static import between units, module-level or inside a function."""
    edges: Dict[str, Set[str]] = defaultdict(set)
    for path in sorted(PACKAGE.rglob('*.py')):
        source = unit_of(_module_name(path))
        edges.setdefault(source, set())
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: List[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith('labml_memory'):
                names = [f'{node.module}.{a.name}' for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith('labml_memory')]
            for name in names:
                target = unit_of(_resolve(name))
                # The package itself (`import labml_memory`, to walk its folders) is what every
                # import loads first: the landing page's module imports nothing, so it is no arrow.
                if target != source and target != 'labml_memory':
                    edges[source].add(target)
    return edges


def upward(edges: Dict[str, Set[str]]) -> List[Tuple[str, str]]:
    return sorted((a, b) for a, targets in edges.items() for b in targets if floor_of(b) > floor_of(a))


# ## The drawing
#
# One band per floor, bottom floor at the bottom, a box per unit; each import a thin line from
# the importing box down to the imported one (a line inside one floor is drawn as an arc above).
def svg(edges: Dict[str, Set[str]]) -> str:
    by_floor: Dict[int, List[str]] = defaultdict(list)
    for unit in sorted(edges):
        by_floor[floor_of(unit)].append(unit)
    width, band, box_h, label_w = 1180, 78, 30, 150
    height = band * len(FLOORS) + 10
    place: Dict[str, Tuple[float, float, float]] = {}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'font-family="sans-serif" font-size="11">']
    for floor, (name, what) in enumerate(FLOORS):
        y = height - 10 - band * (floor + 1)
        out.append(f'<rect x="0" y="{y}" width="{width}" height="{band - 6}" rx="6" '
                   f'fill="{"#3f51b5" if floor % 2 else "#7986cb"}" fill-opacity="0.10"/>')
        out.append(f'<text x="10" y="{y + 22}" font-weight="bold" fill="currentColor">{floor}. {name}</text>')
        units = by_floor.get(floor, [])
        step = (width - label_w - 10) / max(len(units), 1)
        for i, unit in enumerate(units):
            x = label_w + i * step
            w = min(step - 6, 150)
            place[unit] = (x + w / 2, y + 30, w)
            out.append(f'<rect x="{x:.1f}" y="{y + 30 - box_h / 2}" width="{w:.1f}" height="{box_h}" rx="4" '
                       f'fill="#3f51b5" fill-opacity="0.25" stroke="#3f51b5"/>')
            # A tool inside an architecture's folder: the folder above, the module below.
            if '.' in unit:
                folder, module = unit.split('.')
                if len(folder) * 5.2 > w:      # memorizing_transformer → memorizing
                    folder = folder.split('_')[0]
                out.append(f'<text x="{x + w / 2:.1f}" y="{y + 28}" text-anchor="middle" font-size="9" '
                           f'fill="currentColor">{folder}</text>')
                out.append(f'<text x="{x + w / 2:.1f}" y="{y + 39}" text-anchor="middle" font-size="9.5" '
                           f'font-weight="bold" fill="currentColor">{module}</text>')
            else:
                out.append(f'<text x="{x + w / 2:.1f}" y="{y + 34}" text-anchor="middle" '
                           f'fill="currentColor">{unit}</text>')
    for a in sorted(edges):
        for b in sorted(edges[a]):
            (xa, ya, _), (xb, yb, _) = place[a], place[b]
            if ya == yb:
                out.append(f'<path d="M{xa:.1f},{ya - 13} Q{(xa + xb) / 2:.1f},{ya - 34} {xb:.1f},{yb - 13}" '
                           f'fill="none" stroke="#888" stroke-width="0.7"/>')
            else:
                colour = '#d32f2f' if floor_of(b) > floor_of(a) else '#888'
                y0, y1 = (ya + 13, yb - 13) if ya < yb else (ya - 13, yb + 13)
                out.append(f'<line x1="{xa:.1f}" y1="{y0:.1f}" x2="{xb:.1f}" y2="{y1:.1f}" '
                           f'stroke="{colour}" stroke-width="0.7" stroke-opacity="0.8"/>')
    out.append('</svg>')
    return '\n'.join(out) + '\n'


def page(edges: Dict[str, Set[str]]) -> str:
    lines = ['# The layout: floors, and imports that only go down', '',
             '![every unit of the package on its floor, a line for each import](assets/layout.svg)', '',
             'Every module of `labml_memory/` stands on one floor, and imports only from its own floor '
             'or the floors below: the data knows nothing of the trainer, the models nothing of the '
             'studies that measure them. The drawing is made from the source by `python tools/layout.py` '
             '(each line an import read with `ast`; a red line would be one that runs back up a floor), '
             'and a test fails if the code and this page disagree or any import runs up.', '',
             '| floor | holds | units |', '|---|---|---|']
    for floor, (name, what) in enumerate(FLOORS):
        units = sorted(u for u in edges if floor_of(u) == floor)
        lines.append(f"| {floor}. {name} | {what} | {', '.join(f'`{u}`' for u in units)} |")
    up = upward(edges)
    lines += ['', f"Imports that run back up a floor: {len(up)}."
              + ''.join(f"\n* `{a}` → `{b}`" for a, b in up), '']
    return '\n'.join(lines)


def main(argv: List[str]) -> None:
    edges = imports()
    if '--check' in argv:
        up = upward(edges)
        if up:
            raise SystemExit('imports that run back up a floor: ' + ', '.join(f'{a} -> {b}' for a, b in up))
        return
    (ROOT / 'docs' / 'layout.md').write_text(page(edges))
    (ROOT / 'docs' / 'assets' / 'layout.svg').write_text(svg(edges))


if __name__ == '__main__':
    main(sys.argv[1:])
