"""The Affective Process (Sanchez et al., CVPR 2021): a Neural Process over a face's recent past.

Context points are (x, y) pairs: x the per-frame embedding, y the per-frame prediction
(valence, arousal, AUs/5 and the 8 emotion probabilities). An encoder maps each pair to r_i;
their mean r_C parameterises a Gaussian over a global latent z; a decoder maps (target x, z)
to a Gaussian over y, whose standard deviation is the uncertainty reported per frame. Trained
with the ELBO E_q(z|targets)[log p(y_t | x_t, z)] − KL(q(z | targets) ‖ q(z | context)).
"""
from __future__ import annotations

from collections import deque

import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

from ..errors import AffectStreamError
from ..registry import Weights, register
from ..types import FrameOutput
from .smoothing import TrackSmoothers
from .temporal import (
    GapClock,
    calibrated,
    calibration_buffers,
    gap_feature,
    hold_last,
    load_temporal_net,
    mean_output,
    temporal_input,
)


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers[:-1])


class AffectiveProcess(nn.Module):
    """x (…, N, x_dim), y (…, N, y_dim). `encode` gives r_i; `latent` q(z | r_C); `decode`
    p(y | x, z, r_C).

    Besides the global latent z, the decoder reads r_C itself (the deterministic path of
    Kim et al.'s attentive NP and of the Affective Process's context encoder), which keeps the
    context in use when the target frame alone looks informative.

    Residual decoder: x ends with [per-frame prediction (y_dim), present (1)], and each r_i carries
    its y_i beside the encoder's features, so r_C holds the context's mean prediction ȳ_C. The
    decoder's mean is g·y_ref + (1 − g)·ȳ_C + a correction, with a gate g (0–1 per output) saying
    how far the reference is trusted over the context, as a Kalman gain would. The reference is
    this frame's prediction, or in a detection gap the last face's (v0.6: before, g was 0 in a gap
    and the estimate fell back to ȳ_C, which trails the last face). An untrained decoder already
    halves the per-frame jitter and holds the estimate through gaps, and training spends its
    capacity on when to follow the frame and what the context adds.

    Weighted context: the encoder also gives each context point a weight w_i (0–1), and r_C is the
    weighted mean Σ w_i r_i / Σ w_i: a soft form of the paper's "smart" selection of the most
    certain context frames, so blurred or occluded frames count less. It is kept as the plain mean
    of [w_i r_i, w_i], which a sliding window updates in O(1) like any mean.

    Attentive read-out (`attention` > 0, the attentive NP of Kim et al., ICLR 2019): each target
    frame queries the context, and r_C weighs context point i by w_i · exp(q_t · k_i / √d), so the
    frames that look like this one count most — after a cut to another expression the frames
    before it stop counting at once, where a plain mean trails them for the whole window. The
    query starts at zero, so training starts from the weighted mean.

    Detection gaps: the context stays as it was at the last face, and the decoder reads how long
    the gap has lasted; σ² gains a learnt process noise q·(seconds since the last face), as a
    Kalman filter's prediction step widens its variance, so a held estimate says how old it is.
    """

    def __init__(self, x_dim: int, y_dim: int, r_dim: int = 128, z_dim: int = 64, hidden: int = 128,
                 min_std: float = 0.01, held_reference: bool = True, attention: int = 0,
                 smoothing: list | None = None, std_spread: list | None = None):
        super().__init__()
        self.r_size = r_dim + y_dim + 1  # the length of r_i: features, y_i, weight
        self.encoder = _mlp([x_dim + y_dim, hidden, hidden, r_dim + 1])
        aggregate = self.r_size - 1  # the length of r_C
        self.latent_net = _mlp([aggregate, hidden, 2 * z_dim])
        self.decoder = _mlp([x_dim + z_dim + aggregate + 1, hidden, hidden, 3 * y_dim])
        self.process_noise = nn.Parameter(torch.full((y_dim,), -4.0))  # softplus: q per output
        if attention:
            self.query = nn.Linear(x_dim, attention)
            self.key = nn.Linear(x_dim + y_dim, attention)
            with torch.no_grad():  # every score 0: the weighted mean until trained otherwise
                self.query.weight.zero_()
                self.query.bias.zero_()
        # the gate starts mostly shut (0.12): smooth until the data say follow
        with torch.no_grad():
            self.decoder[-1].bias[2 * y_dim:].fill_(-2.0)
        self.min_std = min_std
        self.held_reference = held_reference
        calibration_buffers(self, y_dim)  # σ's calibration, fitted after training
        self.config = {"x_dim": x_dim, "y_dim": y_dim, "r_dim": r_dim, "z_dim": z_dim,
                       "hidden": hidden, "held_reference": held_reference,
                       "attention": attention,
                       # the 1€ filter on the output (smoothing.py) and σ's circumplex term
                       # (temporal.py calibrated), chosen after training
                       "smoothing": smoothing, "std_spread": std_spread}

    @classmethod
    def from_config(cls, config: dict) -> AffectiveProcess:
        config = dict(config)
        # v0.3 files record "residual" and "weighted" (both true): the only variant kept.
        if not (config.pop("residual", True) and config.pop("weighted", True)):
            raise AffectStreamError("Affective Process weights without the residual decoder and "
                                    "weighted context are not supported; retrain them")
        config.setdefault("held_reference", False)  # files before v0.6 gate the frame only
        return cls(**config)

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """r_i = [w_i · (features, y_i), w_i] per context point, to be averaged over the context."""
        r = self.encoder(torch.cat([x, y], dim=-1))
        r, weight = r[..., :-1], 0.01 + 0.99 * torch.sigmoid(r[..., -1:])
        return torch.cat([weight * torch.cat([r, y], dim=-1), weight], dim=-1)

    def keys(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
        """k_i per context point (None without the attentive read-out)."""
        return self.key(torch.cat([x, y], dim=-1)) if self.config["attention"] else None

    def queries(self, x: torch.Tensor) -> torch.Tensor | None:
        """q_t per target frame, scaled by 1/√d (None without the attentive read-out)."""
        if not self.config["attention"]:
            return None
        return self.query(x) / self.config["attention"] ** 0.5

    def context(self, x: torch.Tensor, y: torch.Tensor, keep: torch.Tensor, width: int,
                ahead: int = 0) -> torch.Tensor:
        """(B, T, r_size) the context read for each target frame of (B, T) sequences: the kept
        frames in [t − width + 1, t + ahead], as `encode`'s mean form (`aggregate` turns it into
        r_C); zero where none is kept."""
        r = self.encode(x, y)
        if not self.config["attention"]:
            return window_mean(r, keep, width, ahead)
        return window_attention(r, self.keys(x, y), self.queries(x), keep, width, ahead)

    def aggregate(self, r_mean: torch.Tensor) -> torch.Tensor:
        """r_C, the weighted mean, from the mean of the r_i."""
        return r_mean[..., :-1] / r_mean[..., -1:].clamp_min(1e-6)

    def latent(self, r_mean: torch.Tensor) -> Normal:
        mu, raw = self.latent_net(self.aggregate(r_mean)).chunk(2, dim=-1)
        return Normal(mu, 0.1 + 0.9 * torch.sigmoid(raw))

    def latent_mean(self, r_mean: torch.Tensor) -> torch.Tensor:
        """The mean of q(z | context), without building the distribution (a stream's step)."""
        return self.latent_net(self.aggregate(r_mean))[..., :self.config["z_dim"]]

    def decode(self, x: torch.Tensor, z: torch.Tensor, r_mean: torch.Tensor,
               gap: torch.Tensor, held: torch.Tensor | None = None) -> Normal:
        """p(y | x, z, r_C, gap); z and r_C either per target (same leading shape as x) or one per
        set (…, D); gap (…, 1): seconds since the last face, 0 on a face frame; held (…, y_dim):
        the last detected frame's prediction (default: found along the time axis of (B, T, D) x; a
        stream passes the one it keeps)."""
        mu, variance = self.decode_moments(x, z, r_mean, gap, held)
        return Normal(mu, variance.sqrt())

    def decode_moments(self, x: torch.Tensor, z: torch.Tensor, r_mean: torch.Tensor,
                       gap: torch.Tensor, held: torch.Tensor | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, variance) of `decode`'s Gaussian."""
        r_mean = self.aggregate(r_mean)
        if z.dim() < x.dim():
            z = z.unsqueeze(-2).expand(*x.shape[:-1], z.shape[-1])
            r_mean = r_mean.unsqueeze(-2).expand(*x.shape[:-1], r_mean.shape[-1])
        out = self.decoder(torch.cat([x, z, r_mean, gap_feature(gap)], dim=-1))
        correction, raw, gate = out.chunk(3, dim=-1)
        reference, gain = self.reference(x, held, torch.sigmoid(gate))
        mu = correction + gain * reference + (1 - gain) * r_mean[..., -correction.shape[-1]:]
        std = self.min_std + torch.nn.functional.softplus(raw)
        noise = torch.nn.functional.softplus(self.process_noise) * gap
        return mu, std ** 2 + noise

    def reference(self, x: torch.Tensor, held: torch.Tensor | None,
                  gain: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the value the gate mixes in, the gain): this frame's prediction, or in a gap the last
        face's (hold-last, which the context mean would otherwise trail); before any face, none."""
        frame, present = x[..., -gain.shape[-1] - 1:-1], x[..., -1:]
        if not self.held_reference:  # files before v0.6: gap frames read the context only
            return frame, gain * present
        if held is None:
            held = hold_last(frame, present[..., 0] > 0) if frame.dim() == 3 else frame
        reference = torch.where(present > 0, frame, held)
        seen = reference.abs().sum(-1, keepdim=True) > 0
        return reference, gain * seen

    def window_elbo_loss(self, x, y_context, y_target, context, width: int, gap, mask=None,
                         kl_weight: float = 1.0, smoothness: float = 0.0,
                         observed=None, runtime_mean: bool = False) -> dict[str, torch.Tensor]:
        """−ELBO when each frame t of (B, T) sequences is a target whose context is the frames of
        `context` (B, T) bool among the last `width` (t included), held through gaps at what it
        was at the last context frame, as a causal stream sees them; gap (B, T, 1) seconds since
        the last face. The posterior reads the true y of the same window. `mask` (B, T) selects the
        scored targets.

        smoothness > 0 (one weight, or one per output) adds that weight × the total variation
        |μ_t − μ_{t−1}| (summed over outputs) of the predicted mean as used at run time (z at the
        prior's mean): the prior that affect is piecewise smooth, whose L1 form still lets the
        estimate jump where the evidence changes.
        `observed` (B, T, y_dim) bool: which targets are labelled (the others count for nothing).
        runtime_mean: also return that mean as "mean" (for losses on it, such as CCC)."""
        prior_r = hold_last(self.context(x, y_context, context, width), context)
        posterior = self.latent(self.context(x, y_target, torch.ones_like(context), width))
        prior = self.latent(prior_r)
        log_prob = self.decode(x, posterior.rsample(), prior_r, gap).log_prob(y_target)
        likelihood = (log_prob if observed is None else log_prob * observed).sum(-1)
        kl = kl_divergence(posterior, prior).sum(-1)
        mask = torch.ones_like(context) if mask is None else mask
        weight = mask.float() / mask.float().sum().clamp_min(1)
        loss = ((kl_weight * kl - likelihood) * weight).sum()
        parts = {"nll": -(likelihood * weight).sum(), "kl": (kl * weight).sum()}
        smoothness = torch.as_tensor(smoothness, dtype=x.dtype)
        if runtime_mean or (smoothness > 0).any():
            parts["mean"] = self.decode(x, prior.mean, prior_r, gap).mean
        if (smoothness > 0).any():
            mean = parts["mean"]
            pairs = (mask[:, 1:] & mask[:, :-1]).float()
            variation = ((mean[:, 1:] - mean[:, :-1]).abs() * smoothness).sum(-1)
            parts["variation"] = (variation * pairs).sum() / pairs.sum().clamp_min(1)
            loss = loss + parts["variation"]
        return {"loss": loss, **parts}

    def predict(self, r_mean: torch.Tensor, x_target: torch.Tensor, gap: torch.Tensor,
                held: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, std) of y at the targets, with z at the mean of q(z | context); std calibrated."""
        mean, variance = self.decode_moments(x_target, self.latent_mean(r_mean), r_mean, gap,
                                             held)
        return mean, calibrated(self, variance.sqrt(), gap, mean)


def window_mean(r: torch.Tensor, keep: torch.Tensor, width: int, ahead: int = 0) -> torch.Tensor:
    """(B, T, R) mean of r over the kept frames in [t − width + 1, t + ahead]; zero where none is
    kept (a cumulative sum, so O(T) whatever the width). ahead > 0 gives the offline, centred
    context."""
    r = r * keep[..., None]
    zero = torch.zeros_like(r[:, :1])
    total = torch.cat([zero, r.cumsum(1)], 1)
    count = torch.cat([zero[..., 0], keep.float().cumsum(1)], 1)
    t = torch.arange(r.shape[1])
    hi = (t + 1 + ahead).clamp_max(r.shape[1])
    lo = (t + 1 - width).clamp_min(0)
    return (total[:, hi] - total[:, lo]) / (count[:, hi] - count[:, lo]).clamp_min(1)[..., None]


def window_attention(r: torch.Tensor, keys: torch.Tensor, queries: torch.Tensor,
                     keep: torch.Tensor, width: int, ahead: int = 0) -> torch.Tensor:
    """(B, T, R) mean of r over the kept frames in [t − width + 1, t + ahead], each weighted by
    exp(queries_t · keys_i); zero where none is kept."""
    steps = r.shape[1]
    index = torch.arange(steps)[:, None] + torch.arange(1 - width, ahead + 1)  # (T, J)
    inside = (index >= 0) & (index < steps)
    index = index.clamp(0, steps - 1)
    kept = keep[:, index] & inside  # (B, T, J)
    scores = (queries[:, :, None, :] * keys[:, index]).sum(-1).masked_fill(~kept, float("-inf"))
    # softmax over the window; a window with nothing kept reads zero
    weight = torch.softmax(scores.masked_fill(~kept.any(-1, keepdim=True), 0.0), -1) * kept
    return (weight[..., None] * r[:, index]).sum(-2)


class ContextWindow:
    """A track's context of the last `seconds`: r_i with their timestamps and a running sum, so the
    mean aggregation r_C updates in O(1) per frame as points enter and leave; with keys, the
    attentive read-out over the points instead (`read`)."""

    def __init__(self, seconds: float, r_dim: int):
        self.seconds = seconds
        self.points: deque[tuple[float, torch.Tensor]] = deque()
        self.keys: deque[torch.Tensor] = deque()
        self.total = torch.zeros(r_dim, dtype=torch.float64)

    def add(self, timestamp: float, r: torch.Tensor, key: torch.Tensor | None = None) -> None:
        self.points.append((timestamp, r))
        if key is not None:
            self.keys.append(key)
        self.total += r.double()
        self.expire(timestamp)

    def expire(self, timestamp: float) -> None:
        """Let the points older than `seconds` before `timestamp` leave the window."""
        while self.points and timestamp - self.points[0][0] > self.seconds:
            _, old = self.points.popleft()
            if self.keys:
                self.keys.popleft()
            self.total -= old.double()
        if not self.points:
            self.total.zero_()  # no rounding residue in an empty window

    def __len__(self) -> int:
        return len(self.points)

    def mean(self) -> torch.Tensor:
        """r_C, the mean of the r_i in the window (float32)."""
        return (self.total / max(1, len(self.points))).float()

    def read(self, query: torch.Tensor | None) -> torch.Tensor:
        """The context as the target with `query` reads it: the mean without a query, else the
        mean weighted by exp(query · k_i), as `window_attention` computes it in training."""
        if query is None or not self.points:
            return self.mean()
        weight = torch.softmax(torch.stack(list(self.keys)) @ query, 0)
        return weight @ torch.stack([r for _, r in self.points])


WEIGHTS = Weights("affective_process.safetensors", card="affective_process.md")


@register("temporal", "ap", weights=WEIGHTS,
          trainer="affectstream.train.temporal.training:train_affective_process")
class AffectiveProcessStage:
    """The Affective Process run causally: per track, a context of the frames with a face in the
    last `seconds` (read by attention, or as a mean updated in O(1) by files without it); the
    target is the current frame.

    Warm-up: a new track's context is whatever it has seen so far (one frame at first); the model
    was trained on such short contexts at the start of sequences, and its σ is wider there.
    Through a detection gap the context stays as it was at the last face.
    """

    produces = ("au", "valence", "emotion", "uncertainty")
    windowed = True  # reads a context window of `seconds`, saved with the weights

    def __init__(self, model: AffectiveProcess, seconds: float = 2.0):
        self.model = model.eval()
        self.seconds = seconds
        self.windows: dict[int, ContextWindow] = {}
        self.held: dict[int, torch.Tensor] = {}  # per track, the last face's prediction
        self.read: dict[int, torch.Tensor] = {}  # per track, the context its last face read
        self.clock = GapClock()
        self.smooth = TrackSmoothers(model.config.get("smoothing"))

    @classmethod
    def load_network(cls, path=None) -> tuple[AffectiveProcess, dict]:
        """(the network at `path` (default: the shipped weights), the file's metadata)."""
        return load_temporal_net(AffectiveProcess, "ap", WEIGHTS, path)

    @classmethod
    def from_options(cls, options) -> AffectiveProcessStage:
        net, header = cls.load_network(options.temporal_weights)
        # The context window it was trained for, unless the options name another.
        seconds = options.context_seconds or float(header.get("seconds", 2.0))
        return cls(net, seconds)

    @torch.inference_mode()
    def step(self, track_id: int, timestamp: float, reading: FrameOutput | None) -> FrameOutput:
        window = self.windows.setdefault(track_id, ContextWindow(self.seconds, self.model.r_size))
        x, y = temporal_input(reading, self.model.config["x_dim"])
        gap = torch.tensor([[self.clock.tick(track_id, timestamp, reading is not None)]])
        if reading is not None:
            window.add(timestamp, self.model.encode(x, y), self.model.keys(x, y))
            self.held[track_id] = y
            # through a gap the context stays as the last face read it
            self.read[track_id] = window.read(self.model.queries(x))
        # before the track's first face its window is empty: the mean reads zero
        context = self.read[track_id] if track_id in self.read else window.mean()
        mean, std = self.model.predict(context, x[None], gap, self.held.get(track_id, y)[None])
        return mean_output(self.smooth(track_id, timestamp, mean[0].numpy()), std[0].numpy())

    def drop(self, track_id: int) -> None:
        self.windows.pop(track_id, None)
        self.held.pop(track_id, None)
        self.read.pop(track_id, None)
        self.smooth.drop(track_id)
        self.clock.drop(track_id)

    def reset(self) -> None:
        self.windows.clear()
        self.held.clear()
        self.read.clear()
        self.smooth.reset()
        self.clock.reset()
