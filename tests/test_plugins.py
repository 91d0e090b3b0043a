"""A toy temporal model and a toy writer, defined and registered here only, run through the API and
the CLI (`--temporal toy --format toy`) with no edit to the package."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import affectstream as af

SMOOTHING = 0.5  # the toy's exponential moving average: new = ½ old + ½ reading


@af.register("temporal", "toy")
class ToyAverage:
    """An exponential moving average per track, with the distance moved as its 'uncertainty'."""

    produces = ("au", "valence", "uncertainty")

    def __init__(self):
        self.state: dict[int, af.FrameOutput] = {}

    @classmethod
    def from_options(cls, options: af.PipelineOptions) -> ToyAverage:
        return cls()

    def step(self, track_id, timestamp, reading):
        old = self.state.get(track_id)
        if reading is None:  # held: keep the last estimate
            return old
        if old is None:
            new = af.FrameOutput(valence=reading.valence, arousal=reading.arousal, au=reading.au)
        else:
            new = af.FrameOutput(
                valence=SMOOTHING * old.valence + (1 - SMOOTHING) * reading.valence,
                arousal=SMOOTHING * old.arousal + (1 - SMOOTHING) * reading.arousal,
                au=SMOOTHING * old.au + (1 - SMOOTHING) * reading.au)
        new.valence_std = abs(new.valence - reading.valence)
        new.arousal_std = abs(new.arousal - reading.arousal)
        self.state[track_id] = new
        return new

    def drop(self, track_id):
        self.state.pop(track_id, None)

    def reset(self):
        self.state.clear()


@af.register("writer", "toy")
class ToyWriter:
    """`frame<TAB>face_id<TAB>valence` lines for detected faces."""

    suffix = ".toy"

    def open(self, path, columns, options):
        self.path = Path(path)
        self.file = open(self.path, "w")
        self.file.write(f"# {options.temporal}\n")

    def write(self, rows):
        for r in rows:
            if r.success:
                self.file.write(f"{r.frame}\t{r.track_id}\t{r.valence:.6f}\n")

    def close(self, complete=True):
        self.file.close()
        return self.path


def _expected(rows: list[af.Affect]) -> list[tuple[int, int, float]]:
    """The toy's valence computed by hand from the per-frame model's (one face, no gaps)."""
    out, average = [], None
    for r in rows:
        if r.success:
            average = (r.valence if average is None
                       else SMOOTHING * average + (1 - SMOOTHING) * r.valence)
            out.append((r.frame, r.track_id, average))
    return out


def _read(path: Path) -> list[tuple[int, int, float]]:
    lines = path.read_text().splitlines()
    assert lines[0] == "# toy"
    return [(int(f), int(t), float(v)) for f, t, v in (line.split("\t") for line in lines[1:])]


@pytest.fixture(scope="module")
def per_frame(video) -> list[af.Affect]:
    return list(af.stream(video("single_face.mp4"), temporal="none"))


def test_toy_model_and_writer_through_the_api(video, per_frame, tmp_path):
    assert "toy" in af.PipelineOptions(temporal="toy").to_json()
    with af.AffectStream(mode="offline", temporal="toy") as pipeline:
        assert "valence_std" in pipeline.columns  # it declared uncertainty
        summary = pipeline.run(video("single_face.mp4"), outputs=[("toy", tmp_path / "a.toy")],
                               csv=tmp_path / "a.csv")
    assert summary.frames == 72 and summary.output == str(tmp_path / "a.csv")
    got, expected = _read(tmp_path / "a.toy"), _expected(per_frame)
    assert len(got) == len(expected) == 72
    assert np.allclose([g[2] for g in got], [e[2] for e in expected], atol=2e-6)
    assert len(set(g[2] for g in got)) > 10  # it moved with the face


def test_toy_model_and_writer_through_the_cli(video, per_frame, tmp_path):
    here = Path(__file__).parent
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import test_plugins; "
            "from affectstream.cli import main; sys.exit(main(sys.argv[2:]))")
    result = subprocess.run(
        [sys.executable, "-c", code, str(here), "process", str(video("single_face.mp4")),
         "--temporal", "toy", "--format", "toy,csv", "-o", str(tmp_path / "b.toy"), "--quiet"],
        capture_output=True, text=True, env=dict(os.environ), timeout=300)
    assert result.returncode == 0, result.stderr
    assert "72 frames, 72 with a face" in result.stdout and "b.toy" in result.stdout
    got = _read(tmp_path / "b.toy")
    assert np.allclose([g[2] for g in got], [e[2] for e in _expected(per_frame)], atol=2e-6)
    assert (tmp_path / "b.csv").read_text().count("\n") == 73  # the CSV beside it


def test_an_unregistered_name_is_a_clear_error():
    with pytest.raises(af.AffectStreamError, match="unknown temporal 'nope'; choose from .*toy"):
        af.PipelineOptions(temporal="nope")
