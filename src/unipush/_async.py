"""``AsyncPushClient``: the asyncio client."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable
from types import TracebackType

from unipush import _telemetry
from unipush._client import BaseClient, check_batch, check_pairs
from unipush._errors import ConfigurationError
from unipush._model import Notification
from unipush._results import BatchResult, SendResult
from unipush._sending import Sender, call_callback
from unipush._targets import Target
from unipush._topic_sending import manage_topic
from unipush.apns._channels import AsyncApnsChannels, apns_provider
from unipush.fcm._target import FcmDevice, FcmTopic
from unipush.fcm._topics import TopicManagementResult, TopicOperation

__all__ = ["AsyncPushClient"]


class AsyncPushClient(BaseClient):
    """Send notifications from asyncio code: ``async with AsyncPushClient(...) as client``.

    Takes the same arguments as ``PushClient``; ``on_invalid_token`` may be a plain or an async
    function. Connections are opened on first use, on the running loop, and kept until ``aclose()``,
    which is final: a closed client raises ``ConfigurationError`` on any further send.
    """

    _sender: Sender | None = None

    def _get_sender(self) -> Sender:
        if self._closed:
            raise ConfigurationError("this AsyncPushClient is closed: create a new client to send again")
        if self._sender is None:
            self._sender = self._make_sender()
        return self._sender

    async def send(self, notification: Notification, target: Target) -> SendResult:
        """Send one notification to one target. Raises only ``ValidationError``/``ConfigurationError``.

        ``ConfigurationError`` too once the client is closed; a send still waiting when another task
        calls ``aclose()`` returns a failed result whose ``TransportError`` says the client was closed.
        """
        result = await self._get_sender().send(notification, target)
        await call_callback(self._on_invalid_token, result)
        await _telemetry.call_result_hook(self._on_result, result)
        return result

    async def send_many(self, notification: Notification, targets: Iterable[Target]) -> BatchResult:
        """Send one notification to many targets; results in input order, one per target.

        Never raises for one target (see ``PushClient.send_many``); a call wrong as a whole raises
        ``ValidationError`` before anything is sent.
        """
        sender = self._get_sender()
        check_batch(notification, targets)
        results: dict[int, SendResult] = {}
        callback = self._on_invalid_token
        stream = sender.stream(((notification, t) for t in targets), self._concurrency, finish_input=True)
        try:
            async for index, result in stream:
                if callback is not None and result.token_invalid:
                    await call_callback(callback, result)
                results[index] = result
        finally:
            await stream.aclose()
        return BatchResult(tuple(results[i] for i in range(len(results))))

    def stream(
        self, pairs: Iterable[tuple[Notification, Target]] | AsyncIterable[tuple[Notification, Target]]
    ) -> AsyncIterator[SendResult]:
        """Yield a result per ``(notification, target)`` pair as sends complete (at most ``concurrency`` in flight).

        Use it as ``async for result in client.stream(pairs)``. Every item pulled gets one result (see
        ``PushClient.stream``); after ``aclose()`` the stream pulls no more input and stops.
        """
        sender = self._get_sender()
        check_pairs(pairs)
        return self._stream(sender.stream(pairs, self._concurrency))

    async def _stream(self, stream: AsyncGenerator[tuple[int, SendResult], None]) -> AsyncIterator[SendResult]:
        callback = self._on_invalid_token
        hook = self._on_result
        try:
            async for _index, result in stream:
                if callback is not None and result.token_invalid:
                    await call_callback(callback, result)
                if hook is not None:
                    await _telemetry.call_result_hook(hook, result)
                yield result
        finally:
            await stream.aclose()

    @property
    def apns_channels(self) -> AsyncApnsChannels:
        """Create, read, list and delete APNs broadcast channels (iOS 18); needs ``apns=``."""
        return AsyncApnsChannels(apns_provider(self.providers), self._get_sender)

    async def subscribe_to_topic(
        self, topic: str | FcmTopic, tokens: Iterable[str | FcmDevice] | str | FcmDevice
    ) -> TopicManagementResult:
        """Subscribe FCM registration tokens to ``topic``; see ``PushClient.subscribe_to_topic``."""
        return await self._manage_topic("subscribe", topic, tokens)

    async def unsubscribe_from_topic(
        self, topic: str | FcmTopic, tokens: Iterable[str | FcmDevice] | str | FcmDevice
    ) -> TopicManagementResult:
        """Unsubscribe FCM registration tokens from ``topic``; see ``PushClient.subscribe_to_topic``."""
        return await self._manage_topic("unsubscribe", topic, tokens)

    async def _manage_topic(self, operation: TopicOperation, topic: object, tokens: object) -> TopicManagementResult:
        result = await manage_topic(self._get_sender(), operation, topic, tokens, concurrency=self._concurrency)
        for item in result:
            await call_callback(self._on_invalid_token, item)
        return result

    async def aclose(self) -> None:
        """Close connections, for good. Safe to call twice, and while other tasks send.

        A ``send``/``send_many``/``stream`` running in another task returns promptly: answers already
        had are kept, the rest fail with a ``TransportError`` saying the client was closed. Any later
        ``send``/``send_many``/``stream`` raises ``ConfigurationError`` (the client does not reopen).
        """
        self._closed = True
        sender, self._sender = self._sender, None
        if sender is not None:
            await sender.aclose()

    async def __aenter__(self) -> AsyncPushClient:
        if self._closed:
            raise ConfigurationError("this AsyncPushClient is closed: create a new client to send again")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
