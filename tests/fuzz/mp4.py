"""Just enough ISO-BMFF (MP4/MOV) box walking to set header fields to values no encoder writes."""
from __future__ import annotations

import struct
from collections.abc import Iterator

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"udta"}
FIELDS = {b"tkhd": "track header width, height", b"mdhd": "media timescale",
          b"stts": "first sample duration", b"video": "sample entry width, height"}
SAMPLE_ENTRIES = {b"avc1", b"avc3", b"hvc1", b"hev1", b"mp4v", b"vp09", b"av01"}


def boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """(type, offset, size) of every box under the containers that hold the track headers,
    depth first; a malformed size ends the walk of that level."""
    end = len(data) if end is None else end
    while start + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, start)
        header = 8
        if size == 1 and start + 16 <= end:  # 64-bit size follows the type
            size, header = struct.unpack_from(">Q", data, start + 8)[0], 16
        elif size == 0:  # the box runs to the end of the file
            size = end - start
        if size < header or start + size > end:
            return
        yield kind, start, size
        if kind in CONTAINERS:
            yield from boxes(data, start + header, start + size)
        elif kind == b"stsd":  # version, flags and entry count precede the sample entries
            yield from boxes(data, start + header + 8, start + size)
        start += size


def field_offsets(data: bytes, kind: bytes) -> list[int]:
    """Offsets of the field this module patches in each box of `kind`: tkhd width, mdhd
    timescale, stts first delta, or a video sample entry's width."""
    found = []
    for box, offset, size in boxes(data):
        version = data[offset + 8] if size > 8 else 0
        if box == kind == b"tkhd":
            found.append(offset + (96 if version == 1 else 84))
        elif box == kind == b"mdhd":
            found.append(offset + (28 if version == 1 else 20))
        elif box == kind == b"stts" and size >= 24:
            found.append(offset + 20)
        elif kind == b"video" and box in SAMPLE_ENTRIES:
            found.append(offset + 32)
    return found


def patch(data: bytes, offset: int, fmt: str, *values: int) -> bytes:
    """`data` with big-endian `values` packed in `fmt` at `offset`."""
    out = bytearray(data)
    struct.pack_into(">" + fmt, out, offset, *values)
    return bytes(out)
