"""What the inbox page shows: one entry per push request a sandbox service answered.

The servers call ``Feed.exchange`` for every request they answer (``SandboxServer.on_exchange``), the
inbox tells the feed of every accepted delivery (``Inbox.subscribe``). An entry joins the two: the
request as received (credentials redacted), the delivery as the device got it (decoded; Web Push
decrypted), the ``SendResult`` fields the client got (the provider's own pure decoder run on the
response the sandbox sent), and what the device does with it: which earlier notification it replaces
(same collapse key on the same device) and when it expires.

Everything here runs on the sandbox's event loop thread, except ``snapshot``, which any thread may call.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from enum import Enum, IntEnum
from typing import Any

from unipush._results import Outcome, redact_headers
from unipush.apns._decode import parse_response as parse_apns
from unipush.fcm._decode import parse_response as parse_fcm
from unipush.sandbox._inbox import Delivery
from unipush.sandbox._interface import SandboxRequest, SandboxResponse
from unipush.webpush._decode import parse_response as parse_webpush

__all__ = ["MAX_ENTRIES", "Feed"]

logger = logging.getLogger("unipush.sandbox")

#: The page keeps the newest entries only: a benchmark through a sandbox with the page on must not
#: grow memory without bound.
MAX_ENTRIES = 500

# Deliveries waiting for their exchange (recorded inside ``handle``, joined right after it returns).
_MAX_PENDING = 1000

# FCM durations are "<seconds>s" (google.protobuf.Duration in JSON, e.g. "3600s" or "0.5s").
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)s")

# FCM topic and condition targets are not devices: their errors are decoded as such.
_FCM_DEVICE_KEYS = ("token",)


class Feed:
    """The newest ``MAX_ENTRIES`` push requests, as JSON-able entries, newest last, with listeners.

    ``listen(callback)`` registers a callback run (on the event loop) with each new entry (its
    ``replaces`` lists the ids it takes the place of); the page's event stream uses it.
    """

    def __init__(self, *, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=max_entries)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._pending: OrderedDict[tuple[str, str], Delivery] = OrderedDict()
        # (provider, target, collapse key) -> id of the entry on screen for it.
        self._shown: dict[tuple[str, str, str], int] = {}
        self._listeners: list[Callable[[dict[str, Any]], None]] = []

    # -- input ---------------------------------------------------------------------------------

    def delivered(self, delivery: Delivery) -> None:
        """The inbox listener: keep ``delivery`` until the exchange that carried it is answered."""
        with self._lock:
            # The first one wins: an FCM topic send is recorded under the topic, then again under each
            # token it reached, all with the one message id the client got.
            self._pending.setdefault((delivery.provider, delivery.message_id), delivery)
            while len(self._pending) > _MAX_PENDING:
                self._pending.popitem(last=False)

    def observer(
        self, provider: str, target_of: Callable[[SandboxRequest], str | None]
    ) -> Callable[[SandboxRequest, SandboxResponse], None]:
        """The ``SandboxServer.on_exchange`` hook for one service (``target_of``: its emulator's)."""

        def on_exchange(request: SandboxRequest, response: SandboxResponse) -> None:
            try:
                self.exchange(provider, request, response, target_of(request))
            except Exception:  # the page must never break a service
                logger.exception("inbox page: could not record a %s exchange", provider)

        return on_exchange

    def exchange(
        self, provider: str, request: SandboxRequest, response: SandboxResponse, target: str | None
    ) -> dict[str, Any] | None:
        """Record one answered request to ``target`` (the emulator's ``target_of``; the key its deliveries
        carry); returns its entry, or None when it is not a push (OAuth, subscribe, channel management)."""
        if not _is_push(provider, request):
            return None
        target = target or "(no target)"
        outcome = _decode(provider, request, response)
        delivery = None
        if outcome.ok and outcome.message_id is not None:
            with self._lock:
                delivery = self._pending.pop((provider, outcome.message_id), None)
        now = datetime.now(timezone.utc)
        received_at = delivery.received_at if delivery is not None else now
        payload: Any = delivery.payload if delivery is not None else _request_payload(provider, request)
        # What the device does with it (expire it, replace another with it) only matters once delivered.
        expires_at = _expires_at(provider, request.headers, payload, received_at) if delivery is not None else None
        collapse_key = _collapse_key(provider, request.headers, payload) if delivery is not None else None
        entry: dict[str, Any] = {
            "id": next(self._ids),
            "provider": provider,
            "target": target,
            "device": _device_label(provider, target),
            "received_at": received_at.isoformat(),
            "delivered": delivery is not None,
            "collapse_key": collapse_key,
            "expires_at": None if expires_at is None else expires_at.isoformat(),
            "replaces": [],
            "replaced_by": None,
            "request": {
                "method": request.method,
                "path": request.path,
                "http_version": request.http_version,
                "headers": redact_headers(dict(request.headers)),
                "body_bytes": len(request.body),
                # Web Push bodies are aes128gcm ciphertext: the decrypted payload is under "payload".
                "encrypted": provider == "webpush",
            },
            "payload": payload,
            "response": {
                "status": response.status,
                "headers": dict(response.headers),
                "body": _text(response.body),
            },
            "result": _result(provider, outcome),
        }
        with self._lock:
            if collapse_key is not None:
                previous = self._shown.get((provider, target, collapse_key))
                if previous is not None:
                    for old in self._entries:
                        if old["id"] == previous:
                            old["replaced_by"] = entry["id"]
                            entry["replaces"].append(previous)
                            break
                self._shown[(provider, target, collapse_key)] = entry["id"]
            if len(self._entries) == self._entries.maxlen:
                dropped = self._entries[0]
                key = (dropped["provider"], dropped["target"], dropped["collapse_key"])
                if self._shown.get(key) == dropped["id"]:
                    del self._shown[key]
            self._entries.append(entry)
            listeners = list(self._listeners)
        for listener in listeners:
            listener(entry)
        return entry

    # -- output --------------------------------------------------------------------------------

    def listen(self, listener: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        """Call ``listener(entry)`` for each new entry; returns the function that stops it."""
        with self._lock:
            self._listeners.append(listener)

        def stop() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return stop

    def snapshot(
        self, *, provider: str | None = None, device: str | None = None, after: int = 0, now: float | None = None
    ) -> list[dict[str, Any]]:
        """The entries (newest first) of one provider and/or one target, with ``expired`` evaluated ``now``."""
        moment = time.time() if now is None else now
        with self._lock:
            entries = [dict(e) for e in self._entries if e["id"] > after]
        chosen = [
            e
            for e in reversed(entries)
            if (provider is None or e["provider"] == provider) and (device is None or e["target"] == device)
        ]
        for entry in chosen:
            entry["expired"] = is_expired(entry, moment)
        return chosen

    def clear(self) -> None:
        """Forget every entry (the page's Clear button)."""
        with self._lock:
            self._entries.clear()
            self._shown.clear()


def is_expired(entry: Mapping[str, Any], now: float) -> bool:
    """Whether ``entry`` is past its expiry at ``now`` (a device offline until then never gets it)."""
    expires_at = entry.get("expires_at")
    return expires_at is not None and datetime.fromisoformat(expires_at).timestamp() <= now


def encode_event(entry: Mapping[str, Any], now: float | None = None) -> bytes:
    """One server-sent event (HTML Living Standard, "Server-sent events"): ``id`` and one ``data`` line."""
    document = dict(entry)
    document["expired"] = is_expired(entry, time.time() if now is None else now)
    data = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return f"id: {entry['id']}\ndata: {data}\n\n".encode()


def _is_push(provider: str, request: SandboxRequest) -> bool:
    """Whether a request is a push, not one of the services' other endpoints (OAuth, subscribe...)."""
    path = request.path.partition("?")[0]
    if provider == "apns":
        # /3/device/<token> (Apple: "Sending notification requests to APNs"); /4/broadcasts/ to a channel.
        return path.startswith(("/3/device/", "/4/broadcasts/"))
    if provider == "fcm":
        return path.endswith("/messages:send")
    return provider == "webpush" and path.startswith("/push/")


def _decode(provider: str, request: SandboxRequest, response: SandboxResponse) -> Outcome:
    """What the client's own decoder makes of the answer (the ``SendResult`` fields it got)."""
    headers = dict(response.headers)
    if provider == "apns":
        # The client reads apns-id from the response; the sandbox echoes it (Apple: "apns-id" response header).
        return parse_apns(response.status, headers, response.body)
    if provider == "fcm":
        message = _json(request.body)
        message = message.get("message") if isinstance(message, dict) else None
        device = isinstance(message, dict) and any(key in message for key in _FCM_DEVICE_KEYS)
        return parse_fcm(response.status, headers, response.body, device=device)
    return parse_webpush(response.status, headers, response.body)


def _result(provider: str, outcome: Outcome) -> dict[str, Any]:
    error = outcome.error
    return {
        "ok": outcome.ok,
        "provider": provider,
        "status_code": outcome.status_code,
        "message_id": outcome.message_id,
        "reason": _reason(outcome.reason),
        "token_invalid": outcome.token_invalid,
        "invalidated_at": None if outcome.invalidated_at is None else outcome.invalidated_at.isoformat(),
        "retry_after": outcome.retry_after,
        "retryable": outcome.retryable,
        "error": None if error is None else f"{type(error).__name__}: {error}",
    }


def _reason(reason: object) -> str | None:
    """``SendResult.reason`` as text: a provider's code (``Unregistered``), or a status's name (``GONE``)."""
    if reason is None:
        return None
    if isinstance(reason, IntEnum):  # WebPushStatus: the status is already shown; its meaning is the name
        return reason.name
    return str(reason.value) if isinstance(reason, Enum) else str(reason)


def _request_payload(provider: str, request: SandboxRequest) -> Any:
    """The payload of a refused request: its JSON (APNs, FCM); a Web Push body stays ciphertext."""
    if provider == "webpush":
        return None
    document = _json(request.body)
    if provider == "fcm" and isinstance(document, dict) and isinstance(document.get("message"), dict):
        return document["message"]
    return document


def _collapse_key(provider: str, headers: Mapping[str, str], payload: Any) -> str | None:
    """What makes the device replace a shown notification with this one.

    APNs: ``apns-collapse-id`` (Apple: "multiple notifications with the same collapse identifier are
    displayed to the user as a single notification"). Android: ``android.notification.tag`` (FCM:
    "notifications with the same tag replace the existing one"), else ``android.collapse_key``.
    Browsers: the notification's ``tag`` (Notifications API: "replace a notification with the same
    tag"), else the ``Topic`` header (RFC 8030 section 5.4).
    """
    if provider == "apns":
        return headers.get("apns-collapse-id") or None
    if not isinstance(payload, dict):
        return None
    if provider == "fcm":
        android = payload.get("android")
        if isinstance(android, dict):
            notification = android.get("notification")
            if isinstance(notification, dict) and isinstance(notification.get("tag"), str):
                return str(notification["tag"])
            if isinstance(android.get("collapse_key"), str):
                return str(android["collapse_key"])
        return None
    notification = payload.get("notification")
    if isinstance(notification, dict) and isinstance(notification.get("tag"), str) and notification["tag"]:
        return str(notification["tag"])
    return headers.get("topic") or None


def _expires_at(provider: str, headers: Mapping[str, str], payload: Any, received: datetime) -> datetime | None:
    """When the service stops trying to deliver it (a device offline until then never sees it).

    APNs: ``apns-expiration`` in UNIX seconds, 0 meaning "deliver now or never". FCM: ``android.ttl``
    (default four weeks: not marked). Web Push: ``TTL`` seconds from arrival (RFC 8030 section 5.2).
    """
    seconds: float | None = None
    if provider == "apns":
        value = headers.get("apns-expiration")
        if value is None or not value.isdigit():
            return None
        stamp = int(value)
        return received if stamp == 0 else datetime.fromtimestamp(stamp, timezone.utc)
    if provider == "fcm" and isinstance(payload, dict) and isinstance(payload.get("android"), dict):
        match = _DURATION.fullmatch(str(payload["android"].get("ttl", "")))
        seconds = float(match.group(1)) if match else None
    elif provider == "webpush":
        value = headers.get("ttl")
        seconds = float(value) if value is not None and value.isdigit() else None
    if seconds is None:
        return None
    return datetime.fromtimestamp(received.timestamp() + seconds, timezone.utc)


def _device_label(provider: str, target: str) -> str:
    if provider == "webpush":
        return "…/" + target.rstrip("/").rsplit("/", 1)[-1][:12]
    return target[:12] + ("…" if len(target) > 12 else "")


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _text(body: bytes) -> str:
    """A response body for display: its JSON re-indented, its text, or its size when it is binary."""
    document = _json(body)
    if document is not None:
        return json.dumps(document, indent=2, ensure_ascii=False)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return f"<{len(body)} bytes>"
