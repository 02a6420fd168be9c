"""`visprog.run`: instruction in, Result out: load the images, plan, check, execute.

    result = visprog.run("The left and right image contain a total of six people.",
                         {"LEFT": "a.png", "RIGHT": "b.png"})
    result.value, result.program, result.html()

The planner is any object with `plan(instruction, task=, inputs=) -> Program`, a planner
spec ('local', 'local:FILE.safetensors', 'hf:DIR'), a LangChain chat model or a
`str -> str` callable (both wrapped by `LLMPlanner`); by default the in-repo planner
model. Images are loaded before the planner, so a bad image fails fast. Programs are
parsed and checked before they run; backends are chosen as `visprog.execute` chooses
them. With a planner whose `repair_runtime_errors` is set, a runtime error (a tool or
Eval failing) is fed back once for a repaired program.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union

from .errors import EvalError, ToolError
from .interpreter import Result, execute, load_images


def as_planner(planner: Any = None, **options):
    """A planner for None (the in-repo model), a spec string, a chat model or a callable;
    objects with `plan` pass through. `options` go to the planner a spec or a model makes."""
    if planner is None:
        planner = "local"
    if hasattr(planner, "plan"):
        return planner
    if isinstance(planner, str):
        from .planners.spec import planner_from_spec
        return planner_from_spec(planner, **options)
    from .planners.llm import LLMPlanner
    return LLMPlanner(planner, **options)


def run(instruction: str, images: Mapping[str, Any], *, planner: Any = None,
        task: Optional[str] = None, backend: Union[None, str, dict] = None,
        registry=None) -> Result:
    """Plan a program for `instruction` over the named `images`, check it, run it.

    Raises ImageError for a bad image, PlannerError when no valid program comes out, else
    what `execute` raises."""
    loaded = load_images(images)
    planner = as_planner(planner)
    names = tuple(loaded)
    program = planner.plan(instruction, task=task, inputs=names)
    try:
        return execute(program, loaded, registry=registry, backend=backend)
    except (ToolError, EvalError) as exc:
        if not getattr(planner, "repair_runtime_errors", False) or not hasattr(planner, "repair"):
            raise
        repaired = planner.repair(instruction, program, exc, task=task, inputs=names)
        return execute(repaired, loaded, registry=registry, backend=backend)
