"""Delete dead device tokens from your database with ``on_invalid_token``, Django style.

``Device`` below is a plain-Python stand-in for a Django model, with just enough of a manager
(``Device.objects.filter(...).delete()``) to read like the real thing; in a Django project, delete the stand-in
and import your model. ``PushClient`` runs the callback in the thread that called ``send_many``, so the ORM is
used from ordinary synchronous code, never from an event loop.

The script sends one notification to a mix of live and dead devices on the local sandbox, then shows which rows
the callback deleted::

    python examples/django_prune.py
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from unipush import Notification, SendResult, Target
from unipush.sandbox import Sandbox

# --- A stand-in for a Django model and its manager -------------------------------------------------------------


@dataclass
class Device:
    """``class Device(models.Model)`` with ``user``, ``provider``, ``token`` and ``updated_at`` columns."""

    user: str
    provider: str  # "apns", "fcm" or "webpush"
    token: str  # the device token, FCM registration token, or Web Push endpoint (= Target.key)
    target: Target  # a real model would rebuild this from its columns
    updated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    id: int = 0

    objects: ClassVar[Manager]  # set below: Django's default manager


class QuerySet:
    """Iteration and ``delete()``: what the example needs of a QuerySet."""

    def __init__(self, rows: list[Device]) -> None:
        self._rows = rows

    def __iter__(self) -> Iterator[Device]:
        return iter(list(self._rows))

    def delete(self) -> tuple[int, dict[str, int]]:
        """Delete the rows; returns ``(count, {"app.Device": count})`` as Django does."""
        for row in self._rows:
            TABLE.remove(row)
        return len(self._rows), {"app.Device": len(self._rows)}


class Manager:
    """``Device.objects``: ``create``, ``all`` and ``filter`` by exact column values."""

    _ids = itertools.count(1)

    def create(self, **columns: Any) -> Device:
        row = Device(**columns)
        row.id = next(self._ids)
        TABLE.append(row)
        return row

    def all(self) -> QuerySet:
        return QuerySet(list(TABLE))

    def filter(self, **lookups: Any) -> QuerySet:
        return QuerySet([row for row in TABLE if all(getattr(row, k) == v for k, v in lookups.items())])


TABLE: list[Device] = []  # the "devices" table
Device.objects = Manager()


# --- The callback: this is the part to copy -------------------------------------------------------------------


def delete_dead_token(result: SendResult) -> None:
    """``on_invalid_token``: delete the device row of a dead token.

    Runs once per dead target, with the final result: APNs ``Unregistered``/``ExpiredToken``/``BadDeviceToken``/
    ``DeviceTokenNotForTopic``, FCM ``UNREGISTERED``/``SENDER_ID_MISMATCH``/an invalid token, Web Push 404/410.
    For APNs 410, ``invalidated_at`` says when Apple learned the token was dead: a row updated after that (the
    app registered the same token again) is kept, as Apple advises.
    """
    rows = Device.objects.filter(provider=result.provider, token=result.target.key)
    if result.invalidated_at is not None:
        stale = [row for row in rows if row.updated_at <= result.invalidated_at]
        rows = QuerySet(stale)
    count, _ = rows.delete()
    reason = getattr(result.reason, "value", result.reason)  # "Unregistered", "UNREGISTERED", 410...
    print(f"  deleted {count} row(s) for {result.provider} {result.target.short()}: {reason}")


# --- The demo --------------------------------------------------------------------------------------------------


def main() -> int:
    with Sandbox() as sandbox:
        live = [sandbox.apns_device(), sandbox.fcm_device(), sandbox.subscribe()]
        dead = [sandbox.apns_device(), sandbox.fcm_device(), sandbox.subscribe()]
        yesterday = datetime.now(timezone.utc) - timedelta(days=1)
        for target in live + dead:
            Device.objects.create(
                user="alice", provider=target.provider, token=target.key, target=target, updated_at=yesterday
            )
        for target in dead:
            sandbox.invalidate(target)  # app uninstalled / browser unsubscribed: APNs 410, FCM 404, Web Push 410
        # This token died too, but the app registered it again afterwards (updated_at after Apple's timestamp).
        reregistered = sandbox.apns_device()
        sandbox.invalidate(reregistered)
        Device.objects.create(
            user="alice",
            provider="apns",
            token=reregistered.key,
            target=reregistered,
            updated_at=datetime.now(timezone.utc) + timedelta(seconds=1),
        )
        print(f"before: {len(TABLE)} devices")

        notification = Notification(
            title="Your order shipped", body="#1234 is on its way", deep_link="https://shop.example/orders/1234"
        )
        with sandbox.client(on_invalid_token=delete_dead_token) as client:
            batch = client.send_many(notification, [row.target for row in Device.objects.filter(user="alice")])

        print(f"sent: {len(batch.succeeded)} delivered, {len(batch.failed)} failed")
        print(f"after: {len(TABLE)} devices: " + ", ".join(f"{row.provider} {row.target.short()}" for row in TABLE))
        kept = {row.token for row in TABLE}
        expected = {t.key for t in live} | {reregistered.key}
    return 0 if kept == expected and len(batch.invalid_tokens) == 4 else 1


if __name__ == "__main__":
    raise SystemExit(main())
