"""`visprog repl` in a terminal: the command line, and the prompt_toolkit loop around a
Session (completion, highlighting, history, and a multi-line editor for `:plan`)."""

from __future__ import annotations

import argparse
import os
from typing import Any, Optional

from .reply import Reply
from .session import Session

PROMPT = "visprog> "
PLAN_PROMPT = "plan> "
HISTORY_ENV = "VISPROG_HISTORY"
DEFAULT_HISTORY = "~/.visprog_history"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="*", metavar="NAME=path", help="images to load")
    parser.add_argument("--backend", action="append", default=[], metavar="NAME|TOOL=NAME")
    parser.add_argument("--planner", metavar="local|local:FILE|hf:DIR",
                        help="the planner for :plan (default: the in-repo planner model)")
    parser.add_argument("--preview-dir", metavar="DIR", help="where preview PNGs go")
    parser.add_argument("--history", metavar="FILE",
                        help=f"history file (default ${HISTORY_ENV} or {DEFAULT_HISTORY})")


def add_commands(sub) -> None:
    """Add `visprog repl` and `visprog docs` to the CLI's subparsers."""
    p = sub.add_parser("repl", help="an interactive program REPL with completion and previews")
    add_arguments(p)
    p.set_defaults(func=cmd_repl)
    from ..docs import add_commands as add_docs
    add_docs(sub)


def cmd_repl(args) -> int:
    from ..cli import backend_choice, parse_images
    session = Session(parse_images(args.images), backend=backend_choice(args.backend),
                      planner=getattr(args, "planner", None),
                      preview_dir=getattr(args, "preview_dir", None))
    session.plugins = list(getattr(args, "plugin", None) or [])
    history = getattr(args, "history", None) or os.environ.get(HISTORY_ENV) or DEFAULT_HISTORY
    return interact(session, os.path.expanduser(history))


def interact(session: Session, history_path: Optional[str] = None, *, input: Any = None,
             output: Any = None) -> int:
    """The prompt_toolkit loop around a Session (`input`/`output`: prompt_toolkit's, for tests)."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import Completer, Completion
    from prompt_toolkit.history import FileHistory, InMemoryHistory
    from prompt_toolkit.lexers import PygmentsLexer

    from .completion import completions
    from .highlight import program_lexer

    class SessionCompleter(Completer):
        def get_completions(self, document, complete_event):
            for text, start, meta in completions(session, document.text_before_cursor):
                yield Completion(text, start_position=start, display_meta=meta)

    try:
        history = FileHistory(history_path) if history_path else InMemoryHistory()
    except OSError:
        history = InMemoryHistory()
    prompt = PromptSession(history=history, completer=SessionCompleter(),
                           lexer=PygmentsLexer(program_lexer()), complete_while_typing=False,
                           enable_history_search=False, input=input, output=output)
    print("visprog repl: type a program line, :help for commands, :quit to leave")
    if session.inputs:
        print("images: " + ", ".join(f"{n} ({v.width}x{v.height})" for n, v in session.inputs.items()))
    while True:
        try:
            # multiline=False every time: PromptSession keeps the last call's setting, and
            # the :plan editor below is multi-line (Enter must submit here again)
            text = prompt.prompt(PROMPT, multiline=False)
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        reply = session.handle(text)
        while reply.edit is not None:
            if reply.text:
                print(reply.text)
            try:
                edited = prompt.prompt(PLAN_PROMPT, default=reply.edit, multiline=True)
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
