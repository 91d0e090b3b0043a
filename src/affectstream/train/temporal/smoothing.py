"""Choosing a temporal model's 1€ output filter (models/smoothing.py) on tuning sequences.

Two settings are chosen apart, as the filter keeps them apart: one for valence, arousal and the
AUs, one for the emotion distribution. Each is the steadiest on a grid (least mean frame-to-frame
change of valence and arousal; fewest top-1 emotion changes) among those that cost no output more
than TOLERANCE of agreement (CCC, ICC, accuracy) on all frames and on frames with a face, the
unfiltered model (no filter) being one of the candidates.
"""
from __future__ import annotations

import itertools

import numpy as np

from ...models.smoothing import smooth_sequences
from ...models.temporal import EMOTIONS
from .data import SEQUENCE_FPS, Sequences
from .evaluation import both

TOLERANCE = 0.002
MIN_CUTOFFS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)  # Hz at rest
BETAS = (1.0, 4.0, 16.0)  # cutoff gained per unit/s of change
OFF = (None, 0.0)  # no filter: the value passes as it is
GROUPS = {"values": ("ccc_valence", "ccc_arousal", "au_icc"), "emotions": ("emotion_acc",)}


def filtered(prediction: dict, values: tuple[float, float], emotions: tuple[float, float]) -> dict:
    """`prediction` (predict_sequences' dict, unfiltered) with its mean through the 1€ filter set
    to (min_cutoff, beta) for the values and for the emotions."""
    mean = smooth_sequences(prediction["mean"], SEQUENCE_FPS, (values[0], emotions[0]),
                            (values[1], emotions[1]))
    emotion = np.clip(mean[..., EMOTIONS], 1e-6, None)
    return {**prediction, "mean": mean, "emotion": emotion / emotion.sum(-1, keepdims=True)}


def jitter(prediction: dict, seq: Sequences, group: str) -> float:
    """Mean |Δvalence| + |Δarousal| ("values") or top-1 changes ("emotions") between consecutive
    frames with a face."""
    present = seq.present.numpy()
    pairs = present[:, 1:] & present[:, :-1]
    if group == "values":
        return float(np.abs(np.diff(prediction["mean"][..., :2], axis=1))[pairs].sum(-1).mean())
    top = prediction["emotion"].argmax(-1)
    return float((top[:, 1:] != top[:, :-1])[pairs].mean())


def choose_smoothing(prediction: dict, seq: Sequences, log=print) -> list | None:
    """[[min_cutoff values, emotions], [beta values, emotions]] for the model whose unfiltered
    predictions on the tuning sequences `seq` are `prediction`; None when no filter is chosen."""
    reference = both(seq, prediction)
    chosen = {}
    for group, keys in GROUPS.items():
        best = (jitter(prediction, seq, group), OFF)
        # from the lightest filter to the strongest, so a tie keeps the lighter
        for setting in itertools.product(MIN_CUTOFFS[::-1], BETAS[::-1]):
            trial = filtered(prediction, *((setting, OFF) if group == "values" else (OFF, setting)))
            figures = both(seq, trial)
            if all(figures[part][k] >= reference[part][k] - TOLERANCE
                   for part in ("all", "face") for k in keys):
                score = jitter(trial, seq, group)
                best = (score, setting) if score < best[0] else best
        chosen[group] = best[1]
        log(f"1€ filter on the {group}: " + ("none" if best[1] == OFF else
            f"min cutoff {best[1][0]} Hz, beta {best[1][1]}") + f" (jitter {best[0]:.4f} on "
            "the tuning sequences)")
    if chosen["values"] == OFF and chosen["emotions"] == OFF:
        return None
    values, emotions = chosen["values"], chosen["emotions"]
    return [[values[0], emotions[0]], [values[1], emotions[1]]]
