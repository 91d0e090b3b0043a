"""AU intensities from MediaPipe's ARKit-style blendshapes: a transparent, uncalibrated estimator.

Each DISFA AU is the mean of its blendshapes (left and right averaged) times 5, so 0–1 scores land on
the 0–5 FACS scale. AU25 (lips part) has no blendshape of its own: it is the larger of jaw opening
net of `mouthClose` and the inner-lip gap measured on the landmarks. The mapping follows
`arkit_blendshapes_to_facs.csv`; intensities are not calibrated against FACS-coded video.
"""
from __future__ import annotations

import numpy as np

from ..face import BLENDSHAPE_NAMES
from ..types import AU_NAMES, Face, FrameOutput

AU_BLENDSHAPES: dict[str, tuple[str, ...]] = {
    "AU01": ("browInnerUp",),
    "AU02": ("browOuterUpLeft", "browOuterUpRight"),
    "AU04": ("browDownLeft", "browDownRight"),
    "AU05": ("eyeWideLeft", "eyeWideRight"),
    "AU06": ("cheekSquintLeft", "cheekSquintRight"),
    "AU09": ("noseSneerLeft", "noseSneerRight"),
    "AU12": ("mouthSmileLeft", "mouthSmileRight"),
    "AU15": ("mouthFrownLeft", "mouthFrownRight"),
    "AU17": ("mouthShrugLower",),
    "AU20": ("mouthStretchLeft", "mouthStretchRight"),
    "AU26": ("jawOpen",),
}
_INDEX = {name: i for i, name in enumerate(BLENDSHAPE_NAMES)}
UPPER_INNER_LIP, LOWER_INNER_LIP, MOUTH_LEFT, MOUTH_RIGHT = 13, 14, 78, 308
# Inner-lip gap / mouth width at which lips count as fully apart (AU25 = 5); wide yawns reach ~0.6.
FULL_LIP_GAP = 0.4


def lip_separation(landmarks: np.ndarray) -> float:
    """Inner-lip gap over inner mouth width, 0 when the lips touch; landmarks (478, ≥2) pixels."""
    gap = np.linalg.norm(landmarks[UPPER_INNER_LIP, :2] - landmarks[LOWER_INNER_LIP, :2])
    width = np.linalg.norm(landmarks[MOUTH_LEFT, :2] - landmarks[MOUTH_RIGHT, :2])
    return float(gap / width) if width > 0 else 0.0


def au_from_blendshapes(blendshapes: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(12,) float32 AU intensities 0–5 in AU_NAMES order from (52,) blendshapes and (478, 3) landmarks."""
    values = {au: float(np.mean([blendshapes[_INDEX[b]] for b in names])) for au, names in AU_BLENDSHAPES.items()}
    jaw = blendshapes[_INDEX["jawOpen"]] - blendshapes[_INDEX["mouthClose"]]
    values["AU25"] = max(float(jaw), lip_separation(landmarks) / FULL_LIP_GAP)
    return np.clip(np.array([values[au] for au in AU_NAMES], np.float32) * 5.0, 0.0, 5.0)


class BlendshapeAU:
    """Per-frame stage: faces -> FrameOutput with `au` only (no valence, arousal or emotion)."""

    produces = ("au",)

    def __call__(self, faces: list[Face]) -> list[FrameOutput]:
        return [FrameOutput(au=au_from_blendshapes(f.blendshapes, f.landmarks)) for f in faces]
