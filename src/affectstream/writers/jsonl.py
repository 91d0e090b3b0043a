"""The JSONL writer (`--format jsonl`): one JSON object per face and frame.

Every field of Affect but the arrays, at full precision, plus `success`; the arrays only where the
options ask for them, as in the CSV, as nested lists rounded to their units' precision:
`--landmarks 478` adds `landmarks` (478 × [x, y, z] pixels), `--landmarks 68` adds `landmarks_68`
(68 × [x, y] pixels) and `landmarks_68_3d` (68 × [X, Y, Z] mm), `--gaze` adds `gaze`
(2 × [x, y, z] unit vectors). Every line of a file has the same keys; NaN is written as null.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

import numpy as np

from ..landmarks68 import to_68
from ..registry import register
from ..types import Affect
from .csv import open_for_writing

ARRAYS = ("landmarks", "landmarks_3d", "gaze")  # too large for every record: asked for by options
LOCAL = ("captured_at",)  # an instant on this process's clock: meaningless in a file


def plain(value):
    """`value` as JSON takes it: numpy numbers as Python ones, tuples as lists, NaN as None."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def rounded(points, digits: int) -> list | None:
    """An array as nested lists of numbers with `digits` decimals (NaN: None); None stays."""
    if points is None:
        return None
    values = np.asarray(points, np.float64)
    if values.ndim > 1:
        return [rounded(row, digits) for row in values]
    return [None if math.isnan(v) else round(float(v), digits) for v in values]


def affect_dict(a: Affect, options=None) -> dict:
    """A JSON-ready dict of an Affect (plus `success`), with the arrays `options` ask for."""
    d = {f.name: plain(getattr(a, f.name)) for f in dataclasses.fields(a)
         if f.name not in ARRAYS + LOCAL}
    d["success"] = a.success
    landmarks = "none" if options is None else options.landmarks
    if landmarks == "478":
        d["landmarks"] = rounded(a.landmarks, 2)
    elif landmarks == "68":
        flat = None if a.landmarks is None else to_68(a.landmarks)[:, :2]
        d["landmarks_68"] = rounded(flat, 2)
        d["landmarks_68_3d"] = rounded(None if a.landmarks_3d is None else to_68(a.landmarks_3d),
                                       1)
    if options is not None and options.gaze:
        d["gaze"] = rounded(a.gaze, 6)
    return d


@register("writer", "jsonl")
class JSONLWriter:
    """One JSON object per Affect and line, flushed each frame."""

    suffix = ".jsonl"

    def open(self, path: str | os.PathLike, columns: tuple[str, ...] = (), options=None) -> None:
        self.path = Path(path)
        self.options = options
        self._file = open_for_writing(self.path)

    def write(self, rows: list[Affect]) -> None:
        self._file.writelines(json.dumps(affect_dict(a, self.options)) + "\n" for a in rows)
        self._file.flush()

    def close(self, complete: bool = True) -> Path:
        self._file.close()
        return self.path
