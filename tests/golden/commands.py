"""The commands whose outputs are kept as golden files: run them again and compare byte for byte.

    python tests/golden/commands.py OUT_DIR     # write the outputs of today's code into OUT_DIR

Each command is `affectstream process ...` with paths relative to the shared media folder and to
the output folder. JSONL records carry `latency_ms`, a wall-clock measurement, so comparisons
drop that one field; every other byte must match.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("AFFECTSTREAM_SHARED", ROOT.parent / "shared")).resolve()
VIDEO = "media/video/WolfgangLanger_Pexels.mp4"

# (media inputs under SHARED, output under OUT, extra arguments)
COMMANDS: tuple[tuple[tuple[str, ...], str, tuple[str, ...]], ...] = (
    ((VIDEO,), "wolfgang_ap.csv", ("--temporal", "ap")),
    ((VIDEO,), "wolfgang_affwildnet.csv", ("--temporal", "affwildnet")),
    ((VIDEO,), "wolfgang_none.csv", ("--temporal", "none")),
    (("media/video/codecs",), "codecs/", ()),
    (("media/images/multi_face.jpg",), "multi_face.csv", ()),
    (("media/images",), "images_stills.csv", ("--stills",)),
)


def environment() -> dict[str, str]:
    """Offline, the shared MediaPipe model, a throw-away cache: nothing outside the run matters."""
    env = dict(os.environ)
    env.update(AFFECTSTREAM_MODEL_DIR=str(SHARED / "models"), AFFECTSTREAM_OFFLINE="1",
               AFFECTSTREAM_CACHE=tempfile.mkdtemp(prefix="affectstream-golden-cache-"))
    return env


def run(out: Path) -> None:
    """Every golden command, writing under `out`."""
    for inputs, output, extra in COMMANDS:
        # relative inputs run from SHARED: a still's `file` column holds the path as given, not this checkout's
        cmd = [sys.executable, "-m", "affectstream.cli", "process", *inputs,
               "-o", str(out / output), "--jsonl", "--quiet", *extra]
        subprocess.run(cmd, env=environment(), cwd=SHARED, check=False, capture_output=True,
                       timeout=900)


def comparable(path: Path) -> bytes:
    """The file's bytes; for JSONL, each record without its wall-clock `latency_ms`."""
    data = path.read_bytes()
    if path.suffix != ".jsonl":
        return data
    lines = []
    for line in data.decode().splitlines():
        record = json.loads(line)
        record.pop("latency_ms", None)
        lines.append(json.dumps(record))
    return "\n".join(lines).encode()


if __name__ == "__main__":
    run(Path(sys.argv[1]))
