"""`evaluate(..., engine="ray")`: batches of items go to Ray actors, each of which loads the
planner and the models once and runs `evaluate_batch`, as the local engine does.

    visprog eval data/nlvr --out results.jsonl --engine ray                 # a local instance
    RAY_ADDRESS=ray://head:10001 visprog eval data/nlvr --out results.jsonl --engine ray

With RAY_ADDRESS set, `ray.init(address=...)` joins that cluster (every node needs visprog
installed and the dataset folder at the same path); else a local instance starts, one
worker per CPU. Results come back to this process, which writes the results file as each
batch returns, so resuming works as with the local engine. Ray is an optional extra:
`pip install 'visprog[ray]'`.
"""

from __future__ import annotations

import os
from typing import Any, Iterator, Optional

from ..errors import VisprogError


class _Worker:
    """One Ray actor: a planner (None for gold programs) and, once loaded, the models."""

    def __init__(self, planner: Optional[str], backend: Any, gold: bool):
        from ..api import as_planner
        self.planner = None if gold else as_planner(planner)
        self.backend = backend

    def run(self, batch: list) -> list[dict]:
        from .batch import evaluate_batch
        return evaluate_batch(batch, self.planner, backend=self.backend)


def run_on_ray(batches: list[list], *, planner: Optional[str], backend: Any, gold: bool,
               workers: Optional[int] = None) -> Iterator[list[dict]]:
    """The results lines of each batch, in the order the batches finish."""
    if not batches:  # a finished run resumed: no instance to start, no models to load
        return
    try:
        import ray
    except ImportError:
        raise VisprogError("engine 'ray' needs Ray: pip install 'visprog[ray]'") from None
    if planner is not None and not isinstance(planner, str):
        raise VisprogError("engine 'ray' takes the planner as a spec ('local', 'local:FILE', "
                           "'hf:DIR'), which each worker loads")
    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS") or None, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    n = workers or max(1, int(ray.available_resources().get("CPU", 1)))
    actor = ray.remote(num_cpus=1)(_Worker)
    pool = [actor.remote(planner, backend, gold) for _ in range(min(n, len(batches)))]
    queue = list(batches)
    running = {}
    for worker in pool:
        if queue:
            running[worker.run.remote(queue.pop(0))] = worker
    while running:
        (ref,), _ = ray.wait(list(running), num_returns=1)
        worker = running.pop(ref)
        if queue:
            running[worker.run.remote(queue.pop(0))] = worker
        yield ray.get(ref)
