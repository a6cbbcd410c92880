"""What the client layer costs per notification, without a network: unipush's own work only.

    python benchmarks/bench_client_layer.py [--n 20000] [--providers apns,fcm,webpush] [--repeat 3]
                                            [--in-flight 100,5000]

``bench_send.py`` measures whole sends against the sandbox, where the engine and TLS dominate and the
machine's noise is larger than the client layer. Here the transport answers at once (a ``Transport``
that returns a ready response: no socket, no HTTP/2), so what is measured is the provider's pure work
and the client layer around it. The rows, each the median of ``--repeat`` runs in this one process:

* ``provider``: the floor. ``prepare`` + ``authorize`` + ``parse`` per target in a plain loop: what any
  client must do (render, credential, decode), with nothing around it.
* ``async`` / ``sync``: ``AsyncPushClient.send_many`` / ``PushClient.send_many`` of the same targets
  (``concurrency`` 100). ``async - provider`` is the client layer: routing, request checks, the
  sending loop and retry decision, results, the batch machinery (and, for ``sync``, the hand-over to
  its loop thread).
* ``stream@K``: ``AsyncPushClient.stream`` / ``PushClient.stream`` with ``concurrency`` K through a
  transport that answers a few requests per event-loop turn, oldest first, so K requests really are in
  flight. The cost per notification must not grow with K (``stream()`` completions are O(1)).

Figures are CPU time (``time.process_time``: every thread of this process) per notification. Compare
ratios within one run: the machine's speed changes between runs.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import importlib
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import google.auth.credentials
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import unipush
from unipush import AsyncPushClient, Notification, PushClient
from unipush.apns import APNs, ApnsDevice
from unipush.fcm import FCM, FcmDevice
from unipush.webpush import WebPush, WebPushSubscription

PROVIDERS = ("apns", "fcm", "webpush")
NOTIFICATION = Notification(
    title="Order shipped", body="#1234 is on its way", deep_link="https://shop.example/o/1234", badge=1, ttl=3600
)


class _Answer:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body


ANSWERS = {
    "apns": _Answer(200, {"apns-id": "8d3f0f4e-0000-4000-8000-000000000001"}, b""),
    "fcm": _Answer(200, {"content-type": "application/json"}, b'{"name": "projects/bench/messages/0:1"}'),
    "webpush": _Answer(201, {"location": "https://push.example.net/m/1"}, b""),
}


class Instant:
    """A ``unipush.transports.Transport`` that answers at once: the cheapest transport there can be."""

    def __init__(self, answer: _Answer) -> None:
        self.answer = answer

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, *, timeout: float | None
    ) -> _Answer:
        return self.answer

    async def aclose(self) -> None:
        pass


class Trickle:
    """A transport whose server answers ``per_turn`` requests per event-loop turn, oldest first.

    So the client holds its ``concurrency`` requests in flight the whole time, as against a real server.
    """

    def __init__(self, answer: _Answer, per_turn: int = 8) -> None:
        self.answer, self.per_turn = answer, per_turn
        self.waiting: deque[asyncio.Future[_Answer]] = deque()
        self.scheduled = False
        self.most_in_flight = 0

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, *, timeout: float | None
    ) -> _Answer:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_Answer] = loop.create_future()
        self.waiting.append(future)
        self.most_in_flight = max(self.most_in_flight, len(self.waiting))
        if not self.scheduled:
            self.scheduled = True
            loop.call_soon(self._answer)
        return await future

    def _answer(self) -> None:
        for _ in range(min(self.per_turn, len(self.waiting))):
            future = self.waiting.popleft()
            if not future.done():
                future.set_result(self.answer)
        self.scheduled = bool(self.waiting)
        if self.scheduled:
            asyncio.get_running_loop().call_soon(self._answer)

    async def aclose(self) -> None:
        pass


class _LocalCredentials(google.auth.credentials.Credentials):
    """An FCM credential minted locally (``unipush.testing.OfflineCredentials`` does the same)."""

    def refresh(self, request: Any) -> None:
        self.token = "bench-token"


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def config(provider: str) -> Any:
    if provider == "apns":
        return APNs(key=_pem(ec.generate_private_key(ec.SECP256R1())), key_id="ABC123DEFG", team_id="TEAM123456",
                    topic="com.example.app")  # fmt: skip
    if provider == "fcm":
        return FCM(credentials=_LocalCredentials(), project_id="bench")
    return WebPush(vapid_private_key=_pem(ec.generate_private_key(ec.SECP256R1())), subject="mailto:ops@example.com")


def targets(provider: str, count: int) -> list[Any]:
    if provider == "apns":
        return [ApnsDevice(f"{i:064x}") for i in range(count)]
    if provider == "fcm":
        return [FcmDevice(f"bench-token-{i}") for i in range(count)]
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    import base64

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    keys = {"p256dh": b64(point), "auth": b64(b"a" * 16)}
    return [WebPushSubscription(endpoint=f"https://push.example.net/sub/{i}", **keys) for i in range(count)]


def client_kwargs(provider: str, transport: Any, concurrency: int) -> dict[str, Any]:
    kwargs: dict[str, Any] = {provider: config(provider), "concurrency": concurrency, "transport": transport}
    return kwargs


def _compatible(kwargs: dict[str, Any]) -> dict[str, Any]:
    """For an older unipush without ``transport=`` (a before/after comparison): the engine is replaced."""
    if "transport" in unipush.PushClient.__init__.__code__.co_varnames:
        return kwargs
    transport = kwargs.pop("transport")
    engine_module = importlib.import_module("unipush._engine")
    engine_module.Engine = lambda **_: transport
    return kwargs


def cpu(run: Callable[[], object], count: int) -> float:
    """CPU µs per notification of ``run()`` (``count`` notifications), the garbage collector paused."""
    gc.collect()
    gc.disable()
    try:
        started = time.process_time()
        run()
        return (time.process_time() - started) / count * 1e6
    finally:
        gc.enable()


def provider_floor(provider: str, batch: Sequence[Any]) -> float:
    config_ = config(provider)
    answer = ANSWERS[provider]
    context = __import__("ssl").create_default_context()

    async def loop() -> None:
        for target in batch:
            request = config_.prepare(NOTIFICATION, target, now=datetime.now(timezone.utc))
            hook = getattr(config_, "authorize", None)
            if hook is not None:
                ready = hook(request, refresh=False, ssl_context=context)
                if asyncio.iscoroutine(ready) or isinstance(ready, asyncio.Future):
                    ready = await ready
                request = ready
            config_.parse(request, answer.status, answer.headers, answer.body)

    asyncio.run(loop())  # the credential's first fetch, outside the clock
    return cpu(lambda: asyncio.run(loop()), len(batch))


def async_batch(provider: str, batch: Sequence[Any]) -> float:
    async def main() -> float:
        client = AsyncPushClient(**_compatible(client_kwargs(provider, Instant(ANSWERS[provider]), 100)))
        async with client:
            await client.send_many(NOTIFICATION, batch[:200])  # warm: credential, first calls
            started = time.process_time()
            results = await client.send_many(NOTIFICATION, batch)
            spent = time.process_time() - started
        assert len(results.succeeded) == len(batch), results.failed[:1]
        return spent / len(batch) * 1e6

    gc.collect()
    gc.disable()
    try:
        return asyncio.run(main())
    finally:
        gc.enable()


def sync_batch(provider: str, batch: Sequence[Any]) -> float:
    with PushClient(**_compatible(client_kwargs(provider, Instant(ANSWERS[provider]), 100))) as client:
        client.send_many(NOTIFICATION, batch[:200])
        spent = cpu(lambda: _all_ok(client.send_many(NOTIFICATION, batch), len(batch)), len(batch))
    return spent


def _all_ok(results: Any, count: int) -> None:
    ok = sum(1 for r in results if r.ok)
    assert ok == count, f"{ok}/{count} succeeded"


def async_stream(provider: str, batch: Sequence[Any], in_flight: int) -> float:
    transport = Trickle(ANSWERS[provider])

    def pairs() -> Iterator[tuple[Notification, Any]]:
        return ((NOTIFICATION, target) for target in batch)

    async def main() -> float:
        async with AsyncPushClient(**_compatible(client_kwargs(provider, transport, in_flight))) as client:
            async for _ in client.stream((NOTIFICATION, t) for t in batch[:200]):
                pass
            started = time.process_time()
            ok = 0
            async for result in client.stream(pairs()):
                ok += result.ok
            spent = time.process_time() - started
        assert ok == len(batch)
        assert transport.most_in_flight >= min(in_flight, len(batch)) * 0.9, transport.most_in_flight
        return spent / len(batch) * 1e6

    gc.collect()
    gc.disable()
    try:
        return asyncio.run(main())
    finally:
        gc.enable()


def sync_stream(provider: str, batch: Sequence[Any], in_flight: int) -> float:
    transport = Trickle(ANSWERS[provider])
    with PushClient(**_compatible(client_kwargs(provider, transport, in_flight))) as client:
        for _ in client.stream((NOTIFICATION, t) for t in batch[:200]):
            pass
        spent = cpu(lambda: _all_ok(client.stream((NOTIFICATION, t) for t in batch), len(batch)), len(batch))
    assert transport.most_in_flight >= min(in_flight, len(batch)) * 0.9, transport.most_in_flight
    return spent


def main(argv: Sequence[str] | None = None) -> int:
    """Run the cases and print one table per provider."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="notifications per case (default 20000)")
    parser.add_argument("--providers", default=",".join(PROVIDERS))
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the median is shown (default 3)")
    parser.add_argument("--in-flight", default="100,5000", help="stream concurrencies (default 100,5000)")
    args = parser.parse_args(argv)
    providers = [p for p in args.providers.split(",") if p]
    depths = [int(k) for k in args.in_flight.split(",") if k]
    print(f"unipush {getattr(unipush, '__version__', '?')}, Python {sys.version.split()[0]}, n={args.n}, "
          f"median of {args.repeat}; CPU µs per notification")  # fmt: skip
    for provider in providers:
        batch = targets(provider, args.n)
        cases: dict[str, Callable[[], float]] = {
            "provider": functools.partial(provider_floor, provider, batch),
            "async": functools.partial(async_batch, provider, batch),
            "sync": functools.partial(sync_batch, provider, batch),
        }
        for depth in depths:
            cases[f"async stream@{depth}"] = functools.partial(async_stream, provider, batch, depth)
            cases[f"sync stream@{depth}"] = functools.partial(sync_stream, provider, batch, depth)
        figures = {name: statistics.median(run() for _ in range(args.repeat)) for name, run in cases.items()}
        floor = figures["provider"]
        print(f"\n{provider}")
        print("| case | µs/notif | client layer (− provider) |")
        print("|---|--:|--:|")
        for name, value in figures.items():
            print(f"| {name} | {value:.1f} | {value - floor:+.1f} |")
        print(f"sync / async = {figures['sync'] / figures['async']:.2f}")
        if len(depths) > 1:
            low, high = depths[0], depths[-1]
            for kind in ("async", "sync"):
                ratio = figures[f"{kind} stream@{high}"] / figures[f"{kind} stream@{low}"]
                print(f"{kind} stream@{high} / stream@{low} = {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
