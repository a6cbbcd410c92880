"""Send policies: a campaign that respects each user's night, a daily cap and "one push per campaign".

Run it as ``python examples/send_policies.py``. It uses the local sandbox. Four users, each with their
devices and time zone (two of them are asleep right now, whatever time you run it); the spring campaign
goes out, then goes out again by mistake, then one user gets two order updates on top of it.
See docs/policies.md.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone, tzinfo

from unipush import Notification, Target
from unipush.policies import Deduplicate, FrequencyCap, QuietHours
from unipush.sandbox import Sandbox


def zone_where_it_is(hour: int) -> tzinfo:
    """A UTC offset whose clock shows ``hour`` o'clock now (your users' profiles would hold a real zone)."""
    now = datetime.now(timezone.utc)
    return timezone(timedelta(hours=(hour - now.hour + 12) % 24 - 12))


def main() -> None:
    with Sandbox() as sandbox:
        night, day = zone_where_it_is(23), zone_where_it_is(14)
        users: dict[str, tuple[tzinfo, list[Target]]] = {
            "ana": (night, [sandbox.apns_device(), sandbox.fcm_device()]),
            "bo": (day, [sandbox.fcm_device()]),
            "cy": (day, [sandbox.subscribe()]),
            "di": (night, [sandbox.apns_device()]),
        }
        owner = {device.key: name for name, (_zone, devices) in users.items() for device in devices}

        def user_of(target: Target) -> str | None:
            return owner.get(target.key)

        def zone_of(target: Target) -> tzinfo | None:
            name = user_of(target)
            return None if name is None else users[name][0]

        policies = [
            QuietHours("22:00", "08:00", zone=zone_of, defer=True),  # first: a night's refusal counts nothing
            Deduplicate(lambda n: n.data.get("campaign"), timedelta(days=30), recipient=user_of),
            FrequencyCap(2, timedelta(days=1), recipient=user_of),
        ]
        everyone = [device for _zone, devices in users.values() for device in devices]
        spring = Notification(title="Spring sale", body="20% off until Sunday", data={"campaign": "spring"})
        with sandbox.client(policies=policies) as client:
            first = client.send_many(spring, everyone)
            later = {r.deferred_until for r in first if r.reason == "quiet_hours"}
            print(f"spring: {len(first.succeeded)} delivered, {len(first.failed)} deferred to 08:00 local")
            for moment in sorted(d for d in later if d is not None):
                print(f"  resend at {moment.isoformat(timespec='minutes')} (e.g. a Celery eta)")
            again = client.send_many(spring, everyone)
            print(f"spring again: {dict(Counter(str(r.reason) for r in again.failed))}")
            bo = users["bo"][1][0]
            updates = [client.send(Notification(title=f"Order update {n}"), bo) for n in (1, 2)]
            print(f"bo's updates: {[r.reason or 'delivered' for r in updates]}")
        print(f"inbox: {len(sandbox.inbox)} notifications")


if __name__ == "__main__":
    main()
