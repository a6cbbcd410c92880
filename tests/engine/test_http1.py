"""The engine's HTTP/1.1 path, against the standard library's HTTP/1.1 server (``tests/http1_server.py``).

Each test talks over a real socket to a server we did not write: TLS with ALPN ``http/1.1``, or plain
``http://``. What is pinned down: the protocol is chosen by ALPN, connections are kept alive and
reused, at most ``http1_connections_per_origin`` are opened, and timeouts, the response-body limit,
a lost connection and a protocol mismatch each end in a ``TransportError`` that says what happened and
whether the request may have been processed.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator

import h2.config
import h2.connection
import pytest
from tests.http1_server import Http1Server, http1_server

import unipush
from unipush._engine import Engine
from unipush.sandbox._tls import SandboxTLS

pytestmark = pytest.mark.anyio


@pytest.fixture
def tls_server(sandbox_tls: SandboxTLS) -> Iterator[Http1Server]:
    with http1_server(sandbox_tls.cert_path, sandbox_tls.key_path) as server:
        yield server


@pytest.fixture
def plain_server() -> Iterator[Http1Server]:
    with http1_server(None, None) as server:
        yield server


async def test_alpn_http11_is_served_over_keep_alive_connections(
    tls_server: Http1Server, client_context: ssl.SSLContext
) -> None:
    engine = Engine(ssl_context=client_context)
    try:
        responses = [
            await engine.request("POST", f"{tls_server.base_url}/echo/{i}", {"x-n": str(i)}, b"body-%d" % i, timeout=5)
            for i in range(5)
        ]
    finally:
        await engine.aclose()

    assert [(r.status, r.body, r.headers["x-echo"]) for r in responses] == [
        (200, b"body-%d" % i, str(i)) for i in range(5)
    ]
    assert len(tls_server.connections()) == 1  # one connection, kept alive for all five
    first = tls_server.received[0]
    assert first.version == "HTTP/1.1"
    assert first.headers["host"] == tls_server.base_url.removeprefix("https://")
    assert first.headers["x-n"] == "0"
    assert first.headers["content-length"] == "6"


async def test_concurrent_requests_use_at_most_the_pool_size(
    tls_server: Http1Server, client_context: ssl.SSLContext
) -> None:
    engine = Engine(ssl_context=client_context, http1_connections_per_origin=3)
    try:
        responses = await asyncio.gather(
            *(engine.request("POST", f"{tls_server.base_url}/echo/{i}", {}, b"%d" % i, timeout=10) for i in range(40))
        )
        stats = engine.stats
    finally:
        await engine.aclose()

    assert sorted(int(r.body) for r in responses) == list(range(40))
    assert 1 < len(tls_server.connections()) <= 3
    assert stats["connections_opened"] == len(tls_server.connections())


async def test_connection_close_responses_open_a_new_connection_each(
    tls_server: Http1Server, client_context: ssl.SSLContext
) -> None:
    engine = Engine(ssl_context=client_context)
    try:
        for i in range(3):
            response = await engine.request("POST", f"{tls_server.base_url}/close/{i}", {}, b"x", timeout=5)
            assert response.status == 200
    finally:
        await engine.aclose()

    assert len(tls_server.connections()) == 3  # RFC 9112 §9.6: "close" ends each connection


async def test_a_chunked_response_is_read_whole(tls_server: Http1Server, client_context: ssl.SSLContext) -> None:
    engine = Engine(ssl_context=client_context)
    try:
        response = await engine.request("GET", f"{tls_server.base_url}/chunked/x", {}, b"", timeout=5)
    finally:
        await engine.aclose()

    assert response.body == b"chunk-one,chunk-two"


async def test_a_body_delimited_by_the_close_is_read_whole(
    tls_server: Http1Server, client_context: ssl.SSLContext
) -> None:
    engine = Engine(ssl_context=client_context)
    try:
        response = await engine.request("GET", f"{tls_server.base_url}/until-close", {}, b"", timeout=5)
        after = await engine.request("POST", f"{tls_server.base_url}/echo/after", {}, b"next", timeout=5)
    finally:
        await engine.aclose()

    assert response.body == b"read until the close"
    assert after.body == b"next"  # on a new connection: the first one ended with its body


async def test_error_statuses_are_answers_not_errors(tls_server: Http1Server, client_context: ssl.SSLContext) -> None:
    engine = Engine(ssl_context=client_context)
    try:
        gone = await engine.request("POST", f"{tls_server.base_url}/status/410", {}, b"", timeout=5)
        after = await engine.request("POST", f"{tls_server.base_url}/echo/after", {}, b"ok", timeout=5)
    finally:
        await engine.aclose()

    assert (gone.status, gone.body) == (410, b'{"error": "scripted"}')
    assert after.body == b"ok"
    assert len(tls_server.connections()) == 1


async def test_a_body_over_the_limit_fails_and_the_pool_keeps_serving(
    tls_server: Http1Server, client_context: ssl.SSLContext
) -> None:
    engine = Engine(ssl_context=client_context)
    try:
        with pytest.raises(unipush.TransportError, match="over the limit of 262144 bytes") as caught:
            await engine.request("GET", f"{tls_server.base_url}/big", {}, b"", timeout=5)
        after = await engine.request("POST", f"{tls_server.base_url}/echo/after", {}, b"still", timeout=5)
    finally:
        await engine.aclose()

    assert caught.value.maybe_processed is True
    assert after.body == b"still"
    assert len(tls_server.connections()) == 2  # the connection with the unread rest was dropped


async def test_a_timeout_closes_that_connection_only(tls_server: Http1Server, client_context: ssl.SSLContext) -> None:
    engine = Engine(ssl_context=client_context)
    try:
        with pytest.raises(unipush.TimeoutError, match="no response from") as caught:
            await engine.request("POST", f"{tls_server.base_url}/slow/1.5", {}, b"", timeout=0.3)
        after = await engine.request("POST", f"{tls_server.base_url}/echo/after", {}, b"next", timeout=5)
    finally:
        await engine.aclose()

    assert caught.value.maybe_processed is True  # it was sent: the server may act on it
    assert after.body == b"next"


async def test_a_request_queued_behind_a_busy_connection_times_out_as_unsent(
    tls_server: Http1Server, client_context: ssl.SSLContext
) -> None:
    engine = Engine(ssl_context=client_context, http1_connections_per_origin=1)
    try:
        slow = asyncio.ensure_future(engine.request("POST", f"{tls_server.base_url}/slow/0.6", {}, b"", timeout=5))
        await asyncio.sleep(0.2)
        with pytest.raises(unipush.TimeoutError, match="no free stream or connection") as caught:
            await engine.request("POST", f"{tls_server.base_url}/echo/q", {}, b"", timeout=0.1)
        assert (await slow).body == b"late"
    finally:
        await engine.aclose()

    assert caught.value.maybe_processed is False
    assert [r.path for r in tls_server.received] == ["/slow/0.6"]  # the queued one never went out


async def test_a_connection_dropped_without_an_answer_may_have_been_processed(
    tls_server: Http1Server, client_context: ssl.SSLContext
) -> None:
    engine = Engine(ssl_context=client_context)
    try:
        await engine.request("POST", f"{tls_server.base_url}/echo/warm", {}, b"", timeout=5)
        with pytest.raises(unipush.TransportError, match=r"closed the HTTP/1\.1 connection before answering") as caught:
            await engine.request("POST", f"{tls_server.base_url}/drop", {}, b"", timeout=5)
        after = await engine.request("POST", f"{tls_server.base_url}/echo/after", {}, b"again", timeout=5)
    finally:
        await engine.aclose()

    assert caught.value.maybe_processed is True
    assert after.body == b"again"


async def test_http_origins_speak_http11_by_default(plain_server: Http1Server, client_context: ssl.SSLContext) -> None:
    engine = Engine(ssl_context=client_context)
    try:
        response = await engine.request("POST", f"{plain_server.base_url}/echo/plain", {}, b"clear", timeout=5)
    finally:
        await engine.aclose()

    assert response.body == b"clear"
    assert plain_server.received[0].version == "HTTP/1.1"


async def test_prior_knowledge_http2_against_an_http11_server_names_both_protocols(
    plain_server: Http1Server, client_context: ssl.SSLContext
) -> None:
    engine = Engine(ssl_context=client_context, cleartext_http2=True)
    try:
        with pytest.raises(unipush.TransportError, match=r"answered in HTTP/1\.1 to cleartext HTTP/2") as caught:
            await engine.request("POST", f"{plain_server.base_url}/echo/x", {}, b"", timeout=5)
    finally:
        await engine.aclose()

    assert caught.value.maybe_processed is False
    assert engine.stats["connect_failures"] == 1  # not retried: another try would not change it


async def test_http11_against_a_cleartext_http2_server_names_both_protocols(client_context: ssl.SSLContext) -> None:
    async def http2_only(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # RFC 9113 §3.4: the server's preface (SETTINGS) goes first, whatever the client sent.
        h2c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        h2c.initiate_connection()
        writer.write(h2c.data_to_send())
        await writer.drain()
        await reader.read(65536)
        writer.close()

    server = await asyncio.start_server(http2_only, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    engine = Engine(ssl_context=client_context, max_connect_attempts=2)
    try:
        with pytest.raises(unipush.TransportError, match=r"speaks HTTP/2.*set cleartext_http2=True") as caught:
            await engine.request("POST", f"http://127.0.0.1:{port}/x", {}, b"", timeout=5)
    finally:
        await engine.aclose()
        server.close()
        await server.wait_closed()

    assert caught.value.maybe_processed is False
    assert engine.stats["connect_failures"] == 2  # both attempts (max_connect_attempts=2), then it gave up


async def test_a_closed_port_fails_after_the_connect_attempts(client_context: ssl.SSLContext, closed_port: int) -> None:
    engine = Engine(ssl_context=client_context, max_connect_attempts=2)
    try:
        with pytest.raises(unipush.TransportError, match=r"cannot connect to 127\.0\.0\.1") as caught:
            await engine.request("POST", f"http://127.0.0.1:{closed_port}/x", {}, b"", timeout=10)
    finally:
        await engine.aclose()

    assert caught.value.maybe_processed is False


async def test_idle_connections_are_closed_before_the_server_would(
    tls_server: Http1Server, client_context: ssl.SSLContext
) -> None:
    engine = Engine(ssl_context=client_context, http1_idle_timeout=0.1)
    try:
        await engine.request("POST", f"{tls_server.base_url}/echo/1", {}, b"", timeout=5)
        await asyncio.sleep(0.3)
        open_after_idle = engine.stats["open_connections"]
        await engine.request("POST", f"{tls_server.base_url}/echo/2", {}, b"", timeout=5)
    finally:
        await engine.aclose()

    assert open_after_idle == 0
    assert len(tls_server.connections()) == 2


async def test_close_fails_what_is_in_flight_and_refuses_more(
    tls_server: Http1Server, client_context: ssl.SSLContext
) -> None:
    engine = Engine(ssl_context=client_context)
    slow = asyncio.ensure_future(engine.request("POST", f"{tls_server.base_url}/slow/1", {}, b"", timeout=5))
    await asyncio.sleep(0.2)
    await engine.aclose()
    with pytest.raises(unipush.TransportError, match="closed while this request was in flight") as caught:
        await slow
    assert caught.value.maybe_processed is True
    with pytest.raises(unipush.TransportError, match="the engine is closed"):
        await engine.request("POST", f"{tls_server.base_url}/echo/x", {}, b"", timeout=5)
