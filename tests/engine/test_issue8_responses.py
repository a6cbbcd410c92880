"""Issue 8, items 6 and 7: what the engine does with responses it must not believe.

A raw h2 server (TLS, real socket) answers what the sandbox never would: a body that never ends or is
50 MB long, a ``:status`` that is missing, not three digits, out of range or sent twice. h2's server
side checks the headers it sends unless told not to, so this server turns that off.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Callable

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import httpx
import pytest
from h2.errors import ErrorCodes

import unipush
from unipush._engine import MAX_RESPONSE_BODY, Engine, Response
from unipush._transport import HttpxTransport
from unipush.sandbox._tls import SandboxTLS

pytestmark = pytest.mark.anyio

_CHUNK = bytes(range(256)) * 64  # 16 KiB, the default SETTINGS_MAX_FRAME_SIZE


class _RawProtocol(asyncio.Protocol):
    """One connection of ``RawServer``: answers by path, sends bodies as fast as the windows allow.

    ``GET /endless`` never ends its body; ``/size/<n>`` sends ``n`` bytes; ``/head`` sends the header
    block given as JSON in the request's ``x-head`` field (pairs of name and value), then ``{}`` unless
    ``x-body: none``.
    """

    def __init__(self, server: RawServer) -> None:
        self._server = server
        self._h2 = h2.connection.H2Connection(
            config=h2.config.H2Configuration(
                client_side=False,
                header_encoding=None,
                validate_outbound_headers=False,
                normalize_outbound_headers=False,
                validate_inbound_headers=False,
            )
        )
        self._transport: asyncio.Transport | None = None
        self._remaining: dict[int, int | None] = {}  # stream -> body bytes still to send (None: endless)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._server.connections += 1
        self._h2.initiate_connection()
        transport.write(self._h2.data_to_send())

    def data_received(self, data: bytes) -> None:
        for event in self._h2.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                assert event.stream_id is not None
                assert event.headers is not None
                self._answer(event.stream_id, dict(event.headers))
            elif isinstance(event, h2.events.DataReceived):
                assert event.stream_id is not None
                assert event.flow_controlled_length is not None
                self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                assert event.stream_id is not None
                self._remaining.pop(event.stream_id, None)
                self._server.resets.append(ErrorCodes(event.error_code))
            elif isinstance(event, h2.events.WindowUpdated):
                self._pump()
        self._flush()

    def _answer(self, stream_id: int, headers: dict[bytes, bytes]) -> None:
        path = headers[b":path"].decode()
        if path == "/head":
            head = [(name.encode(), value.encode()) for name, value in json.loads(headers[b"x-head"])]
            self._h2.send_headers(stream_id, head)
            if headers.get(b"x-body") != b"none":  # "none": the client must act on the headers alone
                self._h2.send_data(stream_id, b"{}", end_stream=True)
            return
        self._h2.send_headers(stream_id, [(b":status", b"200")])
        self._remaining[stream_id] = None if path == "/endless" else int(path.removeprefix("/size/"))
        self._pump()

    def _pump(self) -> None:
        """Send what the connection and stream windows allow (RFC 9113 §5.2), as a server should."""
        for stream_id, remaining in list(self._remaining.items()):
            while remaining is None or remaining > 0:
                window = self._h2.local_flow_control_window(stream_id)
                size = min(window, len(_CHUNK)) if remaining is None else min(window, len(_CHUNK), remaining)
                if size <= 0:
                    break
                remaining = None if remaining is None else remaining - size
                try:
                    self._h2.send_data(stream_id, _CHUNK[:size], end_stream=remaining == 0)
                except h2.exceptions.StreamClosedError:  # reset by the client: its event comes later
                    remaining = 0
                    break
                self._server.sent[stream_id] = self._server.sent.get(stream_id, 0) + size
            if remaining == 0:
                del self._remaining[stream_id]
            else:
                self._remaining[stream_id] = remaining

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


class RawServer:
    """A TLS + HTTP/2 server on a free local port; counts connections, body bytes sent, resets received."""

    def __init__(self) -> None:
        self.connections = 0
        self.sent: dict[int, int] = {}  # stream id -> body bytes sent (one connection per test)
        self.resets: list[ErrorCodes] = []
        self.url = ""


@pytest.fixture
async def raw_server(sandbox_tls: SandboxTLS) -> AsyncIterator[RawServer]:
    state = RawServer()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _RawProtocol(state), "127.0.0.1", 0, ssl=sandbox_tls.server_context())
    state.url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    yield state
    server.close()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(server.wait_closed(), 2)


@pytest.fixture
async def raw_engine(client_context: ssl.SSLContext) -> AsyncIterator[Callable[..., Engine]]:
    engines: list[Engine] = []

    def make(**options: object) -> Engine:
        options.setdefault("ssl_context", client_context)
        engine = Engine(**options)  # type: ignore[arg-type]
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.aclose()


async def get(engine: Engine, server: RawServer, path: str, headers: dict[str, str] | None = None) -> Response:
    return await engine.request("GET", server.url + path, headers or {}, b"", timeout=10)


# -- item 6: the body limit ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/endless", f"/size/{50 * 1024 * 1024}"])
async def test_an_oversized_body_is_a_transport_error_and_is_not_buffered(
    raw_engine: Callable[..., Engine], raw_server: RawServer, path: str
) -> None:
    engine = raw_engine()

    with pytest.raises(unipush.TransportError) as caught:
        await get(engine, raw_server, path)

    error = caught.value
    assert f"over the limit of {MAX_RESPONSE_BODY} bytes" in str(error)
    assert error.maybe_processed  # the server answered: it had the request
    # What was read stops within one frame of the limit...
    received = int(str(error).split("(")[1].split(" bytes received")[0])
    assert MAX_RESPONSE_BODY < received <= MAX_RESPONSE_BODY + len(_CHUNK)
    # ...and the server could send no more than one stream window past it: the stream was reset
    # (CANCEL) and its window was never handed back, so the other 49.7 MB never left the server.
    response = await get(engine, raw_server, "/size/100")  # the reset reached the server before this
    assert response.status == 200
    assert len(response.body) == 100
    assert raw_server.resets == [ErrorCodes.CANCEL]
    assert raw_server.sent[1] <= received + 65535
    assert raw_server.connections == 1
    assert engine.stats["connections_opened"] == 1


async def test_oversized_bodies_do_not_use_up_the_connection_window(
    raw_engine: Callable[..., Engine], raw_server: RawServer
) -> None:
    # Ten refused bodies carry ~3 MiB, three times the engine's 1 MiB connection window: any byte of
    # them not handed back to the connection would pile up until no DATA at all could arrive.
    engine = raw_engine()

    results = await asyncio.gather(*(get(engine, raw_server, "/endless") for _ in range(10)), return_exceptions=True)
    assert all(isinstance(r, unipush.TransportError) and "over the limit" in str(r) for r in results)

    # Then 1.5 MiB of ordinary answers on the same connection, each well under the limit.
    answers = await asyncio.gather(*(get(engine, raw_server, f"/size/{200_000 + i}") for i in range(8)))
    assert [len(r.body) for r in answers] == [200_000 + i for i in range(8)]
    assert raw_server.connections == 1
    assert engine.stats["in_flight"] == 0


async def test_the_limit_is_exact_and_configurable(raw_engine: Callable[..., Engine], raw_server: RawServer) -> None:
    engine = raw_engine(max_response_body=1000)

    assert len((await get(engine, raw_server, "/size/1000")).body) == 1000
    with pytest.raises(unipush.TransportError, match="over the limit of 1000 bytes"):
        await get(engine, raw_server, "/size/1001")  # one frame, already over: refused on its first DATA
    assert len((await get(engine, raw_server, "/size/10")).body) == 10


# -- item 7: malformed :status -------------------------------------------------------------------

MALFORMED = {
    "missing": ([("content-type", "application/json")], "no :status"),
    "letters": ([(":status", "2oo")], "'2oo' is not a three-digit"),
    "two digits": ([(":status", "99")], "'99' is not a three-digit"),
    "below 100": ([(":status", "099")], "'099' is not a three-digit"),
    "above 599": ([(":status", "600")], "'600' is not a three-digit"),
    "four digits": ([(":status", "2000")], "'2000' is not a three-digit"),
    # h2 takes a :status starting with "1" for an informational response: nothing may follow it here,
    # or h2 makes the DATA a connection error (see the test after this one).
    "four digits from 1": ([(":status", "1000")], "'1000' is not a three-digit"),
    "letters from 1": ([(":status", "1oo")], "'1oo' is not a three-digit"),
    "one digit 1": ([(":status", "1")], "'1' is not a three-digit"),
    "empty": ([(":status", "")], "'' is not a three-digit"),
    "signed": ([(":status", "+20")], "'+20' is not a three-digit"),
    "spaces": ([(":status", " 200")], "' 200' is not a three-digit"),
    "duplicated": ([(":status", "200"), (":status", "200")], "2 :status fields"),
    "duplicated, different": ([(":status", "200"), (":status", "404")], "2 :status fields"),
    "after a field": ([("x-a", "1"), (":status", "200")], ":status after a regular field"),
    "request pseudo-header": ([(":status", "200"), (":path", "/")], "pseudo-header :path in a response"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_a_malformed_status_is_a_transport_error(
    raw_engine: Callable[..., Engine], raw_server: RawServer, case: str
) -> None:
    head, problem = MALFORMED[case]
    engine = raw_engine()

    fields = {"x-head": json.dumps(head)}
    if head[0][1].startswith("1"):
        fields["x-body"] = "none"

    with pytest.raises(unipush.TransportError) as caught:
        await get(engine, raw_server, "/head", fields)

    error = caught.value
    assert not isinstance(error, unipush.ProviderError)
    assert "malformed response" in str(error)
    assert "RFC 9113 §8.3.2" in str(error)
    assert problem in str(error)
    assert error.maybe_processed  # the request reached the server; its answer is unreadable
    # A stream error, not a connection error: the same connection goes on serving.
    ok = await get(engine, raw_server, "/head", {"x-head": json.dumps([(":status", "201"), ("x-b", "2")])})
    assert (ok.status, ok.headers, ok.body) == (201, {"x-b": "2"}, b"{}")
    assert raw_server.connections == 1


async def test_a_bogus_informational_status_followed_by_data_is_a_transport_error(
    raw_engine: Callable[..., Engine], raw_server: RawServer
) -> None:
    # h2 raises a connection error for DATA after what it took for a 1xx (RFC 9113 §5.4.1 allows
    # treating a stream error so); the request still ends as a TransportError, and the engine reconnects.
    engine = raw_engine()

    with pytest.raises(unipush.TransportError) as caught:
        await get(engine, raw_server, "/head", {"x-head": json.dumps([(":status", "1000")])})

    assert not isinstance(caught.value, unipush.ProviderError)
    assert caught.value.maybe_processed
    assert (await get(engine, raw_server, "/size/3")).body == _CHUNK[:3]


async def test_a_huge_status_value_is_quoted_short(raw_engine: Callable[..., Engine], raw_server: RawServer) -> None:
    engine = raw_engine()

    with pytest.raises(unipush.TransportError) as caught:
        await get(engine, raw_server, "/head", {"x-head": json.dumps([(":status", "2" * 10_000)])})

    assert "(10000 characters)" in str(caught.value)
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize("status", ["2oo", "99", "600", "1000"])
async def test_a_malformed_status_through_httpx_is_a_transport_error(
    client_context: ssl.SSLContext, raw_server: RawServer, status: str
) -> None:
    # http_client= bypasses the engine: the same answer must end the same way.
    async with httpx.AsyncClient(http2=True, verify=client_context) as http:
        transport = HttpxTransport(http)
        with pytest.raises(unipush.TransportError) as caught:
            await transport.request(
                "GET", raw_server.url + "/head", {"x-head": json.dumps([(":status", status)])}, b"", timeout=10
            )

    assert not isinstance(caught.value, unipush.ProviderError)
