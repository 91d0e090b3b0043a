"""Tiny clips encoded with PyAV at sizes, rates and time bases no camera would produce."""
from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# Muxers write random ids and timestamps unless told to be bit-exact; the corpus must not vary.
BITEXACT = {"fflags": "+bitexact"}
CONTAINER = {"libx264": "mp4", "mpeg4": "mp4", "libvpx": "webm", "ffv1": "matroska",
             "mjpeg": "avi"}
PIXEL_FORMAT = {"mjpeg": "yuvj420p", "ffv1": "yuv444p"}  # FFV1's 4:2:0 refuses odd sizes
SUFFIX = {"mp4": ".mp4", "webm": ".webm", "matroska": ".mkv", "avi": ".avi"}


def face_frames(image: Path, width: int, height: int, count: int) -> list[np.ndarray]:
    """`count` (height, width, 3) uint8 RGB frames of `image` squeezed to the size, panning a
    little so that frames differ."""
    with av.open(str(image)) as container:
        still = next(container.decode(video=0))
    big = still.reformat(width=width + count, height=height, format="rgb24").to_ndarray()
    return [np.ascontiguousarray(big[:, i:i + width]) for i in range(count)]


def encode(frames: list[np.ndarray], *, codec: str = "libx264", pts: list[int] | None = None,
           time_base: Fraction = Fraction(1, 30)) -> tuple[bytes, str]:
    """(file bytes, suffix) of `frames` encoded with `codec` at `pts` (default 0, 1, 2...) in
    units of `time_base`; an empty list gives a video stream with no frames."""
    height, width = frames[0].shape[:2] if frames else (16, 16)
    pts = list(range(len(frames))) if pts is None else pts
    fmt = CONTAINER[codec]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt, options=BITEXACT) as container:
        stream = container.add_stream(codec, rate=_rate(time_base))
        stream.width, stream.height, stream.time_base = width, height, time_base
        stream.codec_context.time_base = time_base
        stream.codec_context.thread_count = 1  # one thread: the same bytes on every run
        stream.pix_fmt = PIXEL_FORMAT.get(codec, "yuv420p")
        container.start_encoding()  # the header is written even when no frame follows
        for image, t in zip(frames, pts):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(
                format=stream.pix_fmt)
            frame.pts, frame.time_base = t, time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue(), SUFFIX[fmt]


def _rate(time_base: Fraction) -> Fraction:
    """A nominal frame rate for the encoder: one frame per time-base tick, kept in range."""
    rate = 1 / time_base
    return rate if Fraction(1, 1000) <= rate <= 1000 else Fraction(30)


def tone(codec: str = "aac", seconds: float = 1.0) -> tuple[bytes, str]:
    """(file bytes, suffix) of an audio-only file: a 440 Hz tone, AAC in MP4 or Opus in WebM."""
    fmt, rate = ("mp4", 44100) if codec == "aac" else ("webm", 48000)
    samples = np.arange(int(seconds * rate)) / rate
    wave = (0.3 * np.sin(2 * np.pi * 440 * samples)).astype(np.float32)[None, :]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt, options=BITEXACT) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.layout = "mono"
        frame_size = stream.codec_context.frame_size or 1024
        for start in range(0, wave.shape[1], frame_size):
            chunk = np.ascontiguousarray(wave[:, start:start + frame_size])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue(), SUFFIX[fmt]
