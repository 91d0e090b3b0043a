"""Reading the Face Landmarker's result struct directly gives what MediaPipe's API gives, and
falls back to the API when it would not."""
import logging

import cv2
import mediapipe as mp
import numpy as np
import pytest
from mediapipe.tasks.python import BaseOptions, vision

from affectstream import mesh_result
from affectstream.mesh_result import MeshReader, _public


@pytest.fixture
def landmarker(model):
    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(model)), num_faces=4,
        running_mode=vision.RunningMode.IMAGE, output_face_blendshapes=True,
        output_facial_transformation_matrixes=True)
    with vision.FaceLandmarker.create_from_options(options) as task:
        yield task


def _image(media, name):
    rgb = cv2.cvtColor(cv2.imread(str(media / "images" / name)), cv2.COLOR_BGR2RGB)
    return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))


def test_the_struct_reads_as_the_api_on_several_faces(landmarker, media):
    image = _image(media, "multi_face.jpg")
    reader = MeshReader(landmarker)
    assert reader.direct  # this MediaPipe hands its result over as the struct
    points, scores, matrices = reader.read(image, None)
    assert reader.verified and len(points) >= 2
    public = _public(landmarker.detect(image))
    for ours, theirs in zip((points, scores, matrices), public):
        assert len(ours) == len(theirs)
        assert all(a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(ours, theirs))
    assert points[0].shape == (478, 3) and scores[0].shape == (52,)
    empty = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.full((240, 320, 3), 90, np.uint8))
    assert reader.read(empty, None) == ([], [], [])


def test_a_struct_that_reads_otherwise_falls_back_to_the_api(landmarker, media, monkeypatch,
                                                            caplog):
    image = _image(media, "single_face.jpg")
    reader = MeshReader(landmarker)
    shifted = reader._arrays
    monkeypatch.setattr(reader, "_arrays", lambda r: ([p + 1 for p in shifted(r)[0]],
                                                      *shifted(r)[1:]))
    with caplog.at_level(logging.WARNING, logger=mesh_result.__name__):
        points = reader.read(image, None)[0]
    assert "using the API" in caplog.text and not reader.direct
    assert np.array_equal(points[0], _public(landmarker.detect(image))[0][0])
