"""The default tool registry. Each module below declares its tools into `registry`."""

from ..registry import Registry

registry = Registry()

from . import logic, crops, edits, vision  # noqa: E402,F401  (importing registers the tools)
