"""Decode FCM HTTP v1 answers into an ``Outcome``.

A success is ``200 {"name": "projects/<id>/messages/<message_id>"}``. An error body is a
``google.rpc.Status``::

    {"error": {"code": 404, "message": "...", "status": "NOT_FOUND",
               "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                            "errorCode": "UNREGISTERED"}]}}

Classification follows the FCM ``ErrorCode`` reference: the ``FcmError`` detail's ``errorCode`` decides
first, and the HTTP status decides when there is none (or it is ``UNSPECIFIED_ERROR``):

* ``UNREGISTERED`` (404) → ``InvalidTokenError``, token_invalid: the app instance is gone.
* ``SENDER_ID_MISMATCH`` (403) → ``InvalidTokenError``, token_invalid: the token belongs to another
  project and can never be used from this one.
* ``INVALID_ARGUMENT`` (400) → ``ProviderError``; ``InvalidTokenError`` + token_invalid only when FCM
  says the registration token itself is malformed (``says_token_invalid``).
* ``THIRD_PARTY_AUTH_ERROR`` (401) → ``AuthenticationError``, not retryable: the APNs or web push
  credential uploaded to Firebase is wrong, and a retry cannot fix it.
* ``QUOTA_EXCEEDED`` (429) → ``RateLimitedError``, retryable after ``Retry-After``.
* ``UNAVAILABLE`` (503) / ``INTERNAL`` (500) → ``ProviderError``, retryable.
* No FcmError, 401 → ``AuthenticationError``, retryable with ``refresh_credential``: the OAuth access
  token expired or was revoked, so mint a new one once.
* No FcmError, 403 (PERMISSION_DENIED: the account lacks the role, or the FCM API is disabled) →
  ``AuthenticationError``, not retryable.
* No FcmError, 429 → ``RateLimitedError``; 5xx → ``ProviderError``; both retryable.
* Anything else → ``ProviderError``, not retryable.

``reason`` is the ``FcmErrorCode`` of the FcmError detail, else the ``google.rpc.Status`` name when it is
also an FCM code (``INVALID_ARGUMENT``, ``UNAVAILABLE``, ``INTERNAL``), else ``None``. A detail of
``UNSPECIFIED_ERROR`` is kept as the reason, but the status name and the HTTP status classify.

A 429 without ``Retry-After`` gets ``retry_after=60``: the FCM throttling guide asks senders to wait at
least a minute after a quota error, and a shorter backoff would only spend more of the quota.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from http import HTTPStatus
from typing import Any

from unipush._errors import AuthenticationError, InvalidTokenError, ProviderError, RateLimitedError
from unipush._excerpt import excerpt
from unipush._provider import load_json
from unipush._results import Outcome
from unipush._retry import retry_after_from_headers

__all__ = ["QUOTA_RETRY_AFTER_SECONDS", "FcmErrorCode", "parse_response", "says_token_invalid"]

QUOTA_RETRY_AFTER_SECONDS = 60.0
"""The wait reported for a 429 that carries no ``Retry-After`` (FCM: back off at least one minute)."""

_FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_APNS_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.ApnsError"
_BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"

# How FCM words an INVALID_ARGUMENT that is about the registration token rather than the message.
# Observed: "The registration token is not a valid FCM registration token" (current) and
# "Invalid registration token" (a BadRequest field violation, older responses). Lower-case.
_TOKEN_INVALID_PHRASES = (
    "not a valid fcm registration token",
    "invalid registration token",
    "registration token is not valid",
)
_SHORT = 100  # characters quoted of a status name, an APNs status or reason: real ones are a word
_TOKEN_FIELD = "message.token"  # noqa: S105 - a field path, not a secret


class FcmErrorCode(str, Enum):
    """FCM's ``ErrorCode`` values (``details[].errorCode`` of an FCM error answer).

    ``APNS_AUTH_ERROR`` is the old name of ``THIRD_PARTY_AUTH_ERROR``. It is an alias of the same member,
    and the old string decodes to it: ``FcmErrorCode("APNS_AUTH_ERROR") is FcmErrorCode.THIRD_PARTY_AUTH_ERROR``.
    """

    UNSPECIFIED_ERROR = "UNSPECIFIED_ERROR"
    """No more information is available about this error."""
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    """A request field is invalid: a malformed token, payload too big, a reserved data key, a bad TTL..."""
    UNREGISTERED = "UNREGISTERED"
    """The app instance was unregistered from FCM; the token will never work again."""
    SENDER_ID_MISMATCH = "SENDER_ID_MISMATCH"
    """The token was issued for a different sender (Firebase project)."""
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    """A project, device or topic sending rate was exceeded."""
    UNAVAILABLE = "UNAVAILABLE"
    """FCM is overloaded; retry with backoff."""
    INTERNAL = "INTERNAL"
    """An unknown internal FCM error; retry with backoff."""
    THIRD_PARTY_AUTH_ERROR = "THIRD_PARTY_AUTH_ERROR"
    """The APNs certificate or auth key, or the web push credential, configured in Firebase was refused."""
    APNS_AUTH_ERROR = "THIRD_PARTY_AUTH_ERROR"  # noqa: PIE796 - deliberate alias of the old name

    @classmethod
    def _missing_(cls, value: object) -> FcmErrorCode | None:
        if value == "APNS_AUTH_ERROR":
            return cls.THIRD_PARTY_AUTH_ERROR
        return None

    def __str__(self) -> str:
        # The code as FCM writes it ("UNREGISTERED"), like ApnsReason, for logs and messages.
        return str(self.value)


def parse_response(status_code: int, headers: Mapping[str, str], body: bytes, *, device: bool = True) -> Outcome:
    """Decode one answer of ``messages:send``.

    Args:
        status_code: the HTTP status.
        headers: the response headers (any case).
        body: the raw response body. It may be empty, JSON, or an HTML error page from a proxy.
        device: whether the request went to a registration token. Only then can an answer mark the
            target ``token_invalid``; a topic or condition is never "deleted".

    Returns:
        An ``Outcome``. ``message_id`` is the full message name on success.
    """
    document = load_json(body)
    if 200 <= status_code < 300:
        name = document.get("name") if isinstance(document, Mapping) else None
        return Outcome(ok=True, status_code=status_code, message_id=name if isinstance(name, str) else None)

    lowered = {k.lower(): v for k, v in headers.items()}
    error = document.get("error") if isinstance(document, Mapping) else None
    error = error if isinstance(error, Mapping) else {}
    rpc_status = error.get("status") if isinstance(error.get("status"), str) else None
    text = error.get("message") if isinstance(error.get("message"), str) else None
    if text is None:
        text = _fallback_text(status_code, body)
    details = error.get("details")
    details = [d for d in details if isinstance(d, Mapping)] if isinstance(details, Sequence) else []

    detail_code = _detail_code(details)
    named = _enum_or_none(rpc_status)
    # ``code`` drives the classification; UNSPECIFIED_ERROR says nothing, so the status name stands in.
    code = detail_code if detail_code not in (None, FcmErrorCode.UNSPECIFIED_ERROR) else named
    reason = detail_code if detail_code is not None else named
    retry_after = retry_after_from_headers(lowered)
    message = _describe(status_code, reason, rpc_status, text, details)

    def fail(
        kind: type[ProviderError],
        *,
        token_invalid: bool = False,
        retryable: bool = False,
        refresh: bool = False,
        wait: float | None = retry_after,
    ) -> Outcome:
        err = kind(message, provider="fcm", status_code=status_code, reason=reason, retry_after=wait)
        return Outcome(
            ok=False,
            status_code=status_code,
            error=err,
            reason=reason,
            token_invalid=token_invalid,
            retry_after=wait,
            retryable=retryable,
            refresh_credential=refresh,
        )

    if code in (FcmErrorCode.UNREGISTERED, FcmErrorCode.SENDER_ID_MISMATCH):
        return fail(InvalidTokenError, token_invalid=True) if device else fail(ProviderError)
    if code is FcmErrorCode.INVALID_ARGUMENT and says_token_invalid(text, details):
        return fail(InvalidTokenError, token_invalid=True) if device else fail(ProviderError)
    if code is FcmErrorCode.THIRD_PARTY_AUTH_ERROR:
        return fail(AuthenticationError)
    if code is FcmErrorCode.QUOTA_EXCEEDED or status_code == 429:
        wait = retry_after if retry_after is not None else QUOTA_RETRY_AFTER_SECONDS
        return fail(RateLimitedError, retryable=True, wait=wait)
    if code in (FcmErrorCode.UNAVAILABLE, FcmErrorCode.INTERNAL) or status_code >= 500:
        return fail(ProviderError, retryable=True)
    if status_code == 401:
        # UNAUTHENTICATED without an FcmError: our OAuth access token was refused (expired, revoked).
        return fail(AuthenticationError, retryable=True, refresh=True)
    if status_code == 403:
        return fail(AuthenticationError)
    return fail(ProviderError)


def says_token_invalid(message: str, details: Sequence[Mapping[str, Any]] = ()) -> bool:
    """Whether an INVALID_ARGUMENT answer is about the registration token, not the message.

    FCM uses INVALID_ARGUMENT both for malformed messages and for tokens that are not FCM registration
    tokens at all. It tells them apart only in prose or in a ``google.rpc.BadRequest`` field violation
    on ``message.token``, so this function is the one place that reads them. A token rejected here is
    garbage and can be deleted. A bad message must not cost a user their token.
    """
    lowered = message.lower()
    if any(phrase in lowered for phrase in _TOKEN_INVALID_PHRASES):
        return True
    for detail in details:
        if detail.get("@type") != _BAD_REQUEST_TYPE:
            continue
        violations = detail.get("fieldViolations")
        if isinstance(violations, Sequence) and not isinstance(violations, str):
            for violation in violations:
                if isinstance(violation, Mapping) and violation.get("field") == _TOKEN_FIELD:
                    return True
    return False


def _detail_code(details: Sequence[Mapping[str, Any]]) -> FcmErrorCode | None:
    for detail in details:
        if detail.get("@type") == _FCM_ERROR_TYPE:
            code = _enum_or_none(detail.get("errorCode"))
            if code is not None:
                return code
    return None


def _enum_or_none(value: object) -> FcmErrorCode | None:
    if not isinstance(value, str):
        return None
    try:
        return FcmErrorCode(value)
    except ValueError:
        return None


def _describe(
    status_code: int,
    reason: FcmErrorCode | None,
    rpc_status: str | None,
    text: str,
    details: Sequence[Mapping[str, Any]],
) -> str:
    # Every part quoted from the body is cut short: the server chose their length.
    label = reason.value if reason is not None else excerpt(rpc_status or "error", _SHORT)
    message = f"FCM {label} (HTTP {status_code}): {excerpt(text)}"
    for detail in details:
        # FCM relays APNs refusals (for example BadDeviceToken) in an ApnsError detail; there is one.
        if detail.get("@type") == _APNS_ERROR_TYPE and detail.get("reason"):
            apns_status = excerpt(str(detail.get("statusCode", "?")), _SHORT)
            message += f" [APNs {apns_status} {excerpt(str(detail['reason']), _SHORT)}]"
            break
    return message


def _fallback_text(status_code: int, body: bytes) -> str:
    snippet = body[:200].decode("utf-8", errors="replace").strip()
    if snippet and not snippet.startswith("<"):
        return snippet if len(body) <= 200 else f"{snippet}… ({len(body)} bytes)"
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return "unexpected response"
