"""Scoring temporal models on held-out sequences: agreement, calibration and the baselines.

CCC for valence and arousal, ICC(3,1) and PCC for the AUs, and for a model with σ the share of
targets within ±1σ and ±2σ and the Gaussian NLL; beside the per-frame model and hold-last.
"""
from __future__ import annotations

import numpy as np

from .. import metrics
from .data import SEQUENCE_FPS, Sequences
from .training import predict_sequences, targets


def hold_last(seq: Sequences) -> dict[str, np.ndarray]:
    """The per-frame prediction, with the last detected frame's held through frames without a face
    (the simplest temporal baseline; zero before the first detection)."""
    prediction, present = seq.frame_prediction.numpy(), seq.present.numpy()
    held = prediction.copy()
    for t in range(1, held.shape[1]):
        held[:, t] = np.where(present[:, t, None], prediction[:, t], held[:, t - 1])
    return {"mean": held}


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
    """Figures over all frames and over the frames with a face."""
    face = valid.present.numpy()
    return {"all": sequence_figures(prediction, valid),
            "face": sequence_figures(prediction, valid, face)}


def score(net, valid: Sequences, seconds: float, ahead: int = 0) -> dict[str, dict]:
    """`both` for the temporal model's causal (or, with ahead > 0, centred) predictions."""
    return both(valid, predict_sequences(net, valid, width=max(1, round(seconds * SEQUENCE_FPS)),
                                         ahead=ahead))


def print_table(rows: dict[str, dict], log=print) -> None:
    columns = ("ccc_valence", "ccc_arousal", "au_icc", "au_pcc", "within_1sd", "within_2sd", "nll")
    log(f"{'':30s} {'frames':>7s} " + " ".join(f"{c:>11s}" for c in columns))
    for name, parts in rows.items():
        for part, figures in parts.items():
            cells = " ".join(f"{figures[c]:11.4f}" if c in figures else f"{'–':>11s}"
                             for c in columns)
            log(f"{name + ' / ' + part:30s} {figures['frames']:7d} {cells}")
