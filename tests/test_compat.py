"""The 55 programs of the original VisProg prompts parse and check; the 4 broken ones are caught."""

import re
from pathlib import Path

from visprog.checker import check
from visprog.errors import VisprogError
from visprog.program import parse

# copied from shared/compat (allenai/visprog prompts/{nlvr,gqa,imgedit,knowtag}.py); see data/README.md
PROGRAMS = Path(__file__).resolve().parent / "data" / "visprog_prompt_programs.txt"

# statement -> (line within the program, words in the message) of each known-broken program
BROKEN = {
    "One of the two images has a bag with the characters from Disney's Frozen on it.":
        (1, "expected ',' or ')' after the argument, found 's'"),
    "Are there trains or fences in this scene?": (6, "'ANSWER' is not defined"),
    "Is the cat above a mat?": (5, "invalid Eval expression: unexpected 'else'"),
    "Is a mat below the cat?": (5, "invalid Eval expression: unexpected 'else'"),
}


def load_programs():
    text = PROGRAMS.read_text(encoding="utf-8").replace("{list_max}", "20")
    parts = re.split(r"^### (\w+): (.*)\n", text, flags=re.M)[1:]
    return [(task, statement.strip(), body.strip("\n"))
            for task, statement, body in zip(parts[::3], parts[1::3], parts[2::3])]


def test_prompt_programs():
    programs = load_programs()
    assert len(programs) == 55
    clean, broken = [], {}
    for task, statement, body in programs:
        try:
            parse(body)
        except VisprogError:
            pass  # the checker reports it below
        diagnostics = check(body)
        found = [d for d in diagnostics if d.severity == "error"]
        if found:
            broken[statement] = found
        else:
            clean.append(statement)
    assert len(clean) == 51
    assert set(broken) == set(BROKEN)
    for statement, (line, words) in BROKEN.items():
        (error,) = broken[statement]
        assert error.line == line and words in error.message, error
