"""The `iconworld` backends: registration, cheap import, per-image caching and batching,
half-image boxes, List, and (when the weights are shipped) the tools end to end."""

import subprocess
import sys

import pytest
import torch
from PIL import Image

from visprog.errors import ToolError
from visprog.registry import ImageCache, ToolContext
from visprog.resolver import policy_order
from visprog.tools import registry
from visprog.values import Obj, Objects

import visprog.backends.iconworld as B


def _ctx():
    return ToolContext(cache=ImageCache())


def test_backends_come_first_in_the_policy():
    for name in ("Loc", "FaceDet", "Classify", "Select", "List"):
        tool = registry.lookup(name)
        assert policy_order(tool)[0].name == "iconworld" and tool.default_backend is None
        assert name == "List" or "pretrained" in tool.backends


def test_importing_the_backends_loads_no_model_code():
    code = ("import sys, visprog.backends; "
            "print(sorted(m for m in ('visprog.models.clip', 'visprog.models.detector', 'open_clip', "
            "'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_half_image_boxes_need_no_model(monkeypatch):
    monkeypatch.setattr(B, "_detector", lambda: pytest.fail("no model for TOP/LEFT"))
    image = Image.new("RGB", (100, 60))
    out = B.loc([{"image": image, "object": "TOP"}, {"image": image, "object": "right"}], _ctx())
    assert out[0][0].box == (0.0, 0.0, 100.0, 30.0) and out[1][0].box == (50.0, 0.0, 100.0, 60.0)


class FakeDetector:
    """Two candidates per image; 'dog' matches the first, 'person' the second."""

    def __init__(self):
        self.batches = []

    def image_maps(self, images):
        return torch.zeros(len(images), 1, 1, 1)

    def candidates(self, images, fmaps=None):
        assert fmaps is not None and len(fmaps) == len(images)  # the backend caches the tower's maps
        self.batches.append(len(images))
        return [{"boxes": torch.tensor([[0.0, 0, 10, 10], [20.0, 20, 40, 40]]),
                 "objectness": torch.tensor([0.9, 0.8]), "embeddings": torch.zeros(2, 4)}
                for _ in images]

    def match(self, cands, query, min_prob=None):
        k = {"dog": [0], "person": [1], "animal": [0]}.get(query, [])
        return cands["boxes"][k], cands["objectness"][k]


class FakeClip:
    name_prototypes = None  # no prototypes: Loc falls back to the detector's own matching


def test_features_are_computed_once_per_image_and_batched(monkeypatch):
    fake = FakeDetector()
    monkeypatch.setattr(B, "_detector", lambda: fake)
    monkeypatch.setattr(B, "_clip", lambda: FakeClip())
    a, b = Image.new("RGB", (64, 64), (1, 2, 3)), Image.new("RGB", (64, 64), (9, 9, 9))
    ctx = _ctx()
    out = B.loc([{"image": a, "object": "dog"}, {"image": b, "object": "dog, person"},
                 {"image": a, "object": "cat"}], ctx)
    assert fake.batches == [2]  # one batch, two distinct images
    assert [len(o) for o in out] == [1, 2, 0] and out[1][1].label == "person"
    faces = B.facedet([{"image": a}], ctx)
    assert fake.batches == [2] and faces[0][0].label == "face"  # reused from the cache


class PrototypeClip:
    """Name prototypes on the axes, so a query's similarity to each name is its own vector."""

    prototype_names = ["donut", "apple", "cake", "pizza", "carrot", "cup", "dog", "cat", "tree", "house"]
    name_prototypes = torch.eye(10)
    queries = {"food": [0.68, 0.67, 0.66, 0.66, 0.64, 0.45, 0.36, 0.35, 0.34, 0.33],
               "dog": [0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.9, 0.3, 0.2, 0.2],
               "sonnet": [0.3] * 10}

    own = [0.7] * 10  # prototype . its own name's text

    def text(self, texts):
        names = {n: torch.eye(10)[i] * self.own[i] for i, n in enumerate(self.prototype_names)}
        return torch.stack([torch.tensor(self.queries[t]) if t in self.queries else names[t] for t in texts])


def test_denotation_cuts_at_the_largest_drop(monkeypatch):
    clip = PrototypeClip()
    monkeypatch.setattr(B, "_text_embeddings", lambda _, texts: clip.text(texts))
    # a group word: its members, down to the drop before cup
    assert B.denotation(clip, "food") == {"donut", "apple", "cake", "pizza", "carrot"}
    assert B.denotation(clip, "dog") == {"dog"}
    assert B.denotation(clip, "sonnet") == frozenset()  # near no prototype


def test_denotation_compares_names_on_their_own_scale(monkeypatch):
    """A name whose crops sit far from any text (own caption 0.35) is as near a query at 0.3
    as a name at 0.6 whose own caption is 0.7: shares, not raw similarities, are cut."""
    clip = PrototypeClip()
    clip.own = [0.7, 0.35] + [0.7] * 8
    clip.queries = {"treat": [0.6, 0.3, 0.45, 0.42, 0.4, 0.38, 0.35, 0.3, 0.25, 0.2]}
    monkeypatch.setattr(B, "_text_embeddings", lambda _, texts: clip.text(texts))
    assert B.denotation(clip, "treat") == {"donut", "apple"}


def test_list_matches_knowledge_by_meaning():
    assert B.knowledge("farm animals") == ["horse", "cow", "pig", "sheep", "chicken", "duck"]
    assert "police officer" in B.knowledge("people wearing uniforms")
    assert len(B.knowledge("animals", 3)) == 3
    with pytest.raises(ToolError, match="no offline knowledge"):
        B.knowledge("famous quantum physicists")


def _shipped():
    from visprog import models
    if not (models.available("clip") and models.available("detector")):
        pytest.skip("no shipped weights")


def test_tag_items_end_to_end():
    _shipped()
    import visprog
    from visprog.iconworld import tasks
    ok = 0
    for item in tasks.generate("tag", n=2, seed=11):
        result = visprog.execute(item["program"], item["images"], backend="iconworld")
        ok += tasks.reproduces(item, result)[0]
    assert ok >= 1


def test_shipped_loc_counts_and_understands_words_it_never_saw():
    _shipped()
    import visprog
    from visprog.iconworld.render import Placement, render
    image, scene = render([Placement("dog", x=10, y=20, size=50), Placement("dog", x=150, y=30, size=50),
                           Placement("cat", x=20, y=150, size=50), Placement("bus", x=140, y=150, size=60)],
                          seed=4, background="plain")
    ctx = _ctx()
    dogs, animals, puppies, people = B.loc([{"image": image, "object": q}
                                            for q in ("dog", "animal", "puppy", "person")], ctx)
    assert (len(dogs), len(animals), len(puppies), len(people)) == (2, 3, 2, 0)
    chosen = B.select([{"image": image, "object": animals, "query": "cat", "category": None}], ctx)[0]
    assert [o.label for o in chosen] == ["cat"]


def test_classify_drops_what_no_category_covers():
    _shipped()
    from visprog.iconworld.render import Placement, render
    image, scene = render([Placement("dog", x=10, y=60, size=64), Placement("bus", x=150, y=60, size=64)],
                          seed=2, background="plain")
    objs = Objects(o.as_obj() for o in scene.objects)
    out = B.classify([{"image": image, "object": objs, "categories": "dog, cat"},
                      {"image": image, "object": objs, "categories": ["puppy", "bus"]}], _ctx())
    assert [o.label for o in out[0]] == ["dog"]
    assert [o.label for o in out[1]] == ["puppy", "bus"]
