"""FaceTracker: MediaPipe Face Landmarker per frame, stable track ids, head pose and aligned
crops."""
from __future__ import annotations

import atexit
import contextlib
import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor  # imports its exit hook before ours below

import numpy as np

from .assets import resolve
from .errors import AffectStreamError
from .geometry import align_face, box_iou, euler_from_matrix
from .heap import trim
from .landmarker import Landmarker
from .logs import quiet_native_logs
from .small_faces import MIN_SEARCH_SCORE, TileSearch, roi_window
from .stills import SMALL_FACE_VIEWS, consensus, padded_view, still_windows
from .tracking import TrackAssigner, match_scores, suppress_duplicates
from .types import Face, Frame

# MediaPipe's blendshape order (index 0 is its catch-all "_neutral").
BLENDSHAPE_NAMES: tuple[str, ...] = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft",
    "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
    "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft",
    "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen", "jawRight",
    "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft",
    "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper",
    "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft",
    "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight",
)

# A face starts a track at once only with a detector score this high; other faces (small, turned,
# or a fit on a damaged frame) need a second sighting in the next frame.
MIN_NEW_SCORE = 0.8

_open_trackers: weakref.WeakSet = weakref.WeakSet()


def _close_open_trackers() -> None:
    # MediaPipe's own finalisers fail noisily at interpreter exit; close what users left open first.
    for tracker in list(_open_trackers):
        with contextlib.suppress(Exception):
            tracker.close()


# Thread-exit hooks run last-registered first, so this runs before concurrent.futures stops the
# executor MediaPipe closes its tasks on; plain atexit would run after it.
getattr(threading, "_register_atexit", atexit.register)(_close_open_trackers)


class FaceTracker:
    """Faces in a frame: 478 landmarks, 52 blendshapes, head pose, aligned crop and a stable
    track_id.

    mode: "video" for ordered frames (files and cameras) or "image" for unrelated stills. Video:
    MediaPipe tracks the faces it finds in the whole frame; a detector sweep over tiles finds faces
    too small for that (down to ~1/20 of the frame's width), and those are read in a crop around
    them in every frame (see small_faces.py). Stills: searched whole and in overlapping tiles, then
    in padded and enlarged views when that finds nothing. Each face's `score` is its own
    detection's score; see tracking.py for when a face starts a track and what its id promises.
    """

    def __init__(self, model_path: str | os.PathLike | None = None, *, max_faces: int = 4,
                 mode: str = "video", max_gap: float = 1.0, crop_size: int = 112,
                 min_new_score: float = MIN_NEW_SCORE):
        if mode not in ("video", "image"):
            raise AffectStreamError(f"unknown tracker mode {mode!r}; use 'video' or 'image'")
        if max_faces < 1:
            raise AffectStreamError("max_faces must be at least 1")
        self.mode, self.crop_size, self.max_gap = mode, crop_size, max_gap
        self.min_new_score, self.max_faces = min_new_score, max_faces
        self.beyond_limit = 0  # faces the last frame held beyond max_faces, dropped
        self._path = resolve("face_landmarker", model_path)
        self._full = self._roi = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="affectstream-detector")
        _open_trackers.add(self)
        self.tracks = TrackAssigner(max_gap)
        self.search = TileSearch()
        self._open()

    def _open(self) -> None:
        """Start MediaPipe's tasks afresh (a new timeline for VIDEO mode)."""
        video = self.mode == "video"
        self._full = Landmarker(self._path, video=video, num_faces=self.max_faces,
                                pool=self._pool)
        if video:  # crops around small faces: one face each, unrelated images to MediaPipe
            self._roi = Landmarker(self._path, video=False, num_faces=1, pool=self._pool)
        self._last_ms = -1
        self._warm = False

    def track(self, frame: Frame) -> list[Face]:
        """The faces in `frame`, largest first; frames must come in timestamp order in video
        mode."""
        image = np.ascontiguousarray(frame.image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or not image.size:
            raise AffectStreamError(f"frame {frame.index}: an image must be (H, W, 3) uint8 RGB "
                                    f"with H, W > 0; got {image.dtype} {image.shape}")
        if not self._warm:  # the first inference logs from C++ too
            self._warm = True
            with quiet_native_logs():
                return self.track(frame)
        if self.mode == "video":
            found, detected = self._video(image, frame.timestamp)
            view, (scale, pad) = image, (1.0, 0)
        else:
            found, still_detected, view, (scale, pad) = self._still(image)
            detected = (still_detected,)
        found = sorted(found, key=lambda f: -f[0][2] * f[0][3])
        found = [found[j] for j in suppress_duplicates([f[0] for f in found])]
        self.beyond_limit = max(0, self._seen(found, detected) - self.max_faces)
        found = found[: self.max_faces]
        scores = match_scores([f[0] for f in found], *detected)
        accept = None
        if self.mode == "video":  # one-frame fits on clouds, text or damage must not become faces
            accept = lambda j: scores[j] is not None and scores[j] >= self.min_new_score  # noqa: E731
        ids = self.tracks.assign([f[0] for f in found], frame.timestamp, accept)
        faces = []
        for (box, lm, blend, matrix), score, tid in zip(found, scores, ids):
            if tid is None:
                continue
            crop = align_face(view, lm, self.crop_size)
            if scale != 1 or pad:  # back from the padded, enlarged view
                lm = lm / scale
                lm[:, :2] -= pad
                box = (box[0] / scale - pad, box[1] / scale - pad, box[2] / scale, box[3] / scale)
            faces.append(Face(track_id=tid, box=box, score=score, landmarks=lm, blendshapes=blend,
                              pose=euler_from_matrix(matrix), crop=crop))
        return faces

    def _seen(self, found: list, detected: tuple) -> int:
        """How many faces this frame holds: readings or confident detections, whichever are more
        (MediaPipe's landmarker returns at most max_faces; its detector has no such limit)."""
        confident = [box for group in detected for box, score in group
                     if score >= self.min_new_score]
        return max(len(found), len(suppress_duplicates(confident)))

    def _video(self, image: np.ndarray, timestamp: float):
        """Readings for a video frame: MediaPipe's own tracking on the whole frame, then crops
        around the tracks and tile detections it did not cover.

        Returns (found, (the whole frame's detections, the crops' detections)).
        """
        height, width = image.shape[:2]
        # MediaPipe needs strictly increasing integer milliseconds.
        ms = max(int(round(timestamp * 1000)), self._last_ms + 1)
        self._last_ms = ms
        tiles = self.search.windows(height, width)
        sweep = self._roi.detect_beside(image, tiles)
        found, detected = self._full.read(image, ms=ms)
        boxes = [f[0] for f in found]
        wanted = self.tracks.uncovered(boxes, timestamp)
        searched = [d for d in sweep.result() if d[1] >= MIN_SEARCH_SCORE]
        wanted += [d[0] for d in sorted(searched, key=lambda d: -d[1])
                   if not any(_overlaps(d[0], b) for b in boxes + wanted)]
        cropped = []
        for box in wanted[: self.max_faces]:
            more, more_detected = self._roi.read(image, roi_window(box, height, width))
            # a crop may hold part of a neighbour: only the face it was cut for counts
            more = [r for r in more if _overlaps(r[0], box) or _overlaps(box, r[0])]
            found, cropped = found + more, cropped + more_detected
        return found, (detected, cropped)

    def _still(self, image: np.ndarray):
        """Readings for a photo: whole and in tiles, then padded and enlarged views when that finds
        nothing.

        Returns (found, detected, the image the readings refer to, (scale, pad)).
        """
        found, detected = self._full.read(image)
        for window in still_windows(*image.shape[:2]):
            more, more_detected = self._full.read(image, window)
            found, detected = found + more, detected + more_detected
        if found:
            return consensus(found), detected, image, (1.0, 0)
        for pad_fraction, side, border in SMALL_FACE_VIEWS:
            view, scale, pad = padded_view(image, pad_fraction, side, border)
            found, detected = self._full.read(view)
            if found:
                return found, detected, view, (scale, pad)
        return [], [], image, (1.0, 0)

    def alive(self) -> set[int]:
        """The ids of the tracks held now, detected in this frame or not (TrackAssigner.held)."""
        return self.tracks.held()

    def reset(self) -> None:
        """Start a new timeline: MediaPipe's state and the track ids start over (ids from 0)."""
        self._close_tasks()
        trim()  # what the closed tasks freed, back to the OS: one input after another stays flat
        self.tracks = TrackAssigner(self.max_gap)
        self.search.reset()
        self._open()

    def _close_tasks(self) -> None:
        for task in (self._full, self._roi):
            if task is not None:
                task.close()
        self._full = self._roi = None

    def close(self) -> None:
        """Release MediaPipe and the detector thread; safe to call twice."""
        self._close_tasks()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        if getattr(self, "_full", None) is not None:
            try:
                self.close()
            except Exception:  # interpreter shutdown: MediaPipe's C side may already be gone
                pass


def _overlaps(box, other) -> bool:
    """`box` is at least partly the same face as `other` (a detection box and a landmark box of
    one face differ in shape, so any clear overlap or a centre inside counts)."""
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    inside = other[0] <= cx <= other[0] + other[2] and other[1] <= cy <= other[1] + other[3]
    return inside or box_iou(box, other) >= 0.2
