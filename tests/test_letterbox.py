"""Images of any size reach the models letterboxed (`clip.Letterbox`): the aspect ratio kept,
grey bands around, and every coordinate mapped back into the image's own frame. Weights
files from before the flag keep seeing squashed squares."""

import numpy as np
import pytest
import torch
from PIL import Image

from visprog.models import clip as C


@pytest.mark.parametrize("w,h", [(320, 240), (240, 320), (256, 256), (191, 383)])
def test_letterbox_round_trips_points(w, h):
    frame = C.Letterbox.fit(w, h, 192)
    assert max(frame.inner_w, frame.inner_h) == 192 and frame.left >= 0 and frame.top >= 0
    for x, y in [(0, 0), (w, h), (w / 3, h / 2)]:
        cx, cy = frame.to_canvas(x, y)
        assert 0 <= cx <= 192 and 0 <= cy <= 192
        assert np.allclose(frame.to_image(cx, cy), (x, y))
    assert frame.inner_w / frame.inner_h == pytest.approx(w / h, rel=0.01)


def test_to_pixels_keeps_the_aspect_ratio_or_squashes_when_asked():
    image = Image.new("RGB", (300, 150), (255, 0, 0))
    boxed = C.to_pixels([image], 64)[0]
    assert torch.allclose(boxed[:, 32, 32], torch.tensor([1.0, 0, 0]))            # the image
    assert torch.allclose(boxed[:, 2, 32], torch.tensor(C.PAD_COLOR) / 255.0)     # a band
    squashed = C.to_pixels([image], 64, keep_aspect=False)[0]
    assert torch.allclose(squashed[:, 2, 32], torch.tensor([1.0, 0, 0]))


def test_files_without_the_flag_load_squashed():
    assert C.config_from({"image_size": 64}).letterbox is False
    assert C.config_from({"image_size": 64, "letterbox": True}).letterbox is True
    assert C.CLIPConfig().letterbox is True  # what new training writes


def test_llava_points_come_back_in_percent_of_the_image():
    from visprog.models import llava as L
    from visprog.models.tokenizer import Tokenizer
    tok = Tokenizer.train(["Point to the dogs.", "dogs = 2"], vocab_size=300)
    cfg = L.LlavaConfig(vocab_size=tok.vocab_size)
    model = L.LLaVA.__new__(L.LLaVA)  # render() reads only the config and the tokenizer
    model.config, model.tokenizer = cfg, tok
    frame = C.Letterbox.fit(400, 200, cfg.image_size)
    cx, cy = frame.to_canvas(300, 150)  # 75%, 75% of the image
    ids = [cfg.loc_token(0, cx / cfg.image_size), cfg.loc_token(1, cy / cfg.image_size)]
    _, refs = model.render("Point to the dogs.", ids, (400, 200))
    (x, y), = refs[0][1]
    assert abs(x - 75) <= 2 and abs(y - 75) <= 2  # location tokens are 2% bins
