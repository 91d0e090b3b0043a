"""`affectstream serve`: live affect as a WebSocket feed of JSON records, and a page that plots it.

    affectstream serve --source webcam:0 [--host 127.0.0.1] [--port 8765] [--loop]

The pipeline runs in live mode; a video file is played at its own frame rate, as a camera would
be (`--loop` replays it forever, for demos and tests). It listens on 127.0.0.1 unless `--host`
names another address. Ctrl-C (or SIGTERM) stops it after the frame in flight (a second one at
once); the run's Summary and the feed's counts are printed.
"""
from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from ..errors import AffectStreamError
from ..stages import Source
from .address import LOOPBACK, is_loopback

DEFAULT_PORT = 8765


def add_parser(sub, stage_options: tuple[str, ...] | None = None) -> None:
    """The `serve` subcommand, with the pipeline options `webcam` takes (`stage_options`; default
    the CLI's STAGE_OPTIONS)."""
    from ..options import add_arguments

    if stage_options is None:
        from ..cli import STAGE_OPTIONS as stage_options
    q = sub.add_parser("serve", help="live affect as a WebSocket feed of JSON records, with a web "
                                     "page that plots it")
    q.add_argument("--source", default="webcam:0",
                   help="webcam:N, /dev/videoN, an rtsp:// URL, or a video file played in "
                        "real time")
    q.add_argument("--host", default=LOOPBACK,
                   help=f"address to listen on (default {LOOPBACK}: this machine only; another "
                        "address lets others on the network read the feed)")
    q.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"port of the page and the feed (default {DEFAULT_PORT}; 0: any free one, "
                        "printed)")
    q.add_argument("--loop", action="store_true", help="replay a video file forever")
    q.add_argument("--allow-origin", action="append", default=[], metavar="URL",
                   help="a web page origin (e.g. http://localhost:3000) allowed to read the feed "
                        "besides the served page; programs (no Origin header) always may; '*' "
                        "allows every site the viewer's browser visits")
    q.add_argument("--fps", type=float, help="ask the camera for this frame rate")
    add_arguments(q, stage_options)
    q.set_defaults(func=cmd_serve)


def cmd_serve(args) -> int:
    from ..options import from_arguments
    from ..pipeline import AffectStream
    from ..sources import open_source
    from ..writers.websocket import WebSocketWriter, hello_fields
    from .hub import Hub

    replayed = _check(args)
    options = from_arguments(args, mode="live")
    hub = Hub(args.host, args.port, hello={"source": args.source},
              origins=tuple(args.allow_origin)).start()  # a taken port: now
    pipeline = summary = None
    passes = frames = 0
    stopping = threading.Event()
    stop = _stop_on_signals(stopping)
    try:
        pipeline = AffectStream(options)
        hub.describe(**hello_fields(pipeline.columns, options))
        writer = WebSocketWriter.on(hub)
        source = open_source(args.source, fps=args.fps, realtime=replayed)  # a camera's error: now
        print(f"serving {hub.page_url} (page) and {hub.url} (JSON records)", flush=True)
        while not stopping.is_set():
            summary = pipeline.run(Until(source, stopping), outputs=[(writer, args.source)])
            passes, frames = passes + (not stopping.is_set()), frames + summary.frames
            if not args.loop:
                break
            source = open_source(args.source, fps=args.fps, realtime=replayed)
        if stopping.is_set():
            print("affectstream: stopped", file=sys.stderr)
    except KeyboardInterrupt:  # a second Ctrl-C, or one before the pipeline ran
        print("affectstream: stopped", file=sys.stderr)
        cut = None if pipeline is None else pipeline.summary
        if cut is not None and cut is not summary:  # the pass that was running
            summary = cut
            frames += summary.frames
    finally:
        stop()
        if pipeline is not None:
            pipeline.close()
        hub.close()
        if summary is not None:
            print(summary, file=sys.stderr)
        if passes > 1 or (args.loop and passes):
            print(f"affectstream: the file played {passes} whole time(s), {frames} frames in all",
                  file=sys.stderr)
        print(feed_line(hub.stats()), file=sys.stderr)
    return 0


def _check(args) -> bool:
    """Refuse impossible arguments, warn about a non-local bind; True when the source is a file
    (played at its own rate, as a camera would)."""
    if not 0 <= args.port <= 65535:
        raise AffectStreamError(f"--port {args.port}: a port is 0…65535 (0: any free one)")
    replayed = Path(args.source).is_file()
    if args.loop and not replayed:
        raise AffectStreamError(f"--loop replays a video file; {args.source} is not one")
    if not is_loopback(args.host):
        print(f"affectstream: warning: listening on {args.host}, not only this machine: anyone "
              "who can reach it can watch the feed", file=sys.stderr)
    return replayed


class Until(Source):
    """`source`'s frames until `stopping` is set (then the run ends as at the end of a file)."""

    def __init__(self, source: Source, stopping: threading.Event):
        self.source, self.stopping = source, stopping
        self.name, self.live, self.fps, self.stills = (source.name, source.live, source.fps,
                                                       source.stills)

    def __iter__(self):
        for frame in self.source:
            if self.stopping.is_set():
                return
            yield frame

    def __getattr__(self, name: str):  # the source's counts (decode errors, ...) for the Summary
        if name == "source":  # not set yet
            raise AttributeError(name)
        return getattr(self.source, name)

    def close(self) -> None:
        self.source.close()


def _stop_on_signals(stopping: threading.Event):
    """Ctrl-C and SIGTERM (a service manager's stop) set `stopping`, so the run ends after the
    frame in flight: an interrupt inside MediaPipe leaves its objects half-made. A second one
    interrupts at once. Returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handle(signum, frame):
        if stopping.is_set():
            raise KeyboardInterrupt
        stopping.set()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    return lambda: [signal.signal(s, h) for s, h in previous.items()]


def feed_line(stats: dict) -> str:
    """The hub's counts in one line."""
    text = (f"affectstream: WebSocket: {stats['served']} connection(s) served, "
            f"{stats['published']} messages published, {stats['dropped']} dropped")
    slow = stats["dropped_by_client"]
    if slow:
        text += " (" + ", ".join(f"{a}: {n}" for a, n in slow.items()) + ")"
    return text
