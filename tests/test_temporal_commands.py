import os
import subprocess
import sys

import numpy as np
import torch

import affectstream as af
from affectstream.models.affective_process import AffectiveProcess
from affectstream.models.weights import load_net
from affectstream.train.temporal.data import Sequences
from affectstream.train.temporal.evaluation import hold_last

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
                  "--valid-sequences", 2, "--epochs", 2, "--seconds", 0.3, "--out", out, env=env)
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert "affective process epoch 2/2" in trained.stdout and "ap (causal) / all" in trained.stdout
    model_, header = load_net(AffectiveProcess, out, "Affective Process", "")
    assert header["seconds"] == "0.3" and header["sequences"] == "6"
    assert "ccc_valence" in header["holdout"]
    evaluated = cli("evaluate", "temporal", "--model", "ap", "--data", table, "--sequences", 2,
                    "--temporal-weights", out, env=env)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    for row in ("per-frame / all", "hold-last / face", "ap (causal) / all",
                "ap (offline, centred) / face"):
        assert row in evaluated.stdout
    assert "within_1sd" in evaluated.stdout
    # The trained file drives the pipeline.
    with af.AffectStream(mode="offline", temporal="ap", temporal_weights=out) as pipeline:
        rows = [r for r in pipeline.stream(shared / "media" / "video" / "single_face.mp4")
                if r.success]
    assert rows and all(r.valence_std is not None and r.valence_std > 0 for r in rows)


def test_hold_last_carries_the_last_detection():
    prediction = torch.tensor([[[0.5], [0.0], [0.0], [-0.2], [0.0]]]).expand(1, 5, 14).clone()
    present = torch.tensor([[True, False, False, True, False]])
    seq = Sequences(embedding=prediction, shape=prediction,
                    frame_prediction=prediction * present[..., None], present=present,
                    degraded=~present, target_va=prediction[..., :2], target_au=prediction[..., 2:])
    held = hold_last(seq)["mean"][0, :, 0]
    assert np.allclose(held, [0.5, 0.5, 0.5, -0.2, -0.2])
