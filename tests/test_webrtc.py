"""The demo's WebRTC server (demo/rtc.py, demo/peer.py) against a real aiortc client in this
process sending a shared clip: results on the data channel, bad input refused, sessions freed."""
from __future__ import annotations

import asyncio
import json
import time

import pytest

pytest.importorskip("aiortc", reason="the demo's WebRTC path needs aiortc (the demo extra)")
pytest.importorskip("gradio", reason="the demo extra is not installed")

DEEP = "[" * 100_000 + "]" * 100_000  # json.loads raises RecursionError on it


@pytest.fixture
def hub(monkeypatch, model):
    monkeypatch.setenv("AFFECTSTREAM_ICE_HOSTS", "127.0.0.1")  # loopback only, both sides
    from affectstream.demo.app import settings_options
    from affectstream.demo.rtc import PeerHub

    peers = PeerHub(settings_options)
    yield peers
    peers.close()


async def _offer(pc):
    await pc.setLocalDescription(await pc.createOffer())
    return {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}


async def _visit(hub, clip, seconds: float, during=None) -> tuple[list[dict], object]:
    """Stream `clip` to the hub for `seconds`; (messages received, the session)."""
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.contrib.media import MediaPlayer

    pc, player, messages = RTCPeerConnection(), MediaPlayer(str(clip)), []
    channel = pc.createDataChannel("affect", ordered=False, maxRetransmits=0)
    channel.on("message", lambda text: messages.append(json.loads(text)))
    pc.addTrack(player.video)
    offer = dict(await _offer(pc), settings={"temporal": "ap", "max_faces": 2})
    answer = await asyncio.get_running_loop().run_in_executor(None, hub.answer, offer)
    assert "error" not in answer, answer
    await pc.setRemoteDescription(RTCSessionDescription(**answer))
    session = next(iter(hub.sessions))
    await asyncio.sleep(seconds)
    if during is not None:
        await during(channel, messages)
    await pc.close()
    player.video.stop()
    return messages, session


def test_a_visitor_gets_a_result_per_judged_frame_and_is_freed(hub, video):
    clip = video("WolfgangLanger_Pexels.mp4")  # 20 s: frames keep coming through the test

    async def misbehave(channel, messages):
        for text in ("not json", "[1, 2]", DEEP, json.dumps({"type": "dance"})):
            channel.send(text)
        channel.send(json.dumps({"type": "settings", "max_faces": "many"}))
        before = len(messages)
        await asyncio.sleep(1.5)
        assert any(m["type"] == "error" and not m["fatal"] and "bad settings" in m["error"]
                   for m in messages[before:])
        assert sum(m["type"] == "affect" for m in messages[before:]) >= 5  # still judging

    messages, session = asyncio.run(_visit(hub, clip, 3.0, misbehave))
    results = [m for m in messages if m["type"] == "affect"]
    assert len(results) >= 20
    faces = [f for m in results for f in m["faces"] if f["detected"]]
    assert len(faces) >= 0.9 * len(results) and all(-1 <= f["valence"] <= 1 for f in faces)
    assert [m["frame"] for m in results] == sorted({m["frame"] for m in results})
    assert all(m["rtp"] is not None and m["width"] == 640 for m in results)
    deadline = time.monotonic() + 15  # the client closed: the session and its pipeline go
    while hub.sessions and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not hub.sessions and session.closed and session.pipeline is None


def test_bad_offers_are_refused_and_leave_nothing(hub):
    assert "error" in hub.answer({"sdp": "garbage", "type": "offer"})
    assert "bad settings" in hub.answer({"sdp": "x", "type": "offer",
                                         "settings": {"max_faces": float("nan")}})["error"]
    assert "bad settings" in hub.answer({"sdp": "x", "type": "offer", "settings": [1]})["error"]
    assert not hub.sessions
