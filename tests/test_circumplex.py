import pytest
import torch

from affectstream.circumplex import PROTOTYPES, spread
from affectstream.types import EMOTION_NAMES


def test_one_sure_emotion_has_no_spread():
    for k in range(len(EMOTION_NAMES)):
        assert spread(torch.eye(8)[k]).tolist() == pytest.approx([0.0, 0.0], abs=1e-7)


def test_a_tie_spreads_half_the_distance_between_its_emotions():
    p = torch.zeros(8)
    happiness, sadness = EMOTION_NAMES.index("happiness"), EMOTION_NAMES.index("sadness")
    p[happiness] = p[sadness] = 0.5
    (v1, a1), (v2, a2) = PROTOTYPES[happiness], PROTOTYPES[sadness]
    # a two-point distribution of equal weights: variance = (half the distance)²
    assert spread(p).tolist() == pytest.approx([((v1 - v2) / 2) ** 2, ((a1 - a2) / 2) ** 2])
    # unnormalised and batched alike
    for row in spread(torch.stack([2 * p, p])).tolist():
        assert row == pytest.approx(spread(p).tolist())
