"""``FCM``: the FCM HTTP v1 provider configuration, which is also the provider.

Credentials are resolved and checked when ``FCM(...)`` is built, so a bad service account fails at
start-up with a ``ConfigurationError`` that names the bad field and never shows the key. The OAuth2
access token is *not* fetched here, nor by ``prepare``: fetching it is I/O, so the auth layer does it
at send time from ``FCM.credentials``, and the prepared request says so with ``credential_pending``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import ssl
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import google.auth
import google.auth.credentials
import google.auth.exceptions
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from google.oauth2 import service_account as google_service_account

from unipush._credentials import CredentialStore
from unipush._errors import ConfigurationError, ValidationError
from unipush._model import Notification
from unipush._results import Outcome, PreparedRequest
from unipush._targets import Target
from unipush._validate import check_text, read_error_reason, service_url
from unipush.fcm._decode import parse_response
from unipush.fcm._encode import MessageParts, message_parts, render
from unipush.fcm._oauth import AccessTokenSource
from unipush.fcm._target import FcmCondition, FcmDevice, FcmTopic
from unipush.fcm._topics import IID_BASE_URL

__all__ = ["DEFAULT_BASE_URL", "FCM", "FCM_SCOPE"]

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
"""The OAuth2 scope ``messages:send`` needs (``cloud-platform`` also works, but is far broader)."""

DEFAULT_BASE_URL = "https://fcm.googleapis.com"

# A project id or number becomes one URL path segment; refuse anything that would change the path.
_PROJECT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:_-]*")

ServiceAccountSource = str | os.PathLike[str] | Mapping[str, Any]
"""A service account key: a path to the JSON file, the JSON text itself, or the parsed dict."""


class FCM:
    """Firebase Cloud Messaging (HTTP v1): credentials, project and endpoint.

    Give exactly one source of credentials, or none to use Application Default Credentials:

    * ``service_account``: the JSON key of a service account: a path (``str`` or ``Path``), the JSON
      text, or the parsed ``dict``. The project comes from its ``project_id``.
    * ``credentials``: any ``google.auth.credentials.Credentials`` (workload identity, impersonation...).
      Give ``project_id`` unless the credentials carry one.
    * neither: ``google.auth.default()`` is asked now (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's
      application-default login, or the metadata server on Google Cloud).

    Args:
        service_account: a service account key (see above).
        credentials: google-auth credentials (see above).
        project_id: the Firebase project id or number; overrides the one found in the credentials.
        base_url: the FCM endpoint; defaults to ``https://fcm.googleapis.com``. Point it at a proxy
            or the unipush sandbox.
        token_uri: the OAuth2 token endpoint to use instead of the one in the credentials (the
            sandbox's token endpoint, for example).
        iid_base_url: the Instance ID host that topic subscriptions go to
            (``client.subscribe_to_topic``). Defaults to ``https://iid.googleapis.com`` with Google's
            ``base_url``, and to ``base_url`` itself when that is another host (the sandbox, or a proxy that
            serves both).

    Raises:
        ConfigurationError: the credentials are missing or unusable, or no project id can be found.
    """

    def __init__(
        self,
        *,
        service_account: ServiceAccountSource | None = None,
        credentials: google.auth.credentials.Credentials | None = None,
        project_id: str | None = None,
        base_url: str | None = None,
        token_uri: str | None = None,
        iid_base_url: str | None = None,
    ) -> None:
        if service_account is not None and credentials is not None:
            raise ConfigurationError("FCM: pass either service_account or credentials, not both")
        if token_uri is not None:
            _check_url("token_uri", token_uri)
        self._base_url = _check_url("base_url", base_url if base_url is not None else DEFAULT_BASE_URL).rstrip("/")
        if iid_base_url is None:
            iid_base_url = IID_BASE_URL if self._base_url == DEFAULT_BASE_URL else self._base_url
        self._iid_base_url = _check_url("iid_base_url", iid_base_url).rstrip("/")
        self._service_account_email: str | None = None
        # Public facts that tell two service-account keys apart (the key id, the token endpoint): part
        # of the credential store key, never the private key.
        identity = token_uri or ""

        found_project: str | None
        if service_account is not None:
            info = _load_service_account(service_account, need_token_uri=token_uri is None)
            self._credentials = _service_account_credentials(info, token_uri)
            self._service_account_email = info["client_email"]
            identity = f"{token_uri or info.get('token_uri', '')} {info.get('private_key_id', '')}"
            found_project = info.get("project_id") if isinstance(info.get("project_id"), str) else None
        elif credentials is not None:
            if not isinstance(credentials, google.auth.credentials.Credentials):
                raise ConfigurationError(
                    f"FCM: credentials must be a google.auth.credentials.Credentials, got {type(credentials).__name__}"
                )
            self._credentials = _prepare_credentials(credentials, token_uri)
            found_project = _project_of(self._credentials)
        else:
            self._credentials, found_project = _application_default(token_uri)

        if self._service_account_email is None:
            email = getattr(self._credentials, "service_account_email", None)
            self._service_account_email = email if isinstance(email, str) else None
        project: object = project_id if project_id is not None else found_project
        if project is None:
            raise ConfigurationError(
                "FCM: no project id: pass project_id=..., or use credentials that carry one "
                "(a service account key has project_id; ADC reads GOOGLE_CLOUD_PROJECT)"
            )
        if not isinstance(project, str) or not _PROJECT_ID.fullmatch(project):
            raise ConfigurationError(f"FCM: project_id must be a Firebase project id or number, got {project!r}")
        self._project_id = project
        self._url = f"{self._base_url}/v1/projects/{project}/messages:send"
        self._token_source: AccessTokenSource | None = None
        self._store: CredentialStore | None = None
        self._identity = identity
        # The last notification's message without its recipient: (notification, to one device, second,
        # parts). A batch sends one notification to many targets; see prepare. Replaced whole, so a
        # reader on another thread sees an old entry or a new one, both valid for their key.
        self._last_parts: tuple[Notification, bool, int, MessageParts] | None = None

    def use_credential_store(self, store: CredentialStore) -> None:
        """Share the OAuth2 access token through ``store`` (``PushClient(credential_store=...)`` calls this).

        The store key is ``fcm:<service account email>:<hash of token URI and scopes>``; credentials
        without a service-account email (user credentials, a metadata server) keep their token in this
        process. Takes effect for the token source made on the next first send.
        """
        self._store = store
        self._token_source = None

    @property
    def store_key(self) -> str | None:
        """The access token's key in a credential store, or ``None`` when it is not shared."""
        email = self._service_account_email
        if email is None:
            return None
        digest = hashlib.sha256(f"{self._identity} {FCM_SCOPE}".encode()).hexdigest()[:16]
        return f"fcm:{email}:{digest}"

    @property
    def name(self) -> str:
        """The provider name, ``"fcm"``."""
        return "fcm"

    # A class attribute, not a property: ``unipush.target_from_dict`` reads it from the entry point's
    # class without building the provider (src/unipush/_serialize.py).
    target_types: tuple[type[Target], ...] = (FcmDevice, FcmTopic, FcmCondition)
    """``FcmDevice``, ``FcmTopic`` and ``FcmCondition``."""

    @property
    def project_id(self) -> str:
        """The Firebase project the messages are sent from."""
        return self._project_id

    @property
    def base_url(self) -> str:
        """The FCM endpoint, without a trailing slash."""
        return self._base_url

    @property
    def iid_base_url(self) -> str:
        """The Instance ID host for topic subscriptions, without a trailing slash."""
        return self._iid_base_url

    @property
    def url(self) -> str:
        """The full ``messages:send`` URL."""
        return self._url

    @property
    def scopes(self) -> tuple[str, ...]:
        """The OAuth2 scopes requested for the access token."""
        return (FCM_SCOPE,)

    @property
    def credentials(self) -> google.auth.credentials.Credentials:
        """The google-auth credentials the auth layer refreshes to get the bearer token (not refreshed here)."""
        return self._credentials

    @property
    def service_account_email(self) -> str | None:
        """The service account's e-mail when the credentials have one (for logs and error messages)."""
        return self._service_account_email

    def prepare(self, notification: Notification, target: Target, *, now: datetime) -> PreparedRequest:
        """Render the ``messages:send`` request for ``target``.

        The ``authorization`` header is missing on purpose: the OAuth2 token is attached at send time
        (``credential_pending=True``), because fetching it is I/O.

        Raises:
            ValidationError: the target is not an FCM target, or the notification breaks an FCM rule.
            PayloadTooLargeError: the payload is over FCM's limit.
        """
        if not isinstance(target, (FcmDevice, FcmTopic, FcmCondition)):
            raise ValidationError("target", f"FCM cannot send to {type(target).__name__}")
        if now.utcoffset() is None:
            raise ValidationError("now", "must be a timezone-aware datetime")
        # Everything but the recipient depends on the notification, on whether the target is one device
        # and on now to the second (apns-expiration): rendered once for a batch, not once per target.
        # The notification is frozen (its mappings read-only), so its identity is a sound key.
        device = isinstance(target, FcmDevice)
        second = int(now.timestamp())
        last = self._last_parts
        if last is not None and last[0] is notification and last[1] is device and last[2] == second:
            parts = last[3]
        else:
            parts = message_parts(notification, target, now=now)
            self._last_parts = (notification, device, second, parts)
        payload, body = render(parts, target)
        return PreparedRequest(
            provider="fcm",
            target=target,
            method="POST",
            url=self._url,
            headers={
                "content-type": "application/json",
                # The Firebase Admin SDKs send this header on every FCM v1 call. Sending it too keeps
                # the answers (in particular the FcmError details the decoder reads) in the same format
                # they get.
                "x-goog-api-format-version": "2",
            },
            body=body,
            payload=payload,
            credential_pending=True,
        )

    def parse(self, request: PreparedRequest, status_code: int, headers: Mapping[str, str], body: bytes) -> Outcome:
        """Decode FCM's answer to ``request`` (see ``unipush.fcm._decode``)."""
        return parse_response(status_code, headers, body, device=isinstance(request.target, FcmDevice))

    async def authorize(
        self, request: PreparedRequest, *, refresh: bool, ssl_context: ssl.SSLContext
    ) -> PreparedRequest:
        """The ``Provider`` auth hook: attach the cached OAuth2 access token (fetched on first use).

        ``refresh`` (after a plain 401) asks for a new token unless another send already replaced the
        one ``request`` carried, so a burst of 401s causes one refresh.
        """
        source = self._token_source
        if source is None:
            source = self._token_source = AccessTokenSource(
                self._credentials, verify=ssl_context, store=self._store, store_key=self.store_key
            )
        stale = None
        if refresh:
            stale = request.headers.get("authorization", "").removeprefix("Bearer ") or None
            if stale is None:
                stale = source.current
        token = await source.token_async(stale=stale)
        return request.with_headers({"authorization": f"Bearer {token}"})

    @property
    def token_source(self) -> AccessTokenSource | None:
        """The OAuth2 token cache (created on the first send), for inspection."""
        return self._token_source

    def __repr__(self) -> str:
        who = self._service_account_email or type(self._credentials).__name__
        return f"FCM(project_id={self._project_id!r}, credentials={who!r}, base_url={self._base_url!r})"


def _check_url(field: str, url: object) -> str:
    return service_url("FCM:", field, url)


def _load_service_account(source: object, *, need_token_uri: bool) -> dict[str, Any]:
    """Read a service account key from a path, JSON text or a mapping, and check its fields."""
    if isinstance(source, Mapping):
        info: object = dict(source)
        origin = "the service_account mapping"
    elif isinstance(source, str) and source.lstrip().startswith("{"):
        origin = "the service_account JSON text"
        info = _parse_json(source, origin)
    elif isinstance(source, (str, os.PathLike)):
        origin = f"service account file {os.fspath(source)!r}"
        try:
            # expanduser() like APNs(key=...): "~/sa.json" works, "~nosuchuser/..." is RuntimeError.
            path = Path(os.fspath(source)).expanduser()
            text = path.read_text(encoding="utf-8")
        except (OSError, ValueError, RuntimeError, TypeError) as exc:
            # ValueError: a NUL in the path, a lone surrogate that cannot be a file name
            # (UnicodeEncodeError) or a file that is not UTF-8 (UnicodeDecodeError).
            reason = read_error_reason(exc)
            raise ConfigurationError(f"FCM: cannot read {origin}: {reason}") from None
        info = _parse_json(text, origin)
    else:
        raise ConfigurationError(
            f"FCM: service_account must be a path, JSON text or a dict, got {type(source).__name__}"
        )
    if not isinstance(info, dict):
        raise ConfigurationError(f"FCM: {origin} must hold a JSON object, got {type(info).__name__}")
    _check_service_account(info, origin, need_token_uri=need_token_uri)
    return info


def _parse_json(text: str, origin: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        # Only the position: the text holds a private key and must never reach an error message.
        raise ConfigurationError(f"FCM: {origin} is not valid JSON (line {exc.lineno}, column {exc.colno})") from None


def _check_service_account(info: Mapping[str, Any], origin: str, *, need_token_uri: bool) -> None:
    kind = info.get("type")
    if kind != "service_account":
        if kind is None:
            raise ConfigurationError(f"FCM: {origin} has no 'type' field; expected a service account key")
        raise ConfigurationError(
            f"FCM: {origin} has type {kind!r}, expected 'service_account' "
            "(for other credentials pass credentials=... or use Application Default Credentials)"
        )
    # token_uri is where google-auth trades the signed JWT for an access token; an explicit
    # FCM(token_uri=...) replaces it, and then the key need not have one.
    required = ("client_email", "private_key", "token_uri") if need_token_uri else ("client_email", "private_key")
    for field in required:
        value = info.get(field)
        if not isinstance(value, str) or not value.strip():
            state = "is missing" if value is None else "must be a non-empty string"
            raise ConfigurationError(f"FCM: {origin}: field {field!r} {state}")
    for field, value in info.items():
        # google-auth encodes these into the signed JWT grant at the first send; text that is not
        # valid Unicode would fail there, inside a send, instead of here.
        if isinstance(value, str):
            try:
                check_text(field, value)
            except ValidationError as exc:
                raise ConfigurationError(f"FCM: {origin}: field {field!r} {exc.message}") from None
    if need_token_uri:
        _check_url(f"{origin}: field 'token_uri'", info["token_uri"])
    try:
        key = load_pem_private_key(info["private_key"].encode("utf-8"), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # The key text (or cryptography's view of it) never goes into the message or the chain.
        raise ConfigurationError(f"FCM: {origin}: field 'private_key' is not an unencrypted PEM private key") from None
    if not isinstance(key, RSAPrivateKey):
        raise ConfigurationError(f"FCM: {origin}: field 'private_key' must be an RSA key (Google signs with RS256)")


def _service_account_credentials(info: Mapping[str, Any], token_uri: str | None) -> google.auth.credentials.Credentials:
    fields = dict(info)
    if token_uri is not None:
        fields["token_uri"] = token_uri
    try:
        credentials: google.auth.credentials.Credentials = google_service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            fields, scopes=[FCM_SCOPE]
        )
    except (ValueError, google.auth.exceptions.GoogleAuthError):
        raise ConfigurationError("FCM: google-auth could not build credentials from the service account key") from None
    return credentials


def _prepare_credentials(
    credentials: google.auth.credentials.Credentials, token_uri: str | None
) -> google.auth.credentials.Credentials:
    scoped: google.auth.credentials.Credentials = google.auth.credentials.with_scopes_if_required(  # type: ignore[no-untyped-call]
        credentials, [FCM_SCOPE]
    )
    if token_uri is None:
        return scoped
    if not isinstance(scoped, google.auth.credentials.CredentialsWithTokenUri):
        raise ConfigurationError(
            f"FCM: token_uri cannot be changed on {type(scoped).__name__} credentials (they have no token endpoint)"
        )
    changed: google.auth.credentials.Credentials = scoped.with_token_uri(token_uri)  # type: ignore[no-untyped-call]
    return changed


def _application_default(token_uri: str | None) -> tuple[google.auth.credentials.Credentials, str | None]:
    try:
        credentials, project = google.auth.default(scopes=[FCM_SCOPE])
    except google.auth.exceptions.GoogleAuthError as exc:
        raise ConfigurationError(
            "FCM: no credentials given and Application Default Credentials are not available. Pass "
            "service_account=... (a key file) or credentials=..., or set GOOGLE_APPLICATION_CREDENTIALS. "
            f"google-auth said: {exc}"
        ) from None
    prepared = _prepare_credentials(credentials, token_uri)
    return prepared, project if project is not None else _project_of(prepared)


def _project_of(credentials: google.auth.credentials.Credentials) -> str | None:
    project = getattr(credentials, "project_id", None)
    return project if isinstance(project, str) and project else None
