"""A video cut into segments for separate workers: the plan, each segment's frames, and the rows
joined again with one id per face across the borders."""
from __future__ import annotations

import dataclasses
import hashlib
import math
import pickle

import av
import numpy as np
import pytest

from affectstream.errors import AffectStreamError, SourceError
from affectstream.pipeline import AffectStream
from affectstream.segments import (
    Joiner,
    SegmentSource,
    Spool,
    join,
    plan,
    read_spool,
    reconcile,
    relabel,
    spool,
)
from affectstream.sources import VideoSource
from affectstream.types import Affect

CLIPS = ["WolfgangLanger_Pexels.mp4", "single_face.mp4", "no_face.mp4", "face_noface.mov",
         "noface_face.mov", "codecs/h264_aac.mp4", "codecs/mp4v_aac.mp4", "codecs/video_01.mp4",
         "codecs/vp8_opus.webm", "codecs/xvid_aac.avi"]
WOLFGANG = "WolfgangLanger_Pexels.mp4"


def frames_of(source) -> list[tuple[int, float, str]]:
    """(index, timestamp, pixel hash) of every frame a source yields."""
    return [(f.index, f.timestamp, hashlib.sha1(f.image.tobytes()).hexdigest()) for f in source]


def read_whole(path) -> list[tuple[int, float, str]]:
    with VideoSource(str(path)) as source:
        return frames_of(source)


def assert_split_reads_whole(path, segments) -> None:
    """The segments' own frames, one after another, are the whole file's; each segment's warm-up
    is checked on the way."""
    whole, joined = read_whole(path), []
    for segment in segments:
        with SegmentSource(str(path), segment) as source:
            got = frames_of(source)
            assert len(got) == source.frame_count
        assert got == whole[segment.warmup_frame:segment.end_frame]  # warm-up included
        joined += [f for f in got if f[0] >= segment.start_frame]
    assert joined == whole


@pytest.mark.parametrize("name", CLIPS)
def test_plan_gives_every_frame_the_timestamp_video_source_gives(video, name):
    """One segment a frame: each segment's start is that frame's VideoSource timestamp."""
    path = video(name)
    whole = read_whole(path)
    segments = plan(str(path), len(whole) + 5, warmup=0.1, min_seconds=0.0)
    assert [(s.start_frame, s.start) for s in segments] == [(i, t) for i, t, _ in whole]
    assert [s.end for s in segments] == [t for _, t, _ in whole[1:]] + [math.inf]
    assert [s.end_frame for s in segments] == [i + 1 for i, _, _ in whole]
    for s in segments:  # the warm-up starts at the first frame 0.1 s or less before the start
        assert s.warmup_start == whole[s.warmup_frame][1]
        assert s.warmup_start >= max(0.0, s.start - 0.1) and (
            s.warmup_frame == 0 or whole[s.warmup_frame - 1][1] < s.start - 0.1)


def test_plan_cuts_about_equal_pieces_no_shorter_than_asked(video):
    path = str(video(WOLFGANG))  # 472 frames, 19.7 s
    segments = plan(path, 3, warmup=3.0, min_seconds=5.0)
    assert [(s.index, s.start_frame, s.end_frame) for s in segments] == [
        (0, 0, 157), (1, 157, 315), (2, 315, 472)]
    assert segments[1].warmup_start == pytest.approx(segments[1].start - 3.0, abs=1 / 23.976)
    assert segments[0].warmup_start == 0.0 and segments[0].warmup_frame == 0
    assert len(plan(path, 3, min_seconds=8.0)) == 2  # 3 would be 6.6 s each
    assert len(plan(path, 8)) == 1  # under 2 × 10 s: one segment
    assert pickle.loads(pickle.dumps(segments)) == segments  # sent to worker processes
    (whole,) = plan(path, 1)
    assert (whole.start_frame, whole.end_frame, whole.end, whole.last) == (0, 472, math.inf, True)


def test_wolfgang_segments_give_the_frames_of_the_whole_file(video):
    """Three segments, two of them decoded from a keyframe after a seek: indices, timestamps and
    pixels as VideoSource gives them, and no 'ends early' for stopping at a segment's end."""
    path = video(WOLFGANG)
    segments = plan(str(path), 3, warmup=1.0, min_seconds=5.0)
    assert [s.seek_pts is not None for s in segments] == [False, True, True]
    assert_split_reads_whole(path, segments)


@pytest.mark.parametrize("name", ["codecs/video_01.mp4", "codecs/xvid_aac.avi",
                                  "face_noface.mov"])
def test_codec_clip_segments_give_the_frames_of_the_whole_file(video, name):
    path = video(name)
    segments = plan(str(path), 3, warmup=0.3, min_seconds=0.3)
    assert len(segments) == 3 and any(s.seek_pts is not None for s in segments)
    assert_split_reads_whole(path, segments)


def encode(path, format: str, frames: int = 60) -> None:
    """A small x264 clip with B-frames and an open GOP every 10 frames."""
    with av.open(str(path), "w", format=format) as out:
        stream = out.add_stream("libx264", rate=25, options={
            "g": "10", "bf": "3", "x264-params": "open-gop=1:log-level=error"})
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        picture = np.random.default_rng(0).integers(0, 255, (64, 96, 3), np.uint8)
        for i in range(frames):
            image = av.VideoFrame.from_ndarray(np.roll(picture, i, axis=1), format="rgb24")
            for packet in stream.encode(image):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


@pytest.mark.parametrize("format", ["mp4", "matroska", "mpegts"])
def test_open_gop_segments_start_at_a_keyframe_that_gives_every_frame(tmp_path, format):
    """Open GOPs: the frames shown just before a keyframe are decoded after it and need the GOP
    before; a warm-up that starts on one of them is decoded from the keyframe before."""
    path = tmp_path / "clip"
    encode(path, format)
    for warmup in (0.0, 0.04, 0.12, 0.3):
        segments = plan(str(path), 7, warmup=warmup, min_seconds=0.2)
        assert len(segments) == 7
        assert_split_reads_whole(path, segments)


def test_segment_frames_are_turned_upright_like_the_whole_file(media):
    path = media / "orientation" / "single_face_portrait.mp4"  # stored portrait, shown landscape
    last = plan(str(path), 2, warmup=0.5, min_seconds=1.0)[-1]
    with SegmentSource(str(path), last) as source:
        first = next(iter(source))
    with VideoSource(str(path)) as whole:
        same = next(f for f in whole if f.index == last.warmup_frame)
    assert first.image.shape == (360, 640, 3) and np.array_equal(first.image, same.image)
    with SegmentSource(str(path), last, rotate="0") as stored:
        assert next(iter(stored)).image.shape == (640, 360, 3)


def test_damaged_or_unplaceable_files_are_not_split(video, tmp_path):
    data = video(WOLFGANG).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[:900_000])  # the index promises frames the file no longer holds
    with pytest.raises(AffectStreamError, match="damaged|ends early"):
        plan(str(cut), 2, min_seconds=1.0)
    raw = tmp_path / "raw.h264"  # an elementary stream: packets without pts
    with av.open(str(video(WOLFGANG))) as src, av.open(str(raw), "w", format="h264") as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    with pytest.raises(AffectStreamError, match="no pts"):
        plan(str(raw), 2, min_seconds=1.0)
    with pytest.raises(AffectStreamError, match="no such file"):
        plan(str(tmp_path / "missing.mp4"), 2)


def test_a_segment_that_decodes_otherwise_than_planned_says_so(video):
    path = str(video(WOLFGANG))
    first, second = plan(path, 2, warmup=1.0, min_seconds=5.0)
    longer = dataclasses.replace(first, end_frame=first.end_frame + 1)
    with SegmentSource(path, longer) as source, pytest.raises(SourceError, match="the plan"):
        list(source)
    shifted = dataclasses.replace(second, warmup_pts=second.warmup_pts + 1)  # not a frame's pts
    with SegmentSource(path, shifted) as source, pytest.raises(SourceError, match="the plan"):
        list(source)


def box_at(x: float, y: float = 100.0, size: float = 80.0) -> tuple[float, float, float, float]:
    return (x, y, size, size)


def test_reconcile_keeps_the_id_of_a_face_that_moved_slightly():
    previous = {f: [(4, box_at(100 + f))] for f in range(10, 20)}
    warmup = {f: [(0, box_at(103 + f))] for f in range(10, 20)}
    assert reconcile(previous, warmup, next_id=5) == ({0: 4}, 5)


def test_reconcile_gives_a_new_face_a_fresh_id():
    previous = {f: [(4, box_at(100))] for f in range(10, 20)}
    warmup = {f: [(0, box_at(100))] + ([(1, box_at(400))] if f >= 15 else [])
              for f in range(10, 20)}
    assert reconcile(previous, warmup, next_id=7) == ({0: 4, 1: 7}, 8)


def test_reconcile_matches_by_position_not_by_local_id():
    """The later segment's tracker numbered the two faces the other way round."""
    previous = {f: [(2, box_at(100)), (3, box_at(400))] for f in range(5)}
    warmup = {f: [(0, box_at(402)), (1, box_at(98))] for f in range(5)}
    assert reconcile(previous, warmup, next_id=4) == ({0: 3, 1: 2}, 4)


def test_reconcile_needs_half_the_box_in_common():
    previous = {f: [(0, box_at(100))] for f in range(5)}
    apart = {f: [(0, box_at(145))] for f in range(5)}  # IoU 35/125 = 0.28
    assert reconcile(previous, apart, next_id=1) == ({0: 1}, 2)
    close = {f: [(0, box_at(120))] for f in range(5)}  # IoU 60/100 = 0.6
    assert reconcile(previous, close, next_id=1) == ({0: 0}, 1)


def test_reconcile_is_one_to_one_and_deterministic():
    """Two local tracks on the same face (IoU ties): the lower id takes it; fresh ids go in
    order of first appearance, then local id."""
    previous = {f: [(0, box_at(100))] for f in range(3)}
    warmup = {0: [(5, box_at(600))], 1: [(3, box_at(100)), (1, box_at(100)), (9, box_at(300))],
              2: [(3, box_at(100)), (1, box_at(100))]}
    assert reconcile(previous, warmup, next_id=10) == ({1: 0, 5: 10, 3: 11, 9: 12}, 13)


def rows(frame: int, *faces: tuple[int, float]) -> list[Affect]:
    """One frame's rows: a face (track id, x) each, or the no-face row."""
    if not faces:
        return [Affect(frame=frame, timestamp=frame / 10)]
    return [Affect(frame=frame, timestamp=frame / 10, track_id=t, box=box_at(x), valence=0.1)
            for t, x in faces]


def test_relabel_changes_only_the_track_ids():
    (face, none) = relabel(rows(3, (0, 100)) + rows(3), {0: 7})
    assert face.track_id == 7 and face.box == box_at(100) and face.valence == 0.1
    assert none.track_id is None


def test_joiner_drops_warm_up_rows_and_gives_one_id_per_face(video):
    segments = plan(str(video(WOLFGANG)), 2, warmup=0.5, min_seconds=5.0)
    first, second = segments
    border, early = second.start_frame, second.warmup_frame
    # The earlier segment: face 0 throughout, face 1 at x=400 from the frame before the border.
    a = [rows(f, (0, 100 + f % 3), *([(1, 400)] if f >= border - 1 else []))
         for f in range(first.end_frame)]
    # The later one numbers them the other way round, sees a third face in its own frames, and a
    # fourth only during its warm-up (never output, so it takes no id).
    b = [rows(f, (0, 401), (1, 101), *([(2, 250)] if f > border + 3 else []),
              *([(3, 600)] if f < early + 2 else []))
         if f < border + 10 else rows(f) for f in range(early, second.end_frame)]
    joined = list(join(segments, [iter(a), iter(b)]))
    assert [frame[0].frame for frame in joined] == list(range(second.end_frame))
    assert joined[border - 1] == a[border - 1]
    ids = [{r.track_id: r.box[0] for r in frame if r.track_id is not None} for frame in joined]
    assert ids[border] == {0: 101, 1: 401}
    assert ids[border + 4] == {0: 101, 1: 401, 2: 250}
    assert ids[border + 10] == {}


def test_joiner_refuses_rows_that_do_not_cover_a_segment(video):
    first, second = plan(str(video(WOLFGANG)), 2, warmup=0.5, min_seconds=5.0)
    short = [rows(f) for f in range(first.end_frame - 1)]  # the worker stopped a frame early
    with pytest.raises(AffectStreamError, match="before its end"):
        list(Joiner([first, second]).feed(first, iter(short)))
    gap = [rows(f) for f in range(first.end_frame) if f != 30]
    with pytest.raises(AffectStreamError, match="frame 30 was due"):
        list(Joiner([first, second]).feed(first, iter(gap)))
    with pytest.raises(AffectStreamError, match="out of order"):
        list(Joiner([first, second]).feed(second, iter([])))


def test_spool_keeps_a_segments_rows_frame_by_frame(tmp_path):
    flat = rows(0, (0, 100)) + rows(1) + rows(2, (0, 101), (1, 300))
    flat[0].landmarks = np.ones((478, 3), np.float32)
    assert spool(tmp_path / "s", flat) == 3
    back = list(read_spool(tmp_path / "s"))
    assert [len(r) for r in back] == [1, 1, 2]
    assert back[2][1] == flat[3] and np.array_equal(back[0][0].landmarks, flat[0].landmarks)
    with Spool(tmp_path / "cut") as out:  # a worker that died part-way
        out.write(rows(0))
        out.close(complete=False)
    with pytest.raises(AffectStreamError, match="end early"):
        list(read_spool(tmp_path / "cut"))


@pytest.fixture(scope="module")
def wolfgang_9s(video, tmp_path_factory):
    """The Wolfgang clip up to its keyframe at 9.0 s (216 frames), remuxed: two segments' worth
    of pipeline runs at half the cost of the whole clip."""
    path = tmp_path_factory.mktemp("wolfgang") / "wolfgang_9s.mp4"
    with av.open(str(video(WOLFGANG))) as src, av.open(str(path), "w") as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is None:
                continue
            if packet.is_keyframe and packet.pts * packet.time_base > 8.5:
                break
            packet.stream = stream
            out.mux(packet)
    return path


def test_split_run_joins_to_the_unsplit_run(wolfgang_9s, tmp_path):
    """Two segments with 1 s of warm-up, through the pipeline and spool files, joined: the rows
    of one run over the whole file (boxes within 2 px: MediaPipe smooths over past frames)."""
    path = str(wolfgang_9s)
    segments = plan(path, 2, warmup=1.0, min_seconds=4.0)
    assert len(segments) == 2 and segments[1].seek_pts is not None
    with AffectStream(temporal="none") as pipeline:
        whole = list(pipeline.stream(path))
        spools = [tmp_path / f"{s.index}.spool" for s in segments]
        for segment, file in zip(segments, spools):
            spool(file, pipeline.stream(SegmentSource(path, segment)))
    joined = [row for frame in join(segments, map(read_spool, spools)) for row in frame]
    assert [(r.frame, r.timestamp, r.track_id) for r in joined] == [
        (r.frame, r.timestamp, r.track_id) for r in whole]
    assert len({r.frame for r in whole}) == 216 and sum(r.success for r in whole) > 200
    moved = [np.abs(np.subtract(a.box, b.box)).max() for a, b in zip(joined, whole) if a.success]
    assert max(moved) <= 2.0
