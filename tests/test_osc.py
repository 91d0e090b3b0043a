"""The OSC output over loopback: a python-osc server in the test receives every frame's bundle with
the documented addresses and the values of the rows the pipeline gave."""
from __future__ import annotations

import logging
import socket
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("pythonosc", reason="the OSC output needs python-osc: "
                                        "pip install 'affectstream[osc]'")

from pythonosc.dispatcher import Dispatcher  # noqa: E402
from pythonosc.osc_bundle import OscBundle  # noqa: E402
from pythonosc.osc_server import ThreadingOSCUDPServer  # noqa: E402

from affectstream import AffectStream  # noqa: E402
from affectstream.errors import AffectStreamError  # noqa: E402
from affectstream.pipeline import open_writer  # noqa: E402
from affectstream.sources import open_source  # noqa: E402
from affectstream.types import AU_NAMES, EMOTION_NAMES, Affect  # noqa: E402
from affectstream.writers.osc import MAX_BUNDLE, frame_bundles  # noqa: E402


class Recorder(Dispatcher):
    """Keeps every datagram (a bundle) and every message the server dispatches."""

    def __init__(self):
        super().__init__()
        self.datagrams, self.messages = [], []
        self.set_default_handler(lambda address, *args: self.messages.append((address, args)))

    def call_handlers_for_packet(self, data, client_address):
        self.datagrams.append(data)
        return super().call_handlers_for_packet(data, client_address)


@pytest.fixture
def server():
    recorder = Recorder()
    udp = ThreadingOSCUDPServer(("127.0.0.1", 0), recorder)
    thread = threading.Thread(target=udp.serve_forever, daemon=True)
    thread.start()
    yield udp.server_address[1], recorder
    udp.shutdown()
    udp.server_close()


@pytest.fixture(scope="module")
def pipeline(model):
    with AffectStream(mode="offline") as p:
        yield p


def _f32(value) -> float:
    return float(np.float32(value))


def _expected(row: Affect) -> dict[str, tuple]:
    """What the module docstring says face `row` sends, written out here on its own."""
    root = f"/affect/{row.track_id}"
    sent = {f"{root}/detected": (1 if row.box is not None else 0,)}
    for name in ("valence", "arousal", "valence_std", "arousal_std"):
        if getattr(row, name) is not None:
            sent[f"{root}/{name}"] = (_f32(getattr(row, name)),)
    if row.box is not None:
        sent[f"{root}/box"] = tuple(_f32(v) for v in row.box)
    if row.au:
        for name, value in row.au.items():
            sent[f"{root}/au/{name}"] = (_f32(value),)
        sent[f"{root}/au"] = tuple(_f32(row.au.get(a, -1.0)) for a in AU_NAMES)
    if row.emotion:
        for name, p in row.emotion.items():
            sent[f"{root}/emotion/{name}"] = (_f32(p),)
        top = max(row.emotion, key=row.emotion.get)
        sent[f"{root}/emotion"] = (top, _f32(row.emotion[top]))
    return sent


def _frames_then_blank(video) -> list[np.ndarray]:
    """single_face.mp4's 72 frames, then 1.5 s of black: detected, held, then no face."""
    with open_source(video("single_face.mp4")) as clip:
        images = [frame.image for frame in clip]
    return images + [np.zeros_like(images[0])] * 45


def test_every_frame_arrives_as_one_bundle_with_the_documented_addresses(pipeline, server, video):
    port, recorder = server
    frames: dict[int, list[Affect]] = {}
    summary = pipeline.run(open_source(_frames_then_blank(video), fps=30),
                           outputs=[("osc", f"127.0.0.1:{port}")],
                           on_result=lambda row: frames.setdefault(row.frame, []).append(row))
    deadline = time.monotonic() + 5
    while len(recorder.datagrams) < summary.frames and time.monotonic() < deadline:
        time.sleep(0.05)
    bundles = [[(m.address, tuple(m.params)) for m in OscBundle(d)] for d in recorder.datagrams]
    by_frame = {b[0][1][0]: b for b in bundles}
    assert len(bundles) == len(by_frame) == summary.frames == len(frames) == 117

    kinds = {"detected": 0, "held": 0, "empty": 0}
    for index, rows in frames.items():
        first, *faces = by_frame[index]
        faced = [r for r in rows if r.track_id is not None]
        assert first == ("/affect/frame", (index, _f32(rows[0].timestamp), len(faced)))
        expected = {}
        for row in faced:
            expected.update(_expected(row))
            kinds["detected" if row.success else "held"] += 1
        kinds["empty"] += not faced
        assert dict(faces) == expected and len(faces) == len(expected)
    assert kinds["detected"] >= 70 and kinds["held"] >= 1 and kinds["empty"] >= 10
    # the server's own dispatch saw every message of every bundle
    assert len(recorder.messages) == sum(len(b) for b in bundles)


def _full_face(track_id: int) -> Affect:
    """A face with every value the scheme carries."""
    return Affect(frame=123456, timestamp=4115.2, track_id=track_id, box=(10.5, 20.5, 300, 310),
                  valence=0.3, arousal=-0.2, valence_std=0.05, arousal_std=0.04,
                  au={a: 1.5 for a in AU_NAMES}, emotion={e: 1 / 8 for e in EMOTION_NAMES})


def test_four_faces_fit_one_bundle_and_more_faces_go_on_in_whole_faces(capsys):
    four = frame_bundles([_full_face(i) for i in range(1000, 1004)])
    assert len(four) == 1 and len(four[0]) <= MAX_BUNDLE
    many = frame_bundles([_full_face(i) for i in range(1000, 1012)])
    with capsys.disabled():
        print(f"\nOSC: 4 faces -> one bundle of {len(four[0])} bytes; 12 faces -> "
              f"{[len(b) for b in many]} bytes")
    assert len(many) > 1 and all(len(b) <= MAX_BUNDLE for b in many)
    contents = [[m.address for m in OscBundle(b)] for b in many]
    assert contents[0][0] == "/affect/frame"
    assert all("/affect/frame" not in c for c in contents[1:])
    for addresses in contents:  # a face starts and ends in the same bundle
        ids = {a.split("/")[2] for a in addresses if a != "/affect/frame"}
        assert all(sum(a.startswith(f"/affect/{i}/") for a in addresses) == 33 for i in ids)
    assert sum(len(c) for c in contents) == 1 + 12 * 33


@pytest.mark.parametrize("target", ["localhost", "127.0.0.1:99999", "127.0.0.1:0",
                                    "127.0.0.1:port"])
def test_a_bad_address_is_one_clear_error(pipeline, video, target):
    with pytest.raises(AffectStreamError, match="127.0.0.1:9000"):
        pipeline.run(video("single_face.mp4"), outputs=[("osc", target)])


def test_nobody_listening_is_not_an_error(pipeline, caplog):
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # a port nobody listens on: the system answers "port unreachable"
    blank = [np.zeros((240, 320, 3), np.uint8)] * 20
    with caplog.at_level(logging.INFO, logger="affectstream"):
        summary = pipeline.run(open_source(blank, fps=30), outputs=[("osc", f"127.0.0.1:{port}")])
    assert summary.frames == 20
    # every bundle is either sent or dropped and counted, and the count is logged at close
    counts = [r.args[2:] for r in caplog.records if r.getMessage().startswith("OSC to ")]
    assert len(counts) == 1 and sum(counts[0]) == 20, counts


def test_without_python_osc_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pythonosc", None)  # as if it were not installed
    with pytest.raises(AffectStreamError, match=r"pip install 'affectstream\[osc\]'"):
        open_writer("osc", "127.0.0.1:9000", (), None)
