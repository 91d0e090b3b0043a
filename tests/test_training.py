import os
import subprocess
import sys
import time

import numpy as np

import affectstream as af
from affectstream.models.frame import load_frame_net


def test_train_frame_on_500_images_gives_a_loadable_model(shared, model, tmp_path):
    out = tmp_path / "frame.safetensors"
    env = {**os.environ, "AFFECTSTREAM_CACHE": str(tmp_path / "cache")}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "affectstream.cli", "train", "frame", "--data",
                             str(shared / "data" / "ferplus"), "--out", str(out), "--limit", "500",
                             "--epochs", "3"],
                            capture_output=True, text=True, env=env, timeout=600)
    print(f"train frame on 500 images: {time.perf_counter() - started:.0f} s")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "epoch 3/3" in result.stdout and "face found on" in result.stdout
    net = load_frame_net(out)
    assert net.config["embed"] == 256
    # The new weights drive the whole pipeline.
    with af.AffectStream(weights=out) as pipeline:
        image = np.load(shared / "data" / "ferplus" / "ferplus_valid.npz")["images"][0]
        rows = pipeline.analyze(af.Frame(0, 0.0, np.repeat(image[:, :, None], 3, 2)), still=True)
    assert rows[0].success and -1 <= rows[0].valence <= 1
    assert abs(sum(rows[0].emotion.values()) - 1) < 1e-5
