"""The detector file: targets, loss, a few training steps, save/load, decoding; shipped weights."""

import numpy as np
import pytest
import torch

from visprog.models import clip as C
from visprog.models import detector as D
from visprog.models import detector_train as DT

TINY = dict(image_size=32, widths=(8, 16, 16), depths=(1, 1, 1), token_width=16, embed_dim=32,
            text_head_width=16, crop_scenes=2, pair_scenes=3, max_steps=2, minutes=1.0, warmup=1)


def _scene(seed=3):
    from visprog.iconworld.render import random_scene
    return random_scene(seed, n_objects=(3, 5))


def test_targets_put_one_peak_per_object():
    image, scene = _scene()
    heat, box_t, box_w, cells = DT.scene_targets(scene, 24, 8, 192)
    assert int((heat == 1.0).sum()) == len(scene.objects)
    centres = [c for c in cells if c[3] == 1.0]
    assert len(centres) == len(scene.objects)
    k, a, b, _ = centres[0]
    x0, y0, x1, y1 = (v * 0.75 for v in scene.objects[k].box)
    l, t, r, btm = np.exp(box_t[:, a, b]) * 8
    px, py = (b + 0.5) * 8, (a + 0.5) * 8
    assert np.allclose([px - l, py - t, px + r, py + btm], [x0, y0, x1, y1], atol=1e-3)


def test_focal_loss_rewards_the_right_heatmap():
    target = torch.zeros(1, 4, 4)
    target[0, 1, 2] = 1.0
    good = torch.where(target > 0, 6.0, -6.0)
    assert DT.focal_heat_loss(good, target) < DT.focal_heat_loss(-good, target)


def test_vocabulary_has_no_synonyms():
    from visprog.iconworld import catalog
    # ('aircraft' is both airplane's synonym and a supercategory: the supercategory may be trained)
    synonyms = {s for c in catalog.CATEGORIES.values() for s in c.synonyms} - set(catalog.SUPERCATEGORIES)
    words = {v[0] for v in DT.vocabulary()}
    assert not (words & synonyms) and "animal" in words and "red car" in words


def test_train_a_few_steps_then_detect(tmp_path):
    torch.set_num_threads(1)
    clip = C.CLIP(C.CLIPConfig(**TINY)).eval()
    cfg = D.DetectorConfig(image_size=64, scan_size=96, head_width=16, batch=2, max_steps=2, minutes=1.0,
                           warmup=1, min_objectness=0.0, min_prob=0.0)
    path = tmp_path / "det.safetensors"
    DT.train(cfg, 0, str(path), clip, log=lambda *_: None, vocab_limit=40)
    det = D.load(str(path))
    image, scene = _scene()
    assert det.image_maps([image]).shape[-2:] == (12, 12)  # found at scan_size, trained at image_size
    [[(boxes, scores)]] = det.detect([image], ["dog"])
    assert boxes.shape[1] == 4 and len(boxes) == len(scores) > 0
    assert float(boxes[:, 2].max()) <= image.width + 1e-3 and float(boxes[:, 3].max()) <= image.height + 1e-3


def test_shipped_detector_proposes_every_object():
    from visprog import models
    if not models.available("detector"):
        pytest.skip("no shipped detector weights")
    from visprog.iconworld.render import Placement, render
    placements = [Placement("dog", x=20, y=30, size=48), Placement("dog", x=150, y=40, size=48),
                  Placement("tree", x=90, y=160, size=56)]
    image, scene = render(placements, seed=1, background="plain")
    cands = models.load("detector").candidates([image])[0]
    assert len(cands["boxes"]) == 3
    for o in scene.objects:
        best = max(_iou(b, o.box) for b in cands["boxes"].tolist())
        assert best > 0.6


def _iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    i = ix * iy
    return i / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i)


def test_nms_keeps_what_torchvision_keeps():
    import torchvision
    from visprog.models.detector import nms
    g = torch.Generator().manual_seed(0)
    for trial in range(60):
        n = trial % 30
        corner = torch.rand(n, 2, generator=g) * 100
        boxes = torch.cat([corner, corner + torch.rand(n, 2, generator=g) * 40], 1)
        scores = torch.rand(n, generator=g)
        for iou in (0.3, 0.5, 0.7):
            assert nms(boxes, scores, iou).tolist() == torchvision.ops.nms(boxes, scores, iou).tolist()
