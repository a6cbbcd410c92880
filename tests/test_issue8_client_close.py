"""Closing a client while it sends (issue 8, item 1), over the sandbox's real sockets.

``close()``/``aclose()`` from another thread or task ends a running ``send``/``send_many``/``stream``
promptly: the answers already had are kept, the rest fail with a ``TransportError`` saying the client
was closed, and a closed client raises instead of reopening. Every wait is bounded, so a regression
(the call blocking forever in the relay's result queue) fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from unipush import (
    AsyncPushClient,
    ConfigurationError,
    Notification,
    ProviderError,
    PushClient,
    SendResult,
    Target,
    TransportError,
)
from unipush._retry import RetryPolicy
from unipush.sandbox import Fault, Sandbox

N = Notification(title="hi", deep_link="https://example.com/")
SLOW = 30.0  # the sandbox's answer delay for the requests that must still be in flight at close()
BOUND = 10.0  # far above "promptly", far below SLOW: only a hang (or a wait for SLOW) exceeds it


@pytest.fixture(autouse=True)
def _clean(sandbox: Sandbox) -> Iterator[None]:
    sandbox.inbox.clear()
    sandbox.faults.clear()
    yield
    sandbox.faults.clear()


def _dead_fcm(sandbox: Sandbox, n: int) -> list[Target]:
    """FCM tokens the sandbox answers at once (404 UNREGISTERED): answered, and seen by the callback."""
    devices: list[Target] = []
    for _ in range(n):
        device = sandbox.fcm_device()
        sandbox.invalidate(device.token, provider="fcm")
        devices.append(device)
    return devices


def _wait(event: threading.Event, what: str) -> None:
    assert event.wait(BOUND), f"timed out waiting for {what}"


def _assert_closed(result: SendResult, *, sent: bool) -> None:
    assert not result.ok
    assert isinstance(result.error, TransportError)
    assert "the client was closed" in str(result.error)
    if sent:
        assert result.attempts == 1
        assert result.error.maybe_processed  # it was on the wire: the provider may have acted on it
    else:
        assert result.attempts == 0
        assert not result.error.maybe_processed


class _Answered:
    """``on_invalid_token``: counts the answered dead tokens; sets ``event`` once ``n`` came back."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.results: list[SendResult] = []
        self.event = threading.Event()

    def __call__(self, result: SendResult) -> None:
        self.results.append(result)
        if len(self.results) >= self.n:
            self.event.set()


def _run_in_thread(target: Any) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = target()
        except BaseException as exc:  # handed to the test thread, which asserts on it
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def test_close_from_another_thread_ends_send_many_and_keeps_the_answers(sandbox: Sandbox) -> None:
    sandbox.latency(SLOW, "apns", times=None)  # APNs answers only after 30 s; FCM at once
    answered = _Answered(3)
    targets = _dead_fcm(sandbox, 3) + [sandbox.apns_device() for _ in range(5)]
    client = sandbox.client(on_invalid_token=answered)
    thread, box = _run_in_thread(lambda: client.send_many(N, targets))
    _wait(answered.event, "the three FCM answers")
    started = time.monotonic()
    client.close()
    thread.join(BOUND)
    assert not thread.is_alive(), "send_many still blocked after close()"
    assert time.monotonic() - started < SLOW
    assert "error" not in box
    batch = box["value"]
    assert [r.target for r in batch] == targets  # one result per target, in input order
    for result in batch[:3]:  # answered before close(): kept as answered
        assert result.token_invalid
        assert result.status_code == 404
    for result in batch[3:]:
        _assert_closed(result, sent=True)


def test_close_from_another_thread_ends_an_endless_stream(sandbox: Sandbox) -> None:
    sandbox.latency(SLOW, "apns", times=None)
    answered = _Answered(2)
    pulled: list[Target] = []

    def pairs() -> Iterator[tuple[Notification, Target]]:
        for device in _dead_fcm(sandbox, 2):
            pulled.append(device)
            yield N, device
        while True:  # endless input: after close() the stream must stop pulling it
            device = sandbox.apns_device()
            pulled.append(device)
            yield N, device

    client = sandbox.client(on_invalid_token=answered, concurrency=6)
    thread, box = _run_in_thread(lambda: list(client.stream(pairs())))
    _wait(answered.event, "the two FCM answers")
    client.close()
    thread.join(BOUND)
    assert not thread.is_alive(), "stream still blocked after close()"
    assert "error" not in box
    results: list[SendResult] = box["value"]
    assert sorted(id(r.target) for r in results) == sorted(id(t) for t in pulled)  # every pulled pair: one result
    # It stopped pulling: the answered, a full window in flight, one read ahead, one pulled as it closed.
    assert len(pulled) <= 2 + 6 + 2
    assert sum(r.token_invalid for r in results) == 2
    for result in results:
        if not result.token_invalid:
            assert result.provider == "apns"
            assert isinstance(result.error, TransportError)
            assert "the client was closed" in str(result.error)


def _wait_taken(sandbox: Sandbox, fault: Fault) -> None:
    """Until the sandbox applied ``fault`` (``times=1``): the request reached the server."""
    deadline = time.monotonic() + BOUND
    while any(f.id == fault.id for f in sandbox.faults.pending()):
        assert time.monotonic() < deadline, "the request never reached the sandbox"
        time.sleep(0.01)


def test_close_during_a_retry_backoff_does_not_wait_it_out(sandbox: Sandbox) -> None:
    device = sandbox.apns_device()
    fault = sandbox.fail(503, provider="apns", target=device, times=1)
    client = sandbox.client(retry=RetryPolicy(initial_backoff=SLOW, jitter=0, budget=None))
    thread, box = _run_in_thread(lambda: client.send_many(N, [device]))
    _wait_taken(sandbox, fault)
    _wait_for_backoff(client)
    client.close()
    thread.join(BOUND)
    assert not thread.is_alive(), "send_many slept out its retry backoff after close()"
    (result,) = box["value"]
    assert not result.ok
    assert result.attempts == 1  # no resend after close
    assert isinstance(result.error, TransportError)
    assert str(result.error).startswith("the client was closed before an answer came (1 attempt)")
    assert not sandbox.inbox.for_target(device.token)


def _wait_for_backoff(client: PushClient | AsyncPushClient) -> None:
    """Until the client's sender sleeps in a retry backoff (it makes its wake-up event on the first)."""
    deadline = time.monotonic() + BOUND
    while client._sender is None or client._sender._wake is None:
        assert time.monotonic() < deadline, "the client never started its backoff"
        time.sleep(0.01)


def test_aclose_during_a_retry_backoff_ends_a_send_in_another_task(sandbox: Sandbox) -> None:
    device = sandbox.fcm_device()
    fault = sandbox.fail(503, provider="fcm", target=device, times=1)

    async def main() -> SendResult:
        client = sandbox.async_client(retry=RetryPolicy(initial_backoff=SLOW, jitter=0, budget=None))
        task = asyncio.ensure_future(client.send(N, device))  # the caller's own task: not cancelled, woken
        while (
            any(f.id == fault.id for f in sandbox.faults.pending())
            or client._sender is None
            or client._sender._wake is None
        ):
            await asyncio.sleep(0.01)
        await client.aclose()
        return await asyncio.wait_for(task, BOUND)

    result = asyncio.run(asyncio.wait_for(main(), BOUND * 2))
    assert result.attempts == 1
    assert str(result.error).startswith("the client was closed before an answer came (1 attempt)")
    assert isinstance(result.error, TransportError)
    assert isinstance(result.error.__cause__, ProviderError)  # the 503 that was not final


def test_a_single_send_waiting_when_another_thread_closes_returns_a_result(sandbox: Sandbox) -> None:
    client = sandbox.client()
    assert client.send(N, sandbox.fcm_device()).ok  # the loop thread and connections are up
    device = sandbox.apns_device()
    fault = sandbox.latency(SLOW, target=device, times=1)
    thread, box = _run_in_thread(lambda: client.send(N, device))
    _wait_taken(sandbox, fault)
    client.close()
    thread.join(BOUND)
    assert not thread.is_alive(), "send() still blocked after close()"
    assert "error" not in box
    _assert_closed(box["value"], sent=True)


def test_a_closed_sync_client_raises_instead_of_reopening(sandbox: Sandbox) -> None:
    client = sandbox.client()
    assert client.send(N, sandbox.apns_device()).ok
    client.close()
    for call in (
        lambda: client.send(N, sandbox.apns_device()),
        lambda: client.send_many(N, [sandbox.apns_device()]),
        lambda: client.stream([(N, sandbox.apns_device())]),
        lambda: client.__enter__(),
    ):
        with pytest.raises(ConfigurationError, match="this PushClient is closed: create a new client"):
            call()
    assert client._loop is None  # no loop thread was started again
    client.close()  # still idempotent


# -- the async client: the same contract --------------------------------------------------------


def test_aclose_from_another_task_ends_send_many_and_keeps_the_answers(sandbox: Sandbox) -> None:
    sandbox.latency(SLOW, "apns", times=None)
    answered = _Answered(3)
    targets = _dead_fcm(sandbox, 3) + [sandbox.apns_device() for _ in range(5)]

    async def main() -> Any:
        client = sandbox.async_client(on_invalid_token=answered)
        task = asyncio.ensure_future(client.send_many(N, targets))
        while not answered.event.is_set():
            await asyncio.sleep(0.01)
        await client.aclose()
        return await asyncio.wait_for(task, BOUND)

    batch = asyncio.run(asyncio.wait_for(main(), BOUND * 2))
    assert [r.target for r in batch] == targets
    assert all(r.token_invalid for r in batch[:3])
    for result in batch[3:]:
        _assert_closed(result, sent=True)


def test_aclose_from_another_task_ends_an_endless_stream(sandbox: Sandbox) -> None:
    sandbox.latency(SLOW, "apns", times=None)
    answered = _Answered(2)
    pulled: list[Target] = []

    def pairs() -> Iterator[tuple[Notification, Target]]:
        for device in _dead_fcm(sandbox, 2):
            pulled.append(device)
            yield N, device
        while True:
            device = sandbox.apns_device()
            pulled.append(device)
            yield N, device

    async def main() -> list[SendResult]:
        client = sandbox.async_client(on_invalid_token=answered, concurrency=6)

        async def collect() -> list[SendResult]:
            return [r async for r in client.stream(pairs())]

        task = asyncio.ensure_future(collect())
        while not answered.event.is_set():
            await asyncio.sleep(0.01)
        await client.aclose()
        return await asyncio.wait_for(task, BOUND)

    results = asyncio.run(asyncio.wait_for(main(), BOUND * 2))
    assert sorted(id(r.target) for r in results) == sorted(id(t) for t in pulled)
    assert len(pulled) <= 2 + 6 + 2
    assert sum(r.token_invalid for r in results) == 2
    assert all("the client was closed" in str(r.error) for r in results if not r.token_invalid)


def test_a_closed_async_client_raises_instead_of_reopening(sandbox: Sandbox) -> None:
    async def main() -> None:
        client: AsyncPushClient
        async with sandbox.async_client() as client:
            assert (await client.send(N, sandbox.apns_device())).ok
        with pytest.raises(ConfigurationError, match="this AsyncPushClient is closed: create a new client"):
            await client.send(N, sandbox.apns_device())
        with pytest.raises(ConfigurationError, match="is closed"):
            await client.send_many(N, [sandbox.apns_device()])
        with pytest.raises(ConfigurationError, match="is closed"):
            client.stream([(N, sandbox.apns_device())])
        with pytest.raises(ConfigurationError, match="is closed"):
            await client.__aenter__()
        assert client._sender is None  # nothing was opened again
        await client.aclose()  # still idempotent

    asyncio.run(main())


def test_a_sync_client_closed_mid_stream_by_its_own_caller_still_yields_every_result(sandbox: Sandbox) -> None:
    # The caller closes between two results (from a callback, say): the rest come back closed, no hang.
    sandbox.latency(SLOW, "apns", times=None)
    targets = _dead_fcm(sandbox, 1) + [sandbox.apns_device() for _ in range(4)]
    client: PushClient = sandbox.client()
    seen: list[SendResult] = []

    def consume() -> None:
        for result in client.stream((N, t) for t in targets):
            seen.append(result)
            if result.token_invalid:
                client.close()

    thread, box = _run_in_thread(consume)
    thread.join(BOUND)
    assert not thread.is_alive()
    assert "error" not in box
    assert len(seen) == len(targets)
    assert all("the client was closed" in str(r.error) for r in seen if r.provider == "apns")
