"""Sending through unipush's clients to the plugin's Expo emulator in unipush's sandbox, over real TLS sockets.

These are the "done" checks of the plugin: once the package is installed, ``PushClient`` routes an
``ExpoDevice`` to it with no other code, by name or as an object, and a dead token reaches
``on_invalid_token``. The emulator runs beside APNs, FCM and Web Push in ``Sandbox(emulators=[...])``:
its deliveries are in the sandbox's inbox and the sandbox's fault shortcuts script it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping

import httpx
import pytest
from unipush_expo import ENV_BASE_URL, Expo, ExpoDevice, ExpoErrorCode
from unipush_expo.emulator import SEND_PATH, ExpoEmulator

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
from unipush.sandbox import Sandbox

ALIVE = ExpoDevice("ExponentPushToken[alive-aaaaaaaaaaaaaaaaaa]")
DEAD = ExpoDevice("ExponentPushToken[dead-bbbbbbbbbbbbbbbbbbb]")
NEW_STYLE = ExpoDevice("ExpoPushToken[new-ccccccccccccccccccccc]")
FAST_RETRY = RetryPolicy(initial_backoff=0.01, max_backoff=0.05, budget=None)


@pytest.fixture(scope="module")
def running() -> Iterator[Sandbox]:
    with Sandbox(emulators=[ExpoEmulator()]) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(running: Sandbox) -> Sandbox:
    running.faults.clear()
    running.inbox.clear()
    return running


@pytest.fixture
def emulator(sandbox: Sandbox) -> ExpoEmulator:
    fresh = sandbox.emulators["expo"]
    assert isinstance(fresh, ExpoEmulator)
    fresh.dead.clear()
    fresh.throttled.clear()
    fresh.requests.clear()
    fresh.access_token = None
    fresh.dead.add(DEAD.token)
    return fresh


def received(sandbox: Sandbox) -> list[Mapping[str, object] | None]:
    """The messages the emulator accepted, from the sandbox's inbox."""
    return [delivery.payload for delivery in sandbox.inbox.for_provider("expo")]


def test_send_by_name_routes_an_expo_device_with_no_other_code(
    sandbox: Sandbox, emulator: ExpoEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PushClient(providers=["expo"]) builds the plugin from its entry point; the plugin reads its
    # settings from the environment, here only where the fake lives.
    monkeypatch.setenv(ENV_BASE_URL, sandbox.url("expo"))
    invalid: list[SendResult] = []
    with PushClient(providers=["expo"], verify=sandbox.ssl_context(), on_invalid_token=invalid.append) as client:
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
    messages = received(sandbox)
    assert [m["to"] for m in messages if m is not None] == [ALIVE.token, NEW_STYLE.token]
    assert {m["title"] for m in messages if m is not None} == {"Order shipped"}
    # One message per request, over HTTP/2 (unipush's engine), as a JSON array of one.
    assert {(r.path, r.http_version) for r in emulator.requests} == {(SEND_PATH, "2")}


def test_send_with_a_provider_object_and_an_access_token(sandbox: Sandbox, emulator: ExpoEmulator) -> None:
    emulator.access_token = "secret-access-token"
    expo = Expo(access_token="secret-access-token", base_url=sandbox.url("expo"), channel_id="orders")
    with PushClient(providers=[expo], verify=sandbox.ssl_context()) as client:
        result = client.send(Notification(body="hello", data={"order": "1234"}, priority="high"), ALIVE)
    assert result.ok, result.error
    [delivery] = sandbox.inbox.for_provider("expo")
    assert delivery.target == ALIVE.token
    assert delivery.message_id == result.message_id
    assert "authorization" not in delivery.headers  # the access token stays out of the inbox
    assert delivery.payload == {
        "to": ALIVE.token,
        "body": "hello",
        "data": {"order": "1234"},
        "ttl": 2419200,
        "priority": "high",
        "channelId": "orders",
    }
    assert emulator.requests[0].headers["authorization"] == "Bearer secret-access-token"


def test_a_refused_access_token_is_an_authentication_error_and_not_retried(
    sandbox: Sandbox, emulator: ExpoEmulator
) -> None:
    emulator.access_token = "the-right-one"
    expo = Expo(access_token="a-wrong-one", base_url=sandbox.url("expo"))
    with PushClient(providers=[expo], verify=sandbox.ssl_context(), retry=FAST_RETRY) as client:
        result = client.send(Notification(title="x"), ALIVE)
    assert not result.ok
    assert result.status_code == 401
    assert result.attempts == 1
    assert isinstance(result.error, AuthenticationError)
    assert "a-wrong-one" not in str(result.error)


def test_5xx_is_retried_honouring_retry_after(sandbox: Sandbox, emulator: ExpoEmulator) -> None:
    sandbox.fail(503, provider="expo", retry_after=0, times=2)
    with PushClient(
        providers=[Expo(base_url=sandbox.url("expo"))], verify=sandbox.ssl_context(), retry=FAST_RETRY
    ) as client:
        result = client.send(Notification(title="x"), ALIVE)
    assert result.ok
    assert result.attempts == 3
    assert len(received(sandbox)) == 1


def test_message_rate_exceeded_backs_off_and_retries(sandbox: Sandbox, emulator: ExpoEmulator) -> None:
    emulator.throttled[ALIVE.token] = 1
    with PushClient(
        providers=[Expo(base_url=sandbox.url("expo"))], verify=sandbox.ssl_context(), retry=FAST_RETRY
    ) as client:
        result = client.send(Notification(title="x"), ALIVE)
        emulator.throttled[ALIVE.token] = 10
        given_up = client.send(Notification(title="y"), ALIVE)
    assert result.ok
    assert result.attempts == 2
    assert not given_up.ok
    assert isinstance(given_up.error, RateLimitedError)
    assert given_up.reason is ExpoErrorCode.MESSAGE_RATE_EXCEEDED
    assert given_up.attempts == FAST_RETRY.max_attempts


def test_async_client_and_an_async_on_invalid_token(sandbox: Sandbox, emulator: ExpoEmulator) -> None:
    seen: list[str] = []

    async def forget(result: SendResult) -> None:
        await asyncio.sleep(0)
        seen.append(result.target.key)

    async def main() -> list[SendResult]:
        async with AsyncPushClient(
            providers=[("expo", {"base_url": sandbox.url("expo")})],
            verify=sandbox.ssl_context(),
            on_invalid_token=forget,
        ) as client:
            return [r async for r in client.stream([(Notification(title="a"), ALIVE), (Notification(title="b"), DEAD)])]

    results = asyncio.run(main())
    assert sorted(r.ok for r in results) == [False, True]
    assert seen == [DEAD.token]


def test_http1_through_an_injected_httpx_client(sandbox: Sandbox, emulator: ExpoEmulator) -> None:
    # http_client= swaps unipush's HTTP/2 engine for httpx; httpx speaks HTTP/1.1 unless told otherwise.
    with (
        httpx.Client(verify=sandbox.ssl_context()) as http,
        PushClient(providers=[Expo(base_url=sandbox.url("expo"))], http_client=http) as client,
    ):
        result = client.send(Notification(title="over HTTP/1.1"), ALIVE)
        dead = client.send(Notification(title="over HTTP/1.1"), DEAD)
    assert result.ok
    assert dead.token_invalid
    assert {r.http_version for r in emulator.requests} == {"1.1"}


def test_the_sandboxs_invalidate_and_fail_script_the_plugins_emulator(sandbox: Sandbox, emulator: ExpoEmulator) -> None:
    # The sandbox's shortcuts work for a plugin's service too: invalidate() is a permanent invalid_token
    # fault on "expo", answered with the emulator's own DeviceNotRegistered ticket.
    gone = ExpoDevice("ExponentPushToken[gone-dddddddddddddddddddd]")
    sandbox.invalidate(gone)
    sandbox.fail(429, target=ALIVE, retry_after=0)
    with PushClient(
        providers=[Expo(base_url=sandbox.url("expo"))], verify=sandbox.ssl_context(), retry=FAST_RETRY
    ) as client:
        dead = client.send(Notification(title="x"), gone)
        throttled_once = client.send(Notification(title="x"), ALIVE)
    assert dead.token_invalid
    assert dead.reason is ExpoErrorCode.DEVICE_NOT_REGISTERED
    assert throttled_once.ok
    assert throttled_once.attempts == 2
    assert [d.target for d in sandbox.inbox.for_provider("expo")] == [ALIVE.token]
    assert sandbox.info()["expo_url"] == sandbox.url("expo")
