"""Scripted faults for the sandbox: what the clients must survive, on demand.

A ``Fault`` matches requests by service and optionally by target key, fires a number of ``times``
(``None`` = until removed), and says what goes wrong. Request-level kinds are answered by the server
before the emulator sees the request (``status``: the emulator supplies the service's own error body
for it, e.g. Apple's ``{"reason": ...}``); connection-level kinds act on the HTTP/2 connection.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Fault", "FaultKind", "Faults"]

FaultKind = Literal[
    "status",  # answer ``status`` (429 with Retry-After, 500, 503, ...) with the service's error body
    "invalid_token",  # the target is dead: APNs 410 Unregistered, FCM 404 UNREGISTERED, Web Push 410
    "bad_token",  # the target is malformed: APNs 400 BadDeviceToken, FCM 400 INVALID_ARGUMENT, Web Push 404
    "expired_credential",  # APNs 403 ExpiredProviderToken, FCM 401 UNAUTHENTICATED, Web Push 403
    "latency",  # wait ``delay`` seconds, then answer normally
    "reset",  # RST_STREAM the request's stream (HTTP/2) / drop the connection (HTTP/1.1), no answer
    "drop_connection",  # close the TCP connection while the request is in flight
    "goaway",  # send GOAWAY (last-stream-id = the stream before this one) and close; the request is not processed
]


@dataclass(kw_only=True)
class Fault:
    """One scripted fault. ``times=None`` keeps it until ``Faults.remove``/``clear``."""

    kind: FaultKind
    provider: str | None = None  # None = every service
    target: str | None = None  # None = every target of the service
    times: int | None = 1
    status: int = 503
    retry_after: str | None = None  # Retry-After header value (seconds or HTTP-date)
    reason: str | None = None  # override the service's reason/errorCode text
    body: bytes | None = None  # replace the whole error body (status, invalid_token, bad_token, expired_credential)
    delay: float = 0.0
    id: int = field(default=0)


class Faults:
    """The thread-safe fault registry of one sandbox, plus the connection-level settings."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self.goaway_after: dict[str, int] = {}  # service -> GOAWAY a connection after N streams
        self.max_concurrent_streams: dict[str, int] = {}  # service -> advertised SETTINGS value

    def add(self, fault: Fault) -> Fault:
        """Register ``fault``; returns it with its ``id`` set."""
        with self._lock:
            fault.id = next(self._ids)
            self._faults.append(fault)
        return fault

    def remove(self, fault: Fault) -> None:
        """Forget one fault."""
        with self._lock:
            self._faults = [f for f in self._faults if f.id != fault.id]

    def clear(self) -> None:
        """Forget every fault and connection-level setting."""
        with self._lock:
            self._faults.clear()
            self.goaway_after.clear()
            self.max_concurrent_streams.clear()

    def take(self, provider: str, target: str | None) -> Fault | None:
        """The first fault matching this request, consuming one of its ``times``; None if none applies."""
        with self._lock:
            for fault in self._faults:
                if fault.provider not in (None, provider):
                    continue
                if fault.target is not None and fault.target != target:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    def pending(self) -> list[Fault]:
        """The faults still registered."""
        with self._lock:
            return list(self._faults)
