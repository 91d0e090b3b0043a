"""Training losses (torch), as pure functions."""
from __future__ import annotations

import torch


def ccc_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 − CCC per column, averaged; (N, D) tensors, population moments over the batch."""
    pm, tm = predicted.mean(0), target.mean(0)
    cov = ((predicted - pm) * (target - tm)).mean(0)
    ccc = 2 * cov / (predicted.var(0, unbiased=False) + target.var(0, unbiased=False)
                     + (pm - tm) ** 2 + 1e-8)
    return (1 - ccc).mean()


def soft_cross_entropy(logits: torch.Tensor, distribution: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against a target distribution (N, C), e.g. FER+ crowd votes."""
    return -(distribution * torch.log_softmax(logits, dim=1)).sum(1).mean()
