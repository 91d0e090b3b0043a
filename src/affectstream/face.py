"""FaceTracker: MediaPipe Face Landmarker per frame, stable track ids, head pose and aligned
crops."""
from __future__ import annotations

import atexit
import contextlib
import functools
import math
import os
import threading
import weakref
import zipfile
from concurrent.futures import ThreadPoolExecutor  # imports its exit hook before ours below

import cv2
import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import BaseOptions, vision

from .assets import resolve
from .errors import AffectStreamError
from .geometry import align_face, box_iou, euler_from_matrix
from .logs import quiet_native_logs
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


def still_windows(height: int, width: int, fraction: float = 0.6,
                  min_side: int = 320) -> list[tuple[int, ...]]:
    """Overlapping (x, y, w, h) tiles of a still, each `fraction` of its sides; none for small
    images.

    MediaPipe's detector sees the whole image at 128×128, so faces under ~1/6 of a group photo's
    width are missed; the same detector on tiles finds them.
    """
    if max(height, width) < min_side:
        return []
    th, tw = int(height * fraction), int(width * fraction)
    rows, cols = (2, 3) if width > 1.3 * height else (3, 2) if height > 1.3 * width else (2, 2)
    ys, xs = np.linspace(0, height - th, rows), np.linspace(0, width - tw, cols)
    return [(int(x), int(y), tw, th) for y in ys for x in xs]


# Tightly cropped small faces (FER's 48×48, AffectNet's crops) defeat MediaPipe's detector, which
# wants some context around a face of reasonable size: pad (fraction of the side), enlarge, retry.
# Measured on 400 FER+ images: 90 % found as they are (enlarged), 98 % with 50 % grey padding.
SMALL_FACE_VIEWS = ((0.5, 256, "constant"), (0.25, 192, "replicate"), (0.0, 192, "replicate"),
                    (1.0, 320, "constant"))


def padded_view(image: np.ndarray, pad_fraction: float, side: int,
                border: str) -> tuple[np.ndarray, float, int]:
    """(view, scale, pad): image padded by pad_fraction of its longer side, then scaled so that side
    is `side`.

    A point (x, y) of the image is at ((x + pad) * scale, (y + pad) * scale) in the view.
    """
    pad = int(round(pad_fraction * max(image.shape[:2])))
    mode = cv2.BORDER_CONSTANT if border == "constant" else cv2.BORDER_REPLICATE
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, mode, value=(128, 128, 128))
    scale = side / max(padded.shape[:2])
    interpolation = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
    view = cv2.resize(padded, None, fx=scale, fy=scale, interpolation=interpolation)
    return np.ascontiguousarray(view), scale, pad


def consensus(readings: list[tuple]) -> list[tuple]:
    """One reading per face from overlapping views of a still: the one that agrees best with the
    others.

    readings: (box, ...) tuples; boxes overlapping by IoU ≥ 0.3 are the same face. A poor landmark
    fit (a face too small for the full view) disagrees with the tiles' fits and loses.
    """
    chosen, left = [], list(readings)
    while left:
        group = [r for r in left if box_iou(r[0], left[0][0]) >= 0.3]
        left = [r for r in left if box_iou(r[0], left[0][0]) < 0.3]
        chosen.append(max(group, key=lambda r: sum(box_iou(r[0], o[0]) for o in group)))
    return chosen


def detector_score(box, detections: list) -> float | None:
    """The score of the detection overlapping `box` best (IoU ≥ 0.3), or None when none does."""
    iou, score = max(((box_iou(box, b), s) for b, s in detections), default=(0.0, None))
    return float(score) if iou >= 0.3 else None


class TrackAssigner:
    """Stable ids: greedy matching by box overlap (then centroid distance) to faces seen recently.

    A new face that `accept_new` rejects (a weak detection) is held back, and becomes a track when
    it is seen again in the next frame.

    A track unseen for more than `max_gap` seconds is forgotten, so a face that comes back later
    gets a new id.
    """

    def __init__(self, max_gap: float = 1.0, min_iou: float = 0.2):
        self.max_gap, self.min_iou = max_gap, min_iou
        self.tracks: dict[int, tuple[tuple[float, float, float, float], float]] = {}
        self.pending: list[tuple[float, float, float, float]] = []
        self.next_id = 0

    def assign(self, boxes: list, timestamp: float, accept_new=None) -> list[int | None]:
        """One id per box, in the order given; None for an unmatched box that `accept_new(j)`
        rejects."""
        self.tracks = {i: v for i, v in self.tracks.items() if timestamp - v[1] <= self.max_gap}
        pairs = []
        for j, box in enumerate(boxes):
            for tid, (old, _) in self.tracks.items():
                iou = box_iou(box, old)
                centre = math.dist((box[0] + box[2] / 2, box[1] + box[3] / 2),
                                   (old[0] + old[2] / 2, old[1] + old[3] / 2))
                near = centre < 0.5 * max(old[2], old[3])
                if iou >= self.min_iou or near:
                    pairs.append((iou + (0.01 if near else 0.0), j, tid))
        pending, self.pending = self.pending, []
        ids: list[int | None] = [None] * len(boxes)
        used = set()
        for _, j, tid in sorted(pairs, reverse=True):
            if ids[j] is None and tid not in used:
                ids[j] = tid
                used.add(tid)
        for j, box in enumerate(boxes):
            if ids[j] is None:
                seen_before = any(box_iou(box, p) >= self.min_iou for p in pending)
                if accept_new is not None and not accept_new(j) and not seen_before:
                    self.pending.append(tuple(box))  # a second sighting next frame confirms it
                    continue
                ids[j], self.next_id = self.next_id, self.next_id + 1
            self.tracks[ids[j]] = (tuple(box), timestamp)
        return ids

    def reset(self) -> None:
        """Forget every track; ids start again at 0."""
        self.tracks.clear()
        self.pending.clear()
        self.next_id = 0


# MediaPipe's presence and tracking thresholds (its defaults).
MIN_CONFIDENCE = 0.5

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

    mode: "video" for ordered frames (files and cameras; MediaPipe tracks between frames) or
    "image" for unrelated stills (searched whole and in overlapping tiles, so small faces in group
    photos are found, then, when that finds nothing, in padded and enlarged views, so tightly
    cropped small faces are found). score comes from MediaPipe's face detector (bundled in the same
    .task file), since the landmarker does not report a confidence; in video mode a face starts a
    track only with a detector score of at least `min_new_score` or when seen in two frames running.
    """

    def __init__(self, model_path: str | os.PathLike | None = None, *, max_faces: int = 4,
                 mode: str = "video", max_gap: float = 1.0, crop_size: int = 112,
                 min_new_score: float = 0.6):
        if mode not in ("video", "image"):
            raise AffectStreamError(f"unknown tracker mode {mode!r}; use 'video' or 'image'")
        if max_faces < 1:
            raise AffectStreamError("max_faces must be at least 1")
        self.mode, self.crop_size, self.max_gap = mode, crop_size, max_gap
        self.min_new_score, self.max_faces = min_new_score, max_faces
        self._path = resolve("face_landmarker", model_path)
        self._landmarker = self._detector = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="affectstream-detector")
        _open_trackers.add(self)
        self.tracks = TrackAssigner(max_gap)
        self._open()

    def _open(self) -> None:
        """Start MediaPipe's tasks afresh (a new timeline for VIDEO mode)."""
        path = self._path
        running = vision.RunningMode.VIDEO if self.mode == "video" else vision.RunningMode.IMAGE
        with quiet_native_logs():
            try:
                self._landmarker = vision.FaceLandmarker.create_from_options(
                    vision.FaceLandmarkerOptions(
                        base_options=BaseOptions(model_asset_path=str(path)), running_mode=running,
                        num_faces=self.max_faces, min_face_detection_confidence=MIN_CONFIDENCE,
                        min_face_presence_confidence=MIN_CONFIDENCE,
                        min_tracking_confidence=MIN_CONFIDENCE, output_face_blendshapes=True,
                        output_facial_transformation_matrixes=True))
                with zipfile.ZipFile(path) as bundle:
                    detector_model = bundle.read("face_detector.tflite")
                self._detector = vision.FaceDetector.create_from_options(
                    vision.FaceDetectorOptions(
                        base_options=BaseOptions(model_asset_buffer=detector_model),
                        running_mode=running, min_detection_confidence=0.1))
            except (RuntimeError, ValueError, KeyError, zipfile.BadZipFile) as e:
                raise AffectStreamError(
                    f"{path}: MediaPipe cannot load this model file ({e}); "
                    "run `affectstream models fetch` to get a verified copy") from None
        self._last_ms = -1
        self._warm = False

    def track(self, frame: Frame) -> list[Face]:
        """The faces in `frame`, largest first; frames must come in timestamp order in video
        mode."""
        image = np.ascontiguousarray(frame.image)
        if not self._warm:  # the first inference logs from C++ too
            self._warm = True
            with quiet_native_logs():
                return self.track(frame)
        if self.mode == "video":
            # MediaPipe needs strictly increasing integer milliseconds.
            ms = max(int(round(frame.timestamp * 1000)), self._last_ms + 1)
            self._last_ms = ms
            found, detected = self._landmarks(image, (0, 0), ms)
        else:
            found, detected, image, (scale, pad) = self._still(image)
        found = sorted(found, key=lambda f: -f[0][2] * f[0][3])[: self.max_faces]
        scores = [detector_score(f[0], detected) for f in found]
        # In video a new track needs a clear detection or a second sighting: one-frame landmark fits
        # on clouds or text would otherwise become faces. Confirmed tracks survive detector misses.
        accept = None
        if self.mode == "video":
            accept = lambda j: scores[j] is not None and scores[j] >= self.min_new_score  # noqa: E731
        ids = self.tracks.assign([f[0] for f in found], frame.timestamp, accept)
        faces = []
        for (box, lm, blend, matrix), score, tid in zip(found, scores, ids):
            if tid is None:
                continue
            crop = align_face(image, lm, self.crop_size)
            if self.mode == "image" and (scale != 1 or pad):  # back from the padded, enlarged view
                lm = lm / scale
                lm[:, :2] -= pad
                box = (box[0] / scale - pad, box[1] / scale - pad, box[2] / scale, box[3] / scale)
            faces.append(Face(track_id=tid, box=box, score=score, landmarks=lm, blendshapes=blend,
                              pose=euler_from_matrix(matrix), crop=crop))
        return faces

    def _still(self, image: np.ndarray):
        """Readings for a photo: whole and in tiles, then padded and enlarged views when that finds
        nothing.

        Returns (found, detected, the image the readings refer to, (scale, pad)).
        """
        found, detected = self._landmarks(image, (0, 0))
        for window in still_windows(*image.shape[:2]):
            more, more_detected = self._landmarks(image, window[:2], size=window[2:])
            found, detected = found + more, detected + more_detected
        if found:
            return consensus(found), detected, image, (1.0, 0)
        for pad_fraction, side, border in SMALL_FACE_VIEWS:
            view, scale, pad = padded_view(image, pad_fraction, side, border)
            found, detected = self._landmarks(view, (0, 0))
            if found:
                return found, detected, view, (scale, pad)
        return [], [], image, (1.0, 0)

    def _landmarks(self, image: np.ndarray, offset: tuple[int, int], ms: int | None = None,
                   size=None):
        """MediaPipe on image[y:y+h, x:x+w], in full-image pixels.

        Returns ([(box, landmarks, blendshapes, matrix)], [(detector box, score)]).
        """
        x0, y0 = offset
        if size is not None:
            image = np.ascontiguousarray(image[y0:y0 + size[1], x0:x0 + size[0]])
        height, width = image.shape[:2]
        mp_image = mp.Image(image_format=mp.ImageFormat.SRGB, data=image)
        # The detector runs beside the landmarker (both release the GIL), so its score costs no wall
        # time.
        detect = (self._detector.detect if ms is None
                  else functools.partial(self._detector.detect_for_video, timestamp_ms=ms))
        pending = self._pool.submit(detect, mp_image)
        result = (self._landmarker.detect(mp_image) if ms is None
                  else self._landmarker.detect_for_video(mp_image, ms))
        detections = pending.result().detections
        found = []
        for k, points in enumerate(result.face_landmarks):
            lm = np.array([(p.x * width + x0, p.y * height + y0, p.z * width) for p in points],
                          np.float32)
            lo, hi = lm[:, :2].min(0), lm[:, :2].max(0)
            box = (float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]))
            blend = np.array([c.score for c in result.face_blendshapes[k]], np.float32)
            found.append((box, lm, blend, result.facial_transformation_matrixes[k]))
        detected = [((d.bounding_box.origin_x + x0, d.bounding_box.origin_y + y0,
                      d.bounding_box.width, d.bounding_box.height), d.categories[0].score)
                    for d in detections]
        return found, detected

    def alive(self) -> set[int]:
        """The ids of the tracks held now (seen within `max_gap`), detected in this frame or not."""
        return set(self.tracks.tracks)

    def reset(self) -> None:
        """Start a new timeline: MediaPipe's state and the track ids start over (ids from 0)."""
        self._close_tasks()
        self.tracks = TrackAssigner(self.max_gap)
        self._open()

    def _close_tasks(self) -> None:
        with quiet_native_logs():
            for task in (self._landmarker, self._detector):
                if task is not None:
                    task.close()
        self._landmarker = self._detector = None

    def close(self) -> None:
        """Release MediaPipe and the detector thread; safe to call twice."""
        self._close_tasks()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        if getattr(self, "_landmarker", None) is not None:
            try:
                self.close()
            except Exception:  # interpreter shutdown: MediaPipe's C side may already be gone
                pass
