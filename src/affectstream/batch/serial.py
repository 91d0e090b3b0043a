"""The in-process engine (`--workers 1`, and any batch of one input): one pipeline in the CLI's own
process, the inputs one after another, as `process` always did."""
from __future__ import annotations

from .jobs import Job, run_job


class InProcess:
    def __init__(self, options):
        self.options = options

    def run(self, jobs: list[Job], events) -> None:
        from ..pipeline import AffectStream

        with AffectStream(self.options) as pipeline:
            for job in jobs:
                def progress(frames: int, total: int | None, index: int = job.index) -> None:
                    events.progress(index, frames, total)

                events.done(run_job(pipeline, job, progress))
