"""Training sequences from a licensed, annotated video corpus (Aff-Wild2, DISFA, BP4D) the user
holds.

Labels are read by `sequences.py`; each labelled unit (an Aff-Wild2 annotation file, a DISFA
subject, a BP4D sequence) is matched to its video or frame folder by name, the pipeline tracks the
face, and the labelled stretches are cut into sequences of real frames with real labels (no
synthetic corruption: the corpus brings its own). Unlabelled frames and AUs a corpus does not code
stay NaN, and the training losses skip them.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...errors import AffectStreamError
from ...sources import VIDEO_SUFFIXES
from ...types import EMOTION_NAMES
from .data import Clip, face_stretches, stretch_crops, tracked_video
from .labels import CORPORA, read_affwild2_va, read_bp4d, read_disfa


def labelled_units(kind: str,
                   labels: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{unit name: (valence/arousal (T, 2), AUs (T, 12))}, NaN where not labelled."""
    labels = Path(labels)
    units = {}
    if kind == "affwild2":
        for path in sorted(labels.glob("*.txt")):
            va = read_affwild2_va(path)
            units[path.stem] = (va, np.full((len(va), 12), np.nan, np.float32))
    elif kind == "disfa":
        for folder in sorted(p for p in labels.iterdir() if p.is_dir()):
            au = read_disfa(labels, folder.name)
            units[folder.name] = (np.full((len(au), 2), np.nan, np.float32), au)
    elif kind == "bp4d":
        names = sorted({p.name.rsplit("_AU", 1)[0] for p in labels.glob("AU*/*_AU*.csv")})
        for name in names:
            au = read_bp4d(labels, name)
            units[name] = (np.full((len(au), 2), np.nan, np.float32), au)
    else:
        raise AffectStreamError(f"unknown corpus {kind!r}; choose from {', '.join(CORPORA)}")
    if not units:
        raise AffectStreamError(f"{labels}: no {kind} label files found")
    return units


def find_media(unit: str, media: str | os.PathLike) -> tuple[Path, str | None]:
    """(the video file or frame folder under `media` for `unit`, "left"/"right" for Aff-Wild2's
    two-person videos). Matched by name: `NAME.mp4` for Aff-Wild2 (`NAME_left` → `NAME.mp4`), a file
    or folder whose name holds the unit (`SN001`, `F001_T1`) or a path `F001/T1` for BP4D."""
    side = None
    for suffix in ("_left", "_right"):
        if unit.endswith(suffix):
            unit, side = unit[: -len(suffix)], suffix[1:]
    media = Path(media)
    candidates = [p for p in sorted(media.rglob("*"))
                  if (p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
                  or (p.is_dir() and any(c.suffix.lower() in {".jpg", ".jpeg", ".png"}
                                         for c in p.iterdir()))]
    exact = [p for p in candidates if p.stem == unit]
    loose = [p for p in candidates
             if unit in p.stem or unit.replace("_", "/") in p.relative_to(media).as_posix()]
    if not (exact or loose):
        raise AffectStreamError(f"{media}: no video or frame folder for {unit!r}")
    return (exact or loose)[0], side


def labelled_video_clips(path, va: np.ndarray, au: np.ndarray, *, steps: int = 80,
                         side: str | None = None, size: int = 96, landmarker=None) -> list[Clip]:
    """Non-overlapping `steps`-frame clips of face crops from the stretches of `path` in which the
    face (the left- or rightmost one for `side`, else the first seen) is tracked and labelled."""
    from ...pipeline import AffectStream

    with AffectStream(mode="offline", landmarker=landmarker, temporal="none") as pipeline:
        rows, images = tracked_video(path, pipeline)
    if side is not None:
        centres = {}
        for r in rows:
            if r.success:
                centres.setdefault(r.track_id, []).append(r.box[0] + r.box[2] / 2)
        pick = (min if side == "left" else max)(centres, key=lambda t: np.mean(centres[t]),
                                                default=None)
        rows = [r for r in rows if r.track_id == pick]
    clips = []
    labelled = ~(np.isnan(va).all(1) & np.isnan(au).all(1))
    for stretch in face_stretches(rows, min_length=steps):
        stretch = [r for r in stretch if r.frame < len(labelled)]
        crops = stretch_crops(stretch, images, size) if len(stretch) >= steps else None
        for start in range(0, len(stretch) - steps + 1, steps):
            index = np.array([r.frame for r in stretch[start:start + steps]])
            if labelled[index].any():
                clips.append(Clip(crops[start:start + steps], np.zeros(steps, bool),
                                  np.zeros(steps, bool), va[index], au[index],
                                  np.full((steps, len(EMOTION_NAMES)), np.nan, np.float32)))
    return clips


def corpus_clips(kind: str, labels, media, *, steps: int = 80, landmarker=None,
                 log=print) -> list[Clip]:
    """Every labelled clip of a corpus (see labelled_units and find_media)."""
    clips = []
    for unit, (va, au) in labelled_units(kind, labels).items():
        path, side = find_media(unit, media)
        found = labelled_video_clips(path, va, au, steps=steps, side=side, landmarker=landmarker)
        log(f"{kind} {unit}: {len(found)} sequences of {steps} frames from {path.name}")
        clips += found
    if not clips:
        raise AffectStreamError(f"{labels}: no labelled stretch of "
                                f"{steps} frames with a tracked face")
    return clips


def corpus_sequences(kind: str, labels, media, *, steps: int = 80, weights=None, landmarker=None,
                     workers: int = 2, log=print):
    """The corpus's clips featurised like every other training sequence (cached per corpus and
    weights)."""
    from ...models.frame import WEIGHTS, load_frame_net
    from .data import SEQUENCES_VERSION, _cached, _digest, featurize

    weights_path = Path(weights) if weights else WEIGHTS.path
    key = ["corpus", kind, str(Path(labels).resolve()), str(Path(media).resolve()), steps,
           _digest(weights_path.read_bytes()), SEQUENCES_VERSION]

    def make():
        clips = corpus_clips(kind, labels, media, steps=steps, landmarker=landmarker, log=log)
        return featurize(clips, load_frame_net(weights_path), landmarker, workers)

    return _cached(key, make, log)
