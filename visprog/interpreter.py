"""The interpreter: checks a program, then runs it step by step against registered tools.

`Execution` runs one program as a sequence of tool calls: `pending()` names the
next call, `complete()` records its output. `execute()` drives one Execution;
a batch engine can drive many and send the same tool's pending calls to its
backend together, since every backend takes a list of calls.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, Union

from .checker import Diagnostic, check
from .errors import CheckError, EvalError, ImageError, ToolError, ToolUnavailable, VisprogError
from .images import load_image
from .program import Program, Step, Var, parse
from .registry import Backend, ImageCache, Registry, Tool, ToolContext, value_kind
from .resolver import Resolved, current_choice, resolve_tool


def _located(exc: VisprogError, where: str) -> VisprogError:
    """The same error with the step's location in front of its message."""
    kind = type(exc) if type(exc) in (EvalError, ImageError, ToolError, ToolUnavailable) else ToolError
    return kind(f"{where}: {exc}")


@dataclass
class StepTrace:
    """What one step did, for the rationale."""

    line: int
    source: str
    output: str
    module: str  # canonical tool name
    args: dict[str, Any]  # argument values as the tool received them
    value: Any
    backend: str
    seconds: float
    notes: list[str] = field(default_factory=list)
    backend_reason: str = ""  # why the policy chose this backend (visprog/resolver.py)
    warnings: list[str] = field(default_factory=list)  # the backend's, each naming this step

    @classmethod
    def of(cls, call: "Call", output: "Output") -> "StepTrace":
        shown = {k: v for k, v in call.args.items() if k != "variables"}
        return cls(call.step.line, call.step.text or str(call.step), call.step.output,
                   call.tool.name, shown, output.value, call.backend.name, output.seconds,
                   output.notes, call.reason, [f"{_where(call)}: {w}" for w in output.warnings])


def _where(call: "Call") -> str:
    """The step as a warning names it: its line, its tool and the images it read, by the
    program's names for them (a backend sees only the pixels)."""
    images = [a.value.name for a in call.step.args
              if isinstance(a.value, Var) and value_kind(call.args[a.name]) == "Image"]
    return f"line {call.step.line}, {call.tool.name}" + (f" on {', '.join(images)}" if images else "")


@dataclass
class Call:
    """One pending tool call."""

    step: Step
    tool: Tool
    backend: Backend
    args: dict[str, Any]
    reason: str = ""


@dataclass
class Output:
    """What one call gave back: its value, its share of the batch's time, and what its
    backend said about it (`ToolContext.note`, `ToolContext.warn`)."""

    value: Any
    seconds: float
    notes: list[str]
    warnings: list[str]


class Result:
    """The outcome of a program: its value, the program, and the trace of every step."""

    def __init__(self, value: Any, program: Program, trace: list[StepTrace],
                 inputs: dict[str, Any], variables: dict[str, Any],
                 diagnostics: Sequence[Diagnostic] = ()):
        self.value = value
        self.program = program
        self.trace = trace
        self.inputs = inputs
        self.variables = variables
        self.diagnostics = list(diagnostics)  # the checker's warnings about the program

    @property
    def warnings(self) -> list[str]:
        """Every warning of the run, once each: the planner's, the checker's, then the
        backends', step by step (`ToolContext.warn` drops a call's repeats, and each names
        its step)."""
        return (list(self.program.warnings) + [str(d) for d in self.diagnostics]
                + [w for s in self.trace for w in s.warnings])

    def to_json(self) -> dict:
        """The value, the warnings and every step (its backend and why it was chosen) as
        JSON-ready data."""
        from .values import jsonable
        return {"value": jsonable(self.value), "warnings": self.warnings, "steps": [
            {"line": s.line, "output": s.output, "module": s.module, "backend": s.backend,
             "backend_reason": s.backend_reason, "seconds": round(s.seconds, 4),
             "value": jsonable(s.value), "notes": s.notes, "warnings": s.warnings}
            for s in self.trace]}

    def html(self, title: str = "visprog rationale") -> str:
        """One self-contained HTML page showing every step."""
        from .rationale import render_html
        return render_html(self, title)

    def _repr_html_(self) -> str:  # Jupyter
        return self.html()

    def __repr__(self) -> str:
        return f"Result(value={self.value!r}, steps={len(self.trace)})"


class Execution:
    """One program being run: state, trace and the next call. Every step's backend is chosen
    (`visprog.resolver`) before the first step runs."""

    def __init__(self, program: Union[Program, str], images: Mapping[str, Any], *,
                 registry: Optional[Registry] = None,
                 backend: Union[None, str, dict[str, str]] = None):
        if registry is None:
            from .tools import default_registry
            registry = default_registry()
        self.registry = registry
        self.program = parse(program) if isinstance(program, str) else program
        diagnostics = check(self.program, registry, inputs=images.keys())
        problems = [d for d in diagnostics if d.severity == "error"]
        if problems:
            raise CheckError(problems)
        self.diagnostics = diagnostics  # no errors: only warnings are left
        self.inputs = load_images(images)
        self.variables: dict[str, Any] = dict(self.inputs)
        self.backends = resolve_steps(self.program.steps, registry, self.inputs, backend)
        self.trace: list[StepTrace] = []
        self.cache = ImageCache()
        self._index = 0
        self._result_name: Optional[str] = None

    def pending(self) -> Optional[Call]:
        """The next tool call, or None when the program has finished."""
        if self._index >= len(self.program.steps):
            return None
        return make_call(self.program.steps[self._index], self.registry, self.variables,
                         self.backends)

    def complete(self, call: Call, output: Output) -> None:
        self.variables[call.step.output] = output.value
        if call.tool.name == "Result":
            self._result_name = call.step.output
        self.trace.append(StepTrace.of(call, output))
        self._index += 1

    def keep_warnings(self, exc: VisprogError) -> None:
        """Let `exc`, which ends this run, carry the warnings given so far (`VisprogError.warnings`)."""
        exc.warnings = tuple(self.result().warnings)

    def result(self) -> Result:
        name = self._result_name or (self.program.steps[-1].output if self.program.steps else None)
        value = self.variables.get(name) if name else None
        return Result(value, self.program, self.trace, self.inputs, self.variables,
                      self.diagnostics)


def load_images(images: Mapping[str, Any]) -> dict[str, Any]:
    """Each named image loaded (paths, bytes, arrays, PIL images); ImageError names the bad one."""
    return {name: load_image(source, name) for name, source in images.items()}


def resolve_steps(steps, registry: Registry, inputs: Mapping[str, Any],
                  backend: Union[None, str, dict[str, str]] = None) -> dict[str, Resolved]:
    """The backend of every tool the steps use; ToolUnavailable names the first step that
    has none."""
    choice, source = current_choice(backend, registry)
    chosen = {}
    for step in steps:
        tool = registry.lookup(step.module)
        if tool.name not in chosen:
            try:
                chosen[tool.name] = resolve_tool(tool, inputs, choice, source)
            except ToolUnavailable as exc:
                raise _located(exc, f"line {step.line}") from None
    return chosen


def make_call(step: Step, registry: Registry, variables: Mapping[str, Any],
              backends: Mapping[str, Resolved]) -> Call:
    """The call for a checked step: argument values looked up in `variables`, defaults filled,
    the backend `backends` chose for its tool."""
    tool = registry.lookup(step.module)
    args = {p.name: p.default for p in tool.params if not p.required}
    for arg in step.args:
        args[arg.name] = _value(arg.value, variables)
        if isinstance(arg.value, Var):  # the checker knew its kinds, maybe only as 'any'
            problem = tool.param(arg.name).problem(args[arg.name], arg.value.name)
            if problem:
                raise ToolError(f"line {step.line} ({tool.name}): {problem}")
    if tool.reads_variables:
        args["variables"] = variables
    chosen = backends[tool.name]
    return Call(step, tool, chosen.backend, args, chosen.reason)


def _value(value: Any, variables: Mapping[str, Any]) -> Any:
    if isinstance(value, Var):
        return variables[value.name]
    if isinstance(value, list):
        return [_value(v, variables) for v in value]
    return value


def run_calls(calls: list[Call], cache: ImageCache) -> list[Output]:
    """Run calls that share one tool and backend as a single batch: one Output per call, with
    the notes and warnings its backend gave that call only. Errors name the step."""
    ctx = ToolContext(cache)
    first = calls[0]
    start = time.perf_counter()
    try:
        outputs = first.backend([c.args for c in calls], ctx)
    except VisprogError as exc:
        raise _located(exc, f"line {first.step.line} ({first.tool.name})") from exc
    except Exception as exc:  # a tool failing on user data must not crash the caller
        raise ToolError(f"line {first.step.line} ({first.tool.name}, backend "
                        f"{first.backend.name!r}) failed: {type(exc).__name__}: {exc}") from exc
    seconds = (time.perf_counter() - start) / len(calls)
    if not isinstance(outputs, list) or len(outputs) != len(calls):
        raise ToolError(f"{first.tool.name} backend {first.backend.name!r} returned "
                        f"{type(outputs).__name__} instead of one output per call")
    return [Output(value, seconds, ctx.notes.get(i, []), ctx.warnings.get(i, []))
            for i, value in enumerate(outputs)]


def run_step(step: Step, variables: Mapping[str, Any], inputs: Mapping[str, Any], *,
             registry: Registry, backend: Union[None, str, dict[str, str]] = None,
             cache: Optional[ImageCache] = None) -> StepTrace:
    """Run one checked step against `variables` (left unchanged) and return its trace entry:
    `execute` one line at a time, as the REPL runs what is typed. Raises what `execute`
    raises, naming the step's line."""
    call = make_call(step, registry, variables, resolve_steps([step], registry, inputs, backend))
    return StepTrace.of(call, run_calls([call], cache if cache is not None else ImageCache())[0])


def execute(program: Union[Program, str], images: Mapping[str, Any], *,
            registry: Optional[Registry] = None,
            backend: Union[None, str, dict[str, str]] = None) -> Result:
    """Check and run a program on named images; raises a VisprogError on any problem."""
    run = Execution(program, images, registry=registry, backend=backend)
    try:
        while (call := run.pending()) is not None:
            run.complete(call, run_calls([call], run.cache)[0])
    except VisprogError as exc:
        run.keep_warnings(exc)
        raise
    return run.result()
