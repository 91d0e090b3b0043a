"""Results as pandas DataFrames: `read_csv` for a CSV that `affectstream process` wrote (the
default format or `--format openface`), `to_dataframe` for the API's Affect records.

Both give one dtype per column, decided by its name: `frame` int64, `face_id` Int64 (nullable:
<NA> on a row without a face), `success` bool, `file` str, every other column float64 (empty cells
NaN). pandas is an optional extra (`pip install affectstream[pandas]`).
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .errors import AffectStreamError
from .types import AU_NAMES, EMOTION_NAMES, PRESENCE_AU_NAMES, Affect
from .writers.csv import csv_columns, csv_row

PANDAS_MISSING = "pandas is not installed: pip install 'affectstream[pandas]'"
TEXT_COLUMNS = ("file",)


def _pandas():
    try:
        import pandas
    except ImportError:
        raise AffectStreamError(PANDAS_MISSING) from None
    return pandas


def column_dtype(name: str) -> str:
    """The dtype of a result column, by its name."""
    if name == "frame":
        return "int64"
    if name == "face_id":
        return "Int64"
    if name == "success":
        return "bool"
    return "str" if name in TEXT_COLUMNS else "float64"


def read_csv(path: str | os.PathLike):
    """The rows of a result CSV as a DataFrame, with the dtypes of `column_dtype`.

    Column names are stripped (OpenFace writes `frame, face_id, ...`); the values are the file's
    own (OpenFace's frames count from 1 and its pose is in radians).
    """
    pd = _pandas()
    path = Path(path)
    if not path.is_file():
        raise AffectStreamError(f"{path}: no such file")
    try:  # the header first: each column's dtype comes from its name
        names = [n.strip() for n in pd.read_csv(path, nrows=0, skipinitialspace=True).columns]
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise AffectStreamError(f"{path}: not a CSV ({e})") from None
    if not {"frame", "timestamp"} <= set(names):
        raise AffectStreamError(f"{path}: no frame and timestamp columns; not a CSV that "
                                "affectstream or OpenFace wrote")
    dtypes = {n: column_dtype(n) for n in names}
    try:
        table = pd.read_csv(path, names=names, header=0, skipinitialspace=True,
                            keep_default_na=False, na_values=[""],
                            dtype={n: "Int8" if d == "bool" else d for n, d in dtypes.items()})
    except (ValueError, pd.errors.ParserError) as e:
        raise AffectStreamError(f"{path}: a cell does not fit its column ({e})") from None
    return _typed(table, dtypes)


def _typed(table, dtypes: dict[str, str]):
    """`table` with each column in its dtype; a `success` column read as integers becomes bool."""
    if "success" in table:
        table["success"] = table["success"].fillna(0).astype(bool)
    return table.astype(dtypes)


def to_dataframe(records: Iterable[Affect], columns: tuple[str, ...] | None = None):
    """The DataFrame that `read_csv` gives for the CSV of these records, at full precision.

    columns: the CSV's columns (`AffectStream.columns`); by default those of the default CSV
    for what the records hold (AUs, valence/arousal with their std columns, emotions).
    """
    pd = _pandas()
    records = list(records)
    columns = tuple(columns) if columns is not None else _columns(records)
    table = pd.DataFrame([row_values(a, columns) for a in records], columns=list(columns))
    for name in columns:
        if column_dtype(name) == "str":  # missing stays NaN, not the text "None"
            table[name] = table[name].astype(object).where(table[name].notna())
    return _typed(table, {n: column_dtype(n) for n in columns})


def _columns(records: list[Affect]) -> tuple[str, ...]:
    produces = [name for name, field in (("au", "au"), ("valence", "valence"),
                                         ("emotion", "emotion"))
                if any(getattr(a, field) is not None for a in records)]
    return csv_columns(tuple(produces))


def row_values(a: Affect, columns: tuple[str, ...]) -> list:
    """One row of values: the record's own numbers where this module knows the column, else the
    CSV writer's text (a column added there is never silently left out here)."""
    known = _known(a)
    missing = tuple(c for c in columns if c not in known)
    try:
        text = dict(zip(missing, csv_row(a, missing))) if missing else {}
    except KeyError as e:
        raise AffectStreamError(f"no such result column: {e}") from None
    return [known[c] if c in known else (text[c] or None) for c in columns]


def _known(a: Affect) -> dict[str, object]:
    """Column -> value for the columns whose values are plain fields of the record."""
    values: dict[str, object] = {"frame": a.frame, "timestamp": a.timestamp,
                                 "face_id": a.track_id, "success": a.success,
                                 "confidence": a.score, "file": a.file}
    for names, triple in ((("face_x", "face_y", "face_w", "face_h"), a.box),
                          (("pose_Rx", "pose_Ry", "pose_Rz"), a.pose),
                          (("pose_Tx", "pose_Ty", "pose_Tz"), a.translation),
                          (("gaze_angle_x", "gaze_angle_y"), a.gaze_angle)):
        values.update(zip(names, triple or (None,) * len(names)))
    for name in ("valence", "arousal", "valence_std", "arousal_std"):
        values[name] = getattr(a, name)
    for au in AU_NAMES:
        values[f"{au}_r"] = (a.au or {}).get(au)
    for au in PRESENCE_AU_NAMES:
        values[f"{au}_c"] = (a.au_presence or {}).get(au)
    for e in EMOTION_NAMES:
        values[f"emo_{e}"] = (a.emotion or {}).get(e)
    return values
