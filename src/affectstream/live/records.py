"""What the live outputs send: one JSON message per processed frame, one flat sample per face.

The message (WebSocket clients, the demo's WebRTC data channel), one per frame:

    {"type": "affect", "frame": 12, "timestamp": 0.4, "captured": 1764523456.123,
     "latency_ms": 14.2, "faces": [{"face_id": 0, "detected": true, "box": [x, y, w, h],
     "valence": 0.31, "arousal": 0.12, "valence_std": 0.05, "arousal_std": 0.04,
     "au": {"AU01": 0.2, ...}, "emotion": {"neutral": 0.7, ...}, "top_emotion": "neutral"}]}

`captured` is the frame's capture instant in Unix seconds (this machine's wall clock), so a
consumer in another process can measure its own delay; `timestamp` is seconds into the stream.
A frame without a face has `"faces": []`. A held estimate (a tracked face the detector missed)
has `"detected": false`, no box and no emotion. Missing numbers are null.

The sample (LSL), one per face and frame, float32 in SAMPLE_CHANNELS order; NaN where a value is
missing. A frame without a face gives one sample with face_id −1 and detected 0.
"""
from __future__ import annotations

import math
import time

from ..types import AU_NAMES, EMOTION_NAMES, Affect

# (label, unit, type) of every sample channel, in order: the layout LSL consumers read
SAMPLE_CHANNELS: tuple[tuple[str, str, str], ...] = (
    ("face_id", "id", "Identifier"),  # −1: no face in this frame
    ("detected", "boolean", "Flag"),  # 1: detected in this frame; 0: held estimate or no face
    ("frame", "count", "Index"),
    ("valence", "normalized", "Valence"),  # −1…1
    ("arousal", "normalized", "Arousal"),
    ("valence_std", "normalized", "Uncertainty"),
    ("arousal_std", "normalized", "Uncertainty"),
    *((au, "intensity", "ActionUnit") for au in AU_NAMES),  # FACS intensity 0…5
    *((f"emotion_{e}", "probability", "Emotion") for e in EMOTION_NAMES),
)
SAMPLE_LABELS: tuple[str, ...] = tuple(label for label, _, _ in SAMPLE_CHANNELS)


def wall_clock(captured_at: float | None) -> float | None:
    """A time.perf_counter() instant as Unix seconds (None stays None)."""
    if captured_at is None:
        return None
    return time.time() - (time.perf_counter() - captured_at)


def _number(value: float | None, digits: int) -> float | None:
    if value is None or math.isnan(value):
        return None
    return round(float(value), digits)


def face_record(row: Affect) -> dict:
    """One face of a frame's message (see the module's docstring)."""
    face = {"face_id": row.track_id, "detected": row.success,
            "box": None if row.box is None else [round(float(v), 1) for v in row.box]}
    for name in ("valence", "arousal", "valence_std", "arousal_std"):
        face[name] = _number(getattr(row, name), 4)
    face["au"] = {k: _number(v, 3) for k, v in (row.au or {}).items()}
    face["emotion"] = {k: _number(v, 4) for k, v in (row.emotion or {}).items()}
    face["top_emotion"] = max(row.emotion, key=row.emotion.get) if row.emotion else None
    return face


def frame_message(rows: list[Affect]) -> dict:
    """One frame's rows as the message live consumers get."""
    first = rows[0]
    latency = None if first.latency_ms is None else round(first.latency_ms, 2)
    captured = wall_clock(first.captured_at)
    return {"type": "affect", "frame": first.frame, "timestamp": round(first.timestamp, 6),
            "captured": None if captured is None else round(captured, 6), "latency_ms": latency,
            "faces": [face_record(r) for r in rows if r.track_id is not None]}


def sample(row: Affect) -> list[float]:
    """One row as a flat sample in SAMPLE_CHANNELS order (NaN where missing)."""
    nan = float("nan")

    def value(v):
        return nan if v is None else float(v)

    au, emotion = row.au or {}, row.emotion or {}
    return [value(-1 if row.track_id is None else row.track_id), float(row.success),
            float(row.frame), value(row.valence), value(row.arousal), value(row.valence_std),
            value(row.arousal_std), *(value(au.get(a)) for a in AU_NAMES),
            *(value(emotion.get(e)) for e in EMOTION_NAMES)]
