"""PipelineOptions: one validated set of settings that pickles, round-trips through JSON and
rebuilds an identical pipeline in another process."""
from __future__ import annotations

import argparse
import math
import os
import pickle
import subprocess
import sys

import pytest

import affectstream as af
from affectstream.options import add_arguments, from_arguments


def test_defaults_pickle_and_json_round_trip():
    options = af.PipelineOptions(max_faces=2, max_gap=0.5, temporal="affwildnet", mode="offline")
    assert pickle.loads(pickle.dumps(options)) == options
    assert af.PipelineOptions.from_json(options.to_json()) == options
    assert options.to_json() == af.PipelineOptions.from_json(options.to_json()).to_json()
    assert af.PipelineOptions().temporal == "ap" and af.PipelineOptions().max_faces == 4
    assert options.replace(max_faces=3).max_faces == 3 and options.max_faces == 2  # frozen


@pytest.mark.parametrize("settings, message", [
    ({"max_faces": 0}, "max_faces must be at least 1"),
    ({"max_faces": "4"}, "max_faces must be an integer"),
    ({"max_faces": 2.5}, "max_faces must be an integer"),
    ({"max_faces": True}, "max_faces must be an integer"),
    ({"max_gap": -5}, "max_gap must be at least 0"),
    ({"max_gap": math.nan}, "max_gap must be a finite number"),
    ({"context_seconds": 0}, "context_seconds must be above 0"),
    ({"mode": "fast"}, "unknown mode 'fast'; choose from auto, offline, live"),
    ({"au_source": "eyes"}, "unknown au_source"),
    ({"temporal": "lstm"}, "unknown temporal 'lstm'; choose from ap, affwildnet"),
    ({"frame_model": "vgg"}, "unknown frame_model"),
    ({"landmarker": 3}, "landmarker must be a string"),
])
def test_bad_settings_are_one_clear_error(settings, message):
    with pytest.raises(af.AffectStreamError, match=message):
        af.PipelineOptions(**settings)


def test_json_errors_and_unknown_keys():
    with pytest.raises(af.AffectStreamError, match="not valid JSON"):
        af.PipelineOptions.from_json("{")
    with pytest.raises(af.AffectStreamError, match="unknown pipeline option"):
        af.PipelineOptions.from_json('{"fps": 30}')
    with pytest.raises(af.AffectStreamError, match="unknown pipeline option"):
        af.AffectStream(speed=2)


def test_cli_arguments_come_from_the_options():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--max-faces", "2", "--temporal", "none", "--max-gap", "0.25"])
    options = from_arguments(args)
    assert options == af.PipelineOptions(max_faces=2, temporal="none", max_gap=0.25)
    with pytest.raises(SystemExit):
        parser.parse_args(["--temporal", "lstm"])  # choices from the registry


def test_paths_become_strings():
    from pathlib import Path

    options = af.PipelineOptions(temporal_weights=Path("/tmp/ap.safetensors"))
    assert options.temporal_weights == "/tmp/ap.safetensors"
    assert af.PipelineOptions.from_json(options.to_json()) == options


def test_options_sent_as_json_rebuild_an_identical_pipeline_in_a_fresh_process(video, tmp_path):
    clip = video("single_face.mp4")
    options = af.PipelineOptions(mode="offline", max_faces=2, max_gap=0.5, temporal="ap",
                                 context_seconds=1.0)
    here = tmp_path / "here.csv"
    with af.AffectStream(options) as pipeline:
        pipeline.run(clip, csv=here)
    text = pickle.loads(pickle.dumps(options)).to_json()
    code = ("import sys, affectstream as af; "
            "options = af.PipelineOptions.from_json(sys.argv[1]); "
            "af.process(sys.argv[2], csv=sys.argv[3], options=options)")
    result = subprocess.run([sys.executable, "-c", code, text, str(clip),
                             str(tmp_path / "there.csv")],
                            capture_output=True, text=True, env=dict(os.environ), timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "there.csv").read_bytes() == here.read_bytes()
    assert here.read_text().count("\n") == 73
