"""Decoding on its own thread: frames flow through a queue while the consumer works on earlier ones.

Offline, the queue holds a few frames and the decoder waits for room; live, it holds only the
newest frame, and a frame nobody has picked up is dropped (and counted) for the next one.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

from .stages import Source
from .types import Frame

QUEUE_FRAMES = 8  # offline read-ahead: enough to hide decoding jitter, little memory
_END = object()


class Decoder:
    """Iterate to get the frames of `source`; `error` holds what stopped it early, if anything."""

    def __init__(self, source: Source, live: bool):
        self.source, self.live = source, live
        self.frames: queue.Queue = queue.Queue(maxsize=1 if live else QUEUE_FRAMES)
        self.stopping = threading.Event()
        self.dropped = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="affectstream-decode", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for frame in self.source:
                if self.stopping.is_set():
                    return
                self._put_live(frame) if self.live else self._put_waiting(frame)
        except BaseException as e:  # handed to the consumer, which raises it after the good frames
            self.error = e
        finally:
            self.frames.put(_END)

    def _put_waiting(self, frame: Frame) -> None:
        while not self.stopping.is_set():
            try:
                self.frames.put(frame, timeout=0.1)
                return
            except queue.Full:
                continue

    def _put_live(self, frame: Frame) -> None:
        try:
            self.frames.put_nowait(frame)
        except queue.Full:
            try:
                self.frames.get_nowait()  # a stale frame nobody has picked up yet
                self.dropped += 1
            except queue.Empty:
                pass
            self.frames.put_nowait(frame)

    def __iter__(self) -> Iterator[Frame]:
        while (item := self.frames.get()) is not _END:
            yield item

    def stop(self) -> None:
        """Stop reading and wait for the thread; safe to call twice."""
        self.stopping.set()
        while self._thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                self.frames.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()
