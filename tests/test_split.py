"""`process --split`: one long video in segments on several workers, joined into what one run
writes (segments.py has the cutting, decoding and matching tests)."""
from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
from test_cli import cli


def records(path: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "latency_ms"}
            for line in path.read_text().splitlines()]


def test_a_split_run_writes_the_bytes_of_one_run(video, tmp_path):
    # one run on this machine, not the golden file: another CPU kind rounds differently
    whole = tmp_path / "whole" / "w.csv"
    assert cli("process", video("WolfgangLanger_Pexels.mp4"), "-o", whole,
               "--jsonl").returncode == 0
    out = tmp_path / "split" / "w.csv"
    result = cli("process", video("WolfgangLanger_Pexels.mp4"), "-o", out, "--split",
                 "--workers", "2", "--jsonl")
    assert result.returncode == 0, result.stderr
    assert "in 2 segments" in result.stdout
    # the Affective Process's 0.5 s context is inside the 3 s warm-up: the very same numbers
    assert out.read_bytes() == whole.read_bytes()
    assert records(out.with_suffix(".jsonl")) == records(whole.with_suffix(".jsonl"))
    assert sorted(p.name for p in out.parent.iterdir()) == ["w.csv", "w.jsonl"]  # spools gone


@pytest.fixture(scope="module")
def two_people(video, tmp_path_factory) -> Path:
    """The Wolfgang clip beside its mirror image: two faces for 19.7 s."""
    path = tmp_path_factory.mktemp("two") / "two_people.mp4"
    with av.open(str(video("WolfgangLanger_Pexels.mp4"))) as src, \
            av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24, options={"crf": "20", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = 1280, 360, "yuv420p"
        for frame in src.decode(video=0):
            image = frame.to_ndarray(format="rgb24")
            pair = np.concatenate([image, image[:, ::-1]], axis=1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pair, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_face_ids_are_one_per_person_across_the_cuts(two_people, tmp_path):
    whole, cut = tmp_path / "whole.csv", tmp_path / "cut.csv"
    assert cli("process", two_people, "-o", whole, "--temporal", "none").returncode == 0
    result = cli("process", two_people, "-o", cut, "--temporal", "none", "--split",
                 "--workers", "2")
    assert result.returncode == 0 and "in 2 segments" in result.stdout, result.stderr
    assert cut.read_bytes() == whole.read_bytes()  # the tracker is settled after the warm-up
    one, split = pd.read_csv(whole), pd.read_csv(cut)
    assert len(split) == len(one) and (split.frame == one.frame).all()
    assert (split.timestamp == one.timestamp).all()
    assert sorted(split.face_id.dropna().unique()) == [0, 1]
    assert (split.face_id == one.face_id).all()
    # the person on the left keeps one id in both halves
    left = split[split.face_x < 640].face_id
    assert left.nunique() == 1
    assert np.abs(split.face_x - one.face_x).max() < 2.0
