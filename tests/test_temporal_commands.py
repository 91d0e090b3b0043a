import os
import subprocess
import sys

import numpy as np
import torch

import affectstream as af
from affectstream.models.affective_process import AffectiveProcess
from affectstream.models.weights import load_net
from affectstream.train.temporal.data import Sequences
from affectstream.train.temporal.evaluation import (
    emotion_figures,
    gap_lengths,
    hold_last,
    sigma_by_gap,
)

# Five real faces with valence/arousal of our own: the CSV format a user trains on.
LABELS = [("0-f15-hao-ph.jpg", 0.8, 0.5), ("0-f1-su-ph.jpg", 0.3, 0.8),
          ("15-f13-anc-ph.jpg", -0.6, 0.7), ("45-m7-di-ph.jpg", -0.7, 0.4),
          ("single_face.jpg", 0.6, 0.3)]


def cli(*args, env):
    return subprocess.run([sys.executable, "-m", "affectstream.cli", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=600)


def test_train_and_evaluate_temporal_commands(shared, model, tmp_path):
    table = tmp_path / "labels.csv"
    table.write_text("path,valence,arousal\n" + "".join(
        f"{shared / 'media' / 'images' / name},{v},{a}\n" for name, v, a in LABELS))
    env = {**os.environ, "AFFECTSTREAM_CACHE": str(tmp_path / "cache")}
    out = tmp_path / "ap.safetensors"
    trained = cli("train", "temporal", "--model", "ap", "--data", table, "--sequences", 6,
                  "--valid-sequences", 2, "--tune-sequences", 2, "--epochs", 2, "--seconds", 0.3,
                  "--out", out, env=env)
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert "affective process epoch 2/2" in trained.stdout and "ap (causal) / all" in trained.stdout
    model_, header = load_net(AffectiveProcess, out, "Affective Process", "")
    assert header["seconds"] == "0.3" and header["sequences"] == "6"
    assert "ccc_valence" in header["holdout"]
    evaluated = cli("evaluate", "temporal", "--model", "ap", "--data", table, "--sequences", 2,
                    "--temporal-weights", out, env=env)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    for row in ("per-frame / all", "hold-last / face", "ap (causal) / all", "ap (causal) / gap",
                "ap (offline, centred) / face"):
        assert row in evaluated.stdout
    assert "within_1sd" in evaluated.stdout and "emotion_acc" in evaluated.stdout
    assert "σ of ap (causal) in detection gaps" in evaluated.stdout
    # The trained file drives the pipeline.
    with af.AffectStream(mode="offline", temporal="ap", temporal_weights=out) as pipeline:
        rows = [r for r in pipeline.stream(shared / "media" / "video" / "single_face.mp4")
                if r.success]
    assert rows and all(r.valence_std is not None and r.valence_std > 0 for r in rows)


def test_hold_last_carries_the_last_detection():
    prediction = torch.tensor([[[0.5], [0.0], [0.0], [-0.2], [0.0]]]).expand(1, 5, 14).clone()
    present = torch.tensor([[True, False, False, True, False]])
    emotion = torch.eye(8)[[1, 0, 0, 3, 0]][None]
    seq = Sequences(embedding=prediction, shape=prediction,
                    frame_prediction=prediction * present[..., None], present=present,
                    degraded=~present, target_va=prediction[..., :2], target_au=prediction[..., 2:],
                    frame_emotion=emotion * present[..., None], target_emotion=emotion)
    held = hold_last(seq)
    assert np.allclose(held["mean"][0, :, 0], [0.5, 0.5, 0.5, -0.2, -0.2])
    assert held["emotion"][0].argmax(-1).tolist() == [1, 1, 1, 3, 3]  # emotions are held too


def test_emotion_figures_count_silence_as_wrong_and_changes_per_pair():
    present = torch.tensor([[True, True, False, True, True]])
    target = torch.eye(8)[[1, 1, 1, 2, 2]][None]
    seq = Sequences(embedding=target, shape=target, frame_prediction=torch.zeros(1, 5, 14),
                    present=present, degraded=~present, target_va=torch.zeros(1, 5, 2),
                    target_au=torch.zeros(1, 5, 12), frame_emotion=target, target_emotion=target)
    answer = np.eye(8)[[1, 0, 0, 2, 2]][None]
    answer[0, 2] = np.nan  # no answer in the gap
    figures = emotion_figures(answer, seq, np.ones((1, 5), bool))
    assert figures["emotion_acc"] == 3 / 5  # right at 0, 3, 4; wrong at 1; silent at 2
    assert figures["top1_changes"] == 50.0  # of the answered pairs (0,1) and (3,4), one changes


def test_sigma_is_reported_by_the_gap_it_falls_in():
    present = np.array([[True, False, False, False, True, False]])
    assert gap_lengths(present).tolist() == [[0, 1, 2, 3, 0, 1]]
    seq = Sequences(embedding=torch.zeros(1, 6, 1), shape=torch.zeros(1, 6, 1),
                    frame_prediction=torch.zeros(1, 6, 14), present=torch.from_numpy(present),
                    degraded=torch.from_numpy(~present), target_va=torch.full((1, 6, 2), 0.5),
                    target_au=torch.zeros(1, 6, 12), frame_emotion=torch.zeros(1, 6, 8),
                    target_emotion=torch.zeros(1, 6, 8))
    std = np.broadcast_to(np.arange(6, dtype=float)[None, :, None] / 10, (1, 6, 14))
    rows = sigma_by_gap({"mean": np.zeros((1, 6, 14)), "std": std}, seq)
    assert [(r["gap"], r["frames"]) for r in rows[:2]] == [("1–2", 3), ("3–5", 1)]
    assert rows[0]["std_valence"] == (0.1 + 0.2 + 0.5) / 3 and rows[1]["std_valence"] == 0.3
    assert rows[1]["within_2sd"] == 1.0 and rows[0]["within_1sd"] == 1 / 3  # |0.5| ≤ σ at 0.5
