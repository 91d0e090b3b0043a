import torch

from affectstream.models.frame import GEOMETRY_DIM, FrameNet
from affectstream.train.temporal import inputs, targets, train_affective_process, train_affwildnet
from affectstream.train.temporal_data import build_sequences


def tiny_sequences(count=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    n = 10
    net = FrameNet(channels=(8, 8, 16, 16), hidden=16, embed=32)
    va = torch.rand(n, 2, generator=g) * 2 - 1
    return build_sequences(net, torch.rand(n, 1, 48, 48, generator=g), torch.rand(n, 52, generator=g),
                           torch.rand(n, GEOMETRY_DIM - 52, generator=g) - 0.5, va,
                           torch.rand(n, 12, generator=g) * 5, count=count, steps=40, seed=seed)


def test_temporal_models_train_on_sequences():
    seq = tiny_sequences()
    assert inputs(seq).shape == (8, 40, 32 + 234 + 14 + 1) and targets(seq).shape == (8, 40, 14)
    losses = []
    gru = train_affwildnet(seq, epochs=8, batch_size=4, log=losses.append)
    assert float(losses[-1].split()[-1]) < float(losses[0].split()[-1])
    out = gru(inputs(seq))
    assert out["valence_arousal"].shape == (8, 40, 2)
    elbo = []
    ap = train_affective_process(seq, epochs=8, batch_size=4, log=elbo.append)
    assert float(elbo[-1].split()[-1]) < float(elbo[0].split()[-1])
    r = ap.encode(inputs(seq)[:, :10], seq.frame_prediction[:, :10]).mean(-2)
    mean, std = ap.predict(r, inputs(seq))
    assert mean.shape == std.shape == (8, 40, 14) and (std > 0).all()
