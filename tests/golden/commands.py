"""The commands whose outputs are kept as golden files: run them again and compare byte for byte.

    python tests/golden/commands.py OUT_DIR     # write the outputs of today's code into OUT_DIR

Each command is `affectstream process ...` with paths relative to the shared media folder and to
the output folder. JSONL records carry `latency_ms`, a wall-clock measurement, so comparisons
drop that one field; every other byte must match on a CPU of the kind that recorded them
(`host.json`). Another kind rounds differently in MediaPipe's and PyTorch's vector kernels (an
AVX-512 host against the AVX2 one that recorded them: the last printed digit of a few CSV cells,
6e-5 at most in JSONL), so there every cell that is not a number must still match and every number
agree to rounding.
"""
from __future__ import annotations

import csv
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("AFFECTSTREAM_SHARED", ROOT.parent / "shared")).resolve()
VIDEO = "media/video/WolfgangLanger_Pexels.mp4"
HOST = Path(__file__).parent / "host.json"
# CPU features that choose which vector kernels MediaPipe (XNNPACK) and PyTorch (oneDNN) run
KERNEL_FEATURES = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile",
                   "amx_bf16", "amx_int8", "asimd", "sve")
JSONL_TOLERANCE = 1e-3  # times max(1, |value|): full-precision floats across CPU kinds

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


def cpu_kind() -> dict:
    """This machine's architecture and the KERNEL_FEATURES its CPU has (from /proc/cpuinfo where
    there is one)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    flags = set()
    for line in text.splitlines():
        if line.split(":")[0].strip() in ("flags", "Features"):
            flags.update(line.split(":", 1)[1].split())
    return {"machine": platform.machine(), "features": [f for f in KERNEL_FEATURES if f in flags]}


def recorded_kind() -> dict | None:
    return json.loads(HOST.read_text()) if HOST.exists() else None


def cells(path: Path) -> list[list[str]]:
    """A CSV's rows, or per JSONL record (without `latency_ms`) its leaves as "key=value"."""
    if path.suffix == ".csv":
        return list(csv.reader(io.StringIO(path.read_text())))
    rows = []
    for line in comparable(path).decode().splitlines():
        leaves: list[str] = []

        def walk(value, key=""):
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(v, f"{key}.{k}")
            elif isinstance(value, list):
                for i, v in enumerate(value):
                    walk(v, f"{key}[{i}]")
            else:
                leaves.append(f"{key}={json.dumps(value)}")
        walk(json.loads(line))
        rows.append(leaves)
    return rows


def rounding_mismatch(new: Path, old: Path) -> str | None:
    """None when `new` matches `old` up to float rounding: the same rows and cells, every cell that
    is not a number equal, a CSV number within one unit of its last printed digit, a JSONL number
    within JSONL_TOLERANCE; else where they first differ."""
    a, b = cells(new), cells(old)
    if len(a) != len(b):
        return f"{len(a)} rows, recorded {len(b)}"
    printed = new.suffix == ".csv"
    for row, (ra, rb) in enumerate(zip(a, b), 1):
        if len(ra) != len(rb):
            return f"row {row}: {len(ra)} cells, recorded {len(rb)}"
        for x, y in zip(ra, rb):
            if x == y:
                continue
            if not printed:  # "key=value": the keys must match, the values to rounding
                (key_x, x), (key_y, y) = x.split("=", 1), y.split("=", 1)
                if key_x != key_y:
                    return f"row {row}: {key_x!r} != {key_y!r}"
            if not _rounds_alike(x, y, printed):
                return f"row {row}: {x!r} != {y!r}"
    return None


def _rounds_alike(x: str, y: str, printed: bool) -> bool:
    try:
        a, b = float(x), float(y)
    except ValueError:
        return False
    if printed:  # one unit of the last printed digit; whole numbers (frames, ids) exactly
        if "." not in x or "." not in y:
            return False
        decimals = max(len(v.partition(".")[2]) for v in (x, y))
        return abs(a - b) <= 1.5 * 10.0 ** -decimals
    return abs(a - b) <= JSONL_TOLERANCE * max(1.0, abs(a))


if __name__ == "__main__":
    run(Path(sys.argv[1]))
    # the golden files are recorded into tests/golden itself: say on what kind of CPU
    if Path(sys.argv[1]).resolve() == HOST.parent.resolve():
        HOST.write_text(json.dumps(cpu_kind(), indent=1) + "\n")
