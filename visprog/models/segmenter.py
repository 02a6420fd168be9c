"""A promptable segmenter for the icon world in SAM's design: config, model, save/load.

    image encoder   the CLIP image tower (`clip.Tower`, initialised from the detector's)
                    on the scene resized to 256x256 -> 32x32 stride-8 tokens (96 ch),
                    plus a light full-resolution conv path (`Fine`) for boundary detail:
                    features at strides 1, 2 and 4 of the 256x256 image
    prompt encoder  SAM's: random Fourier positional encodings of points and box corners
                    plus a learnt embedding per kind (positive point, negative point,
                    box top-left, box bottom-right, padding); and, where SAM takes a mask
                    prompt, the prompt drawn as a stride-4 map (box coverage, point blobs:
                    `prompt_maps`) through small convs into the image tokens and into the
                    stride-4 upsampling stage (ahead early in training: segmenter.md)
    mask decoder    SAM's: a two-way transformer between the prompt tokens (+ an IoU token
                    and `n_masks` mask tokens) and the image tokens, then per prompt the
                    updated image tokens are upsampled 32 -> 64 -> 128 (transposed convs,
                    each added to the fine path's features at that stride); each mask token's
                    hypernetwork MLP gives the weights of a dot product with the stride-2
                    features (-> 128x128 logits, bilinearly upsampled) and with the
                    full-resolution features (added): masks at 256x256, sharp at the boundary.
                    An MLP on the IoU token predicts each mask's IoU.

`segment(images, boxes=..., points=...)` returns, per image, its prompts' candidate masks
(N, K, H, W) bool in the image's own frame, best-predicted first, with their predicted IoUs
(N, K), after `refine` (masks kept inside their box; a points-only prompt re-run with the
box of its mask's part at the point). `panoptic(images)` segments every object: the
detector's class-agnostic boxes (`Detector.candidates`) as box prompts, then NMS on the masks.

Training batches: `segmenter_data.py`; losses and loop: `segmenter_train.py`
(`visprog train segmenter`; the shipped weights' command and measurements:
visprog/weights/segmenter.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .clip import CLIPConfig, Letterbox, Tower, config_from, read, to_pixels
from .weights import no_random_init


@dataclass
class SegmenterConfig:
    image_size: int = 256          # scenes are resized to this; masks are predicted at this size
    letterbox: bool = True         # images keep their aspect ratio (clip.Letterbox); False: squashed square (files from before it)
    dim: int = 96                  # transformer width (= the tower's token width)
    depth: int = 2                 # two-way transformer blocks
    heads: int = 4
    mlp_dim: int = 256
    n_masks: int = 3               # candidate masks per prompt
    fine_widths: tuple = (16, 32, 48)  # full-resolution conv path, channels at strides 1, 2, 4
    # training
    minutes: float = 40.0
    max_steps: int = 100000
    batch: int = 8                 # scenes per step
    prompts: int = 4               # prompts per scene (objects sampled without replacement)
    lr: float = 1e-3
    tower_lr: float = 0.1          # the tower's learning rate, times lr (0: frozen)
    weight_decay: float = 0.01
    warmup: int = 100
    n_objects: tuple = (1, 8)
    recolor_prob: float = 0.4
    overlap_prob: float = 0.3
    box_prob: float = 0.5          # a prompt is a box (else points)
    box_noise: float = 0.1         # box jitter: std of each side, times the box side (SAM), <= 20 px
    extra_points: float = 0.3      # a point prompt gets 1-2 more (positive or negative) points
    loss_points: int = 4096        # pixels per mask the loss sees (0: all): 1/4 uniform, 1/4 in the box, 1/2 on the boundary
    focal_weight: float = 20.0
    dice_weight: float = 1.0
    iou_weight: float = 1.0
    # inference
    min_objectness: float = 0.3    # panoptic: the detector's proposals kept
    min_iou: float = 0.5           # panoptic: masks kept by predicted IoU
    mask_nms: float = 0.7          # panoptic: mask IoU above which a lower-scoring mask goes
    box_margin: float = 0.1        # masks stay inside their box widened by this x its side + 2 px (`refine`)


# ----------------------------------------------------------------------------- building blocks


class LayerNorm2d(nn.Module):
    def __init__(self, c: int, eps: float = 1e-6):
        super().__init__()
        self.weight, self.bias, self.eps = nn.Parameter(torch.ones(c)), nn.Parameter(torch.zeros(c)), eps

    def forward(self, x):  # (B, C, H, W)
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class MLP(nn.Module):
    def __init__(self, din: int, hidden: int, dout: int, layers: int = 3):
        super().__init__()
        dims = [din] + [hidden] * (layers - 1) + [dout]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else F.relu(layer(x))
        return x


class Attention(nn.Module):
    """Multi-head attention with separate q/k/v inputs; `down` shrinks the internal width (SAM)."""

    def __init__(self, dim: int, heads: int, down: int = 1):
        super().__init__()
        inner = dim // down
        self.heads = heads
        self.q, self.k, self.v = nn.Linear(dim, inner), nn.Linear(dim, inner), nn.Linear(dim, inner)
        self.out = nn.Linear(inner, dim)

    def forward(self, q, k, v):  # (B, Nq, D), (B, Nk, D), (B, Nk, D)
        B = q.shape[0]
        split = lambda x: x.view(B, x.shape[1], self.heads, -1).transpose(1, 2)  # (B, h, N, d)
        o = F.scaled_dot_product_attention(split(self.q(q)), split(self.k(k)), split(self.v(v)))
        return self.out(o.transpose(1, 2).flatten(2))


class TwoWayBlock(nn.Module):
    """SAM's block: token self-attention, tokens -> image, token MLP, image -> tokens."""

    def __init__(self, dim: int, heads: int, mlp_dim: int, skip_first_pe: bool):
        super().__init__()
        self.self_attn = Attention(dim, heads)
        self.t2i = Attention(dim, heads, 2)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.ReLU(), nn.Linear(mlp_dim, dim))
        self.i2t = Attention(dim, heads, 2)
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(4))
        self.skip_first_pe = skip_first_pe

    def forward(self, tok, img, tok_pe, img_pe):
        if self.skip_first_pe:
            tok = self.self_attn(tok, tok, tok)
        else:
            q = tok + tok_pe
            tok = tok + self.self_attn(q, q, tok)
        tok = self.norms[0](tok)
        tok = self.norms[1](tok + self.t2i(tok + tok_pe, img + img_pe, img))
        tok = self.norms[2](tok + self.mlp(tok))
        img = self.norms[3](img + self.i2t(img + img_pe, tok + tok_pe, tok))
        return tok, img


class TwoWayTransformer(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int, mlp_dim: int):
        super().__init__()
        self.blocks = nn.ModuleList(TwoWayBlock(dim, heads, mlp_dim, i == 0) for i in range(depth))
        self.final = Attention(dim, heads, 2)
        self.norm = nn.LayerNorm(dim)

    def forward(self, img, img_pe, tok):  # (N, D, G, G), (1, D, G, G), (N, T, D)
        img = img.flatten(2).transpose(1, 2)            # (N, G*G, D)
        img_pe = img_pe.flatten(2).transpose(1, 2)
        x = tok
        for block in self.blocks:
            x, img = block(x, img, tok, img_pe)
        x = self.norm(x + self.final(x + tok, img + img_pe, img))
        return x, img


class FourierPE(nn.Module):
    """SAM's random Fourier features of (x, y) in [0, 1]."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("gauss", torch.randn(2, dim // 2))

    def forward(self, xy):  # (..., 2) in [0, 1] -> (..., dim)
        x = (2 * xy - 1) @ self.gauss * (2 * math.pi)
        return torch.cat([x.sin(), x.cos()], -1)

    def grid(self, g: int) -> torch.Tensor:  # (1, dim, g, g)
        c = (torch.arange(g, dtype=torch.float32) + 0.5) / g
        ys, xs = torch.meshgrid(c, c, indexing="ij")
        return self(torch.stack([xs, ys], -1)).permute(2, 0, 1)[None]


class Fine(nn.Module):
    """The full-resolution conv path: (B, 3, S, S) -> features at strides 1, 2, 4."""

    def __init__(self, widths: Sequence[int]):
        super().__init__()
        w0, w1, w2 = widths
        conv = lambda a, b, s=1: nn.Sequential(nn.Conv2d(a, b, 3, s, 1), nn.ReLU())
        self.s1 = nn.Sequential(conv(3, w0), conv(w0, w0))
        self.s2 = nn.Sequential(conv(w0, w1, 2), conv(w1, w1))
        self.s4 = nn.Sequential(conv(w1, w2, 2), conv(w2, w2))

    def forward(self, x):
        x = (x - 0.5) / 0.25
        f1 = self.s1(x)
        f2 = self.s2(f1)
        return f1, f2, self.s4(f2)


# ----------------------------------------------------------------------------- the model

# prompt-token kinds (SAM's point labels: -1 padding, 0 negative, 1 positive, 2/3 box corners)
PAD, NEG, POS, TOP_LEFT, BOTTOM_RIGHT = -1, 0, 1, 2, 3


class Segmenter(nn.Module):
    def __init__(self, cfg: SegmenterConfig, clip_cfg: CLIPConfig):
        super().__init__()
        self.config, self.clip_config = cfg, clip_cfg
        d, K = cfg.dim, cfg.n_masks
        w0, w1, w2 = cfg.fine_widths
        # image encoder
        self.tower = Tower(clip_cfg)
        self.proj = nn.Conv2d(clip_cfg.token_width, d, 1) if clip_cfg.token_width != d else nn.Identity()
        self.fine = Fine(cfg.fine_widths)
        # prompt encoder
        self.pe = FourierPE(d)
        self.kinds = nn.Embedding(5, d)                 # PAD, NEG, POS, TOP_LEFT, BOTTOM_RIGHT (index kind + 1)
        self.no_mask = nn.Parameter(torch.zeros(d))     # SAM's dense embedding when no mask prompt
        # the prompt drawn as a map (box coverage, positive and negative point blobs) at stride
        # 4, into the image tokens (as SAM's mask prompt) and into the stride-4 upsampling stage
        self.dense8 = nn.Sequential(nn.Conv2d(3, d // 4, 2, 2), LayerNorm2d(d // 4), nn.GELU(), nn.Conv2d(d // 4, d, 1))
        self.dense4 = nn.Conv2d(3, d // 2, 3, padding=1)
        # mask decoder
        self.iou_token = nn.Parameter(torch.randn(1, d) * 0.02)
        self.mask_tokens = nn.Parameter(torch.randn(K, d) * 0.02)
        self.transformer = TwoWayTransformer(d, cfg.depth, cfg.heads, cfg.mlp_dim)
        self.up1 = nn.ConvTranspose2d(d, d // 2, 2, 2)
        self.skip4 = nn.Conv2d(w2, d // 2, 1)
        self.norm1 = LayerNorm2d(d // 2)
        self.up2 = nn.ConvTranspose2d(d // 2, d // 4, 2, 2)
        self.skip2 = nn.Conv2d(w1, d // 4, 1)
        self.hyper = nn.ModuleList(MLP(d, d, d // 4 + w0) for _ in range(K))
        self.iou_head = MLP(d, 256, K)

    # -- tensors
    def encode(self, pixels):
        """(B, 3, S, S) in [0, 1] -> image tokens (B, D, S/8, S/8) and the fine features."""
        tokens = self.proj(self.tower(pixels))
        return tokens, self.fine(pixels)

    def prompt_tokens(self, coords, kinds):
        """coords (N, T, 2) px in the model frame (continuous: pixel (i, j)'s centre is
        (i + 0.5, j + 0.5); box corners are its edges), kinds (N, T) -> embeddings (N, T, D)."""
        xy = coords / self.config.image_size
        emb = self.pe(xy) * (kinds != PAD)[..., None]
        return emb + self.kinds(kinds + 1)

    def decode(self, tokens, fine, image_index, coords, kinds, pixels=None):
        """Per prompt n (of image image_index[n]): mask logits (N, K, S, S) and IoUs (N, K).
        pixels (N, P), flat pixel indices: the logits at those pixels only (N, K, P) (training)."""
        f1, f2, f4 = fine
        N, K = len(image_index), self.config.n_masks
        sparse = self.prompt_tokens(coords, kinds)                                  # (N, T, D)
        out = torch.cat([self.iou_token, self.mask_tokens], 0).expand(N, -1, -1)    # (N, 1+K, D)
        tok = torch.cat([out, sparse], 1)
        G = tokens.shape[-1]
        maps = prompt_maps(coords, kinds, self.config.image_size, 2 * G)           # (N, 3, 2G, 2G): stride 4
        src = tokens[image_index] + self.no_mask[None, :, None, None] + self.dense8(maps)  # (N, D, G, G)
        hs, img = self.transformer(src, self.pe.grid(G).to(src), tok)
        img = img.transpose(1, 2).reshape(N, -1, G, G)                              # (N, D, G, G)
        x = F.gelu(self.norm1(self.up1(img) + self.skip4(f4)[image_index] + self.dense4(maps)))  # (N, D/2, 2G, 2G)
        x = F.gelu(self.up2(x) + self.skip2(f2)[image_index])                      # (N, D/4, 4G, 4G)
        h = torch.stack([mlp(hs[:, 1 + k]) for k, mlp in enumerate(self.hyper)], 1)  # (N, K, D/4 + w0)
        c = x.shape[1]
        coarse = torch.einsum("nkc,nchw->nkhw", h[..., :c], x)                     # (N, K, S/2, S/2)
        S = f1.shape[-1]
        if pixels is None:
            logits = F.interpolate(coarse, size=(S, S), mode="bilinear", align_corners=False)
            logits = logits + torch.einsum("nkc,nchw->nkhw", h[..., c:], f1[image_index])
        else:  # the same values at the given pixels: bilinear (align_corners=False) + dot product
            ys, xs = pixels // S, pixels % S
            grid = torch.stack([(xs + 0.5) / S * 2 - 1, (ys + 0.5) / S * 2 - 1], -1)[:, None]  # (N, 1, P, 2)
            logits = F.grid_sample(coarse, grid.to(coarse), mode="bilinear", padding_mode="border",
                                   align_corners=False)[:, :, 0]                              # (N, K, P)
            f = f1.flatten(2)[image_index[:, None], :, pixels]                             # (N, P, w0)
            logits = logits + torch.einsum("nkc,npc->nkp", h[..., c:], f)
        return logits, self.iou_head(hs[:, 0])

    def forward(self, images, image_index, coords, kinds, pixels=None):
        tokens, fine = self.encode(images)
        return self.decode(tokens, fine, image_index, coords, kinds, pixels)

    # ------------------------------------------------------------------ inference API
    @torch.no_grad()
    def segment(self, images, boxes=None, points=None, point_labels=None, refine: bool = True):
        """Masks for prompts on PIL images. Per image i (each argument a list over images,
        None entries allowed): boxes[i] (N, 4) x0, y0, x1, y1 px (edges: a scene object's
        `box`); points[i] (N, P, 2) x, y px (continuous: pixel (i, j)'s centre is (i + .5, j + .5))
        with point_labels[i] (N, P) 1 positive / 0 negative (default all positive). With
        both, prompt n is box n plus points n. Returns per image (masks bool (N, K, H, W) in
        the image's frame, predicted IoUs (N, K)), candidates best-predicted first.
        refine: the post-processing of `refine` (off: the decoder's raw masks)."""
        self.eval()
        S = self.config.image_size
        coords, kinds, index = [], [], []
        frames = [Letterbox.fit(im.width, im.height, S, self.config.letterbox) for im in images]
        for i, im in enumerate(images):
            b = _array(boxes[i] if boxes is not None else None)
            p = _array(points[i] if points is not None else None)
            b = None if b is None else b.reshape(-1, 4)
            p = None if p is None else (p[:, None] if p.ndim == 2 else p)           # (N, P, 2)
            if b is None and p is None:
                continue
            if b is not None and p is not None and len(b) != len(p):
                raise ValueError(f"image {i}: {len(b)} boxes but {len(p)} point prompts")
            n = len(b) if b is not None else len(p)
            c = torch.zeros(n, 0, 2)
            k = torch.zeros(n, 0, dtype=torch.long)
            if b is not None:
                c = torch.cat([c, b.view(n, 2, 2)], 1)
                k = torch.cat([k, torch.tensor([TOP_LEFT, BOTTOM_RIGHT]).expand(n, 2)], 1)
            if p is not None:
                lab = _array(point_labels[i] if point_labels is not None else None)
                lab = torch.ones(p.shape[:2]) if lab is None else lab.reshape(p.shape[:2])
                c = torch.cat([c, p], 1)
                k = torch.cat([k, torch.where(lab > 0, POS, NEG)], 1)
            coords.append(torch.stack(frames[i].to_canvas(c[..., 0], c[..., 1]), -1))
            kinds.append(k)
            index += [i] * n
        pixels = to_pixels(images, S, self.config.letterbox)  # as `frames` place them
        tokens, fine = self.encode(pixels)
        results = [(np.zeros((0, self.config.n_masks, im.height, im.width), bool),
                    np.zeros((0, self.config.n_masks), np.float32)) for im in images]
        if not index:
            return results
        T = max(c.shape[1] for c in coords)
        coords = torch.cat([F.pad(c, (0, 0, 0, T - c.shape[1])) for c in coords])
        kinds = torch.cat([F.pad(k, (0, T - k.shape[1]), value=PAD) for k in kinds])
        index = torch.tensor(index)
        logits, iou = self.decode(tokens, fine, index, coords, kinds)
        if refine:
            logits, iou = self.refine(tokens, fine, index, coords, kinds, logits, iou)
        for i, im in enumerate(images):
            sel = index == i
            if not sel.any():
                continue
            order = iou[sel].argsort(1, descending=True)                              # (n, K)
            lg = logits[sel].gather(1, order[..., None, None].expand(-1, -1, S, S))
            if (im.width, im.height) != (S, S):
                f = frames[i]
                lg = F.interpolate(lg[..., f.top:f.top + f.inner_h, f.left:f.left + f.inner_w],
                                   size=(im.height, im.width), mode="bilinear", align_corners=False)
            results[i] = ((lg > 0).numpy(), iou[sel].gather(1, order).numpy())
        return results

    def refine(self, tokens, fine, index, coords, kinds, logits, iou):
        """SAM-style post-processing (measured in visprog/weights/segmenter.md): a prompt with a
        box keeps its masks inside the box widened by `box_margin` (the decoder leaves stray
        pixels on other objects far away); a prompt of points only is run again as the box of
        its best mask's part that holds the first positive point (connected after a 2 px
        dilation) plus the points, and then kept inside that box likewise."""
        from scipy import ndimage
        S, N = self.config.image_size, len(index)
        has_box = (kinds == TOP_LEFT).any(1)
        points_only = (~has_box).nonzero()[:, 0].tolist()
        if points_only:
            best = logits[points_only].gather(1, iou[points_only].argmax(1)[:, None, None, None]
                                              .expand(-1, 1, S, S))[:, 0] > 0
            new_boxes = []
            for j, n in enumerate(points_only):
                pos = (kinds[n] == POS).nonzero()[:, 0]
                x, y = (coords[n, pos[0]] if len(pos) else coords[n, 0]).long().clamp(0, S - 1).tolist()
                m = best[j].numpy()
                lab, _ = ndimage.label(ndimage.binary_dilation(m, iterations=2), structure=np.ones((3, 3)))
                part = m & (lab == lab[y, x]) if lab[y, x] else m
                ys, xs = np.nonzero(part)
                new_boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] if len(xs) else [0, 0, S, S])
            c2 = torch.cat([torch.tensor(new_boxes, dtype=torch.float32).view(-1, 2, 2), coords[points_only]], 1)
            k2 = torch.cat([torch.tensor([TOP_LEFT, BOTTOM_RIGHT]).expand(len(points_only), 2), kinds[points_only]], 1)
            l2, i2 = self.decode(tokens, fine, index[points_only], c2, k2)
            logits, iou = logits.clone(), iou.clone()
            logits[points_only], iou[points_only] = l2, i2
        # every prompt has a box now: its masks stay inside it, widened by the margin
        tl = (coords * (kinds == TOP_LEFT)[..., None]).sum(1)
        br = (coords * (kinds == BOTTOM_RIGHT)[..., None]).sum(1)
        if points_only:
            tl[points_only], br[points_only] = c2[:, 0], c2[:, 1]
        pad = (br - tl) * self.config.box_margin + 2
        lo, hi = (tl - pad).floor(), (br + pad).ceil()
        r = torch.arange(S, dtype=torch.float32) + 0.5
        inside = ((r[None, :] > lo[:, 0, None]) & (r[None, :] < hi[:, 0, None]))[:, None, :] \
            & ((r[None, :] > lo[:, 1, None]) & (r[None, :] < hi[:, 1, None]))[:, :, None]   # (N, S, S)
        return logits.masked_fill(~inside[:, None], -20.0), iou

    @torch.no_grad()
    def panoptic(self, images, detector=None, refine: bool = True, candidates=None) -> list[dict]:
        """Every object of each image: boxes (N, 4) px (of the masks), masks bool (N, H, W),
        scores (N,) (predicted IoU). Box prompts are the detector's class-agnostic proposals
        (objectness >= `min_objectness`; `candidates`: `Detector.candidates` of the images when
        already computed); masks predicted under `min_iou` go, then mask NMS."""
        cands = candidates
        if cands is None:
            if detector is None:
                from . import load
                detector = load("detector")
            cands = detector.candidates(images)
        cfg = self.config
        boxes = [c["boxes"][c["objectness"] >= cfg.min_objectness] for c in cands]
        out = []
        for im, b, (masks, iou) in zip(images, boxes, self.segment(images, boxes=boxes, refine=refine)):
            masks, score = torch.from_numpy(masks[:, 0]), torch.from_numpy(iou[:, 0])  # (N, H, W), (N,)
            keep = (score >= cfg.min_iou) & (masks.flatten(1).sum(1) > 0)
            masks, score = masks[keep], score[keep]
            order = mask_nms(masks, score, cfg.mask_nms)
            masks, score = masks[order], score[order]
            out.append({"masks": masks.numpy(), "scores": score.numpy(), "boxes": mask_boxes(masks)})
        return out


def prompt_maps(coords, kinds, size: int, g: int, sigma: float = 4.0) -> torch.Tensor:
    """Prompts drawn on a g x g grid over the size x size frame: (N, 3, g, g) = the share of
    each cell the box covers, and Gaussian blobs (std `sigma` px) at positive and at
    negative points (max over points)."""
    cell = size / g
    lo = torch.arange(g, dtype=torch.float32) * cell
    centre = lo + cell / 2
    tl, br = kinds == TOP_LEFT, kinds == BOTTOM_RIGHT
    a = (coords * tl[..., None]).sum(1)                                   # (N, 2)
    b = (coords * br[..., None]).sum(1)
    cover = [(torch.minimum(b[:, j, None], lo + cell) - torch.maximum(a[:, j, None], lo)).clamp(0, cell) / cell
             for j in (0, 1)]                                             # x, y: (N, g)
    box = cover[1][:, :, None] * cover[0][:, None, :] * tl.any(1)[:, None, None]
    dx = centre[None, None, None, :] - coords[..., 0, None, None]         # (N, T, 1, g)
    dy = centre[None, None, :, None] - coords[..., 1, None, None]         # (N, T, g, 1)
    blob = torch.exp(-(dx ** 2 + dy ** 2) / (2 * sigma ** 2))             # (N, T, g, g)
    pos = (blob * (kinds == POS)[..., None, None]).amax(1)
    neg = (blob * (kinds == NEG)[..., None, None]).amax(1)
    return torch.stack([box, pos, neg], 1)


def _array(x) -> Optional[torch.Tensor]:
    """A prompt argument as a float tensor; None when absent or empty."""
    if x is None:
        return None
    t = torch.as_tensor(np.asarray(x, dtype=np.float32))
    return t if t.numel() else None


def mask_boxes(masks: torch.Tensor) -> np.ndarray:
    """Tight boxes (N, 4; x0, y0, x1 exclusive, y1 exclusive) of boolean masks (N, H, W)."""
    out = np.zeros((len(masks), 4), np.float32)
    for n, m in enumerate(masks):
        ys, xs = torch.where(m)
        if len(xs):
            out[n] = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    return out


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of every mask in a (N, H, W) with every mask in b (M, H, W): (N, M)."""
    a, b = a.flatten(1).float(), b.flatten(1).float()
    inter = a @ b.T
    return inter / (a.sum(1)[:, None] + b.sum(1)[None] - inter).clamp(min=1)


def mask_nms(masks: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """Indices of the masks kept by decreasing score; a mask goes when its IoU with a kept,
    higher-scoring one exceeds `threshold`."""
    order = scores.argsort(descending=True)
    if len(order) == 0:
        return order
    over = (mask_iou(masks[order], masks[order]) > threshold).tolist()
    kept, gone = [], [False] * len(order)
    for i in range(len(order)):
        if not gone[i]:
            kept.append(i)
            gone = [g or o for g, o in zip(gone, over[i])]
    return order[torch.tensor(kept, dtype=torch.long)]


# ----------------------------------------------------------------------------- save / load


def load(path: str) -> Segmenter:
    state, meta = read(path)
    with no_random_init():
        model = Segmenter(config_from(meta["config"], SegmenterConfig), config_from(meta["clip_config"]))
    model.load_state_dict(state)
    return model.eval()
