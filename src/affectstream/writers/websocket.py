"""The WebSocket output (`ws`): one JSON message per frame (live/records.py) to every client.

`open("HOST:PORT")` starts a live/hub.py Hub there (port 0: any free one), which also serves the
page that plots the feed; `affectstream serve` is the command around it. Needs the `serve` extra
(websockets >= 13), imported only when the output is opened.

Every client first gets a hello: `{"type": "hello", "version", "source" (serve), "message":
"affect", "channels": {"face": [the fields of a face], "au": [AU names], "emotion": [names]},
"models": {"frame", "temporal"}}`, then one `affect` message per processed frame.
"""
from __future__ import annotations

import json
import logging

from ..live.address import is_loopback, parse_address
from ..live.records import frame_message
from ..registry import register
from ..types import Affect

log = logging.getLogger("affectstream")


def hello_fields(columns: tuple[str, ...], options=None) -> dict:
    """What the hello message says about the stream: version, models, the AUs and emotions."""
    from .. import __version__

    fields = {"version": __version__, "message": "affect",
              "channels": {"face": ["face_id", "detected", "box", "valence", "arousal",
                                    "valence_std", "arousal_std", "top_emotion"],
                           "au": [c[:-2] for c in columns if c.startswith("AU") and
                                  c.endswith("_r")],
                           "emotion": [c[4:] for c in columns if c.startswith("emo_")]}}
    if options is not None:
        fields["models"] = {"frame": options.frame_model, "temporal": options.temporal}
    return fields


@register("writer", "ws")
class WebSocketWriter:
    """Publishes each frame's rows to a Hub's clients; never waits for them."""

    suffix = None
    live = True
    hub = None  # a class made by `on(hub)` publishes to a hub that its caller owns

    @classmethod
    def on(cls, hub) -> type:
        """A writer class that publishes to the running `hub` and leaves it open at close."""
        return type(cls.__name__, (cls,), {"hub": hub})

    def open(self, target: str, columns: tuple[str, ...] = (), options=None) -> None:
        if self.hub is not None:
            self._owned = False
            self.hub.describe(**hello_fields(columns, options))
            return
        from ..live.hub import Hub

        host, port = parse_address(target)
        if not is_loopback(host):
            log.warning("WebSocket: listening on %s, not only this machine: anyone who can reach "
                        "it can read the feed", host)
        self._owned = True
        self.hub = Hub(host, port, hello=hello_fields(columns, options)).start()
        log.info("WebSocket: %s (JSON records), page %s", self.hub.url, self.hub.page_url)

    def write(self, rows: list[Affect]) -> None:
        text = json.dumps(frame_message(rows), separators=(",", ":"), allow_nan=False)
        self.hub.publish(text)

    def close(self, complete: bool = True) -> None:
        if self._owned:
            self.hub.close()
        return None
