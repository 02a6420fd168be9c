"""Tab completion for the REPL: modules, argument names, variables and `:commands`."""

from __future__ import annotations

import re

from .commands import COMMANDS, backend_names
from .display import summary, value_kind
from .session import Session

# Names start only where no name character precedes: each run is scanned once (linear time).
_IDENT = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z_][A-Za-z0-9_]*$")


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
        return _command_completions(session, line, word)
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
            given = set(re.findall(r"(?<![A-Za-z0-9_])([A-Za-z_][A-Za-z0-9_]*)\s*=", before[call.end():]))
            return [(p.name + "=", start, p.describe()) for p in tool.params
                    if p.name.startswith(word) and p.name not in given]
        arg = re.search(r"(?<![A-Za-z0-9_])([A-Za-z_][A-Za-z0-9_]*)\s*=\s*\[?\s*$", before)
        if arg:  # a value: variables, those of a kind the argument takes first
            param = tool.param(arg.group(1)) if tool else None
            names = [n for n in session.variables if n.startswith(word)]
            if param is not None:
                names.sort(key=lambda n: value_kind(session.variables[n]) not in param.kinds
                           and "any" not in param.kinds)
            return [(n, start, summary(session.variables[n], 40)) for n in names]
    return []


def _command_completions(session: Session, line: str, word: str) -> list[tuple[str, int, str]]:
    command = line.lstrip()[1:]
    if " " not in command:
        return [(":" + c, -len(line.lstrip()), "") for c in COMMANDS if c.startswith(command)]
    head = command.split(" ", 1)[0]
    if head == "show":
        return [(n, -len(word), summary(v, 40)) for n, v in session.variables.items()
                if n.startswith(word)]
    if head == "backend":
        return [(n, -len(word), "") for n in backend_names(session) if n.startswith(word)]
    return []


def _in_string(line: str) -> bool:
    """Whether `line` ends inside a quoted string."""
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
