"""What the REPL says back to one input (`Reply`): the lines to print and what the UI should do."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Reply:
    """What one input produced: text to print, whether everything succeeded, and UI requests."""

    lines: list[str] = field(default_factory=list)
    ok: bool = True
    quit: bool = False
    edit: Optional[str] = None  # program text the UI should offer for editing (`:plan`)
    images: list[str] = field(default_factory=list)  # preview PNGs written for this input

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def say(self, text: str) -> None:
        self.lines.append(text)

    def fail(self, text: str) -> "Reply":
        self.lines.append(text)
        self.ok = False
        return self

    def extend(self, other: "Reply") -> bool:
        """Add `other` to this reply; whether everything so far succeeded."""
        self.lines.extend(other.lines)
        self.images.extend(other.images)
        self.ok = self.ok and other.ok
        self.quit = self.quit or other.quit
        self.edit = other.edit if other.edit is not None else self.edit
        return self.ok
