"""Render styles: 'classic' unchanged, 'train', 'broad' and 'unseen' in their ranges, exact annotations."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest

from visprog import glyphs
from visprog.errors import VisprogError
from visprog.iconworld import catalog, dataset, tasks, unseen
from visprog.iconworld.render import (ALPHA_VISIBLE, MIN_SIDE, IconWorldError, good_hues, random_scene,
                                      render)
from visprog.iconworld.styles import BROAD, CLASSIC, STYLES, TRAIN, UNSEEN, draw, frame, get_style


def _digest(image) -> str:
    m = hashlib.sha256(image.tobytes())
    m.update(image.info["iconworld"].encode())
    return m.hexdigest()[:16]


def test_classic_renders_what_it_rendered_before_styles():
    # pixels and annotations recorded with the renderer before styles were introduced
    # (a Pillow or OpenMoji upgrade that redraws glyphs would change them)
    assert _digest(random_scene(0)[0]) == "1a795abbab3ec947"
    assert _digest(random_scene(1, style="classic")[0]) == "3adf5b5c1e758897"
    assert _digest(random_scene(7, n_objects=(3, 6), recolor_prob=0.5, allow_overlap=True)[0]) == "236e1544ade63198"
    assert _digest(random_scene(8, width=200, height=300)[0]) == "efa43e17b5a290c6"
    item = tasks.generate_item("gqa", 3, 1)
    assert (item["instruction"], _digest(item["images"]["IMAGE"])) == ("Are there any chickens?", "012c70f7f5ac510e")


def test_train_renders_what_it_rendered_before_broad():
    # recorded before the 'broad' style added turned glyphs and the 'shapes' background
    assert _digest(random_scene(3, style="train")[0]) == "4d1a1b044afc2e00"
    assert _digest(random_scene(4, n_objects=(6, 9), style="train")[0]) == "e43a4d12dfcff807"


@pytest.mark.parametrize("style", [TRAIN, BROAD, UNSEEN])
def test_styles_draw_within_their_ranges(style):
    lo, hi = style.sides
    for seed in range(25):
        rng = np.random.default_rng(seed)
        w, h = style.canvas(rng)
        assert lo <= min(w, h) <= max(w, h) <= hi
        if style.aspect_between:
            assert style.aspects[0] - 0.01 <= w / h <= style.aspects[-1] + 0.01
        else:
            assert any(w * den == h * num for num, den in ((3, 4), (1, 1), (4, 3)))
        small, large = style.size_range(w, h)
        assert small == max(MIN_SIDE, round(style.object_scale[0] * min(w, h)))
        assert large == round(style.object_scale[1] * min(w, h))
        placements = style.place(rng, ["dog", "boat", "person", "tree"], width=w, height=h, allow_overlap=True,
                                 recolor_prob=style.recolor_prob, size_range=(small, large),
                                 flip_prob=style.flip_prob, variants=style.variants)
        assert all(min(small, MIN_SIDE) <= p.size <= large for p in placements)
        image, scene = random_scene(seed, style=style.name)
        assert image.size == (scene.width, scene.height) and lo <= min(image.size) <= max(image.size) <= hi
        assert scene.background in style.backgrounds and scene.objects


def test_unseen_draws_through_generators_training_never_calls(monkeypatch):
    assert not set(UNSEEN.backgrounds) & set(TRAIN.backgrounds)
    assert (UNSEEN.placement, TRAIN.placement, CLASSIC.placement) == ("scatter", "uniform", "uniform")

    def forbidden(*args, **kw):
        raise AssertionError("the held-out style's code ran for a training style")

    for name in ("background", "scatter", "_looked"):
        monkeypatch.setattr(unseen, name, forbidden)
    for seed in range(20):
        random_scene(seed, style="train")
        random_scene(seed, style="broad")
        random_scene(seed)
    tasks.generate_item("nlvr", 1, 0, "train")
    with pytest.raises(AssertionError):
        random_scene(0, style="unseen")


@pytest.mark.parametrize("style", [BROAD, UNSEEN])
def test_annotations_of_turned_and_outlined_glyphs_are_exact(style):
    for seed in range(6):
        rng = np.random.default_rng(seed)
        w, h = style.canvas(rng)
        placements = style.place(rng, ["dog", "car", "astronaut", "tree", "apple", "boat"], width=w,
                                 height=h, allow_overlap=bool(seed % 2), recolor_prob=0.5,
                                 size_range=style.size_range(w, h), flip_prob=0.5, variants=True)
        if style is BROAD:
            assert any(p.angle for p in placements) and all(abs(p.angle) <= style.tilt for p in placements)
        image, scene = render(placements, width=w, height=h, seed=seed, style=style)
        empty, _ = render([], width=w, height=h, seed=seed, style=style)
        pix, bg = np.asarray(image), np.asarray(empty)
        covered = np.zeros((h, w), bool)   # where any raster has alpha: shadows and outlines too
        later = np.zeros((h, w), bool)     # opaque pixels of the objects drawn after this one
        expected = []
        for p in reversed(placements):
            r = p.raster()
            alpha = np.asarray(r.image)[..., 3]
            full = np.zeros((h + 2 * r.size[1], w + 2 * r.size[0]), np.uint8)   # room past the edges
            ox, oy = p.x + r.size[0], p.y + r.size[1]
            full[oy:oy + r.size[1], ox:ox + r.size[0]] = alpha
            a = full[r.size[1]:r.size[1] + h, r.size[0]:r.size[0] + w]
            expected.append((a >= ALPHA_VISIBLE) & ~later)
            later |= a >= ALPHA_VISIBLE
            covered |= a > 0
        expected.reverse()
        assert [o.category for o in scene.objects] == [p.category for p, m in zip(placements, expected) if m.any()]
        for o, mask in zip(scene.objects, [m for m in expected if m.any()]):
            assert np.array_equal(o.mask, mask)
            ys, xs = np.nonzero(mask)
            assert o.box == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        assert np.array_equal(pix[~covered], bg[~covered])
        assert scene.to_json() == type(scene).from_json(scene.to_json()).to_json()


def test_unseen_overlaps_are_mild():
    for seed in range(10):
        rng = np.random.default_rng(seed)
        placements = unseen.scatter(rng, ["dog"] * 6, width=240, height=240, allow_overlap=True,
                                    recolor_prob=0.0, size_range=(60, 90), flip_prob=0.5, variants=True)
        _, scene = render(placements, width=240, height=240, seed=seed, style="unseen")
        assert len(scene.objects) == 6
        for p, o in zip(placements, scene.objects):
            inside = p.raster().solid[max(0, -p.y):240 - p.y, max(0, -p.x):240 - p.x].sum()
            assert o.area >= unseen.KEEP_VISIBLE * inside


def test_variants_only_in_the_randomised_styles():
    for name in catalog.all_names():
        extra = catalog.glyphs_of(name, variants=True)[len(catalog.glyphs_of(name)):]
        assert not set(extra) & set(catalog.glyphs_of(name)) and all(glyphs.is_supported(g) for g in extra)
    assert all(good_hues(g) == () for g in ("⛵", "🚤", "🛥️", "⛴️", "🚢"))  # their water is scenery
    drawn = {style: {(o.category, o.glyph) for s in range(40) for o in random_scene(s, style=style)[1].objects}
             for style in ("classic", "train")}
    assert all(g in catalog.glyphs_of(c) for c, g in drawn["classic"])
    assert any(g not in catalog.glyphs_of(c) for c, g in drawn["train"])


def test_crop_framing():
    rng = np.random.default_rng(0)
    box = (40, 50, 80, 70)
    assert frame(rng, box, 256, 256) == (36, 48, 85, 73)            # Classify's 10% margin
    framed = [frame(rng, box, 300, 300, "unseen") for _ in range(50)]
    lefts, rights = [40 - f[0] for f in framed], [f[2] - 80 for f in framed]
    assert min(lefts) >= 0 and max(lefts) <= 20 and lefts != rights   # sides drawn apart
    for f in (frame(rng, box, 300, 300, "train") for _ in range(50)):
        assert abs((40 - f[0]) - (f[2] - 81)) <= 1                   # one margin, both sides


def test_bad_styles_are_typed_errors():
    with pytest.raises(IconWorldError, match="known styles: classic, train, broad, unseen"):
        random_scene(0, style="fancy")
    with pytest.raises(VisprogError, match="classic"):
        get_style(3)
    with pytest.raises(IconWorldError, match="backgrounds"):
        dataclasses.replace(TRAIN, name="x", backgrounds=("lava",))
    with pytest.raises(IconWorldError, match="placement"):
        dataclasses.replace(TRAIN, name="x", placement="spiral")
    with pytest.raises(IconWorldError, match="tilt"):
        dataclasses.replace(UNSEEN, name="x", tilt=10)
    with pytest.raises(IconWorldError, match="tilt"):
        dataclasses.replace(TRAIN, name="x", tilt=-5)
    assert get_style(UNSEEN) is UNSEEN and set(STYLES) == {"classic", "train", "broad", "unseen"}
    assert isinstance(draw(np.random.default_rng(1), ["cat"], dataclasses.replace(
        UNSEEN, name="custom", backgrounds=("checker",)))[1].objects[0].category, str)


@pytest.mark.parametrize("task", ["nlvr", "gqa", "edit", "tag", "points"])
def test_datasets_in_a_style_check_with_the_oracle(tmp_path, task):
    root = dataset.make(task, 4, 5, tmp_path / task, progress=False, style="unseen")
    assert "- style: unseen" in (root / "README.md").read_text()
    report = dataset.check(root, progress=False)
    assert report.ok and report.total == 4, report.summary()
    sizes = {image.size for item in tasks.generate(task, 4, 5, style="unseen") for image in item["images"].values()}
    assert sizes and all(240 <= min(s) <= max(s) <= 320 for s in sizes)


def test_cli_makes_a_dataset_in_a_style(tmp_path, capsys):
    import argparse
    from visprog.iconworld.cli import add_commands
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["data", "make", "gqa", "--n", "2", "--out", str(tmp_path / "g"), "-q",
                              "--style", "train"])
    assert args.func(args) == 0 and "train style" in capsys.readouterr().out
    assert "--style train" in (tmp_path / "g" / "README.md").read_text()
    with pytest.raises(SystemExit):
        parser.parse_args(["data", "make", "gqa", "--out", str(tmp_path / "h"), "--style", "fancy"])
