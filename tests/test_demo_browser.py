"""The Gradio demo driven in Debian's headless Chromium (Playwright), with a video file as the
camera: the WebRTC path, the JPEG path it falls back to, and the video tab.

Select with `-m browser`, leave out with `-m "not browser"`. Skips with the reason where Chromium,
ffmpeg (to make the fake camera's y4m) or Playwright is missing. Screenshots go to the test's
tmp_path; the throughput and latency figures are printed, not asserted (wall-clock time).
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
         "--allow-loopback-in-peer-connection"]  # WebRTC on 127.0.0.1 only
NO_WEBRTC = "delete window.RTCPeerConnection;"  # a browser without WebRTC: the JPEG path
# Timestamps taken inside the page: each frame upload (a POST to the stream endpoint), each new
# reading shown, and each update of the three plot images.
PROBE = """
window.__sent = []; window.__shown = []; \
window.__plots = {circumplex: 0, timeline: 0, 'au-bars': 0};
const realFetch = window.fetch;
window.fetch = function(url, options) {
  if (options && options.method === 'POST' && String(url).includes('/stream/')) \
window.__sent.push(Date.now());
  return realFetch.apply(this, arguments);
};
new MutationObserver(() => {
  const reading = document.querySelector('#reading');
  if (reading) {
    const m = reading.innerText.match(/"received_ms"\\s*:\\s*([0-9.]+)/);
    const f = reading.innerText.match(/"frame"\\s*:\\s*([0-9]+)/);
    if (m && f && (!window.__shown.length || \
window.__shown[window.__shown.length - 1][1] !== +f[1]))
      window.__shown.push([Date.now(), +f[1], +m[1]]);
  }
  for (const id of Object.keys(window.__plots)) {
    const img = document.querySelector('#' + id + ' img');
    if (img && img.src !== (img.__last || '')) { img.__last = img.src; window.__plots[id] += 1; }
  }
}).observe(document, {subtree: true, childList: true, characterData: true, attributes: true});
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser_setup(shared, model, tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium chromium-driver)")
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed (apt-get install ffmpeg): "
                    "needed for the fake camera's y4m")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    pytest.importorskip("gradio", reason="the demo extra is not installed")
    folder = tmp_path_factory.mktemp("demo")
    camera = folder / "camera.y4m"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y",
                    "-i", str(shared / "media/video/WolfgangLanger_Pexels.mp4"),
                    "-t", "8", "-pix_fmt", "yuv420p", str(camera)], check=True)
    port = _free_port()
    log = open(folder / "server.log", "w")
    command = [sys.executable, "-X", "faulthandler", "-m", "affectstream.cli", "demo",
               "--port", str(port)]
    # a native crash leaves a trace; Gradio's folder in the test's, to look into
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "GRADIO_TEMP_DIR": str(folder / "gradio"),
                                   "AFFECTSTREAM_ICE_HOSTS": "127.0.0.1"})
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(url, timeout=1)
            break
        except OSError:
            if server.poll() is not None:
                pytest.fail(f"the demo exited: {(folder / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=[*FLAGS,
                                                   f"--use-file-for-fake-video-capture={camera}"])
        yield browser, url, folder
        browser.close()
    server.terminate()
    server.wait(timeout=30)
    log.close()


def _open(browser, url, script=PROBE):
    page = browser.new_context(viewport={"width": 1300, "height": 1500}).new_page()
    page.add_init_script(script)
    page.goto(url)
    return page


def _report(capsys, path, report: str) -> None:
    """The figures in the CI log, pass or fail, and in a file beside the screenshots."""
    with capsys.disabled():
        print(f"\n{report}")
    path.write_text(report + "\n")


def test_webrtc_path_streams_at_camera_rate(browser_setup, capsys):
    from affectstream.demo.timing import browser_latency

    browser, url, folder = browser_setup
    page = _open(browser, url, "window.__affectProbe = {};")
    page.locator("#rtc-start").click()
    page.wait_for_function("() => (window.__affectProbe.shown || []).length >= 5", timeout=60000)
    started = page.evaluate("performance.now()")
    page.wait_for_timeout(8000)
    probe = page.evaluate("window.__affectProbe")
    page.screenshot(path=str(folder / "webrtc.png"), full_page=True)
    figures = browser_latency(probe, since=started)
    report = (f"webrtc path: {figures['results']} results shown in {figures['seconds']:.1f} s = "
              f"{figures['per_second']:.1f}/s; capture→shown p50 {figures['capture_p50']:.0f} ms, "
              f"p95 {figures['capture_p95']:.0f} ms; encoder→shown p50 "
              f"{figures['encoded_p50']:.0f} ms, p95 {figures['encoded_p95']:.0f} ms")
    _report(capsys, folder / "figures_webrtc.txt", report)
    assert probe["path"] == "webrtc"
    assert page.locator(".affect-path").inner_text() == "Path: WebRTC video stream"
    assert figures["results"] >= 40  # frames keep coming, each drawn once
    frames = [shown[2] for shown in probe["shown"]]
    assert frames == sorted(set(frames))
    assert "1 face(s)" in page.locator("#rtc-status").inner_text()
    # drawn in the browser: the overlay holds the face box's green pixels
    green = page.evaluate("""() => { const c = document.querySelector('.affect-overlay');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i + 1] > 150 && d[i] < 100) n++; return n; }""")
    assert green > 100
    assert page.locator("#jpeg-path").is_hidden()  # the fallback stays out of the way
    page.context.close()
    log = folder / "server.log"  # the tab closed: its session and pipeline are freed
    deadline = time.monotonic() + 40
    while "webrtc: session closed" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.5)


def _start_camera(page):
    page.get_by_text("Click to Access Webcam").click()
    page.locator('[aria-label="capture photo"]').first.click()


def _reading(page) -> dict:
    return page.evaluate("() => ({shown: window.__shown, sent: window.__sent, "
                         "plots: window.__plots})")


def test_jpeg_fallback_shows_live_affect_and_sessions_stay_apart(browser_setup, capsys):
    browser, url, folder = browser_setup
    first = _open(browser, url, NO_WEBRTC + PROBE)
    assert "JPEG frames over HTTP (WebRTC not available: this browser has no WebRTC)" in \
        first.locator(".affect-path").inner_text()
    _start_camera(first)
    first.wait_for_function("() => window.__shown.length >= 5", timeout=60000)
    started = first.evaluate("Date.now()")
    first.wait_for_timeout(8000)
    probe = _reading(first)
    first.screenshot(path=str(folder / "webcam.png"), full_page=True)
    shown = [s for s in probe["shown"] if s[0] >= started]
    seconds = (shown[-1][0] - shown[0][0]) / 1000
    sent = np.array(probe["sent"])
    # Capture → shown: from the upload of the frame the server answered to the page showing it.
    latency = [s[0] - sent[sent <= s[2]].max() for s in shown if (sent <= s[2]).any()]
    report = (f"jpeg path: {len(shown)} results shown in {seconds:.1f} s = "
              f"{(len(shown) - 1) / seconds:.1f} frames/s end to end; {len(sent)} frames sent; "
              f"capture→shown p50 {np.percentile(latency, 50):.0f} ms, "
              f"p95 {np.percentile(latency, 95):.0f} ms; plot updates {probe['plots']}")
    _report(capsys, folder / "figures.txt", report)
    assert len(probe["shown"]) >= 20 and min(probe["plots"].values()) >= 20
    text = first.locator("#reading").inner_text().replace("\n", "")
    number = {key: float(re.search(rf'"{key}"\s*:\s*(-?[0-9.]+)', text).group(1))
              for key in ("frame", "valence", "valence_std")}
    assert number["frame"] >= 20 and -1 <= number["valence"] <= 1 and number["valence_std"] > 0
    assert "face in view" in first.locator("#status").inner_text()
    assert first.locator("#emotions").inner_text().strip()

    # A second visitor meanwhile: its own tracker, temporal state and frame count.
    second = _open(browser, url, NO_WEBRTC + PROBE)
    _start_camera(second)
    second.wait_for_function("() => window.__shown.length >= 3", timeout=60000)
    frames_first, frames_second = (p.evaluate("window.__shown[window.__shown.length - 1][1]")
                                   for p in (first, second))
    second.screenshot(path=str(folder / "webcam_second_session.png"), full_page=True)
    with capsys.disabled():
        print(f"two sessions at once: first at frame {frames_first}, "
              f"second at frame {frames_second}")
    assert frames_second < 20 < frames_first  # not one shared counter or pipeline
    first.wait_for_timeout(1500)
    # both keep going
    assert first.evaluate("window.__shown[window.__shown.length - 1][1]") > frames_first
    first.get_by_role("button", name="Reset").click()
    first.wait_for_timeout(1500)
    after_reset = second.evaluate("window.__shown[window.__shown.length - 1][1]")
    assert after_reset > frames_second  # the other visitor's state survives a reset
    second.context.close()
    first.context.close()
    # what the page promises: the pictures sent back are deleted when the tab closes
    deadline = time.monotonic() + 30
    while (written := _files_left(folder / "gradio")):
        assert time.monotonic() < deadline, written[:5]
        time.sleep(0.5)


def _files_left(root: Path) -> list:
    """The files under `root`; a folder removed while it is walked (the deletion under way) means
    look again."""
    try:
        return [p for p in root.rglob("*") if p.is_file()]
    except FileNotFoundError:
        return ["(a folder was being removed)"]


def test_video_tab_csv_matches_the_command_line(browser_setup, video, tmp_path):
    browser, url, folder = browser_setup
    page = _open(browser, url)
    page.get_by_role("tab", name="Video file").click()
    page.locator("#video-input input[type=file]").set_input_files(str(video("single_face.mp4")))
    page.locator("#video-input video").wait_for(timeout=60000)  # uploaded and shown
    page.locator("#analyse").click()
    link = page.locator("#csv a").first
    link.wait_for(timeout=180000)
    page.screenshot(path=str(folder / "video_tab.png"), full_page=True)
    from_demo = page.request.get(link.get_attribute("href")).body()
    assert "72 frames, 72 with a face" in page.locator("#video-summary").inner_text()
    cli = tmp_path / "cli.csv"
    result = subprocess.run([sys.executable, "-m", "affectstream.cli", "process",
                             str(video("single_face.mp4")), "-o", str(cli), "-q"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert from_demo == cli.read_bytes()
    page.context.close()
