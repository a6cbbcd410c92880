"""``unipush.testing``: ``fast_retry()`` decides like the default policy without its waits, and the fixtures use it."""

from __future__ import annotations

import asyncio

import pytest

from unipush import AsyncPushClient, Notification, ProviderError, PushClient, RetryPolicy, TransportError
from unipush._results import Outcome
from unipush.sandbox import Sandbox
from unipush.testing import OfflineCredentials, fast_retry


def outcome(status: int, **kw: object) -> Outcome:
    error = ProviderError("x", provider="apns", status_code=status) if status >= 400 else None
    return Outcome(ok=status < 300, status_code=status, error=error, **kw)  # type: ignore[arg-type]


CASES = [
    (outcome(200), None, False),
    (outcome(400), None, False),
    (outcome(410, token_invalid=True), None, False),
    (outcome(503, retryable=True), None, False),
    (outcome(429, retryable=True, retry_after=0.5), None, False),
    (outcome(403, retryable=True, refresh_credential=True), None, False),
    (outcome(403, retryable=True, refresh_credential=True), None, True),
    (None, TransportError("reset"), False),
]


@pytest.mark.parametrize(("answer", "error", "refreshed"), CASES)
@pytest.mark.parametrize("attempt", [1, 3, 4])
def test_fast_retry_decides_like_the_default(
    answer: Outcome | None, error: TransportError | None, refreshed: bool, attempt: int
) -> None:
    default = RetryPolicy(budget=None).decide(attempt, answer, error, refreshed=refreshed)
    fast = fast_retry().decide(attempt, answer, error, refreshed=refreshed)
    assert (fast.retry, fast.refresh_credential) == (default.retry, default.refresh_credential)
    if fast.retry and answer is not None and answer.retry_after is not None:
        assert fast.delay == answer.retry_after  # a server's Retry-After is honoured as given
    elif fast.retry:
        assert fast.delay <= 0.001  # the default would wait 0.25-2 s here


def test_fast_retry_has_no_budget_and_takes_max_attempts() -> None:
    assert fast_retry().budget is None
    assert fast_retry().max_attempts == RetryPolicy().max_attempts
    assert not fast_retry(max_attempts=1).decide(1, outcome(503, retryable=True), None).retry


def test_the_fixtures_clients_retry_fast(push_client: PushClient, async_push_client: AsyncPushClient) -> None:
    assert push_client._retry == fast_retry()
    assert async_push_client._retry == fast_retry()
    asyncio.run(async_push_client.aclose())


def test_an_outage_through_the_fixture_makes_every_attempt(push_sandbox: Sandbox, push_client: PushClient) -> None:
    device = push_sandbox.fcm_device()
    push_sandbox.fail(503, provider="fcm", times=None)
    result = push_client.send(Notification(title="x"), device)
    assert not result.ok
    assert result.attempts == 4
    assert result.status_code == 503


def test_offline_credentials_mint_a_new_token_per_refresh() -> None:
    credentials = OfflineCredentials()
    credentials.refresh(None)
    credentials.refresh(None)
    assert credentials.token == "offline-token-2"
    assert credentials.refresh_count == 2
