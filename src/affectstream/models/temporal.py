"""What the temporal models read from a per-frame output, and the output they give back.

Each frame, every live track takes one causal step: a detected face with its per-frame reading,
a track the tracker still holds but missed in this frame with an empty reading (present = 0), so
the models carry their estimate through short detection gaps, as they were trained to.
"""
from __future__ import annotations

import numpy as np
import torch

from ..registry import Weights
from ..types import AU_NAMES, DISFA_AU_NAMES, FrameOutput
from .weights import load_net

PREDICTION_DIM = 14  # valence, arousal, AU/5: the per-frame prediction the models read and give
# where the 12 DISFA AUs the temporal models carry sit among the 17 of AU_NAMES
DISFA_INDEX = [AU_NAMES.index(a) for a in DISFA_AU_NAMES]


def temporal_input(out: FrameOutput | None, x_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(x (x_dim,), y (14,)): x = [embedding, normalised landmarks, per-frame prediction, present],
    y = the prediction; zeros (present = 0) for a frame in which the track was not detected."""
    if out is None:
        return torch.zeros(x_dim), torch.zeros(PREDICTION_DIM)
    y = torch.from_numpy(np.concatenate([[out.valence, out.arousal],
                                         out.au[DISFA_INDEX] / 5]).astype(np.float32))
    x = torch.cat([torch.from_numpy(out.embedding), torch.from_numpy(out.shape), y, torch.ones(1)])
    return x, y


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
