"""OpenFace 2.2's 56 eye landmarks (eye_lmk_*) derived from MediaPipe's mesh.

OpenFace fits a 28-point model to each eye (model "left_eye_28" on iBUG 36-41, "right_eye_28" on
42-47; lib/local/LandmarkDetector/model/main_ceclm_general.txt) and writes eye 0's 28 points, then
eye 1's. Per eye, in OpenFace's order (its drawing code closes the contours 0-7, 8-19 and 20-27;
the order within each was read off an OpenFace 2.2 output):

- 0-7: iris (limbus) contour, from the image-left point clockwise on screen: left, upper left,
  top, upper right, right, lower right, bottom, lower left. OpenFace's gaze takes their mean as
  the pupil's position.
- 8-19: eyelids: 8 the image-left corner, 9-13 along the upper lid, 14 the image-right corner,
  15-19 back along the lower lid. 8, 10, 12, 14, 16, 18 are where iBUG's six eye points are (for
  eye 0: 36, 37, 38, 39, 40, 41; eye 1: 42, ..., 47).
- 20-27: pupil contour.

What MediaPipe's mesh gives honestly:

- Eyelids: the corners are MediaPipe's (33 and 133, 362 and 263); 9-13 and 15-19 are spaced
  evenly by arc length along MediaPipe's 9-point upper and lower lid contours, so 10 and 12 fall
  at a third and two thirds of the lid, as iBUG's 37 and 38 do.
- Iris: 0, 2, 4, 6 are MediaPipe's four iris boundary points (469-472, 474-477: right, top,
  left, bottom); 1, 3, 5, 7 lie on the ellipse through them, centred on their mean.
- Pupil: NaN. MediaPipe does not locate the pupil and its size changes with light, so no
  honest value can be derived.
"""
from __future__ import annotations

import numpy as np

EYE_LANDMARKS = 56
# MediaPipe's lid contours per eye (eye 0 = iBUG 36-41), in OpenFace's direction: the upper lid
# from the image-left corner (OpenFace's point 8) to the image-right one (14), the lower lid back.
LIDS = np.array([
    [(33, 246, 161, 160, 159, 158, 157, 173, 133), (133, 155, 154, 153, 145, 144, 163, 7, 33)],
    [(362, 398, 384, 385, 386, 387, 388, 466, 263), (263, 249, 390, 373, 374, 380, 381, 382, 362)],
])
IRIS_BOUNDARIES = np.array([(471, 470, 469, 472), (476, 475, 474, 477)])  # left, top, right, bottom
PUPIL = slice(20, 28)  # the NaN rows of each eye
_BETWEEN = np.arange(1, 6) / 6.0  # arc-length fractions of the 5 points inside each lid
# OpenFace's iris order as (horizontal, vertical) weights of the ellipse's radii; y points down
_IRIS_WEIGHTS = np.array([(np.cos(a), np.sin(a)) for a in np.pi + np.arange(8) * np.pi / 4])


def resample(polylines: np.ndarray, fractions: np.ndarray = _BETWEEN) -> np.ndarray:
    """(p, len(fractions), k) points at `fractions` of the arc length of polylines (p, n, k)."""
    steps = np.sqrt((np.diff(polylines, axis=1) ** 2).sum(2))  # (p, n - 1)
    along = np.cumsum(steps, axis=1)
    wanted = along[:, -1:] * fractions  # (p, m)
    segment = (along[:, None, :] < wanted[:, :, None]).sum(2)  # the step each point falls on
    line = np.arange(len(polylines))[:, None]
    share = 1.0 - (along[line, segment] - wanted) / steps[line, segment]
    start = polylines[line, segment]
    return start + share[..., None] * (polylines[line, segment + 1] - start)


def eye_landmarks(points: np.ndarray) -> np.ndarray:
    """(56, k) float32 OpenFace eye landmarks from MediaPipe's points (478, k) (pixels or mm, any
    k); rows 0-27 eye 0 (iBUG 36-41), 28-55 eye 1; the pupil rows (20-27, 48-55) are NaN."""
    points = np.asarray(points, np.float64)
    out = np.full((2, 28, points.shape[1]), np.nan)
    polylines = points[LIDS]  # (eye, lid, 9, k)
    inside = resample(polylines.reshape(4, 9, -1)).reshape(2, 2, 5, -1)  # (eye, lid, 5, k)
    out[:, 8], out[:, 14] = polylines[:, 0, 0], polylines[:, 0, -1]
    out[:, 9:14], out[:, 15:20] = inside[:, 0], inside[:, 1]
    boundary = points[IRIS_BOUNDARIES]  # (eye, 4, k): left, top, right, bottom
    radii = np.stack([boundary[:, 2] - boundary[:, 0], boundary[:, 3] - boundary[:, 1]], 1) / 2
    out[:, 0:8] = boundary.mean(1)[:, None] + _IRIS_WEIGHTS @ radii
    out[:, 0:8:2] = boundary  # MediaPipe's own four points, exactly
    return out.reshape(EYE_LANDMARKS, -1).astype(np.float32)
