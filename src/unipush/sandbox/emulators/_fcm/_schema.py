"""FCM HTTP v1's ``SendMessageRequest`` as a schema, and a proto3 JSON parser that reports as Google's does.

Proto3 JSON parsing accepts each field under its proto name (``collapse_key``) or its JSON name
(``collapseKey``), treats ``null`` as absent, takes enums by name or number, and reports every problem it
finds at once, as Google's parser does: a ``400 INVALID_ARGUMENT`` with ``google.rpc.BadRequest`` field
violations and no ``FcmError`` (these come from Google's front end, before FCM sees the message).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from unipush.sandbox._interface import SandboxResponse
from unipush.sandbox.emulators._fcm._errors import BAD_REQUEST, Reject, rpc_status

_DURATION = re.compile(r"(?P<value>-?\d+(?:\.\d{1,9})?)s")
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)")

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
MESSAGE = _message(
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
REQUEST = _message("SendMessageRequest", message=MESSAGE, validate_only=_BOOL)
TARGETS = ("token", "topic", "condition", "fid")  # the Message oneof "target"


@dataclass
class Violation:
    field: str | None
    description: str


@dataclass
class Parser:
    """proto3 JSON → a plain dict under proto field names, collecting Google-style violations."""

    violations: list[Violation] = field(default_factory=list)

    def fail(self, path: str, label: str, value: object) -> None:
        if isinstance(value, dict):
            shown = "Starting an object on a scalar field"
        else:
            shown = json.dumps(value, ensure_ascii=False)
        self.violations.append(Violation(path or None, f"Invalid value at '{path}' ({label}), {shown}"))

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
                    Violation(
                        path or None, f'Invalid JSON payload received. Unknown name "{key}"{where}: Cannot find field.'
                    )
                )
                continue
            if item is None:  # proto3 JSON: null means "not set"
                continue
            kind = schema.fields[name]
            if isinstance(item, list) and not isinstance(kind, _Repeated):
                self.violations.append(
                    Violation(
                        path or None,
                        f'Invalid JSON payload received. Unknown name "{key}"{where}: '
                        "Proto field is not repeating, cannot start list.",
                    )
                )
                continue
            if schema is MESSAGE and name in TARGETS:
                # token/topic/condition/fid are one oneof in the Message proto: a second one cannot be set.
                if oneof is not None:
                    self.violations.append(
                        Violation(
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


def parse_send_request(body: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """The request as sent and as parsed (proto field names, durations as ``Decimal`` seconds).

    Raises ``Reject`` with Google's answer for a body that is not JSON or not a ``SendMessageRequest``.
    """
    try:
        document = json.loads(body) if body.strip() else {}
    except (ValueError, UnicodeDecodeError):
        description = "Invalid JSON payload received. Unexpected token."
        raise Reject(proto_error([Violation(None, description)])) from None
    parser = Parser()
    parsed = parser.message(REQUEST, document, "")
    if parser.violations:
        raise Reject(proto_error(parser.violations))
    # Only a JSON object parses without violations.
    assert parsed is not None
    assert isinstance(document, dict)
    return document, parsed


def proto_error(violations: Sequence[Violation]) -> SandboxResponse:
    # Errors from turning JSON into the request proto come from Google's front end, before FCM sees the
    # message: a google.rpc.BadRequest detail and no FcmError.
    field_violations = []
    for violation in violations:
        entry = {"description": violation.description}
        if violation.field:
            entry = {"field": violation.field, **entry}
        field_violations.append(entry)
    message = "\n".join(v.description for v in violations)
    return rpc_status(
        400,
        "INVALID_ARGUMENT",
        message,
        [{"@type": BAD_REQUEST, "fieldViolations": field_violations}],
        "the body is not a valid SendMessageRequest",
    )
