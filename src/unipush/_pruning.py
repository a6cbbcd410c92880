"""Safe pruning: a misconfigured client must not report every token it sends to as dead.

APNs answers ``400 BadDeviceToken`` for a token of the other environment and ``400
DeviceTokenNotForTopic`` for a token of another app; FCM answers ``403 SENDER_ID_MISMATCH`` for a token
of another Firebase project. Each is a dead token when it comes alone. When it comes for every token, the
token table is fine and the client is wrong: pointed at the wrong environment (``APNs(environment=)``),
the wrong bundle ID (``topic=``), or a service account of another project. Reporting each as dead would
let ``on_invalid_token`` empty the table.

The rule (``PruningGuard.trusts``, pure): such an answer is trusted as a dead token only when, among the
last ``window`` answers of the same provider and scope (APNs: the same ``apns-topic``), counting this one,

* at least ``min_successes`` were successes (the configuration has been shown to work), and
* at most ``max_suspicious_share`` of them were such answers.

Otherwise the result says ``token_invalid=False``, its ``error`` is a ``ConfigurationError`` naming the
likely mistake (the provider's own error is its ``__cause__``), and ``on_invalid_token`` is not called.

Each result is decided when its answer arrives, from the answers before it, and never revisited: nothing
is reported dead and later taken back, and no result waits for later ones (``send`` returns at once,
``stream`` yields as before). The price is on the safe side: a genuinely dead token answered before the
client has seen enough successes is not reported this time, and is reported on a later send. ``410
Unregistered``/``ExpiredToken``, FCM ``UNREGISTERED`` and Web Push ``404``/``410`` are always trusted:
they say a token that was valid for this very configuration is gone, which no misconfiguration produces.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from unipush._errors import ConfigurationError
from unipush._results import PreparedRequest, SendResult

__all__ = ["DEFAULT_SUSPECTS", "PruningGuard", "PruningWatch"]

logger = logging.getLogger("unipush")

DEFAULT_SUSPECTS: Mapping[tuple[str, str], str] = MappingProxyType(
    {
        # Apple, "Handling notification responses from APNs": BadDeviceToken also means "the token is
        # for the other environment"; DeviceTokenNotForTopic, "the topic is not the app's".
        ("apns", "BadDeviceToken"): (
            "the wrong APNs environment (APNs(environment=...) must match the app build: 'sandbox' for "
            "development builds, 'production' for TestFlight and the App Store)"
        ),
        ("apns", "DeviceTokenNotForTopic"): (
            "the wrong topic (APNs(topic=...) must be the bundle ID of the app the tokens come from)"
        ),
        # FCM ErrorCode: SENDER_ID_MISMATCH, "the authenticated sender ID is different from the sender ID
        # for the registration token".
        ("fcm", "SENDER_ID_MISMATCH"): (
            "credentials of another Firebase project (the service account's project must be the one the "
            "app registered its tokens with)"
        ),
    }
)
"""``(provider, reason)`` → what a storm of that answer most likely means: the answers ``PruningGuard`` watches."""


def _reason_text(reason: object) -> str:
    value = getattr(reason, "value", reason)
    return value if isinstance(value, str) else str(value)


@dataclass(frozen=True, kw_only=True, slots=True)
class PruningGuard:
    """When to believe a "dead token" answer that a misconfiguration also produces (docs/pruning-tokens.md).

    Pass it as ``PushClient(pruning_guard=...)`` / ``AsyncPushClient(pruning_guard=...)``; the default is
    ``PruningGuard()``, and ``pruning_guard=None`` trusts every answer.

    Args:
        window: how many recent answers of one provider and scope the rule looks at (default 100).
        min_successes: successes the window must hold before a watched answer is trusted (default 1).
        max_suspicious_share: the largest share of watched answers in the window, this one included,
            at which one is still trusted (default 0.5: they may not outnumber the other answers, so
            after one success one ``BadDeviceToken`` is trusted, and a second one in a row is not).
        suspects: the watched answers, ``(provider, reason)`` → the likely mistake quoted in the
            error (default ``DEFAULT_SUSPECTS``: APNs ``BadDeviceToken`` and
            ``DeviceTokenNotForTopic``, FCM ``SENDER_ID_MISMATCH``). A plugin's reason can be added.

    Raises:
        ConfigurationError: a setting out of range.
    """

    window: int = 100
    min_successes: int = 1
    max_suspicious_share: float = 0.5
    suspects: Mapping[tuple[str, str], str] = field(default_factory=lambda: DEFAULT_SUSPECTS)

    def __post_init__(self) -> None:
        # Typed fields, but a caller may pass anything: checked as plain objects.
        window: object = self.window
        minimum: object = self.min_successes
        share: object = self.max_suspicious_share
        suspects: object = self.suspects
        if type(window) is not int or window < 1:
            raise ConfigurationError(f"PruningGuard window must be an int >= 1, got {window!r}")
        if type(minimum) is not int or not 0 <= minimum <= window:
            raise ConfigurationError(
                f"PruningGuard min_successes must be an int from 0 to window ({window}), got {minimum!r}"
            )
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
            raise ConfigurationError(f"PruningGuard max_suspicious_share must be from 0 to 1, got {share!r}")
        if not isinstance(suspects, Mapping) or not all(
            isinstance(k, tuple) and len(k) == 2 and all(isinstance(p, str) for p in k) and isinstance(v, str)
            for k, v in suspects.items()
        ):
            raise ConfigurationError("PruningGuard suspects must map (provider, reason) str pairs to a str hint")
        object.__setattr__(self, "suspects", MappingProxyType(dict(self.suspects)))

    def suspect(self, result: SendResult) -> str | None:
        """The likely mistake if ``result`` is a watched "dead token" answer, else ``None``."""
        if not result.token_invalid:
            return None
        return self.suspects.get((result.provider, _reason_text(result.reason)))

    def trusts(self, *, successes: int, suspicious: int, answers: int) -> bool:
        """Whether a watched answer is a dead token, given the window's counts (this answer included). Pure."""
        if answers <= 0:
            return False
        return successes >= self.min_successes and suspicious <= self.max_suspicious_share * answers

    def watch(self) -> PruningWatch:
        """A new, empty record of recent answers that applies this rule (one per client)."""
        return PruningWatch(self)


class PruningWatch:
    """The recent answers per provider and scope, and the rule applied to each new result.

    One per client; thread-safe (a lock around a few integer updates per result).
    """

    def __init__(self, guard: PruningGuard) -> None:
        self.guard = guard
        self._lock = threading.Lock()
        # (provider, scope) -> the last `window` answers: "ok", "suspect" or "other".
        self._windows: dict[tuple[str, str], deque[str]] = {}
        self._holding: set[tuple[str, str]] = set()  # scopes whose watched answers are held now (warned once)

    def review(self, request: PreparedRequest | None, result: SendResult) -> SendResult:
        """``result`` as it should be reported: unchanged, or a watched answer no longer called a dead token."""
        if result.status_code is None:  # no answer (transport error, closed): no evidence either way
            return result
        hint = self.guard.suspect(result)
        kind = "ok" if result.ok else ("suspect" if hint is not None else "other")
        scope = (result.provider, _scope_of(request))
        with self._lock:
            window = self._windows.get(scope)
            if window is None:
                window = self._windows[scope] = deque(maxlen=self.guard.window)
            window.append(kind)
            if hint is None:
                return result
            successes, suspicious, answers = window.count("ok"), window.count("suspect"), len(window)
            trusted = self.guard.trusts(successes=successes, suspicious=suspicious, answers=answers)
            first_held = not trusted and scope not in self._holding
            if trusted:
                self._holding.discard(scope)
            else:
                self._holding.add(scope)
        if trusted:
            return result
        if first_held:
            logger.warning(
                "%s answered %s %s: not reporting these tokens as dead until sends succeed again; most likely %s",
                result.provider,
                _reason_text(result.reason),
                _evidence(successes, suspicious, answers),
                hint,
            )
        return held(result, hint, successes=successes, suspicious=suspicious, answers=answers)


def held(result: SendResult, hint: str, *, successes: int, suspicious: int, answers: int) -> SendResult:
    """``result`` with ``token_invalid=False`` and a ``ConfigurationError`` saying what is probably wrong."""
    reason = _reason_text(result.reason)
    error = ConfigurationError(
        f"{result.provider} answered {reason} {_evidence(successes, suspicious, answers)}: probably not a dead "
        f"token but {hint}; "
        "not reported as invalid (docs/pruning-tokens.md)"
    )
    error.__cause__ = result.error
    return replace(result, token_invalid=False, invalidated_at=None, error=error)


def _evidence(successes: int, suspicious: int, answers: int) -> str:
    if successes == 0:
        return f"before any send through this configuration succeeded ({suspicious} so far)"
    return f"for {suspicious} of the last {answers} answers, of which only {successes} succeeded"


def _scope_of(request: PreparedRequest | None) -> str:
    # APNs: a wrong topic is per topic (ApnsOptions may override it per notification), so answers for
    # one topic say nothing about another. Other providers have one configuration per client.
    if request is None:
        return ""
    return request.headers.get("apns-topic", "")
