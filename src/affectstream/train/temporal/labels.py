"""Readers for licensed video corpora with per-frame labels, for training the temporal models.

Each returns per-frame arrays with NaN where a frame is unlabelled, indexed by 0-based frame:
valence/arousal (T, 2) −1…1 or AU intensities (T, 12) 0–5 in AU_NAMES order (AUs a corpus does
not code stay NaN).
"""
from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import numpy as np

from ...errors import AffectStreamError
from ...types import DISFA_AU_NAMES as AU_NAMES  # the AUs the temporal models carry

CORPORA: tuple[str, ...] = ("affwild2", "disfa", "bp4d")  # the annotated video corpora read here


def read_affwild2_va(path: str | os.PathLike) -> np.ndarray:
    """(T, 2) valence/arousal of one Aff-Wild2 VA annotation file.

    Format: a `valence,arousal` header, then one `v,a` line per video frame; −5 marks a frame
    nobody annotated (no face, or outside the annotated span).
    """
    rows = _lines(path)
    if not rows or [c.strip().lower() for c in rows[0]] != ["valence", "arousal"]:
        raise AffectStreamError(f"{path}: not an Aff-Wild2 VA file "
                                "(first line must be 'valence,arousal')")
    values = np.array([[float(v) for v in row] for row in rows[1:] if row], np.float32)
    values[(values <= -5) | (values < -1) | (values > 1)] = np.nan
    return values


def _au_column(name: str) -> int | None:
    """Index in AU_NAMES of an AU named like 'au1', 'AU01', 'AU6' — None when it is not one of
    the 12."""
    match = re.search(r"au0*(\d+)", name.lower())
    if match is None:
        return None
    au = f"AU{int(match.group(1)):02d}"
    return AU_NAMES.index(au) if au in AU_NAMES else None


def _frame_intensities(files: dict[int, Path], unknown: set[float], one_based: bool) -> np.ndarray:
    """(T, 12) from {AU column: file of `frame,intensity` lines}; T = the largest frame seen."""
    per_au = {}
    for column, path in files.items():
        pairs = [(int(float(r[0])), float(r[1])) for r in _lines(path)
                 if len(r) >= 2 and _is_number(r[0])]
        per_au[column] = pairs
    length = (max((f for pairs in per_au.values() for f, _ in pairs), default=0)
              + (0 if one_based else 1))
    out = np.full((length, len(AU_NAMES)), np.nan, np.float32)
    for column, pairs in per_au.items():
        for frame, value in pairs:
            if value not in unknown:
                out[frame - 1 if one_based else frame, column] = value
    return out


def read_disfa(folder: str | os.PathLike, subject: str) -> np.ndarray:
    """(T, 12) AU intensities of one DISFA subject: `folder/SUBJECT/SUBJECT_au1.txt` … `_au26.txt`,
    lines `frame,intensity` with 1-based frames and intensities 0–5 (DISFA codes all 12 AUs)."""
    root = Path(folder) / subject
    files = {c: p for p in sorted(root.glob(f"{subject}_au*.txt"))
             if (c := _au_column(p.stem)) is not None}
    if not files:
        raise AffectStreamError(f"{root}: no DISFA files named {subject}_au<N>.txt")
    return _frame_intensities(files, unknown=set(), one_based=True)


def read_bp4d(folder: str | os.PathLike, sequence: str) -> np.ndarray:
    """(T, 12) AU intensities of one BP4D sequence (e.g. `F001_T1`) from the FERA 2015 intensity
    CSVs: `folder/AU06/F001_T1_AU06.csv`, lines `frame,intensity`, 1-based, 0–5 with 9 for
    "not coded". BP4D codes intensity for AU06, 10, 12, 14 and 17; of the 12 here, AU06, AU12 and
    AU17 get values."""
    files = {}
    for path in sorted(Path(folder).glob(f"AU*/{sequence}_AU*.csv")):
        column = _au_column(path.stem.rsplit("_", 1)[-1])
        if column is not None:
            files[column] = path
    if not files:
        raise AffectStreamError(f"{folder}: no BP4D intensity files for {sequence} "
                                f"(AU06/{sequence}_AU06.csv …)")
    return _frame_intensities(files, unknown={9.0}, one_based=True)


def _lines(path) -> list[list[str]]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return [row for row in csv.reader(f)]
    except OSError as e:
        raise AffectStreamError(f"{path}: cannot read ({e.strerror})") from None


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
