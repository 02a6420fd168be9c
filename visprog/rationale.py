"""The visual rationale: one self-contained HTML page showing every step of a run."""

from __future__ import annotations

import base64
import io
from html import escape
from pathlib import Path
from typing import Any

from PIL import Image

from .drawing import draw_objects, draw_points
from .values import Objects, Points

THUMB = 320  # longest side of an output thumbnail
SMALL = 112  # longest side of an argument thumbnail

STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:20px} .step{background:#fff;border:1px solid #ddd;border-radius:8px;padding:12px;margin:12px 0}
.src{font-family:ui-monospace,monospace;background:#f0f0f0;padding:4px 8px;border-radius:4px;white-space:pre-wrap}
.meta{color:#666;font-size:12px} table{border-collapse:collapse} td{padding:2px 8px;vertical-align:top}
.value{font-family:ui-monospace,monospace;white-space:pre-wrap} .final{font-size:18px;font-weight:600}
.notes{color:#555;font-style:italic} img{border:1px solid #ccc;border-radius:4px;margin:2px}
.body{display:flex;gap:32px;align-items:flex-start;flex-wrap:wrap;margin-top:6px}
.warnings{background:#fff4e0;border-color:#e8a33d} .warning{color:#8a4b00;font-weight:600}
"""


def image_data_uri(image: Image.Image, size: int) -> str:
    thumb = image.convert("RGB")
    thumb.thumbnail((size, size))
    buffer = io.BytesIO()
    thumb.save(buffer, format="PNG")  # optimize=True: 10x the time for 3% fewer bytes
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class Thumbnails:
    """The images of one page, each encoded once: an input shown beside every step that reads
    it, and each value drawn on its step's image, cost one encoding each."""

    def __init__(self):
        self._uris: dict[tuple, tuple[Any, str]] = {}  # key -> (what the ids belong to, uri)

    def img(self, image: Image.Image, size: int, drawn: Any = None) -> str:
        """An <img> of `image` (with Objects or Points `drawn` on it) at most `size` px."""
        key = (id(image), id(drawn), size)
        if key not in self._uris:  # the entry keeps both alive, so their ids stay theirs
            shown = image if drawn is None else (
                draw_objects(image, drawn, scores=True) if isinstance(drawn, Objects)
                else draw_points(image, drawn))
            self._uris[key] = ((image, drawn), image_data_uri(shown, size))
        return f'<img src="{self._uris[key][1]}" alt="image {image.width}x{image.height}">'


def render_value(value: Any, context_image: Image.Image | None = None, size: int = THUMB,
                 thumbnails: Thumbnails | None = None) -> str:
    """HTML for one value: images as thumbnails, objects/points drawn on the step's image."""
    thumbnails = thumbnails or Thumbnails()
    if isinstance(value, Image.Image):
        return thumbnails.img(value, size)
    if isinstance(value, Objects):
        text = f'<div class="value">{escape(_describe_objects(value))}</div>'
        return (thumbnails.img(context_image, size, value) if context_image else "") + text
    if isinstance(value, Points):
        text = f'<div class="value">{escape(repr(value))}</div>'
        return (thumbnails.img(context_image, size, value) if context_image else "") + text
    return f'<span class="value">{escape(_short(value))}</span>'


def _describe_objects(objects: Objects) -> str:
    if not objects:
        return "no objects"
    return "\n".join(f"{o.label or 'object'} {o.score:.2f} box=({', '.join(f'{v:.0f}' for v in o.box)})"
                     + (" +mask" if o.mask is not None else "") for o in objects)


def _short(value: Any, limit: int = 2000) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + " …"


def render_html(result, title: str) -> str:
    thumbnails = Thumbnails()
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>"]
    if result.warnings:  # first, so that no reader takes the answer below on trust
        parts.append("<div class='step warnings'><b>Warnings</b>"
                     + _warnings(result.warnings) + "</div>")
    parts.append("<div class='step'><b>Inputs</b><br>" + "".join(
        f"<figure style='display:inline-block'>{thumbnails.img(img, THUMB)}<figcaption>{escape(name)}"
        f"</figcaption></figure>" for name, img in result.inputs.items()) + "</div>")
    for step in result.trace:
        image_arg = step.args.get("image")
        context = image_arg if isinstance(image_arg, Image.Image) else None
        rows = "".join(f"<tr><td>{escape(name)}</td><td>"
                       f"{render_value(value, size=SMALL, thumbnails=thumbnails)}</td></tr>"
                       for name, value in step.args.items())
        notes = "".join(f"<div class='notes'>{escape(n)}</div>" for n in step.notes)
        box = "step warnings" if step.warnings else "step"
        parts.append(
            f"<div class='{box}'><div class='src'>{step.line}: {escape(step.source)}</div>"
            f"<div class='meta'>{escape(step.module)} · backend {escape(step.backend)} "
            f"({escape(step.backend_reason)}) · {step.seconds * 1000:.1f} ms</div><div class='body'><table>{rows}</table>"
            f"<div><b>{escape(step.output)}</b> = {render_value(step.value, context, THUMB, thumbnails)}"
            f"</div></div>"
            f"{notes}{_warnings(step.warnings)}</div>")
    parts.append(f"<div class='step final'>Result: {render_value(result.value, thumbnails=thumbnails)}"
                 f"</div></body></html>")
    return "".join(parts)


def _warnings(warnings: list[str]) -> str:
    return "".join(f"<div class='warning'>warning: {escape(w)}</div>" for w in warnings)


# --- dataset run index ---------------------------------------------------------------------

INDEX_STYLE = STYLE + """
table.index{background:#fff;border:1px solid #ddd} table.index td,table.index th{padding:4px 10px;border-bottom:1px solid #eee;text-align:left}
.fail{color:#b00020;font-weight:600} .ok{color:#1b7f2a;font-weight:600} .error{white-space:pre-wrap;font-family:ui-monospace,monospace;color:#b00020}
.summary{font-size:15px;margin:8px 0 16px}
"""


def _slug(item_id: Any, taken: set[str]) -> str:
    """A file name for an item id: safe characters only, unique within `taken`."""
    import re
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", str(item_id)).strip("._") or "item"
    base = base[:80]
    slug, n = base, 1
    while slug.lower() in taken:
        n += 1
        slug = f"{base}-{n}"
    taken.add(slug.lower())
    return slug


def error_html(item_id: Any, error: str, extra: dict | None = None) -> str:
    """The page for an item that failed to run: its error and whatever else is known."""
    rows = "".join(f"<tr><td>{escape(str(k))}</td><td>{render_value(v)}</td></tr>"
                   for k, v in (extra or {}).items())
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(str(item_id))}</title>"
            f"<style>{INDEX_STYLE}</style></head><body><h1>{escape(str(item_id))}</h1>"
            f"<p><a href='../index.html'>&larr; index</a></p>"
            f"<div class='step'><span class='fail'>failed</span><table>{rows}</table>"
            f"<div class='error'>{escape(str(error))}</div></div></body></html>")


def _with_back_link(page: str) -> str:
    return page.replace("<body>", "<body><p><a href='../index.html'>&larr; index</a></p>", 1)


def write_index(results, out_dir, title: str = "visprog run") -> Path:
    """Write one rationale page per item and an index page linking them all, failures first.

    `results` holds `(item_id, ok, outcome)` or `(item_id, ok, outcome, extra)`: `ok` says
    whether the item passed (e.g. its answer was right), `outcome` is its `Result`, or an
    error string when it did not run, and `extra` an optional dict shown on the index
    (question, expected answer, ...). Pages go to `out_dir/items/`; returns the index path.
    """
    out = Path(out_dir)
    items_dir = out / "items"
    items_dir.mkdir(parents=True, exist_ok=True)
    rows, taken = [], set()
    entries = []
    for order, entry in enumerate(results):
        item_id, ok, outcome, *rest = entry
        extra = dict(rest[0]) if rest and rest[0] else {}
        entries.append((order, item_id, bool(ok), outcome, extra))
    entries.sort(key=lambda e: (e[2], e[0]))  # failures first, otherwise in the given order
    extra_keys: list[str] = []
    for *_, extra in entries:
        extra_keys += [k for k in extra if k not in extra_keys]
    for order, item_id, ok, outcome, extra in entries:
        slug = _slug(item_id, taken)
        page = items_dir / f"{slug}.html"
        if hasattr(outcome, "html") and hasattr(outcome, "trace"):
            page.write_text(_with_back_link(outcome.html(title=f"{item_id}")), encoding="utf-8")
            value = render_value(outcome.value, size=SMALL)
            detail = f"{len(outcome.trace)} step(s)"
        else:
            page.write_text(error_html(item_id, str(outcome), extra), encoding="utf-8")
            first = str(outcome).strip().splitlines()[0] if str(outcome).strip() else "error"
            value = f"<span class='error'>{escape(_short(first, 200))}</span>"
            detail = "did not run"
        status = "<span class='ok'>ok</span>" if ok else "<span class='fail'>fail</span>"
        cells = "".join(f"<td>{escape(_short(extra.get(k, ''), 300))}</td>" for k in extra_keys)
        rows.append(f"<tr><td>{status}</td><td><a href='items/{escape(slug)}.html'>"
                    f"{escape(str(item_id))}</a></td>{cells}<td>{value}</td><td class='meta'>"
                    f"{escape(detail)}</td></tr>")
    passed = sum(e[2] for e in entries)
    total = len(entries)
    rate = f" ({100 * passed / total:.1f}%)" if total else ""
    head = "".join(f"<th>{escape(str(k))}</th>" for k in extra_keys)
    html = (f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{INDEX_STYLE}</style></head><body><h1>{escape(title)}</h1>"
            f"<div class='summary'>{passed} of {total} passed{rate}; {total - passed} failed</div>"
            f"<table class='index'><tr><th>status</th><th>item</th>{head}<th>value</th><th></th></tr>"
            + "".join(rows) + "</table></body></html>")
    index = out / "index.html"
    index.write_text(html, encoding="utf-8")
    return index
