"""The APNs encoder: a ``Notification`` to the request body and headers of one device push. Pure: no I/O.

The payload and the headers every carrier of an APNs push shares (where each field goes, the push type,
priority, Live Activities) are made by ``unipush._payload.apple.build``, which the FCM encoder calls too
for ``message.apns``; this module adds what only a direct APNs request has: ``apns-topic``, ``apns-id``,
the JSON body and its size limit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from unipush._errors import PayloadTooLargeError, ValidationError
from unipush._model import Notification
from unipush._payload.apple import TOPIC_SUFFIXES, build
from unipush._provider import dumps_json
from unipush.apns._options import ApnsPushType

__all__ = [
    "PAYLOAD_LIMIT",
    "VOIP_PAYLOAD_LIMIT",
    "DevicePush",
    "check_apns_id",
    "check_size",
    "dumps",
    "encode",
    "payload_limit",
    "render",
    "render_device_push",
    "topic_for",
]

PAYLOAD_LIMIT = 4096
"""Maximum payload bytes for every push type except VoIP (larger ones get ``413 PayloadTooLarge``)."""

VOIP_PAYLOAD_LIMIT = 5120
"""Maximum payload bytes for ``voip`` pushes."""

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


def topic_for(topic: str, push_type: ApnsPushType) -> str:
    """``apns-topic`` for a bundle ID and push type: the bundle ID plus the push type's suffix."""
    return topic + TOPIC_SUFFIXES[push_type]


def payload_limit(push_type: ApnsPushType) -> int:
    """The payload size limit in bytes for ``push_type``."""
    return VOIP_PAYLOAD_LIMIT if push_type is ApnsPushType.VOIP else PAYLOAD_LIMIT


def dumps(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON: the bytes APNs counts against the size limit (``unipush.provider.dumps_json``)."""
    return dumps_json(payload)


def check_size(body: bytes, push_type: ApnsPushType) -> None:
    """Raise ``PayloadTooLargeError`` if ``body`` is over the limit for ``push_type``."""
    limit = payload_limit(push_type)
    if len(body) > limit:
        raise PayloadTooLargeError("payload", len(body), limit, "apns")


def encode(
    notification: Notification, *, topic: str, now: datetime, apns_id: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """Render ``notification`` for APNs; returns ``(payload, headers)``.

    Args:
        notification: what to send.
        topic: the app's bundle ID; the push type's suffix is appended.
        now: the send time (aware), the base of ``apns-expiration`` and the default Live Activity
            ``timestamp``.
        apns_id: the request's canonical lower-case UUID, kept across retries.

    Raises:
        ValidationError: the notification breaks an APNs rule (field named).
        PayloadTooLargeError: the payload is over 4096 bytes (5120 for VoIP).
    """
    payload, headers, _ = render(notification, topic=topic, now=now, apns_id=apns_id)
    return payload, headers


def render(
    notification: Notification, *, topic: str, now: datetime, apns_id: str
) -> tuple[dict[str, Any], dict[str, str], bytes]:
    """Like ``encode`` but also returns the JSON body bytes, so it is serialised once."""
    check_apns_id(apns_id)
    rendering = render_device_push(notification, topic=topic, now=now)
    return rendering.payload, rendering.headers_with(apns_id), rendering.body


@dataclass(frozen=True, slots=True)
class DevicePush:
    """What a device push of one notification is for every device: payload, body and headers but ``apns-id``.

    The device token is in the URL and ``apns-id`` differs per request, so a batch to many devices renders
    this once per notification (and second of ``now``, for ``apns-expiration``). ``payload`` is shared by
    the requests made from it: treat a ``PreparedRequest.payload`` as read-only.
    """

    payload: dict[str, Any]
    """The JSON payload (``aps`` and the custom keys)."""
    body: bytes
    """``payload`` as the compact UTF-8 JSON sent, within the push type's size limit."""
    push_type: str
    """The ``apns-push-type`` header."""
    topic: str
    """The ``apns-topic`` header: the bundle ID and the push type's suffix."""
    headers: dict[str, str]
    """The headers after ``apns-id``, in order, through ``content-type``."""

    def headers_with(self, apns_id: str) -> dict[str, str]:
        """The request headers, with ``apns-id`` (a fresh dict per request, for its credential)."""
        headers = {"apns-push-type": self.push_type, "apns-topic": self.topic, "apns-id": apns_id}
        headers.update(self.headers)
        return headers


def render_device_push(notification: Notification, *, topic: str, now: datetime) -> DevicePush:
    """The ``DevicePush`` of ``notification`` for the bundle ID ``topic``.

    Raises:
        ValidationError: the notification breaks an APNs rule (field named).
        PayloadTooLargeError: the payload is over 4096 bytes (5120 for VoIP).
    """
    parts = build(notification, now=now)
    body = dumps(parts.payload)
    check_size(body, parts.push_type)
    push_type = parts.headers.pop("apns-push-type")
    rest = {**parts.headers, "content-type": "application/json"}
    return DevicePush(parts.payload, body, push_type, topic_for(topic, parts.push_type), rest)


def check_apns_id(apns_id: object) -> None:
    """Raise ``ValidationError`` unless ``apns_id`` is a canonical lower-case UUID (APNs: ``BadMessageId``)."""
    # APNs wants the canonical lower-case form; anything else is answered with BadMessageId.
    if not isinstance(apns_id, str) or not _UUID.match(apns_id):
        raise ValidationError("apns_id", f"must be a lower-case canonical UUID (8-4-4-4-12 hex), got {apns_id!r}")
