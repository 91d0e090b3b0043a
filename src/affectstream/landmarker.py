"""MediaPipe's Face Landmarker and the face detector bundled in its .task file, run side by side.

The landmarker reports no confidence, so the detector gives each face its score; both release the
GIL, so the detector runs on a worker thread while the landmarker runs, at no wall-clock cost.
MediaPipe's images are built and freed in turn across threads (see mediapipe_threads.py).
"""
from __future__ import annotations

import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from mediapipe.tasks.python import BaseOptions, vision

from .errors import AffectStreamError
from .logs import quiet_native_logs
from .mediapipe_threads import calling, lend, registering, release
from .mesh_result import MeshReader

# MediaPipe's presence and tracking thresholds (its defaults).
MIN_CONFIDENCE = 0.5
# The detector's own floor: weak detections still score faces the landmarker found.
MIN_DETECTOR_SCORE = 0.1

Window = tuple[int, int, int, int]  # x, y, width, height in image pixels
Reading = tuple  # (box, landmarks (478, 3), blendshapes (52,), 4×4 transformation matrix)
Detection = tuple  # (box, score)


class Landmarker:
    """One Face Landmarker + face detector pair in MediaPipe's VIDEO or IMAGE running mode."""

    def __init__(self, path: Path, *, video: bool, num_faces: int, pool: ThreadPoolExecutor):
        self.video, self._pool = video, pool
        running = vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE
        with registering(), quiet_native_logs():
            try:
                self._landmarker = vision.FaceLandmarker.create_from_options(
                    vision.FaceLandmarkerOptions(
                        base_options=BaseOptions(model_asset_path=str(path)), running_mode=running,
                        num_faces=num_faces, min_face_detection_confidence=MIN_CONFIDENCE,
                        min_face_presence_confidence=MIN_CONFIDENCE,
                        min_tracking_confidence=MIN_CONFIDENCE, output_face_blendshapes=True,
                        output_facial_transformation_matrixes=True))
                with zipfile.ZipFile(path) as bundle:
                    detector_model = bundle.read("face_detector.tflite")
                self._detector = vision.FaceDetector.create_from_options(
                    vision.FaceDetectorOptions(
                        base_options=BaseOptions(model_asset_buffer=detector_model),
                        running_mode=running, min_detection_confidence=MIN_DETECTOR_SCORE))
                self._mesh = MeshReader(self._landmarker)
            except (RuntimeError, ValueError, KeyError, zipfile.BadZipFile) as e:
                raise AffectStreamError(
                    f"{path}: MediaPipe cannot load this model file ({e}); "
                    "run `affectstream models fetch` to get a verified copy") from None

    def read(self, image: np.ndarray, window: Window | None = None,
             ms: int | None = None) -> tuple[list[Reading], list[Detection]]:
        """Landmarks and detections in image[y:y+h, x:x+w] (whole image when None), in
        whole-image pixels; `ms` is the frame's timestamp in VIDEO mode."""
        view, offset = _view(image, window)
        height, width = view.shape[:2]
        made, job = lend(view), None  # lent to the worker thread too, freed here after it
        try:
            job = self._pool.submit(self._detect, made, offset, ms)
            with calling():
                points, scores, matrices = self._mesh.read(made[0], ms if self.video else None)
            detected = job.result()
        finally:  # exception() waits for the worker thread to be done with the image
            release(made, job.exception() if job is not None else None)
        found = []
        # in float64, then float32: as Python floats computed it before
        scale, offset = np.array([width, height, width], np.float64), np.array([*offset, 0.0])
        for k, normalised in enumerate(points):
            lm = (normalised.astype(np.float64) * scale + offset).astype(np.float32)
            lo, hi = lm[:, :2].min(0), lm[:, :2].max(0)
            box = (float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]))
            found.append((box, lm, scores[k], matrices[k]))
        return found, detected

    def detect_beside(self, image: np.ndarray, windows: list[Window]) -> Future:
        """The detector alone on each window (IMAGE mode), in whole-image pixels, on the worker
        thread, which cuts the windows and builds their images itself (beside the landmarker)."""
        return self._pool.submit(self._detect_windows, image, windows)

    def _detect_windows(self, image: np.ndarray, windows: list[Window]) -> list[Detection]:
        detected = []
        for window in windows:
            view, offset = _view(image, window)
            made, error = lend(view), None  # one at a time: the other thread's turn comes
            try:
                detected += self._detect(made, offset, None)
            except BaseException as e:
                error = e
                raise
            finally:
                release(made, error)
        return detected

    def _detect(self, made: list, offset: tuple[int, int], ms: int | None) -> list[Detection]:
        x0, y0 = offset
        with calling():
            result = (self._detector.detect_for_video(made[0], ms) if self.video
                      else self._detector.detect(made[0]))
        return [((d.bounding_box.origin_x + x0, d.bounding_box.origin_y + y0,
                  d.bounding_box.width, d.bounding_box.height), d.categories[0].score)
                for d in result.detections]

    def close(self) -> None:
        """Release both MediaPipe tasks; safe to call twice."""
        with calling(), quiet_native_logs():
            for task in (self._landmarker, self._detector):
                if task is not None:
                    task.close()
            # the last references, so that the tasks' finalisers run inside the section too
            task = self._landmarker = self._detector = self._mesh = None


def _view(image: np.ndarray, window: Window | None) -> tuple[np.ndarray, tuple[int, int]]:
    """The window's pixels (contiguous, as MediaPipe wants) and its top-left corner."""
    if window is None:
        return image, (0, 0)
    x, y, w, h = window
    return np.ascontiguousarray(image[y:y + h, x:x + w]), (x, y)

