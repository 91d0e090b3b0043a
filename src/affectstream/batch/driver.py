"""`run_batch`: skip what a rerun need not redo, run the rest on an engine, record every input in
the manifest and show one progress display; the same for every engine."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .jobs import FAILED, SKIPPED, Job, Outcome
from .manifest import Identity, Manifest
from .progress import BatchProgress
from .serial import InProcess
from .split import Split, join, split

ENGINES = ("local", "ray")


@dataclass
class Batch:
    """Jobs and how to run them. `options`: PipelineOptions; `workers`: processes or actors;
    `manifest`: None for a single output file (nothing to resume)."""

    jobs: list[Job]
    options: object
    workers: int
    manifest: Manifest | None = None
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (input, why): not jobs
    engine: str = "local"
    address: str | None = None
    overwrite: bool = False
    quiet: bool = False
    split: bool = False  # long videos cut into segments, one per worker


class _Events:
    """What the engines report, passed on to the manifest and the display."""

    def __init__(self, batch: Batch, identities: dict[int, Identity], display: BatchProgress):
        self.batch, self.identities, self.display = batch, identities, display
        self.outcomes: dict[int, Outcome] = {}
        self.splits: dict[int, Split] = {}  # by the index of each of its segment jobs
        self.parts: dict[int, Outcome] = {}

    def progress(self, index: int, frames: int, total: int | None) -> None:
        self.display.frames_done(index, frames, total)

    def done(self, outcome: Outcome, skipped: bool = False) -> None:
        cut = self.splits.get(outcome.index)
        if cut is not None:  # a segment: the input is done when all of them are, joined
            self.parts[outcome.index] = outcome
            self.display.part_done(outcome.index, outcome.frames)
            if any(i not in self.parts for i in cut.parts):
                return
            outcome = join(cut, self.parts, self.batch.options)
        self.outcomes[outcome.index] = outcome
        if self.batch.manifest is not None and not skipped:
            self.batch.manifest.record(self.identities[outcome.index], outcome)
        self.display.finished(outcome, count=not skipped)


def engine_for(batch: Batch, count: int):
    """The engine for `count` jobs: Ray when asked; a pool of processes for several jobs and
    workers; else this process."""
    if batch.engine == "ray":
        from .cluster import RayEngine

        return RayEngine(batch.options.to_json(), batch.workers, batch.address)
    if batch.workers > 1 and count > 1:
        from .pool import ProcessPool

        return ProcessPool(batch.options.to_json(), min(batch.workers, count))
    return InProcess(batch.options)


def run_batch(batch: Batch) -> list[Outcome]:
    """Every job's Outcome, in job order (those finished before a Ctrl-C are in the manifest)."""
    jobs, manifest = batch.jobs, batch.manifest
    single = Path(jobs[0].input.path).name if len(jobs) == 1 else None
    display = BatchProgress(len(jobs), batch.quiet, single)
    identities = ({job.index: Identity.of(job.input.path, job.input.images) for job in jobs}
                  if manifest else {})
    events = _Events(batch, identities, display)
    todo, order = [], []
    try:
        if manifest is not None:  # inputs found unreadable before any work: a row each too
            for path, why in batch.rejected:
                identity = Identity.of(path)
                manifest.record(identity, Outcome(-1, FAILED, error=f"{path}: {why}"))
                order.append(identity.path)
        for job in jobs:
            row = None
            if manifest is not None and not batch.overwrite:
                row = manifest.reusable(job, identities[job.index])
            if row is None:
                todo.append(job)
                continue
            manifest.skipped(row)
            events.done(_skipped(job, row), skipped=True)
        if batch.split:
            todo = _split(todo, batch, events)
        if todo:
            engine = engine_for(batch, len(todo))
            if not isinstance(engine, InProcess):  # one process keeps the order given
                # the largest first: a long file started last would keep one worker busy alone
                todo.sort(key=lambda job: -_size(identities, job))
            engine.run(todo, events)
    finally:
        display.close()
        if manifest is not None:
            manifest.close(order + [identities[job.index].path for job in jobs])
    return [events.outcomes[job.index] for job in jobs if job.index in events.outcomes]


def _split(jobs: list[Job], batch: Batch, events: _Events) -> list[Job]:
    """The jobs with each long video replaced by its segments' jobs."""
    out, next_index = [], max(job.index for job in batch.jobs) + 1
    for job in jobs:
        cut = split(job, batch.workers, next_index)
        if cut is None:
            out.append(job)
            continue
        events.splits.update(dict.fromkeys(cut[0].parts, cut[0]))
        next_index += len(cut[1])
        out += cut[1]
    return out


def _size(identities: dict[int, Identity], job: Job) -> int:
    identity = identities.get(job.index) or Identity.of(job.input.path, job.input.images)
    return identity.size


def _skipped(job: Job, row: dict[str, str]) -> Outcome:
    return Outcome(job.index, SKIPPED, frames=int(row["frames"]),
                   face_frames=int(row["face_frames"]), tracks=int(row["tracks"]),
                   seconds=float(row["seconds"]), outputs=job.outputs,
                   lines=[f"{job.input.path}: skipped, done earlier with the same options "
                          f"-> {row['output']} (--overwrite redoes it)"])
