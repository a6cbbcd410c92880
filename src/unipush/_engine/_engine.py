"""``Engine``: the request entry point, one ``Pool`` per origin."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from jh2.hpack import NeverIndexedHeaderTuple

from unipush._engine._config import MAX_RESPONSE_BODY, PING_TIMEOUT, EngineConfig, EngineStats, authority_of
from unipush._engine._exchange import Exchange, Field, Response
from unipush._engine._http1 import Http1Pool
from unipush._engine._pool import Pool
from unipush._errors import TimeoutError, TransportError  # noqa: A004 - unipush's own TimeoutError

__all__ = ["Engine"]

# Apple's HTTP/2 example sends these as literals that never enter the HPACK table: a token or a
# device-specific path would only evict useful entries, and secrets stay out of shared compression
# state (RFC 7541 §7.1.3).
# ``apns-id`` is unique per request: indexing it would only churn the HPACK dynamic table (RFC 7541 §2.3.2)
# and evict the fields that do repeat (apns-topic, apns-push-type...).
_NEVER_INDEXED = frozenset({"authorization", "apns-id"})

# Connection-specific fields are forbidden in HTTP/2 (RFC 9113 §8.2.2); ``host`` becomes :authority.
_DROPPED = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host", "te"})

# RFC 7301 §3.1: the protocols we offer, in order of preference. Provider APIs choose "h2"; a server
# that chooses "http/1.1" (or answers no ALPN at all) gets the HTTP/1.1 keep-alive pool (``_http1``).
_ALPN = ["h2", "http/1.1"]

_METHODS: dict[str, tuple[bytes, bytes]] = {
    method: (b":method", method.encode()) for method in ("POST", "GET", "PUT", "DELETE", "PATCH", "HEAD")
}


class _Route:
    """What every URL with one origin prefix shares: its pool and ready-made pseudo-headers."""

    __slots__ = ("authority", "pool", "scheme")

    def __init__(self, pool: Pool | Http1Pool, scheme: str) -> None:
        self.pool = pool
        self.scheme = (b":scheme", scheme.encode())
        self.authority = (b":authority", pool.authority.encode())


class Engine:
    """A lean HTTP/2 client for provider APIs: pooled, multiplexed, flow-controlled, GOAWAY-safe.

    One pool per origin (scheme, host, port) with up to ``connections_per_origin`` long-lived
    connections, opened lazily. A request takes a free stream on the first connection with room;
    when every connection is at the server's ``SETTINGS_MAX_CONCURRENT_STREAMS`` (capped at
    ``max_streams_cap``) requests wait, first come first served, without polling. Requests the
    server provably did not process (above a GOAWAY's last stream, or refused with REFUSED_STREAM)
    are resent transparently; everything else that goes wrong raises ``TransportError`` with
    ``maybe_processed`` telling the retry policy whether a resend could duplicate a notification.

    An origin whose server chooses HTTP/1.1 by ALPN is served over a small pool of persistent HTTP/1.1
    connections instead (``_http1``), with the same timeouts, limits and errors.

    The engine binds to the event loop of its first request and must only be used from that loop.
    It sets the ALPN protocols of ``ssl_context`` to ``["h2", "http/1.1"]``.

    Args:
        ssl_context: TLS settings for ``https`` origins (trust store).
        origin_ssl_contexts: contexts for particular ``(host, port)`` origins, e.g. one holding the
            APNs client certificate for certificate-based authentication.
        connect_timeout: seconds for TCP, TLS and the server's first SETTINGS frame, per attempt.
        connections_per_origin: connections opened per origin when streams run out.
        max_streams_cap: never more streams per connection than this, whatever the server allows.
        idle_ping_interval: seconds without a frame from the server before a PING checks the
            connection; one unanswered within a few seconds closes it. ``0`` disables.
        max_connect_attempts: connection attempts (with exponential backoff and jitter between
            them) before the waiting requests fail.
        max_response_body: bytes of body read per response (``MAX_RESPONSE_BODY``, 256 KiB, by
            default); a longer one fails its request with ``TransportError`` and its stream is reset.
        ping_timeout: seconds an idle-check PING may go unanswered before the connection is replaced.
        cleartext_http2: ``http://`` origins speak HTTP/1.1 unless this is True, when they speak
            cleartext HTTP/2 with prior knowledge (RFC 9113 §3.3). ALPN decides for ``https://``.
        http1_connections_per_origin: persistent connections per HTTP/1.1 origin; each carries one
            request at a time, the rest wait in order.
        http1_idle_timeout: seconds an HTTP/1.1 connection may stay unused before we close it,
            shorter than common servers' keep-alive timeouts (5 s) so a reused connection is not
            one the server is closing at that moment. ``0`` keeps idle connections open.

    The settings end up in ``config`` (an ``EngineConfig``), the counters in ``counters`` (an
    ``EngineStats``); pools and connections get both when they are made, never the engine itself.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        connect_timeout: float = 10.0,
        connections_per_origin: int = 1,
        max_streams_cap: int = 1000,
        idle_ping_interval: float = 60.0,
        max_connect_attempts: int = 3,
        origin_ssl_contexts: Mapping[tuple[str, int], ssl.SSLContext] | None = None,
        max_response_body: int = MAX_RESPONSE_BODY,
        ping_timeout: float = PING_TIMEOUT,
        cleartext_http2: bool = False,
        http1_connections_per_origin: int = 10,
        http1_idle_timeout: float = 4.0,
    ) -> None:
        self.config = EngineConfig(
            connect_timeout=connect_timeout,
            connections_per_origin=connections_per_origin,
            max_streams_cap=max_streams_cap,
            idle_ping_interval=idle_ping_interval,
            ping_timeout=ping_timeout,
            max_connect_attempts=max_connect_attempts,
            max_response_body=max_response_body,
            cleartext_http2=cleartext_http2,
            http1_connections_per_origin=http1_connections_per_origin,
            http1_idle_timeout=http1_idle_timeout,
        )
        self.counters = EngineStats()
        # RFC 9113 §3.2: HTTP/2 over TLS is chosen with ALPN; HTTP/1.1 is offered as the fallback.
        ssl_context.set_alpn_protocols(_ALPN)
        self.ssl_context = ssl_context
        # Per-(host, port) contexts: APNs certificate auth presents its client certificate to APNs only.
        self._origin_ssl_contexts = dict(origin_ssl_contexts or {})
        for context in self._origin_ssl_contexts.values():
            context.set_alpn_protocols(_ALPN)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pools: dict[tuple[str, str, int], Pool | Http1Pool] = {}
        self._routes: dict[str, _Route] = {}
        self._closed = False

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, *, timeout: float | None
    ) -> Response:
        """Send one request and return the response (any status).

        Args:
            method: ``"POST"``, ``"GET"``...
            url: an absolute ``https://`` (or ``http://``) URL.
            headers: request fields; names are sent lower-case. ``authorization`` is never indexed
                by HPACK, nor is ``:path``; connection-specific fields are dropped.
            body: the request body (may be empty).
            timeout: seconds for the whole request, queueing and connecting included; ``None`` waits
                as long as it takes.

        Raises:
            unipush.TimeoutError: no response within ``timeout``; the stream is cancelled.
            unipush.TransportError: no response could be had (connection failed, lost or reset,
                engine closed); ``maybe_processed`` is False when the server surely did not act on it.
        """
        if self._closed:
            raise TransportError("the engine is closed", maybe_processed=False)
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._bind(loop)
        cut = url.find("/", 8)  # the first "/" after "https://" or "http://x"
        if cut < 0:
            origin = url
            path = "/"
        else:
            origin = url[:cut]
            path = url[cut:]
        route = self._routes.get(origin)
        if route is None:
            route = self._route(origin)
        fields: list[Field] = [
            _METHODS.get(method) or (b":method", method.encode()),
            route.scheme,
            route.authority,
            NeverIndexedHeaderTuple(b":path", path.encode()),  # per Apple: the device token is in it
        ]
        for name, value in headers.items():
            name = name.lower()  # RFC 9113 §8.2.1: field names must be lower-case in HTTP/2
            if name in _NEVER_INDEXED:
                fields.append(NeverIndexedHeaderTuple(name, value))
            elif name not in _DROPPED:
                fields.append((name, value))
        pool = route.pool
        exchange = Exchange(fields, body, loop.create_future())
        self.counters.requests += 1
        pool.submit(exchange)
        timer = None if timeout is None else loop.call_later(timeout, self._expire, pool, exchange, timeout)
        try:
            return await exchange.future
        except asyncio.CancelledError:
            pool.abandon(exchange)  # RST_STREAM(CANCEL) if it is on a stream
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def _expire(self, pool: Pool | Http1Pool, exchange: Exchange, timeout: float) -> None:
        if exchange.future.done():
            return
        self.counters.timeouts += 1
        sent = exchange.connection is not None
        where = "response" if sent else "free stream or connection"
        pool.expire(
            exchange,
            TimeoutError(f"no {where} from {pool.authority} within {timeout:g} s", maybe_processed=sent),
        )

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is not None:
            raise RuntimeError("this Engine belongs to another event loop; create one engine per loop")
        self._loop = loop

    def _route(self, origin: str) -> _Route:
        parts = urlsplit(origin)
        scheme = parts.scheme.lower()
        if scheme not in ("https", "http") or not parts.hostname or parts.path or parts.query or parts.fragment:
            raise ValueError(f"not an absolute http(s) URL: {origin!r}")
        if parts.username is not None:
            raise ValueError("credentials in the URL are not supported; send an authorization header")
        host = parts.hostname
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, host, port)
        pool = self._pools.get(key)
        if pool is None:
            assert self._loop is not None
            if scheme == "http" and not self.config.cleartext_http2:
                # RFC 9112: without TLS there is no ALPN to ask; HTTP/1.1 is what a plain server speaks.
                pool = Http1Pool(
                    loop=self._loop,
                    host=host,
                    port=port,
                    authority=authority_of(host, port, scheme),
                    ssl_context=None,
                    config=self.config,
                    stats=self.counters,
                )
            else:
                pool = Pool(
                    self.config, self.counters, self._loop, scheme, host, port, self.ssl_context_for(host, port)
                )
            self._pools[key] = pool
        route = self._routes[origin] = _Route(pool, scheme)
        return route

    def ssl_context_for(self, host: str, port: int) -> ssl.SSLContext:
        """The TLS context for connections to ``host:port``: its own when one was given, else the default."""
        return self._origin_ssl_contexts.get((host, port), self.ssl_context)

    @property
    def stats(self) -> dict[str, Any]:
        """Counters since creation: connections opened, requests, transparent resends, reconnects..."""
        return {
            **self.counters.as_dict(),
            "open_connections": sum(pool.open_connections for pool in self._pools.values()),
            "in_flight": sum(pool.in_flight for pool in self._pools.values()),
            "queued_requests": sum(len(pool.pending) for pool in self._pools.values()),
        }

    async def aclose(self) -> None:
        """Fail queued requests, send GOAWAY and close every connection, stop all timers. Idempotent."""
        if self._closed:
            return
        self._closed = True
        pools = list(self._pools.values())
        for pool in pools:
            pool.shut_down()
        if pools:
            await asyncio.gather(*(pool.wait_closed() for pool in pools))
