"""Frame sources: video files, cameras, network streams, image folders, stills and Python
iterables.

`open_source(uri)` returns an iterable of `Frame` whose timestamps come from the stream's pts and
time base (so variable-frame-rate files are right), starting at 0 for the first frame.
"""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from .errors import AffectStreamError, SourceError
from .stages import Source
from .types import Frame

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv",
                  ".ts", ".mts", ".3gp", ".ogv", ".y4m"}
LIVE_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "udp://", "srt://")
NETWORK_SCHEMES = LIVE_SCHEMES + ("http://", "https://")


class VideoSource(Source):
    """Anything FFmpeg demuxes: files, cameras (v4l2/avfoundation/dshow) and network URLs, via
    PyAV."""

    def __init__(self, url: str, *, format: str | None = None, options: dict | None = None,
                 live: bool = False, realtime: bool = False, name: str | None = None):
        self.name = name or url
        self.live, self.realtime = live or realtime, realtime
        try:
            self._container = av.open(url, format=format, options=options or {}, timeout=10.0)
        except (FileNotFoundError, av.error.FFmpegError) as e:
            if format in ("v4l2", "avfoundation", "dshow"):
                raise AffectStreamError(f"{self.name}: no usable camera at {url} ({_reason(e)}); "
                                        "check that it is connected and free, or pass another one "
                                        "(webcam:1, /dev/video2)") from None
            if isinstance(e, FileNotFoundError):
                raise AffectStreamError(f"{self.name}: no such file") from None
            raise AffectStreamError(f"{self.name}: cannot open as a video ({_reason(e)}); "
                                    "check the path and that FFmpeg can read it") from None
        if not self._container.streams.video:
            self._container.close()
            raise AffectStreamError(f"{self.name}: has no video stream; "
                                    "pass a video, camera or image")
        self._stream = self._container.streams.video[0]
        codec = self._stream.codec_context
        if codec is None or codec.name is None:
            self._container.close()
            raise AffectStreamError(f"{self.name}: unknown video codec; "
                                    "re-encode it (e.g. to H.264)")
        # Frame threading adds a frame of delay per thread: fine offline, not for a camera.
        self._stream.thread_type = "SLICE" if live else "AUTO"
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps = float(rate) if rate else None
        self._closed = False

    @property
    def frame_count(self) -> int | None:
        """The container's declared frame count, when it has one (not always exact)."""
        return self._stream.frames or None

    def __iter__(self) -> Iterator[Frame]:
        stream, tb = self._stream, self._stream.time_base or Fraction(1, 1)
        step = 1.0 / self.fps if self.fps else 1.0 / 30.0
        index, origin, last, damaged = 0, None, -1.0, 0
        started = time.perf_counter()
        packets = self._container.demux(stream)
        while True:
            try:
                packet = next(packets)
                frames = packet.decode()
            except StopIteration:
                self._check_complete(index, last)
                return
            except (av.error.FFmpegError, OSError) as e:
                where = (f"after frame {index - 1} (t={last:.2f} s)" if index
                         else "before the first frame")
                if self.live and isinstance(e, av.error.InvalidDataError) and damaged < 100:
                    damaged += 1  # a damaged packet in a live stream: skip it and keep watching
                    continue
                if self.live:  # a camera unplugged, a stream that went quiet or dropped
                    raise SourceError(f"{self.name}: the stream stopped delivering frames "
                                      f"{where}: {_reason(e)}", frames_read=index) from None
                raise SourceError(f"{self.name}: video data is damaged or cut short {where}: "
                                  f"{_reason(e)}", frames_read=index) from None
            damaged = 0
            for vf in frames:
                pts = vf.pts if vf.pts is not None else vf.dts
                if pts is not None:
                    origin = pts if origin is None else origin
                    t = float((pts - origin) * tb)
                else:
                    t = last + step
                if t <= last:  # missing or repeated pts: keep the timeline strictly increasing
                    t = last + step
                last = t
                # play a file like a camera: each frame no earlier than its timestamp
                if self.realtime:
                    time.sleep(max(0.0, started + t - time.perf_counter()))
                yield Frame(index, t, np.ascontiguousarray(vf.to_ndarray(format="rgb24")),
                            time.perf_counter())
                index += 1

    def _check_complete(self, count: int, last: float) -> None:
        """Raise SourceError when a file ends well short of its header (a cut file decodes
        silently)."""
        if self.live:
            return
        declared = self._stream.frames
        duration = (float(self._stream.duration * self._stream.time_base)
                    if self._stream.duration and self._stream.time_base else None)
        # Headers are loose by a few frames (B-frame reordering, edit lists): only a clear gap
        # counts.
        short_count = declared and declared - count > max(5, 0.05 * declared)
        short_time = (not declared and duration and count
                      and duration - last > max(1.0, 0.05 * duration))
        if short_count or short_time:
            expected = f"{declared} frames" if short_count else f"{duration:.1f} s"
            raise SourceError(f"{self.name}: the file ends early: decoding stopped after frame "
                              f"{count - 1} (t={last:.2f} s) but its header promises {expected}; "
                              "it is cut short or damaged", frames_read=count)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._container.close()


class ImageSequenceSource(Source):
    """Images read with PyAV, one frame each, timestamped index / fps.

    stills=False: the frames of one recording (faces are tracked across them); stills=True:
    unrelated photos (each searched on its own, ids start at 0 in each).
    """

    def __init__(self, paths: list[Path], *, fps: float = 1.0, stills: bool = False,
                 name: str | None = None):
        if not paths:
            raise AffectStreamError(f"{name}: no images found "
                                    f"(looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
        self.paths, self.fps, self.stills, self.name = paths, fps, stills, name or str(paths[0])

    def __iter__(self) -> Iterator[Frame]:
        for i, path in enumerate(self.paths):
            yield Frame(i, i / self.fps, read_image(path), time.perf_counter())


class ArraySource(Source):
    """Any iterable of (H, W, 3) uint8 RGB arrays (or (H, W) grey) at a known frame rate."""

    def __init__(self, frames: Iterable[np.ndarray], *, fps: float, live: bool = False,
                 name: str = "<arrays>"):
        if not fps or fps <= 0:
            raise AffectStreamError("an iterable of arrays needs its frame rate: "
                                    "open_source(frames, fps=30)")
        self._frames, self.fps, self.live, self.name = frames, float(fps), live, name

    def __iter__(self) -> Iterator[Frame]:
        for i, image in enumerate(self._frames):
            yield Frame(i, i / self.fps, as_rgb(image), time.perf_counter())


def as_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB from an RGB, RGBA or grey uint8 array; anything else is an error."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise AffectStreamError(f"frames must be uint8 RGB arrays, got dtype {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    if image.ndim != 3 or image.shape[2] != 3:
        raise AffectStreamError(f"frames must be (H, W, 3) RGB arrays, got shape {image.shape}")
    return np.ascontiguousarray(image)


def load_image(image) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a path or an RGB/RGBA/grey uint8 array."""
    return read_image(image) if isinstance(image, (str, os.PathLike)) else as_rgb(image)


def read_image(path: str | Path) -> np.ndarray:
    """One still image as (H, W, 3) uint8 RGB, decoded by PyAV."""
    path = Path(path)
    if not path.exists():
        raise AffectStreamError(f"{path}: no such file")
    try:
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0))
            return np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
    except (av.error.FFmpegError, StopIteration, IndexError) as e:
        raise AffectStreamError(f"{path}: not a readable image ({_reason(e)})") from None


def camera_input(spec: str) -> tuple[str, str]:
    """(url, FFmpeg input format) for `webcam:N`, `webcam:NAME` or a device path, on this
    platform."""
    device = spec.split(":", 1)[1] if spec.startswith("webcam:") else spec
    if sys.platform.startswith("linux"):
        return (f"/dev/video{device}" if device.isdigit() else device), "v4l2"
    if sys.platform == "darwin":
        return device, "avfoundation"
    if sys.platform == "win32":
        # dshow addresses cameras by name; `webcam:0` cannot be resolved without listing devices.
        if device.isdigit():
            raise AffectStreamError("on Windows name the camera: webcam:\"Integrated Camera\" "
                                    "(list names with: ffmpeg -list_devices true "
                                    "-f dshow -i dummy)")
        return f"video={device}", "dshow"
    raise AffectStreamError(f"cameras are not supported on {sys.platform}; "
                            "pass a video file or URL")


def open_source(uri, *, fps: float | None = None, live: bool | None = None, realtime: bool = False,
                stills: bool = False) -> Source:
    """A Source for a path, camera spec (`webcam:0`, `/dev/video0`), URL, image folder or iterable.

    fps: frame rate for image folders (default 1) and required for iterables of arrays;
    live: override whether the source is treated as a camera that cannot wait;
    realtime: deliver a video file's frames at their own timestamps, as a camera would (implies
    live);
    stills: a folder holds unrelated photos rather than the frames of one recording (a single
    image always counts as a still).
    """
    if isinstance(uri, Source):
        return uri
    if isinstance(uri, (str, os.PathLike)):
        text = os.fspath(uri)
        if text.startswith("webcam:") or text.startswith("/dev/video"):
            url, fmt = camera_input(text)
            options = {"framerate": str(int(fps))} if fps else {}
            return VideoSource(url, format=fmt, options=options,
                               live=True if live is None else live, name=text)
        if text.startswith(NETWORK_SCHEMES):
            is_live = text.startswith(LIVE_SCHEMES) if live is None else live
            options = {"rtsp_transport": "tcp"} if text.startswith(("rtsp://", "rtsps://")) else {}
            return VideoSource(text, options=options, live=is_live)
        path = Path(text)
        if path.is_dir():
            images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            return ImageSequenceSource(images, fps=fps or 1.0, stills=stills, name=text)
        if not path.exists():
            raise AffectStreamError(f"{text}: no such file or folder")
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return ImageSequenceSource([path], fps=fps or 1.0, stills=True, name=text)
        if path.stat().st_size == 0:
            raise AffectStreamError(f"{text}: the file is empty (0 bytes); nothing to process")
        return VideoSource(text, live=bool(live), realtime=realtime)
    if (isinstance(uri, np.ndarray) and uri.ndim in (2, 3)
            and (uri.ndim == 2 or uri.shape[-1] in (3, 4))):
        return ArraySource([uri], fps=fps or 1.0)
    if isinstance(uri, Iterable):
        return ArraySource(uri, fps=fps, live=bool(live))
    raise AffectStreamError(f"cannot read frames from a {type(uri).__name__}; pass a path, URL, "
                            "'webcam:0' or an iterable of RGB arrays")


def _reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error)
