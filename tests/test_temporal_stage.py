"""The temporal stage wired into the pipeline, with untrained models (behaviour, not accuracy)."""
import numpy as np
import pytest
import torch

import affectstream as af
from affectstream.models.affective_process import AffectiveProcess
from affectstream.models.affwildnet import AffWildNet
from affectstream.models.temporal import PREDICTION_DIM
from affectstream.models.weights import save_net
from affectstream.sources import read_image

X_DIM = 256 + 234 + PREDICTION_DIM + 1  # embedding, landmarks, per-frame prediction, present


@pytest.fixture(scope="module")
def temporal_weights(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("temporal")
    ap = AffectiveProcess(X_DIM, PREDICTION_DIM)
    return {"ap": save_net(ap, folder / "ap.safetensors", seconds=1.0),
            "affwildnet": save_net(AffWildNet(X_DIM), folder / "gru.safetensors")}


@pytest.mark.parametrize("kind", ["ap", "affwildnet"])
def test_live_replay_equals_offline(video, temporal_weights, kind):
    settings = {"temporal": kind, "temporal_weights": temporal_weights[kind]}
    with af.AffectStream(mode="offline", **settings) as pipeline:
        offline = list(pipeline.stream(video("single_face.mp4")))
    live = []
    with af.AffectStream(mode="live", **settings) as pipeline:
        for frame in af.open_source(video("single_face.mp4")):
            live += pipeline.analyze(frame)
    assert len(offline) == len(live) == 72
    for a, b in zip(offline, live):
        assert a.valence == pytest.approx(b.valence, abs=1e-6)
        assert a.au == pytest.approx(b.au, abs=1e-5)
        assert a.emotion == pytest.approx(b.emotion, abs=1e-6)
    # both models give σ (AffWildNet from its variance head)
    assert all(a.valence_std > 0 and a.au_std["AU12"] > 0 for a in offline)


def _two_face_frames(media, count=12):
    """A short 'video' from the two faces at the top of multi_face.jpg, the second blanked at
    frame 6."""
    crop = read_image(media / "images" / "multi_face.jpg")[220:520, 470:850].copy()
    frames = []
    for i in range(count):
        image = crop.copy()
        if i >= 6:
            image[:, 190:] = 128  # the right-hand face leaves
        frames.append(af.Frame(i, i / 25, image))
    return frames


def test_two_faces_keep_separate_state_and_a_missed_face_is_held(media, temporal_weights):
    frames = _two_face_frames(media)
    with af.AffectStream(mode="live", temporal="ap", temporal_weights=temporal_weights["ap"],
                         max_gap=1.0) as two:
        rows = [two.analyze(f) for f in frames[:9]]
        assert {r.track_id for r in rows[0]} == {0, 1}
        left, right = sorted(rows[0], key=lambda r: r.box[0])
        windows = two.temporal.windows
        # One context per track: the left face's holds all 9 frames, the right one's only the 6 it
        # was seen.
        assert windows[left.track_id] is not windows[right.track_id]
        assert len(windows[left.track_id]) == 9 and len(windows[right.track_id]) == 6
        assert not torch.allclose(windows[left.track_id].mean(), windows[right.track_id].mean())
        # Seen for 0.2 s, the right face is held for 0.2 s after it leaves, then dropped.
        rows += [two.analyze(f) for f in frames[9:]]
        assert right.track_id not in windows
        assert right.track_id not in {r.track_id for r in rows[11]}
    # While held: success 0, a temporal estimate, no box.
    held = [r for r in rows[8] if r.track_id == right.track_id]
    assert held and not held[0].success and held[0].box is None and held[0].valence_std is not None
    assert np.isfinite(held[0].valence)
    # the temporal model's emotions, through the gap too
    assert held[0].emotion and abs(sum(held[0].emotion.values()) - 1) < 1e-6
    seen = [r for r in rows[5] if r.track_id == right.track_id][0]
    assert held[0].valence_std > seen.valence_std  # the held estimate says it is older
