"""Which task an instruction is, when the caller does not say: nlvr, gqa, edit or tag.

Rules catch the clear cues (an imperative editing or tagging verb first, a
statement about the left/right/both images, a question); anything the rules
leave open goes to the nearest in-context examples by MiniLM similarity.
"""

from __future__ import annotations

import re
from typing import Optional

TASKS = ("nlvr", "gqa", "edit", "tag")
INPUTS = {"nlvr": ("LEFT", "RIGHT"), "gqa": ("IMAGE",), "edit": ("IMAGE",), "tag": ("IMAGE",)}

_POLITE = re.compile(r"^\s*(?:(?:please|kindly|now|then|ok|okay|hey)[,:]?\s+|(?:can|could|would|will) you(?: please)?\s+"
                     r"|i (?:want|would like|'d like) you to\s+|i want to\s+)+", re.I)
_TAG = re.compile(r"^(?:tag|label|annotate|mark|name|identify|caption)\b"
                  r"|\b(?:tags?|label(?:s|led|ed)?|tagged|name tags?|name labels?|their names?|its name"
                  r"|the names?)\b", re.I)
# 'find the dogs and tag them': two searches, as one regex with '.+' between the two parts
# would rescan the line from every 'find' (quadratic in the instruction)
_FIND = re.compile(r"\bfind ", re.I)
_TAG_THEM = re.compile(r"\band (?:tag|label|name|mark) them\b", re.I)
_EDIT = re.compile(r"^(?:replace|swap|change|turn|make|convert|transform|paint|recolou?r|blur|"
                   r"keep|hide|cover|put|place|add|stick|mask|obscure|colou?r[- ]?pop|desaturate|"
                   r"grey out|gray out|fade|remove|erase|edit|apply|draw)\b"
                   r"|\bemoji\b|\bblur\b|\bblack and white\b|\bgr[ae]yscale\b|\bcolou?r pop\b", re.I)
_PAIR = re.compile(r"\b(?:left|right) (?:image|picture|photo|pic|one|side image)s?\b|\bboth (?:images|pictures|photos)\b"
                   r"|\b(?:each|either|neither|one|two|other) (?:of the )?(?:images|image|pictures|picture|photos|photo)\b"
                   r"|\bthe (?:two |pair of )?(?:images|pictures|photos)\b|\bimage pair\b", re.I)
_ON_SIDE = re.compile(r"\bon the (?:left|right)\b", re.I)
_OF = re.compile(r"\bof\b", re.I)
_QUESTION = re.compile(r"\?\s*$|^(?:is|are|was|were|does|do|did|can|could|how|what|which|who|where|"
                       r"whose|when|why|will|has|have|should)\b", re.I)


def _on_a_side(text: str) -> bool:
    """'... on the left' naming an image, not 'on the left of the tree': the last one on a
    line with no 'of' after it (one pass, where a lookahead would rescan from each)."""
    for line in text.split("\n"):
        last = None
        for last in _ON_SIDE.finditer(line):
            pass
        if last is not None and not _OF.search(line, last.end()):
            return True
    return False


def _find_and_tag(text: str) -> bool:
    for line in text.split("\n"):
        find = _FIND.search(line)
        if find and _TAG_THEM.search(line, find.end() + 1):
            return True
    return False


def rule_task(instruction: str) -> Optional[str]:
    """The task the rules are sure of, or None."""
    text = _POLITE.sub("", instruction.strip())
    if _TAG.search(text) or _find_and_tag(text):
        return "tag"
    if _EDIT.search(text) and not _QUESTION.search(text):
        return "edit"
    if _PAIR.search(text) or _on_a_side(text):
        return "nlvr"
    if _QUESTION.search(text):
        return "gqa"
    return None


def detect_task(instruction: str) -> str:
    """nlvr, gqa, edit or tag: rules first, then the nearest examples (MiniLM similarity)."""
    task = rule_task(instruction)
    if task is not None:
        return task
    from .select import nearest_examples
    votes: dict[str, float] = {}
    for example, score in nearest_examples(instruction, k=5):
        votes[example.task] = votes.get(example.task, 0.0) + score
    return max(votes, key=votes.get) if votes else "gqa"
