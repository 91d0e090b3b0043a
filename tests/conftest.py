"""Shared fixtures: the `../shared` folder (skipped with a reason when absent) and an isolated
cache."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AFFECTSTREAM_SHARED", ROOT.parent / "shared")).resolve()
MODEL = SHARED / "models" / "face_landmarker.task"

# Tests never touch the user's cache or the network unless a test asks for it.
os.environ["AFFECTSTREAM_CACHE"] = tempfile.mkdtemp(prefix="affectstream-cache-")
os.environ["AFFECTSTREAM_OFFLINE"] = "1"
if MODEL.exists():
    os.environ["AFFECTSTREAM_MODEL_DIR"] = str(MODEL.parent)


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} not found: these tests need the project's shared/ folder "
                    "(set AFFECTSTREAM_SHARED)")
    return path


@pytest.fixture(scope="session")
def shared() -> Path:
    return _need(SHARED)


@pytest.fixture(scope="session")
def model(shared) -> Path:
    """The MediaPipe model file every pipeline needs."""
    return _need(MODEL)


@pytest.fixture(scope="session")
def media(shared, model) -> Path:
    return _need(shared / "media")


@pytest.fixture(scope="session")
def video(media):
    """video("WolfgangLanger_Pexels.mp4") -> path under media/video."""
    return lambda name: _need(media / "video" / name)


@pytest.fixture
def single_face_ts(video, tmp_path) -> Path:
    """single_face.mp4 remuxed to MPEG-TS, a format read without seeking (pipes, plain HTTP)."""
    import av

    clip = tmp_path / "clip.ts"
    with av.open(str(video("single_face.mp4"))) as src, av.open(str(clip), "w",
                                                                format="mpegts") as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return clip
