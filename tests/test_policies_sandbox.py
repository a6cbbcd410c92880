"""Send policies over real sockets: the sandbox's inbox holds exactly what the policies allowed.

Each test compares the inbox (what the APNs, FCM and Web Push emulators accepted, per target) with the
results, one per target, in input order. The time rules run on the real clock here: a recipient's zone
is a fixed UTC offset chosen so that it is night (or day) there now.
"""

from __future__ import annotations

import asyncio
import functools
from datetime import datetime, timedelta, timezone

from unipush import Notification, PolicyError, ProcessPool, TransportError
from unipush.policies import Deduplicate, FrequencyCap, QuietHours, RedisPolicyStore
from unipush.sandbox import Fault, Sandbox


def _zone_where_it_is(hour: int) -> timezone:
    """A fixed-offset zone whose wall clock shows ``hour`` o'clock (and some minutes) now."""
    now = datetime.now(timezone.utc)
    offset = (hour - now.hour) % 24
    return timezone(timedelta(hours=offset if offset <= 12 else offset - 24))


def _delivered(sandbox: Sandbox, keys: list[str]) -> list[str]:
    """Of ``keys``, those the inbox has a delivery for (with repeats)."""
    return [d.target for d in sandbox.inbox.all() if d.target in keys]


def test_a_cap_per_user_across_providers_in_send_many(sandbox: Sandbox) -> None:
    ana = [sandbox.apns_device(), sandbox.fcm_device(), sandbox.subscribe(), sandbox.apns_device()]
    bo = [sandbox.fcm_device()]
    owner = {t.key: "ana" for t in ana} | {t.key: "bo" for t in bo}
    cap = FrequencyCap(2, timedelta(days=1), recipient=lambda t: owner[t.key])
    with sandbox.client(policies=[cap]) as client:
        batch = client.send_many(Notification(title="Daily digest"), [*ana, *bo])
    assert [r.ok for r in batch] == [True, True, False, False, True]
    assert [r.reason for r in batch.failed] == ["frequency_cap", "frequency_cap"]
    assert [r.target for r in batch] == [*ana, *bo]  # one result per target, in input order
    keys = [t.key for t in (*ana, *bo)]
    assert sorted(_delivered(sandbox, keys)) == sorted([ana[0].key, ana[1].key, bo[0].key])


def test_one_push_per_campaign_in_a_stream(sandbox: Sandbox) -> None:
    devices = [sandbox.apns_device() for _ in range(3)]
    dedup = Deduplicate(lambda n: n.data.get("campaign"), timedelta(days=7))
    spring = Notification(title="Spring sale", data={"campaign": "spring"})
    fall = Notification(title="Fall sale", data={"campaign": "fall"})
    pairs = [(spring, d) for d in devices] * 3 + [(fall, devices[0]), (fall, devices[0])]
    with sandbox.client(policies=[dedup], concurrency=4) as client:
        results = list(client.stream(pairs))
    assert len(results) == len(pairs)
    assert sum(r.ok for r in results) == 4  # spring once per device, fall once
    assert {r.reason for r in results if not r.ok} == {"deduplicate"}
    keys = [d.key for d in devices]
    assert sorted(_delivered(sandbox, keys)) == sorted([*keys, devices[0].key])
    campaigns = [d.payload["campaign"] for d in sandbox.inbox.all() if d.target in keys and d.payload]
    assert sorted(campaigns) == ["fall", "spring", "spring", "spring"]


def test_quiet_hours_in_each_recipients_zone(sandbox: Sandbox) -> None:
    night, day = _zone_where_it_is(23), _zone_where_it_is(12)
    sleeping, awake, urgent = sandbox.fcm_device(), sandbox.fcm_device(), sandbox.fcm_device()
    zones = {sleeping.key: night, awake.key: day, urgent.key: night}
    quiet = QuietHours("22:00", "08:00", zone=lambda t: zones[t.key], defer=True, bypass=lambda n: n.priority == "high")
    with sandbox.client(policies=[quiet]) as client:
        held = client.send(Notification(title="Good night"), sleeping)
        sent = client.send(Notification(title="Lunch"), awake)
        alarm = client.send(Notification(title="Alarm", priority="high"), urgent)
    assert sent.ok
    assert alarm.ok
    assert not held.ok
    assert held.reason == "quiet_hours"
    assert held.attempts == 0
    assert held.deferred_until is not None
    assert held.deferred_until.astimezone(night).hour == 8  # 08:00 on the sleeper's wall clock
    assert timedelta(0) < held.deferred_until - datetime.now(timezone.utc) <= timedelta(hours=10)
    assert sorted(_delivered(sandbox, list(zones))) == sorted([awake.key, urgent.key])


def test_expired_offers_stay_home_and_live_ones_carry_the_ttl_left(sandbox: Sandbox) -> None:
    now = datetime.now(timezone.utc)
    stale = Notification(title="Sale ended", expires_at=now - timedelta(seconds=1))
    live = Notification(title="Sale ends soon", expires_at=now + timedelta(minutes=5))
    apns, fcm, browser = sandbox.apns_device(), sandbox.fcm_device(), sandbox.subscribe()
    with sandbox.client() as client:  # no policies: expiry is always on
        batch = client.send_many(stale, [apns, fcm, browser])
        assert [r.reason for r in batch] == ["expiry"] * 3
        assert all(isinstance(r.error, PolicyError) and r.attempts == 0 for r in batch)
        assert all(r.ok for r in client.send_many(live, [apns, fcm, browser]))
    got = {d.target: d for d in sandbox.inbox.all() if d.target in (apns.key, fcm.key, browser.key)}
    assert len(got) == 3  # one delivery each: the live one
    assert 0 < int(got[apns.key].headers["apns-expiration"]) <= int(live.expires_at.timestamp())  # type: ignore[union-attr]
    fcm_ttl = got[fcm.key].payload["android"]["ttl"]  # type: ignore[index]
    assert fcm_ttl.endswith("s")
    assert 0 < int(fcm_ttl[:-1]) <= 300
    assert 0 < int(got[browser.key].headers["ttl"]) <= 300


def test_a_send_the_provider_refused_gives_its_count_back(sandbox: Sandbox) -> None:
    # A token for another app: APNs answers 400 DeviceTokenNotForTopic, so nothing reached the user
    # and the daily cap is not spent on it (docs/policies.md, "When a send fails").
    wrong, right = sandbox.apns_device(topic="com.example.other"), sandbox.apns_device()
    cap = FrequencyCap(1, timedelta(days=1), recipient=lambda t: "ana")
    with sandbox.client(policies=[cap]) as client:
        refused = client.send(Notification(title="x"), wrong)
        assert not refused.ok
        assert refused.status_code == 400
        assert client.send(Notification(title="x"), right).ok
        assert client.send(Notification(title="y"), right).reason == "frequency_cap"
    assert _delivered(sandbox, [wrong.key, right.key]) == [right.key]


def test_a_send_that_may_have_been_delivered_stays_counted(sandbox: Sandbox) -> None:
    # The connection is reset after the request went out: it may have been delivered, so it counts
    # and the cap refuses the next one (never a second copy). Nothing is retried here, so the one
    # request is the whole story.
    from unipush import RetryPolicy

    device = sandbox.apns_device()
    cap = FrequencyCap(1, timedelta(days=1))
    sandbox.faults.add(Fault(kind="reset", provider="apns", target=device.key))
    with sandbox.client(policies=[cap], retry=RetryPolicy(max_attempts=1)) as client:
        lost = client.send(Notification(title="x"), device)
        assert isinstance(lost.error, TransportError)
        assert lost.error.maybe_processed
        assert client.send(Notification(title="x"), device).reason == "frequency_cap"


def test_the_async_client_applies_the_same_policies(sandbox: Sandbox) -> None:
    devices = [sandbox.fcm_device() for _ in range(5)]
    cap = FrequencyCap(3, timedelta(hours=1), recipient=lambda t: "one-user")

    async def main() -> list[bool]:
        async with sandbox.async_client(policies=[cap]) as client:
            batch = await client.send_many(Notification(title="x"), devices)
            return [r.ok for r in batch]

    assert asyncio.run(main()) == [True] * 3 + [False] * 2
    assert len(_delivered(sandbox, [d.key for d in devices])) == 3


def test_a_deferral_keeps_its_time_through_a_process_pool(sandbox: Sandbox) -> None:
    from tests.policy_worker import night_client

    devices = [sandbox.apns_device() for _ in range(3)]
    with ProcessPool(functools.partial(night_client, sandbox.info()), processes=1) as pool:
        results = list(pool.stream((Notification(title="x"), d) for d in devices))
    assert [r.reason for r in results] == ["quiet_hours"] * 3
    for result in results:  # rebuilt in this process: the time and the error's attributes too
        assert result.deferred_until is not None
        assert isinstance(result.error, PolicyError)
        assert result.error.until == result.deferred_until
    assert _delivered(sandbox, [d.key for d in devices]) == []


def test_an_unreachable_store_keeps_the_notification_back(sandbox: Sandbox) -> None:
    # Nothing listens on port 1: the cap cannot be checked, so nothing is sent (never a second copy of
    # a campaign because Redis was down), and the result says why.
    store = RedisPolicyStore("redis://127.0.0.1:1/0")
    device = sandbox.fcm_device()
    with sandbox.client(policies=[FrequencyCap(3, 3600)], policy_store=store) as client:
        result = client.send(Notification(title="x"), device)
    assert (result.ok, result.reason, result.attempts) == (False, "frequency_cap", 0)
    assert "the policy store failed" in str(result.error)
    assert _delivered(sandbox, [device.key]) == []
