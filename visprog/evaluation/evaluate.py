"""`visprog.evaluate`: a dataset folder in, a results file and a summary out.

    summary = visprog.evaluate("data/nlvr", out="results.jsonl")
    print(summary)            # accuracy per task and per form, items/s

Items go in batches of `batch_size`: the planner writes the batch's programs together
(`LLMPlanner.plan_batch`; `programs="gold"` runs the items' own programs), then the
batched engine runs them (`engine.execute_many`). Each item's line is written as soon as
its batch ends; a rerun with the same `out` skips the items already there. One item's
failure (a bad image, an instruction the planner refuses, a tool error, a malformed line
of the dataset) is recorded on its line and never stops the run.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional, Union

from ..errors import DatasetError, VisprogError
from .batch import prepare_batch, run_batch
from .results import Results

ENGINES = ("local", "ray")


@dataclass
class EvalSummary:
    """Counts over every item of the dataset (those of earlier, resumed runs included)."""

    total: int = 0
    correct: int = 0
    errors: int = 0
    warned: int = 0       # items whose results line carries warnings
    by_task: dict[str, list[int]] = field(default_factory=dict)  # task -> [correct, total]
    by_form: dict[str, list[int]] = field(default_factory=dict)
    seconds: float = 0.0  # this run's wall time
    evaluated: int = 0    # items this run evaluated (the rest were in the results file)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def items_per_second(self) -> float:
        return self.evaluated / self.seconds if self.seconds else 0.0

    @classmethod
    def of(cls, records: list[dict]) -> "EvalSummary":
        summary = cls()
        for r in records:
            summary.total += 1
            summary.correct += bool(r["correct"])
            summary.errors += r["error"] is not None
            summary.warned += bool(r.get("warnings"))
            for table, key in ((summary.by_task, r["task"]), (summary.by_form, r["form"])):
                counts = table.setdefault(str(key), [0, 0])
                counts[0] += bool(r["correct"])
                counts[1] += 1
        return summary

    def counts(self) -> tuple:
        """What two runs of the same dataset must agree on (not the timings)."""
        return (self.total, self.correct, self.errors, self.by_task, self.by_form)

    def __str__(self) -> str:
        lines = [f"{self.correct}/{self.total} correct ({self.accuracy:.1%}), {self.errors} "
                 f"error(s), {self.warned} with warnings; {self.evaluated} evaluated in {self.seconds:.1f}s "
                 f"({self.items_per_second:.1f} items/s)", "| task | correct | accuracy |",
                 "| --- | --- | --- |"]
        lines += [f"| {k} | {c}/{n} | {c / n:.1%} |" for k, (c, n) in sorted(self.by_task.items())]
        lines += ["| form | correct | accuracy |", "| --- | --- | --- |"]
        lines += [f"| {k} | {c}/{n} | {c / n:.1%} |" for k, (c, n) in sorted(self.by_form.items())]
        return "\n".join(lines)


def evaluate(dataset: Union[str, Path], out: Union[None, str, Path] = None, *,
             batch_size: int = 64, engine: str = "local", planner: Any = None,
             backend: Any = None, programs: Optional[str] = None, registry=None,
             progress: bool = True, workers: Optional[int] = None) -> EvalSummary:
    """Evaluate every item of a dataset folder (`visprog data make`); see the module doc.
    `programs="gold"` runs the items' gold programs without a planner. `engine="ray"`
    spreads the batches over `workers` Ray actors (`ray_engine.py`)."""
    from ..iconworld.dataset import _progress, read
    if engine not in ENGINES:
        raise VisprogError(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
    if programs not in (None, "gold"):
        raise VisprogError(f"programs must be None or 'gold', got {programs!r}")
    if batch_size < 1:
        raise VisprogError(f"batch_size must be at least 1, got {batch_size}")
    if workers is not None and workers < 1:
        raise VisprogError(f"workers must be at least 1, got {workers}")
    if engine == "ray" and registry is not None:
        raise VisprogError("engine 'ray' runs the default registry (add tools with --plugin)")
    gold = programs == "gold"
    if engine == "local" and not gold:
        from ..api import as_planner
        planner = as_planner(planner)  # a bad spec fails before the results file is touched
    entries = [(f"<malformed line {i}>", x) if isinstance(x, DatasetError) else (x["id"], x)
               for i, x in enumerate(read(dataset), 1)]
    results = Results(out)
    start = time.perf_counter()
    todo = [(item_id, x) for item_id, x in entries if item_id not in results]
    batches = [todo[k:k + batch_size] for k in range(0, len(todo), batch_size)]
    if engine == "ray":
        from .ray_engine import run_on_ray
        done = run_on_ray(batches, planner=planner, backend=backend, gold=gold, workers=workers)
    else:
        done = _pipelined(batches, None if gold else planner, registry=registry, backend=backend)
    bar = _progress(len(todo), "eval", progress)
    try:
        for lines in done:
            for line in lines:
                results.add(line)
            bar.update(len(lines))
    finally:
        bar.close()
        results.close()
    summary = EvalSummary.of([results.records[item_id] for item_id, _ in entries])
    summary.seconds, summary.evaluated = time.perf_counter() - start, len(todo)
    return summary


def _pipelined(batches: list, planner, **run_options) -> Iterator[list[dict]]:
    """Each batch's results lines; the next batch is planned (and its images loaded) in a
    thread while this one runs: torch leaves the GIL while it computes, so planning takes
    the second core and costs almost no wall time."""
    if not batches:
        return
    with ThreadPoolExecutor(1, thread_name_prefix="visprog-plan") as pool:
        ahead = pool.submit(prepare_batch, batches[0], planner)
        for k in range(len(batches)):
            prepared = ahead.result()
            if k + 1 < len(batches):
                ahead = pool.submit(prepare_batch, batches[k + 1], planner)
            yield run_batch(prepared, **run_options)
