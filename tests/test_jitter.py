"""The demo's WebRTC jitter buffer: a frame leaves on its marked last packet, whatever the order
its packets came in; padding never reaches the decoder; losses wait as aiortc's own buffer does."""
from __future__ import annotations

import pytest

pytest.importorskip("aiortc", reason="the demo's WebRTC path needs aiortc (the demo extra)")

from aiortc.rtp import RtpPacket  # noqa: E402

from affectstream.demo.jitter import MarkerJitterBuffer  # noqa: E402


def packet(seq: int, timestamp: int, data: bytes, marker: bool = False) -> RtpPacket:
    p = RtpPacket(sequence_number=seq, timestamp=timestamp, marker=int(marker))
    p._data = data  # what aiortc's depayloader leaves on a packet
    return p


def feed(buffer, packets) -> list[tuple[int, bytes]]:
    """(timestamp, data) of every frame the buffer releases, in order."""
    out = []
    for p in packets:
        _, frame = buffer.add(p)
        if frame is not None:
            out.append((frame.timestamp, frame.data))
    return out


def test_a_frame_leaves_with_its_marked_last_packet():
    buffer = MarkerJitterBuffer(capacity=64, is_video=True)
    assert feed(buffer, [packet(1, 900, b"a"), packet(2, 900, b"b")]) == []
    assert feed(buffer, [packet(3, 900, b"c", marker=True)]) == [(900, b"abc")]
    assert feed(buffer, [packet(4, 1800, b"d", marker=True)]) == [(1800, b"d")]
    assert buffer.first_timestamp == 900


def test_a_late_middle_packet_completes_the_frame_when_it_comes():
    buffer = MarkerJitterBuffer(capacity=64, is_video=True)
    assert feed(buffer, [packet(10, 5, b"a"), packet(12, 5, b"c", marker=True)]) == []
    assert feed(buffer, [packet(11, 5, b"b")]) == [(5, b"abc")]


def test_padding_behind_a_released_frame_is_never_a_frame():
    buffer = MarkerJitterBuffer(capacity=64, is_video=True)
    released = feed(buffer, [packet(1, 100, b"x", marker=True), packet(2, 100, b""),
                             packet(3, 100, b""), packet(4, 200, b"y"),
                             packet(5, 200, b"z", marker=True)])
    assert released == [(100, b"x"), (200, b"yz")]


def test_a_lost_packet_holds_its_frame_as_the_stock_buffer_does():
    buffer = MarkerJitterBuffer(capacity=64, is_video=True)
    lost_middle = [packet(1, 100, b"a"), packet(3, 100, b"c", marker=True)]
    assert feed(buffer, lost_middle + [packet(4, 200, b"d", marker=True)]) == []
    assert feed(buffer, [packet(2, 100, b"b")]) == [(100, b"abc")]  # the retransmission
    # one frame leaves per packet (aiortc's interface), so frame 200 leaves with the next packet,
    # and the buffer is level again with the next frame of two packets
    assert feed(buffer, [packet(5, 300, b"e", marker=True)]) == [(200, b"d")]
    assert feed(buffer, [packet(6, 400, b"f")]) == [(300, b"e")]
    assert feed(buffer, [packet(7, 400, b"g", marker=True)]) == [(400, b"fg")]


def test_unmarked_frames_still_leave_when_the_next_one_starts():
    buffer = MarkerJitterBuffer(capacity=64, is_video=True)  # a sender that never marks
    assert feed(buffer, [packet(1, 100, b"a"), packet(2, 100, b"b")]) == []
    assert feed(buffer, [packet(3, 200, b"c")]) == [(100, b"ab")]
