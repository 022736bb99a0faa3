r"""
# labml in a current Jupyter

labml 0.5.3, the newest release, writes its progress into a notebook through
`labml/internal/logger/destinations/ipynb.py`, whose first import is

    from IPython.core.display import display, HTML

`display` has lived in `IPython.core.display_functions` since IPython 7.23; the old name
was kept as a deprecated alias (warning since 7.14) and is gone from current IPython 9
releases (seen with 9.18.1). So under a current IPython the first line labml writes in a
notebook raises `ImportError: cannot import name 'display'`, and no notebook of ours could
train. Colab still ships an older IPython, where the alias exists.

What we do: before labml needs it, put the alias back on `IPython.core.display`, pointing at
the function IPython itself exports today. Nothing else is touched, and nothing happens
where the alias still exists (Colab, IPython 8) or where IPython was never imported.

**When this can go.** When a labml release imports `display` from `IPython.display` (the
public module, which has exported it for years). Then raise the lower bound of `labml` in
`pyproject.toml` to that release and delete this module and its one call in the trainer;
`tests/test_training.py::test_labml_compat_*` and the notebook tests say whether it still
matters.
"""

import sys


def restore_ipython_display_alias() -> bool:
    """Give `IPython.core.display` back its `display` name if a current IPython lacks it.

    Returns whether the alias was added (False when it was already there, or when IPython is not
    loaded). Safe to call any number of times.
    """
    # labml only takes its notebook path when `get_ipython` exists, that is inside a running
    # IPython, which has imported the package already. Outside one there is nothing to mend, and
    # importing IPython here would only cost start-up time.
    if 'IPython' not in sys.modules:
        return False
    import IPython.core.display as core_display
    if hasattr(core_display, 'display'):
        return False
    from IPython.core.display_functions import display
    core_display.display = display
    return True
