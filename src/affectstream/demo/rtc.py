"""The webcam tab's WebRTC path: the camera arrives as a video track, results leave on a data
channel, and the browser draws them over its own view of the camera.

PeerHub answers each visitor's offer and holds every peer connection on one asyncio loop thread
(aiortc); each visitor is a PeerSession (peer.py) with its own pipeline. Nothing is written to
disk. A session ends when its peer connection closes (Stop, the tab closing), fails (aioice's
consent checks, about 30 s after a browser vanishes), or has not connected SETUP_SECONDS after its
offer.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading

from ..errors import AffectStreamError
from .peer import BAD_SETTINGS, PeerSession

log = logging.getLogger("affectstream")
# Test-only: the addresses ICE offers (aioice skips 127.0.0.1; a sandbox may have nothing else)
ICE_HOSTS = "AFFECTSTREAM_ICE_HOSTS"
MAX_SESSIONS = 4  # each holds a pipeline (~150 MB) and a judging thread
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
    pipeline's PipelineOptions from the page's settings dict (raising on bad values)."""

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
            self.options_for(offer.get("settings") or {})
        except BAD_SETTINGS as e:
            return {"error": f"bad settings: {e}"}
        if len(self.sessions) >= MAX_SESSIONS:
            return {"error": f"the server is busy ({MAX_SESSIONS} live sessions)"}
        try:
            future = asyncio.run_coroutine_threadsafe(self._answer(offer), self.loop)
            return future.result(SETUP_SECONDS)
        except (AffectStreamError, ValueError, KeyError, TypeError, AttributeError) as e:
            return {"error": f"cannot start the WebRTC session: {e}"}
        except TimeoutError:
            return {"error": "the WebRTC session did not start in time"}

    async def _answer(self, offer: dict) -> dict:
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # a direct path; no STUN/TURN
        session = PeerSession(self, pc, offer.get("settings") or {})
        self.sessions.add(session)
        try:
            sdp = only_hosts(offer["sdp"], self.hosts) if self.hosts else offer["sdp"]
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=offer["type"]))
            if not any(t.kind == "video" for t in pc.getTransceivers()):
                raise ValueError("the offer sends no video")
            await pc.setLocalDescription(await pc.createAnswer())  # gathers candidates
        except BaseException:
            await session.close()  # a bad offer leaves nothing behind
            raise
        self.loop.call_later(SETUP_SECONDS, session.expire)
        return {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}

    def close(self) -> None:
        for session in list(self.sessions):
            asyncio.run_coroutine_threadsafe(session.close(), self.loop).result(10)
        asyncio.run_coroutine_threadsafe(_finish_tasks(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


async def _finish_tasks() -> None:
    """Cancel what is left on the loop (closed sessions' readers) and let it end before the loop
    stops."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
