"""The shipped temporal weights on real media: steadier than the per-frame model on a talking face,
and still quick to follow a change of expression (behaviour, not wall-clock time)."""
import numpy as np
import pytest

import affectstream as af
from affectstream.train.datasets import read_faces
from affectstream.types import Frame


@pytest.fixture(scope="module")
def wolfgang(video):
    def change(temporal):
        with af.AffectStream("offline", temporal=temporal, max_faces=1) as pipeline:
            rows = {r.frame: r for r in pipeline.stream(video("WolfgangLanger_Pexels.mp4")) if r.success}
        pairs = [(rows[f], rows[f + 1]) for f in rows if f + 1 in rows]
        return np.mean([[abs(b.valence - a.valence), abs(b.arousal - a.arousal)] for a, b in pairs], axis=0)

    return change


@pytest.mark.parametrize("temporal", ["ap", "affwildnet"])
def test_temporal_models_steady_a_talking_face(wolfgang, temporal):
    raw, smoothed = wolfgang("none"), wolfgang(temporal)
    print(f"{temporal}: mean |Δ| valence {smoothed[0]:.4f} vs {raw[0]:.4f}, arousal {smoothed[1]:.4f} vs {raw[1]:.4f}")
    assert (smoothed <= 0.6 * raw).all()


@pytest.mark.parametrize("temporal", ["ap", "affwildnet"])
def test_temporal_models_follow_a_smile_within_half_a_second(shared, temporal):
    faces = read_faces(shared / "data" / "ferplus", "valid")
    votes = np.nan_to_num(faces.emotion, nan=-1.0)
    frames = []
    for index in (int(np.argmax(votes[:, 0])), int(np.argmax(votes[:, 1]))):  # most-voted neutral, then happy
        canvas = np.full((360, 640, 3), 128, np.uint8)
        canvas[84:276, 224:416] = np.kron(faces.images[index], np.ones((4, 4), np.uint8))[..., None]  # 192 px
        frames += [canvas] * 45
    with af.AffectStream("live", temporal=temporal, max_faces=1) as pipeline:
        rows = [pipeline.analyze(Frame(i, i / 30, image, 0.0))[0] for i, image in enumerate(frames)]
    assert all(r.success for r in rows) and len({r.track_id for r in rows}) == 1  # one track across the cut
    valence = np.array([r.valence for r in rows])
    before, after = valence[35:45].mean(), valence[-10:].mean()
    assert after - before > 0.5
    reached = np.flatnonzero(valence[45:] >= before + 0.9 * (after - before))[0] + 1
    print(f"{temporal}: valence {before:+.2f} → {after:+.2f}, 90 % after {reached} frames")
    assert reached <= 15
