"""The FCM decoder: every error code, the plain-401 case, Retry-After and bodies that are not JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from unipush._errors import AuthenticationError, InvalidTokenError, ProviderError, RateLimitedError
from unipush.fcm import FcmErrorCode
from unipush.fcm._decode import QUOTA_RETRY_AFTER_SECONDS, parse_response, says_token_invalid

FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"


def error_body(http: int, status: str, message: str, code: str | None = None, *extra: dict[str, Any]) -> bytes:
    details: list[dict[str, Any]] = [{"@type": FCM_ERROR, "errorCode": code}] if code else []
    details.extend(extra)
    error: dict[str, Any] = {"code": http, "message": message, "status": status}
    if details:
        error["details"] = details
    return json.dumps({"error": error}).encode()


def test_success_returns_the_message_name() -> None:
    outcome = parse_response(200, {}, b'{"name":"projects/demo/messages/0:1700000000000000%abc"}')
    assert outcome.ok
    assert outcome.status_code == 200
    assert outcome.message_id == "projects/demo/messages/0:1700000000000000%abc"
    assert outcome.error is None
    assert outcome.reason is None
    assert not outcome.retryable


@pytest.mark.parametrize("body", [b"", b"not json", b'{"other":1}', b"[]"])
def test_success_without_a_name_is_still_ok(body: bytes) -> None:
    outcome = parse_response(200, {}, body)
    assert outcome.ok
    assert outcome.message_id is None


# (status, rpc status, errorCode, error class, token_invalid, retryable, refresh)
CASES = [
    (404, "NOT_FOUND", "UNREGISTERED", InvalidTokenError, True, False, False),
    (403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", InvalidTokenError, True, False, False),
    (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", ProviderError, False, False, False),
    (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", RateLimitedError, False, True, False),
    (503, "UNAVAILABLE", "UNAVAILABLE", ProviderError, False, True, False),
    (500, "INTERNAL", "INTERNAL", ProviderError, False, True, False),
    (401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR", AuthenticationError, False, False, False),
    (401, "UNAUTHENTICATED", "APNS_AUTH_ERROR", AuthenticationError, False, False, False),
]


@pytest.mark.parametrize(("http", "status", "code", "kind", "token_invalid", "retryable", "refresh"), CASES)
def test_every_error_code(
    http: int,
    status: str,
    code: str,
    kind: type[ProviderError],
    token_invalid: bool,
    retryable: bool,
    refresh: bool,
) -> None:
    outcome = parse_response(http, {"Content-Type": "application/json"}, error_body(http, status, "boom", code))
    assert not outcome.ok
    assert outcome.status_code == http
    assert outcome.reason is FcmErrorCode(code)
    assert type(outcome.error) is kind
    assert outcome.token_invalid is token_invalid
    assert outcome.retryable is retryable
    assert outcome.refresh_credential is refresh
    assert outcome.error is not None
    assert outcome.error.provider == "fcm"
    assert outcome.error.status_code == http
    assert outcome.error.reason is outcome.reason
    assert "boom" in str(outcome.error)
    assert FcmErrorCode(code).value in str(outcome.error)


def test_apns_auth_error_is_an_alias_of_third_party_auth_error() -> None:
    assert FcmErrorCode["APNS_AUTH_ERROR"] is FcmErrorCode.THIRD_PARTY_AUTH_ERROR
    assert FcmErrorCode("APNS_AUTH_ERROR") is FcmErrorCode.THIRD_PARTY_AUTH_ERROR
    assert FcmErrorCode.THIRD_PARTY_AUTH_ERROR == "THIRD_PARTY_AUTH_ERROR"


def test_plain_401_asks_for_a_fresh_oauth_token() -> None:
    body = error_body(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
    outcome = parse_response(401, {}, body)
    assert isinstance(outcome.error, AuthenticationError)
    assert outcome.reason is None
    assert outcome.refresh_credential
    assert outcome.retryable
    assert not outcome.token_invalid


def test_plain_403_is_a_permission_problem_not_retried() -> None:
    body = error_body(403, "PERMISSION_DENIED", "Permission 'cloudmessaging.messages.create' denied")
    outcome = parse_response(403, {}, body)
    assert type(outcome.error) is AuthenticationError
    assert not outcome.retryable
    assert not outcome.refresh_credential
    assert not outcome.token_invalid


def test_unspecified_error_falls_back_to_the_http_status() -> None:
    outcome = parse_response(503, {}, error_body(503, "UNAVAILABLE", "busy", "UNSPECIFIED_ERROR"))
    assert outcome.reason is FcmErrorCode.UNSPECIFIED_ERROR
    assert outcome.retryable
    outcome = parse_response(401, {}, error_body(401, "UNAUTHENTICATED", "expired", "UNSPECIFIED_ERROR"))
    assert outcome.refresh_credential


@pytest.mark.parametrize(
    "message",
    [
        "The registration token is not a valid FCM registration token",
        "Invalid registration token",
    ],
)
def test_invalid_argument_about_the_token_marks_it_invalid(message: str) -> None:
    outcome = parse_response(400, {}, error_body(400, "INVALID_ARGUMENT", message, "INVALID_ARGUMENT"))
    assert isinstance(outcome.error, InvalidTokenError)
    assert outcome.token_invalid
    assert outcome.reason is FcmErrorCode.INVALID_ARGUMENT
    assert not outcome.retryable


def test_invalid_argument_with_a_token_field_violation_marks_it_invalid() -> None:
    violation = {
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": [{"field": "message.token", "description": "Invalid registration token"}],
    }
    body = error_body(400, "INVALID_ARGUMENT", "Request contains an invalid argument.", "INVALID_ARGUMENT", violation)
    assert parse_response(400, {}, body).token_invalid


def test_invalid_argument_about_the_message_keeps_the_token() -> None:
    violation = {
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": [{"field": "message.android.ttl", "description": "Invalid value"}],
    }
    body = error_body(400, "INVALID_ARGUMENT", "Request contains an invalid argument.", "INVALID_ARGUMENT", violation)
    outcome = parse_response(400, {}, body)
    assert type(outcome.error) is ProviderError
    assert not outcome.token_invalid


def test_invalid_argument_without_fcm_error_detail_is_still_read() -> None:
    body = error_body(400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token")
    outcome = parse_response(400, {}, body)
    assert outcome.reason is FcmErrorCode.INVALID_ARGUMENT
    assert outcome.token_invalid


def test_topics_and_conditions_are_never_marked_invalid() -> None:
    outcome = parse_response(404, {}, error_body(404, "NOT_FOUND", "gone", "UNREGISTERED"), device=False)
    assert type(outcome.error) is ProviderError
    assert not outcome.token_invalid
    assert outcome.reason is FcmErrorCode.UNREGISTERED


def test_says_token_invalid_is_case_insensitive_and_narrow() -> None:
    assert says_token_invalid("THE REGISTRATION TOKEN IS NOT A VALID FCM REGISTRATION TOKEN")
    assert not says_token_invalid("Request contains an invalid argument.")
    assert not says_token_invalid("Message is too big")


def test_429_honours_retry_after_seconds() -> None:
    outcome = parse_response(
        429, {"Retry-After": "120"}, error_body(429, "RESOURCE_EXHAUSTED", "slow", "QUOTA_EXCEEDED")
    )
    assert isinstance(outcome.error, RateLimitedError)
    assert outcome.retry_after == 120.0
    assert outcome.error.retry_after == 120.0


def test_429_without_retry_after_waits_a_minute() -> None:
    outcome = parse_response(429, {}, error_body(429, "RESOURCE_EXHAUSTED", "slow"))
    assert isinstance(outcome.error, RateLimitedError)
    assert outcome.reason is None
    assert outcome.retryable
    assert outcome.retry_after == QUOTA_RETRY_AFTER_SECONDS == 60.0


def test_503_retry_after_as_http_date_is_measured_from_the_date_header() -> None:
    headers = {"retry-after": "Wed, 01 Jan 2025 00:00:30 GMT", "date": "Wed, 01 Jan 2025 00:00:00 GMT"}
    outcome = parse_response(503, headers, error_body(503, "UNAVAILABLE", "busy", "UNAVAILABLE"))
    assert outcome.retry_after == 30.0
    assert outcome.retryable


@pytest.mark.parametrize(
    "headers",
    [
        {"retry-after": "Wed, 01 Jan 2025 00:00:30 GMT"},  # a date but no clock to measure it from
        {"retry-after": "soon"},
        {"retry-after": "inf"},
        {},
    ],
)
def test_unusable_retry_after_is_none(headers: dict[str, str]) -> None:
    assert parse_response(503, headers, b"").retry_after is None


def test_negative_retry_after_is_ignored() -> None:
    # RFC 9110 §10.2.3: delay-seconds is a non-negative integer; anything else falls back to backoff.
    assert parse_response(503, {"Retry-After": "-5"}, b"").retry_after is None


@pytest.mark.parametrize(
    ("status", "kind", "retryable", "refresh"),
    [
        (401, AuthenticationError, True, True),
        (403, AuthenticationError, False, False),
        (404, ProviderError, False, False),
        (413, ProviderError, False, False),
        (429, RateLimitedError, True, False),
        (500, ProviderError, True, False),
        (502, ProviderError, True, False),
        (503, ProviderError, True, False),
    ],
)
def test_non_json_bodies_classify_on_the_http_status(
    status: int, kind: type[ProviderError], retryable: bool, refresh: bool
) -> None:
    outcome = parse_response(status, {}, b"<html><body>Bad Gateway</body></html>")
    assert type(outcome.error) is kind
    assert outcome.retryable is retryable
    assert outcome.refresh_credential is refresh
    assert outcome.reason is None
    assert not outcome.token_invalid
    assert "<html>" not in str(outcome.error)


def test_plain_text_error_body_is_kept_in_the_message() -> None:
    outcome = parse_response(502, {}, b"upstream connect error")
    assert "upstream connect error" in str(outcome.error)


def test_unknown_error_code_is_ignored() -> None:
    outcome = parse_response(400, {}, error_body(400, "FAILED_PRECONDITION", "new", "SOMETHING_NEW"))
    assert outcome.reason is None
    assert type(outcome.error) is ProviderError


def test_relayed_apns_reason_appears_in_the_message() -> None:
    apns = {
        "@type": "type.googleapis.com/google.firebase.fcm.v1.ApnsError",
        "statusCode": 400,
        "reason": "BadDeviceToken",
    }
    body = error_body(400, "INVALID_ARGUMENT", "Request contains an invalid argument.", "INVALID_ARGUMENT", apns)
    assert "APNs 400 BadDeviceToken" in str(parse_response(400, {}, body).error)


def test_malformed_error_documents_do_not_crash() -> None:
    for body in (b'{"error": "nope"}', b'{"error": {"details": "x", "message": 5}}', b"\xff\xfe", b"null"):
        outcome = parse_response(500, {}, body)
        assert outcome.retryable
        assert isinstance(outcome.error, ProviderError)
