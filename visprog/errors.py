"""Every error visprog raises on bad input derives from VisprogError."""

from __future__ import annotations


class VisprogError(Exception):
    """Base class: catch this to handle anything visprog rejects. A program that fails while
    running keeps what its run had warned before the failure in `warnings`."""

    warnings: tuple[str, ...] = ()


class ProgramError(VisprogError):
    """A program does not parse. Carries the 1-based line and column."""

    def __init__(self, message: str, line: int = 0, column: int = 0, source_line: str = ""):
        self.message = message
        self.line = line
        self.column = column
        self.source_line = source_line
        super().__init__(self._render())

    def _render(self) -> str:
        if not self.line:
            return self.message
        text = f"line {self.line}, column {self.column}: {self.message}"
        if self.source_line:
            caret = " " * max(self.column - 1, 0) + "^"
            text += f"\n    {self.source_line}\n    {caret}"
        return text


class CheckError(VisprogError):
    """A program parsed but the checker found errors; `.diagnostics` lists them."""

    def __init__(self, diagnostics):
        self.diagnostics = list(diagnostics)
        lines = "\n".join(str(d) for d in self.diagnostics)
        super().__init__(f"the program has {len(self.diagnostics)} problem(s):\n{lines}")


class EvalError(VisprogError):
    """An Eval expression is malformed, uses something not allowed, or exceeds a limit."""


class ImageError(VisprogError):
    """An input image cannot be loaded; the message names the image."""


class ToolError(VisprogError):
    """A tool failed while running a step; the message names the line and tool."""


class ToolUnavailable(ToolError):
    """A tool's backend cannot run here (missing weights or packages); says what is missing."""


class PlannerError(VisprogError):
    """No valid program came out of the planner; `.attempts` holds every try."""

    def __init__(self, message: str, attempts=()):
        self.attempts = list(attempts)
        super().__init__(message)


class DatasetError(VisprogError):
    """A dataset folder or one of its items is malformed."""
