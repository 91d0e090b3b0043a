"""Training the temporal models on sequences (see temporal_data): AffWildNet and the Affective Process.

Inputs per frame: x = [per-frame embedding, normalised landmarks, per-frame prediction, face present];
targets: valence/arousal and AU/5. AffWildNet minimises 1 − (CCC_v + CCC_a)/2 plus an AU term over
80-frame sequences; the Affective Process maximises the ELBO with random context subsets.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models.affective_process import AffectiveProcess
from ..models.affwildnet import AffWildNet
from .losses import ccc_loss
from .temporal_data import Sequences


def inputs(seq: Sequences) -> torch.Tensor:
    """(S, T, D) per-frame inputs of the temporal models."""
    return torch.cat([seq.embedding, seq.shape, seq.frame_prediction, seq.present[..., None].float()], -1)


def targets(seq: Sequences) -> torch.Tensor:
    """(S, T, 14): valence, arousal, AU/5."""
    return torch.cat([seq.target_va, seq.target_au / 5], -1)


def affwildnet_loss(out: dict, seq: Sequences) -> torch.Tensor:
    va = out["valence_arousal"].reshape(-1, 2)
    return ccc_loss(va, seq.target_va.reshape(-1, 2)) + F.mse_loss(out["au"] / 5, seq.target_au / 5)


def _fit(model: torch.nn.Module, count: int, step, *, epochs: int, batch_size: int, lr: float, seed: int,
         name: str, log) -> torch.nn.Module:
    """Adam over shuffled mini-batches of `count` sequences; step(index, generator) returns the loss."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        model.train()
        order, total = torch.randperm(count, generator=generator), 0.0
        for start in range(0, count, batch_size):
            index = order[start:start + batch_size]
            loss = step(index, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # GRUs on 80 steps can spike
            optimizer.step()
            total += float(loss.detach()) * len(index) / count
        log(f"{name} epoch {epoch + 1}/{epochs} loss {total:.4f}")
    return model.eval()


def train_affwildnet(train: Sequences, epochs: int = 20, batch_size: int = 32, lr: float = 2e-3, seed: int = 0,
                     log=print) -> AffWildNet:
    torch.manual_seed(seed)
    x = inputs(train)
    net = AffWildNet(x.shape[-1])

    def step(index, generator):
        return affwildnet_loss(net(x[index]), _take(train, index))

    return _fit(net, len(x), step, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, name="affwildnet", log=log)


def train_affective_process(train: Sequences, epochs: int = 20, batch_size: int = 32, lr: float = 1e-3,
                            seed: int = 0, log=print) -> AffectiveProcess:
    """ELBO training; context = a random subset of the frames with a face, their y = the per-frame
    predictions (what the pipeline has at run time); targets = every frame with its true labels."""
    torch.manual_seed(seed)
    x, y = inputs(train), targets(train)
    model = AffectiveProcess(x.shape[-1], y.shape[-1])

    def step(index, generator):
        k = int(torch.randint(8, 41, (1,), generator=generator))
        context = torch.stack([_random_present(train.present[i], k, generator) for i in index.tolist()])
        rows = torch.arange(len(index))[:, None]
        xc, yc = x[index][rows, context], train.frame_prediction[index][rows, context]
        return model.elbo_loss(xc, yc, x[index], y[index])["loss"]

    return _fit(model, len(x), step, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                name="affective process", log=log)


def _random_present(present: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k frame indices drawn from those with a face (with replacement when there are fewer)."""
    candidates = torch.nonzero(present).ravel()
    if len(candidates) == 0:
        candidates = torch.arange(len(present))
    return candidates[torch.randint(len(candidates), (k,), generator=generator)]


def _take(seq: Sequences, index) -> Sequences:
    return Sequences(**{k: v[index] for k, v in seq.__dict__.items()})
