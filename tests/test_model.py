"""The Notification model: every field validated at construction, errors naming field and rule."""

from __future__ import annotations

from datetime import timedelta

import pytest

from unipush import Action, Notification, ValidationError
from unipush._validate import MAX_TTL_SECONDS


def test_rich_notification_keeps_values() -> None:
    n = Notification(
        title="Order shipped",
        body="#1234 is on its way",
        deep_link="https://shop.example/o/1234",
        image="https://cdn.example/box.png",
        badge=1,
        sound="default",
        collapse_key="order-1234",
        ttl=timedelta(hours=1),
        priority="high",
        data={"order": "1234"},
        actions=[Action(id="track", title="Track")],
    )
    assert n.ttl == 3600
    assert n.ttl_seconds == 3600
    assert dict(n.data) == {"order": "1234"}
    assert n.actions == (Action("track", "Track"),)
    assert n.has_alert


def test_model_is_frozen_and_keyword_only() -> None:
    n = Notification(title="x")
    with pytest.raises(AttributeError):
        n.title = "y"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Notification("x")  # type: ignore[call-arg]


def test_data_is_copied_and_read_only() -> None:
    source = {"a": "1"}
    n = Notification(data=source)
    source["b"] = "2"
    assert dict(n.data) == {"a": "1"}
    with pytest.raises(TypeError):
        n.data["c"] = "3"  # type: ignore[index]


@pytest.mark.parametrize(
    ("kwargs", "field", "fragment"),
    [
        ({"badge": -1}, "badge", ">= 0"),
        ({"badge": True}, "badge", "int"),
        ({"badge": 1.5}, "badge", "int"),
        ({"ttl": -1}, "ttl", "between 0 and 2419200"),
        ({"ttl": MAX_TTL_SECONDS + 1}, "ttl", "28 days"),
        ({"ttl": timedelta(milliseconds=1500)}, "ttl", "whole seconds"),
        ({"ttl": "60"}, "ttl", "int seconds or a timedelta"),
        ({"priority": "urgent"}, "priority", "'high', 'normal'"),
        ({"data": {"n": 1}}, "data['n']", "string"),
        ({"data": {"": "x"}}, "data", "non-empty"),
        ({"data": ["a"]}, "data", "mapping"),
        ({"image": "cdn.example/x.png"}, "image", "absolute URL"),
        ({"image": "ftp://cdn.example/x.png"}, "image", "https or http"),
        ({"icon": "https:///x.png"}, "icon", "host"),
        ({"deep_link": "not a link"}, "deep_link", "whitespace"),
        ({"title": 3}, "title", "string"),
        ({"collapse_key": ""}, "collapse_key", "empty"),
        ({"title": ""}, "title", "empty"),
        ({"body": ""}, "body", "empty"),
        ({"data": {"aps": "x"}}, "data", "reserved"),
        ({"data": {"unipush.image": "x"}}, "data", "reserved"),
        ({"content_available": 1}, "content_available", "bool"),
        ({"actions": "track"}, "actions", "sequence"),
        ({"actions": [{"id": "a"}]}, "actions[0]", "Action"),
        ({"actions": [Action("a", "A"), Action("a", "B")]}, "actions[1].id", "duplicates"),
        ({"apns": {"push_type": "alert"}}, "apns", "ApnsOptions"),
    ],
)
def test_invalid_values_name_the_field_and_rule(kwargs: dict[str, object], field: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        Notification(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
    assert fragment in str(info.value)


def test_ttl_bounds_are_inclusive() -> None:
    assert Notification(ttl=0).ttl == 0
    assert Notification(ttl=MAX_TTL_SECONDS).ttl == MAX_TTL_SECONDS
    assert Notification(ttl=timedelta(days=28)).ttl == MAX_TTL_SECONDS


def test_deep_link_accepts_app_schemes() -> None:
    assert Notification(deep_link="myapp://orders/1").deep_link == "myapp://orders/1"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"id": "", "title": "T"}, "action.id"),
        ({"id": "a", "title": ""}, "action.title"),
        ({"id": "a", "title": "T", "icon": "icon.png"}, "action.icon"),
        ({"id": "a", "title": "T", "deep_link": "nope"}, "action.deep_link"),
    ],
)
def test_action_validation(kwargs: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        Action(**kwargs)
    assert info.value.field == field


def test_validation_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="badge"):
        Notification(badge=-5)
