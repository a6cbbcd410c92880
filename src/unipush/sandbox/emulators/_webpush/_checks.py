"""The Web Push emulator's checks of a push's headers (RFC 8030) and VAPID credentials (RFC 8292), and its errors.

Each check raises ``Rejection`` (status, Apple-style reason, plain-words detail); ``error`` turns one into the
response, ``{"reason": "<Reason>"}`` with ``x-unipush-sandbox-detail``. The order they run in, and the
table of reasons, are in ``_emulator``'s docstring.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from unipush.sandbox._interface import SandboxResponse, json_response
from unipush.sandbox.emulators._common import DETAIL_HEADER
from unipush.webpush._crypto import b64url_decode

MAX_TTL_SECONDS = 30 * 24 * 3600  # RFC 8030 §5.2 lets the service keep less; autopush keeps at most 30 days
_URGENCIES = frozenset({"very-low", "low", "normal", "high"})  # RFC 8030 §5.3
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")  # RFC 8030 §5.4: at most 32 base64url characters
_B64URL = re.compile(r"[A-Za-z0-9_-]+")  # RFC 7515 §2 base64url: no padding, no standard-alphabet characters
_TTL = re.compile(r"[0-9]+")  # RFC 8030 §5.2: TTL = 1*DIGIT
_HOSTNAME = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
CURVE = ec.SECP256R1()  # RFC 8292 §3.2, RFC 8291 §3.1: P-256
_PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")  # names that no one outside can reach


class Rejection(Exception):
    """A push the service refuses: the status, Apple-style reason and a human explanation."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(f"{status} {reason}: {detail}")
        self.status = status
        self.reason = reason
        self.detail = detail


def error(status: int, reason: str, detail: str, extra: Mapping[str, str] | None = None) -> SandboxResponse:
    # Header values must be visible ASCII (RFC 9110 §5.5); the detail quotes client input.
    printable = "".join(c if " " <= c <= "~" else "?" for c in detail)
    headers = {DETAIL_HEADER: printable, **(extra or {})}
    if status == 401:
        # RFC 9110 §15.5.2: a 401 carries a challenge; RFC 8292 §3 defines the "vapid" scheme.
        headers.setdefault("www-authenticate", "vapid")
    return json_response(status, {"reason": reason}, headers)


def uncompressed_point(value: bytes) -> bool:
    # RFC 8292 §3.2: "k" is the key "in uncompressed form", i.e. 0x04 || X || Y on P-256.
    if len(value) != 65 or value[0] != 0x04:
        return False
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(CURVE, value)
    except ValueError:
        return False
    return True


def strict_b64url(value: str) -> bytes | None:
    """RFC 7515 base64url (no padding); None for anything else."""
    if not _B64URL.fullmatch(value) or len(value) % 4 == 1:
        return None
    return b64url_decode(value)


def host_problem(host: str) -> str | None:
    """Why ``host`` cannot be a contact someone outside this machine reaches, or None if it can."""
    host = host.lower().rstrip(".")
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        address = None
    if address is not None:
        return None if address.is_global else f"{host} is not a public address"
    if not _HOSTNAME.fullmatch(host):
        # A single label ("localhost", a machine name) has no dot and is reachable from nowhere else.
        return f"{host!r} is not a fully qualified domain name"
    if host.endswith(_PRIVATE_SUFFIXES):
        return f"{host} is a local-only name"
    return None


def contact_problem(sub: object) -> str | None:
    """Why the VAPID ``sub`` claim is not a contact, or None if it is one.

    RFC 8292 §2.1 says the claim SHOULD be a ``mailto:`` or ``https:`` URI. Apple requires it and
    refuses contacts that cannot be reached, e.g. ``mailto:me@localhost`` and ``https://localhost``
    (``403 BadJwtToken``, web-push-libs/web-push#947).
    """
    if not isinstance(sub, str) or not sub:
        return "the JWT has no sub claim (Apple requires a mailto: or https: contact)"
    scheme, _, rest = sub.partition(":")
    scheme = scheme.lower()
    if scheme == "mailto":
        local, at, domain = rest.rpartition("@")
        if not at or not local or not domain or any(c.isspace() for c in rest):
            return f"sub {sub!r} is not a mailto: e-mail address"
        host = domain
    elif scheme == "https":
        try:
            host = urlsplit(sub).hostname or ""
        except ValueError:  # e.g. an unbalanced "[" in the authority
            host = ""
        if not rest.startswith("//") or not host:
            return f"sub {sub!r} is not an https:// URL with a host"
    else:
        return f"sub {sub!r} must be a mailto: or https: URI"
    problem = host_problem(host)
    return None if problem is None else f"sub {sub!r} is not a reachable contact: {problem}"


def parse_vapid(authorization: str | None) -> tuple[str, str]:
    """``(t, k)`` from ``Authorization: vapid t=<jwt>, k=<key>`` (RFC 8292 §3), or a 401 rejection.

    Only the ``vapid`` scheme is accepted, as at Apple. The draft-01 form (``WebPush <jwt>`` with
    ``Crypto-Key: p256ecdsa=``) and bare ``Bearer`` tokens are refused.
    """
    if not authorization:
        raise Rejection(401, "BadJwtToken", "no Authorization header; send 'vapid t=<jwt>, k=<public key>'")
    scheme, _, rest = authorization.strip().partition(" ")
    # RFC 9110 §11.1: auth-scheme names are case-insensitive.
    if scheme.lower() != "vapid":
        raise Rejection(
            401, "BadJwtToken", f"Authorization scheme {scheme!r} is not accepted; only 'vapid t=..., k=...' (RFC 8292)"
        )
    params: dict[str, str] = {}
    for item in rest.split(","):
        name, equals, value = item.strip().partition("=")
        name = name.strip().lower()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':  # RFC 9110 §11.2 auth-param quoted-string
            value = value[1:-1]
        if not equals or not name or name in params:
            raise Rejection(401, "BadJwtToken", "malformed vapid Authorization parameters")
        params[name] = value
    token, key = params.get("t"), params.get("k")
    if not token or not key:
        raise Rejection(401, "BadJwtToken", "the vapid Authorization header needs both t= and k=")
    return token, key


def check_ttl(value: str | None) -> int:
    """The TTL the service keeps (RFC 8030 §5.2: required, 1*DIGIT; capped at 30 days)."""
    if value is None:
        raise Rejection(400, "BadTtl", "the TTL header is required (RFC 8030 §5.2)")
    value = value.strip()
    if not _TTL.fullmatch(value):
        raise Rejection(400, "BadTtl", f"TTL {value!r} is not a non-negative integer number of seconds")
    # More digits than any sane TTL: skip int() (Python refuses very long digit strings) and cap.
    return MAX_TTL_SECONDS if len(value) > 12 else min(int(value), MAX_TTL_SECONDS)


def wns_conflict(ttl: str | None, policy: str | None) -> SandboxResponse | None:
    """WNS's answer when ``TTL`` and ``X-WNS-Cache-Policy`` disagree, else ``None``.

    Microsoft, "Push notification service request and response headers": the policy defaults to
    ``cache``; a TTL of 0 means "do not cache", so it needs ``no-cache`` (pywebpush#162 quotes the answer:
    400, no body, ``X-WNS-Error-Description: Ttl value conflicts with X-WNS-Cache-Policy.``).
    """
    no_cache = (policy or "cache").strip().lower() == "no-cache"
    if (str(ttl).strip() == "0") == no_cache:
        return None
    return SandboxResponse(
        status=400,
        headers={
            "x-wns-error-description": "Ttl value conflicts with X-WNS-Cache-Policy.",
            "x-wns-status": "dropped",
            "x-wns-notificationstatus": "dropped",
            DETAIL_HEADER: f"TTL {ttl} and X-WNS-Cache-Policy {policy or '(absent: cache)'} disagree",
        },
    )


def check_urgency(value: str | None) -> None:
    # RFC 8030 §5.3: one of four tokens; absent means "normal".
    if value is not None and value.strip() not in _URGENCIES:
        raise Rejection(400, "BadUrgency", f"Urgency {value!r} is not one of very-low, low, normal, high")


def check_topic(value: str | None) -> None:
    if value is None:
        return
    value = value.strip()
    if not _TOPIC.fullmatch(value):
        raise Rejection(400, "BadWebPushTopic", f"Topic {value!r} must be 1 to 32 base64url characters (RFC 8030 §5.4)")
    # Apple also refuses a length of 1 mod 4, which no base64 encoding produces.
    if len(value) % 4 == 1:
        raise Rejection(400, "BadWebPushTopic", f"Topic length {len(value)} is 1 mod 4, which Apple refuses")
