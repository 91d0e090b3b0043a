"""`affectstream serve`: the real pipeline on a shared clip, a client on 127.0.0.1, then Ctrl-C."""
from __future__ import annotations

import argparse
import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("websockets")
from websockets.exceptions import ConnectionClosed  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from affectstream.errors import AffectStreamError  # noqa: E402
from affectstream.live.address import is_loopback  # noqa: E402
from affectstream.live.hub import Hub  # noqa: E402
from affectstream.live.serve import add_parser, cmd_serve  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
SERVING = re.compile(r"serving (http://\S+) \(page\) and (ws://\S+) \(JSON records\)")


def lines(stream) -> queue.Queue:
    """The lines of a pipe, as they come, on a queue (None at its end)."""
    found: queue.Queue = queue.Queue()

    def read():
        for line in stream:
            found.put(line)
        found.put(None)

    threading.Thread(target=read, daemon=True).start()
    return found


@pytest.fixture(scope="module")
def server(video):
    """`affectstream serve --loop --port 0` on single_face.mp4: (process, page URL, feed URL)."""
    clip = video("single_face.mp4")
    process = subprocess.Popen([sys.executable, "-m", "affectstream", "serve", "--source",
                                str(clip), "--loop", "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = lines(process.stdout)
    try:
        line = out.get(timeout=180)
    except queue.Empty:
        line = None
    if line is None:
        process.kill()
        pytest.fail(f"serve did not start: {process.stderr.read()}")
    match = SERVING.search(line)
    assert match, line
    yield process, match[1], match[2]
    if process.poll() is None:
        process.kill()
        process.wait()


def test_serve_streams_real_records(server):
    _, _, url = server
    with connect(url) as ws:
        hello = json.loads(ws.recv(timeout=30))
        assert hello["type"] == "hello" and hello["source"].endswith("single_face.mp4")
        assert hello["models"]["frame"] and "AU12" in hello["channels"]["au"]
        received = []
        while len(received) < 25:
            message = json.loads(ws.recv(timeout=30))
            received.append((time.time(), message))
    faces = [f for _, m in received for f in m["faces"]]
    assert faces, "no face in 25 frames of single_face.mp4"
    for face in faces:
        assert -1 <= face["valence"] <= 1 and -1 <= face["arousal"] <= 1
        assert face["face_id"] == 0 and face["top_emotion"] in face["emotion"]
    delays = [now - m["captured"] for now, m in received]
    print(f"\ncapture->received over {len(delays)} messages: max {max(delays) * 1e3:.0f} ms")
    assert all(-0.05 < d < 2.0 for d in delays)  # captured on the wall clock, just now
    frames = [m["frame"] for _, m in received]
    assert all(b > a or b == 0 for a, b in zip(frames, frames[1:]))  # in order (0: a replay)


def test_serve_answers_the_page_and_its_script(server):
    _, page, _ = server
    html = urllib.request.urlopen(page, timeout=10)
    assert html.headers.get_content_type() == "text/html"
    text = html.read().decode()
    assert '<script src="affect-view.js"></script>' in text
    assert "http://" not in text and "https://" not in text  # nothing from elsewhere
    script = urllib.request.urlopen(page + "affect-view.js", timeout=10)
    assert script.headers.get_content_type() == "text/javascript"
    assert "window.AffectView = AffectView" in script.read().decode()


def listening(port: int) -> dict[str, list[str]]:
    """The local addresses (hex, as /proc/net writes them) listening on `port`, per table."""
    found = {}
    for table in ("tcp", "tcp6"):
        path = Path("/proc/net") / table
        rows = [line.split() for line in path.read_text().splitlines()[1:]] if path.exists() else []
        found[table] = [local.rsplit(":", 1)[0] for _, local, _, state, *_ in rows
                        if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port]
    return found


def test_serve_binds_loopback_by_default(server):
    _, page, _ = server
    port = int(page.rstrip("/").rsplit(":", 1)[1])
    assert page.startswith("http://127.0.0.1:")
    assert listening(port) == {"tcp": ["0100007F"], "tcp6": []}  # 127.0.0.1 only


FACE_EDGE = """() => new Promise(resolve => {
  const ws = new WebSocket("ws://" + location.host + "/ws");
  ws.onmessage = event => {
    const m = JSON.parse(event.data);
    if (m.type !== "affect" || !m.faces.length || !m.faces[0].box) return;
    ws.close();
    const canvas = document.createElement("canvas");
    canvas.width = 640; canvas.height = 480;
    const ctx = canvas.getContext("2d");
    AffectView.drawFaces(ctx, m, 0.5, 0.5);
    const [x, y, w, h] = m.faces[0].box.map(v => v * 0.5);
    const edge = ctx.getImageData(Math.round(x) - 2, Math.round(y + h / 2), 5, 1).data;
    const inside = ctx.getImageData(Math.round(x + w / 2), Math.round(y + h / 2), 1, 1).data;
    resolve([Math.max(edge[1], edge[5], edge[9], edge[13], edge[17]), inside[3]]);
  };
})"""
COLOURED = """([plot, rgb, rows]) => {  // pixels of colour `rgb` in the top `rows` of a plot
  const canvas = document.querySelectorAll(".av-plot")[plot];
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, rows).data;
  let count = 0;
  for (let i = 0; i < data.length; i += 4) {
    const near = [0, 1, 2].every(k => Math.abs(data[i + k] - rgb[k]) < 30);
    count += near && data[i + 3] > 200;
  }
  return count;
}"""


@pytest.mark.browser
def test_the_page_plots_the_feed_in_a_browser(server):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    _, page_url, _ = server
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(page_url)
            page.wait_for_function("document.querySelector('.av-status').textContent"
                                   ".includes('msg/s')", timeout=30_000)
            page.wait_for_timeout(1500)  # a second and a half of trail and timeline
            status = page.inner_text(".av-status")
            assert "connected" in status and "face 0 of 1" in status, status
            assert re.search(r"capture.received \d+ ms", status), status
            edge, inside = page.evaluate(FACE_EDGE)
            assert edge > 200 and inside == 0  # a green box outline, empty within
            red, valence, arousal, bar = (204, 0, 0), (31, 119, 180), (230, 85, 13), (106, 159, 209)
            for plot, colour, rows in ((0, red, 240), (1, valence, 210), (1, arousal, 210),
                                       (2, bar, 220), (3, red, 240)):  # above the legends
                count = page.evaluate(COLOURED, [plot, colour, rows])
                print(f"plot {plot}: {count} pixels of {colour}")
                assert count > 40, (plot, colour)
            assert not errors, errors
        finally:
            browser.close()


def test_ctrl_c_stops_serve_cleanly_with_the_summary(server):
    process, _, url = server
    with connect(url) as ws:
        ws.recv(timeout=30)
        ws.recv(timeout=30)
        process.send_signal(signal.SIGINT)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=30)
    assert closed.value.rcvd.code == 1001  # going away
    assert process.wait(timeout=60) == 0
    err = process.stderr.read()
    assert "affectstream: stopped" in err
    assert re.search(r"single_face\.mp4: \d+ frames, \d+ with a face", err), err
    assert re.search(r"WebSocket: \d+ connection\(s\) served, \d+ messages published", err), err
    assert "Traceback" not in err


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"), stage_options=("max_faces",))
    return parser.parse_args(["serve", *argv])


def test_serve_defaults_and_errors_before_any_work():
    args = parse()
    assert (args.host, args.port, args.source, args.loop) == ("127.0.0.1", 8765, "webcam:0", False)
    with pytest.raises(AffectStreamError, match="--loop replays a video file"):
        cmd_serve(parse("--loop"))
    hub = Hub(port=0).start()
    try:
        with pytest.raises(AffectStreamError, match="in use"):
            cmd_serve(parse("--source", "webcam:0", "--port", str(hub.port)))
    finally:
        hub.close()
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.20")
