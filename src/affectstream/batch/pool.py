"""The local engine: N worker processes on this machine, each with a warm pipeline, one whole
input at a time.

Python's ProcessPoolExecutor cannot be used: when one worker dies it fails every file in flight and
stops the pool. Here each worker has its own pipe, and the supervisor waits on the pipes and on the
processes themselves, so a worker that dies (segfault, OOM kill, `kill -9`) loses only the file it
held: that file is given to a fresh worker once more, then recorded as failed.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import wait

from .. import heap
from ..cores import THREAD_VARIABLES
from ..errors import AffectStreamError
from .jobs import FAILED, Job, Outcome
from .worker import serve

ATTEMPTS = 2  # a file whose worker dies is tried once more
STARTUP_DEATHS = 3  # workers dying before they are ready: the pipeline cannot run here
STOP_SECONDS = 10.0


@dataclass(eq=False)
class _Worker:
    process: multiprocessing.Process
    conn: object
    job: Job | None = None
    ready: bool = False


def death(exitcode: int | None) -> str:
    """`killed by SIGKILL` / `exit code 3`: how a worker process ended."""
    if exitcode is not None and exitcode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"


class ProcessPool:
    """Runs jobs on `workers` processes built from `options_json` (PipelineOptions JSON)."""

    def __init__(self, options_json: str, workers: int):
        self.options_json, self.size = options_json, max(1, workers)
        self._context = multiprocessing.get_context("spawn")  # fork would copy MediaPipe's threads
        self._workers: list[_Worker] = []

    def run(self, jobs: list[Job], events) -> None:
        """Every job's Outcome to `events.done`, progress to `events.progress(index, frames,
        total)`. Ctrl-C stops the workers (their current files keep their `.partial` names)."""
        pending = deque(jobs)
        self._deaths = {job.index: 0 for job in jobs}  # how often a worker died holding it
        startup_deaths = 0
        try:
            for _ in range(min(self.size, len(jobs))):
                self._start()
            while pending or any(w.job for w in self._workers):
                for ready in wait([w.conn for w in self._workers]
                                  + [w.process.sentinel for w in self._workers]):
                    worker = self._owner(ready)
                    if worker is None:
                        continue
                    if ready is worker.conn and self._receive(worker, pending, events):
                        continue
                    # the process ended (or its pipe broke): what it held is tried again
                    self._workers.remove(worker)
                    worker.process.join(1.0)
                    how = death(worker.process.exitcode)
                    if not worker.ready:
                        startup_deaths += 1
                        if startup_deaths >= STARTUP_DEATHS:
                            raise AffectStreamError(f"worker processes die as they start ({how})")
                    if worker.job is not None:
                        self._lost(worker.job, how, pending, events)
                    if pending and len(self._workers) < self.size:
                        self._start()
        finally:
            self._stop()

    def _start(self) -> None:
        parent, child = self._context.Pipe()
        process = self._context.Process(target=serve, args=(self.options_json, child),
                                        name="affectstream-worker", daemon=True)
        with _capped_environment():
            process.start()
        child.close()
        self._workers.append(_Worker(process, parent))

    def _owner(self, ready) -> _Worker | None:
        return next((w for w in self._workers if ready in (w.conn, w.process.sentinel)), None)

    def _receive(self, worker: _Worker, pending: deque, events) -> bool:
        """Read the worker's messages; False when its pipe is closed (the process is gone)."""
        try:
            while worker.conn.poll():
                message = worker.conn.recv()
                kind = message[0]
                if kind == "broken":
                    raise AffectStreamError(message[1])
                if kind == "progress":
                    events.progress(*message[1:])
                    continue
                if kind == "done":
                    outcome = message[1]
                    outcome.attempts = self._deaths[outcome.index] + 1
                    worker.job = None
                    events.done(outcome)
                worker.ready = True  # "ready" or "done": free for the next job
                self._give(worker, pending)
        except (EOFError, OSError):
            return False
        return True

    def _give(self, worker: _Worker, pending: deque) -> None:
        if worker.job is None and pending:
            worker.job = pending.popleft()
            worker.conn.send(worker.job)

    def _lost(self, job: Job, how: str, pending: deque, events) -> None:
        self._deaths[job.index] += 1
        deaths = self._deaths[job.index]
        if deaths < ATTEMPTS:
            pending.appendleft(job)
            return
        partial = [p + ".partial" for p in job.outputs if os.path.exists(p + ".partial")]
        kept = f"; the rows written so far are in {', '.join(partial)}" if partial else ""
        events.done(Outcome(job.index, FAILED, attempts=deaths,
                            error=f"{job.input.path}: the worker process died while processing "
                                  f"it ({how}), {deaths} times{kept}"))

    def _stop(self) -> None:
        for worker in self._workers:
            with contextlib.suppress(OSError, ValueError):
                worker.conn.send(None)
        for worker in self._workers:
            worker.process.join(STOP_SECONDS if worker.job is None else 0.0)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(STOP_SECONDS)
            worker.conn.close()
        self._workers = []


@contextlib.contextmanager
def _capped_environment():
    """The native thread caps and the heap's arena limit in the environment a new process
    inherits, then as before."""
    settings = {**{name: "1" for name in THREAD_VARIABLES}, **heap.ENVIRONMENT}
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
