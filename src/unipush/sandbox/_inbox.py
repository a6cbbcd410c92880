"""The sandbox inbox: every notification a sandbox service accepted, decoded, in arrival order."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["Delivery", "Inbox"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Delivery:
    """One accepted notification as the device (or browser) would receive it.

    ``payload`` is decoded: the APNs JSON, the FCM ``message`` object, or the decrypted Web Push JSON
    (``raw`` holds the decrypted bytes when the payload is not JSON). ``target`` is the device token,
    FCM token / topic / condition, or the Web Push subscription endpoint. ``message_id`` is what the
    service answered with (apns-id, FCM name, Location).
    """

    provider: str
    target: str
    headers: Mapping[str, str]
    payload: Mapping[str, Any] | None
    raw: bytes
    message_id: str
    received_at: datetime


class Inbox:
    """Thread-safe, append-only record of deliveries, with waiting and filtering for tests."""

    def __init__(self) -> None:
        self._items: list[Delivery] = []
        self._cond = threading.Condition()
        self._listeners: list[Callable[[Delivery], None]] = []

    def record(self, delivery: Delivery) -> None:
        """Append ``delivery`` (called by the emulators) and tell listeners."""
        with self._cond:
            self._items.append(delivery)
            listeners = list(self._listeners)
            self._cond.notify_all()
        for listener in listeners:
            listener(delivery)

    def subscribe(self, listener: Callable[[Delivery], None]) -> None:
        """Call ``listener(delivery)`` for each new delivery (the CLI prints them as they arrive)."""
        with self._cond:
            self._listeners.append(listener)

    def all(self) -> list[Delivery]:
        """A snapshot of every delivery so far."""
        with self._cond:
            return list(self._items)

    def for_target(self, target: str) -> list[Delivery]:
        """Deliveries to one target key (token, topic or endpoint)."""
        return [d for d in self.all() if d.target == target]

    def for_provider(self, provider: str) -> list[Delivery]:
        """Deliveries accepted by one service (``"apns"``, ``"fcm"``, ``"webpush"``)."""
        return [d for d in self.all() if d.provider == provider]

    def clear(self) -> None:
        """Forget every delivery."""
        with self._cond:
            self._items.clear()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Delivery]:
        """Block until at least ``count`` deliveries exist (or ``timeout`` passes); return the snapshot."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._items) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return list(self._items)

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def __iter__(self) -> Iterator[Delivery]:
        return iter(self.all())
