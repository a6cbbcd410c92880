"""Sending end to end over real sockets: both clients against the local sandbox, with its faults.

Every test runs twice, once with ``PushClient`` and once with ``AsyncPushClient`` (the ``driver``
fixture), so the two clients are held to the same behaviour. What the sending loop decides (retries,
the budget, callbacks, results) is tested without sockets in ``test_sending_loop.py``; here stays what
is on the wire: each service's answers as the sandbox gives them, resets and GOAWAY, the OAuth endpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.sandbox.test_fcm_platform_options import _timeless
from tests.support import ClientDriver
from unipush import (
    InvalidTokenError,
    Notification,
    Target,
)
from unipush._retry import RetryPolicy
from unipush.sandbox import Fault, Sandbox


class Driver(ClientDriver):
    """A client of the sandbox, sync or async, with a quick retry policy by default."""

    def __init__(self, kind: str, sandbox: Sandbox, **kwargs: Any) -> None:
        kwargs.setdefault("retry", RetryPolicy(initial_backoff=0.01, max_backoff=0.05, budget=None))
        super().__init__(kind, sandbox.client, sandbox.async_client, **kwargs)


@pytest.fixture(params=["sync", "async"])
def make_driver(request: pytest.FixtureRequest, sandbox: Sandbox) -> Iterator[Callable[..., Driver]]:
    sandbox.inbox.clear()
    sandbox.faults.clear()
    drivers: list[Driver] = []

    def make(**kwargs: Any) -> Driver:
        driver = Driver(request.param, sandbox, **kwargs)
        drivers.append(driver)
        return driver

    yield make
    for driver in drivers:
        driver.close()
    sandbox.faults.clear()


@pytest.fixture
def driver(make_driver: Callable[..., Driver]) -> Driver:
    return make_driver()


def note(**kw: Any) -> Notification:
    base: dict[str, Any] = {"title": "Hello", "body": "World", "deep_link": "https://example.com/x"}
    base.update(kw)
    return Notification(**base)


def all_targets(sandbox: Sandbox) -> list[Target]:
    return [sandbox.apns_device(), sandbox.fcm_device(), sandbox.subscribe()]


def test_success_on_each_provider_and_inbox_equals_what_was_sent(driver: Driver, sandbox: Sandbox) -> None:
    client = driver.client
    for target in all_targets(sandbox):
        n = note(collapse_key="c1", badge=2)
        result = driver.send(n, target)
        assert result.ok, result
        assert result.attempts == 1
        assert result.message_id
        [delivery] = sandbox.inbox.for_target(target.key)
        rendered = client.render(n, target).payload
        assert rendered is not None
        if result.provider == "fcm":
            # Without the apns-expiration header: render and send may straddle a second.
            assert delivery.payload is not None
            assert _timeless(dict(delivery.payload)) == _timeless(rendered["message"])
        elif result.provider == "apns":
            assert delivery.payload is not None
            assert delivery.payload["aps"] == rendered["aps"]
            assert delivery.message_id == result.message_id
        else:
            assert delivery.payload == rendered


def test_dead_tokens_are_reported_once_with_the_callback(driver: Driver, sandbox: Sandbox) -> None:
    targets = all_targets(sandbox)
    for target in targets:
        sandbox.invalidate(target.key, provider=target.provider)
    batch = driver.send_many(note(), targets)
    assert [r.ok for r in batch] == [False, False, False]
    assert all(r.token_invalid for r in batch)
    assert all(isinstance(r.error, InvalidTokenError) for r in batch)
    assert batch.invalid_tokens == targets
    assert sorted(r.provider for r in driver.invalid) == ["apns", "fcm", "webpush"]
    apns = next(r for r in batch if r.provider == "apns")
    assert apns.invalidated_at is not None  # APNs 410 carries a timestamp
    assert all(r.attempts == 1 for r in batch)  # a dead token is never retried
    assert len(sandbox.inbox) == 0


def test_resets_and_goaway_lose_nothing_and_send_nothing_twice(driver: Driver, sandbox: Sandbox) -> None:
    devices = [sandbox.apns_device() for _ in range(300)]
    sandbox.goaway_after(50, "apns")
    sandbox.faults.add(Fault(kind="reset", provider="apns", times=20))
    sandbox.faults.add(Fault(kind="drop_connection", provider="apns", times=2))
    batch = driver.send_many(note(), devices)
    assert len(batch) == len(devices)
    assert [r.target for r in batch] == devices  # input order
    assert all(r.ok for r in batch), [r for r in batch if not r.ok][:3]
    delivered = [d.target for d in sandbox.inbox.for_provider("apns")]
    assert sorted(delivered) == sorted(d.token for d in devices)  # each exactly once
    assert sum(r.attempts > 1 for r in batch) >= 1


def test_stream_yields_one_result_per_pair(driver: Driver, sandbox: Sandbox) -> None:
    targets = [sandbox.fcm_device() for _ in range(40)] + [sandbox.subscribe() for _ in range(10)]
    pairs = ((note(title=f"#{i}"), t) for i, t in enumerate(targets))
    results = driver.stream(pairs)
    assert sorted(r.target.key for r in results) == sorted(t.key for t in targets)
    assert all(r.ok for r in results)


def test_oauth_token_refreshed_on_401(driver: Driver, sandbox: Sandbox) -> None:
    target = sandbox.fcm_device()
    assert driver.send(note(), target).ok
    fcm = sandbox.fcm
    requests_before = fcm.token_requests
    fcm.expire_tokens()
    result = driver.send(note(), target)
    assert result.ok
    assert result.attempts == 2
    assert fcm.token_requests == requests_before + 1
