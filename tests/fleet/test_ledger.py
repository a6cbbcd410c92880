"""unipush.celery's Redis side, in this process: the campaign ledger, chunking, fleet rate limits.

Real Redis (the ``redis_url`` fixture) and the real sandbox; the tasks run here, called directly, so
each rule is seen on its own. The worker tests (``test_celery.py``) run the same code in a real worker.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
from celery import Celery

from unipush import FcmDevice, Notification, PushClient, RetryPolicy, Target
from unipush.celery import FleetLimiter, FleetRetryPolicy, Ledger, PushTasks, RateLimit, fingerprint
from unipush.sandbox import Sandbox

NOTIFICATION = Notification(title="Back in stock", body="The blue one")


@pytest.fixture
def prefix() -> str:
    return f"unipush-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def connection(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


def _tasks(redis_url: str, prefix: str, sandbox: Sandbox, **kwargs: object) -> PushTasks:
    app = Celery("ledger-tests", broker=redis_url, set_as_current=False)
    app.conf.update(task_default_queue=prefix, task_serializer="json", accept_content=["json"])
    return PushTasks(app, sandbox.client, redis_url=redis_url, key_prefix=prefix, **kwargs)  # type: ignore[arg-type]


class _Slept(Exception):
    """Raised by the limiter's injected sleep: the test reads how long it wanted to wait."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


def _no_sleep(seconds: float) -> None:
    raise _Slept(seconds)


def test_a_target_is_recorded_and_counted_once(connection: redis.Redis, prefix: str) -> None:
    ledger = Ledger(connection, prefix=prefix)
    assert ledger.start("c1")
    assert not ledger.start("c1")  # an id is used once
    a, b = fingerprint("apns", "aa"), fingerprint("apns", "bb")
    assert ledger.record("c1", [(a, "apns\x1fdelivered\x1f", None)]) == 1
    # A redelivered chunk records the same target again, with another answer: the first one stands.
    assert ledger.record("c1", [(a, "apns\x1ffailed\x1fTimeoutError", None), (b, "apns\x1fdelivered\x1f", None)]) == 1
    assert ledger.answered("c1", [a, b, fingerprint("fcm", "aa")]) == [True, True, False]
    _meta, counts, dead = ledger.snapshot("c1")
    assert counts == {"apns\x1fdelivered\x1f": 2}
    assert dead == []


def test_the_campaign_completes_once_every_chunk_and_the_seal_are_in(connection: redis.Redis, prefix: str) -> None:
    ledger = Ledger(connection, prefix=prefix)
    ledger.start("c2")
    assert not ledger.chunk_finished("c2", 0)  # the producer has not said how many chunks there are
    assert not ledger.seal("c2", chunks=2, targets=1500)
    assert ledger.chunk_finished("c2", 1)  # the last one: build the report
    # A chunk redelivered after the report exists does not ask for it again...
    ledger.store_report("c2", "{}")
    assert not ledger.chunk_finished("c2", 1)
    # ...but one redelivered while there is none does (the first finisher may have died before asking).
    connection.delete(ledger.key("c2", "report"))
    assert ledger.chunk_finished("c2", 1)


def test_a_rerun_chunk_skips_the_targets_already_answered(redis_url: str, prefix: str, sandbox: Sandbox) -> None:
    push = _tasks(redis_url, prefix, sandbox)
    targets = [sandbox.fcm_device() for _ in range(30)]
    dead = targets[:3]
    for target in dead:
        sandbox.invalidate(target)
    sandbox.inbox.clear()
    wire = [t.to_dict() for t in targets]
    push._state().ledger.start("c3")
    first = push.campaign_chunk("c3", 0, NOTIFICATION.to_dict(), wire)  # run here, as a worker would
    again = push.campaign_chunk("c3", 0, NOTIFICATION.to_dict(), wire)  # the same message, redelivered
    assert first == {"sent": 30, "skipped": 0}
    assert again == {"sent": 0, "skipped": 30}
    assert len(sandbox.inbox) == 27
    report = push.build_report("c3")
    assert (report.recorded, report.delivered, report.invalid_tokens) == (30, 27, 3)
    assert {d["key"] for d in report.dead_tokens} == {t.key for t in dead}
    push._on_shutdown()


def test_campaign_reads_its_source_one_chunk_at_a_time(
    redis_url: str, prefix: str, sandbox: Sandbox, connection: redis.Redis
) -> None:
    push = _tasks(redis_url, prefix, sandbox, chunk_size=100)

    def generator() -> Iterator[Target]:
        for i in range(250):
            # When target i is pulled, only the chunks before it have been sent: nothing more is held.
            assert connection.llen(prefix) == i // 100
            yield FcmDevice(f"token-{i:04d}-" + "x" * 40)

    campaign = push.campaign(NOTIFICATION, generator())
    assert (campaign.chunks, campaign.targets) == (3, 250)
    pages = push.campaign(NOTIFICATION, lambda: iter([[FcmDevice("p" * 40)] * 3, [FcmDevice("q" * 40)]]))
    listed = push.campaign(NOTIFICATION, [FcmDevice("r" * 40)], chunk_size=1)
    assert (pages.chunks, pages.targets, listed.chunks) == (1, 4, 1)
    assert connection.llen(prefix) == 5  # 3 + 1 + 1 chunk messages, waiting for a worker
    push._on_shutdown()


def test_the_token_bucket_is_shared_by_every_worker(connection: redis.Redis, prefix: str) -> None:
    limits = {"fcm": RateLimit(per_second=0.01, burst=3)}
    one = FleetLimiter(connection, limits, prefix=prefix, sleep=_no_sleep)
    two = FleetLimiter(connection, limits, prefix=prefix, sleep=_no_sleep)
    assert one.acquire("fcm") == 0.0
    assert two.acquire("fcm") == 0.0
    assert one.acquire("fcm") == 0.0
    with pytest.raises(_Slept) as waited:
        two.acquire("fcm")  # the fleet's burst of 3 is spent: wait for the next token (100 s at 0.01/s)
    assert waited.value.seconds > 0
    assert two.acquire("apns") == 0.0  # no bucket for APNs


def test_a_429_with_retry_after_seen_by_one_worker_pauses_the_others(
    connection: redis.Redis, prefix: str, sandbox: Sandbox
) -> None:
    seeing = FleetLimiter(connection, prefix=prefix, sleep=_no_sleep)
    other = FleetLimiter(connection, prefix=prefix, sleep=_no_sleep)
    device = sandbox.fcm_device()
    sandbox.fail(429, provider="fcm", target=device, retry_after=30)
    # One attempt only, so the test does not wait out the Retry-After; the policy's decision is its own.
    policy = FleetRetryPolicy.wrap(RetryPolicy(max_attempts=1), seeing)
    with sandbox.client(retry=policy) as client:
        result = client.send(NOTIFICATION, device)
    assert (result.status_code, result.retry_after) == (429, 30.0)
    assert 0 < other.paused_for("fcm") <= 30
    assert other.paused_for("apns") == 0
    with pytest.raises(_Slept) as waited:
        other.acquire("fcm")  # another worker holds its next FCM request
    assert 0 < waited.value.seconds <= 30


def test_the_worker_client_reports_429s_to_the_fleet(redis_url: str, prefix: str, sandbox: Sandbox) -> None:
    app = Celery("ledger-tests", broker=redis_url, set_as_current=False)
    # One attempt, so the task returns with the 429 instead of waiting out Retry-After.
    push = PushTasks(
        app, lambda: sandbox.client(retry=RetryPolicy(max_attempts=1)), redis_url=redis_url, key_prefix=prefix
    )
    client = push.client()
    assert isinstance(client, PushClient)
    assert push.client() is client  # one per process
    assert isinstance(client._retry, FleetRetryPolicy)
    assert client._retry.max_attempts == 1  # the factory's own policy decides
    device = sandbox.fcm_device()
    sandbox.fail(429, provider="fcm", target=device, retry_after=30)
    summary = push.send_batch(NOTIFICATION.to_dict(), [device.to_dict()])  # the task, run here
    assert [(row["outcome"], row["count"]) for row in summary["counts"]] == [("failed", 1)]
    # Every worker of the fleet now holds its FCM requests for (up to) 30 s.
    assert 0 < connection_pttl(redis_url, f"{prefix}:limit:fcm:paused") <= 30_000
    push._on_shutdown()


def connection_pttl(redis_url: str, key: str) -> int:
    with redis.Redis.from_url(redis_url) as client:
        return int(client.pttl(key))


def test_a_chunk_it_cannot_read_still_completes_the_campaign(redis_url: str, prefix: str, sandbox: Sandbox) -> None:
    push = _tasks(redis_url, prefix, sandbox)
    good = sandbox.fcm_device().to_dict()
    push._state().ledger.start("c4")
    push._state().ledger.seal("c4", chunks=2, targets=3)
    # A notification from a producer of another version (an unknown field) and a target that is no target.
    unreadable = dict(NOTIFICATION.to_dict(), surprise=True)
    assert push.campaign_chunk("c4", 0, unreadable, [good]) == {"sent": 0, "skipped": 0}
    # The good target was answered (failed) by chunk 0, so it is skipped; the broken one fails here.
    assert push.campaign_chunk("c4", 1, NOTIFICATION.to_dict(), [good, {"provider": "fcm", "token": ""}]) == {
        "sent": 0,
        "skipped": 1,
    }
    report = push.build_report("c4")
    assert report.recorded == 2
    assert report.count(outcome="failed", reason="ValidationError") == 2
    # Both chunks finished: the report was queued (the queue holds the campaign_report task).
    assert push._state().ledger.progress("c4") == {"chunks_finished": 2, "chunks": 2, "recorded": 2}
    push._on_shutdown()
