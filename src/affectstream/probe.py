"""What a file holds (a video, an image, or neither), found from its content with a cheap PyAV
probe, never from its name: a video renamed `.jpg` is a video, a text file renamed `.mp4` is
neither.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import av

from .errors import AffectStreamError

VIDEO, IMAGE = "video", "image"
# Still-image codecs: one frame of one of these in an image container is a photo, not a video.
IMAGE_CODECS = frozenset({"mjpeg", "png", "apng", "bmp", "webp", "tiff", "jpeg2000", "jpegls",
                          "ppm", "pgm", "pgmyuv", "pbm", "pam", "qoi", "sgi", "targa", "dpx",
                          "exr", "hdr", "pcx", "sunrast", "xbm", "xwd", "phm", "pfm"})


def kind_of(container) -> str | None:
    """VIDEO, IMAGE, or None when an open PyAV container has no video stream."""
    if not container.streams.video:
        return None
    stream = container.streams.video[0]
    name = container.format.name
    image_container = name == "image2" or name.endswith("_pipe")  # jpeg_pipe, png_pipe, ...
    if stream.codec_context.name in IMAGE_CODECS and (image_container or stream.frames == 1):
        return IMAGE
    return VIDEO


def not_regular(path: Path) -> str | None:
    """Why `path` is not a regular file with data (None when it is one), in a few words."""
    try:
        info = path.stat()
    except OSError as e:
        return f"cannot read it ({e.strerror})"
    if stat.S_ISDIR(info.st_mode):
        return "a folder (folders inside folders are not searched)"
    if stat.S_ISFIFO(info.st_mode):
        return "a pipe (FIFO), not a regular file"
    if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
        return "a device, not a regular file"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    return "empty (0 bytes)" if info.st_size == 0 else None


def probe(path: str | os.PathLike) -> tuple[str | None, str]:
    """(VIDEO or IMAGE, "") for a regular file, from its content; (None, why not) otherwise."""
    path = Path(path)
    why = not_regular(path)
    if why is not None:
        return None, why
    try:
        with av.open(str(path)) as container:
            kind = kind_of(container)
    except (OSError, av.error.FFmpegError) as e:
        return None, f"not a video or image (FFmpeg cannot read it: {reason(e)})"
    return (kind, "") if kind else (None, "not a video (no video stream)")


@dataclass
class Folder:
    """A folder's files by what they hold, each list sorted by name; `skipped`: (path, why)."""

    videos: list[Path] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def scan(folder: str | os.PathLike) -> Folder:
    """Every entry of `folder` probed (hidden files, as `ls` and shell globs do, are left out)."""
    found = Folder()
    try:
        entries = sorted(Path(folder).iterdir())
    except OSError as e:
        raise AffectStreamError(f"{folder}: cannot read this folder ({e.strerror})") from None
    for path in entries:
        if path.name.startswith("."):
            continue
        kind, why = probe(path)
        if kind == VIDEO:
            found.videos.append(path)
        elif kind == IMAGE:
            found.images.append(path)
        else:
            found.skipped.append((path, why))
    return found


def reason(error: Exception) -> str:
    """An FFmpeg or OS error in a few words."""
    return getattr(error, "strerror", None) or str(error)
