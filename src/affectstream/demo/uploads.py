"""What the video tab accepts: video files only, up to a size (checked by Gradio's upload route) and
a length (checked on the decoded frames, so a WebM that declares no frame count is cut too)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..errors import AffectStreamError
from ..sources import VIDEO_SUFFIXES, open_source
from ..stages import Source
from ..types import Frame

DEFAULT_MAX_UPLOAD_MB = 200.0
# The file picker's list and the handler's check: one list, the sources module's.
VIDEO_FILE_TYPES = sorted(VIDEO_SUFFIXES)
MEGABYTE = 1024 * 1024  # Gradio's FileSize.MB, so its refusal and ours name the same number


def upload_bytes(max_upload_mb: float) -> int:
    """The upload limit in bytes, as `launch(max_file_size=...)` takes it."""
    if not max_upload_mb > 0:
        raise AffectStreamError(f"--max-upload-mb must be above 0 (got {max_upload_mb})")
    return int(max_upload_mb * MEGABYTE)


def open_upload(path: str | Path) -> Source:
    """The upload opened for decoding, or AffectStreamError saying why it is not a video.

    Checked here as well as in the browser's file picker: a client can post any file to Gradio's
    upload route, so the name must be a video's and PyAV must find a video stream in it (an
    `.html` has none).
    """
    name = Path(path).name
    if Path(path).suffix.lower() not in VIDEO_SUFFIXES:
        raise AffectStreamError(f"Not a video file: {name!r}. This tab takes "
                                f"{', '.join(VIDEO_FILE_TYPES)}.")
    if not Path(path).is_file():
        raise AffectStreamError(f"{name!r} is no longer on the server (uploads are deleted when "
                                "their tab closes, or after a while); upload it again.")
    try:
        source = open_source(str(path))
    except AffectStreamError as e:
        raise AffectStreamError(f"Not a video affectstream can read: {e}") from None
    return source


class LengthLimit(Source):
    """`source`'s frames whose timestamps are within `seconds`; `cut` is set when more followed.

    The timestamps are the decoded frames' own (container pts), so the limit holds for files
    whose header declares no frame count or duration.
    """

    def __init__(self, source: Source, seconds: float):
        self.source, self.seconds, self.cut = source, seconds, False
        self.name, self.live, self.fps, self.stills = (source.name, source.live, source.fps,
                                                       source.stills)

    def __iter__(self) -> Iterator[Frame]:
        for frame in self.source:
            if frame.timestamp > self.seconds:
                self.cut = True
                return
            yield frame

    def close(self) -> None:
        self.source.close()
