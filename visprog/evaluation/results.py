"""The results file of an evaluation: one JSON line per item, appended and flushed as each
item finishes, so a run killed at any instant loses at most the item in flight.

Opening an existing file keeps its complete lines and cuts a torn last line (a run killed
mid-write); the ids it holds are done, and a rerun skips them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Union

from ..errors import DatasetError

FIELDS = ("id", "task", "form", "program", "answer", "gold", "correct", "error", "warnings",
          "seconds")


class Results:
    """The records of one evaluation, by item id; `path` None keeps them in memory only."""

    def __init__(self, path: Union[None, str, Path] = None):
        self.path = Path(path) if path is not None else None
        self.records: dict[str, dict] = {}
        self._file = None
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self._read()
        self._file = open(self.path, "a", encoding="utf-8")

    def _read(self) -> None:
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1  # past the last complete line; the rest is torn
        for number, line in enumerate(data[:end].decode("utf-8", "replace").splitlines(), 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise DatasetError(f"{self.path}, line {number}: not a results line; give "
                                   f"another --out or remove the file") from None
            self.records.setdefault(str(record.get("id")), record)
        if end < len(data):
            with open(self.path, "r+b") as f:
                f.truncate(end)

    def __contains__(self, item_id: str) -> bool:
        return item_id in self.records

    def add(self, record: dict) -> None:
        self.records[record["id"]] = record
        if self._file is not None:
            self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def record(item_id: str, task: Optional[str] = None, **fields) -> dict:
    """A results line with every field present (None where unknown)."""
    out = {name: None for name in FIELDS}
    out.update(id=item_id, task=task, warnings=[])
    out.update(fields)
    return out
