"""The connections of one origin, and the FIFO queue of requests waiting for a free stream."""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections import deque
from typing import TYPE_CHECKING

from unipush import _telemetry
from unipush._engine._connection import OPEN, Connection
from unipush._errors import TransportError

if TYPE_CHECKING:
    from unipush._engine._engine import Engine
    from unipush._engine._exchange import Exchange

__all__ = ["Pool"]

_log = logging.getLogger("unipush.engine")

# A request bounced this many times (GOAWAY above its stream, REFUSED_STREAM) fails instead of
# looping forever against a server that never takes it; the error says it was never processed.
MAX_RESENDS = 8

# Reconnect backoff: the first attempt is immediate, then 0.25 s, 0.5 s, 1 s... (capped), each with
# "full jitter" between half and all of it, so many clients cut off together do not return together.
_BACKOFF_BASE = 0.25
_BACKOFF_CAP = 10.0

# How long aclose() lets each connection finish its TLS close before dropping the socket.
_CLOSE_GRACE = 1.0


def backoff_delay(attempt: int) -> float:
    """The pause before connection attempt ``attempt`` (1 = the first retry)."""
    delay: float = min(_BACKOFF_CAP, _BACKOFF_BASE * 2.0 ** (attempt - 1))
    return delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not cryptography


class Pool:
    """Up to ``connections_per_origin`` connections to one (scheme, host, port), opened on demand.

    Requests go to the first open connection with a free stream; when all are at their limit they
    wait in ``pending`` (FIFO; resent requests go back to the front) and a stream slot freed by a
    response is handed to the oldest waiter right away, in the same callback.
    """

    def __init__(self, engine: Engine, loop: asyncio.AbstractEventLoop, scheme: str, host: str, port: int) -> None:
        self.engine = engine
        self._loop = loop
        self.host = host
        self.port = port
        default_port = 443 if scheme == "https" else 80
        shown_host = f"[{host}]" if ":" in host else host  # RFC 3986 §3.2.2: IPv6 literals in brackets
        self.authority = shown_host if port == default_port else f"{shown_host}:{port}"
        self._ssl: ssl.SSLContext | None = engine.ssl_context_for(host, port) if scheme == "https" else None
        self.pending: deque[Exchange] = deque()
        self._open: list[Connection] = []  # OPEN connections, in the order they opened
        self._others: set[Connection] = set()  # connecting or draining: still to close on aclose
        self._connect_task: asyncio.Task[None] | None = None
        self._closing: list[Connection] = []  # what shut_down closed, for wait_closed
        self._opened = 0
        self._closed = False

    @property
    def open_connections(self) -> int:
        """How many connections take new streams right now."""
        return len(self._open)

    @property
    def in_flight(self) -> int:
        """Requests on a stream right now, on every connection of the pool."""
        return sum(connection.active for connection in (*self._open, *self._others))

    # -- requests ---------------------------------------------------------------------------------

    def submit(self, exchange: Exchange) -> None:
        """Start ``exchange`` on a connection with room, or queue it (and open a connection if allowed)."""
        if not self.pending:
            for connection in self._open:
                if connection.active < connection.max_streams:
                    connection.start(exchange)
                    return
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
            self.engine.resends += len(kept)
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
        if self._closed or self._connect_task is not None:
            return
        if len(self._open) >= self.engine.connections_per_origin:
            return
        self._connect_task = self._loop.create_task(self._connect())

    async def _connect(self) -> None:
        """Open one connection, retrying with backoff; if every attempt fails, fail the waiting requests."""
        engine = self.engine
        attempts = engine.max_connect_attempts
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
                    engine.connect_failures += 1
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
        """One connection attempt: TCP, TLS with ALPN h2, then the server's first SETTINGS frame."""
        loop = self._loop
        engine = self.engine
        connection = Connection(self, loop)
        self._others.add(connection)
        deadline = loop.time() + engine.connect_timeout
        try:
            await asyncio.wait_for(
                loop.create_connection(
                    lambda: connection,
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self._ssl is not None else None,
                ),
                engine.connect_timeout,
            )
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
                f"connecting to {self.authority} timed out after {engine.connect_timeout:g} s", maybe_processed=False
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

    def connection_ready(self, connection: Connection) -> None:
        """Called by a connection when the server's first SETTINGS arrived: start queued requests on it."""
        self._others.discard(connection)
        if self._closed:
            connection.close("the engine was closed")
            return
        self._open.append(connection)
        _telemetry.connection("opened", self.host, self.port)
        engine = self.engine
        engine.connections_opened += 1
        if self._opened >= engine.connections_per_origin:
            engine.reconnects += 1
        self._opened += 1
        _log.debug("connected to %s (max %d streams)", self.authority, connection.max_streams)
        self.fill(connection)

    def connection_retired(self, connection: Connection) -> None:
        """A connection stopped taking streams (GOAWAY): open a replacement if requests wait."""
        if connection in self._open:
            self._open.remove(connection)
        self._others.add(connection)
        if self.pending:
            self._maybe_connect()

    def connection_closed(self, connection: Connection, unsent: list[Exchange], *, was_connecting: bool) -> None:
        """A connection ended; ``unsent`` were on it but never written, so they simply go again."""
        if not was_connecting:
            _telemetry.connection("closed", self.host, self.port)
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
        pending = self.pending
        while pending:
            exchange = pending.popleft()
            if not exchange.future.done():
                error = TransportError(message, maybe_processed=False)
                error.__cause__ = cause
                exchange.future.set_exception(error)

    # -- shutdown ---------------------------------------------------------------------------------

    def shut_down(self) -> None:
        """Fail queued requests, send GOAWAY and close every connection, cancel the connect task.

        Synchronous, so nothing buffered in this loop iteration reaches the network afterwards.
        """
        self._closed = True
        self._fail_pending("the engine was closed before this request was sent", None)
        if self._connect_task is not None:
            self._connect_task.cancel()
        self._closing = [*self._open, *self._others]
        for connection in self._closing:
            connection.close("the engine was closed while this request was in flight")

    async def wait_closed(self) -> None:
        """Wait for the connect task to end and the sockets to close, aborting those too slow to."""
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
