"""In-repo models, one file each, and `load(name)`: a small name -> factory table.

    clip = visprog.models.load("clip")          # CLIP: encode_image / encode_text
    detector = visprog.models.load("detector")  # Detector: detect(images, queries)

Weights live in `visprog/weights/<name>.safetensors` (with a model card `<name>.md`);
`VISPROG_WEIGHTS=<folder>` points elsewhere. Loaded models are cached per process.
Importing this package is cheap: torch is imported by the factories.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable

__all__ = ["load", "register", "available", "weights_path", "MODELS"]


def weights_path(name: str) -> str:
    folder = os.environ.get("VISPROG_WEIGHTS") or str(Path(__file__).resolve().parent.parent / "weights")
    return os.path.join(folder, f"{name}.safetensors")


def _clip():
    import torch
    from . import clip
    torch.set_num_threads(min(torch.get_num_threads(), os.cpu_count() or 1))
    return clip.load(weights_path("clip"))


def _detector():
    from . import detector
    return detector.load(weights_path("detector"))


def _llava():
    from . import llava
    return llava.load(weights_path("llava"))


MODELS: dict[str, Callable] = {"clip": _clip, "detector": _detector, "llava": _llava}
TRAIN_COMMANDS = {"llava": "vqa"}  # `visprog train` names that differ from the model's

_loaded: dict[str, object] = {}
_lock = threading.RLock()


def register(name: str, factory: Callable) -> None:
    """Add a model to the table (other model files may register theirs)."""
    MODELS[name] = factory


def load(name: str):
    """The model `name` ('clip', 'detector', 'llava', or one added with `register`), loaded once."""
    with _lock:
        if name not in _loaded:
            if name not in MODELS:
                raise KeyError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
            path = weights_path(name)
            if not os.path.exists(path):
                from ..errors import ToolUnavailable
                command = TRAIN_COMMANDS.get(name, name)
                raise ToolUnavailable(f"no weights for model {name!r} at {path}; train them with "
                                      f"`visprog train {command}`")
            _loaded[name] = MODELS[name]()
        return _loaded[name]


def available(name: str) -> bool:
    return os.path.exists(weights_path(name))
