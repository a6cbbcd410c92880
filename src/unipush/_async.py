"""``AsyncPushClient``: the asyncio client."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from types import TracebackType

from unipush._client import BaseClient
from unipush._model import Notification
from unipush._results import BatchResult, SendResult
from unipush._sending import Sender, call_callback
from unipush._targets import Target
from unipush.apns._channels import AsyncApnsChannels, apns_provider
from unipush.fcm._target import FcmDevice, FcmTopic
from unipush.fcm._topics import TopicManagementResult, TopicOperation

__all__ = ["AsyncPushClient"]


class AsyncPushClient(BaseClient):
    """Send notifications from asyncio code: ``async with AsyncPushClient(...) as client``.

    Takes the same arguments as ``PushClient``; ``on_invalid_token`` may be a plain or an async
    function. Connections are opened on first use, on the running loop, and kept until ``aclose()``.
    """

    _sender: Sender | None = None

    def _get_sender(self) -> Sender:
        if self._sender is None:
            self._sender = self._make_sender()
        return self._sender

    async def send(self, notification: Notification, target: Target) -> SendResult:
        """Send one notification to one target. Raises only ``ValidationError``/``ConfigurationError``."""
        result = await self._get_sender().send(notification, target)
        await call_callback(self._on_invalid_token, result)
        return result

    async def send_many(self, notification: Notification, targets: Iterable[Target]) -> BatchResult:
        """Send one notification to many targets; results in input order, one per target."""
        results: dict[int, SendResult] = {}
        async for index, result in self._stream_indexed((notification, t) for t in targets):
            results[index] = result
        return BatchResult(tuple(results[i] for i in range(len(results))))

    async def stream(
        self, pairs: Iterable[tuple[Notification, Target]] | AsyncIterable[tuple[Notification, Target]]
    ) -> AsyncIterator[SendResult]:
        """Yield a result per ``(notification, target)`` pair as sends complete (at most ``concurrency`` in flight)."""
        async for _index, result in self._stream_indexed(pairs):
            yield result

    async def _stream_indexed(
        self, pairs: Iterable[tuple[Notification, Target]] | AsyncIterable[tuple[Notification, Target]]
    ) -> AsyncIterator[tuple[int, SendResult]]:
        stream = self._get_sender().stream(pairs, self._concurrency)
        try:
            async for index, result in stream:
                await call_callback(self._on_invalid_token, result)
                yield index, result
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
        result = await self._get_sender().manage_topic(operation, topic, tokens, concurrency=self._concurrency)
        for item in result:
            await call_callback(self._on_invalid_token, item)
        return result

    async def aclose(self) -> None:
        """Close connections. Safe to call twice."""
        sender, self._sender = self._sender, None
        if sender is not None:
            await sender.aclose()

    async def __aenter__(self) -> AsyncPushClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
