"""The icon world's English, defined once: articles, plurals, number words, relation phrases,
and the margin object crops are cut with. Task generators, the oracle and the in-repo models'
data generators all import these, so a question the models train on reads exactly like one
the tasks ask."""

from __future__ import annotations

from .catalog import plural_of

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
                "seventeen", "eighteen", "nineteen", "twenty")

# The four relations, by key: the canonical phrase ('Is the dog to the left of the tree?'),
# every wording the tasks use, and the opposite relation.
RELATIONS = ("left", "right", "above", "below")
RELATION_PHRASE = {"left": "to the left of", "right": "to the right of", "above": "above",
                   "below": "below"}
RELATION_WORDINGS = {"left": ["to the left of", "on the left of", "left of"],
                     "right": ["to the right of", "on the right of", "right of"],
                     "above": ["above"], "below": ["below"]}
OPPOSITE = {"left": "right", "right": "left", "above": "below", "below": "above"}

CROP_MARGIN = 0.1  # an object crop extends its box by this fraction of the box's side, each way


def number_word(n: int) -> str:
    """'zero' .. 'twenty', else the digits."""
    return NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else str(n)


def plural(name: str) -> str:
    """The plural of a catalogue name or supercategory ('dog' -> 'dogs')."""
    return plural_of(name)


def article(word: str) -> str:
    """'a' or 'an' for a word."""
    return "an" if word[:1] in "aeiou" else "a"


def with_article(phrase: str) -> str:
    """'a dog', 'an owl', 'a red car'."""
    return f"{article(phrase)} {phrase}"


def margin_box(box, width: int, height: int, margin: float = CROP_MARGIN) -> tuple[int, int, int, int]:
    """An object's box (x0, y0, x1, y1) widened by `margin` of its sides, in integer pixels
    inside a width x height image (the crop the CLIP tools and prototypes see)."""
    x0, y0, x1, y1 = box
    mw, mh = (x1 - x0) * margin, (y1 - y0) * margin
    return (int(max(0, x0 - mw)), int(max(0, y0 - mh)), int(min(width, x1 + mw + 1)),
            int(min(height, y1 + mh + 1)))
