"""The retry policy: a pure decision from one attempt's outcome, shared by both clients.

Which answers retry (RFC 9110 §15.6.4, Apple's and Google's guidance, protocols.md §1.5, §2.3, §3.2):

* HTTP 429 and 5xx, and transport errors (connection reset, GOAWAY with the stream processed or not,
  timeouts): retry with exponential backoff and full jitter, or after ``Retry-After`` when the server
  gives one (RFC 9110 §10.2.3: seconds or an HTTP-date), capped at ``max_retry_after``.
* A refused credential the provider says can be refreshed (APNs ``ExpiredProviderToken``, FCM plain
  401): one immediate resend after the credential is re-minted; a second refusal is final.
* Everything else (4xx: a bad payload, a dead token, a wrong key) is final: sending it again cannot work.

The policy never sleeps and never reads a clock on its own: the sending loop (``_sending``, one plain
loop for both clients) asks it, then waits. A ``RetryBudget`` shared by a client caps retries to a fraction of
first attempts, so an outage does not multiply the load on a provider.
"""

from __future__ import annotations

import itertools
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from unipush import _validate as v
from unipush._errors import TransportError, ValidationError
from unipush._results import Outcome

__all__ = [
    "FINAL",
    "RetryBudget",
    "RetryDecision",
    "RetryPolicy",
    "header",
    "parse_retry_after",
    "retry_after_from_headers",
]


def _http_date(value: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    # RFC 9110 §5.6.7: HTTP-dates are always UTC.
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def parse_retry_after(value: str | None, now: datetime | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).

    ``now`` (aware) anchors a date, a date in the past meaning 0; with ``now=None`` a date gives ``None``.
    Returns ``None`` when the value is absent or invalid (negative, not finite, neither form), so a
    broken header falls back to the policy's backoff.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        when = _http_date(value)
        if when is None or now is None:
            return None
        return max(0.0, (when - now).total_seconds())
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header value by lower-case ``name``, whatever the case of the keys in ``headers``."""
    value = headers.get(name)
    if value is not None:
        return value
    for key, item in headers.items():
        if key.lower() == name:
            return item
    return None


def retry_after_from_headers(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` of a response in seconds, for the pure decoders.

    An HTTP-date is measured from the response's own ``Date`` header (RFC 9110 §6.6.1): a decoder reads
    no clock, so without ``Date`` a date gives ``None`` and the policy's backoff applies.
    """
    sent = header(headers, "date")
    return parse_retry_after(header(headers, "retry-after"), _http_date(sent) if sent else None)


class RetryBudget:
    """A token bucket shared by every send of one client: retries may add at most ``ratio`` of the
    first attempts, plus a floor of ``min_per_second`` so a quiet client can still retry."""

    def __init__(
        self, *, ratio: float = 0.2, min_per_second: float = 10.0, clock: Callable[[], float] = time.monotonic
    ):
        checked_ratio = v.optional_number("ratio", ratio, minimum=0, maximum=1)
        floor = v.optional_number("min_per_second", min_per_second, minimum=0)
        if checked_ratio is None or floor is None:
            raise ValidationError("ratio" if checked_ratio is None else "min_per_second", "is required")
        if not callable(clock):
            raise ValidationError("clock", f"must be a callable returning seconds, got {type(clock).__name__}")
        self.ratio = checked_ratio
        self.min_per_second = floor
        self._clock = clock
        self._lock = threading.Lock()
        # First attempts are counted without the lock (next() on a count is atomic under the GIL): one
        # per notification, where a lock costs more than the whole decision. They turn into tokens when
        # a retry asks for one; ``next`` numbers those reads too, so they are counted apart.
        self._attempts = itertools.count(1)
        self._reads = 0
        self._converted = 0
        self._tokens = max(min_per_second, 1.0)
        self._capacity = max(min_per_second * 10, 10.0)
        self._last = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._last) * self.min_per_second)
        self._last = now

    def _earn(self) -> None:
        # Under the lock: the first attempts recorded since the last read, each worth ``ratio``.
        self._reads += 1
        recorded = next(self._attempts) - self._reads
        new = recorded - self._converted
        if new:
            self._converted = recorded
            self._tokens = min(self._capacity + self.ratio, self._tokens + new * self.ratio)

    def record_attempt(self) -> None:
        """A first attempt was made: it earns ``ratio`` of a retry (counted when a retry asks for one).

        Called once per notification, so it takes no lock and reads no clock.
        """
        next(self._attempts)

    def try_spend(self) -> bool:
        """Take one retry from the budget; False when the budget is exhausted."""
        with self._lock:
            self._refill()
            self._earn()
            if self._tokens >= 1.0 - 1e-9:  # ratio sums (0.1 * 10) must not fall short by a rounding error
                self._tokens -= 1.0
                return True
            return False


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """Whether to send again, and after how many seconds."""

    retry: bool
    delay: float = 0.0
    refresh_credential: bool = False


FINAL = RetryDecision(False)  # "do not send again": one shared instance, it is decided for most sends


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How a client retries. ``max_attempts`` counts the first attempt (1 = never retry).

    Backoff before attempt *n+1* is ``min(max_backoff, initial_backoff * multiplier**(n-1))`` scaled by a
    random factor in ``[1 - jitter, 1]``; a server's ``Retry-After`` replaces it, capped at
    ``max_retry_after`` (a longer demand is not retried: the result says ``retry_after``).
    """

    max_attempts: int = 4
    initial_backoff: float = 0.5
    multiplier: float = 2.0
    max_backoff: float = 30.0
    jitter: float = 0.5
    max_retry_after: float = 120.0
    retry_transport_errors: bool = True
    budget: RetryBudget | None = field(default_factory=RetryBudget, compare=False)
    rng: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        # ValidationError is also a ValueError, which these checks raised before.
        if v.optional_int("max_attempts", self.max_attempts, minimum=1) is None:
            raise ValidationError("max_attempts", "is required")
        for name in ("initial_backoff", "multiplier", "max_backoff", "max_retry_after"):
            if v.optional_number(name, getattr(self, name), minimum=0) is None:
                raise ValidationError(name, "is required")
        if v.optional_number("jitter", self.jitter, minimum=0, maximum=1) is None:
            raise ValidationError("jitter", "is required")
        if not isinstance(self.retry_transport_errors, bool):
            raise ValidationError(
                "retry_transport_errors", f"must be a bool, got {type(self.retry_transport_errors).__name__}"
            )
        if self.budget is not None and not isinstance(self.budget, RetryBudget):
            raise ValidationError("budget", f"must be a RetryBudget or None, got {type(self.budget).__name__}")
        if not callable(self.rng):
            raise ValidationError(
                "rng", f"must be a callable returning a float in [0, 1), got {type(self.rng).__name__}"
            )

    @classmethod
    def never(cls) -> RetryPolicy:
        """A policy that sends each request once."""
        return cls(max_attempts=1, budget=None)

    def backoff(self, attempt: int) -> float:
        """The jittered delay after failed attempt number ``attempt`` (1-based)."""
        try:
            grown = self.initial_backoff * self.multiplier ** max(0, attempt - 1)
        except OverflowError:  # a large multiplier after many attempts: past any cap
            grown = math.inf
        base = min(self.max_backoff, grown)
        return base * (1.0 - self.jitter * self.rng())

    def decide(
        self, attempt: int, outcome: Outcome | None, error: TransportError | None, *, refreshed: bool = False
    ) -> RetryDecision:
        """Decide after attempt number ``attempt`` (1-based) ended with ``outcome`` or ``error``.

        ``refreshed`` says the credential was already re-minted once for this send.
        """
        if outcome is not None and outcome.ok:
            return FINAL
        if attempt >= self.max_attempts:
            return FINAL
        if outcome is not None:
            if outcome.refresh_credential:
                # Re-mint once and resend at once (Apple: ExpiredProviderToken; Google: plain 401).
                return RetryDecision(not refreshed and self._spend(), 0.0, refresh_credential=not refreshed)
            if not outcome.retryable:
                return FINAL
            if outcome.retry_after is not None:
                if outcome.retry_after > self.max_retry_after:
                    return FINAL
                return RetryDecision(self._spend(), outcome.retry_after)
            return RetryDecision(self._spend(), self.backoff(attempt))
        if error is not None and self.retry_transport_errors:
            return RetryDecision(self._spend(), self.backoff(attempt))
        return FINAL

    def _spend(self) -> bool:
        return self.budget is None or self.budget.try_spend()
