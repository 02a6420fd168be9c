"""The checker: what would go wrong in a program, found before anything runs.

`check(program)` returns diagnostics (errors and warnings) with line and column:
unknown modules and arguments (with a 'did you mean'), missing arguments,
variables used before they are defined, values of a kind an argument cannot
take, and Eval expressions that do not compile. Kinds come from the registry's
declarations (`Param.kinds`, `Tool.output`), so the rules follow the tools.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable, Optional, Union

from .errors import EvalError, ProgramError
from .expr import compile_expr
from .program import Program, Step, Var, format_value, parse
from .registry import Registry, compatible, kind_name

DEFAULT_INPUTS = frozenset({"IMAGE", "LEFT", "RIGHT"})  # input images, of kind Image
_LITERAL_KINDS = {str: "str", bool: "bool", int: "int", float: "float", type(None): "None"}
_NOT_IN_EXPRESSIONS = {"Image", "None"}  # kinds an Eval placeholder cannot be bound to


@dataclass(frozen=True)
class Diagnostic:
    line: int
    column: int
    severity: str  # 'error' | 'warning'
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.severity}: {self.message}"


def check(program: Union[Program, str], registry: Optional[Registry] = None,
          inputs: Optional[Iterable[str]] = None) -> list[Diagnostic]:
    """Diagnostics for `program` (text is parsed first; a syntax error is one diagnostic)."""
    if registry is None:
        from .tools import registry
    if isinstance(program, str):
        try:
            program = parse(program)
        except ProgramError as exc:
            return [Diagnostic(exc.line or 1, exc.column or 1, "error", exc.message)]
    inputs = DEFAULT_INPUTS if inputs is None else frozenset(inputs)
    return _Check(registry, inputs, program).run()


def literal_kind(value) -> str:
    if isinstance(value, list):
        return "list[str]" if all(isinstance(v, str) for v in value) else "list"
    return _LITERAL_KINDS.get(type(value), type(value).__name__)


class _Check:
    def __init__(self, registry: Registry, inputs: frozenset[str], program: Program):
        self.registry = registry
        self.program = program
        self.kinds = {name: frozenset({"Image"}) for name in inputs}  # defined so far
        self.defined_on = dict.fromkeys(inputs, 0)  # name -> line (0: an input)
        self.first_definition = {}  # name -> first line defining it anywhere, for messages
        for step in program.steps:
            self.first_definition.setdefault(step.output, step.line)
        self.diagnostics: list[Diagnostic] = []

    def run(self) -> list[Diagnostic]:
        if not self.program.steps:
            return [Diagnostic(1, 1, "error", "the program has no steps")]
        result_lines = []
        for step in self.program.steps:
            tool = self.registry.lookup(step.module)
            output = self._step(step, tool)
            if tool is not None and tool.name == "Result":
                if result_lines:
                    self._add(step, _module_column(step), "warning",
                              f"another Result (the first is on line {result_lines[0]}); "
                              "the last one run gives the program's value")
                result_lines.append(step.line)
            self._define(step, output)
        return self.diagnostics

    def _step(self, step: Step, tool) -> frozenset[str]:
        """Check one step; returns the kinds of its output."""
        if tool is None:
            suggestion = self.registry.closest(step.module)
            hint = f"; did you mean '{suggestion}'?" if suggestion else ""
            self._add(step, _module_column(step), "error", f"unknown module '{step.module}'{hint}")
            for arg in step.args:
                self._kinds_of(step, arg)  # still report undefined variables
            return frozenset({"any"})
        for arg in step.args:
            param = tool.param(arg.name)
            kinds = self._kinds_of(step, arg)
            if param is None:
                names = [p.name for p in tool.params]
                close = difflib.get_close_matches(arg.name, names, n=1, cutoff=0.5)
                hint = (f"; did you mean '{close[0]}'?" if close else
                        f"; it takes {', '.join(names) or 'no arguments'}")
                self._add(step, arg.column, "error",
                          f"{tool.name} has no argument '{arg.name}'{hint}")
            elif kinds is not None and not compatible(kinds, param.kinds):
                self._add(step, arg.column, "error",
                          f"argument '{arg.name}' of {tool.name} takes {kind_name(param.kinds)}, "
                          f"but {_shown(arg.value)} is {kind_name(kinds)}")
            elif problem := param.text_problem(arg.value):
                self._add(step, arg.column, "error", problem)
            elif tool.reads_variables and arg.name == "expr" and isinstance(arg.value, str):
                self._expression(step, arg)
        given = {a.name for a in step.args}
        for param in tool.params:
            if param.required and param.name not in given:
                self._add(step, _module_column(step), "error",
                          f"{tool.name} needs argument '{param.name}' ({kind_name(param.kinds)})")
        return tool.output

    def _kinds_of(self, step: Step, arg) -> Optional[frozenset[str]]:
        """The kinds of an argument's value; None (after an error) for an undefined variable."""
        if not isinstance(arg.value, Var):
            return frozenset({literal_kind(arg.value)})
        name = arg.value.name
        if name not in self.kinds:
            self._add(step, arg.column, "error", self._undefined(name))
            return None
        return self.kinds[name]

    def _expression(self, step: Step, arg) -> None:
        try:
            expression = compile_expr(arg.value)
        except EvalError as exc:
            self._add(step, arg.column, "error", f"invalid Eval expression: {exc}")
            return
        for name in sorted(expression.names):
            if name not in self.kinds:
                self._add(step, arg.column, "error", f"in the expression, {self._undefined(name)}")
            elif not self.kinds[name] - _NOT_IN_EXPRESSIONS:
                self._add(step, arg.column, "error", f"{{{name}}} is "
                          f"{kind_name(self.kinds[name])}, which cannot be used in an expression")

    def _undefined(self, name: str) -> str:
        later = self.first_definition.get(name)
        if later is None:
            return f"'{name}' is not defined"
        return f"'{name}' is used before it is defined (on line {later})"

    def _define(self, step: Step, kinds: frozenset[str]) -> None:
        name = step.output
        if name in self.defined_on:
            where = f"line {self.defined_on[name]}" if self.defined_on[name] else "an input image"
            self._add(step, _output_column(step), "warning",
                      f"'{name}' is redefined (it was {where})")
        self.kinds[name] = kinds
        self.defined_on[name] = step.line

    def _add(self, step: Step, column: int, severity: str, message: str) -> None:
        self.diagnostics.append(Diagnostic(step.line, column, severity, message))


def _shown(value, limit: int = 60) -> str:
    text = format_value(value)
    return text if len(text) <= limit else f"{text[:limit - 5]}...{text[-2:]}"


def _output_column(step: Step) -> int:
    return len(step.text) - len(step.text.lstrip()) + 1


def _module_column(step: Step) -> int:
    """1-based column of the module name, found in the step's source text (1 if unknown)."""
    first_line = step.text.split("\n", 1)[0]
    equals = first_line.find("=")
    if equals < 0:
        return 1
    rest = first_line[equals + 1:]
    return equals + 2 + len(rest) - len(rest.lstrip())
