import os
import subprocess
import sys
import time

import numpy as np
from safetensors import safe_open

import affectstream as af
from affectstream.models.frame import WEIGHTS, load_frame_net


def test_train_frame_on_500_images_gives_a_loadable_model(shared, model, tmp_path):
    out = tmp_path / "frame.safetensors"
    env = {**os.environ, "AFFECTSTREAM_CACHE": str(tmp_path / "cache")}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "affectstream.cli", "train", "frame", "--data",
                             str(shared / "data" / "ferplus"), "--out", str(out), "--limit", "500",
                             "--epochs", "3", "--ema", "0.99", "--teachers",
                             str(WEIGHTS.path), "--channels", "16", "32", "48", "64",
                             "--mixup", "0.2"],
                            capture_output=True, text=True, env=env, timeout=600)
    print(f"train frame on 500 images: {time.perf_counter() - started:.0f} s")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "epoch 3/3" in result.stdout and "face found on" in result.stdout
    assert "targets distilled 50% from the ensemble of 1 network(s)" in result.stdout
    net = load_frame_net(out)
    with safe_open(out, "pt") as f:  # the file says how it was made
        assert f.metadata()["teachers"] == "frame.safetensors" and f.metadata()["ema"] == "0.99"
        assert f.metadata()["mixup"] == "0.2"
    assert net.config["embed"] == 256 and net.config["channels"] == [16, 32, 48, 64]
    # The new weights drive the whole pipeline.
    with af.AffectStream(weights=out) as pipeline:
        image = np.load(shared / "data" / "ferplus" / "ferplus_valid.npz")["images"][0]
        rows = pipeline.analyze(af.Frame(0, 0.0, np.repeat(image[:, :, None], 3, 2)), still=True)
    assert rows[0].success and -1 <= rows[0].valence <= 1
    assert abs(sum(rows[0].emotion.values()) - 1) < 1e-5


def test_frame_au_widens_the_head_and_keeps_everything_else(shared, model, tmp_path, monkeypatch):
    import torch

    from affectstream.models.frame import FrameNet
    from affectstream.models.weights import save_net
    from affectstream.train.frame.au_head import train_au_head
    from affectstream.types import DISFA_AU_NAMES, PRESENCE_AU_NAMES

    monkeypatch.setenv("AFFECTSTREAM_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    base = save_net(FrameNet().eval(), tmp_path / "frame12.safetensors")  # a 12-AU network
    out = tmp_path / "frame.safetensors"
    figures = train_au_head(shared / "data" / "ferplus", base, out, limit=200, epochs=2,
                            valid_limit=60, log=lambda *a: None)
    old, new = load_frame_net(base), load_frame_net(out)
    assert old.aus == DISFA_AU_NAMES and new.aus == tuple(
        a for a in af.AU_NAMES if a not in ("AU14", "AU23"))  # AU14 from the teacher; AU23: none
    kept = {k: v for k, v in old.state_dict().items() if not k.startswith("au.")}
    assert all(torch.equal(v, new.state_dict()[k]) for k, v in kept.items())
    rows = [new.aus.index(a) for a in DISFA_AU_NAMES]
    assert torch.equal(new.au.weight[rows], old.au.weight)  # the 12 rows are untouched
    assert set(new.presence["model"]) == set(PRESENCE_AU_NAMES) - {"AU23"}
    assert all(0 < t < 5 for t in new.presence["model"].values())
    assert set(figures["agreement"]) == {"AU07", "AU10", "AU45"} | set(DISFA_AU_NAMES)
    # The widened network drives the pipeline: every AU but AU23, and presence for each.
    with af.AffectStream(weights=out, temporal="none") as pipeline:
        image = np.load(shared / "data" / "ferplus" / "ferplus_valid.npz")["images"][0]
        (row,) = pipeline.analyze(af.Frame(0, 0.0, np.repeat(image[:, :, None], 3, 2)),
                                  still=True)
    assert set(row.au) == set(af.AU_NAMES) - {"AU23"}
    assert set(row.au_presence) == set(PRESENCE_AU_NAMES) - {"AU23"}


def test_distilled_targets_move_part_way_to_the_mirror_averaged_ensemble(tmp_path):
    import torch

    from affectstream.models.frame import FrameNet
    from affectstream.models.weights import save_net
    from affectstream.train.frame.training import Tensors, distilled, ensemble_prediction

    generator = torch.Generator().manual_seed(0)
    n = 6
    votes = torch.softmax(torch.randn(n, 8, generator=generator), 1)
    votes[1] = float("nan")  # an image with no emotion label stays unlabelled
    data = Tensors(torch.rand(n, 1, 48, 48, generator=generator),
                   torch.rand(n, 52, generator=generator),
                   torch.rand(n, 478, 2, generator=generator) - 0.5, votes[:, :2].clone(),
                   torch.zeros(n, 12), votes)
    teachers = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        teachers.append(save_net(FrameNet().eval(), tmp_path / f"teacher{seed}.safetensors"))
    mirror = torch.arange(478)
    teacher = ensemble_prediction(teachers, data, mirror)
    one = ensemble_prediction(teachers[:1], data, mirror)
    assert not np.allclose(teacher["emotion"], one["emotion"])  # both networks count
    mixed = distilled(data, teachers, mirror, 0.25)
    expected = 0.75 * votes + 0.25 * torch.from_numpy(teacher["emotion"])
    assert torch.allclose(mixed.emotion[[0, 2, 3, 4, 5]], expected[[0, 2, 3, 4, 5]], atol=1e-6)
    assert torch.isnan(mixed.emotion[1]).all() and torch.isnan(mixed.va[1]).all()
    assert torch.allclose(mixed.emotion[[0, 2]].sum(1), torch.ones(2), atol=1e-5)
    assert torch.equal(mixed.image, data.image) and torch.equal(mixed.au, data.au)


def test_mixup_blends_inputs_and_targets_alike_and_keeps_missing_labels_missing():
    import torch

    from affectstream.train.frame.training import Tensors, mixup

    n, generator = 64, torch.Generator().manual_seed(0)
    votes = torch.softmax(torch.randn(n, 8, generator=generator), 1)
    votes[1] = float("nan")
    data = Tensors(torch.rand(n, 1, 48, 48, generator=generator), torch.rand(n, 52),
                   torch.rand(n, 478, 2) - 0.5, votes[:, :2].clone(), torch.rand(n, 12) * 5, votes)
    mixed = mixup(data, 0.2, np.random.default_rng(0), torch.Generator().manual_seed(0))
    labelled = ~torch.isnan(mixed.emotion[:, 0])
    assert 0 < labelled.sum() < n - 1  # the unlabelled image and its partner lose the label
    assert torch.allclose(mixed.emotion[labelled].sum(1), torch.ones(int(labelled.sum())))
    # each sample is w·itself + (1 − w)·a partner, w ≥ ½, its targets mixed by the same w
    x, m = data.image.flatten(1), mixed.image.flatten(1)
    for i in range(n):
        d = x[i] - x  # m_i − x_j = w·(x_i − x_j): w by least squares, the partner by its residual
        w = ((m[i] - x) * d).sum(1) / (d * d).sum(1).clamp_min(1e-12)
        residual = ((m[i] - x) - w[:, None] * d).pow(2).sum(1)
        residual[i] = float("inf") if not torch.allclose(m[i], x[i]) else 0.0
        j = int(residual.argmin())
        share = float(w[j]) if j != i else 1.0
        assert share >= 0.5 - 1e-4
        expected = share * data.va[i] + (1 - share) * data.va[j]
        assert torch.allclose(torch.nan_to_num(mixed.va[i], 9.0), torch.nan_to_num(expected, 9.0),
                              atol=1e-4)
    again = mixup(data, 0.2, np.random.default_rng(0), torch.Generator().manual_seed(0))
    assert torch.equal(torch.nan_to_num(again.va), torch.nan_to_num(mixed.va))  # seeded
