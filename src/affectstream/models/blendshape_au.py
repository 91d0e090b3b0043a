"""AU intensities from MediaPipe's ARKit-style blendshapes: a transparent, uncalibrated estimator.

Each of OpenFace's 17 AUs is the mean of its blendshapes (left and right averaged) times 5, so 0–1
scores land on the 0–5 FACS scale, following `arkit_blendshapes_to_facs.csv`. Some AUs need more
than a lookup:

- AU25 (lips part) has no blendshape: the larger of jaw opening net of `mouthClose` and the
  inner-lip gap measured on the landmarks.
- AU06 (cheek raiser) and AU09 (nose wrinkler): MediaPipe's `cheekSquint*` and `noseSneer*` stay
  near 1e-6 on real faces (median over 26k FER+ faces, every emotion alike), so they carry no
  signal. AU06 uses what a cheek raise does to the eye, `eyeSquint`, gated by the smile it
  accompanies: √(eyeSquint · mouthSmile). AU09's muscle also lifts the upper lip and comes with
  lowered brows: √(browDown · mouthUpperUp) · (1 − mouthSmile), the smile gate removing the lip
  lift of AU12.
- AU07 (lid tightener) is `eyeSquint` without the part a smile's cheek raise explains (that is
  AU06): eyeSquint · (1 − mouthSmile).
- AU23 (lip tightener) has no source: no blendshape tightens the lips. ARKit's `mouthPress` is
  AU24 (lip pressor); as a stand-in it would have to rise with anger, whose prototype holds AU23,
  but on 5,900 FER+ training faces it is lower in anger (mean 0.024) than in neutral faces (0.049).
  AU23 is therefore NaN here (empty in every output), not invented.
- AU28 (lip suck) is presence-only in OpenFace: `mouthRollLower`/`mouthRollUpper` (presence.py).

Intensities are not calibrated against FACS-coded video.
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
    "AU10": ("mouthUpperUpLeft", "mouthUpperUpRight"),
    "AU12": ("mouthSmileLeft", "mouthSmileRight"),
    "AU14": ("mouthDimpleLeft", "mouthDimpleRight"),
    "AU15": ("mouthFrownLeft", "mouthFrownRight"),
    "AU17": ("mouthShrugLower",),
    "AU20": ("mouthStretchLeft", "mouthStretchRight"),
    "AU26": ("jawOpen",),
    "AU45": ("eyeBlinkLeft", "eyeBlinkRight"),
}
_INDEX = {name: i for i, name in enumerate(BLENDSHAPE_NAMES)}
# the blendshape columns each AU averages, looked up once: this runs for every face-frame
_COLUMNS = {au: [_INDEX[n] for n in names] for au, names in AU_BLENDSHAPES.items()}
_SQUINT = [_INDEX["eyeSquintLeft"], _INDEX["eyeSquintRight"]]
UPPER_INNER_LIP, LOWER_INNER_LIP, MOUTH_LEFT, MOUTH_RIGHT = 13, 14, 78, 308
NO_SOURCE = ("AU23",)  # AUs MediaPipe's blendshapes cannot measure (see above)
# Inner-lip gap / mouth width at which lips count as fully apart (AU25 = 5); wide yawns reach ~0.6.
FULL_LIP_GAP = 0.4


def lip_separation(landmarks: np.ndarray) -> np.ndarray | float:
    """Inner-lip gap over inner mouth width, 0 when the lips touch; landmarks (…, 478, ≥2), any
    similarity frame."""
    landmarks = np.asarray(landmarks, np.float32)
    gap = np.linalg.norm(landmarks[..., UPPER_INNER_LIP, :2] - landmarks[..., LOWER_INNER_LIP, :2],
                         axis=-1)
    width = np.linalg.norm(landmarks[..., MOUTH_LEFT, :2] - landmarks[..., MOUTH_RIGHT, :2],
                           axis=-1)
    return np.where(width > 0, gap / np.maximum(width, 1e-9), 0.0)


def au_from_blendshapes(blendshapes: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(…, 17) float32 AU intensities 0–5 in AU_NAMES order (NaN for NO_SOURCE) from (…, 52)
    blendshapes and (…, 478, ≥2) landmarks."""
    b = np.asarray(blendshapes, np.float32)
    values = {au: b[..., index].mean(-1) for au, index in _COLUMNS.items()}
    smile = values["AU12"]
    squint = b[..., _SQUINT].mean(-1)
    values["AU06"] = np.sqrt(squint * smile)
    values["AU07"] = squint * (1 - smile)
    values["AU09"] = np.sqrt(values["AU04"] * values["AU10"]) * (1 - smile)
    jaw = b[..., _INDEX["jawOpen"]] - b[..., _INDEX["mouthClose"]]
    values["AU25"] = np.maximum(jaw, lip_separation(landmarks) / FULL_LIP_GAP)
    for au in NO_SOURCE:
        values[au] = np.full_like(smile, np.nan)
    return np.clip(np.stack([values[au] for au in AU_NAMES], axis=-1) * 5.0,
                   0.0, 5.0).astype(np.float32)


class BlendshapeAU:
    """Per-frame stage: faces -> FrameOutput with `au` only (no valence, arousal or emotion)."""

    def __call__(self, faces: list[Face]) -> list[FrameOutput]:
        return [FrameOutput(au=au_from_blendshapes(f.blendshapes, f.landmarks)) for f in faces]
