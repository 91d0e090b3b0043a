"""The recipes of docs/architecture.md, run as written: a temporal model, a writer and a source,
through the API and (as a plugin module) through the CLI."""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import affectstream as af

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


@pytest.fixture(scope="module")
def recipes(tmp_path_factory):
    """The doc's Python blocks as one module, `recipes`, imported (which registers them)."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 3, "one code block per recipe"
    folder = tmp_path_factory.mktemp("recipes")
    path = folder / "recipes.py"
    path.write_text("\n\n".join(blocks))
    spec = importlib.util.spec_from_file_location("recipes", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_recipe_temporal_model_smooths_each_face(recipes, video):
    clip = video("single_face.mp4")
    raw = [r for r in af.stream(clip, temporal="none") if r.success]
    smooth = [r for r in af.stream(clip, temporal="ema") if r.success]
    assert len(raw) == len(smooth) == 72
    assert smooth[0].valence == pytest.approx(raw[0].valence)  # a new track starts at its reading

    def jitter(rows):
        return np.mean(np.abs(np.diff([r.valence for r in rows])))

    assert jitter(smooth) < 0.7 * jitter(raw)


def test_recipe_writer_writes_one_line_per_face(recipes, video, tmp_path):
    clip = video("single_face.mp4")
    with af.AffectStream(temporal="none") as pipeline:
        rows: list[af.Affect] = []
        pipeline.run(clip, outputs=[("facemeans", tmp_path / "means.tsv")], on_result=rows.append)
    lines = (tmp_path / "means.tsv").read_text().splitlines()
    assert lines[0] == "face_id\tframes\tvalence\tarousal" and len(lines) == 2
    face_id, frames, valence, _ = lines[1].split("\t")
    assert (face_id, frames) == ("0", "72")
    mean = np.mean([r.valence for r in rows if r.success])
    assert float(valence) == pytest.approx(mean, abs=1e-4)


def test_recipe_source_keeps_uneven_timestamps(recipes, video, tmp_path):
    import av

    times = [1_700_000_000_000 + ms for ms in (0, 40, 70, 150, 160, 300)]
    with av.open(str(video("single_face.mp4"))) as container:
        for ms, frame in zip(times, container.decode(video=0)):
            frame.to_image().save(tmp_path / f"{ms}.png")
    rows = list(af.stream(recipes.TimestampedFolder(tmp_path), temporal="ap"))
    assert [r.timestamp for r in rows] == [0.0, 0.04, 0.07, 0.15, 0.16, 0.3]
    assert all(r.success for r in rows) and {r.track_id for r in rows} == {0}


def test_recipes_as_a_plugin_of_the_cli(recipes, video, tmp_path):
    env = {**os.environ, "AFFECTSTREAM_PLUGINS": "recipes",
           "PYTHONPATH": os.pathsep.join([str(Path(recipes.__file__).parent),
                                          os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-m", "affectstream.cli", "process", str(video("single_face.mp4")),
         "--temporal", "ema", "--format", "csv,facemeans", "-o", str(tmp_path / "out.csv"), "-q"],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.csv").read_text().count("\n") == 73
    assert (tmp_path / "out.tsv").read_text().splitlines()[1].startswith("0\t72\t")
    broken = subprocess.run([sys.executable, "-m", "affectstream.cli", "models"], env={
        **os.environ, "AFFECTSTREAM_PLUGINS": "no_such_plugin"}, capture_output=True, text=True,
        timeout=300)
    assert broken.returncode == 1 and "Traceback" not in broken.stderr
    assert "cannot load the affectstream plugin 'no_such_plugin'" in broken.stderr
