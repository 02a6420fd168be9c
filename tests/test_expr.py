"""The Eval expression language: semantics, coercions, refusals and limits."""

import pytest

from visprog.errors import EvalError
from visprog.expr import (MAX_DEPTH, MAX_LENGTH, MAX_STRING, MAX_TOKENS, compile_expr, evaluate,
                          placeholders)
from visprog.values import Obj, Objects, Points


def value(text, **variables):
    result = evaluate(text, variables)
    assert type(result) in (bool, int, float, str)
    return result


@pytest.mark.parametrize("text, expected", [
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("7 / 2", 3.5), ("7 // 2", 3), ("7 % 3", 1), ("-7 // 2", -4),
    ("- -3", 3), ("-(2 + 3) * 2", -10), ("+4", 4), ("2.5 * 2", 5.0), ("True + 1", 2),
    ("1 < 2 < 3", True), ("3 > 2 > 2", False), ("1 == 1.0", True), ("'a' != 'b'", True),
    ("'a' < 'b' <= 'b'", True),
    ("True and False", False), ("True or False", True), ("not True", False), ("not not 0", False),
    ("1 and 'x'", "x"), ("0 or ''", ""),
    ("True xor False", True), ("True xor True", False), ("1 xor 0 xor 1", False),
    ("'yes' if 1 > 0 else 'no'", "yes"), ("'a' if 0 else 'b' if 1 else 'c'", "b"),
    ("'ab' + \"cd\"", "abcd"), ("'ab' * 2", "abab"), ("3 * 'x'", "xxx"),
    ("len('abc')", 3), ("min(3, 1, 2)", 1), ("max(1, 2.5)", 2.5), ("min('b', 'a')", "a"),
    ("abs(-4)", 4), ("int('12')", 12), ("int(3.9)", 3), ("float('2.5')", 2.5), ("str(12) + 'x'", "12x"),
    ("round(2.567, 2)", 2.57), ("round(2.5)", 2), ("bool('')", False), ("bool(3)", True),
    ("'{NOT_A_PLACEHOLDER}'", "{NOT_A_PLACEHOLDER}"), ("'\\x41\\n'", "A\n"),
])
def test_semantics(text, expected):
    got = value(text)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("answer, bound", [
    ("yes", True), ("No", False), (" YES ", True), ("3", 3), (" 4 ", 4), ("2.5", 2.5), ("-1", -1),
    ("three", 3), ("Twenty", 20), ("zero", 0), ("ninety", 90), ("red", "red"), ("", ""),
    ("1e3", 1000.0), ("nan", "nan"), ("inf", "inf"), ("１２", "１２"), ("1_000", "1_000"),
    (True, True), (7, 7), (1.5, 1.5),
    ([1, 2, 3], 3), (Objects([Obj((0, 0, 1, 1))]), 1), (Points([(1, 2), (3, 4)]), 2), ((), 0),
])
def test_answers_are_coerced_like_visprog(answer, bound):
    got = value("{A}", A=answer)
    assert got == bound and type(got) is type(bound)


def test_visprog_templates():
    assert value("{ANSWER0} + {ANSWER1} == 6", ANSWER0="2", ANSWER1="four") is True
    assert value("{ANSWER0} xor {ANSWER1}", ANSWER0="yes", ANSWER1="no") is True
    assert value("'yes' if {ANSWER0} > 0 else 'no'", ANSWER0=Objects()) == "no"
    assert value("{ANSWER0} == 2 and {ANSWER2} and {ANSWER4}",
                 ANSWER0="two", ANSWER2="yes", ANSWER4="yes") is True
    assert value("'yes' if {ANSWER0} != {ANSWER1} else 'no'", ANSWER0="red", ANSWER1="blue") == "yes"
    assert value("{A} == 'yes'", A="yes") is True  # a yes/no answer still equals its word
    assert value("{A} == 'no'", A="yes") is False


def test_answers_are_values_not_code():
    code = "__import__('os').system('id')"
    assert value("{A}", A=code) == code
    assert value("{A} == 'x'", A="' or 1 == 1 or '") is False
    assert value("{A} + '!'", A="'); exit() #") == "'); exit() #!"


def test_names_and_placeholders():
    expression = compile_expr("{A} + {B} * {A}")
    assert expression.names == frozenset({"A", "B"}) and expression.source == "{A} + {B} * {A}"
    assert placeholders("'{X}' + {Y}") == frozenset({"Y"})
    assert expression.evaluate({"A": 1, "B": 2, "UNUSED": object()}) == 3


def test_unbound_placeholder_is_named():
    with pytest.raises(EvalError, match=r"\{MISSING\} is not defined"):
        evaluate("{MISSING} > 1", {})


def test_images_and_other_objects_cannot_be_used():
    with pytest.raises(EvalError, match=r"cannot use \{A\} \(object\)"):
        evaluate("{A}", {"A": object()})
    with pytest.raises(EvalError, match="cannot use"):
        evaluate("{A}", {"A": None})


@pytest.mark.parametrize("text, words", [
    ("x.y", "attribute access"),
    ("().__class__", "attribute access"),
    ("a[0]", "subscripts"),
    ("[1, 2]", "subscripts and lists"),
    ("lambda: 0", "lambdas are not allowed"),
    ("[c for c in x]", "subscripts and lists"),
    ("1 for x", "comprehensions"),
    ("2 ** 8", "the operator '**' is not allowed"),
    ("eval('1')", "unknown function 'eval'"),
    ("__import__('os')", "unknown function '__import__'"),
    ("x", "unknown name 'x'"),
    ("x = 1", "assignment"),
    ("1 = 1", "assignment"),
    ("1 & 2", "bitwise operator '&'"),
    ("{A.b}", "placeholder"),
    ("f'{1}'", "unknown name 'f'"),
    ("'unterminated", "unterminated string literal"),
    ("(1, 2)", "unexpected ','"),
    ("'yes' if {A} > 0 and else 'no'", "unexpected 'else' at column 22"),
    ("1 +", "ends too early"),
    ("", "empty"),
    ("１２ + 1", "unexpected character"),
    ("len()", "len() takes 1 argument"),
    ("round(1, 2, 3)", "round() takes 1 to 2 argument"),
])
def test_anything_else_is_refused_when_compiled(text, words):
    with pytest.raises(EvalError) as caught:
        compile_expr(text)
    assert words in str(caught.value)


@pytest.mark.parametrize("text, words", [
    ("1 / 0", "division by zero"), ("1 // 0", "division by zero"), ("1 % 0.0", "division by zero"),
    ("'a' < 1", "cannot compare"), ("'a' + 1", "cannot add"), ("'a' - 'b'", "needs a number"),
    ("-'a'", "needs a number"), ("'a' * 'b'", "cannot multiply"), ("'a' * 2.0", "cannot multiply"),
    ("int('x')", "cannot convert"), ("float('nan')", "cannot convert"), ("len(3)", "needs a string"),
    ("abs('a')", "needs a number"), ("min(1, 'a')", "needs a number"), ("round(1, 1000)", "round()"),
    ("None", "no value"),
])
def test_runtime_errors(text, words):
    with pytest.raises(EvalError) as caught:
        evaluate(text, {})
    assert words in str(caught.value)


def test_limits():
    big = "9" * 60
    with pytest.raises(EvalError, match="too long"):
        compile_expr("1" + " " * MAX_LENGTH)
    with pytest.raises(EvalError, match="tokens"):
        compile_expr("+".join(["1"] * (MAX_TOKENS // 2 + 1)))
    with pytest.raises(EvalError, match="nested too deeply"):
        compile_expr("(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(EvalError, match="nested too deeply"):
        compile_expr("1 if 1 else " * (MAX_DEPTH + 1) + "1")
    with pytest.raises(EvalError, match="too complex"):  # brackets allowed, operators too deep
        compile_expr("(1 or 1 xor 1 and not 1 < 1 + 1 * -(" * 16 + "1" + "))" * 16)
    assert evaluate("(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH, {}) == 1
    with pytest.raises(EvalError, match="integer too large"):
        evaluate(f"{big} * {big}", {})
    with pytest.raises(EvalError, match="number literal too long"):
        compile_expr("9" * 101)
    with pytest.raises(EvalError, match="string too long"):
        evaluate(f"'ab' * {MAX_STRING}", {})
    with pytest.raises(EvalError, match="string too long"):
        evaluate("{A} + {A}", {"A": "x" * MAX_STRING})
    with pytest.raises(EvalError, match="too long"):
        evaluate("{A}", {"A": "x" * (MAX_STRING + 1)})
    with pytest.raises(EvalError, match="infinite"):
        evaluate("1e308 * 10", {})
    with pytest.raises(EvalError, match="infinite"):
        evaluate("{A}", {"A": float("inf")})
    with pytest.raises(EvalError, match="integer too large"):
        evaluate("{A}", {"A": 10 ** 100})
    with pytest.raises(EvalError, match="integer too large"):
        evaluate("int(1e300)", {})


def test_operation_budget(monkeypatch):
    import visprog.expr as expr
    monkeypatch.setattr(expr, "MAX_OPERATIONS", 5)
    with pytest.raises(EvalError, match="too many operations"):
        evaluate("1 + 1 + 1 + 1 + 1 + 1", {})
