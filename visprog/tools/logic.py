"""Tools that compute on values: Eval, Count and Result."""

from __future__ import annotations

from typing import Any, Union

from .. import expr as _expr
from ..registry import Value, builtin
from ..values import Objects, Points


@builtin(example="ANSWER2=Eval(expr='{ANSWER0} + {ANSWER1} == 6')", aliases=("EVAL",))
def Eval(expr: str, *, variables: dict) -> Value:
    """Evaluate an expression over earlier answers: {VAR} placeholders, and/or/not/xor,
    comparisons, + - * / // %, parentheses, 'yes' if ... else 'no', len/min/max/abs/int/round.
    'yes'/'no' answers act as booleans and numeric answers ('3', 'three') as numbers."""
    return _expr.evaluate(expr, variables)


@builtin(example="ANSWER0=Count(box=BOX0)", aliases=("COUNT",))
def Count(box: Union[Objects, Points]) -> int:
    """Count the objects (or points) in a list."""
    return len(box)


@builtin(example="FINAL=Result(var=ANSWER2)", aliases=("RESULT",))
def Result(var: Any) -> Any:
    """Mark `var` as the program's result (without Result, the last step's output is)."""
    return var


TOOLS = (Eval, Count, Result)
