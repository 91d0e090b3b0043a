import os
import subprocess
import sys

import pandas as pd
import pytest


def cli(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "affectstream.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=300)


def one_line_error(result):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert len(lines) == 1 and lines[0].startswith("affectstream: error: "), result.stderr
    return lines[0]


def test_process_writes_csv_and_summary(video, tmp_path):
    result = cli("process", video("single_face.mp4"), "-o", tmp_path / "out.csv", "--jsonl")
    assert result.returncode == 0, result.stderr
    assert "72 frames, 72 with a face" in result.stdout and "out.csv" in result.stdout
    assert len(pd.read_csv(tmp_path / "out.csv")) == 72
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 72


def test_faces_beyond_max_faces_are_reported_once(media, tmp_path):
    group = media / "images" / "multi_face.jpg"  # five faces
    result = cli("process", group, "-o", tmp_path / "four.csv", "--max-faces", "4")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("WARNING: 1 frame(s) held more faces than --max-faces 4") == 1
    assert pd.read_csv(tmp_path / "four.csv").face_id.nunique() == 4
    result = cli("process", group, "-o", tmp_path / "five.csv", "--max-faces", "5")
    assert "WARNING" not in result.stdout
    assert pd.read_csv(tmp_path / "five.csv").face_id.nunique() == 5


def test_process_several_inputs_into_a_folder(video, tmp_path):
    result = cli("process", video("single_face.mp4"), video("codecs/h264_aac.mp4"),
                 "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "affectstream-batch.csv", "h264_aac.csv", "single_face.csv"]


@pytest.mark.parametrize("content, words", [
    (None, "no such file"), (b"", "empty"), (b"just some text\n", "cannot open as a video")])
def test_bad_inputs_give_one_line(model, tmp_path, content, words):
    path = tmp_path / "input.mp4"
    if content is not None:
        path.write_bytes(content)
    assert words in one_line_error(cli("process", path, "-o", tmp_path / "x.csv"))
    assert not (tmp_path / "x.csv").exists()


def test_truncated_video_keeps_rows_and_says_where(video, tmp_path):
    data = video("WolfgangLanger_Pexels.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    result = cli("process", tmp_path / "cut.mp4", "-o", tmp_path / "cut.csv")
    line = one_line_error(result)
    rows = len(pd.read_csv(tmp_path / "cut.csv"))
    assert f"stopped after frame {rows - 1}" in line
    assert f"INCOMPLETE: stopped after frame {rows - 1}" in result.stdout


def test_unwritable_output_and_bad_model(video, tmp_path):
    (tmp_path / "file").write_text("")
    assert "cannot write" in one_line_error(cli("process", video("single_face.mp4"), "-o",
                                                tmp_path / "file" / "x.csv"))
    (tmp_path / "broken.task").write_bytes(b"junk")
    line = one_line_error(cli("process", video("single_face.mp4"), "--landmarker",
                              tmp_path / "broken.task"))
    assert "checksum mismatch" in line
    env = {"AFFECTSTREAM_MODEL_DIR": str(tmp_path / "empty"),
           "AFFECTSTREAM_CACHE": str(tmp_path / "cache")}
    line = one_line_error(cli("process", video("single_face.mp4"), env=env))
    assert "face_landmarker.task not found" in line


def test_no_camera_is_one_line(model):
    assert "no usable camera" in one_line_error(cli("webcam", "--source", "/dev/video9"))


def test_webcam_command_plays_a_file_live(video):
    result = cli("webcam", "--source", video("codecs/h264_aac.mp4"))
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.startswith("frame,timestamp,file,face_id") and header.endswith("latency_ms")
    frames = [int(row.split(",")[0]) for row in rows]
    # real time: a slow frame is skipped, never queued, so the rows still reach the clip's end
    assert 0 < len(set(frames)) <= 31 and frames == sorted(frames) and frames[-1] >= 25


def test_models_lists_where_files_are(shared):
    result = cli("models")
    assert result.returncode == 0
    assert "ok (sha256 verified)" in result.stdout and "AFFECTSTREAM_MODEL_DIR" in result.stdout


def test_python_m_affectstream_and_a_device_that_is_not_empty(model):
    result = subprocess.run([sys.executable, "-m", "affectstream", "process", "/dev/zero"],
                            capture_output=True, text=True, timeout=300)
    line = one_line_error(result)
    assert "a device, not a regular file" in line and "empty" not in line
