"""The sandbox's TLS server: the listener in front of one emulator, HTTP/2 (and optionally HTTP/1.1).

One ``SandboxServer`` listens on one port for one service. It owns the listening socket and TLS, and
picks the protocol each connection speaks from ALPN: ``_h2.H2Protocol`` (``h2``) or
``_h1.H11Protocol`` (``h11``). Each complete request becomes a ``SandboxRequest`` that the dispatch
(``_dispatch.Dispatcher``, the server's base class) routes to ``emulator.handle`` in its own task, so
slow requests never hold up others on the same connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

from unipush.sandbox._faults import Faults
from unipush.sandbox._interface import Emulator
from unipush.sandbox.server._dispatch import DEFAULT_MAX_CONCURRENT_STREAMS, Dispatcher
from unipush.sandbox.server._h1 import H11Protocol
from unipush.sandbox.server._h2 import H2Protocol

__all__ = ["SandboxServer"]

# A server bound to every address is reached through loopback (the certificate names 127.0.0.1 and ::1).
_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104 - names, not binds


class SandboxServer(Dispatcher[H2Protocol | H11Protocol]):
    """An asyncio TLS server that serves one emulator over HTTP/2 (and HTTP/1.1 if ``allow_http1``).

    Args:
        emulator: answers each request; its ``name`` is the service name faults are keyed by.
        ssl_context: the server context (``SandboxTLS.server_context``); its ALPN list decides which
            protocols a client can pick.
        faults: the sandbox's fault registry (a private empty one if omitted).
        host: the address to bind.
        port: the port to bind; 0 picks a free one (read it back from ``port`` after ``start``).
        allow_http1: serve HTTP/1.1 when the client's ALPN picks it (or offers no ALPN).
        max_concurrent_streams: the default SETTINGS_MAX_CONCURRENT_STREAMS.
    """

    def __init__(
        self,
        emulator: Emulator,
        *,
        ssl_context: ssl.SSLContext,
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        allow_http1: bool = False,
        max_concurrent_streams: int = DEFAULT_MAX_CONCURRENT_STREAMS,
    ) -> None:
        super().__init__(emulator, faults=faults, max_concurrent_streams=max_concurrent_streams)
        self.host = host
        self.allow_http1 = allow_http1
        self._ssl_context = ssl_context
        self._requested_port = port
        self._port: int | None = None
        self._server: asyncio.Server | None = None
        self._closing = False

    @property
    def port(self) -> int:
        """The bound port; ``RuntimeError`` before ``start``."""
        if self._port is None:
            raise RuntimeError("the server is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """``https://<host>:<port>`` (IPv6 hosts bracketed; a wildcard bind is reached through loopback)."""
        host = _WILDCARDS.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"https://{host}:{self.port}"

    async def start(self) -> None:
        """Bind and start accepting connections."""
        if self._server is not None:
            raise RuntimeError("the server is already started")
        self._closing = False
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._accept,
            self.host,
            self._requested_port,
            ssl=self._ssl_context,
            ssl_handshake_timeout=10.0,
            backlog=1024,
        )
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def close(self, *, grace: float = 1.0) -> None:
        """Stop listening and shut every connection down gracefully.

        Each HTTP/2 connection gets a GOAWAY; requests already being handled have ``grace`` seconds
        to finish, then they are cancelled and the remaining connections are aborted. Returns once
        every connection is closed and every request task has ended.
        """
        server, self._server = self._server, None
        if server is None:
            return
        self._closing = True  # a TLS handshake that completes from now on is turned away
        server.close()
        connections = list(self._connections)
        for connection in connections:
            connection.shutdown()
        waiting = [c.closed for c in connections if not c.closed.done()]
        if waiting:
            await asyncio.wait(waiting, timeout=grace)
        for connection in connections:
            if not connection.closed.done():
                connection.abort()
        waiting = [c.closed for c in connections if not c.closed.done()]
        if waiting:
            await asyncio.wait(waiting, timeout=grace)
        if self._orphans:
            await asyncio.wait(list(self._orphans), timeout=grace)
        # Server.wait_closed waits for the listening socket (and on 3.12+ for connections): bounded,
        # since a misbehaving peer must not hang the sandbox's shutdown.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), timeout=grace)

    def _accept(self) -> asyncio.Protocol:
        return _Negotiator(self)


class _Negotiator(asyncio.Protocol):
    """Reads the ALPN result once TLS is up and hands the transport to the right protocol."""

    def __init__(self, server: SandboxServer) -> None:
        self._server = server

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if self._server._closing:
            transport.abort()
            return
        ssl_object = transport.get_extra_info("ssl_object")
        alpn = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        protocol: H2Protocol | H11Protocol
        if alpn == "h2" or not self._server.allow_http1:
            protocol = H2Protocol(self._server, transport)
        else:
            protocol = H11Protocol(self._server, transport)
        transport.set_protocol(protocol)
        protocol.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:  # pragma: no cover - replaced on connect
        pass
