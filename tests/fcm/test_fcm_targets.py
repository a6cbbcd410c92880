"""FCM targets: what FCM would refuse is refused at construction, naming the field."""

from __future__ import annotations

import pytest

from unipush._errors import ValidationError
from unipush.fcm import FcmCondition, FcmDevice, FcmTopic


def test_device_keeps_the_token() -> None:
    device = FcmDevice("abc:APA91b-xyz_123")
    assert device.token == device.key == "abc:APA91b-xyz_123"
    assert device.provider == FcmDevice.provider == "fcm"
    assert device.short() == "abc:APA9…"


@pytest.mark.parametrize(
    ("token", "rule"),
    [
        ("", "empty"),
        ("abc def", "whitespace"),
        ("abc\n", "whitespace"),
        ("x" * 4097, "4096"),
        (b"abc", "string"),
    ],
)
def test_bad_tokens_are_refused(token: object, rule: str) -> None:
    with pytest.raises(ValidationError) as info:
        FcmDevice(token)  # type: ignore[arg-type]
    assert info.value.field == "token"
    assert rule in info.value.message


def test_longest_token_is_accepted() -> None:
    assert len(FcmDevice("x" * 4096).token) == 4096


@pytest.mark.parametrize(
    ("given", "name"), [("news", "news"), ("/topics/news", "news"), ("a-b_c.d~e%20", "a-b_c.d~e%20")]
)
def test_topic_is_normalised_to_the_bare_name(given: str, name: str) -> None:
    topic = FcmTopic(given)
    assert topic.name == topic.key == name
    assert topic == FcmTopic(name)
    assert topic.provider == "fcm"


@pytest.mark.parametrize("name", ["", "/topics/", "news!", "a b", "topics/news", "café", 7])
def test_bad_topics_are_refused(name: object) -> None:
    with pytest.raises(ValidationError) as info:
        FcmTopic(name)  # type: ignore[arg-type]
    assert info.value.field == "topic"


@pytest.mark.parametrize(
    "expr",
    [
        "'news' in topics",
        "'a' in topics && ('b' in topics || 'c' in topics)",
        "\"a\" in topics || 'b' in topics",
        "'a' in topics && 'b' in topics && 'c' in topics && 'd' in topics && 'e' in topics",
        "!('a' in topics)",
    ],
)
def test_valid_conditions(expr: str) -> None:
    condition = FcmCondition(expr)
    assert condition.expr == condition.key == expr
    assert condition.provider == "fcm"


@pytest.mark.parametrize(
    ("expr", "rule"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("news", "at least one"),
        ("'a' in topics && b in topics", "quoted"),
        ("'a' in topics || 'b' in topics || 'c' in topics || 'd' in topics || 'e' in topics || 'f' in topics", "5"),
        ("'a' in topics && 'bad name' in topics", "[a-zA-Z0-9-_.~%]"),
        ("'' in topics", "empty"),
    ],
)
def test_bad_conditions_are_refused(expr: str, rule: str) -> None:
    with pytest.raises(ValidationError) as info:
        FcmCondition(expr)
    assert info.value.field == "condition"
    assert rule in info.value.message


def test_targets_are_frozen_and_hashable() -> None:
    device = FcmDevice("tok")
    with pytest.raises(AttributeError):
        device.token = "other"  # type: ignore[misc]
    assert len({FcmDevice("tok"), FcmDevice("tok"), FcmTopic("tok")}) == 2
