"""`affectstream train temporal` and `affectstream evaluate temporal`: the shipped temporal weights,
trained and scored on corrupted sequences (data.py) the same way every time.

The models come from the registry: each registered temporal model names its network and trainer.
Held-out sequences are built from the *valid* split of the stills with another seed, so no image
and no corruption trajectory of the evaluation was seen in training; tuning sequences (σ's
calibration, the output filter; levers such as the smoothness prior are chosen on them), three
times as many by default (those choices weigh differences of a few thousandths, which 100
sequences cannot resolve), from the faces of the train split that the per-frame model held out,
with a third seed.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from ... import registry
from ...errors import AffectStreamError
from ...models.weights import save_net
from .corpus import corpus_sequences
from .data import SEQUENCE_FPS, TUNE, Sequences, build_sequences, concat
from .evaluation import (
    both,
    hold_last,
    model_prediction,
    per_frame,
    print_gaps,
    print_table,
    score,
    sigma_by_gap,
)

EPOCHS = 30
# held-out sequences scored: with 100, ±1σ coverage had a bootstrap standard error of 2.6 points
# and the leads over hold-last were a few thousandths, below what they could resolve
HELD_OUT_SEQUENCES = 500


def trainable() -> tuple[str, ...]:
    """The registered temporal models that can be trained here."""
    return tuple(e.name for e in registry.entries("temporal") if e.trainer)


def held_out(data, sequences: int, seed: int, *, corpus=None, weights=None, landmarker=None,
             workers: int = 2, log=print) -> Sequences:
    """The evaluation sequences: `sequences` from the valid split of `data`, seeded apart from
    training's, or every labelled sequence of `corpus` (kind, labels, media) when given."""
    if corpus:
        return corpus_sequences(*corpus, weights=weights, landmarker=landmarker, workers=workers,
                                log=log)
    return build_sequences(data, "valid", sequences, seed=seed + 1, weights=weights,
                           landmarker=landmarker, workers=workers, log=log)


def train_temporal(model: str, data, out=None, *, sequences: int = 600, videos: tuple = (),
                   video_sequences: int = 0, corpus=None,
                   valid_sequences: int = HELD_OUT_SEQUENCES,
                   tune_sequences: int = 300,
                   epochs: int | None = None, seconds: float = 0.5, seed: int = 0, threads: int = 2,
                   weights=None, landmarker=None, log=print) -> dict:
    """Build the sequences, train the registered temporal model `model`, score it on held-out
    sequences and save it (default: the shipped weights' path). Seeded: the same arguments give
    the same weights. corpus: (kind, labels folder, media folder) of an annotated corpus
    (corpus.py) to train on too."""
    entry = registry.get("temporal", model)
    if not entry.trainer:
        raise AffectStreamError(f"the temporal model {model!r} has no trainer; choose from "
                                f"{', '.join(trainable())}")
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    started = time.perf_counter()
    common = {"seed": seed, "weights": weights, "landmarker": landmarker, "workers": threads,
              "log": log}
    parts = [build_sequences(data, "train", sequences, **common)] if sequences else []
    if video_sequences:
        parts.append(build_sequences(data, "train", 0, videos=tuple(videos),
                                     video_count=video_sequences, **common))
    if corpus:
        parts.append(corpus_sequences(*corpus, weights=weights, landmarker=landmarker,
                                      workers=threads, log=log))
    if not parts:
        raise AffectStreamError("nothing to train on: give --sequences, --videos or --corpus")
    train = concat(parts)
    # none: σ stays as trained and no output filter is chosen
    tune = build_sequences(data, TUNE, tune_sequences, **{**common, "seed": seed + 2}) \
        if tune_sequences else None
    valid = held_out(data, valid_sequences, seed, weights=weights, landmarker=landmarker,
                     workers=threads, log=log) if valid_sequences else None
    log(f"{len(train.present)} training sequences "
        f"({float(train.present.float().mean()):.1%} of frames with a face); "
        f"sequences ready in {time.perf_counter() - started:.0f} s")
    epochs = epochs or EPOCHS
    trained = time.perf_counter()
    net = entry.load_trainer()(train, epochs=epochs, seed=seed, tune=tune, log=log)
    extra = {"seconds": seconds} if entry.cls.windowed else {}
    log(f"trained in {time.perf_counter() - trained:.0f} s")
    figures = score(net, valid, seconds) if valid is not None else {}
    if figures:
        extra["holdout"] = ", ".join(f"{k} {v:.4f}" for k, v in figures["all"].items())
    if corpus:
        extra["corpus"] = ":".join(map(str, corpus))
    out = Path(out) if out else entry.weights.path
    save_net(net, out, data=str(data), sequences=sequences,
             videos=",".join(Path(v).name for v in videos), video_sequences=video_sequences,
             seed=seed, epochs=epochs, **extra)
    log(f"saved {out} in {time.perf_counter() - started:.0f} s")
    if figures:
        print_table({f"{model} (causal)": figures}, log)
    return figures


def evaluate_temporal(model: str, data, *, temporal_weights=None,
                      sequences: int = HELD_OUT_SEQUENCES,
                      seed: int = 0, corpus=None, seconds: float | None = None, weights=None,
                      landmarker=None, threads: int = 2, log=print) -> dict[str, dict]:
    """Score the temporal model beside the per-frame model and hold-last on held-out sequences."""
    torch.set_num_threads(threads)
    stage = registry.get("temporal", model).cls
    net, header = stage.load_network(temporal_weights)
    seconds = seconds if seconds is not None else float(header.get("seconds", 0.5))
    valid = held_out(data, sequences, seed, corpus=corpus, weights=weights, landmarker=landmarker,
                     workers=threads, log=log)
    present = valid.present.numpy()
    causal = model_prediction(net, valid, seconds)
    rows = {"per-frame": both(valid, per_frame(valid)), "hold-last": both(valid, hold_last(valid)),
            f"{model} (causal)": both(valid, causal)}
    if stage.windowed:
        # the offline window: as wide, centred on the frame
        half = round(seconds * SEQUENCE_FPS / 2)
        rows[f"{model} (offline, centred)"] = (
            both(valid, model_prediction(net, valid, seconds, ahead=half)) if half
            else rows[f"{model} (causal)"])
    log(f"{len(present)} held-out sequences of {present.shape[1]} frames from "
        f"{corpus[0] + ' ' + str(corpus[1]) if corpus else str(data) + ' (valid split)'}, "
        f"{present.mean():.1%} of frames with a face, "
        f"{float(valid.degraded.float().mean()):.1%} degraded or without")
    print_table(rows, log)
    if "std" in causal:
        print_gaps(f"{model} (causal)", sigma_by_gap(causal, valid), log)
    return rows


