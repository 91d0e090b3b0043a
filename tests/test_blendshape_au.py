import numpy as np
import pytest

from affectstream.face import BLENDSHAPE_NAMES
from affectstream.models.blendshape_au import au_from_blendshapes, lip_separation
from affectstream.types import AU_NAMES


def closed_mouth_landmarks(gap: float = 0.0) -> np.ndarray:
    lm = np.zeros((478, 3), np.float32)
    lm[78, :2], lm[308, :2] = (0, 0), (40, 0)  # inner mouth corners, 40 px apart
    lm[13, :2], lm[14, :2] = (20, 0), (20, gap)
    return lm


def blendshapes(**scores) -> np.ndarray:
    b = np.zeros(52, np.float32)
    for name, value in scores.items():
        b[BLENDSHAPE_NAMES.index(name)] = value
    return b


def test_left_and_right_are_averaged_and_scaled_to_0_5():
    au = dict(zip(AU_NAMES, au_from_blendshapes(
        blendshapes(mouthSmileLeft=0.8, mouthSmileRight=0.6, browInnerUp=0.5, jawOpen=0.3),
        closed_mouth_landmarks())))
    assert au["AU12"] == pytest.approx(3.5)
    assert au["AU01"] == pytest.approx(2.5)
    assert au["AU26"] == pytest.approx(1.5)
    assert au["AU04"] == 0


def test_au25_from_lip_gap_or_jaw_opening():
    assert lip_separation(closed_mouth_landmarks(8.0)) == pytest.approx(0.2)
    au25 = AU_NAMES.index("AU25")
    assert au_from_blendshapes(blendshapes(),
                               closed_mouth_landmarks(8.0))[au25] == pytest.approx(2.5)
    # The jaw drops but the lips stay pressed together: mouthClose cancels it.
    assert au_from_blendshapes(blendshapes(jawOpen=0.4, mouthClose=0.4),
                               closed_mouth_landmarks())[au25] == 0
    assert au_from_blendshapes(blendshapes(jawOpen=0.9),
                               closed_mouth_landmarks(40.0))[au25] == 5.0  # clipped


def test_output_is_always_in_range():
    rng = np.random.default_rng(0)
    for _ in range(50):
        au = au_from_blendshapes(rng.random(52).astype(np.float32),
                                 closed_mouth_landmarks(rng.random() * 60))
        given = au[~np.isnan(au)]  # AU23 has no source: NaN
        assert au.shape == (len(AU_NAMES),) and given.min() >= 0 and given.max() <= 5
        assert np.isnan(au).sum() == 1 and np.isnan(au[AU_NAMES.index("AU23")])
