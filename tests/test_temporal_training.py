import numpy as np
import pytest
import torch

from affectstream.train.temporal.data import Sequences
from affectstream.train.temporal.evaluation import sequence_figures
from affectstream.train.temporal.training import (
    _fit_power,
    emotion_cross_entropy,
    inputs,
    predict_sequences,
    targets,
    train_affective_process,
    train_affwildnet,
)


def tiny_sequences(count=8, steps=40, seed=0):
    """Sequences whose targets are a noisy per-frame prediction away: something to learn."""
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(count, 1, 14, generator=g).expand(count, steps, 14).clone()
    target[..., :2] = target[..., :2] * 2 - 1
    present = torch.rand(count, steps, generator=g) > 0.2
    noisy = (target + 0.3 * torch.randn(count, steps, 14, generator=g)) * present[..., None]
    embedding = (torch.cat([noisy, torch.randn(count, steps, 18, generator=g)], -1)
                 * present[..., None])
    emotion = torch.softmax(torch.randn(count, 1, 8, generator=g), -1).expand(count, steps, 8)
    return Sequences(embedding=embedding, shape=torch.zeros(count, steps, 234),
                     frame_prediction=noisy, present=present, degraded=~present,
                     target_va=target[..., :2], target_au=target[..., 2:] * 5,
                     frame_emotion=emotion * present[..., None], target_emotion=emotion.clone())


def test_temporal_models_train_on_sequences():
    seq = tiny_sequences()
    assert inputs(seq).shape == (8, 40, 32 + 234 + 22 + 1) and targets(seq).shape == (8, 40, 22)
    losses = []
    gru = train_affwildnet(seq, epochs=8, batch_size=4, log=losses.append)
    assert float(losses[-1].split()[-1]) < float(losses[0].split()[-1])
    out = gru(inputs(seq))
    assert out["valence_arousal"].shape == (8, 40, 2)
    elbo = []
    ap = train_affective_process(seq, epochs=8, batch_size=8, log=elbo.append)
    assert float(elbo[-1].split()[-1]) < float(elbo[0].split()[-1])
    pred = predict_sequences(ap, seq, width=10)
    assert pred["mean"].shape == pred["std"].shape == (8, 40, 22) and (pred["std"] > 0).all()
    assert np.allclose(pred["emotion"].sum(-1), 1, atol=1e-5)
    figures = sequence_figures(pred, seq, seq.present.numpy())
    assert figures["frames"] == int(seq.present.sum())
    assert 0 <= figures["within_1sd"] <= figures["within_2sd"] <= 1
    assert set(sequence_figures(predict_sequences(gru, seq), seq)) == {
        "frames", "ccc_valence", "ccc_arousal", "au_icc", "au_pcc", "emotion_acc", "top1_changes",
        "within_1sd", "within_2sd", "nll"}


@pytest.mark.parametrize("train", [train_affective_process, train_affwildnet])
def test_std_calibration_holds_back_sequences_and_covers_as_a_gaussian(train):
    seq, tune = tiny_sequences(count=20), tiny_sequences(count=20, seed=1)
    lines = []
    model = train(seq, epochs=2, batch_size=8, tune=tune, log=lines.append)
    assert lines[-2].startswith("σ calibration on 20 tuning sequences, face frames")
    assert lines[-1].startswith("σ calibration on 20 tuning sequences, gap frames")
    assert (model.std_scale > 0).all() and not torch.allclose(model.std_scale, torch.ones(2, 22))
    pred = predict_sequences(model, tune, width=10)
    error = np.abs(targets(tune).numpy() - pred["mean"]) / pred["std"]
    # a Gaussian's bands, per part (±1σ: 64–72 %, less 2 points for the 162 gap frames here, whose
    # fit also weighs each gap length's own ±1σ)
    for frames in (tune.present.numpy(), ~tune.present.numpy()):
        assert 0.62 <= (error[frames][:, :2] <= 1).mean() <= 0.72
        assert 0.90 <= (error[frames][:, :2] <= 2).mean() <= 0.98


def test_power_calibration_recovers_a_gaussians_coverage():
    """Errors whose real scale is σ² (the model's σ too flat): the fit finds a power near 2 and
    the middle of a Gaussian's coverage bands."""
    rng = np.random.default_rng(0)
    std = rng.uniform(0.1, 1.0, 20000)
    error = np.abs(rng.normal(size=20000) * 0.5 * std ** 2)
    scale, power, growth, spread = _fit_power(error, std)
    assert abs(power - 2) < 0.35 and growth == spread == 0
    fitted = scale * std ** power
    assert abs((error <= fitted).mean() - 0.68) < 0.02
    assert abs((error <= 2 * fitted).mean() - 0.945) < 0.01


def test_circumplex_term_covers_errors_the_models_own_sigma_misses():
    """Errors whose scale is mostly the circumplex variance (a tie between far-apart emotions),
    beside a model σ that varies without meaning: the fit weighs the variance in, and the
    coverage reaches both bands, which no power of the model's σ alone does."""
    rng = np.random.default_rng(1)
    std = rng.uniform(0.05, 0.15, 20000)
    variance = rng.choice([0.0, 0.01, 0.3], 20000, p=[0.6, 0.3, 0.1])
    error = np.abs(rng.normal(size=20000) * np.sqrt(0.1 ** 2 + variance))
    scale, power, _, weight = _fit_power(error, std, variance=variance)
    assert weight > 0
    fitted = scale * np.sqrt(std ** (2 * power) + weight * variance)
    assert 0.64 <= (error <= fitted).mean() <= 0.72 and 0.92 <= (error <= 2 * fitted).mean() <= 0.97
    scale, power = _fit_power(error, std)[:2]
    alone = scale * std ** power
    assert (error <= 2 * alone).mean() < 0.92 or (error <= alone).mean() > 0.72


def test_sequence_figures_by_hand():
    seq = tiny_sequences(count=2, steps=5)
    truth = torch.cat([seq.target_va, seq.target_au / 5], -1).numpy()
    perfect = sequence_figures({"mean": truth, "std": np.full_like(truth, 0.1)}, seq)
    assert perfect["ccc_valence"] > 0.999 and perfect["within_1sd"] == 1.0
    # zero error: only the log σ term
    assert abs(perfect["nll"] - (0.5 * np.log(2 * np.pi * 0.01))) < 1e-5
    off = truth.copy()
    off[..., :2] += 0.15  # every error 0.15: outside ±1σ (0.1), inside ±2σ
    shifted = sequence_figures({"mean": off, "std": np.full_like(truth, 0.1)}, seq)
    assert shifted["within_1sd"] == 0.0 and shifted["within_2sd"] == 1.0


def test_emotion_cross_entropy_reads_the_top_and_skips_unvoted_frames():
    target = torch.zeros(1, 3, 22)
    target[..., 14:] = torch.tensor([0.7, 0.3] + [0.0] * 6)
    right, wrong = target.clone(), target.clone()
    wrong[..., 14:16] = torch.tensor([0.3, 0.7])
    ce = emotion_cross_entropy
    assert ce(right, target) < ce(wrong, target)
    # read as the stages output it: the distribution renormalised
    scaled = right.clone()
    scaled[..., 14:] *= 2
    assert torch.isclose(ce(scaled, target), ce(right, target))
    unvoted = target.clone()
    unvoted[0, 1, 14:] = float("nan")  # an unlabelled frame counts for nothing
    assert torch.isclose(ce(wrong, unvoted), ce(wrong, target))
    unvoted[0, :, 14:] = float("nan")
    assert ce(wrong, unvoted) == 0
