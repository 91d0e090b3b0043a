"""A video jitter buffer that hands a frame on as soon as its last packet arrives.

aiortc's JitterBuffer (1.16) knows a frame is complete only when a packet of the NEXT frame
arrives, so every frame waits one frame interval (40 ms at 25 fps, measured on loopback) before it
is decoded. The sender marks a frame's last RTP packet (the marker bit, RFC 7741 for VP8, RFC
6184 for H.264): when the packets from the buffer's start up to a marked one are all present and
belong to one frame, that frame is complete now.
"""
from __future__ import annotations

import logging

from aiortc.jitterbuffer import JitterBuffer, JitterFrame

log = logging.getLogger("affectstream")
_RECEIVER_BUFFER = "_RTCRtpReceiver__jitter_buffer"  # aiortc's private attribute, checked below


class MarkerJitterBuffer(JitterBuffer):
    """JitterBuffer that completes a frame on its marked last packet."""

    def add(self, packet):
        pli, frame = super().add(packet)
        if frame is None and packet.marker:
            frame = self._complete_at_start(packet.timestamp)
        return pli, frame

    def _complete_at_start(self, timestamp: int) -> JitterFrame | None:
        """The frame at the buffer's start, if its packets are all here and the last is marked."""
        packets = []
        for count in range(self.capacity):
            packet = self._packets[(self._origin + count) % self.capacity]
            if packet is None or packet.timestamp != timestamp:
                return None  # a gap, or an older incomplete frame first
            packets.append(packet)
            if packet.marker:
                self.remove(count + 1)
                return JitterFrame(data=b"".join(p._data for p in packets), timestamp=timestamp)
        return None


def install(receiver) -> bool:
    """Give a video RTCRtpReceiver the marker-aware buffer; False (and a log line) when this
    aiortc keeps its buffer elsewhere, in which case frames simply arrive one interval later."""
    if not isinstance(getattr(receiver, _RECEIVER_BUFFER, None), JitterBuffer):
        log.info("webrtc: this aiortc has no replaceable jitter buffer; frames wait one interval")
        return False
    setattr(receiver, _RECEIVER_BUFFER, MarkerJitterBuffer(capacity=512, is_video=True))
    return True
