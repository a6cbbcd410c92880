"""The sandbox's TLS server: HTTP/2 (and optionally HTTP/1.1) in front of one emulator.

One ``SandboxServer`` listens on one port for one service. It owns the sockets, TLS, the HTTP/2 state
machine (``h2``) or HTTP/1.1 (``h11``), and the connection-level faults; each complete request becomes
a ``SandboxRequest`` handed to ``emulator.handle`` in its own task, so slow requests never hold up
others on the same connection.

Design notes:

- Connections are ``asyncio.Protocol`` objects, not streams: no reader task per connection and no
  per-frame awaits. Writes are coalesced: everything ``h2`` wants to send is flushed once per
  ``data_received`` call and once per event-loop turn for responses completed by tasks, so under load
  many responses leave in one ``transport.write``.
- ``MAX_CONCURRENT_STREAMS`` is announced in a SETTINGS frame that follows the initial one, so ``h2``
  enforces it only once the client has acknowledged it. RFC 9113 section 6.5.2 lets a client open
  streams freely until it has seen the server's SETTINGS; enforcing the limit earlier would kill
  connections of clients that start sending before reading.
- ``h2`` refuses to send anything after its own GOAWAY, but a graceful GOAWAY (RFC 9113 section 6.8)
  must still let the streams at or below ``last_stream_id`` be answered. So the server writes the
  GOAWAY frame itself (``hyperframe``) and keeps ``h2``'s state open; streams above ``last_stream_id``
  are ignored, as the section allows, and the connection closes once the kept streams are answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import itertools
import logging
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import h11
import hpack
import hpack.hpack
from hpack.huffman_table import decode_huffman as _decode_huffman
from hyperframe.frame import GoAwayFrame

from unipush.sandbox._faults import Fault, Faults
from unipush.sandbox._http import Emulator, SandboxRequest, SandboxResponse

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = ["DEFAULT_MAX_CONCURRENT_STREAMS", "SandboxServer", "ServerStats"]

logger = logging.getLogger("unipush.sandbox")

#: What the server advertises unless ``faults.max_concurrent_streams[service]`` says otherwise.
#: Apple's documentation tells providers not to assume a number; observed APNs values are around 500-1000.
DEFAULT_MAX_CONCURRENT_STREAMS = 1000

#: Request bodies above this are refused with 413 before reaching an emulator: every real service's
#: limit is a few kilobytes, this only protects the sandbox's memory.
MAX_REQUEST_BODY = 1 << 20

# Generous receive windows so flow control never throttles a benchmark: the stream window covers any
# request body the services accept, the connection window many of them in flight at once.
_STREAM_WINDOW = 1 << 20
_CONNECTION_WINDOW = 1 << 24

# A server bound to every address is reached through loopback (the certificate names 127.0.0.1 and ::1).
_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104 - names, not binds

# Request-level faults answered by the emulator's ``fault_response`` (the service's own error body).
_RESPONSE_FAULTS = frozenset({"status", "invalid_token", "bad_token", "expired_credential"})

_INTERNAL_ERROR = SandboxResponse(
    status=500,
    headers={"content-type": "text/plain; charset=utf-8"},
    body=b"sandbox emulator error (see the unipush.sandbox log)\n",
)
_TOO_LARGE = SandboxResponse(status=413, headers={"content-type": "text/plain; charset=utf-8"}, body=b"too large\n")


@dataclass
class ServerStats:
    """Counters of one server, for tests and benchmarks. Read them from any thread.

    ``streams`` counts HTTP/2 streams and HTTP/1.1 requests received (including ones answered by a
    fault or ignored after a GOAWAY); ``per_connection`` maps a connection id to its stream count.
    """

    connections: int = 0
    open_connections: int = 0
    streams: int = 0
    responses: int = 0
    resets: int = 0
    goaways: int = 0
    dropped: int = 0
    per_connection: dict[int, int] = field(default_factory=dict)


class SandboxServer:
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
        self.emulator = emulator
        self.faults = faults if faults is not None else Faults()
        self.host = host
        self.allow_http1 = allow_http1
        self.max_concurrent_streams = max_concurrent_streams
        self.stats = ServerStats()
        #: Called on the loop with each request and the response it gets (the inbox page records them).
        self.on_exchange: Callable[[SandboxRequest, SandboxResponse], None] | None = None
        self._ssl_context = ssl_context
        self._requested_port = port
        self._port: int | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[_H2Protocol | _H11Protocol] = set()
        self._orphans: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self._closing = False

    @property
    def service(self) -> str:
        """The emulated service's name (``"apns"``, ``"fcm"``, ``"webpush"``)."""
        return self.emulator.name

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
        _install_huffman_cache()
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

    # -- connection bookkeeping ------------------------------------------------------------------

    def _accept(self) -> asyncio.Protocol:
        return _Negotiator(self)

    def _opened(self, connection: _H2Protocol | _H11Protocol) -> int:
        connection_id = next(self._ids)
        self._connections.add(connection)
        self.stats.connections += 1
        self.stats.open_connections += 1
        self.stats.per_connection[connection_id] = 0
        return connection_id

    def _lost(self, connection: _H2Protocol | _H11Protocol, tasks: Iterable[asyncio.Task[None]]) -> None:
        self._connections.discard(connection)
        self.stats.open_connections -= 1
        for task in tasks:
            if not task.done():
                task.cancel()
                self._orphans.add(task)
                task.add_done_callback(self._orphans.discard)

    def _take_fault(self, request: SandboxRequest) -> Fault | None:
        faults = self.faults
        # pending() is a cheap locked copy; skipping target_of when nothing is scripted keeps the
        # common path free of the emulator's target parsing (FCM reads the JSON body for it).
        if not faults.pending():
            return None
        # Optional emulator hook: FCM exempts its OAuth token endpoint, so a scripted 503 "for FCM"
        # hits sends, as it would in production, not the credential exchange.
        accepts_fault = getattr(self.emulator, "accepts_fault", None)
        if accepts_fault is not None and not accepts_fault(request):
            return None
        try:
            target = self.emulator.target_of(request)
        except Exception:  # the protocol says it never raises; a fault lookup must not break a request
            logger.exception("%s: target_of failed", self.service)
            target = None
        return faults.take(self.service, target)

    async def _answer(self, request: SandboxRequest, delay: float) -> SandboxResponse:
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            response = await self.emulator.handle(request)
        except Exception:
            logger.exception("%s: emulator failed on %s %s", self.service, request.method, request.path)
            response = _INTERNAL_ERROR
        if self.on_exchange is not None:
            self.on_exchange(request, response)
        return response

    def _fault_response(self, fault: Fault, request: SandboxRequest) -> SandboxResponse:
        response = self._scripted_response(fault, request)
        if self.on_exchange is not None:
            self.on_exchange(request, response)
        return response

    def _scripted_response(self, fault: Fault, request: SandboxRequest) -> SandboxResponse:
        try:
            response = self.emulator.fault_response(fault, request)
        except Exception:
            logger.exception("%s: fault_response failed for %s", self.service, fault.kind)
            return _INTERNAL_ERROR
        if fault.body is not None:  # a body no real service sends: huge, not JSON, hostile...
            headers = {name: value for name, value in response.headers.items() if name.lower() != "content-length"}
            return SandboxResponse(status=response.status, headers=headers, body=fault.body)
        return response


def _install_huffman_cache() -> None:
    """Memoise hpack's Huffman decoder for long strings (process-wide, idempotent).

    Every APNs request carries its ``authorization`` JWT (~200 bytes) as a never-indexed literal —
    Apple asks for that, and h2 does it for ``authorization`` — so the server Huffman-decodes the
    same token on every request: ~25 µs of pure Python, a fifth of the server's CPU per request.
    A provider token stays the same for 20-60 minutes, so a small cache turns that into a dict lookup.
    The function is pure; only the module-level name hpack's decoder calls is replaced.
    """
    namespace = vars(hpack.hpack)
    if namespace.get("decode_huffman") is not _decode_huffman:
        return  # already installed, or an hpack that no longer works this way: leave it alone
    original: Callable[[bytes | bytearray | memoryview | None], bytes] = _decode_huffman
    # Two generations: a full young generation becomes the old one, and a hit in the old one moves
    # back to the young, so the token (hit on every request) survives a flood of one-off strings
    # (device tokens, apns-ids) without the cache growing past 2 x 256 entries.
    young: dict[bytes, bytes] = {}
    old: dict[bytes, bytes] = {}

    def decode_huffman(huffman_string: bytes | bytearray | memoryview | None) -> bytes:
        nonlocal young, old
        if type(huffman_string) is not bytes or len(huffman_string) < 32:
            return original(huffman_string)
        decoded = young.get(huffman_string)
        if decoded is None:
            decoded = old.get(huffman_string)
            if decoded is None:
                decoded = original(huffman_string)
            if len(young) >= 256:
                old, young = young, {}
            young[huffman_string] = decoded
        return decoded

    namespace["decode_huffman"] = decode_huffman


def _headers_dict(pairs: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-case names; repeated fields joined with ", " (RFC 9110 section 5.3)."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in pairs:
        name = raw_name.decode("ascii", "replace").lower()
        value = raw_value.decode("utf-8", "replace")
        previous = headers.get(name)
        headers[name] = value if previous is None else f"{previous}, {value}"
    return headers


def _response_headers(response: SandboxResponse) -> list[tuple[str, str]]:
    headers = [(name.lower(), value) for name, value in response.headers.items()]
    if "content-length" not in response.headers:
        headers.append(("content-length", str(len(response.body))))
    return headers


class _ServerH2Connection(h2.connection.H2Connection):
    """``H2Connection`` with a cheaper inbound stream count.

    h2 counts open inbound streams by walking every stream it tracks, on every new stream: O(open
    streams) per request, which dominates at hundreds of concurrent streams. Here the count is an
    over-estimate kept in O(1): ``live`` holds the streams the protocol has seen and not finished
    with (a stream leaves it only once it is closed: response sent after the request ended, or
    reset), and ``unseen`` the streams h2 opened during the current ``receive_data`` call, whose
    events the protocol has not handled yet (it resets ``unseen`` after handling them). While the
    over-estimate is below the limit the exact count is too, so the estimate is returned; near the
    limit, and every 256 streams to let h2 prune its closed streams, h2's exact count is used.

    h2 reads this property exactly once per new inbound stream, just before opening it.
    """

    def __init__(self, config: h2.config.H2Configuration) -> None:
        super().__init__(config=config)
        self.live: set[int] = set()
        self.unseen = 0
        self._new_streams = 0

    @property
    def open_inbound_streams(self) -> int:
        """The number of open client streams, or an over-estimate below the limit (see the class docstring)."""
        self._new_streams += 1
        estimate = len(self.live) + self.unseen
        self.unseen += 1  # the stream about to be opened
        if estimate < self.local_settings.max_concurrent_streams and self._new_streams % 256:
            return estimate
        return super().open_inbound_streams


class _PlainEncoder(hpack.Encoder):
    """An HPACK encoder that writes literals without Huffman coding.

    RFC 7541 section 5.2 lets the encoder choose per string; on loopback the few bytes Huffman saves
    are worth less than its pure-Python cost (~10 µs per response for APNs' two UUID headers).
    """

    def encode(self, headers: Any, huffman: bool = True) -> bytes:
        """Encode ``headers`` (``huffman`` is ignored: always plain literals)."""
        return super().encode(headers, huffman=False)


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
        protocol: _H2Protocol | _H11Protocol
        if alpn == "h2" or not self._server.allow_http1:
            protocol = _H2Protocol(self._server, transport)
        else:
            protocol = _H11Protocol(self._server, transport)
        transport.set_protocol(protocol)
        protocol.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:  # pragma: no cover - replaced on connect
        pass


def _close_quietly(transport: asyncio.BaseTransport | None) -> None:
    # On Python 3.10 an SSL transport closed by the peer is not marked closed, and its finaliser then
    # warns "unclosed transport" (a ResourceWarning, an error under -W error): close it explicitly.
    if transport is not None and not transport.is_closing():
        transport.close()


class _Stream:
    """A request being received on one HTTP/2 stream."""

    __slots__ = ("body", "headers", "method", "path", "size")

    def __init__(self, method: str, path: str, headers: dict[str, str]) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body: list[bytes] = []
        self.size = 0


class _H2Protocol(asyncio.Protocol):
    """One HTTP/2 connection."""

    def __init__(self, server: SandboxServer, transport: asyncio.Transport) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = transport
        self._loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[None] = self._loop.create_future()
        self._id = server._opened(self)
        self._streams: dict[int, _Stream] = {}  # receiving
        self._tasks: dict[int, asyncio.Task[None]] = {}  # being answered
        self._blocked: dict[int, tuple[memoryview, int]] = {}  # response bodies waiting for window
        self._received = 0
        self._goaway_last: int | None = None  # set once a GOAWAY went out
        self._flush_handle: asyncio.Handle | None = None
        config = h2.config.H2Configuration(
            client_side=False,
            header_encoding=None,
            # Our own response headers come from emulators that already lower-case them; skipping
            # outbound validation saves a pass over every header of every response.
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
        )
        self._h2 = _ServerH2Connection(config)
        self._h2.encoder = _PlainEncoder()
        self._h2.local_settings = h2.settings.Settings(
            client=False, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: _STREAM_WINDOW}
        )

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        h2_conn = self._h2
        h2_conn.initiate_connection()
        limit = self._server.faults.max_concurrent_streams.get(
            self._server.service, self._server.max_concurrent_streams
        )
        # A second SETTINGS frame: h2 applies it when the client acknowledges (see the module docstring).
        h2_conn.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: limit})
        h2_conn.increment_flow_control_window(_CONNECTION_WINDOW - 65535)
        self._flush()

    def data_received(self, data: bytes) -> None:
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            # h2 has queued a GOAWAY with the right error code (RFC 9113 section 5.4.1).
            logger.debug("%s: connection %d protocol error: %s", self._server.service, self._id, exc)
            self._flush()
            self._close()
            return
        for event in events:
            if self._transport is None:
                return
            if isinstance(event, h2.events.DataReceived):
                self._on_data(event)
            elif isinstance(event, h2.events.StreamEnded):
                self._on_end(event.stream_id)
            elif isinstance(event, h2.events.RequestReceived):
                self._on_request(event)
            elif isinstance(event, h2.events.WindowUpdated):
                self._resume(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                self._on_reset(event.stream_id)
            elif isinstance(event, h2.events.RemoteSettingsChanged):
                if h2.settings.SettingCodes.INITIAL_WINDOW_SIZE in event.changed_settings:
                    self._resume(0)
            elif isinstance(event, h2.events.ConnectionTerminated):
                # The client is going away: answer what is in flight, then close.
                self.shutdown()
        self._h2.unseen = 0  # every stream opened by this data is in ``live`` now
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        _close_quietly(self._transport)
        self._transport = None
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        tasks = list(self._tasks.values())
        self._tasks.clear()
        self._streams.clear()
        self._blocked.clear()
        self._server._lost(self, tasks)
        if not self.closed.done():
            self.closed.set_result(None)

    # -- control used by the server --------------------------------------------------------------

    def shutdown(self) -> None:
        """Graceful close: GOAWAY(last stream received), answer what is in flight, then close."""
        if self._transport is None:
            return
        if self._goaway_last is None:
            self._send_goaway(self._h2.highest_inbound_stream_id)
        self._maybe_finish()

    def abort(self) -> None:
        """Close the connection now, cancelling whatever is in flight."""
        if self._transport is not None:
            self._transport.abort()

    def _drop(self) -> None:
        """The ``drop_connection`` fault: the connection dies mid-stream.

        What was answered already is flushed first and the requests still being worked on are
        abandoned unprocessed, so a delivery is recorded exactly when its answer was sent: the inbox
        then tells a client that resends what was never answered from one that delivers twice.
        """
        for task in list(self._tasks.values()):
            task.cancel()
        transport = self._transport
        if transport is None:
            return
        pending = self._h2.data_to_send()
        if pending:
            transport.write(pending)
        transport.close()

    # -- events ----------------------------------------------------------------------------------

    def _on_request(self, event: h2.events.RequestReceived) -> None:
        stream_id = event.stream_id
        server = self._server
        self._received += 1
        server.stats.streams += 1
        server.stats.per_connection[self._id] = self._received
        self._h2.live.add(stream_id)
        if self._goaway_last is not None and stream_id > self._goaway_last:
            return  # RFC 9113 section 6.8: streams above last-stream-id are ignored; the client retries them
        method = path = ""
        regular: list[tuple[bytes, bytes]] = []
        for name, value in event.headers or ():
            if name[:1] == b":":
                if name == b":method":
                    method = value.decode("ascii", "replace")
                elif name == b":path":
                    path = value.decode("utf-8", "replace")
            else:
                regular.append((name, value))
        self._streams[stream_id] = _Stream(method, path, _headers_dict(regular))
        goaway_after = server.faults.goaway_after.get(server.service)
        if goaway_after is not None and self._received >= goaway_after and self._goaway_last is None:
            # The scripted "GOAWAY after N streams": the N-th stream is the last one processed.
            self._send_goaway(stream_id)

    def _on_data(self, event: h2.events.DataReceived) -> None:
        stream_id = event.stream_id
        # Hand the window back whatever happens to the data (RFC 9113 section 6.9: flow-controlled
        # bytes count against the connection even on streams we ignore). h2 batches the updates.
        self._h2.acknowledge_received_data(event.flow_controlled_length, stream_id)
        stream = self._streams.get(stream_id)
        if stream is None or event.data is None:
            return
        stream.size += len(event.data)
        if stream.size > MAX_REQUEST_BODY:
            del self._streams[stream_id]
            self._respond(stream_id, _TOO_LARGE)
            # RFC 9113 section 8.1: a server may answer before the request is complete, then
            # RST_STREAM(NO_ERROR) to stop the upload.
            self._reset(stream_id, h2.errors.ErrorCodes.NO_ERROR, count=False)
            return
        stream.body.append(event.data)

    def _on_end(self, stream_id: int) -> None:
        stream = self._streams.pop(stream_id, None)
        if stream is None:
            return
        request = SandboxRequest(
            method=stream.method,
            path=stream.path,
            headers=stream.headers,
            body=b"".join(stream.body),
            http_version="2",
            connection_id=self._id,
            stream_id=stream_id,
        )
        server = self._server
        fault = server._take_fault(request)
        delay = 0.0
        if fault is not None:
            kind = fault.kind
            if kind in _RESPONSE_FAULTS:
                self._respond(stream_id, server._fault_response(fault, request))
                return
            if kind == "reset":
                # A real mid-stream reset: the request arrived, no answer ever will (RFC 9113 section 6.4).
                self._reset(stream_id, h2.errors.ErrorCodes.INTERNAL_ERROR)
                return
            if kind == "drop_connection":
                server.stats.dropped += 1
                self._drop()
                return
            if kind == "goaway":
                # This stream and anything above it are not processed; the client resends them.
                self._send_goaway(stream_id - 2 if stream_id > 2 else 0)
                return
            if kind == "latency":
                delay = fault.delay
        self._tasks[stream_id] = self._loop.create_task(self._serve(stream_id, request, delay))

    def _on_reset(self, stream_id: int) -> None:
        # The client cancelled the stream: stop working on it.
        self._streams.pop(stream_id, None)
        self._blocked.pop(stream_id, None)
        self._h2.live.discard(stream_id)
        task = self._tasks.pop(stream_id, None)
        if task is not None:
            task.cancel()
        self._maybe_finish()

    # -- answering -------------------------------------------------------------------------------

    async def _serve(self, stream_id: int, request: SandboxRequest, delay: float) -> None:
        try:
            if delay > 0:
                await asyncio.sleep(delay)
            if self._transport is None or self._transport.is_closing():
                return  # the connection died first: this request was never processed
            response = await self._server._answer(request, 0.0)
        finally:
            self._tasks.pop(stream_id, None)
        self._respond(stream_id, response)
        self._flush_soon()
        self._maybe_finish()

    def _respond(self, stream_id: int, response: SandboxResponse) -> None:
        if self._transport is None:
            return
        if self._goaway_last is not None and stream_id > self._goaway_last:
            return  # abandoned by a GOAWAY: the client will resend it elsewhere
        h2_conn = self._h2
        headers = [(":status", str(response.status)), *_response_headers(response)]
        body = response.body
        try:
            h2_conn.send_headers(stream_id, headers, end_stream=not body)
            if body:
                self._send_body(stream_id, memoryview(body), 0)
            else:
                h2_conn.live.discard(stream_id)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, KeyError):
            h2_conn.live.discard(stream_id)
            return  # the client reset or closed the stream meanwhile
        self._server.stats.responses += 1

    def _send_body(self, stream_id: int, body: memoryview, offset: int) -> None:
        # Respect the peer's flow-control windows (RFC 9113 section 5.2): send what fits, park the rest
        # until a WINDOW_UPDATE arrives.
        h2_conn = self._h2
        end = len(body)
        while offset < end:
            window = h2_conn.local_flow_control_window(stream_id)
            if window <= 0:
                self._blocked[stream_id] = (body, offset)
                return
            size = min(window, h2_conn.max_outbound_frame_size, end - offset)
            h2_conn.send_data(stream_id, body[offset : offset + size].tobytes(), end_stream=offset + size == end)
            offset += size
        self._blocked.pop(stream_id, None)
        h2_conn.live.discard(stream_id)

    def _resume(self, stream_id: int) -> None:
        if not self._blocked:
            return
        stream_ids = list(self._blocked) if stream_id == 0 else [stream_id]
        for blocked_id in stream_ids:
            parked = self._blocked.get(blocked_id)
            if parked is None:
                continue
            try:
                self._send_body(blocked_id, *parked)
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, KeyError):
                self._blocked.pop(blocked_id, None)
                self._h2.live.discard(blocked_id)
        self._maybe_finish()

    def _reset(self, stream_id: int, code: h2.errors.ErrorCodes, *, count: bool = True) -> None:
        self._h2.live.discard(stream_id)
        try:
            self._h2.reset_stream(stream_id, code)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, KeyError):
            return
        if count:
            self._server.stats.resets += 1

    def _send_goaway(self, last_stream_id: int) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        if self._goaway_last is not None:
            # RFC 9113 section 6.8: later GOAWAYs must not raise last-stream-id.
            last_stream_id = min(last_stream_id, self._goaway_last)
        self._goaway_last = last_stream_id
        self._server.stats.goaways += 1
        for stream_id in [s for s in self._streams if s > last_stream_id]:
            del self._streams[stream_id]
        for stream_id in [s for s in self._tasks if s > last_stream_id]:
            self._tasks.pop(stream_id).cancel()
        for stream_id in [s for s in self._blocked if s > last_stream_id]:
            del self._blocked[stream_id]
        frame = GoAwayFrame(stream_id=0, last_stream_id=last_stream_id, error_code=0)
        # Written behind whatever h2 has queued, and without telling h2 (see the module docstring).
        self._transport.write(self._h2.data_to_send() + frame.serialize())
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        """After a GOAWAY: close once every kept stream is answered."""
        if self._goaway_last is None or self._transport is None:
            return
        if self._tasks or self._blocked or self._streams:
            return
        self._flush()
        self._close()

    # -- writing ---------------------------------------------------------------------------------

    def _flush(self) -> None:
        self._flush_handle = None
        if self._transport is None or self._transport.is_closing():
            return
        data = self._h2.data_to_send()
        if data:
            self._transport.write(data)

    def _flush_soon(self) -> None:
        if self._flush_handle is None:
            self._flush_handle = self._loop.call_soon(self._flush)

    def _close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()


class _H11Protocol(asyncio.Protocol):
    """One HTTP/1.1 connection (Web Push services accept HTTP/1.1; APNs does not)."""

    def __init__(self, server: SandboxServer, transport: asyncio.Transport) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = transport
        self._loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[None] = self._loop.create_future()
        self._id = server._opened(self)
        self._h11 = h11.Connection(h11.SERVER)
        self._request: h11.Request | None = None
        self._body: list[bytes] = []
        self._size = 0
        self._task: asyncio.Task[None] | None = None
        self._received = 0
        self._closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        pass

    def data_received(self, data: bytes) -> None:
        try:
            self._h11.receive_data(data)
        except RuntimeError:  # data after the connection is closing: nothing more to serve
            return
        self._process()

    def eof_received(self) -> bool | None:
        with contextlib.suppress(RuntimeError):
            self._h11.receive_data(b"")
        self._process()
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        _close_quietly(self._transport)
        self._transport = None
        tasks = [self._task] if self._task is not None else []
        self._task = None
        self._server._lost(self, tasks)
        if not self.closed.done():
            self.closed.set_result(None)

    def shutdown(self) -> None:
        """Close once the request in flight (if any) is answered."""
        self._closing = True
        if self._task is None:
            self._close()

    def abort(self) -> None:
        """Close the connection now."""
        if self._transport is not None:
            self._transport.abort()

    def _process(self) -> None:
        h11_conn = self._h11
        while self._task is None and self._transport is not None:
            try:
                event = h11_conn.next_event()
            except h11.RemoteProtocolError as exc:
                self._bad_request(exc.error_status_hint)
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self._request = event
                self._body = []
                self._size = 0
            elif isinstance(event, h11.Data):
                self._size += len(event.data)
                if self._size > MAX_REQUEST_BODY:
                    self._closing = True
                    self._send(_TOO_LARGE)
                    return
                self._body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                self._dispatch()
            elif isinstance(event, h11.ConnectionClosed):
                self._close()
                return

    def _dispatch(self) -> None:
        assert self._request is not None
        server = self._server
        self._received += 1
        server.stats.streams += 1
        server.stats.per_connection[self._id] = self._received
        event = self._request
        request = SandboxRequest(
            method=event.method.decode("ascii", "replace"),
            path=event.target.decode("utf-8", "replace"),
            headers=_headers_dict(event.headers),
            body=b"".join(self._body),
            http_version="1.1",
            connection_id=self._id,
            stream_id=self._received,
        )
        goaway_after = server.faults.goaway_after.get(server.service)
        if goaway_after is not None and self._received >= goaway_after:
            # HTTP/1.1 has no GOAWAY: answer this request with "Connection: close" and hang up.
            self._closing = True
        fault = server._take_fault(request)
        delay = 0.0
        if fault is not None:
            if fault.kind in _RESPONSE_FAULTS:
                self._send(server._fault_response(fault, request))
                return
            if fault.kind in ("reset", "drop_connection", "goaway"):
                # Without streams, each of these ends the connection with the request unanswered.
                server.stats.dropped += 1
                self.abort()
                return
            if fault.kind == "latency":
                delay = fault.delay
        self._task = self._loop.create_task(self._serve(request, delay))

    async def _serve(self, request: SandboxRequest, delay: float) -> None:
        try:
            response = await self._server._answer(request, delay)
        finally:
            self._task = None
        self._send(response)

    def _send(self, response: SandboxResponse) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        h11_conn = self._h11
        headers = _response_headers(response)
        if self._closing:
            headers.append(("connection", "close"))
        try:
            reason = http.HTTPStatus(response.status).phrase.encode()
        except ValueError:
            reason = b""
        try:
            data = h11_conn.send(h11.Response(status_code=response.status, headers=headers, reason=reason))
            if response.body:
                data = (data or b"") + (h11_conn.send(h11.Data(data=response.body)) or b"")
            data = (data or b"") + (h11_conn.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError:
            logger.exception("%s: could not send a response", self._server.service)
            self.abort()
            return
        self._server.stats.responses += 1
        self._transport.write(data)
        if self._closing or h11_conn.our_state is not h11.DONE or h11_conn.their_state is not h11.DONE:
            self._close()
            return
        h11_conn.start_next_cycle()
        self._process()

    def _bad_request(self, status: int) -> None:
        self._closing = True
        if self._h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            self._send(SandboxResponse(status=status, headers={"content-type": "text/plain; charset=utf-8"}))
        else:
            self._close()

    def _close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()
