import functools
import http.server
import shutil
import socket
import threading
import time

import av
import numpy as np
import pytest

from affectstream import AffectStreamError, SourceError, open_source
from affectstream.sources import read_image

# name -> frames FFmpeg decodes (codecs/: the same clip re-encoded, plus a 90-frame one).
CLIPS = {
    "WolfgangLanger_Pexels.mp4": 472, "single_face.mp4": 72, "no_face.mp4": 95,
    "face_noface.mov": 169, "noface_face.mov": 169,
    "codecs/h264_aac.mp4": 31, "codecs/mp4v_aac.mp4": 31, "codecs/xvid_aac.avi": 31,
    "codecs/vp8_opus.webm": 31, "codecs/video_01.mp4": 90,
}


@pytest.mark.parametrize("name", sorted(CLIPS))
def test_every_clip_decodes_with_increasing_timestamps(video, name):
    with open_source(video(name)) as src:
        frames = [(f.index, f.timestamp, f.image.shape) for f in src]
    assert len(frames) == CLIPS[name]
    times = [t for _, t, _ in frames]
    assert times[0] == 0.0 and all(b > a for a, b in zip(times, times[1:]))
    assert [i for i, _, _ in frames] == list(range(len(frames)))
    assert all(shape[2] == 3 for _, _, shape in frames)


def test_timestamps_follow_pts_not_an_assumed_rate(tmp_path):
    """A variable-frame-rate file: gaps of 40, 100 and 250 ms come back as written."""
    path = tmp_path / "vfr.mkv"
    pts_ms = [0, 40, 80, 180, 190, 440, 480]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = __import__("fractions").Fraction(1, 1000)
        for i, ms in enumerate(pts_ms):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 30, np.uint8),
                                               format="rgb24")
            frame.pts, frame.time_base = ms, stream.codec_context.time_base
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    times = [f.timestamp for f in open_source(path)]
    assert np.allclose(times, np.array(pts_ms) / 1000, atol=1e-3)


def test_network_url_reads_from_a_local_http_server(single_face_ts, tmp_path):
    # Python's server has no Range requests, so serve a stream format that needs no seeking.
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        src = open_source(f"http://127.0.0.1:{server.server_address[1]}/clip.ts")
        assert not src.live
        assert len(list(src)) == 72
    finally:
        server.shutdown()


def test_live_udp_stream_and_its_end(video):
    """MPEG-TS over UDP on loopback, sent in real time; the reader reports when the stream goes
    quiet."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        url = f"udp://127.0.0.1:{s.getsockname()[1]}"

    def send():
        time.sleep(0.3)  # the reader binds first
        clip = str(video("single_face.mp4"))
        with av.open(clip) as src, av.open(url + "?pkt_size=1316", "w", format="mpegts") as out:
            stream = out.add_stream("mpeg4", rate=24)
            stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
            for i, frame in enumerate(src.decode(video=0)):
                copy = av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")
                copy.pts = i
                out.mux(stream.encode(copy))
                time.sleep(1 / 24)
            out.mux(stream.encode(None))

    threading.Thread(target=send, daemon=True).start()
    # microseconds without data before the stream counts as gone
    src = open_source(url + "?timeout=2000000")
    assert src.live
    frames = []
    with pytest.raises(SourceError, match="stopped delivering frames after frame"):
        for frame in src:
            frames.append(frame)
    assert len(frames) >= 60
    assert frames[-1].timestamp == pytest.approx(frames[-1].index / 24, abs=0.05)


def test_image_folder_and_single_image(media, tmp_path):
    for name in ("single_face.jpg", "0-f1-su-ph.jpg", "multi_face.jpg"):
        shutil.copy(media / "images" / name, tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    frames = list(open_source(tmp_path, fps=2.0))
    assert [f.timestamp for f in frames] == [0.0, 0.5, 1.0]
    assert frames[0].image.shape == read_image(tmp_path / "0-f1-su-ph.jpg").shape
    (single,) = list(open_source(tmp_path / "single_face.jpg"))
    assert single.image.shape == (562, 572, 3) and single.image.flags.c_contiguous


def test_iterable_of_arrays_with_frame_rate():
    grey = [np.full((10, 12), i, np.uint8) for i in range(5)]
    frames = list(open_source(grey, fps=10))
    assert [f.timestamp for f in frames] == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])
    assert frames[3].image.shape == (10, 12, 3) and frames[3].image[0, 0, 0] == 3
    with pytest.raises(AffectStreamError, match="frame rate"):
        open_source(grey)
    with pytest.raises(AffectStreamError, match="uint8"):
        list(open_source([np.zeros((4, 4, 3), np.float32)], fps=1))


def test_missing_camera_is_a_clear_error():
    with pytest.raises(AffectStreamError, match="/dev/video9"):
        open_source("webcam:9")


@pytest.mark.parametrize("content, message", [
    (b"", "empty"), (b"hello, not a video\n", "cannot open")])
def test_unreadable_files(tmp_path, content, message):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(AffectStreamError, match=message):
        open_source(path)
    with pytest.raises(AffectStreamError, match="no such file"):
        open_source(tmp_path / "missing.mp4")


def test_truncated_file_yields_the_good_frames_then_says_where_it_stopped(video, tmp_path):
    data = video("WolfgangLanger_Pexels.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    seen = []
    with pytest.raises(SourceError, match="stopped after frame") as info:
        for frame in open_source(cut):
            seen.append(frame.index)
    assert 100 < len(seen) < 472 and info.value.frames_read == len(seen)
