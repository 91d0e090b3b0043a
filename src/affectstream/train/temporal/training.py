"""Training the temporal models on sequences (see temporal_data): AffWildNet and the Affective
Process.

Inputs per frame: x = [per-frame embedding, normalised landmarks, per-frame prediction (valence,
arousal, AU/5, emotion probabilities), face present] and the seconds since the last face; targets:
valence/arousal, AU/5 and the emotion distribution. AffWildNet minimises 1 − (CCC_v + CCC_a)/2
plus AU, emotion and variance terms over 80-frame sequences; the Affective Process maximises the
ELBO with random context subsets, with a total-variation prior on its run-time mean. Both fit
their σ's calibration afterwards on tuning sequences, apart for frames with and without a face.
"""
from __future__ import annotations

import numpy as np
import torch

from ...circumplex import spread
from ...models.affective_process import AffectiveProcess
from ...models.affwildnet import AffWildNet
from ...models.smoothing import smooth_sequences
from ...models.temporal import EMOTIONS, frames_since, hold_last
from ..losses import ccc_loss
from .data import SEQUENCE_FPS, Sequences

VA, AUS = slice(0, 2), slice(2, EMOTIONS.start)  # where valence/arousal and the AUs sit in y
CALIBRATION_POWERS = np.round(np.arange(0.5, 2.51, 0.05), 2)  # the σ exponents calibrate_std tries
CALIBRATION_GROWTHS = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)  # and widenings per second of gap
CALIBRATION_LEVELS = np.arange(0.60, 0.801, 0.005)  # and ±1σ coverages, as quantiles of the error
# and weights of the circumplex variance in valence/arousal σ² (temporal.py calibrated)
CALIBRATION_SPREADS = (0.0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8)
# AffWildNet's GRUs averaged: three seeds gained +0.009 / +0.008 valence / arousal CCC over one
# on the held-out sequences, five +0.003 / +0.002 more (issue 16's fourteenth session)
MEMBERS = 5


def inputs(seq: Sequences) -> torch.Tensor:
    """(S, T, D) per-frame inputs of the temporal models."""
    return torch.cat([seq.embedding, seq.shape, frame_y(seq), seq.present[..., None].float()], -1)


def frame_y(seq: Sequences) -> torch.Tensor:
    """(S, T, 22) the per-frame prediction the models read: valence, arousal, AU/5, emotion
    probabilities (zero without a face)."""
    return torch.cat([seq.frame_prediction, seq.frame_emotion], -1)


def targets(seq: Sequences) -> torch.Tensor:
    """(S, T, 22): valence, arousal, AU/5, emotion distribution (NaN: not labelled)."""
    return torch.cat([seq.target_va, seq.target_au / 5, seq.target_emotion], -1)


def gaps(seq: Sequences) -> torch.Tensor:
    """(S, T, 1) seconds since the last frame with a face (0 on one; counted from the start before
    the first), at the sequences' frame rate."""
    return (frames_since(seq.present).float() / SEQUENCE_FPS)[..., None]


def affwildnet_loss(out: dict, seq: Sequences, au_weight: float = 1.0, nll_weight: float = 0.1,
                    emotion_smoothness: float = 0.0, au_ccc_weight: float = 4.0,
                    smoothness: float = 0.0) -> torch.Tensor:
    """1 − mean CCC of valence and arousal + `au_ccc_weight` × (1 − mean CCC of the AUs) (the MSE
    alone shrinks the AUs toward their mean, which ICC penalises) + `au_weight` × MSE of AU/5 +
    cross-entropy of the
    emotion distribution + `nll_weight` × the Gaussian NLL of σ (around the mean held fixed, so σ
    does not bend it), over the labelled frames (NaN: unlabelled); + `emotion_smoothness` × the
    total variation of the emotion probabilities between consecutive frames, and `smoothness` ×
    that of valence, arousal and AU/5 (the Affective Process's piecewise-smooth prior)."""
    mean, y = out["mean"], targets(seq)
    loss = ccc_columns_loss(mean, y, VA) + au_ccc_weight * ccc_columns_loss(mean, y, AUS)
    coded = ~torch.isnan(y[..., 2:EMOTIONS.start])
    if coded.any():
        error = (mean[..., 2:EMOTIONS.start] - y[..., 2:EMOTIONS.start])[coded]
        loss = loss + au_weight * error.pow(2).mean()
    # its emotions are a mix of two distributions, so one already
    loss = loss + emotion_cross_entropy(mean, y, renormalise=False)
    ok = torch.isfinite(y)
    error = torch.where(ok, y, mean.detach()) - mean.detach()  # NaN-free, so are the gradients
    nll = torch.log(out["std"]) + 0.5 * (error / out["std"]).pow(2)
    step = (mean[:, 1:] - mean[:, :-1]).abs()
    variation = (emotion_smoothness * step[..., EMOTIONS].sum(-1)
                 + smoothness * step[..., :EMOTIONS.start].sum(-1)).mean()
    return loss + nll_weight * nll[ok].mean() + variation


def emotion_cross_entropy(mean: torch.Tensor, y: torch.Tensor,
                          labelled: torch.Tensor | None = None,
                          renormalise: bool = True) -> torch.Tensor:
    """Cross-entropy of (B, T, 22) `mean`'s emotion distribution (clipped at 1e-6 and, unless it is
    one already, renormalised, as the stages output it) against `y`'s, over the frames whose
    emotions are all labelled."""
    p = mean[..., EMOTIONS].clamp_min(1e-6)
    if renormalise:
        p = p / p.sum(-1, keepdim=True)
    voted = torch.isfinite(y[..., EMOTIONS]).all(-1)
    if labelled is not None:
        voted = voted & labelled[..., EMOTIONS].all(-1)
    if not voted.any():
        return mean.sum() * 0
    return -(y[..., EMOTIONS][voted] * p[voted].log()).sum(-1).mean()


def ccc_columns_loss(mean: torch.Tensor, y: torch.Tensor, columns: slice,
                     labelled: torch.Tensor | None = None) -> torch.Tensor:
    """1 − CCC averaged over the `columns` of (B, T, ·) `mean` and `y`, each over its labelled
    frames (default: y not NaN)."""
    m, t = mean[..., columns].flatten(0, -2), y[..., columns].flatten(0, -2)
    ok = ~torch.isnan(t) if labelled is None else labelled[..., columns].flatten(0, -2)
    terms = [ccc_loss(m[ok[:, k], k:k + 1], t[ok[:, k], k:k + 1])
             for k in range(m.shape[1]) if ok[:, k].sum() > 1]
    return torch.stack(terms).mean() if terms else m.sum() * 0


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
                     seed: int = 0, tune: Sequences | None = None, au_weight: float = 1.0,
                     emotion_smoothness: float = 0.0, smoothness: float = 0.0,
                     members: int = MEMBERS, log=print) -> AffWildNet:
    """AffWildNet on the sequences: `members` GRUs, each trained alone from its own seed (seed,
    seed + 1, ...) and then averaged; the ensemble's σ is then calibrated on the `tune` sequences,
    if any."""
    x, gap = inputs(train), gaps(train)
    net = AffWildNet(x.shape[-1], members=members)
    for k in range(members):
        torch.manual_seed(seed + k)
        single = AffWildNet(x.shape[-1])

        def step(index, generator, single=single):
            return affwildnet_loss(single(x[index], gap[index]), train.take(index), au_weight,
                                   emotion_smoothness=emotion_smoothness, smoothness=smoothness)

        name = f"affwildnet {k + 1}/{members}" if members > 1 else "affwildnet"
        single = _fit(single, len(x), step, epochs=epochs, batch_size=batch_size, lr=lr,
                      seed=seed + k, name=name, log=log)
        net.members[k].load_state_dict(single.members[0].state_dict())
    return _calibrated(net.eval(), tune, None, log)


def _calibrated(model, tune: Sequences | None, width: int | None, log):
    """`model` with its 1€ output filter chosen and then its σ calibrated on `tune` (when given),
    both logged."""
    from .smoothing import choose_smoothing

    if tune is None:
        return model
    model.config["smoothing"] = None
    model.config["smoothing"] = choose_smoothing(predict_sequences(model, tune, width=width or 1),
                                                 tune, log)
    calibrate_std(model, tune, width or 1)
    weights = model.config["std_spread"] or [[0.0, 0.0]] * 2
    for row, part in enumerate(("face", "gap")):
        growth = f" ·√(1 + {float(model.std_growth[0]):.2f}·gap s)" if row else ""
        log(f"σ calibration on {len(tune.present)} tuning sequences, {part} frames: valence "
            f"{float(model.std_scale[row, 0]):.3f}·√(σ^{2 * float(model.std_power[row, 0]):.2f} + "
            f"{weights[row][0]:g}·circumplex variance){growth}")
    return model


def train_affective_process(train: Sequences, epochs: int = 20, batch_size: int = 32,
                            lr: float = 1e-3, seed: int = 0, widths: tuple[int, int] = (4, 30),
                            width: int = 15, tune: Sequences | None = None,
                            smoothness: float = 4.0, emotion_smoothness: float | None = None,
                            ccc_weight: float = 8.0, emotion_weight: float = 0.0,
                            attention: int = 32, log=print) -> AffectiveProcess:
    """Windowed ELBO: every frame is a target whose context is a random subset (50–100 % kept) of
    the frames with a face among the last `width` frames (width drawn per batch from `widths`),
    their y the per-frame predictions, as a causal stream of any frame rate and window length sees
    them. `smoothness` weighs the total-variation prior on the run-time mean (window_elbo_loss),
    `emotion_smoothness` (default: the same) the prior on the emotion probabilities.
    `ccc_weight` adds that weight × (1 − CCC) of valence and arousal of the run-time mean over the
    batch, as AffWildNet is trained: the likelihood alone rewards a mean shrunk toward the middle,
    which CCC, the field's measure, penalises. `emotion_weight` adds that weight × the
    cross-entropy of the run-time mean's emotion distribution against the target's, as AffWildNet
    is trained: the likelihood fits each probability apart, not which emotion is on top.
    `attention` > 0: the context is read by attention with keys and queries of that size
    (models/affective_process.py), so frames from before a cut stop counting at once.
    The σ calibration is then fitted on the `tune` sequences (if any) for the window `width` the
    model will run with."""
    torch.manual_seed(seed)
    x, y, y_frame, gap = inputs(train), targets(train), frame_y(train), gaps(train)
    observed = ~torch.isnan(y)  # corpora leave frames and AUs unlabelled; the likelihood skips them
    y = torch.where(observed, y, y_frame)
    observed = None if observed.all() else observed
    model = AffectiveProcess(x.shape[-1], y.shape[-1], attention=attention)
    weights = torch.full((y.shape[-1],), float(smoothness))
    weights[EMOTIONS] = smoothness if emotion_smoothness is None else emotion_smoothness

    def step(index, generator):
        window = int(torch.randint(widths[0], widths[1] + 1, (1,), generator=generator))
        kept = torch.rand(len(index), 1, generator=generator) * 0.5 + 0.5
        context = train.present[index] & (torch.rand(train.present[index].shape,
                                                     generator=generator) < kept)
        labelled = None if observed is None else observed[index]
        parts = model.window_elbo_loss(x[index], y_frame[index], y[index], context, window,
                                       gap[index], smoothness=weights, observed=labelled,
                                       runtime_mean=ccc_weight > 0 or emotion_weight > 0)
        loss = parts["loss"]
        if ccc_weight:
            loss = loss + ccc_weight * ccc_columns_loss(parts["mean"], y[index], VA, labelled)
        if emotion_weight:
            loss = loss + emotion_weight * emotion_cross_entropy(parts["mean"], y[index], labelled)
        return loss

    model = _fit(model, len(x), step, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                 name="affective process", log=log)
    return _calibrated(model, tune, width, log)


def calibrate_std(model, seq: Sequences, width: int) -> None:
    """Fit the σ calibration (models/temporal.py `calibrated`) per output on `seq`, apart on frames
    with a face and frames in a gap: the power (and, in gaps, growth per second), for valence and
    arousal the weight of the circumplex variance, and the scale whose ±1σ and ±2σ coverage come
    nearest the middle of a Gaussian's bands (68 %, 94.5 %). The trained σ is an RMS error, and
    errors are heavy-tailed where a frame misleads or a gap hides a change; most of that tail is
    where the emotions in doubt lie far apart on the circumplex (a frame between happiness and
    sadness), which the model's own σ does not rank."""
    from .evaluation import GAP_BUCKETS, gap_lengths

    for buffer, identity in (("std_scale", 1.0), ("std_power", 1.0), ("std_growth", 0.0)):
        getattr(model, buffer).fill_(identity)
    model.config["std_spread"] = None
    prediction = predict_sequences(model, seq, width=width)
    error, std = np.abs(targets(seq).numpy() - prediction["mean"]), prediction["std"]
    frames = gap_lengths(seq.present.numpy())
    gap = frames / SEQUENCE_FPS
    bucket = np.digitize(frames, [lo for lo, _ in GAP_BUCKETS])  # 0: a face frame
    spreads = np.zeros((2, 2))
    for k in range(error.shape[-1]):
        ok = np.isfinite(error[..., k])
        face, missed = ok & (frames == 0), ok & (frames > 0)
        variance = prediction["spread"][..., k] if k < 2 else None
        if face.sum() >= 10:  # else: uncoded; σ as trained
            fit = _fit_power(error[face, k], std[face, k],
                             variance=None if variance is None else variance[face])
            model.std_scale[0, k], model.std_power[0, k] = fit[:2]
            if k < 2:
                spreads[0, k] = fit[3]
        if missed.sum() >= 10:
            fit = _fit_power(error[missed, k], std[missed, k], gap[missed], bucket[missed],
                             None if variance is None else variance[missed])
            model.std_scale[1, k], model.std_power[1, k], model.std_growth[k] = fit[:3]
            if k < 2:
                spreads[1, k] = fit[3]
    model.config["std_spread"] = spreads.tolist() if spreads.any() else None


def _fit_power(error: np.ndarray, std: np.ndarray, gap: np.ndarray | None = None,
               bucket: np.ndarray | None = None,
               variance: np.ndarray | None = None) -> tuple[float, float, float, float]:
    """(scale, power, growth, spread) for `calibrate_std`; growth 0 without `gap`, spread 0 without
    the circumplex `variance`. With `bucket` (gap lengths), only fits whose mean σ does not shrink
    from one gap length to the next longer one count (unless none does): an estimate only gets
    staler as a gap goes on."""
    best, best_any = None, None
    for weight in (CALIBRATION_SPREADS if variance is not None else (0.0,)):
        added = weight * variance.astype(np.float64) if weight else 0.0
        for growth in (CALIBRATION_GROWTHS if gap is not None else (0.0,)):
            widen = np.sqrt(1 + growth * gap) if gap is not None else 1.0
            for power in CALIBRATION_POWERS:
                spread = np.sqrt(std.astype(np.float64) ** (2 * power) + added) * widen
                widens = bucket is None or _widens(spread, bucket)
                for scale in np.quantile(error / spread, CALIBRATION_LEVELS):
                    miss = _coverage_miss(error, max(float(scale), 1e-6) * spread, bucket)
                    fit = (miss, max(float(scale), 1e-6), float(power), float(growth),
                           float(weight))
                    if best_any is None or miss < best_any[0] - 1e-9:
                        best_any = fit
                    if widens and (best is None or miss < best[0] - 1e-9):
                        best = fit
    return (best or best_any)[1:]


def _widens(std: np.ndarray, bucket: np.ndarray, least: int = 10) -> bool:
    """Whether the mean of `std` never falls from one gap-length bucket to the next (buckets of at
    least `least` frames)."""
    means = [std[bucket == b].mean() for b in np.unique(bucket) if (bucket == b).sum() >= least]
    return bool(np.all(np.diff(means) >= 0))


def _coverage_miss(error: np.ndarray, std: np.ndarray, bucket: np.ndarray | None) -> float:
    """How far ±1σ and ±2σ coverage lie from the middle of the bands a Gaussian's would fall in
    (64–72 %, 92–97 %), in half-widths of each band; with `bucket`, ±1σ in each gap-length
    bucket (weighted by its share) too, so a long gap is as well covered as a short one."""
    one, two = error <= std, error <= 2 * std
    miss = max(abs(one.mean() - 0.68) / 0.04, abs(two.mean() - 0.945) / 0.025)
    if bucket is not None:
        miss += sum(abs(one[bucket == b].mean() - 0.68) / 0.04 * (bucket == b).mean()
                    for b in np.unique(bucket))
    return float(miss)


@torch.inference_mode()
def predict_sequences(model, seq: Sequences, width: int = 61,
                      ahead: int = 0) -> dict[str, np.ndarray]:
    """Causal predictions over sequences, as the pipeline makes them frame by frame: "mean"
    (S, T, 22) (valence, arousal, AU/5, emotion), "std", "emotion" (the probabilities,
    renormalised) and "spread" (S, T, 2), the circumplex variance σ's calibration reads.
    width/ahead: the Affective Process's context window in frames (ahead > 0: the offline, centred
    window)."""
    x, gap = inputs(seq), gaps(seq)
    if isinstance(model, AffWildNet):
        out = model(x, gap)
        mean, std = out["mean"], out["std"]
    else:
        r_context = model.context(x, frame_y(seq), seq.present, width, ahead)
        mean, std = model.predict(hold_last(r_context, seq.present) if not ahead else r_context,
                                  x, gap)
    variance = spread(mean[..., EMOTIONS])  # what σ's circumplex term reads, before the filter
    if model.config.get("smoothing"):  # the 1€ filter the stages run per track
        mean = torch.from_numpy(smooth_sequences(mean.numpy(), SEQUENCE_FPS,
                                                 *model.config["smoothing"]).astype(np.float32))
    mean[..., :2] = mean[..., :2].clamp(-1, 1)
    mean[..., 2:] = mean[..., 2:].clamp(0, 1)
    emotion = mean[..., EMOTIONS].clamp_min(1e-6)
    return {"mean": mean.numpy(), "std": std.numpy(), "spread": variance.numpy(),
            "emotion": (emotion / emotion.sum(-1, keepdim=True)).numpy()}


