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
                  r"|the names?)\b"
                  r"|\bfind (?:the |all |every )?.+\band (?:tag|label|name|mark) them\b", re.I)
_EDIT = re.compile(r"^(?:replace|swap|change|turn|make|convert|transform|paint|recolou?r|blur|"
                   r"keep|hide|cover|put|place|add|stick|mask|obscure|colou?r[- ]?pop|desaturate|"
                   r"grey out|gray out|fade|remove|erase|edit|apply|draw)\b"
                   r"|\bemoji\b|\bblur\b|\bblack and white\b|\bgr[ae]yscale\b|\bcolou?r pop\b", re.I)
_PAIR = re.compile(r"\b(?:left|right) (?:image|picture|photo|pic|one|side image)s?\b|\bboth (?:images|pictures|photos)\b"
                   r"|\b(?:each|either|neither|one|two|other) (?:of the )?(?:images|image|pictures|picture|photos|photo)\b"
                   r"|\bthe (?:two |pair of )?(?:images|pictures|photos)\b|\bimage pair\b|\bon the (?:left|right)\b(?!.*\bof\b)", re.I)
_QUESTION = re.compile(r"\?\s*$|^(?:is|are|was|were|does|do|did|can|could|how|what|which|who|where|"
                       r"whose|when|why|will|has|have|should)\b", re.I)


def rule_task(instruction: str) -> Optional[str]:
    """The task the rules are sure of, or None."""
    text = _POLITE.sub("", instruction.strip())
    if _TAG.search(text):
        return "tag"
    if _EDIT.search(text) and not _QUESTION.search(text):
        return "edit"
    if _PAIR.search(text):
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
