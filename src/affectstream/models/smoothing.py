"""The 1€ filter (Casiez, Roussel & Vogel, "1€ Filter: A Simple Speed-based Low-pass Filter for
Noisy Input in Interactive Systems", CHI 2012) on a temporal model's output.

A first-order low-pass filter whose cutoff rises with the speed of change: a steady face's
frame-to-frame jitter is removed while a real change (an expression's onset, a cut) passes within
a few frames. The 8 emotion probabilities share one cutoff, driven by how fast the distribution
moves, so the output is a convex combination of distributions and still sums to 1. Valence and
arousal share one too, driven by the speed of their point on the circumplex: a small arousal change
that comes with a large valence change (neutral → smile) passes as fast as the valence change.

A low-pass filter cannot keep the top emotion steady where two emotions are nearly tied (a talking
face read between sadness and neutral): any jitter crosses the tie. So the filtered distribution
then gives the emotion on top in the previous frame a head start `sticky` (a Schmitt trigger):
p' = (p + sticky · e_top) / (1 + sticky). The top emotion changes only when another leads it by
more than `sticky`; every probability moves by at most sticky / (1 + sticky), and p' sums to 1.

Finite memory: a track's filter is restarted at every PERIOD of its timestamps, and each frame's
value is the one of the run restarted at the latest such point at least WINDOW seconds back (so
it has filtered WINDOW to WINDOW + PERIOD seconds; a few runs step side by side). What a frame gives
thus depends on the last 2 s only, as the Affective Process's output depends on its 0.5 s
context: a stream cut anywhere (`--split` segments) gives the very same values once 2 s have
passed, as a file read whole does, where an infinite-memory filter would differ in the last digits
for many seconds. Causal: the live stream and a file give the same values.
"""
from __future__ import annotations

import math

import numpy as np

from .temporal import EMOTIONS, PREDICTION_DIM

D_CUTOFF = 1.0  # Hz, the cutoff of the speed estimate (the paper's default)
# seconds filtered at least (2.4 time constants of the lowest cutoff tried, 0.25 Hz), and how often
# a run restarts; with the Affective Process's 0.5 s, inside --split's 3 s warm-up
WINDOW_SECONDS, PERIOD_SECONDS = 1.5, 0.5


def smoothing_factor(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """α of an exponential smoother with `cutoff` Hz sampled every `dt` seconds."""
    tau = 1.0 / (2 * math.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau / dt)


class OneEuro:
    """Filters (…, 22) predictions (valence, arousal, AU/5, emotion probabilities) of one or a
    batch of tracks. min_cutoff (Hz): the cutoff at rest; beta (per unit/s): how fast it rises
    with speed; each a pair (valence/arousal/AUs, emotions), a min_cutoff of None leaving that
    group unfiltered; sticky: the top emotion's head start (0: none)."""

    def __init__(self, min_cutoff: tuple[float, float], beta: tuple[float, float],
                 sticky: float = 0.0):
        self.min_cutoff = self._per_output(min_cutoff)
        self.beta = self._per_output(beta)
        self.sticky = float(sticky)
        self.value: np.ndarray | None = None
        self.speed: np.ndarray | None = None
        self.top: np.ndarray | None = None  # (…,) the emotion on top in the last output
        self.time = 0.0

    @staticmethod
    def _per_output(pair) -> np.ndarray:
        """(22,) from a pair; None: that group unfiltered (an infinite cutoff: α = 1)."""
        values = np.full(PREDICTION_DIM, np.inf if pair[0] is None else float(pair[0]))
        values[EMOTIONS] = np.inf if pair[1] is None else float(pair[1])
        return values

    def __call__(self, value: np.ndarray, timestamp: float) -> np.ndarray:
        """The filtered `value` at `timestamp` (seconds); the first call passes it through."""
        value = np.asarray(value, np.float64)
        dt = timestamp - self.time
        if self.value is None or dt <= 0:  # first frame, or a repeated timestamp: start afresh
            self.value, self.speed, self.top = value.copy(), np.zeros_like(value), None
        else:
            a = smoothing_factor(D_CUTOFF, dt)
            self.speed = a * (value - self.value) / dt + (1 - a) * self.speed
            speed = np.abs(self.speed)
            # one speed for valence and arousal, the coordinates of one point of the circumplex:
            # an expression that changes moves both, however little one of them changes
            speed[..., :2] = np.hypot(speed[..., :1], speed[..., 1:2])
            # one speed for the distribution: how fast its mass moves (total variation per second)
            speed[..., EMOTIONS] = speed[..., EMOTIONS].sum(-1, keepdims=True) / 2
            a = smoothing_factor(self.min_cutoff + self.beta * speed, dt)
            self.value = a * value + (1 - a) * self.value
        self.time = timestamp
        return self._hysteresis(self.value.copy())

    def _hysteresis(self, out: np.ndarray) -> np.ndarray:
        """`out` with the last top emotion's head start; the filter's own state stays unbiased."""
        if not self.sticky:  # no hysteresis: nothing to remember either
            return out
        if self.top is not None:  # + sticky on the last top emotion, + 0 (exact) on the others
            lead = self.sticky * (self.top[..., None] == np.arange(out[..., EMOTIONS].shape[-1]))
            out[..., EMOTIONS] = (out[..., EMOTIONS] + lead) / (1 + self.sticky)
        self.top = out[..., EMOTIONS].argmax(-1)
        return out


def _grid(timestamp: float) -> int:
    """The index of the restart point at or before `timestamp`."""
    return math.floor(timestamp / PERIOD_SECONDS + 1e-9)


def _chosen(grids: list[int], timestamp: float) -> int:
    """Which run gives the value at `timestamp`: the latest restarted at least WINDOW_SECONDS
    back, else the oldest (a track younger than that)."""
    old_enough = [k for k, g in enumerate(grids) if g * PERIOD_SECONDS <= timestamp - WINDOW_SECONDS
                  + 1e-9]
    return old_enough[-1] if old_enough else 0


def smooth_sequences(mean: np.ndarray, fps: float, *setting) -> np.ndarray:
    """(S, T, 22) predictions filtered along T at `fps`, as a stream filters each track."""
    times = np.arange(mean.shape[1]) / fps
    starts = [t for t in range(mean.shape[1]) if t == 0 or _grid(times[t]) > _grid(times[t - 1])]
    runs = np.full((len(starts),) + mean.shape, np.nan)
    for k, start in enumerate(starts):
        smoother = OneEuro(*setting)
        for t in range(start, mean.shape[1]):
            runs[k, :, t] = smoother(mean[:, t], times[t])
    grids, out = [_grid(times[start]) for start in starts], np.empty_like(mean)
    for t in range(mean.shape[1]):
        live = [k for k, start in enumerate(starts) if start <= t]
        out[:, t] = runs[live[_chosen([grids[k] for k in live], times[t])], :, t]
    return out


class TrackSmoothers:
    """The restarted 1€ filter per track, for a temporal stage; `setting` ((min_cutoff), (beta)
    [, sticky]) as stored in the network's config, or None: the output passes unfiltered."""

    def __init__(self, setting):
        self.setting = setting
        self.tracks: dict[int, list[tuple[int, OneEuro]]] = {}

    def __call__(self, track_id: int, timestamp: float, mean: np.ndarray) -> np.ndarray:
        if not self.setting:
            return mean
        runs = self.tracks.setdefault(track_id, [])
        if not runs or _grid(timestamp) > runs[-1][0]:
            runs.append((_grid(timestamp), OneEuro(*self.setting)))
        values = [smoother(mean, timestamp) for _, smoother in runs]
        chosen = _chosen([g for g, _ in runs], timestamp)
        del runs[:chosen]  # older runs are never chosen again
        return values[chosen].astype(mean.dtype)

    def drop(self, track_id: int) -> None:
        self.tracks.pop(track_id, None)

    def reset(self) -> None:
        self.tracks.clear()
