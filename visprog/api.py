"""`visprog.run`: instruction in, Result out: plan, check, execute.

    result = visprog.run("The left and right image contain a total of six people.",
                         {"LEFT": "a.png", "RIGHT": "b.png"})
    result.value, result.program, result.html()

The planner is any object with `plan(instruction, task=, inputs=) -> Program`
(an `LLMPlanner` around any LangChain chat model, or a callable wrapped by it);
by default the in-repo planner model (loaded once, lazily). Its programs are
parsed and checked before they run (execute checks again). With a planner whose
`repair_runtime_errors` is set, a runtime error (a tool or Eval failing) is fed
back once for a repaired program.
"""

from __future__ import annotations

import threading
from typing import Any, Mapping, Optional, Union

from .errors import EvalError, ToolError
from .interpreter import Result, execute

_default = None
_lock = threading.Lock()


def default_planner():
    """The in-repo planner (visprog/weights/planner.safetensors) behind an LLMPlanner; shared."""
    global _default
    with _lock:
        if _default is None:
            from .planners.local import local_planner
            _default = local_planner()
        return _default


def as_planner(planner: Any):
    """An LLMPlanner for a chat model or `str -> str` callable; planners pass through."""
    if planner is None:
        return default_planner()
    if hasattr(planner, "plan"):
        return planner
    if isinstance(planner, str):
        from .planners.cli import planner_from_spec
        return planner_from_spec(planner)
    from .planners.llm import LLMPlanner
    return LLMPlanner(planner)


def run(instruction: str, images: Mapping[str, Any], *, planner: Any = None,
        task: Optional[str] = None, backend: Union[None, str, dict] = None,
        registry=None) -> Result:
    """Plan a program for `instruction` over the named `images`, check it, run it.

    Raises PlannerError when no valid program comes out, else what `execute` raises."""
    planner = as_planner(planner)
    names = tuple(images)
    program = planner.plan(instruction, task=task, inputs=names)
    try:
        return execute(program, images, registry=registry, backend=backend)
    except (ToolError, EvalError) as exc:
        if not getattr(planner, "repair_runtime_errors", False) or not hasattr(planner, "repair"):
            raise
        repaired = planner.repair(instruction, program, exc, task=task, inputs=names)
        return execute(repaired, images, registry=registry, backend=backend)


def model_backends(registry=None, *, log=None) -> dict:
    """Per-tool backends for running offline: each tool's own default (the in-repo models,
    model-free builtins) where it is usable, else the icon-world oracle. `log` (e.g. print)
    is told about every tool that falls back to the oracle and why."""
    if registry is None:
        from .tools import registry
    choice = {}
    for tool in registry:
        name = tool.default_backend
        backend = tool.backends.get(name) if name else None
        problem = (backend.missing() if backend else "no backend") if name != "oracle" else "only the oracle"
        if backend is not None and name != "oracle" and not problem:
            choice[tool.name] = name
        elif "oracle" in tool.backends:
            choice[tool.name] = "oracle"
            if log:
                log(f"  {tool.name}: no usable model backend ({problem}); using the oracle")
    return choice
