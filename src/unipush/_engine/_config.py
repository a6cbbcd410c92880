"""The engine's settings (``EngineConfig``) and counters (``EngineStats``): a leaf module.

Pools and connections get these two objects when they are made instead of reaching back through
their owners (``connection.pool.engine.max_response_body``), so the imports of the engine run one
way: ``_config`` and ``_exchange`` ← ``_connection`` ← ``_pool`` ← ``_engine``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["MAX_RESPONSE_BODY", "PING_TIMEOUT", "EngineConfig", "EngineStats", "authority_of", "backoff_delay"]

MAX_RESPONSE_BODY = 256 * 1024
"""Bytes of response body the engine reads per response before it gives up on the stream.

Provider answers are tiny: APNs sends at most a ``{"reason": ...}`` of a few dozen bytes, FCM a
``google.rpc.Status`` of a few hundred, push services a short text or JSON. 256 KiB is far above any
of them and still bounds what one hostile or broken server can make a client buffer per stream
(``max_streams_cap`` streams at once). A longer body fails the request with ``TransportError``.
"""

PING_TIMEOUT = 5.0
"""Seconds an idle-check PING may go unanswered before the connection counts as dead."""


# Reconnect backoff: the first attempt is immediate, then 0.25 s, 0.5 s, 1 s... (capped), each with
# "full jitter" between half and all of it, so many clients cut off together do not return together.
_BACKOFF_BASE = 0.25
_BACKOFF_CAP = 10.0


def authority_of(host: str, port: int, scheme: str) -> str:
    """``host[:port]`` as the ``:authority`` / ``Host`` of requests to this origin (port omitted when default)."""
    default_port = 443 if scheme == "https" else 80
    shown_host = f"[{host}]" if ":" in host else host  # RFC 3986 §3.2.2: IPv6 literals in brackets
    return shown_host if port == default_port else f"{shown_host}:{port}"


def backoff_delay(attempt: int) -> float:
    """The pause before connection attempt ``attempt`` (1 = the first retry)."""
    delay: float = min(_BACKOFF_CAP, _BACKOFF_BASE * 2.0 ** (attempt - 1))
    return delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not cryptography


@dataclass(frozen=True, kw_only=True, slots=True)
class EngineConfig:
    """The engine's settings, fixed when it is made; shared read-only by its pools and connections.

    Args:
        connect_timeout: seconds for TCP, TLS and the server's first SETTINGS frame, per attempt.
        connections_per_origin: connections opened per origin when streams run out.
        max_streams_cap: never more streams per connection than this, whatever the server allows.
        idle_ping_interval: seconds without a frame from the server before a PING checks the
            connection; ``0`` disables.
        ping_timeout: seconds that PING may go unanswered before the connection is replaced.
        max_connect_attempts: connection attempts (with backoff between them) before the waiting
            requests fail.
        max_response_body: bytes of body read per response; a longer one fails its request.
        cleartext_http2: ``http://`` origins speak cleartext HTTP/2 with prior knowledge (RFC 9113
            §3.3) instead of HTTP/1.1.
        http1_connections_per_origin: persistent connections per HTTP/1.1 origin (one request at a
            time on each).
        http1_idle_timeout: seconds an HTTP/1.1 connection may stay unused before it is closed; ``0``
            keeps it open.
    """

    connect_timeout: float = 10.0
    connections_per_origin: int = 1
    max_streams_cap: int = 1000
    idle_ping_interval: float = 60.0
    ping_timeout: float = PING_TIMEOUT
    max_connect_attempts: int = 3
    max_response_body: int = MAX_RESPONSE_BODY
    cleartext_http2: bool = False
    http1_connections_per_origin: int = 10
    http1_idle_timeout: float = 4.0

    def __post_init__(self) -> None:
        if self.connect_timeout <= 0:
            raise ValueError("connect_timeout must be positive")
        if self.connections_per_origin < 1:
            raise ValueError("connections_per_origin must be at least 1")
        if self.max_streams_cap < 1:
            raise ValueError("max_streams_cap must be at least 1")
        if self.idle_ping_interval < 0:
            raise ValueError("idle_ping_interval must be 0 (off) or positive")
        if self.ping_timeout <= 0:
            raise ValueError("ping_timeout must be positive")
        if self.max_connect_attempts < 1:
            raise ValueError("max_connect_attempts must be at least 1")
        if self.max_response_body < 0:
            raise ValueError("max_response_body must be 0 or more bytes")
        if self.http1_connections_per_origin < 1:
            raise ValueError("http1_connections_per_origin must be at least 1")
        if self.http1_idle_timeout < 0:
            raise ValueError("http1_idle_timeout must be 0 (off) or positive")


class EngineStats:
    """Counters since the engine was made; pools and connections bump them (plain attributes: the hot path)."""

    __slots__ = (
        "connect_failures",
        "connections_opened",
        "dead_connections",
        "pings_sent",
        "reconnects",
        "requests",
        "resends",
        "timeouts",
    )

    def __init__(self) -> None:
        self.requests = 0
        self.resends = 0  # sent again after GOAWAY or REFUSED_STREAM (provably unprocessed)
        self.timeouts = 0
        self.connections_opened = 0
        self.reconnects = 0  # connections opened beyond the first ``connections_per_origin``
        self.connect_failures = 0
        self.pings_sent = 0
        self.dead_connections = 0  # closed because a PING went unanswered

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return {name: getattr(self, name) for name in _COUNTERS}


# In the order ``Engine.stats`` has always shown them.
_COUNTERS = (
    "connections_opened",
    "reconnects",
    "requests",
    "resends",
    "timeouts",
    "connect_failures",
    "pings_sent",
    "dead_connections",
)
assert set(_COUNTERS) == set(EngineStats.__slots__)
