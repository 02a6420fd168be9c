"""visprog: visual programming with a safe interpreter and a visual rationale.

    program = visprog.parse("ANSWER0=Vqa(image=IMAGE, question='How many dogs?')")
    problems = visprog.check(program)
    result = visprog.execute(program, {"IMAGE": "photo.png"})
    result.value, result.trace, result.html()

    result = visprog.run("How many dogs are there?", {"IMAGE": "photo.png"})  # plans first
    summary = visprog.evaluate("data/nlvr", out="results.jsonl")           # a whole dataset
"""

from .api import run
from .checker import Diagnostic, check
from .evaluation import EvalSummary, evaluate
from .errors import (CheckError, DatasetError, EvalError, ImageError, PlannerError, ProgramError,
                     ToolError, ToolUnavailable, VisprogError)
from .interpreter import Execution, Result, execute
from .program import Program, parse
from .values import Obj, Objects, Points

__all__ = ["run", "evaluate", "EvalSummary", "parse", "check", "execute", "Program", "Diagnostic", "Result", "Execution", "Obj",
           "Objects", "Points", "VisprogError", "ProgramError", "CheckError", "EvalError",
           "ImageError", "ToolError", "ToolUnavailable", "PlannerError", "DatasetError"]
