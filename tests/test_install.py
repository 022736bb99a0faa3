"""The install a new user follows: the labml/IPython compatibility layer, the constraints file, and
CI running exactly the README's test command."""
import re
import sys
import tomllib
from pathlib import Path

import pytest

from labml_memory.training.labml_compat import restore_ipython_display_alias

ROOT = Path(__file__).parent.parent


# ## labml under a current IPython

def test_alias_is_restored_when_ipython_lacks_it(monkeypatch):
    import IPython.core.display as core_display
    from IPython.display import display as public_display
    # Stand in for IPython 9, whose core.display has no `display` (present or not in the installed one).
    monkeypatch.delattr(core_display, 'display', raising=False)
    assert restore_ipython_display_alias() is True
    from IPython.core.display import display  # the line labml runs
    assert display is public_display
    # A second call finds the alias and changes nothing.
    assert restore_ipython_display_alias() is False


def test_labml_notebook_writer_imports_once_the_alias_is_back(monkeypatch):
    import IPython.core.display as core_display
    monkeypatch.delattr(core_display, 'display', raising=False)
    monkeypatch.delitem(sys.modules, 'labml.internal.logger.destinations.ipynb', raising=False)
    with pytest.raises(ImportError, match='display'):
        import labml.internal.logger.destinations.ipynb  # noqa: F401  (what a user saw)
    monkeypatch.delitem(sys.modules, 'labml.internal.logger.destinations.ipynb', raising=False)
    restore_ipython_display_alias()
    import labml.internal.logger.destinations.ipynb as writer
    assert writer.IpynbDestination


def test_alias_left_alone_where_it_exists_and_without_ipython(monkeypatch):
    import IPython.core.display as core_display
    sentinel = object()
    monkeypatch.setattr(core_display, 'display', sentinel, raising=False)
    assert restore_ipython_display_alias() is False
    assert core_display.display is sentinel  # Colab's older IPython keeps its own
    monkeypatch.delitem(sys.modules, 'IPython')
    assert restore_ipython_display_alias() is False


# ## Exact versions for CI, ranges for users

def _name(requirement: str) -> str:
    return re.split(r'[\s\[<>=!~;]', requirement.strip(), maxsplit=1)[0].lower().replace('_', '-')


def test_constraints_pin_every_test_dependency_exactly():
    project = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']
    extras = project['optional-dependencies']
    wanted = {_name(r) for r in project['dependencies']}
    pending = list(extras['test'])
    while pending:  # follow self-references such as labml-memory[docs]
        requirement = pending.pop()
        inner = re.fullmatch(r'labml-memory\[(.+)\]', requirement.strip())
        if inner:
            pending += [r for extra in inner.group(1).split(',') for r in extras[extra.strip()]]
        else:
            wanted.add(_name(requirement))
    lines = [line for line in (ROOT / 'constraints.txt').read_text().splitlines()
             if line.strip() and not line.startswith('#')]
    pins = {}
    for line in lines:
        assert re.fullmatch(r'[A-Za-z0-9_.\-]+==[A-Za-z0-9_.!+\-]+', line), f"not an exact pin: {line!r}"
        name, version = line.split('==')
        pins[name.lower().replace('_', '-')] = version
    missing = wanted - set(pins)
    assert not missing, f"constraints.txt pins none of {sorted(missing)}; run bash .ci/refresh-constraints"
    assert pins['torch'] == '2.13.0'
    # Users get ranges, never pins, in pyproject.toml.
    for requirement in project['dependencies'] + [r for rs in extras.values() for r in rs]:
        assert '==' not in requirement, f"pyproject.toml pins {requirement!r}; pins belong in constraints.txt"


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / 'README.md').read_text()
    blocks = re.findall(r'```bash\n(.*?)```', readme, flags=re.S)
    test_line = next(b.strip() for b in blocks[:2] if 'pytest' in b)
    steps = [s.strip() for s in test_line.split('&&')]
    ci = (ROOT / '.ci' / 'run').read_text()
    ci_lines = [line.strip() for line in ci.splitlines()]
    # Chromium is installed only where it is missing; every other step runs as written, in order.
    python_steps = [s for s in steps if not s.startswith('apt-get')]
    positions = [ci_lines.index(s) if s in ci_lines else -1 for s in python_steps]
    assert -1 not in positions, f"steps of the README's test command absent from .ci/run: " \
        f"{[s for s, p in zip(python_steps, positions) if p < 0]}"
    assert positions == sorted(positions)
    assert 'apt-get install -y chromium' in test_line and 'apt-get install -y' in ci and 'chromium' in ci
    assert python_steps[0].startswith('python -m venv') and '-c constraints.txt' in test_line
    assert 'rm -rf .venv' in ci  # a fresh environment every run
