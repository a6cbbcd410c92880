"""The sandbox's FCM: an OAuth2 token endpoint and ``POST /v1/projects/<project>/messages:send``.

**Credentials.** At construction the emulator makes an RSA-2048 service-account key. The service-account
JSON is written on first access to ``service_account_path`` (or by ``write_credentials()``), because its
``token_uri`` must point at this emulator's ``/token`` and the server's port is known only after it
binds. ``google.oauth2.service_account.Credentials.from_service_account_file(path, scopes=[...])`` works
with it unchanged.

**Token endpoint** (``POST /token``, Google's OAuth 2.0 JWT bearer grant, RFC 7523): the form carries
``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` and ``assertion=<RS256 JWT>``. The JWT must be
signed by the service-account key (``kid``, when present, is its ``private_key_id``), ``iss`` is the
client email, ``aud`` is ``token_uri`` or Google's own token endpoint (google-auth always sends
``https://oauth2.googleapis.com/token``), ``scope`` is not empty, and ``iat``/``exp`` describe a token of at
most one hour around now. Errors are Google's: ``400 {"error": "invalid_grant" | "invalid_request" |
"unsupported_grant_type" | "invalid_scope", "error_description": ...}``. Success is
``{"access_token": "ya29...", "expires_in": 3599, "token_type": "Bearer"}``. A self-signed service-account
JWT (AIP-4111, google-auth's ``always_use_jwt_access``) is also accepted as a bearer token for sends.

**Send.** Checks run in the order Google's front end and FCM run them, and the first failure answers:

========  ==========================================  =========================================================
status    body (``google.rpc.Status``)                when
========  ==========================================  =========================================================
404       HTML "Not Found" page                       a path or method that is not ``POST .../messages:send``
401       ``UNAUTHENTICATED``, no FcmError            no bearer token, an unknown or expired one
403       ``PERMISSION_DENIED``, no FcmError          the token lacks the firebase.messaging / cloud-platform
                                                      scope, or the project is not this sandbox's
400       ``INVALID_ARGUMENT``, ``BadRequest`` only   the body is not a ``SendMessageRequest`` in proto3 JSON:
                                                      bad JSON, unknown names, wrong types, bad enums,
                                                      durations or timestamps, two targets (a oneof)
400       ``INVALID_ARGUMENT`` + FcmError             FCM's own rules: no target, reserved data keys, TTL over
          ``INVALID_ARGUMENT`` + ``BadRequest``       4 weeks, colour not ``#rrggbb``, topic characters,
                                                      condition syntax or more than 5 topics, ``android`` with
                                                      ``android_v2``, non-HTTPS webpush link, payload size
                                                      (4096 bytes; 2048 for topics and conditions), and a
                                                      registration token that cannot be one
404       ``NOT_FOUND`` + FcmError ``UNREGISTERED``   the token was ``invalidate()``-d
200       ``{"name": "projects/<p>/messages/<id>"}``  accepted (``validate_only``: ``.../fake_message_id``,
                                                      and nothing is recorded)
========  ==========================================  =========================================================

Proto3 JSON parsing accepts each field under its proto name (``collapse_key``) or its JSON name
(``collapseKey``), treats ``null`` as absent, takes enums by name or number, and reports every problem it
finds at once, as Google's parser does. The payload size counts the UTF-8 bytes of the keys and values
of ``message.data`` and ``message.notification`` (FCM's ErrorCode reference: "both the keys and the
values"), the same measure unipush's encoder applies.

Unknown but well-formed registration tokens are accepted, so users can send to any token. A
well-formed token is 32 to 4096 characters of ``[A-Za-z0-9_:-]`` (real ones are about 160, an instance
id, a colon and an ``APA91b...`` part: ``new_device()`` makes such tokens).

**Topics** (Instance ID server API, ``POST /iid/v1:batchAdd`` and ``/iid/v1:batchRemove``): the body is
``{"to": "/topics/<name>", "registration_tokens": [...]}`` (1 to 1,000 tokens), the credential the same bearer
token as for sends plus ``access_token_auth: true``. A refused call is ``{"error": "<CODE>"}`` (400
``INVALID_ARGUMENT`` for a malformed body, 401 ``UNAUTHENTICATED`` without ``access_token_auth``); otherwise 200
``{"results": [...]}``, one entry per token in order: ``{}``, ``NOT_FOUND`` (``invalidate()``-d),
``INVALID_ARGUMENT`` (not a token) or ``TOO_MANY_TOPICS`` (FCM's 2,000 topics per app instance). A send to a
topic is recorded under the topic and then once per live subscribed token; a condition reaches the tokens whose
topics satisfy it (parentheses first, then left to right, as FCM's topic guide says).

Faults (``fault_response``): 429 ``RESOURCE_EXHAUSTED``/``QUOTA_EXCEEDED``, 500 ``INTERNAL``, 503
``UNAVAILABLE`` and the other statuses of FCM's ErrorCode table; ``invalid_token`` is 404 ``UNREGISTERED``,
``bad_token`` 400 ``INVALID_ARGUMENT`` on the token, ``expired_credential`` a plain 401 ``UNAUTHENTICATED``.
Faults are meant for sends: ``accepts_fault()`` is False for the token endpoint, so that the server
can leave OAuth alone. Every error carries an ``x-unipush-sandbox-detail`` header that says in plain
words what was wrong (sandbox only).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import string
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from unipush.sandbox._faults import Fault
from unipush.sandbox._http import SandboxRequest, SandboxResponse, json_response
from unipush.sandbox._inbox import Delivery, Inbox

__all__ = ["FcmEmulator"]

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
"""The OAuth scope for FCM HTTP v1."""

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
"""The broad Google Cloud scope, which FCM accepts as well."""

ACCESS_TOKEN_LIFETIME = 3599
"""Seconds an access token lives (``expires_in``), as Google's token endpoint answers."""

MAX_TTL_SECONDS = 2_419_200
"""FCM: ``android.ttl`` is at most 4 weeks."""

PAYLOAD_LIMIT = 4096
"""FCM ErrorCode reference: the payload limit of a message to a token."""

TOPIC_PAYLOAD_LIMIT = 2048
"""FCM ErrorCode reference: the payload limit of a message to a topic (applied to conditions as well)."""

MAX_CONDITION_TOPICS = 5
"""FCM topic messaging guide: a condition may name at most five topics."""

DEFAULT_PROJECT_ID = "unipush-sandbox"
"""The sandbox's Firebase project id."""

CLIENT_EMAIL = "sandbox@unipush-sandbox.iam.gserviceaccount.com"
"""The sandbox service account's email (the JWT grant's ``iss``)."""

MAX_TOPIC_TOKENS = 1000
"""Instance ID server API: at most 1,000 registration tokens per batchAdd / batchRemove."""

MAX_TOPICS_PER_DEVICE = 2000
"""FCM topic messaging guide: one app instance can be subscribed to at most 2,000 topics."""

DETAIL_HEADER = "x-unipush-sandbox-detail"
"""A plain-words explanation on every error response (sandbox only; FCM does not send it)."""

# google-auth signs every grant for Google's endpoint whatever token_uri says; these are the audiences
# Google's token service answers to.
_GOOGLE_TOKEN_AUDIENCES = frozenset(
    {
        "https://oauth2.googleapis.com/token",
        "https://www.googleapis.com/oauth2/v4/token",
        "https://accounts.google.com/o/oauth2/token",
    }
)
_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_TIME_SKEW = 300  # seconds of clock skew tolerated on JWT iat/exp
_SEND_PATH = re.compile(r"/v1/projects/(?P<project>[^/]+)/messages:send")
_IID_PATHS = {"/iid/v1:batchAdd": "subscribe", "/iid/v1:batchRemove": "unsubscribe"}
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_:\-]{32,4096}")
_TOPIC_NAME = re.compile(r"[a-zA-Z0-9\-_.~%]+")
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
_DURATION = re.compile(r"(?P<value>-?\d+(?:\.\d{1,9})?)s")
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)")
_RESERVED_KEYS = frozenset({"from", "message_type"})
_RESERVED_PREFIXES = ("google.", "gcm.")
_URLSAFE = string.ascii_letters + string.digits + "-_"

_FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_INVALID_TOKEN_MESSAGE = "The registration token is not a valid FCM registration token"  # noqa: S105 - prose
_HELP = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_BAD_CREDENTIALS = "Request had invalid authentication credentials. " + _HELP
_NO_CREDENTIALS = "Request is missing required authentication credential. " + _HELP
_SHORT_LIVED = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)

# google.rpc.Code names and FcmError codes for injected ``status`` faults (FCM ErrorCode reference).
_FAULTS: Mapping[int, tuple[str, str | None, str]] = {
    400: ("INVALID_ARGUMENT", "INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", None, _BAD_CREDENTIALS),
    403: ("PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch"),
    404: ("NOT_FOUND", "UNREGISTERED", "Requested entity was not found."),
    409: ("ABORTED", None, "The operation was aborted."),
    429: ("RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "Quota exceeded for the project's downstream messages."),
    500: ("INTERNAL", "INTERNAL", "Internal error encountered."),
    501: ("UNIMPLEMENTED", None, "Operation is not implemented, or supported, or enabled."),
    503: ("UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable."),
    504: ("DEADLINE_EXCEEDED", None, "The request deadline was exceeded."),
}


# --------------------------------------------------------------------------------------------------
# The v1 SendMessageRequest schema, for proto3 JSON parsing (names as in the FCM v1 reference).


@dataclass(frozen=True)
class _Scalar:
    label: str  # how Google's parser names the type in "Invalid value at ... (<label>)"


@dataclass(frozen=True)
class _Enum:
    type_name: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class _Map:
    """map<string, string>."""

    entry: str


@dataclass(frozen=True)
class _Struct:
    """google.protobuf.Struct: any JSON object."""


@dataclass(frozen=True)
class _Repeated:
    item: _Type


@dataclass(frozen=True)
class _Message:
    type_name: str
    fields: Mapping[str, _Type]
    json_names: Mapping[str, str] = field(init=False)

    def __post_init__(self) -> None:
        names = {_camel(name): name for name in self.fields}
        names.update({name: name for name in self.fields})
        object.__setattr__(self, "json_names", names)


_Type = _Scalar | _Enum | _Map | _Struct | _Repeated | _Message

_STRING = _Scalar("TYPE_STRING")
_BOOL = _Scalar("TYPE_BOOL")
_INT32 = _Scalar("TYPE_INT32")
_FLOAT = _Scalar("TYPE_FLOAT")
_DURATION_T = _Scalar("type.googleapis.com/google.protobuf.Duration")
_TIMESTAMP_T = _Scalar("type.googleapis.com/google.protobuf.Timestamp")
_V1 = "type.googleapis.com/google.firebase.fcm.v1."


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _message(type_name: str, /, **fields: _Type) -> _Message:
    return _Message(_V1 + type_name, fields)


_NOTIFICATION = _message("Notification", title=_STRING, body=_STRING, image=_STRING)
_FCM_OPTIONS = _message("FcmOptions", analytics_label=_STRING)
_COLOR_T = _message("Color", red=_FLOAT, green=_FLOAT, blue=_FLOAT, alpha=_FLOAT)
_LIGHT_SETTINGS = _message(
    "LightSettings", color=_COLOR_T, light_on_duration=_DURATION_T, light_off_duration=_DURATION_T
)
_ANDROID_NOTIFICATION_FIELDS: dict[str, _Type] = {
    "title": _STRING,
    "body": _STRING,
    "icon": _STRING,
    "color": _STRING,
    "sound": _STRING,
    "tag": _STRING,
    "click_action": _STRING,
    "body_loc_key": _STRING,
    "body_loc_args": _Repeated(_STRING),
    "title_loc_key": _STRING,
    "title_loc_args": _Repeated(_STRING),
    "channel_id": _STRING,
    "ticker": _STRING,
    "sticky": _BOOL,
    "event_time": _TIMESTAMP_T,
    "local_only": _BOOL,
    "notification_priority": _Enum(
        _V1 + "AndroidNotification.NotificationPriority",
        (
            "PRIORITY_UNSPECIFIED",
            "PRIORITY_MIN",
            "PRIORITY_LOW",
            "PRIORITY_DEFAULT",
            "PRIORITY_HIGH",
            "PRIORITY_MAX",
        ),
    ),
    "default_sound": _BOOL,
    "default_vibrate_timings": _BOOL,
    "default_light_settings": _BOOL,
    "vibrate_timings": _Repeated(_DURATION_T),
    "visibility": _Enum(
        _V1 + "AndroidNotification.Visibility", ("VISIBILITY_UNSPECIFIED", "PRIVATE", "PUBLIC", "SECRET")
    ),
    "notification_count": _INT32,
    "light_settings": _LIGHT_SETTINGS,
    "image": _STRING,
}
_ANDROID_NOTIFICATION = _message(
    "AndroidNotification",
    **_ANDROID_NOTIFICATION_FIELDS,
    proxy=_Enum(_V1 + "AndroidNotification.Proxy", ("PROXY_UNSPECIFIED", "ALLOW", "DENY", "IF_PRIORITY_LOWERED")),
    bypass_proxy_notification=_BOOL,
)
_ANDROID_COMMON: dict[str, _Type] = {
    "collapse_key": _STRING,
    "ttl": _DURATION_T,
    "restricted_package_name": _STRING,
    "data": _Map("AndroidConfig.DataEntry"),
    "fcm_options": _message("AndroidFcmOptions", analytics_label=_STRING),
    "direct_boot_ok": _BOOL,
    "bandwidth_constrained_ok": _BOOL,
    "restricted_satellite_ok": _BOOL,
}
_ANDROID = _message(
    "AndroidConfig",
    **_ANDROID_COMMON,
    priority=_Enum(_V1 + "AndroidMessagePriority", ("NORMAL", "HIGH")),
    notification=_ANDROID_NOTIFICATION,
)
_ANDROID_V2 = _message(
    "AndroidConfigV2",
    **_ANDROID_COMMON,
    background_sync=_message("BackgroundSync"),
    remote_notification=_message(
        "RemoteNotification",
        mutable_content=_BOOL,
        use_as_v1_data_message=_BOOL,
        notification=_message("AndroidNotificationV2", **_ANDROID_NOTIFICATION_FIELDS, id=_INT32),
    ),
)
_APNS = _message(
    "ApnsConfig",
    headers=_Map("ApnsConfig.HeadersEntry"),
    payload=_Struct(),
    fcm_options=_message("ApnsFcmOptions", analytics_label=_STRING, image=_STRING),
    live_activity_token=_STRING,
)
_WEBPUSH = _message(
    "WebpushConfig",
    headers=_Map("WebpushConfig.HeadersEntry"),
    data=_Map("WebpushConfig.DataEntry"),
    notification=_Struct(),
    fcm_options=_message("WebpushFcmOptions", link=_STRING, analytics_label=_STRING),
)
_MESSAGE = _message(
    "Message",
    name=_STRING,
    data=_Map("Message.DataEntry"),
    notification=_NOTIFICATION,
    android=_ANDROID,
    android_v2=_ANDROID_V2,
    webpush=_WEBPUSH,
    apns=_APNS,
    fcm_options=_FCM_OPTIONS,
    token=_STRING,
    topic=_STRING,
    condition=_STRING,
    fid=_STRING,
)
_REQUEST = _message("SendMessageRequest", message=_MESSAGE, validate_only=_BOOL)
_TARGETS = ("token", "topic", "condition", "fid")  # the Message oneof "target"


@dataclass
class _Violation:
    field: str | None
    description: str


@dataclass
class _Parser:
    """proto3 JSON → a plain dict under proto field names, collecting Google-style violations."""

    violations: list[_Violation] = field(default_factory=list)

    def fail(self, path: str, label: str, value: object) -> None:
        if isinstance(value, dict):
            shown = "Starting an object on a scalar field"
        else:
            shown = json.dumps(value, ensure_ascii=False)
        self.violations.append(_Violation(path or None, f"Invalid value at '{path}' ({label}), {shown}"))

    def message(self, schema: _Message, value: object, path: str) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.fail(path, schema.type_name, value)
            return None
        out: dict[str, Any] = {}
        oneof: str | None = None
        for key, item in value.items():
            name = schema.json_names.get(key)
            where = f" at '{path}'" if path else ""
            if name is None:
                self.violations.append(
                    _Violation(
                        path or None, f'Invalid JSON payload received. Unknown name "{key}"{where}: Cannot find field.'
                    )
                )
                continue
            if item is None:  # proto3 JSON: null means "not set"
                continue
            kind = schema.fields[name]
            if isinstance(item, list) and not isinstance(kind, _Repeated):
                self.violations.append(
                    _Violation(
                        path or None,
                        f'Invalid JSON payload received. Unknown name "{key}"{where}: '
                        "Proto field is not repeating, cannot start list.",
                    )
                )
                continue
            if schema is _MESSAGE and name in _TARGETS:
                # token/topic/condition/fid are one oneof in the Message proto: a second one cannot be set.
                if oneof is not None:
                    self.violations.append(
                        _Violation(
                            path or None,
                            f"Invalid JSON payload received. Oneof field 'target' is already set. Cannot set '{key}'",
                        )
                    )
                    continue
                oneof = name
            child = f"{path}.{name}" if path else name
            parsed = self.value(kind, item, child)
            if parsed is not None:
                out[name] = parsed
        return out

    def value(self, kind: _Type, value: object, path: str) -> Any:
        if isinstance(kind, _Message):
            return self.message(kind, value, path)
        if isinstance(kind, _Repeated):
            if not isinstance(value, list):
                self.fail(path, _label(kind.item), value)
                return None
            items = [self.value(kind.item, item, f"{path}[{i}]") for i, item in enumerate(value)]
            return [item for item in items if item is not None]
        if isinstance(kind, _Map):
            if not isinstance(value, dict):
                self.fail(path, _V1 + kind.entry, value)
                return None
            entries: dict[str, str] = {}
            for i, (key, item) in enumerate(value.items()):
                if isinstance(item, str):
                    entries[key] = item
                else:  # map<string, string>: values must be JSON strings
                    self.fail(f"{path}[{i}].value", _STRING.label, item)
            return entries
        if isinstance(kind, _Struct):
            if not isinstance(value, dict):
                self.fail(path, "type.googleapis.com/google.protobuf.Struct", value)
                return None
            return value
        if isinstance(kind, _Enum):
            if isinstance(value, str) and value in kind.values:
                return value
            if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(kind.values):
                return kind.values[value]
            self.fail(path, kind.type_name, value)
            return None
        return self.scalar(kind, value, path)

    def scalar(self, kind: _Scalar, value: object, path: str) -> Any:
        if kind is _STRING:
            ok = isinstance(value, str)
        elif kind is _BOOL:
            ok = isinstance(value, bool)
        elif kind is _INT32:
            ok = _as_int32(value) is not None
            value = _as_int32(value) if ok else value
        elif kind is _FLOAT:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif kind is _DURATION_T:
            match = _DURATION.fullmatch(value) if isinstance(value, str) else None
            ok = match is not None
            if match is not None:
                value = Decimal(match["value"])
        else:  # timestamp
            ok = isinstance(value, str) and _TIMESTAMP.fullmatch(value) is not None
        if not ok:
            self.fail(path, kind.label, value)
            return None
        return value


def _label(kind: _Type) -> str:
    if isinstance(kind, _Scalar):
        return kind.label
    if isinstance(kind, (_Enum, _Message)):
        return kind.type_name
    return "TYPE_MESSAGE"


def _as_int32(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        value = int(value)
    if isinstance(value, int) and -(2**31) <= value < 2**31:
        return value
    return None


# --------------------------------------------------------------------------------------------------


class _Reject(Exception):
    """Internal: an answer other than success."""

    def __init__(self, response: SandboxResponse) -> None:
        super().__init__(response.status)
        self.response = response


class FcmEmulator:
    """FCM HTTP v1 and its OAuth2 token endpoint for the sandbox, with its own service account.

    Args:
        inbox: where accepted messages are recorded.
        directory: where ``service-account.json`` is written (created if missing).
        base_url_getter: returns the server's ``https://127.0.0.1:<port>`` once it is bound.
        clock: seconds since the epoch; injectable for tests of token expiry.
        project_id: the Firebase project id sends must name.

    Attributes:
        project_id: the project id (``unipush-sandbox``); ``project_number`` is accepted as well.
        client_email: the service account's email.
        private_key_id: the service-account key id (the JWT ``kid``).
        token_requests: how many requests reached the token endpoint.
        topic_requests: how many requests reached ``iid/v1:batchAdd`` / ``:batchRemove``.
    """

    name = "fcm"

    def __init__(
        self,
        inbox: Inbox,
        directory: Path,
        base_url_getter: Callable[[], str],
        *,
        clock: Callable[[], float] = time.time,
        project_id: str = DEFAULT_PROJECT_ID,
    ) -> None:
        self._inbox = inbox
        self._directory = directory
        self._base_url = base_url_getter
        self._clock = clock
        self.project_id = project_id
        self.project_number = str(secrets.randbelow(9 * 10**11) + 10**11)
        self.client_email = CLIENT_EMAIL
        self.client_id = str(secrets.randbelow(9 * 10**20) + 10**20)
        self.private_key_id = secrets.token_hex(20)
        # RSA-2048 generation takes a few tens of milliseconds: fine once per sandbox.
        self._private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._public_key = self._private_key.public_key()
        directory.mkdir(parents=True, exist_ok=True)
        self._path: Path | None = None
        self.token_requests = 0
        self.topic_requests = 0
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[float, frozenset[str]]] = {}  # access token -> (expires at, scopes)
        self._expired: set[str] = set()
        self._self_signed: dict[str, tuple[float, frozenset[str]]] = {}
        self._dead: set[str] = set()
        # registration token -> the topics it is subscribed to (batchAdd / batchRemove); insertion order
        # is subscription order, so a topic send reaches devices in a stable order.
        self._device_topics: dict[str, set[str]] = {}

    def __repr__(self) -> str:
        return f"FcmEmulator(project_id={self.project_id!r}, client_email={self.client_email!r})"

    # ------------------------------------------------------------------ credentials

    @property
    def private_key(self) -> rsa.RSAPrivateKey:
        """The service account's RSA key."""
        return self._private_key

    @property
    def token_uri(self) -> str:
        """This emulator's OAuth2 token endpoint (needs the server to be bound)."""
        return self._base_url().rstrip("/") + "/token"

    @property
    def service_account_info(self) -> dict[str, str]:
        """The service-account JSON document, as ``Credentials.from_service_account_info`` takes it."""
        pem = self._private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii")
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": self.private_key_id,
            "private_key": pem,
            "client_email": self.client_email,
            "client_id": self.client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
            + self.client_email.replace("@", "%40"),
            "universe_domain": "googleapis.com",
        }

    @property
    def service_account_path(self) -> Path:
        """``service-account.json`` in the sandbox directory, written on first access."""
        if self._path is None:
            return self.write_credentials()
        return self._path

    def write_credentials(self) -> Path:
        """(Re)write ``service-account.json`` now; call it once the server is bound. Returns the path."""
        path = self._directory / "service-account.json"
        document = json.dumps(self.service_account_info, indent=2).encode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(document)
        self._path = path
        return path

    def mint_access_token(self, scopes: Sequence[str] = (FCM_SCOPE,)) -> str:
        """An access token issued directly, without the OAuth round trip (for plain-HTTP tests)."""
        token = "ya29." + "".join(secrets.choice(_URLSAFE) for _ in range(120))
        with self._lock:
            self._tokens[token] = (self._clock() + ACCESS_TOKEN_LIFETIME, frozenset(scopes))
        return token

    def expire_tokens(self) -> None:
        """Make every access token issued so far invalid: the next send with one gets 401."""
        with self._lock:
            self._expired.update(self._tokens)
            self._expired.update(self._self_signed)
            self._tokens.clear()
            self._self_signed.clear()

    # ------------------------------------------------------------------ devices

    def new_device(self) -> str:
        """A fresh registration token that looks like a real one (instance id ``:APA91b...``)."""
        instance = "".join(secrets.choice(_URLSAFE) for _ in range(22))
        rest = "".join(secrets.choice(_URLSAFE) for _ in range(134))
        return f"{instance}:APA91b{rest}"

    def invalidate(self, token: str) -> None:
        """Mark ``token`` unregistered: later sends to it get ``404 UNREGISTERED``, topic calls ``NOT_FOUND``,
        and topic sends no longer reach it."""
        with self._lock:
            self._dead.add(token)

    def subscriptions(self, token: str) -> frozenset[str]:
        """The topics ``token`` is subscribed to (through ``iid/v1:batchAdd``)."""
        with self._lock:
            return frozenset(self._device_topics.get(token, ()))

    def subscribers(self, topic: str) -> list[str]:
        """The live registration tokens subscribed to ``topic``, in subscription order."""
        with self._lock:
            return [t for t, topics in self._device_topics.items() if topic in topics and t not in self._dead]

    # ------------------------------------------------------------------ Emulator protocol

    async def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request as FCM (or Google's token endpoint) would."""
        return self.respond(request)

    def respond(self, request: SandboxRequest) -> SandboxResponse:
        """The synchronous core of ``handle``."""
        try:
            path = request.path.split("?", 1)[0]
            if path == "/token":
                return self._token_endpoint(request)
            if path in _IID_PATHS:
                return self._topic_management(request, _IID_PATHS[path])
            return self._send(request)
        except _Reject as rejected:
            return rejected.response

    def target_of(self, request: SandboxRequest) -> str | None:
        """The message's token, topic or condition (from the JSON body); None when there is none."""
        if not request.path.endswith("/messages:send"):
            return None
        try:
            document = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            return None
        message = document.get("message") if isinstance(document, dict) else None
        if not isinstance(message, dict):
            return None
        for key in _TARGETS:
            value = message.get(key)
            if isinstance(value, str) and value:
                return value
        return None

    def accepts_fault(self, request: SandboxRequest) -> bool:
        """Whether scripted faults apply to ``request``: sends yes, the OAuth token endpoint no."""
        return request.path.split("?", 1)[0] != "/token"

    def fault_response(self, fault: Fault, request: SandboxRequest) -> SandboxResponse:
        """FCM's answer for an injected fault; ``fault.reason`` overrides the FcmError ``errorCode``."""
        detail = f"injected fault: {fault.kind}"
        headers = {"retry-after": fault.retry_after} if fault.retry_after is not None else {}
        if request.path.split("?", 1)[0] in _IID_PATHS and fault.kind != "expired_credential":
            # The Instance ID API answers a refused call with {"error": "<CODE>"}, not a google.rpc.Status.
            status = {"invalid_token": 404, "bad_token": 400}.get(fault.kind, fault.status)
            name = fault.reason or _FAULTS.get(status, ("INTERNAL" if status >= 500 else "INVALID_ARGUMENT",))[0]
            response = _iid_error(status, name, detail)
        elif fault.kind == "invalid_token":
            response = _unregistered(detail)
        elif fault.kind == "bad_token":
            response = _invalid_token(detail)
        elif fault.kind == "expired_credential":
            response = _unauthenticated(_BAD_CREDENTIALS, "ACCESS_TOKEN_EXPIRED", detail, expired=True)
        else:
            status_name, code, message = _FAULTS.get(
                fault.status,
                ("INTERNAL" if fault.status >= 500 else "FAILED_PRECONDITION", None, "Injected error."),
            )
            code = fault.reason or code
            details = [{"@type": _FCM_ERROR, "errorCode": code}] if code is not None else []
            response = _status(fault.status, status_name, message, details, detail)
        if fault.reason is not None and fault.kind != "status" and request.path.split("?", 1)[0] not in _IID_PATHS:
            response = _with_error_code(response, fault.reason)
        if headers:
            response = SandboxResponse(
                status=response.status, headers={**response.headers, **headers}, body=response.body
            )
        return response

    # ------------------------------------------------------------------ OAuth2 token endpoint

    def _token_endpoint(self, request: SandboxRequest) -> SandboxResponse:
        with self._lock:
            self.token_requests += 1
        if request.method != "POST":
            return _oauth_error(405, "invalid_request", f"{request.method} is not supported; use POST")
        try:
            form = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            form = {}
        grant_type = form.get("grant_type", [""])[0]
        if not grant_type:
            return _oauth_error(400, "invalid_request", "Missing required parameter: grant_type")
        if grant_type != _JWT_BEARER:
            return _oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        assertion = form.get("assertion", [""])[0]
        if not assertion:
            return _oauth_error(400, "invalid_request", "Missing required parameter: assertion")
        claims = self._verify_service_jwt(assertion)
        if claims is None:
            return _oauth_error(400, "invalid_grant", "Invalid JWT Signature.")
        if claims.get("iss") != self.client_email:
            return _oauth_error(400, "invalid_grant", "Invalid grant: account not found")
        audience = claims.get("aud")
        if audience not in _GOOGLE_TOKEN_AUDIENCES and audience != self.token_uri:
            return _oauth_error(
                400, "invalid_grant", f"Invalid JWT: Failed audience check. The right audience is {self.token_uri}"
            )
        now = self._clock()
        if not _short_lived(claims, now):
            return _oauth_error(400, "invalid_grant", _SHORT_LIVED)
        scope = claims.get("scope")
        scopes = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
        if not scopes:
            return _oauth_error(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        token = self.mint_access_token(sorted(scopes))
        return json_response(
            200,
            {"access_token": token, "expires_in": ACCESS_TOKEN_LIFETIME, "token_type": "Bearer"},
            {"cache-control": "no-cache, no-store, max-age=0, must-revalidate"},
        )

    def _verify_service_jwt(self, token: str) -> dict[str, Any] | None:
        """The claims of an RS256 JWT signed by the service-account key, or None."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return None
        if header.get("alg") != "RS256":
            return None
        kid = header.get("kid")
        if kid is not None and kid != self.private_key_id:
            return None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public_key,
                algorithms=["RS256"],
                # Time and audience are checked here against the injected clock and Google's rules.
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
            )
        except jwt.PyJWTError:
            return None
        return claims

    # ------------------------------------------------------------------ messages:send

    def _send(self, request: SandboxRequest) -> SandboxResponse:
        path = request.path.split("?", 1)[0]
        match = _SEND_PATH.fullmatch(path)
        if match is None or request.method != "POST":
            # Google's front end answers unknown URLs (and other methods on a custom verb) with an HTML 404.
            return _not_found_page(path)
        self._authorize(request.headers.get("authorization"), match["project"])
        raw_document, document = self._parse_body(request.body)
        message: dict[str, Any] = document.get("message", {})
        target_field, target = self._validate(message)
        if target_field == "token":
            with self._lock:
                dead = target in self._dead
            if dead:
                return _unregistered("the token was invalidated (sandbox.invalidate)")
        project = match["project"]
        if document.get("validate_only"):
            # FCM: a dry run is checked like a real send but not delivered; the name is fixed.
            return json_response(200, {"name": f"projects/{project}/messages/fake_message_id"})
        now = self._clock()
        name = f"projects/{project}/messages/0:{int(now * 1_000_000)}%{secrets.token_hex(8)}"
        raw_message = raw_document["message"]
        headers = {k: v for k, v in request.headers.items() if k != "authorization"}
        received_at = datetime.fromtimestamp(now, tz=timezone.utc)
        # Recorded under the target as sent (what FCM accepted), then, for a topic or a condition, once per
        # live subscribed token (what each device receives).
        receivers = [target]
        if target_field in ("topic", "condition"):
            receivers.extend(self._reached_by(target_field, target))
        for receiver in receivers:
            self._inbox.record(
                Delivery(
                    provider=self.name,
                    target=receiver,
                    headers=headers,
                    payload=raw_message,
                    raw=request.body,
                    message_id=name,
                    received_at=received_at,
                )
            )
        return json_response(200, {"name": name})

    def _reached_by(self, target_field: str, target: str) -> list[str]:
        """The live tokens a topic or condition send reaches, in subscription order."""
        with self._lock:
            devices = [(t, set(topics)) for t, topics in self._device_topics.items() if t not in self._dead]
        if target_field == "topic":
            return [token for token, topics in devices if target in topics]
        return [token for token, topics in devices if _condition_matches(target, topics)]

    # ------------------------------------------------------------------ iid/v1:batchAdd, :batchRemove

    def _topic_management(self, request: SandboxRequest, operation: str) -> SandboxResponse:
        """Instance ID server API: (un)subscribe up to 1,000 registration tokens to one topic."""
        with self._lock:
            self.topic_requests += 1
        if request.method != "POST":
            return _not_found_page(request.path.split("?", 1)[0])
        if request.headers.get("access_token_auth", "").lower() != "true":
            # Without it IID reads Authorization as a legacy server key, which no OAuth token is.
            return _iid_error(401, "UNAUTHENTICATED", "no 'access_token_auth: true' header with the OAuth token")
        self._authorize(request.headers.get("authorization"), None)
        try:
            document = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            return _iid_error(400, "INVALID_ARGUMENT", "the body is not JSON")
        if not isinstance(document, dict):
            return _iid_error(400, "INVALID_ARGUMENT", "the body is not a JSON object")
        to, tokens = document.get("to"), document.get("registration_tokens")
        topic = to.removeprefix("/topics/") if isinstance(to, str) else ""
        if not isinstance(to, str) or not to.startswith("/topics/") or not _TOPIC_NAME.fullmatch(topic):
            return _iid_error(400, "INVALID_ARGUMENT", "'to' must be /topics/<name>, the name in [a-zA-Z0-9-_.~%]")
        if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) for t in tokens):
            return _iid_error(400, "INVALID_ARGUMENT", "'registration_tokens' must be a non-empty list of strings")
        if len(tokens) > MAX_TOPIC_TOKENS:
            return _iid_error(400, "INVALID_ARGUMENT", f"{len(tokens)} registration tokens; at most {MAX_TOPIC_TOKENS}")
        results: list[dict[str, str]] = []
        with self._lock:
            for token in tokens:
                if not _TOKEN_CHARS.fullmatch(token):
                    results.append({"error": "INVALID_ARGUMENT"})
                elif token in self._dead:
                    results.append({"error": "NOT_FOUND"})
                elif operation == "unsubscribe":
                    self._device_topics.get(token, set()).discard(topic)
                    results.append({})
                else:
                    topics = self._device_topics.setdefault(token, set())
                    if topic not in topics and len(topics) >= MAX_TOPICS_PER_DEVICE:
                        results.append({"error": "TOO_MANY_TOPICS"})
                    else:
                        topics.add(topic)
                        results.append({})
        return json_response(200, {"results": results})

    def _authorize(self, authorization: str | None, project: str | None) -> None:
        if authorization is None:
            raise _Reject(_unauthenticated(_NO_CREDENTIALS, "CREDENTIALS_MISSING", "no authorization header"))
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _Reject(_unauthenticated(_BAD_CREDENTIALS, None, "the authorization header is not 'Bearer <token>'"))
        now = self._clock()
        with self._lock:
            issued = self._tokens.get(token) or self._self_signed.get(token)
            expired = token in self._expired
        if issued is None and not expired and token.count(".") == 2:
            issued = self._verify_self_signed(token, now)
        if issued is not None and issued[0] <= now:
            issued, expired = None, True
        if issued is None:
            if expired:
                raise _Reject(
                    _unauthenticated(_BAD_CREDENTIALS, "ACCESS_TOKEN_EXPIRED", "the access token expired", expired=True)
                )
            raise _Reject(_unauthenticated(_BAD_CREDENTIALS, None, "the access token was not issued by this sandbox"))
        if not issued[1] & {FCM_SCOPE, CLOUD_PLATFORM_SCOPE}:
            raise _Reject(
                _status(
                    403,
                    "PERMISSION_DENIED",
                    "Request had insufficient authentication scopes.",
                    [_error_info("ACCESS_TOKEN_SCOPE_INSUFFICIENT")],
                    "the token has neither the firebase.messaging nor the cloud-platform scope",
                )
            )
        if project is not None and project not in (self.project_id, self.project_number):
            raise _Reject(
                _status(
                    403,
                    "PERMISSION_DENIED",
                    f"Permission 'cloudmessaging.messages.create' denied on resource "
                    f"'//cloudresourcemanager.googleapis.com/projects/{project}' (or it may not exist).",
                    [_error_info("IAM_PERMISSION_DENIED", permission="cloudmessaging.messages.create")],
                    f"this sandbox's project is {self.project_id!r}",
                )
            )

    def _verify_self_signed(self, token: str, now: float) -> tuple[float, frozenset[str]] | None:
        # AIP-4111: a service account may use a JWT it signed itself as the access token, with the API's
        # URL as aud or the scopes in a "scope" claim.
        claims = self._verify_service_jwt(token)
        if claims is None or claims.get("iss") != self.client_email or not _short_lived(claims, now):
            return None
        scope = claims.get("scope")
        scopes = set(scope.split()) if isinstance(scope, str) else set()
        audience = claims.get("aud")
        if isinstance(audience, str) and audience.rstrip("/") in (
            "https://fcm.googleapis.com",
            self._base_url().rstrip("/"),
        ):
            scopes.add(FCM_SCOPE)
        if not scopes:
            return None
        entry = (float(claims["exp"]), frozenset(scopes))
        with self._lock:
            self._self_signed[token] = entry
        return entry

    def _parse_body(self, body: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
        """The request as sent and as parsed (proto field names, durations as ``Decimal`` seconds)."""
        try:
            document = json.loads(body) if body.strip() else {}
        except (ValueError, UnicodeDecodeError):
            description = "Invalid JSON payload received. Unexpected token."
            raise _Reject(_proto_error([_Violation(None, description)])) from None
        parser = _Parser()
        parsed = parser.message(_REQUEST, document, "")
        if parser.violations:
            raise _Reject(_proto_error(parser.violations))
        # Only a JSON object parses without violations.
        assert parsed is not None
        assert isinstance(document, dict)
        return document, parsed

    def _validate(self, message: Mapping[str, Any]) -> tuple[str, str]:
        """FCM's own rules on a well-typed message; returns the target field and value."""
        target_field = next((name for name in _TARGETS if message.get(name)), None)
        if target_field is None:
            _fcm_invalid("message", "Recipient of the message is not set.")
        assert target_field is not None
        target: str = message[target_field]
        for block, data in (
            ("message.data", message.get("data")),
            ("message.android.data", message.get("android", {}).get("data")),
            ("message.android_v2.data", message.get("android_v2", {}).get("data")),
        ):
            for key in data or {}:
                # FCM reference (Message.data): these keys are reserved.
                if key in _RESERVED_KEYS or key.startswith(_RESERVED_PREFIXES):
                    _fcm_invalid(block, f"Invalid data payload key: {key}")
        if "android" in message and "android_v2" in message:
            _fcm_invalid("message.android_v2", "android_v2 cannot be combined with android.")
        for block in ("android", "android_v2"):
            ttl = message.get(block, {}).get("ttl")
            # AndroidConfig.ttl: from 0 to 4 weeks.
            if ttl is not None and not 0 <= ttl <= MAX_TTL_SECONDS:
                _fcm_invalid(f"message.{block}.ttl", f"TTL must be between 0s and {MAX_TTL_SECONDS}s (4 weeks).")
        color = message.get("android", {}).get("notification", {}).get("color")
        if color is not None and not _COLOR.fullmatch(color):
            # AndroidNotification.color: "expressed in #rrggbb format".
            _fcm_invalid("message.android.notification.color", f"Invalid color value: {color}. Use #rrggbb.")
        link = message.get("webpush", {}).get("fcm_options", {}).get("link")
        if link is not None and not link.startswith("https://"):
            # WebpushFcmOptions.link: "For all URL values, HTTPS is required."
            _fcm_invalid("message.webpush.fcm_options.link", "The link must use HTTPS.")
        if target_field == "topic" and not _TOPIC_NAME.fullmatch(target):
            # Message.topic: a bare name matching [a-zA-Z0-9-_.~%]+ (no "/topics/" prefix).
            _fcm_invalid("message.topic", f"Invalid topic name: {target}. Allowed characters: [a-zA-Z0-9-_.~%]")
        if target_field == "condition":
            problem = _condition_problem(target)
            if problem is not None:
                _fcm_invalid("message.condition", f"Invalid condition expression: {problem}")
        limit = PAYLOAD_LIMIT if target_field in ("token", "fid") else TOPIC_PAYLOAD_LIMIT
        size = _payload_size(message)
        if size > limit:
            # ErrorCode INVALID_ARGUMENT: "the message payload is too big" (data + notification keys and values).
            _fcm_invalid("message", "Android message is too big", detail=f"payload is {size} bytes; limit {limit}")
        if target_field == "token" and not _TOKEN_CHARS.fullmatch(target):
            raise _Reject(_invalid_token("the token is not 32-4096 characters of [A-Za-z0-9_:-]"))
        return target_field, target


# ------------------------------------------------------------------------------------------ helpers


def _short_lived(claims: Mapping[str, Any], now: float) -> bool:
    """Google: iat and exp must describe a token of at most one hour, valid around now."""
    iat, exp = claims.get("iat"), claims.get("exp")
    if isinstance(iat, bool) or isinstance(exp, bool):
        return False
    if not isinstance(iat, (int, float)) or not isinstance(exp, (int, float)):
        return False
    return iat < exp and exp - iat <= 3600 and iat <= now + _TIME_SKEW and exp > now - _TIME_SKEW


def _payload_size(message: Mapping[str, Any]) -> int:
    size = 0
    for block in ("data", "notification"):
        for key, value in (message.get(block) or {}).items():
            size += len(key.encode()) + len(str(value).encode())
    return size


_CONDITION_TOKEN = re.compile(
    r"""\s*(?:(?P<op>&&|\|\|)|(?P<not>!)|(?P<open>\()|(?P<close>\))|(?P<q>['"])(?P<topic>[^'"]*)(?P=q)\s+in\s+topics\b)"""
)


def _condition_matches(expression: str, topics: set[str]) -> bool:
    """Whether a device subscribed to ``topics`` matches a (valid) condition.

    FCM topic messaging guide: parentheses first, then the expression from left to right (``&&`` does
    not bind tighter than ``||``).
    """
    tokens = [
        (kind, match[kind])
        for match in _CONDITION_TOKEN.finditer(expression.rstrip())
        for kind in ("op", "not", "open", "close", "topic")
        if match[kind] is not None
    ]
    index = 0

    def unary() -> bool:
        nonlocal index
        kind, value = tokens[index]
        index += 1
        if kind == "not":
            return not unary()
        if kind == "open":
            result = expr()
            index += 1  # the ")"
            return result
        return value in topics

    def expr() -> bool:
        nonlocal index
        result = unary()
        while index < len(tokens) and tokens[index][0] == "op":
            operator = tokens[index][1]
            index += 1
            right = unary()
            result = (result and right) if operator == "&&" else (result or right)
        return result

    return expr()


def _condition_problem(expression: str) -> str | None:
    """What is wrong with a topic condition (FCM topic messaging guide), or None."""
    tokens: list[tuple[str, str]] = []
    position = 0
    stripped = expression.rstrip()
    while position < len(stripped):
        match = _CONDITION_TOKEN.match(stripped, position)
        if match is None:
            return f"unexpected text at position {position}"
        kind = next(k for k in ("op", "not", "open", "close", "topic") if match[k] is not None)
        tokens.append((kind, match[kind]))
        position = match.end()
    topics = [value for kind, value in tokens if kind == "topic"]
    if not topics:
        return "no 'topic' in topics clause"
    if len(topics) > MAX_CONDITION_TOPICS:
        return f"{len(topics)} topics; at most {MAX_CONDITION_TOPICS} are allowed"
    for topic in topics:
        if not _TOPIC_NAME.fullmatch(topic):
            return f"invalid topic name {topic!r}"
    # Grammar: expr := unary (op unary)* ; unary := '!' unary | '(' expr ')' | topic
    index = 0

    def unary() -> bool:
        nonlocal index
        if index >= len(tokens):
            return False
        kind = tokens[index][0]
        index += 1
        if kind == "not":
            return unary()
        if kind == "open":
            if not expr() or index >= len(tokens) or tokens[index][0] != "close":
                return False
            index += 1
            return True
        return kind == "topic"

    def expr() -> bool:
        nonlocal index
        if not unary():
            return False
        while index < len(tokens) and tokens[index][0] == "op":
            index += 1
            if not unary():
                return False
        return True

    if not expr() or index != len(tokens):
        return "malformed expression"
    return None


def _iid_error(status: int, code: str, detail: str) -> SandboxResponse:
    # The Instance ID API's own refusals are {"error": "<CODE>"} (what the Firebase Admin SDKs parse).
    return json_response(status, {"error": code}, {DETAIL_HEADER: _header_safe(detail)})


def _fcm_invalid(field_path: str, description: str, *, detail: str | None = None) -> None:
    raise _Reject(
        _status(
            400,
            "INVALID_ARGUMENT",
            description,
            [
                {"@type": _FCM_ERROR, "errorCode": "INVALID_ARGUMENT"},
                {"@type": _BAD_REQUEST, "fieldViolations": [{"field": field_path, "description": description}]},
            ],
            detail or description,
        )
    )


def _proto_error(violations: Sequence[_Violation]) -> SandboxResponse:
    # Errors from turning JSON into the request proto come from Google's front end, before FCM sees the
    # message: a google.rpc.BadRequest detail and no FcmError.
    field_violations = []
    for violation in violations:
        entry = {"description": violation.description}
        if violation.field:
            entry = {"field": violation.field, **entry}
        field_violations.append(entry)
    message = "\n".join(v.description for v in violations)
    return _status(
        400,
        "INVALID_ARGUMENT",
        message,
        [{"@type": _BAD_REQUEST, "fieldViolations": field_violations}],
        "the body is not a valid SendMessageRequest",
    )


def _status(
    code: int,
    status: str,
    message: str,
    details: Sequence[Mapping[str, Any]],
    detail: str,
    headers: Mapping[str, str] | None = None,
) -> SandboxResponse:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = list(details)
    return json_response(code, {"error": error}, {DETAIL_HEADER: _header_safe(detail), **(headers or {})})


def _unauthenticated(message: str, reason: str | None, detail: str, *, expired: bool = False) -> SandboxResponse:
    # Google: a 401 carries WWW-Authenticate; the body is a google.rpc.Status without an FcmError.
    challenge = 'Bearer realm="https://accounts.google.com/"'
    if expired:
        challenge += ', error="invalid_token"'
    details = [_error_info(reason)] if reason is not None else []
    return _status(401, "UNAUTHENTICATED", message, details, detail, {"www-authenticate": challenge})


def _unregistered(detail: str) -> SandboxResponse:
    return _status(
        404,
        "NOT_FOUND",
        "Requested entity was not found.",
        [{"@type": _FCM_ERROR, "errorCode": "UNREGISTERED"}],
        detail,
    )


def _invalid_token(detail: str) -> SandboxResponse:
    return _status(
        400,
        "INVALID_ARGUMENT",
        _INVALID_TOKEN_MESSAGE,
        [
            {"@type": _FCM_ERROR, "errorCode": "INVALID_ARGUMENT"},
            {
                "@type": _BAD_REQUEST,
                "fieldViolations": [{"field": "message.token", "description": "Invalid registration token"}],
            },
        ],
        detail,
    )


def _error_info(reason: str, **metadata: str) -> dict[str, Any]:
    return {
        "@type": _ERROR_INFO,
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {
            "service": "fcm.googleapis.com",
            "method": "google.firebase.fcm.v1.FcmService.SendMessage",
            **metadata,
        },
    }


def _with_error_code(response: SandboxResponse, code: str) -> SandboxResponse:
    """``response`` with its FcmError errorCode replaced (or added) — for ``Fault.reason``."""
    document = json.loads(response.body)
    details = [d for d in document["error"].get("details", []) if d.get("@type") != _FCM_ERROR]
    document["error"]["details"] = [{"@type": _FCM_ERROR, "errorCode": code}, *details]
    return json_response(response.status, document, response.headers)


def _oauth_error(status: int, error: str, description: str) -> SandboxResponse:
    # Google's token endpoint (RFC 6749 section 5.2): {"error": ..., "error_description": ...}.
    return json_response(
        status, {"error": error, "error_description": description}, {DETAIL_HEADER: _header_safe(description)}
    )


def _not_found_page(path: str) -> SandboxResponse:
    body = (
        "<!DOCTYPE html>\n<html lang=en><meta charset=utf-8><title>Error 404 (Not Found)</title>"
        f"<p><b>404.</b> <ins>That’s an error.</ins><p>The requested URL <code>{_html_escape(path)}</code> "
        "was not found on this server. <ins>That’s all we know.</ins>\n"
    )
    return SandboxResponse(
        status=404,
        headers={"content-type": "text/html; charset=UTF-8", DETAIL_HEADER: "not POST /v1/projects/<p>/messages:send"},
        body=body.encode(),
    )


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _header_safe(text: str) -> str:
    """A header value: printable ASCII only (non-ASCII escaped, control characters dropped)."""
    escaped = text.encode("ascii", "backslashreplace").decode("ascii")
    return "".join(c for c in escaped if " " <= c <= "~")
