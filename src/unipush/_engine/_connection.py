"""One HTTP/2 connection: an ``asyncio.Protocol`` that feeds bytes to jh2 and settles futures.

Everything here runs in event-loop callbacks; nothing awaits. Bytes in: ``data_received`` → jh2 events
→ responses set on the exchanges' futures. Bytes out: jh2 buffers frames and ``_flush`` hands them to
the transport in one ``write`` per loop iteration (or per received batch), never one per frame.

The HTTP/2 library is jh2, h2's maintained fork with a compiled HPACK encoder and decoder, used as it
comes: its own ``H2Connection``, encoder and stream bookkeeping, nothing subclassed or patched. The
one thing the engine does itself is GOAWAY (see ``data_received``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from typing import Protocol

import jh2.config
import jh2.connection
import jh2.events
import jh2.exceptions
import jh2.settings
from jh2.errors import ErrorCodes

from unipush._engine._config import EngineConfig, EngineStats
from unipush._engine._exchange import Exchange, Response
from unipush._errors import TransportError
from unipush._excerpt import excerpt

__all__ = ["CLOSED", "CONNECTING", "DRAINING", "OPEN", "Connection", "ConnectionOwner", "NotHttp2Error"]

_log = logging.getLogger("unipush.engine")

# Header validation and normalisation cost about a fifth of a request's CPU; the engine builds its
# header lists itself (lower-case names, no connection-specific fields, RFC 9113 §8.2), so both are
# off. Header names and values stay bytes (``header_encoding=None``) and are decoded once, here.
_CONFIG = jh2.config.H2Configuration(
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

# RFC 9113 §4.1: every frame starts with a 9-octet header: length (24 bits), type, flags, stream id.
_FRAME_HEADER = 9
_GOAWAY = 0x7
_SETTINGS = 0x4  # RFC 9113 §6.5: the frame a server's connection preface begins with
# Frame types that open a header block, and CONTINUATION; END_HEADERS (0x4) closes it (RFC 9113 §6.10).
_HEADER_BLOCK_TYPES = (0x1, 0x5, 0x9)
_END_HEADERS = 0x4

_ping_payloads = itertools.count(1)

# Connection states. A connection takes new streams only while OPEN; DRAINING ones (GOAWAY received,
# or closing) let their streams finish; CLOSED ones have settled every exchange they held.
CONNECTING, OPEN, DRAINING, CLOSED = range(4)


def _valid_informational(raw: list[tuple[bytes, bytes]]) -> bool:
    """Whether a header block jh2 reported as informational has one three-digit 1xx ``:status``, first."""
    return (
        len(raw) > 0
        and raw[0][0] == b":status"
        and len(raw[0][1]) == 3
        and raw[0][1].isdigit()
        and all(name != b":status" for name, _ in raw[1:])
    )


def _code_name(code: int | None) -> str:
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


class ConnectionOwner(Protocol):
    """What a ``Connection`` tells its pool; it reads nothing there.

    ``Pool`` implements it; the GOAWAY / REFUSED_STREAM tests implement it too, to drive a connection
    over a plain socket pair and watch what it hands back.
    """

    def fill(self, connection: Connection) -> None:
        """A stream of ``connection`` is free (or its limit changed): give it to a waiting request, or note it."""

    def requeue(self, exchanges: list[Exchange]) -> None:
        """Put never-sent exchanges back at the front of the queue."""

    def resend(self, exchanges: list[Exchange], why: str) -> None:
        """Send again exchanges the server provably did not process (GOAWAY, REFUSED_STREAM)."""

    def connection_ready(self, connection: Connection) -> None:
        """The server's first SETTINGS arrived: the connection takes streams."""

    def connection_retired(self, connection: Connection) -> None:
        """The connection takes no new streams any more (GOAWAY, draining)."""

    def connection_closed(self, connection: Connection, unsent: list[Exchange], *, was_connecting: bool) -> None:
        """The connection ended; ``unsent`` were on it but never written."""


class Connection(asyncio.Protocol):
    """One long-lived HTTP/2 connection of a ``Pool``; carries up to ``max_streams`` exchanges at once."""

    def __init__(
        self,
        owner: ConnectionOwner,
        authority: str,
        config: EngineConfig,
        stats: EngineStats,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.owner = owner
        self.authority = authority  # for messages: "api.push.apple.com", "127.0.0.1:8443"
        self._config = config
        self._stats = stats
        self._loop = loop
        self._h2 = jh2.connection.H2Connection(config=_CONFIG)
        self._max_body = config.max_response_body
        # Where the next frame header starts in the next read (it may lie beyond it), and the start
        # of a frame header or GOAWAY frame that a read cut in two: see ``data_received``.
        self._next_frame = 0
        self._held = b""
        self._in_header_block = False
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
        self._prior_knowledge = False  # cleartext HTTP/2: no ALPN said the server speaks it
        self.goaway = False  # the server sent GOAWAY (RFC 9113 §6.8)

    # -- asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Send the connection preface and our SETTINGS (the pool has checked ALPN chose HTTP/2)."""
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._prior_knowledge = transport.get_extra_info("ssl_object") is None
        h2c = self._h2
        settings = jh2.settings.Settings(
            client=True,
            # Every value spelled out: jh2's defaults differ from h2's and from RFC 9113 §6.5.2 (a
            # 6 MiB stream window, a 64 KiB HPACK table), and the stream window is what bounds how
            # much a server can send past the response body limit before our RST_STREAM lands.
            initial_values={
                jh2.settings.SettingCodes.HEADER_TABLE_SIZE: 4096,
                jh2.settings.SettingCodes.ENABLE_PUSH: 0,  # push services never push; refuse it up front
                jh2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100,
                jh2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 65535,
                jh2.settings.SettingCodes.MAX_FRAME_SIZE: 16384,
                jh2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 65536,
            },
        )
        # jh2 (unlike h2) announces no SETTINGS_ENABLE_CONNECT_PROTOCOL, which is not ours to send
        # (RFC 8441 is for servers; some servers reject unexpected settings).
        h2c.local_settings = settings
        h2c.initiate_connection()
        h2c.increment_flow_control_window(_CONNECTION_WINDOW - 65535)
        transport.write(h2c.data_to_send())

    def data_received(self, data: bytes) -> None:
        """Feed jh2 (GOAWAY frames excepted), act on its events, then write what they produced in one go.

        jh2, like h2, treats a received GOAWAY as the end of the connection: its state machine goes
        to CLOSED and drops queued output, after which every frame of the streams the server promised
        to finish (ids up to ``last_stream_id``) raises ``ProtocolError``. RFC 9113 §6.8 says those
        streams may still complete, and graceful shutdowns (APNs ``Shutdown``, any server draining for
        a restart) depend on it. So the engine walks the frame headers of what it receives (RFC 9113
        §4.1: length and type are the first four octets, so this is an addition and a comparison per
        frame), hands jh2 everything but GOAWAY frames, and handles those itself.
        """
        if self.state == CLOSED:
            return
        if self.state == CONNECTING and self._prior_knowledge and len(data) >= 4 and data[3] != _SETTINGS:
            # RFC 9113 §3.3: prior knowledge is a guess, and RFC 9113 §3.4 makes the server's first
            # frame a SETTINGS frame. Anything else (a status line, an HTML error page) says the guess
            # was wrong.
            self.failure = NotHttp2Error(
                f"{self.authority} answered in HTTP/1.1 to cleartext HTTP/2 with prior knowledge "
                f"(received {excerpt(data.decode('latin-1'), 40, quote=True)}); "
                "leave cleartext_http2 off for an HTTP/1.1 server",
                maybe_processed=False,
            )
            self.kill(str(self.failure))
            return
        self._last_seen = self._loop.time()
        if self._held:
            data = self._held + data
            self._held = b""
        size = len(data)
        offset = self._next_frame
        self.receiving = True
        try:
            if offset >= size:  # all of it is the payload of a frame begun in an earlier read
                self._next_frame = offset - size
                self._receive(data)
            else:
                start = 0  # what is not yet handed to jh2 starts here
                last = -1  # the header of the last frame seen in this read
                while offset + _FRAME_HEADER <= size:
                    length = int.from_bytes(data[offset : offset + 3], "big")
                    if data[offset + 3] != _GOAWAY:
                        last = offset
                        offset += _FRAME_HEADER + length
                        continue
                    if start < offset:
                        self._receive(data[start:offset])
                        start = offset
                    if last >= 0:
                        self._in_header_block = (
                            data[last + 3] in _HEADER_BLOCK_TYPES and not data[last + 4] & _END_HEADERS
                        )
                        last = -1
                    # Judged on its header first: an oversized GOAWAY is refused before it is buffered.
                    if self.state == CLOSED or not self._goaway_header_ok(data[offset : offset + _FRAME_HEADER]):
                        return
                    end = offset + _FRAME_HEADER + length
                    if end > size:
                        break  # the rest of this GOAWAY comes in a later read
                    self._goaway(data[offset + _FRAME_HEADER : end])
                    start = offset = end
                    last = -1
                    self._in_header_block = False
                if offset >= size:
                    self._next_frame = offset - size
                    tail = data[start:] if start else data
                else:
                    # A frame header (or a GOAWAY frame) cut by the end of this read: held back until the
                    # rest arrives, so its type is known before any of it goes to jh2.
                    self._held = data[offset:]
                    self._next_frame = 0
                    tail = data[start:offset]
                if last >= 0:
                    self._in_header_block = data[last + 3] in _HEADER_BLOCK_TYPES and not data[last + 4] & _END_HEADERS
                if tail and self.state != CLOSED:
                    self._receive(tail)
        except jh2.exceptions.ProtocolError as exc:
            # jh2 has queued a GOAWAY with the right error code (RFC 9113 §5.4.1); send it and give up.
            self.receiving = False
            self._flush()
            self.kill(f"HTTP/2 protocol error on the connection to {self.authority}: {exc}", graceful=True)
            return
        finally:
            self.receiving = False
        if self.state == CLOSED:
            return
        if self.wants_fill:
            # Streams freed (or a new limit) in this batch go to waiting requests now, once.
            self.wants_fill = False
            if self.state == CONNECTING:
                self._became_ready()
            elif self.state == OPEN:
                self.owner.fill(self)
        self._flush()

    def _receive(self, data: bytes) -> None:
        self._handle(self._h2.receive_data(data))

    def _goaway_header_ok(self, header: bytes) -> bool:
        """Whether a GOAWAY frame header is valid here; if not, end the connection with the right error."""
        length = int.from_bytes(header[0:3], "big")
        stream_id = int.from_bytes(header[5:9], "big") & 0x7FFFFFFF
        problem = None
        code = ErrorCodes.PROTOCOL_ERROR
        if self._in_header_block:
            problem = "a GOAWAY frame inside a header block (RFC 9113 §6.10)"
        elif stream_id != 0:
            problem = f"a GOAWAY frame on stream {stream_id} (RFC 9113 §6.8)"
        elif length < 8:
            problem = f"a GOAWAY frame of {length} octets, fewer than 8 (RFC 9113 §6.8)"
            code = ErrorCodes.FRAME_SIZE_ERROR
        elif length > self._h2.max_inbound_frame_size:
            problem = f"a GOAWAY frame of {length} octets, over our SETTINGS_MAX_FRAME_SIZE (RFC 9113 §4.2)"
            code = ErrorCodes.FRAME_SIZE_ERROR
        if problem is None:
            return True
        with contextlib.suppress(jh2.exceptions.ProtocolError):
            self._h2.close_connection(error_code=code)  # our GOAWAY, with the error (RFC 9113 §5.4.1)
        self.receiving = False
        self._flush()
        self.kill(f"HTTP/2 protocol error on the connection to {self.authority}: {problem}", graceful=True)
        return False

    def _goaway(self, payload: bytes) -> None:
        """A whole, valid GOAWAY payload: last stream id, error code, debug data (RFC 9113 §6.8)."""
        last = int.from_bytes(payload[0:4], "big") & 0x7FFFFFFF  # the reserved bit is ignored
        self._on_goaway(last, int.from_bytes(payload[4:8], "big"), payload[8:])

    def _became_ready(self) -> None:
        """The server's first SETTINGS arrived: we know its limits, the connection can carry requests."""
        if self._transport is None:
            return
        self.state = OPEN
        self._arm_idle_timer(self._config.idle_ping_interval)
        self.ready.set_result(True)
        self.owner.connection_ready(self)

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
                reason = f"the connection to {self.authority} closed before this stream was answered"
                reason = f"{reason} ({self._why_closing})"
            elif exc is not None:
                reason = f"the connection to {self.authority} was lost: {exc}"
            else:
                reason = f"the connection to {self.authority} was closed by the server"
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
        except jh2.exceptions.NoAvailableStreamIDError:
            # 2^31 streams used up (RFC 9113 §5.1.1): retire this connection, the pool opens another.
            self.owner.requeue([exchange])
            self.begin_draining("stream identifiers exhausted")
            return
        except jh2.exceptions.TooManyStreamsError:
            # Our count disagrees with h2's; trust h2 and wait for a stream to close.
            self.max_streams = self.active
            self.owner.requeue([exchange])
            return
        except jh2.exceptions.ProtocolError as exc:
            # h2's view of the connection disagrees with ours (a bug, ours or h2's): nothing was
            # sent for this request, and the connection is not to be trusted any more.
            if not exchange.future.done():
                exchange.future.set_exception(
                    TransportError(f"cannot open a stream to {self.authority}: {exc}", maybe_processed=False)
                )
            self.kill(f"HTTP/2 state error on the connection to {self.authority}: {exc}", graceful=True)
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
            with contextlib.suppress(jh2.exceptions.StreamClosedError):
                self._h2.reset_stream(stream_id, code)
            if not self.receiving and not self._flush_scheduled:
                self._flush_scheduled = True
                self._loop.call_soon(self._flush)
        self._released()

    # -- receiving --------------------------------------------------------------------------------

    def _handle(self, events: list[jh2.events.Event]) -> None:
        h2c = self._h2
        exchanges = self._exchanges
        for event in events:
            kind = type(event)
            if kind is jh2.events.ResponseReceived:
                assert isinstance(event, jh2.events.ResponseReceived)
                exchange = exchanges.get(event.stream_id)
                if exchange is not None:
                    self._on_response(exchange, event.headers)
            elif kind is jh2.events.DataReceived:
                assert isinstance(event, jh2.events.DataReceived)
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
            elif kind is jh2.events.StreamEnded:
                assert isinstance(event, jh2.events.StreamEnded)
                exchange = exchanges.pop(event.stream_id, None)
                if exchange is not None:
                    self._complete(exchange)
            elif kind is jh2.events.StreamReset:
                assert isinstance(event, jh2.events.StreamReset)
                self._on_reset(event)
            elif kind is jh2.events.WindowUpdated:
                assert isinstance(event, jh2.events.WindowUpdated)
                self._on_window_update(event.stream_id)
            elif kind is jh2.events.RemoteSettingsChanged:
                assert isinstance(event, jh2.events.RemoteSettingsChanged)
                self._on_settings(event)
            elif kind is jh2.events.PingAckReceived:
                self._on_ping_ack()
            elif kind is jh2.events.InformationalResponseReceived:
                assert isinstance(event, jh2.events.InformationalResponseReceived)
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
            with contextlib.suppress(jh2.exceptions.StreamClosedError):
                self._h2.reset_stream(exchange.stream_id, ErrorCodes.NO_ERROR)
        future = exchange.future
        if not future.done():
            headers = exchange.response_headers
            if headers is None:
                future.set_exception(TransportError(f"{self.authority} ended a stream without a response"))
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

    def _on_response(self, exchange: Exchange, raw: list[tuple[bytes, bytes]]) -> None:
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

    def _refuse_head(self, exchange: Exchange, raw: list[tuple[bytes, bytes]]) -> None:
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
            f"{self.authority} sent a malformed response ({problem}; RFC 9113 §8.3.2), "
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
            f"{self.authority} sent a response body over the limit of {limit} bytes "
            f"({received} bytes received when the stream was reset)",
            maybe_processed=True,  # it answered, so it had the request
        )
        self._fail_stream(exchange, error, ErrorCodes.CANCEL)

    def _fail_stream(self, exchange: Exchange, error: TransportError, code: ErrorCodes) -> None:
        exchange.chunks = None  # let go of what was buffered now
        if not exchange.future.done():
            exchange.future.set_exception(error)
        self.cancel(exchange, code)

    def _on_reset(self, event: jh2.events.StreamReset) -> None:
        exchange = self._exchanges.pop(event.stream_id, None)
        if exchange is None:
            return
        self._blocked.pop(event.stream_id, None)
        self.active -= 1
        if event.error_code == ErrorCodes.REFUSED_STREAM:
            # RFC 9113 §8.7: REFUSED_STREAM guarantees the server did no processing, so the request
            # can go again (the server was probably over its stream limit; it restarts at the front).
            self.owner.resend([exchange], "REFUSED_STREAM")
        elif not exchange.future.done():
            # Any other reset may come after the server acted on the request (RFC 9113 §8.7).
            exchange.future.set_exception(
                TransportError(
                    f"{self.authority} reset the stream with {_code_name(event.error_code)}",
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

    def _on_settings(self, event: jh2.events.RemoteSettingsChanged) -> None:
        # RFC 9113 §6.5.2: the limit may change at any time (APNs starts at 1 with token auth and
        # raises it after the first accepted JWT); never exceed the current one. New streams start
        # only after the whole received batch is handled, so a lower limit announced in a second
        # SETTINGS frame right behind the first is respected from the start.
        self.max_streams = min(self._h2.remote_settings.max_concurrent_streams, self._config.max_streams_cap)
        self.wants_fill = True
        if jh2.settings.SettingCodes.INITIAL_WINDOW_SIZE in event.changed_settings:
            self._on_window_update(0)  # stream windows may have grown (RFC 9113 §6.9.2)

    def _on_goaway(self, last: int, error_code: int, additional_data: bytes) -> None:
        detail = ""
        if additional_data:
            # APNs puts the same {"reason": ...} JSON as in response bodies here (e.g. Shutdown).
            detail = ": " + additional_data[:200].decode("utf-8", "replace")
        reason = f"{self.authority} sent GOAWAY with {_code_name(error_code)}{detail}"
        _log.debug("%s (last stream %d, %d in flight)", reason, last, self.active)
        self.goaway = True  # read by the owner when the connection retires (telemetry counts it)
        self.begin_draining(reason)
        # RFC 9113 §6.8: streams above last_stream_id were not and will not be processed; they are
        # safe to send again on another connection. The ones at or below it may still complete.
        unprocessed = [exchange for stream_id, exchange in self._exchanges.items() if stream_id > last]
        for exchange in unprocessed:
            del self._exchanges[exchange.stream_id]
            self._blocked.pop(exchange.stream_id, None)
            self.active -= 1
        if unprocessed:
            self.owner.resend(unprocessed, "GOAWAY")
        if not self._exchanges:
            self._close_transport()

    # -- lifecycle --------------------------------------------------------------------------------

    def _released(self) -> None:
        """A stream closed: give its slot to a queued exchange, or finish closing a draining connection."""
        if self.state == OPEN:
            # The slot goes to a waiting request, or the pool notes the room for the next one
            # (deferred to the end of the batch when we are receiving).
            self.owner.fill(self)
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
            self.owner.connection_retired(self)

    def _close_transport(self) -> None:
        """Say goodbye (our GOAWAY, RFC 9113 §6.8) and close; nothing is left in flight."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        self._cancel_timers()
        with contextlib.suppress(jh2.exceptions.ProtocolError):  # h2 already considers it closed
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
            with contextlib.suppress(jh2.exceptions.ProtocolError):
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
        self.owner.connection_closed(self, resend, was_connecting=was_connecting)

    # -- liveness ---------------------------------------------------------------------------------

    def _arm_idle_timer(self, delay: float) -> None:
        if self._config.idle_ping_interval > 0:
            self._idle_timer = self._loop.call_later(delay, self._on_idle_timer)

    def _on_idle_timer(self) -> None:
        self._idle_timer = None
        if self.state not in (OPEN, DRAINING) or self._ping_timer is not None:
            return
        interval = self._config.idle_ping_interval
        quiet = self._loop.time() - self._last_seen
        if quiet < interval:
            self._arm_idle_timer(interval - quiet)
            return
        # Silent for a whole interval: check the connection still answers (RFC 9113 §6.7) before a
        # request finds out the hard way. NATs and load balancers drop idle flows without a word.
        self._h2.ping(next(_ping_payloads).to_bytes(8, "big"))
        self._flush()
        self._stats.pings_sent += 1
        self._ping_timer = self._loop.call_later(self._config.ping_timeout, self._on_ping_timeout)

    def _on_ping_ack(self) -> None:
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None
            self._arm_idle_timer(self._config.idle_ping_interval)

    def _on_ping_timeout(self) -> None:
        self._ping_timer = None
        timeout = self._config.ping_timeout
        _log.warning("%s did not answer a PING within %.1f s; replacing the connection", self.authority, timeout)
        self._stats.dead_connections += 1
        self.kill(f"{self.authority} did not answer a PING within {timeout:.1f} s", graceful=False)

    def _cancel_timers(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None
