"""The connections of one origin, and the FIFO queue of requests waiting for a free stream."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import deque
from typing import TYPE_CHECKING

from unipush import _telemetry
from unipush._engine._config import EngineConfig, EngineStats, authority_of, backoff_delay
from unipush._engine._connection import OPEN, Connection, NotHttp2Error
from unipush._engine._exchange import fail_pending
from unipush._engine._http1 import Http1Pool
from unipush._errors import TransportError

if TYPE_CHECKING:
    from unipush._engine._exchange import Exchange

__all__ = ["Pool"]

_log = logging.getLogger("unipush.engine")

# A request bounced this many times (GOAWAY above its stream, REFUSED_STREAM) fails instead of
# looping forever against a server that never takes it; the error says it was never processed.
MAX_RESENDS = 8

# How long aclose() lets each connection finish its TLS close before dropping the socket.
_CLOSE_GRACE = 1.0


class _Handshake(asyncio.Protocol):
    """Holds a fresh TCP (+ TLS) transport until the pool has chosen the protocol object that speaks on it.

    ``create_connection`` needs a protocol before the TLS handshake, but which one (HTTP/2 or another)
    depends on what ALPN negotiates in it. Bytes (the server's SETTINGS) or a close that arrive
    before the choice are kept and handed over with the transport.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._early: list[bytes] = []
        self._lost = False
        self._exc: Exception | None = None

    @property
    def negotiated(self) -> str | None:
        """The ALPN protocol the TLS handshake settled on; ``None`` over cleartext (or none agreed)."""
        ssl_object = self.transport.get_extra_info("ssl_object") if self.transport is not None else None
        if ssl_object is None:
            return None
        protocol: str | None = ssl_object.selected_alpn_protocol()
        return protocol or ""  # TLS without an agreed protocol: not HTTP/2 (RFC 9113 §3.2)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport for ``hand_over``."""
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        """Bytes before the protocol was chosen: kept for it."""
        self._early.append(data)

    def eof_received(self) -> bool | None:
        """Half-closed before the protocol was chosen: let the transport close."""
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """Closed before the protocol was chosen: told to it on ``hand_over``."""
        self._lost = True
        self._exc = exc

    def abort(self) -> None:
        """Drop the transport (setup failed or the protocol was refused)."""
        if self.transport is not None:
            self.transport.abort()

    def hand_over(self, protocol: asyncio.Protocol) -> None:
        """Make ``protocol`` the transport's protocol and replay what it missed."""
        transport = self.transport
        assert transport is not None
        if not self._lost:
            transport.set_protocol(protocol)
        protocol.connection_made(transport)
        for data in self._early:
            protocol.data_received(data)
        self._early.clear()
        if self._lost:
            protocol.connection_lost(self._exc)


class Pool:
    """Up to ``connections_per_origin`` connections to one (scheme, host, port), opened on demand.

    Requests go to the first open connection with a free stream; when all are at their limit they
    wait in ``pending`` (FIFO; resent requests go back to the front) and a stream slot freed by a
    response is handed to the oldest waiter right away, in the same callback.
    """

    def __init__(
        self,
        config: EngineConfig,
        stats: EngineStats,
        loop: asyncio.AbstractEventLoop,
        scheme: str,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self._config = config
        self._stats = stats
        self._loop = loop
        self.host = host
        self.port = port
        self.authority = authority_of(host, port, scheme)
        self._ssl = ssl_context if scheme == "https" else None
        self.pending: deque[Exchange] = deque()
        self._open: list[Connection] = []  # OPEN connections, in the order they opened
        self._free: dict[Connection, None] = {}  # OPEN connections with a free stream (ordered set)
        self._others: set[Connection] = set()  # connecting or draining: still to close on aclose
        self._connect_task: asyncio.Task[None] | None = None
        self._closing: list[Connection] = []  # what shut_down closed, for wait_closed
        self._opened = 0
        self._closed = False
        # Set when the server chose HTTP/1.1 by ALPN: from then on every request of this origin goes there.
        self.http1: Http1Pool | None = None

    @property
    def open_connections(self) -> int:
        """How many connections take new streams right now."""
        if self.http1 is not None:
            return self.http1.open_connections
        return len(self._open)

    @property
    def in_flight(self) -> int:
        """Requests on a stream right now, on every connection of the pool."""
        if self.http1 is not None:
            return self.http1.in_flight
        return sum(connection.active for connection in (*self._open, *self._others))

    # -- requests ---------------------------------------------------------------------------------

    def submit(self, exchange: Exchange) -> None:
        """Start ``exchange`` on a connection with room, or queue it (and open a connection if allowed).

        O(1) however many connections the pool has: ``_free`` holds the connections that had a free
        stream when last seen (checked again here, so a stale entry costs one lookup).
        """
        if self.http1 is not None:
            self.http1.submit(exchange)
            return
        if not self.pending:
            free = self._free
            while free:
                connection = next(iter(free))
                if connection.state == OPEN and connection.active < connection.max_streams:
                    connection.start(exchange)
                    if connection.active >= connection.max_streams:
                        del free[connection]
                    return
                del free[connection]
        self.pending.append(exchange)
        if self._connect_task is None:
            self._maybe_connect()

    def fill(self, connection: Connection) -> None:
        """Give ``connection``'s free streams to the oldest waiting exchanges."""
        if connection.receiving:
            connection.wants_fill = True  # it fills itself once its received batch is handled
            return
        pending = self.pending
        while pending and connection.state == OPEN and connection.active < connection.max_streams:
            exchange = pending.popleft()
            if not exchange.future.done():  # timed out or cancelled while waiting: skip it
                connection.start(exchange)
        if connection.state == OPEN and connection.active < connection.max_streams:
            self._free[connection] = None  # room left over: the next submit goes here

    def expire(self, exchange: Exchange, error: TransportError) -> None:
        """The caller gave up on ``exchange``: fail it with ``error`` (if unsettled) and free its stream."""
        if not exchange.future.done():
            exchange.future.set_exception(error)
        self.abandon(exchange)

    def abandon(self, exchange: Exchange) -> None:
        """Free the stream of an exchange nobody waits for any more (a queued one is skipped lazily)."""
        connection = exchange.connection
        if connection is not None:
            connection.cancel(exchange)

    def requeue(self, exchanges: list[Exchange]) -> None:
        """Put never-sent exchanges back at the front of the queue."""
        for exchange in exchanges:
            exchange.detach()
        self.pending.extendleft(reversed(exchanges))
        self._maybe_connect()

    def resend(self, exchanges: list[Exchange], why: str) -> None:
        """Send again exchanges the server provably did not process (``why``: GOAWAY, REFUSED_STREAM)."""
        kept: list[Exchange] = []
        for exchange in exchanges:
            if exchange.future.done():
                continue
            exchange.detach()
            exchange.resends += 1
            if exchange.resends > MAX_RESENDS:
                exchange.future.set_exception(
                    TransportError(
                        f"{self.authority} did not process the request after {MAX_RESENDS} resends (last: {why})",
                        maybe_processed=False,
                    )
                )
            else:
                kept.append(exchange)
        if kept:
            self._stats.resends += len(kept)
            _log.debug("resending %d request(s) to %s after %s", len(kept), self.authority, why)
            self.pending.extendleft(reversed(kept))
            self._dispatch()

    def _dispatch(self) -> None:
        for connection in list(self._open):
            if not self.pending:
                return
            self.fill(connection)
        if self.pending:
            self._maybe_connect()

    # -- connections ------------------------------------------------------------------------------

    def _maybe_connect(self) -> None:
        if self._closed or self._connect_task is not None or self.http1 is not None:
            return
        if len(self._open) >= self._config.connections_per_origin:
            return
        self._connect_task = self._loop.create_task(self._connect())

    async def _connect(self) -> None:
        """Open one connection, retrying with backoff; if every attempt fails, fail the waiting requests."""
        attempts = self._config.max_connect_attempts
        error: BaseException | None = None
        succeeded = False
        try:
            for attempt in range(attempts):
                if attempt:
                    await asyncio.sleep(backoff_delay(attempt))
                while self.pending and self.pending[0].future.done():
                    self.pending.popleft()
                if self._closed or not self.pending:
                    return  # nobody waits any more
                try:
                    await self._open_one()
                except (OSError, asyncio.TimeoutError, TransportError) as exc:
                    error = exc
                    self._stats.connect_failures += 1
                    _log.info(
                        "connecting to %s failed (connection try %d of %d): %s",
                        self.authority,
                        attempt + 1,
                        attempts,
                        exc,
                    )
                    if isinstance(exc, ssl.SSLCertVerificationError) or getattr(exc, "permanent", False):
                        break  # a wrong certificate or a server without HTTP/2 will not fix itself
                else:
                    succeeded = True
                    return
        finally:
            self._connect_task = None
            if succeeded and self.pending:
                self._maybe_connect()  # still more waiting than the open connections can take
        if not self._open:
            # No count here: the sender quotes the one count the result has (SendResult.attempts).
            self._fail_pending(f"cannot connect to {self.authority}: {error}", error)

    async def _open_one(self) -> None:
        """One connection attempt: TCP, TLS with ALPN, then the server's first SETTINGS frame."""
        loop = self._loop
        timeout = self._config.connect_timeout
        deadline = loop.time() + timeout
        handshake = _Handshake()
        try:
            await asyncio.wait_for(
                loop.create_connection(
                    lambda: handshake,
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self._ssl is not None else None,
                ),
                timeout,
            )
        except asyncio.TimeoutError:
            handshake.abort()
            raise TransportError(
                f"connecting to {self.authority} timed out after {timeout:g} s", maybe_processed=False
            ) from None
        except BaseException:
            handshake.abort()
            raise
        if handshake.negotiated in ("http/1.1", ""):
            # RFC 7301 §3.2: the server chose HTTP/1.1, or answered no ALPN at all, which means the same.
            self._switch_to_http1(handshake)
            return
        connection = self._connection_for(handshake)
        self._others.add(connection)
        handshake.hand_over(connection)
        try:
            if connection.failure is not None:
                raise connection.failure
            # shield: a timeout must not cancel the future the connection settles itself.
            ready = await asyncio.wait_for(asyncio.shield(connection.ready), max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            if connection.state == OPEN:
                return  # it became ready just as the timer fired
            connection.kill("connection setup timed out")
            self._others.discard(connection)
            raise TransportError(
                f"connecting to {self.authority} timed out after {timeout:g} s", maybe_processed=False
            ) from None
        except BaseException:
            if connection.state != OPEN:
                connection.kill("connection setup failed")
                self._others.discard(connection)
            raise
        if not ready:
            self._others.discard(connection)
            assert connection.failure is not None
            raise connection.failure

    def _connection_for(self, handshake: _Handshake) -> Connection:
        """The protocol object that speaks on a fresh transport, chosen by what ALPN negotiated.

        The one place the engine learns the negotiated protocol: ``None`` over cleartext (``http://``
        speaks HTTP/2 with prior knowledge, RFC 9113 §3.3), else what the server picked from our offer.
        HTTP/1.1 (and TLS without ALPN) was taken by ``_switch_to_http1`` before this is called.
        """
        negotiated = handshake.negotiated
        if negotiated not in (None, "h2"):
            handshake.abort()
            # RFC 9113 §3.2: "h2" must be negotiated with ALPN before HTTP/2 may be spoken over TLS.
            raise NotHttp2Error(
                f"{self.authority} negotiated {negotiated!r} by ALPN; unipush speaks 'h2' and 'http/1.1'",
                maybe_processed=False,
            )
        return Connection(self, self.authority, self._config, self._stats, self._loop)

    def _switch_to_http1(self, handshake: _Handshake) -> None:
        """The server chose HTTP/1.1: an ``Http1Pool`` takes the socket and every waiting request."""
        http1 = Http1Pool(
            loop=self._loop,
            host=self.host,
            port=self.port,
            authority=self.authority,
            ssl_context=self._ssl,
            config=self._config,
            stats=self._stats,
        )
        self.http1 = http1
        _log.debug("%s chose HTTP/1.1 by ALPN; using persistent HTTP/1.1 connections", self.authority)
        http1.pending.extend(self.pending)
        self.pending.clear()
        http1.adopt(handshake.hand_over)

    def connection_ready(self, connection: Connection) -> None:
        """Called by a connection when the server's first SETTINGS arrived: start queued requests on it."""
        self._others.discard(connection)
        if self._closed:
            connection.close("the engine was closed")
            return
        self._open.append(connection)
        _telemetry.connection("opened", self.host, self.port)
        stats = self._stats
        stats.connections_opened += 1
        if self._opened >= self._config.connections_per_origin:
            stats.reconnects += 1
        self._opened += 1
        _log.debug("connected to %s (max %d streams)", self.authority, connection.max_streams)
        self.fill(connection)

    def connection_retired(self, connection: Connection) -> None:
        """A connection stopped taking streams (GOAWAY): open a replacement if requests wait."""
        if connection.goaway:
            _telemetry.connection("goaway", self.host, self.port)
        self._free.pop(connection, None)
        if connection in self._open:
            self._open.remove(connection)
        self._others.add(connection)
        if self.pending:
            self._maybe_connect()

    def connection_closed(self, connection: Connection, unsent: list[Exchange], *, was_connecting: bool) -> None:
        """A connection ended; ``unsent`` were on it but never written, so they simply go again."""
        if not was_connecting:
            _telemetry.connection("closed", self.host, self.port)
        self._free.pop(connection, None)
        if connection in self._open:
            self._open.remove(connection)
        self._others.discard(connection)
        if self._closed:
            for exchange in unsent:
                if not exchange.future.done():
                    exchange.future.set_exception(
                        TransportError("the engine was closed before this request was sent", maybe_processed=False)
                    )
            return
        if unsent:
            self.requeue(unsent)
        if not was_connecting:  # a failed setup is the connect task's business (it retries)
            self._dispatch()

    def _fail_pending(self, message: str, cause: BaseException | None) -> None:
        fail_pending(self.pending, message, cause)

    # -- shutdown ---------------------------------------------------------------------------------

    def shut_down(self) -> None:
        """Fail queued requests, send GOAWAY and close every connection, cancel the connect task.

        Synchronous, so nothing buffered in this loop iteration reaches the network afterwards.
        """
        self._closed = True
        if self.http1 is not None:
            self.http1.shut_down()
        self._fail_pending("the engine was closed before this request was sent", None)
        if self._connect_task is not None:
            self._connect_task.cancel()
        self._closing = [*self._open, *self._others]
        for connection in self._closing:
            connection.close("the engine was closed while this request was in flight")

    async def wait_closed(self) -> None:
        """Wait for the connect task to end and the sockets to close, aborting those too slow to."""
        if self.http1 is not None:
            await self.http1.wait_closed(_CLOSE_GRACE)
        awaited: list[asyncio.Future[None]] = [c.closed for c in self._closing if not c.closed.done()]
        if self._connect_task is not None:
            awaited.append(self._connect_task)
        if awaited:
            # wait() neither raises nor leaves a cancelled task's outcome unread.
            await asyncio.wait(awaited, timeout=_CLOSE_GRACE)
        stuck = [connection for connection in self._closing if not connection.closed.done()]
        for connection in stuck:
            connection.abort()
        if stuck:
            await asyncio.wait([connection.closed for connection in stuck], timeout=_CLOSE_GRACE)
