"""Send policies from ``unipush.toml``: the CLI's ``[[policies]]`` tables and ``[policy_store]``.

::

    [policy_store]                  # optional; default: in memory, for this one run
    redis_url = "redis://localhost:6379/0"

    [[policies]]                    # applied in the order written
    type = "quiet_hours"
    start = "22:00"
    end = "08:00"
    zone = "Europe/Berlin"          # the CLI knows no per-target zone: one zone for every target
    defer = false
    bypass_time_sensitive = true

    [[policies]]
    type = "frequency_cap"
    limit = 3
    window = "1d"
    category = "data.kind"          # optional: a count per category

    [[policies]]
    type = "deduplicate"
    key = "data.campaign"
    window = "7d"

A notification field is named as ``collapse_key``, ``category``, ``thread_id`` or ``data.<key>``. The
recipient is the target (the CLI has no users). Each mistake is one ``ConfigurationError`` line that
names the table and the key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from unipush._errors import ConfigurationError
from unipush._model import Notification
from unipush.policies._rules import Deduplicate, FrequencyCap, QuietHours, SendPolicy, time_sensitive
from unipush.policies._stores import PolicyStore, RedisPolicyStore

__all__ = ["CONFIG_SECTIONS", "policies_from_config"]

CONFIG_SECTIONS = ("policies", "policy_store")
"""The ``unipush.toml`` sections ``policies_from_config`` reads (``[[policies]]``, ``[policy_store]``)."""
_FIELDS = ("collapse_key", "category", "thread_id")
_KEYS: dict[str, tuple[str, ...]] = {
    "quiet_hours": ("start", "end", "zone", "defer", "bypass_time_sensitive", "name"),
    "frequency_cap": ("limit", "window", "category", "name"),
    "deduplicate": ("key", "window", "name"),
}


def policies_from_config(
    document: Mapping[str, Any], where: str, *, duration: Callable[[str], int]
) -> tuple[list[SendPolicy], PolicyStore | None]:
    """The policies and store a parsed ``unipush.toml`` describes (none: ``[]``, ``None``).

    ``duration`` reads a window written as text (``"1d"``, ``"15m"``); a number is seconds.
    """
    tables = document.get("policies", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigurationError(f"{where}: policies must be [[policies]] tables, each with a type")
    policies = [_policy(table, f"{where} [[policies]] #{n}", duration) for n, table in enumerate(tables, 1)]
    return policies, _store(document.get("policy_store"), f"{where} [policy_store]")


def _policy(table: Mapping[str, Any], where: str, duration: Callable[[str], int]) -> SendPolicy:
    kind = table.get("type")
    if kind not in _KEYS:
        raise ConfigurationError(f"{where}: type must be one of {', '.join(_KEYS)}, got {kind!r}"[:200])
    unknown = sorted(set(table) - {"type", *_KEYS[kind]})
    if unknown:
        raise ConfigurationError(f"{where}: unknown key {unknown[0]!r} for {kind} (expected: {', '.join(_KEYS[kind])})")
    name = {"name": table["name"]} if "name" in table else {}
    try:
        if kind == "quiet_hours":
            return QuietHours(
                _text(table, "start", where, "22:00"),
                _text(table, "end", where, "08:00"),
                zone=_text(table, "zone", where, "UTC"),
                defer=table.get("defer", False),
                bypass=time_sensitive if table.get("bypass_time_sensitive") is True else None,
                **name,
            )
        if kind == "frequency_cap":
            category = table.get("category")
            return FrequencyCap(
                table.get("limit"),  # type: ignore[arg-type]  # checked by FrequencyCap
                _window(table, where, duration),
                category=None if category is None else _field(category, f"{where} category"),
                **name,
            )
        if "key" not in table:
            raise ConfigurationError("key is required (data.<key>, collapse_key, category or thread_id)")
        return Deduplicate(_field(table["key"], f"{where} key"), _window(table, where, duration), **name)
    except ConfigurationError as exc:
        message = str(exc)
        raise ConfigurationError(message if message.startswith(where) else f"{where}: {message}") from None


def _text(table: Mapping[str, Any], key: str, where: str, default: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise ConfigurationError(f"{where}: {key} must be a string, got {value!r}"[:200])
    return value


def _window(table: Mapping[str, Any], where: str, duration: Callable[[str], int]) -> float:
    value = table.get("window")
    if isinstance(value, str):
        try:
            return duration(value)
        except ValueError as exc:
            raise ConfigurationError(f"{where}: window: {exc}") from None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    raise ConfigurationError(f'{where}: window is required: seconds or a duration like "1d", got {value!r}'[:200])


def _field(spec: object, where: str) -> Callable[[Notification], str | None]:
    """The function that reads the notification field ``spec`` names."""
    if isinstance(spec, str) and spec.startswith("data.") and len(spec) > 5:
        key = spec[5:]
        return lambda notification: notification.data.get(key)
    if spec in _FIELDS:
        return lambda notification: getattr(notification, str(spec))
    raise ConfigurationError(f"{where} must be data.<key>, collapse_key, category or thread_id, got {spec!r}"[:200])


def _store(table: object, where: str) -> PolicyStore | None:
    if table is None:
        return None
    if not isinstance(table, dict) or set(table) - {"redis_url", "prefix"} or "redis_url" not in table:
        raise ConfigurationError(f"{where}: give redis_url (and optionally prefix)")
    return RedisPolicyStore(table["redis_url"], prefix=table.get("prefix", "unipush:policy:"))
