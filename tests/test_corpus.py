"""Training the temporal models on an annotated corpus a user holds, from fixtures in its exact
format."""
import math
import os
import subprocess
import sys

import numpy as np
import torch
from test_temporal_training import tiny_sequences

from affectstream.train.temporal.corpus import find_media, labelled_units
from affectstream.train.temporal.evaluation import sequence_figures
from affectstream.train.temporal.training import (
    MEMBERS,
    predict_sequences,
    train_affective_process,
    train_affwildnet,
)
from affectstream.types import DISFA_AU_NAMES as AU_NAMES  # the temporal models' AUs


def test_units_find_their_labels_and_media(tmp_path):
    labels, media = tmp_path / "labels", tmp_path / "media"
    (labels / "SN001").mkdir(parents=True)
    for au in (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26):
        (labels / "SN001" / f"SN001_au{au}.txt").write_text("1,0\n2,3\n")
    (media / "F001" / "T1").mkdir(parents=True)
    (media / "F001" / "T1" / "0001.jpg").write_bytes(b"")
    for name in ("LeftVideoSN001_comp.avi", "video5.mp4", "video5_extra.mp4"):
        (media / name).write_bytes(b"")
    disfa = labelled_units("disfa", labels)
    assert list(disfa) == ["SN001"] and disfa["SN001"][1].shape == (2, 12)
    assert np.isnan(disfa["SN001"][0]).all()
    assert find_media("SN001", media) == (media / "LeftVideoSN001_comp.avi", None)
    assert find_media("F001_T1", media) == (media / "F001" / "T1", None)  # BP4D's frame folders
    # Aff-Wild2's two-person videos
    assert find_media("video5_left", media) == (media / "video5.mp4", "left")
    bp4d = tmp_path / "bp4d"
    for au in ("AU06", "AU12"):
        (bp4d / au).mkdir(parents=True)
        (bp4d / au / f"F001_T1_{au}.csv").write_text("1,2\n2,9\n3,4\n")
    intensity = labelled_units("bp4d", bp4d)["F001_T1"][1]
    assert intensity[0, AU_NAMES.index("AU06")] == 2
    assert np.isnan(intensity[1, AU_NAMES.index("AU12")])


def test_models_learn_from_partly_labelled_sequences():
    seq = tiny_sequences(count=12)
    seq.target_va[:3, :10] = float("nan")  # frames nobody annotated
    seq.target_au[:, :, 5:] = float("nan")  # AUs the corpus does not code
    seq.target_emotion[:] = float("nan")  # corpora code no emotions
    losses = []
    gru = train_affwildnet(seq, epochs=6, batch_size=6, log=losses.append)
    assert all(math.isfinite(float(line.split()[-1])) for line in losses)
    assert float(losses[-1].split()[-1]) < float(losses[0].split()[-1])
    ap = train_affective_process(seq, epochs=4, batch_size=6, tune=seq, log=losses.append)
    assert torch.isfinite(ap.std_scale).all() and torch.isfinite(ap.std_power).all()
    figures = sequence_figures(predict_sequences(ap, seq, width=10), seq)
    assert math.isfinite(figures["ccc_valence"]) and math.isfinite(figures["au_icc"])
    assert figures["within_1sd"] > 0
    assert math.isfinite(sequence_figures(predict_sequences(gru, seq), seq)["au_pcc"])


def test_affwild2_corpus_through_the_commands(shared, model, tmp_path):
    labels, media = tmp_path / "labels", tmp_path / "media"
    labels.mkdir()
    media.mkdir()
    (media / "talk.mp4").symlink_to(shared / "media" / "video" / "WolfgangLanger_Pexels.mp4")
    # Aff-Wild2's format: a header, one `valence,arousal` line per frame, −5 where unannotated.
    lines = ["-5,-5" if t < 100 else f"{0.5 * math.sin(t / 40):.3f},{0.3 * math.cos(t / 50):.3f}"
             for t in range(472)]
    (labels / "talk.txt").write_text("valence,arousal\n" + "\n".join(lines) + "\n")
    env = {**os.environ, "AFFECTSTREAM_CACHE": str(tmp_path / "cache")}
    corpus = ["--corpus", "affwild2", "--labels", str(labels), "--media", str(media)]
    out = tmp_path / "gru.safetensors"
    command = [sys.executable, "-m", "affectstream.cli"]
    trained = subprocess.run([*command, "train", "temporal", "--model", "affwildnet", "--data",
                              str(shared / "data" / "ferplus"), "--sequences", "0",
                              "--valid-sequences", "0", "--tune-sequences", "0", "--epochs", "3",
                              "--out", str(out), *corpus],
                             capture_output=True, text=True, env=env, timeout=600)
    assert trained.returncode == 0, trained.stderr[-2000:]
    # 372 labelled frames
    assert "affwild2 talk: 4 sequences of 80 frames from talk.mp4" in trained.stdout
    assert f"affwildnet {MEMBERS}/{MEMBERS} epoch 3/3" in trained.stdout  # each GRU, 3 epochs
    evaluated = subprocess.run([*command, "evaluate", "temporal", "--model", "affwildnet", "--data",
                                str(shared / "data" / "ferplus"), "--temporal-weights", str(out),
                                *corpus],
                               capture_output=True, text=True, env=env, timeout=600)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert "sequences of 80 frames from affwild2" in evaluated.stdout
    row = next(line for line in evaluated.stdout.splitlines()
               if line.startswith("affwildnet (causal) / all"))
    # valence CCC; AUs not coded
    assert math.isfinite(float(row.split()[5])) and row.split()[7] == "nan"
