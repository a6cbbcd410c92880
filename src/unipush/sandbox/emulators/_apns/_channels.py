"""Broadcast channels (iOS 18) of the APNs emulator: Apple's channel-management API and who listens.

Standing in for Apple's channel-management host, ``/1/apps/<bundle ID>/channels`` creates (POST), reads (GET)
and deletes (DELETE, with ``apns-channel-id``) a channel, ``/1/apps/<bundle ID>/all-channels`` lists them. A
Live Activity started with ``aps.input-push-channel`` subscribes its device token to that channel, as
ActivityKit does; a broadcast then reaches those tokens (see ``_emulator``).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from typing import Any

from unipush.sandbox._interface import SandboxRequest, SandboxResponse, json_response
from unipush.sandbox.emulators._apns._errors import Rejected, checked_channel_id, echo_request_id, error

_CHANNELS_PATH = re.compile(r"/1/apps/(?P<bundle>[^/?]+)/(?P<kind>channels|all-channels)")
_LIVE_ACTIVITY_SUFFIX = ".push-type.liveactivity"
# Apple: channel management requests carry the storage policy and push type of the new channel.
_STORAGE_POLICIES = (0, 1)
_CHANNEL_PUSH_TYPE = "LiveActivity"


class Channels:
    """The channels of every bundle ID and the device tokens listening to each (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._channels: dict[str, dict[str, int]] = {}  # bundle ID -> {channel id: message-storage policy}
        # (bundle ID, channel id) -> the device tokens whose Live Activity subscribed (insertion-ordered)
        self._subscribers: dict[tuple[str, str], dict[str, None]] = {}

    def channels(self, topic: str) -> dict[str, int]:
        """The channels of bundle ID ``topic``: ``{channel id: message-storage policy}``."""
        with self._lock:
            return dict(self._channels.get(topic, {}))

    def subscribers(self, channel: str, topic: str) -> list[str]:
        """The device tokens whose Live Activity (of bundle ID ``topic``) listens to ``channel``."""
        with self._lock:
            return list(self._subscribers.get((topic, channel), {}))

    def policy(self, bundle: str, channel: str) -> int | None:
        """The message-storage policy of a channel, or None when the bundle ID has no such channel."""
        with self._lock:
            return self._channels.get(bundle, {}).get(channel)

    def listeners(self, bundle: str, channel: str, *, end: bool) -> list[str]:
        """The tokens a broadcast on ``channel`` reaches; with ``end``, the activities end and stop listening."""
        with self._lock:
            tokens = list(self._subscribers.get((bundle, channel), {}))
            if end:
                self._subscribers.pop((bundle, channel), None)
        return tokens

    def subscribe(self, token: str, headers: Mapping[str, str], payload: Mapping[str, Any]) -> None:
        """ActivityKit: a Live Activity started with ``input-push-channel`` listens to that channel."""
        aps = payload.get("aps")
        topic = headers.get("apns-topic", "")
        if headers.get("apns-push-type") != "liveactivity" or not isinstance(aps, dict) or aps.get("event") != "start":
            return
        channel = aps.get("input-push-channel")
        if not isinstance(channel, str) or not topic.endswith(_LIVE_ACTIVITY_SUFFIX):
            return
        with self._lock:
            self._subscribers.setdefault((topic[: -len(_LIVE_ACTIVITY_SUFFIX)], channel), {})[token] = None

    def manage(self, request: SandboxRequest, check_provider_token: Callable[[str | None], None]) -> SandboxResponse:
        """Apple's channel-management API: create (POST), read (GET), delete (DELETE) and list channels."""
        request_id = echo_request_id(request)
        extra = {"apns-request-id": request_id}
        try:
            match = _CHANNELS_PATH.fullmatch(request.path)
            if match is None:
                raise Rejected(404, "BadPath", f"{request.path!r} is not /1/apps/<bundle ID>/(all-)channels")
            check_provider_token(request.headers.get("authorization"))
            bundle, kind, method = match["bundle"], match["kind"], request.method
            if kind == "all-channels":
                if method != "GET":
                    raise Rejected(405, "MethodNotAllowed", f"all-channels is GET, got {method}")
                return json_response(200, {"channels": list(self.channels(bundle))}, extra)
            if method == "POST":
                channel = self._create(bundle, request.body)
                return SandboxResponse(status=201, headers={**extra, "apns-channel-id": channel})
            if method not in ("GET", "DELETE"):
                raise Rejected(405, "MethodNotAllowed", f"channels takes POST, GET or DELETE, got {method}")
            channel = checked_channel_id(request.headers)
            with self._lock:
                policy = self._channels.get(bundle, {}).get(channel)
                if policy is None:
                    raise Rejected(400, "ChannelNotRegistered", f"no channel {channel!r} for {bundle!r}")
                if method == "DELETE":
                    del self._channels[bundle][channel]
                    self._subscribers.pop((bundle, channel), None)
            if method == "DELETE":
                return SandboxResponse(status=204, headers=extra)
            return json_response(200, {"message-storage-policy": policy, "push-type": _CHANNEL_PUSH_TYPE}, extra)
        except Rejected as rejected:
            return error(rejected.status, rejected.reason, None, detail=rejected.detail, headers=extra)

    def _create(self, bundle: str, body: bytes) -> str:
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise Rejected(400, "PayloadEmpty", "the create body is not JSON") from None
        if not isinstance(document, dict):
            raise Rejected(400, "PayloadEmpty", "the create body is not a JSON object")
        policy = document.get("message-storage-policy")
        if isinstance(policy, bool) or policy not in _STORAGE_POLICIES:
            raise Rejected(400, "PayloadEmpty", f"message-storage-policy must be 0 or 1, got {policy!r}")
        push_type = document.get("push-type")
        if push_type != _CHANNEL_PUSH_TYPE:
            raise Rejected(400, "InvalidPushType", f"push-type must be 'LiveActivity', got {push_type!r}")
        channel = base64.b64encode(secrets.token_bytes(16)).decode("ascii")
        with self._lock:
            self._channels.setdefault(bundle, {})[channel] = policy
        return channel
