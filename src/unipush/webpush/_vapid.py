"""VAPID (RFC 8292): the application server's key, its contact subject, and the signed JWT header.

``load_vapid_private_key`` accepts every common way a VAPID key is stored and says precisely what
is wrong with anything else, without ever echoing key material. ``VapidSigner`` makes the
``Authorization: vapid t=<JWT>, k=<public key>`` header and caches one token per push-service origin.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple, Union
from urllib.parse import urlsplit

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from unipush import _telemetry
from unipush._credentials import CredentialStore, SharedCredential, StoredCredential, shared_credential
from unipush._errors import ConfigurationError
from unipush.webpush._crypto import b64url_decode, b64url_encode

__all__ = [
    "DEFAULT_VAPID_EXPIRATION",
    "MAX_VAPID_EXPIRATION",
    "VapidKeyPair",
    "VapidKeySource",
    "VapidSigner",
    "audience_of",
    "check_subject",
    "generate_vapid_keys",
    "load_vapid_private_key",
]

VapidKeySource = Union[str, bytes, "os.PathLike[str]", ec.EllipticCurvePrivateKey]
"""What ``load_vapid_private_key`` accepts (see there)."""

DEFAULT_VAPID_EXPIRATION = timedelta(hours=12)
"""JWT lifetime: 12 hours, well inside the 24-hour ceiling of RFC 8292 §2 (pywebpush's default too)."""

MAX_VAPID_EXPIRATION = timedelta(hours=24)
"""RFC 8292 §2: ``exp`` must not be more than 24 hours after the request; autopush enforces it."""

_MIN_VAPID_EXPIRATION = timedelta(minutes=1)
_CACHE_PRUNE_AT = 256  # audiences are push-service origins: a handful, but WNS hosts vary per region
_PEM_MARKER = "-----BEGIN"
_B64 = re.compile(r"[A-Za-z0-9_+/-]+={0,2}")
_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+")
_DOMAIN_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_PRIVATE_KEY_TYPES = (
    ec.EllipticCurvePrivateKey,
    rsa.RSAPrivateKey,
    dsa.DSAPrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
    x25519.X25519PrivateKey,
    x448.X448PrivateKey,
)


# --- key loading ---------------------------------------------------------------------------------


def _check_curve(key: PrivateKeyTypes, origin: str) -> ec.EllipticCurvePrivateKey:
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        kind = type(key).__name__.removeprefix("_").replace("PrivateKey", "")
        raise ConfigurationError(f"VAPID key {origin} is a {kind or 'non-EC'} key; VAPID needs an EC P-256 key")
    if not isinstance(key.curve, ec.SECP256R1):
        raise ConfigurationError(
            f"VAPID key {origin} is on curve {key.curve.name}; RFC 8292 requires P-256 (secp256r1/prime256v1)"
        )
    return key


def _from_scalar(raw: bytes, origin: str) -> ec.EllipticCurvePrivateKey:
    try:
        return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    except ValueError:
        raise ConfigurationError(f"VAPID key {origin} is 32 bytes but not a valid P-256 private scalar") from None


def _from_pem(data: bytes, origin: str) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise ConfigurationError(
            f"VAPID key {origin} is an encrypted PEM; decrypt it first (openssl ec -in key.pem -out plain.pem)"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        if b"PUBLIC KEY-----" in data or b"CERTIFICATE-----" in data:
            raise ConfigurationError(
                f"VAPID key {origin} holds a public key or certificate; VAPID needs the private key"
            ) from None
        raise ConfigurationError(f"VAPID key {origin} is PEM but not a readable private key") from None
    return _check_curve(key, origin)


def _try_der(data: bytes) -> PrivateKeyTypes | None:
    # PKCS#8 and SEC1 ("traditional" EC) DER are both accepted by this loader.
    try:
        return serialization.load_der_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None


def _from_bytes(data: bytes, origin: str) -> ec.EllipticCurvePrivateKey | None:
    """PEM, DER or a raw 32-byte scalar; ``None`` if the bytes are none of these."""
    if _PEM_MARKER.encode() in data:
        return _from_pem(data, origin)
    if len(data) == 32:
        return _from_scalar(data, origin)
    der = _try_der(data)
    return None if der is None else _check_curve(der, origin)


def _from_b64(text: str, origin: str) -> ec.EllipticCurvePrivateKey | None:
    """Base64url of a 32-byte scalar (web-push's format) or of DER (py-vapid's); ``None`` otherwise."""
    if not _B64.fullmatch(text):
        return None
    try:
        raw = b64url_decode(text)
    except ValueError:
        return None
    if len(raw) == 32:
        return _from_scalar(raw, origin)
    der = _try_der(raw)
    return None if der is None else _check_curve(der, origin)


def _from_file(path: Path) -> ec.EllipticCurvePrivateKey:
    origin = f"file {str(path)!r}"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"VAPID key {origin} cannot be read: {exc.strerror or exc}") from None
    key = _from_bytes(data, origin)
    if key is None:
        try:
            key = _from_b64(data.decode("ascii").strip(), origin)
        except UnicodeDecodeError:
            key = None
    if key is None:
        raise ConfigurationError(
            f"VAPID key {origin} is not a PEM or DER private key, nor a base64url 32-byte private key"
        )
    return key


def _is_file(text: str) -> bool:
    if len(text) > 4096 or "\n" in text:
        return False
    try:
        return Path(text).expanduser().is_file()
    except (OSError, ValueError):  # e.g. an embedded NUL byte, or a name too long for the OS
        return False


def load_vapid_private_key(source: VapidKeySource) -> ec.EllipticCurvePrivateKey:
    """Load a VAPID (P-256) private key from any of the usual forms.

    Accepted forms:

    - an ``EllipticCurvePrivateKey`` (``cryptography``) on P-256;
    - a path (``os.PathLike``, or a ``str`` naming an existing file) to a PEM, DER or base64url key file;
    - PEM text or bytes (``-----BEGIN PRIVATE KEY-----`` or ``-----BEGIN EC PRIVATE KEY-----``,
      unencrypted);
    - DER bytes (PKCS#8 or SEC1);
    - the raw 32-byte private scalar, as bytes or as base64url text (the format ``web-push
      generate-vapid-keys`` prints);
    - base64url text of DER (py-vapid's ``private_key.txt``).

    Raises:
        ConfigurationError: saying which form was recognised and what is wrong with it. The message
            names a file path when one was given but never contains key material.
    """
    obj: object = source  # checked as `object`: callers without type checking pass anything
    if isinstance(obj, _PRIVATE_KEY_TYPES):
        return _check_curve(obj, "object")
    if isinstance(obj, os.PathLike):
        return _from_file(Path(obj))
    if isinstance(obj, bytes):
        key = _from_bytes(obj, "bytes")
        if key is None:
            raise ConfigurationError(
                f"VAPID key bytes ({len(obj)} bytes) are not PEM, DER or a raw 32-byte private key"
            )
        return key
    if isinstance(obj, str):
        text = obj.strip()
        if not text:
            raise ConfigurationError("VAPID key is an empty string")
        if _PEM_MARKER in text:
            return _from_pem(text.encode("utf-8", "replace"), "text")
        if _is_file(text):
            return _from_file(Path(text).expanduser())
        key = _from_b64(text, "text")
        if key is not None:
            return key
        raise ConfigurationError(
            "VAPID key string is not PEM text, not the path of an existing file, and not base64url of a "
            "32-byte private key or of a DER key"
        )
    raise ConfigurationError(
        f"VAPID key must be a path, PEM/base64url text, DER bytes or an EllipticCurvePrivateKey, "
        f"got {type(obj).__name__}"
    )


def _public_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


@dataclass(frozen=True, slots=True)
class VapidKeyPair:
    """A new VAPID key pair: ``private_key_pem`` to keep secret, ``public_key`` for the browser.

    ``public_key`` is the base64url uncompressed P-256 point that the page passes as
    ``applicationServerKey`` to ``pushManager.subscribe()``. The private key is not shown in ``repr``.
    """

    private_key_pem: str = field(repr=False)
    public_key: str

    @property
    def private_key_raw(self) -> str:
        """The private key as base64url of its 32-byte scalar (handy for an environment variable)."""
        key = load_vapid_private_key(self.private_key_pem)
        return b64url_encode(key.private_numbers().private_value.to_bytes(32, "big"))


def generate_vapid_keys() -> VapidKeyPair:
    """Generate a new P-256 VAPID key pair (PKCS#8 PEM private key, base64url public key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    return VapidKeyPair(private_key_pem=pem, public_key=b64url_encode(_public_bytes(key)))


# --- subject and audience ------------------------------------------------------------------------


def _is_real_domain(domain: str) -> bool:
    # A host a push service can treat as a real contact: a dotted DNS name, not localhost, not an IP.
    domain = domain.lower().rstrip(".")
    if domain == "localhost" or domain.endswith(".localhost") or "." not in domain:
        return False
    labels = domain.split(".")
    if not all(_DOMAIN_LABEL.fullmatch(label) for label in labels):
        return False
    return not labels[-1].isdigit()  # rules out IPv4 literals and numeric TLDs


def check_subject(subject: object) -> str:
    """Return ``subject`` if push services will accept it as the VAPID ``sub`` contact, else raise.

    RFC 8292 §2.1 says the ``sub`` claim SHOULD be a ``mailto:`` or ``https:`` URI. Mozilla and Apple
    require a real one in practice (Apple answers ``403 BadJwtToken`` for ``mailto:x@localhost``), so
    an address or host must be a dotted domain name: no ``localhost``, no bare host, no IP address.
    There is no opt-out: the local sandbox uses an ordinary subject such as ``mailto:sandbox@unipush.dev``.

    Raises:
        ConfigurationError: the subject is not a usable ``mailto:`` or ``https://`` URI.
    """
    if not isinstance(subject, str) or not subject.strip():
        raise ConfigurationError("VAPID subject must be a 'mailto:' or 'https://' URI string")
    subject = subject.strip()
    lowered = subject.lower()
    if lowered.startswith("mailto:"):
        address = subject[len("mailto:") :].split("?", 1)[0]
        local, at, domain = address.rpartition("@")
        if not at or not local or not _EMAIL_LOCAL.fullmatch(local):
            raise ConfigurationError(f"VAPID subject {subject!r} must be mailto: followed by an email address")
        if not _is_real_domain(domain):
            raise ConfigurationError(
                f"VAPID subject {subject!r} must use a real, dotted mail domain (not localhost or a bare host); "
                "push services such as Apple's reject it otherwise"
            )
        return subject
    if lowered.startswith("https://"):
        try:
            parts = urlsplit(subject)
            host = parts.hostname or ""
        except ValueError:
            raise ConfigurationError(f"VAPID subject {subject!r} is not a valid URL") from None
        if parts.username is not None or not _is_real_domain(host):
            raise ConfigurationError(
                f"VAPID subject {subject!r} must be an https URL on a real, public host name "
                "(not localhost, a bare host or an IP address)"
            )
        return subject
    hint = " (use https://, or a mailto: address)" if lowered.startswith("http://") else ""
    raise ConfigurationError(f"VAPID subject {subject!r} must start with 'mailto:' or 'https://'{hint}")


def audience_of(endpoint: str) -> str:
    """The VAPID ``aud`` for an endpoint: its origin ``scheme://host[:port]`` (RFC 8292 §2).

    The scheme and host are lower-cased, an IPv6 host is bracketed and the scheme's default port is
    left out, so every endpoint of one push service shares one audience (and one cached token).
    """
    parts = urlsplit(endpoint)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass
    port = parts.port
    if port is None or (scheme, port) in (("https", 443), ("http", 80)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


# --- signer --------------------------------------------------------------------------------------


class _Token(NamedTuple):
    token: str
    header: str
    renew_at: float  # epoch seconds after which the token is re-minted


class VapidSigner:
    """Makes and caches VAPID ``Authorization`` headers for one key and subject.

    One JWT is cached per audience (push-service origin) and re-minted once less than half of its
    lifetime is left: with the 12-hour default a token is always at least 6 hours from ``exp`` when
    used, which absorbs clock skew and slow retries, while a busy sender signs about 4 tokens a day per
    push service. The cache is guarded by a lock, so one signer can serve many threads. The clock is
    never read: every call takes ``now``.

    Args:
        private_key: anything ``load_vapid_private_key`` accepts.
        subject: the ``sub`` contact (see ``check_subject``).
        expiration: JWT lifetime, from 1 minute to 24 hours (default 12 hours).

    Raises:
        ConfigurationError: unusable key, subject or expiration.
    """

    __slots__ = ("_cache", "_expiration", "_key", "_lock", "_mint_count", "_public", "_shared", "_store", "_subject")

    def __init__(
        self, private_key: VapidKeySource, subject: str, *, expiration: timedelta = DEFAULT_VAPID_EXPIRATION
    ) -> None:
        lifetime: object = expiration  # checked as `object`: callers without type checking pass anything
        if not isinstance(lifetime, timedelta) or not _MIN_VAPID_EXPIRATION <= lifetime <= MAX_VAPID_EXPIRATION:
            raise ConfigurationError(
                f"VAPID expiration must be a timedelta from 1 minute to 24 hours (RFC 8292 §2), got {expiration!r}"
            )
        self._key = load_vapid_private_key(private_key)
        self._subject = check_subject(subject)
        self._expiration = expiration
        self._public = b64url_encode(_public_bytes(self._key))
        self._lock = threading.Lock()
        self._cache: dict[str, _Token] = {}
        self._mint_count = 0
        self._store: CredentialStore | None = None
        self._shared: dict[str, SharedCredential] = {}

    def use_store(self, store: CredentialStore) -> None:
        """Share the tokens through ``store``, one per audience (``PushClient(credential_store=...)``).

        The store key is ``vapid:<public-key SHA-256>:<subject and lifetime hash>:<audience>``; the
        store holds the signed JWTs only. Without a store each signer keeps its own tokens (VAPID has
        no rate limit on new tokens, so sharing only saves signatures and keeps one token per push
        service for the whole fleet).
        """
        self._store = store
        self._shared = {}

    def _shared_for(self, audience: str) -> SharedCredential:
        shared = self._shared.get(audience)
        if shared is None:
            assert self._store is not None
            fingerprint = hashlib.sha256(b64url_decode(self._public)).hexdigest()[:32]
            flavour = hashlib.sha256(f"{self._subject} {self._expiration.total_seconds()}".encode()).hexdigest()[:12]
            key = f"vapid:{fingerprint}:{flavour}:{audience}"
            shared = self._shared.setdefault(audience, shared_credential(self._store, key))
        return shared

    @staticmethod
    def _usable(instant: float) -> Callable[[StoredCredential], bool]:
        # Renewed once less than half its lifetime is left, as the in-memory cache does.
        return lambda c: instant < c.issued_at + (c.expires_at - c.issued_at) / 2

    def _mint_stored(self, audience: str, instant: float) -> Callable[[StoredCredential | None], StoredCredential]:
        def mint(_previous: StoredCredential | None) -> StoredCredential:
            entry = self._mint(audience, instant)
            with self._lock:  # mints with a store run under the store's per-audience lock, not this one
                self._mint_count += 1
            exp = int(instant + self._expiration.total_seconds())
            return StoredCredential(token=entry.token, issued_at=instant, expires_at=exp)

        return mint

    def cached_authorization(self, endpoint: str, *, now: datetime) -> str | None:
        """``authorization()`` if it needs no I/O (no store, a ``MemoryStore``, or a usable copy in
        memory); ``None`` when the token must be read from the store."""
        if self._store is None:
            return self.authorization(endpoint, now=now)
        audience = audience_of(endpoint)
        shared = self._shared_for(audience)
        if shared.inline:
            return self.authorization(endpoint, now=now)
        if now.utcoffset() is None:
            raise ValueError("now must be a timezone-aware datetime")
        found = shared.cached(self._usable(now.timestamp()))
        return None if found is None else f"vapid t={found.token}, k={self._public}"

    @property
    def application_server_key(self) -> str:
        """The public key, base64url: pass it as ``applicationServerKey`` to ``pushManager.subscribe()``."""
        return self._public

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The public key, e.g. to verify tokens."""
        return self._key.public_key()

    @property
    def subject(self) -> str:
        """The ``sub`` claim."""
        return self._subject

    @property
    def expiration(self) -> timedelta:
        """The lifetime given to each token."""
        return self._expiration

    @property
    def mint_count(self) -> int:
        """How many tokens have been signed (not served from the cache); for tests and metrics."""
        return self._mint_count

    def token(self, audience: str, *, now: datetime) -> str:
        """The signed JWT for ``audience`` (an origin), from the cache unless it is due for renewal."""
        return self._entry(audience, now).token

    def authorization(self, endpoint: str, *, now: datetime) -> str:
        """The ``Authorization`` header value for a request to ``endpoint`` (RFC 8292 §3).

        ``vapid t=<JWT>, k=<base64url public key>``, with ``aud`` = the endpoint's origin.
        """
        return self._entry(audience_of(endpoint), now).header

    def _entry(self, audience: str, now: datetime) -> _Token:
        if now.utcoffset() is None:
            raise ValueError("now must be a timezone-aware datetime")
        instant = now.timestamp()
        if self._store is not None:
            found = self._shared_for(audience).get(
                self._usable(instant), self._mint_stored(audience, instant), lease=5.0
            )
            return _Token(
                found.token, f"vapid t={found.token}, k={self._public}", (found.issued_at + found.expires_at) / 2
            )
        with self._lock:
            cached = self._cache.get(audience)
            if cached is not None and instant < cached.renew_at:
                return cached
            entry = self._mint(audience, instant)
            self._mint_count += 1
            if len(self._cache) >= _CACHE_PRUNE_AT:
                for stale in [a for a, t in self._cache.items() if t.renew_at <= instant]:
                    del self._cache[stale]
            self._cache[audience] = entry
            return entry

    def _mint(self, audience: str, instant: float) -> _Token:
        lifetime = self._expiration.total_seconds()
        exp = int(instant + lifetime)
        # RFC 8292 §2: ES256 JWS (PyJWT writes the raw r||s signature JOSE requires), claims aud/exp/sub.
        token = jwt.encode({"aud": audience, "exp": exp, "sub": self._subject}, self._key, algorithm="ES256")
        _telemetry.minted("webpush", "vapid_jwt")
        return _Token(token, f"vapid t={token}, k={self._public}", instant + lifetime / 2)

    def __repr__(self) -> str:
        return f"VapidSigner(subject={self._subject!r}, application_server_key={self._public!r})"
