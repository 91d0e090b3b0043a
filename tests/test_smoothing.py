import numpy as np
import torch
from test_temporal_training import tiny_sequences

from affectstream.models.smoothing import OneEuro, TrackSmoothers, smooth_sequences
from affectstream.models.temporal import EMOTIONS, PREDICTION_DIM
from affectstream.train.temporal.smoothing import choose_smoothing, filtered, jitter


def _noisy_step(frames=120, fps=30.0, seed=0):
    """A steady prediction with jitter that steps at frame 60 (valence −0.5 → 0.5, the emotions
    from one class to another)."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((frames, PREDICTION_DIM))
    truth[:, 0] = np.where(np.arange(frames) < 60, -0.5, 0.5)
    truth[:, EMOTIONS.start] = np.where(np.arange(frames) < 60, 0.7, 0.1)
    truth[:, EMOTIONS.start + 1] = 1 - truth[:, EMOTIONS.start]
    noisy = truth.copy()
    noisy[:, :2] += rng.normal(0, 0.05, (frames, 2))
    return truth, noisy, np.arange(frames) / fps


def test_one_euro_removes_jitter_and_follows_a_step():
    truth, noisy, times = _noisy_step()
    smoother = OneEuro((1.0, 1.0), (4.0, 4.0))
    out = np.array([smoother(v, t) for v, t in zip(noisy, times)])
    assert np.array_equal(out[0], noisy[0])  # the first frame passes as it is
    steady = slice(20, 60)
    assert np.abs(np.diff(out[steady, 0])).mean() < 0.5 * np.abs(np.diff(noisy[steady, 0])).mean()
    reached = np.flatnonzero(out[60:, 0] >= -0.5 + 0.9 * 1.0)
    assert reached.size and reached[0] < 10  # 90 % of the step within a third of a second
    emotions = out[:, EMOTIONS]
    assert np.allclose(emotions.sum(-1), 1) and (emotions >= 0).all()  # still a distribution


def test_an_unfiltered_group_passes_bit_for_bit():
    _, noisy, times = _noisy_step()
    smoother = OneEuro((None, 0.5), (0.0, 1.0))
    out = np.array([smoother(v, t) for v, t in zip(noisy, times)])
    assert np.array_equal(out[:, :EMOTIONS.start], noisy[:, :EMOTIONS.start])
    assert not np.array_equal(out[:, EMOTIONS], noisy[:, EMOTIONS])


def test_sequences_are_filtered_as_streams_are_per_track():
    _, a, times = _noisy_step(seed=1)
    _, b, _ = _noisy_step(seed=2)
    setting = ((2.0, 0.5), (8.0, 1.0))
    batch = smooth_sequences(np.stack([a, b]), 30.0, *setting)
    tracks = TrackSmoothers(setting)
    for t, time in enumerate(times):  # two faces in the same frames must not disturb each other
        assert np.allclose(tracks(0, time, a[t]), batch[0, t])
        assert np.allclose(tracks(7, time, b[t]), batch[1, t])
    tracks.drop(7)
    assert set(tracks.tracks) == {0}
    tracks.reset()
    assert not tracks.tracks
    first = a[0]
    assert TrackSmoothers(None)(0, 0.0, first) is first  # weights without a filter


def _frame_prediction(seq):
    """The per-frame model's values and emotions as a temporal model's prediction dict."""
    mean = torch.cat([seq.frame_prediction, seq.frame_emotion], -1).numpy().astype(np.float64)
    emotion = np.clip(mean[..., EMOTIONS], 1e-6, None)
    return {"mean": mean, "emotion": emotion / emotion.sum(-1, keepdims=True)}


def test_the_filter_is_chosen_where_it_costs_no_agreement():
    seq = tiny_sequences(count=20)  # steady targets, noisy per-frame readings: smoothing helps
    prediction = _frame_prediction(seq)
    lines = []
    setting = choose_smoothing(prediction, seq, lines.append)
    assert setting is not None and setting[0][0] is not None
    assert lines[0].startswith("1€ filter on the values: min cutoff")
    smoothed = filtered(prediction, (setting[0][0], setting[1][0]), (setting[0][1], setting[1][1]))
    assert jitter(smoothed, seq, "values") < jitter(prediction, seq, "values")
    # predictions that already equal their steady targets: nothing to remove, no filter
    exact = {"mean": torch.cat([seq.target_va, seq.target_au / 5, seq.target_emotion],
                               -1).numpy().astype(np.float64),
             "emotion": seq.target_emotion.numpy()}
    assert choose_smoothing(exact, seq, lines.append) is None
    assert lines[-1].startswith("1€ filter on the emotions: none")


def test_a_stream_cut_anywhere_gives_the_same_values_after_two_seconds():
    _, noisy, times = _noisy_step(frames=200)
    setting = ((0.25, 0.25), (1.0, 1.0))  # the slowest settings the grid holds
    whole, cut = TrackSmoothers(setting), TrackSmoothers(setting)
    full = [whole(0, t, v) for v, t in zip(noisy, times)]
    for start in (37, 61):
        cut.reset()
        late = [cut(0, t, v) for v, t in zip(noisy[start:], times[start:])]
        settled = start + int(2 * 30)  # what --split's warm-up relies on
        assert all(np.array_equal(a, b) for a, b in zip(late[settled - start:], full[settled:]))
        assert not np.array_equal(late[0], full[start])  # before that, another history shows
