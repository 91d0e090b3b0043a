"""A batch worker: one warm pipeline built from the batch's options, then jobs until told to stop.

Used by the process pool (`serve`, over a pipe) and by Ray actors (`warm_pipeline`). Only light
modules are imported at the top: the native thread pools are capped before NumPy and PyTorch load.
"""
from __future__ import annotations

import os
import signal
import time

from ..cores import cap_native_threads


def warm_pipeline(options_json: str):
    """An AffectStream for `options_json`, in a process that runs one job at a time."""
    cap_native_threads(1)
    from ..logs import filter_native_logs
    from ..options import PipelineOptions
    from ..pipeline import AffectStream

    filter_native_logs()
    return AffectStream(PipelineOptions.from_json(options_json))


def serve(options_json: str, conn) -> None:
    """The pool's worker loop. Messages out: ("ready", pid), ("broken", why) when the pipeline
    cannot be built, ("progress", index, frames, total), ("done", outcome). In: a Job, or None to
    stop."""
    # Ctrl-C reaches the whole process group: the driver decides, and stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from ..errors import AffectStreamError

    try:
        pipeline = warm_pipeline(options_json)
    except AffectStreamError as e:
        conn.send(("broken", str(e)))
        return
    from .jobs import run_job

    conn.send(("ready", os.getpid()))
    with pipeline:
        while (job := conn.recv()) is not None:
            started = time.perf_counter()

            def progress(frames: int, total: int | None, index: int = job.index) -> None:
                conn.send(("progress", index, frames, total))

            outcome = run_job(pipeline, job, progress)
            outcome.seconds = outcome.seconds or time.perf_counter() - started
            conn.send(("done", outcome))
