"""Track identity: one id per person, no duplicate or ghost tracks, small faces found in video."""
from __future__ import annotations

import io

import av
import numpy as np
import pytest

import affectstream as af
from affectstream.geometry import box_iou
from affectstream.small_faces import TileSearch, roi_window
from affectstream.tracking import TrackAssigner, match_scores, suppress_duplicates


def test_a_second_reading_of_a_tracked_face_gets_no_new_id():
    tracks = TrackAssigner()
    assert tracks.assign([(0, 0, 100, 100)], 0.0) == [0]
    # the tracker's box and a fresh detection of the same face, overlapping by IoU 0.5
    assert tracks.assign([(2, 0, 100, 100), (35, 0, 100, 100)], 0.1,
                         accept_new=lambda j: True) == [0, None]
    assert tracks.next_id == 1


def test_a_confident_face_waits_for_a_second_sighting_while_a_known_one_is_missed():
    tracks = TrackAssigner(max_gap=1.0)
    assert tracks.assign([(0, 0, 50, 50)], 0.0, accept_new=lambda j: True) == [0]
    # the face jumps (a mirrored frame): the known track is missed, so no new id yet
    assert tracks.assign([(300, 0, 50, 50)], 0.1, accept_new=lambda j: True) == [None]
    assert tracks.assign([(1, 0, 50, 50)], 0.2, accept_new=lambda j: True) == [0]
    # while every known track is matched, a confident newcomer is born at once
    assert tracks.assign([(1, 0, 50, 50), (300, 0, 50, 50)], 0.3,
                         accept_new=lambda j: True) == [0, 1]


def test_a_track_is_held_only_as_long_as_it_was_seen():
    tracks = TrackAssigner(max_gap=1.0)
    for k in range(10):  # face 0 seen for 0.9 s; face 1 appears at 0.8 s
        boxes = [(0, 0, 50, 50)] + ([(200, 0, 50, 50)] if k >= 8 else [])
        tracks.assign(boxes, k * 0.1)
    tracks.assign([], 1.0)
    assert tracks.held() == {0, 1}  # face 1 seen for 0.1 s, missed for 0.1 s
    tracks.assign([], 1.1)
    assert tracks.held() == {0}
    tracks.assign([], 1.95)
    assert tracks.held() == set()  # past max_gap
    assert tracks.assign([(0, 0, 50, 50)], 2.0) == [2]


def test_each_face_gets_its_own_detection_score():
    boxes = [(0, 0, 100, 100), (60, 0, 100, 100)]
    detections = [((0, 0, 100, 100), 0.9), ((60, 0, 100, 100), 0.6)]
    assert match_scores(boxes, detections) == [0.9, 0.6]
    # one detection overlapping both faces scores one of them only
    assert match_scores(boxes, [((30, 0, 100, 100), 0.8)]).count(None) == 1
    # the whole frame's detections come before the crops'
    assert match_scores(boxes[:1], [((0, 0, 90, 100), 0.7)], [((0, 0, 100, 100), 0.9)]) == [0.7]
    assert suppress_duplicates([(0, 0, 100, 100), (10, 0, 100, 100), (200, 0, 50, 50)]) == [0, 2]


def test_tile_sweep_and_regions_of_interest():
    search = TileSearch(every=2)
    first, *later = (search.windows(480, 640) for _ in range(6))
    assert len(first) == 6 and later == [[first[0]], [], [first[1]], [], [first[2]]]
    assert search.windows(200, 200) == []  # too small to tile
    x, y, w, h = roi_window((620, 5, 30, 40), 480, 640)
    assert w == h == 120 and x + w <= 640 and y >= 0


def _damaged_mirrored_clip(frames: list[np.ndarray], mirrored: set[int], seed: int) -> bytes:
    """`frames` encoded as MPEG-4 with some frames mirrored, then bytes flipped in its packets."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=24)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt, stream.bit_rate, stream.gop_size = "yuv420p", 800_000, 30
        for i, image in enumerate(frames):
            image = np.ascontiguousarray(image[:, ::-1] if i in mirrored else image)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())
    data = bytearray(buffer.getvalue())
    rng = np.random.default_rng(seed)
    for k in rng.integers(len(data) // 5, len(data) - 1000, 40):
        data[k] ^= 0xFF
    return bytes(data)


def test_one_person_through_damaged_and_mirrored_frames_keeps_one_id(video, tmp_path):
    source = af.open_source(video("WolfgangLanger_Pexels.mp4"))
    frames = [f.image for _, f in zip(range(90), source)]
    path = tmp_path / "damaged.mp4"
    # the face sits right of centre, so a mirrored frame puts it where no track is
    path.write_bytes(_damaged_mirrored_clip(frames, mirrored={20, 50, 80}, seed=0))
    rows = []
    with af.AffectStream(temporal="ap") as pipeline:
        try:
            rows += pipeline.stream(path)
        except af.AffectStreamError:
            pass  # a damaged file may stop early; its rows so far count
    assert len({r.frame for r in rows}) >= 80
    assert {r.track_id for r in rows if r.track_id is not None} == {0}  # no ghost, no held ghost
    detected = {}
    for r in rows:
        if r.success:
            detected.setdefault(r.frame, []).append(r)
    assert all(len(faces) == 1 for faces in detected.values())


@pytest.mark.parametrize("name", ["h264_aac.mp4", "mp4v_aac.mp4", "video_01.mp4",
                                  "vp8_opus.webm", "xvid_aac.avi"])
def test_small_faces_in_video_are_found_where_a_still_finds_them(video, name):
    path = video(f"codecs/{name}")
    stills = [af.analyze_image(frame.image) for frame in af.open_source(path)]
    by_frame: dict[int, list] = {}
    with af.AffectStream(temporal="none") as pipeline:
        for row in pipeline.stream(path):
            if row.success:
                by_frame.setdefault(row.frame, []).append(row)
    with_face = [i for i, faces in enumerate(stills) if faces]
    found = [i for i in with_face if i in by_frame]
    assert len(found) >= 0.9 * len(with_face) > 0
    for faces in by_frame.values():  # never two ids on one face
        assert all(box_iou(a.box, b.box) <= 0.3 for a in faces for b in faces if a is not b)
        assert all(min(f.box[2], f.box[3]) < 100 for f in faces)  # these faces are small
