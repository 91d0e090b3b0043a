import numpy as np
import torch

from affectstream.models.frame import GEOMETRY_DIM, FrameNet
from affectstream.train.temporal.data import degrade, featurize, segments, smooth_walk, still_clips


def test_trajectories_and_segments():
    rng = np.random.default_rng(0)
    walk = smooth_walk(200, rng)
    assert walk.shape == (200,) and walk.min() >= 0 and walk.max() <= 1
    assert np.abs(np.diff(walk)).mean() < 0.2  # smooth, not white noise
    index = segments(400, rng)
    lengths = np.bincount(index)
    assert index[0] == 0 and np.all(np.diff(index) >= 0)
    assert lengths[:-1].min() >= 15 and len(lengths) > 3


def test_each_degradation_does_what_it_says():
    rng = np.random.default_rng(1)
    # Away from 0, where degrade's clamp for the gamma change would alter a pixel.
    images = (0.05 + 0.9 * torch.rand(1, 1, 48, 48, generator=torch.Generator().manual_seed(0))
              ).repeat(4, 1, 1, 1)
    severity = np.zeros((4, 5))
    severity[1, 3] = 0.5   # pose/alignment jitter
    severity[2, 0] = 1.0   # strong motion blur
    severity[3, 1] = 1.0   # occlusion
    out = degrade(images, severity, rng)
    assert torch.allclose(out[0], images[0], atol=1e-5)  # no severity, no change
    assert not torch.allclose(out[1], images[1], atol=1e-2)

    def horizontal_detail(x):
        return (x[..., 1:] - x[..., :-1]).abs().mean()
    assert horizontal_detail(out[2]) < 0.5 * horizontal_detail(images[2])
    patch = out[3, 0]
    flat = [(y, x) for y in range(0, 31) for x in range(0, 31)
            if patch[y:y + 18, x:x + 18].std() < 1e-6]
    assert flat  # an 18×18 occluder of one grey level


def test_still_clips_hold_a_face_then_cut():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(12, 48, 48), dtype=np.uint8)
    va, au = rng.uniform(-1, 1, (12, 2)), rng.uniform(0, 5, (12, 12))
    emotion = rng.dirichlet(np.ones(8), 12)
    clips = still_clips(images, va, au, emotion, count=6, steps=80, degraded_share=0.3, seed=0)
    assert len(clips) == 6 and clips[0].frames.shape == (80, 48, 48)
    assert clips[0].frames.dtype == np.uint8
    degraded = np.stack([c.degraded for c in clips])
    dropped = np.stack([c.dropped for c in clips])
    assert abs(degraded.mean() - 0.3) < 0.05 and 0.05 < dropped.mean() < 0.2
    assert (dropped <= degraded).all()
    for clip in clips:  # targets change only at cuts, at least 15 frames apart
        cuts = (clip.target_va[1:] != clip.target_va[:-1]).any(-1)
        assert cuts.sum() <= 80 // 15
        assert ((clip.target_emotion[1:] != clip.target_emotion[:-1]).any(-1) == cuts).all()


def test_featurize_runs_the_real_tracker_on_corrupted_frames(shared, model):
    data = np.load(shared / "data" / "ferplus" / "ferplus_valid.npz")
    images = data["images"][:20]
    rng = np.random.default_rng(0)
    clips = still_clips(images, rng.uniform(-1, 1, (20, 2)), np.zeros((20, 12)),
                        rng.dirichlet(np.ones(8), 20), count=3, steps=30, seed=0)
    net = FrameNet(channels=(8, 8, 16, 16), hidden=16, embed=32)
    seq = featurize(clips, net, workers=1, progress=False)
    assert seq.embedding.shape == (3, 30, 32) and seq.frame_prediction.shape == (3, 30, 14)
    assert seq.frame_emotion.shape == seq.target_emotion.shape == (3, 30, 8)
    found = seq.frame_emotion[seq.present]  # probabilities where a face was read, zero elsewhere
    assert torch.allclose(found.sum(-1), torch.ones(len(found))) and \
        (seq.frame_emotion[~seq.present] == 0).all()
    assert seq.shape.shape == (3, 30, GEOMETRY_DIM - 52)
    missing = ~seq.present
    assert (seq.embedding[missing] == 0).all() and (missing <= seq.degraded).all()
    withheld = torch.from_numpy(np.stack([c.dropped for c in clips]))
    assert not seq.present[withheld].any()  # a withheld detection stays withheld
    assert seq.present.float().mean() > 0.5  # the tracker finds FER+ faces through mild corruption
