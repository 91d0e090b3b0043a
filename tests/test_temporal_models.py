import torch

from affectstream.models.affective_process import AffectiveProcess, ContextWindow, select_context
from affectstream.models.affwildnet import AffWildNet, GRUTracks


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


def test_streaming_equals_the_whole_sequence_and_tracks_are_separate():
    net = AffWildNet(input_dim=6).eval()
    a, b = torch.randn(20, 6), torch.randn(20, 6)
    tracks = GRUTracks(net)
    streamed = []
    for t in range(20):
        streamed.append(tracks.step(0, a[t])["valence_arousal"])
        tracks.step(1, b[t])  # a second face in the same frames must not disturb track 0
    with torch.no_grad():
        whole = net(a[None])["valence_arousal"][0]
    assert torch.allclose(torch.stack(streamed), whole, atol=1e-5)
    tracks.keep_only([1])
    assert set(tracks.hidden) == {1}


def test_affective_process_elbo_and_uncertainty():
    torch.manual_seed(0)
    ap = AffectiveProcess(x_dim=8, y_dim=3, r_dim=16, z_dim=4, hidden=16)
    x, y = torch.randn(5, 30, 8), torch.rand(5, 30, 3)
    parts = ap.elbo_loss(x[:, :10], y[:, :10], x, y)
    assert parts["loss"].ndim == 0 and parts["kl"] >= 0
    parts["loss"].backward()
    assert ap.decoder[0].weight.grad is not None
    mean, std = ap.predict(ap.encode(x[:, :10], y[:, :10]).mean(-2), x)
    assert mean.shape == std.shape == (5, 30, 3) and (std >= ap.min_std).all()


def test_residual_decoder_starts_between_the_frame_and_the_context_mean():
    torch.manual_seed(0)
    ap = AffectiveProcess(x_dim=6, y_dim=3, r_dim=8, z_dim=4, hidden=16, residual=True)
    torch.nn.init.zeros_(ap.decoder[-1].weight)
    torch.nn.init.zeros_(ap.decoder[-1].bias)  # no correction, gate ½: what the residual path alone gives
    y = torch.tensor([[0.2, 0.4, 0.6], [0.4, 0.0, 0.2]])
    x = torch.cat([torch.randn(2, 2), y, torch.ones(2, 1)], -1)  # [features, prediction, present]
    r_context = ap.encode(x, y).mean(0)
    assert ap.r_size == 11 and torch.allclose(r_context[-3:], torch.tensor([0.3, 0.2, 0.4]))
    seen, _ = ap.predict(r_context, x[:1])
    assert torch.allclose(seen, (y[:1] + r_context[-3:]) / 2)  # a detected face: halfway to the context
    missed, _ = ap.predict(r_context, torch.zeros(1, 6))
    assert torch.allclose(missed, torch.tensor([[0.3, 0.2, 0.4]]))  # no face: the context's mean


def test_weighted_context_is_the_weighted_mean_of_its_points():
    torch.manual_seed(0)
    ap = AffectiveProcess(x_dim=6, y_dim=3, r_dim=8, z_dim=4, hidden=16, residual=True, weighted=True)
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


def test_context_selection_rules():
    variance = torch.tensor([0.5, 0.1, 0.9, 0.2, 0.3])
    assert select_context("all", 5).tolist() == [0, 1, 2, 3, 4]
    assert select_context("lowest_variance:2", 5, variance).tolist() == [1, 3]
    chosen = select_context("random:3", 5, generator=torch.Generator().manual_seed(0))
    assert len(chosen) == 3 and len(set(chosen.tolist())) == 3
