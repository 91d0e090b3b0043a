"""The Gradio demo: live webcam affect and video files to CSV, on the public API.

Each browser session has its own pipeline (tracker and temporal state) in a gr.State; nothing is
global. The video tab runs `AffectStream(mode="offline").run(csv=...)` exactly as `affectstream
process` does, so its CSV is the CLI's, byte for byte, for the same file and settings (up to the
length limit). Webcam frames never touch the disk; a session's uploads and results are deleted when
its tab closes (session_files.py).
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # a face demo calls no one unasked
import gradio as gr  # noqa: E402
import numpy as np

from .. import registry
from ..annotate import draw_faces
from ..errors import AffectStreamError
from ..options import PipelineOptions, choices_of, option_fields
from ..pipeline import AffectStream
from ..types import Affect, Frame, main_track
from .pictures import FramePictures
from .plots import LivePlots
from .rtc import PeerHub
from .session_files import CACHE_SWEEP, SessionFiles, describe
from .uploads import DEFAULT_MAX_UPLOAD_MB, LengthLimit, open_upload, upload_bytes
from .video import annotate_video, au_strip, save_png, va_timeline

# The settings a visitor can change, in the order the event handlers receive them.
DEMO_SETTINGS = ("temporal", "max_faces", "au_source")
MAX_FACES_SHOWN = 10  # the slider's top: more faces than fit legibly on one webcam frame
STATIC = Path(__file__).with_name("static")
PAGE_SCRIPTS = (Path(__file__).parents[1] / "live" / "static" / "affect-view.js",
                STATIC / "webrtc.js")


class LiveSession:
    """One visitor's live pipeline, plots, counters and the files of the pictures sent back.

    Reset and the end of a browser session close it from another thread than the stream's; the lock
    keeps them from closing MediaPipe under a frame in flight (which would kill the server), and a
    closed session is replaced on the next frame.
    """

    def __init__(self, settings: tuple, folder: Path | None = None):
        self.settings = settings  # the panel's values, compared each frame (cheaper than options)
        self.pipeline = AffectStream(demo_options("live", *settings))
        self.plots = LivePlots()
        self.pictures = FramePictures(folder)
        self.started = time.perf_counter()
        self.frames = 0
        self.last_timestamp = -1.0
        self.closed = False
        self.lock = threading.Lock()

    def step(self, image: np.ndarray) -> tuple[list[Affect], float] | None:
        """(rows, session time) of one frame; None once the session is closed."""
        with self.lock:
            if self.closed:
                return None
            now = time.perf_counter() - self.started
            # MediaPipe's video mode needs rising timestamps
            now = max(now, self.last_timestamp + 0.001)
            self.last_timestamp = now
            rows = self.pipeline.analyze(Frame(self.frames, now, image, time.perf_counter()))
            self.frames += 1
            self.plots.add(now, rows)
            return rows, now

    def close(self) -> None:
        with self.lock:
            if not self.closed:
                self.closed = True
                self.pipeline.close()
        self.pictures.close()


def settings_options(settings: dict) -> PipelineOptions:
    """Live PipelineOptions from the page's settings ({name: value}; missing ones: defaults)."""
    defaults = {spec.name: spec.default for spec in option_fields(DEMO_SETTINGS)}
    values = [settings.get(name, defaults[name]) for name in DEMO_SETTINGS]
    options = demo_options("live", *values)
    if not 1 <= options.max_faces <= MAX_FACES_SHOWN:
        raise AffectStreamError(f"max_faces must be 1 to {MAX_FACES_SHOWN}")
    return options


def demo_options(mode: str, *values) -> PipelineOptions:
    """PipelineOptions from the settings panel's values (DEMO_SETTINGS order); sliders give
    floats."""
    settings = {spec.name: int(round(v)) if spec.type == "int" else v
                for spec, v in zip(option_fields(DEMO_SETTINGS), values)}
    return PipelineOptions(mode=mode, **settings)


def settings_panel() -> list[gr.Component]:
    """One control per DEMO_SETTINGS field, from its choices, default and help."""
    controls = []
    for spec in option_fields(DEMO_SETTINGS):
        label, info = spec.name.replace("_", " ").capitalize(), spec.metadata["help"]
        choices = choices_of(spec)
        if choices:
            controls.append(gr.Radio(list(choices), value=spec.default, label=label, info=info))
        else:
            controls.append(gr.Slider(spec.metadata["minimum"], MAX_FACES_SHOWN, value=spec.default,
                                      step=1, label=label, info=info))
    return controls


def reading(rows: list[Affect]) -> list[dict]:
    """The faces of one frame as plain numbers (what the page's "Latest reading" shows)."""
    faces = []
    for r in rows:
        if r.track_id is None or r.valence is None:
            continue
        face = {"face_id": r.track_id, "detected": r.success, "valence": round(r.valence, 3),
                "arousal": round(r.arousal, 3)}
        if r.valence_std is not None:
            face["valence_std"], face["arousal_std"] = (round(r.valence_std, 3),
                                                        round(r.arousal_std, 3))
        if r.emotion:
            face["top_emotion"] = max(r.emotion, key=r.emotion.get)
        face["au"] = {a: round(v, 2) for a, v in (r.au or {}).items()}
        faces.append(face)
    return faces


def on_frame(image, session: LiveSession | None, temporal: str, max_faces, au_source: str,
             folder: Path | None = None):
    """One webcam frame → annotated frame, the three plots (as files in a new folder inside
    `folder`), top emotions, the reading, the status."""
    received = time.time()
    skip = (gr.skip(),) * 7
    if image is None:
        return *skip, session
    settings = (temporal, max_faces, au_source)
    if session is not None and session.settings != settings:
        session.close()
    step = session.step(image) if session is not None else None
    if step is None:  # first frame, new settings, or reset while this frame was on its way
        session = LiveSession(settings, folder)
        step = session.step(image)
    rows, now = step
    with session.lock:  # the figures belong to the session; a reset may be closing it
        pictures = session.pictures.write(draw_faces(image, rows), *session.plots.draw(now))
    if pictures is None:  # reset meanwhile: the next frame starts afresh
        return *skip, session
    detected = [r for r in rows if r.success]
    main = main_track(rows)
    first = next((r for r in detected if r.track_id == main), None)
    emotions = dict(first.emotion) if first is not None and first.emotion else {}
    elapsed = time.perf_counter() - session.started
    if detected:
        status = (f"{len(detected)} face{'s' if len(detected) > 1 else ''} in view · "
                  f"frame {session.frames} · "
                  f"{session.frames / max(elapsed, 1e-6):.1f} frames/s processed")
    else:
        status = ("**No face in view.** Face the camera with light on your face"
                  f" · frame {session.frames}")
    readout = {"frame": session.frames, "received_ms": round(received * 1000, 1),
               "processed_ms": round((time.time() - received) * 1000, 1), "faces": reading(rows)}
    return *pictures, emotions, readout, status, session


def reset(session: LiveSession | None):
    if session is not None:
        session.close()
    return (None, None, None, None, None, {},
            "Reset: the next frame starts a new tracker and temporal state.", None)


def analyze_video(path, temporal: str, max_faces, au_source: str, max_minutes: float,
                  files: SessionFiles, request: gr.Request | None = None,
                  progress=gr.Progress()):  # noqa: B008 (Gradio injects the tracker through this default)
    """Offline: the CSV (as `affectstream process` writes it), the annotated video, the plots, of
    at most `max_minutes` of the video; written into the session's folder under `files`."""
    if not path:
        raise gr.Error("Upload a video first.")
    files.keep_upload(request, path)
    try:
        source = open_upload(path)
    except AffectStreamError as e:
        files.discard_upload(path)  # nothing of a refused file is kept
        raise gr.Error(str(e)) from None
    frames, fps = source.frame_count, source.fps or 30.0
    if frames and frames / fps > max_minutes * 60:
        source.close()
        raise gr.Error(f"This video lasts {frames / fps / 60:.1f} min; "
                       f"the limit here is {max_minutes:g} min. "
                       "Use `affectstream process` for long files.")
    clip = LengthLimit(source, max_minutes * 60)  # the header may declare no length at all
    stem = Path(path).stem
    rows: list[Affect] = []

    def advance(summary):
        progress(summary.frames / frames if frames else 0.0, desc=f"frame {summary.frames}"
                 + (f" of {frames}" if frames else ""))

    try:
        folder = files.new_run(request)
        with AffectStream(demo_options("offline", temporal, max_faces, au_source)) as pipeline:
            summary = pipeline.run(clip, csv=folder / f"{stem}.csv", on_result=rows.append,
                                   progress=advance)
    except AffectStreamError as e:
        raise gr.Error(f"Could not analyse this video: {e}") from None
    finally:
        clip.close()
    progress(1.0, desc="drawing the annotated video")
    annotated = annotate_video(path, rows, folder / f"{stem}_annotated.mp4", draw_faces,
                               frames=summary.frames)
    return (str(annotated), save_png(va_timeline(rows), folder / "valence_arousal.png"),
            save_png(au_strip(rows), folder / "action_units.png"), summary.output,
            video_message(summary, clip, max_minutes))


def video_message(summary, clip: LengthLimit, max_minutes: float) -> str:
    """The video tab's summary line; a cut at the length limit comes first."""
    message = (f"{summary.frames} frames, {summary.frames_with_face} with a face, "
               f"{len(summary.ids)} face id(s)"
               + ("" if summary.frames_with_face else " — **no face was found in this video**."))
    if clip.cut:
        message = (f"**Stopped at the length limit of {max_minutes:g} min**: this video goes on "
                   f"past {clip.seconds:g} s, and only its first {summary.frames} frames were "
                   "analysed. Use `affectstream process` for the whole file. " + message)
    return message


def model_cards() -> str:
    """Every registered model's card, folded."""
    parts = []
    for entry in registry.entries("frame") + registry.entries("temporal"):
        card = entry.weights.card_path if entry.weights else None
        if card is not None and card.is_file():
            title = f"{entry.kind} model {entry.name!r} ({entry.weights.card})"
            parts.append(f"<details><summary><b>{title}</b></summary>\n\n{card.read_text()}\n\n"
                         "</details>")
    return "\n\n".join(parts)


def build_app(max_minutes: float = 10.0, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
              files: SessionFiles | None = None, peers: PeerHub | None = None) -> gr.Blocks:
    """The demo's page; launch it with `max_file_size=upload_bytes(max_upload_mb)` (main does).
    peers: the WebRTC sessions' hub (made here if not given; main closes its own)."""
    files = files or SessionFiles.create()
    peers = peers or PeerHub(settings_options)
    with gr.Blocks(title="affectstream", analytics_enabled=False, delete_cache=CACHE_SWEEP) as app:
        gr.Markdown("# affectstream\nValence, arousal, FACS action units and emotions from your "
                    f"face, frame by frame. {describe()}", elem_id="storage")
        with gr.Accordion("Settings", open=False), gr.Row():
            settings = settings_panel()
        with gr.Accordion("What the numbers are trained on, and how good they are "
                          "(model cards)", open=False):
            gr.Markdown(model_cards())
        with gr.Tab("Webcam"):
            webrtc_panel(settings, peers)
            with gr.Column(elem_id="jpeg-path", elem_classes=["affect-hidden"]):
                webcam_tab(settings, files)
        with gr.Tab("Video file"):
            video_tab(settings, max_minutes, max_upload_mb, files)
        app.unload(files.forget)  # the tab closed: its uploads and results go now, not in an hour
    app.queue(default_concurrency_limit=None)
    return app


def webrtc_panel(settings: list[gr.Component], peers: PeerHub) -> None:
    """The live tab's main path: camera to server as WebRTC video, results drawn in the browser
    (static/webrtc.js); it reveals the JPEG path (#jpeg-path) where WebRTC cannot run."""
    head = ("<style>.affect-hidden{display:none!important}"
            f"{(STATIC / 'webrtc.css').read_text()}</style>"
            + "".join(f"<script>{p.read_text()}</script>" for p in PAGE_SCRIPTS if p.is_file()))

    def webrtc_offer(offer: dict) -> dict:
        """A browser's offer {sdp, type, settings} → the answer, or {"error": why}."""
        if not isinstance(offer, dict):
            return {"error": "the offer is not an object"}
        return peers.answer(offer)

    gr.HTML("", js_on_load="window.AffectWebRTC.mount(element, server)", head=head,
            server_functions=[webrtc_offer], elem_id="webrtc", apply_default_css=False)
    # the panel's values as JSON, read by the page's script (which cannot see Gradio's state)
    def as_json(*values) -> str:
        return json.dumps(dict(zip(DEMO_SETTINGS, values)))

    chosen = gr.Textbox(as_json(*(c.value for c in settings)), visible="hidden",
                        elem_id="rtc-settings")

    for control in settings:
        control.change(as_json, settings, chosen, show_progress="hidden")


def webcam_tab(settings: list[gr.Component], files: SessionFiles) -> None:
    """The fallback live path: camera JPEG frames posted to the server, annotated frame,
    circumplex, timeline, AU bars, emotions back."""
    session = gr.State(None, delete_callback=lambda s: s.close() if s is not None else None)
    with gr.Row():
        camera = gr.Image(sources=["webcam"], streaming=True, label="Camera", type="numpy")
        annotated = gr.Image(label="Faces", elem_id="annotated")
    status = gr.Markdown("Start the camera: click it, then Record.", elem_id="status")
    with gr.Row():
        circumplex = gr.Image(label="Circumplex", show_label=False, elem_id="circumplex")
        timeline = gr.Image(label="Valence and arousal", show_label=False, elem_id="timeline")
    with gr.Row():
        bars = gr.Image(label="Action units", show_label=False, elem_id="au-bars")
        emotions = gr.Label(num_top_classes=3, label="Top emotions", elem_id="emotions")
    with gr.Accordion("Latest reading (numbers)", open=True):
        readout = gr.JSON(elem_id="reading")
    reset_button = gr.Button("Reset", elem_id="reset")
    outputs = [annotated, circumplex, timeline, bars, emotions, readout, status, session]

    # the pictures go in the session's folder, deleted with it when the tab closes
    def frame(image, session, temporal, max_faces, au_source, request: gr.Request):
        with files.in_use(request) as folder:
            if folder is None:  # the tab closed while this frame was on its way
                if session is not None:
                    session.close()
                return (gr.skip(),) * (len(outputs) - 1) + (None,)
            return on_frame(image, session, temporal, max_faces, au_source, folder)

    camera.stream(frame, [camera, session, *settings], outputs, stream_every=0.05,
                  time_limit=3600, concurrency_limit=None, show_progress="hidden")
    reset_button.click(reset, [session], outputs)


def video_tab(settings: list[gr.Component], max_minutes: float, max_upload_mb: float,
              files: SessionFiles) -> None:
    """The file tab: upload, analyse offline, annotated video, plots and the CSV."""
    with gr.Row():
        video = gr.Video(label=f"Video to analyse (up to {max_upload_mb:g} MB and "
                               f"{max_minutes:g} min)", sources=["upload"], elem_id="video-input")
        played = gr.Video(label="Annotated", elem_id="annotated-video")
    run = gr.Button("Analyse", variant="primary", elem_id="analyse")
    summary = gr.Markdown(elem_id="video-summary")
    with gr.Row():
        va_plot = gr.Image(label="Valence and arousal over time", show_label=False,
                           elem_id="va-timeline")
        au_plot = gr.Image(label="Action units over time", show_label=False, elem_id="au-strip")
    csv_file = gr.File(label="CSV (same schema as `affectstream process`)", elem_id="csv")

    # The limit is the server's, not an input a client could send a larger value for.
    def analyse(path, temporal, max_faces, au_source, request: gr.Request,
                progress=gr.Progress()):  # noqa: B008 (as analyze_video's)
        return analyze_video(path, temporal, max_faces, au_source, max_minutes, files, request,
                             progress)

    run.click(analyse, [video, *settings], [played, va_plot, au_plot, csv_file, summary],
              concurrency_limit=2, api_name="analyze_video")


def main(host: str = "127.0.0.1", port: int = 7860, max_minutes: float = 10.0,
         max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB, *, block: bool = True) -> gr.Blocks:
    """Serve the demo; block=False returns the running app (tests close it)."""
    max_file_size, files = upload_bytes(max_upload_mb), SessionFiles.create()
    peers = PeerHub(settings_options)
    app = build_app(max_minutes, max_upload_mb, files, peers)
    try:
        app.launch(server_name=host, server_port=port, show_error=True,
                   max_file_size=max_file_size, prevent_thread_lock=not block)
    finally:
        if block:  # launch returns once the server stopped (Ctrl-C): nothing of it stays behind
            files.forget_all()
            peers.close()
    return app
