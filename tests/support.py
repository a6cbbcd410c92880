"""Helpers shared by tests: throwaway credentials and a client with all three providers (render only)."""

from __future__ import annotations

import asyncio
import base64
import functools
from collections.abc import Callable, Coroutine, Iterable, Iterator
from typing import Any, TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from unipush import AsyncPushClient, BatchResult, Notification, PushClient, SendResult, Target
from unipush.apns import APNs, ApnsDevice
from unipush.fcm import FCM, FcmDevice, FcmTopic
from unipush.webpush import WebPush, WebPushSubscription


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@functools.cache
def service_account() -> dict[str, Any]:
    return {
        "type": "service_account",
        "project_id": "demo-project",
        "private_key_id": "1" * 40,
        "private_key": pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "client_email": "push@demo-project.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": "https://oauth2.googleapis.com/token",
    }


@functools.cache
def all_providers_client() -> PushClient:
    """One client with throwaway credentials for all three built-in providers (render only)."""
    return PushClient(
        apns=APNs(
            key=pem(ec.generate_private_key(ec.SECP256R1())),
            key_id="ABC123DEFG",
            team_id="TEAM123456",
            topic="com.example.app",
        ),
        fcm=FCM(service_account=service_account()),
        webpush=WebPush(
            vapid_private_key=pem(ec.generate_private_key(ec.SECP256R1())), subject="mailto:ops@example.com"
        ),
    )


@functools.cache
def subscription() -> WebPushSubscription:
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    point = public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return WebPushSubscription(endpoint="https://push.example.net/sub/1", p256dh=b64url(point), auth=b64url(b"a" * 16))


def all_targets() -> list[Any]:
    return [ApnsDevice("ab" * 32), FcmDevice("fcm-token-1"), FcmTopic("news"), subscription()]


T = TypeVar("T")


class ClientDriver:
    """Calls one client's API from synchronous test code; the async client keeps one event loop.

    ``kind`` is ``"sync"`` (``build_sync(**options)``) or ``"async"`` (``build_async(**options)``);
    dead tokens are collected in ``invalid`` unless ``options`` brings its own ``on_invalid_token``.
    """

    def __init__(
        self,
        kind: str,
        build_sync: Callable[..., PushClient],
        build_async: Callable[..., AsyncPushClient],
        **options: Any,
    ) -> None:
        self.kind = kind
        self.invalid: list[SendResult] = []
        options.setdefault("on_invalid_token", self.invalid.append)
        self.sync: PushClient | None = None
        if kind == "sync":
            self.sync = build_sync(**options)
            self.client: PushClient | AsyncPushClient = self.sync
        else:
            self.loop = asyncio.new_event_loop()
            self.client = self.async_client = build_async(**options)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def send(self, n: Notification, target: Target) -> SendResult:
        if self.sync is not None:
            return self.sync.send(n, target)
        return self._run(self.async_client.send(n, target))

    def send_many(self, n: Notification, targets: Iterable[object]) -> BatchResult:
        if self.sync is not None:
            return self.sync.send_many(n, targets)  # type: ignore[arg-type]
        return self._run(self.async_client.send_many(n, targets))  # type: ignore[arg-type]

    def stream(self, pairs: Iterator[tuple[Notification, Target]]) -> list[SendResult]:
        if self.sync is not None:
            return list(self.sync.stream(pairs))

        async def collect() -> list[SendResult]:
            return [r async for r in self.async_client.stream(pairs)]

        return self._run(collect())

    def close(self) -> None:
        if self.sync is not None:
            self.sync.close()
        else:
            self._run(self.async_client.aclose())
            self.loop.close()
