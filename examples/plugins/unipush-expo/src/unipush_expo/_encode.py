"""Pure encoder: a unipush ``Notification`` as one Expo push message.

Field names are those of Expo's message request format (docs.expo.dev, "Sending notifications with
Expo's push API" → "Message request format"): ``to``, ``title``, ``subtitle``, ``body``, ``data``,
``sound``, ``badge``, ``ttl``, ``priority``, ``channelId``, ``categoryId``, ``mutableContent`` and the
iOS-only ``_contentAvailable``.
"""

from __future__ import annotations

from typing import Any

from unipush import DEFAULT_TTL_SECONDS, Notification, PayloadTooLargeError, ValidationError
from unipush.provider import dumps_json
from unipush_expo._target import ExpoDevice

__all__ = ["MAX_PAYLOAD_BYTES", "check_size", "encode_message", "message_size"]

MAX_PAYLOAD_BYTES = 4096
"""Expo's limit for one message: "the total notification payload sent to Apple and Google must be at
most 4 KiB" (a larger one comes back as a ``MessageTooBig`` ticket)."""


def _unipush_extras(notification: Notification) -> dict[str, Any]:
    """unipush's own values that Expo has no field for, under ``data.unipush`` as on APNs."""
    extras: dict[str, Any] = {}
    if notification.image is not None:
        extras["image"] = notification.image
    if notification.deep_link is not None:
        extras["deep_link"] = notification.deep_link
    links = {action.id: action.deep_link for action in notification.actions if action.deep_link is not None}
    if links:
        extras["actions"] = links
    return extras


def encode_message(notification: Notification, target: ExpoDevice, *, channel_id: str | None = None) -> dict[str, Any]:
    """The Expo message for ``target`` (a JSON object; the request body is an array of these).

    The plugin's README has the same mapping as a table.

    - ``title``, ``subtitle``, ``body``, ``sound``, ``badge``: the same-named Expo fields.
    - ``data``: your ``data``, plus ``data.unipush`` = ``{image, deep_link, actions}`` when set.
    - ``ttl``: ``notification.ttl``, else ``unipush.DEFAULT_TTL_SECONDS``: always explicit, as for the
      built-in providers (Expo's own default differs per platform).
    - ``priority``: ``"high"``/``"normal"``; unset leaves Expo's ``"default"``.
    - ``channelId`` (Android): ``notification.fcm.channel_id`` (Expo hands Android messages to FCM,
      so it is the same channel), else the provider's ``channel_id``.
    - ``categoryId``: ``notification.category``.
    - ``mutableContent`` (iOS): when there is an image to show (a Notification Service Extension
      reads ``data.unipush.image``) or ``notification.apns.mutable_content`` is set.
    - ``_contentAvailable`` (iOS background push): ``notification.content_available``.

    Dropped, because Expo has no equivalent: ``icon``, ``thread_id``, ``collapse_key``, action titles.

    Raises:
        ValidationError: the notification has nothing to deliver.
    """
    message: dict[str, Any] = {"to": target.token}
    for name in ("title", "subtitle", "body", "sound"):
        value = getattr(notification, name)
        if value is not None:
            message[name] = value
    data: dict[str, Any] = dict(notification.data)
    extras = _unipush_extras(notification)
    if extras:
        data["unipush"] = extras
    if data:
        message["data"] = data
    if notification.badge is not None:
        message["badge"] = notification.badge
    ttl = notification.ttl_seconds
    message["ttl"] = DEFAULT_TTL_SECONDS if ttl is None else ttl
    if notification.priority is not None:
        message["priority"] = notification.priority
    fcm_channel = notification.fcm.channel_id if notification.fcm is not None else None
    channel = fcm_channel if fcm_channel is not None else channel_id
    if channel is not None:
        message["channelId"] = channel
    if notification.category is not None:
        message["categoryId"] = notification.category
    wants_extension = notification.apns is not None and notification.apns.mutable_content
    if (notification.image is not None and notification.has_alert) or wants_extension:
        message["mutableContent"] = True
    if notification.content_available:
        message["_contentAvailable"] = True
    deliverable = ("title", "subtitle", "body", "data", "badge", "sound", "_contentAvailable")
    if not any(key in message for key in deliverable):
        raise ValidationError(
            "notification",
            "has nothing to send to Expo: set title, subtitle, body, data, badge, sound or content_available",
        )
    return message


def message_size(message: dict[str, Any]) -> int:
    """The size in bytes of ``message`` as sent (compact UTF-8 JSON)."""
    return len(dumps_json(message))


def check_size(message: dict[str, Any]) -> None:
    """Raise ``PayloadTooLargeError`` when ``message`` is over ``MAX_PAYLOAD_BYTES``."""
    size = message_size(message)
    if size > MAX_PAYLOAD_BYTES:
        raise PayloadTooLargeError("payload", size, MAX_PAYLOAD_BYTES, "expo")
