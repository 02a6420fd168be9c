"""The REPL's `:commands`: each is `cmd_NAME(session, rest) -> Reply`, where `session` is the
`Session` that dispatched the line (`Session.command`)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from ..errors import VisprogError
from .display import summary
from .reply import Reply

HELP = """\
Type a program line, e.g.  BOX0=Loc(image=IMAGE, object='dog')  and it runs at once.
Pasting several lines runs them in order and stops at the first bad one.
Line numbers in messages are those of the session program, as :program shows them.
Commands:
  :vars                 list the variables and their values
  :show VAR             show a variable (images and objects get a preview PNG)
  :undo                 undo the last line (or :load)
  :save FILE            write the session program; `visprog exec FILE NAME=path ...` reruns it
  :html FILE            write the rationale page of the session
  :load NAME=path       load an image under NAME
  :backend NAME         use backend NAME (or TOOL=NAME ...); `:backend` alone shows the choice
  :plan INSTRUCTION     ask the configured planner for a program, edit it, then run it
  :program              print the session program, with its line numbers
  :help                 this text
  :quit                 leave (Ctrl-D too)
Tab completes module names, argument names (after `Module(`) and variable names."""

COMMANDS = ("vars", "show", "undo", "save", "html", "load", "backend", "plan", "program",
            "help", "quit")


def run_command(session, line: str) -> Reply:
    """Run `:name rest`; a unique prefix of a command's name is enough."""
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
    return globals()[f"cmd_{matches[0]}"](session, rest)


def cmd_help(session, rest: str) -> Reply:
    return Reply([HELP])


def cmd_quit(session, rest: str) -> Reply:
    return Reply(quit=True)


def cmd_vars(session, rest: str) -> Reply:
    reply = Reply()
    if not session.variables:
        reply.say("no variables yet; load an image with :load NAME=path")
    for name, value in session.variables.items():
        kind = "input" if name in session.inputs else "step"
        reply.say(f"{name:<12} {kind:<5} {summary(value)}")
    return reply


def cmd_show(session, rest: str) -> Reply:
    if not rest:
        return Reply().fail("usage: :show VAR")
    reply = Reply()
    for name in rest.split():
        reply.extend(session.show(name))
    return reply


def cmd_undo(session, rest: str) -> Reply:
    return session.undo()


def cmd_program(session, rest: str) -> Reply:
    lines = session.program_text().split("\n") if session.steps else []
    width = len(str(len(lines)))
    return Reply([f"{n:>{width}}  {line}" for n, line in enumerate(lines, 1)] or ["(no lines yet)"])


def exec_command(session, path: str = "FILE") -> str:
    """The shell command that reruns the saved session program."""
    parts = ["visprog"] + [f"--plugin {shlex.quote(p)}" for p in session.plugins]
    parts += ["exec", shlex.quote(path)]
    parts += [shlex.quote(f"{n}={session.sources.get(n, '<path>')}") for n in session.inputs]
    if isinstance(session.backend, str):
        parts += ["--backend", shlex.quote(session.backend)]
    elif isinstance(session.backend, dict):
        for tool, name in session.backend.items():
            parts += ["--backend", shlex.quote(f"{tool}={name}")]
    return " ".join(parts)


def save_text(session, path: str = "FILE") -> str:
    header = ["# visprog session program; rerun with:", f"#   {exec_command(session, path)}"]
    return "\n".join(header + [session.program_text()]) + "\n"


def cmd_save(session, rest: str) -> Reply:
    if not rest:
        return Reply().fail("usage: :save FILE")
    if not session.steps:
        return Reply().fail("nothing to save yet: no line has run")
    path = Path(os.path.expanduser(rest))
    try:
        path.write_text(save_text(session, rest), encoding="utf-8")
    except OSError as exc:
        return Reply().fail(f"error: cannot write {path}: {exc}")
    return Reply([f"saved {len(session.steps)} line(s) to {path}; "
                  f"rerun with: {exec_command(session, rest)}"])


def cmd_html(session, rest: str) -> Reply:
    if not rest:
        return Reply().fail("usage: :html FILE")
    path = Path(os.path.expanduser(rest))
    try:
        path.write_text(session.result().html("visprog session"), encoding="utf-8")
    except OSError as exc:
        return Reply().fail(f"error: cannot write {path}: {exc}")
    return Reply([f"rationale written to {path}"])


def cmd_load(session, rest: str) -> Reply:
    reply = Reply()
    if not rest:
        return reply.fail("usage: :load NAME=path")
    for pair in shlex.split(rest):
        name, sep, path = pair.partition("=")
        if not sep or not path:
            return reply.fail(f"error: {pair!r} must look like NAME=path")
        if not reply.extend(session.load(name, os.path.expanduser(path))):
            break
    return reply


def backend_names(session) -> list[str]:
    return sorted({b for tool in session.registry for b in tool.backends})


def cmd_backend(session, rest: str) -> Reply:
    if not rest:
        return Reply([f"backend: {session.backend or 'the default policy'}; available: "
                      + ", ".join(backend_names(session))])
    from ..resolver import parse_choice, validate
    try:
        choice = validate(parse_choice(rest.split(), source=":backend"), session.registry,
                          source=":backend")
    except VisprogError as exc:
        return Reply().fail(f"error: {exc}")
    session.backend = choice
    return Reply([f"backend: {choice}"])


def cmd_plan(session, rest: str) -> Reply:
    if not rest:
        return Reply().fail("usage: :plan INSTRUCTION")
    from ..api import as_planner
    try:
        planner = as_planner(session.planner)
    except VisprogError as exc:
        return Reply().fail(f"error: no planner is configured: {exc}")
    except Exception as exc:  # e.g. the in-repo planner cannot load here
        return Reply().fail(f"error: the planner cannot start here: {type(exc).__name__}: {exc}")
    session.planner = planner
    try:
        program = planner.plan(rest, inputs=list(session.inputs))
    except VisprogError as exc:
        return Reply().fail(f"error: the planner failed: {exc}")
    except Exception as exc:  # a planner that cannot run here (missing weights, no network)
        return Reply().fail(f"error: the planner cannot run here: {type(exc).__name__}: {exc}")
    text = program if isinstance(program, str) else str(program)
    first = len(session.steps) + 1
    return Reply([f"planned program (edit it, then press Esc Enter to run; its lines become "
                  f"session lines {first} on):"], edit=text)
