"""Colour names of pixels: each RGB value's nearest named colour (CIELAB distance to the
catalogue's colours and shades), and the colour an object's pixels add up to.

    color_ids(rgb)     # (..., 3) uint8 -> index into COLOR_NAMES per pixel
    color_name(rgb)    # one RGB triple -> its colour name
    dominant(counts)   # per-colour pixel counts -> the object's colour
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from .catalog import COLOR_SHADES, COLORS

COLOR_NAMES = tuple(COLORS)
BLACK = COLOR_NAMES.index("black")


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    c = rgb.astype(np.float64) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = c @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1)


@lru_cache(maxsize=1)
def _prototypes() -> tuple[np.ndarray, np.ndarray]:
    rgbs, ids = [], []
    for i, name in enumerate(COLOR_NAMES):
        for rgb in (COLORS[name],) + tuple(COLOR_SHADES.get(name, ())):
            rgbs.append(rgb)
            ids.append(i)
    return _srgb_to_lab(np.array(rgbs)), np.array(ids, np.uint8)


@lru_cache(maxsize=1)
def _color_lut() -> np.ndarray:
    """Colour id for every RGB quantised to 5 bits per channel (32768 entries)."""
    v = (np.arange(32) << 3) + 4
    r, g, b = np.meshgrid(v, v, v, indexing="ij")
    rgb = np.stack([r.ravel(), g.ravel(), b.ravel()], 1)
    protos, ids = _prototypes()
    lab = _srgb_to_lab(rgb)
    out = np.empty(len(rgb), np.uint8)
    for start in range(0, len(rgb), 4096):
        d = ((lab[start:start + 4096, None, :] - protos[None, :, :]) ** 2).sum(-1)
        out[start:start + 4096] = ids[d.argmin(1)]
    return out


def color_ids(rgb: np.ndarray) -> np.ndarray:
    """Index into COLORS (insertion order) of the nearest colour name of each RGB pixel
    (any array whose last axis is 3; the result has the leading shape)."""
    rgb = np.asarray(rgb, np.uint8)
    q = rgb >> 3
    idx = (q[..., 0].astype(np.intp) << 10) | (q[..., 1].astype(np.intp) << 5) | q[..., 2]
    return _color_lut()[idx]


def color_name(rgb: Sequence[int]) -> str:
    """The colour name nearest to one RGB triple."""
    return COLOR_NAMES[int(color_ids(np.array([rgb], np.uint8))[0])]


ACHROMATIC = tuple(COLOR_NAMES.index(c) for c in ("black", "white", "gray"))


def dominant(counts: np.ndarray, chromatic_first: bool = False) -> str:
    """The most frequent colour, ignoring black (OpenMoji outlines) unless nearly all is black.

    With `chromatic_first` (for colourable categories: a red bicycle has white tyres), the
    most frequent chromatic colour wins when chromatic pixels are at least 20% of the rest.
    """
    total = int(counts.sum())
    if total == 0:
        return "black"
    rest = counts.copy()
    rest[BLACK] = 0
    n_rest = int(rest.sum())
    if n_rest < 0.15 * total:
        return "black"
    if chromatic_first:
        chroma = rest.copy()
        chroma[list(ACHROMATIC)] = 0
        if chroma.sum() >= 0.2 * n_rest:
            return COLOR_NAMES[int(chroma.argmax())]
    return COLOR_NAMES[int(rest.argmax())]


def clear(counts: np.ndarray, name: str) -> bool:
    """Whether `name` clearly dominates the non-black pixels (no near-tie with another colour)."""
    rest = counts.copy()
    rest[BLACK] = 0
    top = rest[COLOR_NAMES.index(name)]
    rest[COLOR_NAMES.index(name)] = 0
    return top >= 1.8 * rest.max()


def color_counts(ids: np.ndarray) -> np.ndarray:
    ids = ids[ids != 255]
    return np.bincount(ids, minlength=len(COLOR_NAMES))[:len(COLOR_NAMES)]
