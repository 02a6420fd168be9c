"""Molmo's pointing format: write and read points as text (icon-world corpora, the VQA model).

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
"""

from __future__ import annotations

import math
import re
from typing import Optional, Sequence

__all__ = ["format_points", "parse_points", "parse_percent", "format_count", "parse_count",
           "NONE_TEXT"]

NONE_TEXT = "There are none."

_TAG = re.compile(r"<\s*(points?)\b([^<>]*)>", re.IGNORECASE)
_ATTR = re.compile(r"""([A-Za-z]+)(\d*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_TOTAL = re.compile(r"total of\s+(-?\d+)", re.IGNORECASE)


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


def parse_percent(text: str) -> list[tuple[float, float]]:
    """The (x%, y%) points in a Molmo answer, in text order; malformed or out-of-range ones dropped."""
    if not isinstance(text, str):
        return []
    out: list[tuple[float, float]] = []
    for tag in _TAG.finditer(text):
        coords: dict[str, dict[str, Optional[float]]] = {}
        order: list[str] = []
        for m in _ATTR.finditer(tag.group(2)):
            axis, index = m.group(1).lower(), m.group(2)
            if axis not in ("x", "y"):
                continue
            value = m.group(3) if m.group(3) is not None else (
                m.group(4) if m.group(4) is not None else m.group(5))
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
