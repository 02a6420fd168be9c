"""The Eval expression language: VisProg's templates, evaluated safely.

    compile_expr("'yes' if {ANSWER0} > 0 else 'no'")  ->  Expression (parse + validate)
    Expression.evaluate({"ANSWER0": "3"})               ->  'yes'

Text is lexed and parsed with `grammar/expr.lark`, checked against fixed limits,
and compiled into a small tree of tuples that `_Evaluation` walks. Each `{VAR}`
is bound as a typed value (never pasted into the text), so an answer holding
quotes or code is only a string. Nothing here uses Python's eval, exec,
compile or ast; operators and functions are looked up in the tables below, and
anything not in them is an EvalError.
"""

from __future__ import annotations

import functools
import math
import numbers
import operator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Union

from lark import Lark, LarkError, Token, Transformer, Tree, UnexpectedCharacters, UnexpectedInput
from lark.exceptions import VisitError

from .errors import EvalError
from .program import decode_string, number_value

Value = Union[bool, int, float, str]

MAX_LENGTH = 2_000  # characters of expression text
MAX_TOKENS = 400
MAX_DEPTH = 32  # brackets plus conditionals, counted before parsing
MAX_TREE_DEPTH = 64  # operators nested in the parsed tree; bounds the evaluator's recursion
MAX_OPERATIONS = 10_000  # nodes evaluated in one evaluation
MAX_INT = 10 ** 100  # |int| must stay below this
MAX_STRING = 10_000  # characters in any string bound or produced
MAX_NUMBER_CHARS = 100  # longest text (literal or answer) read as a number


@dataclass(frozen=True)
class Expression:
    """A compiled expression: its text, the {VAR} names it reads, and its tree."""

    source: str
    names: frozenset[str]
    root: tuple

    def evaluate(self, variables: Mapping[str, Any]) -> Value:
        bound = {}
        for name in self.names:
            if name not in variables:
                raise EvalError(f"{{{name}}} is not defined")
            bound[name] = bind(name, variables[name])
        result = _Evaluation(bound).run(self.root)
        if result is None:
            raise EvalError("the expression has no value (it is None)")
        return result


def compile_expr(text: str) -> Expression:
    """Parse and validate an expression; raises EvalError saying what is wrong or not allowed."""
    if not isinstance(text, str):
        raise EvalError(f"an expression must be a string, not {type(text).__name__}")
    return _compile(text)


@functools.lru_cache(maxsize=512)  # programs repeat their expressions across a dataset
def _compile(text: str) -> Expression:
    if len(text) > MAX_LENGTH:
        raise EvalError(f"the expression is too long ({len(text)} characters; "
                        f"at most {MAX_LENGTH})")
    names = _scan(text)
    try:
        tree = _parser().parse(text)
        if _tree_depth(tree) > MAX_TREE_DEPTH:
            raise EvalError(f"the expression is too complex "
                            f"(nested more than {MAX_TREE_DEPTH} levels)")
        root = _Compile().transform(tree)
    except VisitError as exc:  # raised inside the transformer: unwrap ours (EvalError)
        raise exc.orig_exc from None
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text) from None
    except LarkError as exc:
        raise EvalError(f"invalid expression: {type(exc).__name__}") from None
    return Expression(text, names, root)


def evaluate(text: str, variables: Mapping[str, Any]) -> Value:
    """Compile and evaluate `text` with its {VAR}s bound from `variables`."""
    return compile_expr(text).evaluate(variables)


def placeholders(text: str) -> frozenset[str]:
    """The {VAR} names an expression reads (it is compiled, not evaluated)."""
    return compile_expr(text).names


@functools.cache
def _parser() -> Lark:
    return Lark.open(str(Path(__file__).parent / "grammar" / "expr.lark"), parser="lalr",
                     lexer="basic", maybe_placeholders=False)


# --- binding: VisProg's coercions of answers ------------------------------------------------

_NUMBER_WORDS = {word: n for n, word in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}
_NUMBER_WORDS.update(thirty=30, forty=40, fifty=50, sixty=60, seventy=70, eighty=80, ninety=90)
_BOOLEAN_WORDS = {"yes": True, "no": False}


def bind(name: str, value: Any) -> Value:
    """The expression value of a variable: 'yes'/'no' are booleans, '3' and 'three' numbers,
    a list (Objects, Points, ...) its length; images and other objects cannot be used."""
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):  # numpy's integers too
        return _checked(int(value))
    if isinstance(value, numbers.Real):
        return _checked(float(value))
    if isinstance(value, (list, tuple)):
        return len(value)
    if not isinstance(value, str):
        raise EvalError(f"cannot use {{{name}}} ({type(value).__name__}) in an expression")
    if len(value) > MAX_STRING:
        raise EvalError(f"{{{name}}} is too long ({len(value)} characters; at most {MAX_STRING})")
    word = value.strip().lower()
    if word in _BOOLEAN_WORDS:
        return _BOOLEAN_WORDS[word]
    if word in _NUMBER_WORDS:
        return _NUMBER_WORDS[word]
    number = number_value(word) if len(word) <= MAX_NUMBER_CHARS else None
    return value if number is None else _checked(number)


def _checked(value: Any) -> Any:
    """Enforce the size limits on a value that was produced or bound."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if abs(value) >= MAX_INT:
            raise EvalError("integer too large (at most 100 digits)")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise EvalError("number out of range (the result is infinite or not a number)")
    elif isinstance(value, str):
        if len(value) > MAX_STRING:
            raise EvalError(f"string too long (at most {MAX_STRING} characters)")
    return value


# --- operators and functions ----------------------------------------------------------------

def _kind(value: Any) -> str:
    return type(value).__name__


def _number(value: Any, what: str) -> Union[int, float]:
    if isinstance(value, (int, float)):  # bool is an int, as in Python
        return value
    raise EvalError(f"{what} needs a number, not {_kind(value)} {value!r:.40}")


def _numbers(op: str, fn: Callable) -> Callable:
    """A binary operator on numbers only; zero divisors and overflows are EvalErrors."""
    def apply(a, b):
        a, b = _number(a, f"'{op}'"), _number(b, f"'{op}'")
        if op in ("/", "//", "%") and b == 0:
            raise EvalError("division by zero")
        try:
            return fn(a, b)
        except OverflowError:
            raise EvalError(f"number out of range in '{op}'") from None
    return apply


def _add(a, b):
    if isinstance(a, str) and isinstance(b, str):
        if len(a) + len(b) > MAX_STRING:
            raise EvalError(f"string too long (at most {MAX_STRING} characters)")
        return a + b
    if isinstance(a, str) or isinstance(b, str):
        raise EvalError(f"cannot add {_kind(a)} and {_kind(b)}")
    return _numbers("+", operator.add)(a, b)


def _mul(a, b):
    if isinstance(a, str) or isinstance(b, str):  # repetition: sized before it is built
        text, count = (a, b) if isinstance(a, str) else (b, a)
        if not isinstance(count, int):
            raise EvalError(f"cannot multiply {_kind(a)} and {_kind(b)}")
        if count <= 0 or not text:  # sized without multiplying: count may be any int
            return ""
        if count > MAX_STRING or len(text) * count > MAX_STRING:
            raise EvalError(f"string too long (at most {MAX_STRING} characters)")
        return text * count
    return _numbers("*", operator.mul)(a, b)  # operands are below MAX_INT, so this is cheap


_ARITHMETIC = {
    "+": _add,
    "-": _numbers("-", operator.sub),
    "*": _mul,
    "/": _numbers("/", operator.truediv),
    "//": _numbers("//", operator.floordiv),
    "%": _numbers("%", operator.mod),
}

_SIGNS = {
    "-": lambda x: -_number(x, "unary '-'"),
    "+": lambda x: +_number(x, "unary '+'"),
}


def _equal(a, b) -> bool:
    # A boolean answer still equals the word it came from: {A} == 'yes' holds for A = 'yes'.
    if isinstance(a, bool) and isinstance(b, str):
        b = _BOOLEAN_WORDS.get(b.strip().lower(), b)
    elif isinstance(b, bool) and isinstance(a, str):
        a = _BOOLEAN_WORDS.get(a.strip().lower(), a)
    return a == b


def _ordered(op: str, fn: Callable) -> Callable:
    def compare(a, b):
        both_numbers = isinstance(a, (int, float)) and isinstance(b, (int, float))
        if not (both_numbers or isinstance(a, str) and isinstance(b, str)):
            raise EvalError(f"cannot compare {_kind(a)} and {_kind(b)} with '{op}'")
        return fn(a, b)
    return compare


_COMPARISONS = {
    "==": _equal,
    "!=": lambda a, b: not _equal(a, b),
    "<": _ordered("<", operator.lt),
    "<=": _ordered("<=", operator.le),
    ">": _ordered(">", operator.gt),
    ">=": _ordered(">=", operator.ge),
}


def _len(x):
    if not isinstance(x, str):
        raise EvalError(f"len() needs a string, not {_kind(x)} "
                        "(a list variable is already its length)")
    return len(x)


def _extreme(pick: Callable, name: str) -> Callable:
    def fn(*values):
        if all(isinstance(v, str) for v in values):
            return pick(values)
        return pick(_number(v, f"{name}()") for v in values)
    return fn


def _converter(kind: type) -> Callable:
    """int() or float() of a number, or of text that is a number literal."""
    def convert(x):
        if isinstance(x, str):
            text = x.strip()
            number = number_value(text) if len(text) <= MAX_NUMBER_CHARS else None
            if number is None or kind is int and not isinstance(number, int):
                raise EvalError(f"{kind.__name__}() cannot convert {x!r:.40}")
            x = number
        return kind(_number(x, f"{kind.__name__}()"))
    return convert


def _round(x, digits=None):
    if digits is None:
        return round(_number(x, "round()"))
    if not isinstance(digits, int) or abs(digits) > 100:
        raise EvalError("round() needs a whole number of digits between -100 and 100")
    return round(_number(x, "round()"), digits)


# name -> (function, fewest arguments, most arguments)
_FUNCTIONS: dict[str, tuple[Callable, int, int]] = {
    "len": (_len, 1, 1),
    "min": (_extreme(min, "min"), 1, 16),
    "max": (_extreme(max, "max"), 1, 16),
    "abs": (lambda x: abs(_number(x, "abs()")), 1, 1),
    "int": (_converter(int), 1, 1),
    "float": (_converter(float), 1, 1),
    "str": (str, 1, 1),  # every expression value prints safely
    "round": (_round, 1, 2),
    "bool": (bool, 1, 1),
}

# Python words that might be tried; each gets a plain refusal instead of "unknown name".
_REFUSED_WORDS = {
    "lambda": "lambdas are not allowed",
    "for": "comprehensions and loops are not allowed",
    "in": "'in' is not supported",
    "is": "'is' is not supported; use '=='",
    "import": "imports are not allowed",
}

_REFUSED_CHARACTERS = {
    **{c: f"bitwise operator '{c}' is not allowed; use and, or, xor, not" for c in "&|^~"},
    ".": "attribute access ('.') is not allowed",
    "[": "subscripts and lists ('[') are not allowed",
    "]": "subscripts and lists (']') are not allowed",
    "{": "'{' must start a placeholder such as {ANSWER0}",
    "}": "'}' must end a placeholder such as {ANSWER0}",
    "=": "assignment ('=') is not allowed; use '==' to compare",
    ":": "':' is not allowed (no lambdas, slices, dicts or assignments)",
    "'": "unterminated string literal",
    '"': "unterminated string literal",
}


# --- compiling ------------------------------------------------------------------------------

def _scan(text: str) -> frozenset[str]:
    """Check the tokens before parsing: count, nesting and names. Returns the {VAR} names.

    Tokens are checked as they are lexed, so `lambda: 0` is refused for its word
    before the lexer reaches the ':'.
    """
    names, depth, conditionals, previous = set(), 0, 0, None
    try:
        for count, token in enumerate(_parser().lex(text), 1):
            if count > MAX_TOKENS:
                raise EvalError(f"the expression is too long (more than {MAX_TOKENS} tokens)")
            depth += {"LPAR": 1, "RPAR": -1}.get(token.type, 0)
            conditionals += token.type == "IF"
            if depth + conditionals > MAX_DEPTH:
                raise EvalError(f"the expression is nested too deeply (at most {MAX_DEPTH} levels)")
            if token.type == "NAME" and token in _REFUSED_WORDS:
                raise EvalError(f"{_REFUSED_WORDS[token]} (column {token.column})")
            if previous is not None and previous.type == "NAME":
                _check_name(previous, followed_by_call=token.type == "LPAR")
            if token.type == "VAR":
                names.add(token[1:-1])
            previous = token
    except UnexpectedCharacters as exc:
        raise _syntax_error(exc, text) from None
    if previous is None:
        raise EvalError("the expression is empty")
    if previous.type == "NAME":
        _check_name(previous, followed_by_call=False)
    return frozenset(names)


def _tree_depth(tree: Tree) -> int:
    deepest, stack = 0, [(tree, 1)]
    while stack:  # iterative: a deep tree must not recurse before it is rejected
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, Tree))
    return deepest


def _check_name(token: Token, followed_by_call: bool) -> None:
    allowed = ", ".join(sorted(_FUNCTIONS))
    if not followed_by_call:
        raise EvalError(f"unknown name '{token}' at column {token.column}; variables are written "
                        f"{{{token}}}, and the functions are {allowed}")
    if token not in _FUNCTIONS:
        raise EvalError(f"unknown function '{token}' at column {token.column}; "
                        f"the functions are {allowed}")


def _syntax_error(exc: UnexpectedInput, text: str) -> EvalError:
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream]
        reason = _REFUSED_CHARACTERS.get(char, f"unexpected character {char!r}")
        return EvalError(f"{reason} (column {exc.column})")
    token = getattr(exc, "token", None)
    if token is None or token.type == "$END":
        return EvalError("the expression ends too early")
    return EvalError(f"unexpected {token.value!r:.30} at column {token.column}")


class _Compile(Transformer):
    """Parse tree -> tuple tree `(kind, ...)`; each kind has an evaluator in `_Evaluation`."""

    def __default__(self, data, children, meta):
        raise EvalError(f"internal error: no handler for grammar rule {data!r}")

    def conditional(self, c):
        then, test, otherwise = c
        return ("if", test, then, otherwise)

    def or_test(self, c):
        return ("or", tuple(c))

    def xor_test(self, c):
        return ("xor", tuple(c))

    def and_test(self, c):
        return ("and", tuple(c))

    def negation(self, c):
        return ("not", len(c) - 1, c[-1])

    def comparison(self, c):
        return ("compare", c[0], _pairs(c[1:], _COMPARISONS))

    def sum(self, c):
        return ("arithmetic", c[0], _pairs(c[1:], _ARITHMETIC))

    product = sum

    def signed(self, c):
        return ("sign", tuple(_operator(t, _SIGNS) for t in reversed(c[:-1])), c[-1])

    def call(self, c):
        name, *args = c
        fn, fewest, most = _FUNCTIONS[name]  # the scan let only known names through
        if not fewest <= len(args) <= most:
            count = str(fewest) if fewest == most else f"{fewest} to {most}"
            raise EvalError(f"{name}() takes {count} argument(s), not {len(args)}")
        return ("call", fn, tuple(args))

    def var(self, c):
        return ("var", c[0][1:-1])

    def string(self, c):
        try:
            return ("const", _checked(decode_string(c[0])))
        except ValueError as exc:
            raise EvalError(f"{exc} (column {c[0].column})") from None

    def number(self, c):
        if len(c[0]) > MAX_NUMBER_CHARS:
            raise EvalError(f"number literal too long (column {c[0].column})")
        return ("const", _checked(number_value(c[0])))

    def true(self, _):
        return ("const", True)

    def false(self, _):
        return ("const", False)

    def none(self, _):
        return ("const", None)


def _operator(token: Token, table: dict) -> Callable:
    if token not in table:
        raise EvalError(f"the operator '{token}' is not allowed (column {token.column})")
    return table[token]


def _pairs(items: list, table: dict) -> tuple:
    """[op, operand, op, operand, ...] -> ((fn, operand), ...)."""
    return tuple((_operator(op, table), operand) for op, operand in zip(items[::2], items[1::2]))


# --- evaluating -----------------------------------------------------------------------------

class _Evaluation:
    """One evaluation: walks the tree (depth is bounded by MAX_DEPTH) and counts operations."""

    def __init__(self, variables: Mapping[str, Value]):
        self.variables = variables
        self.operations = 0

    def run(self, node: tuple):
        self.operations += 1
        if self.operations > MAX_OPERATIONS:
            raise EvalError(f"the expression takes too many operations (at most {MAX_OPERATIONS})")
        handler = self._HANDLERS.get(node[0])
        if handler is None:
            raise EvalError(f"internal error: no evaluator for {node[0]!r}")
        return _checked(handler(self, *node[1:]))

    def _const(self, value):
        return value

    def _var(self, name):
        return self.variables[name]

    def _if(self, test, then, otherwise):
        return self.run(then) if self.run(test) else self.run(otherwise)

    def _or(self, operands):
        for node in operands:
            value = self.run(node)
            if value:
                return value
        return value

    def _and(self, operands):
        for node in operands:
            value = self.run(node)
            if not value:
                return value
        return value

    def _xor(self, operands):
        result = False
        for node in operands:
            result ^= bool(self.run(node))
        return result

    def _not(self, count, operand):
        return bool(self.run(operand)) ^ (count % 2 == 1)

    def _compare(self, first, pairs):
        left = self.run(first)
        for compare, node in pairs:  # chained, like Python: a < b < c is a < b and b < c
            right = self.run(node)
            if not compare(left, right):
                return False
            left = right
        return True

    def _arithmetic(self, first, pairs):
        value = self.run(first)
        for apply, node in pairs:
            value = _checked(apply(value, self.run(node)))
        return value

    def _sign(self, signs, operand):
        value = self.run(operand)
        for sign in signs:
            value = sign(value)
        return value

    def _call(self, fn, args):
        return fn(*(self.run(a) for a in args))

    _HANDLERS = {"const": _const, "var": _var, "if": _if, "or": _or, "and": _and, "xor": _xor,
                 "not": _not, "compare": _compare, "arithmetic": _arithmetic, "sign": _sign,
                 "call": _call}
