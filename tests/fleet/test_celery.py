"""unipush.celery through a real Celery worker (prefork, 2 processes) on a real Redis and the sandbox.

The worker runs ``tests/fleet/worker_app.py`` in a subprocess; the sandbox runs here, in threads, and
the worker's client factory builds clients against it (``Sandbox.info()`` through a JSON file).
"""

from __future__ import annotations

import collections
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fleet.support import Worker, celery_worker
from unipush import ApnsDevice, Notification, Target
from unipush.sandbox import Sandbox

CAMPAIGN_TARGETS = 20_000
NOTIFICATION = Notification(title="Flash sale", body="Two hours only", deep_link="https://shop.example/sale")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


def _targets(sandbox: Sandbox, n: int, *, dead_every: int) -> tuple[list[Target], set[str]]:
    """``n`` targets (6 APNs, 3 FCM, 1 Web Push in every 10), every ``dead_every``-th one dead."""
    targets: list[Target] = []
    dead: set[str] = set()
    for i in range(n):
        kind = i % 10
        target: Target = (
            sandbox.apns_device() if kind < 6 else sandbox.fcm_device() if kind < 9 else sandbox.subscribe()
        )
        if i % dead_every == dead_every - 1:
            sandbox.invalidate(target)
            dead.add(target.key)
        targets.append(target)
    return targets, dead


def test_a_campaign_of_20000_targets_through_a_prefork_worker(redis_url: str, sandbox: Sandbox, tmp_path: Path) -> None:
    targets, dead = _targets(sandbox, CAMPAIGN_TARGETS, dead_every=97)
    sandbox.inbox.clear()
    tokens_before = sandbox.apns.jwt_verifications

    def pages() -> Iterator[list[Target]]:
        # A callable yielding pages, as a paginated database query would: never one list of everything.
        for start in range(0, len(targets), 700):
            yield targets[start : start + 700]

    with celery_worker(redis_url, sandbox, tmp_path) as worker:
        pool = worker.wait_for_processes(2)
        started = time.perf_counter()
        campaign = worker.push.campaign(NOTIFICATION, pages)
        report = campaign.wait(timeout=90)
        elapsed = time.perf_counter() - started
        pruned = _wait_for_pruned(worker, len(dead))
    print(
        f"\ncampaign: {CAMPAIGN_TARGETS} targets in {elapsed:.2f} s = {CAMPAIGN_TARGETS / elapsed:,.0f} notifications/s"
    )

    # Every target exactly one result; the counts by provider and outcome add up.
    assert (campaign.chunks, report.chunks) == (20, 20)
    assert report.targets == report.recorded == CAMPAIGN_TARGETS
    assert report.invalid_tokens == len(dead)
    assert report.failed == 0, report.counts
    assert report.delivered == CAMPAIGN_TARGETS - len(dead)
    expected = collections.Counter(t.provider for t in targets)
    assert {p: sum(row.values()) for p, row in report.by_provider().items()} == expected
    assert {d["key"] for d in report.dead_tokens} == dead
    assert report.count(provider="apns", outcome="invalid_token", reason="Unregistered") == sum(
        isinstance(t, ApnsDevice) and t.key in dead for t in targets
    )

    # The sandbox saw each live target exactly once, no dead one.
    deliveries = collections.Counter(d.target for d in sandbox.inbox.all())
    assert set(deliveries) == {t.key for t in targets} - dead
    assert set(deliveries.values()) == {1}

    # One APNs provider token for both worker processes (RedisStore), one connection per process.
    assert sandbox.apns.jwt_verifications - tokens_before == 1
    assert sandbox.servers["apns"].stats.connections <= len(pool)

    # The client was built in each pool process after the fork, never in the main worker process.
    assert len(set(pool)) == 2
    assert worker.process.pid not in pool

    # The dead-token task ran in the workers with every dead token.
    assert {key for _provider, key, _pid in pruned} == dead
    assert {pid for _provider, _key, pid in pruned} <= set(pool)


def test_a_campaign_survives_a_killed_worker_process(redis_url: str, sandbox: Sandbox, tmp_path: Path) -> None:
    n = 6_000
    targets = [sandbox.fcm_device() for _ in range(n)]
    sandbox.inbox.clear()
    # Slow answers, so the campaign is surely mid-way when a pool process is killed.
    latency = sandbox.latency(0.05, provider="fcm")
    try:
        with celery_worker(redis_url, sandbox, tmp_path) as worker:
            pool = worker.wait_for_processes(2)
            campaign = worker.push.campaign(NOTIFICATION, iter(targets), chunk_size=300)
            _wait_until(lambda: (campaign.progress()["chunks_finished"] or 0) >= 2)
            assert (campaign.progress()["chunks_finished"] or 0) < 18, "the campaign ended before the kill"
            victim = pool[0]
            os.kill(victim, signal.SIGKILL)  # mid-chunk: a pool process is never idle while chunks wait
            sandbox.faults.remove(latency)
            report = campaign.wait(timeout=90)
            replacements = [pid for pid in worker.factory_pids() if pid not in pool]
            log = worker.log_text()
    finally:
        sandbox.faults.clear()

    deliveries = collections.Counter(d.target for d in sandbox.inbox.all())
    duplicates = sum(count - 1 for count in deliveries.values())
    print(
        f"\ncrash test: {n} targets, killed pid {victim}; report {report.delivered} delivered; "
        f"inbox {sum(deliveries.values())} deliveries to {len(deliveries)} targets, {duplicates} duplicates"
    )
    # Nothing lost: every target has exactly one result in the report and reached the sandbox.
    assert report.targets == report.recorded == report.delivered == n, report
    assert set(deliveries) == {t.key for t in targets}
    # Sent twice only within the window of the killed process: its requests in flight (the client's
    # concurrency, 100) and its answers not yet recorded (record_every=50 in the test app).
    assert duplicates <= 100 + 50
    # The chunk was redelivered to a new pool process, which built its own client after its fork.
    assert "WorkerLostError" in log or "SIGKILL" in log, log
    assert replacements, worker.factory_pids()


def test_send_batch_task_and_dead_tokens(redis_url: str, sandbox: Sandbox, tmp_path: Path) -> None:
    live = [sandbox.apns_device(), sandbox.fcm_device(), sandbox.subscribe()]
    dead = [sandbox.apns_device(), sandbox.fcm_device(), sandbox.subscribe()]
    for target in dead:
        sandbox.invalidate(target)
    sandbox.inbox.clear()
    with celery_worker(redis_url, sandbox, tmp_path) as worker:
        worker.wait_for_processes(2)
        summary = worker.push.send(NOTIFICATION, live + dead).get(timeout=30)
        pruned = _wait_for_pruned(worker, len(dead))
    assert summary["targets"] == 6
    assert sum(row["count"] for row in summary["counts"] if row["outcome"] == "delivered") == 3
    assert {(row["provider"], row["reason"]) for row in summary["counts"] if row["outcome"] == "invalid_token"} == {
        ("apns", "Unregistered"),
        ("fcm", "UNREGISTERED"),
        ("webpush", "410"),
    }
    assert {key for _p, key, _pid in pruned} == {t.key for t in dead}
    assert sorted(d.target for d in sandbox.inbox.all()) == sorted(t.key for t in live)


def _wait_until(condition: collections.abc.Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def _wait_for_pruned(worker: Worker, count: int) -> list[tuple[str, str, int]]:
    # The dead-token task is its own task: it may finish just after the report.
    _wait_until(lambda: len(worker.pruned()) >= count, timeout=30)
    return worker.pruned()
