"""Every architecture's notebook is in step with the code and runs from top to bottom."""
import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).parent.parent / 'experiments' / 'notebooks'


def load_builder():
    spec = importlib.util.spec_from_file_location('notebook_builder', NOTEBOOKS / 'build.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stored_notebooks_equal_the_generated_ones():
    builder = load_builder()
    for package, spec in builder.NOTEBOOKS.items():
        path = NOTEBOOKS / f'{package}.ipynb'
        assert path.is_file(), f"missing {path}; run python experiments/notebooks/build.py"
        assert path.read_text() == builder.render(package, spec), \
            f"{path.name} is stale; run python experiments/notebooks/build.py"
        stored = nbformat.read(path, as_version=4)
        assert all(not cell.get('outputs') for cell in stored.cells if cell.cell_type == 'code')


def test_every_architecture_has_a_notebook():
    # An architecture package is a folder with an experiment; each one gets a notebook.
    root = Path(__file__).parent.parent / 'labml_memory'
    packages = {p.parent.name for p in root.glob('*/experiment.py')}
    missing = packages - set(load_builder().NOTEBOOKS)
    assert not missing, f"architectures without a notebook: {sorted(missing)}"


def test_the_kernel_is_this_environment(tmp_path):
    # The notebooks must run in the environment under test, never in a kernel some other Python
    # registered on the machine (that is how a broken install hid behind a green CI). A missing
    # kernel is a failure, not a skip: ipykernel is a test dependency.
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    try:
        KernelSpecManager().get_kernel_spec('python3')
    except NoSuchKernel as error:  # pragma: no cover - only on a broken install
        pytest.fail(f"no 'python3' Jupyter kernel in this environment ({sys.prefix}): {error}")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('import sys; print(sys.prefix)')])
    NotebookClient(nb, timeout=120, kernel_name='python3', resources={'metadata': {'path': str(tmp_path)}}).execute()
    assert nb.cells[0].outputs[0]['text'].strip() == sys.prefix


@pytest.mark.parametrize('package', sorted(load_builder().NOTEBOOKS))
def test_notebook_runs_headlessly(package, tmp_path, monkeypatch):
    monkeypatch.setenv('LABML_MEMORY_NOTEBOOK_TINY', '1')
    monkeypatch.setenv('LABML_MEMORY_NOTEBOOK_LOGS', str(tmp_path / 'logs'))
    monkeypatch.setenv('MPLBACKEND', 'Agg')
    nb = nbformat.read(NOTEBOOKS / f'{package}.ipynb', as_version=4)
    NotebookClient(nb, timeout=300, kernel_name='python3', resources={'metadata': {'path': str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == 'code' for o in cell.get('outputs', [])]
    assert not [o for o in outputs if o.get('output_type') == 'error']
    assert any('validation loss' in o.get('text', '') for o in outputs)
