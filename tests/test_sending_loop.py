"""The sending loop both clients share (retry, budget, callbacks, results), through ``MockTransport``.

No socket: each provider's answer is scripted by a handler, so these run in milliseconds. What is on
the wire (the engine, the sandbox's emulation of each service) keeps its tests over real sockets:
``tests/engine``, ``tests/sandbox``, ``tests/test_send.py``. Every test runs with ``PushClient`` and
with ``AsyncPushClient`` (the ``kind`` fixture), so the two are held to the same behaviour.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support import ClientDriver, pem, subscription
from unipush import (
    AsyncPushClient,
    ConfigurationError,
    InvalidTokenError,
    Notification,
    PushClient,
    RateLimitedError,
    RetryBudget,
    RetryPolicy,
    SendResult,
    Target,
    TransportError,
)
from unipush.apns import APNs, ApnsDevice
from unipush.fcm import FCM, FcmDevice
from unipush.testing import OfflineCredentials, fast_retry
from unipush.transports import MockTransport, Request, Response, Transport
from unipush.webpush import WebPush, WebPushSubscription

N = Notification(title="Hello", body="World", deep_link="https://example.com/x")


@functools.cache
def apns_key() -> str:
    return pem(ec.generate_private_key(ec.SECP256R1()))


@functools.cache
def vapid_key() -> str:
    return pem(ec.generate_private_key(ec.SECP256R1()))


def configs() -> dict[str, Any]:
    """The three built-in providers, none needing a network for its credential."""
    return {
        "apns": APNs(key=apns_key(), key_id="ABC123DEFG", team_id="TEAM123456", topic="com.example.app"),
        "fcm": FCM(credentials=OfflineCredentials(), project_id="demo-project"),
        "webpush": WebPush(vapid_private_key=vapid_key(), subject="mailto:ops@example.com"),
    }


def provider_of(request: Request) -> str:
    if "push.apple.com" in request.url:
        return "apns"
    if "fcm.googleapis.com" in request.url:
        return "fcm"
    return "webpush"


def accepted(request: Request) -> Response:
    """Each service's success answer (Apple: 200 + apns-id; Google: 200 + message name; RFC 8030: 201)."""
    provider = provider_of(request)
    if provider == "apns":
        return Response(200, {"apns-id": request.headers.get("apns-id", "8d3f0f4e-0000-4000-8000-000000000001")})
    if provider == "fcm":
        return Response(200, json={"name": "projects/demo-project/messages/0:1"})
    return Response(201, {"location": "https://push.example.net/m/1"})


FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"


def dead_token(request: Request) -> Response:
    """Each service's "this token is gone" answer."""
    provider = provider_of(request)
    if provider == "apns":
        return Response(410, json={"reason": "Unregistered", "timestamp": 1700000000000})
    if provider == "fcm":
        return Response(
            404,
            json={
                "error": {
                    "code": 404,
                    "status": "NOT_FOUND",
                    "message": "Requested entity was not found.",
                    "details": [
                        {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}
                    ],
                }
            },
        )
    return Response(410)


def unavailable(request: Request) -> Response:
    """Each service's 503."""
    provider = provider_of(request)
    if provider == "apns":
        return Response(503, json={"reason": "ServiceUnavailable"})
    if provider == "fcm":
        return Response(503, json={"error": {"code": 503, "status": "UNAVAILABLE", "message": "down"}})
    return Response(503)


def addressed(request: Request, key: str) -> bool:
    """Whether ``request`` goes to the target ``key``: in the URL (APNs, Web Push) or the JSON body (FCM)."""
    return request.url.endswith(key) or f'"{key}"'.encode() in request.body


class Script:
    """A handler that answers from a list per target (the last answer repeats) and records every request."""

    def __init__(self, *answers: Callable[[Request], Response]) -> None:
        self.answers = list(answers) or [accepted]
        self.per_target: dict[str, list[Callable[[Request], Response]]] = {}
        self.requests: list[Request] = []
        self.loop_times: list[float] = []
        self.threads: set[int] = set()

    def script(self, target: Target, *answers: Callable[[Request], Response]) -> None:
        self.per_target[target.key] = list(answers)

    def __call__(self, request: Request) -> Response:
        self.requests.append(request)
        self.loop_times.append(asyncio.get_running_loop().time())
        self.threads.add(threading.get_ident())
        for key, answers in self.per_target.items():
            if addressed(request, key):
                return (answers.pop(0) if len(answers) > 1 else answers[0])(request)
        return self.answers[0](request)

    def count(self, target: Target) -> int:
        return sum(addressed(r, target.key) for r in self.requests)


class Driver(ClientDriver):
    """A client on ``transport`` (a ``MockTransport``), sync or async, with the test policy ``fast_retry()``."""

    def __init__(self, kind: str, transport: Transport, **kwargs: Any) -> None:
        options = {**configs(), "transport": transport, "retry": fast_retry(), **kwargs}
        super().__init__(kind, PushClient, AsyncPushClient, **options)


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make(kind: str) -> Iterator[Callable[..., Driver]]:
    drivers: list[Driver] = []

    def build(handler: Callable[[Request], Any], **kwargs: Any) -> Driver:
        driver = Driver(kind, MockTransport(handler), **kwargs)
        drivers.append(driver)
        return driver

    yield build
    for driver in drivers:
        driver.close()


def apns_device(n: int = 0) -> ApnsDevice:
    return ApnsDevice(f"{n:064x}")


def fcm_device(n: int = 0) -> FcmDevice:
    return FcmDevice(f"fcm-token-{n}")


def web_subscription(n: int = 0) -> WebPushSubscription:
    base = subscription()
    return WebPushSubscription(endpoint=f"https://push.example.net/sub/{n}", p256dh=base.p256dh, auth=base.auth)


def all_targets(n: int = 0) -> list[Target]:
    return [apns_device(n), fcm_device(n), web_subscription(n)]


# -- results --------------------------------------------------------------------------------------


def test_each_provider_s_success_is_a_result_with_its_message_id(make: Callable[..., Driver]) -> None:
    script = Script()
    driver = make(script)
    for target in all_targets():
        result = driver.send(N, target)
        assert result.ok, result
        assert result.attempts == 1
        assert result.provider == target.provider
        assert result.message_id
    assert [provider_of(r) for r in script.requests] == ["apns", "fcm", "webpush"]
    # The credential each provider attaches went out with the request.
    assert script.requests[0].headers["authorization"].startswith("bearer ")
    assert script.requests[1].headers["authorization"] == "Bearer offline-token-1"
    assert script.requests[2].headers["authorization"].startswith("vapid t=")


def test_send_many_gives_one_result_per_target_in_input_order(make: Callable[..., Driver]) -> None:
    script = Script()
    driver = make(script, concurrency=7)
    targets = [t for n in range(30) for t in all_targets(n)]
    batch = driver.send_many(N, targets)
    assert [r.target for r in batch] == targets
    assert len(batch.succeeded) == 90
    assert len(script.requests) == 90  # each sent once


def test_stream_yields_one_result_per_pair_whatever_the_input_holds(make: Callable[..., Driver]) -> None:
    driver = make(Script(), concurrency=3)
    targets = [apns_device(n) for n in range(20)]
    items: list[Any] = [(N, t) for t in targets]
    items.insert(5, "not a pair")
    items.insert(9, (Notification(title="x", collapse_key="k" * 65), apns_device(99)))  # cannot be rendered
    results = driver.stream(iter(items))
    assert len(results) == 22
    assert sorted(r.target.key for r in results if r.ok) == sorted(t.key for t in targets)
    assert sum(not r.ok and r.attempts == 0 for r in results) == 2


def test_a_validation_error_in_a_batch_is_that_targets_result(make: Callable[..., Driver]) -> None:
    script = Script()
    driver = make(script)
    too_long_for_apns = Notification(title="x", collapse_key="k" * 65)  # apns-collapse-id: at most 64 bytes
    batch = driver.send_many(too_long_for_apns, [apns_device(), web_subscription()])
    assert not batch[0].ok
    assert batch[0].attempts == 0
    assert batch[1].ok
    assert [provider_of(r) for r in script.requests] == ["webpush"]


# -- retry ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("failures", [1, 2])
def test_a_server_error_is_retried_until_it_succeeds(make: Callable[..., Driver], failures: int) -> None:
    script = Script()
    driver = make(script)
    for target in all_targets():
        script.script(target, *([unavailable] * failures), accepted)
        result = driver.send(N, target)
        assert result.ok, result
        assert result.attempts == failures + 1
        assert script.count(target) == failures + 1


def test_every_attempt_sends_the_same_request(make: Callable[..., Driver]) -> None:
    script = Script()
    driver = make(script)
    target = apns_device()
    script.script(target, unavailable, unavailable, accepted)
    assert driver.send(N, target).ok
    first, *again = script.requests
    assert first.headers["apns-id"]  # one apns-id for every attempt: Apple deduplicates on it
    assert all(r.headers == first.headers and r.body == first.body and r.url == first.url for r in again)


def test_an_outage_is_reported_after_max_attempts(make: Callable[..., Driver]) -> None:
    script = Script(unavailable)
    driver = make(script, retry=fast_retry(max_attempts=3))
    for target in all_targets():
        result = driver.send(N, target)
        assert not result.ok
        assert result.attempts == 3
        assert result.status_code == 503
    assert driver.invalid == []


def test_a_permanent_rejection_is_never_retried(make: Callable[..., Driver]) -> None:
    script = Script()
    driver = make(script)
    target = apns_device()
    script.script(target, lambda r: Response(400, json={"reason": "BadDeviceToken"}))
    assert driver.send(N, apns_device(1)).ok  # a success first: the pruning guard believes BadDeviceToken
    result = driver.send(N, target)
    assert not result.ok
    assert result.attempts == 1
    assert result.token_invalid
    assert script.count(target) == 1


def test_retry_after_is_waited_for_instead_of_the_backoff(make: Callable[..., Driver]) -> None:
    script = Script()
    # No backoff of its own: only the server's Retry-After (0.05 s, RFC 9110 §10.2.3) separates the attempts.
    driver = make(script, retry=RetryPolicy(initial_backoff=0, jitter=0, budget=None))
    target = apns_device()
    script.script(
        target, lambda r: Response(429, {"retry-after": "0.05"}, json={"reason": "TooManyRequests"}), accepted
    )
    result = driver.send(N, target)
    assert result.ok
    assert result.attempts == 2
    assert script.loop_times[1] - script.loop_times[0] >= 0.05


def test_a_retry_after_beyond_the_cap_is_reported_not_waited(make: Callable[..., Driver]) -> None:
    script = Script()
    driver = make(script, retry=RetryPolicy(max_retry_after=5, budget=None))
    target = fcm_device()
    script.script(
        target,
        lambda r: Response(
            429, {"retry-after": "3600"}, json={"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "x"}}
        ),
    )
    result = driver.send(N, target)
    assert not result.ok
    assert isinstance(result.error, RateLimitedError)
    assert result.retry_after == 3600
    assert result.attempts == 1


def test_a_transport_error_is_retried_and_the_final_one_quotes_the_attempts(make: Callable[..., Driver]) -> None:
    calls: list[Request] = []

    def reset(request: Request) -> Response:
        calls.append(request)
        raise TransportError("connection reset by peer", maybe_processed=False)

    driver = make(reset, retry=fast_retry(max_attempts=3))
    result = driver.send(N, apns_device())
    assert not result.ok
    assert type(result.error) is TransportError
    assert str(result.error) == "connection reset by peer (3 attempts)"
    assert result.error.maybe_processed is False
    assert result.attempts == 3 == len(calls)


def test_transport_errors_are_not_retried_when_the_policy_says_so(make: Callable[..., Driver]) -> None:
    def reset(request: Request) -> Response:
        raise TransportError("connection reset by peer")

    driver = make(reset, retry=RetryPolicy(retry_transport_errors=False, budget=None))
    assert driver.send(N, apns_device()).attempts == 1


def test_a_handler_that_breaks_is_a_transport_error_result(make: Callable[..., Driver]) -> None:
    def broken(request: Request) -> Response:
        raise KeyError("oops")

    driver = make(broken, retry=RetryPolicy.never())
    result = driver.send(N, apns_device())
    assert isinstance(result.error, TransportError)
    assert "the transport failed (KeyError: 'oops')" in str(result.error)


def test_an_expired_provider_token_is_re_signed_and_resent_once(make: Callable[..., Driver]) -> None:
    script = Script()
    driver = make(script)
    target = apns_device()
    script.script(target, lambda r: Response(403, json={"reason": "ExpiredProviderToken"}))
    result = driver.send(N, target)
    assert not result.ok
    assert result.attempts == 2  # re-signed and resent once, then reported
    assert script.count(target) == 2
    assert all(r.headers["authorization"].startswith("bearer ") for r in script.requests)


def test_a_plain_401_from_fcm_refreshes_the_oauth_token_once(make: Callable[..., Driver]) -> None:
    script = Script()
    driver = make(script)
    target = fcm_device()
    unauthorized = {"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "Request had invalid credentials."}}
    script.script(target, lambda r: Response(401, json=unauthorized), accepted)
    result = driver.send(N, target)
    assert result.ok
    assert result.attempts == 2
    assert [r.headers["authorization"] for r in script.requests] == [
        "Bearer offline-token-1",
        "Bearer offline-token-2",
    ]


def test_the_budget_caps_retries_during_an_outage(make: Callable[..., Driver]) -> None:
    clock = [0.0]  # a frozen clock: the floor earns nothing while the test runs
    budget = RetryBudget(ratio=0.1, min_per_second=1.0, clock=lambda: clock[0])
    script = Script(unavailable)
    driver = make(script, retry=RetryPolicy(initial_backoff=0, jitter=0, budget=budget), concurrency=1)
    batch = driver.send_many(N, [apns_device(n) for n in range(50)])
    assert len(batch.failed) == 50
    # 1 token to start with + 50 first attempts x 0.1 = 6 retries at most, not 50 x 3.
    retries = sum(r.attempts - 1 for r in batch)
    assert len(script.requests) == 50 + retries
    assert 1 <= retries <= 6


def test_one_provider_token_for_many_sends(make: Callable[..., Driver]) -> None:
    script = Script()
    driver = make(script)
    signer = driver.client.providers["apns"].signer  # type: ignore[attr-defined]
    before = signer.mint_count
    batch = driver.send_many(N, [apns_device(n) for n in range(2000)])
    assert len(batch.succeeded) == 2000
    assert signer.mint_count - before <= 1  # one token per (team, key), shared by all sends
    assert len({r.headers["authorization"] for r in script.requests}) == 1


# -- callbacks ------------------------------------------------------------------------------------


def test_dead_tokens_are_reported_once_each_with_the_callback(make: Callable[..., Driver]) -> None:
    driver = make(Script(dead_token))
    targets = all_targets()
    batch = driver.send_many(N, targets)
    assert [r.ok for r in batch] == [False, False, False]
    assert all(r.token_invalid and isinstance(r.error, InvalidTokenError) for r in batch)
    assert all(r.attempts == 1 for r in batch)  # a dead token is never retried
    assert batch.invalid_tokens == targets
    assert sorted(r.provider for r in driver.invalid) == ["apns", "fcm", "webpush"]
    assert next(r for r in batch if r.provider == "apns").invalidated_at is not None  # APNs 410 timestamp
    for target in targets:  # send, and stream: the callback runs once per final result there too
        driver.send(N, target)
    driver.stream(iter([(N, t) for t in targets]))
    assert len(driver.invalid) == 9


def test_the_callback_never_sees_a_retried_attempt(make: Callable[..., Driver]) -> None:
    script = Script()
    driver = make(script)
    target = apns_device()
    script.script(target, unavailable, dead_token)
    result = driver.send(N, target)
    assert result.attempts == 2
    assert driver.invalid == [result]


def test_callback_errors_are_logged_not_raised(make: Callable[..., Driver], caplog: pytest.LogCaptureFixture) -> None:
    def broken(result: SendResult) -> None:
        raise RuntimeError("database is down")

    script = Script()
    driver = make(script, on_invalid_token=broken)
    dead, live = apns_device(1), apns_device(2)
    script.script(dead, dead_token)
    with caplog.at_level(logging.ERROR, logger="unipush"):
        batch = driver.send_many(N, [dead, live])
    assert [r.ok for r in batch] == [False, True]
    assert "on_invalid_token callback failed" in caplog.text
    assert "database is down" in caplog.text


def test_an_async_callback_is_awaited_by_the_async_client() -> None:
    seen: list[SendResult] = []

    async def record(result: SendResult) -> None:
        await asyncio.sleep(0)
        seen.append(result)

    async def main() -> SendResult:
        async with AsyncPushClient(**configs(), transport=MockTransport(dead_token), on_invalid_token=record) as client:
            return await client.send(N, apns_device())

    result = asyncio.run(main())
    assert seen == [result]


# -- the mock itself ------------------------------------------------------------------------------


def test_an_async_handler_is_awaited_and_the_timeout_applies(make: Callable[..., Driver]) -> None:
    async def slow(request: Request) -> Response:
        if "0000000000000001" in request.url:
            await asyncio.sleep(30)
        return accepted(request)

    driver = make(slow, timeout=0.05, retry=RetryPolicy.never())
    assert driver.send(N, apns_device(0)).ok
    late = driver.send(N, apns_device(1))
    assert not late.ok
    assert "within 0.05 s" in str(late.error)
    assert isinstance(late.error, TimeoutError)


def test_the_sync_client_calls_the_handler_on_its_loop_thread() -> None:
    script = Script()
    with PushClient(**configs(), transport=MockTransport(script)) as client:
        client.send_many(N, [apns_device(n) for n in range(10)])
    assert len(script.threads) == 1
    assert threading.get_ident() not in script.threads


def test_closing_ends_a_send_waiting_on_an_async_handler() -> None:
    async def never(request: Request) -> Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def main() -> SendResult:
        client = AsyncPushClient(**configs(), transport=MockTransport(never), retry=fast_retry())
        waiting = asyncio.ensure_future(client.send(N, apns_device()))
        await asyncio.sleep(0.01)
        await client.aclose()
        return await waiting

    result = asyncio.run(main())
    assert not result.ok
    assert isinstance(result.error, TransportError)
    assert "closed" in str(result.error)


def test_responses_are_checked() -> None:
    with pytest.raises(ValueError, match="200 to 599"):
        Response(102)
    with pytest.raises(ValueError, match="body or json"):
        Response(200, body=b"x", json={})
    assert Response(200, {"Apns-Id": "x"}).headers == {"apns-id": "x"}
    assert Response(400, json={"reason": "BadTopic"}).body == b'{"reason": "BadTopic"}'


def test_a_transport_must_implement_the_protocol() -> None:
    with pytest.raises(ConfigurationError, match="transport must implement"):
        PushClient(**configs(), transport=object())  # type: ignore[arg-type]
    with httpx.Client() as http, pytest.raises(ConfigurationError, match="not both"):
        PushClient(**configs(), transport=MockTransport(accepted), http_client=http)
    assert isinstance(MockTransport(accepted), Transport)


def test_a_stream_holds_5000_in_flight_and_gives_each_its_result() -> None:
    """``concurrency`` requests really are in flight at once, and each completion frees one slot."""
    waiting: list[asyncio.Future[None]] = []
    in_flight = [0, 0]  # now, most

    async def gate(request: Request) -> Response:
        future = asyncio.get_running_loop().create_future()
        waiting.append(future)
        in_flight[0] += 1
        in_flight[1] = max(in_flight)
        if len(waiting) == 5000:  # the 5,000th request opens the gate for all that wait, and those after
            for each in waiting:
                each.set_result(None)
        elif len(waiting) > 5000:
            future.set_result(None)
        await future
        in_flight[0] -= 1
        return accepted(request)

    async def main() -> list[SendResult]:
        async with AsyncPushClient(**configs(), transport=MockTransport(gate), concurrency=5000) as client:
            return [r async for r in client.stream((N, apns_device(n)) for n in range(6000))]

    results = asyncio.run(main())
    assert len(results) == 6000
    assert all(r.ok for r in results)
    assert len({r.target.key for r in results}) == 6000
    assert in_flight[1] == 5000
