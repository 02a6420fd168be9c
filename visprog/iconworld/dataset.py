"""Icon-world datasets on disk: make, load, show and check.

A dataset is a folder:

    data.jsonl     one item a line: {"id", "task", "instruction", "images": {NAME: path},
                   "answer", "program", "form", ...} plus "objects" where a task needs them
    images/        the PNG images (each carries its scene in the 'iconworld' text chunk)
    README.md      the dataset card (task, size, seed, style, forms, OpenMoji credit)

Answers: booleans for nlvr; lower-case strings for questions (numbers as digits);
JSON targets for edit and tag; a caption for captions; boxes with captions for
regions; Molmo point strings for points. Image paths in data.jsonl are relative
to the folder; `load` returns them as absolute paths.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional, Union

from ..errors import DatasetError, VisprogError
from .styles import Style, get_style
from .tasks import TASKS, generate_item, reproduces

DATA_FILE = "data.jsonl"
IMAGE_DIR = "images"
CARD_FILE = "README.md"
REQUIRED = ("id", "task", "instruction", "images", "answer", "program")
OPENMOJI_CREDIT = ("All emojis designed by OpenMoji – the open-source emoji and icon project. "
                   "License: CC BY-SA 4.0")
PathLike = Union[str, os.PathLike]


def _save_png(image, path: Path) -> None:
    """PNG with the 'iconworld' annotation (fast compression: datasets are written in bulk)."""
    from PIL.PngImagePlugin import PngInfo
    info = PngInfo()
    text = image.info.get("iconworld")
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if isinstance(text, str):
        info.add_text("iconworld", text, zip=True)
    image.save(path, format="PNG", pnginfo=info, compress_level=1)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return value.item()
    return value


def _write_item(item: dict, root: Path) -> dict:
    images = {}
    for name, image in item["images"].items():
        rel = f"{IMAGE_DIR}/{item['id']}_{name}.png"
        _save_png(image, root / rel)
        images[name] = rel
    record = {k: item[k] for k in REQUIRED if k != "images"}
    record["images"] = images
    for key, value in item.items():
        if key not in record:
            record[key] = value
    order = ["id", "task", "instruction", "images", "answer", "program"]
    record = {k: record[k] for k in order} | {k: v for k, v in record.items() if k not in order}
    return _jsonable(record)


def _items(task: str, n: int, seed: int, workers: int, style: Style) -> Iterable[dict]:
    if workers <= 1:
        for i in range(n):
            yield generate_item(task, seed, i, style)
        return
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_generate_args, [(task, seed, i, style) for i in range(n)], chunksize=16)


def _generate_args(args):
    return generate_item(*args)


def make(task: str, n: int, seed: int, out_dir: PathLike, progress: bool = True, *,
         workers: int = 1, overwrite: bool = False, style: Union[str, Style] = "classic") -> Path:
    """Generate `n` items of `task` with `seed` into `out_dir`, their scenes drawn in `style`
    (`styles.STYLES`; recorded in the card); returns the folder.

    Refuses to write into a folder that already holds a dataset unless `overwrite`.
    """
    if task not in TASKS:
        raise DatasetError(f"unknown icon-world task {task!r}; choose one of {', '.join(TASKS)}")
    style = get_style(style)
    if not isinstance(n, int) or n < 0:
        raise DatasetError(f"the number of items must be a non-negative integer, got {n!r}")
    root = Path(out_dir)
    if (root / DATA_FILE).exists() and not overwrite:
        raise DatasetError(f"{root / DATA_FILE} already exists; choose another folder or overwrite")
    try:
        (root / IMAGE_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"cannot create {root / IMAGE_DIR}: {exc}") from None
    forms: Counter = Counter()
    labels: Counter = Counter()
    bar = _progress(n, f"{task}", progress)
    tmp = root / (DATA_FILE + ".part")
    with open(tmp, "w", encoding="utf-8") as out:
        for item in _items(task, n, seed, workers, style):
            record = _write_item(item, root)
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            forms[record.get("form", "")] += 1
            if task == "nlvr":
                labels[record["answer"]] += 1
            bar.update(1)
    bar.close()
    os.replace(tmp, root / DATA_FILE)
    (root / CARD_FILE).write_text(_card(task, n, seed, style.name, forms, labels), encoding="utf-8")
    return root


def _progress(total: int, desc: str, enabled: bool):
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        enabled = False
    if not enabled:
        class _Null:
            def update(self, k=1):
                pass

            def close(self):
                pass
        return _Null()
    return tqdm(total=total, desc=desc, unit="item")


_DESCRIPTIONS = {
    "nlvr": "NLVR-style pairs of images (LEFT, RIGHT) with a statement; the answer is whether it is true.",
    "gqa": "GQA-style questions about one image (counts, existence, relations, colour, size, position).",
    "edit": "Image-editing instructions (replace, colour pop, background blur, emoji on faces) with "
            "machine-checkable targets.",
    "tag": "Knowledge tagging ('Tag the farm animals'): expected boxes and labels.",
    "captions": "Image captions.",
    "regions": "Region captions with boxes.",
    "qa": "Question-answer pairs of every form the GQA and NLVR tasks ask, and 'describe the image'.",
    "points": "Pointing targets in Molmo's format (percent of width and height).",
    "programs": "Instruction -> program pairs drawn from the nlvr, gqa, edit and tag tasks.",
}


def _card(task: str, n: int, seed: int, style: str, forms: Counter, labels: Counter) -> str:
    lines = [f"# Icon-world dataset: {task}", "",
             _DESCRIPTIONS.get(task, ""), "",
             f"- items: {n}", f"- seed: {seed}", f"- style: {style} (visprog/iconworld/styles.py)",
             f"- made with: `visprog data make {task} --n {n} --seed {seed} --style {style}`", ""]
    if labels:
        total = sum(labels.values()) or 1
        lines += [f"- labels: {labels.get(True, 0)} true ({labels.get(True, 0) / total:.1%}), "
                  f"{labels.get(False, 0)} false", ""]
    if forms:
        lines += ["## Forms", "", "| form | items |", "| --- | --- |"]
        lines += [f"| {f or '-'} | {c} |" for f, c in sorted(forms.items(), key=lambda kv: -kv[1])]
        lines.append("")
    lines += ["## Format", "",
              f"`{DATA_FILE}` holds one JSON object per line: `id`, `task`, `instruction`, "
              "`images` (name -> path relative to this folder), `answer`, `program` (the gold "
              "visprog program), `form` (the template that made the item), and `objects` "
              "(scene annotations) where a task needs them. Every PNG in `images/` carries its "
              "full scene annotation (objects, masks, colours, sizes) as JSON in the `iconworld` "
              "text chunk.", "",
              "Check that every gold program reproduces its answer with the oracle backend:", "",
              "    visprog data check DIR", "",
              "## License and credits", "",
              "The images are drawn from OpenMoji glyphs. " + OPENMOJI_CREDIT + " "
              "(https://openmoji.org, https://creativecommons.org/licenses/by-sa/4.0/). "
              "The images are adaptations of OpenMoji and are shared under the same license.", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- loading

def load(directory: PathLike) -> list[dict]:
    """The items of a dataset folder, with image paths made absolute.

    Raises DatasetError naming the file and line of any malformed item.
    """
    items = []
    for item in read(directory):
        if isinstance(item, DatasetError):
            raise item
        items.append(item)
    return items


def read(directory: PathLike) -> Iterator[Union[dict, DatasetError]]:
    """Each line of a dataset folder's data file: the item (image paths made absolute), or a
    DatasetError naming the file and line, in place of a malformed item, so that one bad
    line need not stop an evaluation. A missing or unreadable data file raises."""
    root = Path(directory)
    path = root / DATA_FILE
    if not path.is_file():
        raise DatasetError(f"{root} is not an icon-world dataset: no {DATA_FILE}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from None
    seen_ids: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                yield _item(line, f"{path}, line {number}", root, seen_ids)
            except DatasetError as exc:
                yield exc


def _item(line: str, where: str, root: Path, seen_ids: set[str]) -> dict:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(item, dict):
        raise DatasetError(f"{where}: expected a JSON object, got {type(item).__name__}")
    missing = [k for k in REQUIRED if k not in item]
    if missing:
        raise DatasetError(f"{where}: missing {', '.join(missing)}")
    for key in ("id", "task", "instruction", "program"):
        if not isinstance(item[key], str):
            raise DatasetError(f"{where}: {key} must be a string")
    if item["task"] not in TASKS:
        raise DatasetError(f"{where}: unknown task {item['task']!r}")
    if item["id"] in seen_ids:
        raise DatasetError(f"{where}: duplicate id {item['id']!r}")
    seen_ids.add(item["id"])
    images = item["images"]
    if not isinstance(images, dict) or not images or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in images.items()):
        raise DatasetError(f"{where}: images must map names to relative paths")
    resolved = {}
    for name, rel in images.items():
        p = Path(rel)
        if p.is_absolute() or ".." in p.parts:
            raise DatasetError(f"{where}: image path {rel!r} must stay inside the dataset folder")
        resolved[name] = str((root / p).resolve())
    item["images"] = resolved
    return item


# --------------------------------------------------------------------------- showing

def contact_sheet(directory: PathLike, out_png: PathLike, n: int = 16):
    """A grid of the first `n` items: image(s), instruction, answer. Returns the PIL image."""
    import textwrap
    from PIL import Image, ImageDraw, ImageFont
    from ..images import load_image
    items = load(directory)[:max(0, int(n))]
    if not items:
        raise DatasetError(f"{directory} has no items to show")
    cell_w, text_h, pad = 272, 96, 8
    thumb_h = (cell_w - pad) // max(len(item["images"]) for item in items)
    cols = min(4, len(items))
    rows = -(-len(items) // cols)
    sheet = Image.new("RGB", (cols * cell_w + pad, rows * (thumb_h + text_h) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=12)
    for k, item in enumerate(items):
        x = pad + (k % cols) * cell_w
        y = pad + (k // cols) * (thumb_h + text_h)
        names = list(item["images"])
        width = (cell_w - pad) // len(names)
        for j, name in enumerate(names):
            try:
                image = load_image(item["images"][name], name)
            except VisprogError:
                image = Image.new("RGB", (256, 256), (220, 220, 220))
            image.thumbnail((width - 2, thumb_h))
            sheet.paste(image, (x + j * width, y))
        answer = item["answer"]
        shown = json.dumps(answer)[:60] if isinstance(answer, (dict, list)) else str(answer)
        text = textwrap.wrap(item["instruction"], 40)[:4] + [f"-> {shown}"[:44]]
        for i, line in enumerate(text):
            draw.text((x, y + thumb_h + 4 + 15 * i), line, fill=(0, 0, 0) if i < len(text) - 1
                      else (0, 90, 170), font=font)
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return sheet


# --------------------------------------------------------------------------- checking

@dataclass
class CheckReport:
    """How many gold programs reproduce their answers with the oracle backend."""

    total: int = 0
    passed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (id, why)
    by_task: dict = field(default_factory=dict)  # task -> [passed, total]
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.passed == self.total

    def summary(self) -> str:
        lines = [f"{self.passed}/{self.total} items reproduce their answer with the oracle "
                 f"({self.seconds:.1f} s)"]
        for task, (p, t) in sorted(self.by_task.items()):
            lines.append(f"  {task}: {p}/{t}")
        for item_id, why in self.failures[:20]:
            lines.append(f"  FAIL {item_id}: {why}")
        if len(self.failures) > 20:
            lines.append(f"  ... and {len(self.failures) - 20} more")
        return "\n".join(lines)


def check_item(item: dict) -> tuple[bool, str]:
    """Run one item's gold program with the oracle and compare with its answer."""
    import visprog
    try:
        result = visprog.execute(item["program"], item["images"], backend="oracle")
        return reproduces(item, result)
    except VisprogError as exc:
        return False, f"{type(exc).__name__}: {exc}"
    except (KeyError, TypeError, ValueError) as exc:  # a malformed answer or target
        return False, f"malformed item ({type(exc).__name__}: {exc})"


def check(directory: PathLike, progress: bool = True, *, limit: Optional[int] = None) -> CheckReport:
    """Run every item's gold program with the oracle backend and compare with its answer."""
    items = load(directory)
    if limit is not None:
        items = items[:limit]
    report = CheckReport()
    start = time.perf_counter()
    bar = _progress(len(items), "check", progress)
    for item in items:
        ok, why = check_item(item)
        report.total += 1
        counts = report.by_task.setdefault(item.get("source_task") or item["task"], [0, 0])
        counts[1] += 1
        if ok:
            report.passed += 1
            counts[0] += 1
        else:
            report.failures.append((item["id"], why))
        bar.update(1)
    bar.close()
    report.seconds = time.perf_counter() - start
    return report


__all__ = ["make", "load", "read", "contact_sheet", "check", "check_item", "CheckReport", "OPENMOJI_CREDIT"]
