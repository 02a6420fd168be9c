"""The VQA model's data: icon-world scenes, questions with grounded answers, NLVR statements,
and the token sequences the model trains on.

Scenes are rendered once and kept as (small image, record); questions are drawn from a
record afresh every time the scene is used. Question forms follow the icon-world oracle
(visprog/iconworld/oracle.py); answers are computed from scene records with the oracle's
semantics, asked only where they are clear (unique referents, relations with fraction
<= 0.2 or >= 0.8). Wording (plurals, articles, relation phrases, number words) comes from
`visprog.iconworld.language`, as the tasks' does.
"""

from __future__ import annotations

import math
import random
import time
from typing import Optional, Sequence

import numpy as np
import torch

from ..iconworld import catalog
from ..iconworld.language import RELATION_PHRASE, number_word, plural, with_article
from ..pointing import format_count, format_points
from .llava import LlavaConfig, prompt_text, statement_prompt
from .tokenizer import BOS, EOS, IMAGE, PAD, Tokenizer

# ----------------------------------------------------------------------------- scenes


TRAIN_SEED_BASE = 10_000_000      # training scenes use seeds TRAIN_SEED_BASE + i
BENCH_SEED_BASE = 900_000_000     # the benchmark's scenes (never used in training)


def scene_record(scene) -> dict:
    """What question generation needs of a scene: objects and clear/unclear relations."""
    from ..iconworld.tasks.common import colour_is_attribute, describe, relation_fraction, scene_view
    view = scene_view(scene)
    objs, entries = [], []
    for s in view.seen:
        o = s.obj
        px, py = view.point(s)
        objs.append({"name": o.category, "color": o.color, "size": o.size,
                     "box": [float(v) for v in s.box], "point": [round(px, 2), round(py, 2)],
                     "colorable": bool(colour_is_attribute(o))})
        entries.append(s.entry)
    n = len(entries)
    left = [[relation_fraction(entries[i], entries[j], "left") if i != j else 0.5 for j in range(n)]
            for i in range(n)]
    above = [[relation_fraction(entries[i], entries[j], "above") if i != j else 0.5 for j in range(n)]
             for i in range(n)]
    return {"w": scene.width, "h": scene.height, "objects": objs, "left": left, "above": above,
            "caption": describe(view)}


def make_scene(seed: int, kind: Optional[str] = None, style: str = "train"):
    """A training/benchmark scene in `style`: 'mixed' (1-10 random things) or 'count' (0-8 of
    one category among 0-5 distractors), glyphs smaller the more there are. Returns (PIL image,
    Scene, kind)."""
    from ..iconworld.render import MIN_SIDE, IconWorldError
    from ..iconworld.styles import draw, get_style
    rng = np.random.default_rng(seed)
    st = get_style(style)
    names = catalog.all_names()
    cats_only = list(catalog.CATEGORIES)
    if kind is None:
        kind = "count" if rng.random() < 0.5 else "mixed"
    for attempt in range(5):
        if kind == "count":
            target = cats_only[int(rng.integers(len(cats_only)))] if rng.random() < 0.85 else \
                names[int(rng.integers(len(names)))]
            k = int(rng.integers(0, 9))
            others = [n for n in names if n != target]
            d = int(rng.integers(0, 6))
            cats = [target] * k + [others[int(i)] for i in rng.integers(0, len(others), size=d)]
            rng.shuffle(cats)
            scale = (0.09, 0.19) if len(cats) > 6 else (0.09, 0.23)
        else:
            n = int(rng.integers(1, 11))
            pool = cats_only if rng.random() < 0.7 else names
            cats = [pool[int(i)] for i in rng.integers(0, len(pool), size=n)]
            scale = (0.09, 0.2) if n > 6 else (0.09, 0.27)
        width, height = st.canvas(rng)
        short = min(width, height)
        size_range = (max(MIN_SIDE, round(scale[0] * short)), max(MIN_SIDE, round(scale[1] * short)))
        try:
            image, scene = draw(rng, cats, st, width=width, height=height, recolor_prob=0.5,
                                size_range=size_range)
        except IconWorldError:
            continue
        return image, scene, kind
    image, scene = draw(rng, [], st)
    return image, scene, kind


def small_pixels(image, size: int = LlavaConfig.image_size, keep_aspect: bool = True) -> np.ndarray:
    """The uint8 (size, size, 3) array the tower sees (`clip.letterboxed`, as `to_pixels`)."""
    from .clip import letterboxed
    return np.asarray(letterboxed(image, size, keep_aspect), dtype=np.uint8)


def build_pool(seeds: Sequence[int], size: int = LlavaConfig.image_size, log=None, style: str = "train"
               ) -> tuple[np.ndarray, list[dict]]:
    """Render scenes for `seeds` in `style`: (uint8 (N, size, size, 3), records)."""
    arrays, records = [], []
    t0 = time.time()
    for i, seed in enumerate(seeds):
        image, scene, kind = make_scene(int(seed), style=style)
        rec = scene_record(scene)
        rec["kind"], rec["seed"] = kind, int(seed)
        arrays.append(small_pixels(image, size))
        records.append(rec)
        if log and (i + 1) % 500 == 0:
            log(f"pool {i + 1}/{len(seeds)} scenes, {time.time() - t0:.0f}s")
    return np.stack(arrays) if arrays else np.zeros((0, size, size, 3), np.uint8), records


# ----------------------------------------------------------------------------- questions

SIDES = RELATION_PHRASE  # relation key -> the phrase questions use


def _frac(rec, i, j, side):
    if side == "left":
        return rec["left"][i][j]
    if side == "right":
        return 1 - rec["left"][i][j]
    if side == "above":
        return rec["above"][i][j]
    return 1 - rec["above"][i][j]



def _groups():
    return {s: set(m) for s, m in catalog.SUPERCATEGORIES.items() if len(m) > 1}


def point_answer(rec, members: list[int], singular: str, plural_: str) -> str:
    pts = [tuple(rec["objects"][i]["point"]) for i in members]
    return format_points(pts, rec["w"], rec["h"], singular, plural_)


def count_answer(rec, members: list[int], singular: str, plural_: str) -> str:
    pts = [tuple(rec["objects"][i]["point"]) for i in members]
    return format_count(pts, rec["w"], rec["h"], singular, plural_)


def questions(rec: dict, rng: random.Random, n: int = 8, forms: Optional[Sequence[str]] = None
              ) -> list[tuple[str, str, str, list]]:
    """Up to n (form, question, answer, refs) about a scene record. `answer` is the text
    `LLaVA.answer` should give; refs are the (label, object indices) the model points at
    before answering (`answer_ids`)."""
    objs = rec["objects"]
    names = [o["name"] for o in objs]
    present = sorted(set(names))
    counts = {nm: names.count(nm) for nm in present}
    unique = [i for i, o in enumerate(objs) if counts[o["name"]] == 1]
    all_names = catalog.all_names()
    groups = _groups()

    def some_name():  # present or absent, about half each
        if present and rng.random() < 0.6:
            return rng.choice(present)
        return rng.choice(all_names)

    def members_of(name):
        return [i for i, o in enumerate(objs) if o["name"] == name]

    def ref(singular, members, plural_=None):  # Molmo's alt: singular for one point
        return (singular if len(members) == 1 else (plural_ or plural(singular)), members)

    out = []
    table = {
        "count": 3, "exist": 2, "point": 3, "count_point": 2.5, "color": 1, "size": 1,
        "relation": 1.5, "relation_choice": 0.5, "side": 0.5, "what_rel": 0.5, "compare": 0.5,
        "super": 1, "describe": 0.5, "count_rel": 0.3,
    }
    kinds = list(forms) if forms else list(table)
    weights = [table.get(k, 1.0) for k in kinds]
    tries = 0
    while len(out) < n and tries < 6 * n:
        tries += 1
        kind = rng.choices(kinds, weights)[0]
        q = a = None
        refs: list = []
        if kind == "count":
            nm = some_name()
            q = rng.choice(["How many {} are there?", "How many {} are in the image?",
                            "How many {} can you see?", "How many {} are in the picture?"]).format(plural(nm))
            a = str(counts.get(nm, 0))
            refs = [ref(nm, members_of(nm))]
        elif kind == "exist":
            nm = some_name()
            q = rng.choice([f"Is there {with_article(nm)}?", f"Are there any {plural(nm)}?",
                            f"Is there {with_article(nm)} in the image?", f"Does the image contain {with_article(nm)}?"])
            a = "yes" if nm in counts else "no"
            refs = [ref(nm, members_of(nm))]
        elif kind in ("point", "count_point"):
            if rng.random() < 0.15 and groups:
                sup = rng.choice(sorted(groups))
                members = [i for i, o in enumerate(objs) if o["name"] in groups[sup]]
                sing, plu = sup, catalog.SUPERCATEGORY_PLURALS[sup]
            else:
                nm = some_name()
                members, sing, plu = members_of(nm), nm, plural(nm)
            refs = [ref(sing, members, plu)]
            if kind == "point":
                q = rng.choice(["Point to the {}.", "Point to the {}", "Point to all the {}."]).format(plu)
                a = point_answer(rec, members, sing, plu)
            else:
                q = rng.choice(["Count the {}.", "Count the {} by pointing."]).format(plu)
                a = count_answer(rec, members, sing, plu)
        elif kind == "color" and unique:
            i = rng.choice(unique)
            o = objs[i]
            refs = [ref(o["name"], [i])]
            if rng.random() < 0.5:
                q, a = f"What color is the {o['name']}?", o["color"]
            else:
                c = o["color"] if rng.random() < 0.5 else rng.choice(list(catalog.COLORS))
                q, a = f"Is the {o['name']} {c}?", "yes" if c == o["color"] else "no"
        elif kind == "size" and unique:
            i = rng.choice(unique)
            o = objs[i]
            refs = [ref(o["name"], [i])]
            r = rng.random()
            if r < 0.35:
                q, a = f"What size is the {o['name']}?", o["size"]
            elif r < 0.6 and o["size"] in ("small", "large"):
                q, a = f"Is the {o['name']} small or large?", o["size"]
            else:
                s = rng.choice(["small", "large", "medium"])
                q, a = f"Is the {o['name']} {s}?", "yes" if s == o["size"] else "no"
        elif kind in ("relation", "relation_choice", "what_rel") and len(unique) >= 2:
            i, j = rng.sample(unique, 2)
            side = rng.choice(list(SIDES))
            f = _frac(rec, i, j, side)
            A, B = objs[i]["name"], objs[j]["name"]
            refs = [ref(A, [i]), ref(B, [j])] if kind != "what_rel" else [ref(B, [j])]
            if kind == "relation" and (f <= 0.2 or f >= 0.8):
                q = f"Is the {A} {SIDES[side]} the {B}?"
                a = "yes" if f >= 0.5 else "no"
            elif kind == "relation_choice" and (f <= 0.2 or f >= 0.8):
                if side in ("left", "right"):
                    q = f"Is the {A} to the left or to the right of the {B}?"
                    a = "left" if _frac(rec, i, j, "left") >= 0.5 else "right"
                else:
                    q = f"Is the {A} above or below the {B}?"
                    a = "above" if _frac(rec, i, j, "above") >= 0.5 else "below"
            elif kind == "what_rel":
                cands = [k for k in range(len(objs)) if objs[k]["name"] != B and _frac(rec, k, j, side) >= 0.5]
                unclear = [k for k in range(len(objs)) if objs[k]["name"] != B and 0.2 < _frac(rec, k, j, side) < 0.8]
                cn = {objs[k]["name"] for k in cands}
                if not unclear and len(cn) <= 1:
                    q = f"What is {SIDES[side]} the {B}?"
                    a = cn.pop() if cn else "nothing"
        elif kind == "side" and unique:
            i = rng.choice(unique)
            x0, y0, x1, y1 = objs[i]["box"]
            W, H = rec["w"], rec["h"]
            lr = "left" if x1 <= W / 2 else ("right" if x0 >= W / 2 else None)
            tb = "top" if y1 <= H / 2 else ("bottom" if y0 >= H / 2 else None)
            nm = objs[i]["name"]
            refs = [ref(nm, [i])]
            if lr and rng.random() < 0.5:
                if rng.random() < 0.5:
                    q, a = f"Is the {nm} on the left or right side of the image?", lr
                else:
                    s = rng.choice(["left", "right"])
                    q, a = f"Is the {nm} on the {s}?", "yes" if s == lr else "no"
            elif tb:
                if rng.random() < 0.5:
                    q, a = f"Is the {nm} on the top or bottom of the image?", tb
                else:
                    s = rng.choice(["top", "bottom"])
                    q, a = f"Is the {nm} on the {s}?", "yes" if s == tb else "no"
        elif kind == "compare":
            x, y = some_name(), some_name()
            if x != y:
                cx, cy = counts.get(x, 0), counts.get(y, 0)
                refs = [ref(x, members_of(x)), ref(y, members_of(y))]
                r = rng.random()
                if r < 0.4:
                    q, a = f"Are there more {plural(x)} than {plural(y)}?", "yes" if cx > cy else "no"
                elif r < 0.7:
                    q, a = f"Are there fewer {plural(x)} than {plural(y)}?", "yes" if cx < cy else "no"
                else:
                    q, a = f"Are there as many {plural(x)} as {plural(y)}?", "yes" if cx == cy else "no"
        elif kind == "super" and groups:
            sup = rng.choice(sorted(groups))
            plu = catalog.SUPERCATEGORY_PLURALS[sup]
            idx = [i for i, o in enumerate(objs) if o["name"] in groups[sup]]
            members = [objs[i]["name"] for i in idx]
            refs = [ref(sup, idx, plu)]
            r = rng.random()
            if r < 0.35:
                q, a = f"Are there any {plu}?", "yes" if members else "no"
            elif r < 0.65:
                q, a = f"How many {plu} are there?", str(len(members))
            elif r < 0.85 and len(set(members)) == 1:
                q, a = f"What {sup} is in the image?", members[0]
            elif unique:
                i = rng.choice(unique)
                o = objs[i]
                refs = [ref(o["name"], [i])]
                q = f"Is the {o['name']} {with_article(sup)}?"
                a = "yes" if o["name"] in groups[sup] else "no"
        elif kind == "describe":
            q, a = rng.choice(["Describe the image.", "What is in the image?", "What do you see?"]), rec["caption"]
        elif kind == "count_rel" and unique:
            j = rng.choice(unique)
            side = rng.choice(list(SIDES))
            nm = some_name()
            ks = [k for k in members_of(nm) if k != j]
            refs = [ref(objs[j]["name"], [j]), ref(nm, ks)]
            if all(_frac(rec, k, j, side) <= 0.2 or _frac(rec, k, j, side) >= 0.8 for k in ks):
                q = f"How many {plural(nm)} are {SIDES[side]} the {objs[j]['name']}?"
                a = str(sum(_frac(rec, k, j, side) >= 0.5 for k in ks))
        if q is not None and a is not None:
            out.append((kind, q, a, refs))
    return out


# NLVR-style statements about two scenes shown side by side (the baseline `llava.answer_statement`).

def statements(left: dict, right: dict, rng: random.Random, n: int = 4) -> list[tuple[str, str]]:
    """(statement, 'yes'|'no') pairs about a left and a right scene record."""
    recs = {"left": left, "right": right}
    cnt = {s: {} for s in recs}
    for s, r in recs.items():
        for o in r["objects"]:
            cnt[s][o["name"]] = cnt[s].get(o["name"], 0) + 1
    present = sorted(set(cnt["left"]) | set(cnt["right"]))
    out = []
    for _ in range(4 * n):
        nm = rng.choice(present) if present and rng.random() < 0.8 else rng.choice(catalog.all_names())
        a, b = cnt["left"].get(nm, 0), cnt["right"].get(nm, 0)
        plu = plural(nm)
        side = rng.choice(["left", "right"])
        k = cnt[side].get(nm, 0)
        r = rng.random()
        if r < 0.2:
            m = max(0, k + rng.choice([-1, 0, 0, 1]))
            what = with_article(nm) if m == 1 else f"{number_word(m)} {plu}"
            out.append((f"The {side} image contains exactly {what}.", "yes" if k == m else "no"))
        elif r < 0.35:
            out.append((f"Both images contain {plu}." if rng.random() < 0.5 else f"Each image contains at least one {nm}.",
                        "yes" if a > 0 and b > 0 else "no"))
        elif r < 0.5:
            out.append((f"There are more {plu} in the left image than in the right image.", "yes" if a > b else "no"))
        elif r < 0.6:
            out.append((f"There are more {plu} in the right image than in the left image.", "yes" if b > a else "no"))
        elif r < 0.75:
            m = a + b + rng.choice([-1, 0, 0, 1])
            m = max(m, 0)
            what = f"is one {nm}" if m == 1 else f"are {number_word(m)} {plu}"
            out.append((f"There {what} in total.", "yes" if a + b == m else "no"))
        elif r < 0.9:
            out.append((f"The {side} image contains {with_article(nm)}." if rng.random() < 0.5 else f"There is at least one {nm} in the {side} image.",
                        "yes" if k > 0 else "no"))
        else:
            out.append((f"Exactly one image contains {plu}.", "yes" if (a > 0) != (b > 0) else "no"))
    # balance true and false statements
    yes = [x for x in out if x[1] == "yes"]
    no = [x for x in out if x[1] == "no"]
    picked = []
    for k in range(n):
        first, second = (yes, no) if k % 2 == 0 else (no, yes)
        src = first if first else second
        if not src:
            break
        picked.append(src.pop(0))
    rng.shuffle(picked)
    return picked



# ----------------------------------------------------------------------------- batches

POINTING = ("point", "count_point")  # question forms answered in Molmo's format


def answer_ids(tok: Tokenizer, cfg: LlavaConfig, rec: dict, kind: str, refs: list, answer: str
               ) -> list[int]:
    """The tokens the model is trained to write: for each ref its points (an x and a y
    location token each, sorted by x then y) and its label, then ' = answer' (pointing
    forms stop after the points: `render` writes their Molmo text)."""
    from .clip import Letterbox
    ids: list[int] = []
    frame, S = Letterbox.fit(rec["w"], rec["h"], cfg.image_size, cfg.letterbox), cfg.image_size
    for label, members in refs:  # points where the model sees them: in the letterboxed canvas
        canvas = (frame.to_canvas(*rec["objects"][i]["point"]) for i in members)
        points = sorted((cfg.loc_token(0, x / S), cfg.loc_token(1, y / S)) for x, y in canvas)
        for tx, ty in points:
            ids += [tx, ty]
        ids += tok.encode(" " + label)
    if kind not in POINTING:
        ids += tok.encode((" = " if refs else " ") + answer)
    return ids


def encode_turns(tok: Tokenizer, turns: Sequence[tuple[str, object]]) -> tuple[list[int], list[int], list[int]]:
    """(question, answer) turns -> ids, segs, targets (targets: next token on answer tokens
    and </s>, -1 elsewhere). An answer is text or already its token ids (`answer_ids`)."""
    ids, segs, tgts = [], [], []
    for k, (q, a) in enumerate(turns, 1):
        p = [BOS] + tok.encode(prompt_text(q))
        ans = (tok.encode(" " + a) if isinstance(a, str) else list(a)) + [EOS]
        seq = p + ans
        t = [-1] * (len(p) - 1) + ans + [-1]
        ids += seq
        segs += [k] * len(seq)
        tgts += t
    return ids, segs, tgts


def encode_budget(tok: Tokenizer, turns, budget: int):
    """encode_turns, keeping whole turns while the text fits in `budget` tokens (at least one)."""
    ids, segs, tgts = [], [], []
    for k, turn in enumerate(turns, 1):
        a, _, c = encode_turns(tok, [turn])
        if ids and len(ids) + len(a) > budget:
            continue
        ids += a
        segs += [k] * len(a)
        tgts += c
    return ids, segs, tgts


def collate(rows: list[tuple[list[int], list[int], list[int]]]):
    T = max(len(r[0]) for r in rows)
    ids = torch.full((len(rows), T), PAD, dtype=torch.long)
    segs = torch.zeros(len(rows), T, dtype=torch.long)
    tgts = torch.full((len(rows), T), -1, dtype=torch.long)
    for i, (a, b, c) in enumerate(rows):
        ids[i, :len(a)] = torch.tensor(a)
        segs[i, :len(b)] = torch.tensor(b)
        tgts[i, :len(c)] = torch.tensor(c)
    return ids, segs, tgts


def train_tokenizer(records: list[dict], vocab_size: int, seed: int = 0) -> Tokenizer:
    rng = random.Random(seed)
    texts = []
    for rec in records:
        for kind, q, a, refs in questions(rec, rng, 8):
            grounding = " ".join(label for label, _ in refs)
            texts.append(prompt_text(q) + " " + grounding + (" = " + a if kind not in POINTING else ""))
    for i in range(0, len(records) - 1, 2):
        for st, a in statements(records[i], records[i + 1], rng, 4):
            texts.append(prompt_text(statement_prompt(st)) + " " + a)
    names = catalog.all_names() + [plural(n) for n in catalog.all_names()]
    names += list(catalog.SUPERCATEGORY_PLURALS) + list(catalog.SUPERCATEGORY_PLURALS.values())
    texts += [" ".join(names)] * 20
    return Tokenizer.train(texts, vocab_size)



def cell_labels(tok: Tokenizer, cfg: LlavaConfig, rec: dict) -> torch.Tensor:
    """(grid*grid, 3) token ids per image token: for the cell holding an object's point, the
    first token of ' name' and the point's x and y location tokens; '<image>' (and no
    location) for cells no object box touches; -1 (no loss) elsewhere."""
    grid = cfg.grid
    lab = torch.full((grid, grid, 3), -1, dtype=torch.long)
    lab[:, :, 0] = IMAGE
    cw, ch = rec["w"] / grid, rec["h"] / grid
    for o in rec["objects"]:
        x0, y0, x1, y1 = o["box"]
        lab[int(y0 // ch):min(grid, int(math.ceil(y1 / ch))), int(x0 // cw):min(grid, int(math.ceil(x1 / cw))), 0] = -1
    for o in rec["objects"]:
        x, y = o["point"]
        lab[min(grid - 1, int(y // ch)), min(grid - 1, int(x // cw))] = torch.tensor(
            [tok.encode(" " + o["name"])[0], cfg.loc_token(0, x / rec["w"]), cfg.loc_token(1, y / rec["h"])])
    return lab.reshape(grid * grid, 3)
