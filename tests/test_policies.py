"""Send policies against a fake clock: quiet hours across DST changes, sliding caps, de-duplication, expiry.

The rules are pure (``SendPolicy.evaluate``) and the chain takes ``now`` from its clock, so every time
rule is checked here at exact instants, in real IANA zones (``zoneinfo``). What reaches a device over
the wire is in ``test_policies_sandbox.py``; the Redis race in ``test_policies_redis.py``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from unipush import ConfigurationError, Notification, PolicyError, SendResult, Target, ValidationError
from unipush.apns import ApnsDevice, ApnsOptions
from unipush.fcm import FcmDevice
from unipush.policies import (
    Deduplicate,
    FrequencyCap,
    MemoryPolicyStore,
    PolicyChain,
    QuietHours,
    RedisPolicyStore,
    time_sensitive,
)

UTC = timezone.utc
N = Notification(title="hello")
BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")


class Clock:
    """A settable clock: the chain reads it once per send."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def device(n: int = 0) -> ApnsDevice:
    return ApnsDevice(f"{n:064x}")


def decide(chain: PolicyChain, now: datetime, notification: Notification = N, target: ApnsDevice | None = None) -> str:
    """``"sent"`` or the name of the refusing policy."""
    refusal, _taken = chain.decide(notification, target or device(), now)
    return "sent" if refusal is None else refusal.policy


# -- quiet hours: the recipient's wall clock, DST included -------------------------------------------


def test_quiet_until_is_08_00_on_the_wall_clock_across_spring_forward() -> None:
    # Europe/Berlin springs forward on 2026-03-29 at 02:00 CET -> 03:00 CEST: that night is an hour short.
    quiet = QuietHours("22:00", "08:00", zone="Europe/Berlin")
    evening = datetime(2026, 3, 28, 21, 30, tzinfo=UTC)  # 22:30 CET
    assert quiet.quiet_until(evening, BERLIN) == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)  # 08:00 CEST
    assert quiet.quiet_until(datetime(2026, 3, 29, 5, 59, tzinfo=UTC), BERLIN) is not None  # 07:59 CEST
    assert quiet.quiet_until(datetime(2026, 3, 29, 6, 0, tzinfo=UTC), BERLIN) is None  # 08:00 CEST: over
    assert quiet.quiet_until(datetime(2026, 3, 28, 20, 59, tzinfo=UTC), BERLIN) is None  # 21:59 CET


def test_quiet_until_is_08_00_on_the_wall_clock_across_fall_back() -> None:
    # America/New_York falls back on 2026-11-01 at 02:00 EDT -> 01:00 EST: that night is an hour long.
    quiet = QuietHours("22:00", "08:00", zone="America/New_York")
    evening = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)  # 23:00 EDT on Oct 31
    assert quiet.quiet_until(evening, NEW_YORK) == datetime(2026, 11, 1, 13, 0, tzinfo=UTC)  # 08:00 EST
    assert quiet.quiet_until(datetime(2026, 11, 1, 12, 59, tzinfo=UTC), NEW_YORK) is not None  # 07:59 EST
    assert quiet.quiet_until(datetime(2026, 11, 1, 13, 0, tzinfo=UTC), NEW_YORK) is None


def test_an_end_inside_the_spring_forward_gap_is_just_after_the_gap() -> None:
    quiet = QuietHours("01:00", "02:30", zone="Europe/Berlin")  # 02:30 does not exist on 2026-03-29
    now = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # 01:30 CET
    assert quiet.quiet_until(now, BERLIN) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST


def test_an_end_the_fall_back_repeats_is_the_next_one_to_come() -> None:
    quiet = QuietHours("00:00", "01:30", zone="America/New_York")
    first = datetime(2026, 11, 1, 5, 10, tzinfo=UTC)  # 01:10 EDT: the first 01:30 (EDT) comes next
    assert quiet.quiet_until(first, NEW_YORK) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    assert quiet.quiet_until(datetime(2026, 11, 1, 5, 45, tzinfo=UTC), NEW_YORK) is None  # 01:45 EDT
    second = datetime(2026, 11, 1, 6, 10, tzinfo=UTC)  # 01:10 EST, the repeated hour: quiet again
    assert quiet.quiet_until(second, NEW_YORK) == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 EST


def test_one_instant_is_night_for_one_recipient_and_day_for_another() -> None:
    zones = {device(1).key: "Asia/Tokyo", device(2).key: "Europe/London", device(3).key: None}
    quiet = QuietHours("22:00", "08:00", zone=lambda t: zones[t.key], default_zone="America/Los_Angeles")
    chain = PolicyChain([quiet])
    now = datetime(2026, 7, 1, 14, 0, tzinfo=UTC)  # 23:00 in Tokyo, 15:00 in London, 07:00 in Los Angeles
    assert decide(chain, now, target=device(1)) == "quiet_hours"
    assert decide(chain, now, target=device(2)) == "sent"
    assert decide(chain, now, target=device(3)) == "quiet_hours"  # no zone known: the default zone


def test_a_daytime_window_and_its_edges() -> None:
    quiet = QuietHours(time(13), time(14), zone="UTC")
    at = lambda h, m=0: datetime(2026, 1, 5, h, m, tzinfo=UTC)  # noqa: E731
    assert quiet.quiet_until(at(12, 59), UTC) is None
    assert quiet.quiet_until(at(13), UTC) == at(14)  # start is inside
    assert quiet.quiet_until(at(14), UTC) is None  # end is outside


def test_drop_and_defer_are_results_naming_the_policy() -> None:
    clock = Clock(datetime(2026, 3, 28, 21, 30, tzinfo=UTC))  # 22:30 in Berlin
    target = device()
    dropped = asyncio.run(PolicyChain([QuietHours(zone="Europe/Berlin")], clock=clock).send(N, target, _never))
    assert (dropped.ok, dropped.reason, dropped.attempts, dropped.deferred_until) == (False, "quiet_hours", 0, None)
    assert isinstance(dropped.error, PolicyError)
    assert dropped.error.policy == "quiet_hours"
    assert "dropped" in str(dropped.error)
    chain = PolicyChain([QuietHours(zone="Europe/Berlin", defer=True, name="night")], clock=clock)
    deferred = asyncio.run(chain.send(N, target, _never))
    assert deferred.reason == "night"
    assert deferred.deferred_until == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)
    assert isinstance(deferred.error, PolicyError)
    assert deferred.error.until == deferred.deferred_until
    assert deferred.target is target
    assert deferred.provider == "apns"
    with pytest.raises(PolicyError, match="deferred until 2026-03-29T06:00:00"):
        deferred.raise_for_error()


async def _never(notification: Notification, target: Target) -> SendResult:
    raise AssertionError("a refused notification must not reach the sender")


def test_time_sensitive_notifications_may_bypass_quiet_hours() -> None:
    night = datetime(2026, 1, 5, 23, 0, tzinfo=UTC)
    urgent = Notification(title="door", apns=ApnsOptions(interruption_level="time-sensitive"))
    strict = PolicyChain([QuietHours(zone="UTC")])
    lenient = PolicyChain([QuietHours(zone="UTC", bypass=time_sensitive)])
    assert decide(strict, night, urgent) == "quiet_hours"
    assert decide(lenient, night, urgent) == "sent"
    assert decide(lenient, night, N) == "quiet_hours"
    by_priority = PolicyChain([QuietHours(zone="UTC", bypass=lambda n: n.priority == "high")])
    assert decide(by_priority, night, Notification(title="x", priority="high")) == "sent"


def test_quiet_hours_arguments_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="start and end are both"):
        QuietHours("08:00", "08:00")
    with pytest.raises(ConfigurationError, match="'HH:MM'"):
        QuietHours("late", "08:00")
    with pytest.raises(ConfigurationError, match="not a known IANA time zone"):
        QuietHours(zone="Mars/Olympus")
    chain = PolicyChain([QuietHours(zone=lambda t: "Nowhere/Land")])
    with pytest.raises(ValidationError, match="quiet_hours zone: is not a known IANA time zone"):
        chain.decide(N, device(), datetime(2026, 1, 1, tzinfo=UTC))
    zones: dict[str, str] = {}
    broken = PolicyChain([QuietHours(zone=lambda t: zones[t.key])])
    with pytest.raises(ConfigurationError, match="the zone function raised KeyError"):
        broken.decide(N, device(), datetime(2026, 1, 1, tzinfo=UTC))


# -- frequency cap: sliding, per recipient, per category ---------------------------------------------


def test_the_cap_slides_with_the_clock() -> None:
    chain = PolicyChain([FrequencyCap(2, timedelta(hours=1))])
    t0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert decide(chain, t0) == "sent"
    assert decide(chain, t0 + timedelta(minutes=40)) == "sent"
    assert decide(chain, t0 + timedelta(minutes=59)) == "frequency_cap"
    assert decide(chain, t0 + timedelta(hours=1)) == "sent"  # the 09:00 send has left the window
    assert decide(chain, t0 + timedelta(hours=1, minutes=39)) == "frequency_cap"
    assert decide(chain, t0 + timedelta(hours=1, minutes=40)) == "sent"  # the 09:40 one has too


def test_the_cap_is_per_recipient_across_their_devices() -> None:
    owner = {device(1).key: "ana", device(2).key: "ana", device(3).key: "bo"}
    chain = PolicyChain([FrequencyCap(1, 86400, recipient=lambda t: owner.get(t.key))])
    now = datetime(2026, 1, 5, tzinfo=UTC)
    assert decide(chain, now, target=device(1)) == "sent"
    assert decide(chain, now, target=device(2)) == "frequency_cap"  # ana's other phone
    assert decide(chain, now, target=device(3)) == "sent"
    assert decide(chain, now, target=device(4)) == "sent"  # no recipient: not capped
    assert decide(chain, now, target=device(4)) == "sent"


def test_the_cap_per_category() -> None:
    chain = PolicyChain([FrequencyCap(1, 3600, category=lambda n: n.data.get("kind"))])
    now = datetime(2026, 1, 5, tzinfo=UTC)
    promo, news = Notification(title="x", data={"kind": "promo"}), Notification(title="x", data={"kind": "news"})
    assert [decide(chain, now, n) for n in (promo, news, promo, news)] == ["sent", "sent"] + ["frequency_cap"] * 2
    assert decide(chain, now, N) == "sent"  # no category: this cap does not count it


def test_a_refusal_later_in_the_chain_gives_the_earlier_claims_back() -> None:
    store = MemoryPolicyStore()
    chain = PolicyChain(
        [FrequencyCap(2, 3600), Deduplicate(lambda n: n.data.get("campaign"), 3600)], store, clock=Clock(_T)
    )
    spring = Notification(title="x", data={"campaign": "spring"})
    assert decide(chain, _T, spring) == "sent"
    assert decide(chain, _T, spring) == "deduplicate"  # counted by the cap, then given back
    assert decide(chain, _T, Notification(title="y")) == "sent"  # so the cap still has room for this one
    assert decide(chain, _T, Notification(title="z")) == "frequency_cap"


_T = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


# -- de-duplication ----------------------------------------------------------------------------------


def test_one_push_per_campaign_per_recipient_per_window() -> None:
    chain = PolicyChain([Deduplicate(lambda n: n.data.get("campaign"), timedelta(days=7))])
    spring = Notification(title="Spring sale", data={"campaign": "spring"})
    assert decide(chain, _T, spring, device(1)) == "sent"
    assert decide(chain, _T + timedelta(days=6), spring, device(1)) == "deduplicate"
    assert decide(chain, _T, spring, device(2)) == "sent"  # another recipient
    assert decide(chain, _T, Notification(title="x", data={"campaign": "fall"}), device(1)) == "sent"
    assert decide(chain, _T, N, device(1)) == "sent"  # no key: never a duplicate
    assert decide(chain, _T + timedelta(days=7), spring, device(1)) == "sent"  # the window has passed


def test_policy_functions_must_answer_a_str_or_none() -> None:
    chain = PolicyChain([Deduplicate(lambda n: 7.5, 60)])  # type: ignore[arg-type, return-value]
    with pytest.raises(ConfigurationError, match="the key function must return a str, an int or None"):
        chain.decide(N, device(), _T)
    by_id = PolicyChain([FrequencyCap(1, 60, recipient=lambda t: 42)])
    assert decide(by_id, _T, target=device(1)) == "sent"
    assert decide(by_id, _T, target=device(2)) == "frequency_cap"  # user 42's other device


# -- expiry ------------------------------------------------------------------------------------------


def test_a_notification_is_not_sent_after_its_expiry_even_without_policies() -> None:
    ends = datetime(2026, 6, 1, 18, 0, tzinfo=UTC)
    sale = Notification(title="Flash sale", expires_at=ends)
    chain = PolicyChain([])
    assert decide(chain, ends - timedelta(seconds=1), sale) == "sent"
    assert decide(chain, ends, sale) == "expiry"
    result = asyncio.run(PolicyChain(clock=Clock(ends)).send(sale, FcmDevice("t"), _never))
    assert (result.ok, result.reason, result.provider) == (False, "expiry", "fcm")
    assert "expired at 2026-06-01T18:00:00+00:00" in str(result.error)


def test_ttl_never_reaches_past_the_expiry() -> None:
    ends = datetime(2026, 6, 1, 18, 0, tzinfo=UTC)
    now = ends - timedelta(minutes=10, milliseconds=500)
    assert Notification(title="x", expires_at=ends).ttl_at(now) == 600  # rounded down
    assert Notification(title="x", ttl=60, expires_at=ends).ttl_at(now) == 60  # the shorter one
    assert Notification(title="x", ttl=3600, expires_at=ends).ttl_at(now) == 600
    assert Notification(title="x", expires_at=ends).ttl_at(ends + timedelta(hours=1)) == 0
    assert Notification(title="x", expires_at=ends + timedelta(days=90)).ttl_at(now) == 28 * 86400
    assert Notification(title="x", ttl=5).ttl_at(now) == 5
    assert Notification(title="x").ttl_at(now) is None
    with pytest.raises(ValidationError, match="expires_at: must be timezone-aware"):
        Notification(title="x", expires_at=datetime(2026, 1, 1))


def test_each_provider_sends_the_ttl_left_at_send_time() -> None:
    from tests.support import all_providers_client, subscription

    ends = datetime(2026, 6, 1, 18, 0, tzinfo=UTC)
    now = ends - timedelta(seconds=90)
    sale = Notification(title="Flash sale", ttl=3600, expires_at=ends)
    providers = all_providers_client().providers  # shared, render only: not closed here
    apns, fcm, webpush = (providers[name] for name in ("apns", "fcm", "webpush"))
    headers = apns.prepare(sale, device(), now=now).headers
    assert int(headers["apns-expiration"]) == int(ends.timestamp())  # Apple: a UNIX epoch, in seconds
    message = fcm.prepare(sale, FcmDevice("t"), now=now).payload["message"]  # type: ignore[index]
    assert message["android"]["ttl"] == "90s"
    assert int(message["apns"]["headers"]["apns-expiration"]) == int(ends.timestamp())
    assert message["webpush"]["headers"]["TTL"] == "90"
    assert webpush.prepare(sale, subscription(), now=now).headers["ttl"] == "90"  # RFC 8030 §5.2


def test_expires_at_round_trips_through_the_portable_form() -> None:
    sale = Notification(title="x", expires_at=datetime(2026, 6, 1, 18, 0, tzinfo=UTC))
    assert sale.to_dict()["expires_at"] == "2026-06-01T18:00:00+00:00"
    assert Notification.from_dict(sale.to_dict()) == sale


# -- configuration -----------------------------------------------------------------------------------


def test_policies_and_stores_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="two policies are named 'frequency_cap'"):
        PolicyChain([FrequencyCap(1, 60), FrequencyCap(5, 3600)])
    with pytest.raises(ConfigurationError, match=r"policies\[0\] must be a send policy"):
        PolicyChain(["quiet"])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="policies must be a list"):
        PolicyChain(QuietHours())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="policy_store must be a PolicyStore"):
        PolicyChain([], object())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="limit must be an int >= 1"):
        FrequencyCap(0, 60)
    with pytest.raises(ConfigurationError, match="window must be more than 0"):
        Deduplicate(lambda n: None, timedelta(0))
    with pytest.raises(ConfigurationError, match="policy name must be"):
        FrequencyCap(1, 60, name="a b")
    with pytest.raises(ConfigurationError, match="takes url="):
        RedisPolicyStore()
    assert "secret" not in repr(RedisPolicyStore("redis://user:secret@localhost:1/0"))


def test_the_memory_store_forgets_recipients_whose_window_has_passed() -> None:
    store = MemoryPolicyStore()
    for n in range(10_000):
        assert store.acquire(f"k{n}", limit=1, window=60, now=float(n), token="t")
    assert len(store) < 5000  # swept as new keys came: only the last minute's are needed
    assert not store.acquire("k9999", limit=1, window=60, now=9999.5, token="u")


def test_expiry_keeps_apples_expiration_rules() -> None:
    # Push to talk is "now or never" (apns-expiration 0), and a channel that stores nothing accepts only
    # 0: an expires_at shortens a TTL, it never makes one where Apple wants none.
    from unipush.apns import ApnsChannel, ApnsStoragePolicy
    from unipush.apns._broadcast import render_broadcast
    from unipush.apns._encode import encode

    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    ends = now + timedelta(minutes=5)
    talk = Notification(data={"c": "1"}, expires_at=ends, apns=ApnsOptions(push_type="pushtotalk"))
    apns_id = "00000000-0000-4000-8000-000000000000"
    assert encode(talk, topic="com.example.app", now=now, apns_id=apns_id)[1]["apns-expiration"] == "0"
    live = Notification(expires_at=ends, apns=ApnsOptions(event="update", content_state={"s": 1}))
    channel = "dHN0LXNyY2gtY2hubA=="
    for storage, expiration in (
        (ApnsStoragePolicy.NO_STORAGE, "0"),
        (None, "0"),
        (ApnsStoragePolicy.MOST_RECENT, str(int(ends.timestamp()))),
    ):
        headers = render_broadcast(live, ApnsChannel(channel, storage=storage), now=now, request_id=apns_id)[1]
        assert headers["apns-expiration"] == expiration, storage
