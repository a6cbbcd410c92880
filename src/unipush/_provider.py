"""The ``Provider`` protocol: what a push service implementation (built-in or plugin) provides.

A provider is sans-IO. ``prepare`` turns a notification and a target into a ``PreparedRequest``
(payload, headers, size checks, encryption, and any credential that can be made locally without I/O,
such as the APNs provider token or the VAPID JWT); ``parse`` turns the HTTP answer into an ``Outcome``.
Both are pure apart from reading the provider's own credential caches. The clients own all I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from unipush._model import Notification
    from unipush._results import Outcome, PreparedRequest
    from unipush._targets import Target

__all__ = ["Provider"]


@runtime_checkable
class Provider(Protocol):
    """A push service: a name, the target types it serves, a pure ``prepare`` and a pure ``parse``."""

    @property
    def name(self) -> str:
        """A short unique name (``"apns"``, ``"fcm"``, ``"webpush"``, ``"expo"``...)."""
        ...

    @property
    def target_types(self) -> tuple[type[Target], ...]:
        """The ``Target`` subclasses this provider serves; the client routes on them."""
        ...

    def prepare(self, notification: Notification, target: Target, *, now: datetime) -> PreparedRequest:
        """Render the request for one target. Raises ``ValidationError`` for what the provider refuses."""
        ...

    def parse(self, request: PreparedRequest, status_code: int, headers: Mapping[str, str], body: bytes) -> Outcome:
        """Decode the provider's answer to ``request``."""
        ...
