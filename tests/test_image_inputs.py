"""Image inputs: a folder that is one recording at --fps, and the file each row came from."""
import subprocess
import sys

import av
import numpy as np
import pandas as pd
import pytest

import affectstream as af
from affectstream import open_source

FACELESS = (8, 9)  # frames of the recording where the face is gone (a grey picture)


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "affectstream.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=600)


def write_jpeg(path, image: np.ndarray) -> None:
    with av.open(str(path), "w", format="image2") as out:
        stream = out.add_stream("mjpeg", rate=1)
        stream.height, stream.width = image.shape[:2]
        stream.pix_fmt = "yuvj420p"
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuvj420p")
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)


@pytest.fixture(scope="module")
def recording(video, tmp_path_factory):
    """The first 20 frames of single_face.mp4 as JPEGs, the face missing from two of them."""
    folder = tmp_path_factory.mktemp("recording")
    for frame in open_source(video("single_face.mp4")):
        if frame.index == 20:
            break
        image = np.full_like(frame.image, 128) if frame.index in FACELESS else frame.image
        write_jpeg(folder / f"frame_{frame.index:03d}.jpg", image)
    return folder


def test_folder_at_its_frame_rate_is_one_track(recording, tmp_path):
    result = cli("process", recording, "--fps", 25, "-o", tmp_path / "out.csv", "-q")
    assert result.returncode == 0, result.stderr
    df = pd.read_csv(tmp_path / "out.csv")
    assert len(df) == 20
    assert np.allclose(df.timestamp, np.arange(20) / 25, atol=1e-4)
    assert df.loc[~df.frame.isin(FACELESS), "success"].all()
    assert set(df.face_id.dropna()) == {0}  # 80 ms without the face: the same person
    if "file" in df.columns:
        assert list(df.file) == [f"frame_{i:03d}.jpg" for i in range(20)]


def test_folder_at_the_default_one_frame_a_second_splits_the_person(recording, tmp_path):
    """Without --fps the frames are 1 s apart: 2 s without the face is longer than max_gap, so
    the face that comes back is a new track."""
    result = cli("process", recording, "-o", tmp_path / "out.csv", "-q")
    assert result.returncode == 0, result.stderr
    df = pd.read_csv(tmp_path / "out.csv")
    assert np.allclose(df.timestamp, np.arange(20), atol=1e-4)
    before = set(df.loc[df.frame < FACELESS[0], "face_id"].dropna())
    after = set(df.loc[df.frame > FACELESS[-1], "face_id"].dropna())
    assert len(before) == len(after) == 1 and before != after


def test_fps_is_checked_and_a_video_keeps_its_timestamps(video, tmp_path):
    bad = cli("process", video("single_face.mp4"), "--fps", 0, "-o", tmp_path / "bad.csv")
    assert bad.returncode == 1 and "fps must be" in bad.stderr
    assert not (tmp_path / "bad.csv").exists()
    clip = tmp_path / "clip.mp4"  # 10 frames at 30 fps
    with av.open(str(video("single_face.mp4"))) as src, av.open(str(clip), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        for i, frame in enumerate(src.decode(video=0)):
            if i == 10:
                break
            for packet in stream.encode(frame.reformat(format="yuv420p")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    result = cli("process", clip, "--fps", 25, "-o", tmp_path / "clip.csv", "-q")
    assert result.returncode == 0, result.stderr
    assert "--fps applies to image folders" in result.stderr
    df = pd.read_csv(tmp_path / "clip.csv")
    assert np.allclose(df.timestamp, np.arange(10) / 30, atol=2e-3)


def test_stills_rows_name_their_files(media, tmp_path):
    folder = media / "images"
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    with af.AffectStream(temporal="none") as pipeline:
        rows = list(pipeline.stream(open_source(folder, stills=True)))
    assert {r.file for r in rows} == set(names)
    by_file = {}
    for r in rows:
        by_file.setdefault(r.file, []).append(r)
    assert len([r for r in by_file["multi_face.jpg"] if r.success]) >= 2
    assert [r.success for r in by_file["free-mountain-vector-01.jpg"]] == [False]
    assert all(len({r.frame for r in found}) == 1 for found in by_file.values())

    result = cli("process", folder, "--stills", "-o", tmp_path / "stills.csv", "-q")
    assert result.returncode == 0, result.stderr
    df = pd.read_csv(tmp_path / "stills.csv")
    if "file" in df.columns:
        assert set(df.file) == set(names)
        assert (df.groupby("frame").file.nunique() == 1).all()


def test_every_image_frame_says_its_file(media, recording, tmp_path):
    photo = media / "images" / "single_face.jpg"
    (frame,) = open_source(photo)
    assert frame.file == str(photo)  # a single image: the path as given
    assert [f.file for f in open_source(recording, fps=25)] == [
        f"frame_{i:03d}.jpg" for i in range(20)]
    (row,) = [r for r in af.stream(photo, temporal="none") if r.success]
    assert row.file == str(photo)
    # arrays come from no image file
    assert next(iter(open_source([np.zeros((8, 8, 3), np.uint8)], fps=1))).file is None
