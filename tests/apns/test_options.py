"""Validation of ``ApnsOptions`` and ``ApnsDevice``."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from unipush._errors import ValidationError
from unipush._model import Notification
from unipush.apns import ApnsDevice, ApnsOptions, ApnsPushType

START = {"event": "start", "attributes_type": "A", "attributes": {"a": 1}, "content_state": {"s": 1}}


def error(**kwargs: Any) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        ApnsOptions(**kwargs)
    return info.value


def test_defaults_are_empty() -> None:
    options = ApnsOptions()
    assert options.push_type is None
    assert options.title_loc_args == ()
    assert options.critical_sound is None
    assert Notification(title="t", apns=options).apns is options


def test_push_type_accepts_names_and_members() -> None:
    assert ApnsOptions(push_type="voip").push_type is ApnsPushType.VOIP
    assert ApnsOptions(push_type=ApnsPushType.WIDGETS).push_type is ApnsPushType.WIDGETS
    assert str(ApnsPushType.VOIP) == "voip"
    err = error(push_type="silent")
    assert err.field == "apns.push_type"
    assert "'controls'" in err.message


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"interruption_level": "loud"}, "apns.interruption_level"),
        ({"relevance_score": 1.5}, "apns.relevance_score"),
        ({"relevance_score": -0.1}, "apns.relevance_score"),
        ({"relevance_score": "high"}, "apns.relevance_score"),
        ({"relevance_score": float("nan")}, "apns.relevance_score"),
        ({"target_content_id": ""}, "apns.target_content_id"),
        ({"filter_criteria": 3}, "apns.filter_criteria"),
        ({"critical_sound": 2}, "apns.critical_sound"),
        ({"critical_sound": "loud"}, "apns.critical_sound"),
        ({"critical_sound": True, "interruption_level": "passive"}, "apns.critical_sound"),
        ({"title_loc_args": ["a"]}, "apns.title_loc_args"),
        ({"subtitle_loc_args": ["a"]}, "apns.subtitle_loc_args"),
        ({"loc_args": ["a"]}, "apns.loc_args"),
        ({"loc_key": "K", "loc_args": "abc"}, "apns.loc_args"),
        ({"loc_key": "K", "loc_args": ["a", 1]}, "apns.loc_args[1]"),
        ({"mutable_content": 1}, "apns.mutable_content"),
        ({"priority": 7}, "apns.priority"),
        ({"priority": True}, "apns.priority"),
        ({"priority": "10"}, "apns.priority"),
        ({"extra": {"aps": {}}}, "apns.extra"),
        ({"extra": {"unipush": 1}}, "apns.extra"),
        ({"extra": {"unipush.x": 1}}, "apns.extra"),
        ({"extra": {"k": object()}}, "apns.extra['k']"),
        ({"extra": ["k"]}, "apns.extra"),
        ({"event": "pause"}, "apns.event"),
    ],
)
def test_field_errors(kwargs: dict[str, Any], field: str) -> None:
    assert error(**kwargs).field == field


def test_critical_sound_forms() -> None:
    assert ApnsOptions(critical_sound=True).critical_sound is True
    assert ApnsOptions(critical_sound=False).critical_sound is None
    assert ApnsOptions(critical_sound=1).critical_sound == 1.0
    assert ApnsOptions(critical_sound=0.25, interruption_level="critical").critical_sound == 0.25


@pytest.mark.parametrize(
    "name",
    ["content_state", "timestamp", "stale_date", "attributes_type", "attributes", "input_push_token"],
)
def test_live_activity_fields_need_an_event(name: str) -> None:
    value = {"content_state": {"a": 1}, "attributes": {"a": 1}, "attributes_type": "A", "input_push_token": True}
    err = error(**{name: value.get(name, 5)})
    assert err.field == f"apns.{name}"
    assert "apns.event" in err.message


def test_liveactivity_push_type_needs_an_event() -> None:
    assert error(push_type="liveactivity").field == "apns.event"
    options = ApnsOptions(push_type="liveactivity", event="update", content_state={"x": 1})
    assert options.push_type is ApnsPushType.LIVEACTIVITY


def test_event_conflicts_with_another_push_type() -> None:
    assert error(push_type="alert", event="end").field == "apns.push_type"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"attributes_type": "A"}, "apns.attributes_type"),
        ({"attributes": {"a": 1}}, "apns.attributes"),
        ({"input_push_token": True}, "apns.input_push_token"),
        ({"input_push_channel": "c"}, "apns.input_push_channel"),
    ],
)
def test_start_only_fields(extra: dict[str, Any], field: str) -> None:
    err = error(event="update", content_state={"s": 1}, **extra)
    assert err.field == field
    assert "start" in err.message


@pytest.mark.parametrize("missing", ["attributes_type", "attributes", "content_state"])
def test_start_requires_attributes_and_state(missing: str) -> None:
    kwargs = {k: v for k, v in START.items() if k != missing}
    assert error(**kwargs).field == f"apns.{missing}"


def test_update_requires_content_state_and_end_does_not() -> None:
    assert error(event="update").field == "apns.content_state"
    assert ApnsOptions(event="end").content_state is None


def test_dismissal_date_only_with_end() -> None:
    assert error(event="update", content_state={}, dismissal_date=5).field == "apns.dismissal_date"
    assert ApnsOptions(event="end", dismissal_date=5).dismissal_date == 5


def test_dates_normalise_to_unix_seconds() -> None:
    options = ApnsOptions(
        event="end",
        timestamp=datetime(2025, 1, 2, 3, 4, 5, 999000, tzinfo=timezone.utc),
        stale_date=1735787045,
    )
    assert options.timestamp == 1735787045
    assert options.stale_date == 1735787045
    assert error(event="end", timestamp=datetime(2025, 1, 1)).field == "apns.timestamp"
    assert error(event="end", timestamp=-1).field == "apns.timestamp"
    assert error(event="end", stale_date=1.5).field == "apns.stale_date"


def test_mappings_are_copied_read_only() -> None:
    state = {"eta": 5}
    options = ApnsOptions(event="update", content_state=state)
    state["eta"] = 6
    assert options.content_state == {"eta": 5}
    with pytest.raises(TypeError):
        options.content_state["eta"] = 7  # type: ignore[index]


def test_options_are_frozen() -> None:
    options = ApnsOptions()
    with pytest.raises(AttributeError):
        options.loc_key = "x"  # type: ignore[misc]


# -- ApnsDevice ------------------------------------------------------------------------------------


def test_device_normalises_case_and_surrounding_whitespace() -> None:
    device = ApnsDevice("  " + "AB" * 32 + "\n")
    assert device.token == "ab" * 32
    assert device.key == "ab" * 32
    assert device.provider == "apns"
    assert device == ApnsDevice("ab" * 32)
    assert hash(device) == hash(ApnsDevice("ab" * 32))


def test_device_repr_does_not_show_the_whole_token() -> None:
    token = "0123456789abcdef" * 4
    assert repr(ApnsDevice(token)) == "ApnsDevice('01234567…')"
    assert token not in repr(ApnsDevice(token))


@pytest.mark.parametrize(
    ("token", "needle"),
    [
        ("", "empty"),
        ("zz" * 32, "hexadecimal"),
        ("<" + "ab" * 32 + ">", "hexadecimal"),
        ("ab" * 16 + " " + "ab" * 16, "hexadecimal"),
        ("a" * 65, "even"),
        ("ab" * 31, "64 to 200"),
        ("ab" * 101, "64 to 200"),
    ],
)
def test_device_rejects_bad_tokens(token: str, needle: str) -> None:
    with pytest.raises(ValidationError) as info:
        ApnsDevice(token)
    assert info.value.field == "token"
    assert needle in info.value.message


def test_device_accepts_long_tokens() -> None:
    assert len(ApnsDevice("ab" * 100).token) == 200


def test_device_rejects_non_strings() -> None:
    with pytest.raises(ValidationError):
        ApnsDevice(b"ab" * 32)  # type: ignore[arg-type]
