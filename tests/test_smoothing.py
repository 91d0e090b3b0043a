import numpy as np
import torch
from test_temporal_training import tiny_sequences

from affectstream.models.smoothing import OneEuro, TrackSmoothers, smooth_sequences
from affectstream.models.temporal import EMOTIONS, PREDICTION_DIM
from affectstream.train.temporal.smoothing import (
    TOLERANCE,
    Z,
    admissible,
    choose_smoothing,
    filtered,
    jitter,
)


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


def test_valence_and_arousal_move_as_one_point():
    """A small arousal step that comes with a large valence step (neutral → smile) is followed as
    fast as the valence step; alone, it is followed more slowly (1€ releases on speed)."""
    times = np.arange(90) / 30.0
    y = np.zeros((90, PREDICTION_DIM))
    y[60:, 0], y[60:, 1] = 1.0, 0.13

    def frames_to_90(values, k):
        smoother = OneEuro((0.25, None), (4.0, 0.0))
        out = np.array([smoother(v, t) for v, t in zip(values, times)])
        return int(np.flatnonzero(out[60:, k] >= 0.9 * values[-1, k])[0]) + 1

    alone = y.copy()
    alone[:, 0] = 0.0
    assert frames_to_90(y, 1) == frames_to_90(y, 0) < frames_to_90(alone, 1)


def test_an_unfiltered_group_passes_bit_for_bit():
    _, noisy, times = _noisy_step()
    smoother = OneEuro((None, 0.5), (0.0, 1.0))
    out = np.array([smoother(v, t) for v, t in zip(noisy, times)])
    assert np.array_equal(out[:, :EMOTIONS.start], noisy[:, :EMOTIONS.start])
    assert not np.array_equal(out[:, EMOTIONS], noisy[:, EMOTIONS])


def _near_tie(frames=300, fps=30.0, seed=0):
    """Two emotions nearly tied (0.45 and 0.43 + noise), then the second clearly ahead."""
    rng = np.random.default_rng(seed)
    y = np.zeros((frames, PREDICTION_DIM))
    first, second = EMOTIONS.start, EMOTIONS.start + 3
    y[:, second] = np.where(np.arange(frames) < 200, 0.43, 0.70) + rng.normal(0, 0.02, frames)
    y[:, first] = 0.88 - y[:, second]
    y[:, EMOTIONS.start + 1] = 0.12
    return y, np.arange(frames) / fps


def test_the_top_emotion_changes_only_past_its_head_start():
    y, times = _near_tie()
    flips = {}
    for sticky in (0.0, 0.1):
        smoother = OneEuro((None, None), (0.0, 0.0), sticky)
        out = np.array([smoother(v, t) for v, t in zip(y, times)])
        top = out[:, EMOTIONS].argmax(-1)
        flips[sticky] = int((top[1:] != top[:-1]).sum())
        assert np.allclose(out[:, EMOTIONS].sum(-1), 1) and (out[:, EMOTIONS] >= 0).all()
        assert np.array_equal(out[:, :EMOTIONS.start], y[:, :EMOTIONS.start])
        assert top[-1] == 3  # a clear lead still takes the top
        # no probability moves by more than sticky / (1 + sticky)
        assert np.abs(out[:, EMOTIONS] - y[:, EMOTIONS]).max() <= sticky / (1 + sticky) + 1e-12
    assert flips[0.0] > 10 and flips[0.1] == 1
    # a batch of tracks gets the head start each would alone
    pair, alone = OneEuro((None, None), (0.0, 0.0), 0.1), OneEuro((None, None), (0.0, 0.0), 0.1)
    batch = np.array([pair(np.stack([v, v[::-1]]), t) for v, t in zip(y, times)])
    assert np.array_equal(batch[:, 0], np.array([alone(v, t) for v, t in zip(y, times)]))


def test_a_filter_may_spend_the_lead_over_the_baselines_not_the_lead_itself():
    keys = ("ccc_valence",)
    reference = {"all": {"ccc_valence": 0.93}, "face": {"ccc_valence": 0.95}}
    bar = {"all": {"ccc_valence": 0.90}, "face": {"ccc_valence": 0.91}}
    # the lead's standard error puts the bar's margin at TOLERANCE
    error = {"all": {"ccc_valence": TOLERANCE / Z}, "face": {"ccc_valence": TOLERANCE / Z}}

    def figures(all_frames, face):
        return {"all": {"ccc_valence": all_frames}, "face": {"ccc_valence": face}}

    # costs next to nothing; or costs more but stays clear of the bars
    assert admissible(figures(0.93 - TOLERANCE / 2, 0.95), reference, bar, error, keys)
    assert admissible(figures(0.90 + 1.5 * TOLERANCE, 0.93), reference, bar, error, keys)
    assert not admissible(figures(0.90 + 0.5 * TOLERANCE, 0.93), reference, bar, error, keys)
    assert not admissible(figures(0.93, 0.90), reference, bar, error, keys)  # below a bar on faces
    # a model already below its bar may only take what costs it nothing
    low = {"all": {"ccc_valence": 0.89}, "face": {"ccc_valence": 0.95}}
    assert admissible(figures(0.89 - TOLERANCE / 2, 0.95), low, bar, error, keys)
    assert not admissible(figures(0.89 - 2 * TOLERANCE, 0.95), low, bar, error, keys)


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
    assert lines[0].startswith("filter on the values: 1€ min cutoff")
    smoothed = filtered(prediction, (setting[0][0], setting[1][0]), (setting[0][1], setting[1][1]),
                        setting[2])
    assert jitter(smoothed, seq, "values") < jitter(prediction, seq, "values")
    # predictions that already equal their steady targets: nothing to remove, no filter
    exact = {"mean": torch.cat([seq.target_va, seq.target_au / 5, seq.target_emotion],
                               -1).numpy().astype(np.float64),
             "emotion": seq.target_emotion.numpy()}
    assert choose_smoothing(exact, seq, lines.append) is None
    assert lines[-1].startswith("filter on the emotions: no 1€ filter, top-emotion head start 0.0")


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
