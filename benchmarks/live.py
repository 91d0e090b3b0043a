"""Camera-to-result latency and results per second of every live path, in one run.

    python benchmarks/live.py [VIDEO] [--seconds 10] [--skip browser,lsl,...]

The clip (default: the shared WolfgangLanger_Pexels.mp4, its first --seconds) is played at its
own frame rate, as a camera would deliver it. Rows:

- floor: decode + MediaPipe landmarks alone, capture → landmarks (what any MediaPipe tool pays);
- api: `AffectStream(mode="live").run(...)` in this process, capture → result (Affect.latency_ms);
- lsl: an inlet in a second process; delay = its clock at arrival − the sample's timestamp
  (the capture time on the LSL clock);
- ws: a WebSocket client in a second process; delay = its arrival time − the record's `captured`;
- browser webrtc / browser jpeg: the Gradio demo in headless Chromium with the clip as its fake
  camera; capture → result painted (demo/timing.py), and the JPEG path it falls back to.

Everything talks over 127.0.0.1 only. Prints a table, the peak RSS of this process and of the
demo server, and each row's p50 against the floor's.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import av
import numpy as np

import affectstream as af
from affectstream.face import FaceTracker
from affectstream.options import PipelineOptions

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AFFECTSTREAM_SHARED", ROOT.parent / "shared"))
LSL_CONFIG = ROOT / "tests" / "lsl_loopback.cfg"  # discovery on 127.0.0.1 only
CHROMIUM = "/usr/bin/chromium"
BROWSER_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
                 "--use-fake-device-for-media-stream", "--allow-loopback-in-peer-connection"]

LSL_INLET = """
import json, sys, threading, time, pylsl
streams = pylsl.resolve_byprop("name", sys.argv[1], timeout=30)
inlet = pylsl.StreamInlet(streams[0]); inlet.open_stream(timeout=10)
correction = []  # measured beside the pulls: its first call blocks for a while
threading.Thread(target=lambda: correction.append(inlet.time_correction(timeout=10))).start()
print("connected", flush=True)
delays, frames, last = [], [], time.monotonic()
while time.monotonic() - last < 3:
    sample, stamp = inlet.pull_sample(timeout=0.5)
    if sample is None: continue
    now, last = pylsl.local_clock(), time.monotonic()
    delays.append((now - stamp) * 1000); frames.append(now)
offset = correction[0] * 1000 if correction else 0.0
print(json.dumps({"delays": [d - offset for d in delays], "times": frames}))
"""
WS_CLIENT = """
import json, sys, time
from websockets.sync.client import connect
for _ in range(200):
    try: ws = connect(sys.argv[1]); break
    except OSError: time.sleep(0.05)
delays, times = [], []
with ws:
    print("connected", flush=True)
    try:
        while True:
            message = json.loads(ws.recv(timeout=3))
            if message.get("type") == "affect" and message.get("captured"):
                now = time.time(); delays.append((now - message["captured"]) * 1000)
                times.append(now)
    except Exception:  # closed by the server at the end, or silent for 3 s
        pass
print(json.dumps({"delays": delays, "times": times}))
"""


def peak_rss_mb(pid: int | None = None) -> float:
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cut(video: Path, seconds: float, folder: Path) -> Path:
    """The first `seconds` of `video`, stream-copied."""
    out_path = folder / f"clip{video.suffix}"
    with av.open(str(video)) as src, av.open(str(out_path), "w") as out:
        stream = src.streams.video[0]
        copy = out.add_stream_from_template(stream)
        for packet in src.demux(stream):
            if packet.pts is None or packet.dts is None:
                continue
            if packet.pts * stream.time_base > seconds:
                break
            packet.stream = copy
            out.mux(packet)
    return out_path


def row(name: str, delays, count: int, seconds: float, note: str = "") -> dict:
    delays = np.asarray(delays, np.float64)
    return {"path": name, "per_second": count / seconds if seconds > 0 else 0.0,
            "p50": float(np.percentile(delays, 50)), "p95": float(np.percentile(delays, 95)),
            "note": note}


def floor(clip: Path) -> dict:
    """Capture → landmarks with MediaPipe alone, on the realtime clip."""
    tracker, delays = FaceTracker(PipelineOptions().landmarker, max_faces=4), []
    start = time.perf_counter()
    for frame in af.open_source(clip, realtime=True):
        tracker.track(frame)
        delays.append((time.perf_counter() - frame.captured_at) * 1000)
    tracker.close()
    return row("floor (decode + landmarks)", delays, len(delays), time.perf_counter() - start)


def api(clip: Path, options: PipelineOptions) -> dict:
    delays, frames = [], set()

    def seen(affect):
        if affect.frame not in frames:
            frames.add(affect.frame)
            delays.append(affect.latency_ms)

    with af.AffectStream(options) as pipeline:
        summary = pipeline.run(af.open_source(clip, realtime=True), on_result=seen)
    return row("api (in process)", delays, summary.frames, summary.seconds,
               f"{summary.dropped} stale frames dropped")


def second_process(script: str, argument: str, env: dict) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", script, argument], stdout=subprocess.PIPE,
                             text=True, env={**os.environ, **env})
    return child


def received(child: subprocess.Popen, name: str, note: str) -> dict:
    result = json.loads(child.stdout.read().strip().splitlines()[-1])
    child.wait(30)
    times = result["times"]
    return row(name, result["delays"], len(times) - 1, times[-1] - times[0], note)


def lsl(clip: Path, options: PipelineOptions) -> dict:
    from affectstream.writers.lsl import LSLWriter

    name = f"affectstream-bench-{os.getpid()}"
    inlet = second_process(LSL_INLET, name, {"LSLAPICFG": str(LSL_CONFIG)})
    with af.AffectStream(options) as pipeline:
        pipeline.run(af.open_source(clip, realtime=True),
                     outputs=[(LSLWriter.waiting(60.0), name)])
    return received(inlet, "lsl (inlet in 2nd process)", "one sample per face")


def ws(clip: Path, options: PipelineOptions) -> dict:
    port = free_port()
    client = second_process(WS_CLIENT, f"ws://127.0.0.1:{port}/ws", {})
    with af.AffectStream(options) as pipeline:
        pipeline.run(af.open_source(clip, realtime=True), outputs=[("ws", f"127.0.0.1:{port}")])
    return received(client, "ws (client in 2nd process)", "one message per frame")


def browser(clip: Path, folder: Path) -> tuple[list[dict], float]:
    """The demo in headless Chromium: WebRTC, then the JPEG fallback; (rows, server peak RSS)."""
    from playwright.sync_api import sync_playwright

    from affectstream.demo.timing import browser_latency

    camera = folder / "camera.y4m"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(clip), "-pix_fmt", "yuv420p",
                    str(camera)], check=True)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "affectstream.cli", "demo", "--port",
                               str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "AFFECTSTREAM_ICE_HOSTS": "127.0.0.1",
                                   "GRADIO_TEMP_DIR": str(folder / "gradio")})
    url, rows = f"http://127.0.0.1:{port}", []
    try:
        wait_for(url, server)
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True,
                args=[*BROWSER_FLAGS, f"--use-file-for-fake-video-capture={camera}"])
            rows.append(webrtc_row(chromium, url, browser_latency))
            rows.append(jpeg_row(chromium, url))
            chromium.close()
        peak = peak_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(30)
    return rows, peak


def wait_for(url: str, server: subprocess.Popen) -> None:
    import urllib.request

    for _ in range(240):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            if server.poll() is not None:
                raise SystemExit("the demo server exited") from None
            time.sleep(0.5)
    raise SystemExit("the demo server did not start")


def webrtc_row(chromium, url: str, browser_latency) -> dict:
    page = chromium.new_context(viewport={"width": 1300, "height": 1500}).new_page()
    page.add_init_script("window.__affectProbe = {};")
    page.goto(url)
    page.locator("#rtc-start").click()
    page.wait_for_function("() => (window.__affectProbe.shown || []).length >= 5", timeout=90000)
    started = page.evaluate("performance.now()")
    page.wait_for_timeout(8000)
    figures = browser_latency(page.evaluate("window.__affectProbe"), since=started)
    page.context.close()
    return {"path": "browser webrtc (demo)", "per_second": figures["per_second"],
            "p50": figures["capture_p50"], "p95": figures["capture_p95"],
            "note": f"encoder→shown p50 {figures['encoded_p50']:.0f} / "
                    f"p95 {figures['encoded_p95']:.0f} ms"}


# the JPEG path, timed as tests/test_demo_browser.py does: upload of a frame → its result shown
JPEG_PROBE = """
delete window.RTCPeerConnection; window.__sent = []; window.__shown = [];
const realFetch = window.fetch;
window.fetch = function(url, options) {
  if (options && options.method === 'POST' && String(url).includes('/stream/'))
    window.__sent.push(Date.now());
  return realFetch.apply(this, arguments);
};
new MutationObserver(() => {
  const r = document.querySelector('#reading'); if (!r) return;
  const m = r.innerText.match(/"received_ms"\\s*:\\s*([0-9.]+)/);
  const f = r.innerText.match(/"frame"\\s*:\\s*([0-9]+)/);
  if (m && f && (!window.__shown.length || window.__shown[window.__shown.length - 1][1] !== +f[1]))
    window.__shown.push([Date.now(), +f[1], +m[1]]);
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


def jpeg_row(chromium, url: str) -> dict:
    page = chromium.new_context(viewport={"width": 1300, "height": 1500}).new_page()
    page.add_init_script(JPEG_PROBE)
    page.goto(url)
    page.get_by_text("Click to Access Webcam").click()
    page.locator('[aria-label="capture photo"]').first.click()
    page.wait_for_function("() => window.__shown.length >= 5", timeout=90000)
    started = page.evaluate("Date.now()")
    page.wait_for_timeout(8000)
    shown = [s for s in page.evaluate("window.__shown") if s[0] >= started]
    sent = np.array(page.evaluate("window.__sent"))
    page.context.close()
    delays = [s[0] - sent[sent <= s[2]].max() for s in shown if (sent <= s[2]).any()]
    return row("browser jpeg fallback (demo)", delays, len(shown) - 1,
               (shown[-1][0] - shown[0][0]) / 1000, "frame upload → shown")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path,
                        default=SHARED / "media/video/WolfgangLanger_Pexels.mp4")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--skip", default="", help="comma-separated: floor,api,lsl,ws,browser")
    args = parser.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    options = PipelineOptions(mode="live")
    folder = Path(tempfile.mkdtemp(prefix="affectstream-live-"))
    rows, server_peak = [], None
    try:
        clip = cut(args.video, args.seconds, folder)
        runs = {"floor": lambda: floor(clip), "api": lambda: api(clip, options),
                "lsl": lambda: lsl(clip, options), "ws": lambda: ws(clip, options)}
        for name, run in runs.items():
            if name not in skip:
                rows.append(run())
                print(f"  {rows[-1]['path']}: done", file=sys.stderr)
        if "browser" not in skip:
            if shutil.which("ffmpeg") is None or not Path(CHROMIUM).exists():
                print("browser rows skipped: ffmpeg or Chromium is missing", file=sys.stderr)
            else:
                browser_rows, server_peak = browser(clip, folder)
                rows += browser_rows
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report(rows, args, server_peak)
    return 0


def report(rows: list[dict], args, server_peak: float | None) -> None:
    base = next((r["p50"] for r in rows if r["path"].startswith("floor")), None)
    print(f"\n{args.video.name}, first {args.seconds:g} s played at its frame rate; "
          f"{os.cpu_count()} cores; {threading.active_count()} threads here")
    print(f"{'path':34s} {'results/s':>9s} {'p50 ms':>7s} {'p95 ms':>7s} {'p50/floor':>9s}  note")
    for r in rows:
        ratio = f"{r['p50'] / base:9.2f}" if base else f"{'':9s}"
        print(f"{r['path']:34s} {r['per_second']:9.1f} {r['p50']:7.1f} {r['p95']:7.1f} {ratio}  "
              f"{r['note']}")
    print(f"peak RSS: this process {peak_rss_mb():.0f} MiB"
          + (f"; demo server {server_peak:.0f} MiB" if server_peak else ""))


if __name__ == "__main__":
    sys.exit(main())
