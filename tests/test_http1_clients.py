"""Web Push and a provider plugin over HTTP/1.1, through both clients, to a server that is not ours.

A self-hosted push service or a plugin's third-party API may answer only HTTP/1.1. Here the standard
library's HTTP/1.1 server (TLS, ALPN ``http/1.1``) plays both: a Web Push endpoint that decrypts what
it receives with ``http_ece`` (an independent RFC 8291 implementation) and the "relay" plugin's API.
Results, retries after 429 with ``Retry-After``, and dead-token callbacks must be what they are over
HTTP/2.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import http_ece
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.fake_plugin import Relay, RelayDevice
from tests.http1_server import Http1Server, Received, Reply, http1_server
from tests.webpush.conftest import make_subscriber
from unipush import AsyncPushClient, Notification, PushClient, RetryPolicy, SendResult
from unipush.sandbox._tls import SandboxTLS, create_tls
from unipush.webpush import WebPush, WebPushSubscription

FAST = RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.05, budget=None)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> SandboxTLS:
    return create_tls(tmp_path_factory.mktemp("http1-tls"))


@pytest.fixture
def server(tls: SandboxTLS) -> Iterator[Http1Server]:
    with http1_server(tls.cert_path, tls.key_path) as running:
        yield running


class PushService:
    """A Web Push endpoint: ``/push/<id>``; ``dead`` is gone (410), ``busy`` answers 429 once first."""

    def __init__(self) -> None:
        self.subscribers: dict[str, tuple[ec.EllipticCurvePrivateKey, bytes]] = {}
        self.delivered: list[tuple[str, dict[str, object], dict[str, str]]] = []
        self.busy_once = True

    def __call__(self, received: Received) -> Reply:
        name = received.path.rsplit("/", 1)[1]
        if name == "dead":
            return Reply(410, b"subscription expired")
        if name == "busy" and self.busy_once:
            self.busy_once = False
            return Reply(429, b"slow down", {"retry-after": "0"})
        key, auth = self.subscribers[name]
        plain = http_ece.decrypt(received.body, private_key=key, auth_secret=auth, version="aes128gcm")
        self.delivered.append((name, json.loads(plain), received.headers))
        return Reply(201, b"", {"location": f"/messages/{name}-{len(self.delivered)}"})


def subscriptions(server: Http1Server, service: PushService, names: list[str]) -> list[WebPushSubscription]:
    out: list[WebPushSubscription] = []
    for name in names:
        key, auth, subscription = make_subscriber(f"{server.base_url}/push/{name}")
        service.subscribers[name] = (key, auth)
        out.append(subscription)
    return out


def webpush() -> WebPush:
    return WebPush(
        vapid_private_key=ec.generate_private_key(ec.SECP256R1()),
        subject="mailto:ops@example.com",
        allow_local_endpoints=True,  # 127.0.0.1 is the test server
    )


def test_web_push_over_http11_with_the_sync_client(server: Http1Server, tls: SandboxTLS) -> None:
    service = PushService()
    server.routes["/push/"] = service
    targets = subscriptions(server, service, ["alice", "busy", "dead"])
    gone: list[SendResult] = []
    with PushClient(webpush=webpush(), verify=tls.ca_path, retry=FAST, on_invalid_token=gone.append) as client:
        batch = client.send_many(
            Notification(title="Over HTTP/1.1", body="hello", deep_link="https://example.com/x"), targets
        )

    alice, busy, dead = batch.results
    assert alice.ok
    assert alice.attempts == 1
    assert busy.ok
    assert busy.attempts == 2
    assert not dead.ok
    assert dead.token_invalid
    assert dead.status_code == 410
    assert [result.target for result in gone] == [targets[2]]
    delivered = {name: payload for name, payload, _ in service.delivered}
    assert set(delivered) == {"alice", "busy"}
    assert delivered["alice"]["notification"]["title"] == "Over HTTP/1.1"  # type: ignore[index]
    headers = service.delivered[0][2]
    assert headers["content-encoding"] == "aes128gcm"
    assert headers["authorization"].startswith("vapid t=")
    assert int(headers["ttl"]) > 0
    # Four requests (alice, busy twice, dead), at most three at a time: each connection carries one
    # request at a time, and the retry of "busy" went on a kept-alive one.
    assert len(server.received) == 4
    assert len(server.connections()) <= 3


def test_web_push_over_http11_with_the_async_client(server: Http1Server, tls: SandboxTLS) -> None:
    service = PushService()
    server.routes["/push/"] = service
    targets = subscriptions(server, service, [f"user{i}" for i in range(30)])

    async def main() -> list[SendResult]:
        async with AsyncPushClient(webpush=webpush(), verify=tls.ca_path, retry=FAST, concurrency=30) as client:
            return [
                result
                async for result in client.stream((Notification(title="Many", body="b"), target) for target in targets)
            ]

    results = asyncio.run(asyncio.wait_for(main(), 30))

    assert len(results) == 30
    assert all(result.ok for result in results)
    assert sorted(name for name, _, _ in service.delivered) == sorted(f"user{i}" for i in range(30))
    assert len(server.connections()) <= 10  # the default HTTP/1.1 pool size per origin


def test_a_plugin_over_http11(server: Http1Server, tls: SandboxTLS) -> None:
    sent: list[dict[str, object]] = []

    def relay_api(received: Received) -> Reply:
        token = received.path.rsplit("/", 1)[1]
        if received.headers.get("authorization") != "Key k-123":
            return Reply(401, b'{"error": "bad key"}')
        if token == "gone":
            return Reply(410, b'{"error": "gone"}')
        sent.append(json.loads(received.body))
        return Reply(200, json.dumps({"id": f"m-{token}"}).encode(), {"content-type": "application/json"})

    server.routes["/relay/send/"] = relay_api
    relay = Relay(base_url=f"{server.base_url}/relay", api_key="k-123")
    with PushClient(providers=[relay], verify=tls.ca_path, retry=FAST) as client:
        ok = client.send(Notification(title="t", body="b"), RelayDevice("tok1"))
        gone = client.send(Notification(title="t", body="b"), RelayDevice("gone"))

    assert ok.ok
    assert ok.message_id == "m-tok1"
    assert gone.token_invalid
    assert gone.status_code == 410
    assert sent == [{"title": "t", "body": "b", "sent_at": sent[0]["sent_at"]}]


def test_a_dropped_http11_connection_is_retried_by_the_policy(server: Http1Server, tls: SandboxTLS) -> None:
    # The first attempt's connection is closed without an answer (so it may have been processed); the
    # policy's retry_transport_errors sends it again, on a new connection, and that one is answered.
    calls: list[int] = []

    def flaky(received: Received) -> Reply:
        calls.append(received.client_port)
        if len(calls) == 1:
            return Reply(0, drop=True)
        return Reply(200, json.dumps({"id": "m-2"}).encode())

    server.routes["/relay/send/"] = flaky
    relay = Relay(base_url=f"{server.base_url}/relay")
    with PushClient(providers=[relay], verify=tls.ca_path, retry=FAST) as client:
        result = client.send(Notification(title="t", body="b"), RelayDevice("tok"))

    assert result.ok
    assert result.message_id == "m-2"
    assert result.attempts == 2
    assert len(calls) == 2
    assert calls[0] != calls[1]
