"""One input of a batch as a picklable `Job`, and `run_job`: the same work in the CLI's process, a
pool worker or a Ray actor, ending in an `Outcome` that never raises for a bad input.
"""
from __future__ import annotations

import logging
import os
import resource
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AffectStreamError, SourceError

if TYPE_CHECKING:  # a worker caps its native threads before NumPy loads: nothing heavy here
    from ..inputs import Input

log = logging.getLogger("affectstream")
DONE, FAILED, SKIPPED = "done", "failed", "skipped"
PROGRESS_SECONDS = 0.5  # how often a worker reports frames: often enough for a live rate


@dataclass(frozen=True)
class Job:
    """What to do with one input: read it (`fps`, `stills` for image folders) and write each
    (writer, path) of `targets`; `annotated`: also draw it into this MP4."""

    index: int
    input: Input
    targets: tuple[tuple[str | type, str], ...]
    fps: float | None = None
    stills: bool = False
    annotated: str | None = None
    segment: object | None = None  # --split: the segments.Segment of the input this job does

    @property
    def outputs(self) -> tuple[str, ...]:
        return tuple(path for _, path in self.targets)


@dataclass
class Outcome:
    """How one job went: `status` DONE or FAILED (an unreadable, damaged or cut input; a crash),
    the counts of its Summary, and the lines to show the user."""

    index: int
    status: str
    frames: int = 0
    face_frames: int = 0
    tracks: int = 0
    seconds: float = 0.0
    error: str = ""
    outputs: tuple[str, ...] = ()
    lines: list[str] = field(default_factory=list)  # the summary and what else went to stdout
    peak_rss_mb: float = 0.0
    rss_mb: float = 0.0  # the worker's resident memory when the job ended: a leak shows here
    worker: str = ""  # host:pid of the process that did it
    attempts: int = 1
    columns: tuple[str, ...] = ()  # the pipeline's CSV header, for joining a split input
    fatal: bool = False  # the worker cannot run anything (its pipeline could not be built)

    @property
    def ok(self) -> bool:
        return self.status != FAILED


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes there, KiB here


def rss_mb() -> float:
    """This process's resident memory now, in MiB (the peak where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


def open_job_source(job: Job, rotate: str):
    """The input opened as `process` reads it (also for --annotate's second pass)."""
    from ..sources import ImageSequenceSource, open_source

    item = job.input
    if job.segment is not None:
        from ..segments import SegmentSource

        return SegmentSource(item.path, job.segment, rotate=rotate)
    if item.images is not None:
        return ImageSequenceSource(list(item.images), fps=job.fps or 1.0, stills=job.stills,
                                   name=item.path, folder=item.path, rotate=rotate)
    return open_source(item.path, stills=job.stills, rotate=rotate)


def run_job(pipeline, job: Job, progress: Callable[[int, int | None], object] | None = None
            ) -> Outcome:
    """Process `job` with `pipeline` (an AffectStream); every error of the input becomes a FAILED
    Outcome that says why. `progress(frames, total)` is called at most every PROGRESS_SECONDS."""
    from ..annotate import annotate_video
    from ..annotate import marks as drawn
    from ..sources import VideoSource

    outcome = Outcome(job.index, FAILED, columns=pipeline.columns)
    marks: list | None = None if job.annotated is None else []
    keep = None if marks is None else (lambda affect: marks.append(drawn(affect)))
    summary = None
    try:
        src = open_job_source(job, pipeline.options.rotate)
        if job.fps is not None and isinstance(src, VideoSource):  # its pts say when
            log.warning("--fps applies to image folders; %s is a video and keeps its own "
                        "timestamps", job.input.path)
        summary = pipeline.run(src, outputs=job.targets, on_result=keep,
                               progress=_throttled(progress, getattr(src, "frame_count", None)))
        outcome.lines.append(str(summary))
        if job.annotated is not None:  # a second pass: the input decoded again, rows drawn on it
            video = annotate_video(open_job_source(job, pipeline.options.rotate), marks,
                                   Path(job.annotated), frames=summary.frames)
            outcome.lines.append(f"{summary.source}: annotated video -> {video}")
        if summary.damaged:
            outcome.error = (f"{summary.source}: damaged: {summary.damage}; its rows are kept in "
                             f"{summary.output}")
        else:
            outcome.status = DONE
    except SourceError as e:  # stopped part-way: the rows before are kept
        summary = getattr(e, "summary", None)
        if summary is not None:
            outcome.lines.append(str(summary))
        outcome.error = str(e)
    except AffectStreamError as e:
        outcome.error = str(e)
    if summary is not None:
        outcome.frames, outcome.face_frames = summary.frames, summary.frames_with_face
        outcome.tracks, outcome.seconds = len(summary.ids), summary.seconds
    outcome.outputs = tuple(p for p in job.outputs if Path(p).is_file())
    outcome.peak_rss_mb, outcome.rss_mb = peak_rss_mb(), rss_mb()
    outcome.worker = f"{socket.gethostname()}:{os.getpid()}"
    return outcome


def _throttled(progress, total: int | None):
    """A pipeline progress callback that calls `progress(frames, total)` now and then."""
    if progress is None:
        return None
    last = [0.0]

    def report(summary) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_SECONDS:
            last[0] = now
            progress(summary.frames, total)

    return report
