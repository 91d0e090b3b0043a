"""`--split`: one long video as several jobs, one per time segment (segments.py), each written to
a spool file by whichever worker takes it; when the last of them is in, the driver joins the
spools into the input's real outputs (one id per face across the borders) and removes them.
"""
from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import AffectStreamError
from .jobs import DONE, FAILED, Job, Outcome

WARMUP_SECONDS = 3.0  # decoded before each segment: the tracker and the temporal models settle
MIN_SEGMENT_SECONDS = 3 * WARMUP_SECONDS  # shorter, and the warm-ups cost more than they save
log = logging.getLogger("affectstream")


class SpoolWriter:
    """A segment's rows to its spool file, frame by frame (the Writer interface)."""

    suffix = ".spool"

    def open(self, path, columns, options=None) -> None:
        from ..segments import Spool

        self.path, self.columns = Path(path), tuple(columns)
        self._spool = Spool(self.path)

    def write(self, rows) -> None:
        self._spool.write(rows)

    def close(self, complete: bool = True) -> Path:
        return self._spool.close(complete)


@dataclass
class Split:
    """One input cut into `segments`, whose jobs' indices are `parts` (in segment order)."""

    job: Job
    segments: list
    parts: list[int]
    folder: Path
    started: float

    @property
    def spools(self) -> list[Path]:
        return [self.folder / f"segment-{s.index}.spool" for s in self.segments]


def split(job: Job, pieces: int, first_index: int) -> tuple[Split, list[Job]] | None:
    """The segment jobs of `job` (indices from `first_index`); None when it is not split (not a
    video file, too short, or its timestamps do not say safely which frame is which)."""
    from ..segments import plan

    if job.input.images is not None or "://" in job.input.path or not job.targets:
        return None
    try:
        segments = plan(job.input.path, pieces, WARMUP_SECONDS, MIN_SEGMENT_SECONDS)
    except AffectStreamError as e:
        log.warning("%s: processed whole, not split: %s", job.input.path, e)
        return None
    if len(segments) < 2:
        return None
    first = Path(job.targets[0][1])
    cut = Split(job, segments, [first_index + k for k in range(len(segments))],
                first.parent / f".{first.name}.segments", time.perf_counter())
    cut.folder.mkdir(parents=True, exist_ok=True)
    parts = [replace(job, index=index, targets=((SpoolWriter, str(spool)),), segment=segment)
             for index, segment, spool in zip(cut.parts, segments, cut.spools)]
    return cut, parts


def join(cut: Split, outcomes: dict[int, Outcome], options) -> Outcome:
    """The input's Outcome after its segments' `outcomes`: their spools joined into its outputs
    (every row up to the first segment that failed), then removed."""
    from ..pipeline import open_writer
    from ..segments import join as joined_rows
    from ..segments import read_spool
    from ..writers import close_all, write_all

    parts = [outcomes[i] for i in cut.parts]
    failed = next((o for o in parts if not o.ok), None)
    outcome = Outcome(cut.job.index, FAILED, error=failed.error if failed else "",
                      attempts=max(o.attempts for o in parts),
                      peak_rss_mb=max(o.peak_rss_mb for o in parts),
                      rss_mb=max(o.rss_mb for o in parts),
                      worker=",".join(sorted({o.worker for o in parts if o.worker})))
    columns = next((o.columns for o in parts if o.columns), None)
    if columns is None:  # no segment ran at all (their workers died)
        shutil.rmtree(cut.folder, ignore_errors=True)
        return outcome
    writers = [open_writer(f, p, columns, options) for f, p in cut.job.targets]
    ids: set[int] = set()
    complete = False
    try:
        for rows in joined_rows(cut.segments, (read_spool(s) for s in cut.spools)):
            write_all(writers, rows)
            outcome.frames += 1
            detected = [r.track_id for r in rows if r.success]
            outcome.face_frames += bool(detected)
            ids.update(detected)
        complete = True
    except AffectStreamError as e:  # a segment that stopped early: the rows before it stay
        complete = True
        outcome.error = outcome.error or str(e)
    finally:
        files, failure = close_all(writers, complete)
        shutil.rmtree(cut.folder, ignore_errors=True)
    if failure is not None:
        outcome.error = str(failure)
    outcome.status = DONE if not outcome.error else FAILED
    outcome.tracks, outcome.seconds = len(ids), time.perf_counter() - cut.started
    outcome.outputs = tuple(str(f) for f in files if Path(f).is_file() and complete)
    fps = outcome.frames / outcome.seconds if outcome.seconds else 0.0
    outcome.lines.append(f"{cut.job.input.path}: {outcome.frames} frames, {outcome.face_frames} "
                         f"with a face, {outcome.tracks} track(s), {fps:.1f} fps, in "
                         f"{len(cut.segments)} segments -> {files[0] if files else '(none)'}")
    return outcome
