"""Frame sources: video files, cameras, network streams, image folders, stills and Python
iterables.

`open_source(uri)` returns an iterable of `Frame` whose timestamps come from the stream's pts and
time base (so variable-frame-rate files are right), starting at 0 for the first frame, and whose
images are upright: a video's display matrix and an image's EXIF orientation are applied first
(orientation.py).
"""
from __future__ import annotations

import logging
import math
import numbers
import os
import sys
import time
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from .errors import AffectStreamError, SourceError
from .orientation import (
    UPRIGHT,
    exif_orientation,
    fixed,
    frame_orientation,
    frame_rotation,
    stream_orientation,
    upright,
)
from .probe import IMAGE, kind_of, not_regular, reason, scan
from .stages import Source
from .types import Frame

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv",
                  ".ts", ".mts", ".3gp", ".ogv", ".y4m"}
LIVE_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "udp://", "srt://")
NETWORK_SCHEMES = LIVE_SCHEMES + ("http://", "https://")
MAX_BAD_PACKETS = 100  # packets in a row that fail to decode before a source counts as unreadable
# Decoders that patch damage over without flagging the frame: made to say so (their good frames
# decode the same either way).
SILENT_DECODERS = frozenset({"hevc"})
log = logging.getLogger("affectstream")
# FFmpeg's own error messages are how it reports damage it conceals (a cut WebM, a broken JPEG):
# PyAV hands them to the thread-local captures below, and to nobody else.
av.logging.set_level(av.logging.ERROR)
logging.getLogger("libav").propagate = False


class FFmpegErrors:
    """Counts the errors FFmpeg logs on this thread inside the `with` block."""

    def __enter__(self) -> FFmpegErrors:
        self._capture = av.logging.Capture(local=True)
        self._logs = self._capture.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._capture.__exit__(*exc)

    @property
    def count(self) -> int:
        return sum(1 for level, _, _ in self._logs if level <= av.logging.ERROR)


class VideoSource(Source):
    """Anything FFmpeg demuxes: files, cameras (v4l2/avfoundation/dshow) and network URLs, via
    PyAV.

    A packet that fails to decode is skipped and counted in `decode_errors`, a frame FFmpeg
    decoded with the damage concealed in `concealed_frames`; reading goes on either way. `what`:
    what the path is when it is not a regular file ("a pipe (FIFO)"), for the error message.
    rotate: "auto" turns each frame as its display matrix says (a phone's portrait video);
    "0"/"90"/"180"/"270": that many degrees clockwise, whatever the file says.
    """

    def __init__(self, url: str, *, format: str | None = None, options: dict | None = None,
                 live: bool = False, realtime: bool = False, name: str | None = None,
                 what: str | None = None, rotate: str = "auto"):
        self.name = name or url
        self._turn = fixed(rotate)
        self.live, self.realtime = live or realtime, realtime
        self.decode_errors = self.concealed_frames = self.frames_read = 0
        self._last = -1.0
        try:
            with FFmpegErrors() as opening:
                self._container = av.open(url, format=format, options=options or {},
                                          timeout=10.0)
        except (OSError, av.error.FFmpegError) as e:
            raise _open_error(self.name, url, format, what, e) from None
        self.logged_errors = self._opening_errors = opening.count
        if not self._container.streams.video:
            self._container.close()
            raise AffectStreamError(f"{self.name}: not a video (no video stream); "
                                    "pass a video, camera or image")
        self._stream = self._container.streams.video[0]
        codec = self._stream.codec_context
        if codec is None or codec.name is None:
            self._container.close()
            raise AffectStreamError(f"{self.name}: unknown video codec; "
                                    "re-encode it (e.g. to H.264)")
        _configure(codec, live)
        rate = self._stream.average_rate or self._stream.guessed_rate
        self._declared = stream_orientation(self._stream) or UPRIGHT
        self.fps = float(rate) if rate else None
        self._closed = False

    @property
    def frame_count(self) -> int | None:
        """The container's declared frame count, when it has one (not always exact)."""
        return self._stream.frames or None

    @property
    def still_image(self) -> bool:
        """True when the file is one photo in an image format, whatever its name says."""
        return kind_of(self._container) == IMAGE

    def __iter__(self) -> Iterator[Frame]:
        tb = self._stream.time_base or Fraction(1, 1)
        step = 1.0 / self.fps if self.fps else 1.0 / 30.0
        origin, started = None, time.perf_counter()
        for vf in self._decoded():
            pts = vf.pts if vf.pts is not None else vf.dts
            if pts is not None:
                origin = pts if origin is None else origin
                t = float((pts - origin) * tb)
            else:
                t = self._last + step
            if t <= self._last:  # missing or repeated pts: keep the timeline strictly increasing
                t = self._last + step
            self._last = t
            # play a file like a camera: each frame no earlier than its timestamp
            if self.realtime:
                time.sleep(max(0.0, started + t - time.perf_counter()))
            yield Frame(self.frames_read, t, self.picture(vf), time.perf_counter())
            self.frames_read += 1
        self._check_complete(self.frames_read, self._last)

    def picture(self, vf: av.VideoFrame) -> np.ndarray:
        """A decoded frame's pixels, RGB and upright."""
        if self._turn is None:  # the first frame's display matrix holds for the stream
            # (read once: listing a frame's side data leaks ~300 KB a frame in PyAV 18)
            self._turn = frame_orientation(vf) or self._declared
        image = vf.to_ndarray(format="rgb24")
        # an upright frame is not copied again; a turned one is a new array already
        return np.ascontiguousarray(image) if self._turn == UPRIGHT else upright(image, self._turn)

    def _decoded(self) -> Iterator[av.VideoFrame]:
        """The stream's decoded frames. A packet that fails to decode is counted and skipped (the
        decoder picks up at the next one); a read that fails, or too many bad packets in a row,
        raises SourceError."""
        packets, failed = self._container.demux(self._stream), 0
        with FFmpegErrors() as logged:
            while True:
                try:
                    packet = next(packets)
                except StopIteration:
                    return
                except (av.error.FFmpegError, OSError) as e:
                    raise self._stopped(reason(e)) from None
                finally:
                    self.logged_errors = self._opening_errors + logged.count
                try:
                    frames = packet.decode()
                except (av.error.FFmpegError, OSError) as e:
                    self.decode_errors += 1
                    failed += 1
                    if failed >= MAX_BAD_PACKETS:
                        raise self._stopped(f"{failed} packets in a row could not be decoded "
                                            f"({reason(e)})") from None
                    continue
                finally:
                    self.logged_errors = self._opening_errors + logged.count
                failed = 0
                for frame in frames:
                    self.concealed_frames += frame.is_corrupt
                    yield frame

    def _stopped(self, why: str) -> SourceError:
        """The error for a source that cannot go on, saying where it stopped."""
        where = (f"after frame {self.frames_read - 1} (t={self._last:.2f} s)" if self.frames_read
                 else "before the first frame")
        if self.live:  # a camera unplugged, a stream that went quiet or dropped
            return SourceError(f"{self.name}: the stream stopped delivering frames {where}: {why}",
                               frames_read=self.frames_read)
        return SourceError(f"{self.name}: video data is damaged or cut short {where}: {why}",
                           frames_read=self.frames_read)

    def _check_complete(self, count: int, last: float) -> None:
        """Raise SourceError when a file ends well short of its header (a cut file decodes
        silently)."""
        if self.live:
            return
        declared, duration = self._stream.frames, self._duration()
        if not count:
            raise SourceError(f"{self.name}: no frame could be decoded; the file is damaged or "
                              "holds no pictures", frames_read=0)
        # Headers are loose by a few frames (B-frame reordering, edit lists): only a clear gap
        # counts. The timeline decides when both are known: an AVI counts the empty chunks of
        # a long pause as frames.
        short_count = declared and declared - count > max(5, 0.05 * declared)
        frame = 1.0 / self.fps if self.fps else 1.0 / 30.0
        short_time = duration and duration - last > max(5 * frame, 0.05 * duration)
        if short_time if duration else short_count:
            expected = f"{declared} frames" if short_count else f"{duration:.1f} s"
            raise SourceError(f"{self.name}: the file ends early: decoding stopped after frame "
                              f"{count - 1} (t={last:.2f} s) but its header promises {expected}; "
                              "it is cut short or damaged", frames_read=count)

    def _duration(self) -> float | None:
        """Seconds the header promises: the stream's, else the container's (WebM has only that).
        """
        stream = self._stream
        if stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
        return self._container.duration / av.time_base if self._container.duration else None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._container.close()


def _configure(codec, live: bool) -> None:
    """Threads and error reporting for a decoder, before it opens."""
    if live:  # frame threads add a frame of delay each: not for a camera
        codec.thread_type = "SLICE"
    else:  # frame threads conceal damage differently run to run; a file must decode the same
        codec.thread_type, codec.thread_count = "NONE", 1
    if codec.name in SILENT_DECODERS:
        codec.options = {**codec.options, "err_detect": "explode"}


def _open_error(name: str, url: str, format: str | None, what: str | None,
                error: Exception) -> AffectStreamError:
    """The one-line error for a source FFmpeg cannot open."""
    if format in ("v4l2", "avfoundation", "dshow"):
        return AffectStreamError(f"{name}: no usable camera at {url} ({reason(error)}); "
                                 "check that it is connected and free, or pass another one "
                                 "(webcam:1, /dev/video2)")
    if isinstance(error, FileNotFoundError):
        return AffectStreamError(f"{name}: no such file")
    if what is not None:
        return AffectStreamError(f"{name}: {what}; FFmpeg cannot read a video from it "
                                 f"({reason(error)})")
    return AffectStreamError(f"{name}: cannot open as a video or image ({reason(error)}); it is "
                             "not a format FFmpeg reads, or it is damaged")


class ImageSequenceSource(Source):
    """Images read with PyAV, one frame each, timestamped index / fps, upright (see read_image).

    stills=False: the frames of one recording (faces are tracked across them); stills=True:
    unrelated photos (each searched on its own, ids start at 0 in each). Each frame's `file` is
    its path relative to `folder`, or as given without one.
    """

    def __init__(self, paths: list[str | Path], *, fps: float = 1.0, stills: bool = False,
                 name: str | None = None, folder: str | Path | None = None,
                 rotate: str = "auto"):
        if not paths:
            raise AffectStreamError(f"{name}: no images found")
        self.paths, self.fps, self.stills = paths, frame_rate(fps), stills
        self.name, self.rotate = name or str(paths[0]), rotate
        fixed(rotate)  # a bad setting fails here, not at the first image
        self.files = [os.path.relpath(p, folder) if folder is not None else os.fspath(p)
                      for p in paths]
        self.logged_errors = 0  # errors FFmpeg reported decoding them: damaged images

    @property
    def frame_count(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[Frame]:
        for i, (path, file) in enumerate(zip(self.paths, self.files)):
            with FFmpegErrors() as logged:
                image = read_image(path, rotate=self.rotate)
            self.logged_errors += logged.count
            yield Frame(i, i / self.fps, image, time.perf_counter(), file=file)


class ArraySource(Source):
    """Any iterable of (H, W, 3) uint8 RGB arrays (or (H, W) grey) at a known frame rate, taken
    as they are (an array carries no orientation), or turned by an explicit `rotate`."""

    def __init__(self, frames: Iterable[np.ndarray], *, fps: float, live: bool = False,
                 name: str = "<arrays>", rotate: str = "auto"):
        if fps is None:
            raise AffectStreamError("an iterable of arrays needs its frame rate: "
                                    "open_source(frames, fps=30)")
        self._frames, self.fps, self.live, self.name = frames, frame_rate(fps), live, name
        self._turn = fixed(rotate) or UPRIGHT

    def __iter__(self) -> Iterator[Frame]:
        for i, image in enumerate(self._frames):
            yield Frame(i, i / self.fps, upright(as_rgb(image), self._turn), time.perf_counter())


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
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise AffectStreamError(f"frames must have pixels, got an empty array of shape "
                                f"{image.shape}")
    return np.ascontiguousarray(image)


def frame_rate(fps) -> float:
    """`fps` as a float; AffectStreamError unless it is a finite number above 0."""
    if (isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not math.isfinite(fps)
            or fps <= 0):
        raise AffectStreamError(f"fps must be a number of frames per second above 0, got {fps!r}")
    return float(fps)


def load_image(image) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a path (upright, as its EXIF orientation says) or an
    RGB/RGBA/grey uint8 array (as it is)."""
    return read_image(image) if isinstance(image, (str, os.PathLike)) else as_rgb(image)


def read_image(path: str | Path, *, rotate: str = "auto") -> np.ndarray:
    """One still image as (H, W, 3) uint8 RGB, decoded by PyAV and turned upright.

    rotate: "auto" follows the file's EXIF orientation (else a display matrix FFmpeg found);
    "0"/"90"/"180"/"270" turn it that many degrees clockwise instead.
    """
    turn = fixed(rotate)
    path = Path(path)
    if not path.exists():
        raise AffectStreamError(f"{path}: no such file")
    try:
        with av.open(str(path)) as container:
            # on this thread, so FFmpeg's complaints about a damaged image reach FFmpegErrors
            container.streams.video[0].thread_type = "NONE"
            frame = next(container.decode(video=0))
            image = frame.to_ndarray(format="rgb24")
            turn = turn or exif_orientation(path) or frame_rotation(frame) or UPRIGHT
    except (av.error.FFmpegError, StopIteration, IndexError) as e:
        raise AffectStreamError(f"{path}: not a readable image ({reason(e)})") from None
    return np.ascontiguousarray(image) if turn == UPRIGHT else upright(image, turn)


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
                stills: bool = False, rotate: str = "auto") -> Source:
    """A Source for a path, camera spec (`webcam:0`, `/dev/video0`), URL, image folder or iterable.

    fps: frame rate for image folders (default 1) and required for iterables of arrays;
    live: override whether the source is treated as a camera that cannot wait;
    realtime: deliver a video file's frames at their own timestamps, as a camera would (implies
    live);
    stills: a folder holds unrelated photos rather than the frames of one recording (a single
    image always counts as a still);
    rotate: "auto" turns frames upright as the file says (a video's display matrix, an image's
    EXIF orientation; arrays are taken as they are); "0", "90", "180" or "270" turn every frame
    that many degrees clockwise instead, whatever the file says ("0": as stored).
    """
    if isinstance(uri, Source):
        return uri
    fps = None if fps is None else frame_rate(fps)
    fixed(rotate)  # a bad setting fails before anything opens
    if isinstance(uri, (str, os.PathLike)):
        text = os.fspath(uri)
        if text.startswith("webcam:") or text.startswith("/dev/video"):
            url, fmt = camera_input(text)
            options = {"framerate": f"{fps:g}"} if fps else {}
            return VideoSource(url, format=fmt, options=options,
                               live=True if live is None else live, name=text, rotate=rotate)
        if text.startswith(NETWORK_SCHEMES):
            is_live = text.startswith(LIVE_SCHEMES) if live is None else live
            options = {"rtsp_transport": "tcp"} if text.startswith(("rtsp://", "rtsps://")) else {}
            return VideoSource(text, options=options, live=is_live, rotate=rotate)
        return _open_path(text, fps, bool(live), realtime, stills, rotate)
    if (isinstance(uri, np.ndarray) and uri.ndim in (2, 3)
            and (uri.ndim == 2 or uri.shape[-1] in (3, 4))):
        return ArraySource([uri], fps=fps or 1.0, rotate=rotate)
    if isinstance(uri, Iterable):
        return ArraySource(uri, fps=fps, live=bool(live), rotate=rotate)
    raise AffectStreamError(f"cannot read frames from a {type(uri).__name__}; pass a path, URL, "
                            "'webcam:0' or an iterable of RGB arrays")


def _open_path(text: str, fps: float | None, live: bool, realtime: bool, stills: bool,
               rotate: str = "auto") -> Source:
    """A folder of images, a photo or a video, told apart by content (a video named .jpg is a
    video); a pipe or device is read as a stream when FFmpeg can."""
    path = Path(text)
    if path.is_dir():
        return image_folder(path, fps=fps or 1.0, stills=stills, name=text, rotate=rotate)
    if not path.exists():
        raise AffectStreamError(f"{text}: no such file or folder")
    why = not_regular(path)
    if why is not None and path.is_file():  # a regular file with nothing in it
        raise AffectStreamError(f"{text}: the file is {why}; nothing to process")
    source = VideoSource(text, live=live, realtime=realtime, what=why, rotate=rotate)
    if source.still_image:
        source.close()
        return ImageSequenceSource([text], fps=fps or 1.0, stills=True, name=text, rotate=rotate)
    return source


def image_folder(path: Path, *, fps: float = 1.0, stills: bool = False,
                 name: str | None = None, rotate: str = "auto") -> ImageSequenceSource:
    """The images of a folder, found by content; every other entry is named in a warning."""
    found = scan(path)
    for skipped, why in found.skipped:
        log.warning("skipped %s: %s", skipped, why)
    for video in found.videos:
        log.warning("skipped %s: %s", video, "a video in a folder of images; pass it on its own")
    return ImageSequenceSource(found.images, fps=fps, stills=stills, name=name or str(path),
                               folder=path, rotate=rotate)
