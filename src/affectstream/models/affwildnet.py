"""AffWildNet CNN-RNN (Kollias et al., IJCV 2019): per-frame features into a 2-layer GRU.

The per-frame model's embedding, concatenated with the normalised face shape (as the paper feeds
landmarks beside CNN features), its prediction and how long the track has gone without a face, go
through a 2-layer GRU of 128 units. Its heads give the GRU's own estimate of valence/arousal
(tanh), the 12 DISFA AUs (sigmoid, /5) and the 8 emotion probabilities (softmax), a gate per
output that mixes in the current frame's prediction (none without a face: a gated residual, so the
GRU need not reproduce AU dynamics it would flatten), and a σ per output (a variance head trained
with the Gaussian NLL, widened by a learnt process noise through detection gaps). Trained on
80-frame sequences with 1 − (CCC_v + CCC_a)/2 as in the paper, plus the AU MSE, the emotions'
cross-entropy and the NLL. The shipped file averages several such GRUs, each trained from its own
seed (a deep ensemble). Streaming keeps one hidden state per track and GRU.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.functional import softplus

from ..errors import AffectStreamError
from ..registry import Weights, register
from ..types import FrameOutput
from .smoothing import TrackSmoothers
from .temporal import (
    EMOTIONS,
    PREDICTION_DIM,
    GapClock,
    calibrated,
    calibration_buffers,
    gap_feature,
    hold_last,
    load_temporal_net,
    mean_output,
    temporal_input,
)


class GRUMember(nn.Module):
    """One trained GRU of AffWildNet: its own estimate, gates, σ and process noise."""

    def __init__(self, input_dim: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        self.gru = nn.GRU(input_dim + 1, hidden, num_layers=layers, batch_first=True,
                          dropout=dropout if layers > 1 else 0.0)
        self.state = nn.Linear(hidden, PREDICTION_DIM)
        # one gate per value and one for the whole emotion distribution
        self.gate = nn.Linear(hidden, EMOTIONS.start + 1)
        self.log_std = nn.Linear(hidden, PREDICTION_DIM)
        self.process_noise = nn.Parameter(torch.full((PREDICTION_DIM,), -4.0))  # softplus: q

    def forward(self, inputs: torch.Tensor, gap: torch.Tensor, reference: torch.Tensor,
                seen: torch.Tensor, min_std: float, hidden: torch.Tensor | None = None) -> tuple:
        """(mean, uncalibrated σ, hidden) with the gated residual on `reference`."""
        sequence, hidden = self.gru(inputs, hidden)
        raw = self.state(sequence)
        own = torch.cat([torch.tanh(raw[..., :2]), torch.sigmoid(raw[..., 2:EMOTIONS.start]),
                         torch.softmax(raw[..., EMOTIONS], -1)], -1)
        gain = torch.sigmoid(self.gate(sequence)) * seen
        gain = torch.cat([gain[..., :-1], gain[..., -1:].expand_as(reference[..., EMOTIONS])], -1)
        mean = gain * reference + (1 - gain) * own  # emotions: a mix of two distributions is one
        std = min_std + softplus(self.log_std(sequence))
        return mean, (std ** 2 + softplus(self.process_noise) * gap).sqrt(), hidden


class AffWildNet(nn.Module):
    """features (B, T, D) ending with [per-frame prediction (22), present], gap (B, T, 1) seconds
    since the last face → mean (B, T, 22): valence, arousal −1…1, AU/5 0–1, emotion probabilities;
    std (B, T, 22) calibrated; valence_arousal (B, T, 2); au (B, T, 12) 0–5; hidden (members,
    layers, B, H).

    `members` GRUs trained apart from different seeds are averaged (a deep ensemble,
    Lakshminarayanan et al., NeurIPS 2017): their mean is the mean, and their disagreement adds to
    σ² (the law of total variance)."""

    def __init__(self, input_dim: int, hidden: int = 128, layers: int = 2, dropout: float = 0.2,
                 min_std: float = 0.01, smoothing: list | None = None,
                 std_spread: list | None = None, members: int = 1):
        super().__init__()
        self.members = nn.ModuleList(GRUMember(input_dim, hidden, layers, dropout)
                                     for _ in range(members))
        self.min_std = min_std
        calibration_buffers(self, PREDICTION_DIM)
        # the 1€ filter on the output (smoothing.py) and σ's circumplex term (temporal.py
        # calibrated), chosen on tuning sequences after training
        self.config = {"input_dim": input_dim, "hidden": hidden, "layers": layers,
                       "smoothing": smoothing, "std_spread": std_spread, "members": members}

    @classmethod
    def from_config(cls, config: dict) -> AffWildNet:
        config = dict(config)
        # v0.3 files record "bidirectional": false; a bidirectional GRU cannot run causally.
        if config.pop("bidirectional", False):
            raise AffectStreamError("bidirectional AffWildNet weights cannot run causally")
        return cls(**config)

    @staticmethod
    def upgrade_tensors(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Files written before the ensemble hold one GRU's tensors unprefixed: member 0's."""
        if any(k.startswith("members.") for k in tensors):
            return tensors
        return {k if k.startswith("std_") else f"members.0.{k}": v for k, v in tensors.items()}

    def forward(self, features: torch.Tensor, gap: torch.Tensor | None = None,
                hidden: torch.Tensor | None = None,
                held: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """held (B, T, 22): the last detected frame's prediction at each step (default: found
        within `features`; a stream passes the one it keeps)."""
        gap = torch.zeros_like(features[..., :1]) if gap is None else gap
        inputs = torch.cat([features, gap_feature(gap)], -1)
        frame, present = features[..., -PREDICTION_DIM - 1:-1], features[..., -1:]
        if held is None:
            held = hold_last(frame, present[..., 0] > 0)
        # the reference: this frame's prediction, or in a gap the last face's (hold-last), which
        # each member's gate mixes with its own estimate
        reference = torch.where(present > 0, frame, held)
        seen = (reference[..., EMOTIONS].sum(-1, keepdim=True) > 0).float()  # none before a face
        outs = [member(inputs, gap, reference, seen, self.min_std,
                       None if hidden is None else hidden[k])
                for k, member in enumerate(self.members)]
        means = torch.stack([o[0] for o in outs])
        mean = means.mean(0)
        variance = torch.stack([o[1] for o in outs]).square().mean(0)
        if len(outs) > 1:
            variance = variance + means.var(0, unbiased=False)
        return {"mean": mean, "std": calibrated(self, variance.sqrt(), gap, mean),
                "valence_arousal": mean[..., :2], "au": 5 * mean[..., 2:EMOTIONS.start],
                "hidden": torch.stack([o[2] for o in outs])}


WEIGHTS = Weights("affwildnet.safetensors", card="affwildnet.md")


@register("temporal", "affwildnet", weights=WEIGHTS,
          trainer="affectstream.train.temporal.training:train_affwildnet")
class AffWildNetStage:
    """AffWildNet run causally: one GRU hidden state per track, forgotten when the track is lost."""

    produces = ("au", "valence", "emotion", "uncertainty")
    windowed = False

    def __init__(self, net: AffWildNet):
        self.net = net.eval()
        self.hidden: dict[int, torch.Tensor] = {}
        self.held: dict[int, torch.Tensor] = {}  # per track, its last face's prediction
        self.clock = GapClock()
        self.smooth = TrackSmoothers(net.config.get("smoothing"))

    @classmethod
    def load_network(cls, path=None) -> tuple[AffWildNet, dict]:
        """(the network at `path` (default: the shipped weights), the file's metadata)."""
        return load_temporal_net(AffWildNet, "affwildnet", WEIGHTS, path)

    @classmethod
    def from_options(cls, options) -> AffWildNetStage:
        return cls(cls.load_network(options.temporal_weights)[0])

    @torch.inference_mode()
    def step(self, track_id: int, timestamp: float, reading: FrameOutput | None) -> FrameOutput:
        x, y = temporal_input(reading, self.net.config["input_dim"])
        if reading is not None:
            self.held[track_id] = y
        gap = torch.tensor([[[self.clock.tick(track_id, timestamp, reading is not None)]]])
        held = self.held.get(track_id, y).reshape(1, 1, -1)
        out = self.net(x.reshape(1, 1, -1), gap, self.hidden.get(track_id), held)
        self.hidden[track_id] = out["hidden"]
        mean = self.smooth(track_id, timestamp, out["mean"][0, 0].numpy())
        return mean_output(mean, out["std"][0, 0].numpy())

    def drop(self, track_id: int) -> None:
        self.hidden.pop(track_id, None)
        self.held.pop(track_id, None)
        self.smooth.drop(track_id)
        self.clock.drop(track_id)

    def reset(self) -> None:
        self.hidden.clear()
        self.held.clear()
        self.smooth.reset()
        self.clock.reset()
