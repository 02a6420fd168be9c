"""Molmo's pointing format: write and read points as text (icon-world corpora, the VQA model,
and real Molmo / Molmo2 replies).

    format_points([(157, 104)], 256, 256, "dog")
        -> '<point x="61.3" y="40.6" alt="dog">dog</point>'
    format_points([(30, 20), (157, 104)], 256, 256, "dogs")
        -> '<points x1="11.7" y1="7.8" x2="61.3" y2="40.6" alt="dogs">dogs</points>'
    format_points([], 256, 256, "dogs") -> 'There are none.'
    parse_points('<point x="61.3" y="40.6" alt="dog">dog</point>', 256, 256) -> [(156.9, 103.9)]

Coordinates are percent of the image's width and height with one decimal, and
points are sorted by x then y. Counting by pointing wraps the points in a
sentence: 'Counting the <points ...>dogs</points> shows a total of 2.'
(`format_count`, read back by `parse_count`). Parsing is forgiving: a point
with a missing, non-numeric or out-of-range (outside 0-100) coordinate is
dropped, never raised on.

Molmo2 writes its points differently, and `parse_points` reads that too:

    <points coords="1 1 946 029 2 480 520">dogs</points>

Inside `coords` come groups, one per image (or video frame), separated by a tab,
':', ';' or ','. A group is the image's index (a timestamp for video) followed
by one `point-index x y` triple per point, x and y in thousandths of the width
and height (integers, written with 3 or 4 digits: 000-1000). This is how Ai2's
own formatter writes and reads them (`UnifiedPointFormatter` in the Molmo2
training code, olmo/preprocessing/point_formatter.py). A triple that is not
three integers, or whose x or y is above 1000, is dropped. The image index is
not used: Point asks about one image at a time.

Pointing on crops (`crop_boxes`, `merge_crop_points`, `median_tiling`), as Molmo does with
its overlapping high-resolution crops: a small model that sees the whole image at low
resolution misses objects that crowd together; on a crop they are larger and fewer. Each
crop's points are mapped back to the whole image, points near a crop's inner edges (where an
object may be cut off; the neighbouring crop sees it whole) are dropped, and points that two
crops give one object are merged. Several tilings give several point sets; the one with the
median count is kept, so that one tiling's slip does not decide the count.
"""

from __future__ import annotations

import math
import re
from typing import Optional, Sequence

__all__ = ["format_points", "parse_points", "parse_percent", "format_count", "parse_count",
           "NONE_TEXT", "TILINGS", "crop_boxes", "merge_crop_points", "median_tiling",
           "points_in_boxes"]

NONE_TEXT = "There are none."

# Tilings to point on: (crops per side, crop side / image side). Chosen on 700 cluttered
# icon-world counting scenes (seeds held out from training and from benchmarks/vqa.py): one
# tiling counted 96-97% of them exactly, the median of these three 98.7%, the whole image 86%.
TILINGS = ((2, 0.6875), (2, 0.78125), (3, 0.625))
EDGE_MARGIN = 0.094   # of the image side: objects up to ~2x this wide are seen whole by some crop
MERGE_RADIUS = 0.055  # of the image side: two crops' points closer than this mark one object

Box = tuple[int, int, int, int]

_TAG = re.compile(r"<\s*(points?)\b([^<>]*)>", re.IGNORECASE)
_ATTR = re.compile(r"""(?<![A-Za-z])([A-Za-z]+)(\d*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_TOTAL = re.compile(r"total of\s+(-?\d+)", re.IGNORECASE)
_COORDS_GROUPS = re.compile(r"[\t:;,]")  # Molmo2: what separates one image's points from the next
# Molmo2: one point, `index x y`, x and y in thousandths; the lookarounds keep a triple from
# starting or ending inside a longer or negative number ('12345', '94.6', '-100').
_COORDS_POINT = re.compile(r"(?<![\d.-])\d+\s+(\d{3,4})\s+(\d{3,4})(?![\d.])")


def _pct(v: float) -> float:
    return round(100.0 * v, 1) + 0.0  # + 0.0 turns -0.0 into 0.0


def format_points(points: Sequence[tuple[float, float]], width: int, height: int, alt: str,
                  alt_plural: Optional[str] = None) -> str:
    """Points (pixels) as Molmo text: one `<point>`, several `<points>` (alt_plural, default alt)."""
    pct = sorted((_pct(min(max(x / width, 0.0), 1.0)), _pct(min(max(y / height, 0.0), 1.0)))
                 for x, y in points)
    if not pct:
        return NONE_TEXT
    if len(pct) == 1:
        x, y = pct[0]
        return f'<point x="{x:.1f}" y="{y:.1f}" alt="{alt}">{alt}</point>'
    many = alt_plural or alt
    coords = " ".join(f'x{i}="{x:.1f}" y{i}="{y:.1f}"' for i, (x, y) in enumerate(pct, 1))
    return f'<points {coords} alt="{many}">{many}</points>'


def _number(text: Optional[str]) -> Optional[float]:
    if text is None:
        return None
    try:
        v = float(text.strip())
    except ValueError:
        return None
    return v if math.isfinite(v) and 0.0 <= v <= 100.0 else None


def _thousandths(coords: str) -> list[tuple[float, float]]:
    """The (x%, y%) points of a Molmo2 `coords` value ('1 1 946 029 2 480 520')."""
    out = []
    for group in _COORDS_GROUPS.split(coords):
        points = group.split(None, 1)[1:]  # without the image index (or timestamp)
        for m in _COORDS_POINT.finditer(points[0] if points else ""):
            x, y = int(m.group(1)), int(m.group(2))
            if x <= 1000 and y <= 1000:
                out.append((x / 10.0, y / 10.0))
    return out


def parse_percent(text: str) -> list[tuple[float, float]]:
    """The (x%, y%) points in a Molmo or Molmo2 answer, in text order; malformed or out-of-range
    ones dropped."""
    if not isinstance(text, str):
        return []
    out: list[tuple[float, float]] = []
    for tag in _TAG.finditer(text):
        coords: dict[str, dict[str, Optional[float]]] = {}
        order: list[str] = []
        for m in _ATTR.finditer(tag.group(2)):
            axis, index = m.group(1).lower(), m.group(2)
            value = m.group(3) if m.group(3) is not None else (
                m.group(4) if m.group(4) is not None else m.group(5))
            if axis == "coords" and not index:
                out.extend(_thousandths(value))
                continue
            if axis not in ("x", "y"):
                continue
            if index not in coords:
                coords[index] = {}
                order.append(index)
            coords[index][axis] = _number(value)
        for index in order:
            x, y = coords[index].get("x"), coords[index].get("y")
            if x is not None and y is not None:
                out.append((x, y))
    return out


def parse_points(text: str, width: int, height: int) -> list[tuple[float, float]]:
    """The points of a Molmo answer in pixels of a width x height image ([] for 'There are none.')."""
    return [(x * width / 100.0, y * height / 100.0) for x, y in parse_percent(text)]


def format_count(points: Sequence[tuple[float, float]], width: int, height: int, alt: str,
                 alt_plural: Optional[str] = None) -> str:
    """Counting by pointing: 'Counting the <points ...>dogs</points> shows a total of 2.'"""
    if not points:
        return NONE_TEXT
    return f"Counting the {format_points(points, width, height, alt, alt_plural)} shows a total of {len(points)}."


def parse_count(text: str) -> Optional[int]:
    """The count a counting answer states ('a total of N'), else its number of points, else
    0 for 'There are none.'; None when the text says nothing countable."""
    if not isinstance(text, str):
        return None
    m = _TOTAL.search(text)
    if m:
        return max(int(m.group(1)), 0)
    pts = parse_percent(text)
    if pts:
        return len(pts)
    if "none" in text.lower():
        return 0
    return None


def crop_boxes(width: int, height: int, n: int, frac: float) -> list[Box]:
    """n x n overlapping crops (x0, y0, x1, y1), each `frac` of the image's width and height,
    spread evenly from edge to edge; row by row. n = 1, frac = 1: the whole image."""
    cw, ch = max(1, round(width * frac)), max(1, round(height * frac))
    xs = [round(i * (width - cw) / (n - 1)) for i in range(n)] if n > 1 else [0]
    ys = [round(i * (height - ch) / (n - 1)) for i in range(n)] if n > 1 else [0]
    return [(x, y, x + cw, y + ch) for y in ys for x in xs]


def merge_crop_points(width: int, height: int, boxes: Sequence[Box],
                      points: Sequence[Sequence[tuple[float, float]]]) -> list[tuple[float, float]]:
    """One tiling's points for the whole image, from each crop's points (already in pixels of
    the whole image), sorted by x then y. A point within EDGE_MARGIN of an inner edge of its
    crop is dropped; of points closer than MERGE_RADIUS, the first is kept."""
    mx, my = EDGE_MARGIN * width, EDGE_MARGIN * height
    r2 = (MERGE_RADIUS * (width + height) / 2) ** 2
    kept: list[tuple[float, float]] = []
    for (x0, y0, x1, y1), pts in zip(boxes, points):
        for x, y in pts:
            near_inner_edge = ((x0 > 0 and x <= x0 + mx) or (x1 < width and x >= x1 - mx) or
                               (y0 > 0 and y <= y0 + my) or (y1 < height and y >= y1 - my))
            if not near_inner_edge and all((x - a) ** 2 + (y - b) ** 2 > r2 for a, b in kept):
                kept.append((x, y))
    return sorted(kept)


def median_tiling(candidates: Sequence[Sequence[tuple[float, float]]]) -> int:
    """The index of the point set with the median count (the first such, the upper median
    for an even number of sets)."""
    counts = [len(c) for c in candidates]
    return counts.index(sorted(counts)[len(counts) // 2])


def points_in_boxes(points: Sequence[tuple[float, float]], boxes: Sequence[Sequence[float]]) -> bool:
    """Do the points and the boxes pair off one to one, each point inside its box? (A count by
    pointing that a detector's boxes confirm.)"""
    if len(points) != len(boxes):
        return False
    if not points:
        return True
    import numpy as np
    from scipy.optimize import linear_sum_assignment
    p, b = np.asarray(points, float)[:, None], np.asarray(boxes, float)[None]  # (P, 1, 2), (1, B, 4)
    outside = ((p[..., 0] < b[..., 0]) | (p[..., 0] > b[..., 2]) |
               (p[..., 1] < b[..., 1]) | (p[..., 1] > b[..., 3]))  # (P, B)
    rows, cols = linear_sum_assignment(outside)
    return not outside[rows, cols].any()
