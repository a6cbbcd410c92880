"""``PushClient``: the synchronous client.

It sends through the same HTTP/2 engine as ``AsyncPushClient``, run on a private event loop thread
(``_loop_thread``), so a plain script multiplexes hundreds of requests on one connection. The input of
``stream``/``send_many`` is read, and callbacks are run, in the caller's thread: code that must not
run inside an event loop thread (an ORM, say) stays where it is.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from types import TracebackType

from unipush import _telemetry
from unipush._client import BaseClient, check_batch, check_pairs
from unipush._errors import ConfigurationError
from unipush._loop_thread import LoopClosedError, LoopThread
from unipush._model import Notification
from unipush._results import BatchResult, SendResult
from unipush._sending import Sender
from unipush._targets import Target
from unipush._topic_sending import manage_topic
from unipush.apns._broadcast import ChannelAnswer
from unipush.apns._channels import ApnsChannels, SenderWork, apns_provider
from unipush.fcm._target import FcmDevice, FcmTopic
from unipush.fcm._topics import TopicManagementResult, TopicOperation, registration_tokens, topic_name

__all__ = ["PushClient"]

logger = logging.getLogger("unipush")


class PushClient(BaseClient):
    """Send notifications to APNs, FCM, Web Push and plugin providers from synchronous code.

    Pass a config per provider you use (``apns=APNs(...)``, ``fcm=FCM(...)``, ``webpush=WebPush(...)``)
    and/or plugin providers in ``providers=[...]``; a target's type picks its provider. Safe to share
    between threads; usable after ``fork`` (the child opens its own connections). ``close()`` is final:
    a closed client raises ``ConfigurationError`` on any further send (create a new client instead).
    """

    _loop: LoopThread | None = None
    _sender: Sender | None = None
    # One lock for every PushClient: it guards only the rare lazy start and close, never a send.
    _start_lock = threading.Lock()

    # Callbacks run in the caller's thread, where a coroutine would never be awaited.
    _accepts_async_callbacks = False

    def _check_open(self) -> None:
        if self._closed:
            raise ConfigurationError("this PushClient is closed: create a new client to send again")

    def _get(self) -> tuple[LoopThread, Sender]:
        loop, sender = self._loop, self._sender
        if loop is not None and sender is not None and loop.started:
            return loop, sender
        with self._start_lock:
            self._check_open()
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
        """Send one notification to one target. Raises only ``ValidationError``/``ConfigurationError``.

        ``ConfigurationError`` too once the client is closed; a send still waiting when another thread
        calls ``close()`` returns a failed result whose ``TransportError`` says the client was closed.
        """
        self._check_open()
        loop, sender = self._get()
        try:
            result = loop.run(sender.send_owned(notification, target))
        except (LoopClosedError, concurrent.futures.CancelledError):
            if not self._closed:
                raise
            return sender.closed_result(target)  # closed before the loop thread ever ran it
        self._callback(result)
        _telemetry.run_result_hook(self._on_result, result)
        return result

    def send_many(self, notification: Notification, targets: Iterable[Target]) -> BatchResult:
        """Send one notification to many targets; results in input order, one per target.

        Never raises for one target: a target that cannot be routed or rendered gets a failed result
        and the others still go out. A call that is wrong as a whole raises ``ValidationError`` before
        anything is sent (``notification`` not a ``Notification``, ``targets`` not an iterable of
        targets). If the client is closed meanwhile, the targets not yet answered get failed results.
        """
        self._check_open()
        check_batch(notification, targets)
        results: dict[int, SendResult] = {}
        for index, result in self._stream_indexed(((notification, t) for t in targets), finish_input=True):
            results[index] = result
        return BatchResult(tuple(results[i] for i in range(len(results))))

    def stream(self, pairs: Iterable[tuple[Notification, Target]]) -> Iterator[SendResult]:
        """Yield a result per ``(notification, target)`` pair as sends complete (at most ``concurrency`` in flight).

        ``pairs`` is pulled lazily in the calling thread, so memory stays O(concurrency). Every item
        pulled gets one result: a pair that cannot be routed or rendered, or an item that is not a
        pair, is a failed result and never stops the stream. After ``close()`` (from another thread)
        the stream pulls no more input: the pairs in flight end as failed results and it stops.
        """
        self._check_open()
        check_pairs(pairs)
        return self._stream(pairs)

    def _stream(self, pairs: Iterable[tuple[Notification, Target]]) -> Iterator[SendResult]:
        for _index, result in self._stream_indexed(pairs):
            yield result

    def _stream_indexed(
        self, pairs: Iterable[object], *, finish_input: bool = False
    ) -> Iterator[tuple[int, SendResult]]:
        loop, sender = self._get()
        relay = _Relay(sender)
        self._active.add(relay)  # before the check below: close() either sees it or is seen
        batch = _telemetry.batch_begin("send batch")  # the loop thread's callbacks copy this context
        try:
            self._check_open()
            for index, item in enumerate(pairs):
                if self._closed:  # this item was pulled, so it gets its result; then stop, or finish the input
                    yield index, sender.never_sent(item)
                    if not finish_input:
                        break
                    continue
                while relay.in_flight >= self._concurrency:
                    yield from self._collect(relay)
                relay.submit(loop, index, item)
            while relay.in_flight:
                yield from self._collect(relay)
        finally:
            self._active.discard(relay)
            if relay.in_flight:
                loop.call(relay.cancel)
            _telemetry.batch_end(batch)

    def _collect(self, relay: _Relay) -> Iterator[tuple[int, SendResult]]:
        done = relay.results.get()
        relay.in_flight -= len(done)
        for index, result in done:
            if isinstance(result, BaseException):
                raise result
            self._callback(result)
            _telemetry.run_result_hook(self._on_result, result)
            yield index, result

    @property
    def apns_channels(self) -> ApnsChannels:
        """Create, read, list and delete APNs broadcast channels (iOS 18); needs ``apns=``."""
        return ApnsChannels(apns_provider(self.providers), self._run_channel_call)

    def _run_channel_call(self, work: SenderWork) -> ChannelAnswer:
        loop, sender = self._get()
        return loop.run(work(sender))

    def subscribe_to_topic(
        self, topic: str | FcmTopic, tokens: Iterable[str | FcmDevice] | str | FcmDevice
    ) -> TopicManagementResult:
        """Subscribe FCM registration tokens to ``topic``; one result per token, in input order.

        Up to 1,000 tokens go in one Instance ID call, more in several. A dead token is reported like a
        dead token on a send (``token_invalid``, ``on_invalid_token``). Raises only ``ValidationError``
        (a bad topic name or token) and ``ConfigurationError`` (no ``fcm=``).
        """
        return self._manage_topic("subscribe", topic, tokens)

    def unsubscribe_from_topic(
        self, topic: str | FcmTopic, tokens: Iterable[str | FcmDevice] | str | FcmDevice
    ) -> TopicManagementResult:
        """Unsubscribe FCM registration tokens from ``topic``; like ``subscribe_to_topic``."""
        return self._manage_topic("unsubscribe", topic, tokens)

    def _manage_topic(self, operation: TopicOperation, topic: object, tokens: object) -> TopicManagementResult:
        # Checked here, so that ``tokens`` (a generator over a database, say) is read in the caller's thread
        # and bad input raises before the loop thread starts.
        topic, tokens = topic_name(topic), registration_tokens(tokens)
        loop, sender = self._get()
        result = loop.run(manage_topic(sender, operation, topic, tokens, concurrency=self._concurrency))
        for item in result:
            self._callback(item)
        return result

    def close(self) -> None:
        """Close connections and stop the loop thread, for good. Safe to call twice, and from any thread.

        A ``send``/``send_many``/``stream`` running in another thread returns promptly: answers already
        had are kept, the rest fail with a ``TransportError`` saying the client was closed. Any later
        ``send``/``send_many``/``stream`` raises ``ConfigurationError`` (the client does not reopen).
        """
        with self._start_lock:
            self._closed = True
            loop, sender = self._loop, self._sender
            self._loop = self._sender = None
        if loop is not None:
            loop.stop(self._shut_down(sender) if sender is not None and loop.started else None)
        for relay in list(self._active):
            if isinstance(relay, _Relay):
                relay.closed = True
                relay.drain()  # what was handed over too late for the loop thread to see

    async def _shut_down(self, sender: Sender) -> None:
        relays = [relay for relay in list(self._active) if isinstance(relay, _Relay)]
        for relay in relays:
            relay.abort()  # no new sends; the ones queued for the loop fail as "closed, not sent"
        await sender.aclose()  # the sends in flight end with their answer or as "closed"
        for relay in relays:
            relay.flush()

    def __enter__(self) -> PushClient:
        self._check_open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _Relay:
    """Carries one ``stream``'s sends to the loop thread and their results back, many per wake-up.

    A ``run_coroutine_threadsafe`` per target costs a self-pipe write to wake the loop, a
    ``concurrent.futures.Future`` with its lock, and a ``concurrent.futures.wait`` that installs and
    removes a waiter on every future in flight each time: at a few hundred in flight, about a fifth of
    the client's CPU per notification (benchmarks/bench_send.py). Here targets queue in a deque and one
    wake-up starts all that arrived meanwhile; results finished in one loop iteration go back to the
    caller as one list. Each target is still handed over as soon as it is pulled from the input.

    At ``close()`` every item handed over gets exactly one result: answered, ended as "closed", or,
    if it never reached the loop thread, "closed, not sent" (``drain``, from whichever thread sees it
    last; ``deque.popleft`` hands each item to one of them only).
    """

    def __init__(self, sender: Sender) -> None:
        self._sender = sender
        self._incoming: deque[tuple[int, object]] = deque()  # caller thread → loop thread
        self._wake_pending = False
        self.closed = False  # set on the loop thread by abort(): nothing more starts
        self.results: queue.SimpleQueue[list[tuple[int, SendResult | BaseException]]] = queue.SimpleQueue()
        self.in_flight = 0  # caller thread only
        self._tasks: dict[asyncio.Task[SendResult], tuple[int, object]] = {}  # loop thread only
        self._finished: list[tuple[int, SendResult | BaseException]] = []  # loop thread only

    def submit(self, loop: LoopThread, index: int, item: object) -> None:
        """Caller thread: send ``item`` (a pair, as the input gave it) as the ``index``-th of the stream."""
        self._incoming.append((index, item))
        self.in_flight += 1
        if self.closed:
            self.drain()
            return
        # _start clears the flag before it drains the deque, so an item appended while the flag is
        # still set is drained by the wake-up already on its way.
        if not self._wake_pending:
            self._wake_pending = True
            if not loop.call(self._start):
                self.drain()  # the loop thread was stopped: this item never reaches it

    def _start(self) -> None:
        self._wake_pending = False
        if self.closed:
            self.drain()
            return
        incoming = self._incoming
        spawn = self._sender.spawn
        while incoming:
            index, item = incoming.popleft()
            self._tasks[spawn(item, self._done)] = (index, item)

    def _done(self, task: asyncio.Task[SendResult]) -> None:
        index, item = self._tasks.pop(task)
        if task.cancelled():
            if not self.closed:
                return  # the caller stopped early: nobody waits for it
            result: SendResult | BaseException = self._sender.never_sent(item)  # cancelled before it ran
        else:
            error = task.exception()
            result = task.result() if error is None else error
        self._finished.append((index, result))
        if len(self._finished) == 1:  # one hand-over per loop iteration, after all that finish in it
            asyncio.get_running_loop().call_soon(self._post)

    def _post(self) -> None:
        finished, self._finished = self._finished, []
        if finished:
            self.results.put(finished)

    def cancel(self) -> None:
        """Loop thread: drop what has not started and cancel what has (the caller stopped early)."""
        self._incoming.clear()
        for task in list(self._tasks):
            task.cancel()

    def abort(self) -> None:
        """Loop thread, at close: start nothing more; what waits in the deque fails as "closed, not sent"."""
        self.closed = True
        self.drain()

    def flush(self) -> None:
        """Loop thread, at close, after the sender closed: hand over every result finished so far."""
        self._post()

    def drain(self) -> None:
        """Any thread, once closed: fail every item still in the deque as "closed, not sent"."""
        failed: list[tuple[int, SendResult | BaseException]] = []
        while True:
            try:
                index, item = self._incoming.popleft()
            except IndexError:
                break
            failed.append((index, self._sender.never_sent(item)))
        if failed:
            self.results.put(failed)
