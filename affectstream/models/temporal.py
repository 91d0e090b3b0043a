"""The temporal stage: per-track state of AffWildNet or the Affective Process over per-frame outputs.

Each frame, every live track takes one causal step: a detected face with its per-frame reading,
a track the tracker still holds but missed in this frame with an empty reading (present = 0), so
the models carry their estimate through short detection gaps, as they were trained to.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..types import FrameOutput
from .affective_process import AffectiveProcess, ContextWindow
from .affwildnet import AffWildNet, GRUTracks

PREDICTION_DIM = 14  # valence, arousal, AU/5: the per-frame prediction the models read and give


def temporal_input(out: FrameOutput | None, embed_dim: int, shape_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y): x = [embedding, normalised landmarks, per-frame prediction, present], y = the prediction;
    zeros with present = 0 for a frame in which the track was not detected (as in training)."""
    if out is None:
        y = torch.zeros(PREDICTION_DIM)
        return torch.cat([torch.zeros(embed_dim + shape_dim), y, torch.zeros(1)]), y
    y = torch.from_numpy(np.concatenate([[out.valence, out.arousal], out.au / 5]).astype(np.float32))
    x = torch.cat([torch.from_numpy(out.embedding), torch.from_numpy(out.shape), y, torch.ones(1)])
    return x, y


@dataclass
class TemporalOutput:
    """One track's refined estimate; stds None from a model without uncertainty."""

    valence: float
    arousal: float
    au: np.ndarray
    valence_std: float | None = None
    arousal_std: float | None = None
    au_std: np.ndarray | None = None


class AffWildNetStage:
    """AffWildNet run causally: one GRU hidden state per track."""

    produces = ("au", "valence")

    def __init__(self, net: AffWildNet):
        self.tracks = GRUTracks(net)

    def step(self, track_id: int, timestamp: float, x: torch.Tensor, y: torch.Tensor, present: bool
             ) -> TemporalOutput:
        out = self.tracks.step(track_id, x)
        va = out["valence_arousal"].numpy()
        return TemporalOutput(float(va[0]), float(va[1]), out["au"].numpy().copy())

    def keep_only(self, track_ids) -> None:
        self.tracks.keep_only(track_ids)


class AffectiveProcessStage:
    """The Affective Process run causally: per track, a context of the frames with a face in the last
    `seconds` (mean aggregation updated in O(1)); the target is the current frame.

    Warm-up: a new track's context is whatever it has seen so far (one frame at first); the model was
    trained on such short contexts at the start of sequences, and its σ is wider there.
    """

    produces = ("au", "valence", "uncertainty")

    def __init__(self, model: AffectiveProcess, seconds: float = 2.0):
        self.model = model.eval()
        self.seconds = seconds
        self.windows: dict[int, ContextWindow] = {}

    @torch.inference_mode()
    def step(self, track_id: int, timestamp: float, x: torch.Tensor, y: torch.Tensor, present: bool
             ) -> TemporalOutput:
        window = self.windows.setdefault(track_id, ContextWindow(self.seconds, self.model.r_size))
        if present:
            window.add(timestamp, self.model.encode(x, y))
        else:
            window.expire(timestamp)
        mean, std = self.model.predict(window.mean(), x[None])
        mean, std = mean[0].numpy(), std[0].numpy()
        return TemporalOutput(float(np.clip(mean[0], -1, 1)), float(np.clip(mean[1], -1, 1)),
                              np.clip(mean[2:] * 5, 0, 5), float(std[0]), float(std[1]), std[2:] * 5)

    def keep_only(self, track_ids) -> None:
        keep = set(track_ids)  # once, not per track
        self.windows = {t: w for t, w in self.windows.items() if t in keep}
