"""Orientation: a phone's portrait video (display matrix) and EXIF-tagged photos come out upright,
and `rotate` turns frames the documented way (degrees clockwise, whatever the file says)."""
import io
import struct
import zlib

import av
import numpy as np
import pytest

import affectstream as af
from affectstream import AffectStreamError, open_source
from affectstream.orientation import exif_orientation, upright
from affectstream.sources import read_image

# The picture as shown, from the stored pixels, per EXIF orientation: numpy's own turns, not the
# package's (which uses OpenCV).
SHOWN = {
    1: lambda a: a, 2: np.fliplr, 3: lambda a: np.rot90(a, 2), 4: np.flipud,
    5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).transpose(1, 0, 2), 8: lambda a: np.rot90(a, 1),
}
# The stored pixels that show as `a` under each orientation (the inverse turn).
STORED = {1: SHOWN[1], 2: SHOWN[2], 3: SHOWN[3], 4: SHOWN[4], 5: SHOWN[5], 6: SHOWN[8],
          7: SHOWN[7], 8: SHOWN[6]}


def tiff_orientation(code: int, order: str = ">") -> bytes:
    """TIFF data holding one image directory with one entry: Orientation = code."""
    mark = b"MM" if order == ">" else b"II"
    return (mark + struct.pack(order + "HI", 42, 8) + struct.pack(order + "H", 1)
            + struct.pack(order + "HHIHH", 0x0112, 3, 1, code, 0) + struct.pack(order + "I", 0))


def encode(image: np.ndarray, codec: str) -> bytes:
    """One picture as a JPEG (mjpeg) or PNG file, written by PyAV."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="image2pipe") as out:
        stream = out.add_stream(codec, rate=1, options={"qmin": "1", "qmax": "1"})
        stream.height, stream.width = image.shape[:2]
        stream.pix_fmt = "yuvj444p" if codec == "mjpeg" else "rgb24"
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        for packet in [*stream.encode(frame.reformat(format=stream.pix_fmt)), *stream.encode()]:
            out.mux(packet)
    return buffer.getvalue()


def with_exif(data: bytes, code: int) -> bytes:
    """A JPEG or PNG file's bytes with an EXIF Orientation added (APP1 segment, eXIf chunk)."""
    if data.startswith(b"\xff\xd8"):
        payload = b"Exif\x00\x00" + tiff_orientation(code, ">")
        return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]
    tiff = tiff_orientation(code, "<")
    chunk = (struct.pack(">I", len(tiff)) + b"eXIf" + tiff
             + struct.pack(">I", zlib.crc32(b"eXIf" + tiff)))
    return data[:33] + chunk + data[33:]  # after the signature and IHDR


@pytest.fixture(scope="module")
def face_photo(media) -> np.ndarray:
    return read_image(media / "images" / "single_face.jpg")


@pytest.mark.parametrize("code", range(1, 9))
def test_png_exif_orientations_come_out_exactly_upright(face_photo, tmp_path, code):
    path = tmp_path / f"o{code}.png"
    path.write_bytes(with_exif(encode(STORED[code](face_photo), "png"), code))
    assert exif_orientation(path) == code
    assert np.array_equal(read_image(path), face_photo)
    # "0": the pixels as stored; an explicit turn ignores the tag
    assert np.array_equal(read_image(path, rotate="0"), STORED[code](face_photo))
    assert np.array_equal(read_image(path, rotate="90"), SHOWN[6](STORED[code](face_photo)))


def test_exif6_photo_analyses_like_the_upright_one(media):
    upright_face = af.analyze_image(media / "images" / "single_face.jpg")
    turned = media / "orientation" / "single_face_exif6.jpg"
    assert exif_orientation(turned) == 6
    stored = read_image(turned, rotate="0")
    assert stored.shape == (572, 562, 3) and read_image(turned).shape == (562, 572, 3)
    (a,), (b,) = upright_face, af.analyze_image(turned)
    assert abs(b.pose[2] - a.pose[2]) < 5  # roll, degrees
    assert abs(b.valence - a.valence) < 0.05
    assert np.allclose(b.box, a.box, atol=6)
    # the tag ignored, the face lies on its side
    (side,) = af.analyze_image(stored)
    assert abs(abs(side.pose[2]) - 90) < 15


def test_jpeg_exif_orientations_2_to_8_analyse_upright(face_photo, tmp_path):
    (reference,) = af.analyze_image(face_photo)
    for code in range(2, 9):
        path = tmp_path / f"o{code}.jpg"
        path.write_bytes(with_exif(encode(STORED[code](face_photo), "mjpeg"), code))
        assert exif_orientation(path) == code
        image = read_image(path)
        assert image.shape == face_photo.shape
        assert np.abs(image.astype(int) - face_photo).mean() < 3  # JPEG's loss only
        (face,) = af.analyze_image(path)
        assert abs(face.pose[2] - reference.pose[2]) < 5, code
        assert np.allclose(face.box, reference.box, atol=6), code


def test_files_without_a_tag_and_damaged_tags(face_photo, tmp_path):
    plain = tmp_path / "plain.jpg"
    plain.write_bytes(encode(face_photo, "mjpeg"))
    assert exif_orientation(plain) is None
    assert read_image(plain).shape == face_photo.shape
    cut = tmp_path / "cut.jpg"  # an APP1 segment cut off mid-directory
    cut.write_bytes(with_exif(plain.read_bytes(), 6)[:30])
    assert exif_orientation(cut) is None
    other = tmp_path / "notes.txt"
    other.write_text("not an image")
    assert exif_orientation(other) is None


def test_portrait_video_frames_are_upright_pixels(media, video):
    portrait = media / "orientation" / "single_face_portrait.mp4"
    with av.open(str(portrait)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (360, 640)  # stored on its side
    reference = [f.image for f in open_source(video("single_face.mp4"))]
    auto = [f.image for f in open_source(portrait)]
    assert len(auto) == len(reference) == 72
    assert auto[0].shape == (360, 640, 3) and auto[0].flags.c_contiguous
    assert np.mean([np.abs(a.astype(int) - r).mean() for a, r in zip(auto, reference)]) < 3
    stored = next(iter(open_source(portrait, rotate="0"))).image
    assert stored.shape == (640, 360, 3)
    # the documented direction: "90" is a quarter turn clockwise, "270" one counter-clockwise
    assert np.array_equal(next(iter(open_source(portrait, rotate="90"))).image,
                          np.rot90(stored, -1))
    assert np.array_equal(next(iter(open_source(portrait, rotate="270"))).image,
                          np.rot90(stored, 1))
    assert np.array_equal(next(iter(open_source(portrait, rotate="180"))).image,
                          np.rot90(stored, 2))


@pytest.mark.skipif(not hasattr(av.video.stream.VideoStream, "set_display_rotation"),
                    reason="writing a display matrix needs PyAV 18")
@pytest.mark.parametrize("degrees", [0, 90, 180, -90])
@pytest.mark.parametrize("flip", ["", "h", "v"])
def test_display_matrices_turn_and_mirror(tmp_path, degrees, flip):
    """A display matrix rotates the stored picture `degrees` counter-clockwise, then mirrors it;
    the frames come back as shown."""
    picture = np.zeros((48, 80, 3), np.uint8)
    picture[:16, :16] = 255  # a white corner
    picture[..., 1] = np.arange(80, dtype=np.uint8)[None] * 3
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10, options={"qp": "0"})
        stream.width, stream.height, stream.pix_fmt = 80, 48, "yuv444p"
        stream.set_display_rotation(degrees, hflip=flip == "h", vflip=flip == "v")
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    shown = np.rot90(picture, degrees // 90)
    shown = np.fliplr(shown) if flip == "h" else np.flipud(shown) if flip == "v" else shown
    (got,) = [f.image for f in open_source(path)]
    assert got.shape == shown.shape
    assert np.abs(got.astype(int) - shown).mean() < 2


def test_upright_frames_are_not_copied_and_arrays_are_taken_as_they_are():
    image = np.zeros((4, 6, 3), np.uint8)
    assert upright(image, 1) is image
    image[0, 0] = 255
    (frame,) = open_source([image], fps=1)
    assert np.array_equal(frame.image, image)
    (turned,) = open_source([image], fps=1, rotate="90")
    assert np.array_equal(turned.image, np.rot90(image, -1))
    with pytest.raises(AffectStreamError, match="rotate must be"):
        open_source([image], fps=1, rotate="45")


def test_portrait_video_analyses_like_the_upright_one(media, video):
    portrait = media / "orientation" / "single_face_portrait.mp4"

    def faces(path, rotate="auto"):
        with af.AffectStream(temporal="none", rotate=rotate) as pipeline:
            return [r for r in pipeline.stream(path) if r.box is not None]

    reference, upright_rows = faces(video("single_face.mp4")), faces(portrait)
    assert len({r.frame for r in upright_rows}) >= 0.95 * 72
    roll = np.median([r.pose[2] for r in upright_rows])
    assert abs(roll - np.median([r.pose[2] for r in reference])) < 10
    boxes = {r.frame: r.box for r in reference}
    gaps = [np.abs(np.subtract(r.box, boxes[r.frame])).max() for r in upright_rows
            if r.frame in boxes]
    assert np.median(gaps) < 3 and max(gaps) < 10
    for r in upright_rows:  # inside the upright 640×360 frame, not the stored 360×640
        x, y, w, h = r.box
        assert -5 <= x and x + w <= 645 and -5 <= y and y + h <= 365
    sideways = faces(portrait, rotate="0")  # the stored pixels: the face lies on its side
    assert len(sideways) >= 0.9 * 72
    assert abs(abs(np.median([r.pose[2] for r in sideways])) - 90) < 15
