"""The APNs encoder: a ``Notification`` to the request body and headers of one device push. Pure: no I/O.

The payload and the headers every carrier of an APNs push shares (where each field goes, the push type,
priority, Live Activities) are made by ``unipush._payload.apple.build``, which the FCM encoder calls too
for ``message.apns``; this module adds what only a direct APNs request has: ``apns-topic``, ``apns-id``,
the JSON body and its size limit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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
    "check_size",
    "dumps",
    "encode",
    "payload_limit",
    "render",
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
    _check_apns_id(apns_id)
    parts = build(notification, now=now)
    body = dumps(parts.payload)
    check_size(body, parts.push_type)
    headers = {
        "apns-push-type": parts.headers.pop("apns-push-type"),
        "apns-topic": topic_for(topic, parts.push_type),
        "apns-id": apns_id,
        **parts.headers,
        "content-type": "application/json",
    }
    return parts.payload, headers, body


def _check_apns_id(apns_id: object) -> None:
    # APNs wants the canonical lower-case form; anything else is answered with BadMessageId.
    if not isinstance(apns_id, str) or not _UUID.match(apns_id):
        raise ValidationError("apns_id", f"must be a lower-case canonical UUID (8-4-4-4-12 hex), got {apns_id!r}")
