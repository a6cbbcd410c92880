"""The seam between the sandbox's server core and its emulators: requests, responses and ``Emulator``.

The server core (``unipush.sandbox.server``) owns sockets, TLS, HTTP/2 (and HTTP/1.1), the connection-level
faults (GOAWAY after N streams, resets, MAX_CONCURRENT_STREAMS) and routes each complete request to one
emulator. An emulator (``unipush.sandbox.emulators``, or a plugin's) is a plain object that turns one
``SandboxRequest`` into one ``SandboxResponse`` and records what it accepted in the inbox; it never sees
a socket. ``Sandbox(emulators=[...])`` serves a plugin's emulator beside the three built-in ones.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from unipush.sandbox._faults import Fault
from unipush.sandbox._inbox import Delivery, Inbox

__all__ = ["Emulator", "EmulatorBase", "EmulatorContext", "SandboxRequest", "SandboxResponse", "json_response"]


@dataclass(frozen=True, kw_only=True, slots=True)
class SandboxRequest:
    """One request as the server received it. ``headers`` keys are lower-case, pseudo-headers removed."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    http_version: str = "2"
    connection_id: int = 0
    stream_id: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class SandboxResponse:
    """One response: status, lower-case headers and body bytes."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


def json_response(
    status: int, document: Mapping[str, Any] | None, headers: Mapping[str, str] | None = None
) -> SandboxResponse:
    """A response with a compact JSON body (or none when ``document`` is None)."""
    merged = dict(headers or {})
    body = b""
    if document is not None:
        body = json.dumps(document, separators=(",", ":")).encode()
        merged.setdefault("content-type", "application/json; charset=UTF-8")
    return SandboxResponse(status=status, headers=merged, body=body)


@dataclass(frozen=True, kw_only=True)
class EmulatorContext:
    """What a ``Sandbox`` gives each emulator when it starts (``Emulator.attach``).

    Attributes:
        name: the service's name (the emulator's ``name``).
        inbox: the sandbox's inbox; ``record`` appends to it.
        directory: the sandbox's directory, for credential files the emulator makes.
        base_url_getter: returns the emulator's own origin, ``https://127.0.0.1:<port>``; known once its
            server is bound, so call it while answering a request, not in ``attach``.
    """

    name: str
    inbox: Inbox
    directory: Path
    base_url_getter: Callable[[], str]

    @property
    def base_url(self) -> str:
        """The emulator's origin (``https://127.0.0.1:<port>``), once its server is bound."""
        return self.base_url_getter()

    def record(
        self,
        *,
        target: str,
        payload: Mapping[str, Any] | None,
        raw: bytes = b"",
        message_id: str = "",
        headers: Mapping[str, str] | None = None,
        received_at: datetime | None = None,
    ) -> Delivery:
        """Record one accepted notification in the inbox (``provider`` is ``name``) and return it.

        ``headers`` should be the request's without ``authorization``: a delivery must not hold a secret.
        """
        delivery = Delivery(
            provider=self.name,
            target=target,
            headers=dict(headers or {}),
            payload=payload,
            raw=raw,
            message_id=message_id,
            received_at=received_at if received_at is not None else datetime.now(timezone.utc),
        )
        self.inbox.record(delivery)
        return delivery


class Emulator(Protocol):
    """What the sandbox needs from an emulator: one emulated service on one origin.

    An emulator is served by its own ``SandboxServer`` on its own port (its origin); the server hands it
    every complete request, except those a scripted fault answers first. ``EmulatorBase`` gives the
    defaults of ``http1``, ``attach`` and ``accepts_fault``, so a plugin's emulator usually subclasses it
    and writes ``handle``, ``target_of`` and ``fault_response``.

    Attributes:
        name: the service's name: faults are keyed by it (``Fault(provider=name)``), the sandbox lists the
            emulator and its server under it, and ``Delivery.provider`` is it.
        http1: whether the service also speaks HTTP/1.1 (picked by ALPN, or when the client offers none);
            HTTP/2 always.
    """

    name: str
    http1: bool

    def attach(self, context: EmulatorContext) -> None:
        """Called by ``Sandbox.start()`` before the emulator's server listens: its origin, inbox and directory."""
        ...

    async def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request exactly as the real service would (and record what it accepted)."""
        ...

    def target_of(self, request: SandboxRequest) -> str | None:
        """The target key (device token, FCM token/topic/condition, subscription endpoint) of a request.

        Used to match per-target faults; must be cheap (FCM parses the JSON body) and never raise.
        """
        ...

    def accepts_fault(self, request: SandboxRequest) -> bool:
        """Whether scripted faults apply to ``request`` (FCM exempts its OAuth token endpoint)."""
        ...

    def fault_response(self, fault: Fault, request: SandboxRequest) -> SandboxResponse:
        """The service's own answer for a request-level fault (``status``, ``invalid_token``, ``bad_token``,
        ``expired_credential``): the same status codes, headers and error bodies the real service sends."""
        ...


class EmulatorBase(abc.ABC):
    """A base for emulators: ``http1 = False``, ``attach`` keeps the context, every request takes faults.

    Subclasses set ``name`` and write ``handle``, ``target_of`` and ``fault_response``; ``record(...)``
    puts an accepted notification in the sandbox's inbox once ``Sandbox.start()`` has attached it.
    """

    name: str = ""
    http1: bool = False
    _context: EmulatorContext | None = None

    def attach(self, context: EmulatorContext) -> None:
        """Keep ``context`` (``self.context``); a subclass that overrides this should call ``super()``."""
        self._context = context

    @property
    def context(self) -> EmulatorContext:
        """The context of the sandbox serving this emulator; ``RuntimeError`` before ``attach``."""
        if self._context is None:
            raise RuntimeError(f"emulator {self.name!r} is not attached to a running Sandbox")
        return self._context

    @property
    def base_url(self) -> str:
        """This emulator's origin, ``https://127.0.0.1:<port>`` (from the context)."""
        return self.context.base_url

    def record(
        self,
        *,
        target: str,
        payload: Mapping[str, Any] | None,
        raw: bytes = b"",
        message_id: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> Delivery:
        """Record one accepted notification in the sandbox's inbox (see ``EmulatorContext.record``)."""
        return self.context.record(target=target, payload=payload, raw=raw, message_id=message_id, headers=headers)

    def accepts_fault(self, request: SandboxRequest) -> bool:
        """Scripted faults apply to every request unless a subclass says otherwise."""
        return True

    @abc.abstractmethod
    async def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request as the real service would."""

    @abc.abstractmethod
    def target_of(self, request: SandboxRequest) -> str | None:
        """The target key of a request, for per-target faults; cheap, never raises."""

    @abc.abstractmethod
    def fault_response(self, fault: Fault, request: SandboxRequest) -> SandboxResponse:
        """The service's own answer for a request-level fault."""
