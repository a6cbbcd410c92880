"""The seam between the sandbox's HTTP server and its emulators.

The server (``_server.py``) owns sockets, TLS, HTTP/2 (and HTTP/1.1 for Web Push) and the
connection-level faults (GOAWAY after N streams, resets, MAX_CONCURRENT_STREAMS). An emulator
(``_apns.py``, ``_fcm.py``, ``_webpush.py``) is a plain object with an async ``handle`` that turns one
``SandboxRequest`` into one ``SandboxResponse``; it never sees a socket.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from unipush.sandbox._faults import Fault

__all__ = ["Emulator", "SandboxRequest", "SandboxResponse", "json_response"]


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


class Emulator(Protocol):
    """What the server needs from an emulator."""

    name: str  # "apns" | "fcm" | "webpush"

    async def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request exactly as the real service would."""
        ...

    def target_of(self, request: SandboxRequest) -> str | None:
        """The target key (device token, FCM token/topic/condition, subscription endpoint) of a request.

        Used to match per-target faults; must be cheap (FCM parses the JSON body) and never raise.
        """
        ...

    def fault_response(self, fault: Fault, request: SandboxRequest) -> SandboxResponse:
        """The service's own answer for a request-level fault (``status``, ``invalid_token``, ``bad_token``,
        ``expired_credential``): the same status codes, headers and error bodies the real service sends."""
        ...
