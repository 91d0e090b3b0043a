"""The inputs and outputs of `affectstream process`: formats found by content, folders expanded
with every skipped entry named, and output names that never overwrite each other."""
from __future__ import annotations

import logging
import os
import shutil
import threading
from pathlib import Path

import pytest
from test_cli import cli, one_line_error

from affectstream import AffectStreamError, open_source
from affectstream.inputs import expand, output_paths, unique_names
from affectstream.probe import IMAGE, VIDEO, probe
from affectstream.sources import ImageSequenceSource, VideoSource


@pytest.mark.parametrize("inputs, names", [
    (["x/talk.mp4", "y/walk.mov"], ["talk", "walk"]),  # no clash: the plain stems
    (["a/clip.mp4", "b/clip.mp4"], ["a_clip", "b_clip"]),
    (["a/x/clip.mp4", "b/x/clip.mp4", "c/clip.mp4"], ["a_x_clip", "b_x_clip", "c_clip"]),
    (["a/Clip.mp4", "b/clip.mp4", "talk.mp4"], ["a_Clip", "b_clip", "talk"]),  # case-blind disks
    (["clip.mp4", "clip.mov"], ["clip_mp4", "clip_mov"]),
    (["clip.mp4", "clip.mp4"], ["clip", "clip_2"]),
    (["frames/", "rtsp://cam1/live", "rtsp://cam2/live"], ["frames", "cam1_live", "cam2_live"]),
])
def test_output_names_are_unique_and_derived_from_the_path(inputs, names):
    assert unique_names(inputs) == names


def test_output_paths_for_one_file_a_folder_or_here(tmp_path):
    assert output_paths(["a/clip.mp4"], str(tmp_path / "x.csv"), ".csv") == [tmp_path / "x.csv"]
    assert output_paths(["a/clip.mp4", "b/clip.mp4"], str(tmp_path / "out"), ".csv") == [
        tmp_path / "out" / "a_clip.csv", tmp_path / "out" / "b_clip.csv"]
    assert output_paths(["a/talk.mp4"], None, ".jsonl") == [Path("talk.jsonl")]
    with pytest.raises(AffectStreamError, match="names one file, but there are 2 inputs"):
        output_paths(["a.mp4", "b.mp4"], str(tmp_path / "x.csv"), ".csv")


@pytest.fixture
def odd_files(media, tmp_path) -> Path:
    """A video named .jpg, a photo named .mp4, text named .mp4, subtitles, an empty file."""
    folder = tmp_path / "odd"
    folder.mkdir()
    shutil.copy(media / "video" / "codecs" / "h264_aac.mp4", folder / "video.jpg")
    shutil.copy(media / "images" / "single_face.jpg", folder / "photo.mp4")
    (folder / "text.mp4").write_text("just some text\n")
    (folder / "subs.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nhello\n")
    (folder / "empty.mp4").write_bytes(b"")
    return folder


def test_formats_are_found_by_content_not_by_name(odd_files):
    assert probe(odd_files / "video.jpg") == (VIDEO, "")
    assert probe(odd_files / "photo.mp4") == (IMAGE, "")
    assert probe(odd_files / "text.mp4")[1].startswith("not a video or image")
    assert probe(odd_files / "subs.srt") == (None, "not a video (no video stream)")
    assert probe(odd_files / "empty.mp4") == (None, "empty (0 bytes)")
    video = open_source(odd_files / "video.jpg")
    assert isinstance(video, VideoSource) and len(list(video)) == 31
    photo = open_source(odd_files / "photo.mp4")
    assert isinstance(photo, ImageSequenceSource) and photo.stills and len(list(photo)) == 1
    with pytest.raises(AffectStreamError, match="cannot open as a video or image"):
        open_source(odd_files / "text.mp4")


def test_only_a_regular_file_of_0_bytes_is_empty(tmp_path):
    (tmp_path / "nothing.mp4").touch()
    with pytest.raises(AffectStreamError, match=r"empty \(0 bytes\)"):
        open_source(tmp_path / "nothing.mp4")
    with pytest.raises(AffectStreamError) as info:
        open_source("/dev/zero")
    assert "a device, not a regular file" in str(info.value) and "empty" not in str(info.value)
    fifo = tmp_path / "fifo.mp4"
    os.mkfifo(fifo)
    assert probe(fifo) == (None, "a pipe (FIFO), not a regular file")  # never opened: no data eaten


def test_a_fifo_is_read_as_a_stream(single_face_ts, tmp_path):
    clip = single_face_ts
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    threading.Thread(target=lambda: fifo.write_bytes(clip.read_bytes()), daemon=True).start()
    assert len(list(open_source(fifo))) == 72


def test_a_folder_names_everything_it_skips(odd_files, media, caplog):
    (odd_files / "notes.txt").write_text("not a video")
    (odd_files / "sub").mkdir()
    (odd_files / ".hidden").write_text("left out, as ls does")
    with caplog.at_level(logging.WARNING, logger="affectstream"):
        inputs, failures = expand([str(odd_files)])
    assert [Path(i.path).name for i in inputs] == ["video.jpg"]
    # files named as media that FFmpeg cannot read are failures, the rest are skipped
    assert sorted((Path(p).name, why.split(" (")[0]) for p, why in failures) == [
        ("empty.mp4", "empty"), ("text.mp4", "not a video or image")]
    skipped = {Path(r.args[0]).name: r.args[1] for r in caplog.records}
    assert skipped.keys() == {"notes.txt", "sub", "subs.srt", "photo.mp4"}
    assert skipped["subs.srt"] == "not a video (no video stream)"
    assert "an image in a folder of videos" in skipped["photo.mp4"]


def test_a_folder_of_images_is_one_input(media, tmp_path):
    for name in ("0-f1-su-ph.jpg", "single_face.jpg"):
        shutil.copy(media / "images" / name, tmp_path / name)
    (tmp_path / "readme.txt").write_text("hello")
    (inputs, failures) = expand([str(tmp_path)])
    assert failures == [] and len(inputs) == 1
    assert [p.name for p in inputs[0].images] == ["0-f1-su-ph.jpg", "single_face.jpg"]
    assert expand([str(tmp_path / "missing")])[0][0].path.endswith("missing")  # fails when opened


def test_two_inputs_with_one_name_write_two_files(video, tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(video("codecs/h264_aac.mp4"), tmp_path / folder / "clip.mp4")
    result = cli("process", "a/clip.mp4", "b/clip.mp4", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "a_clip.csv").read_text() == (tmp_path / "b_clip.csv").read_text()
    assert not (tmp_path / "clip.csv").exists()


def test_one_output_file_for_several_inputs_is_an_error(video, tmp_path):
    line = one_line_error(cli("process", video("codecs/h264_aac.mp4"), video("single_face.mp4"),
                              "-o", tmp_path / "x.csv"))
    assert "names one file, but there are 2 inputs" in line
    assert list(tmp_path.iterdir()) == []  # before any work
