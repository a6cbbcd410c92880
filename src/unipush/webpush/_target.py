"""``WebPushSubscription``: a browser's push subscription (endpoint and keys) as a push target."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from unipush._errors import ValidationError
from unipush._serialize import epoch_ms_to_datetime, target_from_dict, target_to_dict
from unipush._targets import Target, shorten
from unipush._validate import check_text
from unipush.webpush._address import endpoint_host_is_loopback
from unipush.webpush._crypto import b64url_decode, b64url_encode

__all__ = ["WebPushSubscription", "is_loopback_host"]

# Whitespace (the regex \s is str.isspace's Unicode test) or a C0 control or DEL: one C-level scan.
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (as ``urlsplit`` gives it, without brackets) is this machine, in a usual spelling.

    ``127.x.y.z``, ``::1``, ``localhost`` and ``*.localhost``. Other spellings of a loopback address
    (``127.1``, ``0x7f000001``, ``[::ffff:127.0.0.1]``) are not endpoints at all: ``WebPushSubscription``
    refuses them, as every non-public address (``unipush.webpush._address``).
    """
    try:
        return endpoint_host_is_loopback(host)
    except ValidationError:
        return False


def _check_endpoint(endpoint: object) -> bool:
    """Check the endpoint's structure and address; True when it is this machine (loopback).

    Loopback is accepted here and decided by ``WebPush.prepare``, which knows whether the config allows
    local endpoints (``allow_local_endpoints``): the same subscription is fine for the sandbox and
    refused by a production config.
    """
    if not isinstance(endpoint, str):
        raise ValidationError("endpoint", f"must be a URL string, got {type(endpoint).__name__}")
    if not endpoint:
        raise ValidationError("endpoint", "must not be empty")
    check_text("endpoint", endpoint)  # a lone surrogate in the path would fail only when sent
    if _SPACE_OR_CONTROL.search(endpoint):
        raise ValidationError("endpoint", "must be a URL without whitespace or control characters")
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname
        _ = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError as exc:
        raise ValidationError("endpoint", f"is not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not host:
        raise ValidationError("endpoint", "must be an absolute https:// URL with a host")
    if "@" in parts.netloc:
        raise ValidationError("endpoint", "must not contain user info (user:password@)")
    if parts.fragment:
        raise ValidationError("endpoint", "must not contain a #fragment")
    # Subscriptions arrive from browsers, i.e. from untrusted clients: a private, link-local or reserved
    # address, in any spelling, can only be an attempt to make the server call into its own network (SSRF).
    loopback = endpoint_host_is_loopback(host)
    # RFC 8030 §8 requires push resources over HTTPS; plain http is allowed only for this machine,
    # which is where the unipush sandbox and test servers listen.
    if scheme == "http" and not loopback:
        raise ValidationError("endpoint", "must use https (http is accepted only for localhost)")
    return loopback


def _decode_key(field_name: str, value: object, size: int) -> bytes:
    if not isinstance(value, str):
        raise ValidationError(field_name, f"must be a base64url string, got {type(value).__name__}")
    try:
        raw = b64url_decode(value.strip())
    except ValueError:
        raise ValidationError(field_name, "is not valid base64url") from None
    if len(raw) != size:
        raise ValidationError(field_name, f"must decode to {size} bytes, got {len(raw)}")
    return raw


@dataclass(frozen=True, slots=True, repr=False)
class WebPushSubscription(Target):
    """A Web Push subscription: the push service ``endpoint`` and the browser's encryption keys.

    Build it from what ``PushSubscription.toJSON()`` gave the browser, with ``from_dict``, or from
    the three strings. ``p256dh`` is the browser's P-256 public key (base64url, 65 bytes decoded,
    checked to be a point on the curve) and ``auth`` its 16-byte auth secret (base64url); ``=``
    padding and the standard base64 alphabet are tolerated and normalised away. ``endpoint`` must be
    https (http only for localhost), and its host must not be a non-public IP address in any spelling
    (hex, decimal, octal, short, full-width, IPv4 inside IPv6...); an IPv4 address must be written as
    four decimal numbers. A loopback endpoint (``localhost``, ``127.x.y.z``, ``[::1]``) is accepted here
    and refused at send time unless ``WebPush(allow_local_endpoints=True)`` (``is_loopback`` tells).
    ``expiration_time`` is the subscription's ``expirationTime`` when the browser gave one.
    ``key`` is the endpoint: delete the subscription by it when it is reported invalid.
    """

    provider: ClassVar[str] = "webpush"
    target_type: ClassVar[str] = "subscription"
    endpoint: str
    p256dh: str
    auth: str
    expiration_time: datetime | None = None
    _p256dh_raw: bytes = field(init=False, compare=False, hash=False, default=b"")
    _auth_raw: bytes = field(init=False, compare=False, hash=False, default=b"")
    _loopback: bool = field(init=False, compare=False, hash=False, default=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        loopback = _check_endpoint(self.endpoint)
        p256dh = _decode_key("p256dh", self.p256dh, 65)
        # RFC 8291 §3.1: the key is an uncompressed point (0x04 || X || Y) that must lie on P-256;
        # anything else would fail ECDH at send time, or worse, leak through an invalid-curve attack.
        if p256dh[0] != 0x04:
            raise ValidationError("p256dh", "must be an uncompressed P-256 point (first byte 0x04)")
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p256dh)
        except ValueError:
            raise ValidationError("p256dh", "is not a point on the P-256 curve") from None
        auth = _decode_key("auth", self.auth, 16)
        expires: object = self.expiration_time
        if expires is not None and (not isinstance(expires, datetime) or expires.utcoffset() is None):
            raise ValidationError("expiration_time", "must be a timezone-aware datetime or None")
        set_(self, "p256dh", b64url_encode(p256dh))
        set_(self, "auth", b64url_encode(auth))
        set_(self, "_p256dh_raw", p256dh)
        set_(self, "_auth_raw", auth)
        set_(self, "_loopback", loopback)

    @property
    def key(self) -> str:
        """The endpoint URL, which identifies the subscription."""
        return self.endpoint

    @property
    def is_loopback(self) -> bool:
        """Whether the endpoint is this machine (``localhost``, ``127.x.y.z``, ``[::1]``).

        Such a subscription is sent to only by ``WebPush(allow_local_endpoints=True)``, as the sandbox
        and ``unipush.testing`` configure it.
        """
        return self._loopback

    @property
    def p256dh_bytes(self) -> bytes:
        """The browser's public key as 65 raw bytes."""
        return self._p256dh_raw

    @property
    def auth_bytes(self) -> bytes:
        """The auth secret as 16 raw bytes."""
        return self._auth_raw

    def short(self) -> str:
        """Host and the start of the last path segment, e.g. ``fcm.googleapis.com/…/dGhpc2lz…``."""
        parts = urlsplit(self.endpoint)
        tail = parts.path.rstrip("/").rsplit("/", 1)[-1] or parts.query
        return f"{parts.netloc}/…/{shorten(tail)}"

    def __repr__(self) -> str:
        # The endpoint is a capability URL; keep it out of logs whole.
        return f"WebPushSubscription({self.short()!r})"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | str | bytes) -> WebPushSubscription:
        """Build a subscription from ``PushSubscription.toJSON()`` output, or from ``to_dict()`` output.

        Accepts the mapping ``{"endpoint": ..., "expirationTime": ... | null, "keys": {"p256dh": ...,
        "auth": ...}}`` or the same as JSON text (``str`` or UTF-8 ``bytes``), which is how it usually
        arrives from the browser or sits in a database. Unknown members of the browser's JSON are
        ignored. A mapping with a ``"v"`` key is unipush's form (``to_dict()``: the browser's JSON plus
        ``v``, ``provider`` and ``type``) and is read strictly, as ``unipush.target_from_dict`` does.

        Raises:
            ValidationError: naming ``subscription``, ``endpoint``, ``keys``, ``keys.p256dh``,
                ``keys.auth`` or ``expirationTime`` (``target.*`` for unipush's form).
        """
        if isinstance(data, (str, bytes)):
            try:
                data = json.loads(data)
            except ValueError:
                raise ValidationError("subscription", "is not valid JSON") from None
        if not isinstance(data, Mapping):
            raise ValidationError("subscription", f"must be a JSON object, got {type(data).__name__}")
        if "v" in data:
            target = target_from_dict(data)
            if not isinstance(target, cls):
                raise ValidationError("target.provider", f"must be 'webpush' for a {cls.__name__}")
            return target
        if "endpoint" not in data:
            raise ValidationError("endpoint", "is required")
        keys = data.get("keys")
        if not isinstance(keys, Mapping):
            raise ValidationError("keys", 'is required: an object with "p256dh" and "auth"')
        for name in ("p256dh", "auth"):
            if name not in keys:
                raise ValidationError(f"keys.{name}", "is required")
        expires = data.get("expirationTime")
        # DOMHighResTimeStamp / EpochTimeStamp: milliseconds since the Unix epoch.
        expiration_time = None if expires is None else epoch_ms_to_datetime(expires, "expirationTime")
        try:
            return cls(data["endpoint"], keys["p256dh"], keys["auth"], expiration_time)
        except ValidationError as exc:
            if exc.field in ("p256dh", "auth"):
                raise ValidationError(f"keys.{exc.field}", exc.message) from None
            raise

    def to_dict(self) -> dict[str, Any]:
        """The ``PushSubscription.toJSON()`` shape plus ``v``, ``provider`` and ``type`` (form v1).

        ``{"v": 1, "provider": "webpush", "type": "subscription", "endpoint": ..., "keys": {"p256dh":
        ..., "auth": ...}, "expirationTime": <epoch ms> | null}``: still what a browser wrote, so code
        that reads a browser's subscription reads this too; ``from_dict`` and
        ``unipush.target_from_dict`` read it back.
        """
        return target_to_dict(self)
