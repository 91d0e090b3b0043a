"""The shipped temporal weights on real media: steadier than the per-frame model on a talking face,
and still quick to follow a change of expression (behaviour, not wall-clock time)."""
import numpy as np
import pytest

from affectstream.train.temporal.data import SEQUENCE_FPS as FPS
from affectstream.train.temporal.response import response, steadiness, step_frames, step_stills


@pytest.fixture(scope="module")
def per_frame_change(video):
    return np.array(steadiness(video("WolfgangLanger_Pexels.mp4"), "none")[:2])


@pytest.mark.parametrize("temporal", ["ap", "affwildnet"])
def test_temporal_models_steady_a_talking_face(video, per_frame_change, temporal):
    smoothed = np.array(steadiness(video("WolfgangLanger_Pexels.mp4"), temporal)[:2])
    print(f"{temporal}: mean |Δ| valence {smoothed[0]:.4f} vs {per_frame_change[0]:.4f}, "
          f"arousal {smoothed[1]:.4f} vs {per_frame_change[1]:.4f}")
    assert (smoothed <= 0.6 * per_frame_change).all()


@pytest.mark.parametrize("temporal", ["ap", "affwildnet"])
def test_temporal_models_follow_a_smile_within_half_a_second(shared, model, temporal):
    frames = step_frames(*step_stills(shared / "data" / "ferplus"), seconds=1.5)
    cut = int(1.5 * FPS)
    out = response(frames, temporal, cut)
    assert out["detected"] == len(frames) and out["tracks"] == 1  # one track across the cut
    before, after, reached = out["valence"]
    print(f"{temporal}: valence {before:+.2f} → {after:+.2f}, 90 % after {reached} frames")
    assert after - before > 0.5 and reached is not None and reached <= 15
