"""Choosing in-context examples by similarity to the instruction (MiniLM sentence embeddings).

The packaged all-MiniLM-L6-v2 (`visprog.models.load("minilm")`) is loaded once, lazily, on
first use; example embeddings are computed once per example list and kept.
"""

from __future__ import annotations

import threading
from typing import Optional, Sequence

from .examples import EXAMPLES, Example

_lock = threading.Lock()
_embedded: dict[tuple, object] = {}  # tuple of instructions -> (N, 384) tensor


def _embeddings(examples: Sequence[Example]):
    from ..models import load
    key = tuple(e.instruction for e in examples)
    with _lock:
        if key not in _embedded:
            _embedded[key] = load("minilm").sentences(list(key))
        return _embedded[key]


def similarities(instruction: str, examples: Sequence[Example]) -> list[float]:
    from ..models import load
    if not examples:
        return []
    query = load("minilm").sentences([instruction])[0]
    return (_embeddings(examples) @ query).tolist()


def nearest_examples(instruction: str, k: int = 4, examples: Optional[Sequence[Example]] = None,
                     task: Optional[str] = None) -> list[tuple[Example, float]]:
    """The k examples most like `instruction` (of `task` when given), best first, with scores."""
    pool = list(EXAMPLES if examples is None else examples)
    if task is not None:
        same = [e for e in pool if e.task == task]
        pool = same or pool
    scores = similarities(instruction, pool)
    ranked = sorted(zip(pool, scores), key=lambda pair: -pair[1])
    return ranked[:k]
