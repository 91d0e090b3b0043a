"""Face geometry as pure functions: alignment (Umeyama similarity), head pose (Euler angles),
boxes."""
from __future__ import annotations

import math

import cv2
import numpy as np

# Landmarks of the outer/inner eye corners and the mouth corners (MediaPipe's 478-point mesh).
RIGHT_EYE = (33, 133)
LEFT_EYE = (362, 263)
MOUTH = (61, 291)
# Where the eye centres and mouth corners land in the aligned crop, as fractions of its side:
# looser than face-recognition templates so brows and chin (AU01/02/04, AU17/26) stay inside.
CROP_TEMPLATE = np.array([[0.33, 0.40], [0.67, 0.40], [0.37, 0.74], [0.63, 0.74]], np.float32)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(2, 3) least-squares similarity (rotation, uniform scale, shift) mapping src (N, 2) onto dst
    (N, 2).

    Umeyama's closed form; no reflection.
    """
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1
    rot = u @ np.diag(sign) @ vt
    scale = (sig * sign).sum() / s.var(0).sum()
    shift = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, shift[:, None]]).astype(np.float32)


def alignment_matrix(landmarks: np.ndarray, size: float = 1.0) -> np.ndarray:
    """(2, 3) similarity taking landmarks (478, ≥2) pixels to a crop of side `size`
    (CROP_TEMPLATE)."""
    points = np.stack([
        landmarks[list(RIGHT_EYE), :2].mean(0), landmarks[list(LEFT_EYE), :2].mean(0),
        landmarks[MOUTH[0], :2], landmarks[MOUTH[1], :2],
    ])
    return similarity_transform(points, CROP_TEMPLATE * size)


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """(size, size, 3) uint8 crop with eyes and mouth on CROP_TEMPLATE; landmarks (478, ≥2)
    pixels."""
    matrix = alignment_matrix(landmarks, size)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def aligned_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """(478, 2) float32 landmarks in aligned-crop units (0–1 across the crop): pose- and scale-free
    shape."""
    matrix = alignment_matrix(landmarks)
    return (landmarks[:, :2] @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def euler_from_matrix(matrix: np.ndarray) -> tuple[float, float, float]:
    """(pitch, yaw, roll) in degrees from MediaPipe's 4×4 face transform
    (rotation about x, y, z)."""
    r = np.asarray(matrix)[:3, :3]
    r = r / np.linalg.norm(r, axis=0, keepdims=True)  # drop the scale MediaPipe folds in
    pitch = math.degrees(math.atan2(r[2, 1], r[2, 2]))
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, -r[2, 0]))))
    roll = math.degrees(math.atan2(r[1, 0], r[0, 0]))
    return pitch, yaw, roll


def box_iou(a, b) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


