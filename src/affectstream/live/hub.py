"""A WebSocket server that fans one message per frame out to any number of clients.

It runs its own asyncio loop on a daemon thread, so the pipeline thread only calls `publish`,
which never waits: each client has a bounded queue (a full one drops its oldest message and counts
it) and its own sender task, so a client that stops reading stalls only itself; one whose socket
stays full for `stall` seconds (30) is disconnected, so it holds no buffers for ever.

The same port answers plain HTTP: `GET /` is the page (static/index.html), `GET /affect-view.js`
its script; the feed is `/ws` (or `/` with a WebSocket upgrade). Clients may send JSON text:
`{"type": "ping", ...}` is answered `{"type": "pong", "server_time": unix seconds, ...}` with the
client's fields echoed; `{"type": "stats"}` with the totals of `Hub.stats()` and the client's own
counts. Anything else is ignored with a log line (a few per client; the rest counted when it
leaves).
"""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import errno
import json
import logging
import socket
import threading
import time
from pathlib import Path

from .. import __version__
from ..errors import AffectStreamError
from .address import LOOPBACK

log = logging.getLogger("affectstream")
QUEUE = 64  # messages waiting per client; ~2.5 s of a 25 fps stream
STALL = 30.0  # seconds a client's socket may stay full before it is disconnected
CLOSING = 1.0  # seconds clients get to answer the close frame before they are cut off
COMPLAINTS = 5  # log lines per client about malformed messages; the rest are counted
MAX_CLIENTS = 100  # publish walks every client's queue on the pipeline thread
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
STATIC = Path(__file__).resolve().parent / "static"
PAGES = {"/": ("index.html", "text/html; charset=utf-8"),
         "/index.html": ("index.html", "text/html; charset=utf-8"),
         "/affect-view.js": ("affect-view.js", "text/javascript; charset=utf-8")}
INSTALL = "pip install 'affectstream[serve]'"


def websockets_server():
    """The `websockets` asyncio server module, or the error that says how to get it."""
    try:
        import websockets
        from websockets.asyncio import server
    except ImportError as e:
        raise AffectStreamError(f"the WebSocket output needs websockets >= 13: {INSTALL} "
                                f"({e})") from None
    major = int(websockets.__version__.split(".")[0])
    if major < 13:
        raise AffectStreamError(f"the WebSocket output needs websockets >= 13, found "
                                f"{websockets.__version__}: {INSTALL}")
    return server


class Client:
    """One connected client: its queue of records, its replies, what it was sent and dropped."""

    def __init__(self, connection, size: int):
        self.connection = connection
        host, port = connection.remote_address[:2]
        self.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.queue: collections.deque[str] = collections.deque()
        self.size = size
        self.replies: collections.deque[str] = collections.deque(maxlen=8)  # pongs, stats
        self.ready = asyncio.Event()
        self.dropped = 0
        self.sent = 0
        self.complaints = 0

    def put(self, text: str) -> None:
        """Queue a record (under the hub's lock); a full queue loses its oldest."""
        if len(self.queue) >= self.size:
            self.queue.popleft()
            self.dropped += 1
        self.queue.append(text)


class Hub:
    """The WebSocket feed (and its page) on `host:port`; port 0 takes any free one.

    `hello` fields go into the first message every client gets (`describe` adds more)."""

    def __init__(self, host: str = LOOPBACK, port: int = 0, page: bool = True,
                 queue: int = QUEUE, hello: dict | None = None, stall: float = STALL,
                 origins: tuple[str, ...] = ()):
        self.host, self.requested_port, self.page, self.queue_size = host, port, page, queue
        self.origins = tuple(o.rstrip("/") for o in origins)  # web pages allowed besides its own
        self.stall = stall
        self.hello = {"type": "hello", "version": __version__, **(hello or {})}
        self._lock = threading.Lock()
        self._clients: dict[int, Client] = {}
        self._gone_drops: dict[str, int] = {}  # clients that left having lost messages
        self._published = self._served = 0
        self._wake_pending = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server = None
        self._files: dict[str, bytes] = {}
        self.port: int | None = None

    @property
    def url(self) -> str:
        """The feed's address, ws://HOST:PORT/ws."""
        return f"ws://{self.authority}/ws"

    @property
    def page_url(self) -> str:
        return f"http://{self.authority}/"

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def describe(self, **fields) -> None:
        """Add fields to the hello message (clients that connect later get them)."""
        self.hello.update(fields)

    # -- the pipeline's side ------------------------------------------------------------------

    def start(self) -> Hub:
        """Bind and serve; AffectStreamError when the address cannot be bound."""
        server = websockets_server()
        if self.page:
            self._files = {name: (STATIC / name).read_bytes() for name, _ in PAGES.values()}
        self._loop = asyncio.new_event_loop()
        bound: concurrent.futures.Future = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(server, bound), daemon=True,
                                        name="affectstream-websocket")
        self._thread.start()
        try:
            self.port = bound.result()
        except BaseException:
            self._thread.join()
            self._loop.close()
            raise
        return self

    def publish(self, text: str) -> None:
        """Hand one message to every client; never waits (full queues drop their oldest)."""
        with self._lock:
            self._published += 1
            if not self._clients:
                return
            for client in self._clients.values():
                client.put(text)
            if self._wake_pending:  # one wake-up is on its way: the queues are read then
                return
            self._wake_pending = True
        try:
            self._loop.call_soon_threadsafe(self._wake)
        except RuntimeError:  # the loop has stopped: nobody to send to
            pass

    def stats(self) -> dict:
        """Clients connected, messages published, messages dropped (total and per client
        address, including clients that have left), connections served."""
        with self._lock:
            dropped = dict(self._gone_drops)
            for client in self._clients.values():
                if client.dropped:
                    dropped[client.address] = client.dropped
            return {"clients": len(self._clients), "published": self._published,
                    "served": self._served, "dropped": sum(dropped.values()),
                    "dropped_by_client": dropped}

    def close(self, timeout: float = 5.0) -> None:
        """Close every client (1001, going away), stop serving; safe to call twice."""
        if self._thread is None or not self._thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shut(), self._loop).result(timeout)
        except (concurrent.futures.TimeoutError, RuntimeError):
            log.warning("WebSocket: clients did not close within %.0f s; left behind", timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        for address, count in self.stats()["dropped_by_client"].items():
            log.info("WebSocket client %s: %d messages dropped (it read too slowly)", address,
                     count)

    # -- the loop's side ----------------------------------------------------------------------

    def _run(self, server, bound: concurrent.futures.Future) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(self._listen(server))
        except OSError as e:
            bound.set_exception(self._bind_error(e))
            return
        except BaseException as e:
            bound.set_exception(e)
            return
        bound.set_result(self._server.sockets[0].getsockname()[1])
        try:
            self._loop.run_forever()
        finally:
            tasks = asyncio.all_tasks(self._loop)  # those of clients left behind by close()
            for task in tasks:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._loop.close()

    async def _listen(self, server):
        quiet = logging.getLogger("affectstream.websockets")  # each handshake: not news
        quiet.setLevel(logging.WARNING)
        return await server.serve(self._handle, self.host, self.requested_port,
                                  process_request=self._http, logger=quiet, max_size=1 << 16,
                                  close_timeout=CLOSING, compression=None)

    def _bind_error(self, e: OSError) -> AffectStreamError:
        where = f"{self.host}:{self.requested_port}"
        if e.errno == errno.EADDRINUSE:
            return AffectStreamError(f"cannot serve on {where}: the port is in use (another "
                                     "server?); choose another --port, or 0 for any free one")
        if e.errno == errno.EACCES:
            return AffectStreamError(f"cannot serve on {where}: no permission (ports below "
                                     "1024 need privileges); choose a --port above 1023")
        if isinstance(e, socket.gaierror):
            return AffectStreamError(f"cannot serve on {where}: no such host {self.host!r}; use "
                                     f"--host {LOOPBACK} (this machine only) or one of its own "
                                     "addresses")
        if e.errno == errno.EADDRNOTAVAIL:
            return AffectStreamError(f"cannot serve on {where}: {self.host!r} is not an address "
                                     f"of this machine; use --host {LOOPBACK} (this machine "
                                     "only) or one of its own addresses")
        return AffectStreamError(f"cannot serve on {where}: {e.strerror or e}")

    def _http(self, connection, request):
        """Plain HTTP requests get the page or its script; upgrades to /ws or / get the feed."""
        path = request.path.split("?", 1)[0]
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        if upgrade:
            if path not in ("/ws", "/"):
                return connection.respond(404, "no feed here: /ws\n")
            origin = request.headers.get("Origin")
            if not self.allows(origin):  # another site's page in the user's browser
                log.info("WebSocket: refused a page from %s (allow it with --allow-origin)", origin)
                return connection.respond(403, f"pages from {origin} may not read this feed\n")
            if len(self._clients) >= MAX_CLIENTS:
                return connection.respond(503, f"{MAX_CLIENTS} clients already\n")
            return None
        if path == "/ws":
            return connection.respond(426, "this is the WebSocket feed; connect with a "
                                           "WebSocket client\n")
        if path == "/favicon.ico":  # browsers ask; there is none
            return connection.respond(204, "")
        if not self.page or path not in PAGES:
            return connection.respond(404, "not found\n")
        name, kind = PAGES[path]
        response = connection.respond(200, "")  # then the file in place of its empty text
        response.body = self._files[name]
        for header, value in (("Content-Type", kind), ("Content-Length", str(len(response.body))),
                              ("Cache-Control", "no-cache")):
            if header in response.headers:
                del response.headers[header]
            response.headers[header] = value
        return response

    def allows(self, origin: str | None) -> bool:
        """May a client sent by `origin` read the feed? Programs send no Origin; browsers send
        the page's, and any site the user visits could otherwise read their face's affect."""
        if origin is None or "*" in self.origins or origin.rstrip("/") in self.origins:
            return True
        own = {f"http://{self.authority}"}
        if self.host in ("127.0.0.1", "::1", "localhost"):
            own |= {f"http://{name}:{self.port}" for name in LOOPBACK_NAMES}
        return origin.rstrip("/") in own

    async def _handle(self, connection) -> None:
        """One client: the hello, then its sender task; this task reads what the client sends."""
        client = Client(connection, self.queue_size)
        try:
            await connection.send(json.dumps(self.hello, separators=(",", ":")))
        except Exception:  # gone before the hello
            return
        with self._lock:
            self._clients[id(client)] = client
            self._served += 1
        sender = asyncio.get_running_loop().create_task(self._send(client))
        try:
            async for message in connection:
                self._answer(client, message)
        except Exception:  # a connection lost without a close frame ends the same way
            pass
        finally:
            sender.cancel()
            with self._lock:
                del self._clients[id(client)]
                if client.dropped:
                    self._gone_drops[client.address] = (self._gone_drops.get(client.address, 0)
                                                        + client.dropped)
            if client.complaints > COMPLAINTS:
                log.info("WebSocket client %s: %d more malformed messages ignored", client.address,
                         client.complaints - COMPLAINTS)

    def _wake(self) -> None:
        with self._lock:
            self._wake_pending = False
            clients = list(self._clients.values())
        for client in clients:
            if client.queue:
                client.ready.set()

    async def _send(self, client: Client) -> None:
        """Replies first, then records, oldest first; awaits only this client's socket."""
        while True:
            await client.ready.wait()
            client.ready.clear()
            while True:
                with self._lock:
                    queue = client.replies or client.queue
                    if not queue:
                        break
                    text = queue.popleft()
                try:
                    await asyncio.wait_for(client.connection.send(text), self.stall)
                except asyncio.TimeoutError:  # its socket has been full for `stall` seconds
                    log.info("WebSocket client %s: read nothing for %g s; disconnected",
                             client.address, self.stall)
                    client.connection.transport.abort()
                    return
                except Exception:  # closed: the reading task ends and unregisters the client
                    return
                client.sent += 1

    def _answer(self, client: Client, message: str | bytes) -> None:
        """Answer a ping or a stats request; complain (a few times) about anything else."""
        if isinstance(message, bytes):
            return self._complain(client, f"a binary message ({len(message)} bytes)")
        try:
            request = json.loads(message)
        except (ValueError, RecursionError):
            return self._complain(client, f"not JSON: {message[:40]!r}")
        if not isinstance(request, dict):
            return self._complain(client, f"JSON {type(request).__name__}, not an object")
        kind = request.get("type")
        if kind == "ping":
            reply = {**request, "type": "pong", "server_time": time.time()}
        elif kind == "stats":  # the totals, and this client's own counts (not the others')
            stats = self.stats()
            del stats["dropped_by_client"]
            reply = {"type": "stats", **stats, "client": {"address": client.address,
                                                          "sent": client.sent,
                                                          "dropped": client.dropped}}
        else:
            return self._complain(client, f"unknown type {kind!r} (ping or stats)")
        with self._lock:
            client.replies.append(json.dumps(reply, separators=(",", ":")))
        client.ready.set()

    def _complain(self, client: Client, what: str) -> None:
        client.complaints += 1
        if client.complaints <= COMPLAINTS:
            log.info("WebSocket client %s: ignored a message: %s", client.address, what)

    async def _shut(self) -> None:
        self._server.close()  # 1001 to every client, then waits for their handlers
        try:
            await asyncio.wait_for(self._server.wait_closed(), CLOSING)
        except asyncio.TimeoutError:  # a client that does not read cannot take a close frame
            with self._lock:
                stuck = list(self._clients.values())
            for client in stuck:
                client.connection.transport.abort()
            await self._server.wait_closed()
