"""`affectstream webcam` with live outputs, and live outputs refused as file formats."""
from __future__ import annotations

import csv
import io
import threading

import pytest
from test_cli import cli, one_line_error


def test_webcam_sends_every_frame_it_prints_to_osc(video):
    pytest.importorskip("pythonosc", reason="pip install 'affectstream[osc]'")
    from pythonosc.dispatcher import Dispatcher
    from pythonosc.osc_server import ThreadingOSCUDPServer

    frames = []
    dispatcher = Dispatcher()
    dispatcher.map("/affect/frame", lambda address, frame, timestamp, faces:
                   frames.append((frame, faces)))
    server = ThreadingOSCUDPServer(("127.0.0.1", 0), dispatcher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = cli("webcam", "--source", video("single_face.mp4"),
                     "--osc", f"127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr
    printed = list(csv.DictReader(io.StringIO(result.stdout)))
    assert printed and {int(r["frame"]) for r in printed} == {f for f, _ in frames}
    assert all(faces == 1 for _, faces in frames)  # one face in every frame of this clip


@pytest.mark.parametrize("name", ["lsl", "osc", "ws"])
def test_live_outputs_are_not_file_formats(video, tmp_path, name):
    line = one_line_error(cli("process", video("single_face.mp4"), "-o", tmp_path / "x.csv",
                              "--format", f"csv,{name}"))
    assert f"{name} is a live output" in line and f"webcam --{name}" in line
    assert not list(tmp_path.iterdir())
