"""``ProcessPool`` against the sandbox over real sockets: results, laziness, a killed worker, stopping, cleanup."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.support import subprocess_env
from tests.process_support import (
    apns_token,
    broken_client,
    dying_client,
    factory,
    live_processes,
    not_a_client,
    pool_workers,
)
from unipush import (
    Action,
    ApnsOptions,
    ConfigurationError,
    FcmOptions,
    InvalidTokenError,
    Notification,
    ProcessPool,
    SendResult,
    Target,
    WorkerCrashedError,
)
from unipush.apns import ApnsDevice, ApnsReason
from unipush.fcm import FcmDevice
from unipush.sandbox import Sandbox

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="looks at worker processes through /proc")

ROOT = Path(__file__).resolve().parents[1]
NOTIFICATION = Notification(title="Flash sale", body="Today only", data={"sale": "1"})
# Everything the model can carry, nested read-only mappings included, to see that it travels whole.
RICH = Notification(
    title="Order shipped",
    subtitle="#1234",
    body="On its way",
    deep_link="https://shop.example/o/1234",
    actions=(Action("track", "Track"),),
    category="ORDER",
    thread_id="orders",
    badge=2,
    sound="default",
    collapse_key="order-1234",
    ttl=0,  # "now or never": no expiry computed from the clock, so both renders agree
    priority="high",
    data={"order": "1234"},
    apns=ApnsOptions(interruption_level="time-sensitive", relevance_score=0.5, mutable_content=True),
    fcm=FcmOptions(color="#ff0000", analytics_label="campaign", android={"notification": {"tag": "t"}}),
)


@pytest.fixture(scope="module")
def module_sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(module_sandbox: Sandbox) -> Sandbox:
    module_sandbox.inbox.clear()
    module_sandbox.faults.clear()
    return module_sandbox


def _targets(count: int) -> list[Target]:
    """Every tenth an FCM token, the others APNs."""
    return [FcmDevice(f"{i:040d}:APA91b-pool") if i % 10 == 0 else ApnsDevice(apns_token(i)) for i in range(count)]


def _wait_until_gone(pids: list[int], deadline: float = 30.0) -> list[int]:
    """The processes of ``pids`` still alive after waiting up to ``deadline`` seconds for them to exit."""
    until = time.monotonic() + deadline
    while True:
        alive = [pid for pid in pids if pid in live_processes()]
        if not alive or time.monotonic() >= until:
            return alive
        time.sleep(0.05)


def test_two_processes_give_every_target_exactly_one_result(sandbox: Sandbox) -> None:
    targets = _targets(3000)
    dead = [t for i, t in enumerate(targets) if i % 150 == 7 or i % 1000 == 500]
    for target in dead:
        sandbox.invalidate(target)
    results: list[SendResult] = []
    with ProcessPool(factory(sandbox.info()), processes=2, chunk_size=200) as pool:
        for result in pool.stream((NOTIFICATION, t) for t in targets):
            if not results:
                workers = pool_workers(os.getpid())
            results.append(result)
    assert len(workers) == 2
    assert _wait_until_gone(workers, deadline=0) == []  # close() waited for them

    # One result per target, carrying the very target object that went in.
    assert len(results) == len(targets)
    assert {id(r.target) for r in results} == {id(t) for t in targets}
    failed = [r for r in results if not r.ok]
    assert {id(r.target) for r in failed} == {id(t) for t in dead}
    for result in failed:
        assert result.token_invalid
        assert isinstance(result.error, InvalidTokenError)  # rebuilt in this process, attributes and all
        assert result.error.status_code == result.status_code
        assert result.invalidated_at is not None or result.provider == "fcm"
    assert {r.reason for r in failed if r.provider == "apns"} == {ApnsReason.UNREGISTERED}
    # The sandbox got each live target once.
    delivered = Counter(d.target for d in sandbox.inbox.all())
    assert set(delivered.values()) == {1}
    assert set(delivered) == {t.key for t in targets} - {t.key for t in dead}
    # Both workers used one APNs provider token, through the FileStore (a second one within 20 minutes
    # would have been refused with TooManyProviderTokenUpdates).
    assert sandbox.apns.jwt_verifications == 1


def test_the_notification_travels_whole(sandbox: Sandbox) -> None:
    targets = [ApnsDevice(apns_token(400_000)), FcmDevice(f"{400_000:040d}:APA91b-pool-rich")]
    with ProcessPool(factory(sandbox.info()), processes=2, chunk_size=1) as pool:
        results = list(pool.stream((RICH, t) for t in targets))
    assert [r.ok for r in results] == [True, True], results
    client = sandbox.client()
    for target in targets:
        [delivery] = sandbox.inbox.for_target(target.key)
        rendered = json.loads(json.dumps(client.render(RICH, target).payload))
        assert delivery.payload == rendered.get("message", rendered)  # FCM's inbox holds the message itself


def test_the_input_is_pulled_only_as_far_as_the_chunks_in_flight(sandbox: Sandbox) -> None:
    pulled = 0

    def pairs() -> Iterator[tuple[Notification, Target]]:
        nonlocal pulled
        for i in range(200_000, 205_000):
            pulled += 1
            yield NOTIFICATION, ApnsDevice(apns_token(i))

    answered = 0
    most_ahead = 0
    with ProcessPool(factory(sandbox.info()), processes=2, chunk_size=100, chunks_in_flight=3) as pool:
        for _result in pool.stream(pairs()):
            most_ahead = max(most_ahead, pulled - answered)
            answered += 1
    assert answered == pulled == 5000
    # A generator of a million targets would be held 300 at a time as well.
    assert most_ahead <= 3 * 100


def test_a_killed_worker_fails_its_chunks_and_the_rest_is_sent(sandbox: Sandbox) -> None:
    targets = [ApnsDevice(apns_token(i)) for i in range(100_000, 106_000)]  # none of them dead
    results: list[SendResult] = []
    with ProcessPool(factory(sandbox.info(), concurrency=20), processes=2, chunk_size=200) as pool:
        for result in pool.stream((NOTIFICATION, t) for t in targets):
            results.append(result)
            if len(results) == 400:
                victim = pool_workers(os.getpid())[0]
                os.kill(victim, signal.SIGKILL)  # as the OOM killer would
        workers = pool_workers(os.getpid())
    assert victim not in workers  # a fresh pool sent the rest

    assert len(results) == len(targets)
    assert {id(r.target) for r in results} == {id(t) for t in targets}
    crashed = [r for r in results if not r.ok]
    assert crashed, "the chunks in flight at the kill should have failed"
    assert len(crashed) <= pool.chunks_in_flight * pool.chunk_size
    for result in crashed:
        assert isinstance(result.error, WorkerCrashedError)
        assert result.error.maybe_processed
        assert result.attempts == 0
    # Nothing was resent: no target reached the sandbox twice, and every success did reach it.
    delivered = Counter(d.target for d in sandbox.inbox.all())
    assert set(delivered.values()) == {1}
    assert {r.target.key for r in results if r.ok} <= set(delivered)
    assert set(delivered) <= {t.key for t in targets}


def test_stopping_early_drops_the_rest_and_the_pool_stays_usable(sandbox: Sandbox) -> None:
    sandbox.latency(0.01, "apns")
    targets = [ApnsDevice(apns_token(i)) for i in range(300_000, 320_000)]
    with ProcessPool(factory(sandbox.info(), concurrency=10), processes=2, chunk_size=100) as pool:
        for _result in pool.stream((NOTIFICATION, t) for t in targets):
            break
        workers = pool_workers(os.getpid())
        # The workers dropped their chunks: far fewer than the 20,000 went out.
        assert len(sandbox.inbox) < 1000
        sandbox.faults.clear()
        again = list(pool.stream((NOTIFICATION, ApnsDevice(apns_token(i))) for i in range(320_000, 320_500)))
        assert [r.ok for r in again] == [True] * 500
        assert sorted(pool_workers(os.getpid())) == sorted(workers)  # the same long-lived workers
    assert _wait_until_gone(workers, deadline=0) == []


def test_a_failing_client_factory_is_reported_not_hung_on(sandbox: Sandbox) -> None:
    with ProcessPool(broken_client, processes=2) as pool, pytest.raises(ConfigurationError) as caught:
        list(pool.stream((NOTIFICATION, ApnsDevice(apns_token(i))) for i in range(10)))
    assert str(caught.value) == (
        "client_factory failed in a worker process: ConfigurationError: apns: key file not found: /nowhere/AuthKey.p8"
    )
    with ProcessPool(not_a_client, processes=1) as pool, pytest.raises(ConfigurationError, match="got str"):
        list(pool.stream([(NOTIFICATION, ApnsDevice(apns_token(1)))]))


def test_workers_that_cannot_start_stop_the_stream_not_loop_forever() -> None:
    results: list[SendResult] = []
    pool = ProcessPool(dying_client, processes=1, chunk_size=2, chunks_in_flight=1)
    with pool, pytest.raises(WorkerCrashedError, match="died 3 times in a row before finishing a chunk"):
        results.extend(pool.stream((NOTIFICATION, ApnsDevice(apns_token(i))) for i in range(100)))
    # The chunks that went to the dead workers were answered before the stream gave up.
    assert [type(r.error) for r in results] == [WorkerCrashedError] * 6


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"client_factory": lambda: None}, "client_factory must be picklable"),
        ({"client_factory": "apns"}, "client_factory must be a callable"),
        ({"processes": 0}, "processes must be an int >= 1, got 0"),
        ({"chunk_size": 0}, "chunk_size must be an int >= 1, got 0"),
        ({"chunks_in_flight": 0}, "chunks_in_flight must be an int >= 1, got 0"),
    ],
)
def test_bad_arguments_are_configuration_errors(options: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"client_factory": broken_client, **options}
    with pytest.raises(ConfigurationError, match=message):
        ProcessPool(**arguments)  # type: ignore[arg-type]


def test_workers_exit_when_the_parent_is_killed(sandbox: Sandbox, tmp_path: Path) -> None:
    info = tmp_path / "info.json"
    info.write_text(json.dumps(sandbox.info()))
    parent = subprocess.Popen(
        [sys.executable, "-m", "tests.process_support", str(info)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=subprocess_env(),
        start_new_session=True,  # its own process group: its workers and resource tracker join it
    )
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline() == "started\n"
        workers = pool_workers(parent.pid)
        assert len(workers) == 2
        parent.kill()  # SIGKILL: no shutdown, no finally
        parent.wait()
        assert _wait_until_gone(live_processes(group=parent.pid)) == []
    finally:
        with contextlib.suppress(ProcessLookupError):  # whatever is left of the group, if the test failed
            os.killpg(parent.pid, signal.SIGKILL)
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
