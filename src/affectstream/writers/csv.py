"""The CSV writer (`--format csv`): OpenFace-style column names, one row per face and frame."""
from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import TextIO

import numpy as np

from ..errors import WriteError
from ..landmarks68 import to_68
from ..registry import register
from ..types import AU_NAMES, EMOTION_NAMES, PRESENCE_AU_NAMES, Affect

BASE_COLUMNS = ("frame", "timestamp", "file", "face_id", "success", "confidence", "face_x",
                "face_y", "face_w", "face_h", "pose_Rx", "pose_Ry", "pose_Rz", "pose_Tx",
                "pose_Ty", "pose_Tz")
AU_COLUMNS = tuple(f"{au}_r" for au in AU_NAMES)
PRESENCE_COLUMNS = tuple(f"{au}_c" for au in PRESENCE_AU_NAMES)
VA_COLUMNS = ("valence", "arousal")
STD_COLUMNS = ("valence_std", "arousal_std")
EMOTION_COLUMNS = tuple(f"emo_{e}" for e in EMOTION_NAMES)
GAZE_VECTOR_COLUMNS = tuple(f"gaze_{eye}_{axis}" for eye in (0, 1) for axis in "xyz")
GAZE_COLUMNS = GAZE_VECTOR_COLUMNS + ("gaze_angle_x", "gaze_angle_y")


def point_columns(axes: str, count: int) -> tuple[str, ...]:
    """`x_0 … x_{count-1}, y_0 …`: OpenFace's layout, one axis after the other."""
    return tuple(f"{axis}_{i}" for axis in axes for i in range(count))


LANDMARK_COLUMNS = {"none": (), "68": point_columns("xyXYZ", 68), "478": point_columns("xyz", 478)}


def csv_columns(produces: set[str] | tuple[str, ...] = ("au",), options=None) -> tuple[str, ...]:
    """The CSV header for a pipeline whose stages produce `produces` ("au", "valence",
    "emotion") with `options` (PipelineOptions: `landmarks`, `gaze`; None: neither).

    The optional geometry comes last, so the affect columns keep their places whatever is asked.
    """
    columns = BASE_COLUMNS
    if "au" in produces:
        columns += AU_COLUMNS + PRESENCE_COLUMNS
    if "valence" in produces:  # std columns always, left empty by a model without uncertainty
        columns += VA_COLUMNS + STD_COLUMNS
    if "emotion" in produces:
        columns += EMOTION_COLUMNS
    if options is not None and options.gaze:
        columns += GAZE_COLUMNS
    if options is not None:
        columns += LANDMARK_COLUMNS[options.landmarks]
    return columns


def number(value, digits: int) -> str:
    """`value` with `digits` decimals; empty for None or NaN (never a placeholder number)."""
    if value is None or math.isnan(value):
        return ""
    return f"{value:.{digits}f}"


def _values(values, count: int):
    """`values` (a tuple or an array), or `count` Nones where there are none."""
    return (None,) * count if values is None else values


def _points(row: dict, axes: str, points: np.ndarray | None, count: int, digits: int) -> None:
    """Cells `{axis}_{i}` of `points` (count, len(axes)); empty where there are none."""
    for k, axis in enumerate(axes):
        for i in range(count):
            row[f"{axis}_{i}"] = "" if points is None else number(float(points[i, k]), digits)


def _geometry(a: Affect, row: dict, columns: tuple[str, ...]) -> None:
    """The gaze and landmark cells, for the columns asked for."""
    if "gaze_0_x" in columns:
        gaze = None if a.gaze is None else np.asarray(a.gaze, np.float64).reshape(-1)
        for i, name in enumerate(GAZE_VECTOR_COLUMNS):
            row[name] = "" if gaze is None else number(float(gaze[i]), 4)
        for name, value in zip(("gaze_angle_x", "gaze_angle_y"), _values(a.gaze_angle, 2)):
            row[name] = number(value, 4)
    if "X_0" in columns:  # the 68 iBUG points: pixels, then millimetres
        flat = None if a.landmarks is None else to_68(a.landmarks)
        _points(row, "xy", flat, 68, 2)
        _points(row, "XYZ", None if a.landmarks_3d is None else to_68(a.landmarks_3d), 68, 1)
    elif "z_0" in columns:  # MediaPipe's mesh as it is, in pixels
        _points(row, "xyz", a.landmarks, 478, 2)


def csv_row(a: Affect, columns: tuple[str, ...]) -> list[str]:
    """One CSV row; empty cells where a value was not produced (never a placeholder number)."""
    row = {"frame": str(a.frame), "timestamp": f"{a.timestamp:.4f}", "file": a.file or "",
           "success": "1" if a.success else "0",
           "face_id": "" if a.track_id is None else str(a.track_id),
           "confidence": number(a.score, 3)}
    for name, value in zip(("face_x", "face_y", "face_w", "face_h"), _values(a.box, 4)):
        row[name] = number(value, 1)
    for name, value in zip(("pose_Rx", "pose_Ry", "pose_Rz"), _values(a.pose, 3)):
        row[name] = number(value, 2)
    for name, value in zip(("pose_Tx", "pose_Ty", "pose_Tz"), _values(a.translation, 3)):
        row[name] = number(value, 1)
    for au in AU_NAMES:
        row[f"{au}_r"] = number(a.au.get(au) if a.au else None, 3)
    for au in PRESENCE_AU_NAMES:
        present = a.au_presence.get(au) if a.au_presence else None
        row[f"{au}_c"] = "" if present is None else str(int(present))
    for name in VA_COLUMNS + STD_COLUMNS:
        row[name] = number(getattr(a, name), 4)
    for e in EMOTION_NAMES:
        row[f"emo_{e}"] = number(a.emotion.get(e) if a.emotion else None, 4)
    _geometry(a, row, columns)
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
