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
from .models.frame import SHAPE_POINTS
from .models.registry import load_frame_model, load_temporal
from .models.temporal import temporal_input
from .sinks import CallbackSink, CSVSink, JSONLSink, csv_columns
from .sources import Source, load_image, open_source
from .types import AU_NAMES, EMOTION_NAMES, TEMPORAL_MODELS, Affect, Face, Frame, FrameOutput, Summary

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


def _au_dict(values) -> dict[str, float] | None:
    return None if values is None else {name: float(v) for name, v in zip(AU_NAMES, values)}


def to_affect(frame: Frame, face: Face | None, out: FrameOutput | None, latency_ms: float,
              track_id: int | None = None) -> Affect:
    """The public record for one face, for a frame without a face (`face` and `track_id` None), or a
    held estimate for track `track_id` that the detector missed (`face` None)."""
    if face is None and (track_id is None or out is None):
        return Affect(frame=frame.index, timestamp=frame.timestamp, latency_ms=latency_ms)
    out = out or FrameOutput()
    emotion = None
    if out.emotion is not None:
        logits = np.asarray(out.emotion, np.float64)
        p = np.exp(logits - logits.max())
        emotion = {name: float(v) for name, v in zip(EMOTION_NAMES, p / p.sum())}
    where = {} if face is None else {"box": face.box, "score": face.score, "pose": face.pose}
    return Affect(
        frame=frame.index, timestamp=frame.timestamp, track_id=face.track_id if face else track_id, **where,
        valence=out.valence, arousal=out.arousal, valence_std=out.valence_std, arousal_std=out.arousal_std,
        au=_au_dict(out.au), au_std=_au_dict(out.au_std), emotion=emotion, latency_ms=latency_ms)


class AffectStream:
    """The pipeline. mode: "auto" (live for cameras and live URLs, else offline), "offline" or "live".

    max_faces: faces per frame; max_gap: seconds a face may vanish and keep its track_id;
    weights: per-frame model weights (default: the shipped ones); au_source: "model" (the per-frame
    model's AU head) or "blendshapes" (MediaPipe blendshapes mapped to FACS, per frame); landmarker:
    path to face_landmarker.task (default: found by `assets.resolve`); temporal: "ap" (the Affective
    Process, with standard deviations), "affwildnet" (the CNN-RNN) or "none" (per-frame estimates);
    temporal_weights: their file (default: the shipped one); context_seconds: the Affective
    Process's context window. The temporal models run causally in both modes, so a file replayed
    frame by frame as a live stream gives the same numbers as offline; photos (stills) skip them.
    """

    def __init__(self, mode: str = "auto", *, max_faces: int = 4, max_gap: float = 1.0,
                 au_source: str = "model", weights: str | Path | None = None,
                 landmarker: str | Path | None = None, queue_size: int = 8, temporal: str = "ap",
                 temporal_weights: str | Path | None = None, context_seconds: float | None = None):
        if mode not in ("auto", "offline", "live"):
            raise AffectStreamError(f"unknown mode {mode!r}; use 'auto', 'offline' or 'live'")
        if au_source not in AU_SOURCES:
            raise AffectStreamError(f"unknown au_source {au_source!r}; choose from {', '.join(AU_SOURCES)}")
        self.mode, self.max_faces, self.max_gap, self.queue_size = mode, max_faces, max_gap, queue_size
        if temporal not in TEMPORAL_MODELS:
            raise AffectStreamError(f"unknown temporal model {temporal!r}; choose from {', '.join(TEMPORAL_MODELS)}")
        self.frame_model = load_frame_model(weights)
        self.temporal = None if temporal == "none" else load_temporal(temporal, temporal_weights, context_seconds)
        self._dims = (self.frame_model.net.config["embed"], 2 * len(SHAPE_POINTS))
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
        extra = ("uncertainty",) if self.temporal is not None and "uncertainty" in self.temporal.produces else ()
        return self.frame_model.produces + extra

    @property
    def columns(self) -> tuple[str, ...]:
        """The CSV header this pipeline writes."""
        return csv_columns(self.produces)

    def analyze(self, frame: Frame, still: bool = False) -> list[Affect]:
        """All Affect rows for one frame: one per face, or one `success=0` row when there is none.

        still: the frame is an unrelated photo (searched more thoroughly; ids start at 0 for each).
        """
        return self._judge(frame, *self._track(frame, still))

    def _track(self, frame: Frame, still: bool) -> tuple[list[Face], set[int] | None]:
        """(faces, ids of every track alive after this frame; None for a still)."""
        if still:
            if self._still_tracker is None:
                self._still_tracker = FaceTracker(self._landmarker, max_faces=self.max_faces, mode="image")
            self._still_tracker.tracks.reset()
            return self._still_tracker.track(frame), None
        faces = self.tracker.track(frame)
        return faces, set(self.tracker.tracks.tracks)

    def _judge(self, frame: Frame, faces: list[Face], alive: set[int] | None = None) -> list[Affect]:
        """Per-frame model (and AU source), then the temporal model, into Affect rows."""
        outputs = self.frame_model(faces) if faces else []
        held: list[tuple[int, FrameOutput]] = []
        if self.temporal is not None and alive is not None:
            held = self._temporal_step(frame, faces, outputs, alive)
        if self.blendshape_au is not None:  # the transparent estimator, for comparison with the model
            for out, alternative in zip(outputs, self.blendshape_au(faces)):
                out.au, out.au_std = alternative.au, None
        latency = (time.perf_counter() - frame.captured_at) * 1000.0 if frame.captured_at else None
        rows = [to_affect(frame, f, o, latency) for f, o in zip(faces, outputs)]
        rows += [to_affect(frame, None, o, latency, track_id=t) for t, o in held]
        return rows or [to_affect(frame, None, None, latency)]

    def _temporal_step(self, frame: Frame, faces: list[Face], outputs: list[FrameOutput], alive: set[int]
                       ) -> list[tuple[int, FrameOutput]]:
        """One causal step for every live track: refine the detected faces' outputs in place; return
        held estimates for the tracks the detector missed in this frame."""
        step = self.temporal.step
        for face, out in zip(faces, outputs):
            t = step(face.track_id, frame.timestamp, *temporal_input(out, *self._dims), True)
            out.valence, out.arousal, out.au = t.valence, t.arousal, t.au
            out.valence_std, out.arousal_std, out.au_std = t.valence_std, t.arousal_std, t.au_std
        held = []
        for track_id in sorted(alive - {f.track_id for f in faces}):
            t = step(track_id, frame.timestamp, *temporal_input(None, *self._dims), False)
            held.append((track_id, FrameOutput(valence=t.valence, arousal=t.arousal, au=t.au,
                                               valence_std=t.valence_std, arousal_std=t.arousal_std,
                                               au_std=t.au_std)))
        self.temporal.keep_only(alive)
        return held

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
            if self.temporal is not None:
                self.temporal.keep_only(())
        self._tracker_used |= not src.stills
        frames: queue.Queue = queue.Queue(maxsize=1 if live else self.queue_size)
        stop, dropped = threading.Event(), [0]
        worker = threading.Thread(target=_decode, args=(src, frames, stop, live, dropped),
                                  name="affectstream-decode", daemon=True)
        start = time.perf_counter()

        def finished(rows: list[Affect]) -> list[Affect]:
            summary.frames += 1
            summary.dropped = dropped[0]
            detected = [r for r in rows if r.success]
            if detected:
                summary.frames_with_face += 1
                summary.faces += len(detected)
                summary.ids.update(r.track_id for r in detected)
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
                faces, alive = self._track(item, src.stills)
                if live:
                    yield from finished(self._judge(item, faces, alive))
                    continue
                job = self._judger.submit(self._judge, item, faces, alive)
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
    """Affect for each face in one still (an RGB array or a path; per-frame model only, as a photo has
    no past); an empty list when there is none."""
    rgb = load_image(image)
    key = (max_faces, au_source)
    with _still_lock:
        if key not in _still_pipelines:
            _still_pipelines[key] = AffectStream("offline", max_faces=max_faces, au_source=au_source, temporal="none")
        rows = _still_pipelines[key].analyze(Frame(0, 0.0, rgb, time.perf_counter()), still=True)
    return [r for r in rows if r.success]
