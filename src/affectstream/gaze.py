"""Eye gaze from the iris and a model eyeball, in camera space, as OpenFace 2.2 estimates it.

The model (OpenFace 2.2, lib/local/GazeAnalyser/src/GazeEstimation.cpp, EstimateGaze): each eye
is a sphere of radius 12 mm whose centre sits at the midpoint of the eye's two corners plus an
offset in head coordinates, 7 mm back into the head. The ray from the camera through the iris
centre meets the sphere's near side; the gaze is the unit vector from the centre to that point, so
it points from the eye towards what is looked at (z < 0 for a person looking at the camera). Where
noise puts the iris ray just outside the sphere, the sphere's point nearest the ray is used.

One change: OpenFace also lifts the centre 3.5 mm, tuned to its own eye-corner landmarks. From
MediaPipe's corners that lift reads people looking into the lens as looking down by 0.18-0.31 rad
(gaze_angle_y on 7 such faces in shared/media/images); without it they read -0.11 to +0.03, and a
look upwards (WolfgangLanger frame 232) reads up rather than down. Pass offset=(0, -3.5, 7) for
OpenFace's exact geometry.

Here the corners are mesh 33/133 (eye 0) and 362/263 (eye 1), the iris centres mesh 468 and 473
(MediaPipe's iris model), and the head's axes come from the mesh itself: x from outer eye corner
33 to 263, y from the nose bridge (168) towards the chin (152) made orthogonal to x, z = x × y.
Eye 0 is iBUG's 36-41 eye (the person's right), the image's left eye for an upright face; OpenFace's
gaze_0 is the same eye.

gaze_angle, as OpenFace's GetGazeAngle: the two vectors' mean g, then (atan2(g_x, -g_z),
atan2(g_y, -g_z)) radians; x > 0 looking towards the image's right, y > 0 looking down.
"""
from __future__ import annotations

import math

import numpy as np

EYEBALL_RADIUS_MM = 12.0
# eyeball centre from the corners' midpoint, head coordinates (x right, y down, z into the head)
EYEBALL_OFFSET_MM = (0.0, 0.0, 7.0)
# mesh indices per eye, eye 0 = iBUG 36-41: its two corners and its iris centre
EYES = ((33, 133, 468), (362, 263, 473))
HEAD_X = (33, 263)  # outer eye corners
HEAD_Y = (168, 152)  # nose bridge between the eyes, chin
_USED = sorted({i for eye in EYES for i in eye} | {*HEAD_X, *HEAD_Y})

# The maths below is on 3-tuples of floats: a dozen 3-vectors per face, where each numpy call
# costs more than its arithmetic (measured: a quarter of the time of the same steps in numpy).
Vector = tuple[float, float, float]


def _dot(a: Vector, b: Vector) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _axpy(alpha: float, a: Vector, b: Vector) -> Vector:
    """alpha·a + b."""
    return (alpha * a[0] + b[0], alpha * a[1] + b[1], alpha * a[2] + b[2])


def _unit(a: Vector) -> Vector:
    return _axpy(1.0 / math.sqrt(_dot(a, a)), a, (0.0, 0.0, 0.0))


def head_axes(points) -> tuple[Vector, Vector, Vector]:
    """The head's x (right), y (down) and z (into the head) unit axes in camera space, from
    points (478, 3)."""
    x = _unit(_axpy(-1.0, points[HEAD_X[0]], points[HEAD_X[1]]))
    y = _axpy(-1.0, points[HEAD_Y[0]], points[HEAD_Y[1]])
    y = _unit(_axpy(-_dot(y, x), x, y))
    z = (x[1] * y[2] - x[2] * y[1], x[2] * y[0] - x[0] * y[2], x[0] * y[1] - x[1] * y[0])
    return x, y, z


def eye_gaze(centre: Vector, iris: Vector, radius: float = EYEBALL_RADIUS_MM) -> Vector:
    """Unit vector from the eyeball `centre` (mm) to where the camera ray through `iris` (mm)
    meets the sphere's near side (the sphere's point nearest the ray when it misses)."""
    ray = _unit(iris)
    along = _dot(ray, centre)  # distance along the ray to its point nearest the centre
    inside = along * along + radius * radius - _dot(centre, centre)
    hit = _axpy(along - math.sqrt(max(inside, 0.0)), ray, (0.0, 0.0, 0.0))
    return _unit(_axpy(-1.0, centre, hit))


def gaze(points_mm: np.ndarray, *, radius: float = EYEBALL_RADIUS_MM,
         offset: Vector = EYEBALL_OFFSET_MM) -> tuple[np.ndarray, np.ndarray]:
    """(vectors (2, 3) float32 unit, angle (2,) float32 radians) from points_mm (478, 3) in
    camera space (camera.camera_space); eye 0 = iBUG's 36-41 eye, angle = OpenFace's
    (gaze_angle_x, gaze_angle_y)."""
    points = dict(zip(_USED, np.asarray(points_mm, np.float64)[_USED].tolist()))
    x, y, z = head_axes(points)
    shift = _axpy(offset[0], x, _axpy(offset[1], y, _axpy(offset[2], z, (0.0, 0.0, 0.0))))
    vectors = []
    for a, b, iris in EYES:
        centre = _axpy(0.5, _axpy(1.0, points[a], points[b]), shift)
        vectors.append(eye_gaze(centre, points[iris], radius))
    mean = _axpy(1.0, vectors[0], vectors[1])  # twice the mean: the angles do not mind
    angle = (math.atan2(mean[0], -mean[2]), math.atan2(mean[1], -mean[2]))
    return np.array(vectors, np.float32), np.array(angle, np.float32)
