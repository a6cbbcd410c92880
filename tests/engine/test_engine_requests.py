"""The engine against the sandbox's HTTP/2 server: responses, stream limits, flow control, HPACK."""

from __future__ import annotations

import asyncio
import hashlib
import ssl

import pytest
from h2.settings import SettingCodes

from unipush._engine import Engine, Response
from unipush._errors import TransportError
from unipush.sandbox._faults import Fault
from unipush.sandbox.server import SandboxServer

pytestmark = pytest.mark.anyio


async def send(
    engine: Engine, server: SandboxServer, request_id: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> Response:
    fields = {"x-id": request_id, **(headers or {})}
    return await engine.request("POST", f"{server.base_url}/echo/{request_id}", fields, body, timeout=10)


async def test_round_trip(engine: Engine, server: SandboxServer, echo) -> None:
    response = await send(engine, server, "one", b'{"hello":"world"}', {"Content-Type": "application/json"})

    assert response == Response(
        status=200,
        headers={"x-id": "one", "x-path": "/echo/one", "content-length": "17"},
        body=b'{"hello":"world"}',
    )
    assert echo.seen == {"one": 1}
    assert echo.headers[0]["content-type"] == "application/json"  # names go out lower-case


async def test_get_without_body_and_url_without_path(engine: Engine, server: SandboxServer, echo) -> None:
    response = await engine.request("GET", server.base_url, {"x-id": "root"}, b"", timeout=5)

    assert response.status == 200
    assert response.headers["x-path"] == "/"
    assert response.body == b""


async def test_connection_specific_headers_are_not_sent(engine: Engine, server: SandboxServer, echo) -> None:
    # RFC 9113 §8.2.2: a server must treat these as malformed; :authority replaces Host.
    await send(
        engine, server, "h", b"", {"Connection": "keep-alive", "Host": "elsewhere", "Transfer-Encoding": "chunked"}
    )

    assert not {"connection", "host", "transfer-encoding"} & set(echo.headers[0])


async def test_error_statuses_are_responses(engine: Engine, server: SandboxServer, faults) -> None:
    faults.add(Fault(kind="status", status=503, retry_after="7", target="busy"))

    response = await send(engine, server, "busy")

    assert response.status == 503
    assert response.headers["retry-after"] == "7"
    assert response.body == b"fault"


async def test_many_requests_never_exceed_the_servers_stream_limit(
    make_engine, server: SandboxServer, echo, faults
) -> None:
    faults.max_concurrent_streams["echo"] = 100
    engine = make_engine()

    responses = await asyncio.gather(*(send(engine, server, str(i), b"n%d" % i) for i in range(2000)))

    assert [r.body for r in responses] == [b"n%d" % i for i in range(2000)]
    assert len(echo.seen) == 2000
    assert set(echo.seen.values()) == {1}
    assert echo.max_in_flight == 100  # the limit was used, and never exceeded
    assert server.stats.connections == 1
    stats = engine.stats
    assert stats["requests"] == 2000
    assert stats["connections_opened"] == 1
    assert stats["in_flight"] == stats["queued_requests"] == stats["resends"] == 0


async def test_max_streams_cap_is_lower_than_the_server_limit(make_engine, server: SandboxServer, echo) -> None:
    engine = make_engine(max_streams_cap=7)

    await asyncio.gather(*(send(engine, server, str(i)) for i in range(200)))

    assert echo.max_in_flight == 7


async def test_a_lowered_limit_is_honoured_on_a_live_connection(engine: Engine, server: SandboxServer, echo) -> None:
    await send(engine, server, "first")
    # The server lowers SETTINGS_MAX_CONCURRENT_STREAMS mid-connection (RFC 9113 §6.5.2), as APNs
    # does after a rejected token. Reach into the sandbox's connection to send that SETTINGS frame.
    (protocol,) = server._connections
    protocol._h2.update_settings({SettingCodes.MAX_CONCURRENT_STREAMS: 3})  # type: ignore[union-attr]
    protocol._flush()  # type: ignore[union-attr]
    await send(engine, server, "after-settings")  # the SETTINGS frame is read before this answer
    echo.max_in_flight = 0
    echo.delay = 0.01

    await asyncio.gather(*(send(engine, server, str(i)) for i in range(60)))

    assert echo.max_in_flight == 3
    assert server.stats.connections == 1


async def test_connections_per_origin_spreads_load(make_engine, server: SandboxServer, echo, faults) -> None:
    faults.max_concurrent_streams["echo"] = 5
    echo.delay = 0.02
    engine = make_engine(connections_per_origin=3)

    await asyncio.gather(*(send(engine, server, str(i)) for i in range(150)))

    assert server.stats.connections == 3
    assert echo.max_in_flight == 15
    assert engine.stats["connections_opened"] == 3
    assert engine.stats["reconnects"] == 0


async def test_large_bodies_both_ways_wait_for_window_updates(make_engine, server: SandboxServer, echo) -> None:
    engine = make_engine(max_response_body=2 << 20)  # far above what providers answer: the default refuses it
    # 24 uploads of 1 MiB overrun the server's 16 MiB connection window, so sending must pause for
    # its WINDOW_UPDATEs; the 24 MiB echoed back overrun our 1 MiB connection window and 64 KiB
    # stream windows many times, so we must acknowledge what we read.
    bodies = [bytes([i]) * (1 << 20) for i in range(24)]

    responses = await asyncio.gather(*(send(engine, server, str(i), body) for i, body in enumerate(bodies)))

    assert [hashlib.sha256(r.body).digest() for r in responses] == [hashlib.sha256(b).digest() for b in bodies]
    assert engine.stats["in_flight"] == 0


async def test_a_large_response_to_a_small_request(make_engine, server: SandboxServer) -> None:
    engine = make_engine(max_response_body=6 << 20)
    response = await send(engine, server, "big", b"", {"x-size": str(5 * 1024 * 1024 + 3)})

    assert response.body == bytes(i % 251 for i in range(5 * 1024 * 1024 + 3))


async def test_authorization_and_path_stay_out_of_the_hpack_table(engine: Engine, server: SandboxServer, echo) -> None:
    # Apple's advice: send :path (the device token) and authorization (the JWT) as literals
    # without indexing; apns-id is unique per request, so indexing it would only churn the table.
    # Everything else may be indexed. Checked where it counts: the server's HPACK decoder, whose
    # dynamic table holds exactly what the client's encoder told it to index (RFC 7541 §2.3.2).
    tokens = ["bearer first-token", "bearer first-token", "bearer second-token", "bearer first-token"]
    for number, token in enumerate(tokens):
        headers = {"authorization": token, "apns-topic": "com.example.app", "apns-id": f"id-{number}"}
        response = await engine.request("POST", f"{server.base_url}/3/device/{number}", headers, b"{}", timeout=5)
        assert response.headers["x-path"] == f"/3/device/{number}"

    assert [seen["authorization"] for seen in echo.headers] == tokens  # every encoding decodes right

    (protocol,) = server._connections
    table = {name for name, _ in protocol._h2.decoder.header_table.dynamic_entries}  # type: ignore[union-attr]
    assert b"apns-topic" in table
    assert b"authorization" not in table
    assert b":path" not in table
    assert b"apns-id" not in table


async def test_each_origin_gets_its_own_connection(engine: Engine, server: SandboxServer, sandbox_tls, echo) -> None:
    other = SandboxServer(echo, ssl_context=sandbox_tls.server_context())
    await other.start()
    try:
        first = await send(engine, server, "1")
        second = await engine.request("POST", f"{other.base_url}/echo/2", {"x-id": "2"}, b"", timeout=5)
        # Same origin spelled with "localhost": another pool, since the authority differs.
        third = await engine.request("POST", f"https://localhost:{server.port}/echo/3", {"x-id": "3"}, b"", timeout=5)
    finally:
        await engine.aclose()
        await other.close(grace=0.2)

    assert first.status == second.status == third.status == 200
    assert server.stats.connections == 2
    assert other.stats.connections == 1
    assert engine.stats["connections_opened"] == 3


async def test_a_relative_url_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="not an absolute"):
        await engine.request("POST", "ftp://example.com/x", {}, b"", timeout=1)


def test_an_engine_belongs_to_one_event_loop(client_context: ssl.SSLContext, closed_port: int) -> None:
    engine = Engine(ssl_context=client_context, max_connect_attempts=1)

    async def use() -> None:
        with pytest.raises(TransportError):  # nothing listens there
            await engine.request("GET", f"https://127.0.0.1:{closed_port}/", {}, b"", timeout=5)

    asyncio.run(use())
    with pytest.raises(RuntimeError, match="another event loop"):
        asyncio.run(engine.request("GET", f"https://127.0.0.1:{closed_port}/", {}, b"", timeout=1))


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("connect_timeout", 0),
        ("connections_per_origin", 0),
        ("max_streams_cap", 0),
        ("idle_ping_interval", -1),
        ("max_connect_attempts", 0),
        ("ping_timeout", 0),
        ("max_response_body", -1),
    ],
)
def test_options_are_checked(client_context: ssl.SSLContext, option: str, value: float) -> None:
    with pytest.raises(ValueError, match=option):
        Engine(ssl_context=client_context, **{option: value})  # type: ignore[arg-type]


async def test_cleartext_http2_with_prior_knowledge(make_engine, echo) -> None:
    # With cleartext_http2, http:// URLs skip TLS and start HTTP/2 directly (RFC 9113 §3.3).
    engine = make_engine(cleartext_http2=True)
    # The sandbox only listens with TLS, so serve its protocol from a plain listener.
    plain = SandboxServer(echo, ssl_context=None)  # type: ignore[arg-type]
    listener = await asyncio.get_running_loop().create_server(plain._accept, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        response = await engine.request("POST", f"http://127.0.0.1:{port}/echo/x", {"x-id": "x"}, b"hi", timeout=5)
    finally:
        await engine.aclose()
        listener.close()
        await listener.wait_closed()

    assert response.body == b"hi"
    assert echo.seen == {"x": 1}
