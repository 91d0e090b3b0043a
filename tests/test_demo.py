"""The demo's callbacks without a browser: errors are messages, sessions are separate objects."""
import numpy as np
import pytest

gr = pytest.importorskip("gradio", reason="the demo extra is not installed")

from affectstream.demo.app import analyze_video, on_frame  # noqa: E402


def outputs(image, session=None):
    return on_frame(image, session, "ap", 4, "model")


def test_no_face_in_view_is_said_in_the_page(model):
    blank = np.full((360, 640, 3), 90, np.uint8)
    *_, readout, status, session = outputs(blank)
    assert "No face in view" in status and readout["faces"] == [] and readout["frame"] == 1
    session.close()


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


def test_video_tab_errors_are_messages(video, tmp_path, model):
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("this is text")
    with pytest.raises(gr.Error, match="Not a video"):
        analyze_video(str(not_video), "ap", 4, "model", 10.0, progress=lambda *a, **k: None)
    with pytest.raises(gr.Error, match="the limit here is 0.01 min"):
        analyze_video(str(video("single_face.mp4")), "ap", 4, "model", 0.01,
                      progress=lambda *a, **k: None)
    with pytest.raises(gr.Error, match="Upload a video"):
        analyze_video(None, "ap", 4, "model", 10.0)
