import math

import numpy as np
import pytest

from affectstream import Frame
from affectstream.face import FaceTracker, TrackAssigner, consensus
from affectstream.geometry import CROP_TEMPLATE, box_iou, euler_from_matrix, similarity_transform
from affectstream.sources import read_image


def test_similarity_transform_recovers_rotation_scale_and_shift():
    angle, scale, shift = math.radians(20), 1.7, np.array([5.0, -3.0])
    rot = scale * np.array([[math.cos(angle), -math.sin(angle)],
                            [math.sin(angle), math.cos(angle)]])
    src = np.array([[0, 0], [10, 0], [2, 9], [8, 9]], float)
    matrix = similarity_transform(src, src @ rot.T + shift)
    assert np.allclose(matrix[:, :2], rot, atol=1e-5)
    assert np.allclose(matrix[:, 2], shift, atol=1e-4)


def test_euler_angles_of_known_rotations():
    def about(axis, degrees):
        c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
        m = np.eye(4)
        i, j = [(1, 2), (0, 2), (0, 1)][axis]
        m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
        return m
    assert euler_from_matrix(about(0, 15)) == pytest.approx((15, 0, 0), abs=1e-6)
    # asin(-r20): sign as documented
    assert euler_from_matrix(about(1, -30))[1] == pytest.approx(30, abs=1e-6)
    assert (euler_from_matrix(about(2, 10) * 3.0 + np.diag([0, 0, 0, -2]))[2]
            == pytest.approx(10, abs=1e-6))


def test_box_iou():
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1
    assert box_iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0


def test_track_ids_are_stable_and_renewed_after_a_gap():
    tracks = TrackAssigner(max_gap=0.5)
    assert tracks.assign([(0, 0, 10, 10), (100, 0, 10, 10)], 0.0) == [0, 1]
    # order of detection does not matter
    assert tracks.assign([(102, 1, 10, 10), (1, 1, 10, 10)], 0.1) == [1, 0]
    assert tracks.assign([(3, 2, 10, 10)], 0.5) == [0]
    # face 1 was gone 0.55 s > max_gap
    assert tracks.assign([(4, 2, 10, 10), (104, 0, 10, 10)], 0.65) == [0, 2]


def test_consensus_keeps_one_reading_per_face():
    readings = [((0, 0, 10, 10), "a"), ((1, 0, 10, 10), "b"), ((0, 1, 10, 10), "c"),
                ((50, 0, 10, 10), "d")]
    assert [r[1] for r in consensus(readings)] == ["a", "d"]


def test_multi_face_still_gives_distinct_ids(media):
    with FaceTracker(mode="image", max_faces=6) as tracker:
        faces = tracker.track(Frame(0, 0.0, read_image(media / "images" / "multi_face.jpg")))
    assert len(faces) >= 4
    assert len({f.track_id for f in faces}) == len(faces)
    assert all(box_iou(a.box, b.box) < 0.3 for a in faces for b in faces if a is not b)


def test_face_fields(media):
    image = read_image(media / "images" / "single_face.jpg")
    with FaceTracker(mode="image", crop_size=96) as tracker:
        (face,) = tracker.track(Frame(0, 0.0, image))
    assert face.landmarks.shape == (478, 3) and face.blendshapes.shape == (52,)
    assert 0.5 < face.score <= 1 and face.crop.shape == (96, 96, 3) and face.crop.dtype == np.uint8
    x, y, w, h = face.box
    assert 0 <= x < x + w <= image.shape[1] and 0 <= y < y + h <= image.shape[0]
    assert all(abs(a) < 30 for a in face.pose)  # a frontal portrait
    # The aligned crop puts the eye centres where the template says.
    from affectstream.geometry import LEFT_EYE, RIGHT_EYE
    eyes = np.stack([face.landmarks[list(RIGHT_EYE), :2].mean(0),
                     face.landmarks[list(LEFT_EYE), :2].mean(0)])
    matrix = similarity_transform(np.vstack([eyes, face.landmarks[[61, 291], :2]]),
                                  CROP_TEMPLATE * 96)
    mapped = np.c_[eyes, np.ones(2)] @ matrix.T
    assert np.allclose(mapped, CROP_TEMPLATE[:2] * 96, atol=4)


def test_one_track_through_a_talking_face_video(video):
    from affectstream import open_source
    ids = set()
    with FaceTracker() as tracker:
        for frame in open_source(video("single_face.mp4")):
            ids |= {f.track_id for f in tracker.track(frame)}
    assert ids == {0}


def test_unconfirmed_new_faces_are_dropped_but_known_tracks_kept():
    tracks = TrackAssigner(max_gap=1.0)
    assert tracks.assign([(0, 0, 10, 10), (50, 0, 10, 10)], 0.0,
                         accept_new=lambda j: j == 0) == [0, None]
    assert tracks.assign([(1, 0, 10, 10)], 0.1, accept_new=lambda j: False) == [0]  # known: kept
    tracks.assign([(80, 0, 10, 10)], 0.2, accept_new=lambda j: False)
    # seen twice: confirmed
    assert tracks.assign([(81, 0, 10, 10)], 0.3, accept_new=lambda j: False) == [1]
