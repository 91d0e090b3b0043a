"""The CSV writer (`--format csv`): OpenFace-style column names, one row per face and frame."""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import TextIO

from ..errors import WriteError
from ..registry import register
from ..types import AU_NAMES, EMOTION_NAMES, Affect

BASE_COLUMNS = ("frame", "timestamp", "face_id", "success", "confidence", "face_x", "face_y",
                "face_w", "face_h", "pose_Rx", "pose_Ry", "pose_Rz")
AU_COLUMNS = tuple(f"{au}_r" for au in AU_NAMES)
VA_COLUMNS = ("valence", "arousal")
STD_COLUMNS = ("valence_std", "arousal_std")
EMOTION_COLUMNS = tuple(f"emo_{e}" for e in EMOTION_NAMES)


def csv_columns(produces: set[str] | tuple[str, ...] = ("au",)) -> tuple[str, ...]:
    """The CSV header for a pipeline whose stages produce `produces` ("au", "valence",
    "emotion")."""
    columns = BASE_COLUMNS
    if "au" in produces:
        columns += AU_COLUMNS
    if "valence" in produces:  # std columns always, left empty by a model without uncertainty
        columns += VA_COLUMNS + STD_COLUMNS
    if "emotion" in produces:
        columns += EMOTION_COLUMNS
    return columns


def _fmt(value, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def csv_row(a: Affect, columns: tuple[str, ...]) -> list[str]:
    """One CSV row; empty cells where a value was not produced (never a placeholder number)."""
    row = {"frame": str(a.frame), "timestamp": f"{a.timestamp:.4f}",
           "success": "1" if a.success else "0",
           "face_id": "" if a.track_id is None else str(a.track_id), "confidence": _fmt(a.score, 3)}
    for name, value in zip(("face_x", "face_y", "face_w", "face_h"), a.box or (None,) * 4):
        row[name] = _fmt(value, 1)
    for name, value in zip(("pose_Rx", "pose_Ry", "pose_Rz"), a.pose or (None,) * 3):
        row[name] = _fmt(value, 2)
    for au in AU_NAMES:
        row[f"{au}_r"] = _fmt(a.au.get(au) if a.au else None, 3)
    for name in VA_COLUMNS + STD_COLUMNS:
        row[name] = _fmt(getattr(a, name), 4)
    for e in EMOTION_NAMES:
        row[f"emo_{e}"] = _fmt(a.emotion.get(e) if a.emotion else None, 4)
    return [row[c] for c in columns]


def open_for_writing(path: Path, newline: str | None = None) -> TextIO:
    """`path` opened for text, its folder made; WriteError when it cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "w", newline=newline, encoding="utf-8")
    except OSError as e:
        raise WriteError(f"{path}: cannot write here ({e.strerror}); "
                         "choose another output path") from None


@register("writer", "csv")
class CSVWriter:
    """Writes rows to `PATH.partial`, flushing each frame; `close()` renames it to PATH.

    A run that is killed leaves `PATH.partial` (every finished row, valid CSV) so an incomplete
    file never passes for a complete one.
    """

    suffix = ".csv"

    def open(self, path: str | os.PathLike, columns: tuple[str, ...], options=None) -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.columns = columns
        self._file = open_for_writing(self.partial, newline="")
        self._writer = csv.writer(self._file)
        self._writer.writerow(columns)
        self._file.flush()

    def write(self, rows: list[Affect]) -> None:
        self._writer.writerows(csv_row(a, self.columns) for a in rows)
        self._file.flush()

    def close(self, complete: bool = True) -> Path:
        """Finish the file; with complete=False it keeps its `.partial` name. Returns where it
        is."""
        if not self._file.closed:
            self._file.close()
            if complete:
                os.replace(self.partial, self.path)
        return self.path if complete else self.partial
