"""Broadcast channel management from the clients: ``client.apns_channels`` (iOS 18).

``PushClient.apns_channels`` is an ``ApnsChannels`` and ``AsyncPushClient.apns_channels`` an
``AsyncApnsChannels``; both render with ``channel_request`` and decode with ``decode_channel_answer``
(``unipush.apns._broadcast``, pure) and send through ``manage``, the one I/O routine they share. It runs on
the client's event loop, over the client's transport (the same HTTP/2 engine, timeout and retry policy as
notifications) with the APNs provider token.

A call returns what APNs answered (``ApnsChannelInfo``, a list of ``ApnsChannel``, or ``None`` for a
delete) and raises the decoded error otherwise: a ``ProviderError`` (``InvalidTokenError`` for
``ChannelNotRegistered``, ``AuthenticationError``, ``RateLimitedError``) whose ``reason`` is an
``ApnsReason``, or a ``TransportError`` when no answer came. Retries follow the client's ``RetryPolicy``,
except that a ``create`` is sent again only when APNs certainly did not act on it (429, 503, a refused
provider token, a request that never left): a second channel would count against Apple's limit of 10,000.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from unipush._errors import ConfigurationError, TransportError
from unipush._results import Outcome
from unipush._retry import RetryDecision
from unipush.apns._broadcast import (
    ApnsChannelInfo,
    ChannelAnswer,
    ChannelOperation,
    ChannelRequest,
    channel_request,
    decode_channel_answer,
)
from unipush.apns._config import APNs
from unipush.apns._target import ApnsChannel, ApnsStoragePolicy, StoragePolicyValue

if TYPE_CHECKING:
    from unipush._provider import Provider
    from unipush._sending import Sender

__all__ = ["ApnsChannels", "AsyncApnsChannels", "apns_provider", "manage"]

logger = logging.getLogger("unipush")

SenderWork = Callable[["Sender"], Coroutine[Any, Any, ChannelAnswer]]
"""A channel call waiting for the client's sender (how ``PushClient`` hands it to its loop thread)."""

# Answers after which APNs certainly did not create a channel, so a resend cannot make a second one.
_NOT_ACTED_STATUSES = frozenset({429, 503})


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def apns_provider(providers: Mapping[str, Provider]) -> APNs:
    """The client's ``APNs`` config; ``ConfigurationError`` when the client has none."""
    apns = providers.get("apns")
    if not isinstance(apns, APNs):
        raise ConfigurationError("APNs broadcast channels need an APNs config: pass apns=APNs(...) to the client")
    return apns


def _request(
    apns: APNs,
    operation: ChannelOperation,
    *,
    channel: ApnsChannel | str | None = None,
    storage: ApnsStoragePolicy | int | None = None,
) -> ChannelRequest:
    return channel_request(
        operation,
        bundle_id=apns.topic,
        base_url=apns.manage_base_url,
        request_id=str(uuid.uuid4()),
        channel=channel,
        storage=storage,
    )


def _certainly_not_acted(outcome: Outcome | None, error: TransportError | None) -> bool:
    if error is not None:
        return not error.maybe_processed
    assert outcome is not None
    return outcome.status_code in _NOT_ACTED_STATUSES or outcome.refresh_credential


async def manage(
    sender: Sender, apns: APNs, request: ChannelRequest, *, clock: Callable[[], datetime] = _utcnow
) -> ChannelAnswer:
    """Send one channel-management request with the client's retry policy; return the successful answer.

    Raises:
        ProviderError: APNs refused the request (``reason`` is an ``ApnsReason`` when it sent one we know).
        TransportError: no answer after the retries.
    """
    policy = sender.retry
    if policy.budget is not None:
        policy.budget.record_attempt()
    attempt, refresh, refreshed = 0, False, False
    while True:
        attempt += 1
        headers = dict(request.headers)
        signer = apns.signer
        if signer is not None:
            # The same provider token as notifications (Apple: channel management uses the APNs JWT).
            headers["authorization"] = signer.authorization(clock(), force=refresh)
        outcome: Outcome | None = None
        error: TransportError | None = None
        try:
            response = await sender.exchange(request.method, request.url, headers, request.body)
        except TransportError as exc:
            error = exc
        else:
            answer = decode_channel_answer(request, response.status, response.headers, response.body)
            if answer.outcome.ok:
                return answer
            outcome = answer.outcome
        decision = policy.decide(attempt, outcome, error, refreshed=refreshed)
        if decision.retry and request.operation == "create" and not _certainly_not_acted(outcome, error):
            decision = RetryDecision(False)
        logger.debug(
            "apns channel %s attempt %d: %s", request.operation, attempt, error or (outcome and outcome.status_code)
        )
        if not decision.retry:
            if error is not None:
                raise error
            assert outcome is not None
            assert outcome.error is not None
            raise outcome.error
        refresh = decision.refresh_credential
        refreshed = refreshed or refresh
        await asyncio.sleep(decision.delay)


class AsyncApnsChannels:
    """APNs broadcast channels of the client's app (``AsyncPushClient.apns_channels``; iOS 18).

    Channels live on Apple's channel-management host (``APNs(manage_base_url=...)``), per environment,
    up to 10,000 per app: delete the ones you are done with.
    """

    def __init__(self, apns: APNs, sender: Callable[[], Sender]) -> None:
        self._apns = apns
        self._sender = sender

    async def create(self, *, storage: ApnsStoragePolicy | StoragePolicyValue) -> ApnsChannelInfo:
        """Create a channel with message-storage policy ``storage``; returns it (``.target`` to broadcast).

        Raises:
            ValidationError: ``storage`` is not ``NO_STORAGE`` (0) or ``MOST_RECENT`` (1).
            ProviderError: APNs refused; TransportError: no answer.
        """
        answer = await manage(self._sender(), self._apns, _request(self._apns, "create", storage=storage))
        assert answer.info is not None
        return answer.info

    async def read(self, channel: ApnsChannel | str) -> ApnsChannelInfo:
        """The channel's settings (storage policy and push type).

        Raises:
            InvalidTokenError: the channel does not exist (``ApnsReason.CHANNEL_NOT_REGISTERED``).
            ProviderError: APNs refused otherwise; TransportError: no answer.
        """
        answer = await manage(self._sender(), self._apns, _request(self._apns, "read", channel=channel))
        assert answer.info is not None
        return answer.info

    async def list_all(self) -> list[ApnsChannel]:
        """Every channel of the app in this environment, as targets (their storage policy unknown)."""
        answer = await manage(self._sender(), self._apns, _request(self._apns, "list"))
        return list(answer.channels)

    async def delete(self, channel: ApnsChannel | str) -> None:
        """Delete the channel; its subscribers get nothing more from it.

        Raises:
            InvalidTokenError: the channel does not exist (``ApnsReason.CHANNEL_NOT_REGISTERED``).
            ProviderError: APNs refused otherwise; TransportError: no answer.
        """
        await manage(self._sender(), self._apns, _request(self._apns, "delete", channel=channel))


class ApnsChannels:
    """APNs broadcast channels of the client's app (``PushClient.apns_channels``; iOS 18).

    The same calls as ``AsyncApnsChannels``, blocking; they run on the client's loop thread.
    """

    def __init__(self, apns: APNs, run: Callable[[SenderWork], ChannelAnswer]) -> None:
        self._apns = apns
        self._run = run

    def _call(self, request: ChannelRequest) -> ChannelAnswer:
        # The request is rendered (and checked) here, in the caller's thread, before anything is sent.
        return self._run(lambda sender: manage(sender, self._apns, request))

    def create(self, *, storage: ApnsStoragePolicy | StoragePolicyValue) -> ApnsChannelInfo:
        """Create a channel with message-storage policy ``storage``; returns it (``.target`` to broadcast).

        Raises:
            ValidationError: ``storage`` is not ``NO_STORAGE`` (0) or ``MOST_RECENT`` (1).
            ProviderError: APNs refused; TransportError: no answer.
        """
        answer = self._call(_request(self._apns, "create", storage=storage))
        assert answer.info is not None
        return answer.info

    def read(self, channel: ApnsChannel | str) -> ApnsChannelInfo:
        """The channel's settings (storage policy and push type).

        Raises:
            InvalidTokenError: the channel does not exist (``ApnsReason.CHANNEL_NOT_REGISTERED``).
            ProviderError: APNs refused otherwise; TransportError: no answer.
        """
        answer = self._call(_request(self._apns, "read", channel=channel))
        assert answer.info is not None
        return answer.info

    def list_all(self) -> list[ApnsChannel]:
        """Every channel of the app in this environment, as targets (their storage policy unknown)."""
        return list(self._call(_request(self._apns, "list")).channels)

    def delete(self, channel: ApnsChannel | str) -> None:
        """Delete the channel; its subscribers get nothing more from it.

        Raises:
            InvalidTokenError: the channel does not exist (``ApnsReason.CHANNEL_NOT_REGISTERED``).
            ProviderError: APNs refused otherwise; TransportError: no answer.
        """
        self._call(_request(self._apns, "delete", channel=channel))
