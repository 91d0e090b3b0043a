"""Which way up a picture's pixels are stored, and turning them upright.

An orientation is an EXIF Orientation code (EXIF 2.3, tag 0x0112): how the stored pixels become
the picture as shown. 1 is upright; 2–8 are the seven other quarter turns and mirrors. A video's
display matrix (ISO/IEC 14496-12 `tkhd`, FFmpeg's DISPLAYMATRIX side data) reduces to the same
eight. `rotate` settings: "auto" follows the file; "0", "90", "180", "270" turn this many degrees
clockwise whatever the file says ("0": the pixels as stored).
"""
from __future__ import annotations

import io
import os
import struct
from typing import BinaryIO

import cv2
import numpy as np
from av.sidedata.sidedata import Type

from .errors import AffectStreamError

UPRIGHT = 1
CLOCKWISE = {"0": 1, "90": 6, "180": 3, "270": 8}  # rotate setting -> orientation
ORIENTATION_TAG = 0x0112
EXIF_HEADER = b"Exif\x00\x00"  # before the TIFF data in a JPEG APP1 segment (and some WebPs)


def fixed(rotate) -> int | None:
    """The orientation a `rotate` setting forces, or None for "auto" (the file's own)."""
    text = str(rotate)
    if text == "auto":
        return None
    if text not in CLOCKWISE:
        raise AffectStreamError(f"rotate must be auto, 0, 90, 180 or 270 (degrees clockwise), "
                                f"got {rotate!r}")
    return CLOCKWISE[text]


def upright(image: np.ndarray, orientation: int) -> np.ndarray:
    """`image` as shown: the stored pixels turned and mirrored as `orientation` says (the same
    array, not a copy, when it is already upright)."""
    if orientation == 2:
        return cv2.flip(image, 1)
    if orientation == 3:
        return cv2.rotate(image, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(image, 0)
    if orientation == 5:  # mirrored across the main diagonal
        return cv2.transpose(image)
    if orientation == 6:
        return cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:  # mirrored across the other diagonal
        return cv2.flip(cv2.transpose(image), -1)
    if orientation == 8:
        return cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return image


def from_matrix(matrix) -> int:
    """The orientation of a display matrix (9 numbers, row-major). It maps a stored pixel (p, q)
    to (a·p + c·q, b·p + d·q) shown, in pixel coordinates (y down); only the quarter turn nearest
    to it counts."""
    a, b, _, c, d = matrix[:5]
    if abs(a) + abs(d) >= abs(b) + abs(c):  # x stays x: no turn, or half a turn, or a mirror
        if a == 0 and d == 0:
            return UPRIGHT  # an empty matrix says nothing
        return {(True, True): 1, (False, True): 2, (False, False): 3, (True, False): 4}[
            (a >= 0, d >= 0)]
    # x and y swap: transposed, then the shown x (from q) and y (from p) may run backwards
    return {(True, True): 5, (True, False): 6, (False, False): 7, (False, True): 8}[(b > 0, c > 0)]


def from_degrees(counterclockwise: float) -> int:
    """The orientation of a display rotation, FFmpeg's sign: degrees counter-clockwise."""
    clockwise = -round(counterclockwise / 90) * 90 % 360
    return CLOCKWISE[str(clockwise)]


def frame_orientation(frame) -> int | None:
    """A decoded PyAV frame's orientation, from its display matrix (mirrors included), or None
    when it has none; from PyAV's rotation angle alone when the side data cannot be listed."""
    try:
        data = frame.side_data.get(Type.DISPLAYMATRIX)
    except ValueError:  # side data of a type this PyAV has no name for (FFmpeg 8's EXIF)
        angle = getattr(frame, "rotation", 0)
        return from_degrees(angle) if angle else None
    return None if data is None else from_matrix(struct.unpack("=9i", bytes(data)[:36]))


def frame_rotation(frame) -> int | None:
    """A decoded PyAV frame's rotation alone (no mirrors), None when upright: cheap, for every
    image of a folder (listing side data leaks in PyAV 18; EXIF, read separately, has mirrors)."""
    angle = getattr(frame, "rotation", 0)
    return from_degrees(angle) if angle else None


def stream_orientation(stream) -> int | None:
    """A video stream's orientation as PyAV 12–13 report it (`side_data`, degrees
    counter-clockwise; their FFmpeg may not pass it on to the frames); None elsewhere."""
    side_data = getattr(stream, "side_data", None)
    angle = side_data.get("DISPLAYMATRIX") if isinstance(side_data, dict) else None
    return None if angle is None or not np.isfinite(angle) else from_degrees(angle)


def exif_orientation(path: str | os.PathLike) -> int | None:
    """The EXIF Orientation of a JPEG, PNG, WebP or TIFF file; None when it has none (or is
    another format). Read from the file's own bytes: FFmpeg applies none of it, and reports it
    only in recent versions and without mirrors."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if head.startswith(b"\xff\xd8"):
                exif = _jpeg_exif(f)
            elif head.startswith(b"\x89PNG\r\n\x1a\n"):
                exif = _png_exif(f)
            elif head.startswith(b"RIFF") and head[8:12] == b"WEBP":
                exif = _webp_exif(f)
            elif head[:4] in (b"II*\x00", b"MM\x00*"):
                return _tiff_orientation(f)
            else:
                return None
        return None if exif is None else _tiff_orientation(
            io.BytesIO(exif.removeprefix(EXIF_HEADER)))
    except (OSError, struct.error):  # cut short or garbled: as if it had none
        return None


def _jpeg_exif(f: BinaryIO) -> bytes | None:
    """The TIFF data of a JPEG's EXIF APP1 segment, searched up to the image data."""
    f.seek(2)
    while True:
        marker = f.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        while marker[1] == 0xFF:  # fill bytes before a marker
            marker = marker[1:] + f.read(1)
        if marker[1] in (0xD9, 0xDA):  # end of image, start of scan: no more metadata
            return None
        if 0xD0 <= marker[1] <= 0xD7 or marker[1] == 0x01:  # markers without a length
            continue
        (length,) = struct.unpack(">H", f.read(2))
        if marker[1] == 0xE1:
            data = f.read(length - 2)
            if data.startswith(EXIF_HEADER):  # (XMP uses APP1 too)
                return data
        else:
            f.seek(length - 2, os.SEEK_CUR)


def _chunk(f: BinaryIO, start: int, wanted: bytes, header: str, skip) -> bytes | None:
    """The data of the first chunk named `wanted` in a chunked file (PNG, RIFF) from `start`;
    `header`: the struct layout of a chunk's (name, length) or (length, name) header; `skip`: the
    bytes after a chunk's header to pass over, from its length."""
    f.seek(start)
    while True:
        raw = f.read(8)
        if len(raw) < 8:
            return None
        first, second = struct.unpack(header, raw)
        kind, length = (first, second) if isinstance(first, bytes) else (second, first)
        if kind == wanted:
            return f.read(length)
        if kind == b"IEND":
            return None
        f.seek(skip(length), os.SEEK_CUR)


def _png_exif(f: BinaryIO) -> bytes | None:
    """The data of a PNG's eXIf chunk (each chunk: data, then a 4-byte CRC)."""
    return _chunk(f, 8, b"eXIf", ">I4s", lambda length: length + 4)


def _webp_exif(f: BinaryIO) -> bytes | None:
    """The data of a WebP's EXIF chunk (RIFF chunks are padded to an even size)."""
    return _chunk(f, 12, b"EXIF", "<4sI", lambda length: length + (length & 1))


def _tiff_orientation(f: BinaryIO) -> int | None:
    """The Orientation entry of the first image directory of TIFF data that starts at 0."""
    f.seek(0)
    head = f.read(8)
    if head[:2] not in (b"II", b"MM"):
        return None
    order = "<" if head[:2] == b"II" else ">"
    (first,) = struct.unpack(order + "I", head[4:8])
    f.seek(first)
    (count,) = struct.unpack(order + "H", f.read(2))
    entries = f.read(12 * count)
    for i in range(len(entries) // 12):
        tag, kind, _ = struct.unpack(order + "HHI", entries[12 * i:12 * i + 8])
        if tag != ORIENTATION_TAG:
            continue
        value = entries[12 * i + 8:12 * i + 12]
        # a SHORT as the standard says; a LONG from the odd writer
        (code,) = struct.unpack(order + ("I" if kind == 4 else "H"), value[:4 if kind == 4 else 2])
        return code if 1 <= code <= 8 else None
    return None
