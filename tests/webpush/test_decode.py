"""Pure decoder: every meaningful push-service status to an ``Outcome``."""

from __future__ import annotations

import json

import pytest

from unipush import AuthenticationError, InvalidTokenError, ProviderError, RateLimitedError
from unipush._retry import retry_after_from_headers as parse_retry_after
from unipush.webpush import WebPushStatus
from unipush.webpush._decode import parse_response


@pytest.mark.parametrize("status", [200, 201, 202])
def test_success(status):
    outcome = parse_response(status, {"Location": "https://push.example/m/42", "TTL": "3600"}, b"")
    assert outcome.ok
    assert outcome.status_code == status
    assert outcome.message_id == "https://push.example/m/42"
    assert outcome.error is None
    assert outcome.reason is None
    assert not outcome.retryable
    assert not outcome.token_invalid


def test_success_without_location():
    assert parse_response(201, {}, b"").message_id is None


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (
            404,
            b'{"code":404,"errno":102,"error":"Not Found","message":"Request did not validate invalid token"}',
            WebPushStatus.NOT_FOUND,
        ),
        (410, b'{"reason":"Unregistered"}', WebPushStatus.GONE),
        (410, b"push subscription has unsubscribed or expired.\n", WebPushStatus.GONE),
    ],
)
def test_dead_subscription(status, body, reason):
    outcome = parse_response(status, {}, body)
    assert not outcome.ok
    assert outcome.token_invalid
    assert not outcome.retryable
    assert outcome.reason is reason
    assert isinstance(outcome.error, InvalidTokenError)
    assert outcome.error.status_code == status
    assert outcome.error.provider == "webpush"
    assert outcome.error.reason is reason
    assert "delete it" in str(outcome.error)


@pytest.mark.parametrize(
    ("status", "body", "text"),
    [
        (403, b'{"reason":"BadJwtToken"}', "403 Forbidden: BadJwtToken"),
        (403, b'{"reason":"VapidPkHashMismatch"}', "VapidPkHashMismatch"),
        (
            401,
            b'{"code":401,"errno":109,"error":"Unauthorized","message":"Invalid Authorization"}',
            "errno 109: Invalid Authorization",
        ),
        (403, b"the key in the authorization header does not correspond to the sender\n", "does not correspond"),
    ],
)
def test_vapid_refused(status, body, text):
    outcome = parse_response(status, {}, body)
    assert isinstance(outcome.error, AuthenticationError)
    assert text in str(outcome.error)
    assert "applicationServerKey" in str(outcome.error)
    assert not outcome.retryable
    assert not outcome.token_invalid


def test_rate_limited_with_seconds():
    outcome = parse_response(429, {"Retry-After": "120"}, b'{"reason":"TooManyRequests"}')
    assert isinstance(outcome.error, RateLimitedError)
    assert outcome.retryable
    assert outcome.retry_after == 120.0
    assert outcome.error.retry_after == 120.0
    assert outcome.reason is WebPushStatus.TOO_MANY_REQUESTS


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "30"}, 30.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"retry-after": "-3"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"}, None),
        ({"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT", "date": "Wed, 21 Oct 2026 07:27:00 GMT"}, 60.0),
        ({"retry-after": "Wed, 21 Oct 2026 07:26:00 GMT", "Date": "Wed, 21 Oct 2026 07:27:00 GMT"}, 0.0),
        ({"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT", "date": "garbage"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers, expected):
    assert parse_retry_after(headers) == expected


@pytest.mark.parametrize("status", [500, 502, 503, 504, 599])
def test_server_errors_are_retryable(status):
    outcome = parse_response(status, {"retry-after": "5"}, b'{"code":503,"errno":201,"message":"Please slow down"}')
    assert type(outcome.error) is ProviderError
    assert outcome.retryable
    assert outcome.retry_after == 5.0
    assert not outcome.token_invalid


@pytest.mark.parametrize(
    ("status", "body", "text", "reason"),
    [
        (400, b'{"reason":"BadWebPushTopic"}', "400 Bad Request: BadWebPushTopic", WebPushStatus.BAD_REQUEST),
        (
            400,
            b'{"errno":111,"message":"Missing TTL header"}',
            "errno 111: Missing TTL header",
            WebPushStatus.BAD_REQUEST,
        ),
        (413, b"", "Too Large", WebPushStatus.PAYLOAD_TOO_LARGE),  # the phrase changed in Python 3.13
        (418, b"teapot", ": teapot", None),
        (499, b"", "499 HTTP error", None),
    ],
)
def test_permanent_errors(status, body, text, reason):
    outcome = parse_response(status, {}, body)
    assert type(outcome.error) is ProviderError
    assert str(outcome.error).startswith(f"push service answered {status} ")
    assert text in str(outcome.error)
    assert outcome.reason is reason
    assert not outcome.retryable
    assert not outcome.token_invalid


def test_error_text_is_cleaned_and_shortened():
    body = ("bad\x00\x1b[31m " + "x" * 1000).encode()
    message = str(parse_response(400, {}, body).error)
    assert "\x00" not in message
    assert "\x1b" not in message
    assert len(message) < 400


def test_json_without_known_members_falls_back_to_text():
    body = json.dumps({"weird": 1}).encode()
    assert '{"weird": 1}' in str(parse_response(400, {}, body).error)


def test_status_enum_values():
    assert WebPushStatus.CREATED.value == 201
    assert WebPushStatus.GONE.value == 410
    assert WebPushStatus(413) is WebPushStatus.PAYLOAD_TOO_LARGE
    assert {s.value for s in WebPushStatus} >= {201, 202, 400, 401, 403, 404, 410, 413, 429, 500, 502, 503}
