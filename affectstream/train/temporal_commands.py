"""`affectstream train temporal` and `affectstream evaluate temporal`: the shipped temporal weights,
trained and scored on corrupted sequences (temporal_data) the same way every time.

Held-out sequences are built from the *valid* split of the stills with another seed, so no image
and no corruption trajectory of the evaluation was seen in training.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ..errors import AffectStreamError
from ..models.registry import TEMPORAL_WEIGHTS, load_temporal_net, save_net, weights_dir
from .corpus import corpus_sequences
from .temporal import predict_sequences, sequence_figures, train_affective_process, train_affwildnet
from .temporal_data import Sequences, build_sequences, concat

FPS = 30  # the frame rate the sequences stand for: the Affective Process's window in frames ↔ seconds
EPOCHS = {"affwildnet": 30, "ap": 30}


def hold_last(seq: Sequences) -> dict[str, np.ndarray]:
    """The per-frame prediction, with the last detected frame's held through frames without a face
    (the simplest temporal baseline; zero before the first detection)."""
    prediction, present = seq.frame_prediction.numpy(), seq.present.numpy()
    held = prediction.copy()
    for t in range(1, held.shape[1]):
        held[:, t] = np.where(present[:, t, None], prediction[:, t], held[:, t - 1])
    return {"mean": held}


def held_out(data, sequences: int, seed: int, *, corpus=None, weights=None, landmarker=None, workers: int = 2,
             log=print) -> Sequences:
    """The evaluation sequences: `sequences` from the valid split of `data`, seeded apart from
    training's, or every labelled sequence of `corpus` (kind, labels, media) when given."""
    if corpus:
        return corpus_sequences(*corpus, weights=weights, landmarker=landmarker, workers=workers, log=log)
    return build_sequences(data, "valid", sequences, seed=seed + 1, weights=weights, landmarker=landmarker,
                           workers=workers, log=log)


def train_temporal(model: str, data, out=None, *, sequences: int = 600, videos: tuple = (), video_sequences: int = 0,
                   corpus=None, valid_sequences: int = 100, epochs: int | None = None, seconds: float = 0.5,
                   seed: int = 0, threads: int = 2, weights=None, landmarker=None, log=print) -> dict:
    """Build the sequences, train `model` ("affwildnet" or "ap"), score it on held-out sequences and
    save it (default: the shipped weights' path). Seeded: the same arguments give the same weights.
    corpus: (kind, labels folder, media folder) of an annotated corpus (corpus.py) to train on too."""
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    started = time.perf_counter()
    common = {"seed": seed, "weights": weights, "landmarker": landmarker, "workers": threads, "log": log}
    parts = [build_sequences(data, "train", sequences, **common)] if sequences else []
    if video_sequences:
        parts.append(build_sequences(data, "train", 0, videos=tuple(videos), video_count=video_sequences, **common))
    if corpus:
        parts.append(corpus_sequences(*corpus, weights=weights, landmarker=landmarker, workers=threads, log=log))
    if not parts:
        raise AffectStreamError("nothing to train on: give --sequences, --videos or --corpus")
    train = concat(parts)
    valid = held_out(data, valid_sequences, seed, weights=weights, landmarker=landmarker, workers=threads,
                     log=log) if valid_sequences else None
    log(f"{len(train.present)} training sequences ({float(train.present.float().mean()):.1%} of frames with a face); "
        f"sequences ready in {time.perf_counter() - started:.0f} s")
    epochs = epochs or EPOCHS[model]
    trained = time.perf_counter()
    if model == "affwildnet":
        net = train_affwildnet(train, epochs=epochs, seed=seed, log=log)
        extra = {}
    else:
        net = train_affective_process(train, epochs=epochs, seed=seed, log=log)
        extra = {"seconds": seconds}
    log(f"trained in {time.perf_counter() - trained:.0f} s")
    figures = score(net, valid, seconds) if valid is not None else {}
    if figures:
        extra["holdout"] = ", ".join(f"{k} {v:.4f}" for k, v in figures["all"].items())
    if corpus:
        extra["corpus"] = ":".join(map(str, corpus))
    out = Path(out) if out else weights_dir() / TEMPORAL_WEIGHTS[model]
    save_net(net, out, data=str(data), sequences=sequences, videos=",".join(Path(v).name for v in videos),
             video_sequences=video_sequences, seed=seed, epochs=epochs, **extra)
    log(f"saved {out} in {time.perf_counter() - started:.0f} s")
    if figures:
        print_table({f"{model} (causal)": figures}, log)
    return figures


def both(valid: Sequences, prediction: dict) -> dict[str, dict]:
    """Figures over all frames and over the frames with a face."""
    face = valid.present.numpy()
    return {"all": sequence_figures(prediction, valid), "face": sequence_figures(prediction, valid, face)}


def score(net, valid: Sequences, seconds: float, ahead: int = 0) -> dict[str, dict]:
    """`both` for the temporal model's causal (or, with ahead > 0, centred) predictions."""
    return both(valid, predict_sequences(net, valid, width=max(1, round(seconds * FPS)), ahead=ahead))


def evaluate_temporal(model: str, data, *, temporal_weights=None, sequences: int = 100, seed: int = 0,
                      corpus=None, seconds: float | None = None, weights=None, landmarker=None, threads: int = 2,
                      log=print) -> dict[str, dict]:
    """Score the temporal model beside the per-frame model and hold-last on held-out sequences."""
    torch.set_num_threads(threads)
    net, header = load_temporal_net(model, temporal_weights)
    seconds = seconds if seconds is not None else float(header.get("seconds", 0.5))
    valid = held_out(data, sequences, seed, corpus=corpus, weights=weights, landmarker=landmarker, workers=threads,
                     log=log)
    present = valid.present.numpy()
    rows = {"per-frame": both(valid, {"mean": valid.frame_prediction.numpy()}),
            "hold-last": both(valid, hold_last(valid)), f"{model} (causal)": score(net, valid, seconds)}
    if model == "ap":
        half = round(seconds * FPS / 2)  # the offline window: as wide, centred on the frame
        rows["ap (offline, centred)"] = score(net, valid, seconds, ahead=half) if half else rows["ap (causal)"]
    log(f"{len(present)} held-out sequences of {present.shape[1]} frames from "
        f"{corpus[0] + ' ' + str(corpus[1]) if corpus else str(data) + ' (valid split)'}, "
        f"{present.mean():.1%} of frames with a face, {float(valid.degraded.float().mean()):.1%} degraded or without")
    print_table(rows, log)
    return rows


def print_table(rows: dict[str, dict], log=print) -> None:
    columns = ("ccc_valence", "ccc_arousal", "au_icc", "au_pcc", "within_1sd", "within_2sd", "nll")
    log(f"{'':30s} {'frames':>7s} " + " ".join(f"{c:>11s}" for c in columns))
    for name, parts in rows.items():
        for part, figures in parts.items():
            cells = " ".join(f"{figures[c]:11.4f}" if c in figures else f"{'–':>11s}" for c in columns)
            log(f"{name + ' / ' + part:30s} {figures['frames']:7d} {cells}")
