"""Dataset evaluation: `visprog.evaluate(dataset, out=...)` and `visprog eval`.

| module | holds |
| --- | --- |
| `evaluate.py` | `evaluate`, `EvalSummary`: batches of items planned together, run, scored |
| `batch.py` | `evaluate_batch` = `prepare_batch` (programs written, images loaded) + `run_batch` (run, scored): a results line per item |
| `engine.py` | `execute_many`: many programs step-synchronously, one batch per tool |
| `results.py` | the results file: a JSON line per item, flushed as it ends, resumable |
| `ray_engine.py` | `engine="ray"`: batches on Ray actors that load the models once |
| `cli.py` | `visprog eval` |
"""

from .engine import execute_many
from .evaluate import EvalSummary, evaluate

__all__ = ["evaluate", "EvalSummary", "execute_many"]
