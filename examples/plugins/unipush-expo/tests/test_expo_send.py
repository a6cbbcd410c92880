"""Sending through unipush's clients to the local fake of Expo, over real TLS sockets.

These are the "done" checks of the plugin: once the package is installed, ``PushClient`` routes an
``ExpoDevice`` to it with no other code, by name or as an object, and a dead token reaches
``on_invalid_token``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from expo_fake import SEND_PATH, ExpoEmulator, ExpoServer
from unipush_expo import ENV_BASE_URL, Expo, ExpoDevice, ExpoErrorCode

from unipush import (
    AsyncPushClient,
    AuthenticationError,
    InvalidTokenError,
    Notification,
    PushClient,
    RateLimitedError,
    RetryPolicy,
    SendResult,
)
from unipush.sandbox import Fault

ALIVE = ExpoDevice("ExponentPushToken[alive-aaaaaaaaaaaaaaaaaa]")
DEAD = ExpoDevice("ExponentPushToken[dead-bbbbbbbbbbbbbbbbbbb]")
NEW_STYLE = ExpoDevice("ExpoPushToken[new-ccccccccccccccccccccc]")
FAST_RETRY = RetryPolicy(initial_backoff=0.01, max_backoff=0.05, budget=None)


@pytest.fixture(scope="module")
def server() -> Iterator[ExpoServer]:
    with ExpoServer() as running:
        yield running


@pytest.fixture
def emulator(server: ExpoServer) -> ExpoEmulator:
    fresh = server.emulator
    fresh.dead.clear()
    fresh.throttled.clear()
    fresh.received.clear()
    fresh.requests.clear()
    fresh.access_token = None
    server.faults.clear()
    fresh.dead.add(DEAD.token)
    return fresh


def test_send_by_name_routes_an_expo_device_with_no_other_code(
    server: ExpoServer, emulator: ExpoEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PushClient(providers=["expo"]) builds the plugin from its entry point; the plugin reads its
    # settings from the environment, here only where the fake lives.
    monkeypatch.setenv(ENV_BASE_URL, server.base_url)
    invalid: list[SendResult] = []
    with PushClient(providers=["expo"], verify=server.ca_path, on_invalid_token=invalid.append) as client:
        assert isinstance(client.providers["expo"], Expo)
        batch = client.send_many(Notification(title="Order shipped", body="#1234"), [ALIVE, DEAD, NEW_STYLE])

    ok, dead, new_style = batch
    assert ok.ok
    assert ok.provider == "expo"
    assert ok.status_code == 200
    assert ok.message_id
    assert new_style.ok
    assert not dead.ok
    assert dead.token_invalid
    assert dead.reason is ExpoErrorCode.DEVICE_NOT_REGISTERED
    assert isinstance(dead.error, InvalidTokenError)
    assert batch.invalid_tokens == [DEAD]
    assert invalid == [dead]  # the callback ran once, with the final result
    assert [m["to"] for m in emulator.received] == [ALIVE.token, NEW_STYLE.token]
    assert {m["title"] for m in emulator.received} == {"Order shipped"}
    # One message per request, over HTTP/2 (unipush's engine), as a JSON array of one.
    assert {(r.path, r.http_version) for r in emulator.requests} == {(SEND_PATH, "2")}


def test_send_with_a_provider_object_and_an_access_token(server: ExpoServer, emulator: ExpoEmulator) -> None:
    emulator.access_token = "secret-access-token"
    expo = Expo(access_token="secret-access-token", base_url=server.base_url, channel_id="orders")
    with PushClient(providers=[expo], verify=server.ca_path) as client:
        result = client.send(Notification(body="hello", data={"order": "1234"}, priority="high"), ALIVE)
    assert result.ok, result.error
    [message] = emulator.received
    assert message == {
        "to": ALIVE.token,
        "body": "hello",
        "data": {"order": "1234"},
        "ttl": 2419200,
        "priority": "high",
        "channelId": "orders",
    }
    assert emulator.requests[0].headers["authorization"] == "Bearer secret-access-token"


def test_a_refused_access_token_is_an_authentication_error_and_not_retried(
    server: ExpoServer, emulator: ExpoEmulator
) -> None:
    emulator.access_token = "the-right-one"
    expo = Expo(access_token="a-wrong-one", base_url=server.base_url)
    with PushClient(providers=[expo], verify=server.ca_path, retry=FAST_RETRY) as client:
        result = client.send(Notification(title="x"), ALIVE)
    assert not result.ok
    assert result.status_code == 401
    assert result.attempts == 1
    assert isinstance(result.error, AuthenticationError)
    assert "a-wrong-one" not in str(result.error)


def test_5xx_is_retried_honouring_retry_after(server: ExpoServer, emulator: ExpoEmulator) -> None:
    server.faults.add(Fault(kind="status", provider="expo", status=503, retry_after="0", times=2))
    with PushClient(providers=[Expo(base_url=server.base_url)], verify=server.ca_path, retry=FAST_RETRY) as client:
        result = client.send(Notification(title="x"), ALIVE)
    assert result.ok
    assert result.attempts == 3
    assert len(emulator.received) == 1


def test_message_rate_exceeded_backs_off_and_retries(server: ExpoServer, emulator: ExpoEmulator) -> None:
    emulator.throttled[ALIVE.token] = 1
    with PushClient(providers=[Expo(base_url=server.base_url)], verify=server.ca_path, retry=FAST_RETRY) as client:
        result = client.send(Notification(title="x"), ALIVE)
        emulator.throttled[ALIVE.token] = 10
        given_up = client.send(Notification(title="y"), ALIVE)
    assert result.ok
    assert result.attempts == 2
    assert not given_up.ok
    assert isinstance(given_up.error, RateLimitedError)
    assert given_up.reason is ExpoErrorCode.MESSAGE_RATE_EXCEEDED
    assert given_up.attempts == FAST_RETRY.max_attempts


def test_async_client_and_an_async_on_invalid_token(server: ExpoServer, emulator: ExpoEmulator) -> None:
    seen: list[str] = []

    async def forget(result: SendResult) -> None:
        await asyncio.sleep(0)
        seen.append(result.target.key)

    async def main() -> list[SendResult]:
        async with AsyncPushClient(
            providers=[("expo", {"base_url": server.base_url})], verify=server.ca_path, on_invalid_token=forget
        ) as client:
            return [r async for r in client.stream([(Notification(title="a"), ALIVE), (Notification(title="b"), DEAD)])]

    results = asyncio.run(main())
    assert sorted(r.ok for r in results) == [False, True]
    assert seen == [DEAD.token]


def test_http1_through_an_injected_httpx_client(server: ExpoServer, emulator: ExpoEmulator) -> None:
    # http_client= swaps unipush's HTTP/2 engine for httpx; httpx speaks HTTP/1.1 unless told otherwise.
    with (
        httpx.Client(verify=server.tls.client_context()) as http,
        PushClient(providers=[Expo(base_url=server.base_url)], http_client=http) as client,
    ):
        result = client.send(Notification(title="over HTTP/1.1"), ALIVE)
        dead = client.send(Notification(title="over HTTP/1.1"), DEAD)
    assert result.ok
    assert dead.token_invalid
    assert {r.http_version for r in emulator.requests} == {"1.1"}
