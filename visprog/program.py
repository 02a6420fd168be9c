"""The program data model: a Program is a tuple of Steps `OUTPUT=Module(arg=value, ...)`.

`parse(text)` builds one from source text (grammar in `grammar/program.lark`);
`str(program)` prints it back so that `parse(str(p)) == p`. Line numbers and
source text are kept for messages but do not take part in equality.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from lark import Lark, LarkError, Token, Transformer, UnexpectedCharacters, UnexpectedInput, v_args
from lark.exceptions import VisitError

from .errors import ProgramError

MAX_CHARS = 100_000  # longest program text accepted
MAX_LINES = 2_000
MAX_DIGITS = 100  # digits in one number literal


@dataclass(frozen=True)
class Var:
    """A reference to a variable (an earlier step's output or an input image name)."""

    name: str

    def __str__(self) -> str:
        return self.name


# A literal is str, int, float, bool, None, or a (flat) list of literals.
Literal = Union[str, int, float, bool, None, list]
ArgValue = Union[Var, Literal]


def format_value(value: ArgValue) -> str:
    """Source text for a value; repr() of every literal is text the parser reads back."""
    return value.name if isinstance(value, Var) else repr(value)


@dataclass(frozen=True)
class Arg:
    name: str
    value: ArgValue
    column: int = field(default=0, compare=False)  # 1-based column of the argument name

    def __str__(self) -> str:
        return f"{self.name}={format_value(self.value)}"


@dataclass(frozen=True)
class Step:
    output: str
    module: str  # as written; resolved against a registry by the checker
    args: tuple[Arg, ...]
    line: int = field(default=0, compare=False)  # 1-based line in the source
    text: str = field(default="", compare=False)  # the source line, for messages

    def arg(self, name: str):
        """The value of argument `name`, or None when absent."""
        return next((a.value for a in self.args if a.name == name), None)

    def __str__(self) -> str:
        return f"{self.output}={self.module}({', '.join(map(str, self.args))})"


@dataclass(frozen=True)
class Program:
    steps: tuple[Step, ...]
    # what the planner noticed about the program it wrote (planners.mentions); shown first
    # among a result's warnings
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def __str__(self) -> str:
        return "\n".join(map(str, self.steps))


def parse(text: str) -> Program:
    """Parse program text; any problem is a ProgramError with its line and column."""
    length = len(text) - text.count("\r\n")  # as after the replace below, without copying first
    if length > MAX_CHARS:
        raise ProgramError(f"the program is too long ({length} characters; at most {MAX_CHARS})")
    text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    if len(lines) > MAX_LINES:
        raise ProgramError(f"the program has too many lines ({len(lines)}; at most {MAX_LINES})")
    try:
        tree = _parser().parse(text + "\n")  # every line, the last too, ends in a newline
        program = _Build(lines).transform(tree)
    except VisitError as exc:  # raised inside the transformer: unwrap ours (ProgramError)
        raise exc.orig_exc from None
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text, lines) from None
    except (LarkError, RecursionError) as exc:
        raise ProgramError(f"cannot parse the program: {type(exc).__name__}") from None
    # str(program) escapes what it prints (a tab as \t, a control character as \x01), so
    # it can be longer than the text: the limit holds for both, so that parse(str(p)) == p.
    printed = len(str(program))
    if printed > MAX_CHARS:
        raise ProgramError(f"the program is too long when printed ({printed} characters, with "
                           f"escapes such as \\t; at most {MAX_CHARS})")
    return program


@functools.cache
def _parser() -> Lark:
    return Lark.open(str(Path(__file__).parent / "grammar" / "program.lark"), parser="lalr",
                     lexer="basic", propagate_positions=True, maybe_placeholders=False)


class _Build(Transformer):
    """Turns the parse tree into a Program; every rule has a handler, anything else raises."""

    def __init__(self, lines: list[str]):
        super().__init__()
        self.lines = lines

    def __default__(self, data, children, meta):
        raise ProgramError(f"internal error: no handler for grammar rule {data!r}")

    def start(self, steps):
        return Program(tuple(steps))

    @v_args(meta=True)
    def step(self, meta, children):
        output, module, *args = children
        seen = set()
        for arg in args:
            if arg.name in seen:
                raise self._error(f"argument '{arg.name}' is given twice", output.line, arg.column)
            seen.add(arg.name)
        text = "\n".join(self.lines[meta.line - 1:meta.end_line])
        return Step(str(output), str(module), tuple(args), line=output.line, text=text)

    def arg(self, children):
        name, value = children
        return Arg(str(name), value, column=name.column)

    def var(self, children):
        return Var(str(children[0]))

    def list(self, items):
        return items

    def string(self, children):
        token = children[0]
        try:
            return decode_string(token)
        except ValueError as exc:
            raise self._error(str(exc), token.line, token.column) from None

    def number(self, children):
        token = children[0]
        if sum(c.isdigit() for c in token) > MAX_DIGITS:
            raise self._error(f"number literal has more than {MAX_DIGITS} digits",
                              token.line, token.column)
        value = number_value(token)
        if not math.isfinite(value):
            raise self._error("number literal is out of range", token.line, token.column)
        return value

    def true(self, _):
        return True

    def false(self, _):
        return False

    def none(self, _):
        return None

    def _error(self, message: str, line: int, column: int) -> ProgramError:
        return ProgramError(message, line, column, self.lines[line - 1])


def number_value(text: str) -> Union[int, float, None]:
    """The value of a number literal (sign optional; an int unless it has a fraction or an
    exponent), or None when `text` is not one. The grammar's NUMBER says what a literal is."""
    if not _number_pattern().fullmatch(text):
        return None
    return float(text) if any(c in text for c in ".eE") else int(text)


@functools.cache
def _number_pattern() -> re.Pattern:
    return re.compile(_parser().get_terminal("NUMBER").pattern.to_regexp())


# --- string literals -------------------------------------------------------------------------

_SIMPLE_ESCAPES = {"\n": "", "\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b", "f": "\f",
                   "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_ESCAPE = re.compile(r"\\(?:x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})"
                     r"|N\{([^}\n]*)\}|([0-7]{1,3})|([\s\S]))")


def decode_string(literal: str) -> str:
    """The value of a Python string literal, decoded by hand (never evaluated).

    Raises ValueError for a malformed escape, as Python would refuse it too.
    """
    prefix = len(literal) - len(literal.lstrip("rRuU"))
    triple = len(literal) - prefix >= 6 and literal[prefix] * 3 == literal[prefix:prefix + 3]
    quotes = 3 if triple else 1
    body = literal[prefix + quotes:len(literal) - quotes]
    if "r" in literal[:prefix].lower():
        return body
    return _ESCAPE.sub(_unescape, body)


def _unescape(match: re.Match) -> str:
    hex2, hex4, hex8, name, octal, other = match.groups()
    code = hex2 or hex4 or hex8
    if code:
        if int(code, 16) > 0x10FFFF:
            raise ValueError(f"invalid escape {match.group()!r}: beyond the last unicode character")
        return chr(int(code, 16))
    if name is not None:
        try:
            return unicodedata.lookup(name)
        except KeyError:
            raise ValueError(f"unknown unicode character name in {match.group()!r}") from None
    if octal:
        return chr(int(octal, 8))
    if other in "xuUN":
        raise ValueError(f"malformed escape '\\{other}' in string literal")
    return _SIMPLE_ESCAPES.get(other, match.group())  # unknown escapes stay, as in Python


# --- syntax errors ---------------------------------------------------------------------------

# What was expected, in plain words, for each set of tokens the parser would have accepted.
_VALUE = {"STRING", "NUMBER", "TRUE", "FALSE", "NONE"}
_EXPECTED = {
    frozenset({"NAME", "_NL", "$END"}): "expected a step such as OUTPUT=Module(arg=value)",
    frozenset({"EQUAL"}): "expected '=' after the name",
    frozenset({"NAME"}): "expected a module name after '='",
    frozenset({"LPAR"}): "expected '(' after the module name",
    frozenset({"NAME", "RPAR"}): "expected an argument name or ')'",
    frozenset(_VALUE | {"NAME", "LSQB"}):
        "expected a value (a string, number, list, True, False, None or variable name)",
    frozenset({"COMMA", "RPAR"}): "expected ',' or ')' after the argument",
    frozenset(_VALUE | {"RSQB"}): "expected a literal (string, number, True, False or None) or ']'",
    frozenset({"COMMA", "RSQB"}): "expected ',' or ']' in the list",
    frozenset({"_NL"}): "expected the end of the line after ')'",
}


def _syntax_error(exc: UnexpectedInput, text: str, lines: list[str]) -> ProgramError:
    line = min(exc.line, len(lines)) if exc.line > 0 else len(lines)
    column = max(exc.column, 1)
    source = lines[line - 1]
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream]
        if char not in "'\"":
            return ProgramError(f"unexpected character {char!r}", line, column, source)
        # an unterminated triple quote lexes as an empty string and a bad one: point at its start
        start = exc.pos_in_stream
        while start > 0 and text[start - 1] == char and exc.pos_in_stream - start < 2:
            start -= 1
        return ProgramError("unterminated string literal", line,
                            column - (exc.pos_in_stream - start), source)
    accepts = frozenset(getattr(exc, "accepts", None) or getattr(exc, "expected", ()))
    expected = _EXPECTED.get(accepts, f"expected one of {', '.join(sorted(accepts))}")
    return ProgramError(f"{expected}, found {_describe(getattr(exc, 'token', None))}",
                        line, column, source)


def _describe(token) -> str:
    if not isinstance(token, Token) or token.type == "$END":
        return "the end of the program"
    if token.type == "_NL":
        return "the end of the line"
    return repr(token.value if len(token.value) <= 20 else token.value[:20] + "...")
