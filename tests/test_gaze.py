"""Gaze from the iris and a model eyeball (gaze.py): the geometry on constructed eyes, then on real
faces found by MediaPipe, each frame and its mirror image."""
from __future__ import annotations

import math

import av
import numpy as np
import pytest

from affectstream.camera import camera_space
from affectstream.face import FaceTracker
from affectstream.gaze import EYEBALL_RADIUS_MM, eye_gaze, gaze
from affectstream.sources import read_image
from affectstream.types import Frame


@pytest.fixture(scope="module")
def tracker(model):
    with FaceTracker(model, mode="image", max_faces=8) as faces:
        yield faces


def _gazes(tracker, image: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(vectors, angle) per face in `image`, faces left to right."""
    height, width = image.shape[:2]
    faces = sorted(tracker.track(Frame(0, 0.0, np.ascontiguousarray(image))),
                   key=lambda f: f.box[0])
    return [gaze(camera_space(f.landmarks, width, height)[0]) for f in faces]


def _video_frame(path, index: int) -> np.ndarray:
    with av.open(str(path)) as container:
        for k, frame in enumerate(container.decode(video=0)):
            if k == index:
                return frame.to_ndarray(format="rgb24")
    raise AssertionError(f"{path} has no frame {index}")


@pytest.mark.parametrize("angle", [-0.5, -0.2, 0.0, 0.3])
def test_an_iris_on_the_sphere_gives_the_direction_it_was_turned_to(angle):
    centre = np.array([30.0, -20.0, 600.0])
    # the eye turned by `angle` about the vertical axis, from looking back along the z axis
    turned = np.array([math.sin(angle), 0.0, -math.cos(angle)])
    vector = eye_gaze(tuple(centre), tuple(centre + EYEBALL_RADIUS_MM * turned))
    assert np.allclose(vector, turned, atol=1e-9)


def test_an_iris_ray_that_misses_the_eyeball_still_gives_a_unit_vector_across_the_ray():
    centre = (0.0, 0.0, 600.0)
    vector = np.array(eye_gaze(centre, (30.0, 0.0, 590.0)))  # 30 mm beside a 12 mm eyeball
    assert np.linalg.norm(vector) == pytest.approx(1.0)
    assert vector[0] > 0.99  # it points across, towards the side the iris was seen on


def test_faces_looking_into_the_camera_have_small_gaze_angles(tracker, media):
    readings = [g for name in ("0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "single_face.jpg")
                for g in _gazes(tracker, read_image(media / "images" / name))]
    # multi_face.jpg: the four people without sunglasses (the leftmost face wears them)
    readings += _gazes(tracker, read_image(media / "images" / "multi_face.jpg"))[1:]
    assert len(readings) == 7
    for vectors, angle in readings:
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        assert (vectors[:, 2] < 0).all()  # from the eye towards the camera
        assert np.abs(angle).max() < 0.35, angle


def _mirrored_pair(tracker, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    (_, angle), = _gazes(tracker, image)
    (_, mirrored), = _gazes(tracker, image[:, ::-1])
    return angle, mirrored


@pytest.mark.parametrize("index", [144, 232])  # eyes turned to the image's left, to its right
def test_mirroring_a_frame_flips_the_horizontal_gaze(tracker, video, index):
    image = _video_frame(video("WolfgangLanger_Pexels.mp4"), index)
    angle, mirrored = _mirrored_pair(tracker, image)
    assert abs(angle[0]) > 0.2  # a clear sideways look, so the sign means something
    assert np.sign(mirrored[0]) == -np.sign(angle[0])
    assert abs(abs(mirrored[0]) - abs(angle[0])) < 0.1
    assert abs(mirrored[1] - angle[1]) < 0.1  # up-down is what a mirror keeps


def test_a_turned_head_mirrored_flips_the_horizontal_gaze(tracker, media):
    angle, mirrored = _mirrored_pair(tracker, read_image(media / "images" / "45-m7-di-ph.jpg"))
    assert abs(angle[0]) > 0.2
    assert np.sign(mirrored[0]) == -np.sign(angle[0])
    # a head turned ~33° shows one eye nearly edge-on, and MediaPipe fits it a little
    # differently in the mirror (its own yaw reads -34.0° and +32.8°): within a quarter
    sizes = sorted([abs(angle[0]), abs(mirrored[0])])
    assert sizes[0] > 0.75 * sizes[1]


def test_where_the_eyes_look_in_two_frames(tracker, video):
    clip = video("WolfgangLanger_Pexels.mp4")
    (_, left), = _gazes(tracker, _video_frame(clip, 144))
    (_, right), = _gazes(tracker, _video_frame(clip, 232))
    # frame 144: both irises in the image-left corners of the eyes; 232: up and to the right
    assert left[0] < -0.2 and right[0] > 0.2
    assert right[1] < -0.1  # y points down: a look upwards is negative
