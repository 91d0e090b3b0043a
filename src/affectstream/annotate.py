"""The annotated video: each frame of a source with every detected face's box, track id, valence
and arousal drawn on it, encoded as H.264 (yuv420p, which browsers play) with PyAV.

One implementation for `affectstream process --annotate` and the demo's video tab. It is a second
pass: the source is decoded again through `open_source` (so orientation is applied as the analysis
saw it) and each frame gets the rows whose `frame` is its index. Needs only the core dependencies.
"""
from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from .errors import AffectStreamError, WriteError
from .sources import open_source
from .types import Affect

TRACK_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
                 "#17becf")  # matplotlib's tab10, less the grey and olive that vanish on faces
TIME_BASE = Fraction(1, 90000)  # MPEG's clock: the frames keep their own timestamps (VFR too)


def track_colour(track_id: int) -> str:
    """The track's colour as '#rrggbb': the same face has the same colour in every picture."""
    return TRACK_COLOURS[track_id % len(TRACK_COLOURS)]


def track_rgb(track_id: int) -> tuple[int, int, int]:
    """The track's colour as 0–255 RGB, for drawing on frames."""
    code = track_colour(track_id)
    return tuple(int(code[i:i + 2], 16) for i in (1, 3, 5))


def draw_faces(image: np.ndarray, rows: list[Affect]) -> np.ndarray:
    """A copy of the (H, W, 3) RGB frame with each detected face's box, track id and
    valence/arousal; held rows (no box) and faceless rows draw nothing."""
    out = np.ascontiguousarray(image).copy()
    for r in rows:
        if not r.success:
            continue
        x, y, w, h = (int(round(v)) for v in r.box)
        rgb = track_rgb(r.track_id)
        cv2.rectangle(out, (x, y), (x + w, y + h), rgb, 2)
        label = f"#{r.track_id}"
        if r.valence is not None and r.arousal is not None:
            label += f"  v {r.valence:+.2f}  a {r.arousal:+.2f}"
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        top = max(0, y - th - 8)
        # a filled tag stays legible on any background
        cv2.rectangle(out, (x, top), (x + tw + 6, top + th + 8), rgb, -1)
        cv2.putText(out, label, (x + 3, top + th + 3), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return out


def marks(affect: Affect) -> Affect:
    """The part of a row the drawing needs; a long run keeps these, not the landmark arrays."""
    return dataclasses.replace(affect, au=None, au_std=None, emotion=None, landmarks=None,
                               landmarks_3d=None, gaze=None, au_presence=None)


def annotate_video(source, rows: Iterable[Affect], out: str | Path,
                   draw: Callable[[np.ndarray, list[Affect]], np.ndarray] = draw_faces,
                   frames: int | None = None, *, rotate: str = "auto",
                   stills: bool = False) -> Path:
    """Write `source` (a path or an unread Source) to the MP4 `out` with `draw(image, rows of that
    frame)` on each frame; only the first `frames` frames when given (an analysis cut short).

    One output frame per source frame, at the source's timestamps. Frames are cut to even sizes
    (yuv420p); images of another size than the first are fitted into it (image folders).
    """
    by_frame: dict[int, list[Affect]] = defaultdict(list)
    for r in rows:
        by_frame[r.frame].append(r)
    out = Path(out)
    src = open_source(source, rotate=rotate, stills=stills)
    if getattr(src, "live", False):
        src.close()
        raise AffectStreamError(f"{src.name}: a live stream cannot be decoded a second time to "
                                "annotate it; record it to a file first")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with av.open(str(out), "w") as output:
            _encode(output, src, by_frame, draw, frames)
    except (OSError, av.error.FFmpegError) as e:
        raise WriteError(f"{out}: cannot write the annotated video ({e})") from None
    finally:
        src.close()
    return out


def _encode(output, src, by_frame: dict[int, list[Affect]], draw, frames: int | None) -> None:
    stream, size, last = None, None, -1
    for frame in src:
        if frames is not None and frame.index >= frames:
            break
        image = draw(frame.image, by_frame.get(frame.index, []))
        if stream is None:
            size = (image.shape[1] // 2 * 2 or 2, image.shape[0] // 2 * 2 or 2)
            stream = output.add_stream("libx264", rate=_rate(src),
                                       options={"preset": "veryfast", "crf": "23"})
            stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
            stream.codec_context.time_base = TIME_BASE
        picture = av.VideoFrame.from_ndarray(_fitted(image, size), format="rgb24")
        # strictly rising pts, even where two timestamps round to the same tick
        last = picture.pts = max(round(frame.timestamp / TIME_BASE), last + 1)
        picture.time_base = TIME_BASE
        output.mux(stream.encode(picture))
    if stream is not None:
        output.mux(stream.encode())


def _rate(src) -> Fraction:
    fps = getattr(src, "fps", None) or 30.0
    return Fraction(fps).limit_denominator(1001)


def _fitted(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` as (height, width) = size[::-1]: cut by at most a pixel to even sizes, or, when it
    differs more, scaled to fit and centred on black."""
    width, height = size
    h, w = image.shape[:2]
    if 0 <= h - height <= 1 and 0 <= w - width <= 1:
        return np.ascontiguousarray(image[:height, :width])
    scale = min(width / w, height / h)
    fw, fh = max(1, round(w * scale)), max(1, round(h * scale))
    canvas = np.zeros((height, width, 3), np.uint8)
    top, left = (height - fh) // 2, (width - fw) // 2
    canvas[top:top + fh, left:left + fw] = cv2.resize(image, (fw, fh),
                                                      interpolation=cv2.INTER_AREA)
    return canvas
