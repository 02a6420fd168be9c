"""The icon world's glyphs, catalogue and renderer: exact, deterministic annotations."""

from __future__ import annotations


import numpy as np
import pytest
from PIL import Image

from visprog import glyphs
from visprog.errors import DatasetError, ToolError, VisprogError
from visprog.iconworld import (BACKGROUNDS, CATEGORIES, CHARACTERS, COLORS, KNOWLEDGE,
                               SUPERCATEGORIES, Placement, Scene, all_names, random_scene, render,
                               resolve, sample_placements, save_png, scene_of)
from visprog.iconworld.render import ALPHA_VISIBLE, good_hues


def _solid(glyph: str, size: int, flipped: bool = False, hue: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(RGBA array, opaque mask) of a glyph drawn alone, independently of the renderer's cache."""
    im = glyphs.glyph(glyph, size)
    if flipped:
        im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    arr = np.asarray(im)
    return arr, arr[..., 3] >= ALPHA_VISIBLE


def _placed(p: Placement, width: int, height: int) -> np.ndarray:
    """The whole-image opaque mask of placement `p` drawn alone."""
    _, solid = _solid(p.glyph, p.size, p.flipped)
    out = np.zeros((height, width), bool)
    h, w = solid.shape
    out[p.y:p.y + h, p.x:p.x + w] = solid[:max(0, height - p.y), :max(0, width - p.x)]
    return out


def _tight_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


# --------------------------------------------------------------------------- glyphs

def test_glyph_is_tight_rgba_with_requested_longest_side():
    for emoji, size in (("🐕", 48), ("🧑‍🚀", 30), ("✈️", 72), ("🧍", 24)):
        im = glyphs.glyph(emoji, size)
        assert im.mode == "RGBA" and max(im.size) == size
        assert im.getchannel("A").getbbox() == (0, 0, *im.size)


def test_glyph_returns_a_copy():
    a = glyphs.glyph("🐕", 40)
    a.paste((255, 0, 0, 255), (0, 0, *a.size))
    assert glyphs.glyph("🐕", 40).tobytes() != a.tobytes()


def test_emoji_by_name():
    assert glyphs.emoji_by_name("face_with_tongue") == "😛"
    assert glyphs.emoji_by_name("winking_face") == "😉"
    assert glyphs.emoji_by_name("Smiling face with sunglasses") == "😎"
    assert glyphs.emoji_by_name("dog") == "🐕"
    assert glyphs.emoji_by_name("astronaut") == "🧑‍🚀"
    assert glyphs.emoji_by_name("🐈") == "🐈"  # an emoji names itself
    with pytest.raises(ToolError, match="face_with_tongue"):
        glyphs.emoji_by_name("face_with_tonge")
    with pytest.raises(VisprogError):
        glyphs.glyph("not an emoji", 32)


# --------------------------------------------------------------------------- catalogue

def test_catalogue_contents():
    required = {"dog": "🐕", "cat": "🐈", "horse": "🐎", "cow": "🐄", "pig": "🐖", "sheep": "🐑",
                "bird": "🐦", "fish": "🐟", "rabbit": "🐇", "elephant": "🐘", "giraffe": "🦒",
                "turtle": "🐢", "chicken": "🐓", "duck": "🦆", "bear": "🐻", "monkey": "🐒",
                "butterfly": "🦋", "snail": "🐌", "person": "🧍", "car": "🚗", "bus": "🚌",
                "bicycle": "🚲", "boat": "⛵", "airplane": "✈️", "train": "🚂", "tractor": "🚜",
                "scooter": "🛵", "apple": "🍎", "banana": "🍌", "pizza": "🍕", "cake": "🎂",
                "donut": "🍩", "carrot": "🥕", "tree": "🌳", "flower": "🌷", "house": "🏠",
                "umbrella": "☂️", "ball": "⚽", "chair": "🪑", "cup": "☕"}
    for name, emoji in required.items():
        assert emoji in CATEGORIES[name].glyphs
    assert len(CHARACTERS) >= 12
    for name in all_names():
        cat = CATEGORIES.get(name)
        for g in (cat.glyphs if cat else (CHARACTERS[name].glyph,)):
            assert glyphs.is_supported(g), (name, g)
    assert set(SUPERCATEGORIES["bird"]) == {"bird", "chicken", "duck"}
    assert {"red", "green", "blue", "black", "white", "gray"} <= set(COLORS)
    for members in list(SUPERCATEGORIES.values()) + list(KNOWLEDGE.values()):
        assert members and set(members) <= set(all_names())


def test_resolve():
    assert resolve("dog") == resolve("Dogs") == resolve("puppy") == {"dog"}
    assert resolve("farm animals") == resolve("farm animal") == set(SUPERCATEGORIES["farm animal"])
    assert "astronaut" in resolve("people in uniform")
    assert "santa claus" in resolve("Santa Claus")
    assert {"person", "astronaut"} <= resolve("people")
    assert resolve("sheep") == {"sheep"}
    assert resolve("no such thing") == frozenset()


# --------------------------------------------------------------------------- rendering

def test_same_seed_same_pixels():
    for seed in (0, 1, 2):
        a_img, a = random_scene(seed, allow_overlap=True, recolor_prob=0.5)
        b_img, b = random_scene(seed, allow_overlap=True, recolor_prob=0.5)
        assert np.array_equal(np.asarray(a_img), np.asarray(b_img))
        assert a.to_json() == b.to_json()
    c_img, _ = random_scene(3)
    assert not np.array_equal(np.asarray(c_img), np.asarray(random_scene(4)[0]))


def test_every_background_renders_deterministically():
    for bg in BACKGROUNDS:
        img, scene = render([Placement("dog")], background=bg, seed=11)
        assert img.mode == "RGB" and img.size == (256, 256) and scene.background == bg
        assert np.array_equal(np.asarray(img), np.asarray(render([Placement("dog")], background=bg, seed=11)[0]))


@pytest.mark.parametrize("seed", [5, 6])
def test_boxes_and_masks_match_pixels(seed):
    rng = np.random.default_rng(seed)
    cats = ["dog", "car", "astronaut", "tree", "apple", "boat"]
    placements = sample_placements(rng, cats, recolor_prob=0.0)
    img, scene = render(placements, background="noise", seed=seed)
    empty, _ = render([], background="noise", seed=seed)
    pix, bg = np.asarray(img), np.asarray(empty)
    assert len(scene.objects) == len(placements)
    union_alpha = np.zeros((256, 256), bool)
    for p, o in zip(placements, scene.objects):
        assert (o.category, o.glyph, o.flipped) == (p.category, p.glyph, p.flipped)
        expected = _placed(p, 256, 256)
        assert o.mask.shape == (256, 256) and o.mask.dtype == bool
        assert np.array_equal(o.mask, expected)          # no overlap: the whole glyph is visible
        assert o.box == _tight_box(o.mask)
        x0, y0, x1, y1 = o.box
        assert 0 <= x0 < x1 <= 256 and 0 <= y0 < y1 <= 256
        # where the glyph is fully opaque, the image shows exactly the glyph's colour
        arr, _ = _solid(p.glyph, p.size, p.flipped)
        h, w = arr.shape[:2]
        opaque = arr[..., 3] == 255
        assert np.array_equal(pix[p.y:p.y + h, p.x:p.x + w][opaque], arr[..., :3][opaque])
        union_alpha[p.y:p.y + h, p.x:p.x + w] |= arr[..., 3] > 0
        assert o.size in ("small", "medium", "large")
        assert o.color in COLORS
        assert set(o.position) <= {"left", "right", "top", "bottom", "middle"}
    # everywhere no glyph touches, the image is the background
    assert np.array_equal(pix[~union_alpha], bg[~union_alpha])
    # no overlap: masks are disjoint and boxes do not intersect
    for i, a in enumerate(scene.objects):
        for b in scene.objects[i + 1:]:
            assert not (a.mask & b.mask).any()
            assert a.box[2] <= b.box[0] or b.box[2] <= a.box[0] or a.box[3] <= b.box[1] or b.box[3] <= a.box[1]


def test_occlusion():
    placements = [Placement("apple", "🍎", 80, 40, 40), Placement("ball", "⚽", 70, 80, 70)]
    img, scene = render(placements, background="plain", seed=0)
    apple, ball = scene.objects
    full_apple, full_ball = _placed(placements[0], 256, 256), _placed(placements[1], 256, 256)
    assert (full_apple & full_ball).any()                 # they do overlap
    assert np.array_equal(ball.mask, full_ball)           # the later one is whole
    assert np.array_equal(apple.mask, full_apple & ~full_ball)
    assert apple.box == _tight_box(apple.mask)
    # a small object hidden under a big opaque ball is not annotated
    hidden = [Placement("apple", "🍎", 24, 90, 90), Placement("ball", "⚽", 100, 50, 50)]
    _, scene = render(hidden, background="plain", seed=0)
    assert [o.category for o in scene.objects] == ["ball"]


def test_overlap_keeps_half_of_every_object_visible():
    for seed in range(4):
        rng = np.random.default_rng(seed)
        cats = ["dog", "cat", "horse", "bus", "tree", "house", "cake", "chair"]
        placements = sample_placements(rng, cats, allow_overlap=True, size_range=(48, 72))
        _, scene = render(placements, seed=seed)
        assert len(scene.objects) == len(placements)
        for p, o in zip(placements, scene.objects):
            assert o.mask.sum() >= 0.5 * _placed(p, 256, 256).sum()
            assert o.box == _tight_box(o.mask)
        total = sum(o.mask.sum() for o in scene.objects)
        assert total == np.logical_or.reduce([o.mask for o in scene.objects]).sum()  # disjoint


@pytest.mark.parametrize("size", [(320, 200), (160, 384), (97, 131)])
def test_non_square_sizes(size):
    w, h = size
    img, scene = random_scene(3, n_objects=(3, 5), width=w, height=h, allow_overlap=True)
    assert img.size == (w, h) and (scene.width, scene.height) == (w, h)
    assert scene.objects
    for o in scene.objects:
        assert o.mask.shape == (h, w)
        assert o.box == _tight_box(o.mask)
        x0, y0, x1, y1 = o.box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
    assert Scene.from_json(scene.to_json()).to_json() == scene.to_json()


def test_clipped_and_unset_placements():
    img, scene = render([Placement("dog", size=60, x=-20, y=230), Placement("cat")], seed=2)
    dog, cat = scene.objects
    assert dog.box[0] == 0 and dog.box[3] == 256 and dog.box == _tight_box(dog.mask)
    assert cat.glyph == "🐈" and cat.box == _tight_box(cat.mask)


def test_recolouring_names_the_new_colour():
    hues = good_hues("🚗")
    assert hues
    seen = set()
    for hue in hues:
        _, scene = render([Placement("car", "🚗", 64, 90, 90, hue_shift=hue)], background="plain", seed=0)
        (car,) = scene.objects
        assert car.hue_shift == hue
        seen.add(car.color)
    assert len(seen) == len(hues) and "red" not in seen
    _, scene = render([Placement("car", "🚗", 64, 90, 90)], background="plain", seed=0)
    assert scene.objects[0].color == "red"
    rng = np.random.default_rng(0)
    placed = sample_placements(rng, ["car"] * 6 + ["dog"] * 2, recolor_prob=1.0, size_range=(24, 40))
    assert all(p.hue_shift in hues for p in placed[:6]) and all(p.hue_shift == 0 for p in placed[6:])


def test_position_and_size_words():
    _, scene = render([Placement("apple", "🍎", 30, 2, 2), Placement("apple", "🍎", 70, 180, 180),
                       Placement("apple", "🍎", 48, 104, 104)], background="plain", seed=0)
    tl, br, mid = scene.objects
    assert tl.position == ("left", "top") and tl.size == "small"
    assert br.position == ("right", "bottom") and br.size == "large"
    assert mid.position == ("middle",) and mid.size == "medium"
    assert not tl.is_character


def test_json_round_trip_and_png(tmp_path):
    img, scene = random_scene(9, n_objects=8, allow_overlap=True, recolor_prob=0.5)
    text = scene.to_json()
    assert img.info["iconworld"] == text
    assert len(text) < 8000
    back = Scene.from_json(text)
    assert back.to_json() == text
    assert (back.width, back.height, back.background, back.background_seed) == \
        (scene.width, scene.height, scene.background, scene.background_seed)
    for a, b in zip(scene.objects, back.objects):
        assert a == b                                     # every field but the mask
        assert np.array_equal(a.mask, b.mask)
    path = tmp_path / "scene.png"
    save_png(img, path)
    loaded = Image.open(path)
    loaded.load()
    assert np.array_equal(np.asarray(loaded.convert("RGB")), np.asarray(img))
    assert scene_of(loaded).to_json() == text
    assert scene_of(Image.new("RGB", (4, 4))) is None
    with pytest.raises(DatasetError):
        Scene.from_json('{"width": 4}')


def test_objects_of():
    placements = [Placement("dog", "🐕", 40, 10, 10), Placement("cow", "🐄", 40, 100, 10),
                  Placement("astronaut", "🧑‍🚀", 40, 10, 100), Placement("car", "🚗", 40, 100, 100)]
    _, scene = render(placements, seed=1)
    assert [o.category for o in scene.objects_of("dogs")] == ["dog"]
    assert [o.category for o in scene.objects_of("animals")] == ["dog", "cow"]
    assert [o.category for o in scene.objects_of("people in uniform")] == ["astronaut"]
    assert scene.objects_of("astronaut")[0].is_character
    assert scene.objects_of("giraffe") == []


def test_bad_requests_raise_visprog_errors():
    with pytest.raises(ToolError, match="dog"):
        render([Placement("dgo")], seed=0)
    with pytest.raises(ToolError):
        render([Placement("dog")], background="space", seed=0)
    with pytest.raises(ToolError):
        sample_placements(np.random.default_rng(0), ["bus"] * 40, width=64, height=64)
