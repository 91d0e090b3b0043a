"""The Lab Streaming Layer output (`outputs=[("lsl", "affectstream")]`, `webcam --lsl`).

One outlet per session, type `Affect`, float32, irregular rate (the live pipeline drops stale
frames, so samples come as fast as frames are processed, not on a grid). Each sample is one face
in one processed frame, its channels as live/records.py's SAMPLE_CHANNELS lists them (face_id,
detected, frame, valence, arousal, their std, the AUs, emotion probabilities; NaN where a value is
missing), with labels, units and types in the stream's `desc()/channels`. All faces of a frame are
pushed together and share the frame's timestamp; a frame without a face gives one sample with
face_id −1. A consumer tells faces apart by the face_id channel, frames by the frame channel.

Timestamps are the frame's *capture* instant on the LSL clock (`pylsl.local_clock()`), not the
time of sending: the offset between LSL's clock and `time.perf_counter()` (both monotonic) is
measured once at open. An inlet's `time_correction()` maps them onto its own machine's clock.

The stream's source_id depends only on this machine and the stream name, so an inlet reconnects
by itself when the pipeline restarts. Samples pushed while no inlet is connected reach no one (as
always with LSL); `LSLWriter.waiting(seconds)` is a writer that waits for a first inlet before the
run starts. A slow inlet never slows the pipeline: liblsl queues samples per inlet, up to a bound
(`MAX_BUFFERED`), and drops the oldest.
"""
from __future__ import annotations

import socket
import time

from ..errors import AffectStreamError
from ..live.records import SAMPLE_CHANNELS, sample
from ..registry import register
from ..types import Affect

STREAM_TYPE = "Affect"
DEFAULT_NAME = "affectstream"
MAX_BUFFERED = 60  # per inlet, in hundreds of samples (irregular rate): ~3 min at 30 faces/s
LAYOUT = ("one sample per face per processed frame; all faces of a frame share its timestamp "
          "(the capture instant); a frame without a face gives one sample with face_id -1")


def _pylsl():
    try:
        import pylsl
    except ImportError:  # also an installed pylsl whose liblsl cannot load
        raise AffectStreamError("the LSL output needs pylsl: pip install 'affectstream[lsl]'"
                                ) from None
    return pylsl


def clock_offset(pylsl) -> float:
    """local_clock() − perf_counter(), read between two perf_counter() calls."""
    before = time.perf_counter()
    lsl = pylsl.local_clock()
    return lsl - (before + time.perf_counter()) / 2


def stream_info(pylsl, name: str, options=None):
    """The StreamInfo of an affectstream outlet called `name`, channel metadata included."""
    info = pylsl.StreamInfo(name, STREAM_TYPE, len(SAMPLE_CHANNELS), pylsl.IRREGULAR_RATE,
                            pylsl.cf_float32, f"affectstream@{socket.gethostname()}/{name}")
    channels = info.desc().append_child("channels")
    for label, unit, kind in SAMPLE_CHANNELS:
        channel = channels.append_child("channel")
        channel.append_child_value("label", label)
        channel.append_child_value("unit", unit)
        channel.append_child_value("type", kind)
    from .. import __version__

    acquisition = info.desc().append_child("acquisition")
    acquisition.append_child_value("manufacturer", "affectstream")
    acquisition.append_child_value("version", __version__)
    acquisition.append_child_value("frame_model", str(getattr(options, "frame_model", "")))
    acquisition.append_child_value("temporal_model", str(getattr(options, "temporal", "")))
    acquisition.append_child_value("layout", LAYOUT)
    return info


@register("writer", "lsl")
class LSLWriter:
    """Each frame's rows as LSL samples stamped with the frame's capture time (module docstring)."""

    live = True
    suffix = None
    wait_for_consumers = 0.0  # seconds open() waits for a first inlet (0: it does not wait)

    @classmethod
    def waiting(cls, seconds: float) -> type[LSLWriter]:
        """A writer class whose open() waits up to `seconds` for an inlet to connect, so that a
        recording begins with the first frame: `outputs=[(LSLWriter.waiting(10), "name")]`."""
        return type(cls.__name__, (cls,), {"wait_for_consumers": float(seconds)})

    def open(self, target: str | None, columns: tuple[str, ...] = (), options=None) -> None:
        pylsl = _pylsl()
        self.name = str(target or DEFAULT_NAME)
        self._clock = pylsl.local_clock
        try:
            self.outlet = pylsl.StreamOutlet(stream_info(pylsl, self.name, options),
                                              max_buffered=MAX_BUFFERED)
        except RuntimeError as e:
            raise AffectStreamError(f"cannot open the LSL stream {self.name!r} ({e})") from None
        self._offset = clock_offset(pylsl)
        if self.wait_for_consumers > 0:
            self.outlet.wait_for_consumers(self.wait_for_consumers)

    def stamp(self, row: Affect) -> float:
        """The row's capture instant on the LSL clock (now, for a row without one)."""
        return self._clock() if row.captured_at is None else row.captured_at + self._offset

    def write(self, rows: list[Affect]) -> None:
        stamp = self.stamp(rows[0])  # one capture instant per frame
        for i, row in enumerate(rows):
            # the frame's samples go out together: flushed after its last face
            self.outlet.push_sample(sample(row), stamp, pushthrough=i == len(rows) - 1)

    def close(self, complete: bool = True) -> None:
        self.outlet = None  # destroys the outlet: the stream disappears from the network
        return None
