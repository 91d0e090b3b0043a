"""Keeping MediaPipe's native (C++) log lines off the user's terminal.

They go straight to file descriptor 2 and ignore every logging setting. `AFFECTSTREAM_DEBUG=1`
keeps them.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import threading

# glog/absl lines ("W0000 00:00:17.. 123 file.cc:12] ...") and LiteRT's "INFO: [file.cc:36] ..."
# lines.
NATIVE_LOG = re.compile(rb"^([IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\]|(INFO|WARNING): |"
                        rb"WARNING: Logging before InitGoogle)")


def debugging() -> bool:
    return bool(os.environ.get("AFFECTSTREAM_DEBUG"))


@contextlib.contextmanager
def quiet_native_logs():
    """Silence fd 2 while MediaPipe starts, warms up and stops, when it logs the most."""
    if debugging():
        yield
        return
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def filter_native_logs() -> None:
    """For the CLI's own process: route fd 2 through a thread that drops native log lines.

    Python's sys.stderr keeps writing to the real terminal directly, so its messages stay in order.
    """
    if debugging():
        return
    terminal = os.dup(2)
    sys.stderr.flush()
    sys.stderr = open(terminal, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",
                      errors="replace")
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump() -> None:
        with open(read_end, "rb") as pipe:
            for line in pipe:
                if not NATIVE_LOG.match(line):
                    os.write(terminal, line)

    threading.Thread(target=pump, name="affectstream-native-logs", daemon=True).start()
