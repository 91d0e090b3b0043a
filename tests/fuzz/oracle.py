"""What FFmpeg itself says about a file's first video stream, independent of affectstream.

`decode_errors(path)` decodes every frame with the `ffmpeg` binary when one is installed, else
with PyAV directly, and returns the error lines FFmpeg reported (none: the file is sound). Each
check runs in its own process, so a hang or crash in FFmpeg cannot take the harness down.
Run as a script (`python oracle.py FILE`) it is the PyAV check and prints the errors as JSON.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

# `ffmpeg -f null` also reports on its own output side (timestamps fed to the null muxer), and
# folds repeats into "Last message repeated"; only what the demuxer and decoder say counts.
NOT_DECODING = re.compile(r"^(\[(null|out#\S*)( @ \S+)?\] |\s*Last message repeated )")


def decode_errors(path: str, backend: str = "auto", timeout: float = 60) -> list[str]:
    """FFmpeg's error messages decoding the first video stream of `path`; [] when sound.
    backend: "ffmpeg" (the binary), "pyav", or "auto" (the binary if installed)."""
    use_binary = backend == "ffmpeg" or (backend == "auto" and shutil.which("ffmpeg"))
    command = ([shutil.which("ffmpeg") or "ffmpeg", "-nostdin", "-hide_banner", "-v", "error",
                "-i", path, "-map", "0:v:0", "-f", "null", "-"] if use_binary
               else [sys.executable, __file__, path])
    try:
        done = subprocess.run(command, capture_output=True, text=True, errors="replace",
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return [f"the decoding check itself ran over {timeout:g} s"]
    if not use_binary and done.returncode == 0:
        return json.loads(done.stdout)
    lines = [line for line in done.stderr.splitlines()
             if line.strip() and not NOT_DECODING.match(line)]
    if done.returncode != 0 and not lines:
        lines = [f"the decoding check exited {done.returncode}"]
    return lines


def backend_name(backend: str = "auto") -> str:
    """Which decoder `decode_errors` uses, with its FFmpeg version, for the report."""
    binary = shutil.which("ffmpeg")
    if backend == "ffmpeg" or (backend == "auto" and binary):
        first = subprocess.run([binary or "ffmpeg", "-version"], capture_output=True,
                               text=True).stdout.split("\n", 1)[0]
        return f"{binary}: {first}"
    import av

    return f"PyAV {av.__version__} (FFmpeg {av.ffmpeg_version_info})"


def pyav_errors(path: str) -> list[str]:
    """Decode packet by packet with PyAV: FFmpeg's error-level log lines, exceptions and frames
    flagged corrupt."""
    import av
    import av.logging

    errors: list[str] = []
    av.logging.set_level(av.logging.ERROR)
    with av.logging.Capture(local=False) as logs:  # decoder threads log too
        try:
            with av.open(path) as container:
                if not container.streams.video:
                    return ["no video stream"]
                errors += _decode(container, container.streams.video[0])
        except av.FFmpegError as e:
            errors.append(f"open: {e}")
    return [f"[{name}] {message.strip()}" for _, name, message in logs] + errors


def _decode(container, stream) -> list[str]:
    import av

    errors = []
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.FFmpegError as e:
            errors.append(f"decode: {e}")
            continue
        errors += [f"frame {frame.pts}: flagged corrupt" for frame in frames if frame.is_corrupt]
    return errors


if __name__ == "__main__":
    print(json.dumps(pyav_errors(sys.argv[1])))
