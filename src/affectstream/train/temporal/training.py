"""Training the temporal models on sequences (see temporal_data): AffWildNet and the Affective
Process.

Inputs per frame: x = [per-frame embedding, normalised landmarks, per-frame prediction, face
present]; targets: valence/arousal and AU/5. AffWildNet minimises 1 − (CCC_v + CCC_a)/2 plus an AU
term over 80-frame sequences; the Affective Process maximises the ELBO with random context subsets,
with a total-variation prior on its run-time mean.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ...models.affective_process import AffectiveProcess, window_mean
from ...models.affwildnet import AffWildNet
from ..losses import ccc_loss
from .data import Sequences


def inputs(seq: Sequences) -> torch.Tensor:
    """(S, T, D) per-frame inputs of the temporal models."""
    return torch.cat([seq.embedding, seq.shape, seq.frame_prediction,
                      seq.present[..., None].float()], -1)


def targets(seq: Sequences) -> torch.Tensor:
    """(S, T, 14): valence, arousal, AU/5."""
    return torch.cat([seq.target_va, seq.target_au / 5], -1)


def affwildnet_loss(out: dict, seq: Sequences) -> torch.Tensor:
    """1 − mean CCC of valence and arousal + MSE of AU/5, over the labelled frames (NaN:
    unlabelled)."""
    va, target = out["valence_arousal"].reshape(-1, 2), seq.target_va.reshape(-1, 2)
    if not (torch.isnan(target).any() or torch.isnan(seq.target_au).any()):
        return ccc_loss(va, target) + F.mse_loss(out["au"] / 5, seq.target_au / 5)
    columns = [ok for ok in (~torch.isnan(target)).T]
    terms = [ccc_loss(va[ok, k:k + 1], target[ok, k:k + 1]) for k, ok in enumerate(columns)
             if ok.sum() > 1]
    coded = ~torch.isnan(seq.target_au)
    loss = torch.stack(terms).mean() if terms else va.sum() * 0
    if coded.any():
        loss = loss + ((out["au"] - seq.target_au)[coded] / 5).pow(2).mean()
    return loss


def _fit(model: torch.nn.Module, count: int, step, *, epochs: int, batch_size: int, lr: float,
         seed: int, name: str, log) -> torch.nn.Module:
    """Adam over shuffled mini-batches of `count` sequences; step(index, generator) returns the
    loss."""
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


def train_affwildnet(train: Sequences, epochs: int = 20, batch_size: int = 32, lr: float = 2e-3,
                     seed: int = 0, log=print) -> AffWildNet:
    torch.manual_seed(seed)
    x = inputs(train)
    net = AffWildNet(x.shape[-1])

    def step(index, generator):
        return affwildnet_loss(net(x[index]), _take(train, index))

    return _fit(net, len(x), step, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                name="affwildnet", log=log)


def train_affective_process(train: Sequences, epochs: int = 20, batch_size: int = 32,
                            lr: float = 1e-3, seed: int = 0, widths: tuple[int, int] = (4, 30),
                            width: int = 15, calibration: float = 0.1, smoothness: float = 12.0,
                            log=print) -> AffectiveProcess:
    """Windowed ELBO: every frame is a target whose context is a random subset (50–100 % kept) of
    the frames with a face among the last `width` frames (width drawn per batch from `widths`),
    their y the per-frame predictions, as a causal stream of any frame rate and window length sees
    them. `smoothness` weighs the total-variation prior on the run-time mean (window_elbo_loss): 12
    is the smallest of 1, 4, 12 that halved the frame-to-frame change on a real talking-face clip
    (see weights/affective_process.md). A seeded `calibration` share of the sequences takes no
    gradient steps; the σ scales are fitted on it afterwards for the window `width` the model will
    run with."""
    torch.manual_seed(seed)
    order = torch.randperm(len(train.present), generator=torch.Generator().manual_seed(seed))
    held = order[:int(len(order) * calibration)]
    calibration_set, train = _take(train, held), _take(train, order[len(held):])
    x, y = inputs(train), targets(train)
    observed = ~torch.isnan(y)  # corpora leave frames and AUs unlabelled; the likelihood skips them
    y = torch.where(observed, y, train.frame_prediction)
    observed = None if observed.all() else observed
    model = AffectiveProcess(x.shape[-1], y.shape[-1])

    def step(index, generator):
        window = int(torch.randint(widths[0], widths[1] + 1, (1,), generator=generator))
        kept = torch.rand(len(index), 1, generator=generator) * 0.5 + 0.5
        context = train.present[index] & (torch.rand(train.present[index].shape,
                                                     generator=generator) < kept)
        return model.window_elbo_loss(x[index], train.frame_prediction[index], y[index], context,
                                      window, smoothness=smoothness,
                                      observed=(None if observed is None
                                                else observed[index]))["loss"]

    model = _fit(model, len(x), step, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                 name="affective process", log=log)
    if len(held):
        calibrate_std(model, calibration_set, width)
        log("σ scales fitted on " + f"{len(held)} held-back sequences: "
            f"valence {float(model.std_scale[0]):.3f}, arousal {float(model.std_scale[1]):.3f}, "
            f"AUs {float(model.std_scale[2:].mean()):.3f} (mean)")
    return model


def calibrate_std(model: AffectiveProcess, seq: Sequences, width: int) -> None:
    """Scale each output's σ so that 68.27 % of `seq`'s targets (all frames) lie within ±1σ, as for
    a Gaussian: the ELBO's σ is an RMS error, wider than that where the errors are heavy-tailed."""
    model.std_scale.fill_(1.0)
    prediction = predict_sequences(model, seq, width=width)
    error = np.abs(targets(seq).numpy() - prediction["mean"]) / prediction["std"]
    error = error.reshape(-1, error.shape[-1])
    scale = [np.quantile(e[np.isfinite(e)], 0.6827) if np.isfinite(e).any() else 1.0  # 1: uncoded
             for e in error.T]
    model.std_scale.copy_(torch.tensor(scale, dtype=torch.float32))


@torch.inference_mode()
def predict_sequences(model, seq: Sequences, width: int = 61,
                      ahead: int = 0) -> dict[str, np.ndarray]:
    """Causal predictions over sequences, as the pipeline makes them frame by frame: "mean"
    (S, T, 14) (valence, arousal, AU/5) and, for the Affective Process, "std". width/ahead: its
    context window in frames (ahead > 0: the offline, centred window)."""
    x = inputs(seq)
    if isinstance(model, AffWildNet):
        out = model(x)
        return {"mean": torch.cat([out["valence_arousal"], out["au"] / 5], -1).numpy()}
    r_context = window_mean(model.encode(x, seq.frame_prediction), seq.present, width, ahead)
    mean, std = model.predict(r_context, x)
    mean[..., :2] = mean[..., :2].clamp(-1, 1)
    mean[..., 2:] = mean[..., 2:].clamp(0, 1)
    return {"mean": mean.numpy(), "std": std.numpy()}


def _take(seq: Sequences, index) -> Sequences:
    return Sequences(**{k: v[index] for k, v in seq.__dict__.items()})
