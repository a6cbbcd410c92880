"""FCM's own rules on a well-typed message, checked after the schema, in the order FCM checks them.

No target, reserved data keys, a TTL over 4 weeks, a colour other than ``#rrggbb``, a non-HTTPS webpush link,
topic characters, condition syntax or more than 5 topics, ``android`` with ``android_v2``, the payload size
(4096 bytes; 2048 for topics and conditions) and a registration token that cannot be one: each answers
``400 INVALID_ARGUMENT`` with an ``FcmError``. The payload size counts the UTF-8 bytes of the keys and
values of ``message.data`` and ``message.notification`` (FCM's ErrorCode reference: "both the keys and the
values"), the same measure unipush's encoder applies. ``condition_matches`` evaluates a condition
against a device's topics for topic sends.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from unipush.sandbox.emulators._fcm._errors import Reject, fcm_invalid, invalid_token
from unipush.sandbox.emulators._fcm._schema import TARGETS

MAX_TTL_SECONDS = 2_419_200
"""FCM: ``android.ttl`` is at most 4 weeks."""

PAYLOAD_LIMIT = 4096
"""FCM ErrorCode reference: the payload limit of a message to a token."""

TOPIC_PAYLOAD_LIMIT = 2048
"""FCM ErrorCode reference: the payload limit of a message to a topic (applied to conditions as well)."""

MAX_CONDITION_TOPICS = 5
"""FCM topic messaging guide: a condition may name at most five topics."""

TOKEN_CHARS = re.compile(r"[A-Za-z0-9_:\-]{32,4096}")
TOPIC_NAME = re.compile(r"[a-zA-Z0-9\-_.~%]+")
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
_RESERVED_KEYS = frozenset({"from", "message_type"})
_RESERVED_PREFIXES = ("google.", "gcm.")


def validate_message(message: Mapping[str, Any]) -> tuple[str, str]:
    """FCM's own rules on a well-typed message; returns the target field and value."""
    target_field = next((name for name in TARGETS if message.get(name)), None)
    if target_field is None:
        fcm_invalid("message", "Recipient of the message is not set.")
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
                fcm_invalid(block, f"Invalid data payload key: {key}")
    if "android" in message and "android_v2" in message:
        fcm_invalid("message.android_v2", "android_v2 cannot be combined with android.")
    for block in ("android", "android_v2"):
        ttl = message.get(block, {}).get("ttl")
        # AndroidConfig.ttl: from 0 to 4 weeks.
        if ttl is not None and not 0 <= ttl <= MAX_TTL_SECONDS:
            fcm_invalid(f"message.{block}.ttl", f"TTL must be between 0s and {MAX_TTL_SECONDS}s (4 weeks).")
    color = message.get("android", {}).get("notification", {}).get("color")
    if color is not None and not _COLOR.fullmatch(color):
        # AndroidNotification.color: "expressed in #rrggbb format".
        fcm_invalid("message.android.notification.color", f"Invalid color value: {color}. Use #rrggbb.")
    link = message.get("webpush", {}).get("fcm_options", {}).get("link")
    if link is not None and not link.startswith("https://"):
        # WebpushFcmOptions.link: "For all URL values, HTTPS is required."
        fcm_invalid("message.webpush.fcm_options.link", "The link must use HTTPS.")
    if target_field == "topic" and not TOPIC_NAME.fullmatch(target):
        # Message.topic: a bare name matching [a-zA-Z0-9-_.~%]+ (no "/topics/" prefix).
        fcm_invalid("message.topic", f"Invalid topic name: {target}. Allowed characters: [a-zA-Z0-9-_.~%]")
    if target_field == "condition":
        problem = _condition_problem(target)
        if problem is not None:
            fcm_invalid("message.condition", f"Invalid condition expression: {problem}")
    limit = PAYLOAD_LIMIT if target_field in ("token", "fid") else TOPIC_PAYLOAD_LIMIT
    size = _payload_size(message)
    if size > limit:
        # ErrorCode INVALID_ARGUMENT: "the message payload is too big" (data + notification keys and values).
        fcm_invalid("message", "Android message is too big", detail=f"payload is {size} bytes; limit {limit}")
    if target_field == "token" and not TOKEN_CHARS.fullmatch(target):
        raise Reject(invalid_token("the token is not 32-4096 characters of [A-Za-z0-9_:-]"))
    return target_field, target


def _payload_size(message: Mapping[str, Any]) -> int:
    size = 0
    for block in ("data", "notification"):
        for key, value in (message.get(block) or {}).items():
            size += len(key.encode()) + len(str(value).encode())
    return size


_CONDITION_TOKEN = re.compile(
    r"""\s*(?:(?P<op>&&|\|\|)|(?P<not>!)|(?P<open>\()|(?P<close>\))|(?P<q>['"])(?P<topic>[^'"]*)(?P=q)\s+in\s+topics\b)"""
)


def condition_matches(expression: str, topics: set[str]) -> bool:
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
        if not TOPIC_NAME.fullmatch(topic):
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
