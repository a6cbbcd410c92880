"""The plugin's pure ``parse``: Expo's tickets and request errors as unipush outcomes."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone
from typing import Any

import pytest
from unipush_expo import Expo, ExpoDevice, ExpoErrorCode

from unipush import (
    AuthenticationError,
    InvalidTokenError,
    Notification,
    Outcome,
    PreparedRequest,
    ProviderError,
    RateLimitedError,
)

DEVICE = ExpoDevice("ExponentPushToken[abcdefghijklmnopqrstuv]")
EXPO = Expo()
REQUEST: PreparedRequest = EXPO.prepare(Notification(title="x"), DEVICE, now=datetime(2025, 1, 1, tzinfo=timezone.utc))


def parse(status: int, document: Any, headers: dict[str, str] | None = None) -> Outcome:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return EXPO.parse(REQUEST, status, headers or {"content-type": "application/json"}, body)


def error_ticket(code: str, message: str = "refused") -> dict[str, Any]:
    return {"data": [{"status": "error", "message": message, "details": {"error": code}}]}


def test_an_ok_ticket_is_a_success_with_the_receipt_id() -> None:
    outcome = parse(200, {"data": [{"status": "ok", "id": "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX"}]})
    assert outcome.ok
    assert outcome.status_code == 200
    assert outcome.message_id == "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX"
    assert outcome.error is None
    assert not outcome.retryable


def test_device_not_registered_marks_the_token_invalid_without_leaking_it() -> None:
    message = f'"{DEVICE.token}" is not a registered push notification recipient'
    outcome = parse(200, error_ticket("DeviceNotRegistered", message))
    assert not outcome.ok
    assert outcome.token_invalid
    assert not outcome.retryable
    assert outcome.reason is ExpoErrorCode.DEVICE_NOT_REGISTERED
    assert isinstance(outcome.error, InvalidTokenError)
    assert outcome.error.status_code == 200
    assert DEVICE.token not in str(outcome.error)
    assert DEVICE.short() in str(outcome.error)


@pytest.mark.parametrize(
    ("code", "kind", "retryable"),
    [
        ("MessageRateExceeded", RateLimitedError, True),
        ("MessageTooBig", ProviderError, False),
        ("InvalidCredentials", AuthenticationError, False),
        ("MismatchSenderId", AuthenticationError, False),
        ("SomethingNew", ProviderError, False),
    ],
)
def test_ticket_errors(code: str, kind: type[ProviderError], retryable: bool) -> None:
    outcome = parse(200, error_ticket(code))
    assert not outcome.ok
    assert not outcome.token_invalid
    assert outcome.retryable is retryable
    assert type(outcome.error) is kind
    assert code in str(outcome.error)
    assert outcome.reason == (ExpoErrorCode(code) if code != "SomethingNew" else None)


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (400, ProviderError, False),
        (401, AuthenticationError, False),
        (403, AuthenticationError, False),
        (429, RateLimitedError, True),
        (500, ProviderError, True),
        (503, ProviderError, True),
    ],
)
def test_request_level_errors(status: int, kind: type[ProviderError], retryable: bool) -> None:
    document = {"errors": [{"code": "SOME_CODE", "message": "what went wrong"}]}
    outcome = parse(status, document, {"retry-after": "7"})
    assert not outcome.ok
    assert type(outcome.error) is kind
    assert outcome.retryable is retryable
    assert outcome.status_code == status
    assert outcome.retry_after == 7.0
    assert "SOME_CODE: what went wrong" in str(outcome.error)


def test_errors_on_a_200_are_a_request_failure() -> None:
    outcome = parse(200, {"errors": [{"code": "VALIDATION_ERROR", "message": "bad"}]})
    assert not outcome.ok
    assert not outcome.retryable
    assert "VALIDATION_ERROR" in str(outcome.error)


@pytest.mark.parametrize(
    "body", [b"", b"<html>Bad Gateway</html>", b"[]", b'{"data": []}', b'{"data": ["x"]}', b"\xff\xfe"]
)
def test_parse_never_raises(body: bytes) -> None:
    for status in (200, 502):
        outcome = parse(status, body, {})
        assert not outcome.ok
        assert isinstance(outcome.error, ProviderError)
        assert outcome.retryable is (status == 502)  # a 2xx without a ticket may have been accepted


def test_a_gzip_answer_is_inflated() -> None:
    body = gzip.compress(json.dumps({"data": [{"status": "ok", "id": "r1"}]}).encode())
    outcome = parse(200, body, {"content-encoding": "gzip"})
    assert outcome.ok
    assert outcome.message_id == "r1"


def test_a_single_ticket_object_is_accepted() -> None:
    assert parse(200, {"data": {"status": "ok", "id": "r2"}}).message_id == "r2"


def test_an_http_date_retry_after_without_a_date_is_left_to_the_backoff() -> None:
    outcome = parse(429, {"errors": []}, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert outcome.retryable
    assert outcome.retry_after is None


def test_an_http_date_retry_after_is_measured_from_the_answers_date() -> None:
    # unipush.provider.retry_after_from_headers: RFC 9110 §10.2.3, the date against the Date header.
    headers = {"date": "Wed, 21 Oct 2015 07:28:00 GMT", "Retry-After": "Wed, 21 Oct 2015 07:29:30 GMT"}
    outcome = parse(503, {"errors": [{"code": "OUTAGE", "message": "down"}]}, headers)
    assert outcome.retryable
    assert outcome.retry_after == 90.0
    assert outcome.error is not None
    assert outcome.error.retry_after == 90.0
