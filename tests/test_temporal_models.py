import numpy as np
import pytest
import torch

from affectstream.models.affective_process import (
    AffectiveProcess,
    AffectiveProcessStage,
    ContextWindow,
    window_attention,
    window_mean,
)
from affectstream.models.affwildnet import AffWildNet, AffWildNetStage
from affectstream.models.temporal import (
    DISFA_INDEX,
    EMOTIONS,
    PREDICTION_DIM,
    GapClock,
    hold_last,
    mean_output,
)
from affectstream.types import AU_NAMES, FrameOutput


def test_affwildnet_shapes_ranges_and_causality():
    net = AffWildNet(input_dim=8 + PREDICTION_DIM + 1).eval()
    x = torch.randn(3, 80, net.config["input_dim"])
    x[..., -1] = (torch.rand(3, 80) > 0.3).float()  # present
    x[..., -1 - PREDICTION_DIM:-1] = torch.cat([torch.rand(3, 80, 2) * 2 - 1, torch.rand(3, 80, 12),
                                                torch.softmax(torch.randn(3, 80, 8), -1)], -1)
    out = net(x)
    assert out["valence_arousal"].shape == (3, 80, 2) and out["au"].shape == (3, 80, 12)
    assert out["mean"].shape == out["std"].shape == (3, 80, PREDICTION_DIM)
    assert out["valence_arousal"].abs().max() <= 1 and 0 <= out["au"].min() and out["au"].max() <= 5
    assert torch.allclose(out["mean"][..., EMOTIONS].sum(-1), torch.ones(3, 80), atol=1e-5)
    assert (out["std"] > 0).all()
    changed = x.clone()
    changed[:, 40:, :8] += 1
    # A causal GRU: frames before 40 cannot see the change.
    assert torch.allclose(net(changed)["mean"][:, :40], out["mean"][:, :40])


def test_affwildnet_ensemble_is_its_members_mean_with_their_disagreement_in_sigma():
    torch.manual_seed(0)
    net = AffWildNet(input_dim=8 + PREDICTION_DIM + 1, members=2).eval()
    singles = [AffWildNet(input_dim=8 + PREDICTION_DIM + 1).eval() for _ in range(2)]
    for single, member in zip(singles, net.members):
        single.members[0].load_state_dict(member.state_dict())
    x = torch.rand(2, 30, net.config["input_dim"])
    x[..., -1] = (torch.rand(2, 30) > 0.3).float()
    x[..., -1 - PREDICTION_DIM:-1][..., EMOTIONS] = torch.softmax(torch.randn(2, 30, 8), -1)
    with torch.no_grad():
        out, alone = net(x), [single(x) for single in singles]
    means = torch.stack([a["mean"] for a in alone])
    assert torch.allclose(out["mean"], means.mean(0), atol=1e-6)
    assert torch.allclose(out["mean"][..., EMOTIONS].sum(-1), torch.ones(2, 30), atol=1e-5)
    # σ is not yet calibrated: the members' mean variance plus the variance of their means
    variance = torch.stack([a["std"] for a in alone]).square().mean(0) + means.var(0, False)
    assert torch.allclose(out["std"], variance.sqrt(), atol=1e-6)
    assert out["hidden"].shape == (2, 2, 2, 128)  # members, layers, batch, units


def test_affwildnet_files_of_one_unprefixed_gru_still_load():
    single = AffWildNet(input_dim=8 + PREDICTION_DIM + 1)
    old = {k.removeprefix("members.0."): v for k, v in single.state_dict().items()}
    assert "gru.weight_ih_l0" in old and "std_scale" in old
    again = AffWildNet(input_dim=8 + PREDICTION_DIM + 1)
    again.load_state_dict(AffWildNet.upgrade_tensors(old))
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(),
                                                  single.state_dict().values()))


@pytest.mark.parametrize("model", ["affwildnet", "ap"])
def test_sigma_grows_through_a_detection_gap(model):
    """The process noise (set large here) widens σ with the seconds since the last face."""
    torch.manual_seed(0)
    x_dim = 8 + PREDICTION_DIM + 1
    seen = torch.cat([torch.randn(1, 8), torch.full((1, PREDICTION_DIM), 0.1), torch.ones(1, 1)],
                     -1)
    gaps = torch.tensor([0.0, 0.1, 0.3, 1.0, 3.0])
    if model == "ap":
        ap = AffectiveProcess(x_dim, PREDICTION_DIM, r_dim=8, z_dim=4, hidden=16).eval()
        ap.process_noise.data.fill_(2.0)
        r = ap.encode(seen, seen[:, -1 - PREDICTION_DIM:-1])[0]
        x = torch.zeros(len(gaps), x_dim)
        std = torch.stack([ap.predict(r, x[i:i + 1], gaps[i].reshape(1, 1))[1][0]
                           for i in range(len(gaps))])
    else:
        net = AffWildNet(x_dim).eval()
        net.members[0].process_noise.data.fill_(2.0)
        x = torch.cat([seen, torch.zeros(len(gaps) - 1, x_dim)])[None]
        with torch.no_grad():
            std = net(x, gaps.reshape(1, -1, 1))["std"][0]
    assert (std[2:, :2] > std[1:-1, :2]).all()


def test_gap_clock_counts_seconds_since_each_tracks_last_face():
    clock = GapClock()
    assert clock.tick(0, 1.0, True) == 0.0 and clock.tick(1, 1.0, True) == 0.0
    assert clock.tick(0, 1.5, False) == 0.5 and clock.tick(0, 2.0, False) == 1.0
    assert clock.tick(1, 2.0, True) == 0.0 and clock.tick(0, 2.5, True) == 0.0
    clock.drop(0)
    assert clock.tick(0, 3.0, False) == 0.0  # a track it never saw


def test_hold_last_keeps_the_last_face_frames_context():
    r = torch.arange(6.0).reshape(1, 6, 1)
    keep = torch.tensor([[False, True, False, False, True, False]])
    assert hold_last(r, keep)[0, :, 0].tolist() == [0, 1, 1, 1, 4, 4]


def test_mean_output_renormalises_emotions_and_clips():
    emotion = [0.2, 0.2, 0.0, -0.1, 0.2, 0.0, 0.0, 0.2]
    mean = np.concatenate([[1.3, -0.2], np.full(12, 0.5), emotion])
    out = mean_output(mean, np.full(PREDICTION_DIM, 0.1))
    p = np.exp(out.emotion)
    assert out.valence == 1.0 and np.allclose(out.au, 2.5) and np.allclose(out.au_std, 0.5)
    assert abs(p.sum() - 1) < 1e-9 and np.allclose(p[[0, 1, 4, 7]], 0.25, atol=1e-5)


def _reading(x: torch.Tensor) -> FrameOutput:
    """A per-frame output whose temporal input is exactly x = [embedding, shape, prediction, 1]."""
    y = x[-1 - PREDICTION_DIM:-1].numpy()
    au = np.full(len(AU_NAMES), np.nan, np.float32)  # the 17; the models read the DISFA 12
    au[DISFA_INDEX] = y[2:EMOTIONS.start] * 5
    return FrameOutput(embedding=x[:2].numpy(), shape=x[2:-1 - PREDICTION_DIM].numpy(),
                       valence=float(y[0]), arousal=float(y[1]), au=au,
                       emotion=np.log(y[EMOTIONS]))


@pytest.mark.parametrize("members", [1, 3])
def test_streaming_equals_the_whole_sequence_and_tracks_are_separate(members):
    net = AffWildNet(input_dim=2 + 4 + PREDICTION_DIM + 1, members=members).eval()
    a, b = torch.rand(20, net.config["input_dim"]), torch.rand(20, net.config["input_dim"])
    a[:, -1] = b[:, -1] = 1  # present
    for v in (a, b):
        v[:, -1 - PREDICTION_DIM:-1][:, EMOTIONS] = torch.softmax(torch.randn(20, 8), -1)
    stage = AffWildNetStage(net)
    streamed = []
    for t in range(20):
        streamed.append([stage.step(0, t / 10, _reading(a[t])).valence])
        stage.step(1, t / 10, _reading(b[t]))  # a second face in the same frames must not disturb 0
    with torch.no_grad():
        whole = net(a[None])["valence_arousal"][0, :, :1]
    assert np.allclose(np.array(streamed), whole.numpy(), atol=1e-5)
    stage.step(0, 2.5, None)
    assert stage.clock.last[0] == 1.9
    stage.drop(0)
    assert set(stage.hidden) == {1}
    stage.reset()
    assert not stage.hidden


def test_affective_process_window_elbo_and_uncertainty():
    torch.manual_seed(0)
    ap = AffectiveProcess(x_dim=8, y_dim=3, r_dim=16, z_dim=4, hidden=16)
    x, y = torch.randn(5, 30, 8), torch.rand(5, 30, 3)
    context = torch.rand(5, 30) < 0.7
    gap = torch.rand(5, 30, 1) * (~context)[..., None]
    parts = ap.window_elbo_loss(x, y, y, context, 10, gap, smoothness=1.0)
    assert parts["loss"].ndim == 0 and parts["kl"] >= 0 and parts["variation"] >= 0
    parts["loss"].backward()
    assert ap.decoder[0].weight.grad is not None
    mean, std = ap.predict(window_mean(ap.encode(x, y), context, 10), x, gap)
    assert mean.shape == std.shape == (5, 30, 3) and (std >= ap.min_std).all()


def test_the_streams_moments_are_the_distributions_bit_for_bit():
    # a stream's step reads decode_moments and latent_mean (no distribution objects, for speed)
    torch.manual_seed(1)
    ap = AffectiveProcess(x_dim=8, y_dim=3, r_dim=16, z_dim=4, hidden=16).eval()
    x, y = torch.randn(2, 20, 8), torch.rand(2, 20, 3)
    gap = torch.rand(2, 20, 1) * (torch.rand(2, 20, 1) < 0.3)
    r = window_mean(ap.encode(x, y), torch.rand(2, 20) < 0.8, 5)
    assert torch.equal(ap.latent_mean(r), ap.latent(r).mean)
    z = ap.latent(r).mean
    mean, variance = ap.decode_moments(x, z, r, gap)
    out = ap.decode(x, z, r, gap)
    assert torch.equal(mean, out.mean) and torch.equal(variance.sqrt(), out.stddev)


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
    seen, _ = ap.predict(r_context, x[:1], torch.zeros(1, 1))
    # a detected face: halfway to the context
    assert torch.allclose(seen, (y[:1] + context_mean) / 2)
    missed, _ = ap.predict(r_context, torch.zeros(1, 6), torch.ones(1, 1))
    assert torch.allclose(missed, torch.tensor([[0.3, 0.2, 0.4]]))  # no face, none held: context
    # in a gap, the last face's prediction takes the frame's place: halfway from it to the context
    held, _ = ap.predict(r_context, torch.zeros(1, 6), torch.ones(1, 1), y[1:])
    assert torch.allclose(held, (y[1:] + context_mean) / 2)
    # along a sequence, the last face is found in x itself
    gap_x = torch.stack([x[1], torch.zeros(6)])[None]
    along, _ = ap.predict(r_context, gap_x, torch.tensor([[[0.0], [0.1]]]))
    assert torch.allclose(along[0, 1], (y[1] + context_mean) / 2)
    # files before v0.6 read only the context in a gap
    old = AffectiveProcess.from_config({k: v for k, v in ap.config.items()
                                        if k != "held_reference"})
    old.load_state_dict(ap.state_dict())
    assert torch.allclose(old.predict(r_context, torch.zeros(1, 6), torch.ones(1, 1), y[1:])[0],
                          context_mean[None])


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


def test_attention_starts_as_the_weighted_mean_and_then_follows_the_query():
    torch.manual_seed(0)
    r, keys = torch.rand(1, 12, 5), torch.randn(1, 12, 3)
    keep = torch.rand(1, 12) < 0.7
    keep[0, 0] = False  # a target with nothing kept in its window reads zero
    zero = torch.zeros(1, 12, 3)
    assert torch.allclose(window_attention(r, keys, zero, keep, 4, 1), window_mean(r, keep, 4, 1))
    assert torch.equal(window_attention(r, keys, zero, keep, 1)[0, 0], torch.zeros(5))
    # a query that matches the point two frames back makes it nearly all of the read
    keys = torch.eye(3)[torch.tensor([0, 1, 2] * 4)][None] * 50
    keep = torch.ones(1, 12, dtype=torch.bool)
    read = window_attention(r, keys, torch.eye(3)[None, [2] * 12], keep, 3)
    assert torch.allclose(read[0, 5], r[0, 5], atol=1e-6)  # frame 5 has key 2
    assert torch.allclose(read[0, 3], r[0, 2], atol=1e-6)  # frame 2, two back, has it


def test_the_attentive_process_streams_as_it_is_trained():
    torch.manual_seed(2)
    fps, width, steps = 10, 5, 24
    ap = AffectiveProcess(x_dim=2 + 4 + PREDICTION_DIM + 1, y_dim=PREDICTION_DIM, r_dim=16,
                          z_dim=4, hidden=16, attention=6).eval()
    torch.nn.init.normal_(ap.query.weight)  # trained queries are not zero
    x = torch.rand(1, steps, ap.config["x_dim"])
    x[..., -1 - PREDICTION_DIM:-1][..., EMOTIONS] = torch.softmax(torch.randn(1, steps, 8), -1)
    present = torch.ones(1, steps, dtype=torch.bool)
    present[0, [7, 8, 9, 15]] = False  # a gap of three frames and one of one
    x = x * present[..., None]
    x[..., -1] = present.float()
    since = torch.zeros(1, steps)
    for t in range(1, steps):
        since[0, t] = 0 if present[0, t] else since[0, t - 1] + 1
    with torch.no_grad():
        context = hold_last(ap.context(x, x[..., -1 - PREDICTION_DIM:-1], present, width),
                            present)
        mean, _ = ap.predict(context, x, (since / fps)[..., None])
    stage = AffectiveProcessStage(ap, seconds=(width - 1) / fps + 0.01)
    streamed = [stage.step(0, t / fps, _reading(x[0, t]) if present[0, t] else None).valence
                for t in range(steps)]
    assert np.allclose(streamed, mean[0, :, 0].clamp(-1, 1).numpy(), atol=1e-5)
