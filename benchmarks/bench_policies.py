"""Send policies: what they add to each send with the in-memory store.

Times ``PolicyChain.send`` (the call ``Sender.send`` makes before rendering) around a sender that does
nothing, minus that sender called directly, on one event loop, in CPU time (the machine may be shared).
The cases where no policy applies (issue 13: at most 5 µs per notification each):

* ``none``: no policies (the client's default; only ``expires_at`` is looked at);
* ``expiry``: no policies, a notification with an ``expires_at`` in the future;
* ``quiet``: ``QuietHours`` in the recipient's zone (a function of the target), outside the window;
* ``idle``: quiet hours, a cap per category and de-duplication by campaign, for a notification outside
  the quiet hours with neither a category nor a campaign: three policies asked, none applies.

And, for comparison, where policies apply and count (no limit set): ``cap``, a ``FrequencyCap`` per
recipient under the cap, each target a new recipient (the store grows as with a million users); ``all``,
quiet hours, that cap and de-duplication with a new campaign key per send (two counts per send).

Each case runs ``--n`` sends after 10,000 warm-up sends, ``--repeat`` times; the median is reported.

    python benchmarks/bench_policies.py              # 100,000 sends per case, 5 runs, ~1 min
    python benchmarks/bench_policies.py --n 20000 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from unipush import Notification, SendResult, Target
from unipush.apns import ApnsDevice
from unipush.policies import Deduplicate, FrequencyCap, PolicyChain, QuietHours, SendPolicy

LIMIT_US = 5.0
_OK = SendResult(ok=True, target=ApnsDevice("ab" * 32), provider="apns")


async def _send(notification: Notification, target: Target) -> SendResult:
    """The sender's stand-in: no render, no I/O, one result made once (so both runs do the same work)."""
    return _OK


def cases() -> dict[str, tuple[list[SendPolicy], Callable[[int], Notification]]]:
    plain = Notification(title="hello")
    later = Notification(title="hello", expires_at=datetime.now(timezone.utc) + timedelta(days=1))
    # A zone where it is midday now: quiet hours 22:00-08:00 never apply.
    midday = timezone(timedelta(hours=(12 - datetime.now(timezone.utc).hour + 12) % 24 - 12))
    quiet = QuietHours("22:00", "08:00", zone=lambda target: midday)
    cap = FrequencyCap(3, timedelta(days=1), recipient=lambda target: target.key)
    campaigns = [Notification(title="sale", data={"campaign": f"c{i}"}) for i in range(1000)]
    dedup = Deduplicate(lambda n: n.data.get("campaign"), timedelta(days=7))
    per_kind = FrequencyCap(3, timedelta(days=1), category=lambda n: n.data.get("kind"), name="kind_cap")
    return {
        "none": ([], lambda i: plain),
        "expiry": ([], lambda i: later),
        "quiet": ([quiet], lambda i: plain),
        "idle": ([quiet, per_kind, dedup], lambda i: plain),
        "cap": ([cap], lambda i: plain),
        "all": ([quiet, cap, dedup], lambda i: campaigns[i % 1000]),
    }


LIMITED = ("none", "expiry", "quiet", "idle")  # no policy applies: the limit


async def _run(chain: PolicyChain | None, notifications: list[Notification], targets: list[ApnsDevice]) -> float:
    start = time.process_time()  # CPU time: the machine may be shared, wall time is not ours alone
    if chain is None:
        for notification, target in zip(notifications, targets, strict=True):
            await _send(notification, target)
    else:
        for notification, target in zip(notifications, targets, strict=True):
            await chain.send(notification, target, _send)
    return time.process_time() - start


def measure(name: str, n: int, repeat: int) -> float:
    """The median µs per send that the chain adds, over ``repeat`` runs."""
    policies, notification_for = cases()[name]
    samples = []
    for run in range(repeat):
        targets = [ApnsDevice(f"{run:08x}{i:056x}") for i in range(n + 10_000)]
        notifications = [notification_for(i) for i in range(n + 10_000)]
        chain = PolicyChain(policies)  # a new memory store per run: every recipient is new
        asyncio.run(_run(chain, notifications[:10_000], targets[:10_000]))  # warm-up: caches, zoneinfo
        with_chain = asyncio.run(_run(chain, notifications[10_000:], targets[10_000:]))
        direct = asyncio.run(_run(None, notifications[10_000:], targets[10_000:]))
        samples.append((with_chain - direct) / n * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'case':<8} {'µs per send (median of ' + str(args.repeat) + ')':>28}   limit {LIMIT_US} µs")
    for name in cases():
        cost = measure(name, args.n, args.repeat)
        verdict = ("ok" if cost <= LIMIT_US else "OVER") if name in LIMITED else "(counts: no limit)"
        print(f"{name:<8} {cost:>28.2f}   {verdict}")


if __name__ == "__main__":
    main()
