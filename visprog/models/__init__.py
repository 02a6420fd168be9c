"""The in-repo models and the one table that loads them.

    clip = visprog.models.load("clip")          # CLIP: encode_image / encode_text
    detector = visprog.models.load("detector")  # Detector: detect(images, queries)
    segmenter = visprog.models.load("segmenter")  # Segmenter: segment(images, boxes, points) / panoptic
    vqa = visprog.models.load("llava")          # LLaVA: answer / answer_grounded
    planner = visprog.models.load("planner")    # PlannerModel: plan(instructions, inputs)
    text = visprog.models.load("minilm")        # MiniLM: tokens / sentences (frozen)
    inpainter = visprog.models.load("inpainter")  # Inpainter: inpaint(image, mask, prompt)

`load(name, path=None)` is the only loader: each (name, weights file) is loaded once per
process, thread-safely, and only when first asked for (`shared`, the cache the pretrained
backends use too). Weights live in `visprog/weights/<name>.safetensors` (model card
`<name>.md`); `VISPROG_WEIGHTS=<folder>` points elsewhere (`weights.py`, which imports no
model). Missing weights raise `ToolUnavailable` naming the file and the `visprog train`
command that makes it; an unknown name raises `VisprogError`.
Importing this package imports no torch: the factories import their model files.
"""

from __future__ import annotations

from typing import Callable, Optional

from .cache import shared
from .weights import TRAIN_COMMANDS, available, check_name, missing, missing_file, resolve, weights_path

__all__ = ["load", "shared", "available", "missing", "weights_path", "MODELS", "TRAIN_COMMANDS"]


def _clip(path: str):
    from .clip import load as load_clip
    return load_clip(path)


def _detector(path: str):
    from .detector import load as load_detector
    return load_detector(path)


def _segmenter(path: str):
    from .segmenter import load as load_segmenter
    return load_segmenter(path)


def _llava(path: str):
    from .llava import load as load_llava
    return load_llava(path)


def _planner(path: str):
    from .planner import PlannerModel
    return PlannerModel.load(path)


def _inpainter(path: str):
    from .inpainter import load as load_inpainter
    return load_inpainter(path)


def _minilm(path: Optional[str]):
    from .text import MiniLM
    return MiniLM(path)  # None: the packaged folder (also `text.minilm()`)


# name -> factory(path) -> model
MODELS: dict[str, Callable] = {"clip": _clip, "detector": _detector, "llava": _llava,
                               "planner": _planner, "segmenter": _segmenter,
                               "inpainter": _inpainter, "minilm": _minilm}

def load(name: str, path: Optional[str] = None):
    """Model `name` ('clip', 'detector', 'llava', 'planner', 'segmenter',
    'inpainter', 'minilm') from `path` (default:
    `weights_path(name)`; for 'minilm' the packaged folder), loaded once per process."""
    check_name(name)
    resolved = resolve(name, path)

    def make():
        problem = missing_file(name, resolved)
        if problem:
            from ..errors import ToolUnavailable
            raise ToolUnavailable(problem)
        return MODELS[name](resolved)
    return shared((name, resolved), make)
