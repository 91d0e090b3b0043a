"""AU presence (OpenFace's `AUxx_c`): an intensity at or above a per-AU threshold fitted on data.

No FACS-coded data is at hand, so the thresholds come from what is: FER+ faces and their
crowd-voted emotions. A face the crowd calls neutral is taken as a face at rest, and the faces of
an emotion whose EMFACS prototype (Friesen & Ekman, 1983) holds the AU as faces that show it. The
threshold tells the two apart best (Youden's J: sensitivity + specificity − 1) among those that
leave at most 10 % of the faces at rest with the AU present. AU17, AU25, AU45 and AU28 are in no
prototype: theirs is the lowest threshold with at most 10 % at rest. AU28 (lip suck) has no
intensity in OpenFace; its presence reads MediaPipe's `mouthRoll*`.
"""
from __future__ import annotations

import numpy as np

from .face import BLENDSHAPE_NAMES
from .types import AU_NAMES, EMOTION_NAMES, PRESENCE_AU_NAMES

# The AUs of each emotion's EMFACS prototype (disgust with AU10, its common variant).
PROTOTYPES: dict[str, tuple[str, ...]] = {
    "happiness": ("AU06", "AU12"),
    "sadness": ("AU01", "AU04", "AU15"),
    "surprise": ("AU01", "AU02", "AU05", "AU26"),
    "fear": ("AU01", "AU02", "AU04", "AU05", "AU07", "AU20", "AU26"),
    "anger": ("AU04", "AU05", "AU07", "AU23"),
    "disgust": ("AU09", "AU10", "AU15"),
    "contempt": ("AU12", "AU14"),
}
LIP_SUCK = "AU28"
_ROLL = [BLENDSHAPE_NAMES.index(n) for n in ("mouthRollLower", "mouthRollUpper")]
GRID = np.round(np.arange(0.05, 5.0, 0.05), 2)  # candidate thresholds on the 0–5 scale


def lip_suck(blendshapes: np.ndarray) -> np.ndarray:
    """(…,) 0–5 lip-suck score from (…, 52) blendshapes: MediaPipe's lip roll, both lips."""
    return np.asarray(blendshapes, np.float32)[..., _ROLL].mean(-1) * 5


FALSE_AT_REST = 0.10  # the most faces at rest an AU may be present in


def threshold(showing: np.ndarray, at_rest: np.ndarray) -> float:
    """The GRID value with the best Youden's J between intensities of faces `showing` the AU and
    faces `at_rest`, among those with at most FALSE_AT_REST of `at_rest` above it (the lowest such
    value when nothing shows the AU)."""
    allowed = [t for t in GRID if (at_rest >= t).mean() <= FALSE_AT_REST] or [GRID[-1]]
    if len(showing) == 0:
        return float(allowed[0])
    j = [(showing >= t).mean() - (at_rest >= t).mean() for t in allowed]
    return float(allowed[int(np.argmax(j))])


def fit_thresholds(au: np.ndarray, suck: np.ndarray, top: np.ndarray) -> dict[str, float]:
    """{AU: threshold} over PRESENCE_AU_NAMES from intensities (N, 17) in AU_NAMES order,
    lip-suck scores (N,) and the top-voted emotion (N,) as an index of EMOTION_NAMES (−1: none)."""
    at_rest = top == EMOTION_NAMES.index("neutral")
    thresholds = {}
    for name in PRESENCE_AU_NAMES:
        values = suck if name == LIP_SUCK else au[:, AU_NAMES.index(name)]
        if np.isnan(values).all():  # an AU without a source has no presence either
            continue
        emotions = [EMOTION_NAMES.index(e) for e, aus in PROTOTYPES.items() if name in aus]
        thresholds[name] = threshold(values[np.isin(top, emotions)], values[at_rest])
    return thresholds


def prototype_rates(present: dict[str, np.ndarray], top: np.ndarray) -> dict[str, float]:
    """{"happiness AU12": share of happiness faces with AU12 present, …} for each EMFACS
    prototype AU; present: {AU: (N,) bool}."""
    return {f"{e} {a}": round(float(present[a][top == EMOTION_NAMES.index(e)].mean()), 3)
            for e, aus in PROTOTYPES.items() for a in aus
            if a in present and (top == EMOTION_NAMES.index(e)).any()}


def au_presence(au: dict[str, float] | None, suck: float | None,
                thresholds: dict[str, float]) -> dict[str, int] | None:
    """{AU: 0 or 1} for the AUs with both a value and a threshold; None when there is none."""
    if not thresholds or (not au and suck is None):
        return None
    values = dict(au or {})
    if suck is not None:
        values[LIP_SUCK] = suck
    present = {a: int(values[a] >= thresholds[a]) for a in PRESENCE_AU_NAMES
               if a in values and a in thresholds}
    return present or None
