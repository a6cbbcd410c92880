"""HTTP/1.1 for origins that do not speak HTTP/2: a small keep-alive pool per origin, on h11.

The engine offers ``h2`` and ``http/1.1`` in ALPN (RFC 7301). Provider APIs pick ``h2``; a self-hosted
push service, a webhook or a plugin's third-party API may pick ``http/1.1`` (or send no ALPN answer at
all, which means HTTP/1.1 too). Such an origin gets an ``Http1Pool`` instead of HTTP/2 streams: up to
``max_connections`` persistent connections (RFC 9112 §9.3), one request at a time on each (no
pipelining: RFC 9112 §9.3.2 lets a server answer a pipelined request only after the previous ones, so
one slow answer would stall all the others), the rest waiting FIFO for a free connection.

It keeps the HTTP/2 path's contract: the same ``Exchange`` in, the same ``Response`` out, the same
timeout, the same response-body limit, and ``TransportError.maybe_processed`` set truthfully: False
while the request's bytes never left us, True once they did (HTTP/1.1 has no REFUSED_STREAM or GOAWAY
to prove a request unprocessed, so nothing written is resent by the engine; the retry policy decides).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import deque
from collections.abc import Callable

import h11

from unipush import _telemetry
from unipush._engine._config import EngineConfig, EngineStats, backoff_delay
from unipush._engine._exchange import Exchange, Response, fail_pending
from unipush._errors import TransportError
from unipush._excerpt import excerpt

__all__ = ["Http1Pool", "request_line"]

_log = logging.getLogger("unipush.engine")

# Headers of one response above this many bytes are a broken or hostile server (h11's own default is
# 16 KiB; provider answers carry a handful of short fields).
_MAX_HEAD = 64 * 1024

# Connection-specific fields we set ourselves (RFC 9112 §6, §9.6); whatever the caller passed for them
# is dropped, as on the HTTP/2 path.
_OURS = frozenset({b"host", b"content-length", b"transfer-encoding", b"connection", b"keep-alive", b"te", b"upgrade"})

# States of one connection.
_CONNECTING, _IDLE, _BUSY, _CLOSED = range(4)


def request_line(exchange: Exchange) -> tuple[bytes, bytes, bytes, list[tuple[bytes, bytes]]]:
    """``(method, target, authority, fields)`` from an exchange's HTTP/2-style header list."""
    method = b"GET"
    target = b"/"
    authority = b""
    fields: list[tuple[bytes, bytes]] = []
    for name, value in exchange.headers:
        raw_name = name if isinstance(name, bytes) else name.encode("latin-1")
        raw_value = value if isinstance(value, bytes) else value.encode("latin-1")
        if raw_name[:1] == b":":
            if raw_name == b":method":
                method = raw_value
            elif raw_name == b":path":
                target = raw_value
            elif raw_name == b":authority":
                authority = raw_value
            continue  # :scheme has no place in HTTP/1.1: the connection says it
        if raw_name.lower() not in _OURS:
            fields.append((raw_name, raw_value))
    return method, target, authority, fields


def _looks_like_http2(data: bytes) -> bool:
    # RFC 9113 §6.5: a server's connection preface is a SETTINGS frame (type 0x4, stream 0) first.
    return len(data) >= 9 and data[3] == 0x04 and data[5:9] == b"\x00\x00\x00\x00"


def _describe(data: bytes) -> str:
    if _looks_like_http2(data):
        return (
            "the server speaks HTTP/2 (a SETTINGS frame came where HTTP/1.1 expects a status line); "
            "for a cleartext HTTP/2 server set cleartext_http2=True"
        )
    return "received " + excerpt(data.decode("latin-1"), 60, quote=True)


class _Connection(asyncio.Protocol):
    """One persistent HTTP/1.1 connection; carries one exchange at a time."""

    def __init__(self, pool: Http1Pool) -> None:
        self.pool = pool
        self.state = _CONNECTING
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD)
        self._transport: asyncio.Transport | None = None
        self.exchange: Exchange | None = None
        self._written = False  # the current request's bytes were handed to the socket
        self._answered = False  # some of the response arrived
        self._status = 0
        self._headers: dict[str, str] = {}
        self._chunks: list[bytes] = []
        self._received = 0
        self._idle_timer: asyncio.TimerHandle | None = None
        self.connected: asyncio.Future[None] = pool.loop.create_future()
        self.closed: asyncio.Future[None] = pool.loop.create_future()
        self.reused = False  # it has answered a request before (a keep-alive connection)

    # -- asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Ready at once: HTTP/1.1 has no preface or settings to wait for."""
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        ssl_object = transport.get_extra_info("ssl_object")
        chosen = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        if chosen not in (None, "http/1.1"):
            # This origin answered HTTP/1.1 before and now negotiates something else: not ours to guess.
            error = TransportError(
                f"{self.pool.authority} negotiated {chosen!r} by ALPN on a new connection after speaking HTTP/1.1",
                maybe_processed=False,
            )
            if not self.connected.done():
                self.connected.set_exception(error)
            transport.abort()
            return
        self.state = _IDLE
        if not self.connected.done():
            self.connected.set_result(None)

    def data_received(self, data: bytes) -> None:
        """Feed h11 and act on its events; one response ends the exchange."""
        exchange = self.exchange
        if exchange is None:
            # Bytes nobody asked for (RFC 9112 §9.3: a server must not send an unsolicited response):
            # the connection's framing can no longer be trusted.
            if self.reused:
                self._drop(f"{self.pool.authority} sent data with no request outstanding")
            else:
                self._unusable(f"data before any request: {_describe(data)}")
            return
        self._answered = True
        self._feed(data)

    def eof_received(self) -> bool | None:
        """The server closed its side: an answer delimited by close ends here, anything else is lost."""
        if self.exchange is not None and self._status:
            self._feed(b"", at_eof=True)  # RFC 9112 §6.3: a body without a length ends with the connection
        return None

    def _feed(self, data: bytes, *, at_eof: bool = False) -> None:
        """Hand ``data`` (``b""``: the end of input) to h11 and act on its events; one response ends the exchange."""
        conn = self._h11
        try:
            conn.receive_data(data)
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA or event is h11.PAUSED:
                    return
                if isinstance(event, h11.Response):
                    if not self._on_head(event):
                        return
                elif isinstance(event, h11.Data):
                    if not self._on_data(bytes(event.data)):
                        return
                elif isinstance(event, h11.EndOfMessage):
                    self._on_end()
                    return
                elif isinstance(event, h11.ConnectionClosed):
                    self._lost(None)
                    return
                # InformationalResponse (1xx, RFC 9110 §15.2): the final response follows.
        except h11.RemoteProtocolError as exc:
            if not at_eof:
                self._fail_malformed(exc, data)
            # At the end of input, an incomplete response is reported by connection_lost.

    def connection_lost(self, exc: Exception | None) -> None:
        """Fail what is in flight (it may have been processed) and leave the pool."""
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.close()  # Python 3.10's SSL transport may not mark itself closed (see the h2 path)
        self._transport = None
        self._lost(exc)
        if not self.closed.done():
            self.closed.set_result(None)

    # -- the request ------------------------------------------------------------------------------

    def start(self, exchange: Exchange) -> None:
        """Write ``exchange`` as one request with a ``Content-Length`` body (RFC 9112 §6.2)."""
        transport = self._transport
        assert transport is not None
        assert self.state == _IDLE
        self._cancel_idle()
        self.state = _BUSY
        self.exchange = exchange
        self._written = False
        self._answered = False
        self._status = 0
        self._headers = {}
        self._chunks = []
        self._received = 0
        method, target, authority, fields = request_line(exchange)
        body = exchange.body
        head = [(b"host", authority or self.pool.authority.encode("latin-1")), *fields]
        if body or method in (b"POST", b"PUT", b"PATCH"):
            head.append((b"content-length", str(len(body)).encode()))
        try:
            data = self._h11.send(h11.Request(method=method, target=target, headers=head))
            if body:
                data = (data or b"") + (self._h11.send(h11.Data(data=body)) or b"")
            data = (data or b"") + (self._h11.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError as exc:
            # Our own request is not valid HTTP/1.1 (a field value h11 refuses): nothing was written.
            self.exchange = None
            self.state = _IDLE
            self.pool.finished(self, exchange)
            if not exchange.future.done():
                exchange.future.set_exception(
                    TransportError(f"cannot send this request over HTTP/1.1: {exc}", maybe_processed=False)
                )
            return
        transport.write(data)
        self._written = True

    def _on_head(self, event: h11.Response) -> bool:
        status = event.status_code
        if not 200 <= status <= 599:
            # RFC 9110 §15: codes outside 100-599 are invalid; h11 hands 1xx over separately.
            self._fail(
                TransportError(
                    f"{self.pool.authority} sent a malformed HTTP/1.1 response (status {status}), "
                    "so whether the request was processed is unknown",
                    maybe_processed=True,
                )
            )
            return False
        headers: dict[str, str] = {}
        for name, value in event.headers:
            key = name.decode("latin-1")  # h11 gives lower-case names
            text = value.decode("latin-1")
            previous = headers.get(key)
            headers[key] = text if previous is None else f"{previous}, {text}"  # RFC 9110 §5.3
        self._status = status
        self._headers = headers
        return True

    def _on_data(self, data: bytes) -> bool:
        self._received += len(data)
        limit = self.pool.config.max_response_body
        if self._received > limit:
            self._fail(
                TransportError(
                    f"{self.pool.authority} sent a response body over the limit of {limit} bytes "
                    f"({self._received} bytes received when the connection was closed)",
                    maybe_processed=True,
                )
            )
            return False
        self._chunks.append(data)
        return True

    def _on_end(self) -> None:
        exchange = self.exchange
        assert exchange is not None
        chunks = self._chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        response = Response(self._status, self._headers, body)
        self.exchange = None
        self._chunks = []
        self.reused = True
        conn = self._h11
        # RFC 9112 §9.6: "Connection: close" from either side, or an answer delimited by the close,
        # ends the connection; otherwise both sides are DONE and the next request may start.
        keep = conn.our_state is h11.DONE and conn.their_state is h11.DONE
        if keep:
            conn.start_next_cycle()
            self.state = _IDLE
        else:
            self._close_quietly()
        if not exchange.future.done():
            exchange.future.set_result(response)
        self.pool.finished(self, exchange)
        if keep and self.state == _IDLE:
            self._arm_idle()

    def _fail_malformed(self, exc: h11.RemoteProtocolError, data: bytes) -> None:
        problem = _describe(data) if _looks_like_http2(data) else f"{exc} ({_describe(data)})"
        self._fail(
            TransportError(
                f"{self.pool.authority} did not send a valid HTTP/1.1 response: {problem}",
                maybe_processed=True,
            )
        )

    def _fail(self, error: TransportError) -> None:
        """End the exchange with ``error`` and drop the connection: its framing is lost."""
        exchange = self.exchange
        self.exchange = None
        self._chunks = []
        self._close_quietly()
        if exchange is not None:
            if not exchange.future.done():
                exchange.future.set_exception(error)
            self.pool.finished(self, exchange)

    def _lost(self, exc: Exception | None) -> None:
        if self.state == _CLOSED:
            return
        if not self.reused and (self.exchange is None or not self._written):
            # Closed before it carried anything: a failed connection attempt, not a lost request.
            why = f": {exc}" if exc is not None else ""
            self._unusable(f"the server closed the connection before any response{why}")
            return
        self.state = _CLOSED
        self._cancel_idle()
        exchange = self.exchange
        self.exchange = None
        if exchange is not None and not exchange.future.done():
            if not self._written:
                error = TransportError(
                    f"the HTTP/1.1 connection to {self.pool.authority} closed before the request was sent",
                    maybe_processed=False,
                )
            else:
                why = f": {exc}" if exc is not None else ""
                answered = "in the middle of its response" if self._answered else "before answering"
                error = TransportError(
                    f"{self.pool.authority} closed the HTTP/1.1 connection {answered}{why}", maybe_processed=True
                )
            exchange.future.set_exception(error)
        self.pool.connection_closed(self, exchange)

    # -- closing ----------------------------------------------------------------------------------

    def cancel(self, exchange: Exchange) -> None:
        """The caller gave up on ``exchange`` (in flight here): HTTP/1.1 can only say so by closing."""
        if self.exchange is exchange:
            self.exchange = None
            self.pool.finished(self, exchange)
        self._close_quietly()

    def _unusable(self, problem: str) -> None:
        """A fresh connection that cannot carry requests: its request (unsent) goes back to the queue."""
        exchange = self.exchange
        self.exchange = None
        self._cancel_idle()
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.abort()
        if self.state != _CLOSED:
            self.state = _CLOSED
            self.pool.connection_failed(self, exchange, f"HTTP/1.1 failed: {problem}")

    def _drop(self, reason: str) -> None:
        _log.debug("dropping an HTTP/1.1 connection: %s", reason)
        self._close_quietly()

    def _close_quietly(self) -> None:
        self._cancel_idle()
        transport = self._transport
        if self.state != _CLOSED:
            self.state = _CLOSED
            self.pool.connection_closed(self, None)
        if transport is not None and not transport.is_closing():
            transport.close()

    def close(self, reason: str) -> None:
        """Close for good (engine shutdown): the request in flight fails with ``reason``."""
        exchange = self.exchange
        self.exchange = None
        if exchange is not None and not exchange.future.done():
            exchange.future.set_exception(TransportError(reason, maybe_processed=self._written))
        self._close_quietly()
        if self._transport is None and not self.closed.done():
            self.closed.set_result(None)

    def abort(self) -> None:
        """Drop the socket without ceremony."""
        if self._transport is not None:
            self._transport.abort()

    def _arm_idle(self) -> None:
        timeout = self.pool.config.http1_idle_timeout
        if timeout > 0:
            self._idle_timer = self.pool.loop.call_later(timeout, self._on_idle)

    def _on_idle(self) -> None:
        # Close before the server does: a server closing an idle connection just as we reuse it would
        # turn a harmless race into a request that "may have been processed" (RFC 9112 §9.3.1).
        self._idle_timer = None
        if self.state == _IDLE:
            self._close_quietly()

    def _cancel_idle(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None


class Http1Pool:
    """Up to ``config.http1_connections_per_origin`` persistent HTTP/1.1 connections to one origin.

    The interface is the HTTP/2 ``Pool``'s (``submit``, ``expire``, ``abandon``, ``shut_down``,
    ``wait_closed``, ``open_connections``, ``in_flight``, ``pending``), so the engine routes an origin
    to one or the other and nothing above it knows which protocol carried a request.
    """

    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop,
        host: str,
        port: int,
        authority: str,
        ssl_context: ssl.SSLContext | None,
        config: EngineConfig,
        stats: EngineStats,
    ) -> None:
        self.loop = loop
        self.host = host
        self.port = port
        self.authority = authority
        self._ssl = ssl_context
        self.config = config
        self._stats = stats
        self.pending: deque[Exchange] = deque()
        self._idle: list[_Connection] = []  # most recently used last: reused first (warm, least likely closed)
        self._busy: dict[int, _Connection] = {}  # id(exchange) → its connection
        self._all: set[_Connection] = set()
        self._ending: set[_Connection] = set()  # closed by us, socket not gone yet
        self._connecting = 0
        self._failures = 0  # failed connection attempts in a row (backoff, and when to give up)
        self._closed = False
        self._closing: list[_Connection] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def closing(self) -> bool:
        """Whether ``shut_down`` was called."""
        return self._closed

    @property
    def open_connections(self) -> int:
        """Connections open right now (idle or carrying a request)."""
        return len(self._all)

    @property
    def in_flight(self) -> int:
        """Requests on a connection right now."""
        return len(self._busy)

    # -- requests ---------------------------------------------------------------------------------

    def submit(self, exchange: Exchange) -> None:
        """Start ``exchange`` on an idle connection, or queue it and open one if the pool has room."""
        if self._closed:
            exchange.future.set_exception(
                TransportError("the engine was closed before this request was sent", maybe_processed=False)
            )
            return
        if not self.pending:
            while self._idle:
                connection = self._idle.pop()
                if connection.state == _IDLE:
                    self._start(connection, exchange)
                    return
        self.pending.append(exchange)
        self._maybe_connect()

    def adopt(self, hand_over: Callable[[asyncio.Protocol], None]) -> None:
        """Take over a connected socket whose ALPN chose HTTP/1.1 (found while opening an HTTP/2 one).

        ``hand_over`` makes the new connection the transport's protocol and replays what arrived.
        """
        connection = _Connection(self)
        self._all.add(connection)
        self._stats.connections_opened += 1
        _telemetry.connection("opened", self.host, self.port)
        hand_over(connection)
        if connection.state == _IDLE:
            self._idle.append(connection)
            self._fill()

    def expire(self, exchange: Exchange, error: TransportError) -> None:
        """The caller gave up on ``exchange``: fail it (if unsettled) and free its connection."""
        if not exchange.future.done():
            exchange.future.set_exception(error)
        self.abandon(exchange)

    def abandon(self, exchange: Exchange) -> None:
        """Nobody waits for ``exchange`` any more: a queued one is skipped lazily, a sent one closes its connection."""
        connection = self._busy.get(id(exchange))
        if connection is not None:
            connection.cancel(exchange)
            self._maybe_connect()

    def _start(self, connection: _Connection, exchange: Exchange) -> None:
        self._busy[id(exchange)] = connection
        exchange.connection = connection  # Engine reads it: "sent" for timeouts, cancel() on abandon
        connection.start(exchange)

    def finished(self, connection: _Connection, exchange: Exchange) -> None:
        """Called by a connection when its exchange settled; an idle connection takes the next one."""
        self._busy.pop(id(exchange), None)
        exchange.connection = None
        self._failures = 0
        if connection.state == _IDLE:
            self._idle.append(connection)
        self._fill()

    def connection_closed(self, connection: _Connection, exchange: Exchange | None) -> None:
        """A connection ended (by either side)."""
        self._forget(connection)
        if connection in self._idle:
            self._idle.remove(connection)
        if exchange is not None:
            self._busy.pop(id(exchange), None)
            exchange.connection = None
        if not self._closed:
            self._fill()

    def _forget(self, connection: _Connection) -> None:
        if connection in self._all:
            _telemetry.connection("closed", self.host, self.port)
        self._all.discard(connection)
        if not connection.closed.done():
            # Its socket is still closing (a TLS close waits for the peer): aclose must wait for it too.
            self._ending.add(connection)
            connection.closed.add_done_callback(lambda _: self._ending.discard(connection))

    def _fill(self) -> None:
        pending = self.pending
        while pending and pending[0].future.done():
            pending.popleft()  # timed out or cancelled while waiting
        while pending and self._idle:
            connection = self._idle.pop()
            if connection.state != _IDLE:
                continue
            exchange = pending.popleft()
            if exchange.future.done():
                self._idle.append(connection)
                continue
            self._start(connection, exchange)
        if pending:
            self._maybe_connect()

    # -- connections ------------------------------------------------------------------------------

    def _maybe_connect(self) -> None:
        if self._closed:
            return
        # One connection attempt at a time until one succeeds (a dead server gets one handshake, not
        # ten); then up to the limit. O(1) per call: ``pending`` may still hold a few settled
        # exchanges (skipped lazily), so this can open a connection more than needed, never fewer.
        limit = self.config.http1_connections_per_origin if self._all else 1
        room = limit - len(self._all) - self._connecting
        for _ in range(min(room, len(self.pending) - self._connecting)):
            self._connecting += 1
            task = self.loop.create_task(self._connect())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _connect(self) -> None:
        """One connection attempt, after the backoff its predecessors' failures call for."""
        config = self.config
        try:
            if self._failures:
                await asyncio.sleep(backoff_delay(self._failures))
            pending = self.pending
            while pending and pending[0].future.done():
                pending.popleft()
            if self._closed or not pending:
                return
            connection = _Connection(self)
            try:
                await asyncio.wait_for(
                    self.loop.create_connection(
                        lambda: connection,
                        self.host,
                        self.port,
                        ssl=self._ssl,
                        server_hostname=self.host if self._ssl is not None else None,
                    ),
                    config.connect_timeout,
                )
                await connection.connected
            except (OSError, asyncio.TimeoutError, TransportError) as exc:
                connection.abort()
                if type(exc) is asyncio.TimeoutError:
                    self._note_failure(f"timed out after {config.connect_timeout:g} s", None)
                else:
                    self._note_failure(str(exc), exc)
                return
            if connection.state != _IDLE:
                return  # unusable at once (connection_failed counted it)
            if self.closing:  # shut down while this connection was being opened
                connection.close("the engine was closed")
                return
            self._stats.connections_opened += 1
            _telemetry.connection("opened", self.host, self.port)
            self._all.add(connection)
            self._idle.append(connection)
        finally:
            self._connecting -= 1
            if not self._closed:
                self._fill()

    def connection_failed(self, connection: _Connection, exchange: Exchange | None, reason: str) -> None:
        """A new connection proved unusable before carrying a request; ``exchange`` (never sent) waits again."""
        self._forget(connection)
        if connection in self._idle:
            self._idle.remove(connection)
        if exchange is not None:
            self._busy.pop(id(exchange), None)
            exchange.connection = None
            if not exchange.future.done():
                self.pending.appendleft(exchange)
        self._note_failure(reason, None)
        if not self._closed:
            self._fill()

    def _note_failure(self, message: str, cause: BaseException | None) -> None:
        """Count a failed connection attempt; after ``max_connect_attempts`` in a row the waiting requests fail."""
        self._stats.connect_failures += 1
        self._failures += 1
        attempts = self.config.max_connect_attempts
        _log.info(
            "connecting to %s (HTTP/1.1) failed (try %d of %d): %s", self.authority, self._failures, attempts, message
        )
        # A wrong certificate will not fix itself: no more tries.
        if self._failures >= attempts or isinstance(cause, ssl.SSLCertVerificationError):
            self._failures = 0
            if not self._all:
                self._fail_pending(f"cannot connect to {self.authority}: {message}", cause)

    def _fail_pending(self, message: str, cause: BaseException | None) -> None:
        fail_pending(self.pending, message, cause)

    # -- shutdown ---------------------------------------------------------------------------------

    def shut_down(self) -> None:
        """Fail queued requests and those in flight, close every connection, stop connecting."""
        self._closed = True
        self._fail_pending("the engine was closed before this request was sent", None)
        for task in self._tasks:
            task.cancel()
        self._closing = [*self._all, *self._ending]
        for connection in self._closing:
            connection.close("the engine was closed while this request was in flight")

    async def wait_closed(self, grace: float = 1.0) -> None:
        """Wait for the sockets to close and the connect tasks to end, aborting what is too slow."""
        awaited: list[asyncio.Future[None]] = [c.closed for c in self._closing if not c.closed.done()]
        awaited.extend(self._tasks)
        if awaited:
            await asyncio.wait(awaited, timeout=grace)
        stuck = [connection for connection in self._closing if not connection.closed.done()]
        for connection in stuck:
            connection.abort()
        if stuck:
            await asyncio.wait([connection.closed for connection in stuck], timeout=grace)
