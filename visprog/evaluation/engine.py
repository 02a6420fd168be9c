"""The batched engine: many programs run step-synchronously, each tool's pending calls across
all of them sent to its backend as one batch, with one image cache shared by every program.

    outcomes = execute_many([(program, images), ...])   # a Result or a VisprogError each

Every backend is batch-first (`visprog/registry.py`) and `Execution.pending()` names each
program's next call, so the engine only gathers and scatters. A batch that fails is run
again one call at a time, so that only the program whose call fails gets the error.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Mapping, Optional, Sequence, Union

from ..errors import VisprogError
from ..interpreter import Execution, Result, run_calls
from ..program import Program
from ..registry import ImageCache, Registry


def execute_many(jobs: Sequence[tuple[Union[Program, str], Mapping[str, Any]]], *,
                 registry: Optional[Registry] = None, backend: Any = None
                 ) -> list[Union[Result, VisprogError]]:
    """Run each (program, images) job as `visprog.execute` would, all of them together."""
    out: list = [None] * len(jobs)
    runs: dict[int, Execution] = {}
    cache = ImageCache()
    for i, (program, images) in enumerate(jobs):
        try:
            runs[i] = Execution(program, images, registry=registry, backend=backend)
            runs[i].cache = cache  # an image's features serve every program that reads it
        except VisprogError as exc:
            out[i] = exc
    while runs:
        pending = {}
        for i, run in list(runs.items()):
            try:
                pending[i] = run.pending()
            except VisprogError as exc:  # a step whose arguments do not fit its tool
                run.keep_warnings(exc)
                out[i] = exc
                del runs[i]
        for i in [i for i, call in pending.items() if call is None]:
            out[i] = runs.pop(i).result()
            del pending[i]
        groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        for i, call in pending.items():
            groups[(call.tool.name, call.backend.name)].append(i)
        for members in groups.values():
            try:
                outputs = run_calls([pending[i] for i in members], cache)
            except VisprogError:
                for i in members:
                    try:
                        runs[i].complete(pending[i], run_calls([pending[i]], cache)[0])
                    except VisprogError as exc:
                        runs.pop(i).keep_warnings(exc)
                        out[i] = exc
                continue
            for i, output in zip(members, outputs):  # each call's notes and warnings to its own run
                runs[i].complete(pending[i], output)
    return out
