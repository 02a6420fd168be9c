"""Icon-world task generators with ground truth; each item carries a gold visprog program.

    from visprog.iconworld import tasks
    item = tasks.generate_item("nlvr", seed=0, index=3)
    item["instruction"], item["images"], item["answer"], item["program"]
    for item in tasks.generate("gqa", n=100, seed=1): ...

An item is a dict: id, task, instruction, images (NAME -> PIL image), answer,
program, form (which template made it) and, where a task needs them, objects
(scene annotations). Items are a function of (task, seed, index, style) only;
the style (`styles.py`, 'classic' by default) is how its scenes are drawn.

Tasks: nlvr (image pairs, true/false statements), gqa (questions on one image),
edit (replace, colour pop, background blur, emoji), tag (knowledge tagging),
and the corpora captions, regions, qa, points (Molmo format) and programs.
`reproduces(item, result)` says whether a program's Result matches the answer.
"""

from __future__ import annotations

import zlib
from typing import Any, Callable, Iterator

import numpy as np

TASKS = ("nlvr", "gqa", "edit", "tag", "captions", "regions", "qa", "points", "programs")


def _generators() -> dict[str, Callable]:
    from . import corpora, edit, gqa, nlvr, tag
    return {"nlvr": nlvr.generate, "gqa": gqa.generate, "edit": edit.generate, "tag": tag.generate,
            "captions": corpora.captions, "regions": corpora.regions, "qa": corpora.qa,
            "points": corpora.points, "programs": corpora.programs}


def _check_task(task: str) -> None:
    from ...errors import DatasetError
    if task not in TASKS:
        raise DatasetError(f"unknown icon-world task {task!r}; choose one of {', '.join(TASKS)}")


def item_rng(task: str, seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(index), zlib.crc32(task.encode())])


def balanced_label(task: str, seed: int, index: int) -> bool:
    """True for one item and False for the other of each pair (2k, 2k+1), in random order:
    any run of items is balanced to within one item, and each label is still unpredictable."""
    block = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(index) // 2,
                                   zlib.crc32(("label:" + task).encode())])
    first = bool(block.random() < 0.5)
    return first if index % 2 == 0 else not first


def generate_item(task: str, seed: int, index: int, style="classic") -> dict:
    """Item `index` of `task` for `seed` (deterministic), its scenes drawn in `style`
    (a name in `styles.STYLES` or a `styles.Style`)."""
    from ..styles import get_style
    from .base import STYLE
    _check_task(task)
    rng = item_rng(task, seed, index)
    token = STYLE.set(get_style(style))
    try:
        if task == "nlvr":
            item = _generators()[task](rng, label=balanced_label(task, seed, index))
        else:
            item = _generators()[task](rng)
    finally:
        STYLE.reset(token)
    out = {"id": f"{task}-{seed}-{index:06d}", "task": task}
    out.update(item)
    return out


def generate(task: str, n: int, seed: int = 0, start: int = 0, style="classic") -> Iterator[dict]:
    """n items of `task` (indices start .. start+n-1) in `style`."""
    _check_task(task)
    for i in range(start, start + n):
        yield generate_item(task, seed, i, style)


# --------------------------------------------------------------------------- checking answers

def as_bool(value: Any):
    """True/False for booleans and 'yes'/'no'/'true'/'false' answers; None otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("yes", "true"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("no", "false"):
        return False
    return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().lower()


def _objects_given_to(result, module: str):
    for step in reversed(result.trace):
        if step.module == module:
            return step.args.get("object")
    return None


def reproduces(item: dict, result) -> tuple[bool, str]:
    """Whether a program's Result reproduces the item's answer: (ok, explanation)."""
    task = item.get("source_task") or item["task"]
    answer = item["answer"]
    value = result.value
    if task == "nlvr":
        got = as_bool(value)
        return got is answer, f"got {value!r}, expected {answer!r}"
    if task in ("gqa", "qa"):
        if item.get("form") in ("caption", "describe"):
            return str(value) == answer, f"got {value!r}, expected {answer!r}"
        return _text(value) == _text(answer), f"got {value!r}, expected {answer!r}"
    if task == "captions":
        return str(value) == answer, f"got {value!r}, expected {answer!r}"
    if task == "edit":
        from .edit import edit_report
        return edit_report(item, value)
    if task == "tag":
        from .tag import tag_report
        objects = _objects_given_to(result, "Tag")
        if objects is None:
            return False, "the program has no Tag step"
        return tag_report(item, objects)
    if task == "regions":
        from .tag import tag_report
        return tag_report({"answer": {"objects": answer}}, value if isinstance(value, list) else [])
    if task == "points":
        from ...values import Points
        from ...pointing import format_points, parse_percent
        if not isinstance(value, Points):
            return False, f"got {type(value).__name__}, expected Points"
        w, h = _image_size(item, result)
        text = format_points(value, w, h, item.get("label", ""), item.get("label_plural"))
        got, want = parse_percent(text), parse_percent(answer)
        ok = len(got) == len(want) and all(abs(a[0] - b[0]) <= 0.15 and abs(a[1] - b[1]) <= 0.15
                                           for a, b in zip(got, want))
        return ok, f"got {text!r}, expected {answer!r}"
    return False, f"no way to check task {task!r}"


def _image_size(item: dict, result) -> tuple[int, int]:
    image = result.inputs.get("IMAGE")
    if image is not None:
        return image.size
    return (256, 256)


__all__ = ["TASKS", "generate", "generate_item", "item_rng", "reproduces", "as_bool"]
