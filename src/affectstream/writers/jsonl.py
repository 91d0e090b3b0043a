"""The JSONL writer (`--format jsonl`): one JSON object per face and frame, every Affect field."""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from ..registry import register
from ..types import Affect
from .csv import open_for_writing


def affect_dict(a: Affect) -> dict:
    """A JSON-ready dict of an Affect (plus `success`)."""
    d = dataclasses.asdict(a)
    d["success"] = a.success
    return d


@register("writer", "jsonl")
class JSONLWriter:
    """One JSON object per Affect and line, flushed each frame."""

    suffix = ".jsonl"

    def open(self, path: str | os.PathLike, columns: tuple[str, ...] = (), options=None) -> None:
        self.path = Path(path)
        self._file = open_for_writing(self.path)

    def write(self, rows: list[Affect]) -> None:
        self._file.writelines(json.dumps(affect_dict(a)) + "\n" for a in rows)
        self._file.flush()

    def close(self, complete: bool = True) -> Path:
        self._file.close()
        return self.path
