"""PushClient.stream's hand-over between the caller's thread and the loop thread (``_sync._Relay``)."""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import cast

import pytest

from unipush import Notification, PushClient, SendResult, Target
from unipush._sending import Sender
from unipush.sandbox import Sandbox

N = Notification(title="hi", deep_link="https://example.com/")


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[PushClient]:
    sandbox.faults.clear()
    with sandbox.client(concurrency=5) as c:
        yield c
    sandbox.faults.clear()


def _pending(client: PushClient) -> int:
    """Requests the engine holds: on a stream, or queued for a connection still opening."""
    loop, sender = client._get()

    async def count() -> int:
        stats = sender.transport.stats  # type: ignore[attr-defined]
        return int(stats["in_flight"]) + int(stats["queued_requests"])

    return loop.run(count())


def test_input_is_pulled_lazily_and_in_flight_stays_bounded(client: PushClient, sandbox: Sandbox) -> None:
    sandbox.latency(0.02, "apns")
    pulled = 0

    def pairs() -> Iterator[tuple[Notification, Target]]:
        nonlocal pulled
        for _ in range(40):
            pulled += 1
            yield N, sandbox.apns_device()

    seen = []
    for result in client.stream(pairs()):
        assert result.ok
        seen.append(pulled)
    assert len(seen) == 40
    assert seen[0] <= 5 + 1  # concurrency=5: at most one pair beyond the slots is ever read ahead
    assert all(p - i <= 5 + 1 for i, p in enumerate(seen, start=1))


def test_stopping_early_cancels_what_is_in_flight(client: PushClient, sandbox: Sandbox) -> None:
    sandbox.latency(5.0, "apns", times=None)  # FCM answers at once, APNs only after 5 s
    targets = [sandbox.fcm_device()] + [sandbox.apns_device() for _ in range(50)]
    stream = cast(Generator[SendResult, None, None], client.stream((N, t) for t in targets))
    first = next(stream)
    assert first.ok
    assert first.provider == "fcm"
    assert _pending(client) == 4  # concurrency=5: the next four APNs sends are waiting
    stream.close()  # the caller stops: the sends in flight are cancelled on the loop thread
    deadline = time.monotonic() + 2
    while _pending(client) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _pending(client) == 0  # long before the 5 s latency: cancelled, not waited for
    sandbox.faults.clear()
    assert client.send(N, sandbox.apns_device()).ok  # and the client goes on working


def test_an_error_in_the_input_propagates_and_the_client_survives(client: PushClient, sandbox: Sandbox) -> None:
    def pairs() -> Iterator[tuple[Notification, Target]]:
        for i in range(20):
            if i == 12:
                raise LookupError("the database cursor died")
            yield N, sandbox.fcm_device()

    got: list[SendResult] = []
    with pytest.raises(LookupError, match="cursor"):
        got.extend(client.stream(pairs()))
    assert 7 <= len(got) <= 12  # what finished before the error was yielded
    assert client.send(N, sandbox.fcm_device()).ok


def test_an_unexpected_exception_from_a_send_reaches_the_caller(
    client: PushClient, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Sender.send
    poison = sandbox.apns_device()

    async def send(self: Sender, notification: Notification, target: Target) -> object:
        if target == poison:
            raise RuntimeError("a bug, not a provider's answer")
        return await original(self, notification, target)

    monkeypatch.setattr(Sender, "send", send)
    targets = [sandbox.apns_device() for _ in range(5)] + [poison] + [sandbox.apns_device() for _ in range(5)]
    with pytest.raises(RuntimeError, match="a bug"):
        client.send_many(N, targets)
    monkeypatch.undo()
    assert client.send_many(N, targets[:3]).succeeded


def test_several_threads_stream_through_one_client(client: PushClient, sandbox: Sandbox) -> None:
    def run(worker: int) -> list[str]:
        targets = [sandbox.apns_device() for _ in range(60)]
        batch = client.send_many(Notification(title=f"worker {worker}"), targets)
        assert [r.target for r in batch] == targets  # input order, per caller
        return [r.target.key for r in batch if r.ok]

    with ThreadPoolExecutor(max_workers=4) as pool:
        keys = [key for keys in pool.map(run, range(4)) for key in keys]
    assert len(keys) == len(set(keys)) == 240
