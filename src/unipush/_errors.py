"""The one error tree of unipush.

::

    UnipushError
    ├── ConfigurationError          bad credentials or settings, raised at construction
    ├── ValidationError             a Notification or target breaks a rule (names the field)
    │   └── PayloadTooLargeError    the rendered payload is over the provider's limit
    ├── PolicyError                 a send policy kept it from being sent (a result's error, never raised)
    ├── TransportError              the request did not get a provider answer
    │   ├── TimeoutError            ... because a deadline passed
    │   └── WorkerCrashedError      ... because the ProcessPool worker sending it died
    └── ProviderError               the provider answered with an error
        ├── AuthenticationError     our credential was refused
        ├── RateLimitedError        429: slow down (see ``retry_after``)
        └── InvalidTokenError       the device token / subscription is dead

``send()`` raises only ``ValidationError`` and ``ConfigurationError`` (programmer errors found before
anything is sent); every provider answer comes back in a ``SendResult`` whose ``error`` holds a
``ProviderError`` or ``TransportError``.
"""

from __future__ import annotations

import builtins
from datetime import datetime

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "InvalidTokenError",
    "PayloadTooLargeError",
    "PolicyError",
    "ProviderError",
    "RateLimitedError",
    "TimeoutError",
    "TransportError",
    "UnipushError",
    "ValidationError",
    "WorkerCrashedError",
]


class UnipushError(Exception):
    """Base class of every error unipush raises."""


class ConfigurationError(UnipushError):
    """A provider configuration or credential is unusable (raised when it is constructed)."""


class ValidationError(UnipushError, ValueError):
    """A value breaks a rule; ``field`` names it (``"ttl"``, ``"apns.relevance_score"``...)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class PayloadTooLargeError(ValidationError):
    """The rendered payload is larger than the provider accepts; gives ``size`` and ``limit`` in bytes."""

    def __init__(self, field: str, size: int, limit: int, provider: str) -> None:
        self.size = size
        self.limit = limit
        self.provider = provider
        super().__init__(field, f"{provider} payload is {size} bytes, over the limit of {limit} bytes")


class PolicyError(UnipushError):
    """A send policy kept the notification from being sent (``docs/policies.md``); nothing was sent.

    Only ever a ``SendResult.error`` (``send`` does not raise it). ``policy`` is the policy's name (the
    result's ``reason`` too); ``until`` is when a deferred notification may be sent, else ``None``.
    """

    def __init__(self, message: str, *, policy: str, until: datetime | None = None) -> None:
        self.policy = policy
        self.until = until
        super().__init__(message)


class TransportError(UnipushError):
    """The request could not be completed: connection refused or reset, TLS failure, protocol error.

    ``maybe_processed`` is False only when the provider certainly did not act on the request (it was
    never sent, or the server said so: GOAWAY above its stream, REFUSED_STREAM), so a resend cannot
    deliver a notification twice.
    """

    def __init__(self, message: str = "", *, maybe_processed: bool = True) -> None:
        self.maybe_processed = maybe_processed
        super().__init__(message)


class TimeoutError(TransportError, builtins.TimeoutError):  # noqa: A001 - the contract's name
    """A request or connection deadline passed. Also a builtin ``TimeoutError``."""


class WorkerCrashedError(TransportError):
    """The ``ProcessPool`` worker process sending this target died before reporting its answer.

    The request may have reached the provider (``maybe_processed`` is true): resending it may deliver
    the notification twice, which is why the pool does not.
    """


class ProviderError(UnipushError):
    """The provider answered with an error status.

    ``reason`` is the provider's reason enum member (``ApnsReason``, ``FcmErrorCode``,
    ``WebPushStatus``) or ``None`` when the answer carried none we know.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int,
        reason: object | None = None,
        retry_after: float | None = None,
        invalidated_at: datetime | None = None,
    ) -> None:
        self.provider = provider
        self.status_code = status_code
        self.reason = reason
        self.retry_after = retry_after
        self.invalidated_at = invalidated_at
        super().__init__(message)


class AuthenticationError(ProviderError):
    """The provider refused our credential (APNs 403 provider token, FCM 401/403, VAPID 401/403)."""


class RateLimitedError(ProviderError):
    """The provider asked us to slow down (HTTP 429); ``retry_after`` is in seconds when known."""


class InvalidTokenError(ProviderError):
    """The device token or subscription is permanently unusable: remove it from your database."""
