"""The shipped temporal weights on real media: steadier than the per-frame model on a talking face,
in valence, arousal and the top emotion, and still quick to follow a change of expression
(behaviour, not wall-clock time)."""
import pytest

from affectstream.train.temporal.data import SEQUENCE_FPS as FPS
from affectstream.train.temporal.response import response, steadiness, step_frames, step_stills


@pytest.fixture(scope="module")
def per_frame(video):
    return steadiness(video("WolfgangLanger_Pexels.mp4"), "none")


@pytest.mark.parametrize("temporal", ["ap", "affwildnet"])
def test_temporal_models_steady_a_talking_face(video, per_frame, temporal):
    smoothed = steadiness(video("WolfgangLanger_Pexels.mp4"), temporal)
    print(f"{temporal}: {smoothed} against the per-frame model's {per_frame}")
    # steadier than the per-frame model in every output (issue 16's bar, 0.5× and ⅓, is measured
    # by benchmarks/temporal_response.py and not met yet: see the model cards)
    for name in ("valence", "arousal"):
        assert smoothed[name] <= 0.75 * per_frame[name]
    # the emotions go through the temporal model too, so their bars flicker less (7 changes on this
    # clip with either model against the per-frame model's 11: 0.64×; the rest are near-ties)
    assert smoothed["emotion_changes_per_minute"] <= 0.7 * per_frame["emotion_changes_per_minute"]


@pytest.mark.parametrize("temporal", ["ap", "affwildnet"])
def test_temporal_models_follow_a_smile_within_five_frames(shared, model, temporal):
    frames = step_frames(*step_stills(shared / "data" / "ferplus"), seconds=1.5)
    cut = int(1.5 * FPS)
    out = response(frames, temporal, cut)
    assert out["detected"] == len(frames) and out["tracks"] == 1  # one track across the cut
    before, after, reached = out["valence"]
    print(f"{temporal}: valence {before:+.2f} → {after:+.2f}, 90 % after {reached} frames")
    assert after - before > 0.5 and reached is not None and reached <= 5  # issue 16's bar
