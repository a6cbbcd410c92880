"""The sandbox's APNs: Apple's HTTP/2 provider API (``POST /3/device/<token>``) with token authentication.

It checks a request the way Apple's servers do ("Sending notification requests to APNs", "Establishing a
token-based connection to APNs", "Handling notification responses from APNs") and answers with Apple's
status codes and ``{"reason": ...}`` bodies. It issues its own signing key at construction: a P-256 key
written to ``AuthKey_<KEYID>.p8``, a 10-character Key ID and a 10-character Team ID.

Checks run in this order, and the first failure answers:

1. ``:method`` POST, ``:path`` ``/3/device/<token>``;
2. ``authorization: bearer <JWT>``: the provider token;
3. the ``apns-*`` headers;
4. the payload;
5. the device token's state (unregistered, bound to another app).

=======  ================================  ===================================================================
status   reason                            when
=======  ================================  ===================================================================
400      ``BadCollapseId``                 ``apns-collapse-id`` over 64 bytes
400      ``BadDeviceToken``                the token in the path is not 64-200 hex digits (even count)
400      ``BadExpirationDate``             ``apns-expiration`` is not a non-negative integer
400      ``BadMessageId``                  ``apns-id`` is not a canonical 8-4-4-4-12 UUID
400      ``BadPriority``                   ``apns-priority`` not 1, 5 or 10; a background push not at 5
400      ``BadTopic``                      ``apns-topic`` has characters a bundle ID cannot have, or lacks
                                           the suffix its push type requires (``.voip``, ...)
400      ``DeviceTokenNotForTopic``        the token was issued (``new_device(topic)``) for another app
400      ``InvalidPushType``               ``apns-push-type`` is not one Apple defines
400      ``MissingDeviceToken``            ``/3/device/`` without a token
400      ``MissingTopic``                  no ``apns-topic`` (required with token authentication)
400      ``PayloadEmpty``                  an empty body, or one that is not a JSON object with an ``aps``
                                           dictionary (see below)
403      ``ExpiredProviderToken``          the JWT's ``iat`` is more than one hour old
403      ``InvalidProviderToken``          bad JWT: not ES256, wrong ``kid``/``iss``, bad signature, ``iat``
                                           in the future
403      ``MissingProviderToken``          no ``authorization`` header, or not the ``bearer`` scheme
404      ``BadPath``                       any path other than ``/3/device/...``
405      ``MethodNotAllowed``              any method other than POST
410      ``Unregistered`` + ``timestamp``  the token was ``invalidate()``-d
413      ``PayloadTooLarge``               body over 4096 bytes (5120 for ``voip``)
429      ``TooManyProviderTokenUpdates``   a new JWT less than 20 minutes after the previous one
=======  ================================  ===================================================================

Faults (``fault_response``) add ``TooManyRequests`` (429), ``InternalServerError`` (500),
``ServiceUnavailable`` (503) and the others of Apple's table.

Choices where Apple's documentation is silent:

* **Unknown tokens are accepted.** A well-formed token the sandbox never issued is delivered like any
  other, so users can send to any token. ``new_device()`` exists to bind a token to a topic, and
  ``invalidate()`` to kill one (issued or not).
* **A body that is not a JSON object** (or an alert/background/Live Activity/widget push without an
  ``aps`` dictionary) gets ``PayloadEmpty``. Apple lists no reason for malformed JSON; "The message
  payload is empty" is the documented reason closest to "there is no usable payload".
* **A topic without its push type's suffix** (``voip`` to ``com.example.app``) gets ``BadTopic``.
  Apple's push-type table says which suffix each type needs but not which reason a mismatch gets;
  ``BadTopic`` ("The apns-topic is invalid") names the header that is wrong.

**Broadcast push (iOS 18).** The same server also answers Apple's broadcast API
(``POST /4/broadcasts/apps/<bundle ID>`` with ``apns-channel-id``) and, standing in for Apple's separate
channel-management host, ``/1/apps/<bundle ID>/channels`` (POST create, GET read, DELETE delete, with
``apns-channel-id`` for the last two) and ``GET /1/apps/<bundle ID>/all-channels``: point
``APNs(manage_base_url=...)`` at it (``Sandbox.apns_config()`` does). A Live Activity started on a device
with a push carrying ``aps.input-push-channel`` subscribes that device to the channel, as ActivityKit
does; a broadcast is then recorded in the inbox once per subscribed device token (an ``end`` also ends
those subscriptions). Broadcast checks: ``apns-channel-id`` present and base64 (``400 BadChannelId``),
the channel created for this bundle ID (``400 ChannelNotRegistered``), ``apns-push-type: liveactivity``
(``400 InvalidPushType``), ``apns-priority`` 1, 5 or 10, and ``apns-expiration`` 0 on a channel created
with message-storage policy 0 (``400 BadExpirationDate``). A create body that is not
``{"message-storage-policy": 0 | 1, "push-type": "LiveActivity"}`` gets ``400 PayloadEmpty`` (or
``InvalidPushType`` for another push type): Apple lists no reason of its own for it.

Every error also carries an ``x-unipush-sandbox-detail`` header that says in plain words what was wrong.
No real service sends it; the body stays exactly Apple's.

Provider tokens are verified once and cached by their string (APNs itself checks a token once per
connection), so a benchmark measures the client rather than ECDSA verification. ``jwt_verifications``
counts the signature checks actually made.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from unipush.sandbox._faults import Fault
from unipush.sandbox._inbox import Delivery, Inbox
from unipush.sandbox._interface import EmulatorBase, SandboxRequest, SandboxResponse
from unipush.sandbox.emulators._apns._channels import Channels
from unipush.sandbox.emulators._apns._errors import (
    FAULT_REASONS,
    UUID_FORMAT,
    Rejected,
    checked_channel_id,
    echo_request_id,
    error,
)
from unipush.sandbox.emulators._common import camel_phrase, write_private

__all__ = ["ApnsEmulator"]

PAYLOAD_LIMIT = 4096
"""Apple: the maximum payload size for every push type except VoIP."""

VOIP_PAYLOAD_LIMIT = 5120
"""Apple: the maximum payload size for VoIP notifications."""

TOKEN_MAX_AGE = 3600.0
"""Apple: a provider token whose ``iat`` is more than one hour old is refused (ExpiredProviderToken)."""

TOKEN_UPDATE_INTERVAL = 20 * 60.0
"""Apple: updating the provider token more often than every 20 minutes gets TooManyProviderTokenUpdates."""

CLOCK_SKEW = 60.0
"""How far in the future an ``iat`` may be before the token is refused: a small allowance for clock skew."""

MAX_COLLAPSE_ID_BYTES = 64
"""Apple: ``apns-collapse-id`` must not exceed 64 bytes."""

# "Sending notification requests to APNs", apns-push-type: the suffix each push type requires on the
# bundle ID in apns-topic. None = no rule: alert and background use the bare bundle ID, and an MDM topic
# is the UID from the MDM certificate, so it can be anything.
_TOPIC_SUFFIXES: Mapping[str, str | None] = {
    "alert": None,
    "background": None,
    "location": ".location-query",
    "voip": ".voip",
    "complication": ".complication",
    "fileprovider": ".pushkit.fileprovider",
    "mdm": None,
    "liveactivity": ".push-type.liveactivity",
    "pushtotalk": ".voip-ptt",
    "widgets": ".push-type.widgets",
    "controls": ".push-type.controls",
}
# Push types whose content lives in the aps dictionary; PushKit (voip, ptt, complication, fileprovider),
# location and MDM payloads are the app's own JSON and need no aps.
_APS_REQUIRED = frozenset({"alert", "background", "liveactivity", "widgets", "controls"})
_PRIORITIES = frozenset({"1", "5", "10"})

_PATH = re.compile(r"/3/device/?(?P<token>[^/?]*)")
_BROADCAST_PATH = re.compile(r"/4/broadcasts/apps/(?P<bundle>[^/?]+)")
_HEX_TOKEN = re.compile(r"(?:[0-9a-fA-F]{2}){32,100}")  # 32-100 bytes; Apple: the length may change
# A bundle ID is alphanumerics, '-' and '.'; MDM topics (com.apple.mgmt.External.<uuid>) fit as well.
_TOPIC = re.compile(r"[A-Za-z0-9_.\-]+")
_EXPIRATION = re.compile(r"\d+")
_ID_ALPHABET = string.ascii_uppercase + string.digits
_MAX_CACHED_TOKENS = 1024


class ApnsEmulator(EmulatorBase):
    """An APNs provider API for the sandbox, with its own signing key.

    Args:
        inbox: where accepted notifications are recorded.
        directory: where ``AuthKey_<KEYID>.p8`` is written (created if missing).
        clock: seconds since the epoch; injectable for tests of the token timing rules.
        token_update_interval: the minimum time between two provider tokens of one key before
            ``TooManyProviderTokenUpdates`` (Apple's 20 minutes); ``0`` turns the rule off.

    Attributes:
        key_path: the ``.p8`` file (PKCS#8 PEM of the P-256 key).
        key_id: the 10-character Key ID (the JWT ``kid``).
        team_id: the 10-character Team ID (the JWT ``iss``).
        jwt_verifications: how many provider-token signatures were verified (each token once).
    """

    name = "apns"
    http1 = False  # Apple: "HTTP/2 and TLS 1.2 or later"; APNs refuses HTTP/1.1

    def __init__(
        self,
        inbox: Inbox,
        directory: Path,
        *,
        clock: Callable[[], float] = time.time,
        token_update_interval: float = TOKEN_UPDATE_INTERVAL,
    ) -> None:
        self._inbox = inbox
        self._clock = clock
        self.token_update_interval = token_update_interval
        self._private_key = ec.generate_private_key(ec.SECP256R1())
        self._public_key = self._private_key.public_key()
        self.key_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))
        self.team_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))
        directory.mkdir(parents=True, exist_ok=True)
        self.key_path = directory / f"AuthKey_{self.key_id}.p8"
        pem = self._private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        write_private(self.key_path, pem)
        self.jwt_verifications = 0
        self._lock = threading.Lock()
        self._verified: dict[str, int] = {}  # token string -> iat, for tokens whose signature checked out
        self._current: dict[str, tuple[str, float]] = {}  # key id -> (token, when it was first seen)
        self._topics: dict[str, str] = {}  # token -> the bundle ID it was issued for
        self._dead: dict[str, int] = {}  # token -> when it was invalidated (ms since the epoch)
        self._broadcasts = Channels()

    def __repr__(self) -> str:
        return f"ApnsEmulator(key_id={self.key_id!r}, team_id={self.team_id!r})"

    @property
    def private_key(self) -> ec.EllipticCurvePrivateKey:
        """The P-256 signing key (the one in ``key_path``)."""
        return self._private_key

    # ------------------------------------------------------------------ devices

    def new_device(self, topic: str | None = None) -> str:
        """A fresh 64-hex-digit device token.

        With ``topic`` (the app's bundle ID), the token belongs to that app: a push with another
        bundle ID in ``apns-topic`` gets ``400 DeviceTokenNotForTopic``. Push-type suffixes
        (``com.example.app.voip``) count as the same app.
        """
        token = secrets.token_hex(32)
        if topic is not None:
            with self._lock:
                self._topics[token] = topic
        return token

    def invalidate(self, token: str) -> None:
        """Mark ``token`` dead: later pushes to it get ``410 Unregistered`` with the current timestamp."""
        with self._lock:
            self._dead[token.lower()] = self._now_ms()

    def channels(self, topic: str) -> dict[str, int]:
        """The broadcast channels of bundle ID ``topic``: ``{channel id: message-storage policy}``."""
        return self._broadcasts.channels(topic)

    def subscribers(self, channel_id: str, topic: str) -> list[str]:
        """The device tokens whose Live Activity (of bundle ID ``topic``) listens to ``channel_id``."""
        return self._broadcasts.subscribers(channel_id, topic)

    # ------------------------------------------------------------------ Emulator protocol

    async def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request as APNs would (see the module docstring for the rules and their order)."""
        return self.respond(request)

    def respond(self, request: SandboxRequest) -> SandboxResponse:
        """The synchronous core of ``handle``."""
        if request.path.startswith("/4/"):
            return self._broadcast(request)
        if request.path.startswith("/1/"):
            return self._broadcasts.manage(request, self._check_provider_token)
        apns_id = request.headers.get("apns-id", "")
        if not UUID_FORMAT.fullmatch(apns_id):
            apns_id = str(uuid.uuid4())
        try:
            token, payload, raw = self._check(request)
        except Rejected as rejected:
            return error(
                rejected.status, rejected.reason, apns_id, detail=rejected.detail, timestamp=rejected.timestamp
            )
        headers = {k: v for k, v in request.headers.items() if k != "authorization"}
        self._inbox.record(
            Delivery(
                provider=self.name,
                target=token,
                headers=headers,
                payload=payload,
                raw=raw,
                message_id=apns_id,
                received_at=datetime.fromtimestamp(self._clock(), tz=timezone.utc),
            )
        )
        self._broadcasts.subscribe(token.lower(), headers, payload)
        # Apple: apns-unique-id is only sent by the Development environment, which the sandbox is.
        return SandboxResponse(status=200, headers={"apns-id": apns_id, "apns-unique-id": str(uuid.uuid4())})

    def target_of(self, request: SandboxRequest) -> str | None:
        """The device token in the request path (the channel id of a broadcast or channel request), or None."""
        if request.path.startswith(("/4/", "/1/")):
            return request.headers.get("apns-channel-id") or None
        match = _PATH.fullmatch(request.path)
        if match is None or not match["token"]:
            return None
        return match["token"]

    def fault_response(self, fault: Fault, request: SandboxRequest) -> SandboxResponse:
        """Apple's answer for an injected fault; ``fault.reason`` overrides the reason."""
        apns_id = request.headers.get("apns-id", "")
        if not UUID_FORMAT.fullmatch(apns_id):
            apns_id = str(uuid.uuid4())
        if fault.kind == "invalid_token":
            status, reason = 410, "Unregistered"
        elif fault.kind == "bad_token":
            status, reason = 400, "BadDeviceToken"
        elif fault.kind == "expired_credential":
            status, reason = 403, "ExpiredProviderToken"
        else:
            status = fault.status
            reason = (
                FAULT_REASONS.get(status)
                or camel_phrase(status)
                or ("InternalServerError" if status >= 500 else "BadRequest")
            )
        extra = {"retry-after": fault.retry_after} if fault.retry_after is not None else {}
        if request.path.startswith(("/4/", "/1/")):
            extra["apns-request-id"] = echo_request_id(request)
        return error(
            status,
            fault.reason or reason,
            apns_id,
            detail=f"injected fault: {fault.kind}",
            # Apple: a 410 body carries the time the token became invalid, in milliseconds.
            timestamp=self._now_ms() if status == 410 else None,
            headers=extra,
        )

    # ------------------------------------------------------------------ broadcast (iOS 18)

    def _broadcast(self, request: SandboxRequest) -> SandboxResponse:
        request_id = echo_request_id(request)
        try:
            bundle, channel, payload = self._check_broadcast(request)
        except Rejected as rejected:
            return error(
                rejected.status, rejected.reason, None, detail=rejected.detail, headers={"apns-request-id": request_id}
            )
        headers = {k: v for k, v in request.headers.items() if k != "authorization"}
        received_at = datetime.fromtimestamp(self._clock(), tz=timezone.utc)
        aps = payload.get("aps")
        ends = isinstance(aps, dict) and aps.get("event") == "end"
        # An "end" ends the activities: later broadcasts on the channel no longer reach them.
        listeners = self._broadcasts.listeners(bundle, channel, end=ends)
        with self._lock:
            tokens = [token for token in listeners if token not in self._dead]
        for token in tokens:
            self._inbox.record(
                Delivery(
                    provider=self.name,
                    target=token,
                    headers=headers,
                    payload=payload,
                    raw=request.body,
                    message_id=request_id,
                    received_at=received_at,
                )
            )
        return SandboxResponse(status=200, headers={"apns-request-id": request_id})

    def _check_broadcast(self, request: SandboxRequest) -> tuple[str, str, dict[str, Any]]:
        if request.method != "POST":
            raise Rejected(405, "MethodNotAllowed", f"broadcasts are POST, got {request.method}")
        match = _BROADCAST_PATH.fullmatch(request.path)
        if match is None:
            raise Rejected(404, "BadPath", f"{request.path!r} is not /4/broadcasts/apps/<bundle ID>")
        bundle = match["bundle"]
        headers = request.headers
        self._check_provider_token(headers.get("authorization"))
        channel = checked_channel_id(headers)
        push_type = headers.get("apns-push-type")
        if push_type != "liveactivity":
            raise Rejected(400, "InvalidPushType", f"a broadcast is apns-push-type liveactivity, got {push_type!r}")
        policy = self._broadcasts.policy(bundle, channel)
        if policy is None:
            raise Rejected(400, "ChannelNotRegistered", f"no channel {channel!r} for {bundle!r}")
        self._check_headers(headers, push_type)
        # Apple: a channel that stores no messages (policy 0) accepts only apns-expiration 0.
        if policy == 0 and headers.get("apns-expiration", "0") != "0":
            raise Rejected(
                400, "BadExpirationDate", "the channel stores no messages (policy 0): apns-expiration must be 0"
            )
        return bundle, channel, self._check_payload(request.body, push_type)

    # ------------------------------------------------------------------ checks

    def _check(self, request: SandboxRequest) -> tuple[str, dict[str, Any], bytes]:
        if request.method != "POST":
            raise Rejected(405, "MethodNotAllowed", f"only POST is supported, got {request.method}")
        match = _PATH.fullmatch(request.path)
        if match is None:
            raise Rejected(404, "BadPath", f"{request.path!r} is not /3/device/<token>")
        token = match["token"]
        if not token:
            raise Rejected(400, "MissingDeviceToken", "the path has no device token")
        if not _HEX_TOKEN.fullmatch(token):
            raise Rejected(400, "BadDeviceToken", "a device token is 64 to 200 hex digits (an even count)")
        headers = request.headers
        self._check_provider_token(headers.get("authorization"))
        topic, push_type = self._check_topic_and_type(headers)
        self._check_headers(headers, push_type)
        payload = self._check_payload(request.body, push_type)
        self._check_device(token.lower(), topic, push_type)
        return token, payload, request.body

    def _check_provider_token(self, authorization: str | None) -> None:
        # "Establishing a token-based connection to APNs": authorization = "bearer <provider token>".
        if authorization is None:
            raise Rejected(403, "MissingProviderToken", "no authorization header")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Rejected(403, "MissingProviderToken", "the authorization header is not 'bearer <token>'")
        iat = self._verified.get(token)
        if iat is None:
            iat = self._verify(token)
        now = self._clock()
        if now - iat > TOKEN_MAX_AGE:
            raise Rejected(
                403, "ExpiredProviderToken", f"the token was issued {int(now - iat)} s ago; the limit is 3600 s"
            )
        if iat - now > CLOCK_SKEW:
            raise Rejected(403, "InvalidProviderToken", f"the token's iat is {int(iat - now)} s in the future")
        current = self._current.get(self.key_id)
        if current is None or current[0] != token:
            if current is not None and now - current[1] < self.token_update_interval:
                raise Rejected(
                    429,
                    "TooManyProviderTokenUpdates",
                    f"a new provider token {int(now - current[1])} s after the previous one; "
                    "keep a token for at least 20 minutes",
                )
            self._current[self.key_id] = (token, now)

    def _verify(self, token: str) -> int:
        """Check the token's header, signature and claims; cache and return its ``iat``."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Rejected(403, "InvalidProviderToken", f"not a JWT: {exc}") from None
        # Apple: header {"alg": "ES256", "kid": <Key ID>}; claims {"iss": <Team ID>, "iat": <seconds>}.
        if header.get("alg") != "ES256":
            raise Rejected(403, "InvalidProviderToken", f"alg must be ES256, got {header.get('alg')!r}")
        if header.get("kid") != self.key_id:
            raise Rejected(403, "InvalidProviderToken", f"kid {header.get('kid')!r} is not this sandbox's key")
        self.jwt_verifications += 1
        try:
            claims = jwt.decode(
                token,
                self._public_key,
                algorithms=["ES256"],
                # The time rules are APNs's own (one hour, skew) and are checked against the injected clock.
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
            )
        except jwt.PyJWTError as exc:
            raise Rejected(403, "InvalidProviderToken", f"the signature does not verify: {exc}") from None
        if claims.get("iss") != self.team_id:
            raise Rejected(403, "InvalidProviderToken", f"iss {claims.get('iss')!r} is not the team id")
        iat = claims.get("iat")
        if isinstance(iat, bool) or not isinstance(iat, int):
            raise Rejected(403, "InvalidProviderToken", "iat must be an integer (seconds since the epoch)")
        with self._lock:
            if len(self._verified) >= _MAX_CACHED_TOKENS:
                self._verified.clear()
            self._verified[token] = iat
        return iat

    def _check_topic_and_type(self, headers: Mapping[str, str]) -> tuple[str, str]:
        # Apple: apns-topic is required with token-based authentication.
        topic = headers.get("apns-topic")
        if not topic:
            raise Rejected(400, "MissingTopic", "apns-topic is required with token authentication")
        if not _TOPIC.fullmatch(topic):
            raise Rejected(400, "BadTopic", f"{topic!r} is not a bundle ID")
        # apns-push-type is optional on iOS (APNs infers it); an absent one is treated as alert here.
        push_type = headers.get("apns-push-type", "alert")
        if push_type not in _TOPIC_SUFFIXES:
            raise Rejected(400, "InvalidPushType", f"unknown apns-push-type {push_type!r}")
        suffix = _TOPIC_SUFFIXES[push_type]
        if suffix is not None and (not topic.endswith(suffix) or len(topic) == len(suffix)):
            # Apple's push-type table: e.g. voip needs "<bundle ID>.voip". See the module docstring.
            raise Rejected(400, "BadTopic", f"a {push_type} push needs apns-topic '<bundle ID>{suffix}'")
        return topic, push_type

    def _check_headers(self, headers: Mapping[str, str], push_type: str) -> None:
        priority = headers.get("apns-priority")
        if priority is not None and priority not in _PRIORITIES:
            raise Rejected(400, "BadPriority", f"apns-priority must be 1, 5 or 10, got {priority!r}")
        # Apple: background pushes must use priority 5; an absent header means the default, 10.
        if push_type == "background" and priority != "5":
            raise Rejected(400, "BadPriority", "a background push must have apns-priority 5")
        expiration = headers.get("apns-expiration")
        if expiration is not None and not _EXPIRATION.fullmatch(expiration):
            raise Rejected(400, "BadExpirationDate", "apns-expiration must be UNIX seconds (or 0)")
        apns_id = headers.get("apns-id")
        if apns_id is not None and not UUID_FORMAT.fullmatch(apns_id):
            raise Rejected(400, "BadMessageId", "apns-id must be a UUID in its 8-4-4-4-12 form")
        collapse_id = headers.get("apns-collapse-id")
        if collapse_id is not None and len(collapse_id.encode()) > MAX_COLLAPSE_ID_BYTES:
            raise Rejected(400, "BadCollapseId", f"apns-collapse-id is {len(collapse_id.encode())} bytes; max 64")

    def _check_payload(self, body: bytes, push_type: str) -> dict[str, Any]:
        if not body:
            raise Rejected(400, "PayloadEmpty", "the request has no body")
        limit = VOIP_PAYLOAD_LIMIT if push_type == "voip" else PAYLOAD_LIMIT
        if len(body) > limit:
            raise Rejected(413, "PayloadTooLarge", f"the payload is {len(body)} bytes; the limit is {limit}")
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise Rejected(400, "PayloadEmpty", "the body is not JSON") from None
        if not isinstance(payload, dict):
            raise Rejected(400, "PayloadEmpty", "the payload is not a JSON object")
        aps = payload.get("aps")
        if aps is not None and not isinstance(aps, dict):
            raise Rejected(400, "PayloadEmpty", "aps must be a dictionary")
        if aps is None and push_type in _APS_REQUIRED:
            raise Rejected(400, "PayloadEmpty", f"a {push_type} push needs an aps dictionary")
        return payload

    def _check_device(self, token: str, topic: str, push_type: str) -> None:
        with self._lock:
            dead_at = self._dead.get(token)
            bound = self._topics.get(token)
        if bound is not None:
            suffix = _TOPIC_SUFFIXES[push_type]
            bundle = topic[: -len(suffix)] if suffix else topic
            if bundle != bound:
                raise Rejected(400, "DeviceTokenNotForTopic", f"the token belongs to {bound!r}, not {bundle!r}")
        if dead_at is not None:
            raise Rejected(410, "Unregistered", "the token was invalidated (sandbox.invalidate)", timestamp=dead_at)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)
