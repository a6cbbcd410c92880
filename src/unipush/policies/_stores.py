"""Where send policies keep their counts: ``MemoryPolicyStore`` (one process) and ``RedisPolicyStore`` (a fleet).

A store knows one operation, a sliding-window log: ``acquire(key, limit, window, now, token)`` admits
``token`` under ``key`` when fewer than ``limit`` tokens were admitted in the ``window`` seconds up to
``now``, and records it; ``release(key, token)`` forgets one again (a send that certainly did not go
out). A frequency cap is that log with its limit; de-duplication is the same log with a limit of 1.
The check and the record are one atomic step (a lock in memory, one Lua script in Redis), so
processes racing on one recipient never admit more than ``limit``.
"""

from __future__ import annotations

import os
import secrets
import threading
from itertools import count
from typing import Any, Protocol, runtime_checkable

from unipush._credentials import _safe_url  # one way to hide a URL's password, shared
from unipush._errors import ConfigurationError

__all__ = ["MemoryPolicyStore", "PolicyStore", "RedisPolicyStore", "new_token"]


@runtime_checkable
class PolicyStore(Protocol):
    """What a send policy needs from its store (``MemoryPolicyStore``, ``RedisPolicyStore`` or your own).

    ``blocking`` says whether the calls do I/O: a client then runs them in a worker thread, never on
    its event loop. Both methods are called with the client's clock (``now`` in UNIX seconds).
    """

    blocking: bool

    def acquire(self, key: str, *, limit: int, window: float, now: float, token: str) -> bool:
        """Record ``token`` under ``key`` if fewer than ``limit`` were recorded in ``(now - window, now]``."""

    def release(self, key: str, token: str) -> None:
        """Forget ``token`` under ``key`` (a send it admitted certainly did not go out)."""


# Tokens are unique across processes (the Redis log is a sorted set: one member per token): a random
# prefix per process, renewed in a forked child, and a counter.
_prefix = secrets.token_hex(6)
_counter = count()


def _renew_prefix() -> None:
    global _prefix, _counter
    _prefix = secrets.token_hex(6)
    _counter = count()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_prefix)


def new_token() -> str:
    """A token no other send of any process uses."""
    return f"{_prefix}{next(_counter)}"


class MemoryPolicyStore:
    """The counts in this process's memory (the default): right for one process, lost when it exits.

    Safe to share between clients and threads. Keys whose window has passed are swept as new ones come,
    so memory follows the recipients active within the longest window, not every recipient ever seen.
    """

    blocking = False
    _SWEEP_EVERY = 4096

    def __init__(self) -> None:
        # key -> ((time, token), ...) oldest first, never more than the limit (a small number). Tuples of
        # floats and strings, replaced rather than changed: the garbage collector stops tracking them,
        # so a million recipients do not slow every collection down.
        self._logs: dict[str, tuple[tuple[float, str], ...]] = {}
        self._longest = 0.0  # the longest window asked for: what the sweep may forget
        self._lock = threading.Lock()
        self._until_sweep = self._SWEEP_EVERY

    def acquire(self, key: str, *, limit: int, window: float, now: float, token: str) -> bool:
        """Record ``token`` under ``key`` if fewer than ``limit`` were recorded in ``(now - window, now]``."""
        with self._lock:
            log = self._logs.get(key)
            if log is None:
                if window > self._longest:
                    self._longest = window
                self._until_sweep -= 1
                if self._until_sweep <= 0:
                    self._sweep(now)
                log = ()
            elif log and log[0][0] <= now - window:
                oldest = now - window
                log = tuple(entry for entry in log if entry[0] > oldest)
            if len(log) >= limit:
                return False
            self._logs[key] = (*log, (now, token))
            return True

    def release(self, key: str, token: str) -> None:
        """Forget ``token`` under ``key``."""
        with self._lock:
            log = self._logs.get(key)
            if log is not None:
                self._logs[key] = tuple(entry for entry in log if entry[1] != token)

    def _sweep(self, now: float) -> None:
        # Amortised O(1) per new key: a full pass only after as many new keys as there are keys.
        self._until_sweep = max(self._SWEEP_EVERY, len(self._logs))
        oldest = now - self._longest
        for key in [k for k, log in self._logs.items() if not log or log[-1][0] <= oldest]:
            del self._logs[key]

    def __len__(self) -> int:
        """How many keys are held (for tests and monitoring)."""
        return len(self._logs)


# KEYS[1] the log (a sorted set scored by time in ms); ARGV: now ms, window ms, limit, token.
# One script, so the trim, the count and the add are one atomic step for every process using this Redis
# (Redis "EVAL": a script runs without any other command in between).
_ACQUIRE = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return 1
"""


class RedisPolicyStore:
    """The counts in Redis, shared by every process of a fleet (the same Redis the scale-out work uses).

    Args:
        url: a Redis URL (``redis://host:6379/0``, ``rediss://`` for TLS, ``unix://``); or
        client: a ``redis.Redis`` you already have.
        prefix: put before every key (``unipush:policy:<policy>:<recipient>...``).

    Each log is a sorted set that expires with its window (``PEXPIRE``), so Redis holds only the
    recipients active within it. The URL's password never appears in ``repr``. Needs redis-py
    (``pip install 'unipush[redis]'``).

    Raises:
        ConfigurationError: redis-py is not installed, the URL is unusable, or not exactly one of
            ``url`` and ``client`` is given.
    """

    blocking = True

    def __init__(self, url: str | None = None, *, client: Any = None, prefix: str = "unipush:policy:") -> None:
        if (url is None) == (client is None):
            raise ConfigurationError(
                "RedisPolicyStore takes url= (redis://host:6379/0) or client= (a redis.Redis), one"
            )
        if not isinstance(prefix, str):
            raise ConfigurationError(f"RedisPolicyStore prefix must be a string, got {type(prefix).__name__}")
        if client is None:
            try:
                import redis
            except ImportError:
                raise ConfigurationError("RedisPolicyStore needs redis-py: pip install 'unipush[redis]'") from None
            if not isinstance(url, str):
                raise ConfigurationError(f"RedisPolicyStore url must be a string, got {type(url).__name__}")
            try:
                client = redis.Redis.from_url(url)
            except (ValueError, TypeError, UnicodeError) as exc:
                detail = " ".join(str(exc).split())
                raise ConfigurationError(f"RedisPolicyStore url {_safe_url(url)!r} is not usable: {detail}") from None
        elif not callable(getattr(client, "register_script", None)):
            raise ConfigurationError(f"RedisPolicyStore client must be a redis.Redis, got {type(client).__name__}")
        self._redis = client
        self._prefix = prefix
        self._where = _safe_url(url) if url is not None else type(client).__name__
        self._acquire = client.register_script(_ACQUIRE)  # EVALSHA, falling back to EVAL once

    def acquire(self, key: str, *, limit: int, window: float, now: float, token: str) -> bool:
        """Record ``token`` under ``key`` if fewer than ``limit`` were recorded in ``(now - window, now]``."""
        window_ms = max(1, int(window * 1000))
        admitted = self._acquire(keys=[self._prefix + key], args=[int(now * 1000), window_ms, limit, token])
        return bool(int(admitted))

    def release(self, key: str, token: str) -> None:
        """Forget ``token`` under ``key`` (``ZREM``)."""
        self._redis.zrem(self._prefix + key, token)

    def __repr__(self) -> str:
        return f"RedisPolicyStore({self._where!r}, prefix={self._prefix!r})"
