"""Which backend runs each tool: one policy for every door (API, CLI, REPL, integrations).

    choice, source = current_choice("oracle", registry)  # or {"Loc": "pretrained"}, or None
    chosen = resolve_tool(registry.lookup("Loc"), inputs, choice, source)
    chosen.backend, chosen.reason

A choice is a backend name for every tool that has it (`backend="oracle"`), a mapping
`{tool: name}`, or the same written as text (`"oracle"`, `"Loc=pretrained,Vqa=oracle"`:
the CLI's `--backend` and `VISPROG_BACKEND`). An explicit `backend=` wins over
`VISPROG_BACKEND`. Names are checked against the registry before anything runs: an
unknown backend, an unknown tool or a misspelled environment value is a `VisprogError`
listing what is known.

For a tool the choice does not cover, the default policy takes the first usable of:
the backend a registration marked `default=True`; a builtin; the in-repo model whose
weights ship; a `pretrained` backend whose environment variable is set; another
registered backend; the icon-world oracle, when every input image carries icon-world
annotations. Else `ToolUnavailable` names every way to get a backend for that tool.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Union

from .errors import ToolUnavailable, VisprogError
from .registry import KINDS, Backend, Registry, Tool

ENV = "VISPROG_BACKEND"
ANNOTATION = "iconworld"  # the PNG text chunk icon-world images carry their scene in

Choice = Union[None, str, Mapping[str, str]]

_WHY = {"builtin": "built in", "model": "in-repo model (its weights ship)",
        "pretrained": "pretrained weights (environment variable set)",
        "custom": "registered backend", "oracle": "icon-world annotations on the input images"}


@dataclass(frozen=True)
class Resolved:
    """The backend chosen for a tool, and why (shown in the trace and the rationale)."""

    backend: Backend
    reason: str


def parse_choice(value: Any, *, source: str = "backend") -> Choice:
    """A choice as given (a name, a mapping, a list of CLI values or text) in one form: None,
    a name, or {tool: name}. Only the form is checked here; `validate` checks the names."""
    if value is None or isinstance(value, Mapping):
        return value
    if isinstance(value, str):
        value = value.split(",") if "=" in value else [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise VisprogError(f"{source}: expected a backend name, a {{tool: backend}} mapping or "
                           f"TOOL=NAME strings, got {type(value).__name__}")
    if not value:
        return None
    pairs = [v.partition("=") for v in value]
    if all(sep for _, sep, _ in pairs):
        return {tool.strip(): name.strip() for tool, _, name in pairs}
    if len(value) == 1:
        return value[0]
    raise VisprogError(f"{source}: give one backend NAME or several TOOL=NAME, not {', '.join(value)}")


def validate(choice: Choice, registry: Registry, *, source: str = "backend") -> Choice:
    """`choice` with tool names made canonical; raises VisprogError on any unknown name."""
    known = sorted({name for tool in registry for name in tool.backends})
    if choice is None:
        return None
    if isinstance(choice, str):
        _check_name(choice, known, source)
        return choice
    canonical = {}
    for tool_name, name in choice.items():
        tool = registry.lookup(tool_name) if isinstance(tool_name, str) else None
        if tool is None:
            hint = registry.closest(str(tool_name))
            raise VisprogError(f"{source}: unknown tool {tool_name!r}"
                               + (f" (did you mean {hint}?)" if hint else "")
                               + f"; tools: {', '.join(t.name for t in registry)}")
        _check_name(name, sorted(tool.backends), f"{source} for {tool.name}")
        canonical[tool.name] = name
    return canonical


def _check_name(name: Any, known: list[str], source: str) -> None:
    if isinstance(name, str) and name in known:
        return
    close = difflib.get_close_matches(str(name).strip().lower(), known, n=1, cutoff=0.6)
    raise VisprogError(f"{source}: unknown backend {name!r}"
                       + (f" (did you mean {close[0]!r}?)" if close else "")
                       + f"; known: {', '.join(known) or 'none'}")


def current_choice(choice: Any, registry: Registry) -> tuple[Choice, str]:
    """The validated choice in force and where it came from: `choice` when given, else
    VISPROG_BACKEND, else none."""
    if choice is not None:
        return validate(parse_choice(choice), registry), "backend="
    env = os.environ.get(ENV)
    if env is None or not env.strip():
        return None, ""
    return validate(parse_choice(env, source=ENV), registry, source=ENV), ENV


def annotated(images: Mapping[str, Any]) -> bool:
    """Whether every input image carries icon-world annotations (what the oracle reads)."""
    return bool(images) and all(ANNOTATION in getattr(im, "info", {}) for im in images.values())


def resolve_tool(tool: Tool, inputs: Mapping[str, Any], choice: Choice = None,
                 source: str = "backend=") -> Resolved:
    """The backend for one tool under an already validated choice."""
    wanted = choice.get(tool.name) if isinstance(choice, Mapping) else choice
    if wanted is not None and wanted in tool.backends:
        backend = tool.backends[wanted]
        problem = _problem(tool, backend, inputs)
        if problem:
            raise ToolUnavailable(f"{tool.name}: backend {wanted!r} ({source}) cannot run: {problem}")
        return Resolved(backend, f"chosen with {source}")
    return _default(tool, inputs)


def _problem(tool: Tool, backend: Backend, inputs: Mapping[str, Any]) -> Optional[str]:
    """What keeps `backend` from running `tool` on these inputs, or None: what it misses,
    and for the oracle, images without icon-world annotations."""
    problem = backend.problem()
    if not problem and backend.kind == "oracle" and not annotated(inputs):
        problem = (f"the input images carry no icon-world annotations (the 'iconworld' PNG "
                   f"text chunk of images written by visprog's icon world), so the oracle "
                   f"cannot answer {tool.name}")
    return problem


def policy_order(tool: Tool) -> list[Backend]:
    """The tool's backends in the order the default policy tries them."""
    return sorted(tool.backends.values(), key=lambda b: (b.name != tool.default_backend,
                                                         KINDS.index(b.kind)))


def _default(tool: Tool, inputs: Mapping[str, Any]) -> Resolved:
    problems = []
    for backend in policy_order(tool):
        problem = _problem(tool, backend, inputs)
        if problem:
            problems.append(f"{backend.name}: {problem}")
            continue
        reason = "its default" if backend.name == tool.default_backend else _WHY[backend.kind]
        if problems:
            reason += f" ({'; '.join(problems)})"
        return Resolved(backend, reason)
    ways = "; ".join(problems) if problems else "it has no backend"
    raise ToolUnavailable(f"{tool.name} has no backend that can run here: {ways}. Pass "
                          f"backend={{'{tool.name}': NAME}}, or register one with "
                          f"@{tool.name}.backend(NAME)")
