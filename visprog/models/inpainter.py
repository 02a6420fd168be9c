"""A small text-conditioned pixel-diffusion inpainter for the icon world (the `Replace` tool).

    inpainter = visprog.models.load("inpainter")
    edited = inpainter.inpaint(image, mask, "a cat", seed=0)   # mask: bool (H, W) or a list of them

How it works. Each region to repaint (a mask; a list of masks, or one mask's connected
components, are repainted together in one batch) is dilated by `dilate` px; a square
window around the region's box, `crop_scale` times its longer side, is cut out (outside the
image: black, and known) and resized to `resolution` x `resolution`. A diffusers
`UNet2DConditionModel` sees 7 channels: the noisy crop (3), the crop with the region blanked
(3) and the region (1). The text condition is the frozen MiniLM (`text.minilm()`): its token
states through cross-attention (`encoder_hidden_states`, at the coarsest level) and its
sentence embedding added to the timestep embedding (`class_embed_type="projection"`).
Classifier-free guidance (the text dropped in training) and DDIM with `sample_steps` steps
(v-prediction, cosine schedule, trailing spacing) generate the crop, which is resized back,
sharpened (an unsharp mask: the upscaled 32 px crop is soft) and pasted inside the region
only, feathered over `feather` px: every pixel farther than `dilate + feather` px from the
mask is the input's.

What it learnt (`inpainter_data.py`): the region is an old object's box; the new object
fits inside it, centred, and the rest of the region is background. So for `Replace` pass the
old objects' boxes as the mask (`box_mask`); an exact silhouette works too but confines the
new object to it.

Training: `inpainter_train.py` (`visprog train inpainter`); the shipped weights' command and
measurements: visprog/weights/inpainter.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
from PIL import Image, ImageFilter

from .weights import no_random_init


@dataclass
class InpainterConfig:
    resolution: int = 32           # crops are generated at this size (px)
    channels: tuple = (32, 64, 128)  # UNet widths per level (strides 1, 2, 4)
    attention: tuple = (0, 0, 1)   # 1: cross-attention to the prompt's tokens at that level
    heads: int = 4
    crop_scale: float = 1.25       # crop side = this x the region box's longer side (+ 2 * dilate)
    dilate: int = 2                # the region is the mask dilated by this many px
    feather: int = 2               # paste-back blends over this many px outside the region
    # inference
    sample_steps: int = 10         # DDIM steps at inference (10 beat 20: weights/inpainter.md)
    guidance: float = 2.0          # classifier-free guidance scale (1: none)
    sharpen: tuple = (1.5, 250)    # unsharp mask (radius px, percent) on the upscaled crop, which
                                   # 32 px generations leave soft; (0, 0): none (weights/inpainter.md)
    # training
    style: str = "classic"         # the render style of training scenes (iconworld.styles); 'train'
                                   # measured worse for Replace (weights/inpainter.md)
    minutes: float = 45.0
    max_steps: int = 1600
    batch: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: int = 100
    ema: float = 0.995             # EMA decay of the saved weights
    drop_text: float = 0.1         # probability the prompt is dropped (for guidance)
    outside_weight: float = 0.1    # loss weight of pixels outside the region
    recolor_prob: float = 0.3      # scenes' recolouring; a recoloured object's prompt names its colour
    color_word_prob: float = 0.3   # an object in its own colour gets a colour word this often
    stretch_prob: float = 0.7      # the old box is the new object's box widened on one axis this often
    max_stretch: float = 1.7
    bf16: bool = True              # bf16 autocast on the CPU (training and inference)


def build_unet(cfg: InpainterConfig):
    from diffusers import UNet2DConditionModel
    down = tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in cfg.attention)
    up = tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(cfg.attention))
    return UNet2DConditionModel(
        sample_size=cfg.resolution, in_channels=7, out_channels=3, down_block_types=down,
        up_block_types=up, block_out_channels=tuple(cfg.channels), layers_per_block=1,
        cross_attention_dim=384, attention_head_dim=cfg.heads, norm_num_groups=8,
        class_embed_type="projection", projection_class_embeddings_input_dim=384)


def noise_scheduler(kind: str = "ddim"):
    """The training (DDPM) or sampling (DDIM) scheduler; both share the same noise schedule."""
    from diffusers import DDIMScheduler, DDPMScheduler
    kw = dict(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction")
    if kind == "ddpm":
        return DDPMScheduler(**kw)
    return DDIMScheduler(**kw, clip_sample=True, set_alpha_to_one=True, timestep_spacing="trailing")


def text_condition(texts: Sequence[Optional[str]]):
    """MiniLM token states (B, T, 384), their mask (B, T) and sentence embeddings (B, 384);
    None (the dropped prompt) gives zeros and one unmasked zero token."""
    from .text import minilm
    real = [t for t in texts if t is not None]
    B = len(texts)
    if real:
        hidden, mask = minilm().tokens(real)
        sent = minilm().sentences(real)
        T = hidden.shape[1]
    else:
        T = 1
    H = torch.zeros(B, T, 384)
    M = torch.zeros(B, T, dtype=torch.bool)
    S = torch.zeros(B, 384)
    k = 0
    for i, t in enumerate(texts):
        if t is None:
            M[i, 0] = True
        else:
            H[i], M[i], S[i] = hidden[k], mask[k], sent[k]
            k += 1
    return H, M, S


# ----------------------------------------------------------------------------- crop geometry


def dilate(mask: np.ndarray, r: int) -> np.ndarray:
    """Binary dilation by a (2r+1) square."""
    if r <= 0:
        return mask.copy()
    from scipy.ndimage import binary_dilation
    return binary_dilation(mask, structure=np.ones((2 * r + 1, 2 * r + 1), bool))


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def box_mask(box, width: int, height: int) -> np.ndarray:
    """A bool (height, width) mask of a box (x0, y0, x1, y1), clipped to the image."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    m = np.zeros((height, width), bool)
    m[max(0, y0):max(0, y1), max(0, x0):max(0, x1)] = True
    return m


def crop_window(box, scale: float, margin: int = 0) -> tuple[int, int, int]:
    """The square window (x0, y0, side) centred on `box`: side = scale * longer side + 2 * margin."""
    x0, y0, x1, y1 = box
    side = max(4, int(round(max(x1 - x0, y1 - y0) * scale + 2 * margin)))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return int(round(cx - side / 2)), int(round(cy - side / 2)), side


def cut(image: Image.Image, region: np.ndarray, window, R: int):
    """The window of `image` and of `region` at R x R: crop (3, R, R) in [-1, 1] and region
    (1, R, R) in {0, 1} (a low-res pixel is in the region when any of its pixels is)."""
    x, y, s = window
    crop = image.crop((x, y, x + s, y + s)).resize((R, R), Image.Resampling.BILINEAR)
    arr = torch.from_numpy(np.asarray(crop, np.float32) / 127.5 - 1).permute(2, 0, 1)
    H, W = region.shape
    local = np.zeros((s, s), np.float32)
    ax0, ay0, ax1, ay1 = max(x, 0), max(y, 0), min(x + s, W), min(y + s, H)
    if ax0 < ax1 and ay0 < ay1:
        local[ay0 - y:ay1 - y, ax0 - x:ax1 - x] = region[ay0:ay1, ax0:ax1]
    small = torch.nn.functional.adaptive_max_pool2d(torch.from_numpy(local)[None, None], R)[0]
    if s < R:  # upsampling: max-pool cannot grow; nearest instead
        small = torch.nn.functional.interpolate(torch.from_numpy(local)[None, None], size=(R, R))[0]
    return arr, (small > 0).float()


# ----------------------------------------------------------------------------- model


class Inpainter(nn.Module):
    def __init__(self, cfg: InpainterConfig):
        super().__init__()
        self.config = cfg
        self.unet = build_unet(cfg)

    def forward(self, noisy, masked, region, t, hidden, token_mask, sentence):
        """v-prediction (B, 3, R, R) for noisy crops (B, 3, R, R), blanked crops (B, 3, R, R),
        regions (B, 1, R, R), timesteps (B,) and the text condition (`text_condition`)."""
        x = torch.cat([noisy, masked, region], 1)
        return self.unet(x, t, encoder_hidden_states=hidden, encoder_attention_mask=token_mask,
                         class_labels=sentence).sample

    @torch.no_grad()
    def sample(self, masked, region, texts: Sequence[str], seed: int = 0, steps: Optional[int] = None,
               guidance: Optional[float] = None) -> torch.Tensor:
        """Generated crops (B, 3, R, R) in [-1, 1], known pixels kept (DDIM + guidance)."""
        cfg = self.config
        steps = steps or cfg.sample_steps
        guidance = cfg.guidance if guidance is None else guidance
        B, R = masked.shape[0], cfg.resolution
        self.eval()
        sched = noise_scheduler("ddim")
        sched.set_timesteps(steps)
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(B, 3, R, R, generator=g)
        use_cfg = guidance != 1.0
        cond = text_condition(list(texts) + ([None] * B if use_cfg else []))
        m2, r2 = (torch.cat([masked, masked]), torch.cat([region, region])) if use_cfg else (masked, region)
        for t in sched.timesteps:
            xin = torch.cat([x, x]) if use_cfg else x
            tt = torch.full((xin.shape[0],), int(t), dtype=torch.long)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
                v = self(xin, m2, r2, tt, *cond).float()
            if use_cfg:
                vc, vu = v.chunk(2)
                v = vu + guidance * (vc - vu)
            x = sched.step(v, t, x, generator=g).prev_sample
        x = x.clamp(-1, 1)
        return region * x + (1 - region) * masked

    # ------------------------------------------------------------------ the API
    def inpaint(self, image: Image.Image, mask: Union[np.ndarray, Sequence[np.ndarray]], prompt: str,
                seed: int = 0, steps: Optional[int] = None, guidance: Optional[float] = None) -> Image.Image:
        """`image` with each masked region repainted to show `prompt` (e.g. 'a cat').
        `mask`: a bool (H, W) array (each connected component is one region) or a list of them.
        Pixels farther than `dilate + feather` px from the mask are unchanged."""
        cfg = self.config
        image = image.convert("RGB")
        W, H = image.size
        masks = [np.asarray(mask, bool)] if isinstance(mask, np.ndarray) else [np.asarray(m, bool) for m in mask]
        regions = []
        for m in masks:
            if m.shape != (H, W):
                raise ValueError(f"mask shape {m.shape} does not match the image ({H}, {W})")
            if isinstance(mask, np.ndarray):
                from scipy.ndimage import label
                lab, n = label(dilate(m, cfg.dilate))
                regions += [lab == k for k in range(1, n + 1)]
            elif m.any():
                regions.append(dilate(m, cfg.dilate))
        if not regions:
            return image.copy()
        R = cfg.resolution
        windows, crops, locs = [], [], []
        for reg in regions:
            w = crop_window(mask_box(reg), cfg.crop_scale)
            c, r = cut(image, reg, w, R)
            windows.append(w), crops.append(c), locs.append(r)
        crops_t, regs_t = torch.stack(crops), torch.stack(locs)
        out = self.sample(crops_t * (1 - regs_t), regs_t, [prompt] * len(regions), seed=seed,
                          steps=steps, guidance=guidance)
        result = image.copy()
        for (x, y, s), gen, reg in zip(windows, out, regions):
            arr = ((gen.permute(1, 2, 0).numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)
            canvas = Image.new("RGB", (W, H))
            up = Image.fromarray(arr).resize((s, s), Image.Resampling.BICUBIC)
            if cfg.sharpen[1] > 0:
                up = up.filter(ImageFilter.UnsharpMask(radius=cfg.sharpen[0], percent=int(cfg.sharpen[1]),
                                                       threshold=1))
            canvas.paste(up, (x, y))
            result = blend(result, canvas, reg, cfg.feather)
        return result


def blend(image: Image.Image, generated: Image.Image, region: np.ndarray, feather: int) -> Image.Image:
    """`generated` inside `region` (bool (H, W)), fading into `image` over `feather` px
    outside it; every pixel farther than `feather` px from the region is `image`'s."""
    alpha = Image.fromarray((region * 255).astype(np.uint8))
    if feather > 0:
        grown = dilate(region, feather)
        soft = np.asarray(Image.fromarray((grown * 255).astype(np.uint8)).filter(ImageFilter.BoxBlur(feather)))
        alpha = Image.fromarray(np.maximum(soft, (region * 255).astype(np.uint8)) * grown)
    return Image.composite(generated, image, alpha)


# ----------------------------------------------------------------------------- save / load


def save(model: Inpainter, path: str, meta: dict) -> None:
    from .clip import save as save_fp16
    save_fp16(model, path, {"config": dataclasses.asdict(model.config), **meta})


def load(path: str) -> Inpainter:
    from .clip import config_from, read
    state, meta = read(path)
    # diffusers keeps torch.nn.init's functions as it finds them on import, and puts them back
    # after its own loads: it must not first be imported while they are switched off
    import diffusers.models.modeling_utils  # noqa: F401
    with no_random_init():
        model = Inpainter(config_from(meta["config"], InpainterConfig))
    model.load_state_dict(state)
    model.meta = meta
    return model.eval()
