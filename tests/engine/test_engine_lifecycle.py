"""Connecting, liveness and shutdown: backoff, ALPN, PING, aclose, and nothing left behind."""

from __future__ import annotations

import asyncio
import gc
import ssl
import threading
import time
from collections.abc import AsyncIterator

import pytest

import unipush
from unipush._engine import Engine, Response, _config
from unipush._engine._connection import Connection
from unipush.sandbox._tls import SandboxTLS
from unipush.sandbox.server import SandboxServer

pytestmark = pytest.mark.anyio


async def send(engine: Engine, server: SandboxServer, request_id: str, *, timeout: float = 10) -> Response:
    return await engine.request(
        "POST", f"{server.base_url}/echo/{request_id}", {"x-id": request_id}, b"", timeout=timeout
    )


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_config, "_BACKOFF_BASE", 0.01)


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A port that accepts TCP connections and then never says a word (no TLS handshake)."""
    writers: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    listener = await asyncio.start_server(accept, "127.0.0.1", 0)
    yield int(listener.sockets[0].getsockname()[1])
    for writer in writers:
        writer.close()
    listener.close()
    await listener.wait_closed()


@pytest.mark.usefixtures("fast_backoff")
async def test_connection_refused_fails_after_every_attempt(client_context: ssl.SSLContext, closed_port: int) -> None:
    engine = Engine(ssl_context=client_context, max_connect_attempts=3)
    try:
        # No count in the engine's message: the sender quotes the one count its result has.
        with pytest.raises(unipush.TransportError, match=r"^cannot connect to 127\.0\.0\.1") as caught:
            await engine.request("POST", f"https://127.0.0.1:{closed_port}/x", {}, b"", timeout=5)
    finally:
        await engine.aclose()

    assert caught.value.maybe_processed is False
    assert isinstance(caught.value.__cause__, OSError)
    assert engine.stats["connect_failures"] == 3


@pytest.mark.usefixtures("fast_backoff")
async def test_a_connect_that_hangs_times_out(client_context: ssl.SSLContext, silent_port: int) -> None:
    engine = Engine(ssl_context=client_context, connect_timeout=0.1, max_connect_attempts=2)
    started = time.monotonic()
    try:
        with pytest.raises(unipush.TransportError, match="timed out") as caught:
            await engine.request("POST", f"https://127.0.0.1:{silent_port}/x", {}, b"", timeout=5)
    finally:
        await engine.aclose()

    assert caught.value.maybe_processed is False
    assert engine.stats["connect_failures"] == 2
    assert time.monotonic() - started < 1.0


async def test_a_server_without_http2_is_served_over_http1(
    client_context: ssl.SSLContext, sandbox_tls: SandboxTLS, echo
) -> None:
    # Once refused ("does not speak HTTP/2"); since ALPN offers http/1.1 too, such a server is served.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sandbox_tls.cert_path, sandbox_tls.key_path)
    context.set_alpn_protocols(["http/1.1"])
    http1 = SandboxServer(echo, ssl_context=context, allow_http1=True)
    await http1.start()
    engine = Engine(ssl_context=client_context)
    try:
        response = await engine.request("POST", f"{http1.base_url}/echo/x", {"x-id": "x"}, b"hi", timeout=5)
        second = await engine.request("POST", f"{http1.base_url}/echo/y", {"x-id": "y"}, b"hi", timeout=5)
    finally:
        await engine.aclose()
        await http1.close(grace=0.2)

    assert (response.status, second.status) == (200, 200)
    assert engine.stats["connect_failures"] == 0
    assert engine.stats["connections_opened"] == 1  # the second request reused the connection


async def test_an_untrusted_certificate_is_not_retried(server: SandboxServer) -> None:
    engine = Engine(ssl_context=ssl.create_default_context())  # system roots: the sandbox CA is unknown
    try:
        with pytest.raises(unipush.TransportError) as caught:
            await send(engine, server, "x")
    finally:
        await engine.aclose()

    assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)
    assert engine.stats["connect_failures"] == 1


async def test_the_engine_offers_only_h2(client_context: ssl.SSLContext, sandbox_tls: SandboxTLS, echo) -> None:
    # A server that also speaks HTTP/1.1 would pick it from this offer; the engine replaces it.
    client_context.set_alpn_protocols(["http/1.1"])
    both = SandboxServer(echo, ssl_context=sandbox_tls.server_context(http1=True), allow_http1=True)
    await both.start()
    engine = Engine(ssl_context=client_context)
    try:
        response = await engine.request("POST", f"{both.base_url}/x", {"x-id": "1"}, b"", timeout=5)
    finally:
        await engine.aclose()
        await both.close(grace=0.2)

    assert response.status == 200


async def test_idle_connections_are_pinged(make_engine, server: SandboxServer) -> None:
    engine = make_engine(idle_ping_interval=0.05)
    await send(engine, server, "a")

    await asyncio.sleep(0.35)

    assert engine.stats["pings_sent"] >= 2
    assert (await send(engine, server, "b")).status == 200
    assert engine.stats["connections_opened"] == 1
    assert engine.stats["dead_connections"] == 0


async def test_busy_connections_are_not_pinged(make_engine, server: SandboxServer) -> None:
    engine = make_engine(idle_ping_interval=0.2)
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        await send(engine, server, "busy")
        await asyncio.sleep(0.02)

    assert engine.stats["pings_sent"] == 0


async def test_a_connection_that_stops_answering_pings_is_replaced(make_engine, server: SandboxServer) -> None:
    engine = make_engine(idle_ping_interval=0.05, ping_timeout=0.1)
    await send(engine, server, "a")
    (protocol,) = server._connections
    protocol.data_received = lambda data: None  # type: ignore[method-assign]  # a black hole

    await asyncio.sleep(0.4)

    assert engine.stats["dead_connections"] == 1
    assert engine.stats["open_connections"] == 0
    assert (await send(engine, server, "b")).status == 200
    assert engine.stats["connections_opened"] == 2


async def test_aclose_fails_in_flight_and_queued_requests(make_engine, server: SandboxServer, echo, faults) -> None:
    faults.max_concurrent_streams["echo"] = 1
    echo.delay = 5.0
    engine = make_engine()
    requests = [asyncio.ensure_future(send(engine, server, str(i))) for i in range(3)]
    await asyncio.sleep(0.1)

    await engine.aclose()
    results = await asyncio.gather(*requests, return_exceptions=True)

    assert all(isinstance(e, unipush.TransportError) for e in results), results
    assert [e.maybe_processed for e in results] == [True, False, False]  # type: ignore[union-attr]
    assert engine.stats["open_connections"] == 0
    await engine.aclose()  # idempotent
    with pytest.raises(unipush.TransportError, match="closed"):
        await send(engine, server, "late")


async def test_aclose_while_connecting(client_context: ssl.SSLContext, silent_port: int) -> None:
    engine = Engine(ssl_context=client_context)
    request = asyncio.ensure_future(engine.request("POST", f"https://127.0.0.1:{silent_port}/x", {}, b"", timeout=None))
    await asyncio.sleep(0.1)

    await engine.aclose()

    with pytest.raises(unipush.TransportError, match="closed"):
        await request
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    assert not [t for t in others if "_connect" in repr(t)]


def test_nothing_is_left_running_or_unclosed(sandbox_tls: SandboxTLS, echo) -> None:
    """A whole life in one asyncio.run: the loop ends promptly and no transport is left unclosed."""

    async def life() -> set[asyncio.Task[object]]:
        server = SandboxServer(echo, ssl_context=sandbox_tls.server_context())
        await server.start()
        context = ssl.create_default_context(cafile=str(sandbox_tls.ca_path))
        engine = Engine(ssl_context=context, idle_ping_interval=0.01, connections_per_origin=2)
        await asyncio.gather(*(send(engine, server, str(i)) for i in range(300)))
        await asyncio.sleep(0.05)  # a few PING rounds
        await engine.aclose()
        # No timer of ours is left armed (idle PING, PING deadline).
        scheduled = asyncio.get_running_loop()._scheduled  # type: ignore[attr-defined]
        assert not [h for h in scheduled if not h.cancelled() and isinstance(h._callback.__self__, Connection)]
        await server.close(grace=0.2)
        return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}

    started = time.monotonic()
    leftover = asyncio.run(life())
    gc.collect()  # an unclosed transport would warn here (ResourceWarning -> error under -W error)

    assert leftover == set()
    assert time.monotonic() - started < 5


def test_driven_from_a_private_loop_thread(sandbox_tls: SandboxTLS, echo) -> None:
    """How the sync client uses it: the engine lives on a loop in another thread."""

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:

        async def start() -> tuple[SandboxServer, Engine]:
            server = SandboxServer(echo, ssl_context=sandbox_tls.server_context())
            await server.start()
            return server, Engine(ssl_context=ssl.create_default_context(cafile=str(sandbox_tls.ca_path)))

        server, engine = asyncio.run_coroutine_threadsafe(start(), loop).result(5)
        answers = [
            asyncio.run_coroutine_threadsafe(send(engine, server, str(i)), loop).result(5).status for i in range(3)
        ]

        async def stop() -> None:
            await engine.aclose()
            await server.close(grace=0.2)

        asyncio.run_coroutine_threadsafe(stop(), loop).result(5)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()

    assert answers == [200, 200, 200]


async def test_aclose_before_the_write_sends_nothing(engine: Engine, server: SandboxServer, echo) -> None:
    await send(engine, server, "warm-up")
    request = asyncio.ensure_future(send(engine, server, "late"))
    await asyncio.sleep(0)  # it has a stream; its HEADERS wait for the end-of-iteration write

    await engine.aclose()

    with pytest.raises(unipush.TransportError) as caught:
        await request
    assert caught.value.maybe_processed is False
    await asyncio.sleep(0.1)
    assert "late" not in echo.seen  # and indeed the server never got it
