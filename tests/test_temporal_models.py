import numpy as np
import torch

from affectstream.models.affective_process import AffectiveProcess, ContextWindow, window_mean
from affectstream.models.affwildnet import AffWildNet, AffWildNetStage
from affectstream.models.temporal import DISFA_INDEX, PREDICTION_DIM
from affectstream.types import AU_NAMES, FrameOutput


def test_affwildnet_shapes_ranges_and_causality():
    net = AffWildNet(input_dim=10).eval()
    x = torch.randn(3, 80, 10)
    out = net(x)
    assert out["valence_arousal"].shape == (3, 80, 2) and out["au"].shape == (3, 80, 12)
    assert out["valence_arousal"].abs().max() <= 1 and 0 <= out["au"].min() and out["au"].max() <= 5
    changed = x.clone()
    changed[:, 40:] += 1
    # A causal GRU: frames before 40 cannot see the change.
    assert torch.allclose(net(changed)["valence_arousal"][:, :40], out["valence_arousal"][:, :40])


def _reading(x: torch.Tensor) -> FrameOutput:
    """A per-frame output whose temporal input is exactly x = [embedding, shape, prediction, 1]."""
    y = x[-1 - PREDICTION_DIM:-1].numpy()
    au = np.full(len(AU_NAMES), np.nan, np.float32)  # the 17; the models read the DISFA 12
    au[DISFA_INDEX] = y[2:] * 5
    return FrameOutput(embedding=x[:2].numpy(), shape=x[2:-1 - PREDICTION_DIM].numpy(),
                       valence=float(y[0]), arousal=float(y[1]), au=au)


def test_streaming_equals_the_whole_sequence_and_tracks_are_separate():
    net = AffWildNet(input_dim=2 + 4 + PREDICTION_DIM + 1).eval()
    a, b = torch.rand(20, net.config["input_dim"]), torch.rand(20, net.config["input_dim"])
    a[:, -1] = b[:, -1] = 1  # present
    stage = AffWildNetStage(net)
    streamed = []
    for t in range(20):
        streamed.append([stage.step(0, t / 10, _reading(a[t])).valence])
        stage.step(1, t / 10, _reading(b[t]))  # a second face in the same frames must not disturb 0
    with torch.no_grad():
        whole = net(a[None])["valence_arousal"][0, :, :1]
    assert np.allclose(np.array(streamed), whole.numpy(), atol=1e-5)
    stage.drop(0)
    assert set(stage.hidden) == {1}
    stage.reset()
    assert not stage.hidden


def test_affective_process_window_elbo_and_uncertainty():
    torch.manual_seed(0)
    ap = AffectiveProcess(x_dim=8, y_dim=3, r_dim=16, z_dim=4, hidden=16)
    x, y = torch.randn(5, 30, 8), torch.rand(5, 30, 3)
    context = torch.rand(5, 30) < 0.7
    parts = ap.window_elbo_loss(x, y, y, context, width=10, smoothness=1.0)
    assert parts["loss"].ndim == 0 and parts["kl"] >= 0 and parts["variation"] >= 0
    parts["loss"].backward()
    assert ap.decoder[0].weight.grad is not None
    mean, std = ap.predict(window_mean(ap.encode(x, y), context, 10), x)
    assert mean.shape == std.shape == (5, 30, 3) and (std >= ap.min_std).all()


def test_residual_decoder_starts_between_the_frame_and_the_context_mean():
    torch.manual_seed(0)
    ap = AffectiveProcess(x_dim=6, y_dim=3, r_dim=8, z_dim=4, hidden=16)
    for layer in (ap.decoder[-1], ap.encoder[-1]):  # no correction, gate ½, equal context weights
        torch.nn.init.zeros_(layer.weight)
        torch.nn.init.zeros_(layer.bias)
    y = torch.tensor([[0.2, 0.4, 0.6], [0.4, 0.0, 0.2]])
    x = torch.cat([torch.randn(2, 2), y, torch.ones(2, 1)], -1)  # [features, prediction, present]
    r_context = ap.encode(x, y).mean(0)
    context_mean = ap.aggregate(r_context)[-3:]
    assert ap.r_size == 12 and torch.allclose(context_mean, torch.tensor([0.3, 0.2, 0.4]))
    seen, _ = ap.predict(r_context, x[:1])
    # a detected face: halfway to the context
    assert torch.allclose(seen, (y[:1] + context_mean) / 2)
    missed, _ = ap.predict(r_context, torch.zeros(1, 6))
    assert torch.allclose(missed, torch.tensor([[0.3, 0.2, 0.4]]))  # no face: the context's mean


def test_weighted_context_is_the_weighted_mean_of_its_points():
    torch.manual_seed(0)
    ap = AffectiveProcess(x_dim=6, y_dim=3, r_dim=8, z_dim=4, hidden=16)
    x, y = torch.randn(5, 6), torch.rand(5, 3)
    r = ap.encode(x, y)
    weight, points = r[:, -1:], r[:, :-1] / r[:, -1:]
    assert ap.r_size == r.shape[-1] == 8 + 3 + 1 and ((weight > 0) & (weight <= 1)).all()
    assert torch.allclose(points[:, -3:], y)  # each point still carries its prediction
    expected = (weight * points).sum(0) / weight.sum()
    assert torch.allclose(ap.aggregate(r.mean(0)), expected, atol=1e-6)
    assert torch.equal(ap.aggregate(torch.zeros(12)), torch.zeros(11))  # an empty context


def test_context_window_keeps_a_running_mean_of_the_last_seconds():
    window = ContextWindow(seconds=1.0, r_dim=2)
    for i in range(30):  # 10 fps for 3 s
        window.add(i / 10, torch.tensor([float(i), 1.0]))
    assert len(window) == 11  # t = 1.9 … 2.9
    assert torch.allclose(window.mean(), torch.tensor([24.0, 1.0]))
