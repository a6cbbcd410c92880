"""The pure retry policy: which outcomes retry, backoff with jitter, Retry-After, attempts and budget."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from unipush import ProviderError, RateLimitedError, TransportError
from unipush._results import Outcome
from unipush._retry import RetryBudget, RetryPolicy, parse_retry_after

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=timezone.utc)


def outcome(status: int, **kw: object) -> Outcome:
    error: ProviderError | None = None
    if status == 429:
        error = RateLimitedError("x", provider="apns", status_code=status)
    elif status >= 400:
        error = ProviderError("x", provider="apns", status_code=status)
    return Outcome(ok=status < 300, status_code=status, error=error, **kw)  # type: ignore[arg-type]


def no_jitter(**kw: object) -> RetryPolicy:
    return RetryPolicy(jitter=0.0, budget=None, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("1.5", 1.5),
        ("-3", None),
        ("Sun, 22 Nov 2026 12:00:30 GMT", 30.0),
        ("Sun, 22 Nov 2026 11:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after_seconds_and_http_dates(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_success_and_permanent_rejections_never_retry() -> None:
    policy = no_jitter()
    assert not policy.decide(1, outcome(200), None).retry
    assert not policy.decide(1, outcome(400), None).retry  # e.g. BadDeviceToken, INVALID_ARGUMENT
    assert not policy.decide(1, outcome(410, token_invalid=True), None).retry


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_server_errors_retry_with_exponential_backoff(status: int) -> None:
    policy = no_jitter(initial_backoff=0.5, multiplier=2.0, max_backoff=1.5)
    delays = [policy.decide(n, outcome(status, retryable=True), None).delay for n in (1, 2, 3)]
    assert delays == [0.5, 1.0, 1.5]  # doubled, then capped at max_backoff


def test_retry_after_replaces_backoff_and_is_capped() -> None:
    policy = no_jitter(max_retry_after=60)
    decision = policy.decide(1, outcome(429, retryable=True, retry_after=7.0), None)
    assert decision.retry
    assert decision.delay == 7.0
    assert not policy.decide(1, outcome(429, retryable=True, retry_after=3600.0), None).retry


def test_max_attempts_counts_the_first_attempt() -> None:
    policy = no_jitter(max_attempts=3)
    assert policy.decide(2, outcome(503, retryable=True), None).retry
    assert not policy.decide(3, outcome(503, retryable=True), None).retry
    assert not RetryPolicy.never().decide(1, outcome(503, retryable=True), None).retry


def test_transport_errors_retry_unless_disabled() -> None:
    error = TransportError("connection reset")
    assert no_jitter().decide(1, None, error).retry
    assert not no_jitter(retry_transport_errors=False).decide(1, None, error).retry


def test_credential_refresh_resends_once_at_once() -> None:
    policy = no_jitter()
    expired = outcome(403, retryable=True, refresh_credential=True)
    first = policy.decide(1, expired, None)
    assert first.retry
    assert first.refresh_credential
    assert first.delay == 0.0
    assert not policy.decide(2, expired, None, refreshed=True).retry


def test_jitter_stays_within_bounds() -> None:
    values = iter([0.0, 0.999, 0.5])
    policy = RetryPolicy(initial_backoff=2.0, jitter=0.5, budget=None, rng=lambda: next(values))
    assert [policy.backoff(1) for _ in range(3)] == pytest.approx([2.0, 1.001, 1.5])


def test_budget_caps_retries_to_a_share_of_first_attempts() -> None:
    clock = [0.0]
    budget = RetryBudget(ratio=0.1, min_per_second=1.0, clock=lambda: clock[0])
    spent = sum(budget.try_spend() for _ in range(100))
    assert spent == 1  # the floor: one token to start with, none earned yet
    for _ in range(50):
        budget.record_attempt()  # 50 first attempts earn 5 retries
    assert sum(budget.try_spend() for _ in range(100)) == 5
    clock[0] += 3.0  # the floor refills 1 per second
    assert sum(budget.try_spend() for _ in range(100)) == 3
    policy = RetryPolicy(budget=budget, jitter=0.0)
    assert not policy.decide(1, outcome(503, retryable=True), None).retry  # budget exhausted


@pytest.mark.parametrize(("kwargs", "message"), [({"max_attempts": 0}, "max_attempts"), ({"jitter": 2}, "jitter")])
def test_policy_rejects_bad_settings(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
