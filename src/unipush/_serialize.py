"""The portable form of notifications and targets: plain JSON data, versioned, for queues and databases.

``Notification.to_dict()`` / ``Notification.from_dict()``, ``Target.to_dict()`` and
``unipush.target_from_dict()`` are thin methods over this module. The form is derived from the model's
dataclass fields and their annotations, through one table of codecs (``_codec_for``), which also
generates the JSON Schema (``notification_schema()``, ``target_schema()``; the shipped copies are
``unipush/schema/*.schema.json``). So a field added to the model appears in the form and in the schema
at once, and ``tests/test_serialize.py`` checks that the shipped schema files are what the table makes.

The rules (``docs/serialization.md``):

* Only JSON types: a ``datetime`` is an ISO-8601 string, a ``timedelta`` an ISO-8601 duration
  (``"PT1.5S"``), ``bytes`` a base64url string without padding, an enum its value, a sequence a list.
* ``"v": 1`` at the top of a notification and of a target: the form's version. A reader refuses any
  other version rather than guessing.
* Fields equal to their default are omitted, so the form is small and does not change when a default
  is added to the model.
* Reading checks the JSON type of each key, refuses unknown keys, then calls the constructor: what a
  constructor refuses, ``from_dict`` refuses, with the error's field prefixed by its key path
  (``notification.apns.interruption_level``).
* A target carries ``"provider"`` (the entry-point name of the provider that serves it) and ``"type"``
  (its ``Target.target_type``, e.g. ``"device"``, ``"topic"``): ``target_from_dict`` finds the class
  through the provider's ``target_types``, read from the ``unipush.providers`` entry point's factory
  without building the provider.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import inspect
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from enum import Enum
from importlib import resources
from pathlib import Path
from types import MappingProxyType, NoneType, UnionType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Union, get_args, get_origin, get_type_hints

from unipush._errors import ConfigurationError, ValidationError
from unipush._validate import plain_json

if TYPE_CHECKING:
    from unipush._model import Notification
    from unipush._targets import Target

__all__ = [
    "FORM_VERSION",
    "notification_from_dict",
    "notification_schema",
    "notification_to_dict",
    "target_from_dict",
    "target_schema",
    "target_to_dict",
]

FORM_VERSION = 1
"""The version of the serialized form, the ``"v"`` key of every notification and target dict."""

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_FILES = {"notification": "notification-v1.schema.json", "target": "target-v1.schema.json"}
"""The schema files shipped in ``unipush/schema/``."""

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_DURATION = re.compile(r"(-)?PT(\d+)(?:\.(\d{1,6}))?S")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


def _json_type(value: object) -> str:
    """The JSON name of a decoded JSON value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


class _Codec(ABC):
    """How one annotated type travels: Python value -> JSON, JSON -> constructor argument, schema."""

    @abstractmethod
    def encode(self, value: Any) -> Any:
        """The JSON form of a (constructed, normalised) field value."""

    @abstractmethod
    def decode(self, data: Any, path: str) -> Any:
        """The constructor argument for the JSON ``data`` at ``path``; raises ``ValidationError``."""

    @abstractmethod
    def holds(self, value: Any) -> bool:
        """Whether a Python value is of this codec's type (picks the branch of a union to encode)."""

    @abstractmethod
    def reads(self, data: Any) -> bool:
        """Whether JSON ``data`` has this codec's JSON type (picks the branch of a union to decode)."""

    @abstractmethod
    def describe(self) -> str:
        """The expected JSON type, for error messages (``"a string"``)."""

    @abstractmethod
    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        """The JSON Schema of the form; named object schemas are added to ``defs``."""

    def check(self, data: Any, path: str) -> None:
        if not self.reads(data):
            raise ValidationError(path, f"must be {self.describe()}, got {_json_type(data)}")


class _Scalar(_Codec):
    """``str``, ``int``, ``float`` (a JSON number: ints are accepted) and ``bool``."""

    _NAMES: ClassVar[dict[type, str]] = {str: "string", int: "integer", float: "number", bool: "boolean"}

    def __init__(self, kind: type) -> None:
        self.kind = kind
        self.name = self._NAMES[kind]

    def holds(self, value: Any) -> bool:
        if self.kind is bool:
            return isinstance(value, bool)
        if isinstance(value, bool):
            return False
        if self.kind is float:
            return isinstance(value, (int, float))
        return isinstance(value, self.kind)

    def reads(self, data: Any) -> bool:
        return self.holds(data)

    def encode(self, value: Any) -> Any:
        return value

    def decode(self, data: Any, path: str) -> Any:
        self.check(data, path)
        return data

    def describe(self) -> str:
        return f"a{'n' if self.name[0] in 'aeiou' else ''} {self.name}"

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {"type": self.name}


class _Choice(_Codec):
    """A ``Literal[...]`` or an ``Enum``: its values travel as themselves (an enum as its ``value``).

    The values themselves are checked by the constructor (so its message is the one you get); this
    codec checks the JSON type and lists the values in the schema.
    """

    def __init__(self, values: Sequence[str | int], enum: type[Enum] | None = None) -> None:
        self.values = tuple(values)
        self.enum = enum
        self.kind: type = str if all(isinstance(item, str) for item in self.values) else int
        self.base = _Scalar(self.kind)

    def holds(self, value: Any) -> bool:
        if isinstance(value, Enum):
            return value.value in self.values
        return self.base.holds(value) and value in self.values

    def reads(self, data: Any) -> bool:
        return self.base.reads(data)

    def encode(self, value: Any) -> Any:
        return value.value if isinstance(value, Enum) else value

    def decode(self, data: Any, path: str) -> Any:
        self.check(data, path)
        return data

    def describe(self) -> str:
        return f"one of {', '.join(repr(item) for item in self.values)}"

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {"type": self.base.name, "enum": list(self.values)}


class _DateTime(_Codec):
    """A ``datetime`` as an ISO-8601 / RFC 3339 string with its UTC offset (``2026-01-01T09:00:00+00:00``)."""

    def holds(self, value: Any) -> bool:
        return isinstance(value, datetime)

    def reads(self, data: Any) -> bool:
        return isinstance(data, str)

    def encode(self, value: Any) -> Any:
        return value.isoformat()

    def decode(self, data: Any, path: str) -> Any:
        self.check(data, path)
        text = data[:-1] + "+00:00" if data.endswith(("Z", "z")) else data  # RFC 3339 "Z" (3.10 lacks it)
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(path, f"must be an ISO-8601 date-time, got {data!r}") from None

    def describe(self) -> str:
        return "an ISO-8601 date-time string"

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {"type": "string", "format": "date-time"}


class _Duration(_Codec):
    """A ``timedelta`` as an ISO-8601 duration in seconds: ``"PT90S"``, ``"PT0.25S"`` (exact to the µs)."""

    def holds(self, value: Any) -> bool:
        return isinstance(value, timedelta)

    def reads(self, data: Any) -> bool:
        return isinstance(data, str)

    def encode(self, value: Any) -> Any:
        micros = abs(value) // timedelta(microseconds=1)
        seconds, fraction = divmod(micros, 1_000_000)
        text = f"PT{seconds}.{fraction:06d}".rstrip("0").rstrip(".") + "S"
        return f"-{text}" if value < timedelta(0) else text

    def decode(self, data: Any, path: str) -> Any:
        self.check(data, path)
        match = _DURATION.fullmatch(data)
        if match is None:
            raise ValidationError(path, f"must be an ISO-8601 duration in seconds such as 'PT1.5S', got {data!r}")
        sign, seconds, fraction = match.groups()
        value = timedelta(seconds=int(seconds), microseconds=int((fraction or "0").ljust(6, "0")))
        return -value if sign else value

    def describe(self) -> str:
        return "an ISO-8601 duration string such as 'PT1.5S'"

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {"type": "string", "pattern": "^-?PT[0-9]+(\\.[0-9]{1,6})?S$"}


class _Bytes(_Codec):
    """``bytes`` as base64url without ``=`` padding (RFC 4648 §5), as Web Push keys are written."""

    def holds(self, value: Any) -> bool:
        return isinstance(value, bytes)

    def reads(self, data: Any) -> bool:
        return isinstance(data, str)

    def encode(self, value: Any) -> Any:
        return base64.urlsafe_b64encode(value).rstrip(b"=").decode("ascii")

    def decode(self, data: Any, path: str) -> Any:
        self.check(data, path)
        if not _BASE64URL.fullmatch(data) or len(data) % 4 == 1:
            raise ValidationError(path, "must be base64url without padding (A-Z a-z 0-9 - _)")
        try:
            return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
        except (binascii.Error, ValueError):
            raise ValidationError(path, "is not valid base64url") from None

    def describe(self) -> str:
        return "a base64url string"

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {"type": "string", "contentEncoding": "base64url", "pattern": "^[A-Za-z0-9_-]*$"}


class _Array(_Codec):
    """A ``Sequence[X]`` (stored as a tuple) as a JSON array."""

    def __init__(self, item: _Codec) -> None:
        self.item = item

    def holds(self, value: Any) -> bool:
        return isinstance(value, Sequence) and not isinstance(value, (str, bytes))

    def reads(self, data: Any) -> bool:
        return isinstance(data, list)

    def encode(self, value: Any) -> Any:
        return [self.item.encode(item) for item in value]

    def decode(self, data: Any, path: str) -> Any:
        self.check(data, path)
        return tuple(self.item.decode(item, f"{path}[{index}]") for index, item in enumerate(data))

    def describe(self) -> str:
        return "an array"

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {"type": "array", "items": self.item.schema(defs)}


class _Object(_Codec):
    """A ``Mapping[str, str]`` (``values`` given) or a ``Mapping[str, Any]`` of JSON data.

    Values are checked by the constructor, which names the key (``data['k']: must be a string``).
    """

    def __init__(self, values: _Codec | None) -> None:
        self.values = values

    def holds(self, value: Any) -> bool:
        return isinstance(value, Mapping)

    def reads(self, data: Any) -> bool:
        return isinstance(data, Mapping)

    def encode(self, value: Any) -> Any:
        return plain_json(value)

    def decode(self, data: Any, path: str) -> Any:
        self.check(data, path)
        return dict(data)

    def describe(self) -> str:
        return "an object"

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        if self.values is None:
            return {"type": "object"}
        return {"type": "object", "additionalProperties": self.values.schema(defs)}


class _Union(_Codec):
    """``A | B | None``: encoded by the branch that holds the value, decoded by the one that reads it."""

    def __init__(self, branches: Sequence[_Codec], nullable: bool) -> None:
        self.branches = tuple(branches)
        self.nullable = nullable

    def holds(self, value: Any) -> bool:
        return (value is None and self.nullable) or any(branch.holds(value) for branch in self.branches)

    def reads(self, data: Any) -> bool:
        return (data is None and self.nullable) or any(branch.reads(data) for branch in self.branches)

    def encode(self, value: Any) -> Any:
        if value is None:
            return None
        for branch in self.branches:
            if branch.holds(value):
                return branch.encode(value)
        # Only reachable if a constructor stores a type its annotation does not list: a bug in the model.
        raise TypeError(f"{type(value).__name__} is not among the annotated types of this field")

    def decode(self, data: Any, path: str) -> Any:
        if data is None and self.nullable:
            return None
        for branch in self.branches:
            if branch.reads(data):
                return branch.decode(data, path)
        raise ValidationError(path, f"must be {self.describe()}, got {_json_type(data)}")

    def describe(self) -> str:
        shown = [branch.describe() for branch in self.branches] + (["null"] if self.nullable else [])
        return " or ".join(dict.fromkeys(shown))

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        options = [branch.schema(defs) for branch in self.branches]
        if self.nullable:
            options.append({"type": "null"})
        return options[0] if len(options) == 1 else {"anyOf": options}


@dataclasses.dataclass(frozen=True)
class _Field:
    name: str
    codec: _Codec
    required: bool
    default: Any


class _Model(_Codec):
    """A model dataclass as a JSON object keyed by field name; unknown keys are refused."""

    def __init__(self, cls: type, error_prefix: str = "") -> None:
        self.cls = cls
        # The constructors name their errors relative to a fixed root ("apns.x", "action.id"); the
        # prefix is what to replace by the real key path.
        self.error_prefix = error_prefix
        # Notification names its option blocks only for type checkers (unipush._model), so they are
        # given here by name.
        hints = get_type_hints(cls, localns=_option_block_names())
        self.fields: dict[str, _Field] = {}
        for field in dataclasses.fields(cls):
            if not field.init:
                continue
            if field.default is not dataclasses.MISSING:
                required, default = False, field.default
            elif field.default_factory is not dataclasses.MISSING:
                required, default = False, field.default_factory()
            else:
                required, default = True, dataclasses.MISSING
            self.fields[field.name] = _Field(field.name, _codec_from_hint(hints[field.name]), required, default)

    @property
    def title(self) -> str:
        return self.cls.__name__

    def holds(self, value: Any) -> bool:
        return isinstance(value, self.cls)

    def reads(self, data: Any) -> bool:
        return isinstance(data, Mapping)

    def describe(self) -> str:
        return f"an object ({self.title})"

    def encode(self, value: Any) -> Any:
        out: dict[str, Any] = {}
        for field in self.fields.values():
            item = getattr(value, field.name)
            if not field.required and _same(item, field.default):
                continue  # defaults are omitted: the form stays small and stable
            out[field.name] = field.codec.encode(item)
        return out

    def decode(self, data: Any, path: str, reserved: tuple[str, ...] = ()) -> Any:
        self.check(data, path)
        for key in data:
            if key not in self.fields and key not in reserved:
                raise ValidationError(f"{path}.{key}", f"is not a field of {self.title} (form v{FORM_VERSION})")
        kwargs: dict[str, Any] = {}
        for field in self.fields.values():
            if field.name in data:
                kwargs[field.name] = field.codec.decode(data[field.name], f"{path}.{field.name}")
            elif field.required:
                raise ValidationError(f"{path}.{field.name}", "is required")
        return self.build(kwargs, path)

    def build(self, kwargs: dict[str, Any], path: str) -> Any:
        """Call the constructor; its ``ValidationError`` is re-raised with the key path in front."""
        try:
            return self.cls(**kwargs)
        except ValidationError as exc:
            raise ValidationError(self.where(exc.field, path), exc.message) from None

    def where(self, field: str, path: str) -> str:
        return f"{path}.{field.removeprefix(self.error_prefix)}"

    def properties(self, defs: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        properties = {field.name: field.codec.schema(defs) for field in self.fields.values()}
        return properties, [field.name for field in self.fields.values() if field.required]

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        if self.title not in defs:
            defs[self.title] = {}  # reserve the name first: a model may contain itself
            properties, required = self.properties(defs)
            defs[self.title] = _object_schema(properties, required, _summary(self.cls))
        return {"$ref": f"#/$defs/{self.title}"}


def _same(value: Any, default: Any) -> bool:
    # bool is an int in Python: False must not pass for a default of 0 (or the reverse).
    return (type(value) is type(default) and value == default) or (value is None and default is None)


def _summary(cls: type) -> str:
    doc = inspect.getdoc(cls) or cls.__name__
    return doc.split("\n\n", 1)[0].replace("\n", " ")


def _object_schema(properties: dict[str, Any], required: list[str], description: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "description": description, "properties": properties}
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


def _codec_from_hint(hint: Any) -> _Codec:
    """The codec of one resolved field annotation."""
    origin = get_origin(hint)
    if origin in (Union, UnionType):
        args = get_args(hint)
        branches = _merge_choices([_codec_from_hint(arg) for arg in args if arg is not NoneType])
        nullable = NoneType in args
        if len(branches) == 1 and not nullable:
            return branches[0]
        return _Union(branches, nullable)
    if origin is Literal:
        return _Choice(get_args(hint))
    if isinstance(hint, type):
        if issubclass(hint, Enum):
            return _Choice([member.value for member in hint], enum=hint)
        if hint in (str, int, float, bool):
            return _Scalar(hint)
        if hint is datetime:
            return _DateTime()
        if hint is timedelta:
            return _Duration()
        if hint is bytes:
            return _Bytes()
        if dataclasses.is_dataclass(hint):
            return _codec_for(hint)
    if origin is not None and isinstance(origin, type):
        args = get_args(hint)
        if issubclass(origin, Mapping):
            value = args[1] if len(args) == 2 else Any
            return _Object(None if value is Any else _codec_from_hint(value))
        if issubclass(origin, Sequence):
            return _Array(_codec_from_hint(args[0]))
    raise TypeError(f"unipush._serialize has no codec for the annotation {hint!r}")


def _merge_choices(branches: list[_Codec]) -> list[_Codec]:
    """``ApnsPushType | PushTypeName``: an enum and the literal of its names are one choice in JSON."""
    choices = [branch for branch in branches if isinstance(branch, _Choice)]
    if len(choices) < 2:
        return branches
    enum = next((choice.enum for choice in choices if choice.enum is not None), None)
    # Decoding hands the name to the constructor, which turns it into the enum member.
    merged = _Choice(list(dict.fromkeys(value for choice in choices for value in choice.values)), enum=enum)
    rest = [branch for branch in branches if not isinstance(branch, _Choice)]
    return [merged, *rest]


# --- targets ------------------------------------------------------------------------------------------


class _TargetModel(_Model):
    """A target: ``v``, ``provider`` and ``type`` in front of the target's own fields."""

    RESERVED = ("v", "provider", "type")

    def __init__(self, cls: type[Target]) -> None:
        super().__init__(cls)
        self.provider = cls.provider
        self.target_type = cls.target_type

    def encode(self, value: Any) -> Any:
        return {"v": FORM_VERSION, "provider": self.provider, "type": self.target_type, **super().encode(value)}

    def decode(self, data: Any, path: str, reserved: tuple[str, ...] = RESERVED) -> Any:
        return super().decode(data, path, reserved)

    def properties(self, defs: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        properties, required = super().properties(defs)
        header = {
            "v": {"const": FORM_VERSION},
            "provider": {"const": self.provider},
            "type": {"const": self.target_type},
        }
        return {**header, **properties}, [*self.RESERVED, *required]


class _WebPushModel(_TargetModel):
    """``WebPushSubscription``: the browser's ``PushSubscription.toJSON()`` shape plus ``v``/``provider``/``type``.

    So a stored form is still what a browser produced (``endpoint``, ``keys.p256dh``, ``keys.auth``,
    ``expirationTime`` in epoch milliseconds, ``null`` when there is none, always present as in the
    browser's JSON), and ``WebPushSubscription.from_dict`` reads both.
    """

    def encode(self, value: Any) -> Any:
        expires = value.expiration_time
        return {
            "v": FORM_VERSION,
            "provider": self.provider,
            "type": self.target_type,
            "endpoint": value.endpoint,
            "keys": {"p256dh": value.p256dh, "auth": value.auth},
            "expirationTime": None if expires is None else datetime_to_epoch_ms(expires),
        }

    def decode(self, data: Any, path: str, reserved: tuple[str, ...] = _TargetModel.RESERVED) -> Any:
        self.check(data, path)
        allowed = {*reserved, "endpoint", "keys", "expirationTime"}
        for key in data:
            if key not in allowed:
                raise ValidationError(f"{path}.{key}", f"is not a field of {self.title} (form v{FORM_VERSION})")
        for key in ("endpoint", "keys"):
            if key not in data:
                raise ValidationError(f"{path}.{key}", "is required")
        _Scalar(str).check(data["endpoint"], f"{path}.endpoint")
        keys = data["keys"]
        _Object(None).check(keys, f"{path}.keys")
        for key in keys:
            if key not in ("p256dh", "auth"):
                raise ValidationError(f"{path}.keys.{key}", "is not a key of a subscription (p256dh, auth)")
        for key in ("p256dh", "auth"):
            if key not in keys:
                raise ValidationError(f"{path}.keys.{key}", "is required")
            _Scalar(str).check(keys[key], f"{path}.keys.{key}")
        expires = data.get("expirationTime")
        expiration_time = None if expires is None else epoch_ms_to_datetime(expires, f"{path}.expirationTime")
        kwargs = {"endpoint": data["endpoint"], "p256dh": keys["p256dh"], "auth": keys["auth"]}
        return self.build({**kwargs, "expiration_time": expiration_time}, path)

    def where(self, field: str, path: str) -> str:
        if field in ("p256dh", "auth"):
            return f"{path}.keys.{field}"
        return f"{path}.{'expirationTime' if field == 'expiration_time' else field}"

    def properties(self, defs: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        key = {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"}
        properties = {
            "v": {"const": FORM_VERSION},
            "provider": {"const": self.provider},
            "type": {"const": self.target_type},
            "endpoint": {"type": "string", "format": "uri"},
            "keys": _object_schema({"p256dh": key, "auth": key}, ["p256dh", "auth"], "The subscription's keys."),
            "expirationTime": {"anyOf": [{"type": "number"}, {"type": "null"}]},
        }
        return properties, [*self.RESERVED, "endpoint", "keys"]


def datetime_to_epoch_ms(value: datetime) -> int | float:
    """Epoch milliseconds (``PushSubscription.expirationTime``), exact: an int unless there are µs."""
    micros = (value - _EPOCH) // timedelta(microseconds=1)
    return micros // 1000 if micros % 1000 == 0 else micros / 1000


def epoch_ms_to_datetime(value: object, path: str) -> datetime:
    """Read epoch milliseconds (an ``EpochTimeStamp``, possibly fractional) as an aware UTC datetime."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(path, f"must be epoch milliseconds or null, got {value!r}")
    try:
        if isinstance(value, int):
            return _EPOCH + timedelta(milliseconds=value)
        whole = int(value // 1)  # x - floor(x) is exact for a float, so the microseconds are too
        return _EPOCH + timedelta(milliseconds=whole, microseconds=round((value - whole) * 1000))
    except (OverflowError, ValueError):
        raise ValidationError(path, f"is out of range: {value!r}") from None


# --- the table ----------------------------------------------------------------------------------------


_CODECS: dict[type, _Model] = {}


def _codec_for(cls: type) -> _Model:
    """The codec of a model class or target class, built once from its fields and annotations."""
    codec = _CODECS.get(cls)
    if codec is None:
        codec = _CODECS[cls] = _make_codec(cls)
    return codec


def _option_block_names() -> dict[str, type]:
    from unipush.apns._options import ApnsOptions
    from unipush.fcm._options import FcmOptions
    from unipush.webpush._options import WebPushOptions

    return {"ApnsOptions": ApnsOptions, "FcmOptions": FcmOptions, "WebPushOptions": WebPushOptions}


def _make_codec(cls: type) -> _Model:
    from unipush._model import Action
    from unipush._targets import Target
    from unipush.apns._options import ApnsOptions
    from unipush.fcm._options import FcmOptions
    from unipush.webpush._options import WebPushOptions
    from unipush.webpush._target import WebPushSubscription

    prefixes: dict[type, str] = {
        Action: "action.",
        ApnsOptions: "apns.",
        FcmOptions: "fcm.",
        WebPushOptions: "webpush.",
    }
    if issubclass(cls, WebPushSubscription):
        return _WebPushModel(cls)
    if issubclass(cls, Target):
        if "__dataclass_fields__" not in dir(cls):
            # A plugin's target that is not a dataclass must write its own to_dict() and reader.
            raise ConfigurationError(f"{cls.__name__} is not a dataclass, so it needs its own to_dict()")
        return _TargetModel(cls)
    return _Model(cls, prefixes.get(cls, ""))


def _check_version(data: Mapping[str, Any], path: str) -> None:
    if "v" not in data:
        raise ValidationError(f"{path}.v", f"is required (the form version, {FORM_VERSION})")
    version = data["v"]
    if isinstance(version, bool) or version != FORM_VERSION:
        raise ValidationError(
            f"{path}.v", f"must be {FORM_VERSION} (this unipush reads form v{FORM_VERSION}), got {version!r}"
        )


def _check_mapping(data: object, path: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ValidationError(path, f"must be a JSON object (a dict), got {_json_type(data)}")
    return data


def notification_to_dict(notification: Notification) -> dict[str, Any]:
    """``Notification.to_dict()``."""
    return {"v": FORM_VERSION, **_codec_for(type(notification)).encode(notification)}


def notification_from_dict(data: object) -> Notification:
    """``Notification.from_dict()``."""
    from unipush._model import Notification

    checked = _check_mapping(data, "notification")
    _check_version(checked, "notification")
    result: Notification = _codec_for(Notification).decode(checked, "notification", reserved=("v",))
    return result


def target_to_dict(target: Target) -> dict[str, Any]:
    """``Target.to_dict()``."""
    result: dict[str, Any] = _codec_for(type(target)).encode(target)
    return result


def target_from_dict(data: Mapping[str, Any]) -> Target:
    """Rebuild a target from its ``to_dict()`` form: ``{"v": 1, "provider": ..., "type": ..., ...}``.

    ``provider`` names the provider that serves the target (its ``unipush.providers`` entry point:
    ``apns``, ``fcm``, ``webpush`` or a plugin's); ``type`` picks one of that provider's
    ``target_types`` by their ``target_type`` (``device``, ``topic``, ``condition``, ``subscription``).
    The class's constructor then checks the values, as when you build the target yourself. The
    provider is not built, so no credentials are needed.

    Raises:
        ValidationError: ``v`` missing or not 1, an unknown key, a wrong JSON type, a provider that is
            not installed or declares no ``target_types`` class attribute, an unknown ``type``, or what
            the constructor refuses; the field is the key path (``target.token``, ``target.keys.auth``).
    """
    checked = _check_mapping(data, "target")
    _check_version(checked, "target")
    provider = checked.get("provider")
    if provider is None:
        raise ValidationError("target.provider", "is required (the provider's name, e.g. 'apns')")
    if not isinstance(provider, str) or not provider:
        raise ValidationError("target.provider", f"must be a provider name (a string), got {_json_type(provider)}")
    types = provider_target_types(provider)
    kind = checked.get("type")
    if kind is None:
        raise ValidationError("target.type", f"is required (one of {', '.join(map(repr, types))})")
    if not isinstance(kind, str) or kind not in types:
        raise ValidationError(
            "target.type", f"must be one of {', '.join(map(repr, types))} for provider {provider!r}, got {kind!r}"
        )
    result: Target = _codec_for(types[kind]).decode(checked, "target")
    return result


# --- target types from the entry points -----------------------------------------------------------------

_TARGET_TYPES: dict[str, Mapping[str, type[Target]]] = {}


def provider_target_types(name: str) -> Mapping[str, type[Target]]:
    """The target classes of the provider registered as ``name``, by ``target_type``.

    Read from the ``target_types`` class attribute of the entry point's factory (the class itself, or
    the class of a bound classmethod such as ``Expo.from_env``) without building the provider, and
    remembered for the process (an entry point does not change while it runs).
    """
    known = _TARGET_TYPES.get(name)
    if known is not None:
        return known
    from unipush._plugins import PROVIDER_ENTRY_POINT_GROUP, available_providers
    from unipush._targets import Target

    entry_point = available_providers().get(name)
    if entry_point is None:
        installed = ", ".join(available_providers()) or "none"
        raise ValidationError(
            "target.provider",
            f"no provider named {name!r} is installed (installed: {installed}); "
            f"install the package that registers it in {PROVIDER_ENTRY_POINT_GROUP!r}",
        )
    origin = f"provider {name!r} ({entry_point.value})"
    try:
        factory = entry_point.load()
    except Exception as exc:  # a plugin's import may fail in any way
        raise ValidationError("target.provider", f"{origin} could not be loaded: {type(exc).__name__}: {exc}") from None
    owner = factory.__self__ if inspect.ismethod(factory) and isinstance(factory.__self__, type) else factory
    static = inspect.getattr_static(owner, "target_types", None)
    if isinstance(static, (property, functools.cached_property)) or static is None:
        raise ValidationError(
            "target.provider",
            f"{origin} does not declare target_types as a class attribute, so its targets cannot be read from a dict",
        )
    declared: object = getattr(owner, "target_types")  # noqa: B009  # owner is untyped: any factory
    by_type: dict[str, type[Target]] = {}
    for cls in declared if isinstance(declared, tuple) else ():
        if not (isinstance(cls, type) and issubclass(cls, Target)) or cls.provider != name:
            raise ValidationError("target.provider", f"{origin}: target_types holds {cls!r}, not a {name!r} Target")
        if cls.target_type in by_type:
            raise ValidationError(
                "target.provider", f"{origin}: two target types share target_type {cls.target_type!r}"
            )
        by_type[cls.target_type] = cls
    if not by_type:
        raise ValidationError("target.provider", f"{origin}: target_types must be a non-empty tuple of Target classes")
    frozen = MappingProxyType(by_type)
    _TARGET_TYPES[name] = frozen
    return frozen


# --- JSON Schema ----------------------------------------------------------------------------------------


def notification_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``Notification.to_dict()``, made from the same table as the form."""
    from unipush._model import Notification

    defs: dict[str, Any] = {}
    codec = _codec_for(Notification)
    properties, required = codec.properties(defs)
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": f"unipush Notification, form v{FORM_VERSION}",
        **_object_schema(
            {"v": {"const": FORM_VERSION}, **properties},
            ["v", *required],
            f"{_summary(Notification)} Written by Notification.to_dict(), read by Notification.from_dict().",
        ),
        "$defs": dict(sorted(defs.items())),
    }


def target_schema(target_classes: Sequence[type[Target]] | None = None) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``Target.to_dict()``: one branch per target class.

    ``target_classes`` defaults to the built-in targets (the shipped file); pass a plugin's to get its
    schema too.
    """
    from unipush.apns import ApnsChannel, ApnsDevice
    from unipush.fcm import FcmCondition, FcmDevice, FcmTopic
    from unipush.webpush import WebPushSubscription

    classes = target_classes or (ApnsDevice, ApnsChannel, FcmDevice, FcmTopic, FcmCondition, WebPushSubscription)
    defs: dict[str, Any] = {}
    branches = [_codec_for(cls).schema(defs) for cls in classes]
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": f"unipush target, form v{FORM_VERSION}",
        "description": "A push target as Target.to_dict() writes it and unipush.target_from_dict() reads it.",
        "oneOf": branches,
        "$defs": defs,
    }


def schema_text(schema: Mapping[str, Any]) -> str:
    """A schema as the shipped files hold it: keys in generation order, two-space indent, final newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def shipped_schema(kind: Literal["notification", "target"]) -> dict[str, Any]:
    """The shipped schema file ``unipush/schema/<kind>-v1.schema.json``, parsed."""
    text = resources.files("unipush").joinpath("schema").joinpath(SCHEMA_FILES[kind]).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def write_schemas(directory: Path | None = None) -> None:
    """Regenerate the shipped schema files.

    ``python -c "from unipush._serialize import write_schemas; write_schemas()"``
    """
    target = directory or Path(__file__).parent / "schema"
    target.mkdir(exist_ok=True)
    (target / SCHEMA_FILES["notification"]).write_text(schema_text(notification_schema()), encoding="utf-8")
    (target / SCHEMA_FILES["target"]).write_text(schema_text(target_schema()), encoding="utf-8")
