"""AffWildNet CNN-RNN (Kollias et al., IJCV 2019): per-frame features into a 2-layer GRU.

The per-frame model's embedding, concatenated with the normalised face shape (as the paper feeds
landmarks beside CNN features), goes through a 2-layer GRU of 128 units and linear heads for
valence/arousal (tanh) and the 12 AUs (5·sigmoid). Trained on 80-frame sequences with
1 − (CCC_v + CCC_a)/2. Streaming keeps one hidden state per track.
"""
from __future__ import annotations

import torch
from torch import nn

from ..types import AU_NAMES


class AffWildNet(nn.Module):
    """features (B, T, D) → valence_arousal (B, T, 2) −1…1, au (B, T, 12) 0–5, hidden (layers·dirs, B, H).

    bidirectional: for offline use over a whole sequence (not causal).
    """

    def __init__(self, input_dim: int, hidden: int = 128, layers: int = 2, bidirectional: bool = False,
                 dropout: float = 0.2):
        super().__init__()
        self.gru = nn.GRU(input_dim, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional,
                          dropout=dropout if layers > 1 else 0.0)
        width = hidden * (2 if bidirectional else 1)
        self.valence_arousal = nn.Linear(width, 2)
        self.au = nn.Linear(width, len(AU_NAMES))
        self.config = {"input_dim": input_dim, "hidden": hidden, "layers": layers, "bidirectional": bidirectional}

    def forward(self, features: torch.Tensor, hidden: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        sequence, hidden = self.gru(features, hidden)
        return {"valence_arousal": torch.tanh(self.valence_arousal(sequence)),
                "au": 5.0 * torch.sigmoid(self.au(sequence)), "hidden": hidden}


class GRUTracks:
    """Causal streaming: one GRU hidden state per track_id, reset when a track is lost."""

    def __init__(self, net: AffWildNet):
        if net.config["bidirectional"]:
            raise ValueError("a bidirectional GRU cannot run causally; use it offline")
        self.net = net.eval()
        self.hidden: dict[int, torch.Tensor] = {}

    @torch.inference_mode()
    def step(self, track_id: int, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """One frame of one track: features (D,) → valence_arousal (2,), au (12,)."""
        out = self.net(features.reshape(1, 1, -1), self.hidden.get(track_id))
        self.hidden[track_id] = out["hidden"]
        return {"valence_arousal": out["valence_arousal"][0, 0], "au": out["au"][0, 0]}

    def keep_only(self, track_ids) -> None:
        """Drop the state of every track not in `track_ids` (lost tracks start afresh if they return)."""
        keep = set(track_ids)  # once, not per track
        self.hidden = {t: h for t, h in self.hidden.items() if t in keep}
