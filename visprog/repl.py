"""`visprog repl`: type program lines and see each value at once.

    $ visprog repl IMAGE=photo.png
    visprog> BOX0=Loc(image=IMAGE, object='dog')
    BOX0 = Objects[dog@(12, 40, 88, 120)]   (preview: /tmp/visprog-repl-.../BOX0.png)
    visprog> :save dogs.vp

The REPL keeps one *session program*: every line that ran, in order. The session
program is always a valid program (a bad line is refused and changes nothing), so
`:save FILE` writes it and `visprog exec FILE IMAGE=photo.png` gives the same value.

The core (`Session`: state, line execution, commands) needs no terminal and is
what the tests drive; `interact()` wraps it in a prompt_toolkit UI with completion,
syntax highlighting and history.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import os
import re
import shlex
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from .errors import ProgramError, VisprogError
from .program import Program, Step, Var, parse

PROMPT = "visprog> "
HISTORY_ENV = "VISPROG_HISTORY"
DEFAULT_HISTORY = "~/.visprog_history"

HELP = """\
Type a program line, e.g.  BOX0=Loc(image=IMAGE, object='dog')  and it runs at once.
Pasting several lines runs them in order and stops at the first bad one.
Commands:
  :vars                 list the variables and their values
  :show VAR             show a variable (images and objects get a preview PNG)
  :undo                 undo the last line (or :load)
  :save FILE            write the session program; `visprog exec FILE NAME=path ...` reruns it
  :html FILE            write the rationale page of the session
  :load NAME=path       load an image under NAME
  :backend NAME         use backend NAME (or TOOL=NAME ...); `:backend` alone shows the choice
  :plan INSTRUCTION     ask the configured planner for a program, edit it, then run it
  :program              print the session program
  :help                 this text
  :quit                 leave (Ctrl-D too)
Tab completes module names, argument names (after `Module(`) and variable names."""

COMMANDS = ("vars", "show", "undo", "save", "html", "load", "backend", "plan", "program",
            "help", "quit")


@dataclass
class Reply:
    """What one input produced: text to print, whether everything succeeded, and UI requests."""

    lines: list[str] = field(default_factory=list)
    ok: bool = True
    quit: bool = False
    edit: Optional[str] = None  # program text the UI should offer for editing (`:plan`)
    images: list[str] = field(default_factory=list)  # preview PNGs written for this input

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def say(self, text: str) -> None:
        self.lines.append(text)

    def fail(self, text: str) -> "Reply":
        self.lines.append(text)
        self.ok = False
        return self

    def extend(self, other: "Reply") -> None:
        self.lines.extend(other.lines)
        self.images.extend(other.images)
        self.ok = self.ok and other.ok
        self.quit = self.quit or other.quit
        self.edit = other.edit if other.edit is not None else self.edit


@dataclass
class _Snapshot:
    steps: list
    trace: list
    variables: dict
    inputs: dict
    sources: dict
    result_name: Optional[str]


def caret(source: str, column: int, indent: str = "    ") -> str:
    """The source line with a caret under `column` (1-based)."""
    first = source.split("\n")[0]
    return f"{indent}{first}\n{indent}{' ' * max(column - 1, 0)}^"


class Session:
    """The REPL's state and behaviour, without any terminal.

    `handle(text)` takes what the user typed (one line, a pasted program, or a
    `:command`) and returns a Reply. Variables hold loaded images and every
    step's value; `steps` is the session program.
    """

    def __init__(self, images: Optional[dict[str, Any]] = None, *, registry=None,
                 backend: Union[None, str, dict] = None, planner: Any = None,
                 preview_dir: Union[None, str, Path] = None, inline: Optional[str] = None):
        if registry is None:
            from .tools import registry
        self.registry = registry
        self.backend = backend
        self.planner = planner
        self._preview_dir = Path(preview_dir) if preview_dir else None
        self.inline = _inline_protocol() if inline is None else (inline or None)
        self.variables: dict[str, Any] = {}
        self.inputs: dict[str, Any] = {}   # name -> loaded image
        self.sources: dict[str, str] = {}  # name -> path as given, for :save's exec line
        self.steps: list[Step] = []
        self.trace: list = []
        self.result_name: Optional[str] = None
        self.plugins: list[str] = []  # --plugin specs, repeated in the exec line of :save
        self._undo: list[_Snapshot] = []
        from .registry import ImageCache
        self.cache = ImageCache()
        for name, source in (images or {}).items():
            reply = self.load(name, source)
            if not reply.ok:
                raise VisprogError(reply.text)
        self._undo.clear()  # the images given at the start are not undone

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
        return "\n".join(_step_source(s) for s in self.steps)

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

    def load(self, name: str, source: Any) -> Reply:
        """Load an image under `name` (a path, or anything `load_image` takes)."""
        from .images import load_image
        reply = Reply()
        if not name.isidentifier():
            return reply.fail(f"error: {name!r} is not a valid variable name")
        if name in self.variables and name not in self.inputs:
            return reply.fail(f"error: {name} is a step's output; pick another name")
        users = [s.line for s in self.steps if _uses(s, name)]
        if users:
            return reply.fail(f"error: {name} is used by line(s) {', '.join(map(str, users))} of the "
                              f"session program; :undo them first or use another name")
        try:
            image = load_image(str(source) if isinstance(source, Path) else source, name)
        except VisprogError as exc:
            return reply.fail(f"error: {exc}")
        self._snapshot()
        self.inputs[name] = image
        self.variables[name] = image
        if isinstance(source, (str, Path)):
            self.sources[name] = str(source)
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

    def run(self, text: str) -> Reply:
        """Run program text, step by step, stopping at the first bad or failing line."""
        reply = Reply()
        lines = text.split("\n")
        try:
            program = parse(text)
            bad: Optional[ProgramError] = None
        except ProgramError as exc:
            bad = exc
            try:  # run the good lines before the bad one, then report it
                program = parse("\n".join(lines[:exc.line - 1])) if exc.line > 1 else Program(())
            except ProgramError:
                program = Program(())
        for step in program.steps:
            step_reply = self.run_step(step, where=f"line {step.line}, " if len(lines) > 1 else "")
            reply.extend(step_reply)
            if not step_reply.ok:
                return reply
        if bad is not None:
            where = f"line {bad.line}, column {bad.column}" if len(lines) > 1 else f"column {bad.column}"
            message = f"error: {where}: {bad.message}"
            if bad.source_line:
                message += "\n" + caret(bad.source_line, bad.column)
            reply.fail(message)
        return reply

    def check_step(self, step: Step) -> list:
        """The checker's diagnostics for `step` appended to the session program, as diagnostics."""
        from .checker import check
        number = len(self.steps) + 1
        new = dataclasses.replace(step, line=number)
        program = Program((*self.steps, new))
        diagnostics = check(program, self.registry, inputs=list(self.inputs))
        return [d for d in diagnostics if d.line == number]

    def run_step(self, step: Step, where: str = "") -> Reply:
        """Check `step` against the session program and run it; refused steps change nothing."""
        from .interpreter import StepTrace, make_call, run_calls
        reply = Reply()
        source = step.text or str(step)
        try:
            problems = self.check_step(step)
        except ImportError as exc:  # the checker is not importable: fall back to basic checks
            problems = []
            reply.say(f"warning: no checker available ({exc})")
        for d in problems:
            reply.say(f"{d.severity}: {where}column {d.column}: {d.message}\n{caret(source, d.column)}")
        if any(d.severity == "error" for d in problems):
            reply.ok = False
            return reply
        tool = self.registry.lookup(step.module)
        if tool is None:
            return reply.fail(f"error: unknown module {step.module!r}")
        number = len(self.steps) + 1
        step = dataclasses.replace(step, line=number, text=source)
        try:
            call = make_call(step, self.registry, self.variables, self.backend)
            outputs, notes, seconds = run_calls([call], self.cache)
        except (VisprogError, KeyError) as exc:
            return reply.fail(f"error: {exc}")
        value = outputs[0]
        self._snapshot()
        self.steps.append(step)
        self.variables[step.output] = value
        if tool.name == "Result":
            self.result_name = step.output
        self.trace.append(StepTrace.of(call, value, seconds, notes[0]))
        reply.extend(self.show(step.output, context=self.trace[-1].args.get("image")))
        for note in notes[0]:
            reply.say(f"  note: {note}")
        return reply

    # --- showing values -----------------------------------------------------------------------

    def context_image(self, name: str):
        """The image a step's objects/points refer to: its `image` argument."""
        for entry in reversed(self.trace):
            if entry.output == name:
                image = entry.args.get("image")
                return image if _is_image(image) else None
        return None

    def show(self, name: str, context=None) -> Reply:
        """`NAME = value`, writing a preview PNG for images, objects and points."""
        from .values import Objects, Points
        reply = Reply()
        if name not in self.variables:
            close = _closest(name, self.variables)
            return reply.fail(f"error: no variable {name}" + (f"; did you mean {close}?" if close else ""))
        value = self.variables[name]
        context = context if _is_image(context) else self.context_image(name)
        picture = None
        if _is_image(value):
            text = f"image {value.width}x{value.height}"
            picture = value
        elif isinstance(value, Objects):
            text = repr(value)
            if context is not None:
                from .drawing import draw_objects
                picture = draw_objects(context, value, scores=True)
        elif isinstance(value, Points):
            text = repr(value)
            if context is not None:
                from .drawing import draw_points
                picture = draw_points(context, value)
        else:
            text = repr(value)
        if picture is not None:
            path = self.preview_dir / f"{name}.png"
            picture.convert("RGB").save(path)
            reply.images.append(str(path))
            text += f"   (preview: {path})"
            if self.inline:
                text += "\n" + inline_image(path, self.inline)
        reply.say(f"{name} = {text}")
        return reply

    # --- commands -----------------------------------------------------------------------------

    def command(self, line: str) -> Reply:
        name, _, rest = line.lstrip(":").partition(" ")
        rest = rest.strip()
        matches = [c for c in COMMANDS if c.startswith(name.lower())] if name else []
        if name.lower() in COMMANDS:
            matches = [name.lower()]
        if name.lower() in ("q", "exit"):
            matches = ["quit"]
        if len(matches) != 1:
            hint = f" (could be {', '.join(':' + m for m in matches)})" if matches else ""
            return Reply().fail(f"error: unknown command :{name}{hint}; type :help")
        return getattr(self, f"cmd_{matches[0]}")(rest)

    def cmd_help(self, rest: str) -> Reply:
        return Reply([HELP])

    def cmd_quit(self, rest: str) -> Reply:
        return Reply(quit=True)

    def cmd_vars(self, rest: str) -> Reply:
        reply = Reply()
        if not self.variables:
            reply.say("no variables yet; load an image with :load NAME=path")
        for name, value in self.variables.items():
            kind = "input" if name in self.inputs else "step"
            reply.say(f"{name:<12} {kind:<5} {_summary(value)}")
        return reply

    def cmd_show(self, rest: str) -> Reply:
        if not rest:
            return Reply().fail("usage: :show VAR")
        reply = Reply()
        for name in rest.split():
            reply.extend(self.show(name))
        return reply

    def cmd_undo(self, rest: str) -> Reply:
        return self.undo()

    def cmd_program(self, rest: str) -> Reply:
        return Reply([self.program_text() or "(no lines yet)"])

    def exec_command(self, path: str = "FILE") -> str:
        """The shell command that reruns the saved session program."""
        parts = ["visprog"] + [f"--plugin {shlex.quote(p)}" for p in self.plugins]
        parts += ["exec", shlex.quote(path)]
        parts += [shlex.quote(f"{n}={self.sources.get(n, '<path>')}") for n in self.inputs]
        if isinstance(self.backend, str):
            parts += ["--backend", shlex.quote(self.backend)]
        elif isinstance(self.backend, dict):
            for tool, name in self.backend.items():
                parts += ["--backend", shlex.quote(f"{tool}={name}")]
        return " ".join(parts)

    def save_text(self, path: str = "FILE") -> str:
        header = ["# visprog session program; rerun with:", f"#   {self.exec_command(path)}"]
        return "\n".join(header + [self.program_text()]) + "\n"

    def cmd_save(self, rest: str) -> Reply:
        if not rest:
            return Reply().fail("usage: :save FILE")
        if not self.steps:
            return Reply().fail("nothing to save yet: no line has run")
        path = Path(os.path.expanduser(rest))
        try:
            path.write_text(self.save_text(rest), encoding="utf-8")
        except OSError as exc:
            return Reply().fail(f"error: cannot write {path}: {exc}")
        return Reply([f"saved {len(self.steps)} line(s) to {path}; rerun with: {self.exec_command(rest)}"])

    def result(self):
        """The session as an interpreter Result (for the rationale page)."""
        from .interpreter import Result
        name = self.result_name or (self.steps[-1].output if self.steps else None)
        value = self.variables.get(name) if name else None
        return Result(value, self.program(), list(self.trace), dict(self.inputs), dict(self.variables))

    def cmd_html(self, rest: str) -> Reply:
        if not rest:
            return Reply().fail("usage: :html FILE")
        path = Path(os.path.expanduser(rest))
        try:
            path.write_text(self.result().html("visprog session"), encoding="utf-8")
        except OSError as exc:
            return Reply().fail(f"error: cannot write {path}: {exc}")
        return Reply([f"rationale written to {path}"])

    def cmd_load(self, rest: str) -> Reply:
        reply = Reply()
        if not rest:
            return reply.fail("usage: :load NAME=path")
        for pair in shlex.split(rest):
            name, sep, path = pair.partition("=")
            if not sep or not path:
                return reply.fail(f"error: {pair!r} must look like NAME=path")
            reply.extend(self.load(name, os.path.expanduser(path)))
            if not reply.ok:
                break
        return reply

    def cmd_backend(self, rest: str) -> Reply:
        if not rest:
            return Reply([f"backend: {self.backend or 'each tool default'}; available: "
                          + ", ".join(sorted({b for t in self.registry for b in t.backends}))])
        from .cli import parse_backend
        try:
            choice = parse_backend(rest.split())
        except (VisprogError, ValueError) as exc:
            return Reply().fail(f"error: {exc}")
        known = {b for t in self.registry for b in t.backends}
        if isinstance(choice, str) and choice not in known:
            return Reply().fail(f"error: no tool has a backend named {choice!r}; available: "
                                + ", ".join(sorted(known)))
        if isinstance(choice, dict):
            for tool_name, backend in choice.items():
                tool = self.registry.lookup(tool_name)
                if tool is None:
                    return Reply().fail(f"error: unknown tool {tool_name!r}")
                if backend not in tool.backends:
                    return Reply().fail(f"error: {tool.name} has no backend {backend!r}; "
                                        f"available: {', '.join(tool.backends) or 'none'}")
            choice = {self.registry.lookup(t).name: b for t, b in choice.items()}
        self.backend = choice
        return Reply([f"backend: {choice}"])

    def cmd_plan(self, rest: str) -> Reply:
        if not rest:
            return Reply().fail("usage: :plan INSTRUCTION")
        planner = self.planner
        if planner is None:
            try:
                planner = default_planner()
            except VisprogError as exc:
                return Reply().fail(f"error: no planner is configured: {exc}")
            self.planner = planner
        try:
            program = planner.plan(rest, inputs=list(self.inputs))
        except VisprogError as exc:
            return Reply().fail(f"error: the planner failed: {exc}")
        except Exception as exc:  # a planner that cannot run here (missing weights, no network)
            return Reply().fail(f"error: the planner cannot run here: {type(exc).__name__}: {exc}")
        text = program if isinstance(program, str) else str(program)
        return Reply(["planned program (edit it, then press Esc Enter to run):"], edit=text)


# --- planner -------------------------------------------------------------------------------

def default_planner():
    """The planner `visprog.run` uses by default; a VisprogError saying why when there is none."""
    try:
        from . import planners
    except ImportError as exc:
        raise VisprogError(f"visprog.planners cannot be imported ({exc})") from None
    for name in ("default_planner", "get_planner", "load_default_planner"):
        factory = getattr(planners, name, None)
        if callable(factory):
            try:
                planner = factory()
            except VisprogError:
                raise
            except Exception as exc:  # a planner that cannot start here
                raise VisprogError(f"{type(exc).__name__}: {exc}") from None
            if planner is not None:
                return planner
    try:
        from . import api
    except ImportError:
        api = None
    for name in ("default_planner", "get_planner"):
        factory = getattr(api, name, None) if api else None
        if callable(factory):
            try:
                planner = factory()
            except VisprogError:
                raise
            except Exception as exc:  # e.g. the in-repo planner's weights are missing
                raise VisprogError(f"the default planner cannot start: {type(exc).__name__}: {exc}") from None
            if planner is not None:
                return planner
    raise VisprogError("visprog has no default planner here; start the REPL with --planner "
                       "(local, hf:DIR, or MODULE:FACTORY returning an object with "
                       ".plan(instruction, task=None, inputs=None))")


def load_planner(spec: str):
    """A planner from a spec: 'local', 'local:FILE' or 'hf:DIR' (as `visprog run --planner`),
    or 'module:factory' (a function returning an object with .plan(), called with no arguments)."""
    import importlib
    module_name, _, attr = spec.partition(":")
    if module_name in ("local", "hf"):
        from .planners.cli import planner_from_spec
        return planner_from_spec(spec)
    if not attr:
        raise VisprogError(f"--planner {spec!r} must look like module:factory")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise VisprogError(f"--planner {spec}: {exc}") from None
    return factory() if callable(factory) and not hasattr(factory, "plan") else factory


# --- helpers -------------------------------------------------------------------------------

def _is_image(value: Any) -> bool:
    from PIL import Image
    return isinstance(value, Image.Image)


def value_kind(value: Any) -> str:
    """The checker's kind name for a runtime value."""
    from .values import Objects, Points
    if _is_image(value):
        return "Image"
    if isinstance(value, Objects):
        return "Objects"
    if isinstance(value, Points):
        return "Points"
    if isinstance(value, list):
        return "list[str]" if all(isinstance(v, str) for v in value) else "list"
    return {bool: "bool", int: "int", float: "float", str: "str", type(None): "None"}.get(
        type(value), "any")


def _summary(value: Any, limit: int = 70) -> str:
    if _is_image(value):
        return f"image {value.width}x{value.height}"
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _closest(name: str, names) -> Optional[str]:
    import difflib
    by_lower = {n.lower(): n for n in names}
    match = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


def _uses(step: Step, name: str) -> bool:
    def refers(value) -> bool:
        return (isinstance(value, Var) and value.name == name) or (
            isinstance(value, list) and any(refers(v) for v in value))
    return any(refers(a.value) for a in step.args) or (
        step.module.lower() == "eval" and f"{{{name}}}" in str(step.arg("expr") or ""))


def _step_source(step: Step) -> str:
    """The step as the user typed it when that reads back as the same step, else canonical."""
    text = (step.text or "").strip()
    try:
        if text and parse(text).steps == (step,):
            return text
    except ProgramError:
        pass
    return str(step)


def _inside_string(chunk: list[str]) -> bool:
    """Whether the pending lines end inside a triple-quoted string (then ':' is not a command)."""
    text = "\n".join(chunk)
    return (text.count("'''") % 2 == 1) or (text.count('"""') % 2 == 1)


def _inline_protocol() -> Optional[str]:
    """'iterm' or 'kitty' when the terminal says it shows images inline, else None."""
    if os.environ.get("VISPROG_INLINE", "1") == "0":
        return None
    program = os.environ.get("TERM_PROGRAM", "")
    if program in ("iTerm.app", "WezTerm"):
        return "iterm"
    if program.lower() == "kitty" or os.environ.get("TERM") == "xterm-kitty":
        return "kitty"
    return None


def inline_image(path: Union[str, Path], protocol: str) -> str:
    """The escape sequence that shows the PNG inline (iTerm2 or kitty graphics protocol)."""
    data = Path(path).read_bytes()
    payload = base64.b64encode(data).decode("ascii")
    if protocol == "iterm":
        name = base64.b64encode(Path(path).name.encode()).decode("ascii")
        return f"\x1b]1337;File=name={name};size={len(data)};inline=1;width=auto:{payload}\x07"
    chunks = [payload[i:i + 4096] for i in range(0, len(payload), 4096)] or [""]
    out = []
    for i, chunk in enumerate(chunks):
        more = 1 if i < len(chunks) - 1 else 0
        head = "a=T,f=100," if i == 0 else ""
        out.append(f"\x1b_G{head}m={more};{chunk}\x1b\\")
    return "".join(out)


# --- completion and highlighting (prompt_toolkit) ------------------------------------------

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")


def completions(session: Session, text: str) -> list[tuple[str, int, str]]:
    """Completions for the text before the cursor: (completion, start offset (<= 0), meta).

    Module names after `NAME=`, argument names after `Module(` or `,`, variable names
    after `arg=`, command names after `:`, and variables after `:show`.
    """
    line = text.split("\n")[-1]
    word_match = _IDENT.search(line)
    word = word_match.group() if word_match else ""
    before = line[:len(line) - len(word)]
    start = -len(word)
    if before.lstrip().startswith(":"):
        command = line.lstrip()[1:]
        if " " not in command:
            return [(":" + c, -len(line.lstrip()), "") for c in COMMANDS if c.startswith(command)]
        head = command.split(" ", 1)[0]
        if head in ("show",):
            return [(n, start, _summary(v, 40)) for n, v in session.variables.items()
                    if n.startswith(word)]
        if head == "backend":
            names = sorted({b for t in session.registry for b in t.backends})
            return [(n, start, "") for n in names if n.startswith(word)]
        return []
    if _in_string(line):
        return []
    if re.fullmatch(r"\s*[A-Za-z_][A-Za-z0-9_]*\s*=\s*", before):
        out = []
        upper = len(word) >= 2 and word.isupper()  # VisProg's upper-case names: offer aliases
        for tool in session.registry:
            names = [tool.name] + [a for a in tool.aliases if upper and a.lower() != tool.name.lower()]
            for name in names:
                if name.lower().startswith(word.lower()):
                    out.append((name + "(", start, tool.summary[:60]))
        return out
    call = re.match(r"\s*[A-Za-z_][A-Za-z0-9_]*\s*=\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(", line)
    if call:
        tool = session.registry.lookup(call.group(1))
        if re.search(r"[(,]\s*$", before):  # an argument name
            if tool is None:
                return []
            given = set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*=", before[call.end():]))
            return [(p.name + "=", start, p.describe()) for p in tool.params
                    if p.name.startswith(word) and p.name not in given]
        arg = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*\[?\s*$", before)
        if arg:  # a value: variables, those of a kind the argument takes first
            param = tool.param(arg.group(1)) if tool else None
            names = [n for n in session.variables if n.startswith(word)]
            if param is not None:
                names.sort(key=lambda n: value_kind(session.variables[n]) not in param.kinds
                           and "any" not in param.kinds)
            return [(n, start, _summary(session.variables[n], 40)) for n in names]
    return []


def _in_string(line: str) -> bool:
    quote = None
    i = 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        i += 1
    return quote is not None


def _pygments_lexer():
    from pygments.lexer import RegexLexer, bygroups
    from pygments.token import (Comment, Keyword, Name, Number, Operator, Punctuation, String,
                                Text)

    class ProgramLexer(RegexLexer):
        """Program lines and `:commands`."""

        name = "visprog"
        tokens = {
            "root": [
                (r"\s+", Text),
                (r"#.*$", Comment),
                (r"(:[a-z]+)(.*)$", bygroups(Keyword, Text)),
                (r"([A-Za-z_]\w*)(\s*)(=)(\s*)([A-Za-z_]\w*)(\s*)(\()",
                 bygroups(Name.Variable, Text, Operator, Text, Name.Function, Text, Punctuation),
                 "args"),
                (r".", Text),
            ],
            "args": [
                (r"\s+", Text),
                (r"\)", Punctuation, "#pop"),
                (r"([A-Za-z_]\w*)(\s*)(=)", bygroups(Name.Attribute, Text, Operator)),
                (r"[rRuU]?('''(\\.|[^\\])*?'''|\"\"\"(\\.|[^\\])*?\"\"\"|'(\\.|[^'\\\n])*'|\"(\\.|[^\"\\\n])*\")",
                 String),
                (r"'(\\.|[^'\\\n])*$|\"(\\.|[^\"\\\n])*$", String),  # unterminated, as typed
                (r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?", Number),
                (r"(True|False|None)\b", Keyword.Constant),
                (r"[A-Za-z_]\w*", Name),
                (r"[\[\],]", Punctuation),
                (r"#.*$", Comment),
                (r".", Text),
            ],
        }

    return ProgramLexer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="*", metavar="NAME=path", help="images to load")
    parser.add_argument("--backend", action="append", default=[], metavar="NAME|TOOL=NAME")
    parser.add_argument("--planner", metavar="local|local:FILE|hf:DIR|MODULE:FACTORY",
                        help="the planner for :plan (default: the in-repo planner model)")
    parser.add_argument("--preview-dir", metavar="DIR", help="where preview PNGs go")
    parser.add_argument("--history", metavar="FILE",
                        help=f"history file (default ${HISTORY_ENV} or {DEFAULT_HISTORY})")


def add_commands(sub) -> None:
    """Add `visprog repl` and `visprog docs` to the CLI's subparsers."""
    p = sub.add_parser("repl", help="an interactive program REPL with completion and previews")
    add_arguments(p)
    p.set_defaults(func=cmd_repl)
    from .docs import add_commands as add_docs
    add_docs(sub)


def cmd_repl(args) -> int:
    from .cli import parse_backend, parse_images
    planner = load_planner(args.planner) if getattr(args, "planner", None) else None
    session = Session(parse_images(args.images), backend=parse_backend(args.backend),
                      planner=planner, preview_dir=getattr(args, "preview_dir", None))
    session.plugins = list(getattr(args, "plugin", None) or [])
    history = getattr(args, "history", None) or os.environ.get(HISTORY_ENV) or DEFAULT_HISTORY
    return interact(session, os.path.expanduser(history))


def interact(session: Session, history_path: Optional[str] = None) -> int:
    """The prompt_toolkit loop around a Session."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import Completer, Completion
    from prompt_toolkit.history import FileHistory, InMemoryHistory
    from prompt_toolkit.lexers import PygmentsLexer

    class SessionCompleter(Completer):
        def get_completions(self, document, complete_event):
            for text, start, meta in completions(session, document.text_before_cursor):
                yield Completion(text, start_position=start, display_meta=meta)

    try:
        history = FileHistory(history_path) if history_path else InMemoryHistory()
    except OSError:
        history = InMemoryHistory()
    prompt = PromptSession(history=history, completer=SessionCompleter(),
                           lexer=PygmentsLexer(_pygments_lexer()), complete_while_typing=False,
                           enable_history_search=False)
    print("visprog repl: type a program line, :help for commands, :quit to leave")
    if session.inputs:
        print("images: " + ", ".join(f"{n} ({v.width}x{v.height})" for n, v in session.inputs.items()))
    while True:
        try:
            text = prompt.prompt(PROMPT)
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        reply = session.handle(text)
        while reply.edit is not None:
            if reply.text:
                print(reply.text)
            try:
                edited = prompt.prompt("plan> ", default=reply.edit, multiline=True)
            except (KeyboardInterrupt, EOFError):
                print("plan dropped")
                reply = Reply()
                break
            reply = session.handle(edited)
        if reply.text:
            print(reply.text, flush=True)
        if reply.quit:
            break
    return 0
