"""``APNs``: the APNs configuration, which is also the APNs ``Provider``.

Two ways to authenticate (Apple: "Establishing a token-based connection to APNs" and "... a
certificate-based connection to APNs"):

- **token** (recommended): ``key=`` the ``.p8`` signing key, ``key_id=`` and ``team_id=``. Every request
  carries ``authorization: bearer <JWT>`` from a shared ``ProviderTokenSigner``.
- **certificate**: ``cert=`` a ``.p12`` (with ``cert_password=``) or PEM certificate, with the key in the
  same PEM or in ``cert_key=``. There is no header; the transport presents the certificate in the TLS
  handshake (see ``APNs.client_cert()``).

Everything is loaded and checked at construction; problems raise ``ConfigurationError`` saying what is
wrong, never echoing key material.
"""

from __future__ import annotations

import os
import re
import ssl
import uuid
from collections.abc import Awaitable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal, Union

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from unipush._credentials import CredentialStore
from unipush._errors import ConfigurationError, ValidationError
from unipush._model import Notification
from unipush._provider import ClientCertificate
from unipush._results import Outcome, PreparedRequest
from unipush._targets import Target
from unipush._validate import aware_datetime, read_error_reason, service_url
from unipush.apns._auth import _TEN_ALNUM, ProviderTokenSigner
from unipush.apns._broadcast import MANAGE_BASE_URLS, broadcast_path, render_broadcast
from unipush.apns._decode import parse_response
from unipush.apns._encode import DevicePush, check_apns_id, render_device_push
from unipush.apns._target import ApnsChannel, ApnsDevice

__all__ = ["APNs", "ClientCertificate", "Environment", "KeySource"]

Environment = Literal["production", "sandbox"]
"""Which APNs service to use: ``production`` (App Store, TestFlight, Ad Hoc builds) or ``sandbox``
(builds signed with a development provisioning profile)."""

KeySource = Union[str, "os.PathLike[str]", bytes]
"""A key or certificate: a file path (``str`` or ``Path``), PEM text (``str`` starting ``-----BEGIN``),
or bytes (PEM, or DER / PKCS#12 binary)."""

BASE_URLS: Mapping[str, str] = {
    "production": "https://api.push.apple.com",
    "sandbox": "https://api.sandbox.push.apple.com",
}

_BUNDLE_ID = re.compile(r"[A-Za-z0-9._-]+")
_PEM_MARK = b"-----BEGIN"


class APNs:
    """Apple Push Notification service settings; also the provider that renders and decodes requests.

    Args:
        key: the token-auth signing key: a ``.p8`` path, its PEM text, or PEM/DER bytes (P-256 only).
        key_id: the key's 10-character Key ID (developer portal, Keys).
        team_id: the 10-character Team ID.
        topic: the app's bundle ID. Push types add their suffix (``.voip``, ``.push-type.liveactivity``...).
        environment: ``"production"`` (default) or ``"sandbox"``.
        base_url: overrides the environment's URL (a proxy, or a local emulator).
        manage_base_url: overrides the environment's channel-management URL, where broadcast channels
            (iOS 18) are managed: ``https://api-manage-broadcast.push.apple.com:2196`` in production,
            ``https://api-manage-broadcast.sandbox.push.apple.com:2195`` in the sandbox.
        cert: certificate auth instead of ``key``: a ``.p12``/PEM path, PEM text, or bytes.
        cert_key: the certificate's private key when it is not in ``cert`` (path, PEM or DER).
        cert_password: the password of the ``.p12`` or of an encrypted ``cert_key``.

    Exactly one of ``key`` (with ``key_id`` and ``team_id``) or ``cert`` must be given.

    Raises:
        ConfigurationError: a setting or credential is missing, unreadable or of the wrong kind.
    """

    __slots__ = (
        "_base_url",
        "_client_cert",
        "_environment",
        "_key_id",
        "_last_push",
        "_manage_base_url",
        "_signer",
        "_team_id",
        "_topic",
    )

    def __init__(
        self,
        *,
        key: KeySource | None = None,
        key_id: str | None = None,
        team_id: str | None = None,
        topic: str,
        environment: Environment = "production",
        base_url: str | None = None,
        manage_base_url: str | None = None,
        cert: KeySource | None = None,
        cert_key: KeySource | None = None,
        cert_password: str | bytes | None = None,
    ) -> None:
        self._topic = _bundle_id(topic)
        given: object = environment  # typed as a Literal, but callers may pass anything (even a dict)
        if not isinstance(given, str) or given not in BASE_URLS:
            raise ConfigurationError(f"APNs environment must be 'production' or 'sandbox', got {environment!r}")
        self._environment: Environment = environment
        self._base_url = _base_url(base_url, environment)
        self._manage_base_url = _base_url(manage_base_url, environment, MANAGE_BASE_URLS, "manage_base_url")
        self._signer: ProviderTokenSigner | None = None
        self._client_cert: ClientCertificate | None = None
        self._key_id: str | None = None
        self._team_id: str | None = None
        # The last notification's device push: (notification, second of now, rendering). A batch sends
        # one notification to many devices; see prepare. Replaced whole, so a reader on another thread
        # sees an old entry or a new one, both valid for their key.
        self._last_push: tuple[Notification, int, DevicePush] | None = None

        if key is not None and cert is not None:
            raise ConfigurationError("APNs takes either key= (token auth) or cert= (certificate auth), not both")
        if key is not None:
            if cert_key is not None or cert_password is not None:
                raise ConfigurationError("APNs cert_key and cert_password are used only with cert=")
            self._key_id = _ten_alnum("key_id", key_id)
            self._team_id = _ten_alnum("team_id", team_id)
            signing_key = _load_signing_key(key)
            self._signer = ProviderTokenSigner(signing_key, key_id=self._key_id, team_id=self._team_id)
        elif cert is not None:
            if key_id is not None or team_id is not None:
                raise ConfigurationError("APNs key_id and team_id are used only with key= (token auth)")
            self._client_cert = _load_client_cert(cert, cert_key, cert_password)
        else:
            raise ConfigurationError(
                "APNs needs credentials: key= with key_id= and team_id= (token auth), or cert= (certificate auth)"
            )

    # -- Provider protocol ---------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """``"apns"``."""
        return "apns"

    # A class attribute, not a property: ``unipush.target_from_dict`` reads it from the entry point's
    # class without building the provider (src/unipush/_serialize.py).
    target_types: tuple[type[Target], ...] = (ApnsDevice, ApnsChannel)
    """``(ApnsDevice, ApnsChannel)``."""

    def prepare(
        self, notification: Notification, target: Target, *, now: datetime, apns_id: str | None = None
    ) -> PreparedRequest:
        """Render the request for one device, or one broadcast to a channel.

        Args:
            notification: what to send.
            target: an ``ApnsDevice``, or an ``ApnsChannel`` (a broadcast: ``POST /4/broadcasts/apps/<bundle
                ID>``, which must be a Live Activity update or end; see ``unipush.apns._broadcast``).
            now: the send time (aware); the base of ``apns-expiration`` and of the provider token.
            apns_id: the request id (a lower-case UUID); a new one when ``None``. Pass the same id on every
                attempt of one notification so APNs and your logs can match them. A broadcast sends it as
                ``apns-request-id``.

        Raises:
            ValidationError: the notification breaks an APNs rule or the payload is too large.
        """
        if not isinstance(target, (ApnsDevice, ApnsChannel)):
            raise ValidationError(
                "target", f"APNs sends to ApnsDevice and ApnsChannel targets, got {type(target).__name__}"
            )
        if apns_id is None:
            apns_id = str(uuid.uuid4())
        if isinstance(target, ApnsChannel):
            payload, headers, body = render_broadcast(notification, target, now=now, request_id=apns_id)
            url = f"{self._base_url}{broadcast_path(self._topic)}"
        else:
            check_apns_id(apns_id)
            aware_datetime("now", now)
            # Payload, body and headers but apns-id are the same for every device of a batch: rendered once
            # per notification and second of now (apns-expiration). The notification is frozen, so its
            # identity is a sound key.
            second = int(now.timestamp())
            last = self._last_push
            if last is not None and last[0] is notification and last[1] == second:
                push = last[2]
            else:
                push = render_device_push(notification, topic=self._topic, now=now)
                self._last_push = (notification, second, push)
            payload, headers, body = push.payload, push.headers_with(apns_id), push.body
            url = f"{self._base_url}/3/device/{target.token}"
        pending = False
        if self._signer is not None:
            # The in-memory token, or none yet when it must come from a store (I/O): then ``authorize``
            # fetches it at send time, off the event loop, and the request says so.
            token = self._signer.cached(now)
            if token is None:
                pending = True
            else:
                headers["authorization"] = "bearer " + token
        elif headers["apns-push-type"] == "location":
            raise ValidationError("apns.push_type", "'location' pushes need token-based authentication (key=)")
        return PreparedRequest(
            provider="apns",
            target=target,
            method="POST",
            url=url,
            headers=headers,
            body=body,
            payload=payload,
            credential_pending=pending,
        )

    def parse(self, request: PreparedRequest, status_code: int, headers: Mapping[str, str], body: bytes) -> Outcome:
        """Decode APNs's answer to ``request`` (see ``unipush.apns.ApnsReason``)."""
        return parse_response(status_code, headers, body)

    # -- credentials ---------------------------------------------------------------------------------

    def reauthorize(self, request: PreparedRequest, *, now: datetime, force: bool = True) -> PreparedRequest:
        """A copy of ``request`` with a current provider token, for a resend (may block on the store).

        With ``force`` (after ``ExpiredProviderToken``) the token ``request`` carried is replaced unless
        it is under 20 minutes old (see ``ProviderTokenSigner``). Certificate auth returns ``request``
        unchanged.
        """
        if self._signer is None:
            return request
        stale = _bearer(request) if force else None
        return request.with_headers({"authorization": "bearer " + self._signer.token(now, stale=stale)})

    def authorize(
        self, request: PreparedRequest, *, refresh: bool, ssl_context: ssl.SSLContext
    ) -> PreparedRequest | Awaitable[PreparedRequest]:
        """The ``Provider`` auth hook: attach the provider token when ``prepare`` could not (it had to come
        from the credential store), and replace a refused one once after ``ExpiredProviderToken``
        (Apple: "Establishing a token-based connection to APNs").

        Returns at once when the token is in memory (every send but about one per 50 minutes); otherwise
        an awaitable that reads the store on a worker thread, so the event loop never waits for it.
        """
        signer = self._signer
        if signer is None or not (refresh or request.credential_pending):
            return request
        now = datetime.now(timezone.utc)
        stale = (_bearer(request) or None) if refresh else None
        if refresh and stale is None:
            stale = signer.cached(now)  # nothing was attached: treat the current token as refused
        token = signer.cached(now, stale=stale)
        if token is not None:
            return request.with_headers({"authorization": "bearer " + token})
        return self._authorize_later(signer, request, now, stale)

    @staticmethod
    async def _authorize_later(
        signer: ProviderTokenSigner, request: PreparedRequest, now: datetime, stale: str | None
    ) -> PreparedRequest:
        token = await signer.token_async(now, stale=stale)
        return request.with_headers({"authorization": "bearer " + token})

    def use_credential_store(self, store: CredentialStore) -> None:
        """Share the provider token through ``store`` (``PushClient(credential_store=...)`` calls this).

        Certificate auth has no token, so nothing changes then.
        """
        if self._signer is not None:
            self._signer.use_store(store)

    def client_cert(self) -> ClientCertificate | None:
        """The TLS client certificate for certificate auth, or ``None`` with token auth."""
        return self._client_cert

    def client_cert_urls(self) -> tuple[str, ...]:
        """Where the certificate is presented: the push host and the channel-management host (broadcasts)."""
        return (self._base_url, self._manage_base_url)

    @property
    def signer(self) -> ProviderTokenSigner | None:
        """The provider-token signer (token auth), or ``None`` with certificate auth."""
        return self._signer

    @property
    def auth(self) -> Literal["token", "certificate"]:
        """Which authentication this configuration uses."""
        return "token" if self._signer is not None else "certificate"

    @property
    def topic(self) -> str:
        """The app's bundle ID."""
        return self._topic

    @property
    def environment(self) -> Environment:
        """``"production"`` or ``"sandbox"``."""
        return self._environment

    @property
    def base_url(self) -> str:
        """The service URL requests go to (no trailing slash)."""
        return self._base_url

    @property
    def manage_base_url(self) -> str:
        """The channel-management URL broadcast channels are created, read, listed and deleted at."""
        return self._manage_base_url

    @property
    def key_id(self) -> str | None:
        """The Key ID (token auth)."""
        return self._key_id

    @property
    def team_id(self) -> str | None:
        """The Team ID (token auth)."""
        return self._team_id

    def __repr__(self) -> str:
        if self._signer is not None:
            creds = f"key_id={self._key_id!r}, team_id={self._team_id!r}"
        else:
            assert self._client_cert is not None
            creds = f"cert={self._client_cert.subject!r}"
        return (
            f"APNs(topic={self._topic!r}, environment={self._environment!r}, auth={self.auth!r}, {creds}, "
            f"base_url={self._base_url!r})"
        )


def _bearer(request: PreparedRequest) -> str:
    """The provider token ``request`` carries (``""`` if none)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _bundle_id(topic: object) -> str:
    # The topic is sent as the apns-topic header, so it is checked like every header value (RFC 9110
    # §5.5: no CR, LF or NUL); Apple's bundle IDs are letters, digits, "-" and "." (an MDM topic is
    # "com.apple.mgmt.External.<UUID>"), and "_" is tolerated for old identifiers.
    if not isinstance(topic, str) or not _BUNDLE_ID.fullmatch(topic):
        raise ConfigurationError(
            f"APNs topic must be the app's bundle ID (letters, digits, '.', '-', '_'), got {topic!r}"
        )
    return topic


def _base_url(
    base_url: object, environment: str, defaults: Mapping[str, str] = BASE_URLS, name: str = "base_url"
) -> str:
    if base_url is None:
        return defaults[environment]
    return service_url("APNs", name, base_url)


def _ten_alnum(name: str, value: object) -> str:
    if value is None:
        raise ConfigurationError(f"APNs {name} is required with key= (token auth)")
    if not isinstance(value, str) or not _TEN_ALNUM.fullmatch(value):
        what = "Key ID of the .p8 key" if name == "key_id" else "Team ID of the developer account"
        raise ConfigurationError(f"APNs {name} must be the 10-letter-or-digit {what}, got {value!r}")
    return value


def _describe(source: object) -> str:
    """How to name a key source in an error without echoing key material."""
    if isinstance(source, os.PathLike):
        return repr(os.fspath(source))
    # A str without PEM armour may still be key material (bare base64 or hex), which has no "." in it;
    # echo it only when it looks like a file name, with an extension.
    if isinstance(source, str) and len(source) < 256 and "\n" not in source and Path(source).suffix:
        return repr(source)
    return "(the given string, which is neither PEM text nor an existing file)"


def _read_source(source: object, what: str) -> bytes:
    """The bytes of a key or certificate given as bytes, PEM text or a file path."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, str) and source.lstrip().startswith("-----BEGIN"):
        try:
            return source.encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigurationError(f"{what} PEM text contains a lone surrogate, which is not valid text") from None
    if isinstance(source, (str, os.PathLike)):
        try:
            # expanduser() raises RuntimeError for "~nosuchuser/..." (no such home directory).
            path = Path(os.fspath(source)).expanduser()
            return path.read_bytes()
        except FileNotFoundError:
            raise ConfigurationError(f"{what} file not found: {_describe(source)}") from None
        except (OSError, ValueError, RuntimeError, TypeError) as exc:
            # ValueError covers a NUL in the path and UnicodeEncodeError (a lone surrogate in it);
            # TypeError an os.PathLike whose __fspath__ gives bytes.
            raise ConfigurationError(f"cannot read {what} file {_describe(source)}: {read_error_reason(exc)}") from None
    raise ConfigurationError(f"{what} must be a file path, PEM text or bytes, got {type(source).__name__}")


def _load_private_key(data: bytes, what: str, password: bytes | None = None) -> object:
    # Errors are re-raised "from None": the library's messages are safe, but nothing should carry the
    # key bytes into a traceback.
    try:
        if data.lstrip().startswith(_PEM_MARK):
            return serialization.load_pem_private_key(data, password)
        return serialization.load_der_private_key(data, password)
    except TypeError:
        if password is None:
            raise ConfigurationError(f"{what} is password-protected; give its password or an unencrypted key") from None
        raise ConfigurationError(f"{what} is not encrypted, but a password was given") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigurationError(
            f"{what} is not a readable PEM or DER private key (or the password is wrong)"
        ) from None


def _load_signing_key(source: KeySource) -> ec.EllipticCurvePrivateKey:
    what = "APNs key"
    key = _load_private_key(_read_source(source, what), what)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigurationError(f"{what} must be an EC P-256 key (an Apple .p8 file), got {type(key).__name__}")
    if not isinstance(key.curve, ec.SECP256R1):
        raise ConfigurationError(f"{what} must be on curve P-256 (ES256), got {key.curve.name}")
    return key


def _load_client_cert(cert: KeySource, cert_key: KeySource | None, password: str | bytes | None) -> ClientCertificate:
    what = "APNs certificate"
    if password is not None and not isinstance(password, (str, bytes)):
        raise ConfigurationError(f"APNs cert_password must be str or bytes, got {type(password).__name__}")
    try:
        secret = password.encode("utf-8") if isinstance(password, str) else password
    except UnicodeEncodeError:
        raise ConfigurationError("APNs cert_password contains a lone surrogate, which is not valid text") from None
    data = _read_source(cert, what)
    key: object = None
    extra: list[x509.Certificate] = []
    if data.lstrip().startswith(_PEM_MARK):
        try:
            leaf, *extra = x509.load_pem_x509_certificates(data)
        except (ValueError, UnsupportedAlgorithm):
            raise ConfigurationError(f"{what} PEM holds no readable certificate") from None
        if cert_key is None and b"PRIVATE KEY-----" in data:
            key = _load_private_key(data, f"{what} private key", secret)
    else:
        try:
            p12_key, p12_cert, extra = pkcs12.load_key_and_certificates(data, secret)
        except (ValueError, UnsupportedAlgorithm):
            raise ConfigurationError(
                f"{what} is not a readable PKCS#12 (.p12) file, or cert_password is wrong"
            ) from None
        if p12_cert is None:
            raise ConfigurationError(f"{what} .p12 holds no certificate")
        leaf, key = p12_cert, p12_key
    if cert_key is not None:
        key = _load_private_key(_read_source(cert_key, "APNs cert_key"), "APNs cert_key", secret)
    if key is None:
        raise ConfigurationError(f"{what} has no private key: pass cert_key= or a PEM/.p12 that includes it")
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise ConfigurationError(f"{what} key must be RSA or EC, got {type(key).__name__}")
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, spki) != leaf.public_key().public_bytes(
        serialization.Encoding.DER, spki
    ):
        raise ConfigurationError(f"{what} and its private key do not match")
    expires = leaf.not_valid_after_utc
    # An expired certificate fails the TLS handshake with an unhelpful alert; say so now instead.
    if expires <= datetime.now(timezone.utc):
        raise ConfigurationError(f"{what} expired on {expires.date().isoformat()}")
    chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, *extra))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return ClientCertificate(
        cert_pem=chain, key_pem=key_pem, subject=leaf.subject.rfc4514_string(), not_valid_after=expires
    )
