"""FCM topic management over the Instance ID server API: pure encoder and decoder, and the result type.

Google's Instance ID server reference ("Create relationship maps for app instances", "Manage
relationship maps for multiple app instances") and the Firebase guide "Manage topics from the server":

* ``POST https://iid.googleapis.com/iid/v1:batchAdd`` subscribes, ``.../iid/v1:batchRemove`` unsubscribes;
* the body is ``{"to": "/topics/<name>", "registration_tokens": [<token>, ...]}``, at most 1,000 tokens;
* the credential is an OAuth2 bearer token (the ``firebase.messaging`` scope, the one FCM sends use) plus
  the header ``access_token_auth: true``, without which IID reads ``Authorization`` as a legacy server key;
* a 200 answer is ``{"results": [{}, {"error": "NOT_FOUND"}, ...]}``: one entry per token, in order,
  ``{}`` for a success;
* a refusal of the whole call is a non-200 status with ``{"error": "<CODE>"}`` (IID's own answers) or a
  ``google.rpc.Status`` (Google's front end: a bad or expired access token).

Per-token error codes (the names the Firebase Admin SDKs map, e.g. firebase-admin-node's topic management
table): ``NOT_FOUND`` (the token is not registered: the app was uninstalled), ``INVALID_ARGUMENT`` (not a
valid registration token), ``TOO_MANY_TOPICS`` (the app instance is at FCM's limit of 2,000 topics),
``RESOURCE_EXHAUSTED`` (too many subscription requests), ``PERMISSION_DENIED``, ``DEADLINE_EXCEEDED``,
``INTERNAL`` and ``UNKNOWN``. The first two mark the token dead, exactly as ``UNREGISTERED`` does on a send.

Everything here is pure: the client (``unipush._topic_sending``) attaches the OAuth token, sends, retries.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from http import HTTPStatus
from typing import Any, Literal

from unipush._errors import AuthenticationError, InvalidTokenError, ProviderError, RateLimitedError, ValidationError
from unipush._excerpt import excerpt
from unipush._results import BatchResult, Outcome, PreparedRequest
from unipush._retry import retry_after_from_headers
from unipush.fcm._target import FcmDevice, FcmTopic

__all__ = [
    "IID_BASE_URL",
    "MAX_TOKENS_PER_REQUEST",
    "TopicAnswer",
    "TopicErrorCode",
    "TopicManagementResult",
    "TopicOperation",
    "chunk_tokens",
    "encode_topic_request",
    "parse_topic_response",
    "prepare_topic_request",
    "registration_tokens",
    "topic_name",
]

IID_BASE_URL = "https://iid.googleapis.com"
"""Google's Instance ID server API host."""

MAX_TOKENS_PER_REQUEST = 1000
"""Instance ID server API: at most 1,000 registration tokens per batchAdd / batchRemove call."""

TopicOperation = Literal["subscribe", "unsubscribe"]
"""What a topic management call does: ``batchAdd`` or ``batchRemove``."""

_PATHS: Mapping[str, str] = {"subscribe": "/iid/v1:batchAdd", "unsubscribe": "/iid/v1:batchRemove"}
_TOPIC_PREFIX = "/topics/"


class TopicErrorCode(str, Enum):
    """The Instance ID API's error codes, per token (``results[i].error``) or for a whole call."""

    NOT_FOUND = "NOT_FOUND"
    """The registration token is not registered (the app was uninstalled or the token expired)."""
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    """The registration token is not a valid one (or, for a whole call, the request was malformed)."""
    TOO_MANY_TOPICS = "TOO_MANY_TOPICS"
    """The app instance is subscribed to FCM's maximum of 2,000 topics."""
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    """Too many subscription requests; retry later."""
    PERMISSION_DENIED = "PERMISSION_DENIED"
    """The credential may not manage this token's subscriptions."""
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    """The service did not finish in time; retry later."""
    INTERNAL = "INTERNAL"
    """An internal error of the service; retry later."""
    UNKNOWN = "UNKNOWN"
    """The service gave no more information."""

    def __str__(self) -> str:
        return str(self.value)


# Per-token codes that mean "delete this token": the IID equivalents of FCM's UNREGISTERED and of an
# INVALID_ARGUMENT that is about the token (the topic and the body were checked before sending, so a
# per-token INVALID_ARGUMENT can only be about the token).
_DEAD = frozenset({TopicErrorCode.NOT_FOUND, TopicErrorCode.INVALID_ARGUMENT})
_WHY: Mapping[TopicErrorCode, str] = {
    TopicErrorCode.NOT_FOUND: "the registration token is not registered",
    TopicErrorCode.INVALID_ARGUMENT: "not a valid registration token",
    TopicErrorCode.TOO_MANY_TOPICS: "the app instance is subscribed to too many topics (FCM's limit is 2000)",
    TopicErrorCode.RESOURCE_EXHAUSTED: "too many topic subscription requests",
    TopicErrorCode.PERMISSION_DENIED: "permission denied for this token",
    TopicErrorCode.DEADLINE_EXCEEDED: "deadline exceeded",
    TopicErrorCode.INTERNAL: "internal error",
    TopicErrorCode.UNKNOWN: "unknown error",
}
_SHORT = 100  # characters quoted of a code the server made up: real ones are a word


# ------------------------------------------------------------------------------------------------ input


def topic_name(topic: object) -> str:
    """The bare name of ``topic`` (a name, ``/topics/<name>`` or an ``FcmTopic``), checked as ``FcmTopic`` does."""
    if isinstance(topic, FcmTopic):
        return topic.name
    return FcmTopic(topic).name  # type: ignore[arg-type]  # FcmTopic reports a non-string itself


def registration_tokens(tokens: object) -> list[FcmDevice]:
    """``tokens`` (registration token strings or ``FcmDevice``s, or one of them) as checked ``FcmDevice``s.

    Raises:
        ValidationError: ``tokens`` is empty, or an entry is not a registration token (``tokens[i]``).
    """
    items: Iterable[object]
    if isinstance(tokens, (str, FcmDevice)):
        items = [tokens]
    elif isinstance(tokens, Iterable) and not isinstance(tokens, (bytes, Mapping)):
        items = tokens
    else:
        kind = type(tokens).__name__
        raise ValidationError("tokens", f"must be registration tokens or FcmDevice targets, got {kind}")
    devices: list[FcmDevice] = []
    for index, token in enumerate(items):
        if isinstance(token, FcmDevice):
            devices.append(token)
            continue
        try:
            devices.append(FcmDevice(token))  # type: ignore[arg-type]  # FcmDevice reports a non-string itself
        except ValidationError as exc:
            raise ValidationError(f"tokens[{index}]", exc.message) from None
    if not devices:
        raise ValidationError("tokens", "must hold at least one registration token")
    return devices


def chunk_tokens(devices: Sequence[FcmDevice], size: int = MAX_TOKENS_PER_REQUEST) -> list[Sequence[FcmDevice]]:
    """``devices`` cut into consecutive calls of at most ``size`` (the IID limit of 1,000), in order."""
    return [devices[start : start + size] for start in range(0, len(devices), size)]


# ------------------------------------------------------------------------------------------------ encode


def encode_topic_request(topic: str, devices: Sequence[FcmDevice]) -> dict[str, Any]:
    """The JSON body of one batchAdd / batchRemove call: ``{"to": "/topics/<name>", "registration_tokens": [...]}``."""
    return {"to": _TOPIC_PREFIX + topic, "registration_tokens": [device.token for device in devices]}


def prepare_topic_request(
    iid_base_url: str, operation: TopicOperation, topic: str, devices: Sequence[FcmDevice]
) -> PreparedRequest:
    """The complete request of one call, without its credential (``credential_pending``, as for a send).

    ``target`` is the ``FcmTopic``: the request is about the topic, and reprs then show its name.

    Raises:
        ValidationError: more than ``MAX_TOKENS_PER_REQUEST`` tokens (split them with ``chunk_tokens``).
    """
    if operation not in _PATHS:
        raise ValidationError("operation", f"must be 'subscribe' or 'unsubscribe', got {operation!r}")
    if not devices:
        raise ValidationError("tokens", "must hold at least one registration token")
    if len(devices) > MAX_TOKENS_PER_REQUEST:
        raise ValidationError(
            "tokens", f"at most {MAX_TOKENS_PER_REQUEST} registration tokens per call, got {len(devices)}"
        )
    payload = encode_topic_request(topic, devices)
    return PreparedRequest(
        provider="fcm",
        target=FcmTopic(topic),
        method="POST",
        url=iid_base_url.rstrip("/") + _PATHS[operation],
        headers={
            "content-type": "application/json",
            # Instance ID server reference: with an OAuth2 access token, this header must say so.
            "access_token_auth": "true",
        },
        body=json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8"),
        payload=payload,
        credential_pending=True,
    )


# ------------------------------------------------------------------------------------------------ decode


@dataclass(frozen=True, kw_only=True, slots=True)
class TopicAnswer:
    """The decoded answer to one call: ``outcome`` for the call, and one ``Outcome`` per token when it got one.

    ``results`` is ``None`` when the call as a whole failed (``outcome.ok`` is False): then every token of
    the call shares ``outcome``'s error, and ``outcome.retryable``/``refresh_credential`` drive the retry.
    """

    outcome: Outcome
    results: tuple[Outcome, ...] | None = None


def parse_topic_response(status_code: int, headers: Mapping[str, str], body: bytes, count: int) -> TopicAnswer:
    """Decode IID's answer to a call for ``count`` tokens. Pure and total: never raises.

    A 200 whose ``results`` is missing or not ``count`` entries long is refused as a whole: results that
    cannot be matched to tokens must not be guessed at (a success reported for the wrong token would hide
    a dead one).
    """
    document = _load_json(body)
    if status_code == 200:
        results = document.get("results") if isinstance(document, Mapping) else None
        if not isinstance(results, list) or len(results) != count:
            got = f"{len(results)} results" if isinstance(results, list) else "no results list"
            error = ProviderError(
                f"IID answered {got} for {count} registration tokens", provider="fcm", status_code=status_code
            )
            return TopicAnswer(outcome=Outcome(ok=False, status_code=status_code, error=error))
        return TopicAnswer(
            outcome=Outcome(ok=True, status_code=status_code),
            results=tuple(_token_outcome(status_code, entry) for entry in results),
        )
    return TopicAnswer(outcome=_call_failure(status_code, headers, body, document))


def _token_outcome(status_code: int, entry: object) -> Outcome:
    if isinstance(entry, Mapping) and "error" not in entry:
        return Outcome(ok=True, status_code=status_code)
    raw = entry.get("error") if isinstance(entry, Mapping) else None
    code = _code(raw)
    label = code.value if code is not None else excerpt(str(raw), _SHORT) if raw is not None else "malformed result"
    why = _WHY.get(code, "refused") if code is not None else "refused"
    message = f"IID {label}: {why}"
    kind: type[ProviderError] = ProviderError
    if code in _DEAD:
        kind = InvalidTokenError
    elif code is TopicErrorCode.RESOURCE_EXHAUSTED:
        kind = RateLimitedError
    elif code is TopicErrorCode.PERMISSION_DENIED:
        kind = AuthenticationError
    error = kind(message, provider="fcm", status_code=status_code, reason=code)
    return Outcome(
        ok=False,
        status_code=status_code,
        error=error,
        reason=code,
        token_invalid=code in _DEAD,
        retryable=code
        in (TopicErrorCode.RESOURCE_EXHAUSTED, TopicErrorCode.INTERNAL, TopicErrorCode.DEADLINE_EXCEEDED),
    )


def _call_failure(status_code: int, headers: Mapping[str, str], body: bytes, document: object) -> Outcome:
    """A non-200 answer: the call failed for every token in it."""
    error_field = document.get("error") if isinstance(document, Mapping) else None
    text: str | None = None
    if isinstance(error_field, str):  # IID: {"error": "<CODE>"}, nothing more to quote
        name: str | None = error_field
        text = _phrase(status_code)
    elif isinstance(error_field, Mapping):  # Google's front end: a google.rpc.Status
        name = error_field.get("status") if isinstance(error_field.get("status"), str) else None
        text = error_field.get("message") if isinstance(error_field.get("message"), str) else None
    else:
        name = None
    code = _code(name)
    if text is None:
        text = _fallback_text(status_code, body)
    label = excerpt(name, _SHORT) if name else _phrase(status_code)
    message = f"IID {label} (HTTP {status_code}): {excerpt(text)}"
    retry_after = retry_after_from_headers({k.lower(): v for k, v in headers.items()})

    def fail(kind: type[ProviderError], *, retryable: bool = False, refresh: bool = False) -> Outcome:
        err = kind(message, provider="fcm", status_code=status_code, reason=code, retry_after=retry_after)
        return Outcome(
            ok=False,
            status_code=status_code,
            error=err,
            reason=code,
            retry_after=retry_after,
            retryable=retryable,
            refresh_credential=refresh,
        )

    # The same rules as for messages:send (unipush.fcm._decode): 401 = the access token was refused, so
    # mint a new one once; 403 = the account may not do this; 429 and 5xx may succeed later.
    if status_code == 401:
        return fail(AuthenticationError, retryable=True, refresh=True)
    if status_code == 403:
        return fail(AuthenticationError)
    if status_code == 429 or code is TopicErrorCode.RESOURCE_EXHAUSTED:
        return fail(RateLimitedError, retryable=True)
    if status_code >= 500:
        return fail(ProviderError, retryable=True)
    return fail(ProviderError)


def _code(value: object) -> TopicErrorCode | None:
    if not isinstance(value, str):
        return None
    try:
        return TopicErrorCode(value)
    except ValueError:
        return None


def _load_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _phrase(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return "error"


def _fallback_text(status_code: int, body: bytes) -> str:
    snippet = body[:200].decode("utf-8", errors="replace").strip()
    if snippet and not snippet.startswith("<"):
        return snippet
    return _phrase(status_code)


# ------------------------------------------------------------------------------------------------ result


@dataclass(frozen=True, kw_only=True, slots=True)
class TopicManagementResult(BatchResult):
    """What ``subscribe_to_topic`` / ``unsubscribe_from_topic`` return: one ``SendResult`` per token, in input order.

    Each result's ``target`` is the ``FcmDevice``; ``ok`` says the token is now (un)subscribed; a dead token
    has ``token_invalid`` (and was handed to ``on_invalid_token``), with ``reason`` a ``TopicErrorCode``.
    When a whole call failed (a refused credential, a 5xx after the retries, no answer), each of its
    tokens carries that call's error. ``success_count`` and ``failure_count`` count them; ``succeeded``,
    ``failed`` and ``invalid_tokens`` are ``BatchResult``'s.
    """

    topic: str = field(default="")
    operation: TopicOperation = field(default="subscribe")

    @property
    def success_count(self) -> int:
        """How many tokens were (un)subscribed."""
        return sum(1 for result in self.results if result.ok)

    @property
    def failure_count(self) -> int:
        """How many tokens were not."""
        return len(self.results) - self.success_count

    def __repr__(self) -> str:
        return (
            f"TopicManagementResult({self.operation} topic={self.topic!r}, ok={self.success_count}, "
            f"failed={self.failure_count}, invalid={len(self.invalid_tokens)})"
        )
