"""The WebSocket output: a Hub in this process, real clients on 127.0.0.1 (no pipeline)."""
from __future__ import annotations

import base64
import json
import logging
import os
import socket
import struct
import threading
import time
import urllib.error
import urllib.request

import pytest

pytest.importorskip("websockets")
from websockets.sync.client import connect  # noqa: E402

from affectstream import registry  # noqa: E402
from affectstream.errors import AffectStreamError  # noqa: E402
from affectstream.live.hub import COMPLAINTS, Hub  # noqa: E402
from affectstream.live.records import frame_message  # noqa: E402
from affectstream.types import Affect  # noqa: E402


@pytest.fixture
def hub():
    hub = Hub(port=0).start()
    yield hub
    hub.close()


def wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


class Reader(threading.Thread):
    """A client that reads the hello, then `count` messages (or stops after `stop_after`)."""

    def __init__(self, url: str, count: int, stop_after: int | None = None):
        super().__init__(daemon=True)
        self.url, self.count, self.stop_after = url, count, stop_after
        self.messages: list[str] = []
        self.hello: dict | None = None
        self.connected = threading.Event()
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            with connect(self.url, max_size=None) as ws:
                self.hello = json.loads(ws.recv(timeout=10))
                self.connected.set()
                while len(self.messages) < self.count:
                    self.messages.append(ws.recv(timeout=20))
                    if len(self.messages) == self.stop_after:
                        return  # leaves mid-stream
        except BaseException as e:
            self.error = e
            self.connected.set()


def raw_client(port: int, receive_buffer: int = 4096) -> socket.socket:
    """A plain socket that does the WebSocket handshake, with a tiny receive buffer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)  # before connect: fixed
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def address(sock) -> str:
    host, port = sock.getsockname()[:2]
    return f"{host}:{port}"


def rows(frame: int) -> list[Affect]:
    """One frame's rows: two faces, one of them a held estimate."""
    return [Affect(frame, frame / 25, 0, (10.0, 20.0, 50.0, 60.0), 0.9, valence=0.25,
                   arousal=-0.5, valence_std=0.1, arousal_std=float("nan"),
                   au={"AU12": 1.5, "AU01": 0.0}, emotion={"happiness": 0.8, "neutral": 0.2},
                   latency_ms=12.5, captured_at=time.perf_counter()),
            Affect(frame, frame / 25, 1, valence=0.0, arousal=0.1, au={"AU12": 0.2})]


def test_two_clients_receive_the_same_records_in_order():
    writer = registry.get("writer", "ws").cls()
    assert writer.live and writer.suffix is None
    writer.open("127.0.0.1:0", ("frame", "AU01_r", "AU12_r", "emo_happiness"))
    count = 150
    try:
        readers = [Reader(writer.hub.url, count) for _ in range(2)]
        for r in readers:
            assert r.connected.wait(10) and r.error is None
        wait_for(lambda: writer.hub.stats()["clients"] == 2)
        sent = []

        def publish():
            for i in range(count):
                frame = rows(i)
                sent.append(frame_message(frame))
                writer.write(frame)
                time.sleep(0.002)

        publisher = threading.Thread(target=publish)
        publisher.start()
        publisher.join(30)
        for r in readers:
            r.join(30)
            assert r.error is None
        a, b = (r.messages for r in readers)
        assert a == b and len(a) == count  # the same bytes, in the same order
        got = [json.loads(m) for m in a]
        assert [m["frame"] for m in got] == list(range(count))
        for message, expected in zip(got, sent):  # same but for the wall clock of `captured`
            assert message["faces"] == expected["faces"]
            assert message["captured"] == pytest.approx(expected["captured"], abs=0.01)
        face, held = got[0]["faces"]
        assert face["valence"] == 0.25 and face["arousal_std"] is None and face["box"]
        assert held["detected"] is False and held["box"] is None
        assert abs(got[-1]["captured"] - time.time()) < 5
        hello = readers[0].hello
        assert hello["type"] == "hello" and hello["channels"]["au"] == ["AU01", "AU12"]
        assert hello["channels"]["emotion"] == ["happiness"] and "version" in hello
        assert writer.hub.stats()["dropped"] == 0
    finally:
        writer.close()


def test_a_stuck_or_vanished_client_stalls_neither_the_others_nor_publish(hub):
    count, size = 400, 64 * 1024  # 25 MB: more than the stuck client's socket buffers hold
    good = Reader(hub.url, count)
    leaver = Reader(hub.url, count, stop_after=20)  # closes properly after 20 messages
    assert good.connected.wait(10) and leaver.connected.wait(10)
    stuck = raw_client(hub.port)  # never reads
    vanishing = raw_client(hub.port, receive_buffer=1 << 16)  # dropped without a close frame
    wait_for(lambda: hub.stats()["clients"] == 4)
    slowest = 0.0

    def publish():
        nonlocal slowest
        for i in range(count):
            text = json.dumps({"type": "affect", "frame": i, "pad": "x" * size})
            started = time.perf_counter()
            hub.publish(text)
            slowest = max(slowest, time.perf_counter() - started)
            if i == 50:
                vanishing.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                vanishing.close()  # a reset, no goodbye
            time.sleep(0.005)

    publisher = threading.Thread(target=publish)
    started = time.perf_counter()
    publisher.start()
    publisher.join(60)
    took = time.perf_counter() - started
    assert not publisher.is_alive()
    good.join(30)
    assert good.error is None
    assert [json.loads(m)["frame"] for m in good.messages] == list(range(count))
    assert len(leaver.messages) == 20
    stats = hub.stats()
    dropped = stats["dropped_by_client"]
    print(f"\npublished {count} x {size // 1024} KiB in {took:.2f} s, slowest publish "
          f"{slowest * 1e3:.2f} ms; dropped: {dropped}")
    assert slowest < 0.1 and took < count * 0.005 + 10
    assert dropped.get(address(stuck), 0) > 0
    wait_for(lambda: hub.stats()["clients"] == 1)  # the stuck one; the others have left
    closing = time.perf_counter()
    hub.close()  # the stuck client does not hold it up for long
    assert time.perf_counter() - closing < 5
    stuck.close()


def test_a_client_that_reads_nothing_for_long_is_disconnected():
    hub = Hub(port=0, stall=0.5).start()
    try:
        stuck = raw_client(hub.port)
        wait_for(lambda: hub.stats()["clients"] == 1)
        text = json.dumps({"type": "affect", "pad": "x" * 65536})
        deadline = time.monotonic() + 20
        while hub.stats()["clients"] and time.monotonic() < deadline:
            hub.publish(text)
            time.sleep(0.01)
        assert hub.stats()["clients"] == 0 and hub.stats()["served"] == 1
        stuck.close()
    finally:
        hub.close()


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_connect_disconnect_cycles_keep_memory_flat(hub):
    record = json.dumps({"type": "affect", "frame": 0, "pad": "x" * 1000})

    def cycles(n: int) -> None:
        for _ in range(n):
            with connect(hub.url) as ws:
                assert json.loads(ws.recv(timeout=10))["type"] == "hello"
                wait_for(lambda: hub.stats()["clients"] >= 1)
                hub.publish(record)
                assert ws.recv(timeout=10) == record

    cycles(100)  # warm-up: caches, allocator arenas
    before = rss_kb()
    started = time.perf_counter()
    cycles(1000)
    wait_for(lambda: hub.stats()["clients"] == 0)
    after = rss_kb()
    print(f"\nRSS {before / 1024:.1f} MB after 100 warm-up cycles, {after / 1024:.1f} MB after "
          f"1000 more ({(after - before) / 1024:+.1f} MB; {time.perf_counter() - started:.1f} s)")
    assert after - before < 20 * 1024
    assert hub.stats()["served"] == 1100


def test_malformed_messages_are_ignored_with_a_log_line(hub, caplog):
    caplog.set_level(logging.INFO, logger="affectstream")
    with connect(hub.url) as ws:
        ws.recv(timeout=10)
        me = address(ws.socket)
        for bad in ("not json {", "[1, 2]", '{"type": "shout"}', b"\x00\x01binary", '"text"'):
            ws.send(bad)
        ws.send('{"type": "ping", "id": 7, "sent": 123.5}')  # answered after the bad ones
        pong = json.loads(ws.recv(timeout=10))
        assert pong["type"] == "pong" and pong["id"] == 7 and pong["sent"] == 123.5
        assert abs(pong["server_time"] - time.time()) < 5
        lines = [r.getMessage() for r in caplog.records if me in r.getMessage()]
        assert len(lines) == 5, lines
        for line, what in zip(lines, ("not JSON", "list", "unknown type 'shout'", "binary",
                                      "str, not an object")):
            assert what in line
        hub.publish('{"type": "affect", "frame": 1}')  # it keeps receiving
        assert json.loads(ws.recv(timeout=10))["frame"] == 1
        for _ in range(10):  # past the limit: no more lines, a count at the end
            ws.send("junk")
        ws.send('{"type": "stats"}')
        stats = json.loads(ws.recv(timeout=10))
        assert stats["type"] == "stats" and stats["clients"] == 1 and stats["published"] == 1
        assert stats["client"] == {"address": me, "sent": 2, "dropped": 0}  # a pong, a record
        assert len([r for r in caplog.records if me in r.getMessage()]) == COMPLAINTS
    wait_for(lambda: hub.stats()["clients"] == 0)
    last = [r.getMessage() for r in caplog.records if me in r.getMessage()][-1]
    assert f"{5 + 10 - COMPLAINTS} more malformed messages ignored" in last


def test_the_page_and_its_script_over_http(hub):
    page = urllib.request.urlopen(hub.page_url, timeout=10)
    assert page.headers.get_content_type() == "text/html"
    assert '<script src="affect-view.js">' in page.read().decode()
    script = urllib.request.urlopen(hub.page_url + "affect-view.js", timeout=10)
    assert script.headers.get_content_type() == "text/javascript"
    assert "window.AffectView" in script.read().decode()
    for path, status in (("nothing", 404), ("ws", 426)):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(hub.page_url + path, timeout=10)
        assert e.value.code == status
    with connect(hub.page_url.replace("http", "ws")) as ws:  # the feed at / as well
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"


def test_a_port_in_use_is_one_clear_error(hub):
    with pytest.raises(AffectStreamError, match="in use.*--port"):
        Hub(port=hub.port).start()
    writer = registry.get("writer", "ws").cls()
    with pytest.raises(AffectStreamError, match="in use"):
        writer.open(f"127.0.0.1:{hub.port}")
    with pytest.raises(AffectStreamError, match="HOST:PORT"):
        writer.open("127.0.0.1:http")


def test_pages_of_other_sites_may_not_read_the_feed(caplog):
    from websockets.exceptions import InvalidStatus

    caplog.set_level(logging.INFO, logger="affectstream")
    hub = Hub(port=0, origins=("http://localhost:3000",)).start()
    try:
        with pytest.raises(InvalidStatus) as refused:  # any site open in the viewer's browser
            connect(hub.url, origin="http://evil.example")
        assert refused.value.response.status_code == 403
        assert any("http://evil.example" in r.getMessage() for r in caplog.records)
        for origin in (None, f"http://127.0.0.1:{hub.port}", f"http://localhost:{hub.port}",
                       "http://localhost:3000"):  # programs, the served page, one allowed
            with connect(hub.url, origin=origin) as ws:
                assert json.loads(ws.recv(timeout=10))["type"] == "hello"
    finally:
        hub.close()


def test_json_nested_too_deep_is_one_more_malformed_message(hub, caplog):
    caplog.set_level(logging.INFO, logger="affectstream")
    with connect(hub.url) as ws:
        ws.recv(timeout=10)
        ws.send("[" * 20_000)  # under the size limit; json.loads raises RecursionError
        ws.send('{"type": "ping"}')
        assert json.loads(ws.recv(timeout=10))["type"] == "pong"
    assert any("not JSON" in r.getMessage() for r in caplog.records)
