"""The shared vocabulary: plain dataclasses that cross module boundaries."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# OpenFace 2's 17 intensity action units, in the order every array and CSV uses.
AU_NAMES: tuple[str, ...] = (
    "AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12",
    "AU14", "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU45",
)
# The 12 DISFA action units (a subsequence of AU_NAMES): what the temporal models carry.
DISFA_AU_NAMES: tuple[str, ...] = (
    "AU01", "AU02", "AU04", "AU05", "AU06", "AU09",
    "AU12", "AU15", "AU17", "AU20", "AU25", "AU26",
)
# OpenFace 2's 18 presence AUs (AUxx_c): the 17 plus AU28 (lip suck), which has presence only.
PRESENCE_AU_NAMES: tuple[str, ...] = AU_NAMES[:16] + ("AU28", "AU45")
# The 8 FER+ emotion categories.
EMOTION_NAMES: tuple[str, ...] = (
    "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt",
)


@dataclass
class Frame:
    """One decoded video frame.

    index: 0-based position in the source; timestamp: seconds from the stream's start, from pts;
    image: (H, W, 3) uint8 RGB, upright; captured_at: `time.perf_counter()` when the frame left the
    decoder.
    """

    index: int
    timestamp: float
    image: np.ndarray
    captured_at: float = 0.0
    file: str | None = None  # the image file this frame was read from (image inputs only)


@dataclass
class Face:
    """One tracked face in one frame.

    box: (x, y, w, h) pixels; score: detector confidence 0–1 (None when the detector missed a face
    the landmarker still tracks); landmarks: (478, 3) float32 pixels (z on the x scale);
    blendshapes: (52,) float32 0–1 in MediaPipe's order; pose: (pitch, yaw, roll) degrees;
    crop: (S, S, 3) uint8 RGB face aligned to a fixed template.
    """

    track_id: int
    box: tuple[float, float, float, float]
    score: float | None
    landmarks: np.ndarray
    blendshapes: np.ndarray
    pose: tuple[float, float, float]
    crop: np.ndarray


@dataclass
class FrameOutput:
    """What a per-frame model says about one face.

    embedding: (D,) float32 or None; shape: (234,) float32 normalised landmarks the model read;
    valence/arousal: −1…1 or None; au: (17,) float32 0–5 in AU_NAMES order, NaN for an AU the model
    does not give, or None; emotion: (8,)
    logits in EMOTION_NAMES order or None; *_std: standard deviations, from a model that gives them.
    """

    embedding: np.ndarray | None = None
    shape: np.ndarray | None = None
    valence: float | None = None
    arousal: float | None = None
    au: np.ndarray | None = None
    emotion: np.ndarray | None = None
    valence_std: float | None = None
    arousal_std: float | None = None
    au_std: np.ndarray | None = None


@dataclass
class Affect:
    """The public result: one face in one frame, or one row with track_id None for a frame with no
    face.

    box: (x, y, w, h) pixels; pose: (pitch, yaw, roll) degrees; translation: the head's centre
    (x right, y down, z forward) in millimetres from the camera (camera.py says how it is
    estimated); landmarks: (478, 3) float32 MediaPipe mesh in pixels (z on the x scale);
    landmarks_3d: the same points in millimetres, camera space; gaze: (2, 3) unit vectors in
    camera space, eye 0 = iBUG points 36–41 (the person's right eye, the image's left when
    upright; OpenFace's gaze_0); gaze_angle: (x, y)
    radians, the two eyes' mean direction; au: {"AU01": 0–5, …}, the AUs a model gave (a held
    row may lack some); au_presence: {"AU01": 0 or 1, …} over PRESENCE_AU_NAMES;
    emotion: {"happiness": probability, …}; *_std: the temporal model's standard deviations;
    file: the image file of the row (image inputs); latency_ms: capture to result;
    captured_at: the capture instant on time.perf_counter()'s clock (live outputs use it; files
    do not). A stage that did not produce a value leaves its field None.
    A row with a track_id but no box is a held estimate: the temporal model's reading of a tracked
    face the detector missed in this frame (success is False; no box or pose; valence, arousal,
    AUs and emotions from the temporal model, with σ widening as the gap lasts).
    """

    frame: int
    timestamp: float
    track_id: int | None = None
    box: tuple[float, float, float, float] | None = None
    score: float | None = None
    pose: tuple[float, float, float] | None = None
    valence: float | None = None
    arousal: float | None = None
    valence_std: float | None = None
    arousal_std: float | None = None
    au: dict[str, float] | None = None
    au_std: dict[str, float] | None = None
    emotion: dict[str, float] | None = None
    latency_ms: float | None = None
    translation: tuple[float, float, float] | None = None
    landmarks: np.ndarray | None = field(default=None, repr=False)
    landmarks_3d: np.ndarray | None = field(default=None, repr=False)
    gaze: np.ndarray | None = field(default=None, repr=False)
    gaze_angle: tuple[float, float] | None = None
    au_presence: dict[str, int] | None = None
    file: str | None = None
    # time.perf_counter() when the frame was captured: live outputs stamp their samples with it
    captured_at: float | None = field(default=None, repr=False, compare=False)

    @property
    def success(self) -> bool:
        """True when a face was detected in this frame (OpenFace's `success`)."""
        return self.track_id is not None and self.box is not None


@dataclass
class Summary:
    """What one run over a source did; `stopped_at` is set when the source ended early on an
    error. A damaged source (`decode_errors` packets FFmpeg could not decode and skipped,
    `concealed_frames` frames it decoded with the damage patched over, `logged_errors` errors
    FFmpeg reported while reading it) keeps every row it gave."""

    source: str
    frames: int = 0
    faces: int = 0
    frames_with_face: int = 0
    seconds: float = 0.0
    output: str | None = None
    complete: bool = True
    stopped_at: int | None = None
    dropped: int = 0
    ids: set[int] = field(default_factory=set)
    decode_errors: int = 0
    concealed_frames: int = 0
    logged_errors: int = 0
    max_faces: int | None = None
    frames_beyond_limit: int = 0  # frames with more faces than max_faces: the smallest dropped
    most_beyond_limit: int = 0

    def beyond_limit(self, count: int) -> None:
        """Count a frame that held `count` faces more than max_faces."""
        if count > 0:
            self.frames_beyond_limit += 1
            self.most_beyond_limit = max(self.most_beyond_limit, count)

    def record(self, rows: list[Affect], dropped: int, seconds: float) -> None:
        """Count one finished frame's rows."""
        self.frames += 1
        self.dropped, self.seconds = dropped, seconds
        detected = [r for r in rows if r.success]
        if detected:
            self.frames_with_face += 1
            self.faces += len(detected)
            self.ids.update(r.track_id for r in detected)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def damaged(self) -> bool:
        """True when the source's data was damaged, even though reading went on."""
        return self.decode_errors + self.concealed_frames + self.logged_errors > 0

    @property
    def damage(self) -> str:
        """Like `12 decode errors (2 packets skipped, 10 frames concealed)`; empty when none."""
        counts = ((self.decode_errors, "packet", "skipped"),
                  (self.concealed_frames, "frame", "concealed"),
                  (self.logged_errors, "error", "reported by FFmpeg"))
        parts = [f"{n} {what}{'s' * (n != 1)} {done}" for n, what, done in counts if n]
        # a packet FFmpeg fails on is also logged: the larger count, not the sum
        total = max(self.decode_errors, self.logged_errors) + self.concealed_frames
        return f"{total} decode error{'s' * (total != 1)} ({', '.join(parts)})" if total else ""

    def __str__(self) -> str:
        text = (f"{self.source}: {self.frames} frames, {self.frames_with_face} with a face, "
                f"{len(self.ids)} track(s), {self.fps:.1f} fps")
        if self.dropped:
            text += f", {self.dropped} stale frames dropped"
        if self.output:
            text += f" -> {self.output}"
        if self.frames_beyond_limit:
            text += (f"; WARNING: {self.frames_beyond_limit} frame(s) held more faces than "
                     f"--max-faces {self.max_faces} (up to {self.most_beyond_limit} more); the "
                     "smallest were dropped")
        if self.damaged:
            text += f"; DAMAGED: {self.damage}"
        if not self.complete:
            where = ("before the first frame" if self.stopped_at is None
                     else f"after frame {self.stopped_at}")
            text += f"; INCOMPLETE: stopped {where}"
        return text


def main_track(rows: list[Affect]) -> int | None:
    """The main face of a run: the first track seen (the lowest id among detected rows)."""
    return min((r.track_id for r in rows if r.success), default=None)
