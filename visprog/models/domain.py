"""Whether an image looks like the icon world the in-repo models were trained on.

A small classifier on cheap evidence the in-repo models already have or can read off the
pixels: the detector's five highest objectness peaks (on the image tower Loc and Vqa share)
and eight pixel statistics of the image at 192 px (flat neighbourhoods at three tolerances,
the share of the 16 commonest colours, the number of colours, dark, saturated and grey
pixels). Rendered scenes are flat fills around confident glyphs; photos are neither.

Positives are scenes of the detector's training style (`DetectorConfig.style`) and the
classic style. Negatives are images no icon-world renderer draws: dead-leaves images and 1/f noise (the statistics of natural photos), binary
blobs, lines of text, and random crops of scikit-learn's two sample photos, in colour and
in grey. The threshold is a high quantile of the scores of held-out scenes in the unseen
style, which no model trained on. Before any score, `plain_reason` flags what no training
scene was at all: a tiny image, or one with no colour. scikit-image's sample images, which
nothing here trains on, measure the rest (benchmarks/domain.py).

    visprog train domain --seed 0    # fit, calibrate, store in the detector's weights file
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFilter

TRAIN_SEED_BASE = 1_950_000_000        # scenes and negatives the classifier is fitted on
CALIBRATION_SEED_BASE = 1_960_000_000  # unseen-style scenes the threshold is read from
PIXEL_SIDE = 192                       # pixel statistics are read at this long side
PEAKS = 5                              # objectness peaks read
GREY_CHROMA = 8                        # a pixel this close to grey (max - min channel) has no colour


def plain_reason(image: Image.Image) -> Optional[str]:
    """What sets `image` apart from every scene the models trained on, before any score: a
    short side under half the training style's shortest, or no colour at all (every render
    is in colour)."""
    from ..iconworld.styles import TRAIN
    shortest = TRAIN.sides[0]
    if min(image.size) < shortest // 2:
        return f"it is {image.width}x{image.height} px; the models saw sides of {shortest} px and more"
    small = np.asarray(image.convert("RGB").resize((64, 64), Image.NEAREST)).astype(np.int16)
    if (small.max(-1) - small.min(-1)).max() < GREY_CHROMA:
        return "it has no colour; the models saw colour renders only"
    return None


@dataclass
class DomainConfig:
    positives: int = 3000             # icon-world scenes: 4/5 in the detector's training style, 1/5 classic
    negatives: int = 3000             # images outside the icon world (`negative`)
    calibration: int = 3000           # held-out unseen-style scenes the threshold is read from
    quantile: float = 0.995           # the threshold: this quantile of their scores
    hidden: int = 64                  # the classifier's hidden units
    steps: int = 800                  # AdamW steps of 256 examples
    lr: float = 3e-3
    weight_decay: float = 0.01
    noise: float = 0.1                # Gaussian noise on the standardised features in training
    batch: int = 32                   # images per tower pass


def _window3(a: np.ndarray, op) -> np.ndarray:
    """`op` (np.maximum or np.minimum) over each 3x3 neighbourhood of (H, W, C): (H-2, W-2, C),
    separably, rows then columns (a strided 3x3 view reduces ten times slower)."""
    rows = op(op(a[:-2], a[1:-1]), a[2:])
    return op(op(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])


def pixel_stats(image: Image.Image) -> list[float]:
    """Eight statistics of the image at PIXEL_SIDE px on its long side (see the module doc)."""
    im = image.convert("RGB")
    k = PIXEL_SIDE / max(im.size)
    a = np.asarray(im.resize((max(8, round(im.width * k)), max(8, round(im.height * k))),
                             Image.BILINEAR)).astype(np.int16)
    spread = (_window3(a, np.maximum) - _window3(a, np.minimum)).max(-1)    # (H-2, W-2)
    codes = (a[..., 0].astype(np.int64) << 16) | (a[..., 1].astype(np.int64) << 8) | a[..., 2]
    counts = np.sort(np.unique(codes, return_counts=True)[1])[::-1] / codes.size
    chroma = a.max(-1) - a.min(-1)
    return [float((spread == 0).mean()), float((spread <= 2).mean()), float((spread <= 8).mean()),
            float(counts[:16].sum()), float(np.log(len(counts) / codes.size)),
            float((a.max(-1) < 40).mean()), float(chroma.mean() / 255), float((chroma < GREY_CHROMA).mean())]


def features(det, images: list, maps: torch.Tensor) -> torch.Tensor:
    """(B, 8 + PEAKS): pixel statistics, then the detector's highest objectness peaks."""
    with torch.no_grad():
        heat = det.heads(maps)[0].sigmoid().flatten(1)                     # (B, G*G)
    peaks = heat.topk(min(PEAKS, heat.shape[1]), dim=1).values.float()
    return torch.cat([torch.tensor([pixel_stats(im) for im in images], dtype=torch.float32), peaks], 1)


class Domain(nn.Module):
    """A fitted check: `scores(features)` (`features`), log-odds of being outside the icon
    world; above `threshold`: outside."""

    def __init__(self, config: DomainConfig, n_features: int = 8 + PEAKS, threshold: float = float("inf")):
        super().__init__()
        self.config, self.threshold = config, float(threshold)
        self.register_buffer("center", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))
        self.net = nn.Sequential(nn.Linear(n_features, config.hidden), nn.GELU(), nn.Dropout(0.2),
                                 nn.Linear(config.hidden, 1))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.net((feats - self.center) / self.scale)[:, 0]

    @torch.no_grad()
    def scores(self, feats: torch.Tensor) -> torch.Tensor:
        return self.eval()(feats)

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f"domain.{k}": v for k, v in self.state_dict().items()}

    def meta(self) -> dict:
        return {"threshold": self.threshold, "config": dataclasses.asdict(self.config)}

    @classmethod
    def from_state(cls, state: dict, meta: Optional[dict]) -> Optional["Domain"]:
        """The check stored in a weights file (its tensors popped from `state`), or None."""
        own = {k[len("domain."):]: state.pop(k) for k in [k for k in state if k.startswith("domain.")]}
        if not own or not meta:
            return None
        domain = cls(DomainConfig(**meta["config"]), len(own["center"]), meta["threshold"])
        domain.load_state_dict(own)
        return domain.eval()


# ----------------------------------------------------------------------------- negatives


def _field(rng: np.random.Generator, w: int, h: int, alpha: float) -> np.ndarray:
    """(h, w) noise with power spectrum 1/f^alpha, scaled to zero mean and unit deviation."""
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None]
    f = np.sqrt(fx ** 2 + fy ** 2)
    f[0, 0] = 1.0
    spectrum = (rng.normal(size=f.shape) + 1j * rng.normal(size=f.shape)) / f ** (alpha / 2)
    x = np.fft.irfft2(spectrum, s=(h, w))
    return (x - x.mean()) / (x.std() + 1e-8)


def noise_image(rng, w, h) -> Image.Image:
    """1/f noise: a luminance field and two weaker chroma fields, at a random mean and contrast."""
    alpha = rng.uniform(1.5, 3.0)
    lum = _field(rng, w, h, alpha)
    chroma = rng.uniform(0, 0.6) * np.stack([_field(rng, w, h, alpha) for _ in range(2)])
    rgb = np.stack([lum + chroma[0], lum - 0.5 * chroma[0] + chroma[1], lum - chroma[1]], -1)
    rgb = rng.uniform(60, 190, 3) + rng.uniform(20, 60) * rgb
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


def dead_leaves(rng, w, h) -> Image.Image:
    """Overlapping discs with power-law radii, coloured around a few palette colours."""
    im = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(im)
    palette = rng.integers(0, 256, (int(rng.integers(2, 9)), 3))
    side = min(w, h)
    for _ in range(int(rng.integers(150, 700))):
        r = min(side / 2, side * 0.01 / max(rng.random(), 1e-3) ** 0.5)
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        c = np.clip(palette[rng.integers(len(palette))] + rng.normal(0, 20, 3), 0, 255)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(v) for v in c))
    return im.filter(ImageFilter.GaussianBlur(rng.uniform(0, 2)))


def blobs(rng, w, h) -> Image.Image:
    """A smooth field thresholded into two tones: silhouettes, masks, binary blobs."""
    field = _field(rng, w, h, rng.uniform(2.5, 4.0))
    on = field > np.quantile(field, rng.uniform(0.2, 0.8))
    tones = rng.integers(0, 256, (2, 3)) if rng.random() < 0.5 else np.array([[0] * 3, [255] * 3])
    return Image.fromarray(np.where(on[..., None], tones[0], tones[1]).astype(np.uint8))


def text_lines(rng, w, h) -> Image.Image:
    """Lines of random words in PIL's default font, dark on light, scaled up or down."""
    ink, paper = int(rng.integers(0, 90)), int(rng.integers(170, 256))
    small = Image.new("RGB", (max(8, w // 2), max(8, h // 2)), (paper,) * 3)
    draw = ImageDraw.Draw(small)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    y, step = 2, int(rng.integers(10, 16))
    while y < small.height - 10:
        words = ["".join(rng.choice(letters, int(rng.integers(1, 9)))) for _ in range(int(rng.integers(3, 12)))]
        draw.text((int(rng.integers(0, 10)), y), " ".join(words), fill=(ink,) * 3)
        y += step
    return small.resize((w, h), Image.BILINEAR)


_PHOTOS: list = []


def photo_crop(rng, w, h) -> Image.Image:
    """A random crop of scikit-learn's sample photos (china, flower), flipped and recoloured."""
    if not _PHOTOS:
        from sklearn.datasets import load_sample_images
        _PHOTOS.extend(Image.fromarray(a) for a in load_sample_images().images)
    photo = _PHOTOS[int(rng.integers(len(_PHOTOS)))]
    scale = rng.uniform(0.15, 1.0)
    cw, ch = max(16, int(photo.width * scale)), max(16, int(photo.width * scale * h / w))
    ch = min(ch, photo.height)
    x, y = int(rng.integers(0, photo.width - cw + 1)), int(rng.integers(0, photo.height - ch + 1))
    im = photo.crop((x, y, x + cw, y + ch)).resize((w, h), Image.BILINEAR)
    if rng.random() < 0.5:
        im = im.transpose(Image.FLIP_LEFT_RIGHT)
    rgb = np.asarray(im).astype(np.float32) * rng.uniform(0.7, 1.3, 3) + rng.uniform(-30, 30)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


KINDS = (noise_image, dead_leaves, blobs, text_lines, photo_crop)


def negative(seed: int) -> Image.Image:
    """An image outside the icon world, at a training-style size: one of KINDS, sometimes
    turned grey, blurred or made noisy."""
    from ..iconworld.styles import get_style
    rng = np.random.default_rng(seed)
    w, h = get_style("train").canvas(rng)
    im = KINDS[int(rng.integers(len(KINDS)))](rng, w, h)
    if rng.random() < 0.3:
        im = im.convert("L").convert("RGB")
    if rng.random() < 0.2:
        im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2)))
    if rng.random() < 0.2:
        noisy = np.asarray(im).astype(np.float32) + rng.normal(0, rng.uniform(3, 15), (h, w, 1))
        im = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    return im


# Every sample image scikit-image ships in its wheel (the rest it downloads): photos, scans,
# micrographs, drawings and synthetic patterns. Nothing here trains on them.
SAMPLE_PHOTOS = ("astronaut", "binary_blobs", "brick", "camera", "cat", "cell", "checkerboard", "chelsea",
                 "clock", "coffee", "coins", "colorwheel", "grass", "gravel", "horse", "hubble_deep_field",
                 "immunohistochemistry", "lfw_subset", "logo", "microaneurysms", "moon", "page", "retina",
                 "rocket", "shepp_logan_phantom", "stereo_motorcycle", "text")


def sample_photo(name: str) -> Image.Image:
    """scikit-image's sample image `name` as an RGB PIL image (the first of a stack or pair)."""
    import skimage.data
    a = getattr(skimage.data, name)()
    a = np.asarray(a[0] if isinstance(a, tuple) or name == "lfw_subset" else a)
    if a.dtype != np.uint8:
        a = a.astype(np.float64)
        a = (255 * (a - a.min()) / max(float(a.max() - a.min()), 1e-9)).astype(np.uint8)
    return Image.fromarray(a).convert("RGB")


# ----------------------------------------------------------------------------- fitting


def scene(seed: int, style: str) -> Image.Image:
    from ..iconworld.render import random_scene
    return random_scene(seed, style=style)[0]


@torch.no_grad()
def features_of(det, images_of, seeds, batch: int, log=None, what: str = "") -> torch.Tensor:
    """`features` (N, F) of `images_of(seed)` for each seed."""
    out, t0 = [], time.time()
    for k in range(0, len(seeds), batch):
        images = [images_of(s) for s in seeds[k:k + batch]]
        out.append(features(det, images, det.image_maps(images)))
        if log and (k // batch) % 25 == 24:
            log(f"{what}: {k + batch}/{len(seeds)} images, {time.time() - t0:.0f}s")
    return torch.cat(out)


def fit(det, config: DomainConfig, seed: int = 0, log=print) -> Domain:
    """Fit the classifier on positives and negatives, then read the threshold off held-out
    unseen-style scenes."""
    base = TRAIN_SEED_BASE + seed * 100_000
    n_classic = config.positives // 5
    pos = torch.cat([
        features_of(det, lambda s: scene(s, det.config.style), range(base, base + config.positives - n_classic),
                    config.batch, log, "training-style scenes"),
        features_of(det, lambda s: scene(s, "classic"), range(base + 50_000, base + 50_000 + n_classic),
                    config.batch, log, "classic scenes")])
    neg = features_of(det, negative, range(base, base + config.negatives), config.batch, log, "negatives")
    x = torch.cat([pos, neg])
    y = torch.cat([torch.zeros(len(pos)), torch.ones(len(neg))])  # 1: outside
    torch.manual_seed(seed)
    domain = Domain(config, x.shape[1])
    domain.center.copy_(x.mean(0))
    domain.scale.copy_(x.std(0) + 1e-4)
    opt = torch.optim.AdamW(domain.net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    domain.train()
    for step in range(config.steps):
        idx = torch.randint(0, len(x), (256,))
        z = x[idx] + config.noise * domain.scale * torch.randn_like(x[idx])
        loss = F.binary_cross_entropy_with_logits(domain(z), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    accuracy = ((domain.scores(x) > 0).float() == y).float().mean().item()
    cal_base = CALIBRATION_SEED_BASE + seed * 100_000
    held_out = features_of(det, lambda s: scene(s, "unseen"), range(cal_base, cal_base + config.calibration),
                           config.batch, log, "unseen-style scenes")
    scores = domain.scores(held_out).numpy()
    domain.threshold = float(np.quantile(scores, config.quantile))
    log(f"classifier: loss {loss.item():.4f}, training accuracy {accuracy:.4f}; threshold {domain.threshold:.3f} "
        f"(the {config.quantile} quantile of {len(scores)} unseen-style scores, median {np.median(scores):.3f})")
    return domain


# ----------------------------------------------------------------------------- command line


def main(argv=None) -> int:
    from .clip import save
    from .detector import load
    from .flags import add_config_flags, apply_threads, config_from_flags
    from .weights import weights_path
    p = argparse.ArgumentParser(prog="visprog train domain", description="Fit the in-repo models' "
                                "domain check and store it in the detector's weights file.")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--detector", default=None, help="the detector weights to read and rewrite "
                   "(default: the bundled ones, honouring VISPROG_WEIGHTS)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    add_config_flags(p, DomainConfig)
    args = p.parse_args(argv)
    apply_threads(args)
    path = args.detector or weights_path("detector")
    det = load(path)
    meta = dict(det.meta)
    t0 = time.time()
    domain = fit(det, config_from_flags(args, DomainConfig), args.seed)
    meta["domain"] = {**domain.meta(), "seed": args.seed, "minutes": round((time.time() - t0) / 60, 2)}
    save(det, path, meta, extra=domain.tensors())
    print(f"stored the domain check in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
