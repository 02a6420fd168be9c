"""One batch of dataset items: planned together, run by the batched engine, scored; a results
line per item. Both engines (`evaluate.py`, `ray_engine.py`) run batches through here."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Optional, Union

from ..errors import DatasetError, VisprogError
from ..interpreter import load_images
from .results import record


def evaluate_batch(batch: list[tuple[str, Union[dict, DatasetError]]], planner, *,
                   registry=None, backend: Any = None) -> list[dict]:
    """The results lines of a batch of (id, item or the DatasetError of its line)."""
    return run_batch(prepare_batch(batch, planner), registry=registry, backend=backend)


@dataclass
class Prepared:
    """A batch with its programs written and its images loaded, ready to run."""

    size: int
    lines: dict[int, dict]  # the items that failed already, by position in the batch
    runnable: list[tuple[int, dict, Any]]  # (position, item with its images loaded, program)
    seconds: float


def prepare_batch(batch: list[tuple[str, Union[dict, DatasetError]]], planner) -> Prepared:
    """Write the batch's programs (`planner` None: the items' own) and load its images. The
    local engine does this for the next batch while the current one runs."""
    start = time.perf_counter()
    lines: dict[int, dict] = {}
    items = []
    for index, (item_id, item) in enumerate(batch):
        if isinstance(item, DatasetError):
            lines[index] = record(item_id, error=f"DatasetError: {item}")
        else:
            items.append((index, item))
    if planner is None:
        planned = [item["program"] for _, item in items]
    else:
        planned = planner.plan_batch([item["instruction"] for _, item in items],
                                     tasks=[item["task"] for _, item in items],
                                     inputs=[tuple(item["images"]) for _, item in items])
    runnable = []
    for (index, item), program in zip(items, planned):
        if isinstance(program, VisprogError):
            lines[index] = _line(item, error=program)
            continue
        try:
            runnable.append((index, {**item, "images": load_images(item["images"])}, program))
        except VisprogError as exc:  # a bad image: its item's line says so
            lines[index] = _line(item, program=program, error=exc)
    return Prepared(len(batch), lines, runnable, time.perf_counter() - start)


def run_batch(prepared: Prepared, *, registry=None, backend: Any = None) -> list[dict]:
    """Run a planned batch on the batched engine and score it: a results line per item."""
    from ..iconworld.tasks import reproduces
    from .engine import execute_many
    start = time.perf_counter()
    lines = dict(prepared.lines)
    outcomes = execute_many([(program, item["images"]) for _, item, program in prepared.runnable],
                            registry=registry, backend=backend)
    for (index, item, program), outcome in zip(prepared.runnable, outcomes):
        if isinstance(outcome, VisprogError):
            lines[index] = _line(item, program=program, error=outcome, warnings=list(outcome.warnings))
            continue
        try:
            correct, _ = reproduces({**item, "images": outcome.inputs}, outcome)
        except (KeyError, TypeError, ValueError) as exc:  # a malformed answer or target
            lines[index] = _line(item, program=program, error=DatasetError(f"cannot score: {exc}"))
            continue
        lines[index] = _line(item, program=program, answer=outcome.value, correct=correct,
                             warnings=outcome.warnings)
    seconds = prepared.seconds + time.perf_counter() - start
    share = round(seconds / max(prepared.size, 1), 4)
    for line in lines.values():
        line["seconds"] = share
    return [lines[i] for i in range(prepared.size)]


def _line(item: dict, *, program: Any = None, error: Optional[BaseException] = None,
          answer: Any = None, correct: bool = False, warnings: Optional[list] = None) -> dict:
    from ..values import jsonable
    return record(item["id"], item["task"], form=item.get("form"),
                  program=None if program is None else str(program),
                  answer=jsonable(answer), gold=jsonable(item.get("answer")), correct=bool(correct),
                  error=None if error is None else f"{type(error).__name__}: {error}",
                  warnings=warnings or [])
