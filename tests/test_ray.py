"""`--engine ray`: the batch on Ray actors (a private local cluster on 127.0.0.1 here) writes the
same bytes as one process, and an actor killed mid-file has its file redone by Ray."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_batch import _kill_holder, manifest
from test_cli import cli

pytest.importorskip("ray", reason="the ray extra is not installed: pip install '.[ray]'")


@pytest.fixture(scope="module")
def clips(video, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clips")
    shutil.copy(video("WolfgangLanger_Pexels.mp4"), folder / "long.mp4")
    for name in ("h264_aac.mp4", "vp8_opus.webm"):
        shutil.copy(video(f"codecs/{name}"), folder / name)
    return folder


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="finds the actor through /proc")
def test_ray_actors_write_the_same_bytes_and_redo_a_killed_actors_file(clips, tmp_path):
    one = tmp_path / "one"
    assert cli("process", clips, "-o", one, "--workers", "1", "--temporal", "none",
               "-q").returncode == 0
    out = tmp_path / "ray"
    run = subprocess.Popen([sys.executable, "-m", "affectstream.cli", "process", clips, "-o", out,
                            "--engine", "ray", "--workers", "2", "--temporal", "none", "-q"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _kill_holder(out / "long.csv.partial", timeout=180)  # the actor, by kill -9
    _, stderr = run.communicate(timeout=600)
    assert run.returncode == 0 and "Traceback" not in stderr, stderr
    rows = manifest(out)
    assert (rows.status == "done").all()
    assert rows.loc[str(clips / "long.mp4")].attempts == 2  # the manifest says it was redone
    for name in ("long.csv", "h264_aac.csv", "vp8_opus.csv"):
        assert (out / name).read_bytes() == (one / name).read_bytes(), name
    assert not list(out.glob("*.partial"))


def test_a_pipeline_the_actors_cannot_build_is_one_clear_error(clips, tmp_path):
    result = cli("process", clips / "h264_aac.mp4", clips / "vp8_opus.webm", "-o", tmp_path,
                 "--engine", "ray", "--workers", "2", "--landmarker", tmp_path / "none.task")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"affectstream: error: the Ray workers cannot build the pipeline: "
        f"{tmp_path / 'none.task'}: model file not found")
