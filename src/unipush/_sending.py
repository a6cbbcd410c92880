"""The sending loop both clients share: auth, transport, parse, retry, results.

It runs on one asyncio event loop: ``AsyncPushClient`` runs it on the caller's loop, ``PushClient`` on
a private loop thread. Per request the hot path is: render (pure) → attach credential (cached) →
transport → parse (pure) → ``RetryPolicy.decide`` (pure). Only a request that needs a second attempt
enters tenacity's retry loop, so the first attempt pays nothing for it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import ssl
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, cast

from tenacity import AsyncRetrying, retry_if_result, stop_never

from unipush._errors import ProviderError, TransportError, UnipushError, ValidationError
from unipush._model import Notification
from unipush._provider import Provider
from unipush._results import Outcome, PreparedRequest, SendResult
from unipush._retry import RetryDecision, RetryPolicy
from unipush._targets import Target
from unipush._transport import Transport, TransportResponse

if TYPE_CHECKING:
    from unipush._client import ClientCore
    from unipush.fcm._topics import TopicManagementResult, TopicOperation

__all__ = ["Sender", "logger"]

logger = logging.getLogger("unipush")

Pair = tuple[Notification, Target]


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


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
    if inspect.isawaitable(result):
        result = await result
    return cast(PreparedRequest, result)


class Sender:
    """Sends prepared requests through a transport with the retry policy; yields ``SendResult``s."""

    def __init__(
        self,
        core: ClientCore,
        transport: Transport,
        *,
        ssl_context: ssl.SSLContext,
        timeout: float | None,
        retry: RetryPolicy,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._core = core
        self._transport = transport
        self._ssl_context = ssl_context
        self._timeout = timeout
        self._retry = retry
        self._clock = clock

    async def send(self, notification: Notification, target: Target) -> SendResult:
        """Send to one target; ``ValidationError``/``ConfigurationError`` raise, every answer is a result."""
        provider = self._core.provider_for(target)
        # Rendered once: the same body and the same apns-id go out on every attempt.
        request = provider.prepare(notification, target, now=self._clock())
        if self._retry.budget is not None:
            self._retry.budget.record_attempt()
        sent, outcome, error, decision = await self._attempt(provider, request, 1, refreshed=False)
        if not decision.retry:
            return self._result(provider, target, outcome, error, attempts=1)
        return await self._retry_loop(provider, target, sent, outcome, error, decision)

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
        try:
            ready = await authorize(provider, request, refresh=refresh, ssl_context=self._ssl_context)
            response = await self._transport.request(
                ready.method, ready.url, ready.headers, ready.body, timeout=self._timeout
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
        else:
            outcome = provider.parse(ready, response.status, response.headers, response.body)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "%s %s attempt %d: %d %s",
                    provider.name,
                    request.target.short(),
                    attempt,
                    outcome.status_code,
                    outcome.reason,
                )
        decision = self._retry.decide(attempt, outcome, error, refreshed=refreshed)
        return ready, outcome, error, decision

    async def _retry_loop(
        self,
        provider: Provider,
        target: Target,
        sent: PreparedRequest,
        outcome: Outcome | None,
        error: TransportError | None,
        decision: RetryDecision,
    ) -> SendResult:
        """Attempts 2..n, driven by tenacity: the policy's decision says whether and when to go again."""
        state: dict[str, Any] = {"attempt": 1, "sent": sent, "outcome": outcome, "error": error}
        state["decision"], state["refreshed"] = decision, False

        async def again() -> RetryDecision:
            previous: RetryDecision = state["decision"]
            state["attempt"] += 1
            refresh = previous.refresh_credential
            state["refreshed"] = state["refreshed"] or refresh
            # A resend after a credential refusal carries the refused request (the provider compares
            # credentials); any other resend starts from the request as sent, same body and apns-id.
            ready, out, err, dec = await self._attempt(
                provider, state["sent"], state["attempt"], refreshed=state["refreshed"], refresh=refresh
            )
            state.update(sent=ready, outcome=out, error=err, decision=dec)
            return dec

        retrying = AsyncRetrying(
            retry=retry_if_result(lambda d: bool(d.retry)),
            wait=lambda _: float(state["decision"].delay),
            stop=stop_never,  # the policy counts attempts and spends the retry budget
            sleep=asyncio.sleep,
            retry_error_callback=lambda _: None,
        )
        await asyncio.sleep(decision.delay)
        await retrying(again)
        return self._result(provider, target, state["outcome"], state["error"], attempts=state["attempt"])

    @staticmethod
    def _result(
        provider: Provider,
        target: Target,
        outcome: Outcome | None,
        error: TransportError | None,
        *,
        attempts: int,
    ) -> SendResult:
        if outcome is None:
            return SendResult(ok=False, target=target, provider=provider.name, error=error, attempts=attempts)
        return SendResult(
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

    async def send_or_fail(self, notification: Notification, target: Target) -> SendResult:
        """``send`` for batches: a target the provider refuses to render becomes a failed result."""
        try:
            return await self.send(notification, target)
        except UnipushError as exc:
            provider = getattr(target, "provider", "unknown")
            if not isinstance(exc, ValidationError):
                logger.warning("%s %s: %s", provider, _short(target), exc)
            return SendResult(ok=False, target=target, provider=str(provider), error=exc, attempts=0)

    async def stream(
        self, pairs: Iterable[Pair] | AsyncIterable[Pair], concurrency: int
    ) -> AsyncGenerator[tuple[int, SendResult], None]:
        """Yield ``(index, result)`` as sends complete, with at most ``concurrency`` in flight.

        The input is pulled lazily, one pair per free slot, so a generator of a million pairs is never
        materialised: memory is O(concurrency).
        """
        pending: set[asyncio.Task[tuple[int, SendResult]]] = set()

        async def indexed(index: int, n: Notification, t: Target) -> tuple[int, SendResult]:
            return index, await self.send_or_fail(n, t)

        try:
            index = 0
            async for notification, target in _aiter(pairs):
                if len(pending) >= concurrency:
                    done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        yield task.result()
                pending.add(asyncio.ensure_future(indexed(index, notification, target)))
                index += 1
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    yield task.result()
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    @property
    def retry(self) -> RetryPolicy:
        """The client's retry policy."""
        return self._retry

    async def exchange(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> TransportResponse:
        """One HTTP exchange through this sender's transport and timeout, outside the notification path.

        For requests that are not notifications (APNs channel management), which decode their answers
        and drive their own retries; raises ``TransportError``.
        """
        return await self._transport.request(method, url, headers, body, timeout=self._timeout)

    async def manage_topic(
        self, operation: TopicOperation, topic: object, tokens: object, *, concurrency: int
    ) -> TopicManagementResult:
        """FCM topic (un)subscription through this sender's transport, credential and retry policy."""
        from unipush._topic_sending import manage_topic

        return await manage_topic(
            self._core,
            self._transport,
            operation,
            topic,
            tokens,
            ssl_context=self._ssl_context,
            timeout=self._timeout,
            retry=self._retry,
            concurrency=concurrency,
        )

    async def aclose(self) -> None:
        """Close the transport."""
        await self._transport.aclose()


def _short(target: object) -> str:
    return target.short() if isinstance(target, Target) else repr(target)[:16]


async def _aiter(pairs: Iterable[Pair] | AsyncIterable[Pair]) -> AsyncIterator[Pair]:
    if isinstance(pairs, AsyncIterable):
        async for pair in pairs:
            yield pair
    else:
        for pair in pairs:
            yield pair


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
