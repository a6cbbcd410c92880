"""FCM topic subscriptions through a client's transport, OAuth token source and retry policy.

Both clients call ``manage_topic`` on their event loop (``PushClient`` on its loop thread) with their
``Sender``: the same connections as the sends (the IID host gets its own HTTP/2 connection
in the same engine), the FCM provider's cached OAuth token (``FCM.authorize``) and the client's
``RetryPolicy``, whose pure ``decide`` runs on each call's outcome exactly as for a send. The encoding
and decoding are ``unipush.fcm._topics``'s. A call of up to 1,000 tokens is one request; more tokens
are several calls, at most ``concurrency`` in flight, with the results put back in input order.

Only whole-call failures are retried (429, 5xx, a transport error, one credential refresh after a 401):
subscribing and unsubscribing are idempotent, so a resend can do no harm. A per-token error in a 200
answer is final for this call and is reported on that token's result.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

from unipush._errors import ConfigurationError, ProviderError, TransportError
from unipush._results import Outcome, PreparedRequest, SendResult
from unipush._retry import RetryPolicy
from unipush._sending import Sender, authorize
from unipush._transport import Transport
from unipush.fcm._config import FCM
from unipush.fcm._target import FcmDevice, FcmTopic
from unipush.fcm._topics import (
    TopicAnswer,
    TopicManagementResult,
    TopicOperation,
    chunk_tokens,
    parse_topic_response,
    prepare_topic_request,
    registration_tokens,
    topic_name,
)

__all__ = ["manage_topic"]

logger = logging.getLogger("unipush")


async def manage_topic(
    sender: Sender, operation: TopicOperation, topic: object, tokens: object, *, concurrency: int
) -> TopicManagementResult:
    """Subscribe (or unsubscribe) ``tokens`` to ``topic``; one result per token, in input order.

    Raises:
        ValidationError: the topic name or a token is malformed, or there are no tokens.
        ConfigurationError: the client has no ``FCM`` provider.
    """
    name = topic_name(topic)
    devices = registration_tokens(tokens)
    provider = sender.router.provider_for(FcmTopic(name))
    if not isinstance(provider, FCM):
        raise ConfigurationError(
            f"topic management needs the built-in FCM provider; FcmTopic is served by {type(provider).__name__}"
        )
    slots = asyncio.Semaphore(concurrency)

    async def call(chunk: list[FcmDevice]) -> list[SendResult]:
        async with slots:
            request = prepare_topic_request(provider.iid_base_url, operation, name, chunk)
            return await _call(
                provider,
                sender.transport,
                request,
                chunk,
                ssl_context=sender.ssl_context,
                timeout=sender.timeout,
                retry=sender.retry,
            )

    batches = await asyncio.gather(*(call(list(chunk)) for chunk in chunk_tokens(devices)))
    return TopicManagementResult(
        results=tuple(result for batch in batches for result in batch), topic=name, operation=operation
    )


async def _call(
    provider: FCM,
    transport: Transport,
    request: PreparedRequest,
    devices: list[FcmDevice],
    *,
    ssl_context: ssl.SSLContext,
    timeout: float | None,
    retry: RetryPolicy,
) -> list[SendResult]:
    """One batchAdd/batchRemove call with the retry policy; a result per token of the call."""
    if retry.budget is not None:
        retry.budget.record_attempt()
    sent, attempt, refresh, refreshed = request, 0, False, False
    while True:
        attempt += 1
        answer: TopicAnswer | None = None
        error: TransportError | None = None
        outcome: Outcome | None = None
        try:
            # With ``refresh``, ``sent`` is the refused request: FCM.authorize compares its token with the
            # cached one, so concurrent refusals cost one refresh (as for sends).
            ready = await authorize(provider, sent, refresh=refresh, ssl_context=ssl_context)
            response = await transport.request(ready.method, ready.url, ready.headers, ready.body, timeout=timeout)
        except TransportError as exc:
            error = exc
        except ProviderError as exc:  # the OAuth token endpoint refused the credential
            outcome = Outcome(ok=False, status_code=exc.status_code, error=exc, reason=exc.reason)
        else:
            sent = ready
            answer = parse_topic_response(response.status, response.headers, response.body, len(devices))
            outcome = answer.outcome
        decision = retry.decide(attempt, outcome, error, refreshed=refreshed)
        if not decision.retry:
            break
        refresh = decision.refresh_credential
        refreshed = refreshed or refresh
        await asyncio.sleep(decision.delay)

    if answer is not None and answer.results is not None:
        return [
            SendResult(
                ok=item.ok,
                target=device,
                provider="fcm",
                status_code=item.status_code,
                error=item.error,
                reason=item.reason,
                token_invalid=item.token_invalid,
                attempts=attempt,
            )
            for device, item in zip(devices, answer.results, strict=True)
        ]
    failure = error if outcome is None else outcome.error
    logger.warning("fcm topic %s (%d tokens): %s", request.target.key, len(devices), failure)
    return [
        SendResult(
            ok=False,
            target=device,
            provider="fcm",
            status_code=None if outcome is None else outcome.status_code,
            error=failure,
            reason=None if outcome is None else outcome.reason,
            retry_after=None if outcome is None else outcome.retry_after,
            attempts=attempt,
        )
        for device in devices
    ]
