"""The fuzz corpus: seeded, damaged or odd media files, each with its kind of damage recorded.

`make_corpus(folder, seed, count)` writes `count` files and `manifest.json`; the same seed gives
the same bytes. Kinds are dealt round-robin, so any `count >= len(KINDS)` covers every kind.
"""
from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

from . import mp4, mutations, synthetic

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("AFFECTSTREAM_SHARED", ROOT.parent / "shared")).resolve()
MEDIA = SHARED / "media"
MANIFEST = "manifest.json"
MP4S = ("video/codecs/h264_aac.mp4", "video/codecs/mp4v_aac.mp4", "video/codecs/video_01.mp4",
        "video/single_face.mp4")
VIDEOS = MP4S + ("video/codecs/vp8_opus.webm", "video/codecs/xvid_aac.avi")
IMAGES = ("images/single_face.jpg", "images/0-f1-su-ph.jpg", "images/multi_face.jpg")
FACE = "images/single_face.jpg"
VIDEO_SUFFIXES = (".mp4", ".webm", ".avi", ".mkv", ".mov")
ODD_FOLDERS = ("with spaces", "ünïcødé ✓", "日本語 テスト", "emoji 😀 dir", "quote's & (1)")
ODD_STEMS = ("clip with spaces", "café naïve", "файл", "50% done", "a;b#c")


@dataclass(frozen=True)
class Entry:
    """One corpus file: `path` relative to the corpus folder, the `kind` of damage, the media
    file it was made from (or "synthetic"), and what exactly was done."""
    path: str
    kind: str
    source: str
    detail: str


@dataclass(frozen=True)
class Specimen:
    """What a recipe makes: the bytes, the file suffix, and where it came from; `folder` and
    `stem` replace the default name (odd-path kinds)."""
    data: bytes
    suffix: str
    source: str
    detail: str
    folder: str = ""
    stem: str = ""


def _pick(rng: random.Random, media: Path, names: tuple[str, ...]) -> tuple[str, bytes]:
    name = rng.choice(names)
    return name, (media / name).read_bytes()


def _mutated(rng: random.Random, media: Path, names: tuple[str, ...],
             damage: Callable[[bytes], tuple[bytes, str]]) -> Specimen:
    """A source from `names` with `damage` applied, keeping its suffix."""
    name, data = _pick(rng, media, names)
    out, detail = damage(data)
    return Specimen(out, Path(name).suffix, name, detail)


def _renamed(rng: random.Random, media: Path, names: tuple[str, ...],
             suffixes: tuple[str, ...]) -> Specimen:
    """An intact source under a suffix that lies about what it is."""
    name, data = _pick(rng, media, names)
    suffix = rng.choice(suffixes)
    return Specimen(data, suffix, name, f"renamed to {suffix}")


def _odd_path(rng: random.Random, media: Path) -> Specimen:
    """An intact source in a folder and under a name with spaces, accents, scripts, emoji."""
    name, data = _pick(rng, media, VIDEOS + IMAGES)
    folder, stem = rng.choice(ODD_FOLDERS), rng.choice(ODD_STEMS)
    return Specimen(data, Path(name).suffix, name, f"as {folder}/{stem}", folder, stem)


def _header_field(rng: random.Random, media: Path, box: bytes, fmt: str,
                  values: tuple[tuple[int, ...], ...], scale: int = 1) -> Specimen:
    """An MP4 source with the video track's `box` field set to one of `values` (x `scale`)."""
    name, data = _pick(rng, media, MP4S)
    value = rng.choice(values)
    offset = mp4.field_offsets(data, box)[0]  # the first track is the video track in MP4S
    patched = mp4.patch(data, offset, fmt, *(v * scale for v in value))
    return Specimen(patched, ".mp4", name, f"{mp4.FIELDS[box]} set to {value}")


def _header_dims(rng: random.Random, media: Path) -> Specimen:
    """Declared width x height no encoder writes, in the track header or the sample entry."""
    sizes = ((0, 0), (65535, 65535), (1, 65535), (65535, 1))
    if rng.random() < 0.5:
        return _header_field(rng, media, b"tkhd", "II", sizes, scale=65536)  # 16.16 fixed point
    return _header_field(rng, media, b"video", "HH", sizes)


def _synthetic(rng: random.Random, media: Path, size: tuple[int, int], count: int,
               codecs: tuple[str, ...], pts: list[int] | None = None,
               time_base: Fraction = Fraction(1, 30)) -> Specimen:
    """A clip of the face still encoded at `size` (w, h) with one of `codecs`."""
    codec = rng.choice(codecs)
    frames = synthetic.face_frames(media / FACE, *size, count)
    data, suffix = synthetic.encode(frames, codec=codec, pts=pts, time_base=time_base)
    detail = f"{codec} {size[0]}x{size[1]}, {count} frame(s), time base {time_base}"
    return Specimen(data, suffix, "synthetic", detail + (f", pts {pts}" if pts else ""))


def _odd_time_base(rng: random.Random, media: Path) -> Specimen:
    """Irregular pts in a time base no camera uses."""
    time_base = rng.choice((Fraction(7, 90001), Fraction(1, 7), Fraction(1001, 240000)))
    pts, t = [], 0
    for _ in range(12):
        pts.append(t)
        t += rng.randint(1, 40)
    return _synthetic(rng, media, (160, 120), 12, ("libx264", "libvpx"), pts, time_base)


def _zero_frames(rng: random.Random, media: Path) -> Specimen:
    codec = rng.choice(("libx264", "libvpx", "ffv1"))
    data, suffix = synthetic.encode([], codec=codec)
    return Specimen(data, suffix, "synthetic", f"{codec} video stream with no frames")


def _audio_only(rng: random.Random, media: Path) -> Specimen:
    codec = rng.choice(("aac", "libopus"))
    data, suffix = synthetic.tone(codec, seconds=rng.uniform(0.2, 2.0))
    return Specimen(data, suffix, "synthetic", f"{codec} audio, no video stream")


def _blank(rng: random.Random, size: int) -> Specimen:
    """A 0- or 1-byte file under a video or image suffix."""
    suffix = rng.choice(VIDEO_SUFFIXES + (".jpg", ".png"))
    return Specimen(rng.randbytes(size), suffix, "none", f"{size} byte(s)")


def _noise(rng: random.Random) -> Specimen:
    data = mutations.random_bytes(rng, 512, 262144)
    return Specimen(data, rng.choice(VIDEO_SUFFIXES), "none", f"{len(data)} random bytes")


H = mutations.HEADER
KINDS: dict[str, Callable[[random.Random, Path], Specimen]] = {
    "intact": lambda r, m: _mutated(r, m, VIDEOS + IMAGES, lambda d: (d, "unchanged")),
    "truncate_head": lambda r, m: _mutated(
        r, m, VIDEOS, lambda d: mutations.truncate(d, r, 0.0, 0.1)),
    "truncate_tail": lambda r, m: _mutated(
        r, m, VIDEOS, lambda d: mutations.truncate(d, r, 0.3, 0.995)),
    "flip_payload": lambda r, m: _mutated(
        r, m, VIDEOS, lambda d: mutations.flip(d, r, *mutations.middle(d), most=64)),
    "flip_header": lambda r, m: _mutated(
        r, m, VIDEOS, lambda d: mutations.flip(d, r, 0, H, most=16)),
    "zero_header": lambda r, m: _mutated(
        r, m, VIDEOS, lambda d: mutations.zero(d, r, 0, H, 16, 1024)),
    "zero_payload": lambda r, m: _mutated(
        r, m, VIDEOS, lambda d: mutations.zero(d, r, *mutations.middle(d), 1024, 16384)),
    "image_truncate": lambda r, m: _mutated(
        r, m, IMAGES, lambda d: mutations.truncate(d, r, 0.05, 0.95)),
    "image_flip": lambda r, m: _mutated(
        r, m, IMAGES, lambda d: mutations.flip(d, r, 0, len(d), most=32)),
    "video_as_image": lambda r, m: _renamed(r, m, VIDEOS, (".jpg", ".png")),
    "video_as_text": lambda r, m: _renamed(r, m, VIDEOS, (".txt",)),
    "image_as_video": lambda r, m: _renamed(r, m, IMAGES, (".mp4", ".mov", ".webm")),
    "text_as_video": lambda r, m: Specimen(mutations.text(r), r.choice(VIDEO_SUFFIXES), "none",
                                           "plain text"),
    "empty": lambda r, m: _blank(r, 0),
    "one_byte": lambda r, m: _blank(r, 1),
    "random_bytes": lambda r, m: _noise(r),
    "tiny_size": lambda r, m: _synthetic(r, m, r.choice(((2, 2), (1, 1), (3, 5))), 8,
                                         ("ffv1",)),
    "tiny_even_size": lambda r, m: _synthetic(r, m, (2, 2), 8, ("libx264", "libvpx", "mpeg4")),
    "extreme_aspect": lambda r, m: _synthetic(r, m, r.choice(((16, 4000), (4000, 16))), 3,
                                              ("libx264", "libvpx")),
    "one_frame": lambda r, m: _synthetic(r, m, (160, 120), 1,
                                         ("libx264", "libvpx", "mjpeg", "mpeg4")),
    "fps_1000": lambda r, m: _synthetic(r, m, (160, 120), 30, ("libx264", "libvpx"),
                                        time_base=Fraction(1, 1000)),
    "fps_1_per_100s": lambda r, m: _synthetic(r, m, (160, 120), 3, ("libx264", "mjpeg"),
                                              [0, 100, 200], Fraction(1, 1)),
    "odd_time_base": _odd_time_base,
    "zero_frames": _zero_frames,
    "audio_only": _audio_only,
    "header_dims": _header_dims,
    "header_timescale": lambda r, m: _header_field(r, m, b"mdhd", "I",
                                                   ((0,), (1,), (7,), (0xFFFFFFFF,))),
    "header_stts": lambda r, m: _header_field(r, m, b"stts", "I",
                                              ((0,), (1,), (0x7FFFFFFF,), (0xFFFFFFFF,))),
    "odd_path": _odd_path,
}


def make_corpus(folder: Path, seed: int, count: int, media: Path = MEDIA) -> list[Entry]:
    """Write `count` files made from `media` into `folder`, and their manifest; the same
    seed gives the same bytes."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for index in range(count):
        kind = list(KINDS)[index % len(KINDS)]
        specimen = KINDS[kind](random.Random(f"{seed}:{index}:{kind}"), media)
        name = (f"{specimen.folder}/{index:03d} {specimen.stem}" if specimen.folder
                else f"{index:03d}_{kind}")
        path = folder / f"{name}{specimen.suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(specimen.data)
        entries.append(Entry(path.relative_to(folder).as_posix(), kind, specimen.source,
                             specimen.detail))
    text = json.dumps([asdict(e) for e in entries], indent=1, ensure_ascii=False)
    (folder / MANIFEST).write_text(text + "\n", encoding="utf-8")
    return entries


def load_manifest(folder: Path) -> list[Entry]:
    """The entries `make_corpus` recorded in `folder`."""
    rows = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    return [Entry(**row) for row in rows]
