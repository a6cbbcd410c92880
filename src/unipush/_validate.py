"""Small validators shared by the model, the targets and the provider encoders.

Each raises ``ValidationError`` naming the field and the rule it broke, so a user sees
``ttl: must be between 0 and 2419200 seconds (28 days), got 3000000`` rather than a stack trace
from a JSON encoder.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any
from urllib.parse import SplitResult, urlsplit

from unipush._errors import ConfigurationError, ValidationError

MAX_TTL_SECONDS = 28 * 24 * 3600
"""28 days: FCM's maximum ``android.ttl`` (2,419,200 s) and the largest value every provider keeps."""

DEFAULT_TTL_SECONDS = MAX_TTL_SECONDS
"""The TTL used when ``Notification.ttl`` is ``None``: 28 days, so every provider gets an explicit value."""


EARLIEST_DATETIME = datetime(1970, 1, 1, tzinfo=timezone.utc)
"""The earliest instant a model ``datetime`` may be: every provider sends times as UNIX seconds or
milliseconds, and the Notifications API's ``EpochTimeStamp`` is unsigned."""

LATEST_DATETIME = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
"""The latest instant a model ``datetime`` may be: the end of the protobuf ``Timestamp`` range (FCM's
``event_time``) and the last second Python can still convert to UTC."""

LATEST_UNIX_SECONDS = int(LATEST_DATETIME.timestamp())
"""``LATEST_DATETIME`` as UNIX seconds (253402300799), the bound of times given as int seconds."""


def check_text(field: str, value: str) -> str:
    """Return ``value`` if it is valid Unicode text, i.e. can be encoded as UTF-8.

    Every wire format unipush writes is UTF-8 (JSON bodies, HTTP/2 header values, the encrypted Web
    Push plaintext). A lone surrogate (``"\\udfff"``, what a broken UTF-16 decoder or a truncated emoji
    leaves behind) is a ``str`` Python accepts but UTF-8 cannot represent (RFC 3629 §3), so it would only
    fail later, in an encoder, as a ``UnicodeEncodeError``. It is refused here, naming the field.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(
            field,
            f"contains a lone surrogate (U+{ord(value[exc.start]):04X} at index {exc.start}), "
            "which is not valid Unicode text and cannot be sent as UTF-8",
        ) from None
    return value


def check_header_value(field: str, value: str) -> str:
    """Return ``value`` if it can be sent as an HTTP field value, else raise ``ValidationError``.

    RFC 9110 §5.5: a field value is visible characters, SP and HTAB (plus obs-text, which UTF-8 bytes
    of non-ASCII text are); CR, LF and NUL are "invalid and dangerous" (they split or end a header on
    HTTP/1.1 hops and proxies). RFC 9113 §8.2.1 makes a value with NUL, CR or LF, or one starting or
    ending with SP or HTAB, malformed in HTTP/2. Any other control character is not a field-vchar
    either. So every value unipush puts in a header is checked here, before anything is sent.
    """
    check_text(field, value)
    for index, char in enumerate(value):
        if (char < " " and char != "\t") or char == "\x7f":
            raise ValidationError(
                field,
                f"must not contain control characters such as CR, LF or NUL (it becomes an HTTP header; "
                f"RFC 9110 §5.5), got U+{ord(char):04X} at index {index}",
            )
    if value[:1] in (" ", "\t") or value[-1:] in (" ", "\t"):
        raise ValidationError(
            field, "must not start or end with a space or tab (it becomes an HTTP header; RFC 9113 §8.2.1)"
        )
    return value


def optional_str(field: str, value: object, *, allow_empty: bool = False) -> str | None:
    """Return ``value`` if it is ``None`` or valid Unicode text (non-empty unless ``allow_empty``)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string, got {type(value).__name__}")
    if not allow_empty and not value:
        raise ValidationError(field, "must not be empty")
    return check_text(field, value)


def optional_header(field: str, value: object) -> str | None:
    """Return ``value`` if it is ``None`` or a non-empty string that is a valid HTTP field value."""
    text = optional_str(field, value)
    return None if text is None else check_header_value(field, text)


def str_tuple(field: str, value: object) -> tuple[str, ...]:
    """Copy a sequence of text strings (not a bare ``str``) into a tuple."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValidationError(field, f"must be a sequence of strings, got {type(value).__name__}")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise ValidationError(f"{field}[{index}]", f"must be a string, got {type(item).__name__}")
        check_text(f"{field}[{index}]", item)
    return tuple(value)


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
    try:
        number = float(value)
    except OverflowError:  # only an int can be beyond float range (10**400)
        bits = int.bit_length(int(value))
        raise ValidationError(field, f"is out of range, got an int of {bits} bits") from None
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
    """Return ``value`` if it is ``None`` or an absolute URL; ``schemes=None`` allows any scheme (deep links).

    An ``http``/``https`` URL must also name a host and, if it has one, a port in range, because the
    browser or the device parses it again and drops the notification (or the click) when it cannot.
    """
    url = optional_str(field, value)
    if url is None:
        return None
    if any(c.isspace() or c < " " or c == "\x7f" for c in url):
        raise ValidationError(field, "must be a URL without whitespace or control characters")
    parts = split_url(field, url)
    if not parts.scheme:
        raise ValidationError(field, f"must be an absolute URL with a scheme, got {url!r}")
    scheme = parts.scheme.lower()
    if schemes is not None and scheme not in schemes:
        raise ValidationError(field, f"must use {' or '.join(schemes)}, got {parts.scheme!r}")
    if scheme in ("https", "http") and not parts.hostname:
        raise ValidationError(field, f"must name a host, got {url!r}")
    return url


def optional_media_url(field: str, value: object) -> str | None:
    """Return ``value`` if it is ``None`` or an ``https://`` URL of an image or icon.

    No platform loads an image over plain http: iOS's App Transport Security blocks it in the
    Notification Service Extension, Android's network security config refuses cleartext by default
    (API 28+), and browsers block or upgrade it as mixed content (W3C Mixed Content §4.3). So a
    ``http://`` image would be sent and silently not shown; it is refused instead. A loopback host
    (``localhost``, ``127.0.0.0/8``, ``[::1]``) is the exception: it is a potentially trustworthy
    origin (W3C Secure Contexts §3.1), which is how a local test page serves its icons.
    """
    url = optional_url(field, value)
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() == "http" and not is_loopback_host(parts.hostname or ""):
        raise ValidationError(
            field,
            "must be an https:// URL: iOS (App Transport Security), Android (cleartext is off by default) and "
            f"browsers (mixed content) do not load images over http, got {url!r}",
        )
    return url


def split_url(field: str, url: str) -> SplitResult:
    """``urlsplit(url)``, with its host and port checked, raising ``ValidationError`` instead of ``ValueError``.

    ``urlsplit`` raises ``ValueError`` for an unclosed IPv6 bracket (``https://[::1``) and ``.port`` for a
    port that is not a number from 0 to 65535; both are bad input, named by ``field``.
    """
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError as exc:
        raise ValidationError(field, f"is not a valid URL ({exc}), got {url!r}") from None
    return parts


def service_url(owner: str, field: str, value: object) -> str:
    """Check a provider endpoint given to a constructor (``base_url``, ``token_uri``); raise ``ConfigurationError``.

    An absolute ``http(s)`` URL with a host and no query or fragment (a path is appended to it).
    Returned without a trailing slash.
    """
    try:
        url = optional_url(field, value)
    except ValidationError as exc:
        raise ConfigurationError(f"{owner} {field} {exc.message}") from None
    if url is None:
        raise ConfigurationError(f"{owner} {field} must be an http(s) URL, got None")
    parts = urlsplit(url)
    if parts.query or parts.fragment or parts.username is not None or parts.password is not None:
        raise ConfigurationError(
            f"{owner} {field} must be an http(s) URL with a host and no user info, query or fragment, got {url!r}"
        )
    return url.rstrip("/")


def read_error_reason(exc: BaseException) -> str:
    """Why a credential file could not be read, for a ``ConfigurationError``; never its content.

    ``Path.expanduser`` raises ``RuntimeError`` for ``~nosuchuser/...``; ``open`` raises ``ValueError``
    for a NUL in the path and ``UnicodeEncodeError`` for a lone surrogate; ``read_text`` raises
    ``UnicodeDecodeError`` for a file that is not UTF-8.
    """
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, RuntimeError):
        return "its ~user home directory does not exist"
    if isinstance(exc, UnicodeDecodeError):
        return "the file is not UTF-8 text"
    return "not a usable file name (it contains NUL or text that is not valid Unicode)"


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (as ``urlsplit`` gives it, without brackets) names this machine.

    ``localhost`` and ``*.localhost`` are loopback by RFC 6761 §6.3; an IP literal in ``127.0.0.0/8`` or
    ``::1``.
    """
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def aware_datetime(field: str, value: object) -> datetime | None:
    """Return ``value`` if it is ``None`` or a timezone-aware ``datetime`` from 1970 to 9999 (UTC).

    Providers receive times as UNIX seconds, epoch milliseconds or RFC 3339 UTC text, so a time must be
    convertible to UTC: ``datetime.max`` with a negative offset, or year 1 with a positive one, raise
    ``OverflowError`` in ``astimezone``. The range is checked here, naming the field and the limit.
    """
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValidationError(field, f"must be a datetime, got {type(value).__name__}")
    try:
        offset = value.utcoffset()
    except (ValueError, TypeError, OverflowError) as exc:  # a tzinfo whose utcoffset() is broken
        raise ValidationError(field, f"has a tzinfo whose utcoffset() fails: {type(exc).__name__}") from None
    if offset is None:
        raise ValidationError(field, "must be timezone-aware (e.g. tzinfo=timezone.utc)")
    # Comparing aware datetimes subtracts their offsets without building an out-of-range datetime.
    if not EARLIEST_DATETIME <= value <= LATEST_DATETIME:
        raise ValidationError(
            field,
            f"must be between {EARLIEST_DATETIME.isoformat()} and {LATEST_DATETIME.isoformat()} (UTC), "
            f"got {value.isoformat()}",
        )
    return value


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
        check_text(f"{field} key {key!r}", key)
        if not isinstance(item, str):
            raise ValidationError(f"{field}[{key!r}]", f"must be a string, got {type(item).__name__}")
        copied[key] = check_text(f"{field}[{key!r}]", item)
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
        check_text(f"{field} key {key!r}", key)
        json_value(f"{field}[{key!r}]", item)
    return MappingProxyType(dict(value))


def json_value(field: str, value: object, depth: int = 0) -> None:
    """Check that ``value`` is made only of JSON types (dict with str keys, list, str, number, bool, None)."""
    if depth > 32:
        raise ValidationError(field, "is nested more than 32 levels deep")
    if isinstance(value, str):
        check_text(field, value)
        return
    if value is None or isinstance(value, (bool, int)):
        return
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValidationError(field, "must be a finite number (JSON has no NaN or Infinity)")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(field, f"keys must be strings, got {key!r}")
            check_text(f"{field} key {key!r}", key)
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
