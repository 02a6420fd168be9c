"""How the REPL shows things: value summaries, carets under a column, inline terminal images."""

from __future__ import annotations

import base64
import difflib
import os
from pathlib import Path
from typing import Any, Optional, Union


def is_image(value: Any) -> bool:
    from PIL import Image
    return isinstance(value, Image.Image)


def value_kind(value: Any) -> str:
    """The checker's kind name for a runtime value."""
    from ..values import Objects, Points
    if is_image(value):
        return "Image"
    if isinstance(value, Objects):
        return "Objects"
    if isinstance(value, Points):
        return "Points"
    if isinstance(value, list):
        return "list[str]" if all(isinstance(v, str) for v in value) else "list"
    return {bool: "bool", int: "int", float: "float", str: "str", type(None): "None"}.get(
        type(value), "any")


def summary(value: Any, limit: int = 70) -> str:
    """One line for a value: images by size, anything else by its repr, cut at `limit`."""
    if is_image(value):
        return f"image {value.width}x{value.height}"
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def closest(name: str, names) -> Optional[str]:
    """The name in `names` most like `name` (case-insensitive), if any is close."""
    by_lower = {n.lower(): n for n in names}
    match = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


def caret(source: str, column: int, indent: str = "    ") -> str:
    """The source line with a caret under `column` (1-based)."""
    first = source.split("\n")[0]
    return f"{indent}{first}\n{indent}{' ' * max(column - 1, 0)}^"


def inline_protocol() -> Optional[str]:
    """'iterm' or 'kitty' when the terminal says it shows images inline, else None."""
    if os.environ.get("VISPROG_INLINE", "1") == "0":
        return None
    program = os.environ.get("TERM_PROGRAM", "")
    if program in ("iTerm.app", "WezTerm"):
        return "iterm"
    if program.lower() == "kitty" or os.environ.get("TERM") == "xterm-kitty":
        return "kitty"
    return None


def inline_image(path: Union[str, Path], protocol: str) -> str:
    """The escape sequence that shows the PNG inline (iTerm2 or kitty graphics protocol)."""
    data = Path(path).read_bytes()
    payload = base64.b64encode(data).decode("ascii")
    if protocol == "iterm":
        name = base64.b64encode(Path(path).name.encode()).decode("ascii")
        return f"\x1b]1337;File=name={name};size={len(data)};inline=1;width=auto:{payload}\x07"
    chunks = [payload[i:i + 4096] for i in range(0, len(payload), 4096)] or [""]
    out = []
    for i, chunk in enumerate(chunks):
        more = 1 if i < len(chunks) - 1 else 0
        head = "a=T,f=100," if i == 0 else ""
        out.append(f"\x1b_G{head}m={more};{chunk}\x1b\\")
    return "".join(out)
