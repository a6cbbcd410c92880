"""The sandbox's Web Push service: a browser vendor's push service and the browser behind it, in one object.

It answers ``POST /push/<id>`` the way a push service does (RFC 8030 §5, RFC 8292 VAPID) and then
does what the subscribed browser would do: it decrypts the body with the subscription's private key
(RFC 8291, via ``unipush.webpush._crypto.decrypt``) and records what the service worker would see in
the inbox. Where services differ, it is as strict as the strictest, Apple's ``web.push.apple.com``:
VAPID (``vapid t=…, k=…``) only, ``aes128gcm`` only, a ``sub`` that is a real contact, ``exp`` at most
24 hours ahead, and Apple's rule on Topic lengths.

Checks run in the order a push service runs them, and the first failure answers:

1. the subscription: unknown id → 404, unsubscribed → 410;
2. ``Authorization``: absent, not the ``vapid`` scheme, or without ``t``/``k`` → 401; ``k`` not an
   uncompressed P-256 point → 403; ``k`` not the subscription's applicationServerKey → 403; the JWT
   does not verify as ES256 with ``k``, or its ``aud``/``exp``/``sub`` are wrong → 403;
3. ``TTL``, ``Urgency``, ``Topic`` → 400;
4. ``Content-Encoding`` → 400, body size → 413, decryption → 400.

Error bodies are Apple's style, ``{"reason": "<Reason>"}`` (``content-type: application/json``). The
complete set of reasons this emulator sends, with Apple's own names where they are known:

=======  ==========================  ========================================================================
status   reason                      when
=======  ==========================  ========================================================================
400      ``BadTtl``                  ``TTL`` missing or not a non-negative integer (RFC 8030 §5.2) [Apple]
400      ``BadUrgency``              ``Urgency`` not ``very-low|low|normal|high`` (RFC 8030 §5.3) [Apple]
400      ``BadWebPushTopic``         ``Topic`` over 32 chars, outside base64url, or length ≡ 1 mod 4 [Apple]
400      ``BadContentEncoding``      a body without ``Content-Encoding: aes128gcm`` (Safari decodes no other)
400      ``DecryptionFailed``        the body does not decrypt with the subscription's keys (RFC 8291)
400      (no body)                   ``subscribe(wns=True)`` only: ``TTL`` and ``X-WNS-Cache-Policy`` disagree;
                                     ``x-wns-error-description`` says so, as Microsoft WNS does
401      ``BadJwtToken``             no ``Authorization``, a scheme other than ``vapid``, no ``t=``/``k=``
403      ``BadJwtToken``             bad JWT: signature, ``alg``, ``aud``, ``exp``, ``sub`` [Apple]
403      ``BadVapidPublicKey``       ``k`` is not a base64url, 65-byte uncompressed P-256 point [Apple]
403      ``VapidPkHashMismatch``     ``k`` is not the key the subscription was created with [Apple]
404      ``NotFound``                no such subscription, or a path other than ``/push/<id>``
405      ``MethodNotAllowed``        a method other than POST
410      ``Unregistered``            the subscription was unsubscribed (Apple, Mozilla and FCM answer 410)
413      ``PayloadTooLarge``         body over 4096 bytes (RFC 8030 §7.2; Apple answers 413 here)
429      ``TooManyRequests``         fault injection only (with ``retry-after`` when the fault sets one)
500/503  ``InternalServerError`` /   fault injection only; any other injected status gets its HTTP phrase
         ``ServiceUnavailable``      in CamelCase
=======  ==========================  ========================================================================

[Apple] marks names observed from ``web.push.apple.com``; the others are this emulator's own, named
in the same style. Two choices differ from Apple on purpose. Apple answers a missing JWT with 403,
but this emulator uses 401 (with ``www-authenticate: vapid``, RFC 9110 §15.5.2), as RFC 8292 §4.2
suggests for absent credentials. Apple has been seen answering ``VapidPkHashMismatch`` with 400;
here it is 403, the status RFC 8292 §4.2 gives for invalid authentication and the one Chrome's push
service sends for a key that does not match the subscription. ``DecryptionFailed`` has no
real-world counterpart: a real push service cannot read the body, and the browser drops a message it
cannot decrypt without telling anyone. The sandbox reports it, because a silent drop is exactly what
a test needs to see. Every error also carries an ``x-unipush-sandbox-detail`` header that says in
plain words what was wrong. This is a debugging aid no real service sends, and the body stays
exactly Apple's.

A successful push gets ``201 Created``, a ``location`` for the message resource and a ``ttl`` header
with the TTL the service kept (capped at 30 days, as autopush does). It is recorded as a
``Delivery`` whose ``payload`` is the decrypted JSON object (``None`` when the plaintext is not a
JSON object; ``raw`` always holds the plaintext). Its headers are the request's, minus
``authorization``. Messages are delivered the moment they arrive, so nothing is ever pending, and
Topic replacement (RFC 8030 §5.4) never applies. The ``topic`` header is recorded with the delivery.
A push without a body (RFC 8030 §5: a "tickle") needs no ``Content-Encoding`` and is recorded with
``raw == b""``.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from unipush.sandbox._inbox import Delivery, Inbox
from unipush.sandbox._interface import EmulatorBase, SandboxRequest, SandboxResponse, json_response
from unipush.sandbox.emulators._common import camel_phrase, write_private
from unipush.sandbox.emulators._webpush._checks import (
    CURVE,
    Rejection,
    check_topic,
    check_ttl,
    check_urgency,
    contact_problem,
    error,
    parse_vapid,
    strict_b64url,
    uncompressed_point,
    wns_conflict,
)
from unipush.webpush._crypto import DecryptionError, b64url_encode, decrypt

if TYPE_CHECKING:
    from unipush.sandbox._faults import Fault

__all__ = ["WebPushEmulator"]

VAPID_PRIVATE_KEY_FILE = "vapid-private.pem"
"""The file, inside the sandbox's credential directory, holding the default application server key."""

MAX_BODY_SIZE = 4096  # RFC 8030 §7.2: a push service must accept 4096 bytes; Apple and FCM accept no more
MAX_JWT_LIFETIME_SECONDS = 24 * 3600  # RFC 8292 §2: exp no more than 24 h after the request
_PUSH_PREFIX = "/push/"
SUBSCRIBE_PATH = "/subscribe"  # sandbox-only: subscriptions for programs in any language
_VERIFIED_CACHE_LIMIT = 4096
_JWS = jwt.PyJWS()


@dataclass(eq=False)
class _Subscription:
    """What the push service and the browser know about one subscription."""

    id: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey  # the user agent's key; its public half is ``p256dh``
    auth_secret: bytes
    application_server_key: bytes  # 65-byte uncompressed point the subscription is restricted to (RFC 8292 §4)
    active: bool = True
    wns: bool = False  # answer as Microsoft WNS does (Edge on Windows): TTL and X-WNS-Cache-Policy must agree


class WebPushEmulator(EmulatorBase):
    """A Web Push service (RFC 8030) with VAPID (RFC 8292), playing the subscribed browsers too.

    Args:
        inbox: where accepted pushes are recorded.
        directory: the sandbox's credential directory; ``vapid-private.pem`` is written there.
        base_url_getter: returns the server's ``https://127.0.0.1:<port>`` (known only after bind).
        clock: seconds since the epoch, for ``exp`` checks and delivery times; tests inject one.

    Attributes:
        name: ``"webpush"``.
        vapid_private_key_path: the default application server key, PKCS#8 PEM.
        application_server_key: its public key, base64url of the 65-byte uncompressed point: what a
            page passes to ``pushManager.subscribe({applicationServerKey})``.
    """

    name = "webpush"
    http1 = True  # RFC 8030 only recommends HTTP/2: push services accept HTTP/1.1 as well

    def __init__(
        self,
        inbox: Inbox,
        directory: Path,
        base_url_getter: Callable[[], str],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._inbox = inbox
        self._base_url = base_url_getter
        self._clock = clock
        self._lock = threading.Lock()  # subscribe()/unsubscribe() run on user threads, handle() on the loop
        self._subscriptions: dict[str, _Subscription] = {}
        # (JWT, k) -> claims whose ES256 signature verified. Signature checks cost more than the rest
        # of a push together, and senders reuse one JWT for many pushes (RFC 8292 §2 lets them).
        self._verified: dict[tuple[str, bytes], Mapping[str, Any]] = {}

        self._vapid_key = ec.generate_private_key(CURVE)
        public = self._vapid_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self._application_server_key = public
        self.application_server_key: str = b64url_encode(public)
        directory.mkdir(parents=True, exist_ok=True)
        self.vapid_private_key_path: Path = directory / VAPID_PRIVATE_KEY_FILE
        pem = self._vapid_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        write_private(self.vapid_private_key_path, pem)

    # -- subscriptions ---------------------------------------------------------------------------

    def subscribe(self, application_server_key: str | None = None, *, wns: bool = False) -> dict[str, Any]:
        """Subscribe a new "browser", as ``pushManager.subscribe()`` does, and return ``subscription.toJSON()``.

        The emulator keeps the user agent's private key and auth secret, so it can decrypt what is
        sent to the subscription.

        Args:
            application_server_key: base64url of the 65-byte public key the subscription is restricted to
                (RFC 8292 §4). Defaults to the sandbox's own key (``application_server_key``). Pushes signed
                by any other key are refused with ``403 VapidPkHashMismatch``.
            wns: answer this subscription's pushes as Microsoft WNS (Edge on Windows) does: ``TTL`` and
                ``X-WNS-Cache-Policy`` must agree (``0`` with ``no-cache``, more with ``cache``, the
                default when the header is absent), else ``400`` with an empty body and the reason in
                ``X-WNS-Error-Description``.

        Returns:
            ``{"endpoint", "expirationTime": None, "keys": {"p256dh", "auth"}}`` (keys in base64url without padding).

        Raises:
            ValueError: ``application_server_key`` is not a base64url uncompressed P-256 public key. The browser
                throws ``InvalidAccessError`` for the same mistake.
        """
        if application_server_key is None:
            server_key = self._application_server_key
        else:
            decoded = strict_b64url(application_server_key)
            if decoded is None or not uncompressed_point(decoded):
                raise ValueError("application_server_key must be base64url of a 65-byte uncompressed P-256 point")
            server_key = decoded
        private_key = ec.generate_private_key(CURVE)
        p256dh = private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        auth_secret = secrets.token_bytes(16)  # RFC 8291 §3.2: 16 random bytes
        subscription_id = secrets.token_urlsafe(32)
        endpoint = f"{self._base_url()}{_PUSH_PREFIX}{subscription_id}"
        with self._lock:
            self._subscriptions[subscription_id] = _Subscription(
                id=subscription_id,
                endpoint=endpoint,
                private_key=private_key,
                auth_secret=auth_secret,
                application_server_key=server_key,
                wns=wns,
            )
        return {
            "endpoint": endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64url_encode(p256dh), "auth": b64url_encode(auth_secret)},
        }

    def unsubscribe(self, endpoint_or_id: str) -> None:
        """End a subscription, as ``subscription.unsubscribe()`` does; later pushes to it get ``410 Gone``.

        Args:
            endpoint_or_id: the subscription's endpoint URL, or the id that ends it.

        Raises:
            KeyError: no subscription has that endpoint or id.
        """
        subscription_id = endpoint_or_id.rstrip("/").rpartition("/")[2]
        with self._lock:
            subscription = self._subscriptions.get(subscription_id)
            if subscription is None:
                raise KeyError(f"no Web Push subscription {endpoint_or_id!r}")
            subscription.active = False

    # -- the Emulator protocol -----------------------------------------------------------------------

    def target_of(self, request: SandboxRequest) -> str | None:
        """The subscription endpoint (``base URL + path``) a push is addressed to, or None for other paths."""
        path = request.path.partition("?")[0]
        if not path.startswith(_PUSH_PREFIX):
            return None
        try:
            return f"{self._base_url()}{path}"
        except Exception:
            return None

    def fault_response(self, fault: Fault, request: SandboxRequest) -> SandboxResponse:
        """The push service's answer for an injected request-level fault, in the same style as real errors.

        ``invalid_token`` → ``410 Unregistered`` (a dead subscription), ``bad_token`` → ``404 NotFound``,
        ``expired_credential`` → ``403 BadJwtToken`` (what Apple says about a JWT past its ``exp``),
        ``status`` → that status with its reason (``TooManyRequests``, ``InternalServerError``,
        ``ServiceUnavailable``...). ``fault.reason`` replaces the reason; ``fault.retry_after`` adds ``retry-after``.
        """
        if fault.kind == "invalid_token":
            status, reason = 410, "Unregistered"
        elif fault.kind == "bad_token":
            status, reason = 404, "NotFound"
        elif fault.kind == "expired_credential":
            status, reason = 403, "BadJwtToken"
        elif fault.kind == "status":
            status, reason = fault.status, camel_phrase(fault.status) or "Error"
        else:  # connection-level kinds never reach an emulator; answer something sane regardless
            status, reason = 500, "InternalServerError"
        extra = {"retry-after": fault.retry_after} if fault.retry_after is not None else None
        return error(status, fault.reason or reason, f"injected fault: {fault.kind}", extra)

    async def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request to the push service (see the module docstring for every rule and reason)."""
        if request.path == SUBSCRIBE_PATH and request.method == "POST":
            return self._subscribe_over_http(request)
        try:
            return self._push(request)
        except Rejection as rejection:
            return error(rejection.status, rejection.reason, rejection.detail)

    def _subscribe_over_http(self, request: SandboxRequest) -> SandboxResponse:
        """``POST /subscribe``: a browser-like subscription for programs that are not Python.

        Sandbox-only (a real push service is subscribed to by the browser, not over HTTP). The optional
        JSON body ``{"application_server_key": "<base64url>"}`` binds it to that VAPID key.
        """
        key: object = None
        if request.body:
            try:
                document = json.loads(request.body)
            except ValueError:
                return error(400, "BadRequest", "the body must be JSON")
            key = document.get("application_server_key") if isinstance(document, dict) else None
        if key is not None and not isinstance(key, str):
            return error(400, "BadRequest", "application_server_key must be a base64url string")
        try:
            subscription = self.subscribe(key)
        except ValueError as exc:
            return error(400, "BadVapidPublicKey", str(exc))
        return json_response(201, subscription)

    # -- the push ------------------------------------------------------------------------------------

    def _push(self, request: SandboxRequest) -> SandboxResponse:
        path = request.path.partition("?")[0]
        subscription_id = path[len(_PUSH_PREFIX) :] if path.startswith(_PUSH_PREFIX) else ""
        if not subscription_id or "/" in subscription_id:
            raise Rejection(404, "NotFound", f"no push resource at {path}")
        if request.method != "POST":
            raise Rejection(405, "MethodNotAllowed", f"{request.method} is not allowed; send pushes with POST")
        with self._lock:
            subscription = self._subscriptions.get(subscription_id)
        # RFC 8030 §7.3: an expired or unknown subscription is 404. Apple, Mozilla and FCM answer 410 Gone
        # for one that existed and was unsubscribed, the signal to delete it.
        if subscription is None:
            raise Rejection(404, "NotFound", "no such subscription")
        if not subscription.active:
            raise Rejection(410, "Unregistered", "the subscription was unsubscribed")

        headers = request.headers
        now = self._clock()
        self._check_vapid(headers.get("authorization"), subscription, now)
        ttl = check_ttl(headers.get("ttl"))
        if subscription.wns:
            conflict = wns_conflict(headers.get("ttl"), headers.get("x-wns-cache-policy"))
            if conflict is not None:
                return conflict
        check_urgency(headers.get("urgency"))
        check_topic(headers.get("topic"))
        plaintext = _decrypt_body(request.body, headers.get("content-encoding"), subscription)

        payload: Mapping[str, Any] | None = None
        try:
            document = json.loads(plaintext)
        except (ValueError, RecursionError):  # not UTF-8 or not JSON: the service worker gets bytes
            document = None
        if isinstance(document, dict):
            payload = document

        # RFC 8030 §5: 201 Created with the push message resource in Location; §5.2: the TTL kept.
        location = f"{self._base_url()}/message/{uuid.uuid4().hex}"
        self._inbox.record(
            Delivery(
                provider=self.name,
                target=subscription.endpoint,
                headers={k: v for k, v in headers.items() if k != "authorization"},
                payload=payload,
                raw=plaintext,
                message_id=location,
                received_at=datetime.fromtimestamp(now, tz=timezone.utc),
            )
        )
        return SandboxResponse(status=201, headers={"location": location, "ttl": str(ttl)})

    def _check_vapid(self, authorization: str | None, subscription: _Subscription, now: float) -> None:
        token, key_text = parse_vapid(authorization)
        key = strict_b64url(key_text)
        if key is None or not uncompressed_point(key):
            raise Rejection(403, "BadVapidPublicKey", "k= is not base64url of a 65-byte uncompressed P-256 point")
        # RFC 8292 §4.2: a restricted subscription accepts only the key it was created with.
        if key != subscription.application_server_key:
            raise Rejection(
                403, "VapidPkHashMismatch", "k= is not the applicationServerKey this subscription was created with"
            )
        claims = self._verified.get((token, key))
        if claims is None:
            claims = _verify_jwt(token, key)
            if len(self._verified) >= _VERIFIED_CACHE_LIMIT:
                self._verified.clear()
            self._verified[(token, key)] = claims
        # Claims are checked on every push, cached or not: a reused JWT expires like any other.
        origin = self._base_url()
        aud = claims.get("aud")
        # RFC 8292 §2: "aud" is the origin of the push resource (scheme://host[:port], no path).
        if aud != origin:
            raise Rejection(403, "BadJwtToken", f"aud is {aud!r}; it must be the push service origin {origin!r}")
        exp = claims.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, (int, float)):
            raise Rejection(403, "BadJwtToken", "the JWT has no numeric exp claim")
        if exp <= now:
            raise Rejection(403, "BadJwtToken", f"the JWT expired {int(now - exp)} s ago")
        # RFC 8292 §2 and Apple: "exp" no more than 24 hours after the request.
        if exp > now + MAX_JWT_LIFETIME_SECONDS:
            raise Rejection(
                403,
                "BadJwtToken",
                f"exp is {int(exp - now)} s ahead; the limit is {MAX_JWT_LIFETIME_SECONDS} s (24 hours)",
            )
        problem = contact_problem(claims.get("sub"))
        if problem is not None:
            raise Rejection(403, "BadJwtToken", problem)


def _verify_jwt(token: str, key: bytes) -> Mapping[str, Any]:
    """The claims of ``token`` once its ES256 signature verifies with ``key`` (RFC 8292 §2), else 403."""
    public_key = ec.EllipticCurvePublicKey.from_encoded_point(CURVE, key)
    try:
        # RFC 8292 §2: the JWT is signed with ES256; any other alg (none, HS256...) is refused.
        body = _JWS.decode(token, public_key, algorithms=["ES256"])
        claims = json.loads(body)
    except jwt.InvalidSignatureError:
        raise Rejection(403, "BadJwtToken", "the JWT signature does not verify with k=") from None
    except (jwt.InvalidTokenError, ValueError) as exc:
        raise Rejection(403, "BadJwtToken", f"the JWT is not a valid ES256 JWS: {exc}") from None
    if not isinstance(claims, dict):
        raise Rejection(403, "BadJwtToken", "the JWT claims are not a JSON object")
    return claims


def _decrypt_body(body: bytes, content_encoding: str | None, subscription: _Subscription) -> bytes:
    if not body:
        # RFC 8030 §5: a push message may have no payload; nothing to decode, so no coding is needed.
        return b""
    # RFC 8291 §4 / Safari: the only content coding is aes128gcm (RFC 9110 §8.4.1: names are case-insensitive).
    coding = (content_encoding or "").strip().lower()
    if coding != "aes128gcm":
        shown = "missing" if content_encoding is None else repr(content_encoding)
        raise Rejection(400, "BadContentEncoding", f"Content-Encoding is {shown}; only aes128gcm is accepted")
    if len(body) > MAX_BODY_SIZE:
        raise Rejection(413, "PayloadTooLarge", f"body is {len(body)} bytes; the limit is {MAX_BODY_SIZE}")
    try:
        return decrypt(body, subscription.private_key, subscription.auth_secret)
    except DecryptionError as exc:
        raise Rejection(400, "DecryptionFailed", f"the browser could not decrypt the body: {exc}") from None
    except ValueError as exc:
        raise Rejection(400, "DecryptionFailed", f"the body is not an aes128gcm message: {exc}") from None
