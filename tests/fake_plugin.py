"""An in-test provider plugin, "relay", and the emulator of its made-up service.

``tests/test_plugins.py`` registers these through a fake installed distribution (a ``.dist-info``
directory with an ``entry_points.txt``), so discovery runs through ``importlib.metadata`` exactly as
for a real plugin. The broken factories below exercise each way a plugin can fail to load.

The relay service: ``POST <base_url>/send/<token>`` with a JSON body; ``authorization: Key <api_key>``
is required when the service has a key; 200 ``{"id": ...}`` on success, 410 for a dead token, 401 for
a wrong key.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import uuid
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from unipush import (
    AuthenticationError,
    InvalidTokenError,
    Notification,
    Outcome,
    PreparedRequest,
    ProviderError,
    Target,
    ValidationError,
)
from unipush.sandbox import EmulatorBase, Fault, SandboxRequest, SandboxResponse, json_response


@dataclass(frozen=True, slots=True)
class RelayDevice(Target):
    """A relay device token."""

    provider: ClassVar[str] = "relay"
    token: str

    @property
    def key(self) -> str:
        """The token."""
        return self.token


class Relay:
    """The relay provider. ``async_auth`` makes its ``authorize`` hook a coroutine."""

    name = "relay"
    target_types: tuple[type[Target], ...] = (RelayDevice,)

    def __init__(
        self, *, base_url: str = "https://relay.invalid", api_key: str | None = None, async_auth: bool = False
    ):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.async_auth = async_auth
        self.authorized = 0

    def prepare(self, notification: Notification, target: Target, *, now: datetime) -> PreparedRequest:
        """Pure rendering: the title and body as JSON."""
        if not isinstance(target, RelayDevice):
            raise ValidationError("target", f"relay serves RelayDevice, got {type(target).__name__}")
        payload = {"title": notification.title, "body": notification.body, "sent_at": int(now.timestamp())}
        return PreparedRequest(
            provider=self.name,
            target=target,
            method="POST",
            url=f"{self.base_url}/send/{target.token}",
            headers={"content-type": "application/json"},
            body=json.dumps(payload).encode(),
            payload=payload,
            credential_pending=self.api_key is not None,
        )

    def parse(self, request: PreparedRequest, status_code: int, headers: Mapping[str, str], body: bytes) -> Outcome:
        """200 ok, 410 dead token, 401 bad key, anything else a failure (5xx retryable)."""
        if status_code == 200:
            return Outcome(ok=True, status_code=status_code, message_id=json.loads(body)["id"])
        if status_code == 410:
            error: ProviderError = InvalidTokenError("gone", provider=self.name, status_code=status_code)
            return Outcome(ok=False, status_code=status_code, error=error, token_invalid=True)
        if status_code == 401:
            error = AuthenticationError("bad key", provider=self.name, status_code=status_code)
            return Outcome(ok=False, status_code=status_code, error=error)
        error = ProviderError(f"relay answered {status_code}", provider=self.name, status_code=status_code)
        return Outcome(ok=False, status_code=status_code, error=error, retryable=status_code >= 500)

    def _attach(self, request: PreparedRequest) -> PreparedRequest:
        self.authorized += 1
        if self.api_key is None:
            return request
        return request.with_headers({"authorization": f"Key {self.api_key}"})

    def authorize(
        self, request: PreparedRequest, *, refresh: bool, ssl_context: ssl.SSLContext
    ) -> PreparedRequest | Awaitable[PreparedRequest]:
        """Attach the key: at once, or through a coroutine when ``async_auth``."""
        if not self.async_auth:
            return self._attach(request)

        async def later() -> PreparedRequest:
            await asyncio.sleep(0)
            return self._attach(request)

        return later()


class RelayEmulator(EmulatorBase):
    """The relay service, for ``SandboxServer``: dead tokens answer 410, a wrong key 401."""

    name = "relay"

    def __init__(self, *, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.dead: set[str] = set()
        self.received: list[tuple[str, dict[str, object]]] = []

    async def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one send."""
        token = request.path.rpartition("/")[2]
        if self.api_key is not None and request.headers.get("authorization") != f"Key {self.api_key}":
            return json_response(401, {"error": "bad key"})
        if token in self.dead:
            return json_response(410, {"error": "gone"})
        self.received.append((token, json.loads(request.body)))
        return json_response(200, {"id": str(uuid.uuid4())})

    def target_of(self, request: SandboxRequest) -> str | None:
        """The token in the path."""
        return request.path.rpartition("/")[2] or None

    def fault_response(self, fault: Fault, request: SandboxRequest) -> SandboxResponse:
        """A scripted status."""
        return json_response(fault.status if fault.kind == "status" else 410, {"error": fault.kind})


NOT_CALLABLE = 42


def not_a_provider() -> object:
    """A factory whose product has none of the protocol's members."""
    return object()


def nameless_provider() -> Relay:
    """A factory whose product has an empty name."""
    relay = Relay()
    relay.name = ""
    return relay


def failing_factory() -> Relay:
    """A factory that breaks."""
    raise RuntimeError("the relay plugin is broken")


class PropertyTypes:
    """A factory whose ``target_types`` is a property: only a built provider could answer it."""

    @property
    def target_types(self) -> tuple[type[Target], ...]:
        """``(RelayDevice,)``, but only on an instance."""
        return (RelayDevice,)
