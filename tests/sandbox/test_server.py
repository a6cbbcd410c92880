"""The sandbox's TLS + HTTP/2 (+ HTTP/1.1) server, with a tiny echo emulator in front.

Clients are real: httpx over TLS verified by the sandbox CA, and a raw h2 client (``helpers.RawH2Client``)
where a frame must be seen (SETTINGS, GOAWAY, RST_STREAM).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import ssl
import stat
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import h2.events
import h2.settings
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from tests.sandbox.helpers import EchoEmulator, RawH2Client, ServerThread
from unipush.sandbox._faults import Fault, Faults
from unipush.sandbox._tls import SandboxTLS, create_tls
from unipush.sandbox.server import DEFAULT_MAX_CONCURRENT_STREAMS, MAX_REQUEST_BODY, SandboxServer


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> SandboxTLS:
    return create_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def client_context(tls: SandboxTLS) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls.ca_path))


@pytest.fixture
def echo() -> EchoEmulator:
    return EchoEmulator()


@pytest.fixture
def faults() -> Faults:
    return Faults()


@pytest.fixture
def server(echo: EchoEmulator, faults: Faults, tls: SandboxTLS) -> Iterator[SandboxServer]:
    with ServerThread(echo, tls, faults=faults) as running:
        yield running


@pytest.fixture
def http1_server(echo: EchoEmulator, faults: Faults, tls: SandboxTLS) -> Iterator[SandboxServer]:
    with ServerThread(echo, tls, faults=faults, allow_http1=True) as running:
        yield running


@pytest.fixture
def client(client_context: ssl.SSLContext) -> Iterator[httpx.Client]:
    with httpx.Client(http2=True, http1=False, verify=client_context, timeout=5) as http:
        yield http


def raw(server: SandboxServer, tls: SandboxTLS) -> RawH2Client:
    return RawH2Client(server.port, tls.ca_path)


# -- TLS material ------------------------------------------------------------------------------------


def test_tls_material_is_a_fresh_p256_ca_and_loopback_server_cert(tmp_path: Path) -> None:
    started = time.perf_counter()
    tls = create_tls(tmp_path)
    elapsed = time.perf_counter() - started

    assert elapsed < 0.5  # ECDSA keys: typically ~5 ms
    ca = x509.load_pem_x509_certificate(tls.ca_path.read_bytes())
    cert = x509.load_pem_x509_certificate(tls.cert_path.read_bytes())
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert cert.issuer == ca.subject
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    now = datetime.now(timezone.utc)
    assert now - timedelta(minutes=10) < cert.not_valid_before_utc < now - timedelta(minutes=1)
    assert now + timedelta(hours=23) < cert.not_valid_after_utc <= now + timedelta(days=1, minutes=1)
    assert stat.S_IMODE(tls.key_path.stat().st_mode) == 0o600
    ca.public_key().verify(  # type: ignore[call-arg, union-attr]
        cert.signature,
        cert.tbs_certificate_bytes,
        ec.ECDSA(cert.signature_hash_algorithm),  # type: ignore[arg-type]
    )


def test_server_context_alpn_and_minimum_version(tls: SandboxTLS) -> None:
    context = tls.server_context()
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_a_client_that_does_not_trust_the_ca_is_refused(server: SandboxServer) -> None:
    with httpx.Client(http2=True) as http, pytest.raises(httpx.ConnectError):
        http.get(server.base_url + "/x")


# -- HTTP/2 and HTTP/1.1 -----------------------------------------------------------------------------


def test_http2_over_tls_reaches_the_emulator(server: SandboxServer, client: httpx.Client, echo: EchoEmulator) -> None:
    response = client.post(server.base_url + "/3/device/abc", content=b"hello", headers={"X-Custom": "Value"})

    assert response.http_version == "HTTP/2"
    assert response.status_code == 200
    assert response.headers["x-echo"] == "1"
    assert response.headers["content-length"] == str(len(response.content))
    echoed = response.json()
    assert echoed["method"] == "POST"
    assert echoed["path"] == "/3/device/abc"
    assert echoed["body_length"] == 5
    assert echoed["http_version"] == "2"
    assert echoed["headers"]["x-custom"] == "Value"  # names lower-case, pseudo-headers removed
    assert not any(name.startswith(":") for name in echoed["headers"])
    assert echoed["stream_id"] == 1
    assert server.base_url == f"https://127.0.0.1:{server.port}"


def test_requests_on_one_connection_share_it(server: SandboxServer, client: httpx.Client) -> None:
    ids = {client.get(server.base_url + f"/x/{i}").json()["connection_id"] for i in range(3)}

    assert len(ids) == 1
    assert server.stats.connections == 1
    assert server.stats.streams == server.stats.responses == 3
    assert server.stats.per_connection == {ids.pop(): 3}


def test_http1_is_served_when_allowed(http1_server: SandboxServer, client_context: ssl.SSLContext) -> None:
    with httpx.Client(http1=True, http2=False, verify=client_context) as http:
        first = http.post(http1_server.base_url + "/push/a", content=b"x" * 10)
        second = http.post(http1_server.base_url + "/push/b", content=b"")

    assert first.http_version == second.http_version == "HTTP/1.1"
    assert first.json()["http_version"] == "1.1"
    assert first.json()["body_length"] == 10
    assert first.json()["headers"]["host"] == http1_server.base_url.removeprefix("https://")
    assert first.reason_phrase == "OK"
    assert http1_server.stats.connections == 1  # keep-alive
    assert http1_server.stats.streams == 2


def test_http2_is_still_preferred_when_http1_is_allowed(http1_server: SandboxServer, client: httpx.Client) -> None:
    assert client.get(http1_server.base_url + "/x").http_version == "HTTP/2"


def test_http1_is_refused_when_not_allowed(server: SandboxServer, client_context: ssl.SSLContext) -> None:
    # No common ALPN protocol: the server speaks HTTP/2 anyway and the HTTP/1.1 request is a protocol error.
    with httpx.Client(http1=True, http2=False, verify=client_context) as http, pytest.raises(httpx.HTTPError):
        http.get(server.base_url + "/x")
    assert server.stats.streams == 0


def test_malformed_http1_request_gets_400(http1_server: SandboxServer, tls: SandboxTLS) -> None:
    context = ssl.create_default_context(cafile=str(tls.ca_path))
    context.set_alpn_protocols(["http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", http1_server.port), timeout=5) as sock,
        context.wrap_socket(sock, server_hostname="127.0.0.1") as conn,
    ):
        conn.sendall(b"POST /x HTTP/1.1\r\nno-colon-here\r\n\r\n")
        reply = b""
        while chunk := conn.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400 ")


def test_many_concurrent_streams_on_one_connection(
    server: SandboxServer, echo: EchoEmulator, client_context: ssl.SSLContext
) -> None:
    echo.delay = 0.05

    async def main() -> list[httpx.Response]:
        async with httpx.AsyncClient(http2=True, http1=False, verify=client_context, timeout=10) as http:
            return await asyncio.gather(*(http.post(f"{server.base_url}/x/{i}", content=b"{}") for i in range(200)))

    responses = asyncio.run(main())

    assert [r.status_code for r in responses] == [200] * 200
    assert sorted(r.json()["path"] for r in responses) == sorted(f"/x/{i}" for i in range(200))
    assert server.stats.connections == 1
    assert server.stats.streams == 200
    # Handled concurrently, not one after another (serial handling would give 1). How many overlap depends on
    # how fast a loaded machine's client issues them, so the bound is loose.
    assert echo.max_in_flight > 10


def test_large_bodies_respect_flow_control(server: SandboxServer, client: httpx.Client) -> None:
    # Both directions exceed HTTP/2's default 65,535-byte windows, so both sides must send WINDOW_UPDATEs.
    upload = client.post(server.base_url + "/x/up", content=b"u" * 300_000)
    download = client.get(server.base_url + "/x/down?size=500000")

    assert upload.json()["body_length"] == 300_000
    assert download.content == bytes(i % 251 for i in range(500_000))


def test_request_body_over_the_limit_gets_413(server: SandboxServer, client: httpx.Client, echo: EchoEmulator) -> None:
    response = client.post(server.base_url + "/x/huge", content=b"h" * (MAX_REQUEST_BODY + 1))

    assert response.status_code == 413
    assert echo.handled == []
    assert client.get(server.base_url + "/x/after").status_code == 200  # the connection is fine


def test_emulator_exception_is_a_500_and_the_server_survives(
    server: SandboxServer, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    assert client.post(server.base_url + "/x/boom").status_code == 500
    assert "emulator failed" in caplog.text
    assert client.post(server.base_url + "/x/fine").status_code == 200


# -- SETTINGS ----------------------------------------------------------------------------------------


def test_max_concurrent_streams_is_advertised(server: SandboxServer, tls: SandboxTLS) -> None:
    with raw(server, tls) as h2c:
        h2c.read_until(lambda c: c.max_concurrent_streams is not None)
        assert h2c.max_concurrent_streams == DEFAULT_MAX_CONCURRENT_STREAMS


def test_max_concurrent_streams_comes_from_faults_at_connection_time(
    server: SandboxServer, tls: SandboxTLS, faults: Faults
) -> None:
    faults.max_concurrent_streams["echo"] = 7
    with raw(server, tls) as h2c:
        h2c.read_until(lambda c: c.max_concurrent_streams is not None)
        assert h2c.max_concurrent_streams == 7
    faults.max_concurrent_streams["other"] = 3  # another service's setting does not apply
    faults.max_concurrent_streams.pop("echo")
    with raw(server, tls) as h2c:
        h2c.read_until(lambda c: c.max_concurrent_streams is not None)
        assert h2c.max_concurrent_streams == DEFAULT_MAX_CONCURRENT_STREAMS


def test_max_concurrent_streams_is_enforced_once_acknowledged(
    server: SandboxServer, tls: SandboxTLS, faults: Faults, echo: EchoEmulator
) -> None:
    faults.max_concurrent_streams["echo"] = 2
    echo.delay = 0.5
    with raw(server, tls) as h2c:
        h2c.read_until(lambda c: c.max_concurrent_streams == 2)  # our ACK goes out with this read
        h2c.request("/x/1")
        h2c.request("/x/2")
        # Make the client forget the limit, to open a third stream anyway.
        h2c.conn.remote_settings = h2.settings.Settings(
            client=False, initial_values={h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100}
        )
        h2c.request("/x/3")
        h2c.read_until(lambda c: c.goaway is not None)
        assert h2c.goaway is not None
        assert h2c.goaway.error_code == 1  # PROTOCOL_ERROR (RFC 9113 section 5.1.2)


def test_client_ping_is_answered(server: SandboxServer, tls: SandboxTLS) -> None:
    with raw(server, tls) as h2c:
        h2c.conn.ping(b"12345678")
        h2c.flush()
        acks: list[bytes] = []
        original = h2c._handle

        def capture(events: list[h2.events.Event]) -> None:
            acks.extend(e.ping_data for e in events if isinstance(e, h2.events.PingAckReceived) and e.ping_data)
            original(events)

        h2c._handle = capture  # type: ignore[method-assign]
        h2c.read_until(lambda c: bool(acks))
        assert acks == [b"12345678"]


def test_a_stream_cancelled_by_the_client_cancels_its_handler(
    server: SandboxServer, tls: SandboxTLS, echo: EchoEmulator
) -> None:
    echo.delay = 5
    with raw(server, tls) as h2c:
        stream_id = h2c.request("/x/slow")
        deadline = time.monotonic() + 5
        while echo.in_flight == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        h2c.reset(stream_id)
        while echo.cancelled == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert echo.cancelled == 1
        echo.delay = 0
        second = h2c.request("/x/next")
        h2c.read_until(lambda c: c.responses[second].ended)
        assert h2c.responses[second].status == 200


# -- faults ------------------------------------------------------------------------------------------


def test_status_fault_answers_with_the_emulators_error_without_handling(
    server: SandboxServer, client: httpx.Client, faults: Faults, echo: EchoEmulator
) -> None:
    faults.add(Fault(kind="status", status=429, retry_after="7", provider="echo"))

    first = client.post(server.base_url + "/x/a")
    second = client.post(server.base_url + "/x/a")

    assert (first.status_code, first.json(), first.headers["retry-after"]) == (429, {"fault": "status"}, "7")
    assert second.status_code == 200
    assert [r.path for r in echo.handled] == ["/x/a"]


@pytest.mark.parametrize("kind", ["invalid_token", "bad_token", "expired_credential"])
def test_request_level_fault_kinds_use_fault_response(
    server: SandboxServer, client: httpx.Client, faults: Faults, kind: str
) -> None:
    faults.add(Fault(kind=kind))  # type: ignore[arg-type]
    response = client.post(server.base_url + "/x/t")
    assert response.json() == {"fault": kind}


def test_faults_match_service_and_target(server: SandboxServer, client: httpx.Client, faults: Faults) -> None:
    faults.add(Fault(kind="status", status=500, provider="apns"))  # another service
    faults.add(Fault(kind="status", status=503, target="dead", times=None))

    assert client.post(server.base_url + "/x/alive").status_code == 200
    assert client.post(server.base_url + "/x/dead").status_code == 503
    assert client.post(server.base_url + "/x/dead").status_code == 503
    assert len(faults.pending()) == 2


def test_emulator_can_exempt_requests_from_faults(
    server: SandboxServer, client: httpx.Client, faults: Faults, echo: EchoEmulator
) -> None:
    echo.fault_exempt.add("token")
    faults.add(Fault(kind="status", status=503, times=None))

    assert client.post(server.base_url + "/token").status_code == 200
    assert client.post(server.base_url + "/x/send").status_code == 503


def test_latency_fault_delays_the_answer(server: SandboxServer, client: httpx.Client, faults: Faults) -> None:
    faults.add(Fault(kind="latency", delay=0.3, target="slow"))

    started = time.perf_counter()
    slow = client.post(server.base_url + "/x/slow")
    slow_elapsed = time.perf_counter() - started
    started = time.perf_counter()
    client.post(server.base_url + "/x/slow")
    fast_elapsed = time.perf_counter() - started

    assert slow.status_code == 200
    assert slow_elapsed >= 0.3
    assert fast_elapsed < 0.3


def test_latency_holds_one_stream_not_the_connection(
    server: SandboxServer, faults: Faults, client_context: ssl.SSLContext
) -> None:
    faults.add(Fault(kind="latency", delay=0.5, target="slow"))

    async def main() -> tuple[float, float]:
        async with httpx.AsyncClient(http2=True, http1=False, verify=client_context) as http:
            started = time.perf_counter()
            slow = asyncio.ensure_future(http.post(server.base_url + "/x/slow"))
            await asyncio.sleep(0.05)
            await http.post(server.base_url + "/x/fast")
            fast_done = time.perf_counter() - started
            await slow
            return fast_done, time.perf_counter() - started

    fast_done, slow_done = asyncio.run(main())
    assert fast_done < 0.4 < slow_done
    assert server.stats.connections == 1


def test_reset_fault_resets_the_stream_and_keeps_the_connection(
    server: SandboxServer, tls: SandboxTLS, faults: Faults, echo: EchoEmulator, client: httpx.Client
) -> None:
    faults.add(Fault(kind="reset", target="r"))

    with raw(server, tls) as h2c:
        reset = h2c.request("/x/r")
        after = h2c.request("/x/ok")
        h2c.read_until(lambda c: c.responses[reset].reset is not None and c.responses[after].ended)
        assert h2c.responses[reset].reset == 2  # INTERNAL_ERROR
        assert h2c.responses[reset].status is None
        assert h2c.responses[after].status == 200
    assert [r.path for r in echo.handled] == ["/x/ok"]
    assert server.stats.resets == 1

    faults.add(Fault(kind="reset"))  # and as httpx sees it
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(server.base_url + "/x/r")
    assert client.post(server.base_url + "/x/r").status_code == 200


def test_drop_connection_fault_closes_the_connection(
    server: SandboxServer, client: httpx.Client, faults: Faults, echo: EchoEmulator
) -> None:
    assert client.post(server.base_url + "/x/warm-up").status_code == 200
    faults.add(Fault(kind="drop_connection"))

    with pytest.raises(httpx.TransportError):
        client.post(server.base_url + "/x/dropped")

    assert client.post(server.base_url + "/x/again").status_code == 200  # a new connection
    assert server.stats.connections == 2
    assert server.stats.dropped == 1
    assert [r.path for r in echo.handled] == ["/x/warm-up", "/x/again"]


def test_goaway_fault_refuses_this_stream_and_finishes_earlier_ones(
    server: SandboxServer, tls: SandboxTLS, faults: Faults, echo: EchoEmulator
) -> None:
    echo.delay = 0.2
    faults.add(Fault(kind="goaway", target="leave"))
    with raw(server, tls) as h2c:
        first = h2c.request("/x/first")  # 1: in flight when the GOAWAY goes out
        leave = h2c.request("/x/leave")  # 3: the GOAWAY's trigger
        h2c.read_until(lambda c: c.closed)
        assert h2c.goaway is not None
        assert h2c.goaway.last_stream_id == first == leave - 2
        assert h2c.goaway.error_code == 0
        assert h2c.responses[first].status == 200  # answered before the close
        assert h2c.responses[leave].status is None
    assert [r.path for r in echo.handled] == ["/x/first"]
    assert server.stats.goaways == 1


def connections_drop_to_zero(server: SandboxServer, timeout: float = 2.0) -> bool:
    """The server notices a closed connection a moment after the client does: wait for it."""
    deadline = time.monotonic() + timeout
    while server.stats.open_connections and time.monotonic() < deadline:
        time.sleep(0.005)
    return server.stats.open_connections == 0


def test_goaway_after_n_streams(server: SandboxServer, tls: SandboxTLS, faults: Faults, echo: EchoEmulator) -> None:
    faults.goaway_after["echo"] = 3
    echo.delay = 0.1
    with raw(server, tls) as h2c:
        streams = [h2c.request(f"/x/{i}") for i in range(5)]  # 1, 3, 5, 7, 9
        h2c.read_until(lambda c: c.closed)
        assert h2c.goaway is not None
        assert h2c.goaway.last_stream_id == streams[2]
        assert [h2c.responses[s].status for s in streams] == [200, 200, 200, None, None]
    assert sorted(r.path for r in echo.handled) == ["/x/0", "/x/1", "/x/2"]
    assert server.stats.goaways == 1
    assert connections_drop_to_zero(server)


def test_goaway_after_n_streams_with_httpx_moves_to_new_connections(
    server: SandboxServer, client: httpx.Client, faults: Faults
) -> None:
    faults.goaway_after["echo"] = 2
    outcomes: list[int | str] = []
    for i in range(6):
        try:
            outcomes.append(client.post(f"{server.base_url}/x/{i}").json()["connection_id"])
        except httpx.RemoteProtocolError:
            # httpx gives up on a stream whose answer is still due when the GOAWAY arrives.
            outcomes.append("goaway")
    connection_ids = [o for o in outcomes if o != "goaway"]
    assert len(set(connection_ids)) >= 2
    assert server.stats.goaways >= 2
    assert all(count <= 2 for count in server.stats.per_connection.values())


def test_http1_faults(http1_server: SandboxServer, client_context: ssl.SSLContext, faults: Faults) -> None:
    faults.add(Fault(kind="status", status=429, retry_after="3"))
    faults.add(Fault(kind="reset", target="reset"))
    with httpx.Client(http1=True, http2=False, verify=client_context) as http:
        limited = http.post(http1_server.base_url + "/x/a")
        assert (limited.status_code, limited.headers["retry-after"]) == (429, "3")
        with pytest.raises(httpx.TransportError):
            http.post(http1_server.base_url + "/x/reset")  # no streams: the connection is cut
        assert http.post(http1_server.base_url + "/x/b").status_code == 200
        faults.goaway_after["echo"] = 1
        last = http.post(http1_server.base_url + "/x/c")
        assert last.headers["connection"] == "close"
        assert http.post(http1_server.base_url + "/x/d").status_code == 200
    assert http1_server.stats.connections == 3  # a + reset, then b + c (closed), then d


# -- lifecycle ---------------------------------------------------------------------------------------


def test_port_before_start_is_an_error(echo: EchoEmulator, tls: SandboxTLS) -> None:
    server = SandboxServer(echo, ssl_context=tls.server_context())
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.port


def test_close_lets_in_flight_requests_finish(echo: EchoEmulator, tls: SandboxTLS) -> None:
    echo.delay = 0.2
    thread = ServerThread(echo, tls)
    server = thread.__enter__()
    try:
        with raw(server, tls) as h2c:
            stream_id = h2c.request("/x/in-flight")
            deadline = time.monotonic() + 5
            while echo.in_flight == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            closing = asyncio.run_coroutine_threadsafe(server.close(grace=2), thread.loop)
            h2c.read_until(lambda c: c.closed)
            closing.result(5)
            assert h2c.goaway is not None
            assert h2c.goaway.last_stream_id == stream_id
            assert h2c.responses[stream_id].status == 200
    finally:
        thread.__exit__(None, None, None)
    assert server.stats.open_connections == 0


def test_close_cancels_what_outlives_the_grace_period(echo: EchoEmulator, tls: SandboxTLS) -> None:
    echo.delay = 30
    with ServerThread(echo, tls) as server, raw(server, tls) as h2c:
        h2c.request("/x/stuck")
        deadline = time.monotonic() + 5
        while echo.in_flight == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.perf_counter()
        asyncio.run_coroutine_threadsafe(server.close(grace=0.1), _loop_of(server)).result(5)
        assert time.perf_counter() - started < 2
        assert echo.cancelled == 1
        h2c.read_until(lambda c: c.closed)
        assert connections_drop_to_zero(server)


def _loop_of(server: SandboxServer) -> asyncio.AbstractEventLoop:
    assert server._server is not None
    return server._server.get_loop()


def test_server_on_the_callers_loop(echo: EchoEmulator, tls: SandboxTLS, client_context: ssl.SSLContext) -> None:
    async def main() -> str:
        server = SandboxServer(echo, ssl_context=tls.server_context())
        await server.start()
        try:
            async with httpx.AsyncClient(http2=True, http1=False, verify=client_context) as http:
                response = await http.get(server.base_url + "/x/loop")
        finally:
            await server.close()
        await server.close()  # idempotent
        return str(json.loads(response.content)["path"])

    assert asyncio.run(main()) == "/x/loop"
