"""One long video cut into time segments that separate workers process, then joined again.

`plan(path, pieces)` reads the packets' pts (demuxing only, no decoding) and cuts the file at frame
boundaries; `SegmentSource` decodes one segment from a few seconds before its start (the warm-up,
which settles the face tracker and the temporal models) with the frame indices and timestamps a
`VideoSource` reading the whole file gives; `Joiner` puts the segments' rows back together in
frame order, drops the warm-up rows and gives each face one id across the borders (`reconcile`:
the later segment's warm-up tracks matched by IoU to the earlier segment's tracks).
"""
from __future__ import annotations

import math
import pickle
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from fractions import Fraction
from itertools import groupby
from pathlib import Path

import av
import numpy as np

from .errors import AffectStreamError, SourceError
from .geometry import box_iou
from .probe import reason
from .sources import FFmpegErrors, VideoSource
from .types import Affect, Frame

SAME_TRACK_IOU = 0.5  # mean IoU over the overlap from which two tracks are one face
_END = "end of spool"  # the last record of a finished spool: a spool without it was cut short

Box = tuple[float, float, float, float]
TrackBoxes = dict[int, list[tuple[int, Box]]]  # frame -> [(track id, (x, y, w, h) px)]


@dataclass(frozen=True)
class Segment:
    """Frames [start_frame, end_frame) of a file, decoded from `warmup_frame` on.

    start, end: seconds on the file's timeline (VideoSource's timestamps; end is math.inf for the
    last segment); warmup_start: the timestamp of `warmup_frame`, the first frame at or after
    max(0, start - warmup). The *_pts fields are the stream's raw pts (time base `time_base`) of
    those frames; `origin_pts` is the first frame's, `seek_pts` the keyframe decoding starts from
    (None: from the beginning of the file)."""

    index: int
    start_frame: int
    end_frame: int
    start: float
    end: float
    warmup_start: float
    warmup_frame: int
    warmup_pts: int
    end_pts: int | None
    origin_pts: int
    time_base: Fraction
    seek_pts: int | None

    @property
    def last(self) -> bool:
        return self.end_pts is None

    @property
    def frames(self) -> int:
        """The segment's own frames (warm-up not counted)."""
        return self.end_frame - self.start_frame


@dataclass
class _Packets:
    """A video stream's packets as demuxed: pts of the frames the decoder gives (in pts order),
    and the keyframes as (whether it is the stream's first packet, pts, dts, the largest pts
    demuxed before it)."""

    frames: np.ndarray
    keyframes: list[tuple[bool, int, int | None, int | None]]
    time_base: Fraction


def plan(path: str, pieces: int, warmup: float = 3.0, min_seconds: float = 10.0) -> list[Segment]:
    """`pieces` segments of `path` of about equal frame counts (fewer when a segment would be
    shorter than `min_seconds`; one for a short file), each with `warmup` seconds before it.

    Demuxes the file once without decoding (seconds for an hour of video). Raises
    AffectStreamError when the pts do not say safely which frame is which (missing, repeated,
    damaged); such a file is processed whole.
    """
    if pieces < 1 or warmup < 0 or min_seconds < 0:
        raise AffectStreamError(f"cannot cut a video into {pieces} pieces with {warmup} s of "
                                f"warm-up and {min_seconds} s at least each")
    packets = _demux(path)
    pts, tb = packets.frames, packets.time_base
    times = [float((int(p) - int(pts[0])) * tb) for p in pts]
    if any(b <= a for a, b in zip(times, times[1:])):
        raise AffectStreamError(f"{path}: frame timestamps too close to tell apart; "
                                "process it unsplit")
    count = len(times)
    span = times[-1] + (times[-1] - times[0]) / max(count - 1, 1)  # the last frame lasts too
    pieces = max(1, min(pieces, int(span // min_seconds) if min_seconds else pieces, count))
    cuts = [round(k * count / pieces) for k in range(pieces + 1)]
    segments = []
    for k, (first, stop) in enumerate(zip(cuts, cuts[1:])):
        wanted = max(0.0, times[first] - warmup)
        early = bisect_left(times, wanted)
        last = k == pieces - 1
        segments.append(Segment(
            index=k, start_frame=first, end_frame=stop, start=times[first],
            end=math.inf if last else times[stop], warmup_start=times[early],
            warmup_frame=early, warmup_pts=int(pts[early]),
            end_pts=None if last else int(pts[stop]), origin_pts=int(pts[0]), time_base=tb,
            seek_pts=None if early == 0 else _seek_point(packets.keyframes, int(pts[early]))))
    return segments


def _demux(path: str) -> _Packets:
    """The packets of the first video stream, checked: every frame has a pts of its own, and the
    file holds what its header promises."""
    source = VideoSource(path)  # its checks and messages for what is not a readable video
    try:
        with FFmpegErrors() as logged:
            packets = _read_packets(source, path)
        if logged.count:  # FFmpeg skipped or cut something ("partial file"): indices would shift
            raise AffectStreamError(f"{path}: FFmpeg reported {logged.count} error(s) reading "
                                    "its packets; the file is damaged: process it unsplit")
        pts = packets.frames
        if (np.diff(pts) <= 0).any():
            raise AffectStreamError(f"{path}: two frames share a pts; frames cannot be told "
                                    "apart without decoding: process it unsplit")
        source._check_complete(len(pts), float((int(pts[-1]) - int(pts[0])) * packets.time_base))
    finally:
        source.close()
    return packets


def _read_packets(source: VideoSource, path: str) -> _Packets:
    """Every packet's pts, in demuxing order, with the keyframes noted."""
    stream = source._stream
    frames, keyframes, latest = [], [], None
    try:
        for packet in source._container.demux(stream):
            if packet.size == 0:  # the end-of-stream packet, or an empty chunk (AVI): no frame
                continue
            if packet.pts is None:
                raise AffectStreamError(f"{path}: a video packet has no pts; frames cannot be "
                                        "placed without decoding: process it unsplit")
            if packet.is_keyframe:
                keyframes.append((latest is None, packet.pts, packet.dts, latest))
            latest = packet.pts if latest is None else max(latest, packet.pts)
            if not packet.is_discard:  # an edit list hides it: the decoder drops its frame
                frames.append(packet.pts)
    except (av.error.FFmpegError, OSError) as e:
        raise AffectStreamError(f"{path}: video data is damaged ({reason(e)}); "
                                "process it unsplit") from None
    if not frames:
        raise AffectStreamError(f"{path}: no video frames to cut")
    tb = Fraction(stream.time_base or Fraction(1, 1))
    return _Packets(np.sort(np.asarray(frames, np.int64)), keyframes, tb)


def _seek_point(keyframes: list, pts: int) -> int | None:
    """Where to seek for the frame at `pts`: the last keyframe shown no later than it, with no
    later frame decoded before it (so decoding from there gives every frame from `pts` on)."""
    best = None
    for first, key_pts, key_dts, before in keyframes:
        if key_pts <= pts and (before is None or before < pts):
            best = None if first else key_dts if key_dts is not None else key_pts
    return best  # None: from the beginning


class SegmentSource(VideoSource):
    """The frames of `segment` from its warm-up on, as VideoSource gives them reading the whole
    file: the same global indices, timestamps, pixels and orientation.

    Frames before `segment.start_frame` are the warm-up (process them, then drop their rows).
    Raises SourceError when decoding does not give the frames the plan counted (a damaged file).
    """

    def __init__(self, path: str, segment: Segment, rotate: str = "auto"):
        super().__init__(path, rotate=rotate, name=path)
        self.segment = segment
        self._index = segment.warmup_frame  # the global index of the next frame

    @property
    def frame_count(self) -> int:
        """Frames it yields, warm-up included (the last segment's count is the plan's)."""
        return self.segment.end_frame - self.segment.warmup_frame

    def __iter__(self) -> Iterator[Frame]:
        segment, tb = self.segment, self.segment.time_base
        if segment.seek_pts is not None:
            self._container.seek(segment.seek_pts, backward=True, stream=self._stream)
        previous = segment.warmup_pts - 1
        with closing(self._decoded()) as decoded:
            for vf in decoded:
                pts = vf.pts
                if pts is None or (self._index == segment.warmup_frame
                                   and pts > segment.warmup_pts):
                    raise self._stopped(f"frame pts {pts} where the plan expected "
                                        f"{segment.warmup_pts}")
                if pts < segment.warmup_pts:  # decoded from the keyframe, before the warm-up
                    continue
                if segment.end_pts is not None and pts >= segment.end_pts:
                    break
                if pts <= previous:  # out of pts order: VideoSource would renumber the timeline
                    raise self._stopped(f"frame pts {pts} after {previous}")
                previous = pts
                yield self._frame(vf, float((pts - segment.origin_pts) * tb))
        if self._index != segment.end_frame:
            raise self._stopped(f"decoding gave frames up to {self._index - 1} where the plan "
                                f"counted up to {segment.end_frame - 1}")
        if segment.last:  # it read to the end of the file, as VideoSource does
            self._check_complete(self._index, self._last)

    def _frame(self, vf: av.VideoFrame, timestamp: float) -> Frame:
        """The Frame for a decoded picture, turned upright as VideoSource turns it."""
        frame = Frame(self._index, timestamp, self.picture(vf), time.perf_counter())
        self._index += 1
        self.frames_read += 1
        self._last = timestamp
        return frame

    def _stopped(self, why: str) -> SourceError:
        where = (f"after frame {self._index - 1} (t={self._last:.2f} s)"
                 if self._index > self.segment.warmup_frame else "before its first frame")
        return SourceError(f"{self.name}: segment {self.segment.index} cannot be read as "
                           f"planned {where}: {why}; process the file unsplit",
                           frames_read=self.frames_read)


def track_iou(previous: TrackBoxes, warmup: TrackBoxes) -> dict[tuple[int, int], float]:
    """{(local id, global id): mean IoU over the frames both tracks have a box in}."""
    sums: dict[tuple[int, int], list[float]] = {}
    for frame, locals_ in warmup.items():
        for local, box in locals_:
            for other, other_box in previous.get(frame, ()):
                sums.setdefault((local, other), []).append(box_iou(box, other_box))
    return {pair: sum(values) / len(values) for pair, values in sums.items()}


def match(previous: TrackBoxes, warmup: TrackBoxes) -> dict[int, int]:
    """{local id: global id} for the later segment's warm-up tracks that are the earlier
    segment's: one to one, greedily by mean IoU (>= SAME_TRACK_IOU), ties by lower ids."""
    pairs = sorted((-iou, local, other) for (local, other), iou in
                   track_iou(previous, warmup).items() if iou >= SAME_TRACK_IOU)
    matched: dict[int, int] = {}
    for _, local, other in pairs:
        if local not in matched and other not in matched.values():
            matched[local] = other
    return matched


def reconcile(previous: TrackBoxes, warmup: TrackBoxes, next_id: int
              ) -> tuple[dict[int, int], int]:
    """({local id: global id} for every warm-up track, the next free global id).

    previous: the earlier segment's boxes with global ids, warmup: the later segment's with its
    own, over the frames both processed. Matched tracks take the earlier id (`match`); the rest
    get next_id, next_id + 1, ... in order of first appearance, then local id."""
    mapping = match(previous, warmup)
    for local in _first_seen(warmup):
        if local not in mapping:
            mapping[local], next_id = next_id, next_id + 1
    return mapping, next_id


def _first_seen(boxes: TrackBoxes) -> list[int]:
    """The track ids of `boxes` in order of first appearance, then id."""
    order: dict[int, None] = {}
    for frame in sorted(boxes):
        order.update(dict.fromkeys(sorted(t for t, _ in boxes[frame])))
    return list(order)


def relabel(rows: Iterable[Affect], mapping: dict[int, int]) -> list[Affect]:
    """`rows` with each track id replaced by mapping[id] (rows without a face as they are)."""
    return [row if row.track_id is None else replace(row, track_id=mapping[row.track_id])
            for row in rows]


def boxes_of(rows: Iterable[Affect]) -> list[tuple[int, Box]]:
    """(track id, box) of the detected faces among one frame's rows."""
    return [(row.track_id, row.box) for row in rows if row.success]


class Joiner:
    """The rows of a split file, one segment after another, as one run would give them: frame
    order, warm-up rows dropped, one id per face across the borders.

    Holds only the boxes of the frames where two segments overlap.
    """

    def __init__(self, segments: Sequence[Segment]):
        self.segments = list(segments)
        self.next_id = 0
        self._overlap: TrackBoxes = {}  # the previous segment's boxes the next warm-up covers
        self._fed = 0

    def feed(self, segment: Segment, frames: Iterable[list[Affect]]) -> Iterator[list[Affect]]:
        """Joined rows, frame by frame, of `segment` given its rows frame by frame (warm-up
        included). Raises AffectStreamError for segments out of order or rows that do not
        cover the segment's frames."""
        if self._fed >= len(self.segments) or segment != self.segments[self._fed]:
            raise AffectStreamError(f"segment {segment.index} joined out of order; expected "
                                    f"segment {self._fed}")
        after = self.segments[self._fed + 1] if self._fed + 1 < len(self.segments) else None
        warmup: TrackBoxes = {}
        mapping: dict[int, int] | None = None
        expected = segment.start_frame
        for rows in filter(None, frames):
            frame = rows[0].frame
            if frame < segment.start_frame:
                warmup[frame] = boxes_of(rows)
                continue
            if frame != expected or frame >= segment.end_frame:
                raise AffectStreamError(f"segment {segment.index}: rows of frame {frame} where "
                                        f"frame {expected} was due")
            if mapping is None:  # the first own frame: the warm-up is complete
                mapping, self._overlap = match(self._overlap, warmup), {}
            joined = relabel(rows, self._global_ids(rows, mapping))
            if after is not None and frame >= after.warmup_frame:
                self._overlap[frame] = boxes_of(joined)
            expected += 1
            yield joined
        if expected != segment.end_frame:
            raise AffectStreamError(f"segment {segment.index} stopped at frame {expected - 1}, "
                                    f"before its end ({segment.end_frame - 1})")
        self._fed += 1

    def _global_ids(self, rows: list[Affect], mapping: dict[int, int]) -> dict[int, int]:
        """`mapping`, extended with fresh ids for the tracks first seen in this frame."""
        # Fresh ids are given at a track's first own frame, not in the warm-up: a track seen
        # only there never reaches the output and takes no id (ids stay those of one run).
        for local in sorted({r.track_id for r in rows if r.track_id is not None} - set(mapping)):
            mapping[local] = self.next_id
            self.next_id += 1
        return mapping  # matched ids are earlier segments' fresh ids: all below next_id


def join(segments: Sequence[Segment], streams: Iterable[Iterable[list[Affect]]]
         ) -> Iterator[list[Affect]]:
    """The joined rows of the whole file, frame by frame, from each segment's rows frame by
    frame (`streams` in segment order, e.g. `read_spool` of each)."""
    joiner = Joiner(segments)
    for segment, frames in zip(segments, streams, strict=True):
        yield from joiner.feed(segment, frames)


def by_frame(rows: Iterable[Affect]) -> Iterator[list[Affect]]:
    """Rows (as AffectStream.stream gives them, every frame at least one) grouped by frame."""
    for _, group in groupby(rows, key=lambda row: row.frame):
        yield list(group)


class Spool:
    """A file of one segment's rows, a pickled list per frame, so a segment's results wait on disk
    (an hour with landmarks does not fit in memory). `close()` marks it finished."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._file = open(self.path, "wb")
        self.frames = 0

    def write(self, rows: list[Affect]) -> None:
        """One frame's rows."""
        pickle.dump(rows, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self.frames += 1

    def close(self, complete: bool = True) -> Path:
        if not self._file.closed:
            if complete:
                pickle.dump(_END, self._file, protocol=pickle.HIGHEST_PROTOCOL)
            self._file.close()
        return self.path

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, kind, *exc) -> None:
        self.close(complete=kind is None)


def spool(path: str | Path, rows: Iterable[Affect]) -> int:
    """Write `rows` (one stream, frame order) to a spool file at `path`; returns the frames."""
    with Spool(path) as out:
        for frame in by_frame(rows):
            out.write(frame)
    return out.frames


def read_spool(path: str | Path) -> Iterator[list[Affect]]:
    """The rows of a spool file, frame by frame. Raises AffectStreamError for a spool that was
    not finished (its worker stopped part-way)."""
    with open(path, "rb") as file:
        while True:
            try:
                rows = pickle.load(file)
            except EOFError:
                raise AffectStreamError(f"{path}: the segment's results end early; its worker "
                                        "did not finish") from None
            if isinstance(rows, str) and rows == _END:
                return
            yield rows
