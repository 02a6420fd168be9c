"""The `iconworld` backends: the in-repo CLIP and detector (`visprog/models/`) behind
Loc, FaceDet, Classify, Select and List. They are the default backends of these tools.

    import visprog.backends.iconworld      # registers backend 'iconworld'

Importing this module is cheap: torch and the models load on the first call.
Per-image features are cached in `ctx.cache` (the detector's tower maps, which the
VQA model shares, its candidates, CLIP names of their crops), so Loc, FaceDet, Vqa and
later steps on the same image run each model once; the images of a batch go through
the detector together.

What a query denotes is read from CLIP (`denotation`): every catalogue name has an
image prototype (the mean embedding of its crops, stored with the CLIP weights); the
names the query's text describes nearly as well as their own captions do, down to the
largest drop, are what it denotes: 'dog' -> {dog}, 'animal' -> the animals, 'kitten'
-> {cat}. No catalogue synonym or supercategory table is consulted.

- Loc: the detector proposes class-agnostic objects (centre heatmap + boxes); each
  proposal's crop is named by CLIP and kept when the query denotes that name; a
  leading colour word ('red car') is checked against the crop's dominant pixel colour.
  'TOP', 'BOTTOM', 'LEFT', 'RIGHT' give the half-image box. (The detector's own
  OWL-style text matching, `Detector.match`, is used only for weights without
  prototypes; it counted worse, see visprog/weights/detector.md.)
- FaceDet: Loc('person') (a character's glyph is its head), labelled 'face'.
- Classify: each box's crop is named by CLIP; the object gets the category that
  denotes that name (the most specific one, then the best CLIP score), or is dropped
  when none does.
- Select: the objects whose crop some query alternative denotes (and, with
  `category`, that the category denotes or that carry it as label).
- List: the KNOWLEDGE entry whose key is nearest the query by MiniLM similarity.
"""

from __future__ import annotations

from typing import Optional

from ..errors import ToolError
from ..registry import image_cache
from ..tools.vision import alternatives, with_side_boxes
from ..values import Obj, Objects, crop_image

BACKEND = "iconworld"
CANDIDATES_KEY = "iconworld.detector.candidates"
TOWER_KEY = "iconworld.detector.tower"
LIST_THRESHOLD = 0.6    # MiniLM cosine a query needs to a KNOWLEDGE key


def detector_ready() -> bool:
    """Whether the in-repo detector and CLIP weights are there (Vqa's pointing uses them too)."""
    from ..models.weights import available
    return available("clip") and available("detector")


def _detector():
    from ..models import load
    return load("detector")


def _clip():
    from ..models import load
    return load("clip")


def tower_maps(images, ctx) -> list:
    """The detector's image tower on each image (C, G, G), cached: the VQA model's tower is
    the same network (see `visprog.backends.vqa.features`), so Loc and Vqa share the pass."""
    return image_cache(ctx).get_batch(images, TOWER_KEY, lambda ims: list(_detector().image_maps(ims)))


def candidates(images, ctx) -> list[dict]:
    """Detector candidates for each image, cached per image; uncached images go in one batch."""
    import torch
    return image_cache(ctx).get_batch(images, CANDIDATES_KEY, lambda ims: _detector().candidates(
        ims, torch.stack(tower_maps(ims, ctx))))



# ----------------------------------------------------------------------------- what a query denotes

GAP_TOP = 30           # the gap rule looks at the 30 names nearest a query
DENOTE_FLOOR = 0.35    # a query this far from every name's prototype denotes nothing


def _names(clip):
    """(catalogue names, what a crop is compared with to name it (N, D)): the names' image
    prototypes when the weights carry them (text embeddings put 'person' nearest every
    character; visprog/weights/clip.md), else their prompt-ensembled text embeddings."""
    if getattr(clip, "name_prototypes", None) is not None:
        return list(clip.prototype_names), clip.name_prototypes
    names = _vocabulary()
    return names, _text_embeddings(clip, names)


def denotation(clip, query: str) -> frozenset:
    """The catalogue names `query` denotes, read from CLIP with no synonym or supercategory
    table: the names nearest the query, down to the largest drop among the nearest 30;
    empty when no name's prototype is near. 'dog' -> {dog}; 'kitten' -> {cat} (never trained
    on); 'animal' -> every animal, 'person' -> the person and every character.

    Nearness is the query's similarity to a name's image prototype (its crops' mean
    embedding) as a share of the name's own caption's similarity to it, which puts names
    whose crops sit nearer or farther from any text on one scale. CLIP is trained to put a
    group word as near each member's crops as the member's own name (`all_positives_loss`),
    so the drop falls between members and non-members; raw similarities trail off flatly
    after a weakly held synonym, where shares still drop (the margins: visprog/weights/clip.md)."""
    if getattr(clip, "name_prototypes", None) is None:
        return frozenset()
    cache = clip.__dict__.setdefault("_visprog_denotation", {})
    if query not in cache:
        s = _similarities(clip, query)
        if float(s.max()) < DENOTE_FLOOR:
            cache[query] = frozenset()
        else:
            v, order = (s / _own_similarities(clip)).sort(descending=True)
            k = int((v[:-1] - v[1:])[:GAP_TOP].argmax()) + 1
            cache[query] = frozenset(clip.prototype_names[i] for i in order[:k].tolist())
    return cache[query]


def _similarities(clip, query: str):
    """(N,): `query`'s text embedding against each catalogue name's image prototype."""
    return (clip.name_prototypes @ _text_embeddings(clip, [query]).T)[:, 0]


def _own_similarities(clip):
    """(N,): each name's image prototype against its own name's text embedding (cached)."""
    if "_visprog_own" not in clip.__dict__:
        own = (clip.name_prototypes * _text_embeddings(clip, clip.prototype_names)).sum(-1)
        clip.__dict__["_visprog_own"] = own.clamp(min=1e-3)
    return clip.__dict__["_visprog_own"]


FILLER = frozenset({"a", "an", "the", "of", "and", "or", "in", "on", "with", "all", "every", "any",
                    "some", "big", "large", "small", "medium"})


def unseen_words(text: str) -> list[str]:
    """The words of an object phrase that never named an object in training ('teapot'; a
    synonym such as 'puppy' too, which the models read zero-shot)."""
    from ..iconworld.catalog import object_words
    known = object_words()
    return [w for w in text.lower().split() if w not in known and w not in FILLER]


def warn_unseen(ctx, i: int, tool: str, text) -> None:
    """Warn on call i when its query has words that never named an object in training
    (`unseen_words`), saying what CLIP read it as."""
    from . import advice
    for alt in alternatives(text):
        base = split_color(alt)[1]
        words = unseen_words(base)
        if words:
            read = ", ".join(sorted(denotation(_clip(), base))) or "no object they know"
            ctx.warn(i, f"{' '.join(words)!r} never named an object in the in-repo models' "
                        f"training: {base!r} was read as {read}, so this answer may be a guess; "
                        f"for an open vocabulary use {advice(tool)}")


def split_color(query: str) -> tuple[Optional[str], str]:
    """'red car' -> ('red', 'car'); 'car' -> (None, 'car')."""
    from ..iconworld import catalog
    words = query.strip().lower().split()
    if len(words) >= 2 and words[0] in catalog.COLORS:
        return words[0], " ".join(words[1:])
    return None, query.strip()


def pixel_color(image, box) -> Optional[str]:
    """The dominant colour name inside `box`, less the colours of the box's border (the
    background) and black outlines; the icon world's own colour namer names the pixels."""
    import numpy as np
    from ..iconworld import catalog
    from ..iconworld.colors import color_ids
    names = list(catalog.COLORS)
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    a = np.asarray(image.convert("RGB"))[max(0, y0):y1, max(0, x0):x1]
    if a.size == 0:
        return None
    ids = color_ids(a.reshape(-1, 3)).reshape(a.shape[:2])
    border = np.concatenate([ids[0], ids[-1], ids[:, 0], ids[:, -1]])
    counts = np.bincount(ids.reshape(-1), minlength=len(names)).astype(float)
    counts -= np.bincount(border, minlength=len(names)) / max(1, len(border)) * ids.size
    black = names.index("black")
    if counts[black] < 0.85 * counts.clip(0).sum():
        counts[black] = 0
    return names[int(counts.argmax())]


def mask_color(image, box) -> Optional[str]:
    """The dominant colour name of the thing in `box`, read on its mask (the in-repo
    segmenter's, prompted with the box) rather than the box: a blue boat on blue water
    keeps its blue. The pixels are named as the renderer names an object's colour
    (`colors.dominant`: black outlines aside, unless nearly all is black). Without the
    segmenter's weights, `pixel_color` reads the box."""
    import numpy as np
    from ..iconworld.colors import COLOR_NAMES, color_ids, dominant
    from ..models import load
    from ..models.weights import available
    if not available("segmenter"):
        return pixel_color(image, box)
    masks, _ = load("segmenter").segment([image], boxes=[np.asarray([box], np.float32)])[0]
    if not masks[0, 0].any():
        return None
    pixels = np.asarray(image.convert("RGB"))[masks[0, 0]]
    return dominant(np.bincount(color_ids(pixels), minlength=len(COLOR_NAMES)))


def crop_names(clip, images: list, boxes: list) -> list:
    """For each image and its (N, 4) boxes: CLIP's best catalogue name (N,) and its softmax
    probability (N,) for each box's crop, all the crops in one batch."""
    import torch
    names, text = _names(clip)
    cut = [crops(image, [Obj(tuple(b)) for b in bs]) for image, bs in zip(images, boxes)]
    flat = [c for cs in cut for c in cs]
    if not flat:
        return [(torch.zeros(0, dtype=torch.long), torch.zeros(0)) for _ in images]
    emb = clip.encode_image(flat)
    probs = (float(clip.logit_scale.detach().exp().clamp(max=100)) * emb @ text.T).softmax(-1)
    best, idx = probs.max(-1)
    ends = torch.tensor([len(cs) for cs in cut]).cumsum(0).tolist()
    return [(idx[a:b], best[a:b]) for a, b in zip([0] + ends[:-1], ends)]


def candidate_names(clip, images: list, cands: list, ctx) -> list:
    """`crop_names` of each image's detector proposals, cached per image in ctx: Loc asked
    about many images names all their proposals in one batch, and later steps reuse them."""
    boxes_of = {id(im): c["boxes"] for im, c in zip(images, cands)}
    return ctx.cache.get_batch(images, CROP_NAMES_KEY, lambda ims: crop_names(
        clip, ims, [boxes_of[id(im)] for im in ims]))


def find(det, clip, image, cands: dict, text: str, ctx=None) -> Objects:
    """Loc's answer: detector proposals whose crop CLIP names as something `text` denotes
    (with the colour, if `text` starts with one, read from the pixels); then NMS."""
    import torch
    from ..models.detector import nms
    if getattr(clip, "name_prototypes", None) is None:  # weights without prototypes: detector alone
        out = []
        for alt in alternatives(text):
            boxes, scores = det.match(cands, alt)
            out.extend(Obj(tuple(float(v) for v in b), alt, float(s))
                       for b, s in zip(boxes.tolist(), scores.tolist()))
        return Objects(out)
    names = clip.prototype_names
    idx, prob = (candidate_names(clip, [image], [cands], ctx) if ctx is not None
                 else crop_names(clip, [image], [cands["boxes"]]))[0]
    out = []
    for alt in alternatives(text):
        color, base = split_color(alt)
        wanted = denotation(clip, base)
        keep = [k for k in range(len(idx)) if names[int(idx[k])] in wanted
                and (color is None or pixel_color(image, cands["boxes"][k].tolist()) == color)]
        if not keep:
            continue
        keep = torch.tensor(keep)
        boxes = cands["boxes"][keep]
        scores = (cands["objectness"][keep] * prob[keep]).sqrt()
        for k in nms(boxes, scores, 0.5).tolist():
            out.append(Obj(tuple(float(v) for v in boxes[k].tolist()), alt, float(scores[k])))
    out.sort(key=lambda o: (o.box[0], o.box[1]))
    return Objects(out)


CROP_NAMES_KEY = "iconworld.clip.candidate_names"


def named_candidates(images: list, ctx) -> list:
    """The detector's proposals of each image, with CLIP's names of all of them computed in
    one batch (cached in ctx for `find`)."""
    cands = candidates(images, ctx)
    clip = _clip()
    if getattr(clip, "name_prototypes", None) is not None:
        candidate_names(clip, images, cands, ctx)
    return cands


def _locate(det, cands: dict, text: str, image=None, ctx=None) -> Objects:
    return find(det, _clip(), image, cands, text, ctx)


@with_side_boxes
def loc(calls: list[dict], ctx) -> list:
    det = _detector()
    out = []
    for i, (call, c) in enumerate(zip(calls, named_candidates([c["image"] for c in calls], ctx))):
        out.append(_locate(det, c, call["object"], call["image"], ctx))
        warn_unseen(ctx, i, "Loc", call["object"])
        ctx.note(i, f"detector: {len(c['boxes'])} candidate objects, {len(out[i])} match "
                    f"{call['object']!r}")
    return out


def facedet(calls: list[dict], ctx) -> list:
    det = _detector()
    cands = named_candidates([c["image"] for c in calls], ctx)
    return [Objects(o.relabel("face") for o in _locate(det, c, "person", call["image"], ctx))
            for call, c in zip(calls, cands)]


# ----------------------------------------------------------------------------- CLIP on crops


def crops(image, objects, margin: float = 0.1) -> list:
    out = []
    W, H = image.size
    for o in objects:
        x0, y0, x1, y1 = o.box
        mw, mh = (x1 - x0) * margin, (y1 - y0) * margin
        box = (int(max(0, x0 - mw)), int(max(0, y0 - mh)), int(min(W, x1 + mw + 1)), int(min(H, y1 + mh + 1)))
        if box[2] <= box[0] or box[3] <= box[1]:
            box = (0, 0, W, H)
        out.append(crop_image(image.convert("RGB") if image.mode != "RGB" else image, box))
    return out


def _text_embeddings(clip, names: list[str]):
    from ..models.detector import text_embeddings
    cache = clip.__dict__.setdefault("_visprog_text_cache", {})  # per loaded model
    todo = [n for n in dict.fromkeys(names) if n not in cache]
    if todo:
        cache.update(zip(todo, text_embeddings(clip, todo)))
    import torch
    return torch.stack([cache[n] for n in names])


def _vocabulary() -> list[str]:
    from ..iconworld import catalog
    return catalog.all_names()


def label_objects(clip, image, objects, categories: list[str]) -> list[Optional[tuple[str, float]]]:
    """For each object: (the category its crop is, CLIP probability), or None when CLIP names
    it as something none of the categories denotes. Categories may be any words: each
    denotes catalogue names (see `denotation`); with no prototypes, plain argmax."""
    if not objects:
        return []
    emb = clip.encode_image(crops(image, objects))
    cat = _text_embeddings(clip, categories)
    sims = emb @ cat.T                                                   # (N, C)
    if getattr(clip, "name_prototypes", None) is None:
        best, k = sims.max(1)
        return [(categories[j], float(b)) for j, b in zip(k.tolist(), best.tolist())]
    names, text = _names(clip)
    probs = (float(clip.logit_scale.detach().exp().clamp(max=100)) * emb @ text.T).softmax(-1)
    best, idx = probs.max(-1)
    out = []
    for n, p, row in zip(idx.tolist(), best.tolist(), sims):
        fits = [j for j, c in enumerate(categories) if names[n] in denotation(clip, split_color(c)[1])]
        fits = [j for j in fits if split_color(categories[j])[0] is None] or fits
        # the most specific category wins ('fairy' over 'person'), then the CLIP score; a
        # word's specificity is how many names it denotes
        size = {j: len(denotation(clip, split_color(categories[j])[1])) for j in fits}
        best_j = min(fits, key=lambda j: (size[j], -float(row[j]))) if fits else None
        out.append((categories[best_j], p) if fits else None)
    return out


def classify(calls: list[dict], ctx) -> list:
    clip = _clip()
    out = []
    for i, call in enumerate(calls):
        cats = alternatives(call["categories"])
        warn_unseen(ctx, i, "Classify", cats)
        objs = list(call.get("object") or Objects())
        if not objs or not cats:
            out.append(Objects())
            continue
        kept = Objects()
        for o, lab in zip(objs, label_objects(clip, call["image"], objs, cats)):
            if lab is None:
                ctx.note(i, f"dropped the object at {tuple(round(v) for v in o.box)}: it looks like "
                            f"none of {', '.join(cats)}")
            else:
                kept.append(o.relabel(*lab))
        out.append(kept)
    return out


def _same_kind(label: str, category: str) -> bool:
    from ..iconworld import catalog
    if label.strip().lower() == category.strip().lower():
        return True
    a, b = catalog.resolve(label), catalog.resolve(category)
    return bool(a) and a <= b


def select(calls: list[dict], ctx) -> list:
    clip = _clip()
    out = []
    for i, call in enumerate(calls):
        queries = alternatives(call["query"])
        category = call.get("category")
        category = category.strip() if isinstance(category, str) and category.strip() else None
        warn_unseen(ctx, i, "Select", queries + [category] if category else queries)
        objs = list(call.get("object") or Objects())
        if category:
            inside = [o for o in objs if _same_kind(o.label, category)]
            others = [o for o in objs if not _same_kind(o.label, category)]
            labels = label_objects(clip, call["image"], others, [category])
            objs = inside + [o for o, lab in zip(others, labels) if lab is not None]
        kept = Objects()
        for o, lab in zip(objs, label_objects(clip, call["image"], objs, queries) if queries else []):
            if lab is None:
                continue
            color = split_color(lab[0])[0]
            if color and pixel_color(call["image"], o.box) != color:
                continue
            kept.append(o.relabel(*lab))
        out.append(kept)
        ctx.note(i, f"kept {len(kept)} of {len(call.get('object') or [])} objects for {call['query']!r}")
    return out


# ----------------------------------------------------------------------------- List


def knowledge(query: str, limit=20) -> list[str]:
    """The names of the KNOWLEDGE entry nearest `query` (MiniLM cosine >= LIST_THRESHOLD)."""
    from ..iconworld import catalog
    from ..models import load as load_model
    if not isinstance(query, str) or not query.strip():
        raise ToolError("List needs a non-empty query")
    try:
        limit = 20 if limit is None else int(limit)
    except (TypeError, ValueError):
        raise ToolError(f"List's max must be a number, got {limit!r}") from None
    keys = list(catalog.KNOWLEDGE)
    q = query.strip().lower()
    for prefix in ("a list of ", "list of ", "list the ", "all ", "the ", "some "):
        if q.startswith(prefix):
            q = q[len(prefix):]
    if q in catalog.KNOWLEDGE:
        members = catalog.KNOWLEDGE[q]
    else:
        m = load_model("minilm")
        sims = (m.sentences([q]) @ m.sentences(keys).T)[0]
        best = int(sims.argmax())
        if float(sims[best]) < LIST_THRESHOLD:
            raise ToolError(f"no offline knowledge matches {query!r} (nearest: {keys[best]!r}, "
                            f"similarity {float(sims[best]):.2f}); the offline lists cover: "
                            f"{', '.join(sorted(keys))}. For open-ended lists configure a planner "
                            f"LLM backend for List.")
        members = catalog.KNOWLEDGE[keys[best]]
    return list(members)[:limit] if limit > 0 else []


def list_(calls: list[dict], ctx) -> list:
    return [knowledge(c["query"], c.get("max", 20)) for c in calls]
