"""The segmenter files: batches, losses, a few training steps, save/load, the segment API.
Tiny configs only; the shipped weights are never retrained here."""

import random

import numpy as np
import torch

from visprog.models import clip as C
from visprog.models import segmenter as SG
from visprog.models import segmenter_data as SD
from visprog.models import segmenter_train as ST

TINY_CLIP = C.CLIPConfig(image_size=32, widths=(8, 16, 16), depths=(1, 1, 1), token_width=16, embed_dim=32,
                         text_head_width=16)
TINY = dict(image_size=64, dim=16, heads=2, mlp_dim=32, fine_widths=(4, 8, 8), batch=2, prompts=2,
            n_objects=(1, 3), loss_points=256, max_steps=2, minutes=1.0, warmup=1)


def _model(**kw):
    torch.manual_seed(0)
    return SG.Segmenter(SG.SegmenterConfig(**{**TINY, **kw}), TINY_CLIP)


def test_batch_prompts_and_targets():
    cfg = SG.SegmenterConfig(**TINY)
    images, index, coords, kinds, targets = SD.make_batch(random.Random(0), cfg)
    N = len(index)
    assert images.shape == (2, 3, 64, 64) and targets.shape == (N, 64, 64) and targets.dtype == torch.bool
    assert coords.shape[:2] == kinds.shape and coords.shape[0] == N
    for c, k, t in zip(coords, kinds, targets):
        if k[0] == SG.POS:  # the first point of a point prompt lies on the object
            x, y = c[0].long()
            assert t[y, x]
        else:
            assert k[0] == SG.TOP_LEFT and k[1] == SG.BOTTOM_RIGHT


def test_sampled_logits_equal_the_full_ones():
    model = _model().eval()
    cfg = model.config
    images, index, coords, kinds, targets = SD.make_batch(random.Random(1), cfg)
    pixels, weight = ST.loss_pixels(targets, ST.object_boxes(targets), 50)
    with torch.no_grad():
        full, iou = model(images, index, coords, kinds)
        part, _ = model(images, index, coords, kinds, pixels)
    assert full.shape == (len(index), cfg.n_masks, 64, 64) and iou.shape == (len(index), cfg.n_masks)
    picked = full.flatten(2).gather(2, pixels[:, None].expand(-1, cfg.n_masks, -1))
    assert torch.allclose(picked, part, atol=1e-5)
    assert weight.shape == pixels.shape and (weight > 0).all()


def test_focal_dice_reward_the_right_mask():
    target = torch.zeros(1, 1, 16)
    target[..., :5] = 1
    good = torch.where(target > 0, 6.0, -6.0)
    f_good, d_good = ST.focal_dice(good, target)
    f_bad, d_bad = ST.focal_dice(-good, target)
    assert f_good < f_bad and d_good < d_bad


def test_loss_goes_down_on_a_fixed_batch():
    torch.set_num_threads(1)
    model = _model()
    cfg = model.config
    batch = SD.make_batch(random.Random(2), cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(25):
        model.train()
        model.tower.eval()
        loss, *_ = ST.losses(model, batch, cfg)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.7 * first


def test_train_save_load_segment(tmp_path):
    torch.set_num_threads(1)
    clip = C.CLIP(TINY_CLIP)
    path = tmp_path / "seg.safetensors"
    model = ST.train(SG.SegmenterConfig(**TINY), 0, str(path), clip.tower.state_dict(), TINY_CLIP,
                     log=lambda *_: None)
    loaded = SG.load(str(path))
    from visprog.iconworld.render import random_scene
    image, scene = random_scene(5, n_objects=(2, 3), width=64, height=64)
    wide = image.resize((96, 48))
    boxes = [[o.box for o in scene.objects], [[4, 4, 40, 30]]]
    a = model.segment([image, wide], boxes=boxes)
    b = loaded.segment([image, wide], boxes=boxes)
    masks, ious = b[0]
    K = loaded.config.n_masks
    assert masks.shape == (len(scene.objects), K, 64, 64) and masks.dtype == bool
    assert b[1][0].shape == (1, K, 48, 96)                       # the image's own frame
    assert (np.diff(ious, axis=1) <= 0).all()                    # best-predicted first
    assert np.allclose(a[0][1], ious, atol=2e-2)                 # fp16 weights round trip
    # points (one per prompt, or several with labels) and mixed prompts
    pts = [[[o.center] for o in scene.objects], None]
    p = loaded.segment([image, wide], points=pts)
    assert p[0][0].shape[0] == len(scene.objects) and p[1][0].shape[0] == 0
    q = loaded.segment([image], boxes=[[scene.objects[0].box]], points=[[[(10, 10), (20, 20)]]],
                       point_labels=[[[1, 0]]])
    assert q[0][0].shape == (1, K, 64, 64)


def test_mask_nms_and_boxes():
    m = torch.zeros(3, 8, 8, dtype=torch.bool)
    m[0, 1:5, 1:5] = True
    m[1, 1:5, 1:4] = True   # mostly inside 0
    m[2, 6:8, 6:8] = True
    keep = SG.mask_nms(m, torch.tensor([0.9, 0.8, 0.7]), 0.5)
    assert keep.tolist() == [0, 2]
    assert SG.mask_boxes(m[:1]).tolist() == [[1, 1, 5, 5]]


def test_prompt_maps_draw_the_box_and_the_points():
    coords = torch.tensor([[[8.0, 16.0], [40.0, 33.0]], [[30.5, 30.5], [0.0, 0.0]]])
    kinds = torch.tensor([[SG.TOP_LEFT, SG.BOTTOM_RIGHT], [SG.POS, SG.PAD]])
    maps = SG.prompt_maps(coords, kinds, 64, 16)                 # 4 px cells
    assert maps.shape == (2, 3, 16, 16)
    assert maps[0, 0, 4:8, 2:10].eq(1).all() and maps[0, 0, 8, 2:10].allclose(torch.tensor(0.25))
    assert maps[0, 0].sum() == 8 * 4 + 8 * 0.25 and maps[0, 1:].eq(0).all()
    assert maps[1, 0].eq(0).all() and maps[1, 2].eq(0).all() and int(maps[1, 1].argmax()) == 7 * 16 + 7


def test_refine_keeps_masks_inside_the_widened_box():
    model = _model().eval()
    from visprog.iconworld.render import random_scene
    image, scene = random_scene(6, n_objects=(2, 3), width=64, height=64)
    box = scene.objects[0].box
    [(masks, _)] = model.segment([image], boxes=[[box]])
    x0, y0, x1, y1 = box
    pad_x, pad_y = (x1 - x0) * model.config.box_margin + 2, (y1 - y0) * model.config.box_margin + 2
    outside = np.ones((64, 64), bool)
    outside[int(max(0, y0 - pad_y - 1)):int(y1 + pad_y + 1), int(max(0, x0 - pad_x - 1)):int(x1 + pad_x + 1)] = False
    assert not masks[:, :, outside].any()
    [(raw, _)] = model.segment([image], points=[[[scene.objects[0].center]]], refine=False)
    [(ref, _)] = model.segment([image], points=[[[scene.objects[0].center]]])
    assert raw.shape == ref.shape == (1, model.config.n_masks, 64, 64)


def test_training_is_reproducible_from_the_seed():
    torch.set_num_threads(1)
    tower = C.CLIP(TINY_CLIP).tower.state_dict()
    states = [ST.train(SG.SegmenterConfig(**TINY), 3, None, tower, TINY_CLIP, log=lambda *_: None).state_dict()
              for _ in range(2)]
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
