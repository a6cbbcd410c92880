"""Test helpers for the sandbox's servers.

- ``RawH2Client``: a tiny blocking HTTP/2 client over an ``ssl`` socket, for assertions httpx cannot
  make: httpx hides SETTINGS, GOAWAY and RST_STREAM frames, and these tests need to see them (the
  advertised MAX_CONCURRENT_STREAMS, the GOAWAY's last-stream-id, which streams got answers).
- ``ServerThread``: a ``SandboxServer`` on its own event-loop thread, for synchronous clients.
- ``EchoEmulator``: answers every request with a JSON echo of it.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from unipush.sandbox import (
    EmulatorBase,
    Fault,
    Faults,
    SandboxRequest,
    SandboxResponse,
    SandboxServer,
    SandboxTLS,
    json_response,
)


class EchoEmulator(EmulatorBase):
    """Echoes each request as JSON; counts handled requests, concurrency and cancellations.

    ``delay`` makes every request take that long; a path ending in ``/boom`` raises; a path with
    ``?size=N`` answers N bytes instead of JSON.
    """

    name = "echo"

    def __init__(self, *, delay: float = 0.0) -> None:
        self.delay = delay
        self.handled: list[SandboxRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.cancelled = 0
        self.fault_exempt: set[str] = set()

    async def handle(self, request: SandboxRequest) -> SandboxResponse:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1
        self.handled.append(request)
        path, _, query = request.path.partition("?")
        if path.endswith("/boom"):
            raise RuntimeError("emulator bug")
        if query.startswith("size="):
            size = int(query.removeprefix("size="))
            return SandboxResponse(status=200, body=bytes(i % 251 for i in range(size)))
        return json_response(
            200,
            {
                "method": request.method,
                "path": request.path,
                "headers": dict(request.headers),
                "body_length": len(request.body),
                "http_version": request.http_version,
                "connection_id": request.connection_id,
                "stream_id": request.stream_id,
            },
            {"x-echo": "1"},
        )

    def target_of(self, request: SandboxRequest) -> str | None:
        return request.path.partition("?")[0].rpartition("/")[2] or None

    def accepts_fault(self, request: SandboxRequest) -> bool:
        return self.target_of(request) not in self.fault_exempt

    def fault_response(self, fault: Fault, request: SandboxRequest) -> SandboxResponse:
        headers = {"retry-after": fault.retry_after} if fault.retry_after else {}
        return SandboxResponse(
            status=fault.status if fault.kind == "status" else 410,
            headers={"content-type": "application/json", **headers},
            body=json.dumps({"fault": fault.kind}).encode(),
        )


class ServerThread:
    """Runs one ``SandboxServer`` on a private event loop in a thread (``with ServerThread(...) as server``)."""

    def __init__(self, emulator: EchoEmulator, tls: SandboxTLS, *, faults: Faults | None = None, **options: object):
        self.emulator = emulator
        self.faults = faults or Faults()
        self._options = options
        self._tls = tls
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-sandbox-server")
        self.server: SandboxServer | None = None

    def __enter__(self) -> SandboxServer:
        self.thread.start()
        http1 = bool(self._options.get("allow_http1", False))
        server = SandboxServer(
            self.emulator,
            ssl_context=self._tls.server_context(http1=http1),
            faults=self.faults,
            **self._options,  # type: ignore[arg-type]
        )
        asyncio.run_coroutine_threadsafe(server.start(), self.loop).result(5)
        self.server = server
        return server

    def run(self, coroutine: object, timeout: float = 10.0) -> object:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)  # type: ignore[arg-type]

    def __exit__(self, *exc: object) -> None:
        try:
            if self.server is not None:
                self.run(self.server.close(grace=0.5))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.loop.close()


@dataclass(frozen=True)
class GoAway:
    """A GOAWAY frame as received."""

    last_stream_id: int
    error_code: int


@dataclass
class RawResponse:
    """What came back on one stream."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    ended: bool = False
    reset: int | None = None  # RST_STREAM error code


class RawH2Client:
    """One HTTP/2 connection; read with ``read_until``."""

    def __init__(self, port: int, ca_path: Path, *, host: str = "127.0.0.1") -> None:
        context = ssl.create_default_context(cafile=str(ca_path))
        context.set_alpn_protocols(["h2"])
        raw = socket.create_connection((host, port), timeout=5)
        self.sock = context.wrap_socket(raw, server_hostname=host)
        assert self.sock.selected_alpn_protocol() == "h2"
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.conn.initiate_connection()
        self.authority = f"{host}:{port}"
        self.remote_settings: dict[int, int] = {}
        self.responses: dict[int, RawResponse] = {}
        self.goaway: GoAway | None = None
        self.closed = False
        self._buffer = b""
        self.flush()

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(
        self, path: str, body: bytes = b"", *, method: str = "POST", headers: Iterable[tuple[str, str]] = ()
    ) -> int:
        """Open a stream with a complete request; returns its id."""
        stream_id = self.conn.get_next_available_stream_id()
        self.conn.send_headers(
            stream_id,
            [(":method", method), (":scheme", "https"), (":authority", self.authority), (":path", path), *headers],
            end_stream=not body,
        )
        if body:
            self.conn.send_data(stream_id, body, end_stream=True)
        self.responses[stream_id] = RawResponse()
        self.flush()
        return stream_id

    def reset(self, stream_id: int) -> None:
        """Cancel a stream (RST_STREAM CANCEL)."""
        self.conn.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
        self.flush()

    def read_until(self, done: Callable[[RawH2Client], bool], timeout: float = 5.0) -> None:
        """Read frames until ``done(self)`` or the connection closes; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while not done(self):
            if self.closed:
                return
            remaining = deadline - time.monotonic()
            assert remaining > 0, "timed out waiting for the server"
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except (ConnectionError, ssl.SSLError):
                data = b""
            if not data:
                self.closed = True
                return
            self._receive(data)
            self.flush()

    def _receive(self, data: bytes) -> None:
        # h2 (as a client too) stops accepting frames once it has seen a GOAWAY, but a graceful GOAWAY
        # is followed by the answers to the streams it kept. So GOAWAY frames are taken out here and
        # h2 only sees the rest. Frame layout: RFC 9113 section 4.1 (24-bit length, type, flags, id).
        self._buffer += data
        while len(self._buffer) >= 9:
            length = int.from_bytes(self._buffer[:3], "big")
            if len(self._buffer) < 9 + length:
                return
            frame, self._buffer = self._buffer[: 9 + length], self._buffer[9 + length :]
            if frame[3] == 0x7:  # GOAWAY: last-stream-id (31 bits), error code (RFC 9113 section 6.8)
                last = int.from_bytes(frame[9:13], "big") & 0x7FFFFFFF
                self.goaway = GoAway(last_stream_id=last, error_code=int.from_bytes(frame[13:17], "big"))
            else:
                self._handle(self.conn.receive_data(frame))

    def _handle(self, events: list[h2.events.Event]) -> None:
        for event in events:
            if isinstance(event, h2.events.RemoteSettingsChanged):
                for code, change in event.changed_settings.items():
                    self.remote_settings[int(code)] = change.new_value
            elif isinstance(event, h2.events.ResponseReceived):
                response = self.responses[event.stream_id]
                headers = {bytes(k).decode(): bytes(v).decode() for k, v in event.headers or ()}
                response.status = int(headers.pop(":status"))
                response.headers = headers
            elif isinstance(event, h2.events.DataReceived):
                self.responses[event.stream_id].body += event.data or b""
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                self.responses[event.stream_id].ended = True
            elif isinstance(event, h2.events.StreamReset):
                self.responses[event.stream_id].reset = int(event.error_code or 0)

    @property
    def max_concurrent_streams(self) -> int | None:
        """The server's advertised SETTINGS_MAX_CONCURRENT_STREAMS (None until seen)."""
        return self.remote_settings.get(h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS)

    def close(self) -> None:
        try:
            self.conn.close_connection()
            self.flush()
        except (OSError, h2.exceptions.ProtocolError):
            pass
        self.sock.close()

    def __enter__(self) -> RawH2Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
