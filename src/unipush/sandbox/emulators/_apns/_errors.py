"""The APNs emulator's answers other than success: ``{"reason": ...}`` bodies and the ids Apple echoes."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Mapping
from typing import Any

from unipush.sandbox._interface import SandboxRequest, SandboxResponse, json_response
from unipush.sandbox.emulators._common import DETAIL_HEADER, header_safe

UUID_FORMAT = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

# Reasons for injected ``status`` faults: Apple's reason for that status where it has one, else the
# HTTP phrase in CamelCase (which is how Apple names 429/500/503 anyway).
FAULT_REASONS: Mapping[int, str] = {
    400: "BadTopic",
    403: "Forbidden",
    404: "BadPath",
    405: "MethodNotAllowed",
    410: "Unregistered",
    413: "PayloadTooLarge",
    429: "TooManyRequests",
    500: "InternalServerError",
    503: "ServiceUnavailable",
}


class Rejected(Exception):
    """Internal: a check failed; carries the status, Apple's reason and a plain-words detail."""

    def __init__(self, status: int, reason: str, detail: str, *, timestamp: int | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.detail = detail
        self.timestamp = timestamp


def error(
    status: int,
    reason: str,
    apns_id: str | None,
    *,
    detail: str,
    timestamp: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> SandboxResponse:
    # Apple: an error body is {"reason": ...}, plus "timestamp" (ms since the epoch) on 410.
    document: dict[str, Any] = {"reason": reason}
    if timestamp is not None:
        document["timestamp"] = timestamp
    ids = {} if apns_id is None else {"apns-id": apns_id}
    merged = {**ids, DETAIL_HEADER: header_safe(detail), **(headers or {})}
    return json_response(status, document, merged)


def echo_request_id(request: SandboxRequest) -> str:
    """The ``apns-request-id`` to echo: the request's when it is a UUID, else a new one (APNs makes one)."""
    given = request.headers.get("apns-request-id", "")
    return given if UUID_FORMAT.fullmatch(given) else str(uuid.uuid4())


def checked_channel_id(headers: Mapping[str, str]) -> str:
    channel = headers.get("apns-channel-id")
    if not channel:
        raise Rejected(400, "BadChannelId", "no apns-channel-id header")
    try:
        base64.b64decode(channel, validate=True)
    except (binascii.Error, ValueError):
        raise Rejected(400, "BadChannelId", f"apns-channel-id {channel!r} is not base64") from None
    return channel
