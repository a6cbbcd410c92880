"""The sending loop both clients share: auth, transport, parse, retry, results.

It runs on one asyncio event loop: ``AsyncPushClient`` runs it on the caller's loop, ``PushClient`` on
a private loop thread. Per request the hot path is: render (pure) → attach credential (cached) →
transport → parse (pure) → ``RetryPolicy.decide`` (pure) → ``Sender._finish``, the one place every
final result passes. Only a request that needs a second attempt enters the retry loop (a plain loop
over the policy's decisions), so the first attempt pays nothing for it.

The sender knows the client only through a ``Router`` (routing and rendering: ``ClientCore``
implements it) and a ``Transport`` (``unipush.transports``: the engine, the httpx adapter or a
``MockTransport``), so it imports neither the client nor the engine.

Closing (``aclose``) is final and loses nothing: an answer already had stays a result; a send still
waiting ends at once as a failed result whose ``TransportError`` says the client was closed (no retry
after that); a batch pulls no more input for ``stream`` and gives every remaining target of
``send_many`` such a result, never sent.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import logging
import ssl
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from typing import TYPE_CHECKING, Any, Protocol, cast

from unipush import _telemetry
from unipush._errors import ConfigurationError, ProviderError, TransportError, UnipushError, ValidationError
from unipush._foreign import describe, foreign_error
from unipush._model import Notification
from unipush._provider import Provider
from unipush._pruning import PruningWatch
from unipush._results import Outcome, PreparedRequest, SendResult
from unipush._retry import FINAL, RetryDecision, RetryPolicy
from unipush._targets import Target
from unipush._transport import Transport, TransportResponse

if TYPE_CHECKING:
    from unipush.policies import PolicyChain

__all__ = ["Router", "Sender", "authorize", "call_callback", "logger", "unpack_pair"]

logger = logging.getLogger("unipush")

Pair = tuple[Notification, Target]

CLOSED = "the client was closed"


def unpack_pair(item: object) -> tuple[Notification, Target] | ValidationError:
    """A ``stream`` input item as ``(notification, target)``, or the error that makes it a failed result."""
    if type(item) is tuple and len(item) == 2:  # the common case, checked fast
        return cast(Pair, item)
    try:
        notification, target = cast(Pair, item)
    except (TypeError, ValueError):
        return ValidationError("pairs", f"each item must be a (notification, target) pair, got {type(item).__name__}")
    return notification, target


def with_attempts(error: TransportError, attempts: int) -> TransportError:
    """``error`` with its message saying how many requests were made: the count ``SendResult.attempts`` has.

    Only the sender knows it (the engine sees one request attempt at a time), so the engine's messages
    quote no count of their own and the final error is restated here, same type, same flags.
    """
    renamed = copy.copy(error)  # the same type, and its attributes (maybe_processed...)
    renamed.args = (f"{error} ({attempts} attempt{'s' if attempts != 1 else ''})",)
    renamed.__cause__ = error.__cause__  # a faithful restatement: same cause, same traceback
    renamed.__suppress_context__ = True
    return renamed.with_traceback(error.__traceback__)


def _pair_provider(target: object) -> str:
    return str(getattr(target, "provider", None) or "unknown")


class Router(Protocol):
    """What the sender needs from a client: routing a target to its provider, and rendering (``ClientCore``)."""

    def prepare(self, notification: Notification, target: Target) -> tuple[Provider, PreparedRequest]:
        """Route ``target`` and render its request; raises only ``ValidationError``/``ConfigurationError``."""
        ...

    def provider_for(self, target: Target) -> Provider:
        """The provider that serves ``target``; ``ConfigurationError`` if none is configured."""
        ...


async def authorize(
    provider: Provider, request: PreparedRequest, *, refresh: bool, ssl_context: ssl.SSLContext
) -> PreparedRequest:
    """Attach (or, with ``refresh``, re-mint) the provider's credential, if it has an ``authorize`` hook.

    The hook may be a plain or an async method (a plugin chooses); the built-ins that sign locally
    (APNs, VAPID) answer at once from their caches, FCM awaits its OAuth token source.
    """
    hook = getattr(provider, "authorize", None)
    if hook is None:
        return request
    result = hook(request, refresh=refresh, ssl_context=ssl_context)
    if type(result) is not PreparedRequest and inspect.isawaitable(result):  # a ready request: no awaitable test
        result = await result
    return cast(PreparedRequest, result)


class Sender:
    """Sends prepared requests through a transport with the retry policy; yields ``SendResult``s."""

    def __init__(
        self,
        router: Router,
        transport: Transport,
        *,
        ssl_context: ssl.SSLContext,
        timeout: float | None,
        retry: RetryPolicy,
        pruning: PruningWatch | None = None,
        policies: PolicyChain | None = None,
    ) -> None:
        self.router = router
        self._policies = policies  # send policies (docs/policies.md): decide before anything is rendered
        self._pruning = pruning  # the client's: decides which "dead token" answers to believe
        self.transport = transport
        self.ssl_context = ssl_context  # for credential requests (FCM's OAuth token endpoint)
        self.timeout = timeout
        self._retry = retry
        self.closed = False
        self._wake: asyncio.Event | None = None  # set at close: cuts retry backoffs short
        # The tasks this sender started or was handed (batches, PushClient's sends): aclose() may
        # cancel those; a caller's own task (AsyncPushClient.send) is never cancelled.
        self._owned: set[asyncio.Task[Any]] = set()

    def closed_result(self, target: object) -> SendResult:
        """The result of a target never sent because the client was closed first."""
        error = TransportError(f"{CLOSED} before this notification was sent", maybe_processed=False)
        return _telemetry.unsent(
            SendResult(ok=False, target=cast(Target, target), provider=_pair_provider(target), error=error, attempts=0)
        )

    def _closed_error(self, cause: BaseException | None, *, maybe_processed: bool) -> TransportError:
        error = TransportError(f"{CLOSED} before an answer came", maybe_processed=maybe_processed)
        error.__cause__ = cause
        return error

    def _closing_cancel(self) -> bool:
        """Whether a ``CancelledError`` here is this sender's own ``aclose()`` ending an owned task."""
        task = asyncio.current_task()
        if not self.closed or task is None or task not in self._owned:
            return False
        if hasattr(task, "uncancel"):  # Python 3.11+: this cancellation is handled, the task goes on
            task.uncancel()
        return True

    async def send(self, notification: Notification, target: Target) -> SendResult:
        """Send to one target; ``ValidationError``/``ConfigurationError`` raise, every answer is a result."""
        if self._policies is not None:  # a policy's refusal is a result, and nothing is rendered for it
            return await self._policies.send(notification, target, self._send)
        return await self._send(notification, target)

    async def _send(self, notification: Notification, target: Target) -> SendResult:
        # Rendered once: the same body and the same apns-id go out on every attempt.
        provider, request = self.router.prepare(notification, target)
        if self.closed:
            return self.closed_result(target)
        budget = self._retry.budget
        if budget is not None:
            budget.record_attempt()
        telemetry, result = _telemetry.begin(provider.name, target), None  # docs/monitoring.md
        try:
            sent, outcome, error, decision = await self._attempt(provider, request, 1, refreshed=False)
            attempts = 1
            if decision.retry:
                attempts, outcome, error = await self._retry_loop(provider, sent, outcome, error, decision)
            result = self._finish(provider, target, request, outcome, error, attempts)
        finally:
            _telemetry.end(telemetry, result)
        return result

    async def _attempt(
        self, provider: Provider, request: PreparedRequest, attempt: int, *, refreshed: bool, refresh: bool = False
    ) -> tuple[PreparedRequest, Outcome | None, TransportError | None, RetryDecision]:
        """One attempt: attach the credential, send, parse, decide. Returns the request as sent.

        With ``refresh``, ``request`` is the one sent last time, so the provider can tell whether its
        credential was already replaced by a concurrent send (one refresh for a burst of 401s).
        """
        outcome: Outcome | None = None
        error: TransportError | None = None
        ready = request
        authorized = False
        try:
            ready = await authorize(provider, request, refresh=refresh, ssl_context=self.ssl_context)
            if type(ready) is not PreparedRequest and not isinstance(ready, PreparedRequest):
                raise ConfigurationError(
                    f"provider {provider.name!r}: authorize must return a PreparedRequest, got {type(ready).__name__}"
                )
            authorized = True
            response = await self.transport.request(
                ready.method, ready.url, ready.headers, ready.body, timeout=self.timeout
            )
        except TransportError as exc:
            error = exc
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("%s %s attempt %d: %s", provider.name, request.target.short(), attempt, exc)
        except ProviderError as exc:
            # The credential itself was refused (e.g. the OAuth token endpoint said invalid_grant): a
            # provider answer like any other, so a result, not an exception out of send().
            outcome = Outcome(ok=False, status_code=exc.status_code, error=exc, reason=exc.reason)
            logger.warning("%s %s: %s", provider.name, request.target.short(), exc)
        except asyncio.CancelledError:
            if not self._closing_cancel():
                raise
            error = self._closed_error(None, maybe_processed=True)
        except UnipushError:
            raise  # a credential hook's ConfigurationError/ValidationError: send() raises it, a batch reports it
        except Exception as exc:
            # A plugin's authorize hook, or a transport, broke its contract: only unipush's errors leave.
            if not authorized:
                raise foreign_error(provider.name, "authorize", exc) from exc
            error = TransportError(f"the transport failed ({describe(exc)})", maybe_processed=True)
            error.__cause__ = exc
        else:
            try:
                outcome = provider.parse(ready, response.status, response.headers, response.body)
                if not isinstance(outcome, Outcome):
                    raise TypeError(f"parse returned {type(outcome).__name__}, not an Outcome")
            except Exception as exc:  # parse must be total (docs/plugins.md); a plugin's may not be
                outcome = _undecodable(provider.name, response.status, exc)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "%s %s attempt %d: %d %s",
                    provider.name,
                    request.target.short(),
                    attempt,
                    outcome.status_code,
                    outcome.reason,
                )
        _telemetry.attempt(provider.name, attempt, outcome, error)
        if self.closed:
            # No retry once closed; an answer already had is kept, a missing one says why it is missing.
            if outcome is None and error is not None and not str(error).startswith(CLOSED):
                error = self._closed_error(error, maybe_processed=error.maybe_processed)
            return ready, outcome, error, FINAL
        decision = self._retry.decide(attempt, outcome, error, refreshed=refreshed)
        return ready, outcome, error, decision

    async def _pause(self, delay: float) -> None:
        """The backoff before a resend; ends early when the client is closed meanwhile."""
        if delay <= 0 or self.closed:
            return
        if self._wake is None:
            self._wake = asyncio.Event()
        try:
            await asyncio.wait_for(self._wake.wait(), delay)
        except asyncio.TimeoutError:
            pass
        except asyncio.CancelledError:
            if not self._closing_cancel():
                raise

    async def _retry_loop(
        self,
        provider: Provider,
        sent: PreparedRequest,
        outcome: Outcome | None,
        error: TransportError | None,
        decision: RetryDecision,
    ) -> tuple[int, Outcome | None, TransportError | None]:
        """Attempts 2..n: wait as the policy says, send again, until it says stop. Returns the last attempt.

        The policy counts the attempts and spends the retry budget; this loop only waits and resends.
        """
        attempt, refreshed = 1, False
        while decision.retry:
            await self._pause(decision.delay)
            if self.closed:  # closed during the backoff: no further attempt, the last answer is not final
                last = error if error is not None else outcome.error if outcome is not None else None
                processed = last.maybe_processed if isinstance(last, TransportError) else True
                return attempt, None, self._closed_error(last, maybe_processed=processed)
            _telemetry.retry(provider.name, outcome, error, decision)  # the cause: the previous answer
            attempt += 1
            refresh = decision.refresh_credential
            refreshed = refreshed or refresh
            # A resend after a credential refusal carries the refused request (the provider compares
            # credentials); any other resend starts from the request as sent, same body and apns-id.
            sent, outcome, error, decision = await self._attempt(
                provider, sent, attempt, refreshed=refreshed, refresh=refresh
            )
        return attempt, outcome, error

    def _finish(
        self,
        provider: Provider,
        target: Target,
        request: PreparedRequest,
        outcome: Outcome | None,
        error: TransportError | None,
        attempts: int,
    ) -> SendResult:
        """The final result of one send: every result of send, send_many and stream is made here once,
        before any callback sees it (``request`` is the request as rendered)."""
        if outcome is None:
            if error is not None:
                error = with_attempts(error, attempts)
            result = SendResult(ok=False, target=target, provider=provider.name, error=error, attempts=attempts)
        else:
            result = SendResult(
                ok=outcome.ok,
                target=target,
                provider=provider.name,
                status_code=outcome.status_code,
                message_id=outcome.message_id,
                error=outcome.error,
                reason=outcome.reason,
                token_invalid=outcome.token_invalid,
                invalidated_at=outcome.invalidated_at,
                retry_after=outcome.retry_after,
                attempts=attempts,
            )
        return result if self._pruning is None else self._pruning.review(request, result)

    async def send_owned(self, notification: Notification, target: Target) -> SendResult:
        """``send`` in a task this sender owns (PushClient's loop thread): ``aclose()`` may end it."""
        task = asyncio.current_task()
        assert task is not None
        self._owned.add(task)
        try:
            return await self.send(notification, target)
        finally:
            self._owned.discard(task)

    def spawn(
        self, item: object, on_done: Callable[[asyncio.Task[SendResult]], object] | None = None
    ) -> asyncio.Task[SendResult]:
        """A task sending one batch item (a pair as the input gave it), owned by this sender.

        ``on_done(task)`` runs when it ends (one done callback per task for both uses: it is per item).
        """
        task = asyncio.get_running_loop().create_task(self._send_item(item))
        owned = self._owned
        owned.add(task)
        if on_done is None:
            task.add_done_callback(owned.discard)
        else:

            def done(finished: asyncio.Task[SendResult]) -> None:
                owned.discard(finished)
                on_done(finished)

            task.add_done_callback(done)
        return task

    async def _send_item(self, item: object) -> SendResult:
        """``send`` for batches: a pair that cannot be rendered or routed, or an item that is not a pair,
        becomes a failed result.

        ``ClientCore.prepare`` turns every such failure (a plugin's exception of any type included) into
        a ``ValidationError``/``ConfigurationError``, so one bad pair never aborts the batch.
        """
        if type(item) is tuple and len(item) == 2:  # the common case, checked fast
            notification, target = item
        else:
            pair = unpack_pair(item)
            if isinstance(pair, ValidationError):
                return _telemetry.unsent(
                    SendResult(ok=False, target=cast(Target, item), provider="unknown", error=pair, attempts=0)
                )
            notification, target = pair
        if self.closed:
            return self.closed_result(target)
        try:
            return await self.send(notification, target)
        except UnipushError as exc:
            provider = _pair_provider(target)
            if not isinstance(exc, ValidationError):
                logger.warning("%s %s: %s", provider, _short(target), exc)
            return _telemetry.unsent(SendResult(ok=False, target=target, provider=provider, error=exc, attempts=0))

    def never_sent(self, item: object) -> SendResult:
        """The result of a batch item (a pair as the input gave it) never sent because the client closed."""
        pair = unpack_pair(item)
        return self.closed_result(item if isinstance(pair, ValidationError) else pair[1])

    async def stream(
        self, pairs: Iterable[Pair] | AsyncIterable[Pair], concurrency: int, *, finish_input: bool = False
    ) -> AsyncGenerator[tuple[int, SendResult], None]:
        """Yield ``(index, result)`` as sends complete, with at most ``concurrency`` in flight.

        The input is pulled lazily, one pair per free slot, so a generator of a million pairs is never
        materialised: memory is O(concurrency). Every item pulled gets one result, an item that is not
        a pair included. After ``aclose()`` no more input is pulled, unless ``finish_input``
        (``send_many``: every target gets its result, here "closed, not sent").

        Each send's done callback queues it, so a completion costs O(1) whatever the number in flight
        (``asyncio.wait`` over the pending set would cost O(in flight) per completion).
        """
        loop = asyncio.get_running_loop()
        tasks: dict[asyncio.Task[SendResult], tuple[int, object]] = {}
        batch = _telemetry.batch_begin("send batch")  # the tasks spawned below copy it with the context
        done: deque[asyncio.Task[SendResult]] = deque()
        wake: list[asyncio.Future[None] | None] = [None]  # set while this generator waits for a completion

        def finished(task: asyncio.Task[SendResult]) -> None:
            done.append(task)
            waiter = wake[0]
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

        async def completion() -> None:
            waiter = wake[0] = loop.create_future()
            try:
                await waiter
            finally:
                wake[0] = None

        def result_of(task: asyncio.Task[SendResult]) -> tuple[int, SendResult]:
            index, item = tasks.pop(task)
            if task.cancelled():  # cancelled before it ever ran (the client closed): never sent
                return index, self.never_sent(item)
            return index, task.result()

        # A plain iterable is read directly (an async generator around it would cost a step per item).
        items: Iterator[object] | None = None
        async_items: AsyncIterator[object] | None = None
        if isinstance(pairs, AsyncIterable):
            async_items = aiter(pairs)
        else:
            items = iter(pairs)
        spawn = self.spawn
        try:
            index = 0
            while True:
                if items is not None:
                    try:
                        item = next(items)
                    except StopIteration:
                        break
                else:
                    assert async_items is not None
                    try:
                        item = await async_items.__anext__()
                    except StopAsyncIteration:
                        break
                if self.closed:  # this item was pulled, so it gets its result; then stop, or finish the input
                    yield index, self.never_sent(item)
                    if not finish_input:
                        break
                    index += 1
                    continue
                while len(tasks) - len(done) >= concurrency:  # no free slot: wait for a send to end
                    await completion()
                while done:
                    yield result_of(done.popleft())
                tasks[spawn(item, finished)] = (index, item)
                index += 1
            while tasks:
                if not done:
                    await completion()
                while done:
                    yield result_of(done.popleft())
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            _telemetry.batch_end(batch)

    @property
    def retry(self) -> RetryPolicy:
        """The client's retry policy."""
        return self._retry

    async def exchange(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> TransportResponse:
        """One HTTP exchange through this sender's transport and timeout, outside the notification path.

        For requests that are not notifications (APNs channel management), which decode their answers
        and drive their own retries; raises ``TransportError``.
        """
        return await self.transport.request(method, url, headers, body, timeout=self.timeout)

    async def aclose(self) -> None:
        """Close for good: no retry after this, the transport closed, the owned sends still waiting ended.

        Each send still waiting ends as a failed result saying the client was closed (``send`` in
        another task included); answers already had are kept.
        """
        if self.closed:
            return
        self.closed = True
        if self._wake is not None:
            self._wake.set()
        await self.transport.aclose()  # the engine fails what it holds: those sends end by themselves
        # One loop turn so a task created just before the close takes its first step (and sees it).
        await asyncio.sleep(0)
        rest = [task for task in self._owned if not task.done() and task is not asyncio.current_task()]
        for task in rest:
            task.cancel()  # a plugin's slow authorize, a non-engine transport: ended, not waited for
        if rest:
            await asyncio.wait(rest)


def _undecodable(provider: str, status: int, exc: Exception) -> Outcome:
    """The outcome of an answer the provider's ``parse`` could not decode: a final failure, not retried."""
    error = ProviderError(
        f"provider {provider!r} could not decode its answer (HTTP {status}; {describe(exc)})",
        provider=provider,
        status_code=status,
    )
    error.__cause__ = exc
    return Outcome(ok=False, status_code=status, error=error)


def _short(target: object) -> str:
    return target.short() if isinstance(target, Target) else f"<not a target: {type(target).__name__}>"


async def call_callback(callback: Callable[[SendResult], object] | None, result: SendResult) -> None:
    """Run ``on_invalid_token`` (plain or async) for a final dead-token result; log, never raise."""
    if callback is None or not result.token_invalid:
        return
    try:
        value = callback(result)
        if inspect.isawaitable(value):
            await cast(Awaitable[object], value)
    except Exception:
        logger.exception("on_invalid_token callback failed for %s %s", result.provider, result.target.short())
