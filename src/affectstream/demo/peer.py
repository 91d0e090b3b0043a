"""One WebRTC visitor: frames in from its video track, one JSON message per judged frame out on
its data channel.

Only the newest decoded frame is kept: the judge thread takes it when the previous one is done,
so a slow machine skips stale frames (counted) instead of falling behind the camera. The event
loop thread never waits for the models: pipelines are built and judged on the judge thread.
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
import time

from ..errors import AffectStreamError
from ..live.records import frame_message
from ..pipeline import AffectStream
from ..types import Frame

log = logging.getLogger("affectstream")
MAX_BUFFERED = 64 * 1024  # bytes queued on a data channel before results are dropped, not sent
RTP_WRAP = 2**32
# what settings a page sends can raise when turned into PipelineOptions
BAD_SETTINGS = (AffectStreamError, TypeError, ValueError, OverflowError, AttributeError)


class PeerSession:
    """One visitor's peer connection, pipeline and counters (see the module's docstring)."""

    def __init__(self, hub, pc, settings: dict):
        self.hub, self.pc, self.settings = hub, pc, settings
        self.generation = 0  # bumped by settings and reset: a pipeline of an older one is stale
        self.channel = self.video = self.buffer = None
        self.pipeline: AffectStream | None = None
        self.latest = None  # (frame, perf_counter at arrival, index): only the newest is judged
        self.received = self.judged = self.dropped = self.unsent = 0
        self.last_timestamp = -1.0
        self.closed = False
        self._wake = threading.Condition()
        self._judge = threading.Thread(target=self._judge_frames, name="affectstream-webrtc-judge",
                                       daemon=True)
        self._tasks: set[asyncio.Task] = set()  # the track readers, cancelled at close
        pc.on("datachannel", self._on_channel)
        pc.on("track", self._on_track)
        pc.on("connectionstatechange", self._on_state)

    def _on_channel(self, channel) -> None:
        self.channel = channel
        channel.on("message", self._on_message)

    def _on_track(self, track) -> None:
        from .jitter import install

        if track.kind != "video" or self.video is not None:
            self._tasks.add(asyncio.ensure_future(self._discard(track)))  # audio, a 2nd camera
            return
        self.video = track
        for transceiver in self.pc.getTransceivers():
            if transceiver.receiver.track is track:
                self.buffer = install(transceiver.receiver)  # no wait for the next frame
        self._tasks.add(asyncio.ensure_future(self._receive(track)))

    async def _on_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            await self.close()

    def expire(self) -> None:
        """Close the session if it never connected (an offer whose browser went away)."""
        if not self.closed and self.pc.connectionState != "connected":
            asyncio.ensure_future(self.close())

    def _on_message(self, text) -> None:
        """Settings from the page ({"type": "settings", ...}) or a reset ({"type": "reset"})."""
        try:
            message = json.loads(text)
            kind = message["type"]
        except (ValueError, TypeError, KeyError, RecursionError):
            log.info("webrtc: ignored a malformed message from the page: %.80r", text)
            return
        if kind == "settings":
            settings = {k: v for k, v in message.items() if k != "type"}
            if settings == self.settings:
                return
            try:
                self.hub.options_for(settings)
            except BAD_SETTINGS as e:
                self._send({"type": "error", "error": f"bad settings: {e}", "fatal": False})
                return
        elif kind != "reset":
            log.info("webrtc: ignored a message of unknown type %.40r", kind)
            return
        with self._wake:
            if kind == "settings":
                self.settings = settings
            self.generation += 1
            old, self.pipeline = self.pipeline, None
        if old is not None:  # the next frame starts a new tracker and temporal state
            threading.Thread(target=old.close, daemon=True).start()

    async def _discard(self, track) -> None:
        from aiortc.mediastreams import MediaStreamError

        while not self.closed:
            try:
                await track.recv()
            except MediaStreamError:
                return

    async def _receive(self, track) -> None:
        from aiortc.mediastreams import MediaStreamError

        self._judge.start()
        while not self.closed:
            try:
                frame = await track.recv()
            except MediaStreamError:
                break
            with self._wake:
                if self.latest is not None:
                    self.dropped += 1  # the judge was busy: this stale frame is skipped
                self.latest = (frame, time.perf_counter(), self.received)
                self.received += 1
                self._wake.notify()
        await self.close()

    def _next(self):
        """(frame, arrival, index, time taken, pipeline or None, settings, generation); None
        once closed."""
        with self._wake:
            while self.latest is None and not self.closed:
                self._wake.wait()
            if self.closed:
                return None
            (frame, arrived, index), self.latest = self.latest, None
            return (frame, arrived, index, time.perf_counter(), self.pipeline, self.settings,
                    self.generation)

    def _judge_frames(self) -> None:
        while (taken := self._next()) is not None:
            frame, arrived, index, started, pipeline, settings, generation = taken
            if pipeline is None and (pipeline := self._build(settings, generation)) is None:
                continue
            try:
                self._send(self._judged(pipeline, frame, arrived, started, index))
            except AffectStreamError:  # reset or closed under this frame: the next one goes on
                continue
            except Exception as e:  # a bug must end the session loudly, not leave it mute
                log.exception("webrtc: judging a frame failed")
                self._send({"type": "error", "error": f"the server failed: {e}", "fatal": True})
                asyncio.run_coroutine_threadsafe(self.close(), self.hub.loop)
                return

    def _build(self, settings: dict, generation: int) -> AffectStream | None:
        """A pipeline for `settings`, kept if they are still current (outside the lock: loading
        the models takes a while)."""
        try:
            pipeline = AffectStream(self.hub.options_for(settings))
        except AffectStreamError as e:
            self._send({"type": "error", "error": str(e), "fatal": True})
            asyncio.run_coroutine_threadsafe(self.close(), self.hub.loop)
            return None
        with self._wake:
            current = not self.closed and generation == self.generation
            if current:
                self.pipeline = pipeline
        if not current:
            pipeline.close()
            return None
        return pipeline

    def _judged(self, pipeline: AffectStream, frame, arrived: float, started: float,
                index: int) -> dict:
        # the sender's capture clock (RTP, from the first frame), strictly rising for MediaPipe
        timestamp = max(float(frame.pts * frame.time_base), self.last_timestamp + 0.001)
        self.last_timestamp = timestamp
        rows = pipeline.analyze(Frame(index, timestamp, frame.to_ndarray(format="rgb24"),
                                      arrived))
        self.judged += 1
        message = frame_message(rows)
        first = None if self.buffer is None else self.buffer.first_timestamp
        message.update(
            captured=None,  # unknown here: the page times capture → painted itself
            pts=frame.pts, rtp=None if first is None else (first + frame.pts) % RTP_WRAP,
            width=frame.width, height=frame.height,
            server_ms=round((time.perf_counter() - arrived) * 1000, 2),
            waited_ms=round((started - arrived) * 1000, 2), received=self.received,
            judged=self.judged, dropped=self.dropped, unsent=self.unsent)
        return message

    def _send(self, message: dict) -> None:
        text = json.dumps(message, separators=(",", ":"))
        self.hub.loop.call_soon_threadsafe(self._send_now, text)

    def _send_now(self, text: str) -> None:
        channel = self.channel
        if channel is None or channel.readyState != "open":
            return
        if channel.bufferedAmount > MAX_BUFFERED:  # the page is not reading: newer results win
            self.unsent += 1
            return
        channel.send(text)

    async def close(self) -> None:
        if self.closed:
            return
        with self._wake:
            self.closed = True
            self._wake.notify()
            pipeline, self.pipeline = self.pipeline, None
        self.hub.sessions.discard(self)
        current = asyncio.current_task()
        for task in self._tasks - {current}:
            task.cancel()
        await self.pc.close()
        if pipeline is not None:  # waits for a frame being judged, off the event loop
            await asyncio.get_running_loop().run_in_executor(None, pipeline.close)
        log.info("webrtc: session closed after %d frames received, %d judged, %d stale dropped",
                 self.received, self.judged, self.dropped)
