"""A video jitter buffer that hands a frame on as soon as its last packet arrives.

aiortc's JitterBuffer (1.16) knows a frame is complete only when a packet of the NEXT frame
arrives, so every frame waits one frame interval (40 ms at 25 fps, measured on loopback) before it
is decoded. The sender marks a frame's last RTP packet (the marker bit, RFC 7741 for VP8, RFC
6184 for H.264): when the packets from the buffer's start up to a marked one are all present and
belong to one frame, that frame is complete now. Padding packets (no payload) that trail a frame
already released are dropped: decoding an empty frame would flush, and so end, the decoder.
"""
from __future__ import annotations

import logging

from aiortc.jitterbuffer import JitterBuffer, JitterFrame

log = logging.getLogger("affectstream")
_RECEIVER_BUFFER = "_RTCRtpReceiver__jitter_buffer"  # aiortc's private attribute, checked below


class MarkerJitterBuffer(JitterBuffer):
    """JitterBuffer that completes a frame on its marked last packet. `first_timestamp`: the raw
    RTP timestamp of the first frame released (aiortc's pts count from it)."""

    first_timestamp: int | None = None

    def add(self, packet):
        pli, frame = super().add(packet)
        if frame is not None and not frame.data:
            frame = None  # padding behind a frame released on its marker: nothing to decode
        if frame is None:
            frame = self._complete_at_start()
        if frame is not None and self.first_timestamp is None:
            self.first_timestamp = frame.timestamp
        return pli, frame

    def _complete_at_start(self) -> JitterFrame | None:
        """The frame at the buffer's start, if its packets are all here and the last is marked."""
        packets: list = []
        for count in range(self.capacity):
            packet = self._packets[(self._origin + count) % self.capacity]
            if packet is None:
                return None  # not here yet, or lost (the stock rules then apply)
            if packets and packet.timestamp != packets[0].timestamp:
                if any(p._data for p in packets):
                    return None  # an unmarked frame: released when the next one starts
                self.remove(count)  # stray padding of an earlier frame
                return self._complete_at_start()
            packets.append(packet)
            if packet.marker and any(p._data for p in packets):
                self.remove(count + 1)
                return JitterFrame(data=b"".join(p._data for p in packets),
                                   timestamp=packet.timestamp)
        return None


def install(receiver) -> MarkerJitterBuffer | None:
    """Give a video RTCRtpReceiver the marker-aware buffer; None (and a log line) when this
    aiortc keeps its buffer elsewhere, in which case frames simply arrive one interval later."""
    if not isinstance(getattr(receiver, _RECEIVER_BUFFER, None), JitterBuffer):
        log.info("webrtc: this aiortc has no replaceable jitter buffer; frames wait one interval")
        return None
    buffer = MarkerJitterBuffer(capacity=512, is_video=True)
    setattr(receiver, _RECEIVER_BUFFER, buffer)
    return buffer
