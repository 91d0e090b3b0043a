"""Shared fixtures: the `../shared` folder (skipped with a reason when absent) and an isolated
cache."""
from __future__ import annotations

import faulthandler
import os
import sys
import tempfile
import threading
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


# Seconds the interpreter may take to exit once pytest has printed its summary.
EXIT_GRACE_S = 60


def pytest_sessionfinish(session, exitstatus):
    session.config._affectstream_status = int(exitstatus)


def pytest_unconfigure(config):
    """A thread left running (a reader on a socket, a pool worker) would hold the interpreter at
    exit with every result already printed, until CI's clock runs out: past a grace period this
    prints every thread's stack, so the culprit is named, and exits with pytest's own status."""
    status = getattr(config, "_affectstream_status", None)
    if status is None:
        return

    def watchdog():
        threading.Event().wait(EXIT_GRACE_S)
        print(f"\ntests: the interpreter had not exited {EXIT_GRACE_S} s after the summary; "
              "threads still running:", file=sys.stderr, flush=True)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        os._exit(status)

    threading.Thread(target=watchdog, name="exit-watchdog", daemon=True).start()


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
