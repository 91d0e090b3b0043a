"""The demo's callbacks without a browser (errors are messages, sessions are separate objects,
the length limit), and the running demo over HTTP: upload limits, files gone when a session ends."""
import csv
import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

gr = pytest.importorskip("gradio", reason="the demo extra is not installed")

from affectstream.demo.app import analyze_video, main, on_frame  # noqa: E402
from affectstream.demo.session_files import SessionFiles  # noqa: E402
from affectstream.errors import AffectStreamError  # noqa: E402


def outputs(image, session=None):
    return on_frame(image, session, "ap", 4, "model")


def test_no_face_in_view_is_said_in_the_page(model):
    blank = np.full((360, 640, 3), 90, np.uint8)
    annotated, *plots, _, readout, status, session = outputs(blank)
    assert "No face in view" in status and readout["faces"] == [] and readout["frame"] == 1
    pictures = [Path(p) for p in (annotated, *plots)]
    assert all(p.is_file() and p.parent == session.pictures.folder for p in pictures)
    session.close()
    assert not session.pictures.folder.exists()  # the session's pictures go with it


def test_the_webcam_pictures_on_disk_are_only_the_last_few_frames(tmp_path):
    from affectstream.demo.pictures import KEEP, NAMES, FramePictures

    pictures = FramePictures(tmp_path / "session")
    image = np.zeros((48, 64, 3), np.uint8)
    for _ in range(KEEP + 5):
        paths = pictures.write(image, image, image, image)
    assert sorted(p.name for p in pictures.folder.iterdir()) == sorted(
        f"{name}-{frame:08d}.jpg" for name in NAMES for frame in range(5, KEEP + 5))
    assert Path(paths[0]).name == f"faces-{KEEP + 4:08d}.jpg"
    pictures.close()
    assert not pictures.folder.exists() and pictures.write(image) is None


def test_each_session_keeps_its_own_pipeline(media, model):
    from affectstream.sources import read_image

    face = read_image(media / "images" / "single_face.jpg")
    first = outputs(face)[-1]
    first = outputs(face, first)[-1]
    second = outputs(face)[-1]
    assert first is not second and first.pipeline is not second.pipeline
    assert (first.frames, second.frames) == (2, 1)
    changed = on_frame(face, first, "none", 4, "model")[-1]  # new settings: a fresh pipeline
    assert changed is not first and changed.frames == 1 and changed.pipeline.temporal is None
    for s in (second, changed):
        s.close()


def test_reset_while_a_frame_is_in_flight_is_safe(media, model):
    import threading

    from affectstream.sources import read_image

    face = read_image(media / "images" / "single_face.jpg")
    session = outputs(face)[-1]
    results = []
    worker = threading.Thread(target=lambda: results.extend(session.step(face) for _ in range(20)))
    worker.start()
    session.close()  # as Reset or a closed browser tab does, from another thread
    worker.join()
    refused = [r is None for r in results]
    # frames before the close ran, none after it
    assert len(results) == 20 and refused == sorted(refused)
    assert session.closed and session.step(face) is None  # refused, not crashed on
    replaced = outputs(face, session)[-1]
    assert replaced is not session and replaced.frames == 1
    replaced.close()


def analyse(path, max_minutes, files):
    return analyze_video(path, "ap", 4, "model", max_minutes, files,
                         progress=lambda *a, **k: None)


def test_video_tab_errors_are_messages(video, tmp_path, model):
    files = SessionFiles(tmp_path / "sessions")
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("this is text")
    with pytest.raises(gr.Error, match="Not a video"):
        analyse(str(not_video), 10.0, files)
    page = tmp_path / "page.html"
    page.write_text("<html><body>not a video</body></html>")
    with pytest.raises(gr.Error, match="Not a video file: 'page.html'"):
        analyse(str(page), 10.0, files)
    assert not_video.exists() and page.exists()  # a user's own files are never deleted
    with pytest.raises(gr.Error, match="the limit here is 0.01 min"):
        analyse(str(video("single_face.mp4")), 0.01, files)
    with pytest.raises(gr.Error, match="Upload a video"):
        analyse(None, 10.0, files)


def test_a_webm_without_frame_count_is_cut_at_the_length_limit(video, tmp_path, model):
    import av

    webm = video("codecs/vp8_opus.webm")
    with av.open(str(webm)) as container:  # the case: no frame count in the header
        assert not container.streams.video[0].frames
    annotated, _, _, csv_path, message = analyse(str(webm), 0.01, SessionFiles(tmp_path))
    assert "Stopped at the length limit of 0.01 min" in message and "0.6 s" in message
    with open(csv_path) as f:
        times = [float(row["timestamp"]) for row in csv.DictReader(f)]
    assert times and max(times) <= 0.6 < 1.0  # the clip lasts ~1 s
    frames = int(message.split("only its first ")[1].split()[0])
    with av.open(annotated) as container:
        assert sum(1 for _ in container.decode(video=0)) == frames == len(set(times))


def test_stopping_the_demo_deletes_every_sessions_files(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    upload = tmp_path / "0a1b2c" / "clip.mp4"  # where Gradio's upload route puts a file
    upload.parent.mkdir()
    upload.write_bytes(b"\0" * 10)
    files = SessionFiles.create()
    for session in ("one", "two"):
        request = gr.Request(session_hash=session)
        files.keep_upload(request, upload)
        (files.new_run(request) / "clip.csv").write_text("frame\n")
    files.forget_all()
    assert list(tmp_path.iterdir()) == []


def test_a_closing_tab_waits_for_the_frame_being_written_then_refuses_more(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    files, request = SessionFiles.create(), gr.Request(session_hash="tab")
    writing, written = threading.Event(), threading.Event()

    def frame():  # a webcam frame in flight when the tab closes
        with files.in_use(request) as folder:
            folder.mkdir(parents=True)
            (folder / "circumplex-00000000.jpg").write_bytes(b"jpeg")
            writing.set()
            written.wait(10)
            (folder / "circumplex-00000001.jpg").write_bytes(b"jpeg")

    writer = threading.Thread(target=frame)
    writer.start()
    assert writing.wait(10)
    closing = threading.Thread(target=files.forget, args=(request,))
    closing.start()
    closing.join(0.3)
    assert closing.is_alive()  # the deletion waits for the frame's files
    written.set()
    writer.join(10)
    closing.join(10)
    assert not closing.is_alive() and not files.folder(request).exists()
    with files.in_use(request) as folder:
        assert folder is None  # later frames of the closed tab are dropped
    with pytest.raises(AffectStreamError, match="session has ended"):
        files.new_run(request)
    upload = tmp_path / "0a1b2c" / "clip.mp4"
    upload.parent.mkdir()
    upload.write_bytes(b"\0")
    files.keep_upload(request, upload)  # an upload that arrives after the tab closed goes at once
    assert not upload.parent.exists() and list(files.root.iterdir()) == []
    other = gr.Request(session_hash="another tab")
    with files.in_use(other) as folder:
        assert folder is not None  # other sessions are not affected


# The running demo, as a browser or a script reaches it.

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(model, tmp_path, monkeypatch):
    """The demo on 127.0.0.1 (limit 0.01 min), its Gradio folder in tmp_path, 1 s heartbeats."""
    folder = tmp_path / "gradio"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(folder))
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    monkeypatch.setenv("GRADIO_HEARTBEAT_INTERVAL", "1")  # a closed session is noticed at once
    port = _free_port()
    app = main("127.0.0.1", port, max_minutes=0.01, block=False)
    yield f"http://127.0.0.1:{port}", folder
    app.close()


def _files(folder) -> list:
    # os.walk skips folders deleted while it looks (the demo's cleanup may be running)
    return [Path(root) / name for root, _, names in os.walk(folder) for name in names]


def _client(url, tmp_path):
    from gradio_client import Client

    # the client's downloads go to a folder of their own, not the server's
    return Client(url, download_files=str(tmp_path / "client"), verbose=False)


def test_uploads_too_large_or_not_video_are_refused(server, tmp_path):
    import httpx
    from gradio_client import handle_file

    url, folder = server
    big = tmp_path / "big.mp4"
    with open(big, "wb") as f:
        f.truncate(300 * 1024 * 1024)  # sparse: 300 MB to read, none on disk
    with open(big, "rb") as f:
        response = httpx.post(f"{url}/gradio_api/upload", timeout=120,
                              files={"files": ("big.mp4", f, "video/mp4")})
    assert response.status_code == 413, response.text
    assert "maximum allowed size of 209715200 bytes" in response.text  # 200 MB, the default
    assert all(p.stat().st_size < 1024 * 1024 for p in _files(folder)), _files(folder)

    page = tmp_path / "page.html"
    page.write_text("<html><body><script>alert(1)</script></body></html>")
    client = _client(url, tmp_path)
    try:
        with pytest.raises(Exception, match="Not a video file: 'page.html'"):
            client.predict(handle_file(str(page)), "ap", 4, "model", api_name="/analyze_video")
    finally:
        client.close()
    assert not [p for p in _files(folder) if p.suffix == ".html"]  # refused and deleted


def test_a_closed_session_leaves_no_files(server, video, tmp_path):
    from gradio_client import handle_file

    url, folder = server
    client = _client(url, tmp_path)
    try:
        *_, csv_copy, message = client.predict(handle_file(str(video("codecs/vp8_opus.webm"))),
                                               "ap", 4, "model", api_name="/analyze_video")
        assert "Stopped at the length limit of 0.01 min" in message
        assert os.path.getsize(csv_copy) > 0
        kept = {p.name for p in _files(folder)}
        assert {"vp8_opus.webm", "vp8_opus.csv", "vp8_opus_annotated.mp4"} <= kept, kept
    finally:
        client.close()  # as a closed tab: the heartbeat stops, Gradio runs the unload event
    deadline = time.monotonic() + 30
    while _files(folder) and time.monotonic() < deadline:
        time.sleep(0.25)
    assert not _files(folder), _files(folder)
