"""Pure decoder: Expo's answer to one push request as a unipush ``Outcome``.

Expo answers in two shapes (docs.expo.dev, "Sending notifications with Expo's push API" → "Push
tickets" and "Request errors"):

- HTTP 200 ``{"data": [ticket, ...]}``, one ticket per message in request order: ``{"status": "ok",
  "id": "<receipt id>"}`` or ``{"status": "error", "message": "...", "details": {"error": "<code>"}}``.
  A ticket error is about that one message, so it is read even though the status is 200.
- ``{"errors": [{"code": "...", "message": "..."}]}`` when the whole request failed (a malformed body,
  a refused access token, throttling, an outage), usually with a 4xx or 5xx status.

Classification:

* ticket ``ok`` → ok; ``message_id`` is the receipt id (for ``/push/getReceipts``).
* ``DeviceNotRegistered`` → ``InvalidTokenError``, ``token_invalid``: stop sending to this token.
* ``MessageRateExceeded`` → ``RateLimitedError``, retryable (Expo asks for exponential backoff).
* ``MessageTooBig`` → ``ProviderError``, not retried.
* ``InvalidCredentials``, ``MismatchSenderId`` → ``AuthenticationError``, not retried: the APNs or FCM
  credentials stored in the Expo project are wrong, which a resend cannot fix.
* a request-level error: 401/403 → ``AuthenticationError`` (the access token); 429 →
  ``RateLimitedError`` and 5xx → ``ProviderError``, both retryable with ``Retry-After`` (seconds, or
  an HTTP-date against the answer's ``Date``: ``unipush.provider.retry_after_from_headers``); anything
  else → ``ProviderError``, not retried.

The HTTP details (header lookup, ``Retry-After``, a total JSON reader, the ``Outcome`` builders) come
from ``unipush.provider``, the toolkit for plugins.
* a 2xx without a usable ticket → ``ProviderError``, not retried (Expo may have accepted the message,
  so a resend could deliver it twice).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from enum import Enum
from http import HTTPStatus
from typing import Any

from unipush import AuthenticationError, InvalidTokenError, ProviderError, RateLimitedError
from unipush.provider import Outcome, PreparedRequest, failure, header, load_json, retry_after_from_headers, success

__all__ = ["ExpoErrorCode", "parse_response"]

_PROVIDER = "expo"
_MAX_DETAIL = 300
_MAX_BODY = 1 << 20  # a push answer is tiny; never inflate more than this from a compressed body


class ExpoErrorCode(str, Enum):
    """The ``details.error`` codes of an Expo push ticket or receipt."""

    DEVICE_NOT_REGISTERED = "DeviceNotRegistered"
    """The device cannot receive pushes any more (the app was uninstalled, or notifications revoked)."""
    MESSAGE_TOO_BIG = "MessageTooBig"
    """The payload is over 4096 bytes."""
    MESSAGE_RATE_EXCEEDED = "MessageRateExceeded"
    """Too many messages to this device too fast: back off exponentially."""
    MISMATCH_SENDER_ID = "MismatchSenderId"
    """The FCM credentials in the Expo project do not match the app's FCM sender."""
    INVALID_CREDENTIALS = "InvalidCredentials"
    """The APNs or FCM credentials stored in the Expo project are invalid or revoked."""


def _inflate(headers: Mapping[str, str], body: bytes) -> bytes:
    """The body without its ``Content-Encoding`` (requests ask for ``identity``; this is a fallback)."""
    encoding = (header(headers, "content-encoding") or "").strip().lower()
    if encoding not in ("gzip", "deflate") or not body:
        return body
    # wbits: 16+MAX_WBITS reads a gzip header, MAX_WBITS a zlib header (RFC 9110 §8.4.1.2/§8.4.1.3).
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    try:
        return zlib.decompressobj(wbits).decompress(body, _MAX_BODY)
    except zlib.error:
        return body


def _clean(text: str, request: PreparedRequest) -> str:
    """A one-line, bounded message with the device token shortened (tokens stay out of logs)."""
    token = request.target.key
    if token:
        text = text.replace(token, request.target.short())
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return text[:_MAX_DETAIL]


def _ticket(document: object) -> Mapping[str, Any] | None:
    if not isinstance(document, Mapping):
        return None
    data = document.get("data")
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        return data[0]  # one message per request: its ticket is the first
    if isinstance(data, Mapping) and "status" in data:
        return data  # the shape Expo uses when the request body is a single object
    return None


def _ticket_outcome(status_code: int, ticket: Mapping[str, Any], request: PreparedRequest) -> Outcome:
    if ticket.get("status") == "ok":
        receipt = ticket.get("id")
        return success(status_code, message_id=receipt if isinstance(receipt, str) else None)
    details = ticket.get("details")
    code = details.get("error") if isinstance(details, Mapping) else None
    try:
        reason: ExpoErrorCode | None = ExpoErrorCode(code)
    except ValueError:
        reason = None
    text = ticket.get("message")
    detail = _clean(text, request) if isinstance(text, str) and text else "no message"
    label = code if isinstance(code, str) and code else "error"
    message = f"Expo refused the message: {_clean(label, request)}: {detail}"
    kind: type[ProviderError] = ProviderError
    token_invalid = retryable = False
    if reason is ExpoErrorCode.DEVICE_NOT_REGISTERED:
        kind, token_invalid = InvalidTokenError, True
        message += " (the token is dead: delete it)"
    elif reason is ExpoErrorCode.MESSAGE_RATE_EXCEEDED:
        kind, retryable = RateLimitedError, True
    elif reason in (ExpoErrorCode.INVALID_CREDENTIALS, ExpoErrorCode.MISMATCH_SENDER_ID):
        kind = AuthenticationError
        message += " (fix the push credentials stored in the Expo project)"
    error = kind(message, provider=_PROVIDER, status_code=status_code, reason=reason)
    return failure(error, token_invalid=token_invalid, retryable=retryable)


def _request_errors(document: object, body: bytes, request: PreparedRequest) -> str | None:
    """The text of a request-level ``{"errors": [...]}`` answer, or of a non-JSON body."""
    if isinstance(document, Mapping) and isinstance(document.get("errors"), list):
        parts = []
        for item in document["errors"]:
            if isinstance(item, Mapping):
                code, text = item.get("code"), item.get("message")
                parts.append(": ".join(str(x) for x in (code, text) if x))
        return _clean("; ".join(p for p in parts if p), request) or None
    if document is None and body:
        return _clean(body[:4096].decode("utf-8", "replace"), request) or None
    return None


def parse_response(request: PreparedRequest, status_code: int, headers: Mapping[str, str], body: bytes) -> Outcome:
    """Decode Expo's answer to ``request`` (one message). Never raises; see the module docstring."""
    document = load_json(_inflate(headers, body))
    has_errors = isinstance(document, Mapping) and "errors" in document
    if 200 <= status_code < 300 and not has_errors:
        ticket = _ticket(document)
        if ticket is not None:
            return _ticket_outcome(status_code, ticket, request)
        error = ProviderError(
            f"Expo answered {status_code} without a push ticket", provider=_PROVIDER, status_code=status_code
        )
        return failure(error)

    # RFC 9110 §10.2.3: delay-seconds, or an HTTP-date measured against the answer's own Date header.
    retry_after = retry_after_from_headers(headers)
    try:
        phrase = HTTPStatus(status_code).phrase
    except ValueError:
        phrase = "HTTP error"
    detail = _request_errors(document, body, request)
    message = f"Expo answered {status_code} {phrase}" + (f": {detail}" if detail else "")
    kind: type[ProviderError] = ProviderError
    retryable = False
    if status_code in (401, 403):
        kind = AuthenticationError
        message += " (check the Expo access token: required when the project enables enhanced push security)"
    elif status_code == 429:
        kind, retryable = RateLimitedError, True
    elif status_code >= 500:
        retryable = True
    error = kind(message, provider=_PROVIDER, status_code=status_code, retry_after=retry_after)
    return failure(error, retryable=retryable)
