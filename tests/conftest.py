import pytest
import torch

# The documentation site's fixtures (one build, one server, one Chromium for the whole
# session), registered once here so that every tests/test_site_*.py shares them.
pytest_plugins = ["site_fixtures"]


@pytest.fixture(autouse=True)
def _deterministic():
    # Every test starts from the same random state, so a failure reproduces.
    torch.manual_seed(0)
    yield
