"""Planners: something that writes the program for an instruction.

- `LLMPlanner(chat_model)`: any LangChain chat model (or a `str -> str` callable), with
  generated prompts, similarity-chosen examples, parse/check validation, repair and caching.
- `local_planner()`: the in-repo planner model (`visprog/models/planner.py`, `LocalPlanner`).
- `hf_planner(path)`: a local transformers causal LM, decoded under the program grammar.
- `planner_from_spec(spec)`: 'local', 'local:FILE.safetensors' or 'hf:DIR' (checked, not loaded).
- `detect_task(instruction)`: nlvr, gqa, edit or tag.

Everything is imported lazily: importing this package costs nothing.
"""

from __future__ import annotations

__all__ = ["LLMPlanner", "Attempt", "local_planner", "LocalPlanner", "hf_planner",
           "HFPlannerChat", "planner_from_spec", "detect_task", "EXAMPLES", "Example"]

_WHERE = {"LLMPlanner": "llm", "Attempt": "llm", "local_planner": "local",
          "LocalPlanner": "local", "hf_planner": "hf", "HFPlannerChat": "hf",
          "planner_from_spec": "spec", "detect_task": "tasks", "EXAMPLES": "examples",
          "Example": "examples"}


def __getattr__(name: str):
    if name in _WHERE:
        import importlib
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
