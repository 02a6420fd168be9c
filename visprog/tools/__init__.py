"""The default tool registry. Each module below declares its tools into `registry`;
`visprog.backends` then attaches the model backends (imported lazily on first use)."""

from ..registry import Registry

registry = Registry()

from . import logic, crops, edits, vision  # noqa: E402,F401  (importing registers the tools)
from .. import backends  # noqa: E402,F401  (importing attaches the model and oracle backends)
