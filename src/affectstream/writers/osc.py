"""The OSC output (`outputs=[("osc", "127.0.0.1:9000")]`, `webcam --osc HOST:PORT`): UDP datagrams
for installations, music and games (Max, Pure Data, TouchDesigner, SuperCollider, Unity).

Address scheme: one OSC bundle per processed frame (time tag "immediately"), holding

    /affect/frame                 int frame, float timestamp (seconds into the stream), int faces
    /affect/N/detected            int 1: detected in this frame; 0: a held estimate
    /affect/N/valence             float -1...1
    /affect/N/arousal             float -1...1
    /affect/N/valence_std         float, the temporal model's standard deviation
    /affect/N/arousal_std         float
    /affect/N/box                 float x, y, w, h in pixels (detected faces only)
    /affect/N/au/AU12             float 0...5, one message per AU the model gave
    /affect/N/au                  17 floats, AU01 AU02 AU04 AU05 AU06 AU07 AU09 AU10 AU12 AU14
                                  AU15 AU17 AU20 AU23 AU25 AU26 AU45, -1 where the model gave none
    /affect/N/emotion/happiness   float 0...1, one message per emotion (neutral, happiness,
                                  surprise, sadness, anger, disgust, fear, contempt)
    /affect/N/emotion             string the most probable emotion, float its probability

N is the face's face_id (stable while the face is tracked); `faces` counts the face_ids in the
frame. A held estimate (a tracked face the detector missed in this frame) has detected 0 and no
box or emotion; a value a model did not give is not sent. A frame without a face sends only
/affect/frame with 0 faces. Floats are OSC's 32-bit floats. A bundle stays within 8 KB (four faces
take about 6 KB); a frame with more faces than fit continues in further bundles, each holding
whole faces, /affect/frame only in the first.

Sending never waits: a datagram the socket cannot take at once, or that fails (e.g. nobody
listens and the system says so), is dropped and counted; the count is logged at close.
"""
from __future__ import annotations

import logging
import math
import socket

from ..errors import AffectStreamError
from ..live.address import parse_address
from ..registry import register
from ..types import AU_NAMES, Affect

log = logging.getLogger("affectstream")
MAX_BUNDLE = 8192  # bytes: well inside any UDP path, even over a LAN with fragmentation
MISSING_AU = -1.0  # in /affect/N/au: intensities are 0...5, so -1 cannot be a reading
_BUNDLE_HEADER = 16  # "#bundle\0" and the time tag
VALUES = ("valence", "arousal", "valence_std", "arousal_std")


def _osc():
    try:
        from pythonosc import osc_bundle_builder, osc_message_builder
    except ImportError:
        raise AffectStreamError("the OSC output needs python-osc: pip install 'affectstream[osc]'"
                                ) from None
    return osc_message_builder, osc_bundle_builder


def _given(value) -> bool:
    return value is not None and not math.isnan(value)


def frame_messages(rows: list[Affect]) -> list[tuple]:
    """/affect/frame of one frame's rows, as (address, args)."""
    faces = sum(r.track_id is not None for r in rows)
    return [("/affect/frame", (int(rows[0].frame), float(rows[0].timestamp), faces))]


def face_messages(row: Affect) -> list[tuple]:
    """The (address, args) of one face in one frame, in the scheme's order."""
    root = f"/affect/{int(row.track_id)}"
    messages = [(f"{root}/detected", (int(row.success),))]
    messages += [(f"{root}/{name}", (float(getattr(row, name)),)) for name in VALUES
                 if _given(getattr(row, name))]
    if row.box is not None:
        messages.append((f"{root}/box", tuple(float(v) for v in row.box)))
    au = {k: v for k, v in (row.au or {}).items() if _given(v)}
    messages += [(f"{root}/au/{name}", (float(value),)) for name, value in au.items()]
    if au:
        messages.append((f"{root}/au", tuple(float(au.get(a, MISSING_AU)) for a in AU_NAMES)))
    emotion = {k: v for k, v in (row.emotion or {}).items() if _given(v)}
    messages += [(f"{root}/emotion/{name}", (float(p),)) for name, p in emotion.items()]
    if emotion:
        top = max(emotion, key=emotion.get)
        messages.append((f"{root}/emotion", (top, float(emotion[top]))))
    return messages


def frame_bundles(rows: list[Affect]) -> list[bytes]:
    """One frame's datagrams: one bundle, or more when its faces would not fit in MAX_BUNDLE."""
    message_builder, bundle_builder = _osc()

    def built(address, args):
        builder = message_builder.OscMessageBuilder(address)
        for arg in args:
            builder.add_arg(arg)
        return builder.build()

    groups = [frame_messages(rows)] + [face_messages(r) for r in rows if r.track_id is not None]
    bundles, current, size = [], [], _BUNDLE_HEADER
    for group in groups:  # a face is never split across bundles
        messages = [built(address, args) for address, args in group]
        need = sum(4 + m.size for m in messages)  # each element is prefixed by its size
        if current and size + need > MAX_BUNDLE:
            bundles.append(current)
            current, size = [], _BUNDLE_HEADER
        current += messages
        size += need
    bundles.append(current)
    return [_bundle(bundle_builder, messages) for messages in bundles]


def _bundle(bundle_builder, messages) -> bytes:
    builder = bundle_builder.OscBundleBuilder(bundle_builder.IMMEDIATELY)
    for message in messages:
        builder.add_content(message)
    return builder.build().dgram


def resolve(target: str) -> tuple[str, int, tuple]:
    """(host, port, (family, socket address)) of `HOST:PORT`, or one AffectStreamError."""
    host, port = parse_address(target)
    if port == 0:
        raise AffectStreamError(f"{target!r}: the OSC output needs the receiver's port "
                                "(e.g. 127.0.0.1:9000)")
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    except OSError as e:
        raise AffectStreamError(f"{target!r}: cannot find the host {host!r} ({e}); give an "
                                "address like 127.0.0.1:9000") from None
    return host, port, (family, address)


@register("writer", "osc")
class OSCWriter:
    """Each frame as an OSC bundle over UDP (the address scheme is in the module docstring)."""

    live = True
    suffix = None

    def open(self, target: str, columns: tuple[str, ...] = (), options=None) -> None:
        _osc()  # a missing package fails here, before the run
        self.host, self.port, (family, self._address) = resolve(target)
        self._socket = socket.socket(family, socket.SOCK_DGRAM)
        self._socket.setblocking(False)
        self.sent = self.dropped = 0

    def write(self, rows: list[Affect]) -> None:
        for datagram in frame_bundles(rows):
            try:
                self._socket.sendto(datagram, self._address)
                self.sent += 1
            except OSError:  # would block, refused (nobody listens), unreachable: never raised
                self.dropped += 1

    def close(self, complete: bool = True) -> None:
        if self._socket is None:
            return None
        self._socket.close()
        self._socket = None
        level = logging.WARNING if self.dropped else logging.INFO
        log.log(level, "OSC to %s:%d: %d bundles sent, %d dropped", self.host, self.port,
                self.sent, self.dropped)
        return None
