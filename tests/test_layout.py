"""The layout page is drawn from the code, and no import runs back up a floor."""
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location('layout_tool', ROOT / 'tools' / 'layout.py')
layout = importlib.util.module_from_spec(spec)
sys.modules['layout_tool'] = layout
spec.loader.exec_module(layout)


def test_no_import_runs_back_up_a_floor():
    assert layout.upward(layout.imports()) == []


def test_the_committed_drawing_is_the_code_s():
    edges = layout.imports()
    assert (ROOT / 'docs' / 'layout.md').read_text() == layout.page(edges)
    assert (ROOT / 'docs' / 'assets' / 'layout.svg').read_text() == layout.svg(edges)


def test_floors_by_name_and_an_upward_import_is_caught():
    assert [layout.floor_of(u) for u in ('data', 'attention', 'protocol', 'compressive', 'tasks', 'training',
                                         'compressive.analysis', 'transformer_xl.experiment', 'benchmark',
                                         'studies', 'labml_memory')] == [0, 1, 1, 2, 2, 3, 4, 4, 4, 5, 6]
    # Inside a shared folder a module's name does not move it: tasks' recall is a task.
    assert layout.unit_of('labml_memory.tasks.recall') == 'tasks'
    assert layout.unit_of('labml_memory.memorizing_transformer.recall') == 'memorizing_transformer.recall'
    edges = {'data': {'training'}, 'training': {'data'}, 'studies': {'compressive.analysis'},
             'compressive.analysis': set()}
    assert layout.upward(edges) == [('data', 'training')]
    assert 'stroke="#d32f2f"' in layout.svg(edges)
