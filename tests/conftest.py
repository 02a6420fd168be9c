import sys
from pathlib import Path

import pytest

# Let tests import helpers that live beside them (e.g. the Vqa test double).
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _shape(registry):
    return {tool.name: (tuple(tool.backends), tool.default_backend) for tool in registry}


@pytest.fixture(autouse=True)
def _default_registry_unchanged():
    """Tests add tools and backends to `registry.copy()`, never to the default registry."""
    import visprog.tools
    registry = visprog.tools.registry
    before = _shape(registry)
    yield
    after = _shape(registry)
    assert after == before, ("this test changed the default registry; add test tools and "
                             "backends to visprog.tools.registry.copy() instead")
