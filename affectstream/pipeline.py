"""AffectStream: source -> face tracker -> per-frame model -> sinks, with decoding on its own thread.

Offline mode processes every frame; live mode keeps only the newest decoded frame so a slow step
drops stale frames instead of falling behind the camera.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .errors import AffectStreamError, SourceError
from .face import FaceTracker
from .models.blendshape_au import BlendshapeAU
from .models.registry import load_frame_model
from .sinks import CallbackSink, CSVSink, JSONLSink, csv_columns
from .sources import Source, load_image, open_source
from .types import AU_NAMES, EMOTION_NAMES, Affect, Face, Frame, FrameOutput, Summary

_END = object()
AU_SOURCES = ("model", "blendshapes")


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def _decode(source: Source, frames: queue.Queue, stop: threading.Event, live: bool, dropped: list[int]) -> None:
    """Producer thread: frames into the queue; in live mode the queue holds only the newest frame."""
    try:
        for frame in source:
            if stop.is_set():
                return
            if not live:
                while not stop.is_set():
                    try:
                        frames.put(frame, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                continue
            try:
                frames.put_nowait(frame)
            except queue.Full:
                try:
                    frames.get_nowait()  # a stale frame nobody has picked up yet
                    dropped[0] += 1
                except queue.Empty:
                    pass
                frames.put_nowait(frame)
    except BaseException as e:  # handed to the consumer, which raises it after the good frames
        frames.put(_Failure(e))
    finally:
        frames.put(_END)


def to_affect(frame: Frame, face: Face | None, out: FrameOutput | None, latency_ms: float) -> Affect:
    """The public record for one face (or for a frame without a face when `face` is None)."""
    if face is None:
        return Affect(frame=frame.index, timestamp=frame.timestamp, latency_ms=latency_ms)
    au = emotion = None
    if out is not None and out.au is not None:
        au = {name: float(v) for name, v in zip(AU_NAMES, out.au)}
    if out is not None and out.emotion is not None:
        logits = np.asarray(out.emotion, np.float64)
        p = np.exp(logits - logits.max())
        emotion = {name: float(v) for name, v in zip(EMOTION_NAMES, p / p.sum())}
    return Affect(
        frame=frame.index, timestamp=frame.timestamp, track_id=face.track_id, box=face.box, score=face.score,
        pose=face.pose, valence=None if out is None else out.valence, arousal=None if out is None else out.arousal,
        au=au, emotion=emotion, latency_ms=latency_ms)


class AffectStream:
    """The pipeline. mode: "auto" (live for cameras and live URLs, else offline), "offline" or "live".

    max_faces: faces per frame; max_gap: seconds a face may vanish and keep its track_id;
    weights: per-frame model weights (default: the shipped ones); au_source: "model" (the per-frame
    model's AU head) or "blendshapes" (MediaPipe blendshapes mapped to FACS); landmarker: path to
    face_landmarker.task (default: found by `assets.resolve`).
    """

    def __init__(self, mode: str = "auto", *, max_faces: int = 4, max_gap: float = 1.0,
                 au_source: str = "model", weights: str | Path | None = None,
                 landmarker: str | Path | None = None, queue_size: int = 8):
        if mode not in ("auto", "offline", "live"):
            raise AffectStreamError(f"unknown mode {mode!r}; use 'auto', 'offline' or 'live'")
        if au_source not in AU_SOURCES:
            raise AffectStreamError(f"unknown au_source {au_source!r}; choose from {', '.join(AU_SOURCES)}")
        self.mode, self.max_faces, self.max_gap, self.queue_size = mode, max_faces, max_gap, queue_size
        self.frame_model = load_frame_model(weights)
        self.blendshape_au = BlendshapeAU() if au_source == "blendshapes" else None
        # Built now so a missing model file fails here, not mid-run.
        self.tracker = FaceTracker(landmarker, max_faces=max_faces, max_gap=max_gap)
        self._tracker_used = False
        self._landmarker = landmarker
        self._still_tracker: FaceTracker | None = None
        self._judger = ThreadPoolExecutor(1, thread_name_prefix="affectstream-models")
        self.summary: Summary | None = None

    @property
    def produces(self) -> tuple[str, ...]:
        return self.frame_model.produces

    @property
    def columns(self) -> tuple[str, ...]:
        """The CSV header this pipeline writes."""
        return csv_columns(self.produces)

    def analyze(self, frame: Frame, still: bool = False) -> list[Affect]:
        """All Affect rows for one frame: one per face, or one `success=0` row when there is none.

        still: the frame is an unrelated photo (searched more thoroughly; ids start at 0 for each).
        """
        return self._judge(frame, self._track(frame, still))

    def _track(self, frame: Frame, still: bool) -> list[Face]:
        if still:
            if self._still_tracker is None:
                self._still_tracker = FaceTracker(self._landmarker, max_faces=self.max_faces, mode="image")
            self._still_tracker.tracks.reset()
        return (self._still_tracker if still else self.tracker).track(frame)

    def _judge(self, frame: Frame, faces: list[Face]) -> list[Affect]:
        """Per-frame model (and AU source) on tracked faces, into Affect rows."""
        outputs = self.frame_model(faces) if faces else []
        if self.blendshape_au is not None:  # the transparent estimator, for comparison with the model
            for out, alternative in zip(outputs, self.blendshape_au(faces)):
                out.au = alternative.au
        latency = (time.perf_counter() - frame.captured_at) * 1000.0 if frame.captured_at else None
        if not faces:
            return [to_affect(frame, None, None, latency)]
        return [to_affect(frame, f, o, latency) for f, o in zip(faces, outputs)]

    def stream(self, source, *, fps: float | None = None) -> Iterator[Affect]:
        """Affect rows in frame order; `self.summary` is updated as it goes.

        A source that breaks part-way raises SourceError after the rows of every good frame.
        Offline, the models judge frame t on a worker thread while the tracker reads frame t+1;
        live, each frame is finished before the next is taken, for the lowest latency.
        """
        src = open_source(source, fps=fps)
        live = src.live if self.mode == "auto" else self.mode == "live"
        summary = self.summary = Summary(source=src.name)
        # A new source is a new timeline: MediaPipe's VIDEO mode and the track ids start over.
        if self._tracker_used and not src.stills:
            self.tracker.reset()
        self._tracker_used |= not src.stills
        frames: queue.Queue = queue.Queue(maxsize=1 if live else self.queue_size)
        stop, dropped = threading.Event(), [0]
        worker = threading.Thread(target=_decode, args=(src, frames, stop, live, dropped),
                                  name="affectstream-decode", daemon=True)
        start = time.perf_counter()

        def finished(rows: list[Affect]) -> list[Affect]:
            summary.frames += 1
            summary.dropped = dropped[0]
            if rows[0].success:
                summary.frames_with_face += 1
                summary.faces += len(rows)
                summary.ids.update(r.track_id for r in rows)
            summary.seconds = time.perf_counter() - start
            return rows

        worker.start()
        pending = None
        try:
            while True:
                item = frames.get()
                if isinstance(item, _Failure) or item is _END:
                    if pending is not None:
                        yield from finished(pending.result())
                        pending = None
                if item is _END:
                    break
                if isinstance(item, _Failure):
                    summary.complete = False
                    summary.stopped_at = summary.frames - 1 if summary.frames else None
                    summary.error = str(item.error)
                    if isinstance(item.error, AffectStreamError):
                        raise item.error
                    raise AffectStreamError(f"{src.name}: reading stopped: {item.error}") from item.error
                faces = self._track(item, src.stills)
                if live:
                    yield from finished(self._judge(item, faces))
                    continue
                job = self._judger.submit(self._judge, item, faces)
                if pending is not None:
                    yield from finished(pending.result())
                pending = job
        finally:
            stop.set()
            while worker.is_alive():  # unblock a producer waiting on a full queue
                try:
                    frames.get(timeout=0.05)
                except queue.Empty:
                    pass
            worker.join()
            src.close()
            summary.seconds = time.perf_counter() - start

    def run(self, source, *, on_result: Callable[[Affect], object] | None = None, csv: str | Path | None = None,
            jsonl: str | Path | None = None, fps: float | None = None,
            progress: Callable[[Summary], object] | None = None) -> Summary:
        """Stream `source` into the given sinks and return the Summary.

        A damaged source raises SourceError (with `.summary` attached) after every good row is written;
        Ctrl-C leaves the CSV as `OUT.partial`.
        """
        sinks = []
        try:
            if csv is not None:
                sinks.append(CSVSink(csv, self.columns))
            if jsonl is not None:
                sinks.append(JSONLSink(jsonl))
            if on_result is not None:
                sinks.append(CallbackSink(on_result))
        except AffectStreamError:
            for s in sinks:
                s.close(complete=False)
            raise
        complete, last_frame = False, -1
        try:
            for affect in self.stream(source, fps=fps):
                for sink in sinks:
                    sink(affect)
                if progress is not None and affect.frame != last_frame:
                    progress(self.summary)
                last_frame = affect.frame
            complete = True
        except SourceError as e:
            complete = True  # the rows before the damage are final; the error says where it stopped
            e.summary = self.summary
            raise
        finally:
            outputs = [s.close(complete=complete) for s in sinks if not isinstance(s, CallbackSink)]
            if self.summary is not None and outputs:
                self.summary.output = str(outputs[0])
        return self.summary

    def close(self) -> None:
        self._judger.shutdown(wait=True)
        self.tracker.close()
        if self._still_tracker is not None:
            self._still_tracker.close()

    def __enter__(self) -> AffectStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def stream(source, **settings) -> Iterator[Affect]:
    """Affect rows for every face in every frame of `source`, in frame order."""
    with AffectStream(**settings) as pipeline:
        yield from pipeline.stream(source)


def process(source, csv: str | Path | None = None, *, jsonl: str | Path | None = None, **settings) -> Summary:
    """Run `source` to a CSV (and/or JSONL) file and return the Summary."""
    with AffectStream(**settings) as pipeline:
        return pipeline.run(source, csv=csv, jsonl=jsonl)


_still_pipelines: dict[tuple, AffectStream] = {}
_still_lock = threading.Lock()


def analyze_image(image, *, max_faces: int = 4, au_source: str = "model") -> list[Affect]:
    """Affect for each face in one still (an RGB array or a path); an empty list when there is none."""
    rgb = load_image(image)
    key = (max_faces, au_source)
    with _still_lock:
        if key not in _still_pipelines:
            _still_pipelines[key] = AffectStream("offline", max_faces=max_faces, au_source=au_source)
        rows = _still_pipelines[key].analyze(Frame(0, 0.0, rgb, time.perf_counter()), still=True)
    return [r for r in rows if r.success]
