"""AffWildNet CNN-RNN (Kollias et al., IJCV 2019): per-frame features into a 2-layer GRU.

The per-frame model's embedding, concatenated with the normalised face shape (as the paper feeds
landmarks beside CNN features), goes through a 2-layer GRU of 128 units and linear heads for
valence/arousal (tanh) and the 12 DISFA AUs (5·sigmoid). Trained on 80-frame sequences with
1 − (CCC_v + CCC_a)/2. Streaming keeps one hidden state per track.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import AffectStreamError
from ..registry import Weights, register
from ..types import DISFA_AU_NAMES, FrameOutput
from .temporal import load_temporal_net, temporal_input


class AffWildNet(nn.Module):
    """features (B, T, D) → valence_arousal (B, T, 2) −1…1, au (B, T, 12) 0–5, hidden (layers, B,
    H)."""

    def __init__(self, input_dim: int, hidden: int = 128, layers: int = 2, dropout: float = 0.2):
        super().__init__()
        self.gru = nn.GRU(input_dim, hidden, num_layers=layers, batch_first=True,
                          dropout=dropout if layers > 1 else 0.0)
        self.valence_arousal = nn.Linear(hidden, 2)
        self.au = nn.Linear(hidden, len(DISFA_AU_NAMES))
        self.config = {"input_dim": input_dim, "hidden": hidden, "layers": layers}

    @classmethod
    def from_config(cls, config: dict) -> AffWildNet:
        config = dict(config)
        # v0.3 files record "bidirectional": false; a bidirectional GRU cannot run causally.
        if config.pop("bidirectional", False):
            raise AffectStreamError("bidirectional AffWildNet weights cannot run causally")
        return cls(**config)

    def forward(self, features: torch.Tensor, hidden: torch.Tensor | None = None
                ) -> dict[str, torch.Tensor]:
        sequence, hidden = self.gru(features, hidden)
        return {"valence_arousal": torch.tanh(self.valence_arousal(sequence)),
                "au": 5.0 * torch.sigmoid(self.au(sequence)), "hidden": hidden}


WEIGHTS = Weights("affwildnet.safetensors", card="affwildnet.md")


@register("temporal", "affwildnet", weights=WEIGHTS,
          trainer="affectstream.train.temporal.training:train_affwildnet")
class AffWildNetStage:
    """AffWildNet run causally: one GRU hidden state per track, forgotten when the track is lost."""

    produces = ("au", "valence")
    windowed = False

    def __init__(self, net: AffWildNet):
        self.net = net.eval()
        self.hidden: dict[int, torch.Tensor] = {}

    @classmethod
    def load_network(cls, path=None) -> tuple[AffWildNet, dict]:
        """(the network at `path` (default: the shipped weights), the file's metadata)."""
        return load_temporal_net(AffWildNet, "affwildnet", WEIGHTS, path)

    @classmethod
    def from_options(cls, options) -> AffWildNetStage:
        return cls(cls.load_network(options.temporal_weights)[0])

    @torch.inference_mode()
    def step(self, track_id: int, timestamp: float, reading: FrameOutput | None) -> FrameOutput:
        x, _ = temporal_input(reading, self.net.config["input_dim"])
        out = self.net(x.reshape(1, 1, -1), self.hidden.get(track_id))
        self.hidden[track_id] = out["hidden"]
        va = out["valence_arousal"][0, 0].numpy()
        return FrameOutput(valence=float(va[0]), arousal=float(va[1]),
                           au=out["au"][0, 0].numpy().copy())

    def drop(self, track_id: int) -> None:
        self.hidden.pop(track_id, None)

    def reset(self) -> None:
        self.hidden.clear()
