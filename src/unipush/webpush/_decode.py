"""Pure Web Push decoder: a push service's HTTP answer to an ``Outcome``.

Web Push has no common error vocabulary beyond the status code (RFC 8030 §5, §7), so
``WebPushStatus`` names the statuses that mean something and the service's own error text (Apple's
``{"reason": ...}``, Mozilla autopush's ``{"errno": ..., "message": ...}``, or plain text) goes into
the error message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import IntEnum
from http import HTTPStatus

from unipush._errors import AuthenticationError, InvalidTokenError, ProviderError, RateLimitedError
from unipush._excerpt import excerpt
from unipush._results import Outcome
from unipush._retry import header, retry_after_from_headers

__all__ = ["WebPushStatus", "parse_response"]

_PROVIDER = "webpush"
_MAX_DETAIL = 300  # characters of the service's text quoted in an error
_MAX_READ = 4096  # bytes of an error body parsed: a JSON error document is far shorter


class WebPushStatus(IntEnum):
    """HTTP statuses with a defined meaning in Web Push (RFC 8030 and the major push services)."""

    OK = 200
    """Accepted (some services answer 200 instead of 201)."""
    CREATED = 201
    """Accepted; ``Location`` names the push message resource (RFC 8030 §5)."""
    ACCEPTED = 202
    """Accepted with a receipt subscription (``Prefer: respond-async``, RFC 8030 §5.1)."""
    BAD_REQUEST = 400
    """Malformed request: missing TTL, bad Topic or Urgency, bad encryption headers. Not retried."""
    UNAUTHORIZED = 401
    """VAPID missing or invalid (RFC 8292 §4.1)."""
    FORBIDDEN = 403
    """VAPID key does not match the subscription's applicationServerKey, or a bad JWT (Apple)."""
    NOT_FOUND = 404
    """The subscription expired or never existed (RFC 8030 §7.3): delete it."""
    GONE = 410
    """The subscription was unsubscribed or expired: delete it."""
    PAYLOAD_TOO_LARGE = 413
    """The body is over the service's limit (at least 4096 bytes must be accepted, RFC 8030 §7.2)."""
    TOO_MANY_REQUESTS = 429
    """Rate limited: retry after ``Retry-After``."""
    INTERNAL_SERVER_ERROR = 500
    """Push service failure: retried with backoff."""
    BAD_GATEWAY = 502
    """Push service (or its bridge, e.g. autopush to FCM) failure: retried with backoff."""
    SERVICE_UNAVAILABLE = 503
    """Push service overloaded or down: retried, honouring ``Retry-After``."""
    GATEWAY_TIMEOUT = 504
    """Push service timed out upstream: retried with backoff."""


def _detail(body: bytes) -> str | None:
    """The service's own words from an error body, shortened and stripped of control characters."""
    if not body:
        return None
    text = body[:_MAX_READ].decode("utf-8", "replace").strip()
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, Mapping):
        # Apple: {"reason": "BadJwtToken"}.
        if isinstance(document.get("reason"), str):
            return excerpt(str(document["reason"]), _MAX_DETAIL)
        # Mozilla autopush: {"code": 404, "errno": 102, "error": "Not Found", "message": "...", "more_info": ...}.
        message = document.get("message") or document.get("error")
        errno = document.get("errno")
        if message is not None or errno is not None:
            prefix = f"errno {errno}: " if errno is not None else ""
            return excerpt(f"{prefix}{message if message is not None else ''}".strip(), _MAX_DETAIL)
    cleaned = "".join(c if c.isprintable() else " " for c in text[: _MAX_DETAIL + 1])
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        return None
    # Cut short with the size of the whole body: only its start was read.
    return cleaned[:_MAX_DETAIL] if len(body) <= _MAX_DETAIL else f"{cleaned[:_MAX_DETAIL]}… ({len(body)} bytes)"


def parse_response(status_code: int, headers: Mapping[str, str], body: bytes) -> Outcome:
    """Decode a push service's answer.

    - 2xx: ok; ``message_id`` is the ``Location`` header (the push message resource), if any.
    - 404, 410: ``InvalidTokenError`` with ``token_invalid=True``: delete the subscription.
    - 401, 403: ``AuthenticationError``: the VAPID key or token was refused (not retried).
    - 429: ``RateLimitedError``, retryable, ``retry_after`` from the header.
    - 5xx: ``ProviderError``, retryable, ``retry_after`` when given.
    - anything else (400, 413...): ``ProviderError``, not retried.
    """
    try:
        reason: WebPushStatus | None = WebPushStatus(status_code)
    except ValueError:
        reason = None
    if 200 <= status_code < 300:
        return Outcome(ok=True, status_code=status_code, message_id=header(headers, "location"))

    retry_after = retry_after_from_headers(headers)
    try:
        phrase = HTTPStatus(status_code).phrase
    except ValueError:
        phrase = "HTTP error"
    # Microsoft WNS answers with an empty body and says why in a header (pywebpush#162).
    detail = _detail(body) or _detail((header(headers, "x-wns-error-description") or "").encode())
    message = f"push service answered {status_code} {phrase}" + (f": {detail}" if detail else "")
    kind: type[ProviderError] = ProviderError
    token_invalid = retryable = False
    if status_code in (404, 410):
        kind, token_invalid = InvalidTokenError, True
        message += " (the subscription is gone: delete it)"
    elif status_code in (401, 403):
        kind = AuthenticationError
        message += " (check that the VAPID key is the applicationServerKey the browser subscribed with)"
    elif status_code == 429:
        kind, retryable = RateLimitedError, True
    else:
        retryable = status_code >= 500
    error = kind(message, provider=_PROVIDER, status_code=status_code, reason=reason, retry_after=retry_after)
    return Outcome(
        ok=False,
        status_code=status_code,
        error=error,
        reason=reason,
        token_invalid=token_invalid,
        retry_after=retry_after,
        retryable=retryable,
    )
