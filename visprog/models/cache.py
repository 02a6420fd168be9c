"""The process-wide cache of loaded models: each key's factory runs once, thread-safely."""

from __future__ import annotations

import threading
from typing import Callable

_loaded: dict[tuple, object] = {}
_lock = threading.RLock()


def shared(key: tuple, factory: Callable[[], object]):
    """`factory()` once per process and key: the one cache of loaded models, the in-repo ones
    (`visprog.models.load`) and the real pretrained ones the backends build."""
    with _lock:
        if key not in _loaded:
            _loaded[key] = factory()
        return _loaded[key]
