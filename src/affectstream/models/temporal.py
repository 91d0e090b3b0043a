"""What the temporal models read from a per-frame output, and the output they give back.

Each frame, every live track takes one causal step: a detected face with its per-frame reading,
a track the tracker still holds but missed in this frame with an empty reading (present = 0), so
the models carry their estimate through short detection gaps, as they were trained to, and are
told how long the gap has lasted, so their σ widens with it.
"""
from __future__ import annotations

import numpy as np
import torch

from ..circumplex import spread
from ..registry import Weights
from ..types import AU_NAMES, DISFA_AU_NAMES, EMOTION_NAMES, FrameOutput
from .weights import load_net

# the per-frame prediction the models read and give: valence, arousal, the 12 DISFA AUs / 5 and
# the 8 emotion probabilities
PREDICTION_DIM = 2 + len(DISFA_AU_NAMES) + len(EMOTION_NAMES)
EMOTIONS = slice(2 + len(DISFA_AU_NAMES), PREDICTION_DIM)  # where the probabilities sit in y
# where the 12 DISFA AUs the temporal models carry sit among the 17 of AU_NAMES
DISFA_INDEX = [AU_NAMES.index(a) for a in DISFA_AU_NAMES]


def probabilities(logits: np.ndarray) -> np.ndarray:
    """Softmax of emotion logits (float64 inside, so it matches the records' own)."""
    z = np.asarray(logits, np.float64)
    p = np.exp(z - z.max())
    return p / p.sum()


def temporal_input(out: FrameOutput | None, x_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(x (x_dim,), y (22,)): x = [embedding, normalised landmarks, per-frame prediction, present],
    y = the prediction; zeros (present = 0) for a frame in which the track was not detected."""
    if out is None:
        return torch.zeros(x_dim), torch.zeros(PREDICTION_DIM)
    y = torch.from_numpy(np.concatenate([[out.valence, out.arousal], out.au[DISFA_INDEX] / 5,
                                         probabilities(out.emotion)]).astype(np.float32))
    x = torch.cat([torch.from_numpy(out.embedding), torch.from_numpy(out.shape), y, torch.ones(1)])
    return x, y


def gap_feature(gap: torch.Tensor) -> torch.Tensor:
    """(…, 1) what a model reads of the seconds since the track's last face (0 on a face frame):
    log-scaled, so the first frames of a gap differ most."""
    return torch.log1p(10 * gap)


def last_kept(keep: torch.Tensor) -> torch.Tensor:
    """(B, T) index of the last kept frame up to each t (−1 before the first)."""
    t = torch.arange(keep.shape[1]).expand_as(keep)
    return torch.where(keep, t, -1).cummax(1).values


def frames_since(keep: torch.Tensor) -> torch.Tensor:
    """(B, T) frames since the last kept frame (0 on one; counted from the start before the
    first, as if a frame before the sequence had been kept)."""
    return torch.arange(keep.shape[1]) - last_kept(keep)


def hold_last(values: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """(B, T, D) `values` at the last kept frame up to each t (zero before the first): what a
    stream still holds from its last face through a detection gap."""
    last = last_kept(keep)
    held = values.gather(1, last.clamp_min(0)[..., None].expand_as(values))
    return held * (last >= 0)[..., None]


class GapClock:
    """Per track, the timestamp of its last detected face: how long a detection gap has lasted."""

    def __init__(self):
        self.last: dict[int, float] = {}

    def tick(self, track_id: int, timestamp: float, detected: bool) -> float:
        """Seconds since the track's last face (0 when `detected`)."""
        if detected or track_id not in self.last:
            self.last[track_id] = timestamp
        return max(0.0, timestamp - self.last[track_id])

    def drop(self, track_id: int) -> None:
        self.last.pop(track_id, None)

    def reset(self) -> None:
        self.last.clear()


def calibrated(model: torch.nn.Module, std: torch.Tensor, gap: torch.Tensor,
               mean: torch.Tensor) -> torch.Tensor:
    """σ' = scale · √(σ^(2·power) + spread · v) · √(1 + growth · gap) with `model`'s calibration
    buffers: (2, y_dim) scale and power, row 0 for frames with a face, row 1 for frames in a
    detection gap (gap (…, 1) seconds > 0), and (y_dim,) growth per second of gap; and, for valence
    and arousal, v the circumplex variance under `mean`'s emotion probabilities (circumplex.py
    `spread`) weighed by the config's "std_spread" ((2, 2): face, gap × valence, arousal; absent in
    files before v0.6: 0). All fitted on tuning sequences (training.py calibrate_std)."""
    row = (gap > 0).long().squeeze(-1)
    own = std.clamp_min(1e-6) ** model.std_power[row]
    weights = model.config.get("std_spread")
    if weights:  # a model unsure between far-apart emotions is unsure of valence and arousal
        weight = torch.tensor(weights, dtype=std.dtype)[row]
        va = (own[..., :2] ** 2 + weight * spread(mean[..., EMOTIONS])).sqrt()
        own = torch.cat([va, own[..., 2:]], -1)
    return model.std_scale[row] * own * (1 + model.std_growth * gap).sqrt()


def calibration_buffers(module: torch.nn.Module, y_dim: int) -> None:
    """Register the σ calibration `calibrated` reads, as the identity until it is fitted."""
    module.register_buffer("std_scale", torch.ones(2, y_dim))
    module.register_buffer("std_power", torch.ones(2, y_dim))
    module.register_buffer("std_growth", torch.zeros(y_dim))


def mean_output(mean: np.ndarray, std: np.ndarray | None = None) -> FrameOutput:
    """A temporal model's (22,) mean (and σ) as a FrameOutput: values clipped to their ranges, AUs
    back to 0–5, emotions renormalised to sum to 1 and stored as log-probabilities (the logits a
    FrameOutput holds)."""
    emotion = np.clip(mean[EMOTIONS].astype(np.float64), 1e-6, None)
    out = FrameOutput(valence=float(np.clip(mean[0], -1, 1)),
                      arousal=float(np.clip(mean[1], -1, 1)),
                      au=np.clip(mean[2:EMOTIONS.start] * 5, 0, 5).astype(np.float32),
                      emotion=np.log(emotion / emotion.sum()))
    if std is not None:
        out.valence_std, out.arousal_std = float(std[0]), float(std[1])
        out.au_std = (std[2:EMOTIONS.start] * 5).astype(np.float32)
    return out


def widen_au(values: np.ndarray | None, reading: FrameOutput | None) -> np.ndarray | None:
    """A temporal model's 12 DISFA values as the 17 of AU_NAMES: the other five from the
    per-frame `reading` (NaN on a held row, which has none)."""
    if values is None or len(values) == len(AU_NAMES):
        return values
    wide = np.full(len(AU_NAMES), np.nan, np.float32)
    if reading is not None and reading.au is not None:
        wide[:] = reading.au
    wide[DISFA_INDEX] = values
    return wide


def load_temporal_net(network: type, name: str, weights: Weights, path=None) -> tuple:
    """(the `network` stored at `path` (default: the shipped `weights`), the file's metadata) for
    the temporal model registered as `name`."""
    how = (f"train one with `affectstream train temporal --model {name}` or pass "
           "--temporal-weights PATH")
    return load_net(network, path or weights.path, network.__name__, how)
