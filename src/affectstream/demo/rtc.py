"""The webcam tab's WebRTC path: the camera arrives as a video track, results leave on a data
channel, and the browser draws them over its own view of the camera.

One asyncio loop thread (aiortc) serves every visitor. Each visitor's PeerSession keeps only the
newest decoded frame: its judge thread takes it when the previous one is done, so a slow machine
drops stale frames (counted) instead of falling behind the camera. Nothing is written to disk.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time

from ..errors import AffectStreamError
from ..live.records import frame_message
from ..pipeline import AffectStream
from ..types import Frame

log = logging.getLogger("affectstream")
# Test-only: the addresses ICE offers (aioice skips 127.0.0.1; a sandbox may have nothing else)
ICE_HOSTS = "AFFECTSTREAM_ICE_HOSTS"
MAX_BUFFERED = 64 * 1024  # bytes queued on a data channel before results are dropped, not sent
SETUP_SECONDS = 20.0


def available() -> str | None:
    """None when this server can take WebRTC, else why not (the page says it)."""
    try:
        import aiortc  # noqa: F401
    except ImportError:
        return "aiortc is not installed on the server (pip install 'affectstream[demo]')"
    return None


def _restrict_host_candidates(hosts: list[str]) -> None:
    import aioice.ice

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: list(hosts)


def only_hosts(sdp: str, hosts: list[str]) -> str:
    """The SDP without the ICE candidates at other addresses than `hosts`: no check is then
    sent to the browser's other interfaces."""
    def kept(line: str) -> bool:
        fields = line.split()
        return not line.startswith("a=candidate:") or (len(fields) > 4 and fields[4] in hosts)

    return "\r\n".join(line for line in sdp.split("\r\n") if kept(line))


class PeerHub:
    """Every visitor's peer connection, on one event loop thread. `options_for(settings)` makes a
    pipeline's PipelineOptions from the page's settings dict."""

    def __init__(self, options_for):
        self.options_for = options_for
        self.sessions: set[PeerSession] = set()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="affectstream-webrtc",
                                        daemon=True)
        self._thread.start()
        self.hosts = [h.strip() for h in os.environ.get(ICE_HOSTS, "").split(",") if h.strip()]
        if self.hosts:
            _restrict_host_candidates(self.hosts)
        for name in ("aioice", "aiortc"):  # their per-check INFO lines are not the user's news
            logging.getLogger(name).setLevel(logging.WARNING)

    def answer(self, offer: dict) -> dict:
        """The answer to a browser's offer {sdp, type, settings}; {"error": why} on failure."""
        why = available()
        if why is not None:
            return {"error": why}
        try:
            future = asyncio.run_coroutine_threadsafe(self._answer(offer), self.loop)
            return future.result(SETUP_SECONDS)
        except (AffectStreamError, ValueError, KeyError, TypeError) as e:
            return {"error": f"cannot start the WebRTC session: {e}"}
        except TimeoutError:
            return {"error": "the WebRTC session did not start in time"}

    async def _answer(self, offer: dict) -> dict:
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # a direct path; no STUN/TURN
        session = PeerSession(self, pc, offer.get("settings") or {})
        self.sessions.add(session)
        sdp = only_hosts(offer["sdp"], self.hosts) if self.hosts else offer["sdp"]
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=offer["type"]))
        await pc.setLocalDescription(await pc.createAnswer())  # gathers candidates: no trickle
        return {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}

    def close(self) -> None:
        for session in list(self.sessions):
            asyncio.run_coroutine_threadsafe(session.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


class PeerSession:
    """One visitor: frames in from the video track, one JSON message per judged frame out."""

    def __init__(self, hub: PeerHub, pc, settings: dict):
        from .jitter import install

        self.hub, self.pc, self.settings = hub, pc, settings
        self.channel = None
        self.pipeline: AffectStream | None = None
        self.latest = None  # (frame, perf_counter at arrival, index): only the newest is judged
        self.received = self.judged = self.dropped = self.unsent = 0
        self.first_pts = None
        self.last_timestamp = -1.0
        self.closed = False
        self._wake = threading.Condition()
        self._judge = threading.Thread(target=self._judge_frames, name="affectstream-webrtc-judge",
                                       daemon=True)

        @pc.on("datachannel")
        def on_channel(channel):
            self.channel = channel
            channel.on("message", self._on_message)

        @pc.on("track")
        def on_track(track):
            if track.kind != "video":
                return
            for transceiver in pc.getTransceivers():
                if transceiver.receiver.track is track:
                    install(transceiver.receiver)  # no wait for the next frame's first packet
            asyncio.ensure_future(self._receive(track))

        @pc.on("connectionstatechange")
        async def on_state():
            if pc.connectionState in ("failed", "closed"):
                await self.close()

    def _on_message(self, text) -> None:
        """Settings from the page ({"type": "settings", ...}) or a reset ({"type": "reset"})."""
        try:
            message = json.loads(text)
            kind = message["type"]
        except (ValueError, TypeError, KeyError):
            log.info("webrtc: ignored a malformed message from the page: %.80r", text)
            return
        with self._wake:
            if kind == "settings":
                self.settings = {k: v for k, v in message.items() if k != "type"}
            if kind in ("settings", "reset") and self.pipeline is not None:
                self._retire_pipeline()

    def _retire_pipeline(self) -> None:
        """The next frame starts a new pipeline (new tracker and temporal state)."""
        old, self.pipeline = self.pipeline, None
        threading.Thread(target=old.close, daemon=True).start()  # never under the loop

    async def _receive(self, track) -> None:
        from aiortc.mediastreams import MediaStreamError

        if self._judge.ident is None:
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

    def _judge_frames(self) -> None:
        while True:
            with self._wake:
                while self.latest is None and not self.closed:
                    self._wake.wait()
                if self.closed:
                    return
                (frame, arrived, index), self.latest = self.latest, None
                taken = time.perf_counter()
                if self.pipeline is None:
                    try:
                        self.pipeline = AffectStream(self.hub.options_for(self.settings))
                    except AffectStreamError as e:
                        self._send({"type": "error", "error": str(e)})
                        continue
                pipeline = self.pipeline
            try:
                self._send(self._judged(pipeline, frame, arrived, taken, index))
            except AffectStreamError:  # reset or closed under this frame: the next one goes on
                continue

    def _judged(self, pipeline: AffectStream, frame, arrived: float, taken: float,
                index: int) -> dict:
        if self.first_pts is None:
            self.first_pts = frame.pts
        # the sender's capture clock (RTP), strictly rising as MediaPipe's video mode needs
        timestamp = max(float((frame.pts - self.first_pts) * frame.time_base),
                        self.last_timestamp + 0.001)
        self.last_timestamp = timestamp
        image = frame.to_ndarray(format="rgb24")
        rows = pipeline.analyze(Frame(index, timestamp, image, arrived))
        self.judged += 1
        message = frame_message(rows)
        message.update(pts=frame.pts, width=frame.width, height=frame.height,
                       server_ms=round((time.perf_counter() - arrived) * 1000, 2),
                       waited_ms=round((taken - arrived) * 1000, 2),
                       received=self.received, judged=self.judged, dropped=self.dropped,
                       unsent=self.unsent)
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
        await self.pc.close()
        if pipeline is not None:
            await asyncio.get_running_loop().run_in_executor(None, pipeline.close)
        log.info("webrtc: session closed after %d frames received, %d judged, %d stale dropped",
                 self.received, self.judged, self.dropped)
