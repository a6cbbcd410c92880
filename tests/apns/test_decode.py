"""The pure APNs response decoder: every documented reason, unknown reasons, odd bodies."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from unipush._errors import AuthenticationError, InvalidTokenError, ProviderError, RateLimitedError
from unipush.apns import ApnsReason
from unipush.apns._decode import parse_response

APNS_ID = "123e4567-e89b-12d3-a456-426614174000"
R = ApnsReason

# reason: (status, error class, token_invalid, retryable, refresh_credential)
EXPECTED: dict[ApnsReason, tuple[int, type[ProviderError], bool, bool, bool]] = {
    R.BAD_COLLAPSE_ID: (400, ProviderError, False, False, False),
    R.BAD_DEVICE_TOKEN: (400, InvalidTokenError, True, False, False),
    R.BAD_EXPIRATION_DATE: (400, ProviderError, False, False, False),
    R.BAD_MESSAGE_ID: (400, ProviderError, False, False, False),
    R.BAD_PRIORITY: (400, ProviderError, False, False, False),
    R.BAD_TOPIC: (400, ProviderError, False, False, False),
    R.DEVICE_TOKEN_NOT_FOR_TOPIC: (400, InvalidTokenError, True, False, False),
    R.DUPLICATE_HEADERS: (400, ProviderError, False, False, False),
    R.IDLE_TIMEOUT: (400, ProviderError, False, True, False),
    R.INVALID_PUSH_TYPE: (400, ProviderError, False, False, False),
    R.MISSING_DEVICE_TOKEN: (400, ProviderError, False, False, False),
    R.MISSING_TOPIC: (400, ProviderError, False, False, False),
    R.PAYLOAD_EMPTY: (400, ProviderError, False, False, False),
    R.TOPIC_DISALLOWED: (400, ProviderError, False, False, False),
    R.BAD_CHANNEL_ID: (400, ProviderError, False, False, False),
    R.CHANNEL_NOT_REGISTERED: (400, InvalidTokenError, True, False, False),
    R.BAD_CERTIFICATE: (403, AuthenticationError, False, False, False),
    R.BAD_CERTIFICATE_ENVIRONMENT: (403, AuthenticationError, False, False, False),
    R.EXPIRED_PROVIDER_TOKEN: (403, AuthenticationError, False, True, True),
    R.FORBIDDEN: (403, AuthenticationError, False, False, False),
    R.INVALID_PROVIDER_TOKEN: (403, AuthenticationError, False, False, False),
    R.MISSING_PROVIDER_TOKEN: (403, AuthenticationError, False, False, False),
    R.UNRELATED_KEY_ID_IN_TOKEN: (403, AuthenticationError, False, False, False),
    R.BAD_ENVIRONMENT_KEY_ID_IN_TOKEN: (403, AuthenticationError, False, False, False),
    R.BAD_ENVIRONMENT_KEY_IN_TOKEN: (403, AuthenticationError, False, False, False),
    R.BAD_PATH: (404, ProviderError, False, False, False),
    R.METHOD_NOT_ALLOWED: (405, ProviderError, False, False, False),
    R.EXPIRED_TOKEN: (410, InvalidTokenError, True, False, False),
    R.UNREGISTERED: (410, InvalidTokenError, True, False, False),
    R.PAYLOAD_TOO_LARGE: (413, ProviderError, False, False, False),
    R.TOO_MANY_PROVIDER_TOKEN_UPDATES: (429, RateLimitedError, False, True, False),
    R.TOO_MANY_REQUESTS: (429, RateLimitedError, False, True, False),
    R.INTERNAL_SERVER_ERROR: (500, ProviderError, False, True, False),
    R.SERVICE_UNAVAILABLE: (503, ProviderError, False, True, False),
    R.SHUTDOWN: (503, ProviderError, False, True, False),
}


def body(reason: str, **extra: object) -> bytes:
    return json.dumps({"reason": reason, **extra}).encode()


def test_every_reason_is_covered() -> None:
    assert set(EXPECTED) == set(ApnsReason)
    assert len(ApnsReason) == 35


@pytest.mark.parametrize("reason", list(ApnsReason), ids=lambda r: r.value)
def test_reason(reason: ApnsReason) -> None:
    status, error_type, token_invalid, retryable, refresh = EXPECTED[reason]
    outcome = parse_response(status, {"apns-id": APNS_ID}, body(reason.value))
    assert not outcome.ok
    assert outcome.status_code == status
    assert outcome.message_id == APNS_ID
    assert outcome.reason is reason
    assert type(outcome.error) is error_type
    assert outcome.token_invalid is token_invalid
    assert outcome.retryable is retryable
    assert outcome.refresh_credential is refresh
    error = outcome.error
    assert error is not None
    assert (error.provider, error.status_code, error.reason) == ("apns", status, reason)
    assert reason.value in str(error)


def test_success() -> None:
    outcome = parse_response(200, {"apns-id": APNS_ID, "apns-unique-id": "x"}, b"")
    assert outcome.ok
    assert outcome.message_id == APNS_ID
    assert outcome.error is None
    assert outcome.reason is None


def test_header_names_are_case_insensitive() -> None:
    assert parse_response(200, {"APNS-ID": APNS_ID}, b"").message_id == APNS_ID


def test_unregistered_timestamp_becomes_invalidated_at() -> None:
    outcome = parse_response(410, {}, body("Unregistered", timestamp=1735787045123))
    expected = datetime(2025, 1, 2, 3, 4, 5, 123000, tzinfo=timezone.utc)
    assert outcome.invalidated_at == expected
    assert isinstance(outcome.error, InvalidTokenError)
    assert outcome.error.invalidated_at == expected


@pytest.mark.parametrize("timestamp", ["soon", True, None, 10**20])
def test_bad_timestamp_is_ignored(timestamp: object) -> None:
    outcome = parse_response(410, {}, body("Unregistered", timestamp=timestamp))
    assert outcome.token_invalid
    assert outcome.invalidated_at is None


def test_bad_device_token_hints_at_the_environment() -> None:
    outcome = parse_response(400, {}, body("BadDeviceToken"))
    assert "sandbox" in str(outcome.error)
    assert "production" in str(outcome.error)


def test_unknown_reason_keeps_the_raw_string() -> None:
    outcome = parse_response(400, {}, body("BrandNewReason"))
    assert outcome.reason is None
    assert type(outcome.error) is ProviderError
    assert "BrandNewReason" in str(outcome.error)
    assert not outcome.retryable


@pytest.mark.parametrize(
    ("status", "error_type", "token_invalid", "retryable"),
    [
        (410, InvalidTokenError, True, False),
        (403, AuthenticationError, False, False),
        (429, RateLimitedError, False, True),
        (500, ProviderError, False, True),
        (502, ProviderError, False, True),
        (418, ProviderError, False, False),
    ],
)
def test_unknown_reason_falls_back_to_status(
    status: int, error_type: type[ProviderError], token_invalid: bool, retryable: bool
) -> None:
    outcome = parse_response(status, {}, body("Mystery"))
    assert type(outcome.error) is error_type
    assert outcome.token_invalid is token_invalid
    assert outcome.retryable is retryable
    assert outcome.reason is None


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"<html>Bad Gateway</html>", "not JSON"),
        (b"", "empty body"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"reason": 5}', "HTTP 503"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_odd_bodies(raw: bytes, needle: str) -> None:
    outcome = parse_response(503, {}, raw)
    assert outcome.reason is None
    assert outcome.retryable
    assert needle in str(outcome.error)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "30"}, 30.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"retry-after": "-3"}, None),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:30 GMT", "date": "Wed, 21 Oct 2015 07:28:00 GMT"}, 30.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT", "date": "Wed, 21 Oct 2015 07:28:30 GMT"}, 0.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:30 GMT"}, None),
        ({"retry-after": "whenever", "date": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    outcome = parse_response(429, headers, body("TooManyRequests"))
    assert outcome.retry_after == expected
    assert outcome.error is not None
    assert outcome.error.retry_after == expected


def test_retry_after_ignored_on_permanent_errors() -> None:
    assert parse_response(400, {"retry-after": "5"}, body("BadTopic")).retry_after is None


def test_reason_enum_is_a_string() -> None:
    assert ApnsReason("Unregistered") is ApnsReason.UNREGISTERED
    assert isinstance(ApnsReason.UNREGISTERED, str)
    assert json.dumps(ApnsReason.UNREGISTERED) == '"Unregistered"'
    assert str(ApnsReason.BAD_ENVIRONMENT_KEY_IN_TOKEN) == "BadEnvironmentKeyInToken"
