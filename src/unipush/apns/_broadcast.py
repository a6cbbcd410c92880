"""Broadcast push (iOS and iPadOS 18): the pure encoders and decoders. No clock, no I/O.

Two APIs, both on HTTP/2 with the same provider token as ordinary pushes:

- **Broadcast** (Apple: "Sending broadcast push notification requests to APNs"): ``POST
  /4/broadcasts/apps/<bundle id>`` on the ordinary APNs host, with ``apns-channel-id``. One request
  reaches every Live Activity subscribed to the channel. ``render_broadcast`` builds it.
- **Channel management** (Apple: "Sending channel management requests to APNs"), on its own host
  (``api-manage-broadcast.sandbox.push.apple.com:2195`` / ``api-manage-broadcast.push.apple.com:2196``):

  =========  ========  ==================================  =================  =============================
  operation  method    path                                request            success
  =========  ========  ==================================  =================  =============================
  create     POST      ``/1/apps/<bundle id>/channels``    JSON body          201, id in ``apns-channel-id``
  read       GET       ``/1/apps/<bundle id>/channels``    ``apns-channel-id``  200, JSON body
  delete     DELETE    ``/1/apps/<bundle id>/channels``    ``apns-channel-id``  204
  list       GET       ``/1/apps/<bundle id>/all-channels``                   200, ``{"channels": [...]}``
  =========  ========  ==================================  =================  =============================

  ``channel_request`` builds these and ``decode_channel_answer`` reads the answers. Every request carries
  an ``apns-request-id`` (a UUID APNs echoes back). Errors are ``{"reason": ...}`` bodies like those of
  ordinary pushes and decode to the same ``ApnsReason`` members (``BadChannelId``,
  ``ChannelNotRegistered``...).

What a broadcast may carry (Apple's broadcast request headers, and ActivityKit's "Starting and updating
Live Activities with ActivityKit push notifications"):

- a Live Activity ``update`` or ``end`` only (``apns-push-type: liveactivity``): a broadcast cannot start
  an activity; start it on each device (push-to-start with ``input_push_channel``, or in the app);
- no ``apns-topic`` (the bundle ID is in the path) and no ``apns-id`` (the request id travels as
  ``apns-request-id``); no ``apns-collapse-id``, so ``collapse_key`` is refused;
- ``apns-priority`` 1, 5 or 10 (Apple names low, medium and high for channels);
- ``apns-expiration``: 0 only on a channel with ``message-storage-policy`` 0. ``ttl`` unset sends 0 unless
  the target says the channel stores (``ApnsChannel(storage=MOST_RECENT)``), so a broadcast to a channel
  of unknown policy is accepted by both kinds; a ``ttl`` other than 0 to a channel known to store nothing
  is refused before sending.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from unipush._errors import ProviderError, ValidationError
from unipush._excerpt import excerpt
from unipush._model import Notification
from unipush._payload.apple import build, priority
from unipush._results import Outcome
from unipush._validate import DEFAULT_TTL_SECONDS
from unipush.apns._decode import parse_response
from unipush.apns._encode import check_size, dumps
from unipush.apns._options import ApnsOptions, ApnsPushType
from unipush.apns._target import ApnsChannel, ApnsStoragePolicy, channel_id, storage_policy

__all__ = [
    "CHANNEL_PUSH_TYPE",
    "MANAGE_BASE_URLS",
    "ApnsChannelInfo",
    "ChannelAnswer",
    "ChannelOperation",
    "ChannelRequest",
    "broadcast_path",
    "channel_request",
    "decode_channel_answer",
    "render_broadcast",
]

MANAGE_BASE_URLS: Mapping[str, str] = {
    "production": "https://api-manage-broadcast.push.apple.com:2196",
    "sandbox": "https://api-manage-broadcast.sandbox.push.apple.com:2195",
}
"""The channel-management service of each APNs environment."""

CHANNEL_PUSH_TYPE = "LiveActivity"
"""The ``push-type`` of a channel: the only kind Apple offers (Live Activities)."""

ChannelOperation = Literal["create", "read", "delete", "list"]
"""A channel-management operation."""

_EMPTY_OPTIONS = ApnsOptions()
_BROADCAST_EVENTS = ("update", "end")


def broadcast_path(bundle_id: str) -> str:
    """The path a broadcast is posted to: ``/4/broadcasts/apps/<bundle id>``."""
    return f"/4/broadcasts/apps/{bundle_id}"


def render_broadcast(
    notification: Notification, channel: ApnsChannel, *, now: datetime, request_id: str
) -> tuple[dict[str, Any], dict[str, str], bytes]:
    """A broadcast's ``(payload, headers, body)`` for ``channel`` (see the module docstring for the rules).

    Args:
        notification: a Live Activity ``update`` or ``end`` (``ApnsOptions(event=...)``).
        channel: the channel to broadcast on.
        now: the send time (aware), the base of ``apns-expiration`` and of the Live Activity ``timestamp``.
        request_id: the lower-case UUID sent as ``apns-request-id``, kept across retries.

    Raises:
        ValidationError: the notification is not something a channel can carry (field named).
        PayloadTooLargeError: the payload is over 4096 bytes.
    """
    if now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    options = notification.apns or _EMPTY_OPTIONS
    if options.event is None:
        raise ValidationError(
            "apns.event",
            "a broadcast updates or ends Live Activities: set apns.event to 'update' or 'end'",
        )
    if options.event not in _BROADCAST_EVENTS:
        # Apple: broadcast channels carry update and end events; an activity is started on each device.
        raise ValidationError(
            "apns.event",
            "a broadcast cannot start a Live Activity: start it per device (push-to-start with "
            "apns.input_push_channel), then broadcast 'update' and 'end'",
        )
    if notification.collapse_key is not None:
        raise ValidationError("collapse_key", "broadcasts have no apns-collapse-id: leave collapse_key unset")
    # The payload comes from the one builder of APNs payloads (Apple's rules in one place); a broadcast
    # differs only in its headers and path.
    parts = build(notification, now=now)
    push_type = parts.push_type
    assert push_type is ApnsPushType.LIVEACTIVITY  # ApnsOptions ties apns.event to this push type
    payload = parts.payload
    body = dumps(payload)
    check_size(body, push_type)
    headers = {
        "apns-push-type": push_type.value,
        "apns-channel-id": channel.channel_id,
        "apns-request-id": request_id,
        "apns-expiration": _expiration(notification, channel, now),
    }
    value = priority(notification, options, push_type)
    if value is not None:
        headers["apns-priority"] = str(value)
    headers["content-type"] = "application/json"
    return payload, headers, body


def _expiration(notification: Notification, channel: ApnsChannel, now: datetime) -> str:
    ttl = notification.ttl_seconds
    stores = channel.storage is ApnsStoragePolicy.MOST_RECENT
    if channel.storage is ApnsStoragePolicy.NO_STORAGE and ttl:
        # Apple: a channel created with message-storage-policy 0 accepts only apns-expiration 0.
        raise ValidationError(
            "ttl", f"must be 0 or unset for a channel that stores no messages (storage NO_STORAGE), got {ttl}"
        )
    if ttl == 0 or (ttl is None and not stores):
        return "0"
    ttl = notification.ttl_at(now)  # never past expires_at (docs/policies.md)
    return str(int(now.timestamp()) + (DEFAULT_TTL_SECONDS if ttl is None else ttl))


# -- channel management ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class ApnsChannelInfo:
    """A broadcast channel as APNs describes it (``create`` and ``read`` return one).

    ``channel_id`` is the base64 id to give the apps and to broadcast on; ``storage`` the channel's
    message-storage policy; ``push_type`` Apple's name of what it carries (``"LiveActivity"``);
    ``request_id`` the ``apns-request-id`` APNs echoed.
    """

    channel_id: str
    storage: ApnsStoragePolicy
    push_type: str = CHANNEL_PUSH_TYPE
    request_id: str | None = None

    @property
    def target(self) -> ApnsChannel:
        """The channel as a send target, with its storage policy (so ``ttl`` is checked before sending)."""
        return ApnsChannel(self.channel_id, storage=self.storage)


@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelRequest:
    """One rendered channel-management request (lower-case headers, exact body bytes)."""

    operation: ChannelOperation
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes = b""
    channel_id: str | None = None
    storage: ApnsStoragePolicy | None = None


def channel_request(
    operation: ChannelOperation,
    *,
    bundle_id: str,
    base_url: str,
    request_id: str,
    channel: ApnsChannel | str | None = None,
    storage: ApnsStoragePolicy | int | None = None,
) -> ChannelRequest:
    """Render a channel-management request (without its ``authorization`` header).

    Args:
        operation: ``create`` (needs ``storage``), ``read`` or ``delete`` (need ``channel``), or ``list``.
        bundle_id: the app's bundle ID (``APNs(topic=...)``).
        base_url: the channel-management service (``APNs.manage_base_url``).
        request_id: a lower-case UUID, sent as ``apns-request-id``.
        channel: the channel to read or delete (an ``ApnsChannel`` or its id).
        storage: the message-storage policy of a new channel.

    Raises:
        ValidationError: a missing or malformed channel id or storage policy.
    """
    headers = {"apns-request-id": request_id}
    apps = f"{base_url}/1/apps/{bundle_id}"
    if operation == "create":
        policy = storage_policy("storage", storage)
        # Apple: the body names the storage policy and the push type of the messages the channel carries.
        body = dumps({"message-storage-policy": int(policy), "push-type": CHANNEL_PUSH_TYPE})
        headers["content-type"] = "application/json"
        return ChannelRequest(
            operation=operation, method="POST", url=f"{apps}/channels", headers=headers, body=body, storage=policy
        )
    if operation == "list":
        return ChannelRequest(operation=operation, method="GET", url=f"{apps}/all-channels", headers=headers)
    if operation in ("read", "delete"):
        if channel is None:
            raise ValidationError("channel", f"is required to {operation} a channel")
        ident = channel.channel_id if isinstance(channel, ApnsChannel) else channel_id("channel", channel)
        headers["apns-channel-id"] = ident
        method = "GET" if operation == "read" else "DELETE"
        return ChannelRequest(
            operation=operation, method=method, url=f"{apps}/channels", headers=headers, channel_id=ident
        )
    raise ValueError(f"unknown channel operation {operation!r}")


@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelAnswer:
    """A decoded channel-management answer: ``outcome`` says ok or why not (for the retry policy).

    On success ``info`` is set for ``create`` and ``read``, ``channels`` for ``list``.
    """

    outcome: Outcome
    info: ApnsChannelInfo | None = None
    channels: tuple[ApnsChannel, ...] = ()


def decode_channel_answer(
    request: ChannelRequest, status: int, headers: Mapping[str, str], body: bytes
) -> ChannelAnswer:
    """Decode APNs's answer to ``request``. Total: any status and any bytes give an answer, never an exception.

    An error status decodes like an ordinary push's (``ApnsReason``, the same error classes and
    retry rules); a success whose content cannot be read (a 201 without ``apns-channel-id``, a body that
    is not the documented JSON) becomes a ``ProviderError`` without a reason.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    request_id = lowered.get("apns-request-id") or request.headers.get("apns-request-id")
    if not 200 <= status < 300:
        return ChannelAnswer(outcome=parse_response(status, lowered, body, subject="channel request"))
    ok = Outcome(ok=True, status_code=status, message_id=request_id)
    try:
        if request.operation == "create":
            assert request.storage is not None
            ident = channel_id("apns-channel-id", lowered.get("apns-channel-id"))
            return ChannelAnswer(
                outcome=ok, info=ApnsChannelInfo(channel_id=ident, storage=request.storage, request_id=request_id)
            )
        if request.operation == "read":
            assert request.channel_id is not None
            document = _json_object(body)
            policy = storage_policy("message-storage-policy", document.get("message-storage-policy"))
            push_type = document.get("push-type", CHANNEL_PUSH_TYPE)
            info = ApnsChannelInfo(
                channel_id=request.channel_id,
                storage=policy,
                push_type=push_type if isinstance(push_type, str) else CHANNEL_PUSH_TYPE,
                request_id=request_id,
            )
            return ChannelAnswer(outcome=ok, info=info)
        if request.operation == "list":
            ids = _json_object(body).get("channels", [])
            if not isinstance(ids, list):
                raise ValidationError("channels", "is not a list")
            return ChannelAnswer(outcome=ok, channels=tuple(ApnsChannel(ident) for ident in ids))
        return ChannelAnswer(outcome=ok)  # delete: 204, nothing to read
    except ValidationError as exc:
        error = ProviderError(
            f"APNs answered the channel {request.operation} with HTTP {status} but {exc}",
            provider="apns",
            status_code=status,
        )
        return ChannelAnswer(outcome=Outcome(ok=False, status_code=status, message_id=request_id, error=error))


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:
        text = body[:81].decode("utf-8", "replace")
        raise ValidationError("body", f"is not JSON: {excerpt(text, 80, quote=True)}") from None
    if not isinstance(document, dict):
        raise ValidationError("body", "is not a JSON object")
    return document
