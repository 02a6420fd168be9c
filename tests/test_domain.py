"""The domain check (visprog/models/domain.py): fitted and stored by `visprog train domain`,
read back with the detector, and turned into a warning by every in-repo model backend
(visprog/backends/domain.py) on images outside the icon world, naming the pretrained backend."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from visprog.iconworld.render import random_scene
from visprog.models import clip as C
from visprog.models import detector as D
from visprog.models import detector_train as DT
from visprog.models import domain

TINY = dict(widths=(8, 16, 16), depths=(1, 1, 1), token_width=16, embed_dim=32, text_head_width=32, image_size=32)


@pytest.mark.parametrize("kind", domain.KINDS, ids=lambda k: k.__name__)
def test_negatives_are_deterministic_images_of_the_asked_size(kind):
    a, b = kind(np.random.default_rng(3), 57, 41), kind(np.random.default_rng(3), 57, 41)
    assert a.size == (57, 41) and a.mode == "RGB" and np.array_equal(np.asarray(a), np.asarray(b))


def test_pixel_statistics_tell_flat_fills_from_noise():
    scenes = np.array([domain.pixel_stats(random_scene(s, style="classic")[0]) for s in range(8)])
    noise = domain.pixel_stats(domain.noise_image(np.random.default_rng(1), 200, 150))
    assert scenes.shape == (8, 8) and np.isfinite(scenes).all()
    # rendered scenes are mostly flat neighbourhoods (within 8 levels); 1/f noise has none
    assert scenes[:, 2].mean() > 0.5 and noise[2] < 0.05


def test_tiny_and_colourless_images_are_plainly_outside():
    from PIL import Image
    scene = random_scene(4, style="unseen")[0]
    assert domain.plain_reason(scene) is None
    assert "no colour" in domain.plain_reason(scene.convert("L"))
    assert "25x25 px" in domain.plain_reason(scene.resize((25, 25)))
    assert domain.plain_reason(Image.new("RGB", (200, 200), (200, 40, 40))) is None


def test_fit_store_and_load_back(tmp_path):
    torch.set_num_threads(1)
    clip = C.CLIP(C.CLIPConfig(**TINY)).eval()
    cfg = D.DetectorConfig(image_size=64, scan_size=64, head_width=16, batch=2, max_steps=1, minutes=1.0, warmup=1)
    path = tmp_path / "det.safetensors"
    DT.train(cfg, 0, str(path), clip, log=lambda *_: None, vocab_limit=20)
    assert D.load(str(path)).domain is None
    assert domain.main(["--detector", str(path), "--positives", "20", "--negatives", "16",
                        "--calibration", "10", "--steps", "30", "--batch", "8"]) == 0
    det = D.load(str(path))
    assert det.domain is not None and np.isfinite(det.domain.threshold)
    images = [random_scene(7, style="unseen")[0], domain.negative(11)]
    scores = det.domain.scores(domain.features(det, images, det.image_maps(images)))
    assert scores.shape == (2,) and torch.isfinite(scores).all()
    again = D.load(str(path))  # the same check, the same scores
    assert torch.allclose(again.domain.scores(domain.features(det, images, det.image_maps(images))), scores)
    with pytest.raises(SystemExit):
        domain.main(["--detector", str(path), "--quantile", "x"])
    # training on from a file that carries a check leaves the check out, to be fit anew
    more = tmp_path / "more.safetensors"
    DT.train(cfg, 0, str(more), clip, log=lambda *_: None, init=str(path), vocab_limit=20)
    assert D.load(str(more)).domain is None


LOC = "BOX0=Loc(image=IMAGE, object='{}')\nANSWER0=Count(box=BOX0)\nFINAL=Result(var=ANSWER0)"
VQA = "ANSWER0=Vqa(image=IMAGE, question='How many people are in the image?')\nFINAL=Result(var=ANSWER0)"


def test_the_shipped_detector_carries_a_calibrated_check():
    from visprog.models import load
    check = load("detector").domain
    assert check is not None and check.config.quantile >= 0.99 and np.isfinite(check.threshold)


@pytest.mark.parametrize("name", ["chelsea", "coffee", "hubble_deep_field"])
def test_a_photo_warns_naming_the_step_and_the_pretrained_backend(name):
    import visprog
    photo = domain.sample_photo(name)
    loc = visprog.execute(LOC.format("cat"), {"IMAGE": photo})
    assert len(loc.warnings) == 1 and loc.warnings[0].startswith("line 1, Loc on IMAGE: the image is unlike")
    assert "VISPROG_OWLVIT" in loc.warnings[0]
    vqa = visprog.execute(VQA, {"IMAGE": photo})
    assert len(vqa.warnings) == 1 and "VISPROG_LLAVA" in vqa.warnings[0]


def test_icon_world_scenes_of_the_unseen_style_do_not_warn():
    import visprog
    for seed in range(3):
        scene = random_scene(2_100_000_000 + seed, style="unseen")[0]
        assert visprog.execute(LOC.format("dog"), {"IMAGE": scene}).warnings == []


CROP_VQA = ("BOX0=Loc(image=IMAGE, object='dog')\nIMAGE0=CropLeft(image=IMAGE, box=BOX0)\n"
            "ANSWER0=Vqa(image=IMAGE0, question='How many cats are in the image?')\nFINAL=Result(var=ANSWER0)")


def test_a_crop_is_judged_by_the_image_it_was_cut_from():
    import visprog
    from visprog.values import crop_image, source_of
    scene = random_scene(2_100_000_000, style="unseen")[0]
    strip = crop_image(crop_image(scene, (0, 0, 80, scene.height)), (0, 0, 40, 60))
    assert source_of(strip) is scene and source_of(scene) is scene
    # a 40x60 strip of an icon-world scene is no scene, but it is cut from one
    assert visprog.execute(CROP_VQA, {"IMAGE": scene}).warnings == []
    photo = domain.sample_photo("chelsea")
    warned = visprog.execute(CROP_VQA, {"IMAGE": photo}).warnings
    assert any(w.startswith("line 3, Vqa on IMAGE0: the image it was cut from is unlike") for w in warned)
    assert "40x60 px" in domain.plain_reason(strip)  # judged alone, the strip would warn

