"""The Face Landmarker's result read straight into arrays.

MediaPipe's Python API turns each result into 478 landmark objects per face (and our code then
back into an array): about 5 ms a frame on the thread that runs the tracker, a quarter of
what the landmarks cost. MediaPipe (≥ 1.2) hands the result over as a C struct that its own ctypes
classes describe; reading the coordinates through numpy views of that memory gives the same float32
values at a fraction of the cost. The struct is an implementation detail of MediaPipe, so
`MeshReader` compares both readings of the same result on its first face and falls back to the
public API, for good, if they differ or the struct is not there.
"""
from __future__ import annotations

import ctypes
import logging

import numpy as np

log = logging.getLogger(__name__)

Arrays = tuple  # ([(478, 3) normalised x, y, z], [(52,) blendshape scores], [4×4 matrices])


def _fields(struct: type, names: tuple[str, ...]) -> np.dtype:
    """A numpy view of `names` (all C floats) inside an array of the ctypes `struct`, laid out as
    ctypes lays it out."""
    return np.dtype({"names": list(names), "formats": [np.float32] * len(names),
                     "offsets": [getattr(struct, n).offset for n in names],
                     "itemsize": ctypes.sizeof(struct)})


def _view(pointer, count: int, dtype: np.dtype) -> np.ndarray:
    if not count:
        return np.zeros(0, dtype)
    buffer = (ctypes.c_char * (count * dtype.itemsize)).from_address(
        ctypes.addressof(pointer.contents))
    return np.frombuffer(buffer, dtype)


def _public(result) -> Arrays:
    """The same arrays from MediaPipe's public FaceLandmarkerResult."""
    return ([np.array([(p.x, p.y, p.z) for p in points], np.float32)
             for points in result.face_landmarks],
            [np.array([c.score for c in scores], np.float32)
             for scores in result.face_blendshapes],
            list(result.facial_transformation_matrixes))


class MeshReader:
    """Runs a `vision.FaceLandmarker` (IMAGE or VIDEO mode) and returns Arrays."""

    def __init__(self, landmarker):
        self.landmarker = landmarker
        self.verified = False
        try:
            from mediapipe.tasks.python.components.containers import category_c, landmark_c
            from mediapipe.tasks.python.vision import face_landmarker

            self._result_c = face_landmarker.MpFaceLandmarkerResultC
            self._points = _fields(landmark_c.MpNormalizedLandmarkC, ("x", "y", "z"))
            self._scores = _fields(category_c.MpCategoryC, ("score",))
            self._from_ctypes = face_landmarker.FaceLandmarkerResult.from_ctypes
            self.direct = all(hasattr(landmarker, a) for a in ("_lib", "_handle"))
        except (ImportError, AttributeError) as e:
            log.info("MediaPipe's result struct is not available (%s): public API", e)
            self.direct = False

    def read(self, image, ms: int | None) -> Arrays:
        """The landmarks of `image` (an mp.Image); `ms`: its timestamp in VIDEO mode."""
        if not self.direct:
            return _public(self.landmarker.detect_for_video(image, ms) if ms is not None
                           else self.landmarker.detect(image))
        lib, result = self.landmarker._lib, self._result_c()
        if ms is not None:
            lib.MpFaceLandmarkerDetectForVideo(self.landmarker._handle, image._image_ptr, None, ms,
                                               ctypes.byref(result))
        else:
            lib.MpFaceLandmarkerDetectImage(self.landmarker._handle, image._image_ptr, None,
                                            ctypes.byref(result))
        try:
            arrays = self._arrays(result)
            if not self.verified and arrays[0]:
                arrays = self._verify(arrays, _public(self._from_ctypes(result)))
        finally:
            lib.MpFaceLandmarkerCloseResult(ctypes.byref(result))
        return arrays

    def _arrays(self, result) -> Arrays:
        points, scores = [], []
        for i in range(result.face_landmarks_count):
            face = result.face_landmarks[i]
            view = _view(face.landmarks, face.landmarks_count, self._points)
            points.append(np.stack([view["x"], view["y"], view["z"]], 1))
        for i in range(result.face_blendshapes_count):
            categories = result.face_blendshapes[i]
            scores.append(_view(categories.categories, categories.categories_count,
                                self._scores)["score"].copy())
        matrices = [result.facial_transformation_matrixes[i].to_numpy()
                    for i in range(result.facial_transformation_matrixes_count)]
        return points, scores, matrices

    def _verify(self, arrays: Arrays, public: Arrays) -> Arrays:
        """`public` when `arrays` differ from it (and the public API from now on), else `arrays`.
        """
        if all(len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
               for a, b in zip(arrays, public)):
            self.verified = True
            return arrays
        log.warning("MediaPipe's result struct reads differently from its API: using the API")
        self.direct = False
        return public
