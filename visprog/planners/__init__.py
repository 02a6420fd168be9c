"""Planners: something that writes the program for an instruction.

- `LLMPlanner(chat_model)`: any LangChain chat model (or a `str -> str` callable), with
  generated prompts, similarity-chosen examples, parse/check validation, repair and caching.
- `local_planner()`: the in-repo planner model (`visprog/models/planner.py`) as a chat model.
- `hf_planner(path)`: a local transformers causal LM, decoded under the program grammar.
- `detect_task(instruction)`: nlvr, gqa, edit or tag.
"""

from __future__ import annotations

__all__ = ["LLMPlanner", "Attempt", "local_planner", "LocalPlannerChat", "hf_planner",
           "HFPlannerChat", "detect_task", "EXAMPLES", "Example"]

_WHERE = {"LLMPlanner": "llm", "Attempt": "llm", "local_planner": "local",
          "LocalPlannerChat": "local", "hf_planner": "hf", "HFPlannerChat": "hf",
          "detect_task": "tasks", "EXAMPLES": "examples", "Example": "examples"}


def __getattr__(name: str):
    if name in _WHERE:
        import importlib
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
