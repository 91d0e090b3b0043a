"""Scoring temporal models on held-out sequences: agreement, calibration and the baselines.

CCC for valence and arousal, ICC(3,1) and PCC for the AUs, emotion accuracy (top-1 against the
target distribution's, a frame without an answer counting as wrong) and how often the top-1
emotion changes, and for a model with σ the share of targets within ±1σ and ±2σ and the Gaussian
NLL; beside the per-frame model and hold-last; over all frames, frames with a face and frames in
a detection gap, and σ by how long the gap has lasted.
"""
from __future__ import annotations

import numpy as np
import torch

from ...models.temporal import frames_since
from .. import metrics
from .data import SEQUENCE_FPS, Sequences
from .training import predict_sequences, targets

GAP_BUCKETS = ((1, 2), (3, 5), (6, 10), (11, 20), (21, 10**6))  # frames since the last face


def per_frame(seq: Sequences) -> dict[str, np.ndarray]:
    """The per-frame model as the pipeline gives it: zero valence, arousal and AUs without a face
    (so the figures count the gaps), and no emotion there (NaN)."""
    present = seq.present.numpy()[..., None]
    emotion = np.where(present, seq.frame_emotion.numpy(), np.nan)
    return {"mean": seq.frame_prediction.numpy(), "emotion": emotion}


def hold_last(seq: Sequences) -> dict[str, np.ndarray]:
    """The per-frame prediction, with the last detected frame's held through frames without a face
    (the simplest temporal baseline; zero before the first detection, no emotion before it)."""
    present = seq.present.numpy()
    held = {"mean": seq.frame_prediction.numpy().copy(), **{"emotion": per_frame(seq)["emotion"]}}
    for values in held.values():
        for t in range(1, values.shape[1]):
            values[:, t] = np.where(present[:, t, None], values[:, t], values[:, t - 1])
    return held


def gap_lengths(present: np.ndarray) -> np.ndarray:
    """(S, T) frames since the last frame with a face (0 on a face frame; counted from the
    sequence's start before the first)."""
    return frames_since(torch.from_numpy(present)).numpy()


def emotion_figures(emotion: np.ndarray, seq: Sequences, frames: np.ndarray) -> dict:
    """Top-1 accuracy against the target's top-1 over the labelled `frames` (no answer: wrong) and
    top-1 changes per 100 consecutive answered pairs."""
    target = seq.target_emotion.numpy()
    labelled = frames & np.isfinite(target).all(-1)
    answered = np.isfinite(emotion).all(-1)
    top = np.where(answered, np.nan_to_num(emotion).argmax(-1), -1)
    right = top == np.nan_to_num(target).argmax(-1)
    pairs = frames[:, 1:] & frames[:, :-1] & answered[:, 1:] & answered[:, :-1]
    changes = (top[:, 1:] != top[:, :-1])[pairs]
    return {"emotion_acc": float(right[labelled].mean()) if labelled.any() else float("nan"),
            "top1_changes": float(100 * changes.mean()) if pairs.any() else float("nan")}


def sequence_figures(prediction: dict[str, np.ndarray], seq: Sequences,
                     frames: np.ndarray | None = None) -> dict:
    """CCC (valence, arousal), mean AU ICC(3,1) and PCC, and with a std: the share of targets within
    ±1σ and ±2σ and the Gaussian NLL (valence/arousal), over the frames selected by `frames` (S, T)
    and, per output, the labelled ones (NaN: not labelled; NaN figures where an output has none)."""
    mean = prediction["mean"]
    frames = np.ones(mean.shape[:2], bool) if frames is None else frames
    y, m = targets(seq).numpy()[frames], mean[frames]

    def agree(metric, k, scale=1.0):
        ok = np.isfinite(y[:, k])
        return metric(y[ok, k] * scale, m[ok, k] * scale) if ok.sum() > 1 else float("nan")

    figures = {"frames": int(frames.sum()), "ccc_valence": agree(metrics.ccc, 0),
               "ccc_arousal": agree(metrics.ccc, 1),
               "au_icc": _nanmean([agree(metrics.icc3_1, k, 5.0) for k in range(2, 14)]),
               "au_pcc": _nanmean([agree(metrics.pcc, k) for k in range(2, 14)])}
    if "emotion" in prediction:
        figures.update(emotion_figures(prediction["emotion"], seq, frames))
    if "std" in prediction:
        s, error = prediction["std"][frames][:, :2], np.abs(y[:, :2] - m[:, :2])
        ok = np.isfinite(error)
        s, error = s[ok], error[ok]
        figures["within_1sd"] = float((error <= s).mean()) if ok.any() else float("nan")
        figures["within_2sd"] = float((error <= 2 * s).mean()) if ok.any() else float("nan")
        figures["nll"] = float((0.5 * np.log(2 * np.pi * s ** 2) + 0.5 * (error / s) ** 2).mean()) \
            if ok.any() else float("nan")
    return figures


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def both(valid: Sequences, prediction: dict) -> dict[str, dict]:
    """Figures over all frames, the frames with a face and the frames in a detection gap."""
    face = valid.present.numpy()
    return {"all": sequence_figures(prediction, valid),
            "face": sequence_figures(prediction, valid, face),
            "gap": sequence_figures(prediction, valid, ~face)}


def sigma_by_gap(prediction: dict, seq: Sequences) -> list[dict]:
    """Per GAP_BUCKETS: gap frames, mean valence/arousal σ, and ±1σ/±2σ coverage of their
    targets; σ should grow with the gap."""
    gap, rows = gap_lengths(seq.present.numpy()), []
    y = targets(seq).numpy()[..., :2]
    for lo, hi in GAP_BUCKETS:
        frames = (gap >= lo) & (gap <= hi)
        s = prediction["std"][frames][:, :2]
        error = np.abs(y[frames] - prediction["mean"][frames][:, :2])
        ok = np.isfinite(error)
        rows.append({"gap": f"{lo}–{hi}" if hi < 10**6 else f"{lo}+", "frames": int(frames.sum()),
                     "std_valence": _mean(s[:, 0]), "std_arousal": _mean(s[:, 1]),
                     "within_1sd": _mean((error <= s)[ok]),
                     "within_2sd": _mean((error <= 2 * s)[ok])})
    return rows


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


def model_prediction(net, valid: Sequences, seconds: float, ahead: int = 0) -> dict:
    """The temporal model's causal (or, with ahead > 0, centred) predictions, emotions included."""
    return predict_sequences(net, valid, width=max(1, round(seconds * SEQUENCE_FPS)), ahead=ahead)


def score(net, valid: Sequences, seconds: float, ahead: int = 0) -> dict[str, dict]:
    """`both` for the temporal model's causal (or, with ahead > 0, centred) predictions."""
    return both(valid, model_prediction(net, valid, seconds, ahead))


def print_gaps(name: str, rows: list[dict], log=print) -> None:
    log(f"σ of {name} in detection gaps, by frames since the last face:")
    log(f"{'gap':>7s} {'frames':>7s} {'std_valence':>12s} {'std_arousal':>12s} "
        f"{'within_1sd':>11s} {'within_2sd':>11s}")
    for r in rows:
        log(f"{r['gap']:>7s} {r['frames']:7d} {r['std_valence']:12.4f} {r['std_arousal']:12.4f} "
            f"{r['within_1sd']:11.4f} {r['within_2sd']:11.4f}")


def print_table(rows: dict[str, dict], log=print) -> None:
    columns = ("ccc_valence", "ccc_arousal", "au_icc", "au_pcc", "emotion_acc", "top1_changes",
               "within_1sd", "within_2sd", "nll")
    log(f"{'':30s} {'frames':>7s} " + " ".join(f"{c:>12s}" for c in columns))
    for name, parts in rows.items():
        for part, figures in parts.items():
            cells = " ".join(f"{figures[c]:12.4f}" if c in figures else f"{'–':>12s}"
                             for c in columns)
            log(f"{name + ' / ' + part:30s} {figures['frames']:7d} {cells}")
