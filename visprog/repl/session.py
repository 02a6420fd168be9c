"""The REPL's session, without a terminal: the session program, its variables, and what
each input produced.

The session program is every line that ran, in order, and is always a valid program
(a bad or failing line is refused and changes nothing). Its steps are numbered as
lines of the session program, and so is everything the session says about them: a
diagnostic on a pasted or planned program names "session line N", and the checker's
own references ("it was line 2") count the same way. `:program` shows the numbers.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from ..checker import check
from ..errors import ProgramError, VisprogError
from ..images import load_image
from ..interpreter import Result, StepTrace, run_step
from ..program import Program, Step, Var, parse
from ..registry import ImageCache, Registry
from ..resolver import current_choice
from .display import caret, closest, inline_image, inline_protocol, is_image
from .reply import Reply


@dataclass
class _Snapshot:
    steps: list
    trace: list
    variables: dict
    inputs: dict
    sources: dict
    result_name: Optional[str]


class Session:
    """The REPL's state and behaviour, without any terminal.

    `handle(text)` takes what the user typed (one line, a pasted program, or a
    `:command`) and returns a Reply. Variables hold loaded images and every
    step's value; `steps` is the session program.

    `planner` is what `visprog.api.as_planner` takes: None (the default planner), a
    spec such as 'local' or 'hf:DIR', a chat model, a callable or a planner. It is
    made a planner at the first `:plan`. An image that cannot be loaded raises
    ImageError.
    """

    def __init__(self, images: Optional[Mapping[str, Any]] = None, *,
                 registry: Optional[Registry] = None, backend: Union[None, str, dict] = None,
                 planner: Any = None, preview_dir: Union[None, str, Path] = None,
                 inline: Optional[str] = None):
        if registry is None:
            from ..tools import default_registry
            registry = default_registry()
        self.registry = registry
        current_choice(backend, registry)  # a misspelled backend fails here, as in VisualSession
        self.backend = backend
        self.planner = planner
        self._preview_dir = Path(preview_dir) if preview_dir else None
        self.inline = inline_protocol() if inline is None else (inline or None)
        self.variables: dict[str, Any] = {}
        self.inputs: dict[str, Any] = {}   # name -> loaded image
        self.sources: dict[str, str] = {}  # name -> path as given, for :save's exec line
        self.steps: list[Step] = []
        self.trace: list[StepTrace] = []
        self.result_name: Optional[str] = None
        self.plugins: list[str] = []  # --plugin specs, repeated in the exec line of :save
        self._undo: list[_Snapshot] = []
        self.cache = ImageCache()
        for name, source in (images or {}).items():
            problem = self._name_problem(name)
            if problem:
                raise VisprogError(problem)
            self._add_input(name, load_image(source, name), source)

    # --- state -------------------------------------------------------------------------------

    @property
    def preview_dir(self) -> Path:
        if self._preview_dir is None:
            self._preview_dir = Path(tempfile.mkdtemp(prefix="visprog-repl-"))
        self._preview_dir.mkdir(parents=True, exist_ok=True)
        return self._preview_dir

    def program(self) -> Program:
        return Program(tuple(self.steps))

    def program_text(self) -> str:
        return "\n".join(step_source(s) for s in self.steps)

    def result(self) -> Result:
        """The session as an interpreter Result (for the rationale page)."""
        name = self.result_name or (self.steps[-1].output if self.steps else None)
        value = self.variables.get(name) if name else None
        return Result(value, self.program(), list(self.trace), dict(self.inputs), dict(self.variables))

    def _snapshot(self) -> None:
        self._undo.append(_Snapshot(list(self.steps), list(self.trace), dict(self.variables),
                                    dict(self.inputs), dict(self.sources), self.result_name))

    def undo(self) -> Reply:
        reply = Reply()
        if not self._undo:
            return reply.fail("nothing to undo")
        snap = self._undo.pop()
        gone = [n for n in self.variables if n not in snap.variables]
        self.steps, self.trace, self.variables = snap.steps, snap.trace, snap.variables
        self.inputs, self.sources, self.result_name = snap.inputs, snap.sources, snap.result_name
        reply.say(f"undone; removed {', '.join(gone)}" if gone else "undone")
        return reply

    def _name_problem(self, name: str) -> Optional[str]:
        """Why an image cannot be loaded under `name`, or None."""
        if not name.isidentifier():
            return f"{name!r} is not a valid variable name"
        if name in self.variables and name not in self.inputs:
            return f"{name} is a step's output; pick another name"
        users = [s.line for s in self.steps if uses(s, name)]
        if users:
            return (f"{name} is used by session line(s) {', '.join(map(str, users))}; "
                    f":undo them first or use another name")
        return None

    def _add_input(self, name: str, image, source: Any) -> None:
        self.inputs[name] = image
        self.variables[name] = image
        if isinstance(source, (str, Path)):
            self.sources[name] = str(source)

    def load(self, name: str, source: Any) -> Reply:
        """Load an image under `name` (a path, or anything `load_image` takes)."""
        reply = Reply()
        problem = self._name_problem(name)
        if problem:
            return reply.fail(f"error: {problem}")
        try:
            image = load_image(str(source) if isinstance(source, Path) else source, name)
        except VisprogError as exc:
            return reply.fail(f"error: {exc}")
        self._snapshot()
        self._add_input(name, image, source)
        reply.say(f"{name} = image {image.width}x{image.height}")
        return reply

    # --- running lines ------------------------------------------------------------------------

    def handle(self, text: str) -> Reply:
        """Run what the user typed: `:commands` and program lines, in order."""
        reply = Reply()
        chunk: list[str] = []

        def flush() -> bool:
            if chunk and any(line.strip() for line in chunk):
                reply.extend(self.run("\n".join(chunk)))
            chunk.clear()
            return reply.ok

        for line in text.replace("\r\n", "\n").split("\n"):
            if line.strip().startswith(":") and not _inside_string(chunk):
                if not flush():
                    return reply
                reply.extend(self.command(line.strip()))
                if not reply.ok or reply.quit:
                    return reply
            else:
                chunk.append(line)
        flush()
        return reply

    def command(self, line: str) -> Reply:
        from .commands import run_command
        return run_command(self, line)

    def run(self, text: str) -> Reply:
        """Run program text step by step, stopping at the first bad or failing line."""
        reply = Reply()
        try:
            program, bad = parse(text), None
        except ProgramError as exc:
            bad = exc
            program = _before(text, exc.line)  # run the good lines before the bad one
        for step in program.steps:
            if not reply.extend(self.run_line(step)):
                return reply
        if bad is not None:
            message = f"error: session line {len(self.steps) + 1}, column {bad.column}: {bad.message}"
            if bad.source_line:
                message += "\n" + caret(bad.source_line, bad.column)
            reply.fail(message)
        return reply

    def run_line(self, step: Step) -> Reply:
        """Check `step` as the next line of the session program and run it; a refused or
        failing step changes nothing."""
        reply = Reply()
        number = len(self.steps) + 1
        step = dataclasses.replace(step, line=number, text=step.text or str(step))
        diagnostics = check(Program((*self.steps, step)), self.registry, inputs=list(self.inputs))
        problems = [d for d in diagnostics if d.line == number]
        for d in problems:
            reply.say(f"{d.severity}: session line {number}, column {d.column}: {d.message}\n"
                      f"{caret(step.text, d.column)}")
        if any(d.severity == "error" for d in problems):
            reply.ok = False
            return reply
        try:
            entry = run_step(step, self.variables, self.inputs, registry=self.registry,
                             backend=self.backend, cache=self.cache)
        except VisprogError as exc:
            return reply.fail(f"error: {exc}")
        self._snapshot()
        self.steps.append(step)
        self.variables[step.output] = entry.value
        if entry.module == "Result":
            self.result_name = step.output
        self.trace.append(entry)
        reply.extend(self.show(step.output, context=entry.args.get("image")))
        for note in entry.notes:
            reply.say(f"  note: {note}")
        for warning in entry.warnings:
            reply.say(f"warning: {warning}")
        return reply

    # --- showing values -----------------------------------------------------------------------

    def context_image(self, name: str):
        """The image a step's objects/points refer to: its `image` argument."""
        for entry in reversed(self.trace):
            if entry.output == name:
                image = entry.args.get("image")
                return image if is_image(image) else None
        return None

    def show(self, name: str, context=None) -> Reply:
        """`NAME = value`, writing a preview PNG for images, objects and points."""
        from ..values import Objects, Points
        reply = Reply()
        if name not in self.variables:
            close = closest(name, self.variables)
            return reply.fail(f"error: no variable {name}" + (f"; did you mean {close}?" if close else ""))
        value = self.variables[name]
        context = context if is_image(context) else self.context_image(name)
        picture = None
        text = repr(value)
        if is_image(value):
            text = f"image {value.width}x{value.height}"
            picture = value
        elif isinstance(value, Objects) and context is not None:
            from ..drawing import draw_objects
            picture = draw_objects(context, value, scores=True)
        elif isinstance(value, Points) and context is not None:
            from ..drawing import draw_points
            picture = draw_points(context, value)
        if picture is not None:
            path = self.preview_dir / f"{name}.png"
            picture.convert("RGB").save(path)
            reply.images.append(str(path))
            text += f"   (preview: {path})"
            if self.inline:
                text += "\n" + inline_image(path, self.inline)
        reply.say(f"{name} = {text}")
        return reply


# --- program text ----------------------------------------------------------------------------

def uses(step: Step, name: str) -> bool:
    """Whether `step` reads variable `name` (as an argument or in an Eval expression)."""
    def refers(value) -> bool:
        return (isinstance(value, Var) and value.name == name) or (
            isinstance(value, list) and any(refers(v) for v in value))
    return any(refers(a.value) for a in step.args) or (
        step.module.lower() == "eval" and f"{{{name}}}" in str(step.arg("expr") or ""))


def step_source(step: Step) -> str:
    """The step as the user typed it when that reads back as the same step, else canonical."""
    text = (step.text or "").strip()
    try:
        if text and parse(text).steps == (step,):
            return text
    except ProgramError:
        pass
    return str(step)


def _before(text: str, line: int) -> Program:
    """The program of the lines of `text` before `line` (empty when they do not parse)."""
    try:
        return parse("\n".join(text.split("\n")[:line - 1])) if line > 1 else Program(())
    except ProgramError:
        return Program(())


def _inside_string(chunk: list[str]) -> bool:
    """Whether the pending lines end inside a triple-quoted string (then ':' is not a command)."""
    text = "\n".join(chunk)
    return (text.count("'''") % 2 == 1) or (text.count('"""') % 2 == 1)
