"""One HTTP/2 connection of the sandbox's server (``h2``), with the connection-level faults.

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
import logging
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import hpack
from hyperframe.frame import GoAwayFrame

from unipush.sandbox._interface import SandboxRequest, SandboxResponse
from unipush.sandbox.server._dispatch import (
    MAX_REQUEST_BODY,
    RESPONSE_FAULTS,
    TOO_LARGE,
    Dispatcher,
    close_quietly,
    headers_dict,
    response_headers,
)

__all__ = ["H2Protocol"]

logger = logging.getLogger("unipush.sandbox")

# Generous receive windows so flow control never throttles a benchmark: the stream window covers any
# request body the services accept, the connection window many of them in flight at once.
_STREAM_WINDOW = 1 << 20
_CONNECTION_WINDOW = 1 << 24


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


class _Stream:
    """A request being received on one HTTP/2 stream."""

    __slots__ = ("body", "headers", "method", "path", "size")

    def __init__(self, method: str, path: str, headers: dict[str, str]) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body: list[bytes] = []
        self.size = 0


class H2Protocol(asyncio.Protocol):
    """One HTTP/2 connection."""

    def __init__(self, server: Dispatcher[Any], transport: asyncio.Transport) -> None:
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
        close_quietly(self._transport)
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
        self._streams[stream_id] = _Stream(method, path, headers_dict(regular))
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
            self._respond(stream_id, TOO_LARGE)
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
            if kind in RESPONSE_FAULTS:
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
        headers = [(":status", str(response.status)), *response_headers(response)]
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
