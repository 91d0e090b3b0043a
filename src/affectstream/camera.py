"""Camera space: MediaPipe's mesh back-projected into millimetres through an assumed pinhole
camera, as OpenFace reports landmarks_3d and pose_T.

Axes: x right, y down, z forward (away from the camera), origin at the camera centre; OpenFace's
convention.

The camera (no calibration given): the one OpenFace assumes, principal point at the image centre
and one focal length for both axes, the mean of 500 px at 640 wide and 500 px at 480 high
(OpenFace 2.2, lib/local/Utilities/src/SequenceCapture.cpp, SetCameraIntrinsics).

The metric scale: MediaPipe's x, y are the projection of each point and z its depth relative to
the head, on the x pixel scale. At depth Z one pixel spans Z / f mm, so each point lies at
Z_i = Z0 (1 + (z_i - z_ref) / f) on its pixel's ray, and one length fixes Z0: the 3-D distance
between the outer eye corners (mesh 33 and 263) is set to EX_EX_MM. It is measured with depth
included, so turning the head does not change it.

EX_EX_MM = 88.9: the distance between vertices 33 and 263 of MediaPipe's canonical metric face
model (mediapipe/modules/face_geometry/data/canonical_face_model.obj, shipped in
face_landmarker.task as geometry_pipeline_metadata_landmarks.binarypb; centimetres), the face
MediaPipe itself fits in metric units. For comparison: OpenFace's mean shape puts iBUG 36 and 45
90.8 mm apart (the reference CSV in shared/media/reference); Farkas' adult norms for the biocular
width (ex-ex) are about 87-91 mm.

translation: the head centre, defined as the centroid of the 68 iBUG points (MESH_TO_68) in camera
space; on OpenFace's own reference output the 68-point centroid lies within 1 % of its pose_T.
"""
from __future__ import annotations

import math

import numpy as np

from .landmarks68 import MESH_TO_68

EX_EX_MM = 88.9  # outer eye corner to outer eye corner, mm (MediaPipe's canonical face)
OUTER_EYE_CORNERS = (33, 263)  # mesh indices: iBUG 36 and 45
_MEAN_68 = np.zeros(478)  # weights: the mean over the 68 iBUG points, as one dot product
_MEAN_68[list(MESH_TO_68)] = 1.0 / len(MESH_TO_68)


def focal_length(width: int, height: int) -> float:
    """OpenFace's focal length in pixels for an uncalibrated camera: mean of 500·W/640 and
    500·H/480."""
    return (500.0 * width / 640.0 + 500.0 * height / 480.0) / 2.0


def camera_space(landmarks: np.ndarray, width: int, height: int, *,
                 focal: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(points_mm (478, 3) float32, translation (3,) float64 mm) for one face.

    landmarks: (478, 3) MediaPipe mesh in pixels of a width × height image, z relative depth on
    the x pixel scale; focal: pixels, OpenFace's assumption when None. translation is the
    centroid of the 68 iBUG points (see the module docstring).
    """
    lm = np.asarray(landmarks, np.float64)
    f = focal_length(width, height) if focal is None else float(focal)
    # each point's depth relative to the 68 points' mean, in units of the head centre's depth
    shifted = lm - np.array((width / 2.0, height / 2.0, lm[:, 2] @ _MEAN_68))
    relief = shifted[:, 2] / f + 1.0
    scaled = shifted * (relief / f)[:, None]  # each pixel's ray (u - cx, v - cy, f) / f, × relief
    scaled[:, 2] = relief
    a, b = OUTER_EYE_CORNERS
    gap = scaled[a] - scaled[b]
    points = scaled * (EX_EX_MM / math.sqrt(gap @ gap))
    return points.astype(np.float32), _MEAN_68 @ points
