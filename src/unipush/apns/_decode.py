"""The APNs decoder: an HTTP answer to an ``Outcome``. Pure: no clock, no I/O.

APNs answers 200 with an empty body on success and otherwise a JSON body ``{"reason": "<code>"}``, plus
``"timestamp"`` (milliseconds since the epoch) on 410 (Apple: "Handling notification responses from
APNs"). The ``apns-id`` response header echoes the request's id. What each reason means for the caller
is in ``_RULES``; reasons we do not know still produce an error carrying the raw string.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum

from unipush._errors import AuthenticationError, InvalidTokenError, ProviderError, RateLimitedError
from unipush._excerpt import excerpt
from unipush._results import Outcome
from unipush._retry import retry_after_from_headers

__all__ = ["ApnsReason", "parse_response"]


class ApnsReason(str, Enum):
    """Every ``reason`` APNs documents in an error response body."""

    # (The S105 noqa marks below: ruff takes names with "TOKEN" for passwords; these are reason codes.)

    # 400
    BAD_COLLAPSE_ID = "BadCollapseId"
    BAD_DEVICE_TOKEN = "BadDeviceToken"  # noqa: S105
    BAD_EXPIRATION_DATE = "BadExpirationDate"
    BAD_MESSAGE_ID = "BadMessageId"
    BAD_PRIORITY = "BadPriority"
    BAD_TOPIC = "BadTopic"
    DEVICE_TOKEN_NOT_FOR_TOPIC = "DeviceTokenNotForTopic"  # noqa: S105
    DUPLICATE_HEADERS = "DuplicateHeaders"
    IDLE_TIMEOUT = "IdleTimeout"
    INVALID_PUSH_TYPE = "InvalidPushType"
    MISSING_DEVICE_TOKEN = "MissingDeviceToken"  # noqa: S105
    MISSING_TOPIC = "MissingTopic"
    PAYLOAD_EMPTY = "PayloadEmpty"
    TOPIC_DISALLOWED = "TopicDisallowed"
    # 400, broadcast and channel management (iOS 18)
    BAD_CHANNEL_ID = "BadChannelId"
    CHANNEL_NOT_REGISTERED = "ChannelNotRegistered"
    # 403
    BAD_CERTIFICATE = "BadCertificate"
    BAD_CERTIFICATE_ENVIRONMENT = "BadCertificateEnvironment"
    EXPIRED_PROVIDER_TOKEN = "ExpiredProviderToken"  # noqa: S105
    FORBIDDEN = "Forbidden"
    INVALID_PROVIDER_TOKEN = "InvalidProviderToken"  # noqa: S105
    MISSING_PROVIDER_TOKEN = "MissingProviderToken"  # noqa: S105
    UNRELATED_KEY_ID_IN_TOKEN = "UnrelatedKeyIdInToken"  # noqa: S105
    BAD_ENVIRONMENT_KEY_ID_IN_TOKEN = "BadEnvironmentKeyIdInToken"  # noqa: S105
    # Apple's documentation has used both spellings; APNs may send either.
    BAD_ENVIRONMENT_KEY_IN_TOKEN = "BadEnvironmentKeyInToken"  # noqa: S105
    # 404, 405
    BAD_PATH = "BadPath"
    METHOD_NOT_ALLOWED = "MethodNotAllowed"
    # 410
    EXPIRED_TOKEN = "ExpiredToken"  # noqa: S105
    UNREGISTERED = "Unregistered"
    # 413
    PAYLOAD_TOO_LARGE = "PayloadTooLarge"
    # 429
    TOO_MANY_PROVIDER_TOKEN_UPDATES = "TooManyProviderTokenUpdates"  # noqa: S105
    TOO_MANY_REQUESTS = "TooManyRequests"
    # 500, 503
    INTERNAL_SERVER_ERROR = "InternalServerError"
    SERVICE_UNAVAILABLE = "ServiceUnavailable"
    SHUTDOWN = "Shutdown"

    def __str__(self) -> str:
        return self.value


_BY_VALUE: dict[str, ApnsReason] = {reason.value: reason for reason in ApnsReason}


@dataclass(frozen=True, slots=True)
class _Rule:
    error: type[ProviderError] = ProviderError
    token_invalid: bool = False
    retryable: bool = False
    refresh_credential: bool = False
    hint: str = ""


R = ApnsReason
_CREDENTIAL = "check the key, Key ID, Team ID or certificate and the environment; retrying will not help"
_RULES: dict[ApnsReason, _Rule] = {
    # Apple: drop the token. It is malformed, or a sandbox token sent to production (or the reverse).
    R.BAD_DEVICE_TOKEN: _Rule(
        InvalidTokenError,
        token_invalid=True,
        hint="the token is malformed or belongs to the other APNs environment (sandbox vs production)",
    ),
    R.DEVICE_TOKEN_NOT_FOR_TOPIC: _Rule(
        InvalidTokenError, token_invalid=True, hint="the token belongs to another app or topic"
    ),
    # A connection-level condition, not a problem with the request: reconnect and send again.
    R.IDLE_TIMEOUT: _Rule(retryable=True, hint="the connection was idle too long; reconnect and retry"),
    # The JWT is over an hour old: mint a new one and send again once.
    R.EXPIRED_PROVIDER_TOKEN: _Rule(
        AuthenticationError, retryable=True, refresh_credential=True, hint="the provider token expired"
    ),
    R.INVALID_PROVIDER_TOKEN: _Rule(AuthenticationError, hint=_CREDENTIAL),
    R.MISSING_PROVIDER_TOKEN: _Rule(AuthenticationError, hint=_CREDENTIAL),
    R.BAD_CERTIFICATE: _Rule(AuthenticationError, hint=_CREDENTIAL),
    R.BAD_CERTIFICATE_ENVIRONMENT: _Rule(AuthenticationError, hint=_CREDENTIAL),
    R.BAD_ENVIRONMENT_KEY_ID_IN_TOKEN: _Rule(AuthenticationError, hint=_CREDENTIAL),
    R.BAD_ENVIRONMENT_KEY_IN_TOKEN: _Rule(AuthenticationError, hint=_CREDENTIAL),
    R.FORBIDDEN: _Rule(AuthenticationError, hint=_CREDENTIAL),
    # A connection is bound to the key of its first push; another key needs its own connection.
    R.UNRELATED_KEY_ID_IN_TOKEN: _Rule(
        AuthenticationError, hint="this connection is bound to another signing key; use a separate connection"
    ),
    # A broadcast channel that does not exist (deleted, or created in the other environment: channels are
    # per environment): like a dead token, the target is gone for good.
    R.CHANNEL_NOT_REGISTERED: _Rule(
        InvalidTokenError,
        token_invalid=True,
        hint="the channel does not exist in this APNs environment (deleted, or created in the other one)",
    ),
    R.BAD_CHANNEL_ID: _Rule(hint="the apns-channel-id is not a channel id APNs issued"),
    R.UNREGISTERED: _Rule(InvalidTokenError, token_invalid=True, hint="the device token is no longer active"),
    R.EXPIRED_TOKEN: _Rule(InvalidTokenError, token_invalid=True, hint="the device token has expired"),
    R.PAYLOAD_TOO_LARGE: _Rule(hint="the payload is over the APNs size limit"),
    R.TOO_MANY_REQUESTS: _Rule(
        RateLimitedError, retryable=True, hint="too many notifications to this device token; retry later"
    ),
    R.TOO_MANY_PROVIDER_TOKEN_UPDATES: _Rule(
        RateLimitedError, retryable=True, hint="the provider token changed too often; reuse the cached token"
    ),
    R.INTERNAL_SERVER_ERROR: _Rule(retryable=True),
    R.SERVICE_UNAVAILABLE: _Rule(retryable=True),
    R.SHUTDOWN: _Rule(retryable=True, hint="the server is shutting down; reconnect and retry"),
}


def _rule_for_status(status: int) -> _Rule:
    """The rule for a reason we do not know, from the status alone."""
    if status == 410:
        return _Rule(InvalidTokenError, token_invalid=True, hint="the device token is no longer active")
    if status == 403:
        return _Rule(AuthenticationError, hint=_CREDENTIAL)
    if status == 429:
        return _Rule(RateLimitedError, retryable=True)
    if status >= 500:
        return _Rule(retryable=True)
    return _Rule()


def parse_response(status: int, headers: Mapping[str, str], body: bytes, *, subject: str = "notification") -> Outcome:
    """Decode one APNs answer.

    Args:
        status: the HTTP ``:status``.
        headers: the response headers (any case).
        body: the response body (JSON on errors, empty on success).
        subject: what was refused, for the error message (``"channel request"`` for channel management).
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    # Broadcasts and channel requests are identified by apns-request-id rather than apns-id.
    message_id = lowered.get("apns-id") or lowered.get("apns-request-id")
    if 200 <= status < 300:
        return Outcome(ok=True, status_code=status, message_id=message_id)

    raw_reason, timestamp, note = _read_body(body)
    reason = _BY_VALUE.get(raw_reason) if raw_reason is not None else None
    rule = _RULES.get(reason) if reason is not None else None
    if rule is None:
        rule = _rule_for_status(status)
    invalidated_at = _invalidated_at(timestamp) if rule.token_invalid else None
    retry_after = retry_after_from_headers(lowered) if rule.retryable else None

    message = f"APNs refused the {subject}: HTTP {status}"
    if raw_reason is not None:
        if reason is not None:
            message += f" {raw_reason}"
        else:  # the server chose its length: quoted cut short
            message += f" (unrecognised reason {excerpt(raw_reason, quote=True)})"
    if note:
        message += f" ({note})"
    if rule.hint:
        message += f": {rule.hint}"
    error = rule.error(
        message,
        provider="apns",
        status_code=status,
        reason=reason,
        retry_after=retry_after,
        invalidated_at=invalidated_at,
    )
    return Outcome(
        ok=False,
        status_code=status,
        message_id=message_id,
        error=error,
        reason=reason,
        token_invalid=rule.token_invalid,
        invalidated_at=invalidated_at,
        retry_after=retry_after,
        retryable=rule.retryable,
        refresh_credential=rule.refresh_credential,
    )


def _read_body(body: bytes) -> tuple[str | None, object, str]:
    """``(reason, timestamp, note)`` from an error body; the note explains a body we could not read."""
    if not body.strip():
        return None, None, "empty body"
    try:
        data = json.loads(body)
    except ValueError:
        return None, None, f"body is not JSON: {excerpt(body[:81].decode('utf-8', 'replace'), 80, quote=True)}"
    if not isinstance(data, dict):
        return None, None, "body is not a JSON object"
    reason = data.get("reason")
    return (reason if isinstance(reason, str) and reason else None), data.get("timestamp"), ""


def _invalidated_at(timestamp: object) -> datetime | None:
    """The 410 ``timestamp`` (ms since the epoch): when APNs last knew the token was invalid."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)):
        return None
    try:
        return datetime.fromtimestamp(timestamp / 1000, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None
