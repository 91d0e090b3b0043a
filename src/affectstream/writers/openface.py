"""The OpenFace writer (`--format openface`): OpenFace 2.2 FeatureExtraction's CSV, column for
column and in its units, so what reads OpenFace's files (py-feat's `read_openface`, R's openfacer,
scripts that index `" AU12_r"`) reads ours.

Its header is OpenFace's byte for byte, `, `-separated; a filled cell is written as OpenFace
writes it (` 0.25`), an empty one as nothing at all, so pandas still parses every column as a
number. A value this package cannot compute honestly is left empty, never zero (EMPTY_COLUMNS).
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..eyes import PUPIL, eye_landmarks
from ..landmarks68 import to_68
from ..registry import register
from ..types import AU_NAMES, PRESENCE_AU_NAMES, Affect
from .csv import GAZE_COLUMNS, CSVWriter, number, open_for_writing, point_columns

EYE_POINTS = 28 * 2  # OpenFace's eye model: 28 points per eye, eye 0 then eye 1
P_COLUMNS = ("p_scale", "p_rx", "p_ry", "p_rz", "p_tx", "p_ty") + tuple(f"p_{i}" for i in range(34))
OPENFACE_COLUMNS = (
    ("frame", "face_id", "timestamp", "confidence", "success") + GAZE_COLUMNS
    + tuple(f"eye_lmk_{axis}_{i}" for axis in "xyXYZ" for i in range(EYE_POINTS))
    + ("pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz")
    + point_columns("xyXYZ", 68) + P_COLUMNS
    + tuple(f"{au}_r" for au in AU_NAMES) + tuple(f"{au}_c" for au in PRESENCE_AU_NAMES))
# Columns that are always empty, and why; every other column is filled where the value exists.
EMPTY_COLUMNS = dict.fromkeys(
    P_COLUMNS, "OpenFace's own point-distribution-model parameters (scale, rotation, shift and 34 "
               "shape modes of its 68-point model); MediaPipe's mesh has no such parameters")
EMPTY_COLUMNS.update(dict.fromkeys(
    (f"eye_lmk_{axis}_{eye * 28 + i}" for axis in "xyXYZ" for eye in (0, 1)
     for i in range(PUPIL.start, PUPIL.stop)),
    "OpenFace's 8 pupil points per eye: MediaPipe does not locate the pupil"))
# The columns of OpenFace 2.2 this file leaves out: none (empty cells stand for missing values).
OMITTED_COLUMNS: dict[str, str] = {}


def openface_rotation(pose) -> tuple[float, float, float]:
    """OpenFace's (pose_Rx, pose_Ry, pose_Rz) in radians from our (pitch, yaw, roll) in degrees.

    Ours decompose MediaPipe's head rotation R = Rz(roll) Ry(yaw) Rx(pitch) in OpenGL camera
    axes (x right, y up, z towards the viewer); OpenFace's decompose R' = Rx Ry Rz in OpenCV
    axes (x right, y down, z away). The same rotation in OpenCV axes is F R F with
    F = diag(1, -1, -1): Rz(-roll) Ry(-yaw) Rx(pitch). So, for small angles, Rx = pitch (both
    positive when the head tilts down), Ry = -yaw (OpenFace: positive when the nose turns to the
    image's left), Rz = -roll (OpenFace: positive when the face turns clockwise in the image).
    """
    pitch, yaw, roll = (math.radians(v) for v in pose)
    cx, sx, cy, sy, cz, sz = (math.cos(pitch), math.sin(pitch), math.cos(-yaw), math.sin(-yaw),
                              math.cos(-roll), math.sin(-roll))
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    r = rz @ ry @ rx
    # R = Rx(a) Ry(b) Rz(c): r02 = sin b, r12 = -sin a cos b, r22 = cos a cos b, r01 = -cos b sin c
    return (math.atan2(-r[1, 2], r[2, 2]), math.asin(max(-1.0, min(1.0, r[0, 2]))),
            math.atan2(-r[0, 1], r[0, 0]))


_AT = {name: k for k, name in enumerate(OPENFACE_COLUMNS)}  # column -> position


def _fill(cells: list[str], first: str, values, digits: int) -> None:
    """cells from column `first` on: `values` with `digits` decimals, NaN left empty."""
    if values is None:
        return
    start = _AT[first]
    for k, value in enumerate(np.asarray(values, np.float64).tolist()):
        if value == value:  # NaN stays an empty cell
            cells[start + k] = f"{value:.{digits}f}"


def _points(cells: list[str], prefix: str, axes: str, points: np.ndarray, digits: int) -> None:
    """One contiguous block of columns per axis: `{prefix}{axis}_0 …` from points (N, len(axes))."""
    for k, axis in enumerate(axes):
        _fill(cells, f"{prefix}{axis}_0", points[:, k], digits)


def openface_row(a: Affect) -> list[str]:
    """One row's cells in OPENFACE_COLUMNS order, with OpenFace 2.2's decimals; "" where empty."""
    cells = [""] * len(OPENFACE_COLUMNS)
    cells[:5] = [str(a.frame + 1), "" if a.track_id is None else str(a.track_id),
                 f"{a.timestamp:.3f}", number(a.score, 2), "1" if a.success else "0"]
    _fill(cells, "gaze_0_x", None if a.gaze is None else np.ravel(a.gaze), 6)
    _fill(cells, "gaze_angle_x", a.gaze_angle, 3)
    for points, axes in ((a.landmarks, "xy"), (a.landmarks_3d, "XYZ")):
        if points is not None:
            _points(cells, "eye_lmk_", axes, eye_landmarks(points), 1)
            _points(cells, "", axes, to_68(points), 1)
    _fill(cells, "pose_Tx", a.translation, 1)
    if a.pose is not None:
        _fill(cells, "pose_Rx", openface_rotation(a.pose), 3)
    for values, suffix in ((a.au, "_r"), (a.au_presence, "_c")):
        for au, value in (values or {}).items():  # only the AUs a model gave; others stay empty
            _fill(cells, f"{au}{suffix}", (value,), 2 if suffix == "_r" else 1)
    return cells


def openface_line(cells: list[str]) -> str:
    """`1, 0, 0.000,, 1`: OpenFace's `, ` before a value, a bare `,` before an empty cell."""
    return cells[0] + "".join("," + (" " + c if c else "") for c in cells[1:]) + "\n"


@register("writer", "openface")
class OpenFaceWriter(CSVWriter):
    """OpenFace 2.2's CSV: a row per face per frame, and a `success` 0 row for a frame without a
    face; written to `PATH.partial`, flushed each frame, renamed to PATH by `close()` (the CSV
    writer's)."""

    def open(self, path: str | os.PathLike, columns: tuple[str, ...] = (), options=None) -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self._file = open_for_writing(self.partial, newline="")
        self._file.write(", ".join(OPENFACE_COLUMNS) + "\n")
        self._file.flush()

    def write(self, rows: list[Affect]) -> None:
        self._file.writelines(openface_line(openface_row(a)) for a in rows)
        self._file.flush()

