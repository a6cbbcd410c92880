"""``PushClient``: the synchronous client.

It sends through the same HTTP/2 engine as ``AsyncPushClient``, run on a private event loop thread
(``_loop_thread``), so a plain script multiplexes hundreds of requests on one connection. The input of
``stream``/``send_many`` is read, and callbacks are run, in the caller's thread: code that must not
run inside an event loop thread (an ORM, say) stays where it is.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Iterable, Iterator
from types import TracebackType

from unipush._client import BaseClient
from unipush._loop_thread import LoopThread
from unipush._model import Notification
from unipush._results import BatchResult, SendResult
from unipush._sending import Sender
from unipush._targets import Target

__all__ = ["PushClient"]

logger = logging.getLogger("unipush")


class PushClient(BaseClient):
    """Send notifications to APNs, FCM, Web Push and plugin providers from synchronous code.

    Pass a config per provider you use (``apns=APNs(...)``, ``fcm=FCM(...)``, ``webpush=WebPush(...)``)
    and/or plugin providers in ``providers=[...]``; a target's type picks its provider. Safe to share
    between threads; usable after ``fork`` (the child opens its own connections).
    """

    _loop: LoopThread | None = None
    _sender: Sender | None = None
    # One lock for every PushClient: it guards only the rare lazy start, never a send.
    _start_lock = threading.Lock()

    def _get(self) -> tuple[LoopThread, Sender]:
        loop, sender = self._loop, self._sender
        if loop is not None and sender is not None and loop.started:
            return loop, sender
        with self._start_lock:
            if self._loop is None:
                self._loop = LoopThread()
            loop = self._loop
            if self._sender is None or not loop.started:
                # First use in this process (or first use after a fork): a new loop thread and engine.
                self._sender = loop.run(self._create_sender())
            return loop, self._sender

    async def _create_sender(self) -> Sender:
        return self._make_sender()

    def _callback(self, result: SendResult) -> None:
        if self._on_invalid_token is None or not result.token_invalid:
            return
        try:
            self._on_invalid_token(result)
        except Exception:
            logger.exception("on_invalid_token callback failed for %s %s", result.provider, result.target.short())

    def send(self, notification: Notification, target: Target) -> SendResult:
        """Send one notification to one target. Raises only ``ValidationError``/``ConfigurationError``."""
        loop, sender = self._get()
        result = loop.run(sender.send(notification, target))
        self._callback(result)
        return result

    def send_many(self, notification: Notification, targets: Iterable[Target]) -> BatchResult:
        """Send one notification to many targets; results in input order, one per target."""
        results: dict[int, SendResult] = {}
        for index, result in self._stream_indexed((notification, t) for t in targets):
            results[index] = result
        return BatchResult(tuple(results[i] for i in range(len(results))))

    def stream(self, pairs: Iterable[tuple[Notification, Target]]) -> Iterator[SendResult]:
        """Yield a result per ``(notification, target)`` pair as sends complete (at most ``concurrency`` in flight).

        ``pairs`` is pulled lazily in the calling thread, so memory stays O(concurrency).
        """
        for _index, result in self._stream_indexed(pairs):
            yield result

    def _stream_indexed(self, pairs: Iterable[tuple[Notification, Target]]) -> Iterator[tuple[int, SendResult]]:
        loop, sender = self._get()
        inflight: dict[concurrent.futures.Future[SendResult], int] = {}
        try:
            for index, (notification, target) in enumerate(pairs):
                if len(inflight) >= self._concurrency:
                    yield from self._collect(inflight)
                inflight[loop.submit(sender.send_or_fail(notification, target))] = index
            while inflight:
                yield from self._collect(inflight)
        finally:
            for future in inflight:
                future.cancel()

    def _collect(self, inflight: dict[concurrent.futures.Future[SendResult], int]) -> Iterator[tuple[int, SendResult]]:
        done, _ = concurrent.futures.wait(inflight, return_when=concurrent.futures.FIRST_COMPLETED)
        for future in done:
            index = inflight.pop(future)
            result = future.result()
            self._callback(result)
            yield index, result

    def close(self) -> None:
        """Close connections and stop the loop thread. Safe to call twice."""
        loop, sender = self._loop, self._sender
        self._loop = self._sender = None
        if loop is not None:
            loop.stop(sender.aclose() if sender is not None and loop.started else None)

    def __enter__(self) -> PushClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
