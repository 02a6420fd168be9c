"""The default tool registry: the declarations of the modules below (with the builtin
implementations of the model-free tools), and every backend listed in `visprog.backends`.

It is built on first use (`default_registry()`, or the module attribute `registry`);
building it imports no model code: model backends are imported when a step first runs
them. Use `default_registry().copy()` for a registry of your own to add tools to.
"""

from __future__ import annotations

import functools

from ..registry import Registry


@functools.lru_cache(maxsize=None)
def default_registry() -> Registry:
    from .. import backends
    from . import crops, edits, logic, vision
    registry = Registry([*logic.TOOLS, *crops.TOOLS, *edits.TOOLS, *vision.TOOLS])
    backends.attach(registry)
    return registry


def __getattr__(name: str):
    if name == "registry":
        return default_registry()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
