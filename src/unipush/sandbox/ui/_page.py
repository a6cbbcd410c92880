"""The inbox page's HTTP server: the page, its two static files, the data endpoint and the event stream.

Plain HTTP/1.1 (``h11``) on the sandbox's event loop, one request per connection (a local page loads
four resources; keep-alive would buy nothing). Routes:

- ``GET /`` the page; ``GET /static/inbox.css`` and ``/static/inbox.js`` (package data, no build step);
- ``GET /api/deliveries?provider=&device=&after=`` the entries as JSON, newest first (``Feed.snapshot``);
- ``GET /api/events?after=<id>`` server-sent events, one per new entry (``Last-Event-ID`` resumes);
- ``POST /api/clear`` forgets the entries (the page's Clear button).

The page is for a developer's own machine: requests whose ``Host`` is not the address the page was
given are refused (a DNS-rebinding page elsewhere cannot read the payloads), and the page's
Content-Security-Policy lets it load scripts and styles only from itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

import h11

from unipush.sandbox.ui._feed import Feed, encode_event

__all__ = ["InboxPage"]

logger = logging.getLogger("unipush.sandbox")

_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/inbox.css": ("inbox.css", "text/css; charset=utf-8"),
    "/static/inbox.js": ("inbox.js", "text/javascript; charset=utf-8"),
}
# Notification images and icons are the sender's URLs, loaded as the device would load them.
_CSP = "default-src 'self'; img-src * data:; style-src 'self'; script-src 'self'; connect-src 'self'"
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
_WILDCARDS = {"", "0.0.0.0", "::"}  # noqa: S104 - names, not binds
_MAX_REQUEST = 64 * 1024
_KEEPALIVE_S = 15.0  # an SSE comment line this often keeps proxies and idle timers from closing the stream


class InboxPage:
    """Serves ``feed`` as the inbox page on ``host:port`` (0: a free port), on the running loop."""

    def __init__(self, feed: Feed, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.feed = feed
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        static = resources.files("unipush.sandbox.ui").joinpath("static")
        self._files = {path: static.joinpath(name).read_bytes() for path, (name, _) in _STATIC.items()}

    @property
    def url(self) -> str:
        """``http://<host>:<port>/`` (a wildcard bind is reached through loopback)."""
        if self._port is None:
            raise RuntimeError("the inbox page is not started")
        host = "127.0.0.1" if self.host in _WILDCARDS else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self._port}/"

    async def start(self) -> None:
        """Bind and serve."""
        self._server = await asyncio.start_server(self._connection, self.host, self._requested_port)
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening and end every open connection (event streams included)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1.0)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), timeout=1.0)

    # -- one connection ------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, h11.ProtocolError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:
            logger.exception("inbox page: request failed")
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), timeout=1.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_REQUEST)
        request: h11.Request | None = None
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
        if request is None:
            return
        headers = {name.decode().lower(): value.decode("latin-1") for name, value in request.headers}
        method = request.method.decode()
        split = urlsplit(request.target.decode("latin-1"))
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        if not self._host_allowed(headers.get("host", "")):
            await self._send(writer, conn, 403, "text/plain; charset=utf-8", b"unknown Host\n")
            return
        path = split.path
        if method == "GET" and path in _STATIC:
            await self._send(writer, conn, 200, _STATIC[path][1], self._files[path])
        elif method == "GET" and path == "/api/deliveries":
            entries = self.feed.snapshot(
                provider=query.get("provider") or None,
                device=query.get("device") or None,
                after=_int(query.get("after")),
            )
            body = json.dumps({"deliveries": entries}, ensure_ascii=False).encode()
            await self._send(writer, conn, 200, "application/json; charset=utf-8", body)
        elif method == "GET" and path == "/api/events":
            after = _int(headers.get("last-event-id") or query.get("after"))
            await self._stream(writer, conn, after)
        elif method == "POST" and path == "/api/clear":
            self.feed.clear()
            await self._send(writer, conn, 204, "text/plain; charset=utf-8", b"")
        elif path in _STATIC or path.startswith("/api/"):
            await self._send(writer, conn, 405, "text/plain; charset=utf-8", b"method not allowed\n")
        else:
            await self._send(writer, conn, 404, "text/plain; charset=utf-8", b"not found\n")

    def _host_allowed(self, host: str) -> bool:
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name in _LOOPBACK or name == self.host or self.host in _WILDCARDS

    async def _send(
        self, writer: asyncio.StreamWriter, conn: h11.Connection, status: int, kind: str, body: bytes
    ) -> None:
        headers = [*_headers(kind), ("content-length", str(len(body)))]
        data = conn.send(h11.Response(status_code=status, headers=headers)) or b""
        if body:
            data += conn.send(h11.Data(data=body)) or b""
        data += conn.send(h11.EndOfMessage()) or b""
        writer.write(data)
        await writer.drain()

    async def _stream(self, writer: asyncio.StreamWriter, conn: h11.Connection, after: int) -> None:
        """Server-sent events: what is newer than ``after``, then each new entry as it is recorded."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def push(entry: dict[str, Any]) -> None:
            # Called on the loop thread by the servers; call_soon_threadsafe keeps any other caller safe.
            loop.call_soon_threadsafe(queue.put_nowait, entry)

        stop = self.feed.listen(push)
        try:
            headers = _headers("text/event-stream; charset=utf-8")
            data = conn.send(h11.Response(status_code=200, headers=headers)) or b""
            # "retry" tells EventSource how soon to reconnect (it resends Last-Event-ID then).
            data += conn.send(h11.Data(data=b"retry: 1000\n\n")) or b""
            for entry in reversed(self.feed.snapshot(after=after)):
                data += conn.send(h11.Data(data=encode_event(entry))) or b""
                after = max(after, int(entry["id"]))
            writer.write(data)
            await writer.drain()
            while True:
                try:
                    entry = await asyncio.wait_for(queue.get(), timeout=_KEEPALIVE_S)
                except asyncio.TimeoutError:
                    writer.write(conn.send(h11.Data(data=b": keep-alive\n\n")) or b"")
                else:
                    if int(entry["id"]) <= after:
                        continue
                    writer.write(conn.send(h11.Data(data=encode_event(entry))) or b"")
                await writer.drain()
        finally:
            stop()


def _headers(kind: str) -> list[tuple[str, str]]:
    return [
        ("content-type", kind),
        ("cache-control", "no-store"),
        ("content-security-policy", _CSP),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("connection", "close"),
    ]


def _int(value: str | None) -> int:
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0
