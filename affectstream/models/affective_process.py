"""The Affective Process (Sanchez et al., CVPR 2021): a Neural Process over a face's recent past.

Context points are (x, y) pairs: x the per-frame embedding, y the per-frame prediction
(valence, arousal and AUs/5). An encoder maps each pair to r_i; their mean r_C parameterises a
Gaussian over a global latent z; a decoder maps (target x, z) to a Gaussian over y, whose standard
deviation is the uncertainty reported per frame. Trained with the ELBO
E_q(z|targets)[log p(y_t | x_t, z)] − KL(q(z | targets) ‖ q(z | context)).
"""
from __future__ import annotations

from collections import deque

import torch
from torch import nn
from torch.distributions import Normal, kl_divergence


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers[:-1])


class AffectiveProcess(nn.Module):
    """x (…, N, x_dim), y (…, N, y_dim). `encode` gives r_i; `latent` q(z | mean r); `decode` p(y | x, z)."""

    def __init__(self, x_dim: int, y_dim: int, r_dim: int = 128, z_dim: int = 64, hidden: int = 128,
                 min_std: float = 0.01):
        super().__init__()
        self.encoder = _mlp([x_dim + y_dim, hidden, hidden, r_dim])
        self.latent_net = _mlp([r_dim, hidden, 2 * z_dim])
        self.decoder = _mlp([x_dim + z_dim, hidden, hidden, 2 * y_dim])
        self.min_std = min_std
        self.config = {"x_dim": x_dim, "y_dim": y_dim, "r_dim": r_dim, "z_dim": z_dim, "hidden": hidden}

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.encoder(torch.cat([x, y], dim=-1))

    def latent(self, r_mean: torch.Tensor) -> Normal:
        mu, raw = self.latent_net(r_mean).chunk(2, dim=-1)
        return Normal(mu, 0.1 + 0.9 * torch.sigmoid(raw))

    def decode(self, x: torch.Tensor, z: torch.Tensor) -> Normal:
        z = z.unsqueeze(-2).expand(*x.shape[:-1], z.shape[-1])
        mu, raw = self.decoder(torch.cat([x, z], dim=-1)).chunk(2, dim=-1)
        return Normal(mu, self.min_std + torch.nn.functional.softplus(raw))

    def elbo_loss(self, x_context, y_context, x_target, y_target) -> dict[str, torch.Tensor]:
        """−ELBO per target point; the targets include the context, as in the Neural Process paper."""
        prior = self.latent(self.encode(x_context, y_context).mean(-2))
        posterior = self.latent(self.encode(x_target, y_target).mean(-2))
        z = posterior.rsample()
        likelihood = self.decode(x_target, z).log_prob(y_target).sum(-1).mean(-1)
        kl = kl_divergence(posterior, prior).sum(-1) / x_target.shape[-2]
        return {"loss": (kl - likelihood).mean(), "nll": -likelihood.mean(), "kl": kl.mean()}

    def predict(self, r_mean: torch.Tensor, x_target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, std) of y at the targets, with z at the mean of q(z | context)."""
        out = self.decode(x_target, self.latent(r_mean).mean)
        return out.mean, out.stddev


def select_context(rule: str, count: int, variance: torch.Tensor | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Indices of the context points to keep among `count` candidates.

    "all": every point; "random:K": K at random; "lowest_variance:K": the K whose per-frame
    prediction was most certain (the paper's "smart" selection; `variance` (count,) required).
    """
    name, _, k = rule.partition(":")
    if name == "all":
        return torch.arange(count)
    k = min(int(k), count)
    if name == "random":
        return torch.randperm(count, generator=generator)[:k].sort().values
    if name == "lowest_variance":
        if variance is None:
            raise ValueError("lowest_variance selection needs the per-frame variance")
        return torch.topk(-variance, k).indices.sort().values
    raise ValueError(f"unknown context rule {rule!r}: all, random:K or lowest_variance:K")


class ContextWindow:
    """A track's context of the last `seconds`: r_i with their timestamps and a running sum, so the
    mean aggregation r_C updates in O(1) per frame as points enter and leave."""

    def __init__(self, seconds: float, r_dim: int):
        self.seconds = seconds
        self.points: deque[tuple[float, torch.Tensor]] = deque()
        self.total = torch.zeros(r_dim, dtype=torch.float64)

    def add(self, timestamp: float, r: torch.Tensor) -> None:
        self.points.append((timestamp, r))
        self.total += r.double()
        while self.points and timestamp - self.points[0][0] > self.seconds:
            _, old = self.points.popleft()
            self.total -= old.double()

    def __len__(self) -> int:
        return len(self.points)

    def mean(self) -> torch.Tensor:
        """r_C, the mean of the r_i in the window (float32)."""
        return (self.total / max(1, len(self.points))).float()
