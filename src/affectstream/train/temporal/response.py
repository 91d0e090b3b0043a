"""How a temporal model trades steadiness for speed of response, on real media (benchmarks and
tests).

Steadiness: the mean absolute frame-to-frame change of valence and arousal of the main face of a
video, and how often its top emotion changes. Response: frames after a cut from a neutral to a
smiling face until the live estimate covers 90 % of the change.
"""
from __future__ import annotations

import cv2
import numpy as np

from ...pipeline import AffectStream
from ...types import Frame, main_track
from ..frame.data import read_faces
from .data import SEQUENCE_FPS


def steadiness(video, temporal: str, **settings) -> dict:
    """Over consecutive detected frames of the first track: mean |Δvalence| and |Δarousal|, the top
    emotion's changes per minute, and the number of pairs. settings: more pipeline options."""
    with AffectStream(mode="offline", temporal=temporal, max_faces=1, **settings) as pipeline:
        rows = [r for r in pipeline.stream(video) if r.success]
    first = main_track(rows)
    by_frame = {r.frame: r for r in rows if r.track_id == first}
    pairs = [(by_frame[f], by_frame[f + 1]) for f in by_frame if f + 1 in by_frame]
    change = np.abs(np.array([(b.valence - a.valence, b.arousal - a.arousal)
                              for a, b in pairs])).mean(0)
    flips = sum(max(a.emotion, key=a.emotion.get) != max(b.emotion, key=b.emotion.get)
                for a, b in pairs)
    minutes = sum(b.timestamp - a.timestamp for a, b in pairs) / 60
    return {"valence": float(change[0]), "arousal": float(change[1]),
            "emotion_changes_per_minute": flips / minutes, "pairs": len(pairs)}


def step_stills(ferplus) -> tuple[np.ndarray, np.ndarray]:
    """The FER+ validation images with the most votes for neutral and for happiness."""
    faces = read_faces(ferplus, "valid")
    votes = np.nan_to_num(faces.emotion, nan=-1.0)
    return faces.images[int(np.argmax(votes[:, 0]))], faces.images[int(np.argmax(votes[:, 1]))]


def step_frames(neutral: np.ndarray, smiling: np.ndarray, seconds: float = 2.0) -> list[np.ndarray]:
    """A 640×360 clip: `neutral` for `seconds`, then `smiling`, each a 200-pixel face at one
    spot."""
    frames = []
    for face in (neutral, smiling):
        canvas = np.full((360, 640, 3), 128, np.uint8)
        canvas[80:280, 220:420] = cv2.resize(face, (200, 200),
                                             interpolation=cv2.INTER_CUBIC)[..., None]
        frames += [canvas] * int(seconds * SEQUENCE_FPS)
    return frames


def response(frames: list[np.ndarray], temporal: str, cut: int, **settings) -> dict:
    """Live, frame by frame: per dimension (before, after, frames after the cut to 90 % of the
    change), the number of tracks and of frames with a face."""
    with AffectStream(mode="live", temporal=temporal, max_faces=1, **settings) as pipeline:
        rows = [pipeline.analyze(Frame(i, i / SEQUENCE_FPS, image, 0.0))[0]
                for i, image in enumerate(frames)]
    out = {"tracks": len({r.track_id for r in rows if r.success}),
           "detected": sum(r.success for r in rows)}
    for name in ("valence", "arousal"):
        values = np.array([getattr(r, name) if r.success else np.nan for r in rows])
        before, after = np.nanmean(values[cut - 10:cut]), np.nanmean(values[-15:])
        change = after - before
        reached = np.flatnonzero((values[cut:] - before) / change >= 0.9) if abs(change) > 1e-6 \
            else []
        out[name] = (float(before), float(after), int(reached[0]) + 1 if len(reached) else None)
    return out
