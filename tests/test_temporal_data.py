import numpy as np
import torch

from affectstream.models.frame import GEOMETRY_DIM, FrameNet
from affectstream.train.temporal_data import build_sequences, degrade, segments, smooth_walk


def test_trajectories_and_segments():
    rng = np.random.default_rng(0)
    walk = smooth_walk(200, rng)
    assert walk.shape == (200,) and walk.min() >= 0 and walk.max() <= 1
    assert np.abs(np.diff(walk)).mean() < 0.2  # smooth, not white noise
    index = segments(400, rng)
    lengths = np.bincount(index)
    assert index[0] == 0 and np.all(np.diff(index) >= 0) and lengths[:-1].min() >= 15 and len(lengths) > 3


def test_each_degradation_does_what_it_says():
    rng = np.random.default_rng(1)
    # Away from 0, where degrade's clamp for the gamma change would alter a pixel.
    images = (0.05 + 0.9 * torch.rand(1, 1, 48, 48, generator=torch.Generator().manual_seed(0))).repeat(4, 1, 1, 1)
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
    flat = [(y, x) for y in range(0, 31) for x in range(0, 31) if patch[y:y + 18, x:x + 18].std() < 1e-6]
    assert flat  # an 18×18 occluder of one grey level


def test_sequences_from_stills():
    n = 12
    net = FrameNet(channels=(8, 8, 16, 16), hidden=16, embed=32)
    g = torch.Generator().manual_seed(0)
    seq = build_sequences(net, torch.rand(n, 1, 48, 48, generator=g), torch.rand(n, 52, generator=g),
                          torch.rand(n, GEOMETRY_DIM - 52, generator=g) - 0.5, torch.rand(n, 2, generator=g),
                          torch.rand(n, 12, generator=g) * 5, count=6, steps=80, degraded_share=0.3, seed=0)
    assert seq.embedding.shape == (6, 80, 32) and seq.frame_prediction.shape == (6, 80, 14)
    assert abs(seq.degraded.float().mean().item() - 0.3) < 0.05
    missing = ~seq.present
    assert 0.05 < missing.float().mean() < 0.2 and (seq.embedding[missing] == 0).all()
    assert (missing <= seq.degraded).all()  # every dropped detection counts as degraded
    # Targets are piecewise constant: they change only at cuts.
    changes = (seq.target_va[:, 1:] != seq.target_va[:, :-1]).any(-1).float().sum(1)
    assert (changes <= 80 // 15).all()
