"""Rate limits shared by every worker of a fleet: a token bucket per provider and a shared pause.

Both live in Redis and are changed only by Lua scripts, which Redis runs atomically, so a fleet of any
size takes tokens from one bucket without a race. The bucket's clock is Redis's own ``TIME``: workers'
clocks may disagree, the server's is one.

* ``RateLimit(per_second=..., burst=...)`` for a provider: every worker takes a token before each
  request. FCM enforces a per-project quota (Firebase, "Throttling and quotas": messages per minute per
  project, ``QUOTA_EXCEEDED`` when over it), which is shared by every process sending for the project.
* A 429 whose ``Retry-After`` says "wait" (RFC 9110 §10.2.3; APNs ``TooManyRequests``, FCM
  ``QUOTA_EXCEEDED``, a push service's 429) seen by one worker sets ``paused until`` for that provider in
  Redis; every worker looks at it before sending (at most every ``pause_poll`` seconds, so others slow
  within that delay) and holds new requests until it passes. The worker that saw the 429 retries that
  request itself after ``Retry-After``, as its client's retry policy says.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import redis

from unipush._errors import ConfigurationError, TransportError
from unipush._results import Outcome
from unipush._retry import RetryDecision, RetryPolicy

__all__ = ["FleetLimiter", "FleetRetryPolicy", "RateLimit"]

logger = logging.getLogger("unipush.celery")

# KEYS: bucket, pause. ARGV: rate per second (0: no bucket), burst, tokens wanted.
# Returns {tokens granted, milliseconds to wait before asking again}.
_TAKE = """
local pause = redis.call('PTTL', KEYS[2])
if pause > 0 then return {0, pause} end
local rate = tonumber(ARGV[1])
local want = tonumber(ARGV[3])
if rate <= 0 then return {want, 0} end
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local granted = math.min(want, math.floor(tokens))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
if granted > 0 then return {granted, 0} end
return {0, math.max(1, math.ceil((1 - tokens) * 1000 / rate))}
"""

# KEYS: pause. ARGV: milliseconds. Lengthens the pause, never shortens it.
_PAUSE = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
  return 1
end
return 0
"""


@dataclass(frozen=True, kw_only=True, slots=True)
class RateLimit:
    """At most ``per_second`` requests per second to one provider across the fleet, bursts up to ``burst``.

    ``burst`` defaults to one second's worth (at least 1).
    """

    per_second: float
    burst: int | None = None

    def __post_init__(self) -> None:
        if not _positive_number(self.per_second):
            raise ConfigurationError(f"RateLimit.per_second must be a number > 0, got {self.per_second!r}")
        if self.burst is not None and (type(self.burst) is not int or self.burst < 1):
            raise ConfigurationError(f"RateLimit.burst must be an int >= 1, got {self.burst!r}")

    @property
    def capacity(self) -> int:
        """The bucket's size."""
        return self.burst if self.burst is not None else max(1, math.ceil(self.per_second))


def _positive_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


class FleetLimiter:
    """One process's handle on the fleet's buckets and pauses (thread-safe)."""

    def __init__(
        self,
        client: redis.Redis,
        limits: Mapping[str, RateLimit] | None = None,
        *,
        prefix: str = "unipush:limit",
        pause_poll: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._limits = dict(limits or {})
        self.check(self._limits)
        self._prefix = prefix
        self._pause_poll = pause_poll
        self._sleep = sleep
        self._take = client.register_script(_TAKE)
        self._pause = client.register_script(_PAUSE)
        self._redis = client
        self._lock = threading.Lock()
        self._tokens: dict[str, int] = {}  # tokens taken from the bucket, not yet spent
        self._next_check: dict[str, float] = {}  # when to look at the shared pause again (no bucket)
        self._paused_until: dict[str, float] = {}  # pauses this process set itself (seen at once)

    @staticmethod
    def check(limits: Mapping[str, object]) -> None:
        """``ConfigurationError`` unless every value is a ``RateLimit``."""
        for provider, limit in limits.items():
            if not isinstance(limit, RateLimit):
                raise ConfigurationError(f"rate_limits[{provider!r}] must be a RateLimit, got {type(limit).__name__}")

    def _keys(self, provider: str) -> list[str]:
        return [f"{self._prefix}:{provider}:bucket", f"{self._prefix}:{provider}:paused"]

    def acquire(self, provider: str) -> float:
        """Block until one request to ``provider`` may start; returns the seconds spent waiting."""
        waited = 0.0
        limit = self._limits.get(provider)
        while True:
            now = time.monotonic()
            with self._lock:
                own = self._paused_until.get(provider, 0.0) - now
                if own <= 0:
                    if limit is not None and self._tokens.get(provider, 0) > 0:
                        self._tokens[provider] -= 1
                        return waited
                    if limit is None and now < self._next_check.get(provider, 0.0):
                        return waited
            if own > 0:
                delay = own
            else:
                if limit is None:
                    granted, wait_ms = self._take(keys=self._keys(provider), args=[0, 0, 1])
                    with self._lock:
                        self._next_check[provider] = now + self._pause_poll
                else:
                    # Take about 50 ms worth at a time: one Redis round trip per block, not per request.
                    block = max(1, min(limit.capacity, math.ceil(limit.per_second / 20)))
                    granted, wait_ms = self._take(
                        keys=self._keys(provider), args=[limit.per_second, limit.capacity, block]
                    )
                    if granted:
                        with self._lock:
                            self._tokens[provider] = self._tokens.get(provider, 0) + int(granted) - 1
                        return waited
                if granted and limit is None:
                    return waited
                delay = int(wait_ms) / 1000
            self._sleep(delay)
            waited += delay

    def pause(self, provider: str, seconds: float) -> None:
        """Hold every worker's new requests to ``provider`` for ``seconds`` (a 429's ``Retry-After``)."""
        if seconds <= 0:
            return
        with self._lock:
            until = time.monotonic() + seconds
            if until > self._paused_until.get(provider, 0.0):
                self._paused_until[provider] = until
        self._pause(keys=self._keys(provider)[1:], args=[math.ceil(seconds * 1000)])

    def paused_for(self, provider: str) -> float:
        """Seconds left in the fleet's pause for ``provider`` (0 when not paused)."""
        remaining = int(self._redis.pttl(self._keys(provider)[1]))
        return remaining / 1000 if remaining > 0 else 0.0


@dataclass(frozen=True, kw_only=True)
class FleetRetryPolicy(RetryPolicy):
    """A client's own retry policy, unchanged, that also tells the fleet about a 429 with ``Retry-After``.

    Built by ``wrap`` around the policy the client was given: every decision is the inner policy's.
    """

    inner: RetryPolicy = field(default_factory=RetryPolicy, compare=False, repr=False)
    limiter: FleetLimiter | None = field(default=None, compare=False, repr=False)

    @classmethod
    def wrap(cls, policy: RetryPolicy, limiter: FleetLimiter) -> FleetRetryPolicy:
        """``policy`` with the fleet hook (its settings and its budget are shared, not copied)."""
        if isinstance(policy, FleetRetryPolicy):
            policy = policy.inner
        own: dict[str, Any] = {f.name: getattr(policy, f.name) for f in fields(RetryPolicy) if f.init}
        return cls(**own, inner=policy, limiter=limiter)

    def backoff(self, attempt: int) -> float:
        """The inner policy's backoff."""
        return self.inner.backoff(attempt)

    def decide(
        self, attempt: int, outcome: Outcome | None, error: TransportError | None, *, refreshed: bool = False
    ) -> RetryDecision:
        """The inner policy's decision; a 429 with ``Retry-After`` first pauses the provider fleet-wide."""
        if (
            self.limiter is not None
            and outcome is not None
            and outcome.status_code == 429
            and outcome.retry_after is not None
            and outcome.error is not None
        ):
            # On the client's event loop: one short Redis call, on a 429 only.
            try:
                self.limiter.pause(outcome.error.provider, outcome.retry_after)
            except redis.RedisError as exc:
                # The fleet is told at best effort; this client still honours Retry-After itself.
                logger.warning(
                    "could not share a %s pause of %.1f s: %s", outcome.error.provider, outcome.retry_after, exc
                )
        return self.inner.decide(attempt, outcome, error, refreshed=refreshed)
