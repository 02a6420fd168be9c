"""NLVR-style items: a pair of images (LEFT, RIGHT), a statement, and whether it is true.

Every item draws its label first (true or false with equal odds), then builds
scenes and a statement with that label; the gold program asks Vqa per image and
combines the answers with Eval, as VisProg's NLVR programs do.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .base import (Noun, ProgramBuilder, Retry, V, capitalize, count, fill, is_clear,
                   merge, number_text, pick, pick_nouns, spread, unique)
from .common import relation_fraction
from ..language import OPPOSITE, RELATION_PHRASE, RELATION_WORDINGS

SIDES = OPPOSITE
SIDE_TEXT = RELATION_WORDINGS
IMAGE_NAME = {"LEFT": "left", "RIGHT": "right"}


def _q_count(n: Noun) -> str:
    return f"How many {n.plural} are in the image?"


def _q_exists(n: Noun) -> str:
    if n.singular == "person":
        return "Are there any people in the image?"
    return f"Is there {n.a()} in the image?"


def _amount(rng, n: int, noun_: Noun) -> str:
    """'two dogs', '2 dogs', 'one dog', 'a dog'."""
    if n == 1:
        return f"{pick(rng, ['one', 'a', '1']) if noun_.singular != 'person' else pick(rng, ['one', '1'])} {noun_.singular}"
    return f"{number_text(rng, n)} {noun_.plural}"


def _scene_for(rng, wanted_nouns: list[tuple[Noun, int]], *, extra=(0, 3)):
    wanted: dict[str, int] = {}
    for n, k in wanted_nouns:
        wanted = merge(wanted, spread(rng, n.members, k))
    return fill(rng, wanted, extra=extra, avoid=[n.names for n, _ in wanted_nouns])


def _counts(rng, lo=0, hi=4) -> int:
    return int(rng.integers(lo, hi + 1))


def _item(statement, program, label, left, right, form, truth):
    if truth != label:
        raise Retry("label")
    return {"instruction": statement, "images": {"LEFT": left[0], "RIGHT": right[0]},
            "answer": bool(label), "program": program, "form": form}


# --------------------------------------------------------------------------- forms

def f_total(rng, label: bool, *, groups: float = 0.1):
    k = 1 if rng.random() < 0.55 else 2
    nouns = pick_nouns(rng, k, groups=groups)
    left = _scene_for(rng, [(n, _counts(rng, 0, 3)) for n in nouns])
    right = _scene_for(rng, [(n, _counts(rng, 0, 3)) for n in nouns])
    actual = [count(left[1], n) + count(right[1], n) for n in nouns]
    claimed = list(actual)
    if not label:
        i = int(rng.integers(k))
        options = [v for v in (actual[i] - 2, actual[i] - 1, actual[i] + 1, actual[i] + 2) if v >= 1]
        claimed[i] = pick(rng, options)
    if min(claimed) < 1:
        raise Retry("zero total")
    parts = [_amount(rng, c, n) for c, n in zip(claimed, nouns)]
    things = " and ".join(parts)
    be = "is" if claimed[0] == 1 else "are"
    statement = pick(rng, [
        f"The left and right image contain a total of {things}.",
        f"There {be} {things} in total across the two images.",
        f"In total, the two images show {things}.",
        f"Together, the images contain {things}.",
        f"The two images contain {things} altogether.",
    ]) if k == 2 or rng.random() < 0.7 else pick(rng, [
        f"There {be} exactly {things} in the two images combined.",
        f"Exactly {things} can be seen across both images.",
    ])
    pb = ProgramBuilder()
    tests = []
    for c, n in zip(claimed, nouns):
        a = pb.add("ANSWER", "Vqa", image=V("LEFT"), question=_q_count(n))
        b = pb.add("ANSWER", "Vqa", image=V("RIGHT"), question=_q_count(n))
        tests.append(f"{{{a}}} + {{{b}}} == {c}")
    e = pb.add("ANSWER", "Eval", expr=" and ".join(tests))
    truth = claimed == actual
    return _item(statement, pb.result(e, "FINAL_ANSWER"), label, left, right, "total", truth)


_COMPARATORS = {
    "exactly": (lambda c, n: c == n, "=="),
    "at least": (lambda c, n: c >= n, ">="),
    "more than": (lambda c, n: c > n, ">"),
    "fewer than": (lambda c, n: c < n, "<"),
    "at most": (lambda c, n: c <= n, "<="),
}


def _claim_number(rng, comparator: str, actual: int, label: bool) -> int:
    test = _COMPARATORS[comparator][0]
    options = [n for n in range(0, actual + 4) if test(actual, n) == label]
    if comparator in ("at least", "more than", "fewer than", "at most"):
        options = [n for n in options if n >= 1]
    if comparator == "fewer than":
        options = [n for n in options if n >= 2]
    if not options:
        raise Retry("no number")
    return pick(rng, options)


def _quantified(rng, comparator: str, n: int, noun_: Noun) -> str:
    if comparator == "exactly" and n == 0:
        return f"no {noun_.plural}"
    return f"{comparator} {_amount(rng, n, noun_)}"


def f_count(rng, label: bool, *, groups: float = 0.1):
    (n_,) = pick_nouns(rng, 1, groups=groups)
    side = pick(rng, ["LEFT", "RIGHT"])
    left = _scene_for(rng, [(n_, _counts(rng, 0, 4))])
    right = _scene_for(rng, [(n_, _counts(rng, 0, 4))])
    target = left if side == "LEFT" else right
    actual = count(target[1], n_)
    comparator = pick(rng, ["exactly", "exactly", "at least", "more than", "fewer than", "at most"])
    claimed = _claim_number(rng, comparator, actual, label)
    where = IMAGE_NAME[side]
    q = _quantified(rng, comparator, claimed, n_)
    statement = pick(rng, [
        f"The {where} image contains {q}.",
        f"There {'is' if claimed == 1 else 'are'} {q} in the {where} image.",
        f"The {where} image shows {q}.",
        f"In the {where} image, there {'is' if claimed == 1 else 'are'} {q}.",
    ])
    pb = ProgramBuilder()
    a = pb.add("ANSWER", "Vqa", image=V(side), question=_q_count(n_))
    e = pb.add("ANSWER", "Eval", expr=f"{{{a}}} {_COMPARATORS[comparator][1]} {claimed}")
    truth = _COMPARATORS[comparator][0](actual, claimed)
    return _item(statement, pb.result(e, "FINAL_ANSWER"), label, left, right, "count", truth)


def f_one_or_each(rng, label: bool, *, groups: float = 0.1):
    (n_,) = pick_nouns(rng, 1, groups=groups)
    mode = pick(rng, ["one", "each"])
    k = _counts(rng, 1, 3)
    if mode == "each" and label:
        cl, cr = k, k
    else:
        cl, cr = _counts(rng, 0, 4), _counts(rng, 0, 4)
        if mode == "one" and label and rng.random() < 0.7:
            cl = k
    left = _scene_for(rng, [(n_, cl)])
    right = _scene_for(rng, [(n_, cr)])
    al, ar = count(left[1], n_), count(right[1], n_)
    amount = _amount(rng, k, n_)
    if mode == "one":
        statement = pick(rng, [
            f"At least one image contains exactly {amount}.",
            f"At least one of the images shows exactly {amount}.",
            f"In at least one image, there {'is' if k == 1 else 'are'} exactly {amount}.",
        ])
        op, truth = "or", (al == k or ar == k)
    else:
        statement = pick(rng, [
            f"Each image contains exactly {amount}.",
            f"Both images show exactly {amount}.",
            f"There {'is' if k == 1 else 'are'} exactly {amount} in each image.",
        ])
        op, truth = "and", (al == k and ar == k)
    pb = ProgramBuilder()
    a = pb.add("ANSWER", "Vqa", image=V("LEFT"), question=_q_count(n_))
    b = pb.add("ANSWER", "Vqa", image=V("RIGHT"), question=_q_count(n_))
    e = pb.add("ANSWER", "Eval", expr=f"{{{a}}} == {k} {op} {{{b}}} == {k}")
    return _item(statement, pb.result(e, "FINAL_ANSWER"), label, left, right, f"{mode}_count", truth)


def f_exists(rng, label: bool, *, groups: float = 0.1):
    (n_,) = pick_nouns(rng, 1, groups=groups)
    side = pick(rng, ["LEFT", "RIGHT"])
    negated = rng.random() < 0.35
    present = label != negated
    k = _counts(rng, 1, 3) if present else 0
    other = _counts(rng, 0, 2)
    left = _scene_for(rng, [(n_, k if side == "LEFT" else other)])
    right = _scene_for(rng, [(n_, k if side == "RIGHT" else other)])
    actual = count((left if side == "LEFT" else right)[1], n_) > 0
    where = IMAGE_NAME[side]
    if negated:
        statement = pick(rng, [f"The {where} image contains no {n_.plural}.",
                               f"There are no {n_.plural} in the {where} image.",
                               f"No {n_.plural} appear in the {where} image."])
    elif n_.singular == "person":
        statement = pick(rng, [f"There are people in the {where} image.",
                               f"The {where} image shows at least one person."])
    else:
        statement = pick(rng, [f"There is {n_.a()} in the {where} image.",
                               f"The {where} image contains at least one {n_.singular}.",
                               f"{capitalize(n_.a())} appears in the {where} image.",
                               f"The {where} image includes {n_.a()}."])
    pb = ProgramBuilder()
    a = pb.add("ANSWER", "Vqa", image=V(side), question=_q_exists(n_))
    e = pb.add("ANSWER", "Eval", expr=f"not {{{a}}}" if negated else f"{{{a}}}")
    truth = (not actual) if negated else actual
    return _item(statement, pb.result(e, "FINAL_ANSWER"), label, left, right, "exists", truth)


def f_quantify_images(rng, label: bool, *, groups: float = 0.1):
    """Exactly one image (xor), both images, neither image."""
    (n_,) = pick_nouns(rng, 1, groups=groups)
    mode = pick(rng, ["xor", "both", "neither"])
    want = {"xor": [(1, 0), (0, 1)], "both": [(1, 1)], "neither": [(0, 0)]}[mode]
    if label:
        pl, pr = pick(rng, want)
    else:
        pl, pr = pick(rng, [p for p in [(0, 0), (0, 1), (1, 0), (1, 1)] if p not in want])
    left = _scene_for(rng, [(n_, _counts(rng, 1, 3) if pl else 0)])
    right = _scene_for(rng, [(n_, _counts(rng, 1, 3) if pr else 0)])
    al, ar = count(left[1], n_) > 0, count(right[1], n_) > 0
    thing = "people" if n_.singular == "person" else n_.a()
    things = n_.plural
    if mode == "xor":
        statement = pick(rng, [f"Exactly one image contains {thing}.",
                               f"{capitalize(thing)} appear{'' if thing == 'people' else 's'} in only one of the two images.",
                               f"Only one of the images shows {thing}.",
                               f"One image contains {things} and the other does not."])
        expr, truth = "{A} xor {B}", al != ar
    elif mode == "both":
        statement = pick(rng, [f"Both images contain {things}.",
                               f"There {'are' if thing == 'people' else 'is'} {'people' if thing == 'people' else 'at least one ' + n_.singular} in each image.",
                               f"Each image shows {thing}.",
                               f"{capitalize(things)} appear in both images."])
        expr, truth = "{A} and {B}", al and ar
    else:
        statement = pick(rng, [f"Neither image contains {thing}.",
                               f"There are no {things} in either image.",
                               f"No {things} appear in the images.",
                               f"Neither of the two images shows any {things}."])
        expr, truth = "not {A} and not {B}", (not al) and (not ar)
    pb = ProgramBuilder()
    a = pb.add("ANSWER", "Vqa", image=V("LEFT"), question=_q_exists(n_))
    b = pb.add("ANSWER", "Vqa", image=V("RIGHT"), question=_q_exists(n_))
    e = pb.add("ANSWER", "Eval", expr=expr.replace("{A}", f"{{{a}}}").replace("{B}", f"{{{b}}}"))
    return _item(statement, pb.result(e, "FINAL_ANSWER"), label, left, right, mode, truth)


def f_compare(rng, label: bool, *, groups: float = 0.1, form: str = "compare"):
    (n_,) = pick_nouns(rng, 1, groups=groups)
    rel = pick(rng, ["more", "fewer", "same"])
    left = _scene_for(rng, [(n_, _counts(rng, 0, 4))])
    if rel == "same" and rng.random() < 0.5:
        right = _scene_for(rng, [(n_, count(left[1], n_))])
    else:
        right = _scene_for(rng, [(n_, _counts(rng, 0, 4))])
    al, ar = count(left[1], n_), count(right[1], n_)
    if rel == "same":
        statement = pick(rng, [f"The two images contain the same number of {n_.plural}.",
                               f"Both images show the same number of {n_.plural}.",
                               f"There are as many {n_.plural} in the left image as in the right image."])
        expr, truth = "{A} == {B}", al == ar
    else:
        first = pick(rng, ["LEFT", "RIGHT"])
        a_img, b_img = (first, "RIGHT" if first == "LEFT" else "LEFT")
        ca, cb = (al, ar) if first == "LEFT" else (ar, al)
        if rel == "more":
            truth = ca > cb
            if truth != label and ca != cb:  # say the other one has more, which flips the label
                a_img, b_img, ca, cb = b_img, a_img, cb, ca
                truth = ca > cb
        else:
            truth = ca < cb
            if truth != label and ca != cb:
                a_img, b_img, ca, cb = b_img, a_img, cb, ca
                truth = ca < cb
        wa, wb = IMAGE_NAME[a_img], IMAGE_NAME[b_img]
        statement = pick(rng, [
            f"There are {rel} {n_.plural} in the {wa} image than in the {wb} image.",
            f"The {wa} image contains {rel} {n_.plural} than the {wb} image.",
            f"The {wa} image shows {rel} {n_.plural} than the {wb} one.",
        ])
        op = ">" if rel == "more" else "<"
        expr = f"{{A}} {op} {{B}}"
        left_first = a_img == "LEFT"
        if not left_first:
            expr = f"{{B}} {op} {{A}}"
    pb = ProgramBuilder()
    a = pb.add("ANSWER", "Vqa", image=V("LEFT"), question=_q_count(n_))
    b = pb.add("ANSWER", "Vqa", image=V("RIGHT"), question=_q_count(n_))
    e = pb.add("ANSWER", "Eval", expr=expr.replace("{A}", f"{{{a}}}").replace("{B}", f"{{{b}}}"))
    return _item(statement, pb.result(e, "FINAL_ANSWER"), label, left, right, form, truth)


def f_within(rng, label: bool, *, groups: float = 0.0):
    """Two kinds compared inside one image: 'The left image has more dogs than cats.'"""
    a_, b_ = pick_nouns(rng, 2, groups=groups)
    side = pick(rng, ["LEFT", "RIGHT"])
    rel = pick(rng, ["more", "fewer", "as many"])
    scene = _scene_for(rng, [(a_, _counts(rng, 0, 3)), (b_, _counts(rng, 0, 3))], extra=(0, 2))
    other = _scene_for(rng, [(a_, _counts(rng, 0, 2)), (b_, _counts(rng, 0, 2))], extra=(0, 2))
    left, right = (scene, other) if side == "LEFT" else (other, scene)
    ca, cb = count(scene[1], a_), count(scene[1], b_)
    where = IMAGE_NAME[side]
    if rel == "as many":
        statement = pick(rng, [f"The {where} image contains as many {a_.plural} as {b_.plural}.",
                               f"In the {where} image, there are as many {a_.plural} as {b_.plural}."])
        op, truth = "==", ca == cb
    else:
        statement = pick(rng, [f"The {where} image contains {rel} {a_.plural} than {b_.plural}.",
                               f"In the {where} image, there are {rel} {a_.plural} than {b_.plural}."])
        op, truth = (">", ca > cb) if rel == "more" else ("<", ca < cb)
    pb = ProgramBuilder()
    a = pb.add("ANSWER", "Vqa", image=V(side), question=_q_count(a_))
    b = pb.add("ANSWER", "Vqa", image=V(side), question=_q_count(b_))
    e = pb.add("ANSWER", "Eval", expr=f"{{{a}}} {op} {{{b}}}")
    return _item(statement, pb.result(e, "FINAL_ANSWER"), label, left, right, "within", truth)


def f_spatial(rng, label: bool):
    a_, b_ = pick_nouns(rng, 2, people=0.15)
    side = pick(rng, ["LEFT", "RIGHT"])
    scene = _scene_for(rng, [(a_, 1), (b_, 1)], extra=(0, 3))
    other = _scene_for(rng, [(a_, _counts(rng, 0, 1)), (b_, _counts(rng, 0, 1))])
    left, right = (scene, other) if side == "LEFT" else (other, scene)
    ea, eb = unique(scene[1], a_.phrase), unique(scene[1], b_.phrase)
    rel = pick(rng, list(SIDES))
    frac = relation_fraction(ea, eb, rel)
    if not is_clear(frac):
        raise Retry("unclear relation")
    truth = frac >= 0.5
    if truth != label:
        rel = SIDES[rel]
        truth = not truth
    words = pick(rng, SIDE_TEXT[rel])
    where = IMAGE_NAME[side]
    x, y = ea.name, eb.name
    statement = pick(rng, [f"In the {where} image, {_a(x)} is {words} {_a(y)}.",
                           f"The {where} image shows {_a(x)} {words} {_a(y)}.",
                           f"In the {where} image, there is {_a(x)} {words} {_a(y)}."])
    canonical = RELATION_PHRASE[rel]
    pb = ProgramBuilder()
    a = pb.add("ANSWER", "Vqa", image=V(side), question=f"Is the {x} {canonical} the {y}?")
    e = pb.add("ANSWER", "Eval", expr=f"{{{a}}}")
    return _item(statement, pb.result(e, "FINAL_ANSWER"), label, left, right, "spatial", truth)


def _a(name: str) -> str:
    from ..language import with_article
    return with_article(name)


def f_groups(rng, label: bool):
    """Supercategory statements: totals, counts, comparisons and existence over 'animals' etc."""
    fn = pick(rng, [f_compare, f_count, f_total, f_quantify_images, f_exists])
    item = fn(rng, label, groups=1.0) if fn is not f_compare else fn(rng, label, groups=1.0, form="compare")
    item["form"] = "group_" + item["form"]
    return item


FORMS: dict[str, tuple[float, Callable]] = {
    "total": (1.0, f_total), "count": (1.2, f_count), "one_or_each": (0.8, f_one_or_each),
    "exists": (0.8, f_exists), "images": (1.2, f_quantify_images), "compare": (1.0, f_compare),
    "within": (0.5, f_within), "spatial": (1.0, f_spatial), "groups": (1.2, f_groups),
}


def generate(rng: np.random.Generator, label=None) -> dict:
    """One item; `label` (True/False) is drawn from `rng` when not given."""
    label = bool(rng.random() < 0.5) if label is None else bool(label)
    names = list(FORMS)
    weights = np.array([FORMS[n][0] for n in names])
    for _ in range(200):
        form = names[int(rng.choice(len(names), p=weights / weights.sum()))]
        try:
            return FORMS[form][1](rng, label)
        except Retry:
            continue
    raise RuntimeError("could not generate an NLVR item")  # pragma: no cover
