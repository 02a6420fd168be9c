"""Where each in-repo model's weights live, and whether they are there; imports no model.

Weights live in `visprog/weights/<name>.safetensors` (model card `<name>.md`);
`VISPROG_WEIGHTS=<folder>` points elsewhere. The backends' policy asks `missing(name)`
before choosing a model backend, without loading anything.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

# name -> the `visprog train` command that writes its weights (None: not trained here)
TRAIN_COMMANDS: dict[str, Optional[str]] = {"clip": "clip", "detector": "detector", "llava": "vqa",
                                            "planner": "planner", "segmenter": "segmenter",
                                            "inpainter": "inpainter", "minilm": None}


def weights_path(name: str) -> str:
    """The weights file of model `name`: `<VISPROG_WEIGHTS or visprog/weights>/<name>.safetensors`."""
    folder = os.environ.get("VISPROG_WEIGHTS") or str(Path(__file__).resolve().parent.parent / "weights")
    return os.path.join(folder, f"{name}.safetensors")


_init_lock = threading.Lock()
_init_users = 0  # threads inside no_random_init: the first patches, the last restores
_init_saved: dict = {}


@contextmanager
def no_random_init() -> Iterator[None]:
    """Build a model whose weights are loaded next without drawing random initial weights
    first: torch.nn.init's functions do nothing inside (as transformers' `no_init_weights`);
    a cold start saves ~0.15 s. Not for models that keep any initial value. Safe when
    several threads load models at once (a per-thread save would restore another's patch).
    A library that records torch.nn.init's functions on import (diffusers, transformers)
    must be imported before, or it records these no-ops and restores them later."""
    global _init_users
    import torch.nn.init as init
    with _init_lock:
        if _init_users == 0:
            _init_saved.update({n: getattr(init, n) for n in dir(init)
                                if n.endswith("_") and not n.startswith("_")})
            for name in _init_saved:
                setattr(init, name, lambda tensor, *args, **kwargs: tensor)
        _init_users += 1
    try:
        yield
    finally:
        with _init_lock:
            _init_users -= 1
            if _init_users == 0:
                for name, fn in _init_saved.items():
                    setattr(init, name, fn)
                _init_saved.clear()


def check_name(name: str) -> None:
    if name not in TRAIN_COMMANDS:
        from ..errors import VisprogError
        raise VisprogError(f"unknown model {name!r}; known: {', '.join(TRAIN_COMMANDS)}")


def resolve(name: str, path: Optional[str]) -> Optional[str]:
    """The weights file `load` reads (None: the frozen MiniLM's packaged folder)."""
    if path is not None:
        return os.path.abspath(path)
    return None if TRAIN_COMMANDS[name] is None else weights_path(name)


def missing_file(name: str, path: Optional[str]) -> Optional[str]:
    """What is wrong with `path` as model `name`'s weights file (it is not there), else None."""
    if path is None or os.path.exists(path):
        return None
    return (f"no weights for model {name!r} at {path}; train them with "
            f"`visprog train {TRAIN_COMMANDS[name]} --seed 0` or set VISPROG_WEIGHTS to the folder "
            f"that holds {name}.safetensors")


def missing(name: str) -> Optional[str]:
    """What keeps model `name` from loading (its weights file is not there), else None."""
    check_name(name)
    return missing_file(name, resolve(name, None))


def available(name: str) -> bool:
    """Whether model `name`'s weights are there (the frozen MiniLM ships with its package)."""
    return missing(name) is None
