"""The circumplex of affect: where each emotion sits in valence and arousal, and how far apart the
emotions an estimate still holds possible lie.

The prototypes are K. R. Scherer's placement of the emotion terms (Social Science Information
44(4), 2005, after Russell 1980), as in `shared/data/emotion_va_prototypes.csv`; the per-frame
model's valence/arousal targets are FER+ vote distributions × these points.
"""
from __future__ import annotations

import torch

from .types import EMOTION_NAMES

# (valence, arousal) per emotion, in EMOTION_NAMES order
PROTOTYPES = ((0.00, 0.00), (0.90, 0.17), (0.42, 0.89), (-0.82, -0.40), (-0.41, 0.79),
              (-0.67, 0.49), (-0.11, 0.79), (-0.57, 0.65))
assert len(PROTOTYPES) == len(EMOTION_NAMES)
_POINTS = torch.tensor(PROTOTYPES, dtype=torch.float64)  # built once: spread runs per face-frame


def spread(probabilities: torch.Tensor) -> torch.Tensor:
    """(…, 2) variance of valence and arousal over the prototypes weighted by (…, 8) emotion
    probabilities (renormalised): 0 for one sure emotion, large for a tie between far-apart ones
    (happiness against sadness), which is where a valence/arousal estimate is least sure."""
    p = probabilities.clamp_min(0)
    p = p / p.sum(-1, keepdim=True).clamp_min(1e-6)
    points = _POINTS.to(dtype=p.dtype, device=p.device)
    centre = p @ points
    return (p.unsqueeze(-1) * (points - centre.unsqueeze(-2)) ** 2).sum(-2)
