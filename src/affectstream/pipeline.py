"""AffectStream: source -> face stage -> per-frame model -> temporal model -> writers.

Every setting comes from one `PipelineOptions`; the stages are found in the registry and used only
through the interfaces of `stages.py`. Offline mode processes every frame; live mode keeps only
the newest decoded frame so a slow step drops stale frames instead of falling behind the camera.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, suppress
from pathlib import Path

import numpy as np

from . import registry
from .camera import camera_space
from .cores import model_threads
from .decoder import Decoder
from .errors import AffectStreamError, SourceError, WriteError
from .face import FaceTracker
from .gaze import gaze
from .models.blendshape_au import BlendshapeAU
from .models.temporal import widen_au
from .options import NO_TEMPORAL, PipelineOptions
from .presence import au_presence, lip_suck
from .sources import load_image, open_source
from .stages import FaceStage, FrameModel, Source, TemporalModel, Writer
from .types import AU_NAMES, EMOTION_NAMES, Affect, Face, Frame, FrameOutput, Summary
from .writers import close_all, write_all
from .writers.csv import csv_columns

TEMPORAL_FIELDS = ("valence", "arousal", "au", "emotion", "valence_std", "arousal_std", "au_std")


def _au_dict(values) -> dict[str, float] | None:
    """{AU: value} in AU_NAMES order, without the AUs a model did not give (NaN)."""
    if values is None:
        return None
    return {name: float(v) for name, v in zip(AU_NAMES, values) if not np.isnan(v)}


def to_affect(frame: Frame, face: Face | None, out: FrameOutput | None, latency_ms: float | None,
              track_id: int | None = None, presence: dict[str, float] | None = None) -> Affect:
    """The public record for one face, for a frame without a face (`face` and `track_id` None),
    or a held estimate for track `track_id` that the detector missed (`face` None).

    presence: the AU presence thresholds ({} or None: no AUxx_c)."""
    if face is None and (track_id is None or out is None):
        return Affect(frame=frame.index, timestamp=frame.timestamp, latency_ms=latency_ms,
                      file=frame.file, captured_at=frame.captured_at)
    out = out or FrameOutput()
    emotion = None
    if out.emotion is not None:
        logits = np.asarray(out.emotion, np.float64)
        p = np.exp(logits - logits.max())
        emotion = {name: float(v) for name, v in zip(EMOTION_NAMES, p / p.sum())}
    where = {} if face is None else {"box": face.box, "score": face.score, "pose": face.pose,
                                     **head_geometry(face.landmarks, frame.image.shape)}
    au = _au_dict(out.au)
    suck = None if face is None else float(lip_suck(face.blendshapes))
    return Affect(
        frame=frame.index, timestamp=frame.timestamp, track_id=face.track_id if face else track_id,
        **where, valence=out.valence, arousal=out.arousal, valence_std=out.valence_std,
        arousal_std=out.arousal_std, au=au, au_std=_au_dict(out.au_std),
        au_presence=au_presence(au, suck, presence or {}), emotion=emotion,
        latency_ms=latency_ms, file=frame.file, captured_at=frame.captured_at)


def head_geometry(landmarks: np.ndarray, shape: tuple[int, ...]) -> dict:
    """Affect's geometric fields for one face's mesh (pixels) in a frame of `shape` (H, W, 3)."""
    points, translation = camera_space(landmarks, shape[1], shape[0])
    vectors, angle = gaze(points)
    return {"landmarks": landmarks, "landmarks_3d": points,
            "translation": tuple(float(v) for v in translation), "gaze": vectors,
            "gaze_angle": (float(angle[0]), float(angle[1]))}


class CallbackWriter:
    """Calls `fn(affect)` for every row (the API's `on_result`)."""

    def __init__(self, fn: Callable[[Affect], object]):
        self.fn = fn

    def write(self, rows: list[Affect]) -> None:
        for row in rows:
            self.fn(row)

    def close(self, complete: bool = True) -> None:
        return None


def open_writer(format: str | type, path: str | Path, columns: tuple[str, ...],
                options: PipelineOptions) -> Writer:
    """The registered writer `format` (or a writer class itself), opened on `path`."""
    writer = (format if isinstance(format, type) else registry.get("writer", format).cls)()
    writer.open(path, columns, options)
    return writer


class AffectStream:
    """The pipeline, built from `options` (default PipelineOptions()) with `settings` (its fields,
    as keywords) on top: `AffectStream(mode="live", temporal="affwildnet")`.

    The temporal models run causally in both modes, so a file replayed frame by frame as a live
    stream gives the same numbers as offline; photos (stills) skip them.
    """

    def __init__(self, options: PipelineOptions | None = None, **settings):
        options = options or PipelineOptions()
        self.options = options.replace(**settings) if settings else options
        o = self.options
        self.frame_model: FrameModel = registry.get("frame", o.frame_model).cls.from_options(o)
        self.temporal: TemporalModel | None = None
        if o.temporal != NO_TEMPORAL:
            self.temporal = registry.get("temporal", o.temporal).cls.from_options(o)
        self.blendshape_au = BlendshapeAU() if o.au_source == "blendshapes" else None
        # AUxx_c thresholds: those fitted for this AU source with the model's weights
        self.presence = getattr(self.frame_model, "presence", {}).get(o.au_source, {})
        # Built now so a missing model file fails here, not mid-run.
        self.tracker: FaceStage = FaceTracker(o.landmarker, max_faces=o.max_faces,
                                              max_gap=o.max_gap)
        self._still_tracker: FaceTracker | None = None
        self._tracker_used = False
        self._temporal_ids: set[int] = set()  # the tracks whose state the temporal model holds
        self._judger = ThreadPoolExecutor(1, thread_name_prefix="affectstream-models")
        self.summary: Summary | None = None
        # MediaPipe's tasks are not thread-safe: one frame at a time goes through them, and a
        # stream owns the pipeline from its first frame to its last.
        self._lock = threading.Lock()
        self._streaming = self._closed = False

    def _check_free(self) -> None:
        """Raise AffectStreamError when the pipeline is closed or a stream is running."""
        if self._closed:
            raise AffectStreamError("this AffectStream is closed; create a new one")
        if self._streaming:
            raise AffectStreamError(
                "this AffectStream is already running a stream (in this or another thread); "
                "finish that one first, or create one AffectStream per thread")

    @property
    def produces(self) -> tuple[str, ...]:
        uncertain = self.temporal is not None and "uncertainty" in self.temporal.produces
        return self.frame_model.produces + (("uncertainty",) if uncertain else ())

    @property
    def columns(self) -> tuple[str, ...]:
        """The CSV header this pipeline writes."""
        return csv_columns(self.produces, self.options)

    def analyze(self, frame: Frame, still: bool = False) -> list[Affect]:
        """All Affect rows for one frame: one per face, or one `success=0` row when there is none.

        still: the frame is an unrelated photo (searched more thoroughly; ids start at 0 for each).
        Calls from several threads take turns; during a stream it is an error.
        """
        with self._lock, model_threads():
            self._check_free()
            return self._judge(frame, *self._track(frame, still))

    def _track(self, frame: Frame, still: bool) -> tuple[list[Face], set[int] | None]:
        """(faces, ids of every track alive after this frame; None for a still)."""
        if still:
            if self._still_tracker is None:
                self._still_tracker = FaceTracker(self.options.landmarker, mode="image",
                                                  max_faces=self.options.max_faces)
            self._still_tracker.tracks.reset()
            faces = self._still_tracker.track(frame)
            self._count_beyond_limit(self._still_tracker)
            return faces, None
        faces = self.tracker.track(frame)
        self._count_beyond_limit(self.tracker)
        return faces, self.tracker.alive()

    def _count_beyond_limit(self, tracker) -> None:
        if self._streaming and self.summary is not None:  # analyze() alone has no summary
            self.summary.beyond_limit(getattr(tracker, "beyond_limit", 0))

    def _judge(self, frame: Frame, faces: list[Face], alive: set[int] | None = None
               ) -> list[Affect]:
        """Per-frame model (and AU source), then the temporal model, into Affect rows."""
        outputs = self.frame_model(faces) if faces else []
        held: list[tuple[int, FrameOutput]] = []
        if self.temporal is not None and alive is not None:
            held = self._temporal_step(frame, faces, outputs, alive)
        if self.blendshape_au is not None:  # the transparent estimator, to compare with the model
            for out, alternative in zip(outputs, self.blendshape_au(faces)):
                out.au, out.au_std = alternative.au, None
        latency = (time.perf_counter() - frame.captured_at) * 1000.0 if frame.captured_at else None
        rows = [to_affect(frame, f, o, latency, presence=self.presence)
                for f, o in zip(faces, outputs)]
        rows += [to_affect(frame, None, o, latency, track_id=t, presence=self.presence)
                 for t, o in held]
        return rows or [to_affect(frame, None, None, latency)]

    def _temporal_step(self, frame: Frame, faces: list[Face], outputs: list[FrameOutput],
                       alive: set[int]) -> list[tuple[int, FrameOutput]]:
        """One causal step for every live track: refine the detected faces' outputs in place;
        return held estimates for the tracks the detector missed in this frame."""
        step = self.temporal.step
        for face, out in zip(faces, outputs):
            refined = step(face.track_id, frame.timestamp, out)
            refined.au = widen_au(refined.au, out)
            refined.au_std = widen_au(refined.au_std, None)
            refined.emotion = out.emotion if refined.emotion is None else refined.emotion
            for name in TEMPORAL_FIELDS:
                setattr(out, name, getattr(refined, name))
        missed = sorted(alive - {f.track_id for f in faces})
        held = [(track_id, step(track_id, frame.timestamp, None)) for track_id in missed]
        for _, out in held:
            out.au, out.au_std = widen_au(out.au, None), widen_au(out.au_std, None)
        for lost in self._temporal_ids - alive:
            self.temporal.drop(lost)
        self._temporal_ids = set(alive)
        return held

    def stream(self, source, *, fps: float | None = None) -> Iterator[Affect]:
        """Affect rows in frame order; `self.summary` is updated as it goes.

        A source that breaks part-way raises SourceError after the rows of every good frame.
        """
        for rows in self._frames(source, fps):
            yield from rows

    def _start(self, source, fps: float | None) -> Source:
        """The source opened, a fresh Summary, and a new timeline for a new recording."""
        src = open_source(source, fps=fps, rotate=self.options.rotate)
        self.summary = Summary(source=src.name, max_faces=self.options.max_faces)
        # MediaPipe's VIDEO mode, the track ids and the temporal state start over.
        if self._tracker_used and not src.stills:
            self.tracker.reset()
            if self.temporal is not None:
                self.temporal.reset()
                self._temporal_ids.clear()
        self._tracker_used |= not src.stills
        return src

    def _frames(self, source, fps: float | None) -> Iterator[list[Affect]]:
        """The rows of each frame in turn, counted into `self.summary`; one stream at a time."""
        with self._lock:
            self._check_free()
            self._streaming = True  # a second stream would restart MediaPipe under this one
        try:
            with model_threads():  # the same bytes whatever the machine's core count
                yield from self._source_frames(source, fps)
        finally:
            self._streaming = False

    def _source_frames(self, source, fps: float | None) -> Iterator[list[Affect]]:
        src = self._start(source, fps)
        summary = self.summary
        live = src.live if self.options.mode == "auto" else self.options.mode == "live"
        decoder = Decoder(src, live)
        start = time.perf_counter()
        try:
            for rows in self._judged(decoder, src.stills, live):
                summary.record(rows, decoder.dropped, time.perf_counter() - start)
                yield rows
            if decoder.error is not None:
                summary.complete = False
                summary.stopped_at = summary.frames - 1 if summary.frames else None
                if isinstance(decoder.error, AffectStreamError):
                    raise decoder.error
                raise AffectStreamError(f"{src.name}: reading stopped: {decoder.error}") \
                    from decoder.error
        finally:
            decoder.stop()
            src.close()
            with suppress(RuntimeError):  # the frame being judged finishes before the next run
                self._judger.submit(int).result()
            summary.seconds = time.perf_counter() - start
            summary.decode_errors = getattr(src, "decode_errors", 0)
            summary.concealed_frames = getattr(src, "concealed_frames", 0)
            summary.logged_errors = getattr(src, "logged_errors", 0)

    def _judged(self, frames: Decoder, stills: bool, live: bool) -> Iterator[list[Affect]]:
        """Track each frame, then judge it. Offline, the models judge frame t on a worker thread
        while the tracker reads frame t+1; live, each frame is finished before the next is taken,
        for the lowest latency."""
        pending = None
        for frame in frames:
            with self._lock:
                if self._closed:
                    raise AffectStreamError("this AffectStream was closed during its stream")
                faces, alive = self._track(frame, stills)
            if live:
                yield self._judge(frame, faces, alive)
                continue
            job = self._judger.submit(self._judge, frame, faces, alive)
            if pending is not None:
                yield pending.result()
            pending = job
        if pending is not None:
            yield pending.result()

    def run(self, source, *, outputs: Sequence[tuple[str, str | Path]] = (),
            csv: str | Path | None = None, jsonl: str | Path | None = None,
            on_result: Callable[[Affect], object] | None = None, fps: float | None = None,
            progress: Callable[[Summary], object] | None = None) -> Summary:
        """Stream `source` into writers and return the Summary.

        outputs: (format, path) pairs of registered writers (or writer classes); csv=/jsonl=
        name the two built-in ones. A source that stops part-way raises SourceError (with
        `.summary` attached) after every good row is written; a damaged one that could be read
        to the end returns a Summary that says DAMAGED. An output that cannot be written raises
        WriteError; it, like Ctrl-C, leaves the CSV as `OUT.partial`.
        """
        # before the outputs: no file for a source that fails
        src = open_source(source, fps=fps, rotate=self.options.rotate)
        requested = [("csv", csv), ("jsonl", jsonl), *outputs]
        try:
            writers = self._open_writers([(f, p) for f, p in requested if p is not None])
        except BaseException:
            src.close()
            raise
        if on_result is not None:
            writers.append(CallbackWriter(on_result))
        complete, earlier = False, self.summary  # this run's Summary is made when it starts
        try:
            with closing(self._frames(src, fps)) as frames:
                for rows in frames:
                    write_all(writers, rows)
                    if progress is not None:
                        progress(self.summary)
            complete = True
        except SourceError as e:
            complete = True  # the rows before the damage are final; the error says where it stopped
            e.summary = self.summary
            raise
        finally:
            src.close()  # already closed unless the stream never started
            files, failure = close_all(writers, complete)
            if self.summary is not earlier and files:
                self.summary.output = str(files[0])
            if failure is not None and complete:  # else the error on its way says more
                raise failure
        return self.summary

    def _open_writers(self, requested: list[tuple[str, str | Path]]) -> list:
        writers = []
        try:
            for format, path in requested:
                writers.append(open_writer(format, path, self.columns, self.options))
        except (AffectStreamError, OSError) as e:
            close_all(writers, complete=False)
            if isinstance(e, OSError):
                raise WriteError(f"{path}: cannot write here ({e.strerror or e}); choose another "
                                 "output path") from e
            raise
        return writers

    def close(self) -> None:
        """Release MediaPipe and the worker thread; a stream still running stops with an error at
        its next frame. Safe to call twice."""
        with self._lock:
            self._closed = True
        self._judger.shutdown(wait=True)
        self.tracker.close()
        if self._still_tracker is not None:
            self._still_tracker.close()

    def __enter__(self) -> AffectStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def stream(source, options: PipelineOptions | None = None, **settings) -> Iterator[Affect]:
    """Affect rows for every face in every frame of `source`, in frame order."""
    with AffectStream(options, **settings) as pipeline:
        yield from pipeline.stream(source)


def process(source, csv: str | Path | None = None, *, jsonl: str | Path | None = None,
            options: PipelineOptions | None = None, **settings) -> Summary:
    """Run `source` to a CSV (and/or JSONL) file and return the Summary."""
    with AffectStream(options, **settings) as pipeline:
        return pipeline.run(source, csv=csv, jsonl=jsonl)


_still_pipelines: dict[PipelineOptions, AffectStream] = {}
_still_lock = threading.Lock()


def analyze_image(image, *, max_faces: int = 4, au_source: str = "model") -> list[Affect]:
    """Affect for each face in one still (an RGB array or a path; per-frame model only, as a
    photo has no past); an empty list when there is none."""
    rgb = load_image(image)
    options = PipelineOptions(mode="offline", max_faces=max_faces, au_source=au_source,
                              temporal=NO_TEMPORAL)
    with _still_lock:
        if options not in _still_pipelines:
            _still_pipelines[options] = AffectStream(options)
        name = os.fspath(image) if isinstance(image, (str, os.PathLike)) else None
        rows = _still_pipelines[options].analyze(
            Frame(0, 0.0, rgb, time.perf_counter(), file=name), still=True)
    return [r for r in rows if r.success]
