"""One HTTP/2 connection: an ``asyncio.Protocol`` that feeds bytes to h2 and settles futures.

Everything here runs in event-loop callbacks; nothing awaits. Bytes in: ``data_received`` → h2 events
→ responses set on the exchanges' futures. Bytes out: h2 buffers frames and ``_flush`` hands them to
the transport in one ``write`` per loop iteration (or per received batch), never one per frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from typing import TYPE_CHECKING

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import hpack
import hpack.table
from h2.errors import ErrorCodes

from unipush import _telemetry
from unipush._engine._exchange import Exchange, Response
from unipush._errors import TransportError
from unipush._excerpt import excerpt

if TYPE_CHECKING:
    from hpack.struct import Header
    from hyperframe.frame import Frame, GoAwayFrame

    from unipush._engine._pool import Pool

__all__ = ["Connection", "NotHttp2Error"]

_log = logging.getLogger("unipush.engine")

# Header validation and normalisation in h2 cost about a fifth of a request's CPU; the engine builds
# its header lists itself (lower-case names, no connection-specific fields, RFC 9113 §8.2), so both
# are off. Header names and values stay bytes (``header_encoding=None``) and are decoded once, here.
_CONFIG = h2.config.H2Configuration(
    client_side=True,
    header_encoding=None,
    validate_outbound_headers=False,
    normalize_outbound_headers=False,
    validate_inbound_headers=False,
    normalize_inbound_headers=False,
)

# Our receive window for the whole connection. The RFC 9113 §6.9.2 default of 64 KiB would let one
# large response stall every other stream; push-service answers are small, so 1 MiB is plenty while
# still bounding what a server may make us buffer.
_CONNECTION_WINDOW = 1 << 20

_ping_payloads = itertools.count(1)

# Connection states. A connection takes new streams only while OPEN; DRAINING ones (GOAWAY received,
# or closing) let their streams finish; CLOSED ones have settled every exchange they held.
CONNECTING, OPEN, DRAINING, CLOSED = range(4)


def _valid_informational(raw: list[Header]) -> bool:
    """Whether a header block h2 reported as informational has one three-digit 1xx ``:status``, first."""
    return (
        len(raw) > 0
        and raw[0][0] == b":status"
        and len(raw[0][1]) == 3
        and raw[0][1].isdigit()
        and all(name != b":status" for name, _ in raw[1:])
    )


def _code_name(code: ErrorCodes | int | None) -> str:
    """``ErrorCodes.CANCEL`` → ``"CANCEL (0x8)"``; unknown codes as hex (RFC 9113 §7 allows extensions)."""
    if code is None:
        return "no error code"
    try:
        return f"{ErrorCodes(code).name} (0x{int(code):x})"
    except ValueError:
        return f"error code 0x{int(code):x}"


class NotHttp2Error(TransportError):
    """The server did not agree to HTTP/2; retrying the connection will not change that."""

    permanent = True


class _Encoder(hpack.Encoder):
    """hpack's encoder, minus the two costliest parts of never-indexed fields on a hot path.

    Fields sent never-indexed (RFC 7541 §6.2.3) are Huffman-coded again on every request. For
    ``authorization`` that is ~25 µs of pure Python for a JWT that stays the same for ~50 minutes:
    its encoding depends only on the value (the name's index is in the static table and the field
    never enters the dynamic table), so it is cached. ``:path`` and ``apns-id`` differ per request,
    so they are sent as raw literals instead: ~20 more bytes on the wire each, ~10 µs less CPU.
    """

    def __init__(self) -> None:
        super().__init__()
        self._literals: dict[tuple[bytes, bytes], bytes] = {}

    def add(self, to_add: tuple[bytes, bytes], sensitive: bool, huffman: bool = False) -> bytes:
        if not sensitive:
            return super().add(to_add, sensitive, huffman)
        name = to_add[0]
        if name in _PER_REQUEST:
            return super().add(to_add, sensitive, False)
        if name not in _STATIC_NAMES:  # its index could move with the dynamic table: no caching
            return super().add(to_add, sensitive, huffman)
        encoded = self._literals.get(to_add)
        if encoded is None:
            if len(self._literals) >= 16:  # tokens rotate; keep only recent ones
                self._literals.clear()
            encoded = self._literals[to_add] = super().add(to_add, sensitive, huffman)
        return encoded


_STATIC_NAMES = frozenset(name for name, _ in hpack.table.HeaderTable.STATIC_TABLE)
# Values that differ on every request (the device token in the path, the apns-id UUID): raw literals.
_PER_REQUEST = frozenset({b":path", b"apns-id"})


class _H2Connection(h2.connection.H2Connection):
    """h2's client connection with GOAWAY handled as RFC 9113 §6.8 says, and O(1) stream counting.

    h2 treats a received GOAWAY as the end of the connection: its state machine goes to CLOSED and
    queued output is dropped, after which every frame of the streams the server promised to finish
    (ids up to ``last_stream_id``) raises ``ProtocolError``. Graceful shutdowns (APNs ``Shutdown``,
    any server draining for a restart) need those answers, so here a GOAWAY only produces the
    ``ConnectionTerminated`` event; the engine itself stops opening streams on the connection.

    h2 also counts open streams by scanning all of them each time one is opened, which at a few
    hundred in flight costs more than the rest of the request. The engine removes each stream as
    it closes (``forget``), so the number of streams kept is the count.
    """

    def __init__(self, config: h2.config.H2Configuration) -> None:
        super().__init__(config=config)
        self.encoder = _Encoder()

    @property
    def open_outbound_streams(self) -> int:
        """Streams not yet forgotten: an upper bound of the open ones (push is disabled)."""
        return len(self.streams)

    def forget(self, stream_id: int) -> None:
        """Drop a closed stream now, remembering how it closed, as h2's own cleanup does."""
        stream = self.streams.get(stream_id)
        if stream is not None and stream.closed:
            del self.streams[stream_id]
            self._closed_streams[stream_id] = stream.closed_by

    def _receive_goaway_frame(self, frame: GoAwayFrame) -> tuple[list[Frame], list[h2.events.Event]]:
        event = h2.events.ConnectionTerminated()
        try:
            event.error_code = ErrorCodes(frame.error_code)
        except ValueError:
            event.error_code = frame.error_code
        event.last_stream_id = frame.last_stream_id
        event.additional_data = frame.additional_data or None
        return [], [event]


class Connection(asyncio.Protocol):
    """One long-lived HTTP/2 connection of a ``Pool``; carries up to ``max_streams`` exchanges at once."""

    def __init__(self, pool: Pool, loop: asyncio.AbstractEventLoop) -> None:
        self.pool = pool
        self._loop = loop
        self._h2 = _H2Connection(config=_CONFIG)
        self._max_body = pool.engine.max_response_body
        self._transport: asyncio.Transport | None = None
        self.state = CONNECTING
        # min(server's SETTINGS_MAX_CONCURRENT_STREAMS, max_streams_cap); 0 until the server's first
        # SETTINGS frame arrives, so nothing is sent before we know the server's limit.
        self.max_streams = 0
        self.active = 0  # exchanges on this connection that count against max_streams
        self._exchanges: dict[int, Exchange] = {}  # stream id → exchange, in stream-id order
        self._blocked: dict[int, Exchange] = {}  # bodies waiting for WINDOW_UPDATE
        self._unflushed: list[Exchange] = []  # started since the last write: never reached the server
        self._flush_scheduled = False
        self.receiving = False  # inside data_received: stream starts and writes wait for its end
        self.wants_fill = False  # give free streams to waiting requests when the batch is handled
        self.ready: asyncio.Future[bool] = loop.create_future()  # True once usable, False if setup failed
        self.closed: asyncio.Future[None] = loop.create_future()  # settled by connection_lost
        self.failure: TransportError | None = None  # why setup failed
        self._why_closing: str | None = None  # e.g. the GOAWAY, for the errors of unanswered streams
        self._last_seen = loop.time()
        self._idle_timer: asyncio.TimerHandle | None = None
        self._ping_timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Check ALPN, then send the connection preface and our SETTINGS."""
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            protocol = ssl_object.selected_alpn_protocol()
            if protocol != "h2":
                # RFC 9113 §3.2: "h2" must be negotiated with ALPN before HTTP/2 may be spoken over TLS.
                self.failure = NotHttp2Error(
                    f"{self.pool.authority} does not speak HTTP/2: ALPN negotiated {protocol!r}, not 'h2'",
                    maybe_processed=False,
                )
                transport.abort()
                return
        h2c = self._h2
        settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.ENABLE_PUSH: 0,  # push services never push; refuse it up front
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 65536,
            },
        )
        # Not ours to announce (RFC 8441 is for servers); some servers reject unexpected settings.
        del settings[h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL]
        h2c.local_settings = settings
        h2c.initiate_connection()
        h2c.increment_flow_control_window(_CONNECTION_WINDOW - 65535)
        transport.write(h2c.data_to_send())

    def data_received(self, data: bytes) -> None:
        """Feed h2, act on its events, then write whatever they produced in one go."""
        if self.state == CLOSED:
            return
        self._last_seen = self._loop.time()
        self.receiving = True
        try:
            events = self._h2.receive_data(data)
            self._handle(events)
        except h2.exceptions.ProtocolError as exc:
            # h2 has queued a GOAWAY with the right error code (RFC 9113 §5.4.1); send it and give up.
            self.receiving = False
            self._flush()
            self.kill(f"HTTP/2 protocol error on the connection to {self.pool.authority}: {exc}", graceful=True)
            return
        finally:
            self.receiving = False
        if self.wants_fill:
            # Streams freed (or a new limit) in this batch go to waiting requests now, once.
            self.wants_fill = False
            if self.state == CONNECTING:
                self._became_ready()
            elif self.state == OPEN:
                self.pool.fill(self)
        self._flush()

    def _became_ready(self) -> None:
        """The server's first SETTINGS arrived: we know its limits, the connection can carry requests."""
        if self._transport is None:
            return
        self.state = OPEN
        self._arm_idle_timer(self.pool.engine.idle_ping_interval)
        self.ready.set_result(True)
        self.pool.connection_ready(self)

    def eof_received(self) -> bool | None:
        """The server half-closed: HTTP/2 has no use for that, let the transport close."""
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """Settle every exchange still here: resend the never-written ones, fail the rest."""
        transport = self._transport
        if transport is not None and not transport.is_closing():
            # Python 3.10's SSL transport is not marked closed when the peer goes away, and would
            # warn (ResourceWarning) when collected; closing it now is a no-op otherwise.
            transport.close()
        self._transport = None
        if self.state != CLOSED:
            if self._why_closing is not None:
                reason = f"the connection to {self.pool.authority} closed before this stream was answered"
                reason = f"{reason} ({self._why_closing})"
            elif exc is not None:
                reason = f"the connection to {self.pool.authority} was lost: {exc}"
            else:
                reason = f"the connection to {self.pool.authority} was closed by the server"
            self._shut(reason)
        if not self.closed.done():
            self.closed.set_result(None)

    # -- sending ----------------------------------------------------------------------------------

    def start(self, exchange: Exchange) -> None:
        """Open a stream for ``exchange`` (the pool checked there is room) and send what the windows allow."""
        h2c = self._h2
        body = exchange.body
        try:
            stream_id = h2c.get_next_available_stream_id()
            h2c.send_headers(stream_id, exchange.headers, end_stream=not body)
        except h2.exceptions.NoAvailableStreamIDError:
            # 2^31 streams used up (RFC 9113 §5.1.1): retire this connection, the pool opens another.
            self.pool.requeue([exchange])
            self.begin_draining("stream identifiers exhausted")
            return
        except h2.exceptions.TooManyStreamsError:
            # Our count disagrees with h2's; trust h2 and wait for a stream to close.
            self.max_streams = self.active
            self.pool.requeue([exchange])
            return
        except h2.exceptions.ProtocolError as exc:
            # h2's view of the connection disagrees with ours (a bug, ours or h2's): nothing was
            # sent for this request, and the connection is not to be trusted any more.
            if not exchange.future.done():
                exchange.future.set_exception(
                    TransportError(f"cannot open a stream to {self.pool.authority}: {exc}", maybe_processed=False)
                )
            self.kill(f"HTTP/2 state error on the connection to {self.pool.authority}: {exc}", graceful=True)
            return
        exchange.connection = self
        exchange.stream_id = stream_id
        self._exchanges[stream_id] = exchange
        self.active += 1
        if body:
            self._send_body(exchange)
        self._unflushed.append(exchange)
        if not self.receiving and not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _send_body(self, exchange: Exchange) -> None:
        """Send as much of the body as the flow-control windows allow (RFC 9113 §5.2); park the rest."""
        h2c = self._h2
        stream_id = exchange.stream_id
        body = exchange.body
        size = len(body)
        offset = exchange.offset
        while offset < size:
            window = h2c.local_flow_control_window(stream_id)
            if window <= 0:
                exchange.offset = offset
                self._blocked[stream_id] = exchange
                return
            chunk = min(window, h2c.max_outbound_frame_size, size - offset)
            end = offset + chunk
            h2c.send_data(stream_id, body[offset:end] if chunk != size else body, end_stream=end == size)
            offset = end
        exchange.offset = offset
        self._blocked.pop(stream_id, None)

    def _flush(self) -> None:
        self._flush_scheduled = False
        data = self._h2.data_to_send()
        transport = self._transport
        if data and transport is not None and not transport.is_closing():
            transport.write(data)
        self._unflushed.clear()

    def cancel(self, exchange: Exchange, code: ErrorCodes = ErrorCodes.CANCEL) -> None:
        """Stop a stream whose caller gave up (timeout or cancellation): RST_STREAM(CANCEL), RFC 9113 §8.7.

        Also for a response the engine refuses, with ``code`` (PROTOCOL_ERROR for a malformed one).
        """
        stream_id = exchange.stream_id
        if self._exchanges.pop(stream_id, None) is None:
            return
        self._blocked.pop(stream_id, None)
        self.active -= 1
        if self.state in (OPEN, DRAINING):
            with contextlib.suppress(h2.exceptions.StreamClosedError):
                self._h2.reset_stream(stream_id, code)
            self._h2.forget(stream_id)
            if not self.receiving and not self._flush_scheduled:
                self._flush_scheduled = True
                self._loop.call_soon(self._flush)
        self._released()

    # -- receiving --------------------------------------------------------------------------------

    def _handle(self, events: list[h2.events.Event]) -> None:
        h2c = self._h2
        exchanges = self._exchanges
        for event in events:
            kind = type(event)
            if kind is h2.events.ResponseReceived:
                assert isinstance(event, h2.events.ResponseReceived)
                exchange = exchanges.get(event.stream_id)
                if exchange is not None:
                    self._on_response(exchange, event.headers)
            elif kind is h2.events.DataReceived:
                assert isinstance(event, h2.events.DataReceived)
                stream_id = event.stream_id
                if event.flow_controlled_length:
                    # Hand the window back at once: we buffer the body ourselves (RFC 9113 §6.9). Also
                    # for the frame that crosses the body limit: the stream is reset below, and the
                    # connection window must not shrink by what it carried.
                    h2c.acknowledge_received_data(event.flow_controlled_length, stream_id)
                exchange = exchanges.get(stream_id)
                if exchange is not None:
                    data = event.data
                    received = exchange.received + len(data)
                    # The one cost of the body limit on the hot path: an addition and a comparison.
                    if received > self._max_body:
                        self._refuse_body(exchange, received)
                        continue
                    exchange.received = received
                    if exchange.chunks is None:
                        exchange.chunks = [data]
                    else:
                        exchange.chunks.append(data)
            elif kind is h2.events.StreamEnded:
                assert isinstance(event, h2.events.StreamEnded)
                exchange = exchanges.pop(event.stream_id, None)
                if exchange is not None:
                    self._complete(exchange)
            elif kind is h2.events.StreamReset:
                assert isinstance(event, h2.events.StreamReset)
                self._on_reset(event)
            elif kind is h2.events.WindowUpdated:
                assert isinstance(event, h2.events.WindowUpdated)
                self._on_window_update(event.stream_id)
            elif kind is h2.events.RemoteSettingsChanged:
                assert isinstance(event, h2.events.RemoteSettingsChanged)
                self._on_settings(event)
            elif kind is h2.events.ConnectionTerminated:
                assert isinstance(event, h2.events.ConnectionTerminated)
                self._on_goaway(event)
            elif kind is h2.events.PingAckReceived:
                self._on_ping_ack()
            elif kind is h2.events.InformationalResponseReceived:
                assert isinstance(event, h2.events.InformationalResponseReceived)
                # h2 takes any :status starting with "1" for a 1xx; "1000" or "1xx" is malformed.
                exchange = exchanges.get(event.stream_id)
                if exchange is not None and not _valid_informational(event.headers):
                    self._refuse_head(exchange, event.headers)
            # Others need nothing from us: h2 answers PING and SETTINGS itself, we send no trailers
            # and ignore received ones; a valid informational (1xx) response precedes the real one.

    def _complete(self, exchange: Exchange) -> None:
        self.active -= 1
        if exchange.offset < len(exchange.body):
            # The server answered before reading all of the body: RFC 9113 §8.1 lets us stop
            # sending it with RST_STREAM(NO_ERROR).
            self._blocked.pop(exchange.stream_id, None)
            with contextlib.suppress(h2.exceptions.StreamClosedError):
                self._h2.reset_stream(exchange.stream_id, ErrorCodes.NO_ERROR)
        self._h2.forget(exchange.stream_id)
        future = exchange.future
        if not future.done():
            headers = exchange.response_headers
            if headers is None:
                future.set_exception(TransportError(f"{self.pool.authority} ended a stream without a response"))
            else:
                chunks = exchange.chunks
                if chunks is None:
                    body = b""
                elif len(chunks) == 1:
                    body = chunks[0]
                else:
                    body = b"".join(chunks)
                future.set_result(Response(exchange.status, headers, body))
        self._released()

    def _on_response(self, exchange: Exchange, raw: list[Header]) -> None:
        """Read a response's HEADERS: exactly one valid ``:status``, first, then the fields."""
        status = -1
        malformed = False
        headers: dict[str, str] = {}
        for name, value in raw:
            if name[0] == 58:  # b":" - a pseudo-header
                # RFC 9113 §8.3.2: a response has exactly one ``:status`` and no other pseudo-header;
                # §8.3: pseudo-headers come before every regular field. RFC 9110 §15: three digits.
                if status >= 0 or headers or name != b":status" or len(value) != 3 or not value.isdigit():
                    malformed = True
                else:
                    status = int(value)
                continue
            key = name.decode("latin-1")
            text = value.decode("latin-1")
            previous = headers.get(key)
            # RFC 9110 §5.3: repeated fields combine into one comma-separated value.
            headers[key] = text if previous is None else f"{previous}, {text}"
        if malformed or not 200 <= status <= 599:
            # RFC 9110 §15: codes outside 100-599 are invalid; 1xx are informational and h2 reports
            # them as such, so a final response has 200-599.
            self._refuse_head(exchange, raw)
            return
        exchange.status = status
        exchange.response_headers = headers

    def _refuse_head(self, exchange: Exchange, raw: list[Header]) -> None:
        """A malformed response (RFC 9113 §8.1.1): a stream error of type PROTOCOL_ERROR, not an answer.

        The server did receive the request and may have acted on it; we only cannot read what it
        said. So the error has ``maybe_processed=True`` and the retry policy treats it like a reset
        after processing: resent when ``retry_transport_errors`` is on (at least once), never by the
        engine itself (which resends only what the server provably did not process).
        """
        statuses = [value for name, value in raw if name == b":status"]
        others = sorted({name.decode("latin-1") for name, _ in raw if name[:1] == b":" and name != b":status"})
        if not statuses:
            problem = "no :status"
        elif len(statuses) > 1:
            problem = f"{len(statuses)} :status fields"
        elif others:
            problem = "pseudo-header " + ", ".join(others) + " in a response"
        elif len(statuses[0]) == 3 and statuses[0].isdigit() and 100 <= int(statuses[0]) <= 599:
            problem = ":status after a regular field"
        else:
            quoted = excerpt(statuses[0].decode("latin-1"), 40, quote=True)
            problem = f":status {quoted} is not a three-digit status code of 200-599"
        error = TransportError(
            f"{self.pool.authority} sent a malformed response ({problem}; RFC 9113 §8.3.2), "
            "so whether the request was processed is unknown",
            maybe_processed=True,
        )
        self._fail_stream(exchange, error, ErrorCodes.PROTOCOL_ERROR)

    def _refuse_body(self, exchange: Exchange, received: int) -> None:
        """A response body over the limit: fail the request and reset the stream (RFC 9113 §8.7 CANCEL).

        Nothing more of it is buffered. DATA already in flight for the reset stream is dropped by h2,
        which still hands its bytes back to the connection window (RFC 9113 §6.9), so the connection
        keeps serving other requests at full window.
        """
        limit = self._max_body
        error = TransportError(
            f"{self.pool.authority} sent a response body over the limit of {limit} bytes "
            f"({received} bytes received when the stream was reset)",
            maybe_processed=True,  # it answered, so it had the request
        )
        self._fail_stream(exchange, error, ErrorCodes.CANCEL)

    def _fail_stream(self, exchange: Exchange, error: TransportError, code: ErrorCodes) -> None:
        exchange.chunks = None  # let go of what was buffered now
        if not exchange.future.done():
            exchange.future.set_exception(error)
        self.cancel(exchange, code)

    def _on_reset(self, event: h2.events.StreamReset) -> None:
        exchange = self._exchanges.pop(event.stream_id, None)
        if exchange is None:
            return
        self._blocked.pop(event.stream_id, None)
        self._h2.forget(event.stream_id)
        self.active -= 1
        if event.error_code == ErrorCodes.REFUSED_STREAM:
            # RFC 9113 §8.7: REFUSED_STREAM guarantees the server did no processing, so the request
            # can go again (the server was probably over its stream limit; it restarts at the front).
            self.pool.resend([exchange], "REFUSED_STREAM")
        elif not exchange.future.done():
            # Any other reset may come after the server acted on the request (RFC 9113 §8.7).
            exchange.future.set_exception(
                TransportError(
                    f"{self.pool.authority} reset the stream with {_code_name(event.error_code)}",
                    maybe_processed=True,
                )
            )
        self._released()

    def _on_window_update(self, stream_id: int) -> None:
        if not self._blocked:
            return
        if stream_id == 0:
            for exchange in list(self._blocked.values()):
                self._send_body(exchange)
        else:
            blocked = self._blocked.get(stream_id)
            if blocked is not None:
                self._send_body(blocked)

    def _on_settings(self, event: h2.events.RemoteSettingsChanged) -> None:
        # RFC 9113 §6.5.2: the limit may change at any time (APNs starts at 1 with token auth and
        # raises it after the first accepted JWT); never exceed the current one. New streams start
        # only after the whole received batch is handled, so a lower limit announced in a second
        # SETTINGS frame right behind the first is respected from the start.
        self.max_streams = min(self._h2.remote_settings.max_concurrent_streams, self.pool.engine.max_streams_cap)
        self.wants_fill = True
        if h2.settings.SettingCodes.INITIAL_WINDOW_SIZE in event.changed_settings:
            self._on_window_update(0)  # stream windows may have grown (RFC 9113 §6.9.2)

    def _on_goaway(self, event: h2.events.ConnectionTerminated) -> None:
        last = event.last_stream_id if event.last_stream_id is not None else 0
        detail = ""
        if event.additional_data:
            # APNs puts the same {"reason": ...} JSON as in response bodies here (e.g. Shutdown).
            detail = ": " + event.additional_data[:200].decode("utf-8", "replace")
        reason = f"{self.pool.authority} sent GOAWAY with {_code_name(event.error_code)}{detail}"
        _log.debug("%s (last stream %d, %d in flight)", reason, last, self.active)
        _telemetry.connection("goaway", self.pool.host, self.pool.port)
        self.begin_draining(reason)
        # RFC 9113 §6.8: streams above last_stream_id were not and will not be processed; they are
        # safe to send again on another connection. The ones at or below it may still complete.
        unprocessed = [exchange for stream_id, exchange in self._exchanges.items() if stream_id > last]
        for exchange in unprocessed:
            del self._exchanges[exchange.stream_id]
            self._blocked.pop(exchange.stream_id, None)
            self.active -= 1
        if unprocessed:
            self.pool.resend(unprocessed, "GOAWAY")
        if not self._exchanges:
            self._close_transport()

    # -- lifecycle --------------------------------------------------------------------------------

    def _released(self) -> None:
        """A stream closed: give its slot to a queued exchange, or finish closing a draining connection."""
        if self.state == OPEN:
            if self.pool.pending:
                self.pool.fill(self)  # deferred to the end of the batch when we are receiving
        elif self.state == DRAINING and not self._exchanges:
            self._close_transport()

    def begin_draining(self, reason: str) -> None:
        """Take no new streams; let the current ones finish (used for GOAWAY and graceful closes)."""
        if self.state in (CONNECTING, OPEN):
            was_connecting = self.state == CONNECTING
            self.state = DRAINING
            self._why_closing = reason
            if was_connecting and not self.ready.done():
                self.failure = TransportError(reason, maybe_processed=False)
                self.ready.set_result(False)
            self.pool.connection_retired(self)

    def _close_transport(self) -> None:
        """Say goodbye (our GOAWAY, RFC 9113 §6.8) and close; nothing is left in flight."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        self._cancel_timers()
        with contextlib.suppress(h2.exceptions.ProtocolError):  # h2 already considers it closed
            self._h2.close_connection()
        self._flush()
        transport.close()

    def kill(self, reason: str, *, graceful: bool = False) -> None:
        """Abandon the connection now: fail what is in flight with ``reason`` and drop the socket."""
        if self.state == CLOSED:
            return
        self._why_closing = reason
        transport = self._transport
        self._shut(reason)
        if transport is not None and not transport.is_closing():
            if graceful:
                transport.close()  # flushes what is buffered (our GOAWAY) first
            else:
                transport.abort()

    def close(self, reason: str) -> None:
        """Close for good (engine shutdown): fail in-flight exchanges, send GOAWAY, close the socket."""
        if self.state == CLOSED:
            return
        transport = self._transport
        self._shut(reason)
        if transport is not None and not transport.is_closing():
            # Frames still buffered belong to requests just failed as never sent: they must stay
            # unsent, so only our GOAWAY goes out.
            self._h2.clear_outbound_data_buffer()
            with contextlib.suppress(h2.exceptions.ProtocolError):
                self._h2.close_connection()
            data = self._h2.data_to_send()
            if data:
                transport.write(data)
            transport.close()

    def abort(self) -> None:
        """Drop the socket without ceremony (a close that did not finish in time)."""
        if self._transport is not None:
            self._transport.abort()

    def _shut(self, reason: str) -> None:
        """Enter CLOSED: settle every exchange (never-written ones go back to the pool) and tell the pool."""
        was_connecting = self.state == CONNECTING
        self.state = CLOSED
        self._cancel_timers()
        if not self.ready.done():
            if self.failure is None:
                self.failure = TransportError(reason, maybe_processed=False)
            self.ready.set_result(False)
        unsent = {id(exchange) for exchange in self._unflushed}
        self._unflushed.clear()
        resend: list[Exchange] = []
        for exchange in self._exchanges.values():
            if id(exchange) in unsent:
                # Its frames never left our buffer, so the server cannot have seen it.
                resend.append(exchange)
            elif not exchange.future.done():
                exchange.future.set_exception(TransportError(reason, maybe_processed=True))
        self._exchanges.clear()
        self._blocked.clear()
        self.active = 0
        if self._transport is None and not self.closed.done():
            self.closed.set_result(None)  # no socket (never connected, or already gone): nothing to wait for
        self.pool.connection_closed(self, resend, was_connecting=was_connecting)

    # -- liveness ---------------------------------------------------------------------------------

    def _arm_idle_timer(self, delay: float) -> None:
        if self.pool.engine.idle_ping_interval > 0:
            self._idle_timer = self._loop.call_later(delay, self._on_idle_timer)

    def _on_idle_timer(self) -> None:
        self._idle_timer = None
        if self.state not in (OPEN, DRAINING) or self._ping_timer is not None:
            return
        interval = self.pool.engine.idle_ping_interval
        quiet = self._loop.time() - self._last_seen
        if quiet < interval:
            self._arm_idle_timer(interval - quiet)
            return
        # Silent for a whole interval: check the connection still answers (RFC 9113 §6.7) before a
        # request finds out the hard way. NATs and load balancers drop idle flows without a word.
        self._h2.ping(next(_ping_payloads).to_bytes(8, "big"))
        self._flush()
        self.pool.engine.pings_sent += 1
        self._ping_timer = self._loop.call_later(self.pool.engine.ping_timeout, self._on_ping_timeout)

    def _on_ping_ack(self) -> None:
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None
            self._arm_idle_timer(self.pool.engine.idle_ping_interval)

    def _on_ping_timeout(self) -> None:
        self._ping_timer = None
        timeout = self.pool.engine.ping_timeout
        _log.warning("%s did not answer a PING within %.1f s; replacing the connection", self.pool.authority, timeout)
        self.pool.engine.dead_connections += 1
        self.kill(f"{self.pool.authority} did not answer a PING within {timeout:.1f} s", graceful=False)

    def _cancel_timers(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None
