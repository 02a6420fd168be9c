"""Does a program look for the objects its instruction names?

A planner that meets a word it does not know may put one it knows in its place: "How
many rockets?" becomes `Loc(object='car')`, and the answer is about cars with nothing to
say so. `unmentioned` finds the object words of a program (Loc's object, Select's query
and category, Classify's categories) that name nothing the instruction names, under any
name, plural, synonym or group word the catalogue knows ('animal' for "the pets" is
fine: a later step narrows it); `warn_unmentioned` puts a warning about each on the
program, which `Result.warnings` shows first.
"""

from __future__ import annotations

import dataclasses
import re

from ..program import Program

OBJECT_ARGS = {"Loc": ("object",), "Select": ("query", "category"), "Classify": ("categories",)}


def unmentioned(instruction: str, program: Program) -> list[str]:
    """The program's object words (each alternative of an argument, in order, once) that
    `instruction` does not name: not word for word, and denoting none of what
    `catalog.resolve` reads from any one to three of its words."""
    from ..iconworld import catalog
    from ..tools.vision import SIDES, alternatives
    words = re.findall(r"[a-z]+", instruction.lower())
    named = set().union(*(catalog.resolve(" ".join(words[i:i + n]))
                          for n in (1, 2, 3) for i in range(len(words) - n + 1)))
    out = []
    for step in program.steps:
        for name in OBJECT_ARGS.get(step.module, ()):
            value = step.arg(name)
            for alt in alternatives(value) if isinstance(value, (str, list)) else []:
                rest = [w for w in re.findall(r"[a-z]+", alt.lower()) if w not in words]
                if not rest or alt.upper() in SIDES or alt in out:
                    continue
                denotes = catalog.resolve(" ".join(w for w in alt.lower().split() if w not in catalog.COLORS))
                if denotes & named and not set(rest) & set(catalog.COLORS):
                    continue
                out.append(alt)
    return out


def warn_unmentioned(instruction: str, program: Program) -> Program:
    """`program` with a warning for each object word its instruction does not name."""
    warnings = tuple(f"the program looks for {word!r}, which the instruction does not name: the "
                     f"planner may have put a word it knows in place of one it does not, so the "
                     f"answer may be about something else" for word in unmentioned(instruction, program))
    return dataclasses.replace(program, warnings=warnings) if warnings else program
