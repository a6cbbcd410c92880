"""Small validators shared by the model, the targets and the provider encoders.

Each raises ``ValidationError`` naming the field and the rule it broke, so a user sees
``ttl: must be between 0 and 2419200 seconds (28 days), got 3000000`` rather than a stack trace
from a JSON encoder.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from unipush._errors import ValidationError

MAX_TTL_SECONDS = 28 * 24 * 3600
"""28 days: FCM's maximum ``android.ttl`` (2,419,200 s) and the largest value every provider keeps."""

DEFAULT_TTL_SECONDS = MAX_TTL_SECONDS
"""The TTL used when ``Notification.ttl`` is ``None``: 28 days, so every provider gets an explicit value."""


def optional_str(field: str, value: object, *, allow_empty: bool = False) -> str | None:
    """Return ``value`` if it is ``None`` or a string (non-empty unless ``allow_empty``)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string, got {type(value).__name__}")
    if not allow_empty and not value:
        raise ValidationError(field, "must not be empty")
    return value


def required_str(field: str, value: object) -> str:
    """Return ``value`` if it is a non-empty string."""
    checked = optional_str(field, value)
    if checked is None:
        raise ValidationError(field, "is required")
    return checked


def optional_bool(field: str, value: object) -> bool | None:
    """Return ``value`` if it is ``None`` or a real ``bool`` (not 0/1)."""
    if value is None or isinstance(value, bool):
        return value
    raise ValidationError(field, f"must be a bool, got {type(value).__name__}")


def optional_int(field: str, value: object, *, minimum: int | None = None, maximum: int | None = None) -> int | None:
    """Return ``value`` if it is ``None`` or an ``int`` (not a bool) within the bounds."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, f"must be an int, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValidationError(field, f"must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValidationError(field, f"must be <= {maximum}, got {value}")
    return value


def optional_number(
    field: str, value: object, *, minimum: float | None = None, maximum: float | None = None
) -> float | None:
    """Return ``value`` as a float if it is ``None`` or a real number within the bounds."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(field, f"must be a number, got {type(value).__name__}")
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValidationError(field, "must be a finite number")
    if minimum is not None and number < minimum:
        raise ValidationError(field, f"must be >= {minimum}, got {value}")
    if maximum is not None and number > maximum:
        raise ValidationError(field, f"must be <= {maximum}, got {value}")
    return number


def one_of(field: str, value: object, allowed: tuple[str, ...]) -> str | None:
    """Return ``value`` if it is ``None`` or one of ``allowed``."""
    if value is None:
        return None
    if not isinstance(value, str) or value not in allowed:
        raise ValidationError(field, f"must be one of {', '.join(repr(a) for a in allowed)}, got {value!r}")
    return value


def optional_url(field: str, value: object, *, schemes: tuple[str, ...] | None = ("https", "http")) -> str | None:
    """Return ``value`` if it is ``None`` or an absolute URL; ``schemes=None`` allows any scheme (deep links)."""
    url = optional_str(field, value)
    if url is None:
        return None
    if any(c.isspace() for c in url):
        raise ValidationError(field, "must be a URL without whitespace")
    parts = urlsplit(url)
    if not parts.scheme:
        raise ValidationError(field, f"must be an absolute URL with a scheme, got {url!r}")
    if schemes is not None:
        if parts.scheme.lower() not in schemes:
            raise ValidationError(field, f"must use {' or '.join(schemes)}, got {parts.scheme!r}")
        if not parts.netloc:
            raise ValidationError(field, f"must name a host, got {url!r}")
    return url


def ttl_seconds(field: str, value: object) -> int | None:
    """Normalise a TTL given as whole seconds or a ``timedelta`` to int seconds in [0, 28 days]."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        if value % timedelta(seconds=1):
            raise ValidationError(field, f"must be whole seconds, got {value}")
        seconds = int(value.total_seconds())
    elif isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    else:
        raise ValidationError(field, f"must be int seconds or a timedelta, got {type(value).__name__}")
    if not 0 <= seconds <= MAX_TTL_SECONDS:
        raise ValidationError(field, f"must be between 0 and {MAX_TTL_SECONDS} seconds (28 days), got {seconds}")
    return seconds


def str_mapping(field: str, value: object) -> Mapping[str, str]:
    """Copy a mapping of str to str into a read-only mapping (FCM data is string-only, so is ours)."""
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise ValidationError(field, f"must be a mapping of str to str, got {type(value).__name__}")
    copied: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise ValidationError(field, f"keys must be non-empty strings, got {key!r}")
        if not isinstance(item, str):
            raise ValidationError(f"{field}[{key!r}]", f"must be a string, got {type(item).__name__}")
        copied[key] = item
    return MappingProxyType(copied)


def json_mapping(field: str, value: object) -> Mapping[str, Any]:
    """Copy a JSON-serialisable mapping with string keys into a read-only mapping."""
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise ValidationError(field, f"must be a mapping, got {type(value).__name__}")
    for key, item in value.items():
        if not isinstance(key, str):
            raise ValidationError(field, f"keys must be strings, got {key!r}")
        json_value(f"{field}[{key!r}]", item)
    return MappingProxyType(dict(value))


def json_value(field: str, value: object, depth: int = 0) -> None:
    """Check that ``value`` is made only of JSON types (dict with str keys, list, str, number, bool, None)."""
    if depth > 32:
        raise ValidationError(field, "is nested more than 32 levels deep")
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValidationError(field, "must be a finite number (JSON has no NaN or Infinity)")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(field, f"keys must be strings, got {key!r}")
            json_value(f"{field}[{key!r}]", item, depth + 1)
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            json_value(f"{field}[{index}]", item, depth + 1)
        return
    raise ValidationError(field, f"must be JSON data, got {type(value).__name__}")


def plain_json(value: Any) -> Any:
    """A copy of JSON-like data with read-only mappings (``MappingProxyType``) turned into dicts and
    tuples into lists, which ``json.dumps`` needs; the model stores its mappings read-only."""
    if isinstance(value, Mapping):
        return {key: plain_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_json(item) for item in value]
    return value
